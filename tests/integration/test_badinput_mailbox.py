"""test_badinput_mailbox.py - hostile and broken IMAP and POP3 clients against a real
mailraftd (the SMTP, TLS and connection-level abuse is in test_badinput.py, whose setup and
helpers this file shares): huge literals before login (no "+" continuation), commands in the
wrong state, bad commands and the session afterwards, parser limits (deep nesting, absurd
numbers, giant sets), CR/LF/NUL in mailbox names, overlong lines, a disconnect in the middle of
APPEND, POP3 commands before login and with bad arguments; then no leaked descriptors and the
daemon still delivers and serves mail."""
import os
import secrets
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, make_message, imap_uids, Line  # noqa: E402
import test_badinput as bi  # noqa: E402
from test_badinput import USER, PW, alive, imap_raw  # noqa: E402


# ---------------------------------------------------------------- IMAP

def test_imap_huge_literal_preauth(env):
	for tls in (True, False):
		ln = imap_raw(env, tls)
		try:
			ln.cmd("a1 LOGIN {999999999}")
			lines = ln.imap_until_tagged("a1")
			check(not any(l.startswith(b"+") for l in lines), "continuation offered for a 1 GB literal: %r" % lines)
			if lines and lines[-1].startswith(b"a1 "):
				check(lines[-1].startswith(b"a1 NO") or lines[-1].startswith(b"a1 BAD"), "reply %r" % lines)
				ln.cmd("a2 CAPABILITY")
				l2 = ln.imap_until_tagged("a2")
				if l2:
					check(l2[-1].startswith(b"a2 OK"), "session after the refused literal: %r" % l2)
			else:
				check(ln.closed, "neither a tagged reply nor a close: %r" % lines)
		finally:
			ln.close()
	# non-synchronizing literal too big: must not be awaited (RFC 7888 4)
	ln = imap_raw(env)
	try:
		ln.cmd("b1 LOGIN {999999999+}")
		ln.send(b"xxxxxxxx\r\n")
		ln.sock.settimeout(10)
		lines = ln.imap_until_tagged("b1")
		check(ln.closed or (lines and lines[-1].startswith(b"b1 BAD")), "oversized LITERAL+: %r" % lines)
	except socket.timeout:
		raise mrtest.Fail("server waits for a 1 GB non-synchronizing literal")
	finally:
		ln.close()
	# and an oversized APPEND after login is refused before the bytes (TOOBIG / NO)
	ln = imap_raw(env)
	try:
		ln.cmd('c1 LOGIN "%s" "%s"' % (USER, PW))
		l1 = ln.imap_until_tagged("c1")
		check(l1 and l1[-1].startswith(b"c1 OK"), "LOGIN: %r" % l1)
		ln.cmd("c2 APPEND INBOX {999999999}")
		l2 = ln.imap_until_tagged("c2")
		check(not any(l.startswith(b"+") for l in l2), "continuation offered for an oversized APPEND: %r" % l2)
		check(l2 and (l2[-1].startswith(b"c2 NO") or l2[-1].startswith(b"c2 BAD")), "APPEND reply %r" % l2)
	finally:
		ln.close()
	alive(env)


def bad_or_no(lines, tag):
	t = tag.encode()
	return bool(lines) and (lines[-1].startswith(t + b" BAD") or lines[-1].startswith(t + b" NO"))


def refused_each(env, cmds, opener, tag_prefix, login=None):
	"""Send each bad command and require a tagged BAD/NO. A server may drop a client after
	several errors (with * BYE); then a fresh connection continues, but never on the first
	command of a connection."""
	ln, used = opener(), 0
	try:
		for i, c in enumerate(cmds):
			tag = "%s%d" % (tag_prefix, i)
			for attempt in (0, 1):
				if used == 0 and login:
					login(ln)
				try:
					ln.cmd("%s %s" % (tag, c))
					lines = ln.imap_until_tagged(tag)
				except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
					lines = []
				check(not any(l.startswith(b"+") for l in lines), "%s: continuation offered: %r" % (c, lines))
				if bad_or_no(lines, tag):
					used += 1
					break
				check(used > 0 and attempt == 0 and (not lines or lines[-1].startswith(b"* BYE")),
					"%s -> %r (expected a tagged BAD or NO)" % (c, lines))
				ln.close()
				ln, used = opener(), 0
	finally:
		ln.close()


def imap_login_raw(ln):
	ln.cmd('l0 LOGIN "%s" "%s"' % (USER, PW))
	lines = ln.imap_until_tagged("l0")
	check(lines and lines[-1].startswith(b"l0 OK"), "LOGIN %r" % lines)


def test_imap_preauth_wrong_state(env):
	refused_each(env, ("SELECT INBOX", "FETCH 1 BODY[]", "LIST \"\" *", "LOGOUTX", "STATUS INBOX (MESSAGES)"),
		lambda: imap_raw(env), "p")


def test_imap_fetch_before_select(env):
	refused_each(env, ("FETCH 1 BODY[]", "STORE 1 +FLAGS (\\Seen)", "EXPUNGE", "SEARCH ALL", "UID FETCH 1 FLAGS", "CLOSE"),
		lambda: imap_raw(env), "s", login=imap_login_raw)


def test_imap_bad_commands(env):
	refused_each(env, ("FROBNICATE", "FETCH", "SELECT", "LOGIN a b", "UID BOGUS 1", "SELECT \"unterminated",
		"FETCH 1:* (FLAGS"), lambda: imap_raw(env), "u", login=imap_login_raw)


def test_imap_session_after_errors(env):
	ln = imap_raw(env)
	try:
		imap_login_raw(ln)
		ln.cmd("e1 FROBNICATE")
		check(bad_or_no(ln.imap_until_tagged("e1"), "e1"), "bad command")
		ln.cmd("")
		ln.cmd("x1 NOOP")
		lines = ln.imap_until_tagged("x1")
		check(lines and lines[-1].startswith(b"x1 OK"), "NOOP after bad commands: %r" % lines)
		ln.cmd("x2 SELECT INBOX")
		lines = ln.imap_until_tagged("x2")
		check(lines[-1].startswith(b"x2 OK"), "SELECT: %r" % lines)
		ln.cmd("x3 FETCH 999 BODY[]")
		lines = ln.imap_until_tagged("x3")
		check(lines and (lines[-1].startswith(b"x3 BAD") or lines[-1].startswith(b"x3 NO") or lines[-1].startswith(b"x3 OK")), "FETCH out of range: %r" % lines)
		check(not any(b"BODY[]" in l for l in lines[:-1]), "FETCH out of range returned data: %r" % lines)
		ln.cmd("x5 LOGOUT")
		lines = ln.imap_until_tagged("x5")
		check(any(l.startswith(b"* BYE") for l in lines) and lines[-1].startswith(b"x5 OK"), "LOGOUT: %r" % lines)
		check(ln.wait_closed(5), "closed after LOGOUT")
	finally:
		ln.close()


def test_imap_parser_limits(env):
	"""Deep nesting, absurd literal sizes and giant sets: BAD/NO, never a crash or a hang."""
	ln = imap_raw(env)
	try:
		ln.cmd('l1 LOGIN "%s" "%s"' % (USER, PW))
		check(ln.imap_until_tagged("l1")[-1].startswith(b"l1 OK"), "LOGIN")
		ln.cmd("l2 SELECT INBOX")
		check(ln.imap_until_tagged("l2")[-1].startswith(b"l2 OK"), "SELECT")
		cases = [
			"SEARCH " + "(" * 5000 + "ALL" + ")" * 5000,
			"SEARCH " + "NOT " * 5000 + "ALL",
			"SEARCH " + "OR ALL " * 3000 + "ALL",
			"FETCH 1 (BODY.PEEK[" + ".".join(["1"] * 3000) + "])",
			"FETCH " + ",".join(str(i) for i in range(1, 20000)) + " (UID)",
			"FETCH 4294967296 (UID)",
			"FETCH 0:1 (UID)",
			"FETCH 1 (BODY.PEEK[]<4294967296.5>)",
			"SELECT {18446744073709551616}",
			"SELECT {-1}",
			"SELECT {1x}",
			"STORE 1 +FLAGS (" + " ".join("kw%d" % i for i in range(5000)) + ")",
		]
		for i, c in enumerate(cases):
			tag = "z%d" % i
			try:
				ln.cmd("%s %s" % (tag, c))
			except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
				break
			lines = ln.imap_until_tagged(tag)
			if ln.closed:
				break   # dropping the client is acceptable; the daemon must survive (checked below)
			check(not any(l.startswith(b"+") for l in lines), "%s...: continuation %r" % (c[:40], lines[-1:]))
			check(lines and lines[-1].startswith(tag.encode() + b" "), "%s...: no tagged reply" % c[:40])
	finally:
		ln.close()
	alive(env)


def test_imap_mailbox_name_injection(env):
	"""A mailbox name with CR/LF or NUL must be refused, so it can never break LIST output."""
	ln = imap_raw(env)
	try:
		ln.cmd('n1 LOGIN "%s" "%s"' % (USER, PW))
		check(ln.imap_until_tagged("n1")[-1].startswith(b"n1 OK"), "LOGIN")
		for i, name in enumerate((b"evil\r\n* OK injected", b"nul\x00name", b"x\ry")):
			tag = "n%d" % (i + 2)
			ln.send(b"%s CREATE {%d}\r\n" % (tag.encode(), len(name)))
			l = ln.readline()
			if l.startswith(b"+"):
				ln.send(name + b"\r\n")
				l = ln.imap_until_tagged(tag)[-1]
			check(l.startswith(tag.encode() + b" NO") or l.startswith(tag.encode() + b" BAD"), "CREATE %r -> %r" % (name, l))
		ln.cmd('n9 LIST "" *')
		lines = ln.imap_until_tagged("n9")
		check(not any(b"injected" in l or b"nul" in l for l in lines), "LIST after refused names: %r" % lines)
	finally:
		ln.close()


def test_imap_overlong_line(env):
	ln = imap_raw(env)
	try:
		try:
			ln.send(b"a1 LOGIN " + b"x" * (4 * 1024 * 1024) + b" y\r\n")
		except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
			pass
		lines = ln.imap_until_tagged("a1")
		if lines and not ln.closed:
			check(lines[-1].startswith(b"a1 BAD") or lines[-1].startswith(b"* BYE") or lines[-1].startswith(b"a1 NO"), "overlong line: %r" % lines[-1][:200])
		for l in lines:
			check(not l.startswith(b"a1 OK"), "overlong LOGIN accepted")
	finally:
		ln.close()
	alive(env)


def test_imap_disconnect_mid_append(env):
	ln = imap_raw(env)
	subj = "cutappend-" + secrets.token_hex(4)
	try:
		ln.cmd('a1 LOGIN "%s" "%s"' % (USER, PW))
		check(ln.imap_until_tagged("a1")[-1].startswith(b"a1 OK"), "LOGIN")
		msg = make_message(subj, "x\n" * 100)
		ln.cmd("a2 APPEND INBOX {%d}" % len(msg))
		l = ln.readline()
		check(l is not None and l.startswith(b"+"), "APPEND continuation: %r" % l)
		ln.send(msg[:len(msg) // 2])
	finally:
		ln.close()
	time.sleep(0.5)
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		eq(imap_uids(m, 'SUBJECT "%s"' % subj), [], "half-appended message must not exist")
	finally:
		m.logout()


# ---------------------------------------------------------------- POP3

def pop3_raw(env):
	ln = Line(env.node.ports["pop3s"], tls=True)
	g = ln.readline()
	check(g is not None and g.startswith(b"+OK"), "POP3 greeting %r" % g)
	return ln


def pop3_refused_each(env, cmds, login):
	"""Each command must get -ERR; a server may drop the client after several errors."""
	ln, used = pop3_raw(env), 0
	try:
		for c in cmds:
			for attempt in (0, 1):
				if used == 0 and login:
					pop3_login_raw(ln)
				try:
					ln.cmd(c)
					r = ln.readline()
				except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
					r = None
				if r is not None and r.startswith(b"-ERR") and not ln.closed:
					used += 1
					break
				check(r is None or r.startswith(b"-ERR"), "%s -> %r (expected -ERR)" % (c, r))
				check(used > 0 and attempt == 0, "%s -> %r, connection closed on the first error" % (c, r))
				ln.close()
				ln, used = pop3_raw(env), 0
	finally:
		ln.close()


def pop3_login_raw(ln):
	ln.cmd("USER " + USER)
	r = ln.readline()
	check(r is not None and r.startswith(b"+OK"), "USER: %r" % r)
	ln.cmd("PASS " + PW)
	r = ln.readline()
	check(r is not None and r.startswith(b"+OK"), "PASS: %r" % r)


def test_pop3_before_login(env):
	pop3_refused_each(env, ("RETR 1", "STAT", "LIST", "DELE 1", "UIDL", "TOP 1 0", "PASS " + PW, "FROB", "RSET"), login=False)
	ln = pop3_raw(env)
	try:
		ln.cmd("RETR 1")
		r = ln.readline()
		check(r is not None and r.startswith(b"-ERR"), "RETR before login: %r" % r)
		pop3_login_raw(ln)
		ln.cmd("STAT")
		r = ln.readline()
		check(r is not None and r.startswith(b"+OK"), "STAT after an error and login: %r" % r)
		ln.cmd("QUIT")
		check(ln.readline().startswith(b"+OK"), "QUIT")
	finally:
		ln.close()


def test_pop3_bad_arguments(env):
	pop3_refused_each(env, ("RETR 0", "RETR -1", "RETR 99999", "RETR abc", "TOP 1 -5", "DELE 4294967297", "LIST 99999", "FROB"), login=True)


def test_pop3_overlong_line(env):
	ln = pop3_raw(env)
	try:
		sent = True
		try:
			ln.send(b"USER " + b"u" * 100000 + b"\r\n")
		except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
			sent = False   # the server closed on us mid-line: fine
		r = ln.readline()
		check(r is None or r.startswith(b"-ERR"), "overlong POP3 line: %r" % (r[:100] if r else r))
		if sent and r is not None and not ln.closed:
			try:
				ln.cmd("NOOP")
				r2 = ln.readline()
			except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
				r2 = None
			check(r2 is None or r2.startswith(b"-ERR") or r2.startswith(b"+OK"), "after overlong line: %r" % r2)
	finally:
		ln.close()
	alive(env)


# ---------------------------------------------------------------- afterwards

def test_no_descriptor_leak(env):
	bi.test_no_descriptor_leak(env)


def test_still_delivers_and_serves(env):
	bi.test_still_delivers_and_serves(env)


if __name__ == "__main__":
	mrtest.main(globals(), setup=bi.setup)

"""test_badinput.py - hostile and broken clients against a real mailraftd: overlong SMTP/IMAP/POP3
lines, unknown commands, the SMTP bad-command limit, commands in the wrong state, huge IMAP
literals before login (no "+" continuation), TLS garbage on implicit-TLS ports, abrupt
disconnects mid-transaction, many connections at once; after each the daemon still serves a
fresh connection, and at the end it still delivers and serves mail."""
import os
import secrets
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message, imap_uids, Line  # noqa: E402

DOMAIN = "example.test"
USER, PW = "judy@example.test", "judy-pw-1"


def setup(env):
	n = env.new_node("badinput", conf={"max_message_size": "100000", "smtp_timeout": "10"})
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	eq(n.send("sender@remote.test", [USER], make_message("first", "first message\n")), {}, "delivery")
	alive(env)
	env.fds = n.fd_count()


def alive(env):
	"""A fresh SMTP, IMAPS and POP3S session each work."""
	n = env.node
	s = n.smtp()
	eq(s.noop()[0], 250, "SMTP NOOP on a fresh connection")
	s.quit()
	m = n.imap(USER, PW)
	eq(m.select("INBOX", readonly=True)[0], "OK", "IMAP SELECT on a fresh connection")
	m.logout()
	p = n.pop3(USER, PW)
	check(p.stat()[0] >= 1, "POP3 STAT on a fresh connection")
	p.quit()
	check(n.running(), "daemon died")


def smtp_session(env, ehlo=True):
	ln = Line(env.node.ports["smtp"])
	eq(ln.smtp_reply()[0], 220, "greeting")
	if ehlo:
		ln.cmd("EHLO client.test")
		eq(ln.smtp_reply()[0], 250, "EHLO")
	return ln


def safe_cmd(ln, line):
	try:
		ln.cmd(line)
		return True
	except (BrokenPipeError, ConnectionResetError):
		return False


# ---------------------------------------------------------------- SMTP

def test_smtp_overlong_line(env):
	for size in (5000, 70000, 2 * 1024 * 1024):   # RFC 5321 4.5.3.1.4: 512 octets; servers allow some slack
		ln = smtp_session(env)
		try:
			ok = safe_cmd(ln, "NOOP " + "a" * size)
			code, lines = ln.smtp_reply() if ok else (None, [])
			if code is not None:
				check(500 <= code <= 599 or code == 421, "overlong line (%d) reply %r" % (size, lines))
				if code != 421 and safe_cmd(ln, "NOOP"):
					code2, lines2 = ln.smtp_reply()
					if code2 is not None:
						eq(code2, 250, "NOOP after an overlong line (%d)" % size)
						ln.cmd("QUIT")
						eq(ln.smtp_reply()[0], 221, "QUIT")
			if code is None or code == 421:
				check(ln.wait_closed(5), "connection must be closed cleanly")
		finally:
			ln.close()
	alive(env)


def test_smtp_unknown_commands(env):
	ln = smtp_session(env)
	try:
		for c in ("FOO", "XYZZY bar baz", "EHLOX client", "\x00\x01\x02\xff"):
			ln.cmd(c.encode("latin-1"))
			code, lines = ln.smtp_reply()
			check(code in (500, 502), "unknown command %r -> %r" % (c, lines))
		ln.cmd("VRFY judy")
		code, _ = ln.smtp_reply()
		check(code in (252, 502, 550, 553), "VRFY reply %r" % code)
		ln.cmd("NOOP")
		eq(ln.smtp_reply()[0], 250, "NOOP after unknown commands")
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL after unknown commands")
	finally:
		ln.close()


def test_smtp_error_limit_disconnects(env):
	ln = smtp_session(env)
	closed_after = None
	try:
		for i in range(1, 31):
			if not safe_cmd(ln, "BOGUS%d" % i):
				closed_after = i
				break
			code, lines = ln.smtp_reply()
			if code is None:
				closed_after = i
				break
			if code == 421:
				check(ln.wait_closed(5), "421 must be followed by a close")
				closed_after = i
				break
			check(code in (500, 502), "bad command reply %r" % lines)
		check(closed_after is not None, "30 bad commands did not get the client disconnected")
		check(5 <= closed_after <= 22, "disconnected after %d bad commands (expected about 20)" % closed_after)
	finally:
		ln.close()
	alive(env)


def test_smtp_wrong_order(env):
	ln = smtp_session(env)
	try:
		ln.cmd("RCPT TO:<%s>" % USER)
		code, lines = ln.smtp_reply()
		eq(code, 503, "RCPT before MAIL (%r)" % lines)
		check(lines[0].startswith(b"503 5.5.1"), "enhanced code 5.5.1: %r" % lines)
		ln.cmd("DATA")
		code, _ = ln.smtp_reply()
		check(code in (503, 554), "DATA before MAIL: %r" % code)
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 503, "nested MAIL")
		ln.cmd("DATA")
		code, _ = ln.smtp_reply()
		check(code in (503, 554), "DATA without RCPT: %r" % code)
		ln.cmd("RSET")
		eq(ln.smtp_reply()[0], 250, "RSET")
		ln.cmd("RCPT TO:<%s>" % USER)
		eq(ln.smtp_reply()[0], 503, "RCPT after RSET")
	finally:
		ln.close()
	ln = smtp_session(env, ehlo=False)
	try:
		ln.cmd("STARTTLS now")
		code, _ = ln.smtp_reply()
		check(code in (501, 503), "STARTTLS with an argument / before EHLO: %r" % code)
	finally:
		ln.close()


def test_smtp_bad_syntax(env):
	ln = smtp_session(env)
	try:
		cases = [
			"MAIL FROM:<sender@remote.test> BOGUSPARAM=1",
			"MAIL FROM:<sender@remote.test> SIZE=abc",
			"MAIL FROM:<sender@remote.test> SIZE=99999999999999999999999999",
			"MAIL FROM:<%s@remote.test>" % ("a" * 2000),   # over the 512-octet command line
			"MAIL FROM:<unterminated@remote.test",
			"MAIL FROM:",
			"MAIL TO:<x@y.test>",
		]
		for c in cases:
			ln.cmd(c)
			code, lines = ln.smtp_reply()
			check(code is not None and 500 <= code <= 559, "%r -> %r" % (c, lines))
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL after syntax errors")
		for c in ("RCPT TO:<>", "RCPT TO:<no-at-sign>", "RCPT TO:<%s@example.test>" % ("b" * 300), "RCPT TO:<judy@example.test> NOTIFY=BOGUS"):
			ln.cmd(c)
			code, lines = ln.smtp_reply()
			check(code is not None and 500 <= code <= 559, "%r -> %r" % (c, lines))
		ln.cmd("RCPT TO:<%s>" % USER)
		eq(ln.smtp_reply()[0], 250, "RCPT after syntax errors")
	finally:
		ln.close()


def test_smtp_disconnect_mid_data(env):
	subj = "partial-" + secrets.token_hex(4)
	ln = smtp_session(env)
	ln.cmd("MAIL FROM:<sender@remote.test>")
	eq(ln.smtp_reply()[0], 250, "MAIL")
	ln.cmd("RCPT TO:<%s>" % USER)
	eq(ln.smtp_reply()[0], 250, "RCPT")
	ln.cmd("DATA")
	eq(ln.smtp_reply()[0], 354, "DATA")
	ln.send(make_message(subj, "cut short\n" * 100)[:-20])
	ln.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
	ln.close()   # RST
	time.sleep(0.5)
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		eq(imap_uids(m, 'SUBJECT "%s"' % subj), [], "partial message must not be delivered")
	finally:
		m.logout()
	alive(env)


def test_smtp_bare_lf(env):
	"""Bare LF line ends (RFC 5321 2.3.8) are refused or normalized; never delivered raw."""
	subj = "barelf-" + secrets.token_hex(4)
	ln = smtp_session(env)
	try:
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % USER)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		ln.cmd("DATA")
		eq(ln.smtp_reply()[0], 354, "DATA")
		ln.send(b"Subject: " + subj.encode() + b"\r\n\r\nline one\nline two\r\n.\r\n")
		code, lines = ln.smtp_reply()
		check(code in (250, 550, 554, 500), "bare LF message: %r" % lines)
	finally:
		ln.close()
	if code == 250:
		m = env.node.imap(USER, PW)
		try:
			m.select("INBOX", readonly=True)
			uids = imap_uids(m, 'SUBJECT "%s"' % subj)
			eq(len(uids), 1, "bare LF message stored")
			body = mrtest.imap_body(m, uids[0])
			check(b"\n" not in body.replace(b"\r\n", b""), "stored message contains a bare LF: %r" % body[-80:])
		finally:
			m.logout()


def test_smtp_smuggling(env):
	"""End-of-data is CRLF.CRLF only: "\n.\r\n" or "\r.\r\n" inside DATA must not end the message
	and let the rest be read as commands (SMTP smuggling, CVE-2023-51766 class)."""
	tok = secrets.token_hex(4)
	for i, fake_end in enumerate((b"\n.\r\n", b"\r\n.\n", b"\r.\r\n")):
		ln = smtp_session(env)
		try:
			ln.cmd("MAIL FROM:<sender@remote.test>")
			eq(ln.smtp_reply()[0], 250, "MAIL")
			ln.cmd("RCPT TO:<%s>" % USER)
			eq(ln.smtp_reply()[0], 250, "RCPT")
			ln.cmd("DATA")
			eq(ln.smtp_reply()[0], 354, "DATA")
			smuggled = ("MAIL FROM:<evil@remote.test>\r\nRCPT TO:<%s>\r\nDATA\r\n"
				"Subject: smuggled-%s-%d\r\n\r\nevil\r\n" % (USER, tok, i)).encode()
			ln.send(("Subject: carrier-%s-%d\r\n\r\nbody" % (tok, i)).encode() + fake_end + smuggled + b".\r\n")
			replies = [ln.smtp_reply()[0]]
			ln.cmd("QUIT")
			while True:
				code, _ = ln.smtp_reply()
				if code is None or code == 221:
					break
				replies.append(code)
			check(replies[0] in (250, 550, 554, 500), "reply to the carrier message: %r" % replies)
		finally:
			ln.close()
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		names = (r"\n.\r\n", r"\r\n.\n", r"\r.\r\n")
		leaked = [names[i] for i in range(3) if imap_uids(m, 'SUBJECT "smuggled-%s-%d"' % (tok, i))]
		check(not leaked, "smuggled message delivered after a fake end-of-data %s inside DATA" % " and ".join(leaked))
	finally:
		m.logout()


# ---------------------------------------------------------------- IMAP

def imap_raw(env, tls=True):
	port = env.node.ports["imaps"] if tls else env.node.ports["imap"]
	ln = Line(port, tls=tls)
	g = ln.readline()
	check(g is not None and g.startswith(b"* OK"), "IMAP greeting %r" % g)
	return ln


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


def test_tls_garbage(env):
	n = env.node
	payloads = [
		b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
		b"\x16\x03\x01\x02\x00" + secrets.token_bytes(512),    # TLS record header, random body
		b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",            # truncated ClientHello
		b"\x00" * 4096,
		b"\x80\x3e\x01" + b"\x00" * 61,                       # SSLv2-style hello, complete
		b"\x17\x03\x03\x00\x10" + b"\x00" * 16,                # application data before handshake
	]
	for port_name in ("imaps", "pop3s"):
		for p in payloads:
			s = socket.create_connection((mrtest.HOST, n.ports[port_name]), timeout=12)
			try:
				s.sendall(p)
				t0 = time.monotonic()
				closed = False
				try:
					while time.monotonic() - t0 < 12:
						d = s.recv(4096)
						if not d:
							closed = True
							break
						check(not d.startswith(b"* OK") and not d.startswith(b"+OK"), "clear-text greeting on %s" % port_name)
				except (ConnectionResetError, socket.timeout) as e:
					closed = not isinstance(e, socket.timeout)
				check(closed, "%s: connection not closed after TLS garbage %r" % (port_name, p[:16]))
			finally:
				s.close()
		# a fresh, proper connection still works
		if port_name == "imaps":
			m = n.imap(USER, PW)
			m.logout()
		else:
			pp = n.pop3(USER, PW)
			pp.quit()
	# garbage right after STARTTLS on SMTP and IMAP
	ln = smtp_session(env)
	ln.cmd("STARTTLS")
	eq(ln.smtp_reply()[0], 220, "STARTTLS")
	ln.send(secrets.token_bytes(300))
	check(ln.wait_closed(12), "SMTP: connection not closed after garbage in place of a TLS handshake")
	ln.close()
	ln = imap_raw(env, tls=False)
	ln.cmd("t1 STARTTLS")
	check(ln.imap_until_tagged("t1")[-1].startswith(b"t1 OK"), "IMAP STARTTLS")
	ln.send(b"t2 LOGIN a b\r\n")
	check(ln.wait_closed(12), "IMAP: connection not closed after clear text in place of a TLS handshake")
	ln.close()
	alive(env)


def test_starttls_command_injection(env):
	"""Commands pipelined after STARTTLS in clear text must be discarded (CVE-2011-0411 class)."""
	n = env.node
	raw = socket.create_connection((mrtest.HOST, n.ports["smtp"]), timeout=15)
	try:
		f = raw.makefile("rb")
		check(f.readline().startswith(b"220"), "greeting")
		raw.sendall(b"EHLO client.test\r\n")
		while True:
			l = f.readline()
			if l[3:4] == b" ":
				break
		raw.sendall(b"STARTTLS\r\nRSET\r\n")
		l = f.readline()
		check(l.startswith(b"220"), "STARTTLS reply %r" % l)
		ctx = mrtest.tls_ctx()
		try:
			t = ctx.wrap_socket(raw, server_hostname="localhost")
		except ssl_errors():
			return   # the server dropped the connection: acceptable
		t.sendall(b"NOOP\r\n")
		r = b""
		t.settimeout(1.0)
		try:
			while True:
				d = t.recv(1024)
				if not d:
					break
				r += d
		except (socket.timeout, OSError):
			pass
		replies = [x for x in r.split(b"\r\n") if x]
		eq(len(replies), 1, "replies inside TLS to one NOOP (an injected RSET must be discarded): %r" % r)
		check(replies[0].startswith(b"250"), "NOOP reply %r" % r)
		t.close()
	finally:
		raw.close()


def ssl_errors():
	import ssl
	return (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)


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
		try:
			ln.send(b"USER " + b"u" * 100000 + b"\r\n")
		except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
			pass
		r = ln.readline()
		check(r is None or r.startswith(b"-ERR"), "overlong POP3 line: %r" % (r[:100] if r else r))
		if r is not None and not ln.closed:
			ln.cmd("NOOP")
			r2 = ln.readline()
			check(r2 is None or r2.startswith(b"-ERR") or r2.startswith(b"+OK"), "after overlong line: %r" % r2)
	finally:
		ln.close()
	alive(env)


# ---------------------------------------------------------------- load-ish

def test_many_connections(env):
	n = env.node
	socks = []
	try:
		for i in range(60):
			port = n.ports[("smtp", "imap", "pop3", "imaps", "pop3s")[i % 5]]
			socks.append(socket.create_connection((mrtest.HOST, port), timeout=10))
		time.sleep(0.3)
	finally:
		for i, s in enumerate(socks):
			if i % 2:
				s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
			s.close()
	alive(env)


def test_smtp_idle_timeout(env):
	"""smtp_timeout = 10: a silent client is dropped (RFC 5321 4.5.3.2), with a 421 if anything."""
	ln = smtp_session(env)
	try:
		t0 = time.monotonic()
		ln.sock.settimeout(30)
		data = b""
		try:
			while True:
				d = ln.sock.recv(4096)
				if not d:
					break
				data += d
		except socket.timeout:
			raise mrtest.Fail("idle SMTP connection still open after 30 s (smtp_timeout = 10)")
		except (ConnectionResetError, OSError):
			pass
		took = time.monotonic() - t0
		check(took >= 8, "dropped after %.1fs, before smtp_timeout" % took)
		check(data == b"" or data.startswith(b"421"), "timeout reply %r" % data)
	finally:
		ln.close()


def test_max_connections(env):
	"""max_connections = 8: extra clients are turned away, and served again once others leave."""
	n = env.new_node("maxconn", conf={"max_connections": "8"})
	n.start()
	try:
		held = []
		for i in range(8):
			ln = Line(n.ports["smtp"] if i % 2 else n.ports["imap"])
			g = ln.readline()
			check(g is not None and (g.startswith(b"220") or g.startswith(b"* OK")), "connection %d greeting %r" % (i, g))
			held.append(ln)
		extra = Line(n.ports["smtp"])
		g = extra.readline()
		check(g is None or g.startswith(b"421"), "connection over max_connections got %r" % g)
		if g is not None:
			check(extra.wait_closed(5), "421 must be followed by a close")
		extra.close()
		for ln in held:
			ln.close()
		def fresh():
			ln = Line(n.ports["smtp"])
			try:
				return (ln.readline() or b"").startswith(b"220")
			finally:
				ln.close()
		mrtest.wait_for(fresh, timeout=5, what="a connection to be accepted again")
	finally:
		eq(n.stop(), 0, "stop")


def test_starttls_twice(env):
	s = env.node.smtp(starttls=True)
	try:
		code, _ = s.docmd("STARTTLS")
		check(code in (503, 554, 502, 500), "second STARTTLS: %d" % code)
		eq(s.noop()[0], 250, "session after a refused STARTTLS")
	finally:
		s.close()
	m = env.node.imap(mode="starttls")
	try:
		tag = m._new_tag().decode()
		m.send(("%s STARTTLS\r\n" % tag).encode())
		ln = m.readline()
		check(ln.startswith(tag.encode() + b" BAD") or ln.startswith(tag.encode() + b" NO"), "IMAP STARTTLS inside TLS: %r" % ln)
	finally:
		mrtest.quiet_close(m)
	p = env.node.pop3(mode="stls")
	try:
		try:
			p._shortcmd("STLS")
			raise mrtest.Fail("POP3 STLS accepted inside TLS")
		except mrtest.poplib.error_proto:
			pass
		p.user(USER)
		p.pass_(PW)
		p.quit()
	finally:
		p.close()


def test_no_descriptor_leak(env):
	"""After all the abuse above (every client gone), the daemon holds no more descriptors than
	after its first few sessions (leaked connections, TLS or database handles would show)."""
	if env.fds is None:
		return
	c = env.node.wait_fds_settle(env.fds + 3)
	check(c <= env.fds + 3, "descriptors: %d after the abuse vs %d at the start" % (c, env.fds))


def test_still_delivers_and_serves(env):
	n = env.node
	subj = "after-abuse-" + secrets.token_hex(4)
	msg = make_message(subj, "still working\n", to=USER)
	eq(n.send("sender@remote.test", [USER], msg, starttls=True), {}, "delivery")
	m = n.imap(USER, PW, mode="starttls")
	try:
		m.select("INBOX", readonly=True)
		uids = imap_uids(m, 'SUBJECT "%s"' % subj)
		eq(len(uids), 1, "delivered after the abuse")
		mrtest.split_prefix_headers(mrtest.imap_body(m, uids[0]), msg)
	finally:
		m.logout()
	p = n.pop3(USER, PW, mode="stls")
	try:
		count = p.stat()[0]
		_, lines, _ = p.retr(count)
		contains(b"\r\n".join(lines), subj.encode(), "POP3 RETR of the newest message")
	finally:
		p.quit()
	n.ctl("status")


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

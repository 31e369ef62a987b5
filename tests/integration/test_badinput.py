"""test_badinput.py - hostile and broken clients against a real mailraftd, SMTP and connection
level (IMAP/POP3 command abuse is in test_badinput_mailbox.py, which shares this setup):
overlong lines, unknown commands, the bad-command limit, commands in the wrong state, bad
syntax, bare LF and SMTP smuggling (a fake end-of-data inside DATA), STARTTLS command injection
and STARTTLS twice, TLS garbage on implicit-TLS ports and after STARTTLS, an abrupt disconnect
mid-DATA, many connections, the SMTP idle timeout, max_connections; after each the daemon still
serves a fresh connection, holds no leaked descriptors, and at the end still delivers and
serves mail."""
import os
import secrets
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
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


def imap_raw(env, tls=True):
	port = env.node.ports["imaps"] if tls else env.node.ports["imap"]
	ln = Line(port, tls=tls)
	g = ln.readline()
	check(g is not None and g.startswith(b"* OK"), "IMAP greeting %r" % g)
	return ln


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
	return (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)


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

		def greeted(i):
			"""The start-up probes of every listener may still count for a moment: retry a
			refused connection until they are gone."""
			ln = Line(n.ports["smtp"] if i % 2 else n.ports["imap"])
			g = ln.readline()
			if g is not None and (g.startswith(b"220") or g.startswith(b"* OK")):
				return ln
			ln.close()
			return None

		for i in range(8):
			held.append(mrtest.wait_for(lambda: greeted(i), timeout=5, what="connection %d greeting" % i))
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

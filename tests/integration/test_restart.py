"""test_restart.py - durability and lifecycle of a real mailraftd: mail delivered before a
SIGTERM is read back after a restart with the same data dir over IMAP and POP3 (same bytes,
UIDVALIDITY, UIDs, flags, folders, UIDLs); UIDs are never reused; a SIGKILL right after the 250
loses nothing; SIGTERM with open sessions, in the middle of DATA and under delivery load exits 0
and never loses an acknowledged message; environment overrides; configured tls_cert/tls_key
and SIGHUP reload; other storage_threads counts over the same data; --version/--help and
config errors (EX_CONFIG with FILE:LINE)."""
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message, imap_ok, imap_uids, imap_body, flat, Line  # noqa: E402

DOMAIN = "example.test"
USER, PW = "ivan@example.test", "ivan-pw-1"
ALIAS = "ivan.alias@example.test"


def setup(env):
	n = env.new_node("restart")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	n.ctl("alias", "add", ALIAS, USER)
	env.sent = []
	for i in range(3):
		msg = make_message("restart-%d-%s" % (i, mrtest.rand_token(3)), "persist me %d\n" % i, to=USER)
		eq(n.send("sender@remote.test", [USER], msg), {}, "delivery")
		env.sent.append(msg)
	mrtest.wait_imap_count(n, USER, PW, 3)
	m = n.imap(USER, PW)
	try:
		m.select("INBOX")
		env.uids = imap_uids(m)
		imap_ok(m.uid("STORE", str(env.uids[0]), "+FLAGS", "(\\Flagged $Keep)"), "STORE")
		imap_ok(m.create("Kept"), "CREATE")
		env.appended = make_message("kept", "appended before restart\n")
		eq(m.append("Kept", "(\\Seen)", None, env.appended)[0], "OK", "APPEND")
		env.uidvalidity = imap_status(m, "INBOX", "UIDVALIDITY")
	finally:
		m.logout()
	p = n.pop3(USER, PW)
	try:
		env.uidl = p.uidl()[1]
	finally:
		p.quit()


def imap_status(m, box, item):
	typ, data = m.status(box, "(%s)" % item)
	eq(typ, "OK", "STATUS")
	import re
	mm = re.search(rb"%s (\d+)" % item.encode(), data[0])
	check(mm is not None, "STATUS %s: %r" % (item, data))
	return int(mm.group(1))


def verify_state(env):
	n = env.node
	m = n.imap(USER, PW)
	try:
		eq(imap_status(m, "INBOX", "UIDVALIDITY"), env.uidvalidity, "UIDVALIDITY after restart")
		m.select("INBOX")
		uids = imap_uids(m)
		eq(uids[:3], env.uids, "UIDs after restart")
		for uid, sent in zip(env.uids, env.sent):
			mrtest.check_trace_prefix(mrtest.split_prefix_headers(imap_body(m, uid), sent))
		d = flat(imap_ok(m.uid("FETCH", str(env.uids[0]), "(FLAGS)"), "FETCH FLAGS"))
		check(b"\\Flagged" in d and b"$Keep" in d, "flags after restart: %r" % d)
		m.select("Kept")
		ku = imap_uids(m)
		eq(len(ku), 1, "Kept folder after restart")
		eq(imap_body(m, ku[0]), env.appended, "appended message after restart")
	finally:
		m.logout()
	p = n.pop3(USER, PW)
	try:
		got = p.uidl()[1]
		eq(got[:3], env.uidl[:3], "UIDLs after restart")
		for i, sent in enumerate(env.sent, 1):
			_, lines, _ = p.retr(i)
			mrtest.split_prefix_headers(b"".join(l + b"\r\n" for l in lines), sent)
	finally:
		p.quit()


def test_sigterm_restart_same_data(env):
	n = env.node
	eq(n.stop(), 0, "exit code after SIGTERM")
	check(not mrtest.port_open(n.ports["imaps"]), "IMAPS port still open after stop")
	n.start()
	verify_state(env)


def test_directory_survives(env):
	n = env.node
	contains(n.ctl("account", "list").stdout, USER, "account list after restart")
	contains(n.ctl("alias", "list").stdout, ALIAS, "alias list after restart")
	contains(n.ctl("domain", "list").stdout, DOMAIN, "domain list after restart")
	subj = "via-alias-" + mrtest.rand_token(3)
	eq(n.send("sender@remote.test", [ALIAS], make_message(subj, "alias after restart\n")), {}, "alias delivery")
	m = n.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		eq(len(imap_uids(m, 'SUBJECT "%s"' % subj)), 1, "alias delivery after restart")
	finally:
		m.logout()


def test_uids_never_reused(env):
	n = env.node
	m = n.imap(USER, PW)
	try:
		m.select("INBOX")
		before = imap_uids(m)
		top = max(before)
		imap_ok(m.uid("STORE", str(top), "+FLAGS", "(\\Deleted)"), "STORE")
		m.expunge()
		eq(imap_uids(m), before[:-1], "after EXPUNGE")
		uidnext = imap_status(m, "INBOX", "UIDNEXT")
		check(uidnext > top, "UIDNEXT %d must stay above the expunged UID %d" % (uidnext, top))
	finally:
		m.logout()
	eq(n.stop(), 0, "exit code after SIGTERM")
	n.start()
	eq(n.send("sender@remote.test", [USER], make_message("after-expunge", "new\n")), {}, "delivery")
	m = n.imap(USER, PW)
	try:
		m.select("INBOX")
		uids = imap_uids(m)
		check(uids[-1] > top, "new UID %d must be above the expunged %d (RFC 9051 2.3.1.1)" % (uids[-1], top))
		check(uids[-1] >= uidnext, "new UID %d below the UIDNEXT %d announced before restart" % (uids[-1], uidnext))
	finally:
		m.logout()


def test_sigkill_after_250_loses_nothing(env):
	n = env.node
	subj = "durable-" + mrtest.rand_token(4)
	msg = make_message(subj, "committed before 250\n", to=USER)
	ln = Line(n.ports["smtp"])
	try:
		eq(ln.smtp_reply()[0], 220, "greeting")
		ln.cmd("EHLO client.test")
		eq(ln.smtp_reply()[0], 250, "EHLO")
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % USER)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		ln.cmd("DATA")
		eq(ln.smtp_reply()[0], 354, "DATA")
		ln.send(msg + b".\r\n")
		eq(ln.smtp_reply()[0], 250, "end of DATA")
		os.killpg(n.proc.pid, signal.SIGKILL)   # no QUIT, no shutdown
	finally:
		ln.close()
	n.kill()
	n.start()   # stale admin socket and pid state must not prevent start
	m = n.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		uids = imap_uids(m, 'SUBJECT "%s"' % subj)
		eq(len(uids), 1, "message acknowledged with 250 before SIGKILL")
		mrtest.split_prefix_headers(imap_body(m, uids[0]), msg)
	finally:
		m.logout()
	verify_state(env)


def test_sigterm_with_open_sessions(env):
	n = env.node
	m = n.imap(USER, PW)
	m.select("INBOX")
	p = n.pop3(USER, PW)
	s = Line(n.ports["smtp"])
	eq(s.smtp_reply()[0], 220, "greeting")
	s.cmd("EHLO client.test")
	s.smtp_reply()
	s.cmd("MAIL FROM:<sender@remote.test>")
	eq(s.smtp_reply()[0], 250, "MAIL")
	idle = Line(n.ports["imap"])
	idle.readline()
	t0 = time.monotonic()
	rc = n.stop()
	eq(rc, 0, "exit code after SIGTERM with open sessions")
	check(time.monotonic() - t0 < 15, "shutdown took %.1fs" % (time.monotonic() - t0))
	for c in (s, idle):
		check(c.wait_closed(5), "client connection not closed at shutdown")
		c.close()
	for x in (m, p):
		try:
			x.sock.close() if hasattr(x, "sock") else None
		except Exception:  # noqa: BLE001
			pass
	n.start()
	verify_state(env)


def test_sigterm_during_data_is_consistent(env):
	"""SIGTERM while a client is in the middle of DATA: whatever the client is told (250, or a
	421/close) must match what is stored after the restart."""
	n = env.node
	subj = "midterm-" + mrtest.rand_token(4)
	msg = make_message(subj, "sent across a shutdown\n" * 200, to=USER)
	ln = Line(n.ports["smtp"])
	try:
		eq(ln.smtp_reply()[0], 220, "greeting")
		ln.cmd("EHLO client.test")
		eq(ln.smtp_reply()[0], 250, "EHLO")
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % USER)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		ln.cmd("DATA")
		eq(ln.smtp_reply()[0], 354, "DATA")
		ln.send(msg[:len(msg) // 2])
		n.proc.send_signal(signal.SIGTERM)
		time.sleep(0.3)
		try:
			ln.send(msg[len(msg) // 2:] + b".\r\n")
			code, lines = ln.smtp_reply()
		except (BrokenPipeError, ConnectionResetError):
			code, lines = None, []
	finally:
		ln.close()
	try:
		n.proc.wait(20)
	except subprocess.TimeoutExpired:
		raise mrtest.Fail("mailraftd did not exit within 20 s of SIGTERM with a client in DATA")
	eq(n.stop(), 0, "exit code after SIGTERM during DATA")
	n.start()
	m = n.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		stored = imap_uids(m, 'SUBJECT "%s"' % subj)
	finally:
		m.logout()
	if code == 250:
		eq(len(stored), 1, "acknowledged (250) during shutdown but not stored")
	else:
		check(code is None or 400 <= code < 600, "reply after DATA during shutdown: %r" % lines)
		eq(stored, [], "not acknowledged (%r) but stored: the client will send it again" % code)


def test_no_acknowledged_loss_under_load(env):
	"""Clients keep delivering while the node gets SIGTERM: every message acknowledged with 250
	is there after the restart."""
	n = env.node
	acked, stop = [], threading.Event()
	lock = threading.Lock()

	def client(i):
		j = 0
		while not stop.is_set() and j < 200:
			subj = "load-%d-%d-%s" % (i, j, mrtest.rand_token(2))
			j += 1
			try:
				s = smtplib.SMTP(mrtest.HOST, n.ports["smtp"], timeout=10)
				try:
					if s.sendmail("sender@remote.test", [USER], make_message(subj, "load\n")) == {}:
						with lock:
							acked.append(subj)
				finally:
					s.close()
			except (smtplib.SMTPException, OSError):
				time.sleep(0.05)
	ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(3)]
	for t in ts:
		t.start()
	time.sleep(1.0)
	n.proc.send_signal(signal.SIGTERM)
	try:
		n.proc.wait(25)
	except subprocess.TimeoutExpired:
		raise mrtest.Fail("no exit within 25 s of SIGTERM under load")
	stop.set()
	for t in ts:
		t.join(20)
	eq(n.stop(), 0, "exit code after SIGTERM under load")
	check(len(acked) >= 3, "too few deliveries before the stop to mean anything: %d" % len(acked))
	n.start()
	m = n.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		missing = [subj for subj in acked if len(imap_uids(m, 'SUBJECT "%s"' % subj)) != 1]
	finally:
		m.logout()
	check(not missing, "%d of %d acknowledged messages lost or duplicated: %r" % (len(missing), len(acked), missing[:5]))


def test_env_overrides_config(env):
	n = env.node
	eq(n.stop(), 0, "stop")
	old = n.ports["pop3s"]
	new = mrtest.free_port()
	n.ports["pop3s"] = new
	try:
		n.start(env={"MAILRAFT_POP3S_LISTEN": "127.0.0.1:%d" % new})
		check(not mrtest.port_open(old), "config port %d should be overridden by the environment" % old)
		p = n.pop3(USER, PW)
		try:
			check(p.stat()[0] >= 3, "POP3S on the overriding port")
		finally:
			p.quit()
		eq(n.stop(), 0, "stop")
	finally:
		n.ports["pop3s"] = old
	n.start()


def make_cert(root, name, cn):
	cert, key = os.path.join(root, name + ".pem"), os.path.join(root, name + ".key")
	r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
		"-keyout", key, "-out", cert], capture_output=True, timeout=60)
	eq(r.returncode, 0, "openssl req (%r)" % r.stderr[-300:])
	return cert, key


def served_cert(port):
	s = socket.create_connection((mrtest.HOST, port), timeout=10)
	t = mrtest.tls_ctx().wrap_socket(s, server_hostname="localhost")
	try:
		return t.getpeercert(binary_form=True)
	finally:
		t.close()


def pem_der(path):
	with open(path) as f:
		return ssl.PEM_cert_to_DER_cert(f.read())


def test_configured_certificate_and_sighup_reload(env):
	"""tls_cert/tls_key from the config are served on every TLS port; SIGHUP reloads them."""
	n = env.node
	eq(n.stop(), 0, "stop")
	c1, k1 = make_cert(n.root, "c1", "first.test")
	n.conf["tls_cert"], n.conf["tls_key"] = c1, k1
	try:
		n.start()
		for port in ("imaps", "pop3s"):
			eq(served_cert(n.ports[port]), pem_der(c1), "configured certificate on %s" % port)
		s = n.smtp(starttls=True)
		eq(s.sock.getpeercert(binary_form=True), pem_der(c1), "configured certificate on SMTP STARTTLS")
		c2, k2 = make_cert(n.root, "c2", "second.test")
		os.replace(c2, c1)
		os.replace(k2, k1)
		n.proc.send_signal(signal.SIGHUP)
		mrtest.wait_for(lambda: served_cert(n.ports["imaps"]) == pem_der(c1), timeout=5, what="the reloaded certificate")
		eq(s.noop()[0], 250, "a session opened before SIGHUP keeps working")
		s.quit()
		check(n.running(), "SIGHUP stopped the daemon")
		# a broken file on reload: the old certificate stays
		with open(c1, "w") as f:
			f.write("not a certificate\n")
		n.proc.send_signal(signal.SIGHUP)
		time.sleep(0.5)
		check(n.running(), "SIGHUP with a broken certificate stopped the daemon")
		check(len(served_cert(n.ports["imaps"])) > 100, "TLS still served after a failed reload")
		eq(n.stop(), 0, "stop")
	finally:
		del n.conf["tls_cert"], n.conf["tls_key"]
	n.start()


def test_restart_with_other_storage_threads(env):
	"""The number of storage actors is not baked into the data: 1 and 5 threads read the same mail."""
	n = env.node
	for threads in ("1", "5"):
		eq(n.stop(), 0, "stop")
		n.conf["storage_threads"] = threads
		n.start()
		verify_state(env)
	eq(n.stop(), 0, "stop")
	n.conf["storage_threads"] = "2"
	n.start()


def test_version_and_help(env):
	d = env.node.daemon
	r = subprocess.run([d, "--version"], capture_output=True, timeout=20)
	eq(r.returncode, 0, "--version rc")
	out = (r.stdout + r.stderr).decode(errors="replace")
	check("mailraft" in out.lower() and any(ch.isdigit() for ch in out), "--version output: %r" % out)
	r = subprocess.run([d, "--help"], capture_output=True, timeout=20)
	eq(r.returncode, 0, "--help rc")
	out = (r.stdout + r.stderr).decode(errors="replace")
	contains(out, "--config", "--help output")
	r = subprocess.run([d, "--no-such-option"], capture_output=True, timeout=20)
	check(r.returncode != 0, "unknown option must fail")


def test_config_errors(env):
	n = env.node
	bad = os.path.join(n.root, "bad.conf")
	cases = [   # (line, what the message must name, must it name FILE:LINE)
		("no_such_key = 1\n", "no_such_key", True),
		("max_message_size = lots\n", "max_message_size", True),
		("password_cost = extreme\n", "password_cost", True),
		("max_recipients = 0\n", "max_recipients", True),
		("smtp_listen = 127.0.0.1:notaport\n", "notaport", False),
	]
	for i, (text, key, need_line) in enumerate(cases):
		# a safe base (own data dir, free ports) in case the bad line were ignored
		base = "data_dir = %s\nadmin_socket = %s\n" % (os.path.join(n.root, "bad%d" % i), os.path.join(n.root, "bad%d.sock" % i))
		for k in ("smtp", "imap", "imaps", "pop3", "pop3s"):
			base += "%s_listen = 127.0.0.1:%d\n" % (k, mrtest.free_port())
		with open(bad, "w") as f:
			f.write("# comment line\n" + base + text)
		try:
			r = subprocess.run([n.daemon, "--config", bad], capture_output=True, timeout=15,
				stdin=subprocess.DEVNULL, env=n._env())
		except subprocess.TimeoutExpired:
			raise mrtest.Fail("mailraftd kept running with a bad config line %r" % text)
		out = (r.stdout + r.stderr).decode(errors="replace")
		check(r.returncode != 0, "config %r must be refused; output %s" % (text, out[-500:]))
		if need_line:
			eq(r.returncode, 78, "exit status for a config error (EX_CONFIG)")
			contains(out, "bad.conf:%d" % (base.count("\n") + 2), "error names FILE:LINE")
		check(key in out, "error should name %s: %s" % (key, out[-500:]))
	r = subprocess.run([n.daemon, "--config", os.path.join(n.root, "missing.conf")], capture_output=True,
		timeout=15, stdin=subprocess.DEVNULL, env=n._env())
	check(r.returncode != 0, "missing config file must be refused")


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

"""test_concurrency.py - several clients at once against a real mailraftd: parallel SMTP
deliveries to one mailbox (none lost, UIDs unique and increasing), parallel IMAP APPENDs, a
second IMAP session seeing another session's flag changes, expunges and new mail (RFC 9051
7.5.1/7.5.2), a POP3 session with a stable view while mail arrives and IMAP expunges, and
connection churn over TLS without leaking descriptors."""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, make_message, imap_ok, imap_uids, imap_body, Line  # noqa: E402

DOMAIN = "example.test"
A, A_PW = "olga@example.test", "olga-pw-1"
B, B_PW = "paul@example.test", "paul-pw-1"
C, C_PW = "quinn@example.test", "quinn-pw-1"


def setup(env):
	n = env.new_node("concurrency", conf={"storage_threads": "2"})
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	for u, p in ((A, A_PW), (B, B_PW), (C, C_PW)):
		n.add_account(u, p)


def run_threads(fn, count):
	errors = []

	def wrap(i):
		try:
			fn(i)
		except BaseException as e:  # noqa: BLE001
			errors.append("thread %d: %r" % (i, e))
	ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(count)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(80)
		check(not t.is_alive(), "a client thread hung")
	check(not errors, "client errors:\n  " + "\n  ".join(errors))


def test_parallel_smtp_deliveries(env):
	n = env.node
	per, threads = 10, 6

	def client(i):
		s = n.smtp(starttls=bool(i % 2))
		try:
			for j in range(per):
				rcpts = [A] if j % 3 else [A, B]
				eq(s.sendmail("sender@remote.test", rcpts, make_message("par t%d m%d" % (i, j), "thread %d msg %d\n" % (i, j))), {}, "refused")
		finally:
			s.quit()
	run_threads(client, threads)
	m = n.imap(A, A_PW)
	try:
		typ, data = m.select("INBOX", readonly=True)
		eq(int(data[0]), per * threads, "messages in A's INBOX")
		uids = imap_uids(m)
		eq(len(set(uids)), per * threads, "unique UIDs")
		for i in range(threads):
			for j in range(per):
				eq(len(imap_uids(m, 'SUBJECT "par t%d m%d"' % (i, j))), 1, "message t%d m%d exactly once" % (i, j))
	finally:
		m.logout()
	m = n.imap(B, B_PW)
	try:
		typ, data = m.select("INBOX", readonly=True)
		eq(int(data[0]), threads * len([j for j in range(per) if j % 3 == 0]), "messages in B's INBOX")
	finally:
		m.logout()


def test_parallel_imap_appends(env):
	n = env.node
	m = n.imap(C, C_PW)
	imap_ok(m.create("Parallel"), "CREATE")
	m.logout()

	def client(i):
		c = n.imap(C, C_PW, mode="imaps" if i % 2 else "starttls")
		try:
			for j in range(8):
				typ, d = c.append("Parallel", None, None, make_message("app t%d m%d" % (i, j), "x\n"))
				eq(typ, "OK", "APPEND")
		finally:
			c.logout()
	run_threads(client, 4)
	m = n.imap(C, C_PW)
	try:
		typ, data = m.select("Parallel", readonly=True)
		eq(int(data[0]), 32, "EXISTS after parallel APPENDs")
		uids = imap_uids(m)
		eq(len(set(uids)), 32, "unique UIDs")
	finally:
		m.logout()


def raw_imap_login(env, user, pw):
	ln = Line(env.node.ports["imaps"], tls=True)
	ln.readline()
	ln.cmd('a LOGIN "%s" "%s"' % (user, pw))
	check(ln.imap_until_tagged("a")[-1].startswith(b"a OK"), "LOGIN")
	return ln


def imap_cmd(ln, tag, cmd):
	ln.cmd("%s %s" % (tag, cmd))
	lines = ln.imap_until_tagged(tag)
	check(lines and lines[-1].startswith(tag.encode() + b" OK"), "%s -> %r" % (cmd, lines))
	return lines[:-1]


def test_second_session_sees_changes(env):
	n = env.node
	for i in range(3):
		eq(n.send("sender@remote.test", [C], make_message("watch %d" % i, "w\n")), {}, "delivery")
	a = n.imap(C, C_PW)
	b = raw_imap_login(env, C, C_PW)
	try:
		a.select("INBOX")
		uids = imap_uids(a)
		total = len(uids)
		imap_cmd(b, "s1", "SELECT INBOX")
		# flag change by A -> untagged FETCH FLAGS in B (RFC 9051 7.5.2)
		imap_ok(a.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged)"), "STORE")
		got = b""
		end = time.monotonic() + 5
		while b"\\Flagged" not in got and time.monotonic() < end:
			got += b"\n".join(imap_cmd(b, "n1", "NOOP"))
			time.sleep(0.1)
		check(re.search(rb"\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged", got) is not None, "B sees A's flag change: %r" % got)
		# new delivery -> EXISTS in B
		eq(n.send("sender@remote.test", [C], make_message("watch new", "w\n")), {}, "delivery")
		got = b""
		end = time.monotonic() + 5
		while b"EXISTS" not in got and time.monotonic() < end:
			got += b"\n".join(imap_cmd(b, "n2", "NOOP"))
			time.sleep(0.1)
		check(b"* %d EXISTS" % (total + 1) in got, "B sees the new message: %r" % got)
		# expunge by A -> EXPUNGE in B, and B's sequence numbers shift
		imap_ok(a.uid("STORE", str(uids[0]), "+FLAGS", "(\\Deleted)"), "STORE")
		a.expunge()
		got = b""
		end = time.monotonic() + 5
		while b"EXPUNGE" not in got and time.monotonic() < end:
			got += b"\n".join(imap_cmd(b, "n3", "NOOP"))
			time.sleep(0.1)
		check(b"* 1 EXPUNGE" in got, "B sees the expunge: %r" % got)
		lines = imap_cmd(b, "f1", "FETCH 1 (UID)")
		check(any(b"UID %d" % uids[1] in l for l in lines), "B's message 1 is now UID %d: %r" % (uids[1], lines))
	finally:
		a.logout()
		b.close()


def test_pop3_view_is_stable(env):
	n = env.node
	p = n.pop3(B, B_PW)
	try:
		count, size = p.stat()
		check(count > 0, "B has mail")
		_, first, _ = p.retr(1)
		eq(n.send("sender@remote.test", [B], make_message("during pop3", "new\n")), {}, "delivery during POP3")
		eq(p.stat(), (count, size), "STAT must not change within a POP3 session")
		# IMAP removes message 1 while POP3 has it: RETR either still works or -ERR; no crash
		m = n.imap(B, B_PW)
		try:
			m.select("INBOX")
			u = imap_uids(m)[0]
			imap_ok(m.uid("STORE", str(u), "+FLAGS", "(\\Deleted)"), "STORE")
			m.expunge()
		finally:
			m.logout()
		try:
			_, again, _ = p.retr(1)
			eq(again, first, "RETR of a message expunged elsewhere returns the same bytes")
		except mrtest.poplib.error_proto:
			pass
		p.quit()
	finally:
		p.close()
	p = n.pop3(B, B_PW)
	try:
		eq(p.stat()[0], count, "new session: one delivered, one expunged")
		p.quit()
	finally:
		p.close()


def test_connection_churn(env):
	n = env.node
	for i in range(4):   # POP3 locks the maildrop (RFC 2449 IN-USE): one account per thread
		n.add_account("churn%d@%s" % (i, DOMAIN), "churn-pw-%d" % i)

	def client(i):
		for j in range(15):
			if j % 3 == 0:
				m = n.imap(A, A_PW)
				m.select("INBOX", readonly=True)
				m.logout()
			elif j % 3 == 1:
				p = n.pop3("churn%d@%s" % (i, DOMAIN), "churn-pw-%d" % i)
				p.stat()
				p.quit()
			else:
				s = n.smtp(starttls=True)
				s.noop()
				s.quit()
	client(0)   # warm up: every kind of session once, databases opened
	base = n.fd_count()
	t0 = time.monotonic()
	run_threads(client, 4)
	check(time.monotonic() - t0 < 60, "60 TLS sessions took %.1fs" % (time.monotonic() - t0))
	if base is not None:
		c = n.wait_fds_settle(base + 3)
		check(c <= base + 3, "descriptor leak: %d open after 60 sessions vs %d before" % (c, base))
	msg = make_message("after churn", "still here\n")
	eq(n.send("sender@remote.test", [A], msg), {}, "delivery after churn")
	m = n.imap(A, A_PW)
	try:
		m.select("INBOX", readonly=True)
		mrtest.split_prefix_headers(imap_body(m, imap_uids(m, 'SUBJECT "after churn"')[0]), msg)
	finally:
		m.logout()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

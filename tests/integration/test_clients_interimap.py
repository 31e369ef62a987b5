"""test_clients_interimap.py - interimap 0.5.7, a real CONDSTORE/QRESYNC client (it refuses servers
without QRESYNC, ENABLE, LIST-EXTENDED and UIDPLUS), two-way syncing two accounts of one real
mailraftd: [local] over STARTTLS, [remote] over implicit TLS, both with the server certificate
pinned (SSL_CAfile, host "localhost"; /work/shared/design/clients.md §4). A few hundred
real-world-shaped messages (mailgen.py) start on both accounts; after the first sync both hold
the same messages (Message-ID and content) and flags in every mailbox, a second run changes
nothing (UIDs, flags, MODSEQ-driven state), and flag changes, expunges and new messages on either
side propagate (interimap finds them through CHANGEDSINCE / VANISHED), after which a further run
is again a no-op. interimap missing is a failure, not a skip (CI: self-hosting/deps.sh --test).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import mailgen  # noqa: E402
import clients_common as cc  # noqa: E402
from mrtest import check, eq, quiet_close  # noqa: E402

DOMAIN = "example.test"
A, B = "left@" + DOMAIN, "right@" + DOMAIN
PW = "interimap-pw-1"
N_A_INBOX, N_A_PROJ, N_B_INBOX = 110, 60, 80


def setup(env):
	cc.need_bin("interimap", "interimap")
	n = env.new_node("interimap")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	for u in (A, B):
		n.add_account(u, PW)
	cc.seed_server(n, A, PW, N_A_INBOX, N_A_PROJ, "a", "ap")
	cc.seed_server(n, B, PW, N_B_INBOX, 0, "b", inbox_flags=lambda i: "(\\Answered \\Seen)"
		if i % 4 == 0 else None)
	env.dir = os.path.join(n.root, "interimap")
	os.makedirs(env.dir)
	env.conf = cc.interimap_conf(os.path.join(env.dir, "config"), env.dir,
		(n.ports["imap"], A, PW, n.cert_path), (n.ports["imaps"], B, PW, n.cert_path))


def run_interimap(env, timeout=60):
	env.runs = getattr(env, "runs", 0) + 1
	return cc.run_interimap(env.conf, env.dir, os.path.join(env.dir, "run-%d.log" % env.runs),
		timeout)


def states(env):
	a = mailgen.server_state(env.node, A, PW)
	b = mailgen.server_state(env.node, B, PW)
	return a, b


def same(env):
	a, b = states(env)
	# the two accounts: same folders, messages, content, flags (UIDs differ, of course)
	mailgen.check_same(a, b)
	return a, b


def test_first_sync(env):
	out = run_interimap(env)
	a, b = same(env)
	for box in ("INBOX", "Projects"):
		check(box in a, "folder %s after the first sync: %r" % (box, sorted(a)))
	eq(len(a["INBOX"]), N_A_INBOX + N_B_INBOX, "INBOX size")
	eq(len(b["Projects"]), N_A_PROJ, "Projects size on the remote account")
	eq(b["INBOX"]["<a.7@gen.test>"][0], mailgen.digest(mailgen.message(7, "a")), "content copied")
	eq(a["INBOX"]["<b.4@gen.test>"][1], "RS", "flags copied remote -> local")
	eq(b["Projects"]["<ap.5@gen.test>"][1], "FS", "flags copied local -> remote")
	env.first = (a, b, out)


def test_resync_no_changes(env):
	a0, b0, _ = env.first
	out = run_interimap(env)
	a1, b1 = same(env)
	eq(a1, a0, "local account after a run with no changes (UIDs, flags, content)")
	eq(b1, b0, "remote account after a run with no changes")
	check("Added" not in out and "Removed" not in out and "Updated" not in out,
		"interimap changed something on a no-op run:\n%s" % out[-2000:])


def test_changes_propagate(env):
	a0, b0, _ = env.first
	ma, mb = env.node.imap(A, PW), env.node.imap(B, PW)
	try:
		mrtest.imap_ok(ma.select("INBOX"), "SELECT")
		mrtest.imap_ok(ma.uid("STORE", str(a0["INBOX"]["<b.1@gen.test>"][2]), "+FLAGS", "(\\Flagged)"), "STORE")
		mrtest.imap_ok(ma.uid("STORE", str(a0["INBOX"]["<a.3@gen.test>"][2]), "-FLAGS", "(\\Seen)"), "STORE")
		mrtest.imap_ok(ma.uid("STORE", str(a0["INBOX"]["<a.9@gen.test>"][2]), "+FLAGS", "(\\Deleted)"), "STORE")
		mrtest.imap_ok(ma.expunge(), "EXPUNGE")
		mrtest.imap_ok(mb.select("Projects"), "SELECT")
		mrtest.imap_ok(mb.uid("STORE", str(b0["Projects"]["<ap.2@gen.test>"][2]), "+FLAGS", "(\\Deleted)"), "STORE")
		mrtest.imap_ok(mb.expunge(), "EXPUNGE")
		mrtest.imap_ok(mb.uid("STORE", str(b0["Projects"]["<ap.5@gen.test>"][2]), "-FLAGS", "(\\Flagged)"), "STORE")
		mailgen.imap_append_all(mb, "INBOX", [mailgen.message(500, "late")], lambda i: "(\\Seen)")
	finally:
		quiet_close(ma)
		quiet_close(mb)
	run_interimap(env)
	a, b = same(env)
	eq(b["INBOX"]["<b.1@gen.test>"][1], "F", "\\Flagged set on local reached remote")
	eq(b["INBOX"]["<a.3@gen.test>"][1], "", "\\Seen cleared on local reached remote")
	check("<a.9@gen.test>" not in b["INBOX"], "local expunge reached remote")
	check("<ap.2@gen.test>" not in a["Projects"], "remote expunge reached local")
	eq(a["Projects"]["<ap.5@gen.test>"][1], "S", "remote unflag reached local")
	eq(a["INBOX"]["<late.500@gen.test>"][1], "S", "remote APPEND reached local")
	eq(len(a["INBOX"]), N_A_INBOX + N_B_INBOX, "INBOX size (one expunged, one added)")
	out = run_interimap(env)
	a2, b2 = same(env)
	eq(a2, a, "local account after a further no-op run")
	eq(b2, b, "remote account after a further no-op run")
	check("Added" not in out and "Removed" not in out and "Updated" not in out,
		"interimap changed something on a no-op run:\n%s" % out[-2000:])


def test_highestmodseq_announced(env):
	"""What interimap relies on (found by it): with CONDSTORE on, a change to the selected
	mailbox is followed by "* OK [HIGHESTMODSEQ n]" carrying the new value (RFC 7162 §3.1.2.1),
	and a no-op NOOP sends none."""
	ln = mrtest.Line(env.node.ports["imaps"], tls=True)
	try:
		ln.readline()
		for tag, c in (("l", 'LOGIN "%s" "%s"' % (A, PW)), ("e", "ENABLE CONDSTORE"), ("s", "SELECT INBOX")):
			ln.cmd("%s %s" % (tag, c))
			r = ln.imap_until_tagged(tag)
			check(r and r[-1].startswith(tag.encode() + b" OK"), "%s: %r" % (c, r))
		hms = [int(x.split()[3].rstrip(b"]")) for x in r if x.startswith(b"* OK [HIGHESTMODSEQ ")]
		eq(len(hms), 1, "HIGHESTMODSEQ at SELECT")
		ln.cmd("n NOOP")
		r = ln.imap_until_tagged("n")
		check(not any(b"HIGHESTMODSEQ" in x for x in r), "no change, no HIGHESTMODSEQ: %r" % r)
		msg = mailgen.message(77, "hm")
		ln.send(("a APPEND INBOX {%d+}\r\n" % len(msg)).encode() + msg + b"\r\n")
		r = ln.imap_until_tagged("a")
		check(r and r[-1].startswith(b"a OK"), "APPEND: %r" % r)
		news = [int(x.split()[3].rstrip(b"]")) for x in r if x.startswith(b"* OK [HIGHESTMODSEQ ")]
		check(any(b" EXISTS" in x for x in r), "EXISTS after APPEND: %r" % r)
		eq(len(news), 1, "HIGHESTMODSEQ after APPEND into the selected mailbox")
		check(news[0] > hms[0], "HIGHESTMODSEQ grew: %r -> %r" % (hms, news))
	finally:
		ln.close()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

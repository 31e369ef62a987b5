"""test_clients_offlineimap.py - offlineimap (Debian offlineimap3) two-way Maildir sync against a
real mailraftd over implicit TLS (IMAPS) with AUTHENTICATE PLAIN and the server certificate
pinned (sslcacertfile, host "localhost"; /work/shared/design/clients.md §4). Implicit TLS on
purpose: offlineimap's STARTTLS path (imaplib2 3.05: ID, then STARTTLS, then CAPABILITY) fails
in about 1 run of 3 here -- "CAPABILITY => connection terminated", a TLS protocol_version
alert, or a hang right after the handshake -- while the very same byte sequence sent from a
plain socket succeeds 60 times in 60 and mbsync/interimap STARTTLS never fail: imaplib2's
reader thread races the TLS wrap. STARTTLS is covered by test_clients_mbsync.py and
test_clients_interimap.py. A few hundred
real-world-shaped messages (mailgen.py) start on both sides: 200 on the server (INBOX +
Projects) and 100 in the local Maildir (INBOX + a local-only folder). The first sync must make
both sides hold exactly the same messages (by Message-ID and content) and flags, a second run
must change nothing on either side, and flag changes and deletions made on either side must
propagate, after which a further run is again a no-op. offlineimap missing is a failure, not a
skip (CI installs offlineimap3: self-hosting/deps.sh --test).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import mailgen  # noqa: E402
import clients_common as cc  # noqa: E402
from mrtest import check, eq  # noqa: E402

DOMAIN = "example.test"
USER = "oi@" + DOMAIN
PW = "offlineimap-pw-1"
N_INBOX, N_PROJ, N_LOCAL_INBOX, N_LOCAL_FOLDER = 120, 80, 60, 40


def setup(env):
	cc.need_bin("offlineimap", "offlineimap3")
	n = env.new_node("offlineimap")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	cc.seed_server(n, USER, PW, N_INBOX, N_PROJ)
	env.local = os.path.join(n.root, "maildir")
	cc.seed_local(env.local, N_LOCAL_INBOX, N_LOCAL_FOLDER, *cc.OI_NAMES)
	env.rc = cc.offlineimap_rc(os.path.join(n.root, "offlineimaprc"), os.path.join(n.root,
		"oi-meta"), n.ports["imaps"], USER, PW, n.cert_path, env.local)


def run_oi(env, timeout=40):
	"""One-shot offlineimap run (output kept in ROOT/offlineimap-N.log)."""
	env.oi_runs = getattr(env, "oi_runs", 0) + 1
	log = os.path.join(env.node.root, "offlineimap-%d.log" % env.oi_runs)
	return cc.run_offlineimap(env.rc, env.node.root, log, timeout)


def check_same(env):
	srv, loc = mailgen.server_state(env.node, USER, PW), mailgen.local_state(env.local)
	mailgen.check_same(srv, loc)
	return srv, loc


def test_first_sync(env):
	run_oi(env)
	srv, loc = check_same(env)
	for box in ("INBOX", "Projects", "Local"):
		check(box in srv, "folder %s after the first sync: %r" % (box, sorted(srv)))
	eq(len(srv["INBOX"]), N_INBOX + N_LOCAL_INBOX, "INBOX size")
	eq(len(srv["Projects"]), N_PROJ, "Projects size")
	eq(len(srv["Local"]), N_LOCAL_FOLDER, "Local size (created on the server)")
	eq(srv["INBOX"]["<srv.7@gen.test>"][0], mailgen.digest(mailgen.message(7, "srv")), "content")
	eq(srv["Local"]["<lf.3@gen.test>"][0], mailgen.digest(mailgen.message(3, "lf")), "uploaded")
	eq(srv["Projects"]["<arc.5@gen.test>"][1], "FS", "flags pulled")
	eq(srv["Local"]["<lf.4@gen.test>"][1], "FS", "flags pushed")
	env.after_first = (srv, loc)


def test_resync_no_changes(env):
	srv0, loc0 = env.after_first
	run_oi(env)
	srv1, loc1 = check_same(env)
	eq(srv1, srv0, "server state after a sync with no changes (UIDs, flags, content)")
	eq(mailgen.local_files(loc1), mailgen.local_files(loc0), "local Maildir files after a no-op sync")


def test_flags_and_deletions_propagate(env):
	srv0, loc0 = env.after_first
	cc.changes_propagate(env.node, USER, PW, env.local, srv0, loc0, lambda: run_oi(env),
		N_INBOX + N_LOCAL_INBOX - 3)


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

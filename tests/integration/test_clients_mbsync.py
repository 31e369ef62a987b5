"""test_clients_mbsync.py - mbsync (isync) two-way Maildir sync against a real mailraftd over
STARTTLS with the server certificate pinned (host "localhost": mbsync ignores IP SANs; see
/work/shared/design/clients.md §4). A few hundred real-world-shaped messages (mailgen.py) start
on both sides: 200 on the server (INBOX + Projects) and 100 in the local Maildir (INBOX + a
local-only folder). The first sync must make both sides hold exactly the same messages (by
Message-ID and content), a second run must change nothing on either side, and flag changes and
deletions made on either side must propagate, after which a further run is again a no-op.
mbsync missing is a failure, not a skip (CI installs isync: self-hosting/deps.sh --test).
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
USER = "sync@" + DOMAIN
PW = "mbsync-pw-1"
N_INBOX, N_PROJ, N_LOCAL_INBOX, N_LOCAL_FOLDER = 120, 80, 60, 40


def setup(env):
	cc.need_bin("mbsync", "isync")
	n = env.new_node("mbsync")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	cc.seed_server(n, USER, PW, N_INBOX, N_PROJ)
	env.local = os.path.join(n.root, "maildir")
	cc.seed_local(env.local, N_LOCAL_INBOX, N_LOCAL_FOLDER, *cc.MBSYNC_NAMES)
	env.rc = cc.mbsync_rc(os.path.join(n.root, "mbsyncrc"), n.ports["imap"], USER, PW,
		n.cert_path, env.local)


def run_mbsync(env):
	"""Run mbsync once against the node; returns its output."""
	return cc.run_mbsync(env.rc, env.node.root)


def check_same(env):
	"""Both sides: the same folders, messages (content) and flags. Returns (server, local)."""
	srv, loc = mailgen.server_state(env.node, USER, PW), mailgen.local_state(env.local)
	mailgen.check_same(srv, loc)
	return srv, loc


def test_first_sync(env):
	run_mbsync(env)
	srv, loc = check_same(env)
	for box in ("INBOX", "Projects", "Local"):
		check(box in srv, "folder %s after the first sync: %r" % (box, sorted(srv)))
	eq(len(srv["INBOX"]), N_INBOX + N_LOCAL_INBOX, "INBOX size")
	eq(len(srv["Projects"]), N_PROJ, "Projects size")
	eq(len(srv["Local"]), N_LOCAL_FOLDER, "Local size (created on the server)")
	# originals intact: server-side content equals what was generated
	eq(srv["INBOX"]["<srv.7@gen.test>"][0], mailgen.digest(mailgen.message(7, "srv")), "content")
	eq(srv["Local"]["<lf.3@gen.test>"][0], mailgen.digest(mailgen.message(3, "lf")), "uploaded")
	eq(srv["Projects"]["<arc.5@gen.test>"][1], "FS", "flags pulled")
	eq(srv["Local"]["<lf.4@gen.test>"][1], "FS", "flags pushed")
	# Debian's mbsync negotiates COMPRESS=DEFLATE (RFC 4978) when advertised: a real client
	# of our compression layer (every byte above went through it)
	check("compress=deflate" in env.node.log_text(), "mbsync did not use COMPRESS=DEFLATE")
	env.after_first = (srv, loc)


def test_resync_no_changes(env):
	srv0, loc0 = env.after_first
	files0 = mailgen.local_files(loc0)
	run_mbsync(env)
	srv1, loc1 = check_same(env)
	eq(srv1, srv0, "server state after a sync with no changes (UIDs, flags, content)")
	files1 = mailgen.local_files(loc1)
	eq(files1, files0, "local Maildir files after a sync with no changes")


def test_flags_and_deletions_propagate(env):
	srv0, loc0 = env.after_first
	cc.changes_propagate(env.node, USER, PW, env.local, srv0, loc0, lambda: run_mbsync(env),
		N_INBOX + N_LOCAL_INBOX - 3)


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

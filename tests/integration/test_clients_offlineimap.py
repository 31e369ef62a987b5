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
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import mailgen  # noqa: E402
from mrtest import check, eq, quiet_close  # noqa: E402

DOMAIN = "example.test"
USER = "oi@" + DOMAIN
PW = "offlineimap-pw-1"
N_INBOX, N_PROJ, N_LOCAL_INBOX, N_LOCAL_FOLDER = 120, 80, 60, 40


def oi_bin():
	p = shutil.which("offlineimap")
	check(p is not None, "offlineimap not installed (apt-get install offlineimap3; CI runs "
		"self-hosting/deps.sh --test)")
	return p


def setup(env):
	oi_bin()
	n = env.new_node("offlineimap")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	m = n.imap(USER, PW)
	try:
		mrtest.imap_ok(m.create("Projects"), "CREATE Projects")
		mailgen.imap_append_all(m, "INBOX", [mailgen.message(i, "srv") for i in range(N_INBOX)],
			lambda i: "(\\Seen)" if i % 3 == 0 else None)
		mailgen.imap_append_all(m, "Projects", [mailgen.message(i, "arc") for i in range(N_PROJ)],
			lambda i: "(\\Seen \\Flagged)" if i % 5 == 0 else "(\\Seen)")
	finally:
		quiet_close(m)
	env.local = os.path.join(n.root, "maildir")
	for i in range(N_LOCAL_INBOX):
		mailgen.maildir_put(os.path.join(env.local, "INBOX"), mailgen.message(i, "loc"),
			"%d_%d.1.host" % (1700000000 + i, i), flags="S" if i % 2 else None)
	for i in range(N_LOCAL_FOLDER):
		mailgen.maildir_put(os.path.join(env.local, "Local"), mailgen.message(i, "lf"),
			"%d_%d.2.host" % (1700000000 + i, i), flags="FS" if i % 4 == 0 else "")
	env.rc = os.path.join(n.root, "offlineimaprc")
	with open(env.rc, "w") as f:
		f.write("""[general]
accounts = t
metadata = %s/oi-meta
ui = basic

[Account t]
localrepository = t-local
remoterepository = t-remote

[Repository t-local]
type = Maildir
localfolders = %s

[Repository t-remote]
type = IMAP
remotehost = localhost
remoteport = %d
remoteuser = %s
remotepass = %s
ssl = yes
starttls = no
sslcacertfile = %s
auth_mechanisms = PLAIN
createfolders = True
""" % (n.root, env.local, n.ports["imaps"], USER, PW, n.cert_path))


def run_oi(env, timeout=40):
	"""One-shot offlineimap run; its output goes to a file so a hang still shows what it did
	(MRTEST_OI_DEBUG=1 adds the IMAP wire trace: -d imap)."""
	env.oi_runs = getattr(env, "oi_runs", 0) + 1
	log = os.path.join(env.node.root, "offlineimap-%d.log" % env.oi_runs)
	cmd = [oi_bin(), "-c", env.rc, "-o", "-u", "basic"]
	if os.environ.get("MRTEST_OI_DEBUG"):
		cmd += ["-d", "imap"]
	with open(log, "wb") as lf:
		p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
			env=dict(os.environ, HOME=env.node.root))
		try:
			rc = p.wait(timeout)
		except subprocess.TimeoutExpired:
			p.kill()
			p.wait(10)
			rc = None
	with open(log, "rb") as lf:
		out = lf.read().decode("utf-8", "replace")
	check(rc is not None, "offlineimap did not finish within %ds:\n%s" % (timeout, out[-4000:]))
	check(rc == 0, "offlineimap exit %d:\n%s" % (rc, out[-3000:]))
	check("ERROR" not in out and "Traceback" not in out, "offlineimap complained:\n%s" % out[-3000:])
	return out


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
	inbox = loc0["INBOX"]
	mailgen.maildir_set_flags(inbox["<srv.1@gen.test>"][2], "FS")
	mailgen.maildir_set_flags(inbox["<loc.2@gen.test>"][2], "RS")
	mailgen.maildir_set_flags(loc0["Projects"]["<arc.10@gen.test>"][2], "S")  # was FS
	os.unlink(inbox["<srv.2@gen.test>"][2])
	os.unlink(loc0["Local"]["<lf.5@gen.test>"][2])
	m = env.node.imap(USER, PW)
	try:
		mrtest.imap_ok(m.select("INBOX"), "SELECT")
		u = srv0["INBOX"]
		mrtest.imap_ok(m.uid("STORE", str(u["<srv.4@gen.test>"][2]), "+FLAGS", "(\\Flagged)"), "STORE")
		for mid in ("<srv.5@gen.test>", "<loc.6@gen.test>"):
			mrtest.imap_ok(m.uid("STORE", str(u[mid][2]), "+FLAGS", "(\\Deleted)"), "STORE")
		mrtest.imap_ok(m.expunge(), "EXPUNGE")
		mailgen.imap_append_all(m, "Projects", [mailgen.message(999, "late")])
	finally:
		quiet_close(m)
	run_oi(env)
	srv, loc = check_same(env)
	s = srv["INBOX"]
	eq(s["<srv.1@gen.test>"][1], "FS", "local flag change reached the server")
	eq(s["<loc.2@gen.test>"][1], "RS", "local \\Answered reached the server")
	eq(srv["Projects"]["<arc.10@gen.test>"][1], "S", "local unflag reached the server")
	for mid in ("<srv.2@gen.test>", "<srv.5@gen.test>", "<loc.6@gen.test>"):
		check(mid not in s and mid not in loc["INBOX"], "%s deleted on both sides" % mid)
	check("<lf.5@gen.test>" not in srv["Local"], "local deletion reached the server")
	check("F" in loc["INBOX"]["<srv.4@gen.test>"][1], "server \\Flagged reached the Maildir")
	check("<late.999@gen.test>" in loc["Projects"], "server APPEND reached the Maildir")
	eq(len(s), N_INBOX + N_LOCAL_INBOX - 3, "INBOX size after deletions")
	files0 = mailgen.local_files(loc)
	run_oi(env)
	srv2, loc2 = check_same(env)
	eq(srv2, srv, "server state after a no-change sync following changes")
	eq(mailgen.local_files(loc2), files0, "local files")


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

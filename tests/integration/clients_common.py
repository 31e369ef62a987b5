"""clients_common.py - shared set-up of the real-client sync tests (mbsync, offlineimap,
interimap): finding the client binary (missing is a failure, not a skip), seeding an account on
a server and a local Maildir with mailgen.py messages, writing each client's configuration file
for one server endpoint (host "localhost" + port + pinned certificate, see
/work/shared/design/clients.md §4), and running the client once with a bounded wait, failing on
a non-zero exit or a complaint in its output. Used by test_clients_mbsync.py,
test_clients_offlineimap.py, test_clients_interimap.py (one node) and test_imap_cluster.py
(against the nodes of a three-node cluster), so both run the very same client set-ups.
"""
import os
import re
import shutil
import subprocess

import mrlib
import mailgen
from mrlib import check

INSTALL_HINT = "(CI runs self-hosting/deps.sh --test)"


def need_bin(name, package):
	p = shutil.which(name)
	check(p is not None, "%s not installed (apt-get install %s; %s)" % (name, package, INSTALL_HINT))
	return p


# ---------------------------------------------------------------- seeding

def seed_server(node, user, pw, n_inbox, n_proj, inbox_prefix="srv", proj_prefix="arc",
		inbox_flags=None, proj_flags=None):
	"""CREATE Projects and APPEND n_inbox / n_proj mailgen messages (INBOX: every third \\Seen;
	Projects: all \\Seen, every fifth also \\Flagged) to an account over IMAPS on node."""
	inbox_flags = inbox_flags or (lambda i: "(\\Seen)" if i % 3 == 0 else None)
	proj_flags = proj_flags or (lambda i: "(\\Seen \\Flagged)" if i % 5 == 0 else "(\\Seen)")
	m = node.imap(user, pw)
	try:
		if n_proj:
			mrlib.imap_ok(m.create("Projects"), "CREATE Projects")
		mailgen.imap_append_all(m, "INBOX", [mailgen.message(i, inbox_prefix)
			for i in range(n_inbox)], inbox_flags)
		if n_proj:
			mailgen.imap_append_all(m, "Projects", [mailgen.message(i, proj_prefix)
				for i in range(n_proj)], proj_flags)
	finally:
		mrlib.quiet_close(m)


def seed_local(local, n_inbox, n_folder, name_inbox, name_folder):
	"""A Maildir tree under local: INBOX with n_inbox "loc" messages (every second \\Seen) and a
	local-only folder Local with n_folder "lf" messages (every fourth \\Flagged \\Seen).
	name_inbox(i) / name_folder(i) give the file names (each client has its own taste)."""
	for i in range(n_inbox):
		mailgen.maildir_put(os.path.join(local, "INBOX"), mailgen.message(i, "loc"),
			name_inbox(i), flags="S" if i % 2 else None)
	for i in range(n_folder):
		mailgen.maildir_put(os.path.join(local, "Local"), mailgen.message(i, "lf"),
			name_folder(i), flags="FS" if i % 4 == 0 else "")


# ---------------------------------------------------------------- mbsync (isync)

MBSYNC_NAMES = (lambda i: "%d.loc%d.host" % (1700000000 + i, i),
	lambda i: "%d.lf%d.host" % (1700000000 + i, i))


def mbsync_rc(path, port, user, pw, cert, local):
	"""An mbsyncrc with channel "t": STARTTLS to localhost:port pinned to cert, Maildir local,
	every folder both ways with creation and expunge on both sides."""
	with open(path, "w") as f:
		f.write("""IMAPAccount t
Host localhost
Port %d
User %s
Pass %s
SSLType STARTTLS
SSLVersions TLSv1.2 TLSv1.3
SystemCertificates no
CertificateFile %s
AuthMechs PLAIN
Timeout 30

IMAPStore t-remote
Account t

MaildirStore t-local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel t
Far :t-remote:
Near :t-local:
Patterns *
Create Both
Expunge Both
SyncState *
""" % (port, user, pw, cert, local, local))
	return path


def run_mbsync(rc, home, timeout=60):
	"""mbsync -c rc t; returns its output (fails on exit != 0, errors or warnings)."""
	r = subprocess.run([need_bin("mbsync", "isync"), "-c", rc, "t"], capture_output=True,
		timeout=timeout, stdin=subprocess.DEVNULL, env=dict(os.environ, HOME=home))
	out = (r.stdout + r.stderr).decode("utf-8", "replace")
	check(r.returncode == 0, "mbsync exit %d:\n%s" % (r.returncode, out[-3000:]))
	check("rror" not in out and "arning" not in out, "mbsync complained:\n%s" % out[-3000:])
	return out


# ---------------------------------------------------------------- offlineimap (offlineimap3)

OI_NAMES = (lambda i: "%d_%d.1.host" % (1700000000 + i, i),
	lambda i: "%d_%d.2.host" % (1700000000 + i, i))


def offlineimap_rc(path, meta, port, user, pw, cert, local):
	"""An offlineimaprc with account "t": implicit TLS (IMAPS) to localhost:port pinned to cert,
	AUTHENTICATE PLAIN, Maildir local, folders created on both sides."""
	with open(path, "w") as f:
		f.write("""[general]
accounts = t
metadata = %s
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
""" % (meta, local, port, user, pw, cert))
	return path


def run_offlineimap(rc, home, log, timeout=40):
	"""One-shot offlineimap run with its output in the file log (so a hang still shows what it
	did; MRTEST_OI_DEBUG=1 adds the IMAP wire trace: -d imap). Returns the output."""
	cmd = [need_bin("offlineimap", "offlineimap3"), "-c", rc, "-o", "-u", "basic"]
	if os.environ.get("MRTEST_OI_DEBUG"):
		cmd += ["-d", "imap"]
	with open(log, "wb") as lf:
		p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
			env=dict(os.environ, HOME=home))
		try:
			rc_ = p.wait(timeout)
		except subprocess.TimeoutExpired:
			p.kill()
			p.wait(10)
			rc_ = None
	with open(log, "rb") as lf:
		out = lf.read().decode("utf-8", "replace")
	check(rc_ is not None, "offlineimap did not finish within %ds:\n%s" % (timeout, out[-4000:]))
	check(rc_ == 0, "offlineimap exit %d:\n%s" % (rc_, out[-3000:]))
	check("ERROR" not in out and "Traceback" not in out, "offlineimap complained:\n%s" % out[-3000:])
	return out


# ---------------------------------------------------------------- interimap

def interimap_conf(path, dbdir, local, remote):
	"""An interimap config syncing two accounts: local = (port, user, pw, cert) over STARTTLS,
	remote = (port, user, pw, cert) over implicit TLS; its database in dbdir."""
	with open(path, "w") as f:
		f.write("""database = %s/sync.db
[local]
type = imap
host = localhost
port = %d
STARTTLS = YES
username = %s
password = %s
SSL_CAfile = %s
[remote]
type = imaps
host = localhost
port = %d
username = %s
password = %s
SSL_CAfile = %s
""" % ((dbdir,) + tuple(local) + tuple(remote)))
	return path


INTERIMAP_CHANGES = re.compile(r"\b(Added|Removed|Updated)\b")


def run_interimap(conf, home, log, timeout=60):
	"""interimap --config=conf once (MRTEST_IMAP_DEBUG=1 adds --debug); its output is also
	written to log. Returns the output."""
	cmd = [need_bin("interimap", "interimap"), "--config=" + conf]
	if os.environ.get("MRTEST_IMAP_DEBUG"):
		cmd.append("--debug")
	r = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
		env=dict(os.environ, HOME=home, XDG_DATA_HOME=home))
	out = (r.stdout + r.stderr).decode("utf-8", "replace")
	with open(log, "w") as f:
		f.write(out)
	check(r.returncode == 0, "interimap exit %d:\n%s" % (r.returncode, out[-3000:]))
	return out


def interimap_changed(out):
	"""True if an interimap run reports having added, removed or updated anything."""
	return INTERIMAP_CHANGES.search(out) is not None


# ---------------------------------------------------------------- two-way change scenario

def make_changes(node, user, pw, srv0, loc0):
	"""Changes on both sides: in the local Maildir flag two messages, unflag one and delete two;
	on the server (through node) flag one, expunge two and append one. srv0/loc0: the states
	after the first sync (mailgen.server_state / local_state)."""
	inbox = loc0["INBOX"]
	mailgen.maildir_set_flags(inbox["<srv.1@gen.test>"][2], "FS")
	mailgen.maildir_set_flags(inbox["<loc.2@gen.test>"][2], "RS")
	mailgen.maildir_set_flags(loc0["Projects"]["<arc.10@gen.test>"][2], "S")  # was FS
	os.unlink(inbox["<srv.2@gen.test>"][2])
	os.unlink(loc0["Local"]["<lf.5@gen.test>"][2])
	m = node.imap(user, pw)
	try:
		mrlib.imap_ok(m.select("INBOX"), "SELECT")
		u = srv0["INBOX"]
		mrlib.imap_ok(m.uid("STORE", str(u["<srv.4@gen.test>"][2]), "+FLAGS", "(\\Flagged)"), "STORE")
		for mid in ("<srv.5@gen.test>", "<loc.6@gen.test>"):
			mrlib.imap_ok(m.uid("STORE", str(u[mid][2]), "+FLAGS", "(\\Deleted)"), "STORE")
		mrlib.imap_ok(m.expunge(), "EXPUNGE")
		mailgen.imap_append_all(m, "Projects", [mailgen.message(999, "late")])
	finally:
		mrlib.quiet_close(m)


def check_changes(srv, loc, n_inbox_after):
	"""After a sync following make_changes: every change reached the other side."""
	s = srv["INBOX"]
	mrlib.eq(s["<srv.1@gen.test>"][1], "FS", "local flag change reached the server")
	mrlib.eq(s["<loc.2@gen.test>"][1], "RS", "local \\Answered reached the server")
	mrlib.eq(srv["Projects"]["<arc.10@gen.test>"][1], "S", "local unflag reached the server")
	for mid in ("<srv.2@gen.test>", "<srv.5@gen.test>", "<loc.6@gen.test>"):
		check(mid not in s and mid not in loc["INBOX"], "%s deleted on both sides" % mid)
	check("<lf.5@gen.test>" not in srv["Local"], "local deletion reached the server")
	check("F" in loc["INBOX"]["<srv.4@gen.test>"][1], "server \\Flagged reached the Maildir")
	check("<late.999@gen.test>" in loc["Projects"], "server APPEND reached the Maildir")
	mrlib.eq(len(s), n_inbox_after, "INBOX size after deletions")


def changes_propagate(node, user, pw, local, srv0, loc0, sync, n_inbox_after):
	"""The two-way change round of the one-node Maildir sync tests: make_changes, sync(),
	check_changes with both sides equal, then one more sync() must change nothing."""
	make_changes(node, user, pw, srv0, loc0)

	def same():
		srv, loc = mailgen.server_state(node, user, pw), mailgen.local_state(local)
		mailgen.check_same(srv, loc)
		return srv, loc

	sync()
	srv, loc = same()
	check_changes(srv, loc, n_inbox_after)
	# and once more: nothing to do
	files0 = mailgen.local_files(loc)
	sync()
	srv2, loc2 = same()
	mrlib.eq(srv2, srv, "server state after a no-change sync following changes")
	mrlib.eq(mailgen.local_files(loc2), files0, "local files")

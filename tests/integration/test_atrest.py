"""test_atrest.py - encryption at rest of a real mailraftd's data dir: after delivering messages
carrying unique markers (body text, a header value, the recipient address, an appended message,
a folder name, a keyword) and stopping the node, no file under the data dir contains any marker
or the password in clear (the scanner is first proven on planted files), no file name carries
them, no file is a plain SQLite database, the keys are 0600, and the debug log holds no message
text or password; the same after a SIGKILL right after commits (WAL); a start with a different
or missing master key fails with "master key" in its output and changes no file; the right key
still opens everything; removing an account removes its files."""
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message, imap_uids, imap_body  # noqa: E402

DOMAIN = "example.test"


def filler(n):
	"""n bytes of incompressible text in 76-character lines."""
	h = secrets.token_hex(n // 2 + 1)
	return "".join(h[i:i + 76] + "\n" for i in range(0, len(h), 76))


def setup(env):
	n = env.new_node("atrest", conf={"log_level": "debug"})   # the most verbose log must not leak either
	env.node = n
	n.start()
	env.local = "r" + secrets.token_hex(10)
	env.rcpt = "%s@%s" % (env.local, DOMAIN)
	env.pw = "pw-" + secrets.token_hex(10)
	env.body_marker = "BODYMARK" + secrets.token_hex(16)
	env.hdr_marker = "HDRMARK" + secrets.token_hex(16)
	env.subj_marker = "SUBJMARK" + secrets.token_hex(8)
	env.app_marker = "APPENDMARK" + secrets.token_hex(16)
	n.add_domain(DOMAIN)
	n.add_account(env.rcpt, env.pw)
	env.msgs = []
	for i in range(5):
		body = ("line %d with %s in the middle\n" % (i, env.body_marker)) * 3 + filler(i * 3000)
		msg = make_message("%s-%d" % (env.subj_marker, i), body, to=env.rcpt, headers={"X-Unique": env.hdr_marker})
		eq(n.send("sender@remote.test", [env.rcpt], msg, starttls=bool(i % 2)), {}, "delivery")
		env.msgs.append(msg)
	mrtest.wait_imap_count(n, env.rcpt, env.pw, 5)
	m = n.imap(env.rcpt, env.pw)
	try:
		m.create("Folder-" + env.app_marker[:20])
		eq(m.append("INBOX", None, None, make_message("appended", "text %s\n" % env.app_marker))[0], "OK", "APPEND")
	finally:
		m.logout()
	eq(n.stop(), 0, "exit code after SIGTERM")


def markers(env):
	return {
		"body marker": env.body_marker.encode(),
		"header value": env.hdr_marker.encode(),
		"subject": env.subj_marker.encode(),
		"recipient address": env.rcpt.encode(),
		"recipient local part": env.local.encode(),
		"password": env.pw.encode(),
		"appended text": env.app_marker.encode(),
		"folder name": env.app_marker[:20].encode(),
	}


def all_files(root):
	for dp, _, fns in os.walk(root):
		for fn in fns:
			p = os.path.join(dp, fn)
			if os.path.isfile(p) and not os.path.islink(p):
				yield p


def test_data_dir_is_not_empty(env):
	files = list(all_files(env.node.data_dir))
	total = sum(os.path.getsize(p) for p in files)
	check(total > sum(len(m) for m in env.msgs), "data dir holds %d bytes in %d files: less than the mail itself" % (total, len(files)))


def scan_markers(root, marks):
	"""["what in relpath"] for every marker found (any case) in any regular file under root."""
	found = []
	for p in all_files(root):
		with open(p, "rb") as f:
			data = f.read()
		low = data.lower()
		for what, mk in marks.items():
			if mk.lower() in low:
				found.append("%s in %s" % (what, os.path.relpath(p, root)))
	return found


def test_log_has_no_message_text_or_password(env):
	"""style.md: never log message text or passwords - checked on the debug-level log."""
	log = env.node.log_text()
	check("ready" in log and len(log) > 500, "the daemon log looks empty: %r" % log[-300:])
	leaks = [what for what, mk in markers(env).items()
		if what in ("body marker", "header value", "subject", "password", "appended text") and mk.decode() in log]
	check(not leaks, "found in the daemon log: %r" % leaks)


def test_scanner_finds_planted_markers(env):
	"""The scan itself must work: plant each marker (and a plain SQLite header) outside the
	data dir and find them all."""
	d = os.path.join(env.node.root, "canary")
	os.makedirs(os.path.join(d, "sub"), exist_ok=True)
	marks = markers(env)
	want = []
	for i, (what, mk) in enumerate(marks.items()):
		rel = os.path.join("sub" if i % 2 else "", "f%d.bin" % i)
		with open(os.path.join(d, rel), "wb") as f:
			f.write(secrets.token_bytes(5000) + mk.upper() + secrets.token_bytes(100))
		want.append("%s in %s" % (what, rel))
	found = scan_markers(d, marks)
	missing = [w for w in want if w not in found]
	check(not missing, "scanner missed planted markers: %r" % missing)
	with open(os.path.join(d, "plain.db"), "wb") as f:
		f.write(b"SQLite format 3\x00" + b"\x00" * 100)
	eq(plain_sqlite(d), ["plain.db"], "planted plain SQLite file found")


def test_no_cleartext_markers(env):
	found = scan_markers(env.node.data_dir, markers(env))
	for p in all_files(env.node.data_dir):
		with open(p, "rb") as f:
			if env.body_marker.encode("utf-16-le") in f.read():
				found.append("body marker (UTF-16) in %s" % p)
	check(not found, "clear-text data at rest:\n  " + "\n  ".join(found))


def plain_sqlite(root):
	plain = []
	for p in all_files(root):
		with open(p, "rb") as f:
			if f.read(16).startswith(b"SQLite format 3"):
				plain.append(os.path.relpath(p, root))
	return plain


def test_no_plain_sqlite(env):
	dbs = [p for p in all_files(env.node.data_dir) if p.endswith(".db")]
	check(len(dbs) >= 2, "expected the directory and an account database, found %r" % dbs)
	plain = plain_sqlite(env.node.data_dir)
	check(not plain, "unencrypted SQLite files: %r" % plain)


def test_no_cleartext_file_names(env):
	found = []
	for dp, dns, fns in os.walk(env.node.data_dir):
		for name in dns + fns:
			low = name.lower().encode()
			for what, mk in markers(env).items():
				if mk.lower() in low:
					found.append("%s in the name %s" % (what, os.path.relpath(os.path.join(dp, name), env.node.data_dir)))
	check(not found, "clear-text data in file names:\n  " + "\n  ".join(found))


def test_key_permissions(env):
	n = env.node
	key = os.path.join(n.data_dir, "master.key")
	check(os.path.exists(key), "master key file %s" % key)
	mode = os.stat(key).st_mode & 0o777
	check(mode & 0o077 == 0, "master key readable by group/others: %o" % mode)
	tls_key = os.path.join(n.data_dir, "tls", "key.pem")
	if os.path.exists(tls_key):
		mode = os.stat(tls_key).st_mode & 0o777
		check(mode & 0o077 == 0, "TLS private key readable by group/others: %o" % mode)


def test_wrong_master_key_refused_and_nothing_changes(env):
	n = env.node
	right = os.path.join(n.data_dir, "master.key")
	check(os.path.exists(right), "no master key at the default path %s" % right)
	with open(right, "rb") as f:
		good = f.read()
	# same format as the real key file: hex text or raw bytes
	stripped = good.strip()
	if len(stripped) == 64 and all(c in b"0123456789abcdefABCDEF" for c in stripped):
		bad = secrets.token_hex(32).encode() + good[len(stripped):]
	elif len(stripped) == 44 and stripped.endswith(b"="):
		import base64
		bad = base64.b64encode(secrets.token_bytes(32)) + good[len(stripped):]
	else:
		bad = secrets.token_bytes(32)
	check(bad != good, "random key equals the real one")
	wrong = os.path.join(n.root, "wrong.key")
	with open(wrong, "wb") as f:
		f.write(bad)
	os.chmod(wrong, 0o600)
	before = mrtest.tree_hashes(n.data_dir)
	n.conf["master_key_file"] = wrong
	try:
		rc, out = n.run_once(timeout=60)
	finally:
		del n.conf["master_key_file"]
	check(rc != 0, "mailraftd started with a wrong master key (rc 0); output:\n%s" % out[-2000:])
	check(rc > 0, "mailraftd died from signal %d instead of exiting; output:\n%s" % (-rc, out[-2000:]))
	contains(out.lower(), "master key", "error output")
	for pat in mrtest.SANITIZER_PATTERNS:
		check(pat not in out, "sanitizer report with a wrong key:\n%s" % out[-3000:])
	after = mrtest.tree_hashes(n.data_dir)
	changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
	check(not changed, "files changed by the failed start: %r" % changed)


def test_right_key_still_works(env):
	n = env.node
	n.start()
	m = n.imap(env.rcpt, env.pw)
	try:
		m.select("INBOX", readonly=True)
		uids = imap_uids(m)
		eq(len(uids), 6, "messages after the failed start")
		for uid, msg in zip(uids, env.msgs):
			mrtest.split_prefix_headers(imap_body(m, uid), msg)
		eq(len(imap_uids(m, "BODY %s" % env.body_marker)), 5, "SEARCH BODY for the marker")
	finally:
		m.logout()
	eq(n.stop(), 0, "stop")
	# and after this second run the data dir is still free of markers
	test_no_cleartext_markers(env)
	test_no_plain_sqlite(env)


def test_missing_master_key_with_data_refused(env):
	"""An existing data dir with the key file gone must not silently get a new key."""
	n = env.node
	key = os.path.join(n.data_dir, "master.key")
	moved = os.path.join(n.root, "master.key.saved")
	os.rename(key, moved)
	try:
		before = mrtest.tree_hashes(n.data_dir)
		rc, out = n.run_once(timeout=60)
		check(rc != 0, "started over existing encrypted data without its master key; output:\n%s" % out[-2000:])
		contains(out.lower(), "master key", "error output")
		after = mrtest.tree_hashes(n.data_dir)
		changed = sorted(k for k in before if before.get(k) != after.get(k))
		check(not changed, "existing files changed by the failed start: %r" % changed)
	finally:
		if os.path.exists(key):
			os.unlink(key)
		os.rename(moved, key)


def test_no_cleartext_after_sigkill(env):
	"""Right after a commit the WAL and any temporary file are on disk: SIGKILL the node before
	it can checkpoint or clean up, and scan again."""
	n = env.node
	n.start()
	mark = "KILLMARK" + secrets.token_hex(16)
	msg = make_message("kill-" + mark, ("wal %s\n" % mark) * 50, to=env.rcpt, headers={"X-Kill": mark})
	eq(n.send("sender@remote.test", [env.rcpt], msg), {}, "delivery")
	m = n.imap(env.rcpt, env.pw)
	try:
		eq(m.append("INBOX", None, None, make_message("app-" + mark, "appended %s\n" % mark))[0], "OK", "APPEND")
		m.select("INBOX")
		r = m.uid("STORE", "1:*", "+FLAGS", "(kw%s)" % mark[:20])
		eq(r[0], "OK", "STORE keyword")
	finally:
		m.logout()
	os.killpg(n.proc.pid, 9)
	n.kill()
	found = scan_markers(n.data_dir, {"marker after SIGKILL": mark.encode(), "keyword": mark[:20].encode()})
	check(not found, "clear text on disk after SIGKILL (WAL/journal/temp files?):\n  " + "\n  ".join(found))
	check(not plain_sqlite(n.data_dir), "plain SQLite after SIGKILL: %r" % plain_sqlite(n.data_dir))
	n.start()
	m = n.imap(env.rcpt, env.pw)
	try:
		m.select("INBOX", readonly=True)
		eq(len(imap_uids(m, 'SUBJECT "kill-%s"' % mark)), 1, "message committed before SIGKILL")
	finally:
		m.logout()


def test_account_rm_deletes_its_files(env):
	n = env.node
	if not n.running():
		n.start()
	before = set(tree_files_rel(n.data_dir))
	addr = "gone%s@%s" % (secrets.token_hex(4), DOMAIN)
	n.add_account(addr, "gone-pw-1")
	eq(n.send("sender@remote.test", [addr], make_message("to-be-removed", "bye\n")), {}, "delivery")
	created = set(tree_files_rel(n.data_dir)) - before
	check(any(p.endswith(".db") for p in created), "the new account got its own database: %r" % sorted(created))
	n.ctl("account", "rm", addr)
	eq(n.stop(), 0, "stop")
	left = sorted(p for p in created if os.path.exists(os.path.join(n.data_dir, p)))
	check(not left, "files of the removed account still on disk: %r" % left)


def tree_files_rel(root):
	return [os.path.relpath(p, root) for p in all_files(root)]


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

"""test_cluster_local.py - the documented three-nodes-on-one-host setup (README "Cluster",
deploy/cluster/: node1..3.conf and local.sh) works as written: local.sh initialises node 1,
invites and joins nodes 2 and 3 and prints the members and an account; a message submitted by
SMTP to node 2 is read by IMAPS from node 3 and by POP3S from node 1; `local.sh stop` stops
all three daemons. The configs use fixed ports below 3000 and 7011-7032 (outside the range the
other tests pick from), and the data goes to a temporary directory."""
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
import imaplib
import poplib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, contains, eq  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "deploy", "cluster", "local.sh")
mrtest.START_TIMEOUT = 120


def conf_value(path, key):
	with open(path) as f:
		for line in f:
			m = re.match(r"\s*%s\s*=\s*(\S+)" % re.escape(key), line)
			if m:
				return m.group(1)
	raise AssertionError("%s has no %s" % (path, key))


def port_of(base, node, key):
	return int(conf_value(os.path.join(base, "node%d.conf" % node), key).rsplit(":", 1)[1])


def pids(base):
	out = []
	for i in (1, 2, 3):
		try:
			with open(os.path.join(base, "node%d.pid" % i)) as f:
				out.append(int(f.read().strip()))
		except (OSError, ValueError):
			pass
	return out


def alive(pid):
	try:
		os.kill(pid, 0)
		return True
	except OSError:
		return False


def setup(env):
	env.base = tempfile.mkdtemp(prefix="mrtest-local-")
	r = subprocess.run(["sh", SCRIPT, mrtest.ARGS.bin_dir, env.base], capture_output=True,
		text=True, timeout=150)
	env.out = r.stdout + r.stderr
	if r.returncode != 0:
		logs = ""
		for i in (1, 2, 3):
			p = os.path.join(env.base, "node%d.log" % i)
			if os.path.exists(p):
				with open(p, errors="replace") as f:
					logs += "\n--- node%d.log ---\n%s" % (i, "".join(f.readlines()[-20:]))
		raise AssertionError("local.sh failed (rc %d):\n%s%s" % (r.returncode, env.out, logs))
	m = re.search(r"account: (\S+)\s+password: (\S+)", env.out)
	check(m is not None, "local.sh printed no account: %s" % env.out)
	env.user, env.password = m.group(1), m.group(2)


def teardown(env):
	base = getattr(env, "base", None)
	if not base:
		return
	subprocess.run(["sh", SCRIPT, "stop", base], capture_output=True, timeout=30)
	end = time.monotonic() + 20
	while any(alive(p) for p in pids(base)) and time.monotonic() < end:
		time.sleep(0.1)
	for p in pids(base):
		if alive(p):
			os.kill(p, signal.SIGKILL)
	if not mrtest.ARGS.keep:
		shutil.rmtree(base, ignore_errors=True)


def test_members_printed(env):
	rows = [ln for ln in env.out.splitlines() if re.match(r"\s*[123]\s+127\.0\.0\.1:70[123]1\s+voter", ln)]
	eq(len(rows), 3, "voter rows printed by local.sh:\n%s" % env.out)
	check(sum(" leader " in r for r in rows) == 1, "exactly one leader:\n%s" % "\n".join(rows))


def test_deliver_on_one_read_on_others(env):
	mid = "<local-%d@test>" % os.getpid()
	s = smtplib.SMTP("127.0.0.1", port_of(env.base, 2, "smtp_listen"), timeout=30)
	s.sendmail("someone@example.net", [env.user],
		("Subject: local cluster\r\nMessage-ID: %s\r\n\r\nthrough node 2\r\n" % mid).encode())
	s.quit()
	ctx = ssl.create_default_context()
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	end = time.monotonic() + 20
	found = False
	while not found and time.monotonic() < end:
		m = imaplib.IMAP4_SSL("127.0.0.1", port_of(env.base, 3, "imaps_listen"), ssl_context=ctx)
		m.login(env.user, env.password)
		m.select("INBOX", readonly=True)
		typ, data = m.uid("SEARCH", "HEADER", "Message-ID", mid)
		found = typ == "OK" and data[0].split() != []
		m.logout()
		if not found:
			time.sleep(0.2)
	check(found, "message sent to node 2 not found by IMAPS on node 3")
	p = poplib.POP3_SSL("127.0.0.1", port_of(env.base, 1, "pop3s_listen"), context=ctx)
	p.user(env.user)
	p.pass_(env.password)
	count, _ = p.stat()
	check(count >= 1, "POP3S on node 1 sees %d messages" % count)
	top = b"\n".join(p.top(count, 0)[1])
	contains(top, mid.encode(), "newest message on node 1")
	p.quit()


def test_stop(env):
	before = pids(env.base)
	eq(len(before), 3, "pid files")
	check(all(alive(p) for p in before), "all three daemons running before stop")
	r = subprocess.run(["sh", SCRIPT, "stop", env.base], capture_output=True, text=True, timeout=30)
	eq(r.returncode, 0, "local.sh stop: %s" % (r.stdout + r.stderr))
	mrtest.wait_for(lambda: not any(alive(p) for p in before), timeout=20,
		what="the three daemons to exit after local.sh stop")
	for i in (1, 2, 3):
		with open(os.path.join(env.base, "node%d.log" % i), errors="replace") as f:
			log = f.read()
		for bad in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
			check(bad not in log, "node%d.log reports %r" % (i, bad))
		contains(log, "stopped", "node%d.log after a graceful stop" % i)


if __name__ == "__main__":
	sys.exit(mrtest.main(globals(), setup=setup, teardown=teardown))

"""mrtest.py - harness for the mailraft integration tests (stdlib only, /usr/bin/python3).

A Node object owns one real mailraftd process: it picks free loopback ports, writes a config
file into a fresh temporary directory, starts the daemon with its log captured to a file (shown
when a test fails), waits for the "ready" log line and for every listener to accept, runs
mailraftctl against the admin socket, and stops the daemon (SIGTERM, then SIGKILL after a
timeout), checking that it exited 0 and that no sanitizer report appeared in its log. The tiny
runner (main) runs the test_* functions of a test file in order, each under an alarm, prints
"ok NAME" / "FAIL NAME", and ends with exactly "N passed, N failed" (exit 1 on any failure).
Client helpers live in mrlib.py and are re-exported here. Run one file by hand with
  /usr/bin/python3 tests/integration/test_imap.py --bin-dir BUILD [-k NAME] [--keep]
(MRTEST_LOG_LEVEL=debug sets the daemon's log_level; --keep keeps the temporary directories).
"""
import argparse
import imaplib
import json
import os
import poplib
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
from mrlib import *  # noqa: E402,F401,F403 - re-exported: tests use mrtest.<helper>
from mrlib import Fail, HOST, SOCK_TIMEOUT, check, wait_for, port_open, free_ports, tls_ctx  # noqa: E402

START_TIMEOUT = 60         # daemon start under sanitizers
STOP_TIMEOUT = 20          # SIGTERM -> SIGKILL
TEST_TIMEOUT = 90          # one test function
FILE_BUDGET = 300          # one test file, all tests

SANITIZER_PATTERNS = (
	"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
	"SUMMARY: UndefinedBehaviorSanitizer", "ERROR: ThreadSanitizer",
)

READY = re.compile(r"\bready\b")
# mailraftd's message when a listener's port is taken: (address, protocol)
LISTEN_CLASH = re.compile(r"cannot listen on ([0-9.]+:\d+) for (\w+): address already in use")
ARGS = None  # parsed command line (bin_dir, keep, only)


class TestTimeout(Exception):
	pass


# ---------------------------------------------------------------- the daemon

class Node:
	"""One mailraftd under test, in its own temporary directory."""

	def __init__(self, name="node", conf=None, root=None, env=None):
		self.bin_dir = ARGS.bin_dir
		self.daemon = os.path.join(self.bin_dir, "node", "mailraftd")
		self.ctl_bin = os.path.join(self.bin_dir, "ctl", "mailraftctl")
		self.root = root or tempfile.mkdtemp(prefix="mrtest-%s-" % name)
		self.data_dir = os.path.join(self.root, "data")
		os.makedirs(self.data_dir, exist_ok=True)
		self.config_path = os.path.join(self.root, "mailraftd.conf")
		self.log_path = os.path.join(self.root, "daemon.log")
		self.ports = dict(zip(("smtp", "imap", "imaps", "pop3", "pop3s", "submission", "submissions"),
			free_ports(7)))
		self.conf = {
			"hostname": "mx.example.test",
			"data_dir": self.data_dir,
			"password_cost": "min",
			"storage_threads": "2",
			"smtp_timeout": "60",
			"pop3_timeout": "600",
			"imap_idle_timeout": "1800",
		}
		for k, p in self.ports.items():
			self.conf["%s_listen" % k] = "%s:%d" % (HOST, p)
		if os.environ.get("MRTEST_LOG_LEVEL"):
			self.conf["log_level"] = os.environ["MRTEST_LOG_LEVEL"]
		self.conf.update(conf or {})
		self.env = dict(env or {})
		self.proc = None
		self.logf = None
		self.starts = 0
		self.problems = []   # sanitizer reports / unclean exits found at stop
		self._scanned = 0    # log offset already scanned for sanitizer reports

	# paths
	@property
	def admin_socket(self):
		return self.conf.get("admin_socket") or os.path.join(self.data_dir, "admin.sock")

	@property
	def cert_path(self):
		return self.conf.get("tls_cert") or os.path.join(self.data_dir, "tls", "cert.pem")

	def write_config(self):
		with open(self.config_path, "w") as f:
			f.write("# written by tests/integration/mrtest.py\n")
			for k, v in self.conf.items():
				f.write("%s = %s\n" % (k, v))

	def _env(self, extra=None):
		e = dict((k, v) for k, v in os.environ.items() if not k.startswith("MAILRAFT_"))
		e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
		e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
		e.update(self.env)
		e.update(extra or {})
		return e

	def log_text(self):
		try:
			with open(self.log_path, "rb") as f:
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""

	def log_tail(self, n=40):
		return "\n".join(self.log_text().splitlines()[-n:])

	def start(self, wait=True, env=None):
		check(os.access(self.daemon, os.X_OK), "daemon not built: %s" % self.daemon)
		for attempt in range(3):
			self._launch(env)
			if not wait:
				return self
			try:
				self.wait_ready()
				return self
			except Fail:
				# another test process (ctest -j) may have bound a port we picked between the
				# pick and our bind: before the first successful start nobody knows our client
				# ports yet, so take another one and start again
				m = LISTEN_CLASH.search(self._log_since_start())
				taken = int(m.group(1).rsplit(":", 1)[1]) if m else None
				names = [k for k, v in self.ports.items() if v == taken]
				if attempt == 2 or self.starts > attempt + 1 or not names:
					raise
				self.proc.wait(timeout=STOP_TIMEOUT)
				self.ports[names[0]] = free_ports(1)[0]
				self.conf["%s_listen" % names[0]] = "%s:%d" % (HOST, self.ports[names[0]])
		return self

	def _launch(self, env):
		self.write_config()
		self.starts += 1
		self.logf = open(self.log_path, "ab")
		self.logf.write(("\n===== mrtest: start #%d =====\n" % self.starts).encode())
		self.logf.flush()
		self._log_offset = self.logf.tell()
		self.proc = subprocess.Popen([self.daemon, "--config", self.config_path],
			stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
			env=self._env(env), start_new_session=True, preexec_fn=_die_with_parent)

	def _log_since_start(self):
		try:
			with open(self.log_path, "rb") as f:
				f.seek(self._log_offset)
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""

	def wait_ready(self, timeout=START_TIMEOUT):
		end = time.monotonic() + timeout
		while True:
			rc = self.proc.poll()
			if rc is not None:
				raise Fail("mailraftd exited with %d during start-up; log:\n%s" % (rc, self.log_tail(60)))
			if READY.search(self._log_since_start()):
				break
			if time.monotonic() > end:
				raise Fail("mailraftd printed no 'ready' line within %ds; log:\n%s" % (timeout, self.log_tail(60)))
			time.sleep(0.05)
		for name, port in self.ports.items():
			if not self.conf.get("%s_listen" % name):
				continue
			wait_for(lambda: port_open(port), timeout=10, what="%s port %d to accept" % (name, port))
		wait_for(lambda: os.path.exists(self.admin_socket), timeout=10, what="admin socket %s" % self.admin_socket)

	def fd_count(self):
		"""Open file descriptors of the running daemon (Linux /proc), or None."""
		try:
			return len(os.listdir("/proc/%d/fd" % self.proc.pid))
		except (OSError, AttributeError):
			return None

	def wait_fds_settle(self, limit, timeout=5):
		"""Wait until the daemon holds at most limit descriptors; returns the last count."""
		end = time.monotonic() + timeout
		while True:
			c = self.fd_count()
			if c is None or c <= limit or time.monotonic() > end:
				return c
			time.sleep(0.1)

	def running(self):
		return self.proc is not None and self.proc.poll() is None

	def stop(self, timeout=STOP_TIMEOUT):
		"""SIGTERM, wait, SIGKILL on timeout. Returns the exit code; records problems."""
		if self.proc is None:
			return None
		p, self.proc = self.proc, None
		if p.poll() is None:
			p.send_signal(signal.SIGTERM)
			try:
				p.wait(timeout)
			except subprocess.TimeoutExpired:
				self.problems.append("mailraftd did not exit within %ds of SIGTERM (killed)" % timeout)
				os.killpg(p.pid, signal.SIGKILL)
				p.wait(10)
		rc = p.returncode
		if self.logf:
			self.logf.close()
			self.logf = None
		if rc != 0:
			self.problems.append("mailraftd exited with %r after SIGTERM (start #%d)" % (rc, self.starts))
		self.scan_sanitizers()
		return rc

	def kill(self):
		if self.proc is not None and self.proc.poll() is None:
			try:
				os.killpg(self.proc.pid, signal.SIGKILL)
			except ProcessLookupError:
				pass
			self.proc.wait(10)
		self.proc = None
		if self.logf:
			self.logf.close()
			self.logf = None

	def scan_sanitizers(self):
		"""Record sanitizer reports that appeared in the log since the last scan; returns them."""
		text = self.log_text()
		new = text[self._scanned:]
		self._scanned = len(text)
		found = []
		pos = 0
		while True:
			hits = [(new.find(p, pos), p) for p in SANITIZER_PATTERNS if new.find(p, pos) >= 0]
			if not hits:
				break
			i, pat = min(hits)
			end = new.find("Shadow bytes around", i)
			end = end if 0 <= end - i < 4000 else i + 4000
			found.append("sanitizer report in daemon log:\n" + new[max(0, i - 300):end])
			nxt = new.find("==ABORTING", i)
			pos = max(end, nxt + 1 if nxt >= 0 else i + len(pat))
			if len(found) >= 3:
				break
		self.problems.extend(found)
		return found

	def check_alive(self, during):
		"""If the daemon died on its own, record why and restart it (same data dir) so the
		following tests still run. Returns a description of the death or None."""
		if self.proc is None or self.proc.poll() is None:
			return None
		rc = self.proc.returncode
		self.proc = None
		if self.logf:
			self.logf.close()
			self.logf = None
		msg = "mailraftd died (exit %r) during %s" % (rc, during)
		self.problems.append(msg)
		reports = self.scan_sanitizers()
		text = msg + "\n" + ("\n".join(reports) if reports else "log tail:\n" + self.log_tail(40))
		try:
			self.start()
			text += "\n(restarted with the same data dir for the remaining tests)"
		except Exception as e:  # noqa: BLE001
			text += "\nrestart failed: %s" % e
		return text

	def run_once(self, timeout=60, env=None):
		"""Start the daemon expecting it to exit by itself: (rc, output of this run)."""
		self.write_config()
		self.starts += 1
		with open(self.log_path, "ab") as lf:
			lf.write(("\n===== mrtest: run_once #%d =====\n" % self.starts).encode())
		r = subprocess.run([self.daemon, "--config", self.config_path], stdin=subprocess.DEVNULL,
			stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self._env(env), timeout=timeout)
		out = r.stdout.decode("utf-8", "replace")
		with open(self.log_path, "ab") as lf:
			lf.write(r.stdout)
		return r.returncode, out

	def cleanup(self):
		self.kill()
		if not ARGS.keep:
			shutil.rmtree(self.root, ignore_errors=True)

	# admin
	def ctl(self, *args, json_out=False, check_rc=True, timeout=30, socket_path=None):
		"""Run mailraftctl; returns CompletedProcess with text stdout/stderr."""
		cmd = [self.ctl_bin, "--socket", socket_path or self.admin_socket]
		if json_out:
			cmd.append("--json")
		cmd += [str(a) for a in args]
		r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
			env=self._env())
		r.stdout = r.stdout.decode("utf-8", "replace")
		r.stderr = r.stderr.decode("utf-8", "replace")
		if check_rc and r.returncode != 0:
			raise Fail("mailraftctl %s -> rc %d\nstdout: %s\nstderr: %s" % (" ".join(cmd[3:]), r.returncode, r.stdout, r.stderr))
		return r

	def ctl_json(self, *args):
		r = self.ctl(*args, json_out=True)
		try:
			return json.loads(r.stdout)
		except ValueError as e:
			raise Fail("mailraftctl --json %s: output is not JSON (%s): %r" % (" ".join(args), e, r.stdout[:500]))

	def add_domain(self, d):
		self.ctl("domain", "add", d)

	def add_account(self, addr, pw):
		self.ctl("account", "add", addr, "--password", pw)

	# clients
	def smtp(self, starttls=False):
		s = smtplib.SMTP(HOST, self.ports["smtp"], local_hostname="client.test", timeout=SOCK_TIMEOUT)
		s.ehlo()
		if starttls:
			s.starttls(context=tls_ctx())
			s.ehlo()
		return s

	def send(self, frm, rcpts, msg, starttls=False):
		"""smtplib delivery; returns the refused dict (empty = all accepted)."""
		s = self.smtp(starttls)
		try:
			return s.sendmail(frm, rcpts, msg)
		finally:
			try:
				s.quit()
			except Exception:  # noqa: BLE001
				s.close()

	def imap(self, user=None, pw=None, mode="imaps"):
		if mode == "imaps":
			m = imaplib.IMAP4_SSL(HOST, self.ports["imaps"], ssl_context=tls_ctx(), timeout=SOCK_TIMEOUT)
		else:
			m = imaplib.IMAP4(HOST, self.ports["imap"], timeout=SOCK_TIMEOUT)
			if mode == "starttls":
				m.starttls(ssl_context=tls_ctx())
		if user is not None:
			m.login(user, pw)
		return m

	def pop3(self, user=None, pw=None, mode="pop3s"):
		if mode == "pop3s":
			p = poplib.POP3_SSL(HOST, self.ports["pop3s"], context=tls_ctx(), timeout=SOCK_TIMEOUT)
		else:
			p = poplib.POP3(HOST, self.ports["pop3"], timeout=SOCK_TIMEOUT)
			if mode == "stls":
				p.stls(context=tls_ctx())
		if user is not None:
			p.user(user)
			p.pass_(pw)
		return p


def _die_with_parent():
	"""preexec_fn: the daemon gets SIGKILL if the test process dies (ctest timeout, ^C)."""
	try:
		import ctypes
		libc = ctypes.CDLL(None, use_errno=True)
		libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
	except Exception:  # noqa: BLE001
		pass


# ---------------------------------------------------------------- runner

def say(line):
	"""print that never raises (a closed stdout must not skip the daemon clean-up)."""
	try:
		print(line)
		sys.stdout.flush()
	except (BrokenPipeError, OSError):
		pass


def parse_args(argv=None):
	ap = argparse.ArgumentParser()
	here = os.path.dirname(os.path.abspath(__file__))
	ap.add_argument("--bin-dir", default=os.environ.get("MRTEST_BIN_DIR",
		os.path.join(os.path.dirname(os.path.dirname(here)), "build-integ")))
	ap.add_argument("--keep", action="store_true", help="keep temporary directories")
	ap.add_argument("-k", dest="only", default=None, help="run only tests whose name contains this")
	return ap.parse_args(argv)


def _alarm(signum, frame):
	raise TestTimeout("test exceeded its time limit")


def _terminated(signum, frame):
	raise KeyboardInterrupt("terminated by signal %d" % signum)


def main(namespace, setup=None, teardown=None):
	"""Run every test_* function of namespace (in definition order). Each gets one Env, filled in
	first by setup(env) (which typically creates and starts nodes with env.new_node)."""
	global ARGS
	ARGS = parse_args()
	tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
	if ARGS.only:
		tests = [(n, f) for n, f in tests if ARGS.only in n]
	signal.signal(signal.SIGALRM, _alarm)
	signal.signal(signal.SIGTERM, _terminated)
	deadline = time.monotonic() + FILE_BUDGET
	passed = failed = 0
	env = Env()
	t0 = time.monotonic()

	def report_fail(name, exc_text):
		say("FAIL %s" % name)
		say("    " + exc_text.rstrip().replace("\n", "\n    "))

	try:
		if setup is not None:
			signal.alarm(START_TIMEOUT + 60)
			try:
				setup(env)
			finally:
				signal.alarm(0)
		for name, fn in tests:
			left = int(deadline - time.monotonic())
			if left <= 0:
				report_fail(name, "not run: file time budget of %ds exhausted" % FILE_BUDGET)
				failed += 1
				continue
			signal.alarm(max(1, min(TEST_TIMEOUT, left)))
			ts = time.monotonic()
			try:
				fn(env)
				signal.alarm(0)
				say("ok %s (%.1fs)" % (name, time.monotonic() - ts))
				passed += 1
			except BaseException as e:  # noqa: BLE001
				signal.alarm(0)
				if isinstance(e, KeyboardInterrupt):
					raise
				text = traceback.format_exc()
				for n in _nodes_of(env):
					if n.log_text() and n.running():
						text += "\n--- daemon log tail (%s) ---\n%s" % (n.root, n.log_tail(30))
				report_fail(name, text)
				failed += 1
			for n in _nodes_of(env):
				death = n.check_alive(name)
				if death:
					report_fail("daemon_alive_after_%s" % name, death)
					failed += 1
	except BaseException as e:  # setup failure or interrupted
		signal.alarm(0)
		text = traceback.format_exc()
		for n in _nodes_of(env):
			text += "\n--- daemon log tail ---\n" + n.log_tail(60)
		report_fail("interrupted" if isinstance(e, KeyboardInterrupt) else "setup", text)
		failed += 1 + max(0, len(tests) - passed - failed)
	finally:
		signal.alarm(0)
		nodes = _nodes_of(env)
		try:
			if teardown is not None and env is not None:
				teardown(env)
		except Exception:  # noqa: BLE001
			report_fail("teardown", traceback.format_exc())
			failed += 1
		for n in nodes:
			if n.starts == 0:   # never started (setup failed before): nothing to check
				n.cleanup()
				continue
			if n.proc is not None:
				n.stop()
			else:
				n.scan_sanitizers()
			if n.problems:
				report_fail("daemon_health (%s)" % n.root, "\n".join(n.problems))
				failed += 1
			else:
				passed += 1
				say("ok daemon_health")
			n.cleanup()
	say("# %.1fs" % (time.monotonic() - t0))
	say("%d passed, %d failed" % (passed, failed))
	sys.exit(1 if failed else 0)


def _nodes_of(env):
	"""Nodes reachable from the setup env: a Node, a dict/obj with .nodes, or attribute node."""
	if env is None:
		return []
	if isinstance(env, Node):
		return [env]
	ns = getattr(env, "nodes", None)
	if ns:
		return list(ns)
	n = getattr(env, "node", None)
	return [n] if isinstance(n, Node) else []


class Env:
	"""A bag of values for tests; .nodes lists every Node the runner must stop and check."""

	def __init__(self, **kw):
		self.nodes = []
		self.__dict__.update(kw)

	def new_node(self, *a, **kw):
		n = Node(*a, **kw)
		self.nodes.append(n)
		return n

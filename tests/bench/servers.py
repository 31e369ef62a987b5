"""servers.py - start, prepare and stop the servers the benchmarks measure.

Mailraft: one private mailraftd per benchmark (own temp data_dir, loopback ports picked
free at run time, config written from the documented keys), provisioned through
mailraftctl over its admin socket. Dovecot: the Debian package run as a private
instance from tests/bench/dovecot.conf.in (prepared by dovecot-setup.sh), used as the
reference server. Every wait is bounded; every process is stopped by the PID we started.
Stdlib only (the benchmarks run with /usr/bin/python3)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from ports import free_port  # noqa: E402  (one port picker for tests and benchmarks)


class BenchError(Exception):
	"""A benchmark could not run (message says why)."""


def port_open(port, timeout=0.5):
	try:
		with socket.create_connection(("127.0.0.1", port), timeout=timeout):
			return True
	except OSError:
		return False


def tail(path, n=20):
	"""Last n lines of a text file ("" if unreadable), for error messages."""
	try:
		with open(path, "rb") as f:
			f.seek(0, os.SEEK_END)
			f.seek(max(0, f.tell() - 8192))
			lines = f.read().decode("utf-8", "replace").splitlines()
		return "\n".join(lines[-n:])
	except OSError:
		return ""


def sanitizer_report(path, frames=10):
	"""The gist of an ASan/UBSan report in a log: its ERROR/SUMMARY lines and first stack
	frames ("" if there is none)."""
	try:
		with open(path, "rb") as f:
			text = f.read(4 << 20).decode("utf-8", "replace")
	except OSError:
		return ""
	keep, nframes = [], 0
	for line in text.splitlines():
		if "ERROR: AddressSanitizer" in line or "runtime error:" in line or line.startswith("SUMMARY:"):
			keep.append(line.strip())
		elif line.lstrip().startswith("#") and " in " in line and nframes < frames and keep:
			keep.append("  " + line.strip())
			nframes += 1
	return "sanitizer report:\n" + "\n".join(keep) if keep else ""


def _running(pid):
	"""True while pid exists and is not a zombie."""
	try:
		with open("/proc/%d/stat" % pid) as f:
			return f.read().rsplit(")", 1)[1].split()[0] != "Z"
	except (OSError, IndexError):
		return False


def stop_pid(pid, wait=10.0):
	"""SIGTERM pid, wait up to `wait` s, then SIGKILL. Only for PIDs we started."""
	try:
		os.kill(pid, signal.SIGTERM)
	except ProcessLookupError:
		return
	end = time.monotonic() + wait
	while time.monotonic() < end:
		if not _running(pid):
			return
		time.sleep(0.1)
	try:
		os.kill(pid, signal.SIGKILL)
	except ProcessLookupError:
		pass


class Mailraft:
	"""One private mailraftd. protos: subset of smtp, imap, imaps, pop3, pop3s."""

	def __init__(self, bin_dir, workdir, name, protos=("smtp", "imap"), max_connections=200):
		self.daemon = os.path.join(bin_dir, "node", "mailraftd")
		self.ctl_bin = os.path.join(bin_dir, "ctl", "mailraftctl")
		self.dir = os.path.join(workdir, name)
		self.data_dir = os.path.join(self.dir, "data")
		self.conf = os.path.join(self.dir, "mailraftd.conf")
		self.log = os.path.join(self.dir, "mailraftd.log")
		self.ports = {p: free_port() for p in protos}
		self.max_connections = max_connections
		self.proc = None
		self.note = ""        # anything odd worth reporting next to the figures
		self.ready_by = None  # "log" ("ready" line seen) or "listening"

	@property
	def pid(self):
		return self.proc.pid

	@property
	def admin_socket(self):
		return os.path.join(self.data_dir, "admin.sock")

	def _write_config(self):
		os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
		lines = [
			"# written by tests/bench/run.py",
			"hostname = mx.bench.test",
			"data_dir = %s" % self.data_dir,
			"password_cost = min",
			"max_connections = %d" % self.max_connections,
			"plaintext_auth = true",
			"log_level = warn",
		]
		for p in ("smtp", "imap", "imaps", "pop3", "pop3s", "submission", "submissions"):
			port = self.ports.get(p)
			lines.append("%s_listen = %s" % (p, "127.0.0.1:%d" % port if port else '""'))
		with open(self.conf, "w") as f:
			f.write("\n".join(lines) + "\n")

	def start(self, timeout=30.0):
		"""Start and wait until it logged "ready" and its ports accept connections."""
		for exe in (self.daemon, self.ctl_bin):
			if not os.access(exe, os.X_OK):
				raise BenchError("not built: %s (build first, or pass --bin-dir)" % exe)
		self._write_config()
		logf = open(self.log, "wb")
		try:
			self.proc = subprocess.Popen([self.daemon, "--config", self.conf],
				stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
				start_new_session=True)
		finally:
			logf.close()
		end = time.monotonic() + timeout
		listening_since = None
		while time.monotonic() < end:
			if self.proc.poll() is not None:
				raise BenchError("mailraftd exited with %d during start-up; log tail:\n%s"
					% (self.proc.returncode, tail(self.log)))
			ready = "ready" in tail(self.log, 200).lower()
			listening = all(port_open(p) for p in self.ports.values()) \
				and os.path.exists(self.admin_socket)
			if ready and listening:
				self.ready_by = "log"
				return
			# mailraftd logs "ready" at info level, filtered by log_level = warn; it logs
			# it right after binding every listener and the admin socket, so a daemon
			# with all of them up (briefly, to be sure) is equally ready.
			if listening:
				listening_since = listening_since or time.monotonic()
				if time.monotonic() - listening_since > 0.5:
					self.ready_by = "listening"
					return
			else:
				listening_since = None
			time.sleep(0.1)
		raise BenchError("mailraftd not ready after %.0f s; log tail:\n%s" % (timeout, tail(self.log)))

	def ctl(self, *args, timeout=30.0, tries=5):
		"""Run mailraftctl against this daemon; retried a few times (socket start-up)."""
		cmd = [self.ctl_bin, "--socket", self.admin_socket] + list(args)
		out = ""
		for _ in range(tries):
			try:
				r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
					timeout=timeout)
			except subprocess.TimeoutExpired:
				out = "timed out after %.0f s" % timeout
				continue
			out = (r.stdout + r.stderr).decode("utf-8", "replace").strip()
			if r.returncode == 0:
				return out
			time.sleep(0.5)
		shown = ["***" if i and args[i - 1] == "--password" else a for i, a in enumerate(args)]
		raise BenchError("mailraftctl %s failed: %s" % (" ".join(shown), out))

	def provision(self, domain, users, password="pass"):
		"""domain add + account add for each local part in users."""
		self.ctl("domain", "add", domain)
		for u in users:
			self.ctl("account", "add", "%s@%s" % (u, domain), "--password", password)

	def alive(self):
		return self.proc is not None and self.proc.poll() is None

	def diag(self):
		"""Why a run against this daemon may have failed: "" while it is running."""
		if self.proc is None or self.proc.poll() is None:
			return ""
		rc = self.proc.returncode
		how = "killed by signal %d" % -rc if rc < 0 else "exited with %d" % rc
		return "mailraftd %s; %s" % (how, sanitizer_report(self.log) or "log tail:\n" + tail(self.log, 12))

	def stop(self):
		if self.proc is None:
			return
		if self.proc.poll() is None:
			stop_pid(self.proc.pid)
		try:
			self.proc.wait(timeout=5)
		except subprocess.TimeoutExpired:
			pass
		self.proc = None


def dovecot_missing():
	"""Why the Dovecot reference cannot run here, or None if it can."""
	for exe in ("dovecot", "doveconf"):
		if shutil.which(exe) is None and not os.path.exists("/usr/sbin/" + exe):
			return "Dovecot not installed (%s missing; run tests/bench/deps.sh)" % exe
	if not os.path.exists("/usr/lib/dovecot/lmtp"):
		return "dovecot-lmtpd not installed (run tests/bench/deps.sh)"
	if os.geteuid() != 0:
		return "Dovecot reference needs root (its master drops privileges itself)"
	if shutil.which("openssl") is None:
		return "openssl command missing (needed for Dovecot's test certificate)"
	return None


class Dovecot:
	"""A private Dovecot instance (LMTP + IMAP + IMAPS on free loopback ports)."""

	def __init__(self, workdir, name="dovecot", nusers=10):
		self.base = os.path.join(workdir, name)
		self.conf = os.path.join(self.base, "dovecot.conf")
		self.ports = {"lmtp": free_port(), "imap": free_port(), "imaps": free_port()}
		self.nusers = nusers
		self.proc = None
		self.exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
		self.doveconf = shutil.which("doveconf") or "/usr/bin/doveconf"

	def version(self):
		try:
			r = subprocess.run([self.exe, "--version"], capture_output=True, timeout=10)
			return r.stdout.decode().strip()
		except (OSError, subprocess.TimeoutExpired):
			return "?"

	def start(self, timeout=30.0):
		p = self.ports
		r = subprocess.run(["sh", os.path.join(HERE, "dovecot-setup.sh"), self.base,
			str(p["lmtp"]), str(p["imap"]), str(p["imaps"]), str(self.nusers)],
			capture_output=True, timeout=60)
		if r.returncode != 0:
			raise BenchError("dovecot-setup.sh failed: %s" % (r.stdout + r.stderr).decode(errors="replace"))
		r = subprocess.run([self.doveconf, "-c", self.conf, "-n"], capture_output=True, timeout=30)
		if r.returncode != 0 or r.stderr.strip():
			raise BenchError("doveconf rejected the bench config: %s" % r.stderr.decode(errors="replace"))
		# -F: stay in the foreground, so the master is our child and its PID is known
		logf = open(os.path.join(self.base, "log", "master.out"), "wb")
		try:
			self.proc = subprocess.Popen([self.exe, "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
				stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
		finally:
			logf.close()
		end = time.monotonic() + timeout
		while time.monotonic() < end:
			if self.proc.poll() is not None:
				raise BenchError("dovecot exited with %d; output:\n%s" % (self.proc.returncode,
					tail(os.path.join(self.base, "log", "master.out"))))
			if all(port_open(x) for x in p.values()):
				return
			time.sleep(0.1)
		raise BenchError("dovecot not listening after %.0f s; log:\n%s"
			% (timeout, tail(os.path.join(self.base, "log", "dovecot.log"))))

	def delivered(self, user):
		"""Messages in user's Maildir INBOX (new + cur)."""
		n = 0
		for sub in ("new", "cur"):
			d = os.path.join(self.base, "home", user, "Maildir", sub)
			if os.path.isdir(d):
				n += len(os.listdir(d))
		return n

	@property
	def pid(self):
		return self.proc.pid

	def stop(self):
		if self.proc is None:
			return
		if self.proc.poll() is None:
			stop_pid(self.proc.pid, wait=15.0)
		try:
			self.proc.wait(timeout=5)
		except subprocess.TimeoutExpired:
			pass
		self.proc = None

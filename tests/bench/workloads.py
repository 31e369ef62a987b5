"""workloads.py - the load the benchmarks apply and the measurements they take.

smtp_source(): Postfix's smtp-source (SMTP or LMTP) timed by wall clock around the run.
IdleImap: opens N IMAP/IMAPS connections (greeting, optional TLS, LOGIN) and keeps them idle.
rss_kib()/pss_tree_kib(): memory of a daemon (VmRSS of one PID, or PSS summed over a
process tree for multi-process servers such as Dovecot); cpu_tree_seconds(): CPU time of
a daemon's process tree. imap_message_count(): checks
that the ingested messages really are in the mailbox. All network I/O is on 127.0.0.1
with timeouts."""
import imaplib
import os
import select
import shutil
import socket
import ssl
import subprocess
import time

from servers import BenchError


def smtp_source_path():
	return shutil.which("smtp-source") or ("/usr/sbin/smtp-source"
		if os.path.exists("/usr/sbin/smtp-source") else None)


def smtp_source(port, rcpt, messages, sessions, size, lmtp=False, persistent=False, timeout=300.0):
	"""Send `messages` messages of `size` payload bytes over `sessions` parallel sessions.
	Returns {"messages", "seconds", "msg_per_s"}; raises BenchError unless every message
	got a positive reply (smtp-source exits non-zero on the first unexpected reply)."""
	exe = smtp_source_path()
	if exe is None:
		raise BenchError("smtp-source not installed (Debian postfix package; run tests/bench/deps.sh)")
	cmd = [exe, "-s", str(sessions), "-m", str(messages), "-l", str(size),
		"-f", "a@example.test", "-t", rcpt]
	if lmtp:
		cmd.append("-L")
	if persistent:
		cmd.append("-d")
	cmd.append("127.0.0.1:%d" % port)
	t0 = time.monotonic()
	try:
		r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
	except subprocess.TimeoutExpired:
		raise BenchError("smtp-source did not finish within %.0f s (%s)" % (timeout, " ".join(cmd)))
	dt = time.monotonic() - t0
	if r.returncode != 0:
		msg = (r.stdout + r.stderr).decode("utf-8", "replace").strip().splitlines()
		raise BenchError("smtp-source exited %d: %s" % (r.returncode, " | ".join(msg[-5:])))
	return {"messages": messages, "seconds": round(dt, 3), "msg_per_s": round(messages / dt, 1)}


def imap_message_count(port, user, password, timeout=15.0):
	"""MESSAGES of INBOX via STATUS over plain IMAP (plaintext_auth on)."""
	m = imaplib.IMAP4("127.0.0.1", port, timeout=timeout)
	try:
		m.login(user, password)
		typ, data = m.status("INBOX", "(MESSAGES)")
		if typ != "OK" or not data or data[0] is None:
			raise BenchError("STATUS INBOX failed: %r" % (data,))
		txt = data[0].decode("utf-8", "replace")
		n = txt.upper().split("MESSAGES", 1)[1].strip(" ()")
		return int(n.split()[0].rstrip(")"))
	finally:
		try:
			m.logout()
		except (OSError, imaplib.IMAP4.error):
			pass


def rss_kib(pid):
	"""VmRSS of one process in KiB."""
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	raise BenchError("no VmRSS for pid %d" % pid)


def _tree(root):
	"""root and all its descendants (from /proc/*/stat)."""
	kids = {}
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % d) as f:
				st = f.read()
		except OSError:
			continue
		ppid = int(st.rsplit(")", 1)[1].split()[1])
		kids.setdefault(ppid, []).append(int(d))
	out, todo = [], [root]
	while todo:
		p = todo.pop()
		out.append(p)
		todo.extend(kids.get(p, []))
	return out


def pss_tree_kib(root):
	"""(PSS summed over root's process tree in KiB, number of processes)."""
	total, procs = 0, 0
	for pid in _tree(root):
		try:
			with open("/proc/%d/smaps_rollup" % pid) as f:
				for line in f:
					if line.startswith("Pss:"):
						total += int(line.split()[1])
						procs += 1
						break
		except OSError:
			continue
	return total, procs


def cpu_tree_seconds(root):
	"""CPU seconds (user + system, own + reaped children) summed over root's process tree:
	a dying child's time moves to its parent's cutime/cstime, so the sum only grows."""
	tick = os.sysconf("SC_CLK_TCK")
	total = 0
	for pid in _tree(root):
		try:
			with open("/proc/%d/stat" % pid) as f:
				fields = f.read().rsplit(")", 1)[1].split()
		except OSError:
			continue
		total += sum(int(x) for x in fields[11:15])   # utime stime cutime cstime
	return total / float(tick)


def settle(measure, secs=3.0, step=0.25):
	"""Sample measure() until two consecutive samples agree within 1% (bounded)."""
	prev = measure()
	end = time.monotonic() + secs
	while time.monotonic() < end:
		time.sleep(step)
		cur = measure()
		if abs(cur - prev) <= max(4, prev // 100):
			return cur
		prev = cur
	return prev


class _Conn:
	"""One client connection with a small line reader (bounded)."""

	def __init__(self, port, tls_ctx, timeout):
		raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
		self.sock = tls_ctx.wrap_socket(raw, server_hostname="localhost") if tls_ctx else raw
		self.buf = b""

	def line(self):
		while b"\r\n" not in self.buf:
			if len(self.buf) > 65536:
				raise BenchError("IMAP line too long")
			d = self.sock.recv(4096)
			if not d:
				raise BenchError("connection closed by server")
			self.buf += d
		ln, self.buf = self.buf.split(b"\r\n", 1)
		return ln

	def command(self, tag, text):
		self.sock.sendall(b"%s %s\r\n" % (tag, text))
		while True:
			ln = self.line()
			if ln.startswith(tag + b" "):
				return ln

	def alive(self):
		"""True unless the server closed the connection (only used after measuring)."""
		got = b""
		try:
			p = select.poll()   # not select(): descriptors may be above FD_SETSIZE
			p.register(self.sock.fileno(), select.POLLIN)
			if not p.poll(0):
				return True
			self.sock.setblocking(False)
			for _ in range(64):   # drain: an untagged BYE (RFC 9051 §7.1.5) means closing
				d = self.sock.recv(4096)
				if not d:
					return False
				got = (got + d)[-4096:]
				if b"* BYE" in got.upper():
					return False
			return True
		except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
			return b"* BYE" not in got.upper()
		except OSError:
			return False

	def close(self):
		try:
			self.sock.close()
		except OSError:
			pass


def _imap_quote(s):
	return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


class IdleImap:
	"""Open n idle IMAP sessions: connect, (TLS), greeting, LOGIN as users[i % len], and
	with idle=True also SELECT INBOX + IDLE (what a mail client keeps open). A step the
	server refuses on the first session is dropped for all (self.stage says how far)."""

	def __init__(self, port, tls, users, password="pass", timeout=10.0, idle=False):
		self.port, self.users, self.password, self.timeout = port, users, password, timeout
		self.ctx = None
		if tls:
			self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
			self.ctx.check_hostname = False
			self.ctx.verify_mode = ssl.CERT_NONE
		self.conns = []
		self.stage = "idle" if idle else "login"   # downgraded when the server refuses
		self.refused = ""

	def _step(self, i, c, tag, text, ok, fallback):
		"""Run one step; on refusal, downgrade self.stage (first session) or fail."""
		r = c.command(tag, text)
		if r.startswith(ok):
			return True
		if i == 0:
			self.stage = fallback
			self.refused = "%s -> %s" % (text.split(b" ")[0].decode(),
				r[:120].decode("utf-8", "replace"))
			return False
		raise BenchError("session %d: %r refused: %r" % (i, text[:20], r[:120]))

	def open_one(self, i):
		c = _Conn(self.port, self.ctx, self.timeout)
		try:
			g = c.line()
			if not g.startswith(b"* OK"):
				raise BenchError("unexpected IMAP greeting: %r" % g[:80])
			if self.stage != "greeting":
				u = self.users[i % len(self.users)]
				self._step(i, c, b"a1", ("LOGIN %s %s" % (_imap_quote(u),
					_imap_quote(self.password))).encode(), b"a1 OK", "greeting")
			if self.stage in ("select", "idle"):
				self._step(i, c, b"a2", b"SELECT INBOX", b"a2 OK", "login")
			if self.stage == "idle":
				c.sock.sendall(b"a3 IDLE\r\n")   # RFC 2177: continuation, then silence
				ln = c.line()
				while ln.startswith(b"* "):
					ln = c.line()
				if not ln.startswith(b"+"):
					if i:
						raise BenchError("session %d: IDLE refused: %r" % (i, ln[:120]))
					self.stage = "select"
					self.refused = "IDLE -> %s" % ln[:120].decode("utf-8", "replace")
		except BaseException:
			c.close()
			raise
		c.sock.settimeout(None)
		self.conns.append(c)

	def open(self, n, deadline):
		for i in range(n):
			if time.monotonic() > deadline:
				raise BenchError("opened only %d of %d connections before the deadline" % (i, n))
			try:
				self.open_one(i)
			except (OSError, ssl.SSLError) as e:
				raise BenchError("connection %d of %d failed: %s" % (i + 1, n, e))

	def count_alive(self):
		return sum(1 for c in self.conns if c.alive())

	def close(self):
		for c in self.conns:
			c.close()
		self.conns = []

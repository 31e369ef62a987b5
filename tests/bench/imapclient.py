"""imapclient.py - a small, fast IMAP client for the load benchmarks (stdlib only).

ImapClient speaks just enough IMAP4rev1 (RFC 3501 / RFC 9051) for a load generator:
send a tagged command, read responses until the tagged completion (RFC 9051 §7.1), skipping
server literals ("{n}" / "~{n}" at the end of a line, RFC 9051 §4.3) without parsing them,
and tracking "* n EXISTS" / "* n EXPUNGE" (RFC 9051 §7.4.1, §7.5.1) so the caller always
knows the size of the selected mailbox. Every read is bounded (socket timeout, maximum
line length); all traffic is on 127.0.0.1. Latencies are measured by the callers with
time.monotonic() around send -> tagged completion."""
import select
import socket
import ssl
import time

from servers import BenchError

MAX_LINE = 1 << 20      # longest response line we accept (FETCH 1:* FLAGS stays far below)
MAX_LITERAL = 64 << 20  # largest server literal we accept


class ImapError(BenchError):
	"""The server answered NO/BAD or broke the protocol (message says what)."""


_TLS_CTX = None


def tls_context():
	"""One client TLS context per process (the bench servers use self-signed certs)."""
	global _TLS_CTX
	if _TLS_CTX is None:
		_TLS_CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		_TLS_CTX.check_hostname = False
		_TLS_CTX.verify_mode = ssl.CERT_NONE
	return _TLS_CTX


class ImapClient:
	"""One IMAP connection (implicit TLS when tls=True, RFC 8314). Not thread-safe."""

	def __init__(self, port, timeout=30.0, host="127.0.0.1", tls=False):
		raw = socket.create_connection((host, port), timeout=timeout)
		raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.sock = tls_context().wrap_socket(raw, server_hostname="localhost") if tls else raw
		self.buf = bytearray()
		self.pos = 0
		self.ntag = 0
		self.exists = 0
		self.literal_bytes = 0   # bytes received inside literals (FETCH bodies)
		self.caps = set()

	# ---- reading
	def _fill(self):
		if self.pos:
			del self.buf[:self.pos]
			self.pos = 0
		d = self.sock.recv(262144)
		if not d:
			raise ImapError("connection closed by server")
		self.buf += d

	def _line(self):
		"""One physical line without CRLF."""
		while True:
			i = self.buf.find(b"\r\n", self.pos)
			if i >= 0:
				ln = bytes(self.buf[self.pos:i])
				self.pos = i + 2
				return ln
			if len(self.buf) - self.pos > MAX_LINE:
				raise ImapError("response line longer than %d bytes" % MAX_LINE)
			self._fill()

	def _skip(self, n):
		while len(self.buf) - self.pos < n:
			n -= len(self.buf) - self.pos
			self.pos = len(self.buf)
			self._fill()
		self.pos += n

	def response(self):
		"""One logical response: its first line (literals skipped). Updates self.exists."""
		first = ln = self._line()
		while ln.endswith(b"}"):
			j = ln.rfind(b"{")
			try:
				n = int(ln[j + 1:-1].rstrip(b"+"))
			except ValueError:
				break
			if j < 0 or n < 0 or n > MAX_LITERAL:
				raise ImapError("bad literal in %r" % ln[:80])
			self._skip(n)
			self.literal_bytes += n
			ln = self._line()
		if first.startswith(b"* "):
			parts = first.split(b" ", 3)
			if len(parts) >= 3:
				kw = parts[2].upper()
				if kw == b"EXISTS" and parts[1].isdigit():
					self.exists = int(parts[1])
				elif kw == b"EXPUNGE" and parts[1].isdigit():
					self.exists -= 1
				elif parts[1].upper() == b"CAPABILITY":
					self.caps = set(first.upper().split()[2:])
		return first

	def greeting(self):
		g = self.response()
		if not g.startswith(b"* OK"):
			raise ImapError("unexpected greeting %r" % g[:100])
		return g

	# ---- commands
	def tag(self):
		self.ntag += 1
		return b"a%d" % self.ntag

	def wait_tagged(self, tag, what):
		"""Read until the tagged completion of tag; raise unless it is OK."""
		pre = tag + b" "
		while True:
			r = self.response()
			if r.startswith(pre):
				if r[len(pre):len(pre) + 2].upper() != b"OK":
					raise ImapError("%s -> %s" % (what, r[:160].decode("utf-8", "replace")))
				return r
			if r.startswith(b"+"):
				raise ImapError("%s: unexpected continuation %r" % (what, r[:80]))

	def wait_continuation(self, tag, what):
		"""Read until a "+" continuation (untagged data before it is fine)."""
		while True:
			r = self.response()
			if r.startswith(b"+"):
				return r
			if r.startswith(tag + b" "):
				raise ImapError("%s -> %s" % (what, r[:160].decode("utf-8", "replace")))

	def command(self, text):
		"""Send one command (bytes, no tag) and wait for its OK."""
		t = self.tag()
		self.sock.sendall(t + b" " + text + b"\r\n")
		return self.wait_tagged(t, text.split(b" ", 1)[0].decode())

	def login(self, user, password):
		def q(s):
			return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
		self.command(b"LOGIN " + q(user) + b" " + q(password))
		if not self.caps:
			self.command(b"CAPABILITY")

	def append(self, mailbox, msg, flags=b""):
		"""APPEND with LITERAL+ (RFC 7888) when offered, else a synchronizing literal."""
		t = self.tag()
		head = t + b" APPEND " + mailbox + (b" (" + flags + b")" if flags else b"")
		if b"LITERAL+" in self.caps:
			self.sock.sendall(head + b" {%d+}\r\n" % len(msg) + msg + b"\r\n")
		else:
			self.sock.sendall(head + b" {%d}\r\n" % len(msg))
			self.wait_continuation(t, "APPEND")
			self.sock.sendall(msg + b"\r\n")
		return self.wait_tagged(t, "APPEND")

	def idle(self, dwell):
		"""IDLE (RFC 2177), stay idle `dwell` seconds (reading any pushed updates), DONE.
		Returns the server's own time: IDLE -> "+" plus DONE -> tagged OK (dwell excluded)."""
		t = self.tag()
		t0 = time.monotonic()
		self.sock.sendall(t + b" IDLE\r\n")
		self.wait_continuation(t, "IDLE")
		t1 = time.monotonic()
		end = t1 + dwell
		while True:
			left = end - time.monotonic()
			if left <= 0:
				break
			if self.pos < len(self.buf):
				self.response()
				continue
			r, _, _ = select.select([self.sock], [], [], left)
			if r:
				self._fill()
		t2 = time.monotonic()
		self.sock.sendall(b"DONE\r\n")
		self.wait_tagged(t, "IDLE/DONE")
		return (t1 - t0) + (time.monotonic() - t2)

	def close(self, logout=True):
		try:
			if logout:
				self.sock.settimeout(2.0)
				self.sock.sendall(b"z LOGOUT\r\n")
		except OSError:
			pass
		try:
			self.sock.close()
		except OSError:
			pass

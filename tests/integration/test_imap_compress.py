"""test_imap_compress.py - COMPRESS=DEFLATE (RFC 4978) against a real mailraftd with Python's
imaplib + zlib as the client: the capability is advertised after login, "COMPRESS DEFLATE"
answers OK uncompressed and then both directions are raw DEFLATE (wbits -15) over TLS; a large
FETCH (several MiB, many flushes) comes back intact; IDLE works after compression (a delivery
is pushed as a compressed "* n EXISTS"); a second COMPRESS gets NO [COMPRESSIONACTIVE]; an
unknown algorithm gets NO; a corrupt compressed stream closes the connection while the daemon
stays healthy. (mbsync and interimap also negotiate COMPRESS in test_clients_*.py.)
"""
import imaplib
import os
import socket
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import mailgen  # noqa: E402
from mrtest import check, eq, make_message, quiet_close  # noqa: E402

imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
DOMAIN = "example.test"
PW = "compress-pw-1"


class Deflated:
	"""A raw DEFLATE session over an already-TLS socket (what imaplib users do by hand)."""

	def __init__(self, sock):
		self.sock = sock
		self.comp = zlib.compressobj(6, zlib.DEFLATED, -15)
		self.decomp = zlib.decompressobj(-15)
		self.buf = b""
		self.wire_in = 0

	def send(self, data):
		if isinstance(data, str):
			data = data.encode()
		self.sock.sendall(self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH))

	def fill(self, timeout=20):
		self.sock.settimeout(timeout)
		d = self.sock.recv(65536)
		if not d:
			raise EOFError("server closed the connection")
		self.wire_in += len(d)
		self.buf += self.decomp.decompress(d)

	def readline(self, timeout=20):
		while b"\r\n" not in self.buf:
			self.fill(timeout)
		line, self.buf = self.buf.split(b"\r\n", 1)
		return line

	def read_exact(self, n):
		while len(self.buf) < n:
			self.fill()
		data, self.buf = self.buf[:n], self.buf[n:]
		return data

	def command(self, tag, line):
		"""Send a command; return (untagged lines, {literal index: bytes}, tagged line)."""
		self.send("%s %s\r\n" % (tag, line))
		lines, lits = [], {}
		while True:
			ln = self.readline()
			if ln.startswith(tag.encode() + b" "):
				return lines, lits, ln
			lines.append(ln)
			if ln.endswith(b"}") and b"{" in ln:
				n = int(ln[ln.rindex(b"{") + 1:-1])
				lits[len(lines) - 1] = self.read_exact(n)


def setup(env):
	n = env.new_node("compress")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	env.user = "z@" + DOMAIN
	n.add_account(env.user, PW)


def login_compressed(env, user=None):
	"""imaplib over implicit TLS, logged in, COMPRESS DEFLATE done: (imaplib obj, Deflated)."""
	m = env.node.imap(user or env.user, PW)
	typ, data = m.capability()
	check("COMPRESS=DEFLATE" in data[-1].decode().upper().split(), "COMPRESS=DEFLATE not advertised: %r" % data)
	typ, data = m._simple_command("COMPRESS", "DEFLATE")
	eq(typ, "OK", "COMPRESS DEFLATE")
	return m, Deflated(m.sock)


def test_capability_only_after_login(env):
	ln = mrtest.Line(env.node.ports["imaps"], tls=True)
	try:
		greet = ln.readline()
		check(b"COMPRESS=DEFLATE" not in greet.upper(), "advertised before login: %r" % greet)
		ln.cmd("a COMPRESS DEFLATE")
		r = ln.imap_until_tagged("a")
		check(r and r[-1].startswith(b"a BAD"), "COMPRESS before login must be refused: %r" % r)
	finally:
		ln.close()


def test_large_fetch_compressed(env):
	user = "big@" + DOMAIN
	env.node.add_account(user, PW)
	m = env.node.imap(user, PW)
	msgs = [mailgen.message(i, "z") for i in range(40)]
	big = make_message("big", "".join(
		"row %07d of a big text body that compresses well enough\n" % k for k in range(90000)))
	try:
		mailgen.imap_append_all(m, "INBOX", msgs + [big])
	finally:
		quiet_close(m)
	m, z = login_compressed(env, user)
	try:
		lines, lits, tagged = z.command("s", "SELECT INBOX")
		check(tagged.startswith(b"s OK"), "SELECT: %r" % tagged)
		check(b"* 41 EXISTS" in lines, "EXISTS: %r" % lines)
		lines, lits, tagged = z.command("f", "UID FETCH 1:* (UID BODY.PEEK[])")
		check(tagged.startswith(b"f OK"), "FETCH: %r" % tagged)
		bodies = list(lits.values())
		eq(len(bodies), 41, "bodies fetched")
		for i in range(40):
			eq(bodies[i], msgs[i], "message %d after compression" % i)
		eq(bodies[40], big, "the %d-byte message after compression" % len(big))
		total = sum(len(b) for b in bodies)
		check(total > 5 * 1024 * 1024, "large fetch: %d bytes" % total)
		check(z.wire_in < total / 3, "compressed on the wire: %d bytes for %d" % (z.wire_in, total))
		# still in sync afterwards: a NOOP and a second COMPRESS
		lines, lits, tagged = z.command("n", "NOOP")
		check(tagged.startswith(b"n OK"), "NOOP: %r" % tagged)
		lines, lits, tagged = z.command("c", "COMPRESS DEFLATE")
		check(tagged.startswith(b"c NO [COMPRESSIONACTIVE]"), "second COMPRESS: %r" % tagged)
		lines, lits, tagged = z.command("l", "LOGOUT")
		check(any(l.startswith(b"* BYE") for l in lines), "BYE: %r" % lines)
	finally:
		m.sock.close()


def test_idle_after_compress(env):
	user = "idle@" + DOMAIN
	env.node.add_account(user, PW)
	m, z = login_compressed(env, user)
	try:
		lines, lits, tagged = z.command("s", "SELECT INBOX")
		check(b"* 0 EXISTS" in lines, "empty INBOX: %r" % lines)
		z.send("i IDLE\r\n")
		cont = z.readline()
		check(cont.startswith(b"+"), "IDLE continuation: %r" % cont)
		eq(env.node.send("sender@remote.test", [user], make_message("pushed", "hello\n")), {}, "delivery")
		ln = z.readline(timeout=15)
		while ln.startswith(b"* OK") or ln.endswith(b"RECENT"):
			ln = z.readline(timeout=15)
		eq(ln, b"* 1 EXISTS", "pushed under IDLE through the compressed stream")
		z.send("DONE\r\n")
		ln = z.readline()
		while not ln.startswith(b"i "):
			ln = z.readline()
		check(ln.startswith(b"i OK"), "IDLE done: %r" % ln)
		lines, lits, tagged = z.command("f", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
		check(b"Subject: pushed" in b"".join(lits.values()), "fetch after IDLE: %r %r" % (lines, lits))
	finally:
		m.sock.close()


def test_unknown_algorithm_and_syntax(env):
	m = env.node.imap(env.user, PW)
	try:
		tag = m._new_tag().decode()
		m.send(("%s COMPRESS LZMA\r\n" % tag).encode())
		ln = m.readline()
		check(ln.startswith((tag + " NO").encode()), "unknown algorithm: %r" % ln)
		tag = m._new_tag().decode()
		m.send(("%s COMPRESS\r\n" % tag).encode())
		ln = m.readline()
		check(ln.startswith((tag + " BAD").encode()), "no algorithm: %r" % ln)
		typ, data = m.noop()
		eq(typ, "OK", "still uncompressed and usable")
	finally:
		quiet_close(m)


def test_corrupt_stream_closes(env):
	m, z = login_compressed(env)
	try:
		z.sock.sendall(b"\x07\x00\x00\x00garbage that is not deflate\r\n")  # BTYPE 11: invalid
		z.sock.settimeout(10)
		closed = False
		end = time.monotonic() + 10
		while time.monotonic() < end:
			try:
				d = z.sock.recv(65536)
			except (socket.timeout, OSError):
				break
			if not d:
				closed = True
				break
		check(closed, "a corrupt compressed stream must close the connection")
	finally:
		m.sock.close()
	m = env.node.imap(env.user, PW)  # the daemon is fine
	try:
		eq(m.noop()[0], "OK", "NOOP on a new connection")
	finally:
		quiet_close(m)


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

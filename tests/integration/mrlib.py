"""mrlib.py - client-side helpers for the mailraft integration tests (stdlib only): assertions
(check/eq/contains/wait_for raising Fail), distinct free loopback ports, TLS client contexts,
RFC 5322 test messages and the trace-header check, a raw CRLF line client (SMTP replies, IMAP
tagged responses, close detection), imaplib helpers (UID SEARCH/FETCH/LIST parsing), swaks and
curl runners, and data-dir walking/hashing. mrtest.py re-exports all of it.
"""
import hashlib
import os
import re
import secrets
import socket
import ssl
import subprocess
import time

HOST = "127.0.0.1"
SOCK_TIMEOUT = 20          # every client socket

socket.setdefaulttimeout(SOCK_TIMEOUT)


class Fail(AssertionError):
	pass


# ---------------------------------------------------------------- assertions

def check(cond, msg="check failed"):
	if not cond:
		raise Fail(msg)


def eq(got, want, what="value"):
	if got != want:
		raise Fail("%s: expected %r, got %r" % (what, want, got))


def contains(hay, needle, what="output"):
	if needle not in hay:
		h = hay if len(hay) < 2000 else hay[:2000] + (b"..." if isinstance(hay, bytes) else "...")
		raise Fail("%s: %r not found in %r" % (what, needle, h))


def wait_for(fn, timeout=10.0, interval=0.1, what="condition"):
	"""Poll fn() until it returns a true value; return it, or raise Fail after timeout."""
	end = time.monotonic() + timeout
	last_exc = None
	while True:
		try:
			v = fn()
			if v:
				return v
		except Exception as e:  # noqa: BLE001 - retried, reported on timeout
			last_exc = e
		if time.monotonic() > end:
			raise Fail("timed out waiting for %s%s" % (what, (": last error %r" % last_exc) if last_exc else ""))
		time.sleep(interval)


def rand_token(n=12):
	return secrets.token_hex(n)


# ---------------------------------------------------------------- ports, TLS

from ports import free_ports, free_port  # noqa: E402,F401


def port_open(port, host=HOST):
	try:
		s = socket.create_connection((host, port), timeout=2)
		s.close()
		return True
	except OSError:
		return False


def tls_ctx(cafile=None):
	"""A client TLS context: verifying against cafile if given, else not verifying."""
	if cafile:
		ctx = ssl.create_default_context(cafile=cafile)
		return ctx
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	return ctx


# ---------------------------------------------------------------- messages

def make_message(subject, body, frm="sender@remote.test", to="rcpt@example.test", headers=None):
	"""RFC 5322 message as bytes with CRLF line ends (body lines may be str or bytes)."""
	lines = [
		"From: <%s>" % frm,
		"To: <%s>" % to,
		"Subject: %s" % subject,
		"Date: Mon, 23 Nov 2026 12:00:00 +0000",
		"Message-ID: <%s@remote.test>" % rand_token(8),
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
	]
	for k, v in (headers or {}).items():
		lines.append("%s: %s" % (k, v))
	out = "\r\n".join(lines).encode() + b"\r\n\r\n"
	if isinstance(body, str):
		body = body.encode()
	body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
	if not body.endswith(b"\r\n"):
		body += b"\r\n"
	return out + body


def split_prefix_headers(stored, sent):
	"""stored must end with sent; return the prefix (trace headers the server added)."""
	if not stored.endswith(sent):
		raise Fail("stored message does not end with the sent message:\n--- stored ---\n%r\n--- sent ---\n%r"
			% (stored[:3000], sent[:3000]))
	return stored[:len(stored) - len(sent)]


HEADER_LINE = re.compile(rb"^([!-9;-~]+:|[ \t])")


def check_trace_prefix(prefix):
	"""The prefix a server prepends must be Return-Path then Received (RFC 5321 4.4), header
	lines only."""
	check(re.match(rb"Return-Path: <[^>\r\n]*>\r\nReceived:", prefix) is not None,
		"stored message should begin with Return-Path and Received headers, got %r" % prefix[:200])
	check(prefix.endswith(b"\r\n"), "trace prefix must end with CRLF: %r" % prefix[-50:])
	for line in prefix[:-2].split(b"\r\n"):
		check(HEADER_LINE.match(line) is not None, "non-header line in trace prefix: %r" % line)


# ---------------------------------------------------------------- raw line client

class Line:
	"""A raw CRLF line session over TCP (optionally implicit TLS) for protocol-level tests."""

	def __init__(self, port, tls=False, timeout=SOCK_TIMEOUT, host=HOST):
		self.sock = socket.create_connection((host, port), timeout=timeout)
		if tls:
			self.sock = tls_ctx().wrap_socket(self.sock, server_hostname="localhost")
		self.buf = b""
		self.closed = False

	def send(self, data):
		if isinstance(data, str):
			data = data.encode()
		self.sock.sendall(data)

	def cmd(self, line):
		self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")

	def readline(self):
		"""One line without CRLF, or None on EOF/reset."""
		while b"\n" not in self.buf:
			try:
				d = self.sock.recv(65536)
			except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
				d = b""
			if not d:
				self.closed = True
				if self.buf:
					b, self.buf = self.buf, b""
					return b
				return None
			self.buf += d
		line, self.buf = self.buf.split(b"\n", 1)
		return line.rstrip(b"\r")

	def smtp_reply(self):
		"""(code, [lines]) of one SMTP reply; (None, lines) on EOF."""
		lines = []
		while True:
			ln = self.readline()
			if ln is None:
				return None, lines
			lines.append(ln)
			if len(ln) < 4 or ln[3:4] != b"-":
				try:
					return int(ln[:3]), lines
				except ValueError:
					return None, lines

	def imap_until_tagged(self, tag):
		"""Lines until the tagged response for tag (inclusive), a "+" continuation request
		(the server then waits for us), or EOF."""
		lines = []
		t = tag.encode() + b" "
		while True:
			ln = self.readline()
			if ln is None:
				return lines
			lines.append(ln)
			if ln.startswith(t) or ln.startswith(b"+"):
				return lines

	def wait_closed(self, timeout=10):
		"""True if the peer closes the connection within timeout (draining any data)."""
		self.sock.settimeout(timeout)
		end = time.monotonic() + timeout
		try:
			while time.monotonic() < end:
				d = self.sock.recv(65536)
				if not d:
					return True
		except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError) as e:
			if isinstance(e, socket.timeout):
				return False
			return True
		return False

	def close(self):
		try:
			self.sock.close()
		except OSError:
			pass


# ---------------------------------------------------------------- IMAP helpers

def flat(data):
	"""imaplib response data (bytes and tuples) flattened to one bytes value."""
	out = b""
	for d in data or []:
		if isinstance(d, tuple):
			out += b"".join(x for x in d if isinstance(x, bytes))
		elif isinstance(d, bytes):
			out += d
	return out


def quiet_close(m):
	"""Drop an imaplib connection without raising (it may already be logged out)."""
	if getattr(m, "state", None) == "LOGOUT":
		return
	try:
		m.shutdown()
	except Exception:  # noqa: BLE001
		pass


def imap_cmd(ln, tag, c, ok=True):
	"""Send one raw IMAP command on a Line, return every line up to its tagged reply; with ok,
	fail unless that reply is OK."""
	ln.cmd("%s %s" % (tag, c))
	lines = ln.imap_until_tagged(tag)
	if ok:
		check(lines and lines[-1].startswith(tag.encode() + b" OK"), "%s -> %r" % (c, lines))
	return lines


def imap_raw_login(port, user, pw):
	"""A raw IMAPS Line session logged in as user."""
	ln = Line(port, tls=True)
	g = ln.readline()
	check(g.startswith(b"* OK"), "greeting %r" % g)
	imap_cmd(ln, "L", 'LOGIN "%s" "%s"' % (user, pw))
	return ln


def untagged(lines, prefix):
	"""The response lines starting with prefix (bytes)."""
	return [l for l in lines if l.startswith(prefix)]


def imap_ok(resp, what):
	typ, data = resp
	if typ != "OK":
		raise Fail("IMAP %s: %s %r" % (what, typ, data))
	return data


def imap_uids(m, criteria="ALL"):
	data = imap_ok(m.uid("SEARCH", criteria), "UID SEARCH " + criteria)
	return [int(x) for x in b" ".join(d for d in data if d).split()]


def imap_body(m, uid, section="BODY.PEEK[]"):
	"""The literal of a UID FETCH of one body section."""
	data = imap_ok(m.uid("FETCH", str(uid), "(%s)" % section), "UID FETCH %s" % uid)
	for d in data:
		if isinstance(d, tuple):
			return d[1]
	mm = re.search(rb'BODY\[[^\]]*\](?:<\d+>)? (NIL|"((?:[^"\\]|\\.)*)")', flat(data))
	if mm:  # small sections may come as a quoted string
		return b"" if mm.group(1) == b"NIL" else re.sub(rb"\\(.)", rb"\1", mm.group(2))
	raise Fail("UID FETCH %s %s returned no literal: %r" % (uid, section, data))


def imap_list(m):
	"""[(flags_lower_set, name)] from LIST "" "*"."""
	data = imap_ok(m.list(), "LIST")
	out = []
	pat = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')
	i = 0
	items = list(data)
	while i < len(items):
		d = items[i]
		if isinstance(d, tuple):  # name sent as a literal
			head, name = d
			mm = re.match(rb'^\((?P<flags>[^)]*)\)', head)
			out.append((set(mm.group("flags").decode().lower().split()), name.decode()))
		elif d:
			mm = pat.match(d)
			check(mm is not None, "unparsable LIST line %r" % d)
			name = mm.group("name")
			if name.startswith(b'"'):
				name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
			out.append((set(mm.group("flags").decode().lower().split()), name.decode()))
		i += 1
	return out


def wait_imap_count(node, user, pw, n, mailbox="INBOX", timeout=10):
	"""Wait until mailbox holds at least n messages (delivery is committed before 250, but be safe)."""
	def probe():
		m = node.imap(user, pw)
		try:
			typ, data = m.select(mailbox, readonly=True)
			return typ == "OK" and int(data[0]) >= n
		finally:
			m.logout()
	return wait_for(probe, timeout=timeout, what="%d message(s) in %s of %s" % (n, mailbox, user))


# ---------------------------------------------------------------- external tools

def run_tool(cmd, timeout=60, input_bytes=None):
	r = subprocess.run(cmd, input=input_bytes, capture_output=True, timeout=timeout,
		stdin=None if input_bytes is not None else subprocess.DEVNULL)
	return r


def swaks(node, frm, to, data_file=None, tls=False, extra=None, timeout=60):
	cmd = ["swaks", "--server", HOST, "--port", str(node.ports["smtp"]), "--ehlo", "client.test",
		"--from", frm, "--to", to, "--timeout", "30"]
	if data_file:
		cmd += ["--data", data_file]
	if tls:
		cmd += ["--tls"]
	cmd += extra or []
	return run_tool(cmd, timeout=timeout)


def curl(args, timeout=60):
	"""curl -sS with a bounded run time; returns CompletedProcess (bytes)."""
	cmd = ["curl", "-sS", "--max-time", str(timeout - 5), "--connect-timeout", "10"] + args
	env_clean = dict(os.environ)
	r = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env_clean)
	return r


def tree_files(root):
	"""Every path under root (relative) -> 'file'|'dir'|'other'."""
	out = {}
	for dp, dns, fns in os.walk(root):
		for d in dns:
			out[os.path.relpath(os.path.join(dp, d), root)] = "dir"
		for fn in fns:
			p = os.path.join(dp, fn)
			out[os.path.relpath(p, root)] = "file" if os.path.isfile(p) and not os.path.islink(p) else "other"
	return out


def tree_hashes(root):
	h = {}
	for rel, kind in tree_files(root).items():
		if kind == "file":
			with open(os.path.join(root, rel), "rb") as f:
				h[rel] = hashlib.sha256(f.read()).hexdigest()
		else:
			h[rel] = kind
	return h

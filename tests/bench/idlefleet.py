"""idlefleet.py - holds thousands of idle IMAP sessions (LOGIN, SELECT INBOX, IDLE) open
against one server, spread over several client processes so that no process needs more
than a few thousand sockets (RLIMIT_NOFILE is raised by the caller and inherited).

IdleFleet(port, users, n, procs).open(deadline) forks the processes; each opens its share
of sessions one after the other (TLS handshake for IMAPS, greeting, LOGIN as users[i % len(users)], SELECT INBOX,
IDLE until the "+" continuation, RFC 2177) and reports back. alive() asks every process
how many of its sockets the server has not closed (poll(2), so descriptors above 1024 are
fine); close() makes them close everything and exit. Every wait is bounded; processes
that do not answer are killed."""
import multiprocessing
import os
import select
import signal
import ssl
import time

from imapclient import ImapClient
from servers import BenchError


def _open_one(port, user, password, tls):
	c = ImapClient(port, timeout=20.0, tls=tls)
	try:
		c.greeting()
		c.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
		c.command(b"SELECT INBOX")
		t = c.tag()
		c.sock.sendall(t + b" IDLE\r\n")
		c.wait_continuation(t, "IDLE")
	except BaseException:
		c.close(logout=False)
		raise
	return c


def _alive(conns):
	"""How many connections the server has not closed: EOF, an error or an untagged BYE
	(RFC 9051 §7.1.5) counts as closed; any other pushed data (e.g. EXISTS) is fine."""
	p = select.poll()
	fds = {}
	for c in conns:
		p.register(c.sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
		fds[c.sock.fileno()] = c
	dead = 0
	for fd, ev in p.poll(0):
		c = fds[fd]
		if ev & (select.POLLHUP | select.POLLERR):
			dead += 1
			continue
		c.sock.setblocking(False)
		got = b""
		try:
			for _ in range(64):   # drain what is there: data (e.g. "* BYE") and/or EOF
				d = c.sock.recv(4096)
				if d == b"":
					got = None
					break
				got = (got + d)[-4096:]
		except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
			pass
		except OSError:
			got = None
		if got is None or b"* BYE" in got.upper():
			dead += 1
	return len(conns) - dead


def _fleet_main(pipe, port, users, password, tls, first, count, deadline):
	signal.signal(signal.SIGTERM, signal.SIG_DFL)
	conns = []
	try:
		for i in range(first, first + count):
			if time.monotonic() > deadline:
				raise BenchError("opened only %d of %d sessions before the deadline" % (len(conns), count))
			conns.append(_open_one(port, users[i % len(users)], password, tls))
		pipe.send(("opened", len(conns)))
		while True:
			if not pipe.poll(600.0):
				return
			cmd = pipe.recv()
			if cmd == "alive":
				pipe.send(("alive", _alive(conns)))
			else:
				return
	except (OSError, BenchError) as e:
		what = "session %d (after %d opened by this process): %s: %s" % (first + len(conns),
			len(conns), type(e).__name__, e)
		try:
			pipe.send(("error", what))
		except OSError:
			pass
	finally:
		for c in conns:
			c.close(logout=False)
		pipe.close()


class IdleFleet:
	"""n idle IMAP sessions over `procs` client processes."""

	def __init__(self, port, users, n, procs, password="pass", tls=False):
		self.port, self.users, self.n, self.password, self.tls = port, users, n, password, tls
		self.nprocs = max(1, min(procs, n))
		self.procs = []

	def open(self, deadline):
		"""Open all sessions (bounded by the monotonic deadline); raises BenchError."""
		ctx = multiprocessing.get_context("fork")
		per, extra = divmod(self.n, self.nprocs)
		first = 0
		for k in range(self.nprocs):
			cnt = per + (1 if k < extra else 0)
			a, b = ctx.Pipe()
			p = ctx.Process(target=_fleet_main, args=(b, self.port, self.users, self.password,
				self.tls, first, cnt, deadline), daemon=True)
			p.start()
			b.close()
			self.procs.append((p, a))
			first += cnt
		opened, errors = 0, []
		for p, a in self.procs:
			left = deadline + 5.0 - time.monotonic()
			if left <= 0 or not a.poll(left):
				errors.append("a client process did not report within the time limit")
				continue
			try:
				kind, info = a.recv()
			except EOFError:
				errors.append("a client process died")
				continue
			if kind == "opened":
				opened += info
			else:
				errors.append(info)
		if errors:
			raise BenchError("opened %d of %d sessions; %s" % (opened, self.n, "; ".join(errors[:3])))
		return opened

	def alive(self, timeout=60.0):
		for p, a in self.procs:
			a.send("alive")
		n = 0
		end = time.monotonic() + timeout
		for p, a in self.procs:
			if not a.poll(max(0.0, end - time.monotonic())):
				raise BenchError("a client process did not answer the liveness check")
			n += a.recv()[1]
		return n

	def close(self):
		for p, a in self.procs:
			try:
				a.send("close")
			except OSError:
				pass
		for p, a in self.procs:
			p.join(30.0)
			if p.is_alive():
				os.kill(p.pid, signal.SIGKILL)
				p.join(5.0)
			a.close()
		self.procs = []


def fleet_procs(n, per_proc=2500):
	"""How many client processes for n sessions (at most 2,500 sockets each, at least 1)."""
	return max(1, min(8, -(-n // per_proc)))


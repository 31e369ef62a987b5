"""imapload.py - the IMAP load generator: P client processes, each logged in as its own
account, run a fixed mix of commands in a loop against one server for a fixed time.

One iteration of the mix (every command must answer OK, else it counts as an error):
  select   SELECT INBOX
  flags    FETCH 1:* (FLAGS)                         the client's flag resync
  bodies   FETCH a,b,c,d,e (BODY.PEEK[])             5 random messages, whole bodies
  store    STORE n +FLAGS/-FLAGS (\\Seen \\Flagged)    toggles one random message
  append   APPEND INBOX (1-8 KB message, LITERAL+ when offered)
  store    STORE 1 +FLAGS.SILENT (\\Deleted)          (a second STORE per iteration)
  expunge  EXPUNGE                                    removes it: the mailbox size stays put
  idle     IDLE, 5 ms idle, DONE                      latency = server time, dwell excluded
Before the clock starts every mailbox is filled to `messages` messages (APPEND, untimed)
and every process has logged in and selected INBOX; all processes then start at the same
instant and stop starting commands at the end of the window. ops/s = completed commands /
(last completion - start); latencies are per command, send -> tagged OK. The processes
are plain fork()ed workers talking to the parent over pipes; every wait is bounded and a
worker that overruns is killed."""
import math
import multiprocessing
import os
import random
import signal
import time

from imapclient import ImapClient, ImapError
from servers import BenchError

OPS = ("select", "flags", "bodies", "store", "append", "expunge", "idle")
IDLE_DWELL = 0.005
WORDS = ("mail raft imap store fetch flags commit replicated leader follower quorum "
	"message body header subject latency throughput mailbox session network loopback").split()


def make_message(rng, i, user):
	"""A plain RFC 5322 message of 1-8 KB with a realistic header block."""
	size = rng.randint(1024, 8192)
	lines, n = [], 0
	while n < size:
		ln = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
		lines.append(ln)
		n += len(ln) + 2
	body = "\r\n".join(lines)
	hdr = ("From: Load Generator <load@bench.test>\r\nTo: %s\r\nSubject: load %d %s\r\n"
		"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <%d.%d@bench.test>\r\n"
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
		% (user, i, rng.choice(WORDS), i, rng.randint(0, 1 << 30)))
	return (hdr + body + "\r\n").encode()


class Worker:
	"""One client session running the mix; results are plain dicts (sent over a pipe)."""

	def __init__(self, port, user, password, messages, seed):
		self.port, self.user, self.password, self.messages = port, user, password, messages
		self.rng = random.Random(seed)
		self.lat = {op: [] for op in OPS}
		self.errors = []
		self.nmsg = 0
		self.c = None

	def setup(self):
		self.c = ImapClient(self.port)
		self.c.greeting()
		self.c.login(self.user, self.password)
		self.c.command(b"SELECT INBOX")
		for _ in range(2 * self.messages + 2):
			if self.c.exists >= self.messages:
				return
			self.c.append(b"INBOX", make_message(self.rng, self.nmsg, self.user))
			self.nmsg += 1
			if self.c.exists < self.messages:
				self.c.command(b"NOOP")   # EXISTS for the append, if not sent already
		raise ImapError("INBOX of %s has %d messages after filling it to %d (EXISTS missing?)"
			% (self.user, self.c.exists, self.messages))

	def _timed(self, op, fn):
		t0 = time.monotonic()
		try:
			r = fn()
		except ImapError as e:
			self.errors.append("%s: %s" % (op, e))
			return False
		self.lat[op].append(r if op == "idle" else time.monotonic() - t0)
		return True

	def iteration(self):
		c, rng = self.c, self.rng
		steps = [("select", lambda: c.command(b"SELECT INBOX"))]
		steps.append(("flags", lambda: c.command(b"FETCH 1:* (FLAGS)")))

		def bodies():
			n = max(c.exists, 1)
			seqs = sorted(set(rng.randint(1, n) for _ in range(5)))
			return c.command(b"FETCH " + b",".join(b"%d" % s for s in seqs) + b" (BODY.PEEK[])")
		steps.append(("bodies", bodies))

		def store():
			sign = b"+" if rng.random() < 0.5 else b"-"
			return c.command(b"STORE %d %sFLAGS (\\Seen \\Flagged)" % (rng.randint(1, max(c.exists, 1)), sign))
		steps.append(("store", store))

		def append():
			self.nmsg += 1
			return c.append(b"INBOX", make_message(rng, self.nmsg, self.user))
		steps.append(("append", append))
		steps.append(("store", lambda: c.command(b"STORE 1 +FLAGS.SILENT (\\Deleted)")))
		steps.append(("expunge", lambda: c.command(b"EXPUNGE")))
		steps.append(("idle", lambda: c.idle(IDLE_DWELL)))
		return steps

	def run(self, t_start, t_end):
		"""Loop the mix from t_start until t_end; returns the result dict."""
		delay = t_start - time.monotonic()
		if delay > 0:
			time.sleep(delay)
		last = time.monotonic()
		while time.monotonic() < t_end and len(self.errors) < 20:
			for op, fn in self.iteration():
				if time.monotonic() >= t_end:
					break
				if not self._timed(op, fn):
					# resynchronise: a failed command may leave the session anywhere
					if not self._timed("select", lambda: self.c.command(b"SELECT INBOX")):
						return self.result(last)
				last = time.monotonic()
		return self.result(last)

	def result(self, last):
		return {"lat": self.lat, "errors": self.errors, "last": last,
			"body_bytes": self.c.literal_bytes if self.c else 0}


def _worker_main(pipe, port, user, password, messages, seed):
	"""Child process: set up, report ready, wait for the window, run, send the result."""
	signal.signal(signal.SIGTERM, signal.SIG_DFL)
	w = Worker(port, user, password, messages, seed)
	try:
		w.setup()
		pipe.send(("ready", None))
		msg = pipe.recv()
		if msg[0] != "go":
			return
		pipe.send(("done", w.run(*msg[1])))
	except Exception as e:   # reported to the parent, which fails the run
		try:
			pipe.send(("error", "%s: %s: %s" % (user, type(e).__name__, e)))
		except OSError:
			pass
	finally:
		if w.c:
			w.c.close()
		pipe.close()


def run_load(port, users, password, messages, seconds, seed=1, setup_timeout=120.0, cpu_fn=None):
	"""One window of load from len(users) processes. Returns the merged result:
	{"seconds", "ops", "lat": {op: [s, ...]}, "errors": [...], "body_bytes", "cpu_s"};
	cpu_fn() (the server's CPU seconds) is sampled right before and after the window."""
	ctx = multiprocessing.get_context("fork")
	procs = []
	try:
		for i, u in enumerate(users):
			a, b = ctx.Pipe()
			p = ctx.Process(target=_worker_main, args=(b, port, u, password, messages,
				seed * 1000 + i), daemon=True)
			p.start()
			b.close()
			procs.append((p, a))
		end = time.monotonic() + setup_timeout
		for p, a in procs:
			left = end - time.monotonic()
			if left <= 0 or not a.poll(left):
				raise BenchError("load client for %s: no ready within %.0f s" % (users[procs.index((p, a))], setup_timeout))
			kind, info = a.recv()
			if kind != "ready":
				raise BenchError("load client set-up failed: %s" % info)
		cpu0 = cpu_fn() if cpu_fn else None
		t_start = time.monotonic() + 0.2
		t_end = t_start + seconds
		for p, a in procs:
			a.send(("go", (t_start, t_end)))
		merged = {"lat": {op: [] for op in OPS}, "errors": [], "body_bytes": 0}
		last = t_start
		for p, a in procs:
			left = t_end + 60.0 - time.monotonic()
			if left <= 0 or not a.poll(left):
				raise BenchError("a load client did not finish within 60 s after its window (server stalled?)")
			kind, info = a.recv()
			if kind != "done":
				raise BenchError("load client failed: %s" % info)
			for op in OPS:
				merged["lat"][op].extend(info["lat"][op])
			merged["errors"].extend(info["errors"])
			merged["body_bytes"] += info["body_bytes"]
			last = max(last, info["last"])
		merged["cpu_s"] = cpu_fn() - cpu0 if cpu_fn else None
		merged["seconds"] = last - t_start
		merged["ops"] = sum(len(v) for v in merged["lat"].values())
		return merged
	finally:
		for p, a in procs:
			a.close()   # a worker still waiting for "go" sees EOF and exits
		end = time.monotonic() + 10.0
		for p, a in procs:
			p.join(max(0.1, end - time.monotonic()))
			if p.is_alive():
				os.kill(p.pid, signal.SIGKILL)
				p.join(2.0)


def percentile(xs, q):
	"""Nearest-rank percentile of xs (q in 0..100); None for an empty list."""
	if not xs:
		return None
	s = sorted(xs)
	k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
	return s[k]


def summarize(windows):
	"""Merge the windows of one server into its figures (latencies in ms)."""
	lat = {op: [] for op in OPS}
	ops, secs, errors, body, cpu = 0, 0.0, [], 0, 0.0
	for w in windows:
		for op in OPS:
			lat[op].extend(w["lat"][op])
		ops += w["ops"]
		secs += w["seconds"]
		errors.extend(w["errors"])
		body += w["body_bytes"]
		cpu = None if cpu is None or w.get("cpu_s") is None else cpu + w["cpu_s"]
	every = [x for op in OPS for x in lat[op]]
	out = {"ops": ops, "seconds": round(secs, 2),
		"ops_per_s": round(ops / secs, 1) if secs > 0 and ops else None,
		"p50_ms": _ms(percentile(every, 50)), "p99_ms": _ms(percentile(every, 99)),
		"window_ops_per_s": [round(w["ops"] / w["seconds"], 1) for w in windows if w["seconds"] > 0],
		"errors": len(errors), "body_bytes": body, "body_mib": round(body / 1048576.0, 1),
		"server_cpu_s": None if cpu is None else round(cpu, 2),
		"server_cpu_ms_per_op": round(cpu * 1000.0 / ops, 3) if cpu is not None and ops else None,
		"per_op": {op: {"n": len(lat[op]), "p50_ms": _ms(percentile(lat[op], 50)),
			"p99_ms": _ms(percentile(lat[op], 99))} for op in OPS}}
	if errors:
		out["first_errors"] = errors[:5]
	return out


def _ms(x):
	return None if x is None else round(x * 1000.0, 2)

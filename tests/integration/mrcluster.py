"""mrcluster.py - a cluster of real mailraftd processes on one host, for the cluster tests and
the cluster benchmarks (stdlib only, /usr/bin/python3). Built on mrtest.Node (config file,
start/ready/stop, sanitizer scan, mailraftctl): a ClusterNode adds its cluster_address (raft
port P, member RPC on P + 1, both picked free), offline `mailraftctl --config C cluster
init|join`, SIGKILL, SIGSTOP/SIGCONT and wiping its data dir. A Cluster forms N nodes the
documented way (init + start node 1; per further node: `cluster add` on a member prints a
join token, `cluster join TOKEN` offline, start, wait until it is a voter and ready), finds the
leader, waits for convergence (every node's applied index equals the leader's commit index),
removes a node and lets it rejoin with a wiped data dir, and kills every process it started
at exit, even on failure. Every wait is bounded. The status/members JSON of `mailraftctl`
is read through alias tables (norm_status, norm_members) so the harness does not depend on
the exact field spelling. Delivery is a threaded SMTP load (one session per message, unique
Message-ID per attempt) that records which attempts got 250 and the DATA-end -> 250 latency;
imap_msgids reads a mailbox's UID -> Message-ID map from one node.
"""
import argparse
import atexit
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time

import mrtest
import ports
from mrlib import Fail, HOST, check, rand_token

JOIN_TIMEOUT = 120      # a joiner: start + catch-up + promotion, under sanitizers
STATUS_TIMEOUT = 5      # one `mailraftctl status` (a paused node never answers)
TOKEN_RE = re.compile(r"mrjoin1-[A-Za-z0-9_-]+")
DAEMON_READY = re.compile(r"mailraftd \S+ ready\b")

_live = []              # every ClusterNode ever created: killed at exit


def ensure_args(bin_dir, keep=False):
	"""mrtest.Node reads mrtest.ARGS; callers outside mrtest.main (benchmarks) set it here."""
	if mrtest.ARGS is None:
		mrtest.ARGS = argparse.Namespace(bin_dir=bin_dir, keep=keep, only=None)


def free_port_pair():
	"""A free loopback port P with P + 1 free too (raft + member RPC), never handed out again."""
	for _ in range(1000):
		p = ports.free_ports(1)[0]
		q = p + 1
		if q >= ports.PORT_HI or q in ports._given_ports:
			continue
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		try:
			s.bind((HOST, q))
		except OSError:
			continue
		finally:
			s.close()
		ports._given_ports.add(q)
		return p
	raise Fail("no free port pair found")


# ---------------------------------------------------------------- JSON of mailraftctl

_STATUS_KEYS = {   # normalised name -> accepted spellings, first found wins
	"id": ("id", "node_id", "raft_id", "self"),
	"state": ("state", "raft_state"),
	"leader": ("leader_id", "leader"),
	"term": ("term",),
	"commit": ("commit_index", "commit", "committed", "commit_idx"),
	"applied": ("applied_index", "last_applied", "applied", "applied_idx"),
	"last": ("last_index", "last_log_index"),
	"ready": ("ready", "cluster_ready"),
	"needs_fetch": ("needs_fetch",),
	"mode": ("mode",),
}


def _scalar(v):
	if isinstance(v, str):
		s = v.strip()
		if re.fullmatch(r"-?\d+", s):
			return int(s)
		if s.lower() in ("true", "yes"):
			return True
		if s.lower() in ("false", "no"):
			return False
		return s
	return v


def _flatten(d, out=None, prefix=""):
	"""{'cluster': {'state': ..}} -> {'state': .., 'cluster.state': ..} (first key wins)."""
	out = {} if out is None else out
	if isinstance(d, dict):
		for k, v in d.items():
			if isinstance(v, dict):
				_flatten(v, out, prefix + k + ".")
			else:
				out.setdefault(prefix + k, v)
				out.setdefault(k, v)
	return out


def norm_status(doc):
	"""A `status --json` document -> {id, state, leader, commit, applied, ready, ...} with ints
	and lower-case strings (missing keys absent); raw document under 'raw'."""
	flat = _flatten(doc)
	out = {"raw": doc}
	for name, keys in _STATUS_KEYS.items():
		for k in keys:
			for cand in (k, "cluster." + k, "raft." + k):
				if cand in flat and not isinstance(flat[cand], (list, dict)):
					out[name] = _scalar(flat[cand])
					break
			if name in out:
				break
	if isinstance(out.get("state"), str):
		out["state"] = out["state"].lower()
	if isinstance(out.get("leader"), str):   # "2@127.0.0.1:1234" or "2"
		m = re.match(r"(\d+)", out["leader"])
		out["leader"] = int(m.group(1)) if m else None
	return out


def norm_members(doc):
	"""A `cluster members --json` document -> [{id, role, address, applied, reachable}]."""
	lst = None
	if isinstance(doc, list):
		lst = doc
	elif isinstance(doc, dict):
		for k in ("members", "nodes", "servers"):
			if isinstance(doc.get(k), list):
				lst = doc[k]
				break
		if lst is None:
			lst = next((v for v in doc.values() if isinstance(v, list)), [])
	out = []
	for m in lst or []:
		if not isinstance(m, dict):
			continue
		f = {k: _scalar(v) for k, v in m.items()}
		role = f.get("role", f.get("type", ""))
		out.append({"id": f.get("id"), "role": str(role).lower(), "address": f.get("address"),
			"applied": f.get("applied_index", f.get("applied")), "reachable": f.get("reachable"),
			"raw": m})
	return out


# ---------------------------------------------------------------- one node

class ClusterNode(mrtest.Node):
	"""A mailraftd with cluster_address set. id is its raft id once init/join gave it one."""

	def __init__(self, name, conf=None, root=None, env=None):
		self.raft_port = free_port_pair()
		c = {"plaintext_auth": "true", "cluster_address": "%s:%d" % (HOST, self.raft_port),
			"max_connections": "400"}
		c.update(conf or {})
		super().__init__(name, conf=c, root=root, env=env)
		self.name = name
		self.id = None
		self.paused = False
		_live.append(self)

	@property
	def address(self):
		return "%s:%d" % (HOST, self.raft_port)

	@property
	def cluster_dir(self):
		return os.path.join(self.data_dir, "cluster")

	def ctl_offline(self, *args, check_rc=True, timeout=60):
		"""mailraftctl --config C ARGS (cluster init/join run with the daemon stopped)."""
		self.write_config()
		cmd = [self.ctl_bin, "--config", self.config_path] + [str(a) for a in args]
		r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
			env=self._env())
		r.stdout = r.stdout.decode("utf-8", "replace")
		r.stderr = r.stderr.decode("utf-8", "replace")
		if check_rc and r.returncode != 0:
			raise Fail("%s: mailraftctl %s -> rc %d\nstdout: %s\nstderr: %s" % (self.name,
				" ".join(cmd[3:]), r.returncode, r.stdout, r.stderr))
		return r

	def wait_ready(self, timeout=mrtest.START_TIMEOUT):
		"""The daemon's own "mailraftd VERSION ready" line (cluster log lines may say "ready"
		too), then mrtest's listener checks."""
		end = time.monotonic() + timeout
		next_poll = time.monotonic() + 1
		self.ready_by = "log"
		while not DAEMON_READY.search(self._log_since_start()):
			if time.monotonic() > next_poll and os.path.exists(self.admin_socket):
				next_poll = time.monotonic() + 1   # fallback: status says ready
				st = self.status()
				if st and st.get("ready") is True:
					self.ready_by = "status"
					break
			rc = self.proc.poll()
			if rc is not None:
				raise Fail("%s: mailraftd exited with %d during start-up; log:\n%s" % (self.name,
					rc, self.log_tail(60)))
			if time.monotonic() > end:
				raise Fail("%s: no ready line within %ds; log:\n%s" % (self.name, timeout,
					self.log_tail(60)))
			time.sleep(0.05)
		for name, port in self.ports.items():
			if self.conf.get("%s_listen" % name):
				mrtest.wait_for(lambda: mrtest.port_open(port), timeout=10,
					what="%s: %s port %d to accept" % (self.name, name, port))
		mrtest.wait_for(lambda: os.path.exists(self.admin_socket), timeout=10,
			what="%s: admin socket" % self.name)

	def usable(self):
		"""Running and not paused: worth asking over the admin socket."""
		return self.running() and not self.paused

	def status(self, timeout=STATUS_TIMEOUT):
		"""Normalised `status --json`, or None (not running, paused, error, timeout)."""
		if not self.usable():
			return None
		try:
			r = self.ctl("status", json_out=True, check_rc=False, timeout=timeout)
		except subprocess.TimeoutExpired:
			return None
		if r.returncode != 0:
			return None
		try:
			return norm_status(json.loads(r.stdout))
		except ValueError:
			return None

	def members(self, timeout=STATUS_TIMEOUT):
		if not self.usable():
			return None
		try:
			r = self.ctl("cluster", "members", json_out=True, check_rc=False, timeout=timeout)
		except subprocess.TimeoutExpired:
			return None
		if r.returncode != 0:
			return None
		try:
			return norm_members(json.loads(r.stdout))
		except ValueError:
			return None

	def pause(self):
		check(self.running(), "%s: pause of a stopped node" % self.name)
		os.killpg(self.proc.pid, signal.SIGSTOP)
		self.paused = True

	def resume(self):
		if self.paused and self.proc is not None:
			try:
				os.killpg(self.proc.pid, signal.SIGCONT)
			except ProcessLookupError:
				pass
		self.paused = False

	def kill(self):
		"""SIGKILL (also of a paused process), no exit-code check."""
		super().kill()
		self.paused = False

	def stop(self, timeout=mrtest.STOP_TIMEOUT):
		self.resume()
		return super().stop(timeout)

	def wipe(self):
		"""Kill and empty the data dir (config and log are kept outside it)."""
		self.kill()
		shutil.rmtree(self.data_dir, ignore_errors=True)
		os.makedirs(self.data_dir, exist_ok=True)
		self.id = None


@atexit.register
def _kill_all():
	for n in _live:
		try:
			n.kill()
		except Exception:  # noqa: BLE001 - best effort at exit
			pass


# ---------------------------------------------------------------- the cluster

class Cluster:
	"""size nodes named PREFIX1..PREFIXn; nodes are appended to env.nodes (if given) so the
	mrtest runner stops and health-checks them."""

	def __init__(self, size=3, prefix="cl", env=None, conf=None, workdir=None):
		self.env = env
		self.workdir = workdir   # None: each node in its own mkdtemp
		self.nodes = []
		self.next_id = 1
		self.conf = conf or {}
		self.prefix = prefix
		for i in range(size):
			self.new_node()

	def new_node(self):
		name = "%s%d" % (self.prefix, len(self.nodes) + 1)
		root = os.path.join(self.workdir, name) if self.workdir else None
		n = ClusterNode(name, conf=self.conf, root=root)
		self.nodes.append(n)
		if self.env is not None:
			self.env.nodes.append(n)
		return n

	def by_id(self, nid):
		return next((n for n in self.nodes if n.id == nid), None)

	# -- forming
	def bootstrap(self, node=None):
		"""cluster init (offline) + start of the first node."""
		n = node or self.nodes[0]
		n.ctl_offline("cluster", "init", "--address", n.address, "--id", self.next_id)
		n.id = self.next_id
		self.next_id += 1
		n.start(wait=False)
		n.wait_ready(mrtest.START_TIMEOUT)
		self.wait_leader(timeout=30)
		return n

	def invite(self, nid, address, via=None):
		"""`cluster add --id N --address A` on a member; returns the join token."""
		via = via or self.leader(timeout=30)
		r = via.ctl("cluster", "add", "--id", nid, "--address", address, timeout=60)
		m = TOKEN_RE.search(r.stdout)
		check(m is not None, "cluster add printed no join token: %r %r" % (r.stdout, r.stderr))
		return m.group(0)

	def join(self, n, nid=None, via=None, timeout=JOIN_TIMEOUT):
		"""Invite (id nid, default the next unused), join offline, start, wait voter + ready."""
		nid = nid or self.next_id
		self.next_id = max(self.next_id, nid + 1)
		token = self.invite(nid, n.address, via=via)
		n.ctl_offline("cluster", "join", token, timeout=90)
		n.id = nid
		n.start(wait=False)
		n.wait_ready(timeout)
		self.wait_voter(n, timeout)
		return n

	def form(self):
		self.bootstrap()
		for n in self.nodes[1:]:
			self.join(n)
		return self

	# -- state
	def usable(self):
		return [n for n in self.nodes if n.usable()]

	def statuses(self):
		return {n: n.status() for n in self.usable()}

	def leader(self, timeout=30, exclude=()):
		"""The node that says it is leader (and that the others name, when they name one)."""
		end = time.monotonic() + timeout
		last = {}
		while True:
			last = {}
			for n in self.usable():
				if n in exclude:
					continue
				last[n] = n.status()
			leaders = [n for n, s in last.items() if s and s.get("state") == "leader"]
			if len(leaders) == 1:
				ld = leaders[0]
				named = {s.get("leader") for s in last.values() if s and s.get("leader")}
				if ld.id is None or not named or named == {ld.id}:
					return ld
			if time.monotonic() > end:
				raise Fail("no single leader within %ds: %s" % (timeout, self.describe(last)))
			time.sleep(0.1)

	def wait_leader(self, timeout=30, exclude=()):
		return self.leader(timeout, exclude)

	def wait_voter(self, n, timeout=JOIN_TIMEOUT):
		"""Until the leader lists n as a voter and n itself reports ready."""
		end = time.monotonic() + timeout
		last = None
		while True:
			ld = None
			try:
				ld = self.leader(timeout=max(1, end - time.monotonic()))
			except Fail:
				pass
			ms = ld.members() if ld else None
			me = next((m for m in ms or [] if m["id"] == n.id), None)
			st = n.status()
			last = (ms, st)
			if me and me["role"] == "voter" and st and st.get("ready") is not False:
				return
			if time.monotonic() > end:
				raise Fail("%s (id %s) not a ready voter within %ds: members %s, status %s\n%s"
					% (n.name, n.id, timeout, last[0], last[1] and last[1].get("raw"),
					n.log_tail(40)))
			time.sleep(0.2)

	def wait_converged(self, timeout=60):
		"""Until every running node's applied index equals the leader's commit index (stable
		over two polls). Returns that index."""
		end = time.monotonic() + timeout
		prev = None
		last = {}
		while True:
			try:
				ld = self.leader(timeout=max(1, end - time.monotonic()))
				last = {n: n.status() for n in self.nodes if n.running()}
				ls = last.get(ld)
				commit = ls and ls.get("commit")
				if commit and all(s and s.get("applied") == commit and s.get("ready") is not False
						for s in last.values()):
					if prev == commit:
						return commit
					prev = commit
				else:
					prev = None
			except Fail:
				pass
			if time.monotonic() > end:
				raise Fail("cluster did not converge within %ds: %s" % (timeout, self.describe(last)))
			time.sleep(0.3)

	def describe(self, statuses=None):
		statuses = statuses if statuses is not None else {n: n.status() for n in self.usable()}
		parts = []
		for n in self.nodes:
			s = statuses.get(n)
			state = "down" if not n.running() else "paused" if n.paused else s and {k: s.get(k)
				for k in ("id", "state", "leader", "term", "commit", "applied", "ready")}
			parts.append("%s(id %s): %s" % (n.name, n.id, state))
		return "; ".join(parts)

	# -- admin through a member
	def ctl(self, *args, **kw):
		return self.leader().ctl(*args, **kw)

	def provision(self, domain, accounts):
		"""domain add + account add {addr: pw} on the leader, then wait until every node
		applied it."""
		ld = self.leader()
		ld.add_domain(domain)
		for a, pw in accounts.items():
			ld.add_account(a, pw)
		self.wait_converged(timeout=60)

	# -- failures
	def remove(self, n):
		ld = self.leader(exclude=(n,))
		ld.ctl("cluster", "remove", n.id, timeout=60)

	def wipe_rejoin(self, n, timeout=JOIN_TIMEOUT):
		"""Remove n from the cluster, wipe it, join it again under a fresh id."""
		self.remove(n)
		n.wipe()
		return self.join(n, timeout=timeout)

	def digest(self, per_node=12):
		"""The warn/error/sanitizer lines of every node's log, repeated messages collapsed
		(ids and numbers masked) with a count: what to show when a cluster test fails."""
		out = []
		for x in self.nodes:
			seen, order = {}, []
			for ln in x.log_text().splitlines():
				if not (" warn " in ln or " error " in ln or "ERROR: " in ln or "runtime error" in ln
						or ln.startswith("mailraftd:")):
					continue
				body = ln[25:] if ln[:4].isdigit() else ln
				key = re.sub(r"\b[0-9A-Fa-f]{8,}\b|\d+", "#", body)
				if key not in seen:
					seen[key] = [0, ln]
					order.append(key)
				seen[key][0] += 1
			out.append("--- %s (%s): %d kinds of warn/error lines ---" % (x.name, x.root, len(order)))
			for key in order[:per_node]:
				cnt, ln = seen[key]
				out.append("  %s%s" % ("(x%d) " % cnt if cnt > 1 else "", ln[:300]))
		return "\n".join(out)

	def logs(self, n=30):
		return "\n".join("--- %s (%s) ---\n%s" % (x.name, x.root, x.log_tail(n)) for x in self.nodes)

	def stop_all(self):
		"""SIGTERM every running node; returns {name: exit code}."""
		return {n.name: n.stop() for n in self.nodes if n.proc is not None}

	def cleanup(self):
		for n in self.nodes:
			n.cleanup()


# ---------------------------------------------------------------- SMTP load

class Delivery:
	"""Deliver `count` messages with `workers` threads, message i to rcpts[i % len] through
	targets()[i % len] (one SMTP session per attempt). A failed attempt (no 250) is retried on
	the next target with a new Message-ID, up to `attempts` times. Results:
	accepted {msgid: (rcpt, node name, seconds DATA end -> 250)}, failed {msgid: (rcpt, node
	name, reason)} (failed attempts may or may not have been stored), done counter."""

	def __init__(self, targets, rcpts, count, workers=6, attempts=4, timeout=30, size=0,
			retry_delay=0.05, tag=None):
		self.targets, self.rcpts, self.count = targets, rcpts, count
		self.workers, self.attempts, self.timeout = workers, attempts, timeout
		self.retry_delay = retry_delay
		self.filler = ("x" * 75 + "\r\n") * (size // 77) if size else ""
		self.tag = tag or rand_token(3)
		self.accepted, self.failed = {}, {}
		self.done = 0
		self.lock = threading.Lock()
		self.next = 0
		self.threads = []
		self.errors = []
		self.t0 = self.t1 = None

	def start(self):
		self.t0 = time.monotonic()
		for i in range(self.workers):
			t = threading.Thread(target=self._worker, daemon=True, name="smtp-%d" % i)
			t.start()
			self.threads.append(t)
		return self

	def join(self, timeout):
		end = time.monotonic() + timeout
		for t in self.threads:
			t.join(max(0.1, end - time.monotonic()))
		check(not any(t.is_alive() for t in self.threads), "SMTP load not finished within %ds"
			" (%d of %d done)" % (timeout, self.done, self.count))
		self.t1 = time.monotonic()
		if self.errors:
			raise Fail("SMTP load worker crashed: %s" % self.errors[0])
		return self

	def progress(self):
		return self.done / float(self.count or 1)

	def seconds(self):
		return (self.t1 or time.monotonic()) - self.t0

	def _worker(self):
		try:
			while True:
				with self.lock:
					i = self.next
					if i >= self.count:
						return
					self.next += 1
				self._deliver(i)
				with self.lock:
					self.done += 1
		except Exception as e:  # noqa: BLE001 - reported by join
			self.errors.append(repr(e))

	def message(self, i, attempt):
		rcpt = self.rcpts[i % len(self.rcpts)]
		mid = "<c%s-%d-%d-%s@cluster.test>" % (self.tag, i, attempt, rand_token(4))
		body = ("From: <load@remote.test>\r\nTo: <%s>\r\nSubject: cluster %d/%d\r\n"
			"Message-ID: %s\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\nmessage %d\r\n%s"
			% (rcpt, i, attempt, mid, i, self.filler))
		return rcpt, mid, body.encode()

	def _deliver(self, i):
		for attempt in range(self.attempts):
			targets = self.targets()
			node = targets[(i + attempt) % len(targets)]
			rcpt, mid, msg = self.message(i, attempt)
			ok, info = smtp_once(node.ports["smtp"], rcpt, msg, self.timeout)
			with self.lock:
				if ok:
					self.accepted[mid] = (rcpt, getattr(node, "name", "node"), info)
					return
				self.failed[mid] = (rcpt, getattr(node, "name", "node"), info)
			time.sleep(self.retry_delay)

	def latencies(self):
		return sorted(v[2] for v in self.accepted.values())


def smtp_once(port, rcpt, msg, timeout):
	"""One SMTP session, one message: (True, seconds from DATA end to the 250) or (False,
	reason). The reason starts with "before-data" when the message was never sent."""
	stage = "before-data"
	s = None
	try:
		s = smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=timeout)
		s.ehlo()
		code, resp = s.mail("load@remote.test")
		if code != 250:
			return False, "%s MAIL %d %r" % (stage, code, resp)
		code, resp = s.rcpt(rcpt)
		if code not in (250, 251):
			return False, "%s RCPT %d %r" % (stage, code, resp)
		s.putcmd("data")
		code, resp = s.getreply()
		if code != 354:
			return False, "%s DATA %d %r" % (stage, code, resp)
		stage = "after-data"
		q = smtplib._quote_periods(msg)   # msg: bytes with CRLF line ends
		if q[-2:] != b"\r\n":
			q += b"\r\n"
		q += b".\r\n"
		s.send(q)
		t0 = time.monotonic()
		code, resp = s.getreply()
		lat = time.monotonic() - t0
		if code != 250:
			return False, "%s %d %r" % (stage, code, resp)
		try:
			s.quit()
		except Exception:  # noqa: BLE001
			pass
		s = None
		return True, lat
	except (OSError, smtplib.SMTPException) as e:
		return False, "%s %s: %s" % (stage, type(e).__name__, e)
	finally:
		if s is not None:
			try:
				s.close()
			except Exception:  # noqa: BLE001
				pass


# ---------------------------------------------------------------- IMAP reading

MSGID_RE = re.compile(rb"Message-ID:\s*(<[^>\r\n]*>)", re.I)
UID_RE = re.compile(rb"\bUID (\d+)")


def imap_msgids(node, user, pw, mailbox="INBOX"):
	"""(uidvalidity, [(uid, message-id or None)] in sequence order) of a mailbox on one node,
	by UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]) over plain IMAP."""
	m = node.imap(user, pw, mode="imap")
	try:
		typ, data = m.select(mailbox, readonly=True)
		check(typ == "OK", "%s: SELECT %s: %r" % (node.name, mailbox, data))
		uv = m.response("UIDVALIDITY")[1]
		uidvalidity = int(uv[0]) if uv and uv[0] else None
		out = []
		if int(data[0] or 0) == 0:
			return uidvalidity, out
		typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
		check(typ == "OK", "%s: UID FETCH: %r" % (node.name, data))
		for k, d in enumerate(data):
			if not isinstance(d, tuple):
				continue
			um = UID_RE.search(d[0])
			if um is None and k + 1 < len(data) and isinstance(data[k + 1], bytes):
				um = UID_RE.search(data[k + 1])   # UID after the literal
			mm = MSGID_RE.search(d[1])
			check(um is not None, "%s: FETCH response without UID: %r" % (node.name, d[0]))
			out.append((int(um.group(1)), mm.group(1).decode() if mm else None))
		return uidvalidity, out
	finally:
		try:
			m.logout()
		except Exception:  # noqa: BLE001
			pass

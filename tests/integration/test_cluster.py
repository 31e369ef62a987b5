"""test_cluster.py - three real mailraftd processes forming a cluster on one host (issue 3):
formed the documented way (cluster init, cluster add -> join token, cluster join, start), then
MRTEST_CLUSTER_MESSAGES (default 1,000) messages delivered by SMTP from several concurrent
clients, round-robin over all three nodes to a few recipients, each attempt with a unique
Message-ID, while (a) the leader is SIGKILLed mid-stream and restarted, (b) a follower is
SIGSTOPped for a few seconds and resumed, (c) a follower is removed, wiped and joins again.
After healing (every node's applied index = the leader's commit index), read by IMAP from
EVERY node: each 250'd message is in its recipient's INBOX exactly once, failed attempts at
most once, nothing unknown, UIDs strictly increasing and identical on every node (same
UIDVALIDITY), and no UID seen during the run was later given to another message. Finally all
daemons stop cleanly (exit 0, no sanitizer report) and every replica's databases, opened
offline with the master key (tests/tools/dbdump), hold identical rows and pass
PRAGMA integrity_check."""
import difflib
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import mrcluster  # noqa: E402
from mrtest import Fail, check, eq, say  # noqa: E402

DOMAIN = "cluster.test"
RCPTS = {"r%d@%s" % (i, DOMAIN): "pw-r%d" % i for i in range(1, 5)}
MESSAGES = int(os.environ.get("MRTEST_CLUSTER_MESSAGES", "1000"))
EVENTS = os.environ.get("MRTEST_CLUSTER_EVENTS", "kill,pause,wipe").split(",")   # subset, for debugging
WORKERS = 6
# every recipient exists: a 5xx would make a real sender bounce the message (temporary
# trouble such as a node that is not ready yet must answer 4xx)
PERMANENT = re.compile(r"^(?:before|after)-data (?:MAIL |RCPT |DATA )?5\d\d ")
LOAD_TIMEOUT = 200

mrtest.TEST_TIMEOUT = 280   # the load test: ~1,000 messages + three failures under ASan
mrtest.START_TIMEOUT = 180  # setup alarm = this + 60: forming three nodes under ASan
mrtest.FILE_BUDGET = 540


def setup(env):
	t0 = time.monotonic()
	# a short snapshot interval: the wiped node rejoins behind a snapshot and must fetch copies
	env.cluster = mrcluster.Cluster(3, prefix="cl", env=env, conf={"cluster_snapshot_entries": "128"})
	env.cluster.form()
	env.cluster.provision(DOMAIN, RCPTS)
	env.known = set()        # every Message-ID we ever sent (accepted or not)
	env.accepted = {}        # Message-ID -> recipient, 250'd
	env.failed = {}          # Message-ID -> recipient, no 250
	say("# cluster formed and provisioned in %.1fs: %s" % (time.monotonic() - t0, env.cluster.describe()))


def test_members_and_replicated_delivery(env):
	c = env.cluster
	ld = c.leader()
	ms = ld.members()
	check(ms is not None, "cluster members --json failed on the leader")
	voters = sorted(m["id"] for m in ms if m["role"] == "voter")
	eq(voters, sorted(n.id for n in c.nodes), "voters")
	# a message accepted by one node is readable on the others
	rcpt = sorted(RCPTS)[0]
	d = mrcluster.Delivery(lambda: [c.nodes[1]], [rcpt], 1, workers=1, attempts=1, tag="first")
	d.start().join(60)
	eq(len(d.accepted), 1, "first delivery through node 2: %r" % d.failed)
	mid = next(iter(d.accepted))
	env.known.add(mid)
	env.accepted[mid] = rcpt
	for n in c.nodes:
		mrtest.wait_for(lambda: mid in [x for _, x in mrcluster.imap_msgids(n, rcpt, RCPTS[rcpt])[1]],
			timeout=30, what="%s to show the message delivered through %s" % (n.name, c.nodes[1].name))


class Observer:
	"""Reads one mailbox's UID -> Message-ID map from a random usable node every ~0.5 s."""

	def __init__(self, cluster, rcpt):
		self.cluster, self.rcpt = cluster, rcpt
		self.snaps = []
		self.errors = 0
		self.stop_ev = threading.Event()
		self.t = threading.Thread(target=self.run, daemon=True)

	def run(self):
		while not self.stop_ev.is_set():
			ns = [n for n in self.cluster.nodes if n.usable()]
			if ns:
				n = random.choice(ns)
				try:
					self.snaps.append((n.name, mrcluster.imap_msgids(n, self.rcpt, RCPTS[self.rcpt])))
				except Exception:  # noqa: BLE001 - nodes die on purpose here
					self.errors += 1
			self.stop_ev.wait(0.5)


def wait_progress(load, frac, timeout=120):
	end = time.monotonic() + timeout
	while load.progress() < frac and any(t.is_alive() for t in load.threads):
		if time.monotonic() > end:
			raise Fail("load stuck at %d of %d" % (load.done, load.count))
		time.sleep(0.05)
	return load.done


def follower(c, exclude=()):
	ld = c.leader()
	return next(n for n in c.nodes if n is not ld and n.usable() and n not in exclude)


def kill_leader(c, ld, at, events, t0):
	ld.kill()
	events.append("%.1fs kill -9 leader %s at %d/%d" % (time.monotonic() - t0, ld.name, at, MESSAGES))
	newld = c.wait_leader(timeout=30)
	events.append("%.1fs new leader %s" % (time.monotonic() - t0, newld.name))
	time.sleep(2)
	ld.start(wait=False)
	ld.wait_ready(90)
	events.append("%.1fs %s restarted" % (time.monotonic() - t0, ld.name))


def test_failures_under_load(env):
	try:
		failures_under_load(env)
	except Fail as e:
		raise Fail("%s\n%s" % (e, env.cluster.digest()))


def failures_under_load(env):
	c = env.cluster
	rcpts = sorted(RCPTS)
	load = mrcluster.Delivery(lambda: c.nodes, rcpts, MESSAGES, workers=WORKERS, timeout=30)
	obs = Observer(c, rcpts[0])
	events = []
	t0 = time.monotonic()
	load.start()
	obs.t.start()
	try:
		# (a) SIGKILL the leader mid-stream, restart it 2 s later
		at = wait_progress(load, 0.15)
		ld = c.leader()
		if "kill" in EVENTS:
			kill_leader(c, ld, at, events, t0)
		# (b) SIGSTOP a follower for 3 s
		at = wait_progress(load, 0.35)
		if "pause" in EVENTS:
			f = follower(c)
			f.pause()
			events.append("%.1fs SIGSTOP follower %s at %d/%d" % (time.monotonic() - t0, f.name, at, MESSAGES))
			time.sleep(3)
			f.resume()
			events.append("%.1fs SIGCONT %s" % (time.monotonic() - t0, f.name))
		# (c) remove, wipe and rejoin a follower
		at = wait_progress(load, 0.55)
		if "wipe" in EVENTS:
			w = follower(c)
			old = w.id
			c.wipe_rejoin(w)
			events.append("%.1fs %s wiped at %d/%d, rejoined as id %d (was %d)" % (time.monotonic() - t0,
				w.name, at, MESSAGES, w.id, old))
			env.rejoined = w
		load.join(LOAD_TIMEOUT)
		events.append("%.1fs load done: %d accepted, %d failed attempts, %.1f msg/s"
			% (time.monotonic() - t0, len(load.accepted), len(load.failed), len(load.accepted) / load.seconds()))
	finally:
		obs.stop_ev.set()
		for e in events:
			say("#   " + e)
	obs.t.join(30)
	for mid, (rcpt, _, _) in load.accepted.items():
		env.accepted[mid] = rcpt
	for mid, (rcpt, _, _) in load.failed.items():
		env.failed[mid] = rcpt
	env.known.update(load.accepted, load.failed)
	reasons = {}
	for _, (_, node, why) in load.failed.items():
		key = "%s %s" % (node, str(why)[:60])
		reasons[key] = reasons.get(key, 0) + 1
	for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:8]:
		say("#   failed x%d: %s" % (v, k))
	bounced = [(mid, node, why) for mid, (_, node, why) in load.failed.items() if PERMANENT.match(str(why))]
	check(not bounced, "%d permanent (5xx) refusals of valid recipients, e.g. %r" % (len(bounced), bounced[:3]))
	check(len(load.accepted) >= MESSAGES * 0.9, "only %d of %d messages accepted" % (len(load.accepted), MESSAGES))
	commit = c.wait_converged(timeout=90)
	rejoined = getattr(env, "rejoined", None)
	if rejoined is not None and MESSAGES >= 300:
		# with a snapshot every 128 entries the log was compacted long before the rejoin: the
		# new node must have caught up by fetching database copies from a peer
		check(re.search(r"fetched db=\S+ index=\d+", rejoined.log_text()) is not None,
			"%s caught up without fetching any database copy" % rejoined.name)
	say("#   converged at commit index %d after %.1fs" % (commit, time.monotonic() - t0))
	verify_mailboxes(env, obs)


def verify_mailboxes(env, obs=None):
	c = env.cluster
	for rcpt in sorted(RCPTS):
		views = {}
		for n in c.nodes:
			views[n.name] = mrcluster.imap_msgids(n, rcpt, RCPTS[rcpt])
		ref_name = c.nodes[0].name
		uidvalidity, ref = views[ref_name]
		for name, (uv, lst) in views.items():
			eq(uv, uidvalidity, "UIDVALIDITY of %s on %s vs %s" % (rcpt, name, ref_name))
			uids = [u for u, _ in lst]
			check(all(a < b for a, b in zip(uids, uids[1:])), "%s: UIDs of %s not strictly increasing" % (name, rcpt))
			if lst != ref:
				diff = [x for x in difflib.unified_diff(["%d %s" % x for x in ref], ["%d %s" % x for x in lst],
					ref_name, name, lineterm="")][:40]
				raise Fail("INBOX of %s differs between nodes:\n%s" % (rcpt, "\n".join(diff)))
		counts = {}
		for _, mid in ref:
			counts[mid] = counts.get(mid, 0) + 1
		unknown = [m for m in counts if m not in env.known]
		check(not unknown, "%s: %d messages we never sent, e.g. %r" % (rcpt, len(unknown), unknown[:3]))
		missing = [m for m, r in env.accepted.items() if r == rcpt and counts.get(m, 0) != 1]
		check(not missing, "%s: %d accepted messages not exactly once, e.g. %r" % (rcpt, len(missing),
			[(m, counts.get(m, 0)) for m in missing[:5]]))
		dup = [m for m, r in env.failed.items() if r == rcpt and counts.get(m, 0) > 1]
		check(not dup, "%s: failed attempts stored more than once: %r" % (rcpt, dup[:5]))
		if obs is not None and rcpt == obs.rcpt:
			final = dict(ref)
			seen = 0
			for name, (uv, lst) in obs.snaps:
				eq(uv, uidvalidity, "UIDVALIDITY seen on %s during the run" % name)
				for uid, mid in lst:
					seen += 1
					check(final.get(uid) == mid, "UID %d held %s on %s during the run, now %s (reused?)"
						% (uid, mid, name, final.get(uid)))
			say("#   %s: %d messages on every node, %d failed attempts stored; %d snapshots (%d UIDs) "
				"consistent" % (rcpt, len(ref), sum(1 for m, r in env.failed.items() if r == rcpt and counts.get(m)),
				len(obs.snaps), seen))


def dbdump(node):
	tool = os.path.join(mrtest.ARGS.bin_dir, "tests", "dbdump")
	check(os.access(tool, os.X_OK), "dbdump not built: %s" % tool)
	r = subprocess.run([tool, node.data_dir], capture_output=True, timeout=120, env=node._env())
	out = r.stdout.decode("utf-8", "replace")
	err = r.stderr.decode("utf-8", "replace")
	for p in mrtest.SANITIZER_PATTERNS:
		check(p not in err, "sanitizer report from dbdump on %s:\n%s" % (node.name, err[:3000]))
	summary = [ln for ln in out.splitlines() if ln.startswith("db ")]
	check(r.returncode == 0, "dbdump %s -> rc %d:\n%s\n%s" % (node.name, r.returncode, "\n".join(summary), err[:2000]))
	return out, summary


def test_replicas_identical_offline(env):
	c = env.cluster
	c.wait_converged(timeout=60)
	for name, rc in c.stop_all().items():
		eq(rc, 0, "exit code of %s after SIGTERM" % name)
	dumps = {n.name: dbdump(n) for n in c.nodes}
	ref = c.nodes[0].name
	for name, (out, summary) in dumps.items():
		check(all(" integrity=ok " in s for s in summary), "integrity_check on %s: %s" % (name, summary))
		check(len(summary) >= 1 + len(RCPTS), "%s holds %d databases" % (name, len(summary)))
		if out != dumps[ref][0]:
			diff = list(difflib.unified_diff(dumps[ref][0].splitlines(), out.splitlines(), ref, name,
				lineterm="", n=1))[:60]
			raise Fail("logical content of %s differs from %s:\n%s" % (name, ref, "\n".join(diff)))
	say("#   %d replicas identical: %s" % (len(dumps), "; ".join(dumps[ref][1])))


def test_nothing_readable_at_rest(env):
	"""Every replica's data directory (databases, raft log and snapshots, fetch copies, the
	applied record) holds no Message-ID, recipient address or domain in clear, and no database
	file in plain SQLite format (the daemons were stopped by the previous test)."""
	needles = [m.strip("<>").encode() for m in sorted(env.accepted)[:200]]
	needles += [r.encode() for r in RCPTS] + [DOMAIN.encode()]
	check(len(needles) > len(RCPTS) + 1, "no accepted messages to look for")
	for n in env.cluster.nodes:
		files = 0
		for dp, _, fns in os.walk(n.data_dir):
			for fn in fns:
				path = os.path.join(dp, fn)
				if not os.path.isfile(path) or os.path.islink(path):
					continue
				with open(path, "rb") as f:
					data = f.read()
				files += 1
				check(not data.startswith(b"SQLite format 3"), "plaintext SQLite file %s" % path)
				hit = next((x for x in needles if x in data), None)
				check(hit is None, "%r readable in %s" % (hit, path))
		check(files > 0, "no files under %s" % n.data_dir)
		check(os.path.isdir(os.path.join(n.data_dir, "raft")), "%s has no raft directory" % n.name)


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

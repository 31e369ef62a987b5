"""test_imap_cluster.py - real IMAP clients against the nodes of ONE three-node cluster (issue 4:
"at least one run of each against a follower node", "mbsync round-trips cleanly against every
node", "sessions on one mailbox on different nodes see each other's changes"). The cluster is
formed the documented way by mrcluster.py; the client set-ups are those of the single-node
client tests (clients_common.py). mbsync: a Maildir of a couple hundred mailgen messages (both
sides seeded) synced two ways against a follower, again with no changes (nothing moves), then
the same Maildir and sync state against the leader and the other follower: no-op first (the
replicas hold the same UIDs, flags and content), then changes made locally and on another node
propagate, and every node ends up with exactly the Maildir's messages (no duplicates, same
flags, same UIDs). offlineimap (IMAPS) and interimap (local account on one follower over
STARTTLS, remote account on the other over IMAPS): one sync plus a no-op run each. Cross-node
sessions (raw IMAP over TLS, CONDSTORE enabled): sessions IDLE on a follower and on the leader
while a session on the other follower APPENDs, STOREs and UID EXPUNGEs; they must see the
untagged EXISTS, FETCH (FLAGS, MODSEQ equal to the writer's) and EXPUNGE within a bounded
time; the same with NOOP polling instead of IDLE; one writer per node APPENDing to one mailbox
at the same time gets distinct UIDs that every node then shows for the same messages; after
convergence every node reports the same HIGHESTMODSEQ, UIDNEXT and per-message MODSEQs. Every client run and wait is bounded; every
daemon is stopped (and health-checked) by the mrtest runner."""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import mrcluster  # noqa: E402
import mailgen  # noqa: E402
import clients_common as cc  # noqa: E402
from mrtest import Fail, check, eq, say, quiet_close  # noqa: E402

DOMAIN = "imapcl.test"
PW = "cluster-imap-pw-1"
SYNC, OI, LEFT, RIGHT, CONC = ("%s@%s" % (u, DOMAIN) for u in ("sync", "oi", "left", "right", "conc"))
ACCOUNTS = {a: PW for a in (SYNC, OI, LEFT, RIGHT, CONC)}
# mbsync: 200 messages (server 80 + 40, local 50 + 30); the others smaller (time box under ASan)
MB_INBOX, MB_PROJ, MB_LOCAL_INBOX, MB_LOCAL_FOLDER = 80, 40, 50, 30
OI_INBOX, OI_PROJ, OI_LOCAL_INBOX, OI_LOCAL_FOLDER = 30, 15, 15, 10
II_A_INBOX, II_A_PROJ, II_B_INBOX = 30, 15, 20
WAKE_TIMEOUT = 10   # a change on one node seen by a session on another (bounded wait)

mrtest.TEST_TIMEOUT = 150
mrtest.START_TIMEOUT = 180   # setup alarm = this + 60: forming three nodes under ASan
mrtest.FILE_BUDGET = 540


def setup(env):
	for name, pkg in (("mbsync", "isync"), ("offlineimap", "offlineimap3"), ("interimap", "interimap")):
		cc.need_bin(name, pkg)
	t0 = time.monotonic()
	c = env.cluster = mrcluster.Cluster(3, prefix="ic", env=env)
	c.form()
	c.provision(DOMAIN, ACCOUNTS)
	ld, f1, f2 = roles(env)
	env.dir = c.nodes[0].root
	say("# cluster formed in %.1fs: leader %s, followers %s %s" % (time.monotonic() - t0,
		ld.name, f1.name, f2.name))


def roles(env):
	"""(leader, follower, other follower) as they are now. Nothing is killed here, but under
	sanitizers on a loaded host a leader may still step down (election timeout 800 ms): each
	test picks its roles when it starts and notes any term change since the previous test."""
	ld = env.cluster.leader()
	st = ld.status() or {}
	term = st.get("term")
	prev = getattr(env, "term", None)
	if prev is not None and term != prev:
		say("# note: leader is now %s, term %s -> %s (no fault injected)" % (ld.name, prev, term))
	env.term = term
	f1, f2 = [n for n in env.cluster.nodes if n is not ld]
	return ld, f1, f2


def converged(env):
	return env.cluster.wait_converged(timeout=60)


def states_everywhere(env, user):
	"""{node: server_state} of one account on every node, after convergence."""
	converged(env)
	return {n: mailgen.server_state(n, user, PW) for n in env.cluster.nodes}


def check_replicas_equal(states, what):
	"""Every node holds the same folders, messages, content, flags and UIDs."""
	nodes = list(states)
	ref = states[nodes[0]]
	for n in nodes[1:]:
		if states[n] != ref:
			for box in sorted(set(ref) | set(states[n])):
				a, b = ref.get(box, {}), states[n].get(box, {})
				if a != b:
					diff = sorted(m for m in set(a) | set(b) if a.get(m) != b.get(m))[:5]
					raise Fail("%s: %s differs between %s and %s in %s (%d vs %d messages), e.g. %s"
						% (what, box, nodes[0].name, n.name, box, len(a), len(b),
						[(m, a.get(m, "-")[1:] if m in a else None, b.get(m, "-")[1:] if m in b else None)
						for m in diff]))
			raise Fail("%s: %s and %s differ" % (what, nodes[0].name, n.name))
	return ref


# ---------------------------------------------------------------- mbsync

def mb_run(env, node):
	out = cc.run_mbsync(env.mb_rc[node], env.dir)
	env.mb_outs.append((node.name, out))
	with open(os.path.join(env.dir, "mbsync-%d-%s.log" % (len(env.mb_outs), node.name)), "w") as f:
		f.write(out)   # kept with --keep
	return out


def mb_same(env, node):
	srv, loc = mailgen.server_state(node, SYNC, PW), mailgen.local_state(env.mb_local)
	mailgen.check_same(srv, loc)
	return srv, loc


def mb_noop(env, node, srv0, files0):
	"""An mbsync run against node that must change nothing on either side: the server state
	(UIDs, flags, content) and the local Maildir file names (which carry flags and UIDs) stay
	the same (mbsync prints no transfer summary when not on a terminal)."""
	out = mb_run(env, node)
	srv, loc = mb_same(env, node)
	eq(srv, srv0, "server state (UIDs, flags, content) on %s after a no-change mbsync" % node.name)
	eq(mailgen.local_files(loc), files0, "local Maildir files after a no-change mbsync against %s"
		% node.name)
	check("new message" not in out, "mbsync reports a transfer on a no-change run against %s:\n%s"
		% (node.name, out[-1500:]))


def test_mbsync_follower_two_way(env):
	_, f1, _ = roles(env)
	env.mb_node = f1
	say("# mbsync first against follower %s" % f1.name)
	cc.seed_server(f1, SYNC, PW, MB_INBOX, MB_PROJ)
	env.mb_local = os.path.join(env.dir, "mbsync-maildir")
	cc.seed_local(env.mb_local, MB_LOCAL_INBOX, MB_LOCAL_FOLDER, *cc.MBSYNC_NAMES)
	# one rc per node (own port and certificate), one Maildir and one sync state for all
	env.mb_rc = {n: cc.mbsync_rc(os.path.join(env.dir, "mbsyncrc-%s" % n.name), n.ports["imap"],
		SYNC, PW, n.cert_path, env.mb_local) for n in env.cluster.nodes}
	env.mb_outs = []
	mb_run(env, f1)
	srv, loc = mb_same(env, f1)
	for box in ("INBOX", "Projects", "Local"):
		check(box in srv, "folder %s after the first sync: %r" % (box, sorted(srv)))
	eq(len(srv["INBOX"]), MB_INBOX + MB_LOCAL_INBOX, "INBOX size")
	eq(len(srv["Projects"]), MB_PROJ, "Projects size")
	eq(len(srv["Local"]), MB_LOCAL_FOLDER, "Local size (created on the server through a follower)")
	eq(srv["INBOX"]["<srv.7@gen.test>"][0], mailgen.digest(mailgen.message(7, "srv")), "content")
	eq(srv["Local"]["<lf.3@gen.test>"][0], mailgen.digest(mailgen.message(3, "lf")), "uploaded")
	eq(srv["Projects"]["<arc.5@gen.test>"][1], "FS", "flags pulled")
	eq(srv["Local"]["<lf.4@gen.test>"][1], "FS", "flags pushed")
	env.mb_first = (srv, loc)


def test_mbsync_follower_no_changes(env):
	srv0, loc0 = env.mb_first
	mb_noop(env, env.mb_node, srv0, mailgen.local_files(loc0))


def test_mbsync_every_node(env):
	ld = roles(env)[0]
	first = env.mb_node
	others = [n for n in env.cluster.nodes if n is not first]
	third = next(n for n in others if n is not ld) if first is not ld else others[1]
	say("# mbsync now against %s (leader) and %s; server changes through %s" % (ld.name,
		" ".join(n.name for n in others if n is not ld), third.name))
	srv0, loc0 = env.mb_first
	files0 = mailgen.local_files(loc0)
	# the replicas hold what the follower holds, with the same UIDs
	ref = check_replicas_equal(states_everywhere(env, SYNC), "after the first sync")
	eq(ref, srv0, "replicated state vs what the follower showed")
	# the same Maildir + sync state against the leader and the other follower: nothing to do
	for n in sorted(others, key=lambda n: n is not ld):   # the leader first
		mb_noop(env, n, srv0, files0)
	# changes on both sides: locally (flag, unflag, delete) and on the server through f2
	cc.make_changes(third, SYNC, PW, srv0, loc0)
	converged(env)
	# sync against the leader: both sides' changes meet there
	mb_run(env, ld)
	srv, loc = mb_same(env, ld)
	cc.check_changes(srv, loc, MB_INBOX + MB_LOCAL_INBOX - 3)
	# every node converges to exactly the Maildir's messages and flags, same UIDs everywhere
	ref = check_replicas_equal(states_everywhere(env, SYNC), "after the changes")
	eq(ref, srv, "replicated state vs what the leader showed mbsync")
	mailgen.check_same(ref, mailgen.local_state(env.mb_local))
	# and a further run against each other node changes nothing
	files = mailgen.local_files(loc)
	for n in [x for x in env.cluster.nodes if x is not ld]:
		mb_noop(env, n, srv, files)


# ---------------------------------------------------------------- offlineimap, interimap

def test_offlineimap_follower(env):
	f = roles(env)[2]
	say("# offlineimap against follower %s" % f.name)
	cc.seed_server(f, OI, PW, OI_INBOX, OI_PROJ)
	local = os.path.join(env.dir, "oi-maildir")
	cc.seed_local(local, OI_LOCAL_INBOX, OI_LOCAL_FOLDER, *cc.OI_NAMES)
	rc = cc.offlineimap_rc(os.path.join(env.dir, "offlineimaprc"), os.path.join(env.dir, "oi-meta"),
		f.ports["imaps"], OI, PW, f.cert_path, local)
	cc.run_offlineimap(rc, env.dir, os.path.join(env.dir, "offlineimap-1.log"), timeout=90)
	srv, loc = mailgen.server_state(f, OI, PW), mailgen.local_state(local)
	mailgen.check_same(srv, loc)
	eq(len(srv["INBOX"]), OI_INBOX + OI_LOCAL_INBOX, "INBOX size")
	eq(len(srv["Projects"]), OI_PROJ, "Projects size")
	eq(len(srv["Local"]), OI_LOCAL_FOLDER, "Local size (created through the follower)")
	eq(srv["Projects"]["<arc.5@gen.test>"][1], "FS", "flags pulled")
	eq(srv["Local"]["<lf.4@gen.test>"][1], "FS", "flags pushed")
	files0 = mailgen.local_files(loc)
	cc.run_offlineimap(rc, env.dir, os.path.join(env.dir, "offlineimap-2.log"), timeout=90)
	srv1, loc1 = mailgen.server_state(f, OI, PW), mailgen.local_state(local)
	mailgen.check_same(srv1, loc1)
	eq(srv1, srv, "server state after a no-change offlineimap run")
	eq(mailgen.local_files(loc1), files0, "local files after a no-change offlineimap run")
	check_replicas_equal(states_everywhere(env, OI), "offlineimap account")


def test_interimap_followers(env):
	_, f1, f2 = roles(env)
	say("# interimap: local account on follower %s, remote on follower %s" % (f1.name, f2.name))
	cc.seed_server(f1, LEFT, PW, II_A_INBOX, II_A_PROJ, "a", "ap")
	cc.seed_server(f2, RIGHT, PW, II_B_INBOX, 0, "b",
		inbox_flags=lambda i: "(\\Answered \\Seen)" if i % 4 == 0 else None)
	d = os.path.join(env.dir, "interimap")
	os.makedirs(d, exist_ok=True)
	conf = cc.interimap_conf(os.path.join(d, "config"), d,
		(f1.ports["imap"], LEFT, PW, f1.cert_path), (f2.ports["imaps"], RIGHT, PW, f2.cert_path))
	cc.run_interimap(conf, d, os.path.join(d, "run-1.log"), timeout=90)
	a, b = mailgen.server_state(f1, LEFT, PW), mailgen.server_state(f2, RIGHT, PW)
	mailgen.check_same(a, b)
	eq(len(a["INBOX"]), II_A_INBOX + II_B_INBOX, "INBOX size")
	eq(len(b["Projects"]), II_A_PROJ, "Projects size on the remote account")
	eq(a["INBOX"]["<b.4@gen.test>"][1], "RS", "flags copied remote -> local")
	eq(b["Projects"]["<ap.5@gen.test>"][1], "FS", "flags copied local -> remote")
	out = cc.run_interimap(conf, d, os.path.join(d, "run-2.log"), timeout=90)
	check(not cc.interimap_changed(out), "interimap changed something on a no-op run:\n%s"
		% out[-2000:])
	a1, b1 = mailgen.server_state(f1, LEFT, PW), mailgen.server_state(f2, RIGHT, PW)
	eq(a1, a, "local account after a no-op interimap run")
	eq(b1, b, "remote account after a no-op interimap run")
	for user, st in ((LEFT, a1), (RIGHT, b1)):
		eq(check_replicas_equal(states_everywhere(env, user), user), st, "%s on every node" % user)


# ---------------------------------------------------------------- cross-node sessions

class Sess:
	"""A raw IMAP session over implicit TLS with CONDSTORE enabled and INBOX selected; every
	read is bounded; untagged lines are kept in self.seen."""

	def __init__(self, node, user, label):
		self.node, self.label = node, label
		self.ln = mrtest.Line(node.ports["imaps"], tls=True)
		self.n = 0
		self.seen = []
		g = self.line(15)
		check(g and g.startswith(b"* OK"), "%s greeting: %r" % (label, g))
		self.cmd('LOGIN "%s" "%s"' % (user, PW))
		self.cmd("ENABLE CONDSTORE")
		r = self.cmd("SELECT INBOX")
		self.exists = int(next(x for x in r if x.endswith(b" EXISTS")).split()[1])
		self.hms = hms_of(r)

	def line(self, timeout):
		"""One line, or None on timeout (raises on EOF)."""
		self.ln.sock.settimeout(max(0.01, timeout))
		try:
			ln = self.ln.readline()
		except (socket.timeout, TimeoutError):
			return None
		if ln is None:
			raise Fail("%s on %s: connection closed" % (self.label, self.node.name))
		if ln.startswith(b"* "):
			self.seen.append(ln)
		return ln

	def cmd(self, c, ok=True, timeout=30, lit=None):
		self.n += 1
		tag = "%s%d" % (self.label, self.n)
		if lit is None:
			self.ln.cmd("%s %s" % (tag, c))
		else:
			self.ln.send(("%s %s {%d+}\r\n" % (tag, c, len(lit))).encode() + lit + b"\r\n")
		out = []
		end = time.monotonic() + timeout
		while True:
			ln = self.line(end - time.monotonic())
			if ln is None:
				raise Fail("%s on %s: no tagged reply to %r within %ds: %r" % (self.label,
					self.node.name, c, timeout, out[-10:]))
			out.append(ln)
			if ln.startswith(tag.encode() + b" "):
				if ok:
					check(ln.startswith(tag.encode() + b" OK"), "%s on %s: %s -> %r" % (self.label,
						self.node.name, c, out[-5:]))
				return out

	def wait_untagged(self, rx, timeout, what, poll=None, t0=None):
		"""Read (or, with poll, send NOOP every poll seconds and read) until an untagged line
		matches rx; returns (match, seconds since t0, default now). Fails after timeout."""
		t0 = t0 or time.monotonic()
		end = time.monotonic() + timeout
		got = []
		while True:
			left = end - time.monotonic()
			if left <= 0:
				raise Fail("%s on %s: no %s within %ds; untagged seen: %r\n%s" % (self.label,
					self.node.name, what, timeout, got[-10:], self.node.log_tail(15)))
			if poll is None:
				ln = self.line(left)
				lines = [] if ln is None else [ln]
			else:
				lines = self.cmd("NOOP")
			for ln in lines:
				if ln.startswith(b"* "):
					got.append(ln)
				m = rx.match(ln)
				if m:
					return m, time.monotonic() - t0
			if poll is not None:
				time.sleep(poll)

	def close(self):
		try:
			self.ln.cmd("z LOGOUT")
		except OSError:
			pass
		self.ln.close()


def hms_of(lines):
	v = [int(x.split()[3].rstrip(b"]")) for x in lines if x.startswith(b"* OK [HIGHESTMODSEQ ")]
	return v[-1] if v else None


FETCH_RE = re.compile(rb"^\* (\d+) FETCH \((.*)\)$")


def fetch_attr(body, name):
	m = re.search(rb"\b" + name + rb" \(([^)]*)\)", body)
	return m.group(1) if m else None


def view(s):
	"""[(uid, modseq, flags)] of the session's selected mailbox (UID FETCH 1:*)."""
	f = s.cmd("UID FETCH 1:* (FLAGS MODSEQ)")
	return sorted((int(re.search(rb"UID (\d+)", x).group(1)), fetch_attr(x, b"MODSEQ"),
		b" ".join(sorted((fetch_attr(x, b"FLAGS") or b"").split()))) for x in f if FETCH_RE.match(x))


def writer_round(env, watchers, writer, poll):
	"""writer APPENDs, flags and UID EXPUNGEs one message; every watcher (IDLE if poll is None,
	else NOOP every poll s) sees EXISTS, FETCH FLAGS (+MODSEQ) and EXPUNGE for it. Returns the
	latencies."""
	lat = {}
	base = {w: w.exists for w in watchers}
	eq(writer.exists, base[watchers[0]], "writer and watcher agree on EXISTS before the round")
	msg = mailgen.message(int(time.time() * 1000) % 100000, "xnode")
	t0 = time.monotonic()
	r = writer.cmd("APPEND INBOX ()", lit=msg)
	m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", r[-1])
	check(m is not None, "APPENDUID in %r" % r[-1])
	uid = int(m.group(2))
	for w in watchers:
		_, lat[(w.label, "EXISTS")] = w.wait_untagged(re.compile(rb"^\* %d EXISTS$" % (base[w] + 1)),
			WAKE_TIMEOUT, "EXISTS for the APPEND on %s" % writer.node.name, poll, t0)
	t0 = time.monotonic()
	r = writer.cmd("UID STORE %d +FLAGS (\\Flagged)" % uid)
	wf = [FETCH_RE.match(x) for x in r]
	wf = [x for x in wf if x]
	check(wf, "the writer's STORE returned no FETCH: %r" % r)
	wmodseq = fetch_attr(wf[0].group(2), b"MODSEQ")
	check(wmodseq is not None, "MODSEQ in the writer's STORE response (CONDSTORE): %r" % r)
	for w in watchers:
		seq = base[w] + 1
		rx = re.compile(rb"^\* %d FETCH \((.*\bFLAGS \([^)]*\\Flagged.*)\)$" % seq)
		mm, lat[(w.label, "FETCH")] = w.wait_untagged(rx, WAKE_TIMEOUT,
			"FETCH FLAGS (\\Flagged) of message %d stored on %s" % (seq, writer.node.name), poll, t0)
		eq(fetch_attr(mm.group(1), b"MODSEQ"), wmodseq, "%s on %s: MODSEQ of the flag change "
			"(the writer on %s got it)" % (w.label, w.node.name, writer.node.name))
	writer.cmd("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
	t0 = time.monotonic()
	r = writer.cmd("UID EXPUNGE %d" % uid)
	check(b"* %d EXPUNGE" % (base[watchers[0]] + 1) in r, "writer's own EXPUNGE: %r" % r)
	for w in watchers:
		_, lat[(w.label, "EXPUNGE")] = w.wait_untagged(re.compile(rb"^\* %d EXPUNGE$" % (base[w] + 1)),
			WAKE_TIMEOUT, "EXPUNGE of UID %d on %s" % (uid, writer.node.name), poll, t0)
	return lat


def same_views(sessions):
	"""Every session (on its own node) sees the same UIDs, MODSEQs and flags; only valid while
	no session is in IDLE."""
	vs = {x: view(x) for x in sessions}
	ref = sessions[0]
	for x in sessions[1:]:
		eq(vs[x], vs[ref], "%s on %s vs %s on %s: (UID, MODSEQ, FLAGS)" % (x.label, x.node.name,
			ref.label, ref.node.name))


def seed_conc(env):
	if getattr(env, "conc_seeded", False):
		return
	m = env.cluster.nodes[0].imap(CONC, PW)
	try:
		mailgen.imap_append_all(m, "INBOX", [mailgen.message(i, "conc") for i in range(3)])
	finally:
		quiet_close(m)
	converged(env)
	env.conc_seeded = True


def sanity_views(ss):
	"""No session saw an EXISTS beyond the one appended message or a duplicate EXPUNGE."""
	for s in ss:
		ex = [int(x.split()[1]) for x in s.seen if x.endswith(b" EXISTS")]
		check(all(v <= ex[0] + 1 for v in ex), "%s on %s: EXISTS sequence %r" % (s.label,
			s.node.name, ex))
		exp = [x for x in s.seen if x.endswith(b" EXPUNGE")]
		check(len(exp) <= len([x for x in s.seen if x.endswith(b" EXISTS")]),
			"%s on %s: more EXPUNGEs than messages appended: %r" % (s.label, s.node.name, s.seen))


def test_cross_node_idle(env):
	seed_conc(env)
	ld, f1, f2 = roles(env)
	a = c = b = None
	try:
		a = Sess(f1, CONC, "A")           # watcher on a follower
		c = Sess(ld, CONC, "C")           # watcher on the leader
		b = Sess(f2, CONC, "B")           # writer on the other follower
		for w in (a, c):
			w.n += 1
			w.idle_tag = "%s%d" % (w.label, w.n)
			w.ln.cmd("%s IDLE" % w.idle_tag)
			ln = w.line(15)
			check(ln is not None and ln.startswith(b"+"), "%s IDLE continuation: %r" % (w.label, ln))
		lat = writer_round(env, [a, c], b, None)
		for w in (a, c):
			w.ln.cmd("DONE")
			end = time.monotonic() + 15
			while True:
				ln = w.line(end - time.monotonic())
				check(ln is not None, "%s: no tagged reply to DONE" % w.label)
				if ln.startswith(w.idle_tag.encode() + b" "):
					check(ln.startswith(w.idle_tag.encode() + b" OK"), "IDLE completion: %r" % ln)
					break
		sanity_views([a, c])
		same_views([a, b, c])
		say("# IDLE wake-ups across nodes (s): %s" % ", ".join("%s %s %.2f" % (k[0], k[1], v)
			for k, v in sorted(lat.items())))
	finally:
		for s in (a, b, c):
			if s is not None:
				s.close()


def test_cross_node_noop(env):
	seed_conc(env)
	_, f1, f2 = roles(env)
	a = b = None
	try:
		a = Sess(f1, CONC, "A")
		b = Sess(f2, CONC, "B")
		lat = writer_round(env, [a], b, 0.2)       # B writes on f2, A polls on f1
		lat2 = writer_round(env, [b], a, 0.2)      # and the other way round
		sanity_views([a, b])
		same_views([a, b])
		# changes elsewhere (another mailbox, through B's node) are no news for A's INBOX
		b.cmd("CREATE Noise")
		b.cmd("APPEND Noise ()", lit=mailgen.message(1, "noise"))
		converged(env)
		r = a.cmd("NOOP")
		check(not any(re.match(rb"^\* (\d+ (EXISTS|EXPUNGE|FETCH)|OK \[HIGHESTMODSEQ)", x) for x in r),
			"%s on %s: NOOP with no change to INBOX (APPEND to another mailbox on %s): %r"
			% (a.label, a.node.name, b.node.name, r))
		say("# NOOP polling across nodes (s): %s" % ", ".join("%s %s %.2f" % (k[0], k[1], v)
			for k, v in sorted(list(lat.items()) + list(lat2.items()))))
	finally:
		for s in (a, b):
			if s is not None:
				s.close()


def test_concurrent_appends_every_node(env):
	"""Three writers, one per node, APPEND to the same mailbox at the same time: every APPEND
	succeeds, no UID is given twice, and every node then lists exactly those messages under the
	same UIDs (UIDs are allocated inside the replicated transaction)."""
	seed_conc(env)
	per = 12
	res = {n: [] for n in env.cluster.nodes}
	errs = []

	def writer(n, k):
		try:
			m = n.imap(CONC, PW)
			try:
				for i in range(per):
					raw = mailgen.message(1000 * (k + 1) + i, "par")
					typ, data = m.append("Par", None, None, raw)
					res[n].append((mailgen.message_id(raw), typ, data))
			finally:
				quiet_close(m)
		except Exception as e:  # noqa: BLE001 - reported below
			errs.append("%s: %r" % (n.name, e))

	m = env.cluster.nodes[0].imap(CONC, PW)
	try:
		mrtest.imap_ok(m.create("Par"), "CREATE Par")
	finally:
		quiet_close(m)
	converged(env)
	ts = [threading.Thread(target=writer, args=(n, k), daemon=True)
		for k, n in enumerate(env.cluster.nodes)]
	for t in ts:
		t.start()
	end = time.monotonic() + 90
	for t in ts:
		t.join(max(0.1, end - time.monotonic()))
	check(not any(t.is_alive() for t in ts), "concurrent APPENDs not done within 90s")
	check(not errs, "APPEND writer failed: %s" % errs)
	uids = {}
	for n, rows in res.items():
		for mid, typ, data in rows:
			check(typ == "OK", "APPEND through %s: %s %r" % (n.name, typ, data))
			mm = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0] or b"")
			check(mm is not None, "APPENDUID through %s: %r" % (n.name, data))
			u = int(mm.group(2))
			check(u not in uids, "UID %d given twice: %s (%s) and %s" % (u, uids.get(u), n.name, mid))
			uids[u] = mid
	eq(len(uids), 3 * per, "APPENDs")
	converged(env)
	maps = {n: mrcluster.imap_msgids(n, CONC, PW, "Par") for n in env.cluster.nodes}
	for n, (uv, rows) in maps.items():
		eq(dict(rows), uids, "UID -> Message-ID of Par on %s (APPENDUIDs from all three nodes)"
			% n.name)
		eq(uv, maps[env.cluster.nodes[0]][0], "UIDVALIDITY of Par on %s" % n.name)


def test_condstore_same_on_every_node(env):
	"""After convergence every node reports the same HIGHESTMODSEQ, UIDNEXT, UIDVALIDITY and
	per-message MODSEQ/FLAGS for the mailbox the cross-node sessions changed."""
	seed_conc(env)
	converged(env)
	ld = roles(env)[0]
	views = {}
	for n in env.cluster.nodes:
		s = Sess(n, CONC, "H")
		try:
			st = s.cmd("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)")
			stl = [x for x in st if x.startswith(b"* STATUS")]
			check(stl and b"HIGHESTMODSEQ" in stl[0], "STATUS HIGHESTMODSEQ on %s: %r" % (n.name, st))
			rows = view(s)
			views[n] = (s.hms, re.sub(rb"^\* STATUS \S+ ", b"", stl[0]), rows)
			check(s.hms is not None, "SELECT on %s (CONDSTORE enabled) without HIGHESTMODSEQ" % n.name)
			check(all(r[1] is not None for r in rows), "MODSEQ missing on %s: %r" % (n.name, rows))
			mx = max(int(r[1].strip(b"()")) for r in rows) if rows else 0
			check(s.hms >= mx, "%s: HIGHESTMODSEQ %d below a message MODSEQ %d" % (n.name, s.hms, mx))
		finally:
			s.close()
	ref = views[ld]
	for n in env.cluster.nodes:
		eq(views[n], ref, "HIGHESTMODSEQ, STATUS and (UID, MODSEQ, FLAGS) on %s vs leader %s"
			% (n.name, ld.name))
	say("# HIGHESTMODSEQ %d on every node, STATUS %s" % (ref[0], ref[1].decode()))


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

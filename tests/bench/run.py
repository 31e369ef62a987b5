#!/usr/bin/python3
"""run.py - mailraft's benchmarks, each measured against Dovecot in the same run.

usage: tests/bench/run.py [--tiny] [--bin-dir BUILD_DIR] [--json-out FILE] [--only NAME,...]
  smtp_ingest  : smtp-source pushes N messages (~10 KB) over S parallel sessions into
                 mailraft's MX port (250 only after a durable commit) and into Dovecot's
                 LMTP; messages/s for both and the ratio mailraft/dovecot.
  imap_memory  : opens N idle sessions to mailraft (IMAPS+LOGIN, IMAP+LOGIN and
                 IMAPS+SELECT+IDLE, one fresh daemon each) and measures its VmRSS
                 before/after -> KiB per connection; the same against Dovecot (PSS
                 summed over its processes), ratio mailraft/dovecot.
  imap_load    : our IMAP load generator (imapload.py), P processes running a fixed mix
                 (SELECT, FETCH 1:* FLAGS, FETCH bodies, STORE, APPEND, EXPUNGE, IDLE)
                 against mailraft and Dovecot in alternating windows: ops/s, p99 latency,
                 ratios mailraft/dovecot.
  imap_idle    : N concurrent sessions in IDLE on one mailraftd (several client
                 processes): resident memory per session against the 32 KiB target.
  cluster      : 3 mailraftd in a cluster (clusterbench.py): SMTP ingest msg/s against a
                 single node and the cluster, loaded (ratio, target >= 0.7) and under a
                 light load (ratio printed), commit latency
                 p50/p99 (DATA end -> 250), failover time (SIGKILL leader -> first 250
                 on a survivor, target < 2 s).
--tiny runs every benchmark once at a tiny size so the test suite can check they still
run; the exit status is non-zero if any mailraft benchmark could not run or produced no
figure. A missing Dovecot is reported and its reference skipped. Loopback only, every
step bounded in time. Stdlib + subprocess only (run with /usr/bin/python3)."""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import BenchError, Dovecot, Mailraft, dovecot_missing  # noqa: E402
from imapbench import IDLE_TARGET_KIB, bench_imap_idle, bench_imap_load  # noqa: E402
from clusterbench import bench_cluster, cluster_figures, cluster_notes, cluster_rows  # noqa: E402
from workloads import (IdleImap, imap_message_count, pss_tree_kib, rss_kib,  # noqa: E402
	settle, smtp_source, smtp_source_path)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Workload sizes: full figures, and the tiny "does it still run" sizes.
SIZES = {
	"full": {"messages": 2000, "sessions": 8, "size": 10240, "warmup": 100, "rounds": 3,
		"connections": 1000, "dovecot_connections": 200, "users": 10,
		"smtp_timeout": 300.0, "open_timeout": 180.0,
		"load_procs": 8, "load_seconds": 5.0, "load_rounds": 4, "load_messages": 100,
		"load_warmup": 2.0, "idle_connections": 10000, "idle_users": 100, "idle_timeout": 240.0,
		"idle_variants": ("imap", "imaps"),
		"cluster_messages": 3000, "cluster_sessions": 8, "cluster_sessions_loaded": 48,
		"cluster_accounts": 8,
		"failover_timeout": 30.0},
	"tiny": {"messages": 10, "sessions": 2, "size": 10240, "warmup": 2, "rounds": 1,
		"connections": 20, "dovecot_connections": 5, "users": 2,
		"smtp_timeout": 60.0, "open_timeout": 60.0,
		"load_procs": 2, "load_seconds": 2.0, "load_rounds": 1, "load_messages": 10,
		"load_warmup": 0, "idle_connections": 50, "idle_users": 5, "idle_timeout": 60.0,
		"idle_variants": ("imap",),
		"cluster_messages": 20, "cluster_sessions": 2, "cluster_sessions_loaded": 6,
		"cluster_accounts": 2,
		"failover_timeout": 30.0},
}
BENCHES = ("smtp_ingest", "imap_memory", "imap_load", "imap_idle", "cluster")


def log(msg):
	print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def ratio(a, b):
	return round(a / b, 3) if a is not None and b else None


def raise_fd_limit(need):
	"""Raise RLIMIT_NOFILE (inherited by the daemons we start); returns the soft limit."""
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	want = need if hard == resource.RLIM_INFINITY else min(need, hard)
	if soft != resource.RLIM_INFINITY and soft < want:
		resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
		soft = want
	return soft


# ---------------------------------------------------------------- SMTP ingest

class IngestMailraft:
	"""mailraft's half of smtp_ingest: MX port, verified through IMAP STATUS."""
	name, lmtp, rcpt = "mailraft", False, "user@bench.test"

	def __init__(self, a, sz, workdir):
		self.srv = Mailraft(a.bin_dir, workdir, "mr-smtp", ("smtp", "imap"),
			max_connections=sz["sessions"] * 4 + 64)

	def start(self):
		self.srv.start()
		self.srv.provision("bench.test", ["user"])
		self.port = self.srv.ports["smtp"]

	def check(self, want):
		if not self.srv.alive():
			raise BenchError("mailraftd died during the run")
		try:
			got = imap_message_count(self.srv.ports["imap"], self.rcpt, "pass")
		except Exception as e:  # IMAP is another module; its absence must not hide the figure
			return "not checked: IMAP STATUS failed (%s)" % e
		if got < want:
			raise BenchError("only %d of %d accepted messages are in INBOX" % (got, want))
		return "INBOX holds all %d messages" % got

	def note(self):
		return self.srv.note

	def diag(self):
		return self.srv.diag()

	def stop(self):
		self.srv.stop()


class IngestDovecot:
	"""Dovecot's half: LMTP into a Maildir (mail_fsync = optimized), counted on disk."""
	name, lmtp, rcpt = "dovecot", True, "user1@mail.test"

	def __init__(self, a, sz, workdir):
		self.srv = Dovecot(workdir, "dc-smtp", nusers=1)

	def start(self):
		self.srv.start()
		self.port = self.srv.ports["lmtp"]

	def check(self, want):
		got = self.srv.delivered("user1")
		if got < want:
			raise BenchError("only %d of %d messages in Dovecot's Maildir" % (got, want))
		return "Maildir holds all %d messages" % got

	def note(self):
		return ""

	def diag(self):
		return ""

	def stop(self):
		self.srv.stop()


def bench_smtp_ingest(a, sz, workdir, dc_skip):
	"""Both servers run side by side; rounds alternate mailraft, dovecot, mailraft, ...
	so machine noise (2 shared cores) hits both alike; the figure is the median round."""
	out = {"unit": "msg/s", "better": "higher",
		"params": {k: sz[k] for k in ("messages", "sessions", "size", "warmup", "rounds")},
		"client": "smtp-source%s" % (" -d (persistent)" if a.persistent else " (1 msg/connection)")}
	if smtp_source_path() is None:
		raise BenchError("smtp-source not installed (Debian postfix package; run tests/bench/deps.sh)")
	sides = [IngestMailraft(a, sz, workdir)]
	if dc_skip:
		out["dovecot"] = {"status": "skipped", "reason": dc_skip}
	else:
		sides.append(IngestDovecot(a, sz, workdir))
	res = {s.name: {"samples": []} for s in sides}
	live = []

	def fail(side, e):
		msg = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
		if side.diag():
			msg += "\n" + side.diag()
		res[side.name] = {"status": "failed", "error": msg}
		log("smtp_ingest: %s FAILED: %s" % (side.name, res[side.name]["error"]))
		if side in live:
			live.remove(side)

	def load(side, n):
		return smtp_source(side.port, side.rcpt, n, sz["sessions"], sz["size"], lmtp=side.lmtp,
			persistent=a.persistent, timeout=sz["smtp_timeout"])
	try:
		for side in sides:
			try:
				log("smtp_ingest: starting %s" % side.name)
				live.append(side)
				side.start()
				if sz["warmup"]:
					load(side, sz["warmup"])
			except Exception as e:
				fail(side, e)
		for rnd in range(sz["rounds"]):
			for side in list(live):
				try:
					r = load(side, sz["messages"])
				except Exception as e:
					fail(side, e)
					continue
				res[side.name]["samples"].append(r["msg_per_s"])
				log("smtp_ingest: round %d/%d %s %d msgs in %.2f s = %.1f msg/s" % (rnd + 1,
					sz["rounds"], side.name, r["messages"], r["seconds"], r["msg_per_s"]))
		for side in list(live):
			try:
				res[side.name]["verified"] = side.check(sz["warmup"] + sz["messages"] * sz["rounds"])
				if side.note():
					res[side.name]["note"] = side.note()
				res[side.name]["status"] = "ok"
				res[side.name]["msg_per_s"] = statistics.median(res[side.name]["samples"])
			except Exception as e:
				fail(side, e)
	finally:
		for side in sides:
			side.stop()
	out.update(res)
	out["ratio"] = ratio(out["mailraft"].get("msg_per_s"), out["dovecot"].get("msg_per_s"))
	return out


# ---------------------------------------------------------------- IMAP memory

def idle_measure(metrics, port, tls, idle, n, users, deadline):
	"""Warm up, measure, open n idle sessions, measure again. metrics: name -> fn() in KiB;
	the first one decides when memory has settled. Returns KiB/connection per metric."""
	warm = IdleImap(port, tls, users, idle=idle)
	warm.open(min(len(users), n), deadline)   # first use: caches, TLS setup, user stores
	warm.close()
	time.sleep(0.5)
	names = list(metrics)
	before = {names[0]: settle(metrics[names[0]])}
	before.update({k: metrics[k]() for k in names[1:]})
	sessions = IdleImap(port, tls, users, idle=idle)
	t0 = time.monotonic()
	try:
		sessions.open(n, deadline)
		open_s = time.monotonic() - t0
		after = {names[0]: settle(metrics[names[0]])}
		after.update({k: metrics[k]() for k in names[1:]})
		alive = sessions.count_alive()
	finally:
		sessions.close()
	if alive < n:
		raise BenchError("the server closed %d of %d idle sessions" % (n - alive, n))
	res = {"connections": n, "stage": sessions.stage, "open_seconds": round(open_s, 2)}
	for k in names:
		res["%s_before_kib" % k] = before[k]
		res["%s_after_kib" % k] = after[k]
		res["%s_kib_per_conn" % k] = round((after[k] - before[k]) / n, 1)
	if sessions.refused:
		res["refused"] = sessions.refused
	return res


# name -> (implicit TLS?, SELECT INBOX + IDLE?, label)
VARIANTS = {
	"imaps": (True, False, "IMAPS+LOGIN"),
	"imap": (False, False, "IMAP+LOGIN"),
	"imaps_idle": (True, True, "IMAPS+SELECT+IDLE"),
}


def mem_mailraft(a, sz, workdir, variant):
	tls, idle, _ = VARIANTS[variant]
	n = sz["connections"]
	users = ["user%d" % i for i in range(1, sz["users"] + 1)]
	m = Mailraft(a.bin_dir, workdir, "mr-" + variant, ("imap", "imaps"), max_connections=n + 64)
	try:
		return _mem_mailraft(m, sz, tls, idle, n, users)
	except BenchError as e:
		raise BenchError(str(e) + ("\n" + m.diag() if m.diag() else ""))
	finally:
		m.stop()


def _mem_mailraft(m, sz, tls, idle, n, users):
	m.start()
	m.provision("bench.test", users)
	deadline = time.monotonic() + sz["open_timeout"]
	res = idle_measure({"rss": lambda: rss_kib(m.pid), "pss": lambda: pss_tree_kib(m.pid)[0]},
		m.ports["imaps" if tls else "imap"], tls, idle, n,
		["%s@bench.test" % u for u in users], deadline)
	if not m.alive():
		raise BenchError("mailraftd died during the run")
	res["kib_per_conn"] = res["rss_kib_per_conn"]
	if m.note:
		res["note"] = m.note
	return res


def mem_dovecot(a, sz, workdir, variant):
	tls, idle, _ = VARIANTS[variant]
	n = sz["dovecot_connections"]
	d = Dovecot(workdir, "dc-" + variant, nusers=sz["users"])
	try:
		d.start()
		users = ["user%d" % i for i in range(1, sz["users"] + 1)]
		procs = {}

		def pss():
			kib, procs["n"] = pss_tree_kib(d.pid)
			return kib
		deadline = time.monotonic() + sz["open_timeout"]
		res = idle_measure({"pss": pss}, d.ports["imaps" if tls else "imap"], tls, idle, n,
			users, deadline)
		res["processes_after"] = procs.get("n")
		res["kib_per_conn"] = res["pss_kib_per_conn"]
		return res
	finally:
		d.stop()


def bench_imap_memory(a, sz, workdir, dc_skip):
	limit = raise_fd_limit(max(sz["connections"], sz["dovecot_connections"]) * 2 + 256)
	out = {"unit": "KiB/connection", "better": "lower", "params": {
		"connections": sz["connections"], "dovecot_connections": sz["dovecot_connections"],
		"users": sz["users"], "fd_limit": limit}}
	if limit < sz["connections"] + 64:
		raise BenchError("fd limit %d too low for %d connections" % (limit, sz["connections"]))
	for key, (_, _, label) in VARIANTS.items():
		log("imap_memory: mailraft, %d idle %s sessions" % (sz["connections"], label))
		mr = run_side(mem_mailraft, a, sz, workdir, key)
		log("imap_memory: mailraft %s -> %s" % (key, mr.get("kib_per_conn", mr.get("error"))))
		if dc_skip:
			dc = {"status": "skipped", "reason": dc_skip}
		else:
			log("imap_memory: dovecot, %d idle %s sessions" % (sz["dovecot_connections"], label))
			dc = run_side(mem_dovecot, a, sz, workdir, key)
			log("imap_memory: dovecot %s -> %s" % (key, dc.get("kib_per_conn", dc.get("error"))))
		out[key] = {"mailraft": mr, "dovecot": dc,
			"ratio": ratio(mr.get("pss_kib_per_conn"), dc.get("pss_kib_per_conn"))}
	return out


# ---------------------------------------------------------------- driver

def run_side(fn, *args):
	"""Run one server's half of a benchmark; failures become {"status": "failed"}."""
	try:
		r = fn(*args)
		r["status"] = "ok"
		return r
	except BenchError as e:
		return {"status": "failed", "error": str(e)}
	except Exception as e:  # keep the other benchmarks running; reported as a failure
		return {"status": "failed", "error": "%s: %s" % (type(e).__name__, e)}


def environment(a):
	env = {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
		"bin_dir": a.bin_dir, "dovecot": None}
	try:
		r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
			capture_output=True, timeout=10)
		env["git"] = r.stdout.decode().strip() or None
	except (OSError, subprocess.TimeoutExpired):
		env["git"] = None
	if dovecot_missing() is None:
		env["dovecot"] = Dovecot("/nonexistent").version()
	return env


def mailraft_figures(bench, res):
	"""(name, value) of every mailraft figure of a benchmark result (None = missing)."""
	if bench == "smtp_ingest":
		return [("smtp_ingest", res.get("mailraft", {}).get("msg_per_s"))]
	if bench == "imap_load":
		return [("imap_load", res.get("mailraft", {}).get("ops_per_s"))]
	if bench == "imap_idle":
		return [("imap_idle", res.get("mailraft", {}).get("kib_per_conn"))]
	if bench == "cluster":
		return cluster_figures(res)
	return [("imap_memory." + k, res.get(k, {}).get("mailraft", {}).get("kib_per_conn"))
		for k in VARIANTS]


def fmt(v, spec="%.1f"):
	return "-" if v is None else spec % v


def print_table(mode, env, results):
	rows = []
	smtp = results.get("smtp_ingest")
	if smtp:
		p = smtp.get("params", {})
		rows.append(("SMTP ingest msg/s (%d msgs, %d B, %d sessions) [higher=better]"
			% (p.get("messages", 0), p.get("size", 0), p.get("sessions", 0)),
			smtp.get("mailraft", {}).get("msg_per_s"), smtp.get("dovecot", {}).get("msg_per_s"),
			smtp.get("ratio")))
	mem = results.get("imap_memory")
	if mem:
		p = mem.get("params", {})
		for k, (_, _, label) in VARIANTS.items():
			r = mem.get(k, {})
			mr, dc = r.get("mailraft", {}), r.get("dovecot", {})
			if mr.get("stage") not in (None, "idle" if "IDLE" in label else "login"):
				label += " (only reached %s)" % mr["stage"]
			rows.append(("Idle %s KiB/conn, RSS (%d conns) [lower=better]" % (label,
				p.get("connections", 0)), mr.get("kib_per_conn"), None, None))
			rows.append(("Idle %s KiB/conn, PSS (%d vs %d conns) [lower=better]" % (label,
				p.get("connections", 0), p.get("dovecot_connections", 0)),
				mr.get("pss_kib_per_conn"), dc.get("pss_kib_per_conn"), r.get("ratio")))
	rows += imap_rows(results)
	rows += cluster_rows(results)
	w = max([len(r[0]) for r in rows] + [20])
	print()
	print("mailraft benchmarks (%s run): %s CPUs, Linux %s, mailraft %s, %s" % (mode, env["cpus"],
		env["kernel"], env.get("git") or "?", env.get("dovecot") and "Dovecot " + env["dovecot"] or "no Dovecot"))
	print("%-*s %12s %12s %18s" % (w, "benchmark", "mailraft", "dovecot", "mailraft/dovecot"))
	print("-" * (w + 45))
	for name, m, d, rt in rows:
		print("%-*s %12s %12s %18s" % (w, name, fmt(m), fmt(d), fmt(rt, "%.2f")))
	notes = cluster_notes(results)
	for bench, res in results.items():
		if res.get("status") == "failed":
			notes.append("%s: FAILED: %s" % (bench, res.get("error")))
		for side, r in iter_sides(res):
			if r.get("status") in ("failed", "skipped"):
				notes.append("%s %s: %s: %s" % (bench, side, r["status"].upper(),
					r.get("error") or r.get("reason")))
			if len(r.get("samples", [])) > 1:
				notes.append("%s %s: rounds (msg/s): %s" % (bench, side,
					", ".join("%.1f" % x for x in r["samples"])))
			if len(r.get("window_ops_per_s", [])) > 1:
				notes.append("%s %s: windows (ops/s): %s" % (bench, side,
					", ".join("%.1f" % x for x in r["window_ops_per_s"])))
			if "target_met" in r:
				notes.append("%s %s: %.1f KiB per idle session: target < %.0f KiB %s" % (bench,
					side, r["kib_per_conn"], IDLE_TARGET_KIB, "met" if r["target_met"] else "NOT met"))
			for key in ("verified", "note", "refused"):
				if key in r and r[key]:
					notes.append("%s %s: %s: %s" % (bench, side, key, r[key]))
	if notes:
		print("notes:")
		for n in notes:
			print("  " + n.replace("\n", "\n      "))
	print()


def imap_rows(results):
	"""Table rows of imap_load and imap_idle."""
	rows = []
	load = results.get("imap_load")
	if load:
		p = load.get("params", {})
		mr, dc = load.get("mailraft", {}), load.get("dovecot", {})
		rows.append(("IMAP load ops/s (%d clients, %d x %.0f s, mix) [higher=better]" % (
			p.get("processes", 0), p.get("windows_per_server", 0), p.get("seconds_per_window", 0)),
			mr.get("ops_per_s"), dc.get("ops_per_s"), load.get("ratio")))
		rows.append(("IMAP load p99 latency ms, all commands [lower=better]",
			mr.get("p99_ms"), dc.get("p99_ms"), load.get("p99_ratio")))
		us = [None if x is None else x * 1000.0 for x in (mr.get("server_cpu_ms_per_op"),
			dc.get("server_cpu_ms_per_op"))]
		rows.append(("IMAP load server CPU us/command [lower=better]", us[0], us[1],
			load.get("cpu_ratio")))
		for op in ("select", "flags", "bodies", "store", "append", "expunge", "idle"):
			a = mr.get("per_op", {}).get(op, {}).get("p99_ms")
			b = dc.get("per_op", {}).get(op, {}).get("p99_ms")
			rows.append(("  p99 ms %s" % op, a, b, ratio(a, b)))
	idle = results.get("imap_idle")
	if idle:
		p = idle.get("params", {})
		for label, r in (("IMAP", idle.get("mailraft")), ("IMAPS", idle.get("imaps", {}).get("mailraft"))):
			if r is not None:
				rows.append(("Idle %s+SELECT+IDLE KiB/conn, RSS (%d conns, %d accounts; target < %.0f)"
					" [lower=better]" % (label, p.get("connections", 0), p.get("accounts", 0),
					IDLE_TARGET_KIB), r.get("kib_per_conn"), None, None))
	return rows


def iter_sides(res):
	for side in ("mailraft", "dovecot"):
		if isinstance(res.get(side), dict):
			yield side, res[side]
	for k in VARIANTS:
		if isinstance(res.get(k), dict):
			for side in ("mailraft", "dovecot"):
				if isinstance(res[k].get(side), dict):
					yield "%s/%s" % (side, k), res[k][side]


def parse_args():
	ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
		formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--tiny", action="store_true", help="every benchmark once at a tiny size")
	ap.add_argument("--bin-dir", default=os.path.join(REPO, "build"),
		help="CMake build dir holding node/mailraftd and ctl/mailraftctl (default: %(default)s)")
	ap.add_argument("--json-out", help="also write the results as JSON to this file")
	ap.add_argument("--only", help="comma-separated subset of: " + ",".join(BENCHES))
	ap.add_argument("--no-dovecot", action="store_true", help="skip the Dovecot reference")
	ap.add_argument("--persistent", action="store_true",
		help="smtp-source -d: many messages per connection (default: one per connection)")
	ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, data)")
	for k in ("messages", "sessions", "size", "rounds", "connections", "dovecot-connections",
			"load-procs", "load-rounds", "idle-connections", "idle-users"):
		ap.add_argument("--" + k, type=int, help="override the %s of the chosen mode" % k)
	ap.add_argument("--load-seconds", type=float, help="override the imap_load window length")
	a = ap.parse_args()
	a.bin_dir = os.path.abspath(a.bin_dir)
	a.only = [b.strip() for b in a.only.split(",")] if a.only else list(BENCHES)
	for b in a.only:
		if b not in BENCHES:
			ap.error("unknown benchmark %r (choose from %s)" % (b, ", ".join(BENCHES)))
	return a


def main():
	a = parse_args()
	mode = "tiny" if a.tiny else "full"
	sz = dict(SIZES[mode])
	if a.load_seconds is not None:
		sz["load_seconds"] = a.load_seconds
	for k in ("messages", "sessions", "size", "rounds", "connections", "dovecot_connections",
			"load_procs", "load_rounds", "idle_connections", "idle_users"):
		if getattr(a, k) is not None:
			sz[k] = getattr(a, k)
	signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
	dc_skip = "disabled by --no-dovecot" if a.no_dovecot else dovecot_missing()
	if dc_skip:
		log("Dovecot reference skipped: " + dc_skip)
	workdir = tempfile.mkdtemp(prefix="mrbench-")
	os.chmod(workdir, 0o755)   # Dovecot's unprivileged processes must reach their dirs
	env = environment(a)
	results = {}
	t0 = time.monotonic()
	try:
		for bench in a.only:
			fn = {"smtp_ingest": bench_smtp_ingest, "imap_memory": bench_imap_memory,
				"imap_load": bench_imap_load, "imap_idle": bench_imap_idle,
				"cluster": bench_cluster}[bench]
			try:
				results[bench] = fn(a, sz, workdir, dc_skip)
			except BenchError as e:
				results[bench] = {"status": "failed", "error": str(e)}
	finally:
		if a.keep:
			log("kept %s" % workdir)
		else:
			shutil.rmtree(workdir, ignore_errors=True)
	missing = [name for b in results for name, v in mailraft_figures(b, results[b]) if v is None]
	missing += [b for b in results
		if any(r.get("status") == "failed" for _, r in iter_sides(results[b]))
		or results[b].get("status") == "failed"]
	ok = not missing
	print_table(mode, env, results)
	doc = {"mode": mode, "ok": ok, "failed": sorted(set(missing)), "started": time.strftime(
		"%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - (time.monotonic() - t0))),
		"seconds": round(time.monotonic() - t0, 1), "environment": env, "results": results}
	if a.json_out:
		with open(a.json_out, "w") as f:
			json.dump(doc, f, indent=2, sort_keys=True)
			f.write("\n")
		log("wrote %s" % a.json_out)
	log("%s in %.0f s" % ("all benchmarks produced figures" if ok else "FAILED: " + ", ".join(doc["failed"]),
		time.monotonic() - t0))
	return 0 if ok else 1


if __name__ == "__main__":
	sys.exit(main())

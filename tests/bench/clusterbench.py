"""clusterbench.py - the cluster benchmarks of issue 3, called from run.py ("cluster").

Three real mailraftd processes on this host formed into a cluster the documented way
(tests/integration/mrcluster.py: cluster init, cluster add -> token, cluster join).
  ingest   : the same SMTP load (N messages of ~size bytes, one message per session)
             against a single node (no cluster) and against the 3-node cluster with the
             sessions spread over the nodes; msg/s for both and the ratio cluster/single
             (target >= 0.7), at two concurrencies: a loaded MX (KL concurrent sessions,
             the figure the target is for) and a light load (K sessions: there every message
             waits for its own raft round trip, so it shows the latency cost).
  latency  : on the cluster run, the client-side commit latency (end of DATA -> 250),
             p50 and p99 in ms.
  failover : clients keep starting a delivery every 50 ms against the two followers;
             the leader is SIGKILLed; the figure is the time from the kill to the first
             250 of a session started after it (target < 2 s).
Every figure is printed; the targets are reported (met / NOT met), not enforced. Every wait
is bounded and every process started here is stopped (SIGKILL at exit at the latest)."""
import os
import socket
import subprocess
import sys
import threading
import time

from servers import BenchError
from workloads import smtp_source_path

HERE = os.path.dirname(os.path.abspath(__file__))
mrcluster = mrtest = None   # imported by _imports() when the benchmark runs


def _imports():
	"""Import the integration harness lazily, keeping this process's default socket timeout
	(mrlib sets one at import; the other benchmarks hold long-idle sockets)."""
	global mrcluster, mrtest
	if mrcluster is None:
		prev = socket.getdefaulttimeout()
		sys.path.insert(0, os.path.join(HERE, "..", "integration"))
		import mrcluster as mc  # noqa: E402
		import mrtest as mt  # noqa: E402
		socket.setdefaulttimeout(prev)
		mrcluster, mrtest = mc, mt

FAILOVER_TARGET_S = 2.0
RATIO_TARGET = 0.7
FAILOVER_TICK = 0.05


def log(msg):
	print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def _pct(xs, p):
	if not xs:
		return None
	xs = sorted(xs)
	k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
	return xs[k]


def _accounts(n):
	return {"u%d@bench.test" % i: "pass" for i in range(1, n + 1)}


def _load(targets, rcpts, n, sessions, size, timeout):
	d = mrcluster.Delivery(targets, sorted(rcpts), n, workers=sessions, attempts=1,
		timeout=60, size=size).start()
	d.join(timeout)
	if len(d.accepted) < n:
		ex = list(d.failed.values())[:3]
		raise BenchError("only %d of %d messages accepted; e.g. %r" % (len(d.accepted), n, ex))
	return d


def _problems(nodes):
	out = []
	for n in nodes:
		n.scan_sanitizers()
		out += ["%s: %s" % (n.name, p) for p in n.problems]
	return out


def bench_cluster(a, sz, workdir, dc_skip=None):
	_imports()
	mrcluster.ensure_args(a.bin_dir, a.keep)
	n, k, size = sz["cluster_messages"], sz["cluster_sessions"], sz["size"]
	accts = _accounts(sz["cluster_accounts"])
	out = {"unit": "msg/s, s, ms", "better": "see rows",
		"params": {"messages": n, "sessions": k, "loaded_sessions": sz["cluster_sessions_loaded"],
			"size": size, "accounts": len(accts),
			"warmup": sz["warmup"]}}
	res = {"status": "ok"}
	out["mailraft"] = res
	single = mrtest.Node("single", root=os.path.join(workdir, "cl-single"),
		conf={"plaintext_auth": "true", "max_connections": str(4 * k + 64)})
	cl = mrcluster.Cluster(3, prefix="clb", workdir=workdir,
		conf={"max_connections": str(4 * k + 64)})
	try:
		# single node baseline
		log("cluster: single node, %d messages, %d sessions" % (n, k))
		single.start()
		single.add_domain("bench.test")
		for addr, pw in accts.items():
			single.add_account(addr, pw)
		measure(res, "single_", [single], accts, sz)
		single.stop()
		log("cluster: single node %.1f msg/s loaded, %.1f light" % (res["single_loaded_msg_per_s"],
			res["single_msg_per_s"]))
		# 3-node cluster
		t0 = time.monotonic()
		cl.form()
		cl.provision("bench.test", accts)
		res["form_seconds"] = round(time.monotonic() - t0, 1)
		log("cluster: 3 nodes formed in %.1f s, %d messages, %d sessions" % (res["form_seconds"], n, k))
		measure(res, "", cl.nodes, accts, sz)
		res["ratio_light"] = round(res["msg_per_s"] / res["single_msg_per_s"], 3)
		res["ratio"] = round(res["loaded_msg_per_s"] / res["single_loaded_msg_per_s"], 3)
		res["ratio_target_met"] = res["ratio"] >= RATIO_TARGET
		log("cluster: %.1f msg/s loaded (ratio %.2f), %.1f msg/s light (ratio %.2f), "
			"commit latency p50 %.1f ms p99 %.1f ms" % (res["loaded_msg_per_s"], res["ratio"],
			res["msg_per_s"], res["ratio_light"], res["p50_ms"], res["p99_ms"]))
		cl.wait_converged(timeout=60)
		res.update(failover(cl, accts, sz))
		log("cluster: failover %.3f s (%d attempts after the kill, %d failed)" % (
			res["failover_s"], res["failover_attempts"], res["failover_failed"]))
		probs = _problems([single] + cl.nodes)
		if probs:
			raise BenchError("daemon problems: %s" % "; ".join(probs)[:2000])
	except BenchError as e:
		res.update({"status": "failed", "error": str(e)})
	except Exception as e:  # noqa: BLE001 - reported as a failed benchmark
		res.update({"status": "failed", "error": "%s: %s\n%s" % (type(e).__name__, e, cl.logs(15))})
	finally:
		single.kill()
		for x in cl.nodes:
			x.kill()
		if not a.keep:
			single.cleanup()
			cl.cleanup()
	return out


def measure(res, prefix, nodes, accts, sz):
	"""Throughput and latency of one side (a single node, or the cluster's nodes) into res:
	msg/s from smtp-source when installed (P processes, one per node/recipient, started
	together), else from the Python client; latency (DATA end -> 250) always from the Python
	client (smtplib, one message per session, sessions spread over the nodes)."""
	n, k, size, tmo = sz["cluster_messages"], sz["cluster_sessions"], sz["size"], sz["smtp_timeout"]
	if sz["warmup"]:
		_load(lambda: nodes, accts, sz["warmup"], k, size, tmo)
	d = _load(lambda: nodes, accts, n, k, size, tmo)
	lat = d.latencies()
	res[prefix + "python_msg_per_s"] = round(len(d.accepted) / d.seconds(), 1)
	res[prefix + "p50_ms"] = round(1000 * _pct(lat, 50), 2)
	res[prefix + "p99_ms"] = round(1000 * _pct(lat, 99), 2)
	if smtp_source_path() is None:
		res[prefix + "msg_per_s"] = res[prefix + "python_msg_per_s"]
		d = _load(lambda: nodes, accts, n, sz["cluster_sessions_loaded"], size, tmo)
		res[prefix + "loaded_msg_per_s"] = round(len(d.accepted) / d.seconds(), 1)
		res["note"] = "msg/s from python smtplib (smtp-source not installed)"
		return
	ports = [x.ports["smtp"] for x in nodes]
	res[prefix + "msg_per_s"] = _source(ports, sorted(accts), n, k, size, tmo)
	res[prefix + "loaded_msg_per_s"] = _source(ports, sorted(accts), n, sz["cluster_sessions_loaded"],
		size, tmo)
	res["note"] = ("msg/s from smtp-source (3 processes, one per node and recipient); latency from "
		"python smtplib; single node p50/p99 %s/%s ms" % (res.get("single_p50_ms"), res.get("single_p99_ms")))


def _source(smtp_ports, rcpts, n, k, size, timeout):
	"""3 concurrent smtp-source processes, process j -> port j % len, recipient j; msg/s."""
	procs, P = [], 3
	t0 = time.monotonic()
	for j in range(P):
		m = n // P + (1 if j < n % P else 0)
		cmd = [smtp_source_path(), "-s", str(max(1, k // P)), "-m", str(m), "-l", str(size),
			"-f", "a@example.test", "-t", rcpts[j % len(rcpts)], "127.0.0.1:%d" % smtp_ports[j % len(smtp_ports)]]
		procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
			stderr=subprocess.STDOUT))
	errs = []
	try:
		for p in procs:
			out, _ = p.communicate(timeout=max(1, timeout - (time.monotonic() - t0)))
			if p.returncode != 0:
				errs.append("smtp-source exited %d: %s" % (p.returncode,
					" | ".join(out.decode("utf-8", "replace").strip().splitlines()[-3:])))
	except subprocess.TimeoutExpired:
		errs.append("smtp-source did not finish within %.0f s" % timeout)
	finally:
		for p in procs:
			if p.poll() is None:
				p.kill()
				p.wait(5)
	if errs:
		raise BenchError("; ".join(errs))
	return round(n / (time.monotonic() - t0), 1)


def failover(cl, accts, sz):
	"""SIGKILL the leader while clients start a delivery to a follower every 50 ms."""
	ld = cl.leader()
	survivors = [x for x in cl.nodes if x is not ld]
	rcpts = sorted(accts)
	attempts = []   # (start, end, ok)
	lock = threading.Lock()
	stop = threading.Event()
	threads = []

	def one(i, t_start):
		node = survivors[i % len(survivors)]
		d = mrcluster.Delivery(lambda: [node], [rcpts[i % len(rcpts)]], 1, workers=1, attempts=1,
			timeout=20, tag="fo%d" % i)
		d._deliver(0)
		with lock:
			attempts.append((t_start, time.monotonic(), bool(d.accepted)))

	def ticker():
		i = 0
		while not stop.is_set():
			if sum(1 for t in threads if t.is_alive()) < 60:
				t = threading.Thread(target=one, args=(i, time.monotonic()), daemon=True)
				t.start()
				threads.append(t)
				i += 1
			stop.wait(FAILOVER_TICK)
	tk = threading.Thread(target=ticker, daemon=True)
	tk.start()
	try:
		time.sleep(1.0)   # steady state: deliveries succeed before the kill
		t_kill = time.monotonic()
		ld.kill()
		end = t_kill + sz["failover_timeout"]
		first = None
		while time.monotonic() < end and first is None:
			with lock:
				oks = [e for s, e, ok in attempts if ok and s >= t_kill]
			if oks:
				first = min(oks)
			time.sleep(0.02)
	finally:
		stop.set()
		tk.join(5)
		for t in threads:
			t.join(25)
	if first is None:
		raise BenchError("no delivery accepted within %.0f s of killing the leader" % sz["failover_timeout"])
	after = [x for x in attempts if x[0] >= t_kill]
	before_ok = sum(1 for s, e, ok in attempts if ok and s < t_kill)
	if not before_ok:
		raise BenchError("no delivery succeeded before the kill (load not running?)")
	return {"failover_s": round(first - t_kill, 3), "failover_target_met": first - t_kill < FAILOVER_TARGET_S,
		"failover_attempts": len(after), "failover_failed": sum(1 for x in after if not x[2]),
		"new_leader": cl.leader(timeout=30).name, "killed_leader": ld.name}


def cluster_figures(res):
	r = res.get("mailraft", {})
	return [("cluster.ingest", r.get("loaded_msg_per_s")), ("cluster.ratio", r.get("ratio")),
		("cluster.ratio_light", r.get("ratio_light")),
		("cluster.p99_ms", r.get("p99_ms")), ("cluster.failover_s", r.get("failover_s"))]


def cluster_rows(results):
	res = results.get("cluster")
	if not res:
		return []
	p, r = res.get("params", {}), res.get("mailraft", {})
	load = "%d msgs, %d B, 3 accounts" % (p.get("messages", 0), p.get("size", 0))
	kl, k = p.get("loaded_sessions", 0), p.get("sessions", 0)
	return [
		("Cluster SMTP ingest msg/s, single node, loaded (%s, %d sessions) [higher=better]"
			% (load, kl), r.get("single_loaded_msg_per_s"), None, None),
		("Cluster SMTP ingest msg/s, 3 nodes, loaded; last column = cluster/single, target >= %.1f"
			% RATIO_TARGET, r.get("loaded_msg_per_s"), None, r.get("ratio")),
		("Cluster SMTP ingest msg/s, single node, light (%d sessions) [higher=better]" % k,
			r.get("single_msg_per_s"), None, None),
		("Cluster SMTP ingest msg/s, 3 nodes, light; last column = cluster/single",
			r.get("msg_per_s"), None, r.get("ratio_light")),
		("Cluster commit latency p50 ms (DATA end -> 250) [lower=better]", r.get("p50_ms"), None, None),
		("Cluster commit latency p99 ms (DATA end -> 250) [lower=better]", r.get("p99_ms"), None, None),
		("Cluster failover s, SIGKILL leader -> first 250 (target < %.0f) [lower=better]"
			% FAILOVER_TARGET_S, r.get("failover_s"), None, None),
	]


def cluster_notes(results):
	r = results.get("cluster", {}).get("mailraft", {})
	notes = []
	if "ratio_target_met" in r:
		notes.append("cluster: ingest ratio %.2f under load: target >= %.1f %s (light load %.2f: "
			"each message waits for its raft round trip)" % (r["ratio"], RATIO_TARGET,
			"met" if r["ratio_target_met"] else "NOT met", r.get("ratio_light", 0)))
	if "failover_target_met" in r:
		notes.append("cluster: failover %.3f s (killed %s, new leader %s): target < %.0f s %s" % (
			r["failover_s"], r.get("killed_leader"), r.get("new_leader"), FAILOVER_TARGET_S,
			"met" if r["failover_target_met"] else "NOT met"))
	return notes

"""imapbench.py - the two IMAP benchmarks of issue 4, called from run.py.

imap_load : our load generator (imapload.py) runs the same fixed command mix with P client
            processes against mailraft and against Dovecot, in alternating windows
            (mailraft, Dovecot, mailraft, Dovecot, ...) so that noise on the shared
            machine hits both; ops/s, p50/p99 latency per server, and the ratios.
imap_idle : N concurrent sessions in IDLE (LOGIN, SELECT INBOX, IDLE) on one mailraftd,
            held by several client processes (idlefleet.py); VmRSS growth per session
            compared with the 32 KiB target (printed, not enforced).
Both fail (exit status 1 of run.py) when mailraft cannot serve the load: a command answered
NO/BAD, a closed or stalled session, a dead daemon."""
import resource
import sys
import time

from idlefleet import IdleFleet, fleet_procs
from imapload import run_load, summarize
from servers import BenchError, Dovecot, Mailraft
from workloads import cpu_tree_seconds, pss_tree_kib, rss_kib, settle

IDLE_TARGET_KIB = 32.0


def log(msg):
	print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def _ratio(a, b):
	return round(a / b, 3) if a is not None and b else None


# ---------------------------------------------------------------- imap_load

class _LoadSide:
	def __init__(self, name, start, port_fn, users, stop, diag, alive, cpu):
		self.name, self.start, self.port_fn, self.users, self.cpu = name, start, port_fn, users, cpu
		self.stop, self.diag, self.alive = stop, diag, alive
		self.windows = []
		self.error = None


def _sides(a, sz, workdir, dc_skip):
	n = sz["load_procs"]
	m = Mailraft(a.bin_dir, workdir, "mr-load", ("imap",), max_connections=4 * n + 64)

	def mr_start():
		m.start()
		m.provision("bench.test", ["user%d" % i for i in range(1, n + 1)])
	sides = [_LoadSide("mailraft", mr_start, lambda: m.ports["imap"],
		["user%d@bench.test" % i for i in range(1, n + 1)], m.stop, m.diag, m.alive,
		lambda: cpu_tree_seconds(m.pid))]
	if not dc_skip:
		d = Dovecot(workdir, "dc-load", nusers=n)
		sides.append(_LoadSide("dovecot", d.start, lambda: d.ports["imap"],
			["user%d" % i for i in range(1, n + 1)], d.stop, lambda: "",
			lambda: d.proc is not None and d.proc.poll() is None, lambda: cpu_tree_seconds(d.pid)))
	return sides


def bench_imap_load(a, sz, workdir, dc_skip):
	out = {"unit": "ops/s", "better": "higher", "client": "tests/bench/imapload.py",
		"params": {"processes": sz["load_procs"], "seconds_per_window": sz["load_seconds"],
			"windows_per_server": sz["load_rounds"], "messages_per_mailbox": sz["load_messages"],
			"mix": "SELECT, FETCH 1:* FLAGS, FETCH 5 bodies, STORE x2, APPEND, EXPUNGE, IDLE"}}
	sides = _sides(a, sz, workdir, dc_skip)
	if dc_skip:
		out["dovecot"] = {"status": "skipped", "reason": dc_skip}
	live = []

	def fail(side, e):
		side.error = str(e) + ("\n" + side.diag() if side.diag() else "")
		log("imap_load: %s FAILED: %s" % (side.name, side.error))
		if side in live:
			live.remove(side)
	try:
		for side in sides:
			try:
				log("imap_load: starting %s, filling %d mailboxes" % (side.name, sz["load_procs"]))
				live.append(side)
				side.start()
				if sz.get("load_warmup"):
					run_load(side.port_fn(), side.users, "pass", sz["load_messages"], sz["load_warmup"])
			except Exception as e:
				fail(side, e)
		for rnd in range(sz["load_rounds"]):
			for side in list(live):
				try:
					w = run_load(side.port_fn(), side.users, "pass", sz["load_messages"],
						sz["load_seconds"], seed=rnd + 1, cpu_fn=side.cpu)
				except Exception as e:
					fail(side, e)
					continue
				side.windows.append(w)
				s = summarize([w])
				log("imap_load: window %d/%d %s: %d ops in %.1f s = %.1f ops/s, p99 %.1f ms, server CPU %.3f ms/op%s" % (
					rnd + 1, sz["load_rounds"], side.name, s["ops"], s["seconds"],
					s["ops_per_s"] or 0, s["p99_ms"] or 0, s["server_cpu_ms_per_op"] or 0,
					", %d errors" % s["errors"] if s["errors"] else ""))
		for side in list(live):
			if not side.alive():
				fail(side, BenchError("%s died during the run" % side.name))
	finally:
		for side in sides:
			side.stop()
	for side in sides:
		if side.error:
			out[side.name] = {"status": "failed", "error": side.error}
			continue
		r = summarize(side.windows)
		if r["errors"]:
			r["status"] = "failed"
			r["error"] = "%d commands failed, e.g. %s" % (r["errors"], " | ".join(r["first_errors"]))
		elif not r["ops"]:
			r["status"] = "failed"
			r["error"] = "no command completed"
		elif r["per_op"]["bodies"]["n"] and r["body_bytes"] < 1024 * r["per_op"]["bodies"]["n"]:
			r["status"] = "failed"   # every message is >= 1 KB: bodies must come back
			r["error"] = "FETCH BODY.PEEK[] returned only %d bytes in %d commands" % (
				r["body_bytes"], r["per_op"]["bodies"]["n"])
		else:
			r["status"] = "ok"
		out[side.name] = r
	mr, dc = out.get("mailraft", {}), out.get("dovecot", {})
	out["ratio"] = _ratio(mr.get("ops_per_s"), dc.get("ops_per_s"))
	out["p99_ratio"] = _ratio(mr.get("p99_ms"), dc.get("p99_ms"))
	out["cpu_ratio"] = _ratio(mr.get("server_cpu_ms_per_op"), dc.get("server_cpu_ms_per_op"))
	return out


# ---------------------------------------------------------------- imap_idle

def raise_fd_limit(need):
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	want = need if hard == resource.RLIM_INFINITY else min(need, hard)
	if soft != resource.RLIM_INFINITY and soft < want:
		resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
		soft = want
	return soft, hard


def bench_imap_idle(a, sz, workdir, dc_skip):
	"""The target figure is cleartext IMAP ("mailraft"); with "imaps" in idle_variants the
	same is measured over implicit TLS on a fresh daemon (result["imaps"]["mailraft"])."""
	n, nusers = sz["idle_connections"], sz["idle_users"]
	procs = fleet_procs(n)
	soft, hard = raise_fd_limit(n + 1024)
	out = {"unit": "KiB/connection", "better": "lower", "target_kib": IDLE_TARGET_KIB,
		"params": {"connections": n, "accounts": nusers, "client_processes": procs,
			"client_fd_limit": soft, "kind": "LOGIN + SELECT INBOX + IDLE",
			"variants": list(sz["idle_variants"])}}
	per_proc = -(-n // procs)
	if soft < per_proc + 64:
		raise BenchError("fd limit %d (hard %d) too low for %d sockets per client process"
			% (soft, hard, per_proc))
	for variant in sz["idle_variants"]:
		tls = variant == "imaps"
		log("imap_idle: mailraft, %d sessions in IDLE over %s" % (n, "IMAPS" if tls else "IMAP"))
		m = Mailraft(a.bin_dir, workdir, "mr-idle-" + variant, ("imap", "imaps"), max_connections=n + 64)
		try:
			r = _idle(m, sz, n, nusers, procs, tls)
		except Exception as e:
			msg = str(e) if isinstance(e, BenchError) else "%s: %s" % (type(e).__name__, e)
			r = {"status": "failed", "error": msg + ("\n" + m.diag() if m.diag() else "")}
		finally:
			m.stop()
		log("imap_idle: %s -> %s" % (variant, r.get("kib_per_conn", r.get("error"))))
		if tls:
			out["imaps"] = {"mailraft": r}
		else:
			out["mailraft"] = r
	return out


def fd_limit_of(pid):
	"""Soft RLIMIT_NOFILE of a running process (None if unreadable)."""
	try:
		with open("/proc/%d/limits" % pid) as f:
			for line in f:
				if line.startswith("Max open files"):
					v = line.split()[3]
					return None if v == "unlimited" else int(v)
	except (OSError, ValueError, IndexError):
		pass
	return None


def _idle(m, sz, n, nusers, procs, tls):
	m.start()
	lim = fd_limit_of(m.pid)
	if lim is not None and lim < n + 64:
		raise BenchError("mailraftd's fd limit is %d, too low for %d sessions (raise the hard "
			"limit, e.g. ulimit -Hn, or use --idle-connections)" % (lim, n))
	t0 = time.monotonic()
	users = ["user%d" % i for i in range(1, nusers + 1)]
	m.provision("bench.test", users)
	addrs = ["%s@bench.test" % u for u in users]
	log("imap_idle: %d accounts provisioned in %.1f s" % (nusers, time.monotonic() - t0))
	port = m.ports["imaps" if tls else "imap"]
	deadline = time.monotonic() + sz["idle_timeout"]
	warm = IdleFleet(port, addrs, nusers, 1, tls=tls)   # first use of every account
	try:
		warm.open(deadline)
	finally:
		warm.close()
	time.sleep(0.5)
	rss0, pss0 = settle(lambda: rss_kib(m.pid)), pss_tree_kib(m.pid)[0]
	fleet = IdleFleet(port, addrs, n, procs, tls=tls)
	t0 = time.monotonic()
	try:
		fleet.open(deadline)
		open_s = time.monotonic() - t0
		log("imap_idle: %d sessions in IDLE after %.1f s" % (n, open_s))
		rss1, pss1 = settle(lambda: rss_kib(m.pid)), pss_tree_kib(m.pid)[0]
		alive = fleet.alive()
	finally:
		fleet.close()
	if not m.alive():
		raise BenchError("mailraftd died during the run")
	if alive < n:
		raise BenchError("the server closed %d of %d idle sessions" % (n - alive, n))
	per = round((rss1 - rss0) / n, 1)
	r = {"status": "ok", "connections": n, "open_seconds": round(open_s, 2),
		"sessions_per_s": round(n / open_s, 1) if open_s > 0 else None,
		"rss_before_kib": rss0, "rss_after_kib": rss1, "kib_per_conn": per,
		"pss_kib_per_conn": round((pss1 - pss0) / n, 1), "target_met": per < IDLE_TARGET_KIB}
	if m.note:
		r["note"] = m.note
	return r

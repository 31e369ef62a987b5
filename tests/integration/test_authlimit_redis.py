"""test_authlimit_redis.py - login-failure throttling shared through Redis (core/authlimit_redis.h)
between two single mailraft nodes (each its own data dir and master key, the same account
names, the same redis_address and redis_secret) and a real redis-server started here (temporary
directory, no persistence, killed at the end):
- failures on node A lock the account out on node B: B's first attempt for a key it has not
  seen is still checked (the documented one-attempt lag: the check only starts the fetch), the
  next one is refused with NO [UNAVAILABLE] even with the right password;
- Redis holds only hashed key names: the names are recomputed here from the secret (keyed
  BLAKE2b, as the node does) with the expected counts, and KEYS * shows no '@' or IP;
- a success (on B) clears the shared counters, and A then counts from zero;
- redis-server killed: both nodes log the loss once (no spam while it is down), logins still
  succeed, SMTP still answers 250, and a lockout is per node again;
- redis-server restarted on the same port: both nodes reconnect and sharing resumes."""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, wait_for, Line, HOST  # noqa: E402
from ports import free_port  # noqa: E402

DOMAIN = "example.test"
SECRET = "shared-authlimit-secret-for-tests"
USERS = {
	"carol@example.test": "carol-pw-1",  # shared lockout, cleared by a success
	"dave@example.test": "dave-pw-1",    # Redis down: per-node lockout
	"erin@example.test": "erin-pw-1",    # after the restart: sharing again
}
# The mirror is asynchronous: a client may see its answer before the node's command reaches
# Redis, so Redis state is polled (wait_count), and after a count shows up in Redis the node
# gets this long for the answer to travel back.
ANSWER_BACK_S = 0.2
LOCK_AFTER_6_S = 10.0  # AUTHLIMIT_LOCK_BASE_MS doubled once (6 failures, threshold 5)
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


# ---------------------------------------------------------------- redis-server and RESP

class RedisServer:
	def __init__(self):
		self.dir = tempfile.mkdtemp(prefix="mrtest-redis-")
		self.port = free_port()
		self.proc = None

	def start(self):
		check(os.access(REDIS_BIN, os.X_OK), "redis-server not installed (apt-get install redis-server)")
		self.proc = subprocess.Popen([REDIS_BIN, "--port", str(self.port), "--bind", HOST,
			"--save", "", "--appendonly", "no", "--dir", self.dir,
			"--logfile", os.path.join(self.dir, "redis.log"), "--daemonize", "no"],
			stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
			start_new_session=True, preexec_fn=mrtest._die_with_parent)
		wait_for(lambda: self._pong(), timeout=10, what="redis-server on port %d" % self.port)

	def _pong(self):
		try:
			return redis_cmd(self.port, "PING") == "PONG"
		except OSError:
			return False

	def kill(self):
		if self.proc is not None:
			if self.proc.poll() is None:
				os.killpg(self.proc.pid, signal.SIGKILL)
			self.proc.wait(10)
			self.proc = None

	def cleanup(self):
		self.kill()
		shutil.rmtree(self.dir, ignore_errors=True)


def _read_reply(f):
	line = f.readline()
	check(line.endswith(b"\r\n"), "RESP: short line %r" % line)
	t, rest = line[:1], line[1:-2]
	if t == b"+":
		return rest.decode()
	if t == b"-":
		raise mrtest.Fail("redis error: %s" % rest.decode())
	if t == b":":
		return int(rest)
	if t == b"$":
		n = int(rest)
		if n < 0:
			return None
		data = f.read(n + 2)
		return data[:-2].decode("utf-8", "replace")
	if t == b"*":
		n = int(rest)
		return None if n < 0 else [_read_reply(f) for _ in range(n)]
	raise mrtest.Fail("RESP: unexpected %r" % line)


def redis_cmd(port, *args):
	"""One command over a fresh connection (RESP2), the decoded reply."""
	with socket.create_connection((HOST, port), timeout=5) as s:
		out = b"*%d\r\n" % len(args)
		for a in args:
			a = a.encode() if isinstance(a, str) else a
			out += b"$%d\r\n%s\r\n" % (len(a), a)
		s.sendall(out)
		with s.makefile("rb") as f:
			return _read_reply(f)


def key_name(kind, value):
	"""The node's Redis key for an IP ('i') or account ('a'): authlimit_redis.c derives a key
	from the secret (BLAKE2b-256 of it keys BLAKE2b-256 of a context string) and names the
	counter after the 64-bit keyed BLAKE2b digest of kind + lower-cased value."""
	k = hashlib.blake2b(SECRET.encode(), digest_size=32).digest()
	hkey = hashlib.blake2b(b"mailraft authlimit redis v1", digest_size=32, key=k).digest()
	d = hashlib.blake2b(kind.encode() + value.lower().encode(), digest_size=8, key=hkey).digest()
	return "mr:al:%s:%016x" % (kind, int.from_bytes(d, "little"))


def shared_count(env, kind, value):
	v = redis_cmd(env.redis.port, "GET", key_name(kind, value))
	return None if v is None else int(v)


def wait_count(env, kind, value, want, timeout=3):
	"""Wait until Redis holds `want` for (kind, value) (None = no key), then let the answer
	reach the node."""
	wait_for(lambda: shared_count(env, kind, value) == want, timeout=timeout,
		what="Redis count %r for %s %s (now %r)" % (want, kind, value, shared_count(env, kind, value)))
	time.sleep(ANSWER_BACK_S)


# ---------------------------------------------------------------- nodes and logins

def setup(env):
	env.redis = RedisServer()
	env.redis.start()
	conf = {"redis_address": "%s:%d" % (HOST, env.redis.port), "redis_secret": SECRET}
	env.a = env.new_node("alr-a", conf=conf)
	env.b = env.new_node("alr-b", conf=conf)
	for n in (env.a, env.b):
		n.start()
		n.add_domain(DOMAIN)
		for u, p in USERS.items():
			n.add_account(u, p)
	for n in (env.a, env.b):
		wait_redis_lines(n, "connected to", 1)


def teardown(env):
	r = getattr(env, "redis", None)
	if r is not None:
		r.cleanup()


def redis_lines(node, what):
	return [ln for ln in node.log_text().splitlines() if " redis" in ln and what in ln]


def wait_redis_lines(node, what, n, timeout=15):
	wait_for(lambda: len(redis_lines(node, what)) >= n, timeout=timeout,
		what="%d log line(s) 'redis ... %s' in %s" % (n, what, node.root))


def login(node, user, pw, tag="t1"):
	"""LOGIN on a fresh IMAPS connection: the tagged reply line."""
	ln = Line(node.ports["imaps"], tls=True)
	try:
		g = ln.readline()
		check(g is not None and g.startswith(b"* OK"), "IMAP greeting %r" % g)
		ln.cmd('%s LOGIN "%s" "%s"' % (tag, user, pw))
		lines = ln.imap_until_tagged(tag)
		check(lines and lines[-1].startswith(tag.encode() + b" "), "no tagged reply: %r" % lines)
		return lines[-1]
	finally:
		ln.sock.close()


def expect(node, user, pw, want, what):
	r = login(node, user, pw)
	check(want in r, "%s: expected %r, got %r" % (what, want, r))


def fail_n(node, user, n):
	for i in range(n):
		expect(node, user, "wrong-%d" % i, b"NO [AUTHENTICATIONFAILED]", "wrong password %d" % i)


# ---------------------------------------------------------------- tests

def test_lockout_shared(env):
	user, pw = "carol@example.test", USERS["carol@example.test"]
	fail_n(env.a, user, 5)
	wait_count(env, "a", user, 5)
	wait_count(env, "i", HOST, 5)
	expect(env.a, user, pw, b"NO [UNAVAILABLE]", "right password on A during its lockout")
	# B has never seen carol: this attempt is checked (and counted: 6), it fetches the count
	expect(env.b, user, "wrong-b", b"NO [AUTHENTICATIONFAILED]", "B's first attempt (lag)")
	wait_count(env, "a", user, 6)
	t0 = time.monotonic()
	expect(env.b, user, pw, b"NO [UNAVAILABLE]", "right password on B after A's failures")
	check(time.monotonic() - t0 < 1.0, "refusal took %.2fs" % (time.monotonic() - t0))
	# the other account from the same client is not affected on either node
	expect(env.b, "erin@example.test", USERS["erin@example.test"], b"OK", "bystander on B")


def test_no_cleartext_in_redis(env):
	fail_n(env.b, "Dave@Example.Test", 1)
	wait_count(env, "a", "dave@example.test", 1)  # the account is case-folded before hashing
	keys = redis_cmd(env.redis.port, "KEYS", "*")
	check(keys, "no keys in Redis")
	for k in keys:
		check("@" not in k and "127.0.0.1" not in k and "example" not in k.lower(), "clear text in key %r" % k)
		check(k.startswith("mr:al:"), "unexpected key %r" % k)
		v = redis_cmd(env.redis.port, "GET", k)
		check(v is not None and v.isdigit(), "value of %s: %r" % (k, v))
		ttl = redis_cmd(env.redis.port, "PTTL", k)
		check(0 < ttl <= 15 * 60 * 1000, "%s expires within the window: %r" % (k, ttl))
	check(key_name("a", "dave@example.test") in keys, "dave's counter (case-folded) missing: %r" % keys)
	expect(env.b, "dave@example.test", USERS["dave@example.test"], b"OK", "dave logs in")
	wait_count(env, "a", "dave@example.test", None)  # a success clears it


def test_success_clears(env):
	user, pw = "carol@example.test", USERS["carol@example.test"]
	time.sleep(LOCK_AFTER_6_S + 0.5)  # B's lockout (6 failures) is over on both nodes
	expect(env.b, user, pw, b"OK", "right password on B after the lockout")
	wait_count(env, "a", user, None)
	wait_count(env, "i", HOST, None)
	# A still holds 6 failures in memory; its next check fetches the cleared count
	expect(env.a, user, "wrong-again", b"NO [AUTHENTICATIONFAILED]", "one failure on A after the success")
	wait_count(env, "a", user, 1)  # counting restarted from zero
	expect(env.a, user, pw, b"OK", "right password on A after one new failure")


def test_redis_down(env):
	user, pw = "dave@example.test", USERS["dave@example.test"]
	env.redis.kill()
	for n in (env.a, env.b):
		wait_redis_lines(n, "lost the connection", 1)
	time.sleep(3)  # several reconnect attempts (back-off from 100 ms)
	for n in (env.a, env.b):
		warn = [ln for ln in n.log_text().splitlines()
			if " redis " in ln and " debug " not in ln and ("lost" in ln or "cannot" in ln)]
		check(len(warn) == 1, "one line per outage, got %d:\n%s" % (len(warn), "\n".join(warn)))
	# logins and delivery keep working on both nodes
	expect(env.a, user, pw, b"OK", "login on A with Redis down")
	expect(env.b, user, pw, b"OK", "login on B with Redis down")
	for n in (env.a, env.b):
		refused = n.send("sender@remote.test", [user], b"Subject: redis down\r\n\r\nstill delivered\r\n")
		check(refused == {}, "SMTP with Redis down: %r" % refused)
	# the lockout is per node again: A locks dave, B does not know
	fail_n(env.a, user, 5)
	expect(env.a, user, pw, b"NO [UNAVAILABLE]", "A locks dave on its own")
	expect(env.b, user, pw, b"OK", "B does not share A's failures while Redis is down")


def test_redis_back(env):
	user, pw = "erin@example.test", USERS["erin@example.test"]
	env.redis.start()  # same port, empty
	for n in (env.a, env.b):
		wait_redis_lines(n, "connected to", 2)
	fail_n(env.b, user, 5)
	wait_count(env, "a", user, 5)  # sharing resumed
	expect(env.a, user, "wrong-a", b"NO [AUTHENTICATIONFAILED]", "A's first attempt (lag)")
	wait_count(env, "a", user, 6)
	expect(env.a, user, pw, b"NO [UNAVAILABLE]", "A refuses after B's failures")
	keys = redis_cmd(env.redis.port, "KEYS", "*")
	check(all("@" not in k and "127.0.0.1" not in k for k in keys), "clear text in %r" % keys)


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup, teardown=teardown)

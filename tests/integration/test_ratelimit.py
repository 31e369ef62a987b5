"""test_ratelimit.py - SMTP rate limits (core/ratelimit.h) against real mailraftd nodes:
connections per client IP per minute (421 4.7.0 at the greeting), messages per client IP and
per sender domain per hour on the MX and per authenticated user on submission (451 4.7.1 at
MAIL, nothing counted); and two nodes sharing one real redis-server enforcing one per-user
limit together (the documented lag: a node learns the shared count from its next event's
answer), with Redis killed mid-test changing nothing but the sharing (mail still accepted)."""
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, make_message, wait_for, HOST, tls_ctx  # noqa: E402
from test_authlimit_redis import RedisServer  # noqa: E402  (one redis-server helper)

DOMAIN = "example.test"
USER, PW = "rate@example.test", "rate-pw-1"


def setup(env):
	env.redis = None


def teardown(env):
	if env.redis is not None:
		env.redis.cleanup()


def mx_mail(node, frm):
	"""One MX session up to MAIL; the MAIL reply code."""
	s = smtplib.SMTP(HOST, node.ports["smtp"], local_hostname="client.test", timeout=30)
	try:
		s.ehlo()
		return s.docmd("MAIL", "FROM:<%s>" % frm)
	finally:
		s.close()


def submit(node):
	s = smtplib.SMTP_SSL(HOST, node.ports["submissions"], local_hostname="client.test",
		context=tls_ctx(), timeout=30)
	try:
		s.ehlo()
		s.login(USER, PW)
		return s.docmd("MAIL", "FROM:<%s>" % USER)
	finally:
		s.close()


def test_connections_per_ip(env):
	n = env.new_node("rl-conn", conf={"smtp_rate_connections_per_ip": "20"})
	n.start()
	# the harness's start-up probes of the SMTP listeners count too: at most 3
	refused_at = None
	for i in range(1, 25):
		s = smtplib.SMTP(timeout=30)
		code, msg = s.connect(HOST, n.ports["smtp"])
		s.close()
		if code != 220:
			eq(code, 421, "refused with 421")
			check(b"4.7.0" in msg and b"Too many connections" in msg, "421 text: %r" % msg)
			refused_at = i
			break
	check(refused_at is not None and 17 <= refused_at <= 21, "refused after ~20 connections: %r" % refused_at)


def test_messages_per_ip_and_domain(env):
	n = env.new_node("rl-msg", conf={"smtp_rate_messages_per_ip": "4",
		"smtp_rate_messages_per_sender_domain": "2"})
	n.start()
	eq(mx_mail(n, "a@one.test"), (250, b"2.1.0 Ok"), "1st from one.test")
	eq(mx_mail(n, "b@one.test"), (250, b"2.1.0 Ok"), "2nd from one.test")
	eq(mx_mail(n, "c@one.test"), (451, b"4.7.1 Error: too many messages, try again later"),
		"3rd from one.test: the domain's limit")
	eq(mx_mail(n, "a@two.test")[0], 250, "another domain")
	eq(mx_mail(n, "b@two.test")[0], 250, "4th message from this IP")
	eq(mx_mail(n, "a@three.test")[0], 451, "5th from this IP: the IP's limit")


def test_shared_user_limit(env):
	env.redis = RedisServer()
	env.redis.start()
	conf = {"redis_address": "%s:%d" % (HOST, env.redis.port), "redis_secret": "rl-secret",
		"submission_rate_messages_per_user": "3"}
	a, b = env.new_node("rl-a", conf=conf), env.new_node("rl-b", conf=conf)
	for x in (a, b):
		x.start()
		x.add_domain(DOMAIN)
		x.add_account(USER, PW)
		wait_for(lambda: "connected to" in x.log_text(), timeout=15, what="node connected to redis")
	eq(submit(a)[0], 250, "A 1")
	eq(submit(a)[0], 250, "A 2")
	# B has not counted this user yet: its first event is allowed and learns the shared count
	eq(submit(b)[0], 250, "B 1 (lag)")
	eq(submit(b)[0], 451, "B 2: over the shared limit (alone B would allow 3)")
	# A still counts 2 locally: its next event is allowed and brings the shared count back
	eq(submit(a)[0], 250, "A 3 (lag)")
	eq(submit(a)[0], 451, "A 4: over the shared limit")
	# Redis gone: nothing breaks, each node counts alone (its counts so far stay)
	env.redis.kill()
	wait_for(lambda: "lost" in a.log_text() or "cannot" in a.log_text(), timeout=15, what="A noticed")
	eq(mx_delivery(a), {}, "MX delivery with Redis down")


def mx_delivery(node):
	return node.send("x@remote.test", [USER], make_message("rl-down", "still accepted\n"))


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup, teardown=teardown)

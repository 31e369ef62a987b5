"""test_authlimit.py - login-failure throttling (core/authlimit.h) against a real mailraftd:
after repeated wrong passwords for one account, IMAP (LOGIN and AUTHENTICATE PLAIN) refuses even
the right password with NO [UNAVAILABLE] (RFC 5530) and POP3 with -ERR [SYS/TEMP] (RFC 3206),
without checking it; another account from the same client still logs in; once the short first
lockout (5 s) has passed the right password works again. Thresholds are compile-time
constants (5 failures per account, 10 per IP)."""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, Line  # noqa: E402

DOMAIN = "example.test"
USERS = {
	"ivan@example.test": "ivan-pw-1",   # IMAP lockout
	"judy@example.test": "judy-pw-1",   # IMAP bystander
	"kurt@example.test": "kurt-pw-1",   # POP3 lockout
}
LOCK_BASE_S = 5.0  # AUTHLIMIT_LOCK_BASE_MS


def setup(env):
	n = env.new_node("authlimit")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	for u, p in USERS.items():
		n.add_account(u, p)


def imap_raw(env):
	ln = Line(env.node.ports["imaps"], tls=True)
	g = ln.readline()
	check(g is not None and g.startswith(b"* OK"), "IMAP greeting %r" % g)
	return ln


def imap_login(ln, tag, user, pw):
	ln.cmd('%s LOGIN "%s" "%s"' % (tag, user, pw))
	lines = ln.imap_until_tagged(tag)
	check(lines and lines[-1].startswith(tag.encode() + b" "), "%s: no tagged reply: %r" % (tag, lines))
	return lines[-1]


def pop3_raw(env):
	ln = Line(env.node.ports["pop3s"], tls=True)
	g = ln.readline()
	check(g is not None and g.startswith(b"+OK"), "POP3 greeting %r" % g)
	return ln


def pop3_login(ln, user, pw):
	ln.cmd("USER " + user)
	r = ln.readline()
	check(r is not None and r.startswith(b"+OK"), "USER: %r" % r)
	ln.cmd("PASS " + pw)
	r = ln.readline()
	check(r is not None, "PASS: connection closed")
	return r


def test_imap_lockout(env):
	user, pw = "ivan@example.test", USERS["ivan@example.test"]
	a = imap_raw(env)
	for i in range(5):
		r = imap_login(a, "a%d" % i, user, "wrong-%d" % i)
		check(b"NO [AUTHENTICATIONFAILED]" in r, "wrong password %d: %r" % (i, r))
	a.sock.close()
	b = imap_raw(env)
	# sixth wrong attempt: refused without a password check
	r = imap_login(b, "b1", user, "wrong-6")
	check(b"NO [UNAVAILABLE]" in r, "6th attempt during the lockout: %r" % r)
	# the right password is refused too, at once (no Argon2 work)
	t0 = time.monotonic()
	r = imap_login(b, "b2", user, pw)
	check(b"NO [UNAVAILABLE]" in r, "right password during the lockout: %r" % r)
	check(time.monotonic() - t0 < 1.0, "refusal took %.2fs" % (time.monotonic() - t0))
	# AUTHENTICATE PLAIN (SASL-IR) goes through the same gate
	ir = base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()
	b.cmd("b3 AUTHENTICATE PLAIN " + ir)
	lines = b.imap_until_tagged("b3")
	check(lines and b"b3 NO [UNAVAILABLE]" in lines[-1], "AUTHENTICATE during the lockout: %r" % lines)
	b.sock.close()
	# another account from the same client is not affected
	c = imap_raw(env)
	r = imap_login(c, "c1", "JUDY@example.test", USERS["judy@example.test"])
	check(r.startswith(b"c1 OK"), "other account during the lockout: %r" % r)
	c.sock.close()
	# the first lockout is short: afterwards the right password works (and resets)
	time.sleep(LOCK_BASE_S + 0.5)
	d = imap_raw(env)
	r = imap_login(d, "d1", user.upper(), pw)
	check(r.startswith(b"d1 OK"), "right password after the lockout: %r" % r)
	d.sock.close()
	e = imap_raw(env)
	r = imap_login(e, "e1", user, "wrong-again")
	check(b"NO [AUTHENTICATIONFAILED]" in r, "a success reset the counter: %r" % r)
	r = imap_login(e, "e2", user, pw)
	check(r.startswith(b"e2 OK"), "right password after one new failure: %r" % r)
	e.sock.close()


def test_pop3_lockout(env):
	user, pw = "kurt@example.test", USERS["kurt@example.test"]
	# POP3 closes a session after 3 failures: spread the 5 failures over two sessions
	a = pop3_raw(env)
	for i in range(3):
		r = pop3_login(a, user, "wrong-%d" % i)
		check(r.startswith(b"-ERR [AUTH]"), "wrong password %d: %r" % (i, r))
	a.sock.close()
	b = pop3_raw(env)
	c = pop3_raw(env)  # opened in advance: the lockout is short
	for i in range(2):
		r = pop3_login(b, user, "wrong-b%d" % i)
		check(r.startswith(b"-ERR [AUTH]"), "wrong password b%d: %r" % (i, r))
	b.sock.close()
	r = pop3_login(c, user, "wrong-6")
	check(r.startswith(b"-ERR [SYS/TEMP]"), "6th attempt during the lockout: %r" % r)
	t0 = time.monotonic()
	r = pop3_login(c, user, pw)
	check(r.startswith(b"-ERR [SYS/TEMP]"), "right password during the lockout: %r" % r)
	check(time.monotonic() - t0 < 0.9, "refusal took %.2fs (the failure delay is 1 s)" % (time.monotonic() - t0))
	c.sock.close()
	time.sleep(LOCK_BASE_S + 0.5)
	d = pop3_raw(env)
	r = pop3_login(d, user, pw)
	check(r.startswith(b"+OK"), "right password after the lockout: %r" % r)
	d.cmd("QUIT")
	d.sock.close()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

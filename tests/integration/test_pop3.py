"""test_pop3.py - POP3 against a real mailraftd: poplib over POP3S and over STLS (CAPA, STAT,
LIST, UIDL, TOP, RETR, DELE applied only at QUIT, RSET, no plain-text login before STLS), the
advertised CAPA extensions (SASL PLAIN, PIPELINING, [AUTH] codes), deleting everything then new
mail (no UIDL/UID reuse), and curl over pop3s:// and pop3:// --ssl-reqd (listing and RETR)."""
import base64
import os
import poplib
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message  # noqa: E402

DOMAIN = "example.test"
USERS = {
	"frank@example.test": "frank-pw-1",   # POP3S suite
	"grace@example.test": "grace-pw-1",   # STLS suite
	"heidi@example.test": "heidi-pw-1",   # curl
}


def setup(env):
	n = env.new_node("pop3")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	env.sent = {}
	for u, p in USERS.items():
		n.add_account(u, p)
		msgs = []
		for i in range(4):
			subj = "pop-%s-%d-%s" % (u.split("@")[0], i, mrtest.rand_token(3))
			body = "Body line one of %d\n.dotted line\nthird line\n" % i + ("filler %d\n" % i) * (i * 20)
			msg = make_message(subj, body, to=u)
			eq(n.send("sender@remote.test", [u], msg), {}, "delivery")
			msgs.append(msg)
		env.sent[u] = msgs
	for u, p in USERS.items():
		mrtest.wait_imap_count(n, u, p, 4)


def joined(lines):
	return b"".join(l + b"\r\n" for l in lines)


def suite(env, user, mode):
	pw = USERS[user]
	sent = env.sent[user]
	p = env.node.pop3(mode=mode)
	try:
		caps = p.capa()
		for c in ("TOP", "UIDL", "USER"):
			check(c in caps, "CAPA lacks %s: %r" % (c, caps))
		check("STLS" not in caps, "STLS offered after TLS: %r" % caps)
		p.user(user)
		p.pass_(pw)
		count, size = p.stat()
		eq(count, 4, "STAT count")
		resp, listing, _ = p.list()
		check(resp.startswith(b"+OK"), "LIST: %r" % resp)
		sizes = {}
		for ln in listing:
			n, sz = ln.split()
			sizes[int(n)] = int(sz)
		eq(sorted(sizes), [1, 2, 3, 4], "LIST numbers")
		eq(sum(sizes.values()), size, "STAT size = sum of LIST sizes")
		eq(p.list(2).split()[:3], [b"+OK", b"2", str(sizes[2]).encode()], "LIST 2")
		resp, uidl, _ = p.uidl()
		uids = dict((int(a), b) for a, b in (x.split() for x in uidl))
		eq(len(set(uids.values())), 4, "UIDL unique")
		for u in uids.values():
			check(re.fullmatch(rb"[\x21-\x7e]{1,70}", u) is not None, "UIDL syntax (RFC 1939 7): %r" % u)
		eq(p.uidl(3).split()[2], uids[3], "UIDL 3")
		# RETR: exact bytes (poplib removes the byte-stuffing) and LIST size matches
		for i in range(1, 5):
			resp, lines, octets = p.retr(i)
			data = joined(lines)
			mrtest.check_trace_prefix(mrtest.split_prefix_headers(data, sent[i - 1]))
			eq(len(data), sizes[i], "LIST size of %d vs RETR bytes" % i)
		# TOP n 0: header + blank line; TOP n 2: + two body lines
		resp, lines, _ = p.top(1, 0)
		eq(joined(lines), data_header(env, user, 1, p), "TOP 1 0")
		resp, lines, _ = p.top(1, 2)
		body_lines = sent[0].split(b"\r\n\r\n", 1)[1].split(b"\r\n")
		eq(joined(lines), data_header(env, user, 1, p) + body_lines[0] + b"\r\n" + body_lines[1] + b"\r\n", "TOP 1 2")
		# DELE marks, STAT excludes them, RETR of a deleted message fails, RSET unmarks
		p.dele(1)
		eq(p.stat()[0], 3, "STAT after DELE")
		expect_err(lambda: p.retr(1), "RETR of a deleted message")
		expect_err(lambda: p.dele(1), "DELE twice")
		p.rset()
		eq(p.stat()[0], 4, "STAT after RSET")
		expect_err(lambda: p.retr(9), "RETR of a non-existent message")
		p.noop()
		# DELE 2 then drop the connection without QUIT: nothing is removed
		p.dele(2)
		p.close()
		p = None
		# the dropped session may take a moment to release the maildrop lock
		p = mrtest.wait_for(lambda: env.node.pop3(user, pw, mode=mode), timeout=5, what="POP3 login after a dropped session")
		eq(p.stat()[0], 4, "deletion must not apply without QUIT")
		# DELE 2 + QUIT: removed
		p.dele(2)
		p.quit()
		p = env.node.pop3(user, pw, mode=mode)
		eq(p.stat()[0], 3, "STAT after DELE + QUIT")
		resp, uidl2, _ = p.uidl()
		left = sorted(x.split()[1] for x in uidl2)
		eq(left, sorted([uids[1], uids[3], uids[4]]), "UIDLs after deletion are stable")
		resp, lines, _ = p.retr(2)
		mrtest.split_prefix_headers(joined(lines), sent[2])
		p.quit()
		p = None
		# IMAP sees the same mailbox
		m = env.node.imap(user, pw)
		try:
			typ, data = m.select("INBOX", readonly=True)
			eq(int(data[0]), 3, "IMAP EXISTS after POP3 deletion")
		finally:
			m.logout()
	finally:
		if p is not None:
			try:
				p.close()
			except Exception:  # noqa: BLE001
				pass


_header_cache = {}


def data_header(env, user, n, p):
	"""The header block (with its blank line) of message n as RETR returns it."""
	key = (user, n)
	if key not in _header_cache:
		_, lines, _ = p.retr(n)
		data = joined(lines)
		_header_cache[key] = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
	return _header_cache[key]


def expect_err(fn, what):
	try:
		fn()
	except poplib.error_proto as e:
		check(str(e).startswith("b'-ERR") or "-ERR" in str(e), "%s: %s" % (what, e))
		return
	raise mrtest.Fail("%s: expected -ERR" % what)


def test_pop3s_suite(env):
	suite(env, "frank@example.test", "pop3s")


def test_stls_suite(env):
	suite(env, "grace@example.test", "stls")


def test_no_plaintext_login_before_stls(env):
	p = env.node.pop3(mode="plain")
	try:
		caps = p.capa()
		check("STLS" in caps, "STLS advertised: %r" % caps)
		check("USER" not in caps, "USER must not be advertised before TLS (RFC 2595 4): %r" % caps)
		try:
			p.user("heidi@example.test")
			p.pass_(USERS["heidi@example.test"])
			raise mrtest.Fail("plain-text POP3 login accepted")
		except poplib.error_proto:
			pass
		p.stls(context=mrtest.tls_ctx())
		check("USER" in p.capa(), "USER after STLS")
		p.user("heidi@example.test")
		p.pass_(USERS["heidi@example.test"])
		eq(p.stat()[0], 4, "STAT after STLS login")
		p.quit()
	finally:
		p.close()


def test_wrong_password(env):
	p = env.node.pop3()
	try:
		p.user("heidi@example.test")
		try:
			p.pass_("nope")
			raise mrtest.Fail("wrong password accepted")
		except poplib.error_proto as e:
			contains(str(e), "-ERR", "PASS failure")
		p.user("heidi@example.test")
		p.pass_(USERS["heidi@example.test"])
		eq(p.stat()[0], 4, "STAT after retry")
		p.quit()
	finally:
		p.close()


def test_advertised_extensions(env):
	"""Every CAPA item advertised after TLS must work: SASL PLAIN (RFC 5034), PIPELINING and
	RESP-CODES/AUTH-RESP-CODE (RFC 2449, RFC 3206)."""
	user, pw = "heidi@example.test", USERS["heidi@example.test"]
	p = env.node.pop3()
	try:
		caps = p.capa()
		if "PLAIN" in caps.get("SASL", []):
			bad = base64.b64encode(("\0%s\0wrong" % user).encode()).decode()
			try:
				p._shortcmd("AUTH PLAIN " + bad)
				raise mrtest.Fail("AUTH PLAIN with a wrong password accepted")
			except poplib.error_proto as e:
				if "AUTH-RESP-CODE" in caps:
					contains(str(e), "[AUTH]", "RFC 3206 [AUTH] response code")
			# without an initial response: "+ " continuation, then the credentials
			p._putcmd("AUTH PLAIN")
			cont = p._getline()[0]
			check(cont.startswith(b"+"), "AUTH PLAIN continuation: %r" % cont)
			p._putcmd(base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode())
			r = p._getresp()
			check(r.startswith(b"+OK"), "AUTH PLAIN: %r" % r)
			eq(p.stat()[0], 4, "STAT after AUTH PLAIN")
		p.quit()
	finally:
		p.close()
	if "PIPELINING" in caps:
		ln = mrtest.Line(env.node.ports["pop3s"], tls=True)
		try:
			check(ln.readline().startswith(b"+OK"), "greeting")
			ln.send(("USER %s\r\nPASS %s\r\nSTAT\r\nLIST 1\r\nNOOP\r\nQUIT\r\n" % (user, pw)).encode())
			replies = [ln.readline() for _ in range(6)]
			check(all(r is not None and r.startswith(b"+OK") for r in replies), "pipelined replies: %r" % replies)
			check(replies[2].startswith(b"+OK 4 "), "pipelined STAT: %r" % replies[2])
		finally:
			ln.close()


def test_delete_all_then_new_mail(env):
	"""POP3 deletes everything; IMAP sees an empty INBOX; new mail gets a new UIDL and an IMAP UID
	above every old one."""
	user, pw = "frank@example.test", USERS["frank@example.test"]
	m = env.node.imap(user, pw)
	try:
		m.select("INBOX", readonly=True)
		old_max = max(mrtest.imap_uids(m) or [0])
	finally:
		m.logout()
	p = env.node.pop3(user, pw)
	try:
		count = p.stat()[0]
		old_uidl = set(x.split()[1] for x in p.uidl()[1])
		for i in range(1, count + 1):
			p.dele(i)
		eq(p.stat()[0], 0, "STAT after deleting everything")
		p.quit()
	finally:
		p.close()
	m = env.node.imap(user, pw)
	try:
		typ, d = m.select("INBOX", readonly=True)
		eq(int(d[0]), 0, "IMAP EXISTS after POP3 deleted everything")
	finally:
		m.logout()
	eq(env.node.send("sender@remote.test", [user], make_message("fresh", "fresh\n")), {}, "delivery")
	p = env.node.pop3(user, pw)
	try:
		eq(p.stat()[0], 1, "STAT with the new message")
		new = p.uidl()[1][0].split()[1]
		check(new not in old_uidl, "UIDL reused: %r" % new)
		p.quit()
	finally:
		p.close()
	m = env.node.imap(user, pw)
	try:
		m.select("INBOX", readonly=True)
		check(mrtest.imap_uids(m)[0] > old_max, "new IMAP UID above the deleted ones")
	finally:
		m.logout()


def test_curl_pop3s(env):
	port = env.node.ports["pop3s"]
	up = "heidi@example.test:" + USERS["heidi@example.test"]
	r = mrtest.curl(["-k", "-u", up, "pop3s://127.0.0.1:%d/" % port])
	eq(r.returncode, 0, "curl pop3s list rc (stderr %r)" % r.stderr)
	lines = r.stdout.split(b"\r\n")
	eq(lines[-1], b"", "listing ends with CRLF")
	listing = [l.split() for l in lines[:-1]]
	eq([int(a) for a, _ in listing], [1, 2, 3, 4], "curl listing numbers: %r" % r.stdout)
	r2 = mrtest.curl(["-k", "-u", up, "pop3s://127.0.0.1:%d/3" % port])
	eq(r2.returncode, 0, "curl RETR rc (stderr %r)" % r2.stderr)
	mrtest.check_trace_prefix(mrtest.split_prefix_headers(r2.stdout, env.sent["heidi@example.test"][2]))
	eq(len(r2.stdout), int(listing[2][1]), "curl RETR length vs LIST size")
	r3 = mrtest.curl(["-k", "-u", up, "pop3s://127.0.0.1:%d/" % port, "-X", "UIDL"])
	eq(r3.returncode, 0, "curl UIDL rc")
	eq(len(r3.stdout.strip().split(b"\r\n")), 4, "curl UIDL lines: %r" % r3.stdout)
	r4 = mrtest.curl(["-k", "-u", "heidi@example.test:bad", "pop3s://127.0.0.1:%d/" % port])
	eq(r4.returncode, 67, "curl with a wrong password: login denied (stderr %r)" % r4.stderr)
	r5 = mrtest.curl(["-k", "--ssl-reqd", "-u", up, "pop3://127.0.0.1:%d/1" % env.node.ports["pop3"]])
	eq(r5.returncode, 0, "curl pop3 STLS RETR rc (stderr %r)" % r5.stderr)
	mrtest.split_prefix_headers(r5.stdout, env.sent["heidi@example.test"][0])


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

"""test_imap.py - IMAP against a real mailraftd: imaplib over IMAPS and over STARTTLS (LOGIN,
LIST with the six special-use folders, SELECT, FETCH BODY[] equal to what was delivered,
ENVELOPE/BODYSTRUCTURE, SEARCH, STORE, APPEND, COPY, EXPUNGE, CREATE/RENAME/DELETE),
LOGINDISABLED before STARTTLS, the generated certificate, and curl over imaps:// and imap://
with --ssl-reqd."""
import imaplib
import os
import re
import socket
import warnings
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message, imap_ok, imap_uids, imap_body, imap_list, flat  # noqa: E402

DOMAIN = "example.test"
USERS = {
	"carol@example.test": "carol-pw-1",    # IMAPS suite
	"dave@example.test": "dave-pw-1",      # STARTTLS suite
	"erin@example.test": "erin-pw-1",      # curl
}
SPECIAL = {"Drafts": "\\drafts", "Sent": "\\sent", "Archive": "\\archive", "Junk": "\\junk", "Trash": "\\trash"}


def setup(env):
	n = env.new_node("imap")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	for u, p in USERS.items():
		n.add_account(u, p)
	env.sent = {}
	for u in USERS:
		msgs = []
		for i in range(3):
			subj = "imap-%s-%d-%s" % (u.split("@")[0], i, mrtest.rand_token(3))
			body = "Hello %s, message %d.\nsearchword%d here\n" % (u, i, i)
			msg = make_message(subj, body, frm="sender@remote.test", to=u)
			eq(n.send("sender@remote.test", [u], msg), {}, "delivery to %s" % u)
			msgs.append((subj, msg))
		env.sent[u] = msgs
	for u, p in USERS.items():
		mrtest.wait_imap_count(n, u, p, 3)


def suite(env, user, mode):
	"""The full client session; the same for IMAPS and STARTTLS."""
	pw = USERS[user]
	m = env.node.imap(mode=mode)
	try:
		caps = [c.upper() for c in m.capabilities]
		check("IMAP4REV1" in caps, "IMAP4rev1 in capabilities: %r" % caps)
		check("LOGINDISABLED" not in caps, "LOGINDISABLED after TLS: %r" % caps)
		imap_ok(m.login(user, pw), "LOGIN")

		# LIST: the six default folders with SPECIAL-USE attributes (RFC 6154)
		folders = dict((name, flags) for flags, name in imap_list(m))
		for f in ["INBOX"] + list(SPECIAL):
			check(f in folders, "LIST lacks %s: %r" % (f, folders))
		for f, attr in SPECIAL.items():
			check(attr in folders[f], "%s lacks %s: %r" % (f, attr, folders[f]))

		# SELECT
		typ, data = m.select("INBOX")
		eq(typ, "OK", "SELECT")
		eq(int(data[0]), 3, "EXISTS after SELECT")
		uids = imap_uids(m)
		eq(len(uids), 3, "UID SEARCH ALL")
		check(uids == sorted(uids) and len(set(uids)) == 3, "UIDs ascending and unique: %r" % uids)

		# FETCH BODY[] == delivered bytes plus a Received header first
		for uid, (subj, sent) in zip(uids, env.sent[user]):
			stored = imap_body(m, uid)
			mrtest.check_trace_prefix(mrtest.split_prefix_headers(stored, sent))
			# RFC822.SIZE agrees with the literal
			d = flat(imap_ok(m.uid("FETCH", str(uid), "(RFC822.SIZE)"), "FETCH RFC822.SIZE"))
			mm = re.search(rb"RFC822\.SIZE (\d+)", d)
			check(mm is not None, "RFC822.SIZE missing: %r" % d)
			eq(int(mm.group(1)), len(stored), "RFC822.SIZE vs BODY[] length")
		# BODY.PEEK[] did not set \Seen
		eq(imap_uids(m, "SEEN"), [], "SEEN after BODY.PEEK")

		# header/text sections
		subj0, sent0 = env.sent[user][0]
		hdr = imap_body(m, uids[0], "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
		eq(hdr, ("Subject: %s\r\n\r\n" % subj0).encode(), "HEADER.FIELDS (SUBJECT)")
		text = imap_body(m, uids[0], "BODY.PEEK[TEXT]")
		eq(text, sent0.split(b"\r\n\r\n", 1)[1], "BODY[TEXT]")
		part = imap_body(m, uids[0], "BODY.PEEK[]<0.12>")
		eq(part, b"Return-Path:", "partial BODY[]<0.12>")

		# ENVELOPE and BODYSTRUCTURE
		d = flat(imap_ok(m.uid("FETCH", str(uids[0]), "(ENVELOPE BODYSTRUCTURE FLAGS INTERNALDATE)"), "FETCH ENVELOPE"))
		contains(d, b"ENVELOPE (", "FETCH")
		contains(d, subj0.encode(), "ENVELOPE subject")
		contains(d, b'"sender" "remote.test"', "ENVELOPE from address")
		contains(d, b'"%s" "example.test"' % user.split("@")[0].encode(), "ENVELOPE to address")
		check(re.search(rb'BODYSTRUCTURE \("text" "plain" \("charset" "utf-8"\)', d, re.I) is not None,
			"BODYSTRUCTURE text/plain charset: %r" % d)
		contains(d, b"INTERNALDATE \"", "INTERNALDATE")

		# SEARCH over body and headers
		eq(imap_uids(m, "BODY searchword1"), [uids[1]], "SEARCH BODY")
		eq(imap_uids(m, 'SUBJECT "%s"' % env.sent[user][2][0]), [uids[2]], "SEARCH SUBJECT")
		eq(imap_uids(m, "FROM sender@remote.test"), uids, "SEARCH FROM")
		eq(imap_uids(m, "TEXT nosuchwordanywhere"), [], "SEARCH no match")
		typ, data = m.search(None, "ALL")
		eq(data[0].split(), [b"1", b"2", b"3"], "SEARCH ALL (sequence numbers)")

		# STORE flags
		imap_ok(m.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged \\Seen)"), "STORE +FLAGS")
		d = flat(imap_ok(m.uid("FETCH", str(uids[0]), "(FLAGS)"), "FETCH FLAGS"))
		check(b"\\Flagged" in d and b"\\Seen" in d, "flags after +FLAGS: %r" % d)
		eq(imap_uids(m, "FLAGGED"), [uids[0]], "SEARCH FLAGGED")
		imap_ok(m.uid("STORE", str(uids[0]), "-FLAGS.SILENT", "(\\Flagged)"), "STORE -FLAGS.SILENT")
		d = flat(imap_ok(m.uid("FETCH", str(uids[0]), "(FLAGS)"), "FETCH FLAGS"))
		check(b"\\Flagged" not in d and b"\\Seen" in d, "flags after -FLAGS: %r" % d)
		imap_ok(m.uid("STORE", str(uids[1]), "FLAGS", "($Custom1 \\Answered)"), "STORE FLAGS keyword")
		d = flat(imap_ok(m.uid("FETCH", str(uids[1]), "(FLAGS)"), "FETCH FLAGS"))
		check(b"$Custom1" in d and b"\\Answered" in d, "keyword flags: %r" % d)
		# a non-PEEK fetch sets \Seen
		imap_body(m, uids[2], "BODY[]")
		check(uids[2] in imap_uids(m, "SEEN"), "BODY[] fetch sets \\Seen")

		# APPEND then FETCH (exact bytes, flags kept)
		app_subj = "appended-" + mrtest.rand_token(4)
		app = make_message(app_subj, "appended body\n.\n..dots\n", frm="me@example.test", to="x@remote.test")
		typ, data = m.append("Drafts", "(\\Draft)", None, app)
		eq(typ, "OK", "APPEND %r" % data)
		typ, data = m.select("Drafts")
		eq(int(data[0]), 1, "Drafts EXISTS after APPEND")
		du = imap_uids(m)
		eq(imap_body(m, du[0]), app, "appended message bytes")
		d = flat(imap_ok(m.uid("FETCH", str(du[0]), "(FLAGS)"), "FETCH FLAGS"))
		contains(d, b"\\Draft", "APPEND flags")

		# multipart BODYSTRUCTURE through APPEND
		mp = (b"From: a@remote.test\r\nTo: b@example.test\r\nSubject: multipart\r\nMIME-Version: 1.0\r\n"
			b"Content-Type: multipart/alternative; boundary=\"BB\"\r\n\r\npreamble\r\n--BB\r\n"
			b"Content-Type: text/plain; charset=us-ascii\r\n\r\nplain part\r\n--BB\r\n"
			b"Content-Type: text/html; charset=us-ascii\r\n\r\n<p>html part</p>\r\n--BB--\r\n")
		eq(m.append("Drafts", None, None, mp)[0], "OK", "APPEND multipart")
		du = imap_uids(m)
		eq(len(du), 2, "Drafts count")
		d = flat(imap_ok(m.uid("FETCH", str(du[1]), "(BODYSTRUCTURE)"), "FETCH BODYSTRUCTURE"))
		check(re.search(rb'\("text" "plain".*\)\("text" "html".*"alternative"', d, re.I | re.S) is not None,
			"multipart BODYSTRUCTURE: %r" % d)
		eq(imap_body(m, du[1], "BODY.PEEK[2]"), b"<p>html part</p>", "BODY[2] of multipart")

		# CREATE, COPY into it, EXPUNGE in INBOX
		folder = "Work-" + mrtest.rand_token(3)
		imap_ok(m.create(folder), "CREATE")
		m.select("INBOX")
		imap_ok(m.uid("COPY", str(uids[0]), folder), "UID COPY")
		typ, data = m.select(folder)
		eq(int(data[0]), 1, "EXISTS in the copy target")
		cu = imap_uids(m)
		eq(imap_body(m, cu[0]), imap_body_from(env, user, "INBOX", uids[0]), "copied bytes")
		d = flat(imap_ok(m.uid("FETCH", str(cu[0]), "(FLAGS)"), "FETCH FLAGS"))
		contains(d, b"\\Seen", "COPY keeps flags")

		m.select("INBOX")
		imap_ok(m.uid("STORE", str(uids[1]), "+FLAGS", "(\\Deleted)"), "STORE \\Deleted")
		typ, data = m.expunge()
		eq(typ, "OK", "EXPUNGE")
		eq([x for x in data if x], [b"2"], "EXPUNGE responses (sequence number of the removed message)")
		eq(imap_uids(m), [uids[0], uids[2]], "UIDs after EXPUNGE")
		typ, data = m.select("INBOX", readonly=True)
		eq(int(data[0]), 2, "EXISTS after EXPUNGE")

		# STATUS
		typ, data = m.status(folder, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
		eq(typ, "OK", "STATUS")
		contains(data[0], b"MESSAGES 1", "STATUS")

		# RENAME / DELETE
		folder2 = folder + "-renamed"
		imap_ok(m.rename(folder, folder2), "RENAME")
		names = [n for _, n in imap_list(m)]
		check(folder2 in names and folder not in names, "after RENAME: %r" % names)
		m.select(folder2)
		eq(len(imap_uids(m)), 1, "renamed folder keeps its message")
		m.close()
		imap_ok(m.delete(folder2), "DELETE")
		names = [n for _, n in imap_list(m)]
		check(folder2 not in names, "after DELETE: %r" % names)
		typ, _ = m.select(folder2)
		eq(typ, "NO", "SELECT of a deleted folder")
		# INBOX cannot be deleted (RFC 9051 6.3.4)
		typ, _ = m.delete("INBOX")
		eq(typ, "NO", "DELETE INBOX")
		# hierarchy
		imap_ok(m.create("Parent-x/Child"), "CREATE with hierarchy")
		names = [n for _, n in imap_list(m)]
		check("Parent-x/Child" in names, "child listed: %r" % names)
		imap_ok(m.delete("Parent-x/Child"), "DELETE child")
		m.logout()
	finally:
		mrtest.quiet_close(m)


def imap_body_from(env, user, mailbox, uid):
	m = env.node.imap(user, USERS[user])
	try:
		m.select(mailbox, readonly=True)
		return imap_body(m, uid)
	finally:
		m.logout()


def test_imaps_suite(env):
	suite(env, "carol@example.test", "imaps")


def test_starttls_suite(env):
	suite(env, "dave@example.test", "starttls")


def test_logindisabled_before_starttls(env):
	m = env.node.imap(mode="plain")
	try:
		caps = [c.upper() for c in m.capabilities]
		check("LOGINDISABLED" in caps, "LOGINDISABLED must be advertised before TLS: %r" % caps)
		check("STARTTLS" in caps, "STARTTLS advertised: %r" % caps)
		check(not any(c.startswith("AUTH=") for c in caps), "no AUTH= before TLS: %r" % caps)
		try:
			m.login("carol@example.test", USERS["carol@example.test"])
			raise mrtest.Fail("LOGIN accepted in clear text")
		except imaplib.IMAP4.error:
			pass
		# still in not-authenticated state: SELECT must fail
		try:
			typ, _ = m.select("INBOX")
			check(typ != "OK", "SELECT succeeded after refused LOGIN")
		except imaplib.IMAP4.error:
			pass
		m.starttls(ssl_context=mrtest.tls_ctx())
		caps = [c.upper() for c in m.capabilities]
		check("LOGINDISABLED" not in caps and "STARTTLS" not in caps, "capabilities after STARTTLS: %r" % caps)
		imap_ok(m.login("carol@example.test", USERS["carol@example.test"]), "LOGIN after STARTTLS")
		m.logout()
	finally:
		mrtest.quiet_close(m)


def test_login_wrong_password(env):
	m = env.node.imap()
	try:
		try:
			m.login("carol@example.test", "wrong-password")
			raise mrtest.Fail("wrong password accepted")
		except imaplib.IMAP4.error as e:
			contains(str(e), "AUTHENTICATIONFAILED", "failure response code (RFC 5530)")
		try:
			m.login("nobody@example.test", "x")
			raise mrtest.Fail("unknown user accepted")
		except imaplib.IMAP4.error:
			pass
		imap_ok(m.login("carol@example.test", USERS["carol@example.test"]), "LOGIN after failures")
		m.logout()
	finally:
		mrtest.quiet_close(m)


def test_generated_certificate(env):
	cert = env.node.cert_path
	check(os.path.exists(cert), "generated certificate at %s" % cert)
	for name in ("localhost", "127.0.0.1"):
		ctx = mrtest.tls_ctx(cafile=cert)
		s = socket.create_connection((mrtest.HOST, env.node.ports["imaps"]), timeout=10)
		t = ctx.wrap_socket(s, server_hostname=name)   # verifies chain + name
		try:
			data = t.recv(1024)
			check(data.startswith(b"* OK"), "IMAPS greeting: %r" % data)
			check(t.version() in ("TLSv1.2", "TLSv1.3"), "TLS version %s" % t.version())
		finally:
			t.close()
	ctx = mrtest.tls_ctx(cafile=cert)
	s = socket.create_connection((mrtest.HOST, env.node.ports["imaps"]), timeout=10)
	try:
		ctx.wrap_socket(s, server_hostname="wrong.example")
		raise mrtest.Fail("certificate verified for a wrong name")
	except ssl.SSLCertVerificationError:
		pass
	finally:
		s.close()
	# old protocol versions are refused
	ctx = mrtest.tls_ctx()
	warnings.simplefilter("ignore", DeprecationWarning)
	try:
		ctx.minimum_version = ssl.TLSVersion.TLSv1
		ctx.maximum_version = ssl.TLSVersion.TLSv1_1
		ctx.set_ciphers("ALL:@SECLEVEL=0")
	except (ValueError, ssl.SSLError):
		return
	s = socket.create_connection((mrtest.HOST, env.node.ports["imaps"]), timeout=10)
	try:
		ctx.wrap_socket(s, server_hostname="localhost")
		raise mrtest.Fail("TLS 1.1 handshake accepted")
	except (ssl.SSLError, ConnectionResetError, OSError):
		pass
	finally:
		s.close()


def _curl_user():
	return "erin@example.test:" + USERS["erin@example.test"]


def test_curl_imaps_list_and_fetch(env):
	port = env.node.ports["imaps"]
	r = mrtest.curl(["-k", "-u", _curl_user(), "imaps://127.0.0.1:%d/" % port])
	eq(r.returncode, 0, "curl list rc (stderr %r)" % r.stderr)
	for f in ["INBOX"] + list(SPECIAL):
		check(re.search(rb"^\* LIST \(.*\) .* \"?%s\"?\r?$" % f.encode(), r.stdout, re.M) is not None,
			"curl LIST output lacks %s: %r" % (f, r.stdout))
	r = mrtest.curl(["-k", "-u", _curl_user(), "imaps://127.0.0.1:%d/INBOX" % port])
	eq(r.returncode, 0, "curl imaps://.../INBOX rc (stderr %r)" % r.stderr)
	for ln in r.stdout.splitlines():
		check(ln.startswith(b"* LIST "), "unexpected curl output line %r" % ln)
	r = mrtest.curl(["-k", "-u", _curl_user(), "imaps://127.0.0.1:%d/INBOX" % port, "-X", "EXAMINE INBOX"])
	eq(r.returncode, 0, "curl EXAMINE rc (stderr %r)" % r.stderr)
	contains(r.stdout, b"* 3 EXISTS", "curl EXAMINE output")
	uids = erin_uids(env)
	eq(len(uids), 3, "erin's messages")
	r = mrtest.curl(["-k", "-u", _curl_user(), "imaps://127.0.0.1:%d/INBOX;UID=%d" % (port, uids[0])])
	eq(r.returncode, 0, "curl fetch rc (stderr %r)" % r.stderr)
	mrtest.check_trace_prefix(mrtest.split_prefix_headers(r.stdout, env.sent["erin@example.test"][0][1]))
	r = mrtest.curl(["-k", "-u", _curl_user(), "imaps://127.0.0.1:%d/INBOX?SUBJECT%%20%s" % (port, env.sent["erin@example.test"][1][0])])
	eq(r.returncode, 0, "curl search rc (stderr %r)" % r.stderr)
	contains(r.stdout, b"* SEARCH 2", "curl SEARCH output")
	r = mrtest.curl(["-k", "-u", "erin@example.test:badpass", "imaps://127.0.0.1:%d/" % port])
	eq(r.returncode, 67, "curl with a wrong password: login denied (stderr %r)" % r.stderr)


def erin_uids(env, box="INBOX"):
	m = env.node.imap("erin@example.test", USERS["erin@example.test"])
	try:
		m.select(box, readonly=True)
		return imap_uids(m)
	finally:
		m.logout()


def test_curl_imap_starttls(env):
	port = env.node.ports["imap"]
	uids = erin_uids(env)
	r = mrtest.curl(["-k", "--ssl-reqd", "-u", _curl_user(), "imap://127.0.0.1:%d/INBOX;UID=%d" % (port, uids[1])])
	eq(r.returncode, 0, "curl imap --ssl-reqd rc (stderr %r)" % r.stderr)
	mrtest.check_trace_prefix(mrtest.split_prefix_headers(r.stdout, env.sent["erin@example.test"][1][1]))
	# APPEND through curl (upload), then it is visible
	p = os.path.join(env.node.root, "curl-append.eml")
	msg = make_message("curl-append-" + mrtest.rand_token(3), "uploaded by curl\n")
	with open(p, "wb") as f:
		f.write(msg)
	r = mrtest.curl(["-k", "--ssl-reqd", "-u", _curl_user(), "-T", p, "imap://127.0.0.1:%d/Archive" % port])
	eq(r.returncode, 0, "curl APPEND rc (stderr %r)" % r.stderr)
	au = erin_uids(env, "Archive")
	eq(len(au), 1, "messages in Archive after curl APPEND")
	eq(imap_body_from(env, "erin@example.test", "Archive", au[0]), msg, "curl-appended bytes")
	# without TLS the plain-text login is refused (curl sees LOGINDISABLED)
	r = mrtest.curl(["-u", _curl_user(), "imap://127.0.0.1:%d/INBOX;UID=%d" % (port, uids[0])])
	check(r.returncode != 0, "clear-text IMAP login must fail, curl rc 0 with %r" % r.stdout[:200])


def test_idle_wakes_on_delivery(env):
	user = "carol@example.test"
	m = env.node.imap(user, USERS[user])
	try:
		m.select("INBOX")
		before = len(imap_uids(m))
		tag = m._new_tag().decode()
		m.send(("%s IDLE\r\n" % tag).encode())
		ln = m.readline()
		check(ln.startswith(b"+"), "IDLE continuation: %r" % ln)
		subj = "idle-" + mrtest.rand_token(3)
		eq(env.node.send("sender@remote.test", [user], make_message(subj, "wake up\n")), {}, "delivery")
		t0 = time.monotonic()
		m.sock.settimeout(10)
		got = b""
		while b"EXISTS" not in got:
			ln = m.readline()
			check(ln, "connection closed during IDLE")
			got += ln
		took = time.monotonic() - t0
		contains(got, b"* %d EXISTS" % (before + 1), "IDLE update")
		# features.md: IDLE wakes within 100 ms of a commit; allow slack for sanitizers and load
		check(took < 1.0, "IDLE woke %.2fs after the 250 (goal: 0.1 s)" % took)
		m.send(b"DONE\r\n")
		while True:
			ln = m.readline()
			check(ln, "connection closed after DONE")
			if ln.startswith(tag.encode()):
				contains(ln, b"OK", "IDLE completion")
				break
		m.logout()
	finally:
		mrtest.quiet_close(m)


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

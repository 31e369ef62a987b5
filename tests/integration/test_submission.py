"""test_submission.py - SMTP submission (RFC 6409) against a real mailraftd: swaks with AUTH
PLAIN over STARTTLS on the submission port and AUTH LOGIN over implicit TLS (RFC 8314),
smtplib for the exact replies: AUTH only after TLS (530 5.7.0), AUTH required before MAIL
(530 5.7.0), no AUTH on the MX port (502), wrong credentials 535 5.7.8 and the session closed
after three, the login lockout shared with IMAP/POP3 (454 4.7.0, no password check while
locked), senders limited to the account's own addresses and aliases (553 5.7.1), other domains
refused while there is no outbound queue (550 5.7.1), Date and Message-ID added to a submitted
message that lacks them and kept when present, "with ESMTPSA" in the Received field."""
import base64
import os
import re
import smtplib
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, HOST, tls_ctx  # noqa: E402

DOMAIN = "example.test"
USER, PW = "alice@" + DOMAIN, "subm-pw-1"
OTHER, OTHER_PW = "bob@" + DOMAIN, "subm-pw-2"


def setup(env):
	n = env.new_node("submission", conf={"submission_copy_to_sent": "true"})
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	n.add_account(OTHER, OTHER_PW)
	n.ctl("alias", "add", "sales@" + DOMAIN, USER)
	env.tmp = tempfile.mkdtemp(prefix="mrsubm-")
	env.count = 0


def submission(env, implicit=False):
	"""An smtplib session on the submission port: STARTTLS (587 style) or implicit TLS (465)."""
	if implicit:
		s = smtplib.SMTP_SSL(HOST, env.node.ports["submissions"], local_hostname="client.test",
			context=tls_ctx(), timeout=30)
		s.ehlo()
		return s
	s = smtplib.SMTP(HOST, env.node.ports["submission"], local_hostname="client.test", timeout=30)
	s.ehlo()
	return s


def message(subject, headers=True):
	h = "From: Alice <%s>\r\nTo: %s\r\nSubject: %s\r\n" % (USER, OTHER, subject)
	if headers:
		h += "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <fixed-%s@client.test>\r\n" % subject
	return (h + "\r\nhello from submission\r\n").encode()


def fetch_subject(env, user, pw, subject):
	"""The stored message with that subject in user's INBOX (waits for it)."""
	m = env.node.imap(user, pw)
	try:
		def found():
			m.select("INBOX")
			typ, d = m.search(None, "SUBJECT", '"%s"' % subject)
			return d[0].split() if typ == "OK" and d[0] else None
		nums = mrtest.wait_for(found, timeout=10, what="message %s" % subject)
		eq(len(nums), 1, "delivered once")
		typ, d = m.fetch(nums[0], "(BODY.PEEK[])")
		return d[0][1]
	finally:
		m.logout()


def swaks_submit(env, port, extra, subject, frm=USER, to=OTHER):
	path = os.path.join(env.tmp, "%s.eml" % subject)
	with open(path, "wb") as f:
		f.write(message(subject, headers=False))
	cmd = ["swaks", "--server", HOST, "--port", str(port), "--ehlo", "client.test", "--from", frm,
		"--to", to, "--auth-user", USER, "--auth-password", PW, "--data", path, "--timeout", "30"]
	return mrtest.run_tool(cmd + extra)


def test_starttls_auth_plain_swaks(env):
	r = swaks_submit(env, env.node.ports["submission"], ["--tls", "--auth", "PLAIN"], "via-587")
	out = r.stdout.decode(errors="replace")
	eq(r.returncode, 0, "swaks STARTTLS + AUTH PLAIN:\n" + out)
	contains(out, "235 2.7.0 Authentication successful", "AUTH reply")
	raw = fetch_subject(env, OTHER, OTHER_PW, "via-587")
	check(re.search(rb"^Date: ", raw, re.M), "Date added: %r" % raw[:600])
	check(re.search(rb"^Message-ID: <[^>]+@mx\.example\.test>", raw, re.M), "Message-ID added: %r" % raw[:600])
	check(re.search(rb"with ESMTPSA id", raw), "Received with ESMTPSA (RFC 3848): %r" % raw[:400])


def test_implicit_tls_auth_login_swaks(env):
	r = swaks_submit(env, env.node.ports["submissions"], ["--tlsc", "--auth", "LOGIN"], "via-465")
	out = r.stdout.decode(errors="replace")
	eq(r.returncode, 0, "swaks implicit TLS + AUTH LOGIN:\n" + out)
	check("334 VXNlcm5hbWU6" in out and "334 UGFzc3dvcmQ6" in out, "LOGIN prompts:\n" + out)
	fetch_subject(env, OTHER, OTHER_PW, "via-465")


def test_auth_only_after_tls(env):
	s = submission(env)
	try:
		check(s.has_extn("starttls"), "STARTTLS offered")
		check(not s.has_extn("auth"), "no AUTH before TLS: %r" % s.esmtp_features)
		eq(s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzdWJtLXB3LTE="),
			(530, b"5.7.0 Must issue a STARTTLS command first"), "AUTH before TLS")
		s.starttls(context=tls_ctx())
		s.ehlo()
		eq(s.esmtp_features.get("auth"), " PLAIN LOGIN", "AUTH offered after TLS")
		eq(s.docmd("MAIL", "FROM:<%s>" % USER), (530, b"5.7.0 Authentication required"), "MAIL before AUTH")
		eq(s.docmd("AUTH", "CRAM-MD5"), (504, b"5.5.4 Unrecognized authentication type"), "unknown mechanism")
		s.login(USER, PW)
		eq(s.docmd("AUTH", "PLAIN"), (503, b"5.5.1 Error: already authenticated"), "AUTH twice")
	finally:
		s.close()


def test_no_auth_on_mx(env):
	s = env.node.smtp(starttls=True)
	try:
		check(not s.has_extn("auth"), "MX offers no AUTH: %r" % s.esmtp_features)
		eq(s.docmd("AUTH", "PLAIN AGFsaWNlAHB3"), (502, b"5.5.1 Error: command not implemented"), "AUTH on MX")
	finally:
		s.close()


def test_wrong_password_and_close(env):
	s = submission(env, implicit=True)
	try:
		for i in range(3):
			ir = base64.b64encode(b"\0" + OTHER.encode() + b"\0wrong-%d" % i).decode()
			eq(s.docmd("AUTH", "PLAIN " + ir), (535, b"5.7.8 Authentication credentials invalid"),
				"failure %d" % (i + 1))
		code, msg = s.getreply()
		eq(code, 421, "closed after three failures: %r" % msg)
		contains(msg.decode(), "too many failed authentications", "421 text")
	finally:
		s.close()
	# the account still works with the right password
	s = submission(env, implicit=True)
	try:
		s.login(OTHER, OTHER_PW)
	finally:
		s.close()


def test_lockout_shared_with_imap(env):
	"""Failures count in the same per-account lockout as IMAP logins."""
	user, pw = "locked@" + DOMAIN, "lock-pw-1"
	env.node.add_account(user, pw)
	for i in range(5):
		m = env.node.imap()
		try:
			m.login(user, "bad-%d" % i)
		except Exception:  # noqa: BLE001 - expected NO
			pass
		finally:
			mrtest.quiet_close(m)
	s = submission(env, implicit=True)
	try:
		try:
			s.login(user, pw)
			raise mrtest.Fail("locked-out account logged in")
		except smtplib.SMTPAuthenticationError as e:
			eq(e.smtp_code, 454, "locked out: %r" % (e.smtp_error,))
			contains(e.smtp_error.decode(), "Too many failed authentications", "lockout text")
	finally:
		s.close()


def test_sender_rules(env):
	s = submission(env, implicit=True)
	try:
		s.login(USER, PW)
		eq(s.docmd("MAIL", "FROM:<%s>" % OTHER),
			(553, b"5.7.1 Sender address rejected: not owned by the authenticated user"), "another user's address")
		eq(s.docmd("MAIL", "FROM:<>"),
			(553, b"5.7.1 Sender address rejected: a null sender cannot be submitted"), "null sender")
		eq(s.docmd("MAIL", "FROM:<someone@elsewhere.test>")[0], 553, "foreign address")
		eq(s.docmd("MAIL", "FROM:<sales@%s>" % DOMAIN), (250, b"2.1.0 Ok"), "own alias")
		eq(s.docmd("RCPT", "TO:<friend@elsewhere.test>"),
			(550, b"5.7.1 <friend@elsewhere.test>: delivery to other domains is not available on this server yet"),
			"no outbound queue yet")
		eq(s.docmd("RCPT", "TO:<%s>" % OTHER), (250, b"2.1.5 Ok"), "local recipient")
		eq(s.docmd("RSET"), (250, b"2.0.0 Ok"), "RSET")
		eq(s.docmd("MAIL", "FROM:<ALICE@%s>" % DOMAIN.upper()), (250, b"2.1.0 Ok"), "own address, any case")
	finally:
		s.close()


def test_bdat_submission(env):
	"""CHUNKING on submission: BDAT LAST after AUTH, Date and Message-ID added as after DATA."""
	s = submission(env, implicit=True)
	try:
		check(s.has_extn("chunking"), "CHUNKING advertised: %r" % s.esmtp_features)
		s.login(USER, PW)
		eq(s.docmd("MAIL", "FROM:<%s>" % USER)[0], 250, "MAIL")
		eq(s.docmd("RCPT", "TO:<%s>" % OTHER)[0], 250, "RCPT")
		msg = message("via-bdat", headers=False)
		s.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
		code, text = s.getreply()
		check(code == 250 and text.startswith(b"2.0.0 Ok: queued as "), "BDAT LAST: %r" % ((code, text),))
	finally:
		s.close()
	raw = fetch_subject(env, OTHER, OTHER_PW, "via-bdat")
	check(re.search(rb"^Date: ", raw, re.M) and re.search(rb"^Message-ID: <", raw, re.M),
		"Date and Message-ID added after BDAT: %r" % raw[:600])


def test_copy_to_sent(env):
	"""submission_copy_to_sent: the sender's \\Sent folder gets the message, \\Seen; the MX does not
	copy anything."""
	s = submission(env, implicit=True)
	try:
		s.login(USER, PW)
		eq(s.sendmail(USER, [OTHER], message("sent-copy")), {}, "submit")
	finally:
		s.quit()
	fetch_subject(env, OTHER, OTHER_PW, "sent-copy")
	# the same sender over the MX (unauthenticated): no copy
	eq(env.node.send(USER, [OTHER], message("mx-no-copy")), {}, "MX delivery")
	m = env.node.imap(USER, PW)
	try:
		typ, d = m.select("Sent")
		eq(typ, "OK", "Sent exists")
		typ, d = m.search(None, "SUBJECT", "sent-copy")
		nums = d[0].split()
		eq(len(nums), 1, "one copy in Sent")
		typ, d = m.fetch(nums[0], "(FLAGS)")
		check(b"\\Seen" in d[0], "copy is \\Seen: %r" % d)
		typ, d = m.search(None, "SUBJECT", "mx-no-copy")
		eq(d[0], b"", "no Sent copy of MX mail")
		typ, d = m.select("INBOX")
		typ, d = m.search(None, "SUBJECT", "sent-copy")
		eq(d[0], b"", "not in the sender's INBOX")
	finally:
		m.logout()


def test_headers_kept(env):
	s = submission(env, implicit=True)
	try:
		s.login(USER, PW)
		eq(s.sendmail(USER, [OTHER], message("kept-headers")), {}, "submit")
	finally:
		s.quit()
	raw = fetch_subject(env, OTHER, OTHER_PW, "kept-headers")
	eq(len(re.findall(rb"^Date: ", raw, re.M)), 1, "one Date")
	eq(re.findall(rb"^Message-ID: .*$", raw, re.M), [b"Message-ID: <fixed-kept-headers@client.test>\r"],
		"the client's Message-ID kept")


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

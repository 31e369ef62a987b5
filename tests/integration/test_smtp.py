"""test_smtp.py - inbound SMTP (MX port) against a real mailraftd: swaks plain and STARTTLS,
smtplib plain and STARTTLS, EHLO keywords (no AUTH on MX), unknown recipient 550 5.1.1,
several recipients including an alias, dot-stuffing, SIZE limit (declared and actual).
Every delivery is checked by reading the mailbox back over IMAPS."""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, Line, make_message, imap_uids, imap_body  # noqa: E402

DOMAIN = "example.test"
ALICE, ALICE_PW = "alice@example.test", "alice-pw-1"
BOB, BOB_PW = "bob@example.test", "bob-pw-1"
ALIAS = "team@example.test"           # -> alice, bob
BOBBY = "bobby@example.test"          # -> bob
MAX_SIZE = 200000


def setup(env):
	n = env.new_node("smtp", conf={"max_message_size": str(MAX_SIZE), "max_recipients": "10"})
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(ALICE, ALICE_PW)
	n.add_account(BOB, BOB_PW)
	n.ctl("alias", "add", ALIAS, ALICE)
	n.ctl("alias", "add", ALIAS, BOB)
	n.ctl("alias", "add", BOBBY, BOB)


def find_by_subject(env, user, pw, subject, expect=1, timeout=10):
	"""Wait for exactly `expect` INBOX messages with this subject; return their full bodies."""
	def probe():
		m = env.node.imap(user, pw)
		try:
			m.select("INBOX", readonly=True)
			uids = imap_uids(m, 'SUBJECT "%s"' % subject)
			if len(uids) < expect:
				return None
			return [imap_body(m, u) for u in uids]
		finally:
			m.logout()
	got = mrtest.wait_for(probe, timeout=timeout, what="message %r for %s" % (subject, user))
	eq(len(got), expect, "messages with subject %r for %s" % (subject, user))
	return got


def write_swaks_data(env, name, msg):
	"""swaks --data appends CRLF to the file's last line: store the message without it."""
	assert msg.endswith(b"\r\n")
	return write_tmp(env, name, msg[:-2])


def write_tmp(env, name, data):
	p = os.path.join(env.node.root, name)
	with open(p, "wb") as f:
		f.write(data)
	return p


def test_ehlo_keywords(env):
	s = env.node.smtp()
	try:
		code, _ = s.ehlo("client.test")
		eq(code, 250, "EHLO code")
		for kw in ("pipelining", "8bitmime", "smtputf8", "size", "enhancedstatuscodes", "starttls"):
			check(s.has_extn(kw), "EHLO lacks %s: %r" % (kw.upper(), s.esmtp_features))
		check(not s.has_extn("auth"), "MX port must not offer AUTH: %r" % s.esmtp_features)
		eq(s.esmtp_features.get("size", "").strip(), str(MAX_SIZE), "SIZE parameter")
		# after STARTTLS still no AUTH, STARTTLS no longer offered (RFC 3207 §4.2)
		s.starttls(context=mrtest.tls_ctx())
		s.ehlo("client.test")
		check(not s.has_extn("auth"), "MX port must not offer AUTH after TLS")
		check(not s.has_extn("starttls"), "STARTTLS must not be offered twice")
		check(s.has_extn("size"), "SIZE after TLS")
	finally:
		s.close()


def test_greeting_and_helo(env):
	ln = Line(env.node.ports["smtp"])
	try:
		code, lines = ln.smtp_reply()
		eq(code, 220, "greeting code")
		contains(lines[0], b"mx.example.test", "greeting")
		ln.cmd("HELO client.test")
		eq(ln.smtp_reply()[0], 250, "HELO")
		ln.cmd("NOOP")
		eq(ln.smtp_reply()[0], 250, "NOOP")
		ln.cmd("QUIT")
		eq(ln.smtp_reply()[0], 221, "QUIT")
		check(ln.wait_closed(5), "connection not closed after QUIT")
	finally:
		ln.close()


def test_swaks_plain(env):
	subj = "swaks-plain-" + mrtest.rand_token(4)
	msg = make_message(subj, "hello from swaks\nline two\n", to=ALICE)
	p = write_swaks_data(env, "swaks1.eml", msg)
	r = mrtest.swaks(env.node, "sender@remote.test", ALICE, data_file=p)
	eq(r.returncode, 0, "swaks rc (stdout %s)" % r.stdout.decode(errors="replace")[-1500:])
	stored = find_by_subject(env, ALICE, ALICE_PW, subj)[0]
	mrtest.check_trace_prefix(mrtest.split_prefix_headers(stored, msg))


def test_swaks_starttls(env):
	subj = "swaks-tls-" + mrtest.rand_token(4)
	msg = make_message(subj, "over TLS\n", to=ALICE)
	p = write_swaks_data(env, "swaks2.eml", msg)
	r = mrtest.swaks(env.node, "sender@remote.test", ALICE, data_file=p, tls=True)
	out = r.stdout.decode(errors="replace")
	eq(r.returncode, 0, "swaks --tls rc (output %s)" % out[-1500:])
	check(re.search(r"^<~\s+250 ", out, re.M) is not None and "=== TLS started" in out,
		"swaks --tls transcript should show replies inside TLS: %s" % out[-1500:])
	stored = find_by_subject(env, ALICE, ALICE_PW, subj)[0]
	prefix = mrtest.split_prefix_headers(stored, msg)
	mrtest.check_trace_prefix(prefix)


def received_header(stored):
	"""Our Received field, right after Return-Path (unfolded)."""
	first = re.match(rb"Return-Path: <[^>]*>\r\n(Received:.*?\r\n)(?![ \t])", stored, re.S).group(1)
	return re.sub(rb"\r\n[ \t]+", b" ", first).decode("utf-8", "replace")


def test_received_header(env):
	"""RFC 5321 4.4 trace: from <EHLO name> (<address>) by <our name> with <protocol> ...; <date>."""
	import email.utils
	for tls, proto in ((False, "ESMTP"), (True, "ESMTPS")):
		subj = "received-%s-%s" % (proto, mrtest.rand_token(3))
		msg = make_message(subj, "trace\n", to=ALICE)
		eq(env.node.send("sender@remote.test", [ALICE], msg, starttls=tls), {}, "delivery")
		stored = find_by_subject(env, ALICE, ALICE_PW, subj)[0]
		rcv = received_header(stored)
		contains(rcv, "from client.test", "Received: from-clause (EHLO name)")
		contains(rcv, "127.0.0.1", "Received: client address")
		contains(rcv, "by mx.example.test", "Received: by-clause (our hostname)")
		check(re.search(r"\bwith %s\b" % proto, rcv) is not None, "Received: with %s (RFC 3848): %r" % (proto, rcv))
		check(";" in rcv, "Received: date after ';': %r" % rcv)
		d = email.utils.parsedate_to_datetime(rcv.rsplit(";", 1)[1].strip())
		check(d is not None and d.tzinfo is not None, "Received date parses with a zone: %r" % rcv)


def test_return_path(env):
	"""RFC 5321 4.4: the stored message begins with Return-Path holding the reverse path."""
	for frm, want in (("Bounce.Sender@remote.test", b"Return-Path: <Bounce.Sender@remote.test>\r\n"),
			("", b"Return-Path: <>\r\n")):
		subj = "return-path-" + mrtest.rand_token(4)
		eq(env.node.send(frm, [ALICE], make_message(subj, "rp\n", to=ALICE)), {}, "delivery from <%s>" % frm)
		stored = find_by_subject(env, ALICE, ALICE_PW, subj)[0]
		eq(stored[:len(want)], want, "Return-Path for <%s>" % frm)
		eq(stored.count(b"Return-Path:"), 1, "one Return-Path")


def test_quota_at_rcpt(env):
	"""The account quota on delivery: checked per recipient at RCPT (452 4.2.2 once the mailbox
	is full, or when the declared SIZE would not fit), other recipients unaffected."""
	user = "smallbox@" + DOMAIN
	env.node.ctl("account", "add", user, "--password", "small-pw-1", "--quota", "8K")
	s = env.node.smtp()
	try:
		eq(s.docmd("MAIL", "FROM:<a@remote.test> SIZE=20000")[0], 250, "MAIL with SIZE")
		eq(s.docmd("RCPT", "TO:<%s>" % user), (452, b"4.2.2 <%s>: Mailbox full" % user.encode()),
			"declared SIZE over the quota")
		eq(s.docmd("RCPT", "TO:<%s>" % ALICE)[0], 250, "a recipient with room")
		s.docmd("RSET")
	finally:
		s.close()
	big = make_message("fill-" + mrtest.rand_token(4), "y" * 9000 + "\n", to=user)
	s = env.node.smtp()
	try:
		# no SIZE declared: the mailbox is still under its quota, so this one goes in (and over)
		eq(s.docmd("MAIL", "FROM:<a@remote.test>")[0], 250, "MAIL without SIZE")
		eq(s.docmd("RCPT", "TO:<%s>" % user)[0], 250, "under quota")
		eq(s.data(big)[0], 250, "delivered")
	finally:
		s.close()
	s = env.node.smtp()
	try:
		eq(s.docmd("MAIL", "FROM:<a@remote.test>")[0], 250, "MAIL")
		eq(s.docmd("RCPT", "TO:<%s>" % user), (452, b"4.2.2 <%s>: Mailbox full" % user.encode()),
			"full: refused at RCPT")
		eq(s.docmd("RCPT", "TO:<%s>" % ALICE)[0], 250, "others still accepted")
	finally:
		s.close()


def test_postmaster_fallback(env):
	"""RFC 5321 4.5.1: with postmaster_address set, postmaster@ every local domain and
	<Postmaster> reach it when the domain has no postmaster of its own; without it (the shared
	node) such mail is refused like any unknown user; foreign domains stay refused."""
	s = env.node.smtp()
	try:
		eq(s.docmd("MAIL", "FROM:<a@remote.test>")[0], 250, "MAIL")
		eq(s.docmd("RCPT", "TO:<postmaster@%s>" % DOMAIN)[0], 550, "no fallback configured")
	finally:
		s.close()
	n = env.new_node("pm", conf={"postmaster_address": ALICE})
	n.start()
	n.add_domain(DOMAIN)
	n.add_domain("second.test")
	n.add_account(ALICE, ALICE_PW)
	subj = "pm-" + mrtest.rand_token(4)
	eq(n.send("a@remote.test", ["PostMaster@second.test"], make_message(subj, "hi pm\n")), {},
		"postmaster of a local domain without an alias")
	s = n.smtp()
	try:
		eq(s.docmd("MAIL", "FROM:<>")[0], 250, "MAIL")
		eq(s.docmd("RCPT", "TO:<Postmaster>")[0], 250, "<Postmaster> of this host")
		eq(s.docmd("RCPT", "TO:<postmaster@foreign.test>")[0], 550, "not a local domain")
		eq(s.docmd("RCPT", "TO:<nobody@second.test>")[0], 550, "other unknown users still refused")
	finally:
		s.close()
	m = n.imap(ALICE, ALICE_PW)
	try:
		m.select("INBOX")
		typ, d = m.search(None, "SUBJECT", subj)
		eq(len(d[0].split()), 1, "delivered to the postmaster address")
	finally:
		m.logout()


def test_curl_and_swaks_pipelining(env):
	"""Two more real clients: curl's SMTP with --ssl-reqd (STARTTLS required) and swaks --pipeline."""
	subj = "curl-smtp-" + mrtest.rand_token(4)
	msg = make_message(subj, "sent by curl\n", to=BOB)
	p = write_tmp(env, "curl.eml", msg)
	r = mrtest.curl(["-k", "--ssl-reqd", "smtp://127.0.0.1:%d" % env.node.ports["smtp"], "--mail-from", "sender@remote.test",
		"--mail-rcpt", BOB, "--mail-rcpt", ALICE, "-T", p])
	eq(r.returncode, 0, "curl smtp --ssl-reqd rc (stderr %r)" % r.stderr)
	mrtest.split_prefix_headers(find_by_subject(env, BOB, BOB_PW, subj)[0], msg)
	find_by_subject(env, ALICE, ALICE_PW, subj)
	r = mrtest.curl(["smtp://127.0.0.1:%d" % env.node.ports["smtp"], "--mail-from", "sender@remote.test",
		"--mail-rcpt", "ghost@example.test", "-T", p])
	check(r.returncode != 0, "curl to an unknown recipient must fail")
	subj = "swaks-pipe-" + mrtest.rand_token(4)
	msg = make_message(subj, "pipelined by swaks\n", to=ALICE)
	r = mrtest.swaks(env.node, "sender@remote.test", ALICE, data_file=write_swaks_data(env, "pipe.eml", msg), tls=True, extra=["--pipeline"])
	eq(r.returncode, 0, "swaks --tls --pipeline rc (output %s)" % r.stdout.decode(errors="replace")[-1500:])
	mrtest.split_prefix_headers(find_by_subject(env, ALICE, ALICE_PW, subj)[0], msg)


def test_smtplib_plain(env):
	subj = "smtplib-plain-" + mrtest.rand_token(4)
	msg = make_message(subj, "plain smtplib\n", to=BOB)
	refused = env.node.send("sender@remote.test", [BOB], msg)
	eq(refused, {}, "refused recipients")
	stored = find_by_subject(env, BOB, BOB_PW, subj)[0]
	mrtest.check_trace_prefix(mrtest.split_prefix_headers(stored, msg))


def test_smtplib_starttls(env):
	subj = "smtplib-tls-" + mrtest.rand_token(4)
	msg = make_message(subj, "starttls smtplib \xe9\xe8 8bit\n", to=BOB)
	refused = env.node.send("sender@remote.test", [BOB], msg, starttls=True)
	eq(refused, {}, "refused recipients")
	stored = find_by_subject(env, BOB, BOB_PW, subj)[0]
	mrtest.check_trace_prefix(mrtest.split_prefix_headers(stored, msg))


def test_unknown_recipient(env):
	s = env.node.smtp()
	try:
		eq(s.mail("sender@remote.test")[0], 250, "MAIL")
		code, text = s.rcpt("nobody-%s@example.test" % mrtest.rand_token(3))
		eq(code, 550, "RCPT unknown user code")
		check(text.startswith(b"5.1.1"), "enhanced code 5.1.1 expected: %r" % text)
		# unknown domain is refused as well (we are not an open relay)
		code, text = s.rcpt("someone@not-ours.test")
		check(code >= 500, "RCPT to a foreign domain must be refused, got %d %r" % (code, text))
		# the transaction is still usable with a good recipient
		eq(s.rcpt(ALICE)[0], 250, "RCPT good after bad")
		s.rset()
	finally:
		s.close()
	# smtplib with only bad recipients raises SMTPRecipientsRefused
	try:
		env.node.send("sender@remote.test", ["ghost@example.test"], make_message("x", "y"))
		raise mrtest.Fail("delivery to an unknown recipient was accepted")
	except smtplib.SMTPRecipientsRefused as e:
		eq(list(e.recipients.values())[0][0], 550, "refusal code")


def test_multiple_recipients_with_alias(env):
	subj = "multi-" + mrtest.rand_token(4)
	msg = make_message(subj, "to several\n", to="%s, %s" % (ALICE, BOBBY))
	# alice directly, bob through an alias: one copy each
	refused = env.node.send("sender@remote.test", [ALICE, BOBBY], msg)
	eq(refused, {}, "refused")
	a = find_by_subject(env, ALICE, ALICE_PW, subj, expect=1)
	b = find_by_subject(env, BOB, BOB_PW, subj, expect=1)
	mrtest.split_prefix_headers(a[0], msg)
	mrtest.split_prefix_headers(b[0], msg)


def test_alias_only(env):
	subj = "alias-" + mrtest.rand_token(4)
	msg = make_message(subj, "via alias only\n", to=ALIAS)
	eq(env.node.send("sender@remote.test", [ALIAS], msg), {}, "refused")
	find_by_subject(env, ALICE, ALICE_PW, subj)
	find_by_subject(env, BOB, BOB_PW, subj)


def test_recipient_case_insensitive_domain(env):
	subj = "case-" + mrtest.rand_token(4)
	msg = make_message(subj, "domain in upper case\n")
	eq(env.node.send("sender@remote.test", ["alice@EXAMPLE.TEST"], msg), {}, "refused")
	find_by_subject(env, ALICE, ALICE_PW, subj)


def test_recipient_address_forms(env):
	"""RFC 5321 4.1.2/C: a source route is accepted and ignored; a quoted local part equals the
	plain one; local parts match case-insensitively here; address literals are not ours."""
	s = env.node.smtp()
	try:
		eq(s.mail("sender@remote.test")[0], 250, "MAIL")
		for r in ("<@relay.test,@other.test:alice@example.test>", '<"alice"@example.test>', "<ALICE@example.test>"):
			code, text = s.docmd("RCPT TO:" + r)
			eq(code, 250, "RCPT TO:%s (%r)" % (r, text))
		code, text = s.docmd("RCPT TO:<alice@[127.0.0.1]>")
		check(code >= 500, "an address literal is not a local domain: %d %r" % (code, text))
		s.rset()
	finally:
		s.close()


def test_dot_stuffing(env):
	subj = "dots-" + mrtest.rand_token(4)
	body = b".leading dot\r\n..two dots\r\n.\r\n...\r\nmiddle . dot\r\n. space after dot\r\nend\r\n"
	msg = make_message(subj, body, to=ALICE)
	# raw session so we control the stuffing ourselves (RFC 5321 4.5.2)
	ln = Line(env.node.ports["smtp"])
	try:
		eq(ln.smtp_reply()[0], 220, "greeting")
		ln.cmd("EHLO client.test")
		eq(ln.smtp_reply()[0], 250, "EHLO")
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % ALICE)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		ln.cmd("DATA")
		eq(ln.smtp_reply()[0], 354, "DATA")
		stuffed = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in msg.split(b"\r\n")[:-1])
		ln.send(stuffed + b".\r\n")
		code, lines = ln.smtp_reply()
		eq(code, 250, "end of data: %r" % lines)
		ln.cmd("QUIT")
		eq(ln.smtp_reply()[0], 221, "QUIT")
	finally:
		ln.close()
	stored = find_by_subject(env, ALICE, ALICE_PW, subj)[0]
	mrtest.split_prefix_headers(stored, msg)
	contains(stored, b"\r\n.leading dot\r\n..two dots\r\n.\r\n...\r\n", "unstuffed body")


def test_pipelining(env):
	subj = "pipe-" + mrtest.rand_token(4)
	msg = make_message(subj, "pipelined\n")
	ln = Line(env.node.ports["smtp"])
	try:
		eq(ln.smtp_reply()[0], 220, "greeting")
		ln.cmd("EHLO client.test")
		eq(ln.smtp_reply()[0], 250, "EHLO")
		ln.send("MAIL FROM:<sender@remote.test>\r\nRCPT TO:<%s>\r\nRCPT TO:<ghost@example.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (ALICE, BOB))
		codes = [ln.smtp_reply()[0] for _ in range(5)]
		eq(codes, [250, 250, 550, 250, 354], "pipelined replies")
		ln.send(msg + b".\r\nQUIT\r\n")
		eq(ln.smtp_reply()[0], 250, "data accepted")
		eq(ln.smtp_reply()[0], 221, "QUIT")
	finally:
		ln.close()
	find_by_subject(env, ALICE, ALICE_PW, subj)
	find_by_subject(env, BOB, BOB_PW, subj)


def test_size_declared_over_limit(env):
	s = env.node.smtp()
	try:
		code, text = s.docmd("MAIL FROM:<sender@remote.test> SIZE=%d" % (MAX_SIZE + 1))
		eq(code, 552, "MAIL with SIZE over the limit (%r)" % text)
		check(text.startswith(b"5.3.4") or text.startswith(b"5.2.3"), "enhanced code for SIZE: %r" % text)
		code, text = s.docmd("MAIL FROM:<sender@remote.test> SIZE=%d" % (MAX_SIZE - 1000))
		eq(code, 250, "MAIL with SIZE under the limit")
		s.rset()
	finally:
		s.close()


def test_size_actual_over_limit(env):
	subj = "big-" + mrtest.rand_token(4)
	body = ("x" * 76 + "\n") * (MAX_SIZE // 77 + 100)
	msg = make_message(subj, body, to=ALICE)
	check(len(msg) > MAX_SIZE, "test message must exceed the limit")
	# raw session: MAIL without a SIZE declaration, so only the DATA byte count can catch it
	ln = Line(env.node.ports["smtp"])
	try:
		eq(ln.smtp_reply()[0], 220, "greeting")
		ln.cmd("EHLO client.test")
		eq(ln.smtp_reply()[0], 250, "EHLO")
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % ALICE)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		ln.cmd("DATA")
		eq(ln.smtp_reply()[0], 354, "DATA")
		try:
			ln.send(msg + b".\r\n")
		except (BrokenPipeError, ConnectionResetError):
			raise mrtest.Fail("server dropped the connection during an oversized DATA instead of replying 552")
		code, lines = ln.smtp_reply()
		eq(code, 552, "reply after oversized DATA (%r)" % lines)
		# the session goes on (RFC 5321 4.2.5: the transaction failed, not the session)
		ln.cmd("NOOP")
		eq(ln.smtp_reply()[0], 250, "NOOP after 552")
	finally:
		ln.close()
	m = env.node.imap(ALICE, ALICE_PW)
	try:
		m.select("INBOX", readonly=True)
		eq(imap_uids(m, 'SUBJECT "%s"' % subj), [], "oversized message must not be stored")
	finally:
		m.logout()
	# just under the limit is accepted
	subj2 = "fits-" + mrtest.rand_token(4)
	msg2 = make_message(subj2, ("y" * 76 + "\n") * ((MAX_SIZE - 6000) // 77), to=ALICE)
	eq(env.node.send("sender@remote.test", [ALICE], msg2), {}, "near-limit message refused")
	stored = find_by_subject(env, ALICE, ALICE_PW, subj2)[0]
	mrtest.split_prefix_headers(stored, msg2)


def test_too_many_recipients(env):
	s = env.node.smtp()
	try:
		eq(s.mail("sender@remote.test")[0], 250, "MAIL")
		codes = [s.rcpt(ALICE if i % 2 else BOB)[0] for i in range(12)]
		eq(codes[:10], [250] * 10, "first 10 recipients")
		check(all(c in (452, 552, 455) for c in codes[10:]), "recipients over max_recipients: %r" % codes)
		s.rset()
	finally:
		s.close()


def test_null_sender(env):
	subj = "bounce-" + mrtest.rand_token(4)
	msg = make_message(subj, "a bounce\n", frm="MAILER-DAEMON@remote.test")
	eq(env.node.send("<>", [ALICE], msg), {}, "null reverse-path refused")
	find_by_subject(env, ALICE, ALICE_PW, subj)


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

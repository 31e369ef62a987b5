"""test_messages.py - message content end to end through a real mailraftd: a multi-megabyte
message (IMAP BODY[] and partial fetches, POP3 RETR, exact bytes and sizes), 8-bit and UTF-8
content (8BITMIME/SMTPUTF8), nested MIME (BODYSTRUCTURE, part fetches, part headers,
message/rfc822), encoded-word subjects found by SEARCH, ENVELOPE of quoted names and groups,
BADCHARSET, a header-only message, IMAP APPEND of a large literal, 150 messages delivered over
one SMTP session (FETCH 1:*, SEARCH, STORE on ranges, POP3 STAT/UIDL), and one transaction
fanned out to 30 accounts (20 direct, 10 through an alias)."""
import base64
import os
import re
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message, imap_ok, imap_uids, imap_body, flat, Line  # noqa: E402

DOMAIN = "example.test"
USER, PW = "max@example.test", "max-pw-1"
BULK, BULK_PW = "bulk@example.test", "bulk-pw-1"


def setup(env):
	n = env.new_node("messages", conf={"max_message_size": str(20 * 1024 * 1024)})
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	n.add_account(BULK, BULK_PW)


def raw_deliver(env, rcpt, data, mail_params=""):
	"""One SMTP transaction with exactly these DATA bytes (dot-stuffed here); returns the reply."""
	ln = Line(env.node.ports["smtp"])
	try:
		eq(ln.smtp_reply()[0], 220, "greeting")
		ln.cmd("EHLO client.test")
		eq(ln.smtp_reply()[0], 250, "EHLO")
		ln.cmd(b"MAIL FROM:<sender@remote.test>" + mail_params.encode())
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % rcpt)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		ln.cmd("DATA")
		eq(ln.smtp_reply()[0], 354, "DATA")
		stuffed = re.sub(rb"(?m)^\.", b"..", data)
		ln.send(stuffed + b".\r\n")
		code, lines = ln.smtp_reply()
		ln.cmd("QUIT")
		return code, lines
	finally:
		ln.close()


def find_one(m, criteria):
	uids = imap_uids(m, criteria)
	eq(len(uids), 1, "messages matching %s" % criteria)
	return uids[0]


def test_large_message(env):
	n = env.node
	subj = "large-" + secrets.token_hex(4)
	blob = base64.encodebytes(secrets.token_bytes(3 * 1024 * 1024)).replace(b"\n", b"\r\n")
	long_lines = b"".join((b"L%04d " % i) + b"x" * 992 + b"\r\n" for i in range(1500))   # 998 + CRLF
	msg = (make_message(subj, "see below\n", to=USER, headers={"Content-Type": "text/plain"})
		+ long_lines + b"\r\n" + blob)
	check(len(msg) > 5 * 1024 * 1024, "large test message")
	eq(n.send("sender@remote.test", [USER], msg, starttls=True), {}, "delivery")
	m = n.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		uid = find_one(m, 'SUBJECT "%s"' % subj)
		stored = imap_body(m, uid)
		prefix = mrtest.split_prefix_headers(stored, msg)
		d = flat(imap_ok(m.uid("FETCH", str(uid), "(RFC822.SIZE)"), "FETCH"))
		eq(int(re.search(rb"RFC822\.SIZE (\d+)", d).group(1)), len(stored), "RFC822.SIZE")
		for off, ln in ((0, 100), (len(prefix) + 5, 4096), (1024 * 1024 - 7, 70000), (len(stored) - 10, 100), (len(stored) + 10, 5)):
			part = imap_body(m, uid, "BODY.PEEK[]<%d.%d>" % (off, ln))
			eq(part, stored[off:off + ln], "BODY[]<%d.%d>" % (off, ln))
		text = imap_body(m, uid, "BODY.PEEK[TEXT]")
		eq(text, msg.split(b"\r\n\r\n", 1)[1], "BODY[TEXT] of the large message")
	finally:
		m.logout()
	p = n.pop3(USER, PW)
	try:
		count, _ = p.stat()
		sizes = dict((int(a), int(b)) for a, b in (x.split() for x in p.list()[1]))
		_, lines, _ = p.retr(count)
		data = b"".join(l + b"\r\n" for l in lines)
		eq(data, stored, "POP3 RETR bytes = IMAP BODY[] bytes")
		eq(sizes[count], len(stored), "POP3 LIST size")
		p.quit()
	finally:
		p.close()


def test_8bit_and_utf8(env):
	subj = "Gr\u00fc\u00dfe \u65e5\u672c " + secrets.token_hex(3)
	data = ("From: J\u00fcrgen <sender@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\n"
		"caf\u00e9 na\u00efve \u2603 \U0001f600\r\n" % (USER, subj)).encode("utf-8") + b"raw latin-1 bytes: \xe9\xe8\xff\r\n"
	code, lines = raw_deliver(env, USER, data, " BODY=8BITMIME SMTPUTF8")
	eq(code, 250, "8-bit delivery: %r" % lines)
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		uid = find_one(m, 'BODY "raw latin-1"')
		mrtest.split_prefix_headers(imap_body(m, uid), data)
		# SEARCH CHARSET UTF-8 with a non-ASCII term sent as a literal (RFC 3501 6.4.4)
		m.literal = "Gr\u00fc\u00dfe".encode("utf-8")
		typ, d = m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT")
		eq(typ, "OK", "SEARCH CHARSET UTF-8")
		check(str(uid).encode() in d[0].split(), "UTF-8 SEARCH SUBJECT finds the message: %r" % d)
	finally:
		m.logout()


def test_nested_mime(env):
	subj = "mime-" + secrets.token_hex(4)
	pdf = base64.encodebytes(b"%PDF-1.4 fake " + secrets.token_bytes(3000)).replace(b"\n", b"\r\n")
	inner = (b"From: inner@remote.test\r\nTo: x@remote.test\r\nSubject: inner subject\r\n"
		b"Content-Type: text/plain\r\n\r\ninner body\r\n")
	body = (b"This is a multi-part message.\r\n"
		b"--OUTER\r\nContent-Type: multipart/alternative; boundary=\"INNER\"\r\n\r\n"
		b"--INNER\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain text part\r\n"
		b"--INNER\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<b>html part</b>\r\n"
		b"--INNER--\r\n"
		b"--OUTER\r\nContent-Type: application/pdf; name=\"doc.pdf\"\r\n"
		b"Content-Disposition: attachment; filename=\"doc.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		+ pdf +
		b"--OUTER\r\nContent-Type: message/rfc822\r\n\r\n" + inner +
		b"--OUTER--\r\nepilogue\r\n")
	msg = ("From: <sender@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"OUTER\"\r\n\r\n" % (USER, subj)).encode() + body
	eq(env.node.send("sender@remote.test", [USER], msg), {}, "delivery")
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		uid = find_one(m, 'SUBJECT "%s"' % subj)
		mrtest.split_prefix_headers(imap_body(m, uid), msg)
		bs = flat(imap_ok(m.uid("FETCH", str(uid), "(BODYSTRUCTURE)"), "BODYSTRUCTURE")).lower()
		check(re.search(rb'\(\("text" "plain".*\)\("text" "html".*"alternative".*\)\("application" "pdf".*"base64".*\)\("message" "rfc822".*"mixed"', bs, re.S),
			"nested BODYSTRUCTURE: %r" % bs)
		contains(bs, b'"attachment" ("filename" "doc.pdf")', "Content-Disposition in BODYSTRUCTURE")
		eq(imap_body(m, uid, "BODY.PEEK[1.1]"), b"plain text part", "BODY[1.1]")
		eq(imap_body(m, uid, "BODY.PEEK[1.2]"), b"<b>html part</b>", "BODY[1.2]")
		eq(imap_body(m, uid, "BODY.PEEK[2]"), pdf[:-2], "BODY[2] (base64 as sent)")
		contains(imap_body(m, uid, "BODY.PEEK[2.MIME]"), b"Content-Disposition: attachment", "BODY[2.MIME]")
		eq(imap_body(m, uid, "BODY.PEEK[3]"), inner[:-2], "BODY[3] (message/rfc822)")
		contains(imap_body(m, uid, "BODY.PEEK[3.HEADER]"), b"Subject: inner subject", "BODY[3.HEADER]")
		eq(imap_body(m, uid, "BODY.PEEK[3.TEXT]"), b"inner body", "BODY[3.TEXT] (the CRLF before the boundary is not part of it)")
	finally:
		m.logout()


def test_encoded_word_subject(env):
	words = "Quarterly caf\u00e9 report " + secrets.token_hex(3)
	enc = "=?UTF-8?B?%s?=" % base64.b64encode(words.encode()).decode()
	msg = make_message(enc, "encoded subject\n", to=USER)
	eq(env.node.send("sender@remote.test", [USER], msg), {}, "delivery")
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		uids = imap_uids(m, 'SUBJECT "%s"' % words.split()[-1])
		eq(len(uids), 1, "SEARCH SUBJECT matches the decoded encoded-word")
		d = flat(imap_ok(m.uid("FETCH", str(uids[0]), "(ENVELOPE)"), "ENVELOPE"))
		contains(d, enc.encode(), "ENVELOPE subject is the raw header value (RFC 3501 7.4.2)")
	finally:
		m.logout()


def test_envelope_address_forms(env):
	"""ENVELOPE of quoted display names with commas, comments, group syntax (RFC 3501 7.4.2),
	an ISO-8859-1 encoded word found by a UTF-8 SEARCH, and BADCHARSET for unknown charsets."""
	tok = secrets.token_hex(3)
	msg = (b'From: "Doe, John" <john@remote.test> (comment)\r\nTo: undisclosed-recipients:;\r\n'
		b'Cc: "Q \\"x\\"" <q@r.test>, plain@r.test, Group: g1@r.test, g2@r.test;\r\n'
		b"Subject: =?ISO-8859-1?Q?caf=E9?= " + tok.encode() + b"\r\nDate: Tue, 1 Jan 2019 10:00:00 -0500\r\n"
		b"Message-ID: <x-" + tok.encode() + b"@y>\r\nIn-Reply-To: <p@q>\r\n\r\nbody\r\n")
	eq(env.node.send("sender@remote.test", [USER], msg), {}, "delivery")
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		uid = find_one(m, 'SUBJECT "%s"' % tok)
		d = flat(imap_ok(m.uid("FETCH", str(uid), "(ENVELOPE)"), "ENVELOPE"))
		contains(d, b'(("Doe, John" NIL "john" "remote.test"))', "From with a quoted comma")
		contains(d, b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))', "empty group")
		contains(d, b'(("Q \\"x\\"" NIL "q" "r.test")(NIL NIL "plain" "r.test")(NIL NIL "Group" NIL)'
			b'(NIL NIL "g1" "r.test")(NIL NIL "g2" "r.test")(NIL NIL NIL NIL))', "Cc with a group")
		contains(d, b'NIL "<p@q>" "<x-%s@y>")' % tok.encode(), "Bcc NIL, In-Reply-To, Message-ID")
		m.literal = "caf\u00e9".encode("utf-8")
		typ, r = m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT")
		check(typ == "OK" and str(uid).encode() in r[0].split(), "UTF-8 SEARCH matches the ISO-8859-1 encoded word: %r" % r)
		typ, r = m.uid("SEARCH", "CHARSET", "X-NO-SUCH-CHARSET", "ALL")
		check(typ == "NO" and b"BADCHARSET" in r[0], "unknown charset: NO [BADCHARSET] (RFC 9051 6.4.4): %r" % r)
		eq(imap_uids(m, 'FROM "Doe, John" SUBJECT "%s"' % tok), [uid], "SEARCH FROM display name")
		eq(imap_uids(m, "CC g2@r.test SUBJECT %s" % tok), [uid], "SEARCH CC inside a group")
	finally:
		m.logout()


def test_header_only_message(env):
	subj = "hdronly-" + secrets.token_hex(3)
	data = ("From: <sender@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\n" % (USER, subj)).encode()
	code, lines = raw_deliver(env, USER, data)
	eq(code, 250, "header-only delivery: %r" % lines)
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		uid = find_one(m, 'SUBJECT "%s"' % subj)
		mrtest.split_prefix_headers(imap_body(m, uid), data)
		eq(imap_body(m, uid, "BODY.PEEK[TEXT]"), b"", "BODY[TEXT] of a header-only message")
		d = flat(imap_ok(m.uid("FETCH", str(uid), "(BODYSTRUCTURE ENVELOPE)"), "FETCH"))
		contains(d.lower(), b'"text" "plain"', "default BODYSTRUCTURE text/plain")
	finally:
		m.logout()


def test_append_large_literal(env):
	m = env.node.imap(USER, PW)
	try:
		subj = "bigappend-" + secrets.token_hex(3)
		blob = base64.encodebytes(secrets.token_bytes(2 * 1024 * 1024)).replace(b"\n", b"\r\n")
		msg = make_message(subj, "x\n", headers={}) + blob
		typ, data = m.append("Archive", None, None, msg)
		eq(typ, "OK", "APPEND of %d bytes: %r" % (len(msg), data))
		m.select("Archive", readonly=True)
		uid = find_one(m, 'SUBJECT "%s"' % subj)
		eq(imap_body(m, uid), msg, "appended bytes")
	finally:
		m.logout()


def test_many_messages_one_session(env):
	n = env.node
	count = 150
	s = n.smtp()
	try:
		for i in range(count):
			refused = s.sendmail("sender@remote.test", [BULK], make_message("bulk n-%d end" % i, "message number %d\n" % i, to=BULK))
			eq(refused, {}, "bulk %d" % i)
	finally:
		s.quit()
	m = n.imap(BULK, BULK_PW)
	try:
		typ, data = m.select("INBOX")
		eq(int(data[0]), count, "EXISTS")
		d = imap_ok(m.fetch("1:*", "(UID FLAGS RFC822.SIZE)"), "FETCH 1:*")
		eq(len([x for x in d if x]), count, "FETCH 1:* responses")
		uids = imap_uids(m)
		eq(len(uids), count, "UID SEARCH ALL")
		check(uids == sorted(set(uids)), "UIDs strictly increasing")
		eq(imap_uids(m, 'SUBJECT "n-77 end"'), [uids[77]], "SEARCH picks message 77 (delivery order = UID order)")
		typ, d = m.search(None, "10:20")
		eq([int(x) for x in d[0].split()], list(range(10, 21)), "SEARCH by sequence set")
		eq(imap_uids(m, "UID %d:%d" % (uids[5], uids[9])), uids[5:10], "SEARCH UID range")
		imap_ok(m.store("1:50", "+FLAGS.SILENT", "(\\Seen)"), "STORE 1:50")
		eq(len(imap_uids(m, "UNSEEN")), count - 50, "UNSEEN after STORE 1:50")
		eq(len(imap_uids(m, "SEEN NOT UNSEEN")), 50, "SEEN")
		d = flat(imap_ok(m.uid("FETCH", "%d:*" % uids[-3], "(UID)"), "UID FETCH n:*"))
		eq(len(re.findall(rb"UID \d+", d)), 3, "UID FETCH last three")
		d = flat(imap_ok(m.uid("FETCH", "%d:*" % (uids[-1] + 100), "(UID)"), "UID FETCH beyond the end"))
		eq(re.findall(rb"UID (\d+)", d), [str(uids[-1]).encode()], "n:* with n > UIDNEXT returns the last message (RFC 9051 6.4.8)")
	finally:
		m.logout()
	p = n.pop3(BULK, BULK_PW)
	try:
		eq(p.stat()[0], count, "POP3 STAT")
		ul = [x.split()[1] for x in p.uidl()[1]]
		eq(len(set(ul)), count, "POP3 UIDL unique")
		_, lines, _ = p.top(count, 1)
		contains(b"\r\n".join(lines), b"message number %d" % (count - 1), "TOP of the last message")
		p.quit()
	finally:
		p.close()


def test_fan_out_to_many_mailboxes(env):
	"""One transaction to 30 accounts plus an alias with 10 targets: one commit over 30 account
	databases, every copy intact."""
	n = env.node
	users = ["fan%02d@%s" % (i, DOMAIN) for i in range(30)]
	for u in users:
		n.add_account(u, "fan-pw-1")
	for u in users[:10]:
		n.ctl("alias", "add", "fanlist@" + DOMAIN, u)
	subj = "fan-" + secrets.token_hex(4)
	msg = make_message(subj, "to everybody\n")
	eq(n.send("sender@remote.test", users[10:] + ["fanlist@" + DOMAIN], msg), {}, "fan-out delivery")
	for u in users:
		m = n.imap(u, "fan-pw-1")
		try:
			m.select("INBOX", readonly=True)
			uids = imap_uids(m, 'SUBJECT "%s"' % subj)
			eq(len(uids), 1, "copies for %s" % u)
			mrtest.split_prefix_headers(imap_body(m, uids[0]), msg)
		finally:
			m.logout()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

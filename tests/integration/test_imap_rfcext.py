"""test_imap_rfcext.py - the IMAP extensions added for issue 4, against a real mailraftd, each
tested only when advertised in CAPABILITY (an advertised one that fails is a failure): ESEARCH
(RFC 4731) and SEARCHRES (RFC 5182), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
SPECIAL-USE selection and CREATE-SPECIAL-USE (RFC 6154), STATUS=SIZE (RFC 8438), APPENDLIMIT
(RFC 7889), MULTIAPPEND (RFC 3502), QUOTA (RFC 9208), SAVEDATE (RFC 8514), OBJECTID (RFC
8474) and QRESYNC (RFC 7162). Raw protocol lines for exact responses, imaplib where a real
client's view matters. (Split from test_imap_ext.py to keep each file within its time budget.)"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message, imap_ok, imap_uids, Line  # noqa: E402

DOMAIN = "example.test"
PW = "ext-pw-1"


def setup(env):
	n = env.new_node("imaprfc")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account("cap@" + DOMAIN, PW)
	m = n.imap("cap@" + DOMAIN, PW)
	typ, d = m.capability()
	env.caps = set(d[-1].decode().upper().split())
	m.logout()
	env.count = 0


def has(env, cap):
	return cap.upper() in env.caps


def fresh_account(env, nmsg=0):
	"""A new account with nmsg messages in INBOX (UIDs 1..nmsg, subjects "m1".."mN")."""
	env.count += 1
	user = "u%d@%s" % (env.count, DOMAIN)
	env.node.add_account(user, PW)
	for i in range(1, nmsg + 1):
		eq(env.node.send("sender@remote.test", [user], make_message("m%d" % i, "body number %d\n" % i)), {}, "delivery")
	if nmsg:
		mrtest.wait_imap_count(env.node, user, PW, nmsg)
	env.last_user = user
	return user


def raw(env, user):
	return mrtest.imap_raw_login(env.node.ports["imaps"], user, PW)


cmd = mrtest.imap_cmd
untagged = mrtest.untagged


def test_esearch(env):
	if not has(env, "ESEARCH"):
		return
	ln = raw(env, fresh_account(env, 5))
	try:
		cmd(ln, "s", "SELECT INBOX")
		cmd(ln, "f", "STORE 2,4 +FLAGS (\\Flagged)")
		lines = cmd(ln, "A282", "SEARCH RETURN (MIN COUNT) FLAGGED")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A282") MIN 2 COUNT 2'], "RFC 4731 MIN COUNT")
		lines = cmd(ln, "A283", "SEARCH RETURN () 1:5 NOT FLAGGED")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A283") ALL 1,3,5'], "RETURN () means ALL")
		lines = cmd(ln, "A284", "UID SEARCH RETURN (MIN MAX ALL COUNT) ALL")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A284") UID MIN 1 MAX 5 ALL 1:5 COUNT 5'], "UID ESEARCH")
		lines = cmd(ln, "A285", "SEARCH RETURN (MIN MAX COUNT) SUBJECT no-such-subject")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A285") COUNT 0'], "no match: only COUNT")
		check(not untagged(lines, b"* SEARCH"), "no plain SEARCH with RETURN")
		lines = cmd(ln, "A286", "SEARCH RETURN (BOGUS) ALL", ok=False)
		check(lines[-1].startswith(b"A286 BAD"), "unknown return option: %r" % lines)
		lines = cmd(ln, "A287", "SEARCH FLAGGED")
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH 2 4"], "plain SEARCH unchanged")
	finally:
		ln.close()


def test_searchres(env):
	if not has(env, "SEARCHRES"):
		return
	ln = raw(env, fresh_account(env, 6))
	try:
		cmd(ln, "s", "SELECT INBOX")
		cmd(ln, "f", "STORE 1,3,6 +FLAGS (\\Answered)")
		lines = cmd(ln, "A1", "UID SEARCH RETURN (SAVE) ANSWERED")
		check(not untagged(lines, b"* ESEARCH") and not untagged(lines, b"* SEARCH"),
			"SAVE alone gives no search response (RFC 5182 2.4): %r" % lines)
		lines = cmd(ln, "A2", "FETCH $ (UID)")
		eq(sorted(re.findall(rb"UID (\d+)", b"".join(lines))), [b"1", b"3", b"6"], "FETCH $")
		lines = cmd(ln, "A3", "UID SEARCH UID $ SUBJECT m3")
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH 3"], "UID $ in criteria")
		lines = cmd(ln, "A4", "SEARCH NOT $")
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH 2 4 5"], "NOT $")
		cmd(ln, "A5", "UID STORE $ +FLAGS (\\Flagged)")
		lines = cmd(ln, "A6", "SEARCH FLAGGED")
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH 1 3 6"], "UID STORE $")
		# SAVE with MIN MAX saves only those two (RFC 5182 2.1)
		lines = cmd(ln, "A7", "SEARCH RETURN (SAVE MIN MAX) ANSWERED")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A7") MIN 1 MAX 6'], "SAVE MIN MAX response")
		lines = cmd(ln, "A8", "UID FETCH $ (UID)")
		eq(sorted(re.findall(rb"UID (\d+)", b"".join(lines))), [b"1", b"6"], "saved MIN and MAX")
		# an expunged saved message just drops out; a new SELECT empties $
		cmd(ln, "A9", "STORE 1 +FLAGS (\\Deleted)")
		cmd(ln, "A10", "EXPUNGE")
		lines = cmd(ln, "A11", "UID SEARCH $")
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH 6"], "$ after EXPUNGE")
		cmd(ln, "A12", "SELECT INBOX")
		lines = cmd(ln, "A13", "SEARCH $")
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH"], "$ is empty after SELECT")
		lines = cmd(ln, "A14", "FETCH $ (UID)")
		check(not untagged(lines, b"* 1 FETCH"), "FETCH of an empty $: %r" % lines)
	finally:
		ln.close()


def test_list_extended(env):
	if not has(env, "LIST-EXTENDED"):
		return
	ln = raw(env, fresh_account(env))
	try:
		for name in ("Fruit", "Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable/Broccoli"):
			cmd(ln, "c", 'CREATE "%s"' % name)
		for name in ("Fruit", "Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable", "Vegetable/Broccoli",
				"INBOX", "Drafts", "Sent", "Archive", "Junk", "Trash"):
			cmd(ln, "u", 'UNSUBSCRIBE "%s"' % name)
		for name in ("Fruit/Banana", "Vegetable/Broccoli"):
			cmd(ln, "s", 'SUBSCRIBE "%s"' % name)
		lines = cmd(ln, "A01", 'LIST (SUBSCRIBED) "" "*"')
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"',
			b'* LIST (\\HasNoChildren \\Subscribed) "/" "Vegetable/Broccoli"'], "LIST (SUBSCRIBED)")
		lines = cmd(ln, "A02", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasChildren) "/" "Fruit" ("CHILDINFO" ("SUBSCRIBED"))',
			b'* LIST (\\HasChildren) "/" "Vegetable" ("CHILDINFO" ("SUBSCRIBED"))'],
			"RFC 5258 RECURSIVEMATCH")
		lines = cmd(ln, "A03", 'LIST (RECURSIVEMATCH) "" "%"', ok=False)
		check(lines[-1].startswith(b"A03 BAD"), "RECURSIVEMATCH alone: %r" % lines)
		lines = cmd(ln, "A04", 'LIST "" ("Fruit/*" "Tofu") RETURN (SUBSCRIBED CHILDREN)')
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren) "/" "Fruit/Apple"',
			b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"',
			b'* LIST (\\HasNoChildren) "/" "Tofu"'], "several patterns, RETURN (SUBSCRIBED)")
		lines = cmd(ln, "A05", 'LIST (BOGUS) "" "*"', ok=False)
		check(lines[-1].startswith(b"A05 BAD"), "unknown selection option: %r" % lines)
	finally:
		ln.close()


def test_special_use(env):
	if not has(env, "SPECIAL-USE"):
		return
	ln = raw(env, fresh_account(env))
	try:
		lines = cmd(ln, "A1", 'LIST (SPECIAL-USE) "" "*"')
		got = sorted(untagged(lines, b"* LIST"))
		check(len(got) == 5 and all(re.search(rb"\\(Drafts|Sent|Archive|Junk|Trash)", l) for l in got),
			"LIST (SPECIAL-USE) gives only the special-use mailboxes: %r" % got)
		lines = cmd(ln, "A2", 'LIST "" "Sent" RETURN (SPECIAL-USE)')
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"'], "RETURN (SPECIAL-USE)")
		if has(env, "CREATE-SPECIAL-USE"):
			cmd(ln, "A3", 'CREATE "Everything" (USE (\\All))')
			lines = cmd(ln, "A4", 'LIST "" "Everything"')
			eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren \\All) "/" "Everything"'], "CREATE (USE (\\All))")
			lines = cmd(ln, "A5", 'CREATE "Odd" (USE (\\Bogus))', ok=False)
			check(lines[-1].startswith(b"A5 NO [USEATTR]"), "unknown use attribute: %r" % lines)
			lines = cmd(ln, "A6", 'LIST "" "Odd"')
			check(not untagged(lines, b"* LIST"), "a refused CREATE created the mailbox")
	finally:
		ln.close()


def test_list_status_and_status_size(env):
	user = fresh_account(env, 3)
	ln = raw(env, user)
	try:
		cmd(ln, "s", "SELECT INBOX")
		cmd(ln, "f", "STORE 1 +FLAGS (\\Seen)")
		lines = cmd(ln, "f2", "FETCH 1:3 (RFC822.SIZE)")
		total = sum(int(x) for x in re.findall(rb"RFC822.SIZE (\d+)", b"".join(lines)))
		if has(env, "LIST-STATUS"):
			lines = cmd(ln, "A1", 'LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN))')
			eq(lines[:-1], [b'* LIST (\\HasNoChildren) "/" "INBOX"', b'* STATUS "INBOX" (MESSAGES 3 UNSEEN 2)'],
				"RFC 5819 LIST-STATUS")
			cmd(ln, "c", 'CREATE "Par/Kid"')   # creates "Par" too (RFC 3501 6.3.3)
			cmd(ln, "d", 'DELETE "Par"')       # "Par" is now only an implied \Noselect name
			lines = cmd(ln, "A2", 'LIST "" "Par*" RETURN (STATUS (MESSAGES))')
			check(not any(l.startswith(b'* STATUS "Par" ') for l in lines), "no STATUS for \\Noselect: %r" % lines)
			check(b'* STATUS "Par/Kid" (MESSAGES 0)' in lines, "STATUS for Par/Kid: %r" % lines)
		if has(env, "STATUS=SIZE"):
			lines = cmd(ln, "A3", "STATUS INBOX (SIZE MESSAGES)")
			eq(untagged(lines, b"* STATUS"), [b'* STATUS "INBOX" (MESSAGES 3 SIZE %d)' % total], "RFC 8438 SIZE")
		al = [c for c in env.caps if c.startswith("APPENDLIMIT=")]
		if al:
			limit = int(al[0].split("=", 1)[1])
			lines = cmd(ln, "A4", "STATUS INBOX (APPENDLIMIT)")
			eq(untagged(lines, b"* STATUS"), [b'* STATUS "INBOX" (APPENDLIMIT %d)' % limit], "RFC 7889 STATUS APPENDLIMIT")
			ln.cmd("A5 APPEND INBOX {%d+}" % (limit + 1))
			lines = ln.imap_until_tagged("A5")
			check(lines and (lines[-1].startswith(b"A5 NO [TOOBIG]") or lines[-1].startswith(b"A5 BAD")),
				"APPEND over APPENDLIMIT refused: %r" % lines)
	finally:
		ln.close()


def append_lines(ln, tag, mailbox, msgs, extra=""):
	"""APPEND with one or more (flags, date, body) messages as non-synchronizing literals."""
	parts = []
	for flags, date, body in msgs:
		p = ""
		if flags is not None:
			p += " (%s)" % flags
		if date is not None:
			p += ' "%s"' % date
		parts.append((p + " {%d+}\r\n" % len(body)).encode() + body)
	ln.send(("%s APPEND %s" % (tag, mailbox)).encode() + b"".join(parts) + extra.encode() + b"\r\n")
	return ln.imap_until_tagged(tag)


def test_multiappend(env):
	if not has(env, "MULTIAPPEND"):
		return
	ln = raw(env, fresh_account(env))
	try:
		lines = cmd(ln, "s", "STATUS Drafts (UIDNEXT UIDVALIDITY)")
		uv = int(re.search(rb"UIDVALIDITY (\d+)", lines[0]).group(1))
		a, b, c = (make_message("multi %d" % i, "part %d\n" % i) for i in range(3))
		lines = append_lines(ln, "A003", "Drafts", [("\\Seen", None, a), (None, "01-Feb-2020 10:00:00 +0000", b), ("", None, c)])
		eq(lines[-1], b"A003 OK [APPENDUID %d 1:3] APPEND completed" % uv, "RFC 3502 + RFC 4315 APPENDUID range")
		cmd(ln, "x", "EXAMINE Drafts")
		lines = cmd(ln, "f", "FETCH 1:3 (FLAGS INTERNALDATE)")
		eq(len(untagged(lines, b"* ")), 3, "three messages")
		contains(lines[0], b"\\Seen", "first message's flags")
		contains(lines[1], b'INTERNALDATE "01-Feb-2020 10:00:00 +0000"', "second message's date")
		# one bad message fails the whole command: nothing is stored (RFC 3502 6.3.11)
		lines = append_lines(ln, "A004", "Drafts", [(None, None, a), ("\\Bogus", None, b)])
		check(lines[-1].startswith(b"A004 BAD") or lines[-1].startswith(b"A004 NO"), "bad flag: %r" % lines)
		lines = append_lines(ln, "A005", "No-Such-Box", [(None, None, a), (None, None, b)])
		check(lines[-1].startswith(b"A005 NO [TRYCREATE]"), "MULTIAPPEND to a missing mailbox: %r" % lines)
		lines = cmd(ln, "s2", "STATUS Drafts (MESSAGES)")
		eq(untagged(lines, b"* STATUS"), [b'* STATUS "Drafts" (MESSAGES 3)'], "failed MULTIAPPENDs stored nothing")
	finally:
		ln.close()


def test_quota(env):
	if not has(env, "QUOTA"):
		return
	n = env.node
	user = "quota@" + DOMAIN
	n.ctl("account", "add", user, "--password", PW, "--quota", "20K")
	ln = raw(env, user)
	try:
		lines = cmd(ln, "G1", "GETQUOTAROOT INBOX")
		eq(lines[:-1], [b'* QUOTAROOT "INBOX" ""', b'* QUOTA "" (STORAGE 0 20)'], "RFC 9208 GETQUOTAROOT, empty")
		msg = make_message("q", "x" * 6000 + "\n")
		lines = append_lines(ln, "A1", "INBOX", [(None, None, msg)])
		check(lines[-1].startswith(b"A1 OK"), "APPEND under quota: %r" % lines)
		lines = cmd(ln, "G2", 'GETQUOTA ""')
		used = (len(msg) + 1023) // 1024
		eq(untagged(lines, b"* QUOTA"), [b'* QUOTA "" (STORAGE %d 20)' % used], "GETQUOTA after APPEND")
		lines = append_lines(ln, "A2", "INBOX", [(None, None, msg), (None, None, msg), (None, None, msg)])
		check(lines[-1].startswith(b"A2 NO [OVERQUOTA]"), "MULTIAPPEND over quota: %r" % lines)
		cmd(ln, "s", "SELECT INBOX")
		cmd(ln, "c1", "COPY 1 Archive")
		cmd(ln, "c2", "COPY 1 Archive")
		lines = cmd(ln, "c3", "COPY 1 Archive", ok=False)
		check(lines[-1].startswith(b"c3 NO [OVERQUOTA]"), "COPY over quota: %r" % lines)
		cmd(ln, "m1", "MOVE 1 Junk")   # at the limit: a MOVE frees as much as it takes
		cmd(ln, "m2", "SELECT Junk")
		cmd(ln, "m3", "MOVE 1 INBOX")
		cmd(ln, "m4", "SELECT INBOX")
		lines = cmd(ln, "G3", 'GETQUOTA "nosuchroot"', ok=False)
		check(lines[-1].startswith(b"G3 NO"), "unknown quota root: %r" % lines)
		lines = cmd(ln, "S1", 'SETQUOTA "" (STORAGE 100)', ok=False)
		check(lines[-1].startswith(b"S1 NO"), "SETQUOTA refused: %r" % lines)
		cmd(ln, "d", "STORE 1 +FLAGS (\\Deleted)")
		lines = cmd(ln, "s3", "STATUS INBOX (DELETED DELETED-STORAGE)")
		eq(untagged(lines, b"* STATUS"), [b'* STATUS "INBOX" (DELETED 1 DELETED-STORAGE %d)' % used], "RFC 9208 4.3")
	finally:
		ln.close()


def test_savedate(env):
	if not has(env, "SAVEDATE"):
		return
	ln = raw(env, fresh_account(env))
	try:
		msg = make_message("saved", "x\n")
		lines = append_lines(ln, "A1", "INBOX", [(None, "01-Feb-2020 10:00:00 +0000", msg)])
		check(lines[-1].startswith(b"A1 OK"), "APPEND: %r" % lines)
		cmd(ln, "s", "SELECT INBOX")
		lines = cmd(ln, "f", "FETCH 1 (SAVEDATE INTERNALDATE)")
		m = re.search(rb'SAVEDATE "(\d+-\w+-\d{4}) ', lines[0])
		check(m is not None, "FETCH SAVEDATE: %r" % lines)
		contains(lines[0], b'INTERNALDATE "01-Feb-2020 10:00:00 +0000"', "INTERNALDATE stays the APPEND date")
		today = m.group(1).decode()
		check(not today.endswith("2020"), "SAVEDATE is when it was saved, not the internal date: %r" % lines)
		for key, want in (("SAVEDON " + today, b"* SEARCH 1"), ("SAVEDSINCE " + today, b"* SEARCH 1"),
				("SAVEDBEFORE " + today, b"* SEARCH"), ("SAVEDATESUPPORTED", b"* SEARCH 1"),
				("ON 1-Feb-2020", b"* SEARCH 1")):
			lines = cmd(ln, "q", "SEARCH " + key)
			eq(untagged(lines, b"* SEARCH"), [want], "SEARCH " + key)
	finally:
		ln.close()


def test_objectid(env):
	if not has(env, "OBJECTID"):
		return
	ln = raw(env, fresh_account(env, 2))
	try:
		lines = cmd(ln, "c", "CREATE Ids")
		m = re.match(rb"c OK \[MAILBOXID \(([A-Za-z0-9_-]{1,255})\)\]", lines[-1])
		check(m is not None, "CREATE answers MAILBOXID (RFC 8474 4.1): %r" % lines)
		mbid = m.group(1)
		lines = cmd(ln, "s", "SELECT Ids")
		check(b"* OK [MAILBOXID (%s)] Ok" % mbid in lines, "SELECT MAILBOXID: %r" % lines)
		cmd(ln, "r", "RENAME Ids Ids2")
		lines = cmd(ln, "st", "STATUS Ids2 (MAILBOXID)")
		eq(untagged(lines, b"* STATUS"), [b'* STATUS "Ids2" (MAILBOXID (%s))' % mbid], "MAILBOXID kept across RENAME")
		cmd(ln, "s2", "SELECT INBOX")
		lines = cmd(ln, "f", "FETCH 1:2 (EMAILID THREADID)")
		ids = re.findall(rb"EMAILID \(([A-Za-z0-9_-]{1,255})\) THREADID NIL", b"\n".join(lines))
		eq(len(ids), 2, "EMAILID and THREADID NIL: %r" % lines)
		check(ids[0] != ids[1], "distinct EMAILIDs")
		lines = cmd(ln, "q", "SEARCH EMAILID %s" % ids[1].decode())
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH 2"], "SEARCH EMAILID")
		cmd(ln, "m", "MOVE 2 Ids2")
		cmd(ln, "s3", "SELECT Ids2")
		lines = cmd(ln, "f2", "FETCH 1 (EMAILID)")
		contains(lines[0], b"EMAILID (%s)" % ids[1], "EMAILID kept by MOVE")
	finally:
		ln.close()


def test_binary(env):
	if not has(env, "BINARY"):
		return
	ln = raw(env, fresh_account(env))
	try:
		payload = bytes(range(1, 256)) * 2
		import base64
		b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
		msg = (b"From: a@example.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
			b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n"
			b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 =3D ok\r\n--XX\r\n"
			b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 +
			b"--XX--\r\n")
		lines = append_lines(ln, "A1", "INBOX", [(None, None, msg)])
		check(lines[-1].startswith(b"A1 OK"), "APPEND: %r" % lines)
		cmd(ln, "s", "SELECT INBOX")
		ln.cmd("f1 FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2] BINARY.PEEK[1])")
		data = b""
		while not data.endswith(b"f1 OK FETCH completed\r\n"):
			chunk = ln.sock.recv(65536)
			check(chunk, "connection closed")
			data += chunk
		contains(data, b"BINARY.SIZE[2] %d" % len(payload), "RFC 3516 BINARY.SIZE")
		contains(data, b"BINARY[2] {%d}\r\n" % len(payload) + payload, "RFC 3516 BINARY decoded base64")
		contains(data, b"BINARY[1] {10}\r\nCaf\xc3\xa9 = ok", "BINARY decoded quoted-printable")
		lines = cmd(ln, "f2", "FETCH 1 (BINARY.PEEK[2]<0.3>)")
		contains(b"\n".join(lines), b"BINARY[2]<0> {3}", "BINARY partial")
		lines = cmd(ln, "f3", "FETCH 1 (BINARY.PEEK[1.HEADER])", ok=False)
		check(lines[-1].startswith(b"f3 BAD"), "BINARY section-part only: %r" % lines)
		# APPEND with a literal8 (RFC 3516 4.4)
		body = b"Subject: lit8\r\n\r\nplain 8bit \xc3\xa9\r\n"
		ln.send(b"A2 APPEND INBOX ~{%d+}\r\n" % len(body) + body + b"\r\n")
		lines = ln.imap_until_tagged("A2")
		check(lines[-1].startswith(b"A2 OK"), "APPEND literal8: %r" % lines)
		body = b"Subject: nul\r\n\r\na\x00b\r\n"
		ln.send(b"A3 APPEND INBOX ~{%d+}\r\n" % len(body) + body + b"\r\n")
		lines = ln.imap_until_tagged("A3")
		check(lines[-1].startswith(b"A3 NO [UNKNOWN-CTE]"), "APPEND literal8 with NUL: %r" % lines)
		lines = cmd(ln, "x", "LOGIN ~{3+}\r\nabc x", ok=False)
		check(lines[-1].startswith(b"x BAD"), "literal8 outside APPEND: %r" % lines)
	finally:
		ln.close()


def test_sort_thread(env):
	if not has(env, "SORT") and not any(c.startswith("THREAD=") for c in env.caps):
		return
	ln = raw(env, fresh_account(env))
	try:
		def msg(subject, date, frm, mid, refs=None):
			h = "From: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n" % (frm, subject, date, mid)
			if refs:
				h += "References: %s\r\n" % refs
			return (h + "\r\nbody\r\n").encode()
		msgs = [
			msg("Topic", "Mon, 1 Jan 2024 10:00:00 +0000", "Carol <carol@x>", "m1@x"),
			msg("Re: Topic", "Mon, 1 Jan 2024 12:00:00 +0000", "alice@x", "m2@x", "<m1@x>"),
			msg("Another", "Mon, 1 Jan 2024 09:00:00 +0000", "Bob <bob@x>", "m3@x"),
			msg("Re: Topic", "Mon, 1 Jan 2024 10:30:00 +0100", "dave@x", "m4@x", "<m1@x>"),
		]
		lines = append_lines(ln, "A", "INBOX", [(None, None, m) for m in msgs])
		check(lines[-1].startswith(b"A OK"), "APPEND: %r" % lines)
		cmd(ln, "s", "SELECT INBOX")
		if has(env, "SORT"):
			lines = cmd(ln, "S1", "SORT (DATE) UTF-8 ALL")
			eq(untagged(lines, b"* SORT"), [b"* SORT 3 4 1 2"], "SORT (DATE), Date: in UTC")
			lines = cmd(ln, "S2", "SORT (SUBJECT REVERSE DATE) UTF-8 ALL")
			eq(untagged(lines, b"* SORT"), [b"* SORT 3 2 1 4"], "RFC 5256 SORT (SUBJECT REVERSE DATE)")
			lines = cmd(ln, "S3", "UID SORT (FROM) UTF-8 NOT FROM bob")
			eq(untagged(lines, b"* SORT"), [b"* SORT 2 1 4"], "UID SORT (FROM) with criteria")
			lines = cmd(ln, "S4", "SORT (REVERSE SIZE) ISO-8859-99 ALL", ok=False)
			check(lines[-1].startswith(b"S4 NO [BADCHARSET"), "unknown charset: %r" % lines)
			lines = cmd(ln, "S5", "SORT (BOGUS) UTF-8 ALL", ok=False)
			check(lines[-1].startswith(b"S5 BAD"), "bad criteria: %r" % lines)
		if has(env, "THREAD=ORDEREDSUBJECT"):
			lines = cmd(ln, "T1", "THREAD ORDEREDSUBJECT UTF-8 ALL")
			eq(untagged(lines, b"* THREAD"), [b"* THREAD (3)(4 (1)(2))"], "THREAD=ORDEREDSUBJECT")
		if has(env, "THREAD=REFERENCES"):
			lines = cmd(ln, "T2", "UID THREAD REFERENCES UTF-8 ALL")
			eq(untagged(lines, b"* THREAD"), [b"* THREAD (3)(1 (4)(2))"], "THREAD=REFERENCES")
			lines = cmd(ln, "T3", "THREAD BOGUS UTF-8 ALL", ok=False)
			check(lines[-1].startswith(b"T3 BAD"), "unknown algorithm: %r" % lines)
	finally:
		ln.close()


def test_qresync(env):
	if not has(env, "QRESYNC"):
		return
	ln = raw(env, fresh_account(env, 6))
	try:
		lines = cmd(ln, "Q0", "SELECT INBOX (QRESYNC (1 1))", ok=False)
		check(lines[-1].startswith(b"Q0 BAD"), "QRESYNC parameter before ENABLE QRESYNC: %r" % lines)
		lines = cmd(ln, "E", "ENABLE QRESYNC")
		eq(lines[0], b"* ENABLED QRESYNC", "RFC 7162 3.2.3 ENABLE QRESYNC")
		lines = cmd(ln, "s", "SELECT INBOX")
		uv = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1))
		hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"\n".join(lines)).group(1))
		cmd(ln, "f1", "STORE 2 +FLAGS.SILENT (\\Flagged)")
		cmd(ln, "f2", "STORE 3,5 +FLAGS.SILENT (\\Deleted)")
		lines = cmd(ln, "x", "EXPUNGE")
		eq(untagged(lines, b"* VANISHED"), [b"* VANISHED 3,5"], "EXPUNGE answers VANISHED (RFC 7162 3.2.10)")
		check(not untagged(lines, b"* 3 EXPUNGE"), "no EXPUNGE responses after ENABLE QRESYNC")
		# another session removes 6: this one learns it by NOOP as VANISHED
		other = raw(env, env.last_user)
		cmd(other, "o1", "SELECT INBOX")
		cmd(other, "o2", "UID STORE 6 +FLAGS.SILENT (\\Deleted)")
		cmd(other, "o3", "UID EXPUNGE 6")
		other.close()
		lines = cmd(ln, "n", "NOOP")
		eq(untagged(lines, b"* VANISHED"), [b"* VANISHED 6"], "VANISHED for another session's expunge")
		# a fresh session resynchronises from (uidvalidity, old HIGHESTMODSEQ)
		ln2 = raw(env, env.last_user)
		cmd(ln2, "E", "ENABLE QRESYNC")
		cmd(ln2, "pre", "SELECT Drafts")
		lines = cmd(ln2, "R1", "SELECT INBOX (QRESYNC (%d %d 1:6))" % (uv, hms))
		check(lines[0] == b"* OK [CLOSED] Previous mailbox closed", "[CLOSED] first (RFC 7162 3.2.11): %r" % lines)
		eq(untagged(lines, b"* VANISHED"), [b"* VANISHED (EARLIER) 3,5:6"], "SELECT QRESYNC VANISHED (EARLIER)")
		fetches = [l for l in lines if re.match(rb"\* \d+ FETCH", l)]
		eq(len(fetches), 1, "one changed message: %r" % lines)
		check(re.match(rb"\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", fetches[0]) is not None,
			"changed message's FETCH: %r" % fetches)
		lines = cmd(ln2, "R2", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
		eq(untagged(lines, b"* VANISHED"), [b"* VANISHED (EARLIER) 3,5:6"], "UID FETCH VANISHED (RFC 7162 3.2.6)")
		check(any(b"UID 2 " in l and b"MODSEQ" in l for l in lines), "changed message in UID FETCH: %r" % lines)
		lines = cmd(ln2, "R3", "UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
		eq(untagged(lines, b"* VANISHED"), [b"* VANISHED (EARLIER) 3"], "VANISHED limited to the UID set")
		lines = cmd(ln2, "R4", "FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms, ok=False)
		check(lines[-1].startswith(b"R4 BAD"), "VANISHED needs UID FETCH: %r" % lines)
		lines = cmd(ln2, "R5", "SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, hms))
		check(not untagged(lines, b"* VANISHED"), "no VANISHED for a stale UIDVALIDITY: %r" % lines)
		ln2.close()
	finally:
		ln.close()


def test_utf8_accept(env):
	if not has(env, "UTF8=ACCEPT"):
		return
	ln = raw(env, fresh_account(env))
	try:
		cmd(ln, "c0", 'CREATE "Entw&APw-rfe"')   # a legacy client's modified UTF-7 name
		lines = cmd(ln, "E", "ENABLE UTF8=ACCEPT")
		eq(lines[0], b"* ENABLED UTF8=ACCEPT", "RFC 6855 3 ENABLE")
		lines = cmd(ln, "l1", 'LIST "" "Entw*"')
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren) "/" {9}'], "UTF-8 name as a literal")
		check(lines[1] == "Entwürfe".encode(), "the UTF-8 form of the stored name: %r" % lines)
		cmd(ln, "c1", 'CREATE "Caf\xc3\xa9/R\xc3\xa9sum\xc3\xa9"'.encode("latin-1").decode("utf-8"))
		lines = cmd(ln, "s1", 'STATUS "Caf\xc3\xa9/R\xc3\xa9sum\xc3\xa9" (MESSAGES)'.encode("latin-1").decode("utf-8"))
		check(len(lines) >= 2 and lines[1].startswith("Café/Résumé".encode()), "STATUS by UTF-8 name: %r" % lines)
		body = "Subject: caf\u00e9\r\nFrom: j\u00f6rg@example.test\r\n\r\n\u00fcber\r\n".encode()
		ln.send(b"A1 APPEND \"Caf\xc3\xa9/R\xc3\xa9sum\xc3\xa9\" UTF8 (~{%d+}\r\n" % len(body) + body + b")\r\n")
		lines = ln.imap_until_tagged("A1")
		check(lines[-1].startswith(b"A1 OK [APPENDUID"), "APPEND UTF8 (literal8) (RFC 6855 4): %r" % lines)
		lines = cmd(ln, "l2", 'LIST "" "Caf&AOk-/*"')
		check(any(l.startswith(b"* LIST") for l in lines), "the stored form is modified UTF-7: %r" % lines)
	finally:
		ln.close()
	# a legacy session still sees modified UTF-7
	ln = raw(env, env.last_user)
	try:
		lines = cmd(ln, "l3", 'LIST "" "Caf*"')
		check(b'* LIST (\\HasChildren) "/" "Caf&AOk-"' in lines, "legacy LIST: %r" % lines)
	finally:
		ln.close()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

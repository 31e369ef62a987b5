"""test_imap_ext.py - the rest of IMAP4rev1 and every extension the server advertises, against a
real mailraftd: EXAMINE is read-only, SUBSCRIBE/LSUB, LIST patterns (% and *), STATUS, CHECK,
UID ranges; and, each only when advertised in CAPABILITY, AUTHENTICATE PLAIN with SASL-IR,
LITERAL+, ID, ENABLE, UNSELECT, UIDPLUS (APPENDUID, COPYUID, UID EXPUNGE), CHILDREN, MOVE,
NAMESPACE, CONDSTORE. An advertised capability that does not work is a failure. The extensions
added later (ESEARCH, SEARCHRES, LIST-EXTENDED, LIST-STATUS, CREATE-SPECIAL-USE, STATUS=SIZE,
APPENDLIMIT, MULTIAPPEND, QUOTA, SAVEDATE, OBJECTID, BINARY, SORT, THREAD, QRESYNC, UTF8=ACCEPT)
are tested the same way in test_imap_rfcext.py, which keeps each file within its time budget."""
import base64
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, contains, make_message, imap_ok, imap_uids, imap_body, imap_list, Line  # noqa: E402

DOMAIN = "example.test"
USER, PW = "rita@example.test", "rita-pw-1"


def setup(env):
	n = env.new_node("imapext")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)
	for i in range(4):
		eq(n.send("sender@remote.test", [USER], make_message("ext %d" % i, "body %d\n" % i)), {}, "delivery")
	m = n.imap()
	env.caps_pre = set(c.upper() for c in m.capabilities)
	m.login(USER, PW)
	typ, d = m.capability()
	env.caps = set(d[-1].decode().upper().split())
	m.logout()


def raw(env):
	ln = Line(env.node.ports["imaps"], tls=True)
	g = ln.readline()
	check(g.startswith(b"* OK"), "greeting %r" % g)
	return ln


cmd = mrtest.imap_cmd


def login(ln):
	cmd(ln, "L", 'LOGIN "%s" "%s"' % (USER, PW))


def test_examine_is_read_only(env):
	m = env.node.imap(USER, PW)
	try:
		typ, data = m.select("INBOX", readonly=True)   # EXAMINE
		eq(typ, "OK", "EXAMINE")
		check(m.response("READ-ONLY")[1] != [None], "EXAMINE must answer OK [READ-ONLY] (RFC 9051 6.3.3)")
		u = imap_uids(m)[0]
		try:   # NO, or OK without effect (both seen in the wild); the flag must not stick
			m.uid("STORE", str(u), "+FLAGS", "(\\Flagged)")
		except (m.error, m.readonly):
			pass
		check(u not in imap_uids(m, "FLAGGED"), "flag stored through EXAMINE")
		imap_body(m, u, "BODY[]")   # non-PEEK fetch must not set \\Seen in read-only mode
		check(u not in imap_uids(m, "SEEN"), "\\Seen set through EXAMINE")
	finally:
		m.logout()


def test_subscribe_lsub_list_patterns(env):
	m = env.node.imap(USER, PW)
	try:
		imap_ok(m.create("Top-a"), "CREATE")
		imap_ok(m.create("Top-a/Sub-b"), "CREATE")
		imap_ok(m.subscribe("Top-a/Sub-b"), "SUBSCRIBE")
		typ, d = m.lsub('""', "*")
		eq(typ, "OK", "LSUB")
		check(any(b"Top-a/Sub-b" in x for x in d if x), "LSUB shows the subscription: %r" % d)
		imap_ok(m.unsubscribe("Top-a/Sub-b"), "UNSUBSCRIBE")
		typ, d = m.lsub('""', "*")
		check(not any(b"Top-a/Sub-b" in x for x in d if x), "LSUB after UNSUBSCRIBE: %r" % d)
		typ, d = m.list('""', "%")
		names = [x for x in d if x]
		check(any(x.endswith(b"Top-a") or x.endswith(b'"Top-a"') for x in names), "LIST %% shows Top-a: %r" % names)
		check(not any(b"Sub-b" in x for x in names), "LIST %% must not descend: %r" % names)
		typ, d = m.list("Top-a/", "%")
		check(any(b"Top-a/Sub-b" in x for x in d if x), "LIST with a reference: %r" % d)
		typ, d = m.list('""', '""')
		check(typ == "OK" and any(b"\\Noselect" in x for x in d if x), "LIST \"\" \"\" gives the delimiter: %r" % d)
		typ, d = m.list('""', "inbox")
		check(any(b"INBOX" in x for x in d if x), "INBOX is case-insensitive in LIST: %r" % d)
		if "CHILDREN" in env.caps:
			flags = dict((n, f) for f, n in imap_list(m))
			check("\\haschildren" in flags.get("Top-a", set()), "CHILDREN: \\HasChildren on Top-a: %r" % flags.get("Top-a"))
			check("\\hasnochildren" in flags.get("Top-a/Sub-b", set()), "CHILDREN: \\HasNoChildren: %r" % flags.get("Top-a/Sub-b"))
		imap_ok(m.delete("Top-a/Sub-b"), "DELETE")
		imap_ok(m.delete("Top-a"), "DELETE")
		typ, d = m.create("INBOX")
		eq(typ, "NO", "CREATE INBOX")
	finally:
		m.logout()


def test_status_and_check(env):
	m = env.node.imap(USER, PW)
	try:
		typ, d = m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
		eq(typ, "OK", "STATUS")
		for item in (b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN"):
			contains(d[0], item, "STATUS")
		msgs = int(re.search(rb"MESSAGES (\d+)", d[0]).group(1))
		uidnext = int(re.search(rb"UIDNEXT (\d+)", d[0]).group(1))
		m.select("INBOX")
		uids = imap_uids(m)
		eq(msgs, len(uids), "STATUS MESSAGES")
		check(uidnext > max(uids), "UIDNEXT above every UID")
		imap_ok(m.check(), "CHECK")
		typ, d = m.status("No-Such-Box", "(MESSAGES)")
		eq(typ, "NO", "STATUS of a missing mailbox")
	finally:
		m.logout()


def test_authenticate_plain(env):
	if "AUTH=PLAIN" not in env.caps_pre:
		return
	m = env.node.imap()
	try:
		typ, d = m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PW)).encode())
		eq(typ, "OK", "AUTHENTICATE PLAIN")
		m.select("INBOX", readonly=True)
		m.logout()
	finally:
		mrtest.quiet_close(m)
	ln = raw(env)
	try:
		bad = base64.b64encode(("\0%s\0wrong" % USER).encode()).decode()
		if "SASL-IR" in env.caps_pre:
			lines = cmd(ln, "a1", "AUTHENTICATE PLAIN " + bad, ok=False)
			check(lines and lines[-1].startswith(b"a1 NO"), "SASL-IR with a wrong password: %r" % lines)
			good = base64.b64encode(("\0%s\0%s" % (USER, PW)).encode()).decode()
			cmd(ln, "a2", "AUTHENTICATE PLAIN " + good)
		# a cancelled exchange (RFC 9051 6.2.2: "*" -> BAD)
		ln2 = raw(env)
		ln2.cmd("c1 AUTHENTICATE PLAIN")
		l = ln2.readline()
		check(l.startswith(b"+"), "continuation: %r" % l)
		ln2.cmd("*")
		lines = ln2.imap_until_tagged("c1")
		check(lines and lines[-1].startswith(b"c1 BAD"), "cancelled AUTHENTICATE: %r" % lines)
		ln2.close()
	finally:
		ln.close()


def test_authenticate_login(env):
	"""The SASL LOGIN mechanism: prompts "Username:" / "Password:" in base64, with and
	without the user name as initial response; imaplib drives it too."""
	check("AUTH=LOGIN" in env.caps_pre, "AUTH=LOGIN advertised: %r" % sorted(env.caps_pre))
	b64 = lambda v: base64.b64encode(v.encode()).decode()  # noqa: E731
	ln = raw(env)
	try:
		ln.cmd("l1 AUTHENTICATE LOGIN")
		eq(ln.readline(), b"+ VXNlcm5hbWU6", "Username: prompt")
		ln.cmd(b64(USER))
		eq(ln.readline(), b"+ UGFzc3dvcmQ6", "Password: prompt")
		ln.cmd(b64("wrong"))
		lines = ln.imap_until_tagged("l1")
		check(lines[-1].startswith(b"l1 NO [AUTHENTICATIONFAILED]"), "wrong password: %r" % lines)
		ln.cmd("l2 AUTHENTICATE LOGIN " + b64(USER))
		eq(ln.readline(), b"+ UGFzc3dvcmQ6", "user name as initial response")
		ln.cmd(b64(PW))
		lines = ln.imap_until_tagged("l2")
		check(lines[-1].startswith(b"l2 OK"), "LOGIN mechanism: %r" % lines)
	finally:
		ln.close()
	ln = raw(env)
	try:
		ln.cmd("l3 AUTHENTICATE LOGIN")
		eq(ln.readline(), b"+ VXNlcm5hbWU6", "prompt")
		ln.cmd("!!not base64!!")
		lines = ln.imap_until_tagged("l3")
		check(lines[-1].startswith(b"l3 BAD"), "bad base64: %r" % lines)
		cmd(ln, "n", "NOOP")
	finally:
		ln.close()
	m = env.node.imap()
	try:
		answers = iter([USER.encode(), PW.encode()])
		typ, d = m.authenticate("LOGIN", lambda _: next(answers))
		eq(typ, "OK", "imaplib AUTHENTICATE LOGIN")
		m.logout()
	finally:
		mrtest.quiet_close(m)


def test_literal_plus(env):
	if "LITERAL+" not in env.caps_pre and "LITERAL+" not in env.caps:
		return
	ln = raw(env)
	try:
		login(ln)
		msg = make_message("literal-plus", "non-synchronizing\n")
		ln.send(b"p1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
		lines = ln.imap_until_tagged("p1")
		check(not any(l.startswith(b"+") for l in lines), "continuation sent for a LITERAL+: %r" % lines)
		check(lines and lines[-1].startswith(b"p1 OK"), "APPEND with LITERAL+: %r" % lines)
		ln.send(b'p2 LOGIN {4+}\r\nuser {4+}\r\npass\r\n')
		lines = ln.imap_until_tagged("p2")
		check(bool(lines) and (lines[-1].startswith(b"p2 BAD") or lines[-1].startswith(b"p2 NO")), "LOGIN when authenticated: %r" % lines)
	finally:
		ln.close()
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX", readonly=True)
		u = imap_uids(m, 'SUBJECT "literal-plus"')
		eq(len(u), 1, "message appended with LITERAL+")
		eq(imap_body(m, u[0]), msg, "LITERAL+ bytes")
	finally:
		m.logout()


def test_id_and_enable(env):
	ln = raw(env)
	try:
		if "ID" in env.caps_pre or "ID" in env.caps:
			lines = cmd(ln, "i1", 'ID ("name" "mrtest" "version" "1")')
			check(any(l.startswith(b"* ID ") for l in lines), "ID response: %r" % lines)
		login(ln)
		if "ENABLE" in env.caps:
			lines = cmd(ln, "e1", "ENABLE X-NO-SUCH-EXTENSION")
			check(not any(b"X-NO-SUCH" in l for l in lines if l.startswith(b"* ENABLED")), "unknown extension enabled: %r" % lines)
			if "CONDSTORE" in env.caps:
				lines = cmd(ln, "e2", "ENABLE CONDSTORE")
				check(any(l.startswith(b"* ENABLED") and b"CONDSTORE" in l for l in lines), "ENABLE CONDSTORE: %r" % lines)
	finally:
		ln.close()


def test_unselect(env):
	if "UNSELECT" not in env.caps:
		return
	ln = raw(env)
	try:
		login(ln)
		cmd(ln, "s1", "SELECT INBOX")
		lines = cmd(ln, "s2", "SEARCH ALL")
		n = len([x for x in lines if x.startswith(b"* SEARCH")][0].split()) - 2
		cmd(ln, "s3", "STORE 1 +FLAGS (\\Deleted)")
		cmd(ln, "s4", "UNSELECT")
		lines = cmd(ln, "s5", "FETCH 1 FLAGS", ok=False)
		check(lines[-1].startswith(b"s5 BAD") or lines[-1].startswith(b"s5 NO"), "FETCH after UNSELECT: %r" % lines)
		cmd(ln, "s6", "SELECT INBOX")
		lines = cmd(ln, "s7", "SEARCH ALL")
		eq(len([x for x in lines if x.startswith(b"* SEARCH")][0].split()) - 2, n, "UNSELECT must not expunge")
		cmd(ln, "s8", "STORE 1 -FLAGS (\\Deleted)")
	finally:
		ln.close()


def test_uidplus(env):
	if "UIDPLUS" not in env.caps:
		return
	ln = raw(env)
	try:
		login(ln)
		msg = make_message("uidplus", "x\n")
		ln.cmd("u1 APPEND INBOX {%d}" % len(msg))
		check(ln.readline().startswith(b"+"), "continuation")
		ln.send(msg + b"\r\n")
		lines = ln.imap_until_tagged("u1")
		mm = re.search(rb"^u1 OK \[APPENDUID (\d+) (\d+)\]", lines[-1])
		check(mm is not None, "APPENDUID: %r" % lines)
		validity, auid = int(mm.group(1)), int(mm.group(2))
		lines = cmd(ln, "u2", "STATUS INBOX (UIDVALIDITY)")
		check(any(b"UIDVALIDITY %d" % validity in l for l in lines), "APPENDUID validity: %r" % lines)
		cmd(ln, "u3", "CREATE UidTarget")
		cmd(ln, "u4", "SELECT INBOX")
		lines = cmd(ln, "u5", "UID COPY %d UidTarget" % auid)
		mm = re.search(rb"\[COPYUID (\d+) (\d+) (\d+)\]", lines[-1])
		check(mm is not None and int(mm.group(2)) == auid, "COPYUID: %r" % lines)
		cuid = int(mm.group(3))
		# UID EXPUNGE removes only the named message even if others are \Deleted
		lines = cmd(ln, "u6", "UID SEARCH ALL")
		all_uids = [int(x) for x in [l for l in lines if l.startswith(b"* SEARCH")][0].split()[2:]]
		other = [u for u in all_uids if u != auid][0]
		cmd(ln, "u7", "UID STORE %d,%d +FLAGS (\\Deleted)" % (auid, other))
		cmd(ln, "u8", "UID EXPUNGE %d" % auid)
		lines = cmd(ln, "u9", "UID SEARCH ALL")
		left = [int(x) for x in [l for l in lines if l.startswith(b"* SEARCH")][0].split()[2:]]
		check(auid not in left and other in left, "UID EXPUNGE removed exactly %d: %r" % (auid, left))
		cmd(ln, "u10", "UID STORE %d -FLAGS (\\Deleted)" % other)
		cmd(ln, "u11", "SELECT UidTarget")
		lines = cmd(ln, "u12", "UID FETCH %d (UID)" % cuid)
		check(any(b"UID %d" % cuid in l for l in lines), "copied UID exists: %r" % lines)
	finally:
		ln.close()


def test_move(env):
	if "MOVE" not in env.caps:
		return
	m = env.node.imap(USER, PW)
	try:
		imap_ok(m.create("MoveTarget"), "CREATE")
		m.select("INBOX")
		u = imap_uids(m)[0]
		body = imap_body(m, u)
		typ, d = m.uid("MOVE", str(u), "MoveTarget")
		eq(typ, "OK", "UID MOVE")
		check(u not in imap_uids(m), "moved message still in INBOX")
		m.select("MoveTarget")
		eq([imap_body(m, x) for x in imap_uids(m)], [body], "moved message")
	finally:
		m.logout()


def test_namespace(env):
	m = env.node.imap(USER, PW)
	try:
		if "NAMESPACE" in env.caps:
			typ, d = m.namespace()
			eq(typ, "OK", "NAMESPACE")
			check(re.match(rb'^\(\("[^"]*" "/"\)\)', d[0]) is not None, "personal namespace with '/': %r" % d)
		else:
			try:
				typ, d = m.namespace()
				check(typ != "OK", "NAMESPACE works but is not advertised")
			except m.error:
				pass
	finally:
		m.logout()


def test_condstore(env):
	if "CONDSTORE" not in env.caps:
		return
	ln = raw(env)
	try:
		login(ln)
		lines = cmd(ln, "c1", "SELECT INBOX (CONDSTORE)")
		check(any(b"HIGHESTMODSEQ" in l for l in lines), "HIGHESTMODSEQ on SELECT: %r" % lines)
		lines = cmd(ln, "c2", "FETCH 1 (MODSEQ)")
		mm = re.search(rb"MODSEQ \((\d+)\)", b"".join(lines))
		check(mm is not None, "FETCH MODSEQ: %r" % lines)
		before = int(mm.group(1))
		lines = cmd(ln, "c3", "STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\\Answered)" % before)
		lines = cmd(ln, "c4", "FETCH 1 (MODSEQ)")
		after = int(re.search(rb"MODSEQ \((\d+)\)", b"".join(lines)).group(1))
		check(after > before, "MODSEQ must grow on a flag change: %d -> %d" % (before, after))
		lines = cmd(ln, "c5", "STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % before, ok=False)
		check(lines[-1].startswith(b"c5 OK [MODIFIED"), "UNCHANGEDSINCE conflict: %r" % lines)
	finally:
		ln.close()


def test_login_case_insensitive_address(env):
	m = env.node.imap(USER.upper(), PW)
	try:
		eq(m.select("INBOX", readonly=True)[0], "OK", "SELECT after LOGIN with an upper-case address")
	finally:
		m.logout()
	m = env.node.imap()
	try:
		try:
			m.login(USER, PW.upper())
			raise mrtest.Fail("password compared case-insensitively")
		except m.error:
			pass
	finally:
		mrtest.quiet_close(m)


def test_select_response(env):
	ln = raw(env)
	try:
		login(ln)
		lines = cmd(ln, "s1", "SELECT INBOX")
		joined = b"\n".join(lines)
		for item in (rb"^\* \d+ EXISTS", rb"^\* FLAGS \(", rb"^\* OK \[PERMANENTFLAGS \(", rb"^\* OK \[UIDVALIDITY \d+\]",
				rb"^\* OK \[UIDNEXT \d+\]"):
			check(re.search(item, joined, re.M) is not None, "SELECT lacks %r: %r" % (item, lines))
		check(re.search(rb"^s1 OK \[READ-WRITE\]", lines[-1]) is not None, "SELECT tagged OK [READ-WRITE]: %r" % lines[-1])
		pf = re.search(rb"PERMANENTFLAGS \(([^)]*)\)", joined).group(1)
		check(b"\\*" in pf and b"\\Deleted" in pf, "PERMANENTFLAGS allows keywords and \\Deleted: %r" % pf)
		for macro in ("ALL", "FAST", "FULL"):
			lines = cmd(ln, "f" + macro, "FETCH 1 " + macro)
			check(any(b"INTERNALDATE" in l and b"RFC822.SIZE" in l and b"FLAGS" in l for l in lines), "FETCH %s: %r" % (macro, lines))
		lines = cmd(ln, "h1", "FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Received Date Message-ID From To MIME-Version Content-Type)])")
		body = b"\n".join(lines)
		contains(body, b"Subject: ext ", "HEADER.FIELDS.NOT keeps Subject")
		check(b"Received:" not in body, "HEADER.FIELDS.NOT drops Received: %r" % body)
	finally:
		ln.close()


def test_append_internaldate_and_search_dates(env):
	m = env.node.imap(USER, PW)
	try:
		msg = make_message("dated", "old message\n")
		typ, d = m.append("INBOX", "(\\Seen $Old)", '"01-Feb-2020 10:11:12 +0000"', msg)
		eq(typ, "OK", "APPEND with a date-time")
		m.select("INBOX", readonly=True)
		u = imap_uids(m, 'SUBJECT "dated"')
		eq(len(u), 1, "appended")
		d = m.uid("FETCH", str(u[0]), "(INTERNALDATE FLAGS)")[1][0]
		contains(d, b'INTERNALDATE "01-Feb-2020 10:11:12 +0000"', "INTERNALDATE from APPEND")
		contains(d, b"$Old", "keyword from APPEND")
		eq(imap_uids(m, "BEFORE 1-Jan-2021"), u, "SEARCH BEFORE (internal date)")
		check(u[0] not in imap_uids(m, "SINCE 1-Jan-2021"), "SEARCH SINCE")
		eq(imap_uids(m, "ON 1-Feb-2020"), u, "SEARCH ON")
		eq(imap_uids(m, "SENTON 23-Nov-2026 SUBJECT dated"), u, "SEARCH SENTON (Date: header)")
		eq(imap_uids(m, "KEYWORD $Old"), u, "SEARCH KEYWORD")
		eq(imap_uids(m, "OR SUBJECT dated SUBJECT no-such-subject"), u, "SEARCH OR")
		eq(imap_uids(m, "NOT NOT SUBJECT dated"), u, "SEARCH NOT NOT")
		all_u = imap_uids(m)
		eq(sorted(set(imap_uids(m, "NOT SUBJECT dated")) | set(u)), all_u, "SEARCH NOT partitions")
		eq(imap_uids(m, "HEADER Message-ID remote.test SUBJECT dated"), u, "SEARCH HEADER")
		big = imap_uids(m, "LARGER 100000")
		check(u[0] not in big, "SEARCH LARGER")
		eq(imap_uids(m, "SMALLER 100000 SUBJECT dated"), u, "SEARCH SMALLER")
		eq(imap_uids(m, "UID %d SUBJECT dated" % u[0]), u, "SEARCH UID set")
		eq(imap_uids(m, "1:* SUBJECT dated"), u, "SEARCH sequence set 1:*")
		eq(imap_uids(m, "(SEEN SUBJECT dated) (KEYWORD $Old)"), u, "SEARCH parenthesised groups")
	finally:
		m.logout()


def test_pipelined_commands(env):
	"""Several commands in one write (RFC 9051 5.5): every one answered."""
	ln = raw(env)
	try:
		ln.send(('L LOGIN "%s" "%s"\r\nq1 NOOP\r\nq2 SELECT INBOX\r\nq3 FETCH 1 (UID FLAGS)\r\nq4 UID SEARCH ALL\r\n'
			'q5 STATUS Drafts (MESSAGES)\r\nq6 LOGOUT\r\n' % (USER, PW)).encode())
		tags = []
		while True:
			l = ln.readline()
			if l is None:
				break
			if not l.startswith(b"*"):
				tags.append(l.split(b" ", 2)[:2])
		# commands may complete out of order (RFC 9051 5.5), but each exactly once, all OK
		eq(tags[0], [b"L", b"OK"], "LOGIN answered first")
		eq(sorted(tags), [[b"L", b"OK"], [b"q1", b"OK"], [b"q2", b"OK"], [b"q3", b"OK"], [b"q4", b"OK"], [b"q5", b"OK"], [b"q6", b"OK"]],
			"tagged replies to pipelined commands")
	finally:
		ln.close()


def test_trycreate(env):
	"""COPY/APPEND to a missing mailbox: NO [TRYCREATE] (RFC 3501 6.3.11, 6.4.7)."""
	ln = raw(env)
	try:
		login(ln)
		msg = make_message("try", "x\n")
		ln.cmd("t1 APPEND No-Such-Box {%d}" % len(msg))
		l = ln.readline()
		if l.startswith(b"+"):
			ln.send(msg + b"\r\n")
			l = ln.imap_until_tagged("t1")[-1]
		check(l.startswith(b"t1 NO [TRYCREATE]"), "APPEND to a missing mailbox: %r" % l)
		cmd(ln, "t2", "SELECT INBOX")
		lines = cmd(ln, "t3", "COPY 1 No-Such-Box", ok=False)
		check(lines[-1].startswith(b"t3 NO [TRYCREATE]"), "COPY to a missing mailbox: %r" % lines)
		lines = cmd(ln, "t4", "LIST \"\" No-Such-Box")
		check(not any(l.startswith(b"* LIST") for l in lines), "failed COPY/APPEND created the mailbox: %r" % lines)
	finally:
		ln.close()


def test_failed_select_deselects(env):
	ln = raw(env)
	try:
		login(ln)
		cmd(ln, "d1", "SELECT INBOX")
		lines = cmd(ln, "d2", "SELECT No-Such-Box", ok=False)
		check(lines[-1].startswith(b"d2 NO"), "SELECT of a missing mailbox: %r" % lines)
		lines = cmd(ln, "d3", "FETCH 1 (UID)", ok=False)
		check(lines[-1].startswith(b"d3 BAD") or lines[-1].startswith(b"d3 NO"),
			"a failed SELECT must leave no mailbox selected (RFC 9051 6.3.2): %r" % lines)
	finally:
		ln.close()


def test_create_rename_conflicts_and_utf7_names(env):
	m = env.node.imap(USER, PW)
	try:
		imap_ok(m.create("Dup-x"), "CREATE")
		eq(m.create("Dup-x")[0], "NO", "CREATE of an existing mailbox")
		imap_ok(m.create("Dup-y"), "CREATE")
		eq(m.rename("Dup-x", "Dup-y")[0], "NO", "RENAME onto an existing mailbox")
		eq(m.rename("No-Such-Box", "Dup-z")[0], "NO", "RENAME of a missing mailbox")
		name = "Entw&APw-rfe"   # modified UTF-7 for "Entwuerfe" with u-umlaut (RFC 3501 5.1.3)
		imap_ok(m.create(name), "CREATE with a modified UTF-7 name")
		names = [x for _, x in imap_list(m)]
		check(name in names, "LIST returns the modified UTF-7 name unchanged: %r" % names)
		eq(m.select(name)[0], "OK", "SELECT the modified UTF-7 name")
		m.close()
		for b in (name, "Dup-x", "Dup-y"):
			imap_ok(m.delete(b), "DELETE " + b)
	finally:
		m.logout()


def test_rename_inbox_moves_messages(env):
	"""RENAME INBOX moves its messages to the new name and leaves INBOX empty (RFC 3501 6.3.5)."""
	n = env.node
	u, pw = "sam@example.test", "sam-pw-1"
	n.add_account(u, pw)
	msgs = [make_message("inbox-move %d" % i, "m%d\n" % i) for i in range(2)]
	for msg in msgs:
		eq(n.send("sender@remote.test", [u], msg), {}, "delivery")
	mrtest.wait_imap_count(n, u, pw, 2)
	m = n.imap(u, pw)
	try:
		imap_ok(m.rename("INBOX", "Old-Inbox"), "RENAME INBOX")
		typ, d = m.select("INBOX", readonly=True)
		eq((typ, int(d[0])), ("OK", 0), "INBOX after RENAME INBOX")
		typ, d = m.select("Old-Inbox", readonly=True)
		eq(int(d[0]), 2, "messages moved by RENAME INBOX")
		for uid, msg in zip(imap_uids(m), msgs):
			mrtest.split_prefix_headers(imap_body(m, uid), msg)
	finally:
		m.logout()
	eq(n.send("sender@remote.test", [u], make_message("after rename", "x\n")), {}, "delivery after RENAME INBOX")
	mrtest.wait_imap_count(n, u, pw, 1)


def test_flags_case_insensitive(env):
	m = env.node.imap(USER, PW)
	try:
		m.select("INBOX")
		u = imap_uids(m)[-1]
		imap_ok(m.uid("STORE", str(u), "-FLAGS", "(\\Seen)"), "STORE")
		imap_ok(m.uid("STORE", str(u), "+FLAGS", "(\\seen)"), "STORE lower-case system flag")
		d = m.uid("FETCH", str(u), "(FLAGS)")[1][0]
		check(b"\\Seen" in d or b"\\seen" in d, "flag stored: %r" % d)
		check(u in imap_uids(m, "SEEN"), "SEARCH SEEN matches \\seen")
		imap_ok(m.uid("STORE", str(u), "-FLAGS", "(\\SEEN)"), "STORE upper-case system flag")
		check(u not in imap_uids(m, "SEEN"), "-FLAGS \\SEEN removes \\Seen")
		try:
			typ, d = m.uid("STORE", str(u), "+FLAGS", "(\\NoSuchSystemFlag)")
		except m.error:
			typ = "BAD"
		check(typ != "OK" or b"NoSuchSystemFlag" not in m.uid("FETCH", str(u), "(FLAGS)")[1][0],
			"unknown system flags must be refused or ignored")
	finally:
		m.logout()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

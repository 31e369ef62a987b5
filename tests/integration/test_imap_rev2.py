"""test_imap_rev2.py - IMAP4rev2 (RFC 9051) against a real mailraftd: CAPABILITY lists IMAP4rev1
and IMAP4rev2; a session keeps IMAP4rev1 behaviour until ENABLE IMAP4rev2, then gets the rev2
behaviour with exact responses: no RECENT response, SEARCH answered with ESEARCH (RFC 9051
6.4.4), mailbox names in UTF-8 (RFC 9051 5.1), STATUS DELETED and SIZE. Also Python's imaplib
driving a rev2 session end to end. Raw protocol lines for exact responses."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, make_message, Line  # noqa: E402

DOMAIN = "example.test"
PW = "rev2-pw-1"


def setup(env):
	n = env.new_node("imaprev2")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	env.count = 0


def fresh_account(env, nmsg=0):
	"""A new account with nmsg messages in INBOX (UIDs 1..nmsg, subjects "m1".."mN")."""
	env.count += 1
	user = "r%d@%s" % (env.count, DOMAIN)
	env.node.add_account(user, PW)
	for i in range(1, nmsg + 1):
		eq(env.node.send("sender@remote.test", [user], make_message("m%d" % i, "body number %d\n" % i)), {}, "delivery")
	if nmsg:
		mrtest.wait_imap_count(env.node, user, PW, nmsg)
	return user


def raw(env, user):
	return mrtest.imap_raw_login(env.node.ports["imaps"], user, PW)


cmd = mrtest.imap_cmd
untagged = mrtest.untagged


def status_items(lines):
	"""The items of the one STATUS response in lines, as a dict (the order is the server's)."""
	st = untagged(lines, b"* STATUS")
	check(len(st) == 1, "one STATUS response: %r" % lines)
	m = re.match(rb'\* STATUS (?:"INBOX"|INBOX) \(([^)]*)\)$', st[0])
	check(m, "STATUS syntax: %r" % st)
	v = m.group(1).split()
	return {v[i]: int(v[i + 1]) for i in range(0, len(v), 2)}


def test_capability_and_enable(env):
	ln = raw(env, fresh_account(env))
	try:
		lines = cmd(ln, "c", "CAPABILITY")
		caps = untagged(lines, b"* CAPABILITY")[0].split()
		check(b"IMAP4rev1" in caps and b"IMAP4rev2" in caps, "both revisions advertised: %r" % caps)
		lines = cmd(ln, "e1", "ENABLE IMAP4rev2")
		eq(lines[0], b"* ENABLED IMAP4rev2", "RFC 9051 6.3.1 ENABLE IMAP4rev2")
		lines = cmd(ln, "e2", "ENABLE IMAP4rev2")
		eq(lines[0], b"* ENABLED", "already enabled: not reported again (RFC 5161 3.1)")
		lines = cmd(ln, "e3", "ENABLE imap4REV2 CONDSTORE X-UNKNOWN")
		eq(lines[0], b"* ENABLED CONDSTORE", "case-insensitive, unknown ignored")
	finally:
		ln.close()


def test_rev1_until_enable(env):
	"""Without ENABLE the same commands keep their IMAP4rev1 answers."""
	ln = raw(env, fresh_account(env, 3))
	try:
		lines = cmd(ln, "s", "SELECT INBOX")
		check(b"* 0 RECENT" in lines, "rev1 SELECT reports RECENT: %r" % lines)
		lines = cmd(ln, "f", "SEARCH ALL")
		eq(untagged(lines, b"* SEARCH"), [b"* SEARCH 1 2 3"], "rev1 SEARCH")
		check(not untagged(lines, b"* ESEARCH"), "no ESEARCH in rev1: %r" % lines)
	finally:
		ln.close()


def test_select_and_search(env):
	ln = raw(env, fresh_account(env, 5))
	try:
		cmd(ln, "e", "ENABLE IMAP4rev2")
		lines = cmd(ln, "s", "SELECT INBOX")
		check(b"* 5 EXISTS" in lines, "EXISTS: %r" % lines)
		check(not any(b"RECENT" in l for l in lines), "no RECENT in rev2 (RFC 9051 E): %r" % lines)
		check(not any(b"[UNSEEN " in l for l in lines), "no [UNSEEN] in rev2 (RFC 9051 E): %r" % lines)
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren) "/" "INBOX"'],
			"SELECT returns the mailbox's LIST response (RFC 9051 6.3.2)")
		check(untagged(lines, b"* FLAGS ("), "FLAGS: %r" % lines)
		check(any(b"[UIDVALIDITY " in l for l in lines) and any(b"[UIDNEXT 6]" in l for l in lines),
			"UIDVALIDITY and UIDNEXT: %r" % lines)
		cmd(ln, "st", "STORE 2,4 +FLAGS (\\Flagged)")
		lines = cmd(ln, "A1", "SEARCH FLAGGED")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A1") ALL 2,4'], "SEARCH -> ESEARCH ALL")
		check(not untagged(lines, b"* SEARCH"), "no untagged SEARCH in rev2: %r" % lines)
		lines = cmd(ln, "A2", "UID SEARCH 1:*")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A2") UID ALL 1:5'], "UID SEARCH -> ESEARCH")
		lines = cmd(ln, "A3", "SEARCH SUBJECT no-such-subject")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A3")'], "no match: no ALL")
		lines = cmd(ln, "A4", "SEARCH RETURN (COUNT) FLAGGED")
		eq(untagged(lines, b"* ESEARCH"), [b'* ESEARCH (TAG "A4") COUNT 2'], "explicit RETURN kept")
		lines = cmd(ln, "A5", "EXAMINE INBOX")
		check(not any(b"RECENT" in l for l in lines), "no RECENT on EXAMINE: %r" % lines)
		check(lines[-1].startswith(b"A5 OK [READ-ONLY]"), "EXAMINE: %r" % lines)
	finally:
		ln.close()


def test_select_list_attributes(env):
	"""The LIST response of a rev2 SELECT carries accurate attributes (children, special use)."""
	ln = raw(env, fresh_account(env))
	try:
		cmd(ln, "e", "ENABLE IMAP4rev2")
		cmd(ln, "c1", "CREATE Projects/Alpha")
		cmd(ln, "c2", "CREATE Stash (USE (\\Archive))")
		lines = cmd(ln, "s1", "SELECT Projects")
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasChildren) "/" "Projects"'], "parent")
		lines = cmd(ln, "s2", "EXAMINE Projects/Alpha")
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren) "/" "Projects/Alpha"'], "child")
		check(b"* OK [CLOSED] Previous mailbox closed" in lines, "[CLOSED] on reselect: %r" % lines)
		lines = cmd(ln, "s3", "SELECT Stash")
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren \\Archive) "/" "Stash"'], "special use")
	finally:
		ln.close()


def test_unsolicited_fetch_has_uid(env):
	"""RFC 9051 E: every unsolicited FETCH carries the UID (here after another session's STORE)."""
	user = fresh_account(env, 3)
	a, b = raw(env, user), raw(env, user)
	try:
		cmd(b, "e", "ENABLE IMAP4rev2")
		cmd(b, "s", "SELECT INBOX")
		cmd(a, "s", "SELECT INBOX")
		cmd(a, "f", "STORE 2 +FLAGS.SILENT (\\Flagged)")
		lines = cmd(b, "n", "NOOP")
		eq(untagged(lines, b"* 2 FETCH"), [b"* 2 FETCH (UID 2 FLAGS (\\Flagged))"], "UID in unsolicited FETCH")
		cmd(a, "f2", "STORE 3 +FLAGS.SILENT (\\Seen)")
		lines = cmd(a, "n", "NOOP")
		check(not untagged(lines, b"* 3 FETCH"), "own silent store not echoed: %r" % lines)
		lines = cmd(b, "n2", "NOOP")
		eq(untagged(lines, b"* 3 FETCH"), [b"* 3 FETCH (UID 3 FLAGS (\\Seen))"], "second change")
	finally:
		a.close()
		b.close()


def test_status_and_names(env):
	ln = raw(env, fresh_account(env, 3))
	try:
		cmd(ln, "e", "ENABLE IMAP4rev2")
		cmd(ln, "s", "SELECT INBOX")
		cmd(ln, "d", "STORE 1 +FLAGS (\\Deleted)")
		lines = cmd(ln, "A1", "STATUS INBOX (MESSAGES DELETED UIDNEXT)")
		eq(status_items(lines), {b"MESSAGES": 3, b"DELETED": 1, b"UIDNEXT": 4}, "STATUS DELETED (RFC 9051 6.3.11)")
		lines = cmd(ln, "A2", "STATUS INBOX (SIZE)")
		size = status_items(lines)
		check(list(size) == [b"SIZE"] and size[b"SIZE"] > 0, "STATUS SIZE: %r" % lines)
		# mailbox names travel in UTF-8 (RFC 9051 5.1), stored as before
		cmd(ln, "c", 'CREATE "Entw\u00fcrfe"')
		lines = cmd(ln, "l", 'LIST "" "Entw*"')
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren) "/" {9}'], "UTF-8 name as a literal")
		eq(lines[1], "Entw\u00fcrfe".encode(), "UTF-8 form")
	finally:
		ln.close()
	# an IMAP4rev1 session sees the same mailbox in modified UTF-7
	ln = raw(env, "r%d@%s" % (env.count, DOMAIN))
	try:
		lines = cmd(ln, "l", 'LIST "" "Entw*"')
		eq(untagged(lines, b"* LIST"), [b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"'], "rev1 view")
	finally:
		ln.close()


def test_nonsync_literal(env):
	"""IMAP4rev2 includes LITERAL- (non-synchronizing literals up to 4096 octets); we advertise
	LITERAL+ (any size), and RFC 7888 5 forbids advertising both."""
	ln = raw(env, fresh_account(env))
	try:
		lines = cmd(ln, "c", "CAPABILITY")
		caps = untagged(lines, b"* CAPABILITY")[0].split()
		check(b"LITERAL+" in caps and b"LITERAL-" not in caps, "LITERAL+ only: %r" % caps)
		cmd(ln, "e", "ENABLE IMAP4rev2")
		body = b"Subject: nonsync\r\n\r\n" + b"x" * 4000 + b"\r\n"
		ln.send(b"A1 APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
		lines = ln.imap_until_tagged("A1")
		check(lines[-1].startswith(b"A1 OK [APPENDUID "), "APPEND with {n+}: %r" % lines)
		check(not any(l.startswith(b"+") for l in lines), "no continuation for {n+}: %r" % lines)
	finally:
		ln.close()


def test_enable_needs_auth(env):
	ln = Line(env.node.ports["imaps"], tls=True)
	try:
		ln.readline()
		lines = cmd(ln, "e", "ENABLE IMAP4rev2", ok=False)
		check(lines[-1].startswith(b"e BAD") or lines[-1].startswith(b"e NO"),
			"ENABLE before login refused (RFC 9051 6.3.1): %r" % lines)
	finally:
		ln.close()


def test_imaplib_rev2(env):
	"""A real client library driving a rev2 session: ENABLE, SELECT, SEARCH, FETCH, MOVE."""
	import imaplib
	user = fresh_account(env, 4)
	m = env.node.imap(user, PW)
	try:
		typ, d = m._simple_command("ENABLE", "IMAP4rev2")
		eq(typ, "OK", "ENABLE via imaplib")
		eq(m.untagged_responses.get("ENABLED"), [b"IMAP4rev2"], "ENABLED response")
		typ, d = m.select("INBOX")
		eq((typ, d), ("OK", [b"4"]), "SELECT")
		check("RECENT" not in m.untagged_responses, "no RECENT: %r" % m.untagged_responses)
		typ, d = m._simple_command("SEARCH", "SUBJECT", "m3")
		eq(typ, "OK", "SEARCH")
		es = m.untagged_responses.pop("ESEARCH", [])
		check(len(es) == 1 and re.match(rb'\(TAG "\w+"\) ALL 3$', es[0]), "ESEARCH via imaplib: %r" % es)
		typ, d = m.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
		check(typ == "OK" and b"Subject: m3" in d[0][1], "FETCH: %r" % d)
		m.create("Archive")
		typ, d = m._simple_command("MOVE", "3", "Archive")
		eq(typ, "OK", "MOVE")
		typ, d = m.select("Archive")
		eq((typ, d), ("OK", [b"1"]), "moved")
	finally:
		try:
			m.logout()
		except imaplib.IMAP4.error:
			pass


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

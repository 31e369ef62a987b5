"""test_smtp_chunking.py - CHUNKING / BDAT (RFC 3030) on the MX and on submission, raw protocol
lines for exact replies: chunks acknowledged with their running size, the message stored exactly
as sent (no dot transparency: a chunk holding "\\r\\n.\\r\\n" is just text), a whole pipelined
transaction in one write, BDAT 0 LAST, DATA refused after BDAT, a refused BDAT whose chunk holds
command-looking bytes still skipped (they are never executed), the size limit (552), and a bad
size closing the connection."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, eq, make_message, Line  # noqa: E402

DOMAIN = "example.test"
ALICE, ALICE_PW = "alice@example.test", "chunk-pw-1"
MAX_SIZE = 100000


def setup(env):
	n = env.new_node("chunking", conf={"max_message_size": str(MAX_SIZE)})
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(ALICE, ALICE_PW)


def session(env):
	ln = Line(env.node.ports["smtp"])
	eq(ln.smtp_reply()[0], 220, "greeting")
	ln.cmd("EHLO client.test")
	code, lines = ln.smtp_reply()
	eq(code, 250, "EHLO")
	check(b"250-CHUNKING" in lines or b"250 CHUNKING" in lines, "CHUNKING advertised: %r" % lines)
	return ln


def stored_by_subject(env, subj):
	m = env.node.imap(ALICE, ALICE_PW)
	try:
		def find():
			m.select("INBOX")
			typ, d = m.search(None, "SUBJECT", subj)
			return d[0].split() if d[0] else None
		nums = mrtest.wait_for(find, timeout=10, what="message " + subj)
		eq(len(nums), 1, "stored once")
		return m.fetch(nums[0], "(BODY.PEEK[])")[1][0][1]
	finally:
		m.logout()


def test_chunks(env):
	subj = "chunks-" + mrtest.rand_token(4)
	msg = make_message(subj, "line one\r\n.\r\nnot the end\r\n..dots kept\r\n", to=ALICE)
	a, b = msg[:37], msg[37:]
	ln = session(env)
	try:
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % ALICE)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		ln.send(b"BDAT %d\r\n" % len(a) + a)
		eq(ln.smtp_reply(), (250, [b"250 2.0.0 %d octets received" % len(a)]), "first chunk")
		ln.cmd("DATA")
		eq(ln.smtp_reply(), (503, [b"503 5.5.1 Error: DATA after BDAT"]), "no DATA after BDAT")
		ln.send(b"BDAT %d LAST\r\n" % len(b) + b)
		code, lines = ln.smtp_reply()
		check(code == 250 and lines[0].startswith(b"250 2.0.0 Ok: queued as "), "LAST: %r" % lines)
		ln.cmd("QUIT")
		eq(ln.smtp_reply()[0], 221, "QUIT")
	finally:
		ln.close()
	stored = stored_by_subject(env, subj)
	mrtest.check_trace_prefix(mrtest.split_prefix_headers(stored, msg))


def test_pipelined_and_empty_last(env):
	subj = "pipe-bdat-" + mrtest.rand_token(4)
	msg = make_message(subj, "pipelined chunks\r\n", to=ALICE)
	ln = session(env)
	try:
		ln.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<%s>\r\nBDAT %d\r\n%sBDAT 0 LAST\r\nQUIT\r\n"
			% (ALICE.encode(), len(msg), msg))
		eq(ln.smtp_reply()[0], 250, "MAIL")
		eq(ln.smtp_reply()[0], 250, "RCPT")
		eq(ln.smtp_reply(), (250, [b"250 2.0.0 %d octets received" % len(msg)]), "chunk")
		code, lines = ln.smtp_reply()
		check(code == 250 and b"queued as" in lines[0], "BDAT 0 LAST: %r" % lines)
		eq(ln.smtp_reply()[0], 221, "QUIT")
	finally:
		ln.close()
	stored = stored_by_subject(env, subj)
	mrtest.split_prefix_headers(stored, msg)


def test_refused_chunk_is_skipped(env):
	"""A BDAT without a transaction is refused, but its bytes are read as data, never as commands."""
	ln = session(env)
	try:
		inner = b"RSET\r\nQUIT\r\n"
		ln.send(b"BDAT %d\r\n" % len(inner) + inner)
		eq(ln.smtp_reply(), (503, [b"503 5.5.1 Error: need MAIL command"]), "refused after skipping")
		ln.cmd("NOOP")
		eq(ln.smtp_reply(), (250, [b"250 2.0.0 Ok"]), "still open: the QUIT inside was data")
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<nobody@%s>" % DOMAIN)
		eq(ln.smtp_reply()[0], 550, "unknown recipient")
		ln.send(b"BDAT 4 LAST\r\nabcd")
		eq(ln.smtp_reply(), (554, [b"554 5.5.1 Error: no valid recipients"]), "no recipient")
	finally:
		ln.close()


def test_size_limit_and_bad_size(env):
	ln = session(env)
	try:
		ln.cmd("MAIL FROM:<sender@remote.test>")
		eq(ln.smtp_reply()[0], 250, "MAIL")
		ln.cmd("RCPT TO:<%s>" % ALICE)
		eq(ln.smtp_reply()[0], 250, "RCPT")
		big = b"x" * (MAX_SIZE // 2)
		ln.send(b"BDAT %d\r\n" % len(big) + big)
		eq(ln.smtp_reply()[0], 250, "half")
		ln.send(b"BDAT %d LAST\r\n" % (len(big) + 10) + big + b"0123456789")
		eq(ln.smtp_reply(), (552, [b"552 5.3.4 Error: message file too big"]), "over the limit")
		ln.cmd("NOOP")
		eq(ln.smtp_reply()[0], 250, "session goes on")
		ln.cmd("BDAT 12x")
		eq(ln.smtp_reply(), (501, [b"501 5.5.4 Syntax: BDAT size [LAST]: closing"]), "bad size")
		eq(ln.smtp_reply(), (None, []), "closed")
	finally:
		ln.close()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

"""test_mime_reference.py - mailraft's message views checked against a reference parse: every
message of the MIME corpus (mimecorpus.py: ~50 hand-made cases, 16 generated part trees) is
APPENDed to a mailraft node and to a private Dovecot 2.3 (Debian's dovecot-imapd, started on
loopback with tests/bench/servers.py's Dovecot helper), then BODYSTRUCTURE, BODY, ENVELOPE,
BODY[n.m] of every part number, BODY[n.MIME] of every part, BODY[n.HEADER]/[n.TEXT] of every
message/rfc822 part and BINARY[n] of every leaf are fetched from both and compared after
parsing the responses into nested Python values (RFC 3501 §7.4.2 / RFC 9051 §7.5.2 forms).
Where the two servers legitimately differ the comparison either normalises (norm_*,
fix_lines, close_delimiter_crlf, BARE_LF: documented rules for values the RFCs leave to the
server) or names the case (EXPECTED: reason and the exact value mailraft must produce), so
any other change of mailraft's output fails the test, and so does an expected difference
that no longer occurs. Skips (prints SKIP, exits 0) only when Dovecot cannot run here
(servers.dovecot_missing: not installed, or not root). About 3 s.
Run: /usr/bin/python3 tests/integration/test_mime_reference.py --bin-dir BUILD"""
import os
import shutil
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, Fail, tls_ctx  # noqa: E402
import mimecorpus  # noqa: E402
import servers  # noqa: E402  (the benchmarks' private Dovecot instance)

DOMAIN = "example.test"
USER, PW = "mime@example.test", "mime-pw-1"
MAILBOX = "INBOX"


# ---------------------------------------------------------------- a raw IMAP client

class Imap:
	"""Minimal IMAP client returning whole responses (literals inline) for the parser."""

	def __init__(self, port, use_tls):
		s = socket.create_connection(("127.0.0.1", port), timeout=20)
		self.sock = tls_ctx().wrap_socket(s) if use_tls else s
		self.f = self.sock.makefile("rb")
		self.n = 0
		self.read_response()   # greeting

	def read_response(self):
		"""One response line with its literals: bytes."""
		out = b""
		while True:
			line = self.f.readline(1 << 20)
			if not line:
				raise Fail("connection closed")
			out += line
			if line.endswith(b"}\r\n"):
				i = line.rfind(b"{")
				n = int(line[i + 1:-3].rstrip(b"+"))
				out += self.f.read(n)
				continue
			return out

	def cmd(self, text, literal=None):
		"""Send a command (literal: bytes sent after the server's continuation); returns
		(untagged responses, tagged line)."""
		self.n += 1
		tag = b"t%d" % self.n
		data = tag + b" " + (text.encode() if isinstance(text, str) else text)
		if literal is not None:
			data += b" {%d}\r\n" % len(literal)
			self.sock.sendall(data)
			r = self.read_response()
			if not r.startswith(b"+"):
				raise Fail("no continuation for %r: %r" % (text, r))
			self.sock.sendall(literal + b"\r\n")
		else:
			self.sock.sendall(data + b"\r\n")
		untagged = []
		while True:
			r = self.read_response()
			if r.startswith(tag + b" "):
				return untagged, r
			untagged.append(r)

	def ok(self, text, literal=None):
		u, t = self.cmd(text, literal)
		check(t.split(b" ", 2)[1] == b"OK", "%r -> %r" % (text, t))
		return u

	def close(self):
		try:
			self.cmd("LOGOUT")
		except (OSError, Fail):
			pass
		self.sock.close()


# ---------------------------------------------------------------- response parser

class Atom(str):
	"""An IMAP atom (NIL is None, numbers are int, strings are bytes)."""


def parse(data, i=0):
	"""Parse IMAP values from data[i:] up to a ')' or end of line: (list, next index)."""
	out = []
	n = len(data)
	while i < n:
		c = data[i:i + 1]
		if c in (b" ", b"\r", b"\n"):
			i += 1
		elif c == b"(":
			v, i = parse(data, i + 1)
			out.append(v)
		elif c == b")":
			return out, i + 1
		elif c == b'"':
			j, s = i + 1, bytearray()
			while data[j:j + 1] != b'"':
				if data[j:j + 1] == b"\\":
					j += 1
				s += data[j:j + 1]
				j += 1
			out.append(bytes(s))
			i = j + 1
		elif c in (b"{", b"~") and data.find(b"}\r\n", i) > 0 and (c == b"{" or data[i + 1:i + 2] == b"{"):
			k = data.index(b"}\r\n", i)
			ln = int(data[data.index(b"{", i) + 1:k].rstrip(b"+"))
			out.append(data[k + 3:k + 3 + ln])
			i = k + 3 + ln
		else:
			j, depth = i, 0
			while j < n:
				ch = data[j:j + 1]
				if ch == b"[":
					depth += 1
				elif ch == b"]":
					depth -= 1
				elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
					break
				j += 1
			a = data[i:j].decode("latin-1")
			out.append(None if a == "NIL" else int(a) if a.isdigit() else Atom(a))
			i = j
	return out, i


def fetch(conn, seq, items, key=None):
	"""{ITEM: value} of one FETCH (item names upper-cased, e.g. 'BODY[1.2]'). With key, a NO
	is returned as {key: "NO [CODE]"} (BINARY of undecodable content, RFC 3516 §4.3)."""
	u, t = conn.cmd("FETCH %d (%s)" % (seq, items))
	st = t.split(b" ", 3)
	if key and st[1] == b"NO":
		return {key: "NO " + (st[2].decode() if st[2].startswith(b"[") else "")}
	check(st[1] == b"OK", "FETCH %d (%s) -> %r" % (seq, items, t))
	res = {}
	for r in u:
		v, _ = parse(r)
		if len(v) >= 4 and v[0] == "*" and str(v[2]).upper() == "FETCH" and v[1] == seq:
			kv = v[3]
			for k in range(0, len(kv) - 1, 2):
				res[str(kv[k]).upper()] = kv[k + 1]
	return res


# ---------------------------------------------------------------- structure walking

def is_multi(bs):
	return isinstance(bs, list) and bs and isinstance(bs[0], list)


def is_msg(bs):
	return (isinstance(bs, list) and len(bs) > 8 and not is_multi(bs) and isinstance(bs[0], bytes)
		and bs[0].lower() == b"message" and bs[1].lower() in (b"rfc822", b"global"))


def part_numbers(bs, prefix=""):
	"""[(section, is_leaf, is_message)] of a BODYSTRUCTURE (RFC 3501 §6.4.5 numbering)."""
	out = []
	if is_multi(bs):
		k = 0
		for c in bs:
			if not isinstance(c, list):
				break
			k += 1
			out += _one(c, (prefix + "." if prefix else "") + str(k))
	elif not prefix:
		out += _one(bs, "1")
	return out


def _one(bs, num):
	if is_multi(bs):
		return [(num, False, False)] + part_numbers(bs, num)
	out = [(num, not is_msg(bs), is_msg(bs))]
	if is_msg(bs):
		inner = bs[8]
		out += part_numbers(inner, num) if is_multi(inner) else _one(inner, num + ".1")
	return out


# ---------------------------------------------------------------- normalisation
# Rules applied before comparing; each is a choice the RFCs leave to the server, and each is
# as narrow as the difference it covers.

def lower(v):
	return v.lower() if isinstance(v, bytes) else v


def norm_params(p, dovecot=False):
	"""body-fld-param: names are case-insensitive and their order carries no meaning (RFC 2045
	§5.1), so pairs are compared with lower-cased names, sorted. Dovecot adds its default
	("charset" "us-ascii") to text parts even beside an RFC 2231 charset*; mailraft reports
	only what the message says there (RFC 2231 §4 charset* is the charset): dropped on the
	Dovecot side only."""
	if not isinstance(p, list):
		return p
	pairs = [(lower(p[k]), p[k + 1]) for k in range(0, len(p) - 1, 2)]
	if dovecot and (b"charset*" in [n for n, _ in pairs]) and (b"charset", b"us-ascii") in pairs:
		pairs.remove((b"charset", b"us-ascii"))
	return [x for pair in sorted(pairs, key=lambda t: (t[0], repr(t[1]))) for x in pair]


def norm_dsp(d):
	if not isinstance(d, list) or len(d) < 2:
		return d
	return [lower(d[0]), norm_params(d[1])] + d[2:]


def norm_lang(v):
	"""body-fld-lang is nstring / "(" string *(SP string) ")" (RFC 3501 §9): one tag as a string
	(mailraft) or as a one-element list (Dovecot) is the same value."""
	return [v] if isinstance(v, bytes) else v


def n_children(bs):
	"""How many body parts lead a multipart BODYSTRUCTURE list (the subtype follows them)."""
	k = 0
	while k < len(bs) and isinstance(bs[k], list):
		k += 1
	return k


def norm_bs(bs, dovecot=False):
	"""Case-insensitive tokens (RFC 2045 §5.1, §6.1: type, subtype, parameter names, transfer
	encoding, disposition type) in lower case; parameters as above."""
	if not isinstance(bs, list):
		return bs
	if is_multi(bs):
		k = n_children(bs)
		out = [norm_bs(c, dovecot) for c in bs[:k]]
		rest = bs[k:]
		if rest:
			rest = [lower(rest[0])] + rest[1:]
		if len(rest) > 1:
			rest[1] = norm_params(rest[1], dovecot)
		if len(rest) > 2:
			rest[2] = norm_dsp(rest[2])
		if len(rest) > 3:
			rest[3] = norm_lang(rest[3])
		return out + rest
	out = [lower(bs[0]), lower(bs[1]), norm_params(bs[2], dovecot)] + bs[3:5] + [lower(bs[5])] + bs[6:]
	if is_msg(bs):
		out[8] = norm_bs(bs[8], dovecot)
		ext = 11
	elif lower(bs[0]) == b"text":
		ext = 8
	else:
		ext = 7
	if len(out) > ext + 1:
		out[ext + 1] = norm_dsp(out[ext + 1])
	if len(out) > ext + 2:
		out[ext + 2] = norm_lang(out[ext + 2])
	return out


LINES_OK = Atom("<lines agree>")


def fix_lines(a, b, sec, bodies):
	"""body-fld-lines, "the size of the body in text lines" (RFC 3501 §7.4.2), leaves open
	whether an unterminated last line counts: the CRLF before a boundary belongs to the
	boundary (RFC 2046 §5.1.1), so most parts end in one. mailraft counts it, Dovecot counts
	line ends. Where mailraft's count is exactly Dovecot's plus that last line (judged from
	mailraft's own BODY[section] bytes), both become LINES_OK; anything else stays a diff."""
	if not (isinstance(a, list) and isinstance(b, list)):
		return
	if is_multi(a) or is_multi(b):
		if is_multi(a) and is_multi(b):
			for i in range(min(len(a), len(b))):
				if not (isinstance(a[i], list) and isinstance(b[i], list)):
					break
				fix_lines(a[i], b[i], (sec + "." if sec else "") + str(i + 1), bodies)
		return
	num = sec or "1"
	msg = is_msg(a) and is_msg(b)
	idx = 9 if msg else 7 if a[:1] == [b"text"] and b[:1] == [b"text"] else None
	body = bodies.get("BODY[%s]" % num)
	if idx and len(a) > idx and len(b) > idx and isinstance(body, bytes):
		extra = 1 if body and not body.endswith(b"\n") else 0
		if isinstance(a[idx], int) and isinstance(b[idx], int) and a[idx] == b[idx] + extra:
			a[idx] = b[idx] = LINES_OK
	if msg:
		fix_lines(a[8], b[8], num if is_multi(a[8]) else num + ".1", bodies)


def close_delimiter_crlf(va, vb):
	"""Dovecot ends a multipart part's section after the line end that follows its close
	delimiter; RFC 2046 §5.1.1 gives that line end to the enclosing boundary ("the CRLF
	preceding the boundary delimiter line is conceptually attached to the boundary"), and
	mailraft stops before it. True when that is the only difference."""
	return (isinstance(va, bytes) and isinstance(vb, bytes) and va.rstrip(b" \t").endswith(b"--")
		and vb in (va + b"\r\n", va + b"\n"))


def diff(a, b, path="", out=None):
	"""Paths where the nested values a (mailraft) and b (Dovecot) differ."""
	out = [] if out is None else out
	if isinstance(a, list) and isinstance(b, list):
		if len(a) != len(b):
			out.append((path, "length %d vs %d" % (len(a), len(b)), a, b))
			return out
		for k in range(len(a)):
			diff(a[k], b[k], "%s/%d" % (path, k), out)
	elif a != b or type(a) is not type(b):
		out.append((path, "value", a, b))
	return out


def short(v, n=300):
	r = repr(v)
	return r if len(r) <= n else r[:n] + "..."


# ---------------------------------------------------------------- expected differences

# Bare-LF messages: sizes are octets "as stored" (RFC 9051 §7.5.2); mailraft stores what
# APPEND sent, Dovecot (maildir) stores LF and serves CRLF, so octet sizes differ by the LF
# count: for these cases octet sizes are not compared and bodies are compared after CRLF->LF.
BARE_LF = ("bare_lf_simple", "bare_lf_nested", "gen04", "gen09", "gen14", "mixed_eol")


def _hdr(name, subject, more=b""):
	"""The CRLF header lines every corpus case starts with (mimecorpus.HDR), then more."""
	return (mimecorpus.HDR % name + "Subject: " + subject + "\n").replace("\n", "\r\n").encode() + more


_INNER64 = mimecorpus._b64(mimecorpus.INNER.encode()).rstrip("\n").replace("\n", "\r\n").encode()
_DEFAULT_TEXT = lambda n, lines: [b"text", b"plain", [b"charset", b"us-ascii"], None, None, b"7bit", n, lines]  # noqa: E731
_R64 = "message/rfc822 in base64 is not allowed (RFC 2046 §5.2.1): mailraft keeps the part opaque " \
	"(no encapsulated sections; octets end before the boundary's CRLF), Dovecot parses the base64 text as a header"
_RCT = "an invalid Content-Type means text/plain; charset=us-ascii (RFC 2045 §5.2); Dovecot reports empty type strings"
_RNB = "no blank line after the header (RFC 5322 §2.1 requires one): mailraft ends the header at the first line " \
	"that is no field, Dovecot takes every line as header"
_RDUP = "duplicate fields (RFC 5322 §3.6 allows one): mailraft takes the first, Dovecot the last CTE and all To fields"
_REB = "an empty boundary is invalid (RFC 2046 §5.1.1: 1 to 70 characters): mailraft treats the multipart as " \
	"having no parts, Dovecot uses \"--\" as the delimiter"
_RNBI = "the CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1), also after an encapsulated header " \
	"without a blank line; Dovecot keeps it in the part"
_R2231 = "RFC 2231 §3 leaves gaps, duplicates and mixed sections open: mailraft merges up to a gap, keeps the " \
	"first duplicate and %-encodes plain sections inside an extended value; Dovecot keeps the raw pieces"
_RDEC = "BINARY of sloppy encodings: RFC 2045 §6.8 says characters outside base64 are ignored, §6.7 suggests " \
	"keeping a bad =XX escape as it is; mailraft decodes robustly, Dovecot answers NO [PARSE]"

# (case, fetch item, path in the parsed value) -> (why, the exact value mailraft must give).
# Malformed input the RFCs leave open, or where mailraft follows the RFC and Dovecot does not.
EXPECTED = {
	("rfc822_base64", "BODYSTRUCTURE", "/0/6"): (_R64, 212),
	("rfc822_base64", "BODY", "/0/6"): (_R64, 212),
	("rfc822_base64", "BODY[1]", ""): (_R64, _INNER64),
	("rfc822_base64", "BODY[1.HEADER]", ""): (_R64, None),
	("rfc822_base64", "BODY[1.TEXT]", ""): (_R64, None),
	("rfc822_base64", "BODY[1.1]", ""): (_R64, None),
	("rfc822_base64", "BODY[1.1.MIME]", ""): (_R64, None),
	("rfc822_base64", "BINARY[1.1]", ""): (_R64, None),
	("bad_content_type", "BODYSTRUCTURE", "/0/1"): (_RCT, b"plain"),
	("bad_content_type", "BODY", "/0/1"): (_RCT, b"plain"),
	("bad_content_type", "BODYSTRUCTURE", "/1"): (_RCT, _DEFAULT_TEXT(7, 1) + [None] * 4),
	("bad_content_type", "BODY", "/1"): (_RCT, _DEFAULT_TEXT(7, 1)),
	("bad_content_type", "BODYSTRUCTURE", "/2"): (_RCT, _DEFAULT_TEXT(13, 1) + [None] * 4),
	("bad_content_type", "BODY", "/2"): (_RCT, _DEFAULT_TEXT(13, 1)),
	("envelope_forms", "ENVELOPE", "/7/1/3"): ("an address without a domain: mailraft gives an empty host, Dovecot "
		"the placeholder MISSING_DOMAIN; NIL would mean group syntax (RFC 3501 §7.4.2)", b""),
	("dup_headers", "BINARY[1]", ""): (_RDUP, b"<p>first wins</p>\r\n"),
	("dup_headers", "ENVELOPE", "/5"): (_RDUP, [[None, None, b"bob", b"example.test"]]),
	("empty_boundary", "BODYSTRUCTURE", "/0/6"): (_REB, 0),
	("empty_boundary", "BODY", "/0/6"): (_REB, 0),
	("empty_boundary", "BODY[1]", ""): (_REB, b""),
	("empty_boundary", "BODY[1.MIME]", ""): (_REB, b""),
	("empty_boundary", "BINARY[1]", ""): (_REB, b""),
	("inner_no_blank", "BODYSTRUCTURE", "/0/6"): (_RNBI, 25),
	("inner_no_blank", "BODY", "/0/6"): (_RNBI, 25),
	("inner_no_blank", "BODY[1]", ""): (_RNBI, b"Subject: inner\r\nFrom: a@b"),
	("bare_envelope", "ENVELOPE", "/9"): ("the white space around a msg-id is CFWS, not part of it (RFC 5322 §3.6.4): "
		"mailraft trims it, Dovecot keeps the raw value", b"<spaces@corpus.test>"),
	("rfc2231_odd", "BODYSTRUCTURE", "/1/2"): (_R2231, [b"charset", b"one", b"title", b"a"]),
	("rfc2231_odd", "BODY", "/1/2"): (_R2231, [b"charset", b"one", b"title", b"a"]),
	("rfc2231_odd", "BODYSTRUCTURE", "/2/2/1"): (_R2231, b"utf-8''%C3%A9%20x%E2%82%AC"),
	("rfc2231_odd", "BODY", "/2/2/1"): (_R2231, b"utf-8''%C3%A9%20x%E2%82%AC"),
	("rfc2231_odd", "BODYSTRUCTURE", "/0/8"): ("a Content-Disposition without its type is invalid (RFC 2183 §2): "
		"mailraft reports NIL, Dovecot an empty type", None),
	("cte_odd", "BINARY[3]", ""): (_RDEC, b"Hello world"),
	("cte_odd", "BINARY[4]", ""): (_RDEC, b"bad =ZZ escapesoft = end"),
	("cte_odd", "BINARY[5]", ""): (_RDEC, b"HelloWorld"),
	("no_blank_line", "BODYSTRUCTURE", "/6"): (_RNB, 30),
	("no_blank_line", "BODY", "/6"): (_RNB, 30),
	("no_blank_line", "BODYSTRUCTURE", "/7"): (_RNB, 2),
	("no_blank_line", "BODY", "/7"): (_RNB, 2),
	("no_blank_line", "BODY[HEADER]", ""): (_RNB, _hdr("no_blank_line", "header runs into the body",
		b"Content-Type: text/plain\r\n")),
	("no_blank_line", "BODY[1.MIME]", ""): (_RNB, _hdr("no_blank_line", "header runs into the body",
		b"Content-Type: text/plain\r\n")),
	("no_blank_line", "BODY[TEXT]", ""): (_RNB, b"this line is no header\r\nmore\r\n"),
	("no_blank_line", "BODY[1]", ""): (_RNB, b"this line is no header\r\nmore\r\n"),
	("no_blank_line", "BINARY[1]", ""): (_RNB, b"this line is no header\r\nmore\r\n"),
}


# ---------------------------------------------------------------- the test

def dovecot_setup(env):
	env.dc_dir = tempfile.mkdtemp(prefix="mrtest-dovecot-")
	os.chmod(env.dc_dir, 0o755)   # Dovecot's unprivileged processes must reach their dirs
	env.dc = servers.Dovecot(env.dc_dir, "dc", nusers=1)
	env.dc.start()


def setup(env):
	env.corpus = mimecorpus.corpus()
	dovecot_setup(env)
	n = env.new_node("mimeref")
	env.node = n
	n.start()
	n.add_domain(DOMAIN)
	n.add_account(USER, PW)


def teardown(env):
	dc = getattr(env, "dc", None)
	if dc is not None:
		dc.stop()
	d = getattr(env, "dc_dir", None)
	if d and not mrtest.ARGS.keep:
		shutil.rmtree(d, ignore_errors=True)


def connect(env):
	mr = Imap(env.node.ports["imaps"], True)
	mr.ok("LOGIN %s %s" % (USER, PW))
	dc = Imap(env.dc.ports["imap"], False)
	dc.ok("LOGIN test pass")
	return mr, dc


def test_append_corpus(env):
	mr, dc = connect(env)
	try:
		for name, raw in env.corpus:
			for side in (mr, dc):
				side.ok("APPEND %s" % MAILBOX, raw)
		for side in (mr, dc):
			u = side.ok("SELECT %s" % MAILBOX)
			check(any(b" %d EXISTS" % len(env.corpus) in r for r in u), "EXISTS after APPEND: %r" % u)
	finally:
		mr.close()
		dc.close()


def unlf(v):
	"""Bare-LF normalisation: CRLF->LF in strings; sizes are not comparable (dropped)."""
	if isinstance(v, bytes):
		return v.replace(b"\r\n", b"\n")
	if isinstance(v, list):
		return [unlf(x) for x in v]
	return v


def drop_sizes(bs):
	"""A BODYSTRUCTURE without its body-fld-octets (for the bare-LF cases)."""
	if not isinstance(bs, list):
		return bs
	if is_multi(bs):
		k = n_children(bs)
		return [drop_sizes(c) for c in bs[:k]] + bs[k:]
	out = list(bs)
	if len(out) > 6 and isinstance(out[6], int):
		out[6] = Atom("<octets>")
	if is_msg(bs):
		out[8] = drop_sizes(bs[8])
	return out


def compare_message(mr, dc, seq, name, problems, used, stats):
	items = "BODYSTRUCTURE BODY ENVELOPE BODY.PEEK[HEADER] BODY.PEEK[TEXT]"
	a, b = fetch(mr, seq, items), fetch(dc, seq, items)
	lf = name in BARE_LF
	nums = {}
	for side in (a, b):
		for num, leaf, msg in part_numbers(side.get("BODYSTRUCTURE")):
			nums[num] = (leaf or nums.get(num, (False, False))[0], msg or nums.get(num, (False, False))[1])
	secs = []
	for num in sorted(nums, key=lambda s: [int(x) for x in s.split(".")]):
		leaf, msg = nums[num]
		secs += ["BODY.PEEK[%s]" % num, "BODY.PEEK[%s.MIME]" % num]
		if msg:
			secs += ["BODY.PEEK[%s.HEADER]" % num, "BODY.PEEK[%s.TEXT]" % num]
		if leaf:
			key = "BINARY[%s]" % num
			a.update(fetch(mr, seq, "BINARY.PEEK[%s]" % num, key))
			b.update(fetch(dc, seq, "BINARY.PEEK[%s]" % num, key))
	for k in range(0, len(secs), 24):
		chunk = " ".join(secs[k:k + 24])
		a.update(fetch(mr, seq, chunk))
		b.update(fetch(dc, seq, chunk))
	for key in ("BODYSTRUCTURE", "BODY", "ENVELOPE"):
		check(isinstance(a.get(key), list) and isinstance(b.get(key), list), "%s of %s: mailraft %s, dovecot %s"
			% (key, name, short(a.get(key)), short(b.get(key))))
	stats["items"] += len(set(a) | set(b))
	stats["sections"] += len(nums)
	for key in ("BODYSTRUCTURE", "BODY"):
		a[key], b[key] = norm_bs(a.get(key)), norm_bs(b.get(key), dovecot=True)
		if lf:
			a[key], b[key] = drop_sizes(a[key]), drop_sizes(b[key])
		fix_lines(a[key], b[key], "", a)
	for key in sorted(set(a) | set(b)):
		va, vb = a.get(key, "<missing>"), b.get(key, "<missing>")
		if lf:
			va, vb = unlf(va), unlf(vb)
		if key.startswith("BODY[") and close_delimiter_crlf(va, vb):
			continue
		for path, what, x, y in diff(va, vb):
			exp = EXPECTED.get((name, key, path))
			used.add((name, key, path))
			if exp is None:
				problems.append("%s %s%s (%s): mailraft %s, dovecot %s" % (name, key, path, what, short(x), short(y)))
			elif x != exp[1]:
				problems.append("%s %s%s: mailraft gave %s, expected %s (%s)" % (name, key, path, short(x), short(exp[1]), exp[0]))


def test_compare_views(env):
	mr, dc = connect(env)
	problems, used, stats = [], set(), {"items": 0, "sections": 0}
	try:
		for side in (mr, dc):
			side.ok("EXAMINE %s" % MAILBOX)
		for seq, (name, raw) in enumerate(env.corpus, 1):
			compare_message(mr, dc, seq, name, problems, used, stats)
	finally:
		mr.close()
		dc.close()
	for k in sorted(set(EXPECTED) - used):
		problems.append("%s %s%s: expected difference did not occur (mailraft now agrees with Dovecot, "
			"or the corpus changed): update EXPECTED" % k)
	mrtest.say("# %d messages, %d part numbers, %d fetch items compared" % (len(env.corpus),
		stats["sections"], stats["items"]))
	check(stats["sections"] >= 250 and stats["items"] >= 1000, "too little compared: %r" % stats)
	if problems:
		raise Fail("%d differences from the reference:\n%s" % (len(problems), "\n".join(problems)))


if __name__ == "__main__":
	why = servers.dovecot_missing()
	if why:
		print("SKIP test_mime_reference: %s" % why)
		sys.exit(0)
	mrtest.main(globals(), setup=setup, teardown=teardown)

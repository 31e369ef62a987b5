"""mimecorpus.py - the MIME corpus of test_mime_reference.py: hand-made messages for the
shapes real mail takes (nested multipart/mixed/alternative/related 3+ levels deep,
message/rfc822 parts holding multiparts, RFC 2047 encoded words in Subject/From/filename,
RFC 2231 parameters with continuations and charsets, 8-bit bodies without a transfer
encoding, missing/invalid/never-seen boundaries, unterminated multiparts, header blocks over
8 KiB folded over many lines, missing or broken Content-Type, upper-case and quoted
parameters, base64 and quoted-printable parts, empty parts, CRLF and bare-LF line ends) plus
messages generated from a seeded RNG (random part trees). corpus() returns [(name, bytes)];
names are stable, so a per-case expectation in the test can refer to them. Stdlib only."""
import base64
import quopri
import random

WORDS = ("alpha beta gamma delta report budget server mailbox invoice release patch review "
	"lunch meeting schedule holiday").split()
HDR = ("From: Alice Example <alice@example.test>\nTo: bob@example.test\n"
	"Date: Mon, 23 Nov 2026 12:00:00 +0000\nMessage-ID: <%s@corpus.test>\n")


# a small message forwarded as message/rfc822 by several cases
INNER = ("From: Inner <inner@example.test>\nTo: x@example.test\nSubject: inner one\n"
	"Date: Sun, 22 Nov 2026 08:00:00 -0500\nMessage-ID: <inner1@corpus.test>\n\ninner body\n")


def _crlf(s):
	b = s.encode("utf-8") if isinstance(s, str) else s
	return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _lf(s):
	b = s.encode("utf-8") if isinstance(s, str) else s
	return b.replace(b"\r\n", b"\n")


def _b64(data, width=76):
	e = base64.b64encode(data).decode()
	return "\n".join(e[i:i + width] for i in range(0, len(e), width)) + "\n"


def _ew(s, cs="UTF-8"):
	return "=?%s?B?%s?=" % (cs, base64.b64encode(s.encode(cs)).decode())


def _msg(name, subject, rest):
	return HDR % name + "Subject: " + subject + "\n" + rest


def hand_made():
	"""[(name, bytes)] of the hand-written cases."""
	c = []
	add = lambda n, s, rest, conv=_crlf: c.append((n, conv(_msg(n, s, rest))))  # noqa: E731

	add("no_content_type", "plain, no MIME headers at all", "\nJust a line.\nAnd another.\n")
	add("upper_params", "upper-case type and params",
		"MIME-Version: 1.0\nContent-Type: TEXT/PLAIN; CHARSET=\"ISO-8859-1\"; Format=Flowed; DelSp=Yes\n"
		"Content-Transfer-Encoding: QUOTED-PRINTABLE\n\ncaf=E9 au lait=\n soft break\n")
	add("quoted_params", "quoted parameters with escapes",
		"MIME-Version: 1.0\nContent-Type: application/octet-stream; name=\"a \\\"quoted\\\" name; x.bin\"\n"
		"Content-Disposition: attachment;\n filename=\"a \\\\ backslash.bin\"; size=3\n"
		"Content-Transfer-Encoding: base64\n\nAAEC\n")
	add("eightbit_no_cte", "8-bit UTF-8 body, no CTE",
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
		"Gr\u00fc\u00dfe aus K\u00f6ln \u2603\n\u65e5\u672c\u8a9e\n")
	c.append(("eightbit_latin1", _crlf(_msg("eightbit_latin1", "latin-1 bytes, no CTE",
		"Content-Type: text/plain; charset=iso-8859-1\n\n").encode() + b"caf\xe9 cr\xe8me br\xfbl\xe9e\n")))
	add("eightbit_header", "8-bit in headers: K\u00f6ln caf\u00e9",
		"Content-Type: text/plain\n\nbody\n")
	add("encoded_words", "=?ISO-8859-1?Q?Caf=E9?= =?UTF-8?B?w7xiZXI=?= plain =?utf-8?q?a_b?=",
		"Cc: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>, " + _ew("J\u00fcrgen M\u00fcller")
		+ " <jm@example.test>\nReply-To: \"=?UTF-8?Q?Caf=C3=A9?=\" <cafe@example.test>\n"
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XyZ\n\n--XyZ\n"
		"Content-Type: text/plain; charset=us-ascii\n\nsee attachment\n--XyZ\n"
		"Content-Type: application/pdf; name=\"" + _ew("R\u00e9sum\u00e9 2026.pdf") + "\"\n"
		"Content-Disposition: attachment; filename=\"" + _ew("R\u00e9sum\u00e9 2026.pdf") + "\"\n"
		"Content-Transfer-Encoding: base64\n\n" + _b64(b"%PDF-1.4 fake" * 30) + "--XyZ--\n")
	c.append(("encoded_from", _crlf("From: " + _ew("Zo\u00eb \u00c5ngstr\u00f6m") + " <zoe@example.test>\n"
		"Sender: =?iso-8859-1?q?J=F6rg?= <joerg@example.test>\nTo: =?utf-8?q?=E6=97=A5=E6=9C=AC?= <jp@example.test>, "
		"\"=?utf-8?b?w6k=?=\" <quoted-ew@example.test>\nDate: Mon, 23 Nov 2026 12:00:00 +0000\n"
		"Message-ID: <encoded_from@corpus.test>\nSubject: =?UTF-8?B?" + "w6k=?= =?UTF-8?B?w6k=?=\n"
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\n\n"
		+ _b64("Zo\u00eb".encode()))))
	add("rfc2231_cont", "RFC 2231 continuations",
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b2231\"\n\n--b2231\n"
		"Content-Type: text/plain\n\nhi\n--b2231\n"
		"Content-Type: application/octet-stream;\n name*0*=UTF-8''%E2%82%AC%20rates;\n name*1*=%20for%20;\n name*2=today.txt\n"
		"Content-Disposition: attachment;\n filename*0=\"long file name \";\n filename*1=\"in two parts.txt\"\n"
		"Content-Transfer-Encoding: base64\n\naGVsbG8=\n--b2231\n"
		"Content-Type: text/plain; charset*=us-ascii'en'us-ascii; title*=iso-8859-1'fr'%A3%20and%20%E9\n"
		"Content-Disposition: inline; filename*=utf-8''%C3%A9t%C3%A9.txt\n\nsummer\n--b2231--\n")
	add("nested_3", "mixed > alternative > related, 3 levels",
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_outer\"\n\npreamble text\n"
		"--=_outer\nContent-Type: multipart/alternative; boundary=\"=_alt\"\n\n"
		"--=_alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
		"caf=C3=A9 =3D coffee\n"
		"--=_alt\nContent-Type: multipart/related; boundary=\"=_rel\"; type=\"text/html\"\n\n"
		"--=_rel\nContent-Type: text/html; charset=utf-8\n\n<p>caf\u00e9 <img src=\"cid:img1@x\"></p>\n"
		"--=_rel\nContent-Type: image/png\nContent-ID: <img1@x>\nContent-Transfer-Encoding: base64\n"
		"Content-Disposition: inline; filename=\"pic.png\"\n\n" + _b64(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
		+ "--=_rel--\n\n--=_alt--\n"
		"--=_outer\nContent-Type: application/zip; name=files.zip\nContent-Transfer-Encoding: base64\n"
		"Content-Disposition: attachment; filename=files.zip\n\n" + _b64(bytes(range(256)) * 3)
		+ "--=_outer--\nepilogue\n")
	add("nested_4", "four levels deep",
		"Content-Type: multipart/mixed; boundary=L1\n\n--L1\nContent-Type: multipart/mixed; boundary=L2\n\n"
		"--L2\nContent-Type: multipart/alternative; boundary=L3\n\n--L3\nContent-Type: multipart/related; boundary=L4\n\n"
		"--L4\nContent-Type: text/html\n\n<b>deep</b>\n--L4\nContent-Type: text/plain\n\ndeep text\n--L4--\n"
		"--L3\nContent-Type: text/plain\n\nalt\n--L3--\n--L2\nContent-Type: text/plain\n\nsecond\n--L2--\n"
		"--L1\nContent-Type: text/plain\n\nlast\n--L1--\n")
	inner = INNER
	add("rfc822_simple", "forwarded message",
		"Content-Type: multipart/mixed; boundary=fw\n\n--fw\nContent-Type: text/plain\n\nFYI\n"
		"--fw\nContent-Type: message/rfc822\nContent-Description: forwarded\n\n" + inner + "--fw--\n")
	inner_mp = ("From: Inner <inner@example.test>\nSubject: =?UTF-8?Q?inner_multipart_=E2=9C=93?=\n"
		"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=ia\n\n--ia\n"
		"Content-Type: text/plain\n\nplain inner\n--ia\nContent-Type: text/html\n\n<i>html inner</i>\n--ia--\n")
	add("rfc822_multipart", "forwarded multipart",
		"Content-Type: multipart/mixed; boundary=fw2\n\n--fw2\nContent-Type: text/plain\n\nsee inner\n"
		"--fw2\nContent-Type: message/rfc822; name=fwd.eml\nContent-Disposition: attachment; filename=fwd.eml\n\n"
		+ inner_mp + "\n--fw2--\n")
	add("rfc822_top", "the whole body is a message",
		"MIME-Version: 1.0\nContent-Type: message/rfc822\n\n" + inner_mp)
	add("rfc822_double", "message in a message in a message",
		"Content-Type: message/rfc822\n\nFrom: mid@example.test\nSubject: middle\n"
		"Content-Type: multipart/mixed; boundary=m2\n\n--m2\nContent-Type: message/rfc822\n\n" + inner
		+ "--m2\nContent-Type: text/plain\n\nafter\n--m2--\n")
	add("rfc822_base64", "message/rfc822 with a base64 CTE",
		"Content-Type: multipart/mixed; boundary=e64\n\n--e64\nContent-Type: message/rfc822\n"
		"Content-Transfer-Encoding: base64\n\n" + _b64(inner.encode()) + "--e64--\n")
	add("digest", "multipart/digest defaults",
		"Content-Type: multipart/digest; boundary=dg\n\n--dg\n\n" + inner + "--dg\n\n" + inner
		+ "--dg\nContent-Type: text/plain\n\nnot a message\n--dg--\n")
	add("no_boundary_param", "multipart without boundary",
		"Content-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n")
	add("boundary_never_seen", "boundary declared, never used",
		"Content-Type: multipart/mixed; boundary=\"nowhere\"\n\n--elsewhere\nContent-Type: text/plain\n\nhi\n--elsewhere--\n")
	add("unterminated", "no close delimiter",
		"Content-Type: multipart/mixed; boundary=u1\n\n--u1\nContent-Type: text/plain\n\nfirst\n"
		"--u1\nContent-Type: text/html\n\n<p>second, never closed</p>\n")
	add("unterminated_inner", "inner multipart not closed, outer is",
		"Content-Type: multipart/mixed; boundary=o1\n\n--o1\nContent-Type: multipart/alternative; boundary=i1\n\n"
		"--i1\nContent-Type: text/plain\n\nin1\n--i1\nContent-Type: text/html\n\n<p>in2</p>\n"
		"--o1\nContent-Type: text/plain\n\nouter2\n--o1--\n")
	add("boundary_prefix", "inner boundary extends the outer one",
		"Content-Type: multipart/mixed; boundary=\"abc\"\n\n--abc\nContent-Type: multipart/alternative; boundary=\"abcdef\"\n\n"
		"--abcdef\nContent-Type: text/plain\n\none\n--abcdef\nContent-Type: text/plain\n\ntwo\n--abcdef--\n--abc--\n")
	add("boundary_padding", "transport padding after boundaries",
		"Content-Type: multipart/mixed; boundary=\"pad\"\n\n--pad   \nContent-Type: text/plain\n\none\n"
		"--pad\t\nContent-Type: text/plain\n\ntwo\n--pad--  \n")
	add("empty_parts", "empty parts",
		"Content-Type: multipart/mixed; boundary=e\n\n--e\n--e\nContent-Type: text/plain\n\n"
		"--e\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n\n--e\n\n--e--\n")
	add("empty_multipart", "multipart with no parts",
		"Content-Type: multipart/mixed; boundary=zz\n\njust a preamble\n--zz--\n")
	add("header_only", "header only, no body", "")
	add("empty_body", "empty body after the blank line", "\n")
	folds = "".join("\n\tfold-%03d %s" % (i, " ".join(WORDS)) for i in range(120))
	add("huge_headers", "huge folded headers " + "x" * 50 + "\n " + "y" * 9000,
		"X-Long: start" + folds + "\nCc: " + ",\n ".join("r%d <r%d@example.test>" % (i, i) for i in range(400))
		+ "\nContent-Type: text/plain;\n charset=utf-8;\n" + "".join(" p%d=v%d;\n" % (i, i) for i in range(40))
		+ " format=fixed\n\nbody after huge headers\n")
	add("huge_header_part", "huge header inside a part",
		"Content-Type: multipart/mixed; boundary=hh\n\n--hh\nContent-Type: text/plain\nX-Big: "
		+ "\n ".join("word%d" % i for i in range(2000)) + "\n\npart body\n--hh--\n")
	add("bad_content_type", "broken Content-Type values",
		"Content-Type: multipart/mixed; boundary=bct\n\n--bct\nContent-Type: text\n\nno subtype\n"
		"--bct\nContent-Type: ;charset=utf-8\n\nno type\n--bct\nContent-Type: image/\n\nempty subtype\n"
		"--bct\nContent-Type: application/x-thing; ; =junk; name\n\njunk params\n--bct--\n")
	add("ext_fields", "every body extension field",
		"Content-Type: multipart/mixed; boundary=ext; x-foo=bar\nContent-Language: en\n"
		"Content-Location: http://example.test/m\n\n--ext\nContent-Type: text/plain; charset=utf-8\n"
		"Content-ID: <part1@x>\nContent-Description: the \"description\"\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
		"Content-Disposition: INLINE; FILENAME=\"a.txt\"; creation-date=\"Mon, 23 Nov 2026 12:00:00 +0000\"\n"
		"Content-Language: en-US, de (German)\nContent-Location: a.txt\n\ntext\n--ext--\n")
	add("envelope_forms", "envelope address forms",
		"Sender: Secretary <sec@example.test>\nReply-To: list: a@example.test, \"B, b\" <b@example.test>;\n"
		"Cc: undisclosed-recipients:;\nBcc: <@route.test:routed@example.test>, nodomain\n"
		"In-Reply-To: <parent@corpus.test>\n\nbody\n")
	add("dup_headers", "duplicate Content-Type",
		"To: second-to@example.test\nContent-Type: text/html; charset=utf-8\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n"
		"Content-Transfer-Encoding: base64\n\n<p>first wins</p>\n")
	add("qp_and_b64", "qp and base64 leaves",
		"Content-Type: multipart/alternative; boundary=qb\n\n--qb\nContent-Type: text/plain; charset=utf-8\n"
		"Content-Transfer-Encoding: quoted-printable\n\n" + quopri.encodestring(("K\u00f6ln " * 40).encode()).decode()
		+ "\n--qb\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
		+ _b64(("<p>K\u00f6ln</p>" * 30).encode()) + "--qb--\n")
	add("field_oddities", "odd header syntax",
		"Content-Type :text/plain;charset=utf-8\nX-No-Space:value\nContent-Transfer-Encoding:  7BIT \n\nbody\n")
	add("no_blank_line", "header runs into the body", "Content-Type: text/plain\nthis line is no header\nmore\n")
	c.append(("mixed_eol", _msg("mixed_eol", "CRLF and LF mixed",
		"Content-Type: multipart/mixed; boundary=me\r\n\n--me\r\nContent-Type: text/plain\n\r\nline\n--me--\r\n").encode()))
	add("bare_lf_simple", "bare LF text", "Content-Type: text/plain\n\none\ntwo\n", _lf)
	add("bare_lf_nested", "bare LF nested",
		"Content-Type: multipart/mixed; boundary=lf\n\n--lf\nContent-Type: multipart/alternative; boundary=lf2\n\n"
		"--lf2\nContent-Type: text/plain\n\nplain\n--lf2\nContent-Type: text/html\n\n<p>x</p>\n--lf2--\n"
		"--lf\nContent-Type: message/rfc822\n\n" + inner + "--lf--\n", _lf)
	add("param_comments", "comments and spaces in structured fields",
		"Content-Type: multipart/mixed (outer comment) ; boundary = \"a b:c\" (trailing)\n\n"
		"--a b:c\nContent-Type: text/plain (plain text); charset=(cs)\"utf-8\"; format = flowed\n"
		"Content-Transfer-Encoding: 7bit (ascii)\nContent-Disposition: attachment (comment); filename=\"r\u00e9sum\u00e9 raw.txt\"\n\n"
		"text\n--a b:c--\n")
	add("same_boundary_nested", "inner multipart reuses the outer boundary",
		"Content-Type: multipart/mixed; boundary=same\n\n--same\nContent-Type: multipart/alternative; boundary=same\n\n"
		"--same\nContent-Type: text/plain\n\none\n--same--\n--same\nContent-Type: text/plain\n\ntwo\n--same--\n")
	add("empty_boundary", "empty boundary parameter",
		"Content-Type: multipart/mixed; boundary=\"\"\n\n--\nContent-Type: text/plain\n\nx\n----\n")
	add("both_unterminated", "inner and outer never closed",
		"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n"
		"--i\nContent-Type: text/plain\n\nin\n--i\nContent-Type: message/rfc822\n\nSubject: cut\n\ncut off")
	add("inner_no_blank", "encapsulated message without blank line",
		"Content-Type: multipart/mixed; boundary=nb\n\n--nb\nContent-Type: message/rfc822\n\n"
		"Subject: inner\nFrom: a@b\n--nb\nContent-Type: text/plain\n\nafter\n--nb--\n")
	add("long_lines", "body lines over 998 octets",
		"Content-Type: text/plain\n\n" + "x" * 5000 + "\n" + "y" * 1200 + "\n")
	add("rfc2231_odd", "RFC 2231 out of order, gaps, duplicates",
		"Content-Type: multipart/mixed; boundary=r\n\n--r\nContent-Type: application/x-a; name*1=\"two\"; name*0=\"one-\"\n"
		"Content-Disposition: ; filename=nodisptype.txt\n\nA\n--r\nContent-Type: application/x-b; title*0=a; title*2=c; "
		"charset=one; charset=two\n\nB\n--r\nContent-Type: application/x-c; name*0*=utf-8''%C3%A9; name*1=\" x\"; "
		"name*2*=%E2%82%AC\n\nC\n--r--\n")
	add("cte_odd", "unusual transfer encodings",
		"Content-Type: multipart/mixed; boundary=c\n\n--c\nContent-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n"
		"begin 644 x\n--c\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\nraw\n"
		"--c\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nSGVsbG8*gd29y!bGQ\n"
		"--c\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nbad =ZZ escape=\nsoft =3d end=\n"
		"--c\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8=\nV29ybGQ=\n--c--\n")
	add("digest_nested", "digest inside digest",
		"Content-Type: multipart/digest; boundary=d1\n\n--d1\nContent-Type: multipart/digest; boundary=d2\n\n--d2\n\n"
		+ INNER + "--d2--\n--d1\n\n" + INNER + "--d1--\n")
	c.append(("bare_envelope", _crlf("From:\nTo: Group: ;\nCc: =?utf-8?q?G=C3=BCnter_group?=: a@b.test, (comment) c@d.test (Cee);\n"
		"Bcc: \"last, first\" <@r1.test,@r2.test:lf@example.test>\n"
		"In-Reply-To: <a@b> <c@d>\nMessage-ID:   <spaces@corpus.test>  \n\nno subject, no date\n")))
	return c


# ---------------------------------------------------------------- generated

LEAVES = (("text", "plain"), ("text", "html"), ("application", "octet-stream"), ("image", "jpeg"),
	("application", "pdf"), ("text", "calendar"))
MULTIS = ("mixed", "alternative", "related")


def _leaf(rnd, path):
	t, s = rnd.choice(LEAVES)
	params = []
	if t == "text" and rnd.random() < 0.7:
		params.append("charset=" + rnd.choice(("utf-8", "\"UTF-8\"", "us-ascii", "iso-8859-1")))
	if t != "text" or rnd.random() < 0.2:
		fn = "file-%s.%s" % (path, s[:3])
		if rnd.random() < 0.3:
			params.append("name=\"%s\"" % _ew("\u00e9" + fn))
		else:
			params.append("name=" + fn)
	hdr = "Content-Type: %s/%s%s\n" % (t.upper() if rnd.random() < 0.2 else t, s,
		"".join(";%s%s" % (rnd.choice((" ", "\n ", "\n\t")), p) for p in params))
	words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 60)))
	body = "\n".join(words[i:i + 70] for i in range(0, len(words), 70))
	enc = rnd.choice(("none", "7bit", "8bit", "base64", "quoted-printable")) if t == "text" else "base64"
	if enc == "base64":
		hdr += "Content-Transfer-Encoding: base64\n"
		body = _b64(rnd.randbytes(rnd.randint(0, 900)) if t != "text" else body.encode()).rstrip("\n")
	elif enc == "quoted-printable":
		hdr += "Content-Transfer-Encoding: quoted-printable\n"
		body = quopri.encodestring((body + " \u00fc=").encode()).decode().rstrip("\n")
	elif enc == "8bit":
		hdr += "Content-Transfer-Encoding: 8bit\n"
		body += " \u00e4\u00f6\u00fc"
	elif enc == "7bit":
		hdr += "Content-Transfer-Encoding: 7bit\n"
	if rnd.random() < 0.25:
		hdr += "Content-Disposition: %s; filename=\"f%s\"\n" % (rnd.choice(("attachment", "inline")), path)
	if rnd.random() < 0.15:
		hdr += "Content-ID: <%s@gen>\n" % path
	return hdr + "\n" + body


def _tree(rnd, depth, path):
	if depth >= 4 or (depth > 0 and rnd.random() < 0.35):
		if depth > 0 and rnd.random() < 0.08:
			return ("Content-Type: message/rfc822\n\nFrom: f%s@example.test\nSubject: inner %s\n"
				% (path, path) + _tree(rnd, depth + 1, path + "i"))
		return _leaf(rnd, path)
	b = "=_b%s_%d" % (path, rnd.randint(0, 999))
	sub = rnd.choice(MULTIS)
	n = rnd.randint(1, 4)
	out = "Content-Type: multipart/%s;%sboundary=\"%s\"\n\n" % (sub, rnd.choice((" ", "\n ")), b)
	if rnd.random() < 0.3:
		out += "This is a multi-part message in MIME format.\n"
	for k in range(n):
		out += "--%s\n%s\n" % (b, _tree(rnd, depth + 1, "%s%d" % (path, k + 1)))
	out += "--%s--\n" % b
	if rnd.random() < 0.2:
		out += "epilogue\n"
	return out


def generated(n=16, seed=4):
	rnd = random.Random(seed)
	out = []
	for i in range(n):
		name = "gen%02d" % i
		text = _msg(name, "generated %d" % i, "MIME-Version: 1.0\n" + _tree(rnd, 0, "p"))
		out.append((name, _lf(text) if i % 5 == 4 else _crlf(text)))
	return out


def corpus():
	return hand_made() + generated()

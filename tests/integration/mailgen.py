"""mailgen.py - deterministic real-world-shaped test messages for the real-client sync tests
(shapes after /work/shared/design/reference/scripts/gen_mbox.py): plain text, multipart/
alternative text+HTML, multipart/mixed with a base64 attachment, a forwarded message/rfc822,
RFC 2047 encoded-word subjects and 8-bit UTF-8 bodies, folded long headers, threads through
In-Reply-To/References. Sizes roughly 0.5 KiB .. 40 KiB (median ~3 KiB). Every message has a
unique Message-ID "<PREFIX.N@gen.test>" so both sides of a sync can be matched by it; lines end
in CRLF (messages as they travel over IMAP). Also Maildir helpers (write, read, flags).
"""
import base64
import email.utils
import hashlib
import os
import random
import re

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
	"sigma tau upsilon phi chi psi omega meeting report budget server mailbox invoice release "
	"patch review schedule holiday lunch").split()
UWORDS = ("grüße", "naïve", "café", "smørrebrød", "日本語", "Привет", "ünïcödé")


def _text(rnd, nw, utf8=False):
	lines, line = [], []
	for _ in range(nw):
		line.append(rnd.choice(UWORDS) if utf8 and rnd.random() < 0.1 else rnd.choice(WORDS))
		if len(line) == 12:
			lines.append(" ".join(line))
			line = []
	lines.append(" ".join(line))
	return "\n".join(lines)


def _ew(s):
	"""RFC 2047 B encoded word."""
	return "=?UTF-8?B?%s?=" % base64.b64encode(s.encode()).decode()


def message(i, prefix="gen", seed=1):
	"""Message number i (bytes, CRLF). Deterministic in (i, prefix, seed)."""
	rnd = random.Random("%s-%d-%d" % (prefix, seed, i))
	t = 1700000000 + i * 37
	frm = "sender%d@example.test" % rnd.randint(1, 50)
	mid = "<%s.%d@gen.test>" % (prefix, i)
	subj = "%s %s #%d" % (rnd.choice(WORDS), rnd.choice(WORDS), i)
	kind = rnd.random()
	utf8 = rnd.random() < 0.2
	hdr = ["Return-Path: <%s>" % frm, "Date: " + email.utils.formatdate(t),
		"From: Sender %d <%s>" % (i % 50, frm), "To: user@example.test",
		"Subject: " + (_ew(subj + " " + rnd.choice(UWORDS)) if utf8 else subj),
		"Message-ID: " + mid, "MIME-Version: 1.0"]
	if rnd.random() < 0.2:
		hdr.append("X-Long-Header: " + "\n\t".join(_text(rnd, 40).split("\n")))
	if i > 1 and rnd.random() < 0.3:
		ref = "<%s.%d@gen.test>" % (prefix, rnd.randint(max(1, i - 20), i - 1))
		hdr += ["In-Reply-To: " + ref, "References: " + ref]
	nw = max(20, min(int(rnd.lognormvariate(5.5, 0.9)), 5000))
	cs = "utf-8" if utf8 else "us-ascii"
	enc = "Content-Transfer-Encoding: 8bit" if utf8 else "Content-Transfer-Encoding: 7bit"
	if kind < 0.5:
		hdr += ["Content-Type: text/plain; charset=%s" % cs, enc]
		body = _text(rnd, nw, utf8)
	elif kind < 0.75:
		b = "=-=alt%06d=-=" % i
		hdr.append('Content-Type: multipart/alternative; boundary="%s"' % b)
		tx = _text(rnd, nw, utf8)
		body = ("This is a multi-part message in MIME format.\n\n--%s\nContent-Type: text/plain; "
			"charset=%s\n%s\n\n%s\n--%s\nContent-Type: text/html; charset=%s\n%s\n\n"
			"<html><body><p>%s</p></body></html>\n--%s--" % (b, cs, enc, tx, b, cs, enc,
			tx.replace("\n", "<br>\n"), b))
	elif kind < 0.92:
		b = "=-=mix%06d=-=" % i
		hdr.append('Content-Type: multipart/mixed; boundary="%s"' % b)
		att = base64.encodebytes(rnd.randbytes(rnd.randint(300, 24000))).decode()
		body = ("--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s\n--%s\nContent-Type: "
			"application/octet-stream; name=\"file%d.bin\"\nContent-Transfer-Encoding: base64\n"
			"Content-Disposition: attachment; filename=\"file%d.bin\"\n\n%s--%s--"
			% (b, _text(rnd, nw // 4), b, i, i, att, b))
	else:
		b = "=-=fwd%06d=-=" % i
		hdr.append('Content-Type: multipart/mixed; boundary="%s"' % b)
		inner = ("From: Someone <someone@example.test>\nSubject: inner %d\nDate: %s\n"
			"Message-ID: <inner.%s.%d@gen.test>\nContent-Type: text/plain; charset=us-ascii\n\n%s"
			% (i, email.utils.formatdate(t - 3600), prefix, i, _text(rnd, nw // 2)))
		body = ("--%s\nContent-Type: text/plain\n\nForwarded message below.\n--%s\n"
			"Content-Type: message/rfc822\n\n%s\n--%s--" % (b, b, inner, b))
	text = "\n".join(hdr) + "\n\n" + body + "\n"
	return text.replace("\n", "\r\n").encode("utf-8")


def message_id(raw):
	m = re.search(rb"^Message-ID: (<[^>]+>)", raw, re.M | re.I)
	return m.group(1).decode() if m else None


def digest(raw):
	"""Content hash independent of line ends (Maildir stores LF, IMAP carries CRLF) and of the
	X-TUID header mbsync adds to every message it copies (to recover interrupted syncs)."""
	raw = raw.replace(b"\r\n", b"\n")
	head, sep, body = raw.partition(b"\n\n")
	head = re.sub(rb"(^|\n)X-TUID: [^\n]*", b"", head)
	return hashlib.sha256(head + sep + body).hexdigest()


# ---------------------------------------------------------------- Maildir

def maildir_make(path):
	for sub in ("cur", "new", "tmp"):
		os.makedirs(os.path.join(path, sub), exist_ok=True)


def maildir_put(path, raw, name, flags=""):
	"""Store raw (LF line ends, as MUAs write Maildir) as cur/NAME:2,FLAGS (or new/ without)."""
	maildir_make(path)
	data = raw.replace(b"\r\n", b"\n")
	if flags is None:
		fn = os.path.join(path, "new", name)
	else:
		fn = os.path.join(path, "cur", "%s:2,%s" % (name, flags))
	with open(fn, "wb") as f:
		f.write(data)
	return fn


def maildir_files(path):
	"""[(fullpath, flags)] of every message in a Maildir (flags '' for new/)."""
	out = []
	for sub in ("new", "cur"):
		d = os.path.join(path, sub)
		if not os.path.isdir(d):
			continue
		for fn in sorted(os.listdir(d)):
			flags = fn.split(":2,", 1)[1] if ":2," in fn else ""
			out.append((os.path.join(d, fn), flags))
	return out


def maildir_index(path):
	"""{Message-ID: (digest, flags, fullpath)}; raises on duplicate Message-IDs."""
	idx = {}
	for fn, flags in maildir_files(path):
		with open(fn, "rb") as f:
			raw = f.read()
		mid = message_id(raw)
		if mid in idx:
			raise AssertionError("duplicate %s in %s (%s and %s)" % (mid, path, idx[mid][2], fn))
		idx[mid] = (digest(raw), "".join(sorted(flags)), fn)
	return idx


def maildir_set_flags(fullpath, flags):
	"""Rename a cur/ (or new/) message to carry exactly flags; returns the new path."""
	d, fn = os.path.split(fullpath)
	base = fn.split(":2,", 1)[0]
	newp = os.path.join(os.path.dirname(d), "cur", "%s:2,%s" % (base, "".join(sorted(flags))))
	os.rename(fullpath, newp)
	return newp


# IMAP system flag <-> Maildir letter
IMAP_TO_MD = {"\\Seen": "S", "\\Answered": "R", "\\Flagged": "F", "\\Deleted": "T", "\\Draft": "D"}


# ---------------------------------------------------------------- server side (imaplib)

def imap_append_all(m, folder, msgs, flags_of=None):
	"""APPEND every raw message to folder (flags_of(i) -> "(\\Seen)" or None)."""
	for i, raw in enumerate(msgs):
		fl = flags_of(i) if flags_of else None
		typ, data = m.append(folder, fl, None, raw)
		if typ != "OK":
			raise AssertionError("APPEND %s: %s %r" % (folder, typ, data))


def imap_index(m, folder):
	"""{Message-ID: (digest, maildir-letters-of-flags, uid)} of folder (read-only SELECT)."""
	typ, data = m.select('"%s"' % folder, readonly=True)
	if typ != "OK":
		raise AssertionError("EXAMINE %s: %r" % (folder, data))
	idx = {}
	if int(data[0]) == 0:
		return idx
	typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
	if typ != "OK":
		raise AssertionError("UID FETCH %s: %r" % (folder, data))
	for d in data:
		if not isinstance(d, tuple):
			continue
		head, raw = d
		uid = int(re.search(rb"UID (\d+)", head).group(1))
		fl = re.search(rb"FLAGS \(([^)]*)\)", head).group(1).decode().split()
		letters = "".join(sorted(IMAP_TO_MD[f] for f in fl if f in IMAP_TO_MD))
		mid = message_id(raw)
		if mid in idx:
			raise AssertionError("duplicate %s in server folder %s" % (mid, folder))
		idx[mid] = (digest(raw), letters, uid)
	return idx


# ---------------------------------------------------------------- both sides

def server_state(node, user, pw, skip_empty=()):
	"""{folder: imap_index} of every mailbox of the account (imaplib over implicit TLS)."""
	import mrlib
	m = node.imap(user, pw)
	try:
		boxes = sorted(name for _, name in mrlib.imap_list(m))
		return {b: imap_index(m, b) for b in boxes}
	finally:
		mrlib.quiet_close(m)


def local_state(root, name_of=lambda d: d):
	"""{folder: maildir_index} of every Maildir directly under root (name_of maps dir names)."""
	out = {}
	for d in sorted(os.listdir(root)):
		p = os.path.join(root, d)
		if os.path.isdir(os.path.join(p, "cur")):
			out[name_of(d)] = maildir_index(p)
	return out


def check_same(srv, loc, ignore_flags=""):
	"""Both sides hold the same folders, messages (by Message-ID and content) and flags."""
	import mrlib
	mrlib.eq(sorted(loc), sorted(srv), "folders (local vs server)")
	for box in srv:
		s, l = srv[box], loc[box]
		mrlib.eq(sorted(l), sorted(s), "Message-IDs of %s (local vs server)" % box)
		for mid in s:
			mrlib.eq(l[mid][0], s[mid][0], "content of %s in %s" % (mid, box))
			lf = "".join(c for c in l[mid][1] if c not in ignore_flags)
			sf = "".join(c for c in s[mid][1] if c not in ignore_flags)
			mrlib.eq(lf, sf, "flags of %s in %s" % (mid, box))


def local_files(loc):
	return sorted(p for box in loc.values() for (_, _, p) in box.values())

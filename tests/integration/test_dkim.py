"""test_dkim.py - node/dkim checked against an independent DKIM implementation, Python's dkimpy
(Debian python3-dkim; Ed25519 needs python3-nacl), through tests/tools/dkimtool. No daemon runs.

Both directions, both algorithms (rsa-sha256 2048, ed25519-sha256, RFC 8463):
- messages signed by `dkimtool sign` (relaxed/relaxed and simple/simple) verify with
  dkim.verify(), keys made by `dkimtool keygen` whose TXT value dkimpy parses; tampered header or
  body makes dkimpy fail;
- messages signed by dkim.sign() (relaxed/relaxed, simple/simple, relaxed/simple, with l=),
  with keys made by openssl / PyNaCl and TXT values computed by openssl / PyNaCl, verify with
  `dkimtool verify`; tampered ones fail there;
- a message carrying one signature from each side verifies on both sides;
- key lookup outcomes: no record -> permerror, lookup failure -> temperror.
Run: /usr/bin/python3 tests/integration/test_dkim.py --bin-dir BUILD
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mrtest  # noqa: E402
from mrtest import check  # noqa: E402

try:
	import dkim  # python3-dkim
	import nacl.encoding  # python3-nacl
	import nacl.signing
except ImportError as e:  # pragma: no cover
	print("FAIL setup\n    needs apt packages python3-dkim python3-nacl: %s" % e)
	print("0 passed, 1 failed")
	sys.exit(1)

DOMAIN = "example.com"
TOOL_TIMEOUT = 30
STATE = {}

MESSAGES = [
	b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: plain\r\n"
	b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <a1@example.com>\r\n\r\n"
	b"Hello Bob.\r\n",
	# folded headers, whitespace runs, two To fields, trailing empty lines
	b"From: alice@example.com\r\nTo: b1@example.org,\r\n\tb2@example.org\r\nTo: c@example.org\r\n"
	b"Subject:   folded\r\n  subject   line  \r\nCc: x@example.net\r\n"
	b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	b"Line with trailing space   \r\n\tTabbed  line\r\n\r\n\r\n\r\n",
	# empty body
	b"From: alice@example.com\r\nSubject: empty\r\n\r\n",
	# 8-bit body, no final CRLF, long line
	b"From: alice@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\n"
	+ "Caf\u00e9 cr\u00e8me\r\n".encode() + b"x" * 900 + b"\r\nlast line",
]


def tool():
	return os.path.join(mrtest.ARGS.bin_dir, "tests", "dkimtool")


def run_tool(args, data=b"", expect_rc=0):
	p = subprocess.run([tool()] + args, input=data, capture_output=True, timeout=TOOL_TIMEOUT)
	err = p.stderr.decode(errors="replace")
	for pat in mrtest.SANITIZER_PATTERNS:
		check(pat not in err, "sanitizer report from dkimtool %s:\n%s" % (args[0], err[:3000]))
	if expect_rc is not None:
		check(p.returncode == expect_rc, "dkimtool %s: rc %d, want %d\nstdout: %s\nstderr: %s" % (
			" ".join(args[:1]), p.returncode, expect_rc, p.stdout[:2000], err[:2000]))
	return p.stdout


def dnsfunc_for(records):
	"""dkimpy's DNS hook: records maps 'sel._domainkey.dom' to TXT text."""
	def dnsfunc(name, timeout=5):
		n = name.decode() if isinstance(name, bytes) else name
		txt = records.get(n.rstrip(".").lower())
		return txt.encode() if txt is not None else None
	return dnsfunc


def txt_args(records):
	out = []
	for name, txt in records.items():
		out += ["--txt", "%s=%s" % (name, txt)]
	return out


def tamper(msg):
	"""Two tampered copies: a signed header changed, the body changed."""
	h = msg.replace(b"Subject: ", b"Subject: RE: ", 1)
	i = msg.index(b"\r\n\r\n") + 4
	b = msg[:i] + b"Injected line\r\n" + msg[i:]
	check(h != msg and b != msg, "tamper did not change the message")
	return h, b


def setup(env):
	d = tempfile.mkdtemp(prefix="mr-dkim-")
	STATE["dir"] = d
	# our keys, our TXT values
	ours = {}
	for alg, sel in (("rsa", "ourrsa"), ("ed25519", "oured")):
		path = os.path.join(d, sel + ".pem")
		txt = run_tool(["keygen", "--alg", alg, "--out", path]).decode().strip()
		check(txt.startswith("v=DKIM1; k=%s; p=" % alg), "keygen TXT: %r" % txt)
		check(os.stat(path).st_mode & 0o077 == 0, "private key file readable by others")
		check(run_tool(["txt", "--key", path]).decode().strip() == txt, "txt != keygen TXT")
		ours[sel] = (alg, path, txt)
	# their keys: RSA from the openssl CLI (PKCS#1 PEM for dkimpy), Ed25519 from PyNaCl
	rsa_pem = os.path.join(d, "their-rsa.pem")
	subprocess.run(["openssl", "genrsa", "-traditional", "-out", rsa_pem, "2048"], check=True,
		capture_output=True, timeout=TOOL_TIMEOUT)
	der = subprocess.run(["openssl", "rsa", "-in", rsa_pem, "-pubout", "-outform", "DER"],
		check=True, capture_output=True, timeout=TOOL_TIMEOUT).stdout
	sk = nacl.signing.SigningKey.generate()
	theirs = {
		"theirrsa": ("rsa", open(rsa_pem, "rb").read(),
			"v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()),
		"theired": ("ed25519", sk.encode(encoder=nacl.encoding.Base64Encoder),
			"v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key)).decode()),
	}
	STATE["ours"] = ours
	STATE["theirs"] = theirs
	STATE["records"] = {"%s._domainkey.%s" % (s, DOMAIN): v[2] for s, v in ours.items()}
	STATE["records"].update({"%s._domainkey.%s" % (s, DOMAIN): v[2] for s, v in theirs.items()})


def teardown(env):
	if STATE.get("dir") and not mrtest.ARGS.keep:
		shutil.rmtree(STATE["dir"], ignore_errors=True)


def our_sign(sel, msg, canon="relaxed/relaxed"):
	alg, path, _ = STATE["ours"][sel]
	return run_tool(["sign", "--domain", DOMAIN, "--selector", sel, "--key", path, "--alg", alg,
		"--canon", canon], msg)


def their_verify(msg, idx=0):
	d = dkim.DKIM(msg)
	try:
		return d.verify(idx=idx, dnsfunc=dnsfunc_for(STATE["records"]))
	except dkim.ValidationError:  # DKIM.verify raises on a hash mismatch
		return False


def our_verify(msg, expect_rc):
	return run_tool(["verify"] + txt_args(STATE["records"]), msg, expect_rc=expect_rc).decode()


def test_ours_verified_by_dkimpy(env):
	n = 0
	for sel in ("ourrsa", "oured"):
		alg = STATE["ours"][sel][0]
		for canon in ("relaxed/relaxed", "simple/simple"):
			for i, msg in enumerate(MESSAGES):
				signed = our_sign(sel, msg, canon)
				check(signed.startswith(b"DKIM-Signature: v=1; a=%s-sha256; c=%s;" % (
					alg.encode(), canon.encode())), "signature field: %r" % signed[:80])
				check(b"h=from:from:" in signed or b"h=from:from;" in signed,
					"From not oversigned: %r" % signed[:400])
				check(their_verify(signed) is True,
					"dkimpy rejects our %s %s signature on message %d:\n%r" % (
						alg, canon, i, signed[:1500]))
				for bad in tamper(signed) if b"Subject: " in msg else tamper(signed)[1:]:
					check(their_verify(bad) is False,
						"dkimpy accepts tampered message %d (%s %s)" % (i, alg, canon))
				n += 1
	check(n == 16, "ran %d signings" % n)


def test_dkimpy_verified_by_ours(env):
	for sel, (alg, key, _) in STATE["theirs"].items():
		for canon in ((b"relaxed", b"relaxed"), (b"simple", b"simple"), (b"relaxed", b"simple")):
			for i, msg in enumerate(MESSAGES):
				sig = dkim.sign(msg, sel.encode(), DOMAIN.encode(), key,
					canonicalize=canon, signature_algorithm=("%s-sha256" % alg).encode())
				signed = sig + msg
				out = our_verify(signed, 0)
				want = "pass d=%s s=%s a=%s-sha256 \n" % (DOMAIN, sel, alg)
				check(out == want, "message %d %s %r: %r, want %r" % (i, alg, canon, out, want))
				for bad in tamper(signed) if b"Subject: " in msg else tamper(signed)[1:]:
					out = our_verify(bad, 1)
					check(out.startswith("fail d=%s s=%s" % (DOMAIN, sel)),
						"tampered message %d (%s %r) gave %r" % (i, alg, canon, out))


def test_dkimpy_length_tag(env):
	"""dkimpy's l= (length=True): appended text still passes, a changed signed part fails."""
	for sel, (alg, key, _) in STATE["theirs"].items():
		msg = MESSAGES[0]
		sig = dkim.sign(msg, sel.encode(), DOMAIN.encode(), key, length=True,
			canonicalize=(b"relaxed", b"relaxed"),
			signature_algorithm=("%s-sha256" % alg).encode())
		check(b" l=" in sig or b";l=" in sig or b"\tl=" in sig, "no l= in %r" % sig)
		signed = sig + msg
		our_verify(signed, 0)
		out = our_verify(signed + b"-- \r\nappended footer\r\n", 0)
		check(out.startswith("pass"), "appended text after l= failed: %r" % out)
		out = our_verify(signed.replace(b"Hello Bob", b"Hello Eve"), 1)
		check("body hash mismatch" in out, "changed signed body: %r" % out)


def test_both_signatures(env):
	"""One message, signed first by us (ed25519) and then by dkimpy (rsa): both verify it all."""
	msg = MESSAGES[1]
	ours = our_sign("oured", msg)
	alg, key, _ = STATE["theirs"]["theirrsa"]
	both = dkim.sign(ours, b"theirrsa", DOMAIN.encode(), key,
		canonicalize=(b"relaxed", b"relaxed")) + ours
	check(their_verify(both, 0) is True and their_verify(both, 1) is True,
		"dkimpy does not verify both signatures")
	out = our_verify(both, 0)
	check(out == "pass d=%s s=theirrsa a=rsa-sha256 \npass d=%s s=oured a=ed25519-sha256 \n" % (
		DOMAIN, DOMAIN), "two signatures: %r" % out)
	out = run_tool(["verify", "--ar"] + txt_args(STATE["records"]), both).decode()
	ar = out.splitlines()[-1]
	check(ar.startswith("Authentication-Results: test; dkim=pass header.d=example.com "
		"header.i=@example.com header.s=theirrsa header.a=rsa-sha256 header.b=")
		and "; dkim=pass header.d=example.com header.i=@example.com header.s=oured "
		"header.a=ed25519-sha256 header.b=" in ar, "A-R line: %r" % ar)
	bad = both.replace(b"Tabbed", b"Tabbeb")
	out = our_verify(bad, 1)
	check(out.count("fail") == 2 and "body hash mismatch" in out, "tampered: %r" % out)
	check(their_verify(bad, 0) is False and their_verify(bad, 1) is False,
		"dkimpy accepts tampered doubly signed message")


def test_key_lookup_outcomes(env):
	signed = our_sign("ourrsa", MESSAGES[0])
	out = run_tool(["verify"], signed, expect_rc=1).decode()
	check(out == "permerror d=%s s=ourrsa a=rsa-sha256 no key record\n" % DOMAIN, repr(out))
	out = run_tool(["verify", "--txt", "ourrsa._domainkey.%s=TEMPFAIL" % DOMAIN], signed,
		expect_rc=1).decode()
	check(out == "temperror d=%s s=ourrsa a=rsa-sha256 key lookup failed\n" % DOMAIN, repr(out))
	# the Ed25519 key published for the RSA selector
	out = run_tool(["verify", "--txt", "ourrsa._domainkey.%s=%s" % (
		DOMAIN, STATE["ours"]["oured"][2])], signed, expect_rc=1).decode()
	check(out.startswith("permerror") and "key type does not match a=" in out, repr(out))
	out = run_tool(["verify"], MESSAGES[0], expect_rc=1).decode()
	check(out == "none\n", repr(out))


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup, teardown=teardown)

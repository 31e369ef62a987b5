"""test_dns.py - the node's resolver (node/dns, libunbound on the libuv loop) against a REAL
authoritative DNS server: nsd, started here on 127.0.0.1 with a port from ports.py, serving
  - example.test, DNSSEC-signed here with ldns-keygen/ldns-signzone (ECDSA P-256, NSEC): MX
    (given out of order), A, AAAA, a CNAME (followed), SPF TXT, a TXT of odd bytes (empty
    string, quote, 0xff), a DKIM TXT of 420 bytes split into two
    character-strings, a name with two TXT records, TLSA, a null MX domain (RFC 7505), a name
    with only TXT (NODATA for A/MX), and one A record altered after signing (bogus);
  - plain.test and 5.32.172.in-addr.arpa (PTR; the TEST-NET reverse zones are answered
    locally by unbound), both unsigned.
The lookups run through tests/tools/dnsq (all concurrently on one loop, one line each) with
--server pointing at nsd. Checked exactly: every record and status (ok, nxdomain, nodata,
tempfail for a REFUSED zone), MX sorting and null MX, TXT joining; with the KSK as trust anchor
the signed answers and denials are secure=1, the altered record is bogus, unsigned zones stay
secure=0; a silent UDP server makes queries end with "tempfail (timeout)" on time; destroying
the resolver with queries pending calls no callback. nsd and the silent socket are stopped and
the temporary directory removed at the end. Needs: nsd, ldnsutils."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
from mrtest import check, HOST  # noqa: E402
from ports import free_port, free_ports  # noqa: E402

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"
DNSQ_TIMEOUT = 30

DKIM_P1 = "v=DKIM1; k=rsa; p=" + "A" * 180 + "B" * 52      # 250 bytes
DKIM_P2 = "C" * 150 + "D" * 20                               # 170 bytes
TLSA_HEX = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"

EXAMPLE_ZONE = """$ORIGIN example.test.
$TTL 300
@        IN SOA ns1.example.test. hostmaster.example.test. 1 3600 900 604800 300
@        IN NS  ns1
ns1      IN A   127.0.0.1
@        IN MX  30 mx3
@        IN MX  10 mx1
@        IN MX  20 mx2
@        IN A   192.0.2.10
@        IN AAAA 2001:db8::10
@        IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx1      IN A   192.0.2.1
mx1      IN AAAA 2001:db8::1
mx2      IN A   192.0.2.2
mx3      IN A   192.0.2.3
sel._domainkey IN TXT ( "%s" "%s" )
multi    IN TXT "second" " part"
multi    IN TXT "first"
_25._tcp.mx1 IN TLSA 3 1 1 %s
nomail   IN MX  0 .
textonly IN TXT "only text"
tampered IN A   192.0.2.99
alias    IN CNAME mx1
odd      IN TXT "" "a\\"b" "\\255;x"
""" % (DKIM_P1, DKIM_P2, TLSA_HEX)

PLAIN_ZONE = """$ORIGIN plain.test.
$TTL 300
@  IN SOA ns1.plain.test. hostmaster.plain.test. 1 3600 900 604800 300
@  IN NS  ns1
ns1 IN A 127.0.0.1
@  IN A  198.51.100.7
@  IN MX 5 mail.plain.test.
"""

PTR_ZONE = """$ORIGIN 5.32.172.in-addr.arpa.
$TTL 300
@  IN SOA ns1.example.test. hostmaster.example.test. 1 3600 900 604800 300
@  IN NS  ns1.example.test.
10 IN PTR mail.example.test.
"""


def run(cmd, cwd=None):
	p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
		timeout=60, text=True)
	check(p.returncode == 0, "%s failed (%d): %s" % (cmd[0], p.returncode, p.stderr))
	return p.stdout


def sign_zone(d):
	"""KSK + ZSK, sign; then alter tampered.example.test's A so its RRSIG no longer matches.
	Returns the trust-anchor file (the KSK's DNSKEY record)."""
	ksk = run([KEYGEN, "-a", "ECDSAP256SHA256", "-k", "example.test"], cwd=d).strip()
	zsk = run([KEYGEN, "-a", "ECDSAP256SHA256", "example.test"], cwd=d).strip()
	run([SIGNZONE, "-f", os.path.join(d, "example.test.signed"), os.path.join(d, "example.test.zone"),
		os.path.join(d, zsk), os.path.join(d, ksk)], cwd=d)
	path = os.path.join(d, "example.test.signed")
	with open(path) as f:
		lines = f.read().splitlines()
	n = 0
	for i, ln in enumerate(lines):
		if ln.startswith("tampered.example.test.") and "\tA\t192.0.2.99" in ln:
			lines[i] = ln.replace("192.0.2.99", "192.0.2.98")
			n += 1
	check(n == 1, "tampered record not found in the signed zone")
	with open(path, "w") as f:
		f.write("\n".join(lines) + "\n")
	return os.path.join(d, ksk + ".key")


class Nsd:
	def __init__(self):
		self.dir = tempfile.mkdtemp(prefix="mrtest-nsd-")
		self.port = free_port()
		self.proc = None

	def start(self):
		check(os.access(NSD, os.X_OK), "nsd not installed (apt-get install nsd)")
		check(os.access(SIGNZONE, os.X_OK), "ldns-signzone not installed (apt-get install ldnsutils)")
		d = self.dir
		for name, text in (("example.test.zone", EXAMPLE_ZONE), ("plain.test.zone", PLAIN_ZONE),
				("ptr.zone", PTR_ZONE)):
			with open(os.path.join(d, name), "w") as f:
				f.write(text)
		self.ta = sign_zone(d)
		conf = os.path.join(d, "nsd.conf")
		with open(conf, "w") as f:
			f.write("""server:
	ip-address: %s
	port: %d
	username: ""
	chroot: ""
	zonesdir: "%s"
	database: ""
	pidfile: "%s/nsd.pid"
	xfrdfile: "%s/xfrd.state"
	zonelistfile: "%s/zone.list"
	logfile: "%s/nsd.log"
	server-count: 1
	verbosity: 1
remote-control:
	control-enable: no
zone:
	name: example.test
	zonefile: example.test.signed
zone:
	name: plain.test
	zonefile: plain.test.zone
zone:
	name: 5.32.172.in-addr.arpa
	zonefile: ptr.zone
""" % (HOST, self.port, d, d, d, d, d))
		run([shutil.which("nsd-checkconf") or "/usr/sbin/nsd-checkconf", conf])
		self.proc = subprocess.Popen([NSD, "-d", "-c", conf], stdin=subprocess.DEVNULL,
			stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
			preexec_fn=mrtest._die_with_parent)
		mrtest.wait_for(self.answers, timeout=15, what="nsd on port %d" % self.port)

	def answers(self):
		"""One raw UDP query for example.test SOA: true once nsd answers."""
		q = bytes.fromhex("1234 0000 0001 0000 0000 0000".replace(" ", "")) + \
			b"\x07example\x04test\x00\x00\x06\x00\x01"
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.settimeout(0.3)
		try:
			s.sendto(q, (HOST, self.port))
			data = s.recv(512)
			return data[:2] == b"\x12\x34"
		except OSError:
			return False
		finally:
			s.close()

	def stop(self):
		if self.proc is not None:
			self.proc.terminate()
			try:
				self.proc.wait(timeout=10)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
			self.proc = None

	def cleanup(self):
		self.stop()
		if not mrtest.ARGS.keep:
			shutil.rmtree(self.dir, ignore_errors=True)


def dnsq(env, queries, server=None, ta=None, timeout_ms=5000, destroy_after=None, rc=0):
	"""Run dnsq; returns (lines, seconds)."""
	cmd = [os.path.join(mrtest.ARGS.bin_dir, "tests", "dnsq"),
		"--server", server or "%s:%d" % (HOST, env.nsd.port), "--timeout", str(timeout_ms)]
	if ta:
		cmd += ["--ta", ta]
	if destroy_after is not None:
		cmd += ["--destroy-after", str(destroy_after)]
	for t, n in queries:
		cmd += [t, n]
	e = dict(os.environ)
	e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
	t0 = time.monotonic()
	p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
		timeout=DNSQ_TIMEOUT, env=e)
	dt = time.monotonic() - t0
	check(p.returncode == rc, "dnsq exit %d (want %d)\nstdout:\n%s\nstderr:\n%s" %
		(p.returncode, rc, p.stdout, p.stderr))
	check("Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr)
	return p.stdout.splitlines(), dt


def expect(env, want, **kw):
	"""want: list of (type, name, expected line)."""
	lines, _ = dnsq(env, [(t, n) for t, n, _ in want], **kw)
	got = "\n".join(lines)
	exp = "\n".join(w for _, _, w in want)
	check(got == exp, "dnsq output differs\n--- got\n%s\n--- want\n%s" % (got, exp))


# ---------------------------------------------------------------- tests

BASIC = [
	("MX", "example.test", "MX example.test ok secure=%(s)d n=3 10:mx1.example.test "
		"20:mx2.example.test 30:mx3.example.test"),
	("A", "example.test", "A example.test ok secure=%(s)d n=1 192.0.2.10"),
	("AAAA", "example.test", "AAAA example.test ok secure=%(s)d n=1 2001:db8::10"),
	("A", "mx1.example.test.", "A mx1.example.test. ok secure=%(s)d n=1 192.0.2.1"),
	("TXT", "example.test", 'TXT example.test ok secure=%(s)d n=1 "v=spf1 ip4:192.0.2.0/24 -all"'),
	("TXT", "sel._domainkey.example.test", 'TXT sel._domainkey.example.test ok secure=%%(s)d n=1 "%s%s"'
		% (DKIM_P1, DKIM_P2)),
	("TXT", "multi.example.test", 'TXT multi.example.test ok secure=%(s)d n=2 "first" "second part"'),
	("TLSA", "_25._tcp.mx1.example.test", "TLSA _25._tcp.mx1.example.test ok secure=%%(s)d n=1 3,1,1,%s"
		% TLSA_HEX),
	("MX", "nomail.example.test", "MX nomail.example.test ok secure=%(s)d n=0 null_mx=1"),
	("A", "nx.example.test", "A nx.example.test nxdomain secure=%(s)d n=0"),
	("MX", "nx.example.test", "MX nx.example.test nxdomain secure=%(s)d n=0"),
	("A", "textonly.example.test", "A textonly.example.test nodata secure=%(s)d n=0"),
	("MX", "mx1.example.test", "MX mx1.example.test nodata secure=%(s)d n=0"),
	("TLSA", "_25._tcp.mx2.example.test", "TLSA _25._tcp.mx2.example.test nxdomain secure=%(s)d n=0"),
	("A", "alias.example.test", "A alias.example.test ok secure=%(s)d n=1 192.0.2.1"),
	("TXT", "odd.example.test", 'TXT odd.example.test ok secure=%(s)d n=1 "a\\x22b\\xff;x"'),
]
UNSIGNED = [
	("A", "plain.test", "A plain.test ok secure=0 n=1 198.51.100.7"),
	("MX", "plain.test", "MX plain.test ok secure=0 n=1 5:mail.plain.test"),
	("PTR", "172.32.5.10", "PTR 172.32.5.10 ok secure=0 n=1 mail.example.test"),
	("PTR", "172.32.5.11", "PTR 172.32.5.11 nxdomain secure=0 n=0"),
]


def test_records_no_dnssec(env):
	"""No trust anchor: the same zone, every answer secure=0."""
	want = [(t, n, w % {"s": 0}) for t, n, w in BASIC] + UNSIGNED
	want.append(("A", "tampered.example.test", "A tampered.example.test ok secure=0 n=1 192.0.2.98"))
	expect(env, want)


def test_records_dnssec(env):
	"""KSK as trust anchor: signed data and signed denials (NSEC) are secure, unsigned zones
	insecure (no anchor covers them), the altered record bogus."""
	want = [(t, n, w % {"s": 1}) for t, n, w in BASIC] + UNSIGNED
	want.append(("A", "tampered.example.test", "A tampered.example.test bogus secure=0 n=0"))
	expect(env, want, ta=env.nsd.ta)


def test_refused_is_tempfail(env):
	"""A zone nsd does not serve: REFUSED from the forwarder becomes tempfail, not nxdomain."""
	lines, _ = dnsq(env, [("A", "other.test"), ("MX", "example.org"), ("A", "x.invalid")])
	check(len(lines) == 3, lines)
	for ln, name in zip(lines, ("A other.test", "MX example.org")):
		check(ln.startswith(name + " tempfail secure=0 n=0 ("), ln)
	# RFC 6761 .invalid is answered by libunbound itself, without asking the forwarder
	check(lines[2] == "A x.invalid nxdomain secure=0 n=0", lines[2])


def test_timeout(env):
	"""A server that never answers: tempfail (timeout) after --timeout, not later."""
	lines, dt = dnsq(env, [("A", "example.test"), ("MX", "example.test")],
		server="%s:%d" % (HOST, env.silent_port), timeout_ms=1500)
	check(lines == ["A example.test tempfail secure=0 n=0 (timeout)",
		"MX example.test tempfail secure=0 n=0 (timeout)"], lines)
	check(1.4 <= dt < 6, "took %.2fs for a 1.5 s timeout" % dt)


def test_destroy_cancels(env):
	"""Destroying the resolver with queries pending: no callback at all, clean exit (ASan)."""
	lines, dt = dnsq(env, [("A", "example.test"), ("TXT", "example.test"), ("TLSA", "x.example.test")],
		server="%s:%d" % (HOST, env.silent_port), timeout_ms=20000, destroy_after=300)
	check(lines == ["destroyed pending=3"], lines)
	check(dt < 5, "destroy took %.2fs" % dt)


def test_bad_server_address(env):
	"""A forwarder must be a numeric address: a host name is a configuration error."""
	p = subprocess.run([os.path.join(mrtest.ARGS.bin_dir, "tests", "dnsq"), "--server",
		"dns.example:53", "A", "example.test"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
		text=True, timeout=DNSQ_TIMEOUT)
	check(p.returncode == 2 and "bad DNS resolver address" in p.stderr, p.stderr)


def setup(env):
	env.nsd = Nsd()
	# the silent server: a bound UDP socket nobody reads (and a TCP port nobody listens on)
	env.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	for port in free_ports(4):
		try:
			env.silent.bind((HOST, port))
			env.silent_port = port
			break
		except OSError:
			continue
	env.nsd.start()


def teardown(env):
	if getattr(env, "silent", None):
		env.silent.close()
	if getattr(env, "nsd", None):
		env.nsd.cleanup()


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup, teardown=teardown)

"""test_cluster_ca.py - a node whose certificate comes from another cluster's CA can neither
talk to nor join a cluster (issue 3, mutual TLS between members). A one-node cluster A is
formed the documented way; a foreign node F runs `cluster init` on its own data dir (its own
CA) and starts as its own one-node cluster. Checks: a TLS client presenting F's node
certificate is refused by A's raft port, while A's own certificate completes the handshake
(the probe is proven); a client with no certificate is refused by the raft port; on A's
member RPC port (any TLS client may connect: JOIN is anonymous) a STATUS request spoken as an
nng REQ socket gets status 0 with A's certificate and MR_EAUTH with F's or with none; a node J invited into A (`cluster add` + `cluster join`) but started with F's
credentials in place of the ones it was granted never catches up, never becomes a reachable
voter, and A keeps serving (SMTP 250, same leader and term) and stays healthy once J is
removed."""
import os
import shutil
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import mrcluster  # noqa: E402
from mrtest import check, eq, say  # noqa: E402

DOMAIN = "ca.test"
USER, PW = "u@ca.test", "pw-u"
CRED_FILES = ("ca.crt", "node.crt", "node.key")

mrtest.START_TIMEOUT = 120


def setup(env):
	env.cluster = mrcluster.Cluster(1, prefix="ca", env=env)
	env.cluster.bootstrap()
	env.a = env.cluster.nodes[0]
	env.cluster.provision(DOMAIN, {USER: PW})
	f = mrcluster.ClusterNode("foreign")
	env.nodes.append(f)
	f.ctl_offline("cluster", "init", "--address", f.address, "--id", "1")
	f.id = 1
	f.start(wait=False)
	f.wait_ready(mrtest.START_TIMEOUT)
	env.f = f


def handshake(port, cred_dir=None):
	"""TLS 1.2 client handshake to 127.0.0.1:port presenting the node certificate of cred_dir
	(None: no certificate). True if it completed and the server did not drop us right after."""
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	ctx.maximum_version = ssl.TLSVersion.TLSv1_2
	if cred_dir:
		ctx.load_cert_chain(os.path.join(cred_dir, "node.crt"), os.path.join(cred_dir, "node.key"))
	raw = socket.create_connection((mrtest.HOST, port), timeout=10)
	try:
		s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
	except (ssl.SSLError, OSError):
		raw.close()
		return False
	try:
		# TLS 1.2: the server checks our certificate before its Finished, so a refusal shows in
		# the handshake; a read makes sure we were not dropped right after it.
		s.settimeout(1.0)
		try:
			data = s.recv(1)
			return data != b""
		except socket.timeout:
			return True
		except (ssl.SSLError, OSError):
			return False
	finally:
		s.close()


MR_EAUTH = -10
RPC_STATUS = 2
SP_REQ, SP_REP = 48, 49   # nng protocol numbers (SP over TCP/TLS header)


def _tls(port, cred_dir):
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	ctx.maximum_version = ssl.TLSVersion.TLSv1_2
	if cred_dir:
		ctx.load_cert_chain(os.path.join(cred_dir, "node.crt"), os.path.join(cred_dir, "node.key"))
	raw = socket.create_connection((mrtest.HOST, port), timeout=10)
	try:
		return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
	except (ssl.SSLError, OSError):
		raw.close()
		raise


def _recv(s, n):
	b = b""
	while len(b) < n:
		x = s.recv(n - len(b))
		if not x:
			raise EOFError("closed after %d of %d bytes" % (len(b), n))
		b += x
	return b


def _varint(b, i):
	v = shift = 0
	while True:
		c = b[i]
		i += 1
		v |= (c & 0x7f) << shift
		shift += 7
		if not c & 0x80:
			return v, i


def rpc_status_call(port, cred_dir):
	"""One member-RPC STATUS request, spoken as an nng REQ socket over TLS (SP header, 64-bit
	length-prefixed messages, request id) with an RpcRequest {op = STATUS}; returns the
	RpcReply status (0 or MR_E*)."""
	s = _tls(port, cred_dir)
	try:
		s.sendall(b"\x00SP\x00" + struct.pack(">H", SP_REQ) + b"\x00\x00")
		hdr = _recv(s, 8)
		eq(hdr[:4] + hdr[6:], b"\x00SP\x00\x00\x00", "SP header from the RPC server")
		eq(struct.unpack(">H", hdr[4:6])[0], SP_REP, "RPC server protocol")
		body = struct.pack(">I", 0x80000001) + bytes([0x08, RPC_STATUS])
		s.sendall(struct.pack(">Q", len(body)) + body)
		n = struct.unpack(">Q", _recv(s, 8))[0]
		check(4 <= n < 1 << 20, "RPC reply length %d" % n)
		msg = _recv(s, n)
		eq(msg[:4], struct.pack(">I", 0x80000001), "request id echoed")
		rep = msg[4:]
		check(rep[:1] == b"\x08", "RpcReply without status: %r" % rep[:16])
		z, _ = _varint(rep, 1)
		return (z >> 1) ^ -(z & 1)   # sint32 zigzag
	finally:
		s.close()


def test_rpc_refuses_foreign_certificate(env):
	"""The RPC port accepts any TLS client (JOIN is anonymous), but only a certificate of the
	cluster's CA gets an answer to anything else."""
	a, f = env.a, env.f
	eq(rpc_status_call(a.raft_port + 1, a.cluster_dir), 0, "STATUS with the cluster's own certificate")
	eq(rpc_status_call(a.raft_port + 1, f.cluster_dir), MR_EAUTH, "STATUS with a foreign CA's certificate")
	eq(rpc_status_call(a.raft_port + 1, None), MR_EAUTH, "STATUS without a certificate")


def test_foreign_certificate_refused_by_transport(env):
	a, f = env.a, env.f
	check(os.path.exists(os.path.join(f.cluster_dir, "node.crt")), "cluster init wrote no node.crt")
	with open(os.path.join(a.cluster_dir, "ca.crt"), "rb") as x, open(os.path.join(f.cluster_dir, "ca.crt"), "rb") as y:
		check(x.read() != y.read(), "two cluster init runs produced the same CA")
	eq(handshake(a.raft_port, a.cluster_dir), True, "raft port handshake with the cluster's own certificate")
	eq(handshake(a.raft_port + 1, a.cluster_dir), True, "RPC port handshake with the cluster's own certificate")
	eq(handshake(a.raft_port, f.cluster_dir), False, "raft port handshake with a foreign CA's certificate")
	eq(handshake(a.raft_port, None), False, "raft port handshake without a certificate")
	eq(handshake(f.raft_port, a.cluster_dir), False, "foreign node's raft port with our certificate")


def test_foreign_credentials_cannot_join(env):
	c, a, f = env.cluster, env.a, env.f
	before = a.status()
	check(before and before.get("state") == "leader", "A is not leader: %r" % (before and before.get("raw")))
	j = mrcluster.ClusterNode("joiner")
	env.nodes.append(j)
	c.nodes.append(j)
	token = c.invite(2, j.address, via=a)
	j.ctl_offline("cluster", "join", token, timeout=90)
	for name in CRED_FILES:   # swap in the foreign CA's credentials
		dst = os.path.join(j.cluster_dir, name)
		check(os.path.exists(dst), "cluster join wrote no %s" % name)
		shutil.copyfile(os.path.join(f.cluster_dir, name), dst)
		os.chmod(dst, 0o600)
	j.id = 2
	j.start(wait=False)
	end = time.monotonic() + 12
	while time.monotonic() < end:
		check(a.running(), "A died")
		ms = a.members() or []
		me = next((m for m in ms if m["id"] == 2), None)
		check(not (me and me["role"] == "voter" and me["reachable"] is True),
			"the node with foreign credentials became a reachable voter: %r" % ms)
		st = j.status() if j.running() and os.path.exists(j.admin_socket) else None
		check(not (st and st.get("ready") is True), "the node with foreign credentials is ready: %r" % (st and st["raw"]))
		check(not (st and (st.get("applied") or 0) > 0), "the foreign node applied entries: %r" % (st and st["raw"]))
		time.sleep(0.5)
	r = mrcluster.Delivery(lambda: [a], [USER], 3, workers=1, attempts=1, tag="ca").start().join(60)
	eq(len(r.accepted), 3, "deliveries on A while the foreign node knocks: %r" % r.failed)
	after = a.status()
	eq(after.get("state"), "leader", "A's state")
	eq(after.get("term"), before.get("term"), "A's term (the foreign node must not disturb elections)")
	jl = j.log_text()
	say("#   joiner with foreign credentials: running=%s, log mentions tls/handshake: %s" % (j.running(),
		any(w in jl.lower() for w in ("tls", "handshake", "certificate"))))
	j.kill()
	r = a.ctl("cluster", "remove", "2", check_rc=False, timeout=60)
	say("#   cluster remove 2 -> rc %d %s" % (r.returncode, (r.stdout + r.stderr).strip()[:200]))


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

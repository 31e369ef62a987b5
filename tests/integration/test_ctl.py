"""test_ctl.py - mailraftctl against a real mailraftd: domain/account/alias add, list (human and
--json, parsed with json.loads), rm; the sysexits codes of ctl/mailraftctl.8.md (64 usage,
65 bad data / domain in use, 67 not found, 69 unreachable, 73 already exists); account
passwd (old password refused, new one accepted over IMAP and POP3), --password-stdin and a
generated password; every change is checked through the mail protocols as well; the admin
socket is 0600 and refuses other users. Cluster verbs: on a single node the online ones answer
"not in cluster mode" (69) and status says "mode: single-node"; the offline `cluster init`
creates the CA, node certificate, 0600 keys and the bootstrap marker and refuses a second time
or while the daemon runs (75); `cluster join` with a malformed token fails clearly (65) and
writes nothing."""
import imaplib
import json
import os
import poplib
import re
import smtplib
import socket
import subprocess
import shutil
import tempfile
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean
import mrtest  # noqa: E402
import ports  # noqa: E402
from mrtest import check, eq, contains, make_message  # noqa: E402

D1 = "ctl-one.test"
D2 = "ctl-two.test"


def setup(env):
	n = env.new_node("ctl")
	env.node = n
	n.start()


def strings(obj):
	"""Every string (keys and values) inside a parsed JSON document."""
	out = []
	if isinstance(obj, str):
		out.append(obj)
	elif isinstance(obj, dict):
		for k, v in obj.items():
			out.append(k)
			out += strings(v)
	elif isinstance(obj, list):
		for v in obj:
			out += strings(v)
	return out


def is_sysexit(rc):
	return 64 <= rc <= 78


def fails(env, *args, want=None):
	r = env.node.ctl(*args, check_rc=False)
	check(r.returncode != 0, "mailraftctl %s should fail; stdout %r" % (" ".join(args), r.stdout))
	check(is_sysexit(r.returncode), "mailraftctl %s: exit %d is not a sysexits code" % (" ".join(args), r.returncode))
	if want is not None:
		eq(r.returncode, want, "exit code of mailraftctl %s (stderr %r)" % (" ".join(args), r.stderr))
	check(r.stderr.strip() != "", "mailraftctl %s: no error message on stderr" % " ".join(args))
	return r


def can_login(env, user, pw):
	m = env.node.imap()
	try:
		m.login(user, pw)
		m.logout()
		return True
	except imaplib.IMAP4.error:
		return False
	finally:
		mrtest.quiet_close(m)


def rcpt_code(env, addr):
	s = env.node.smtp()
	try:
		s.mail("sender@remote.test")
		return s.rcpt(addr)[0]
	finally:
		s.close()


def test_domain_add_list_rm(env):
	n = env.node
	n.ctl("domain", "add", D1)
	n.ctl("domain", "add", D2)
	out = n.ctl("domain", "list").stdout
	contains(out, D1, "domain list")
	contains(out, D2, "domain list")
	doc = n.ctl_json("domain", "list")
	check(isinstance(doc, dict) and doc.get("ok") is True and isinstance(doc.get("rows"), list),
		"domain list --json shape {ok, rows}: %r" % doc)
	s = strings(doc)
	check(D1 in s and D2 in s, "domain list --json: %r" % doc)
	n.ctl("domain", "rm", D2)
	check(D2 not in n.ctl("domain", "list").stdout, "removed domain still listed")
	check(D2 not in strings(n.ctl_json("domain", "list")), "removed domain still in --json")
	check(D1 in strings(n.ctl_json("domain", "list")), "the other domain is kept")
	# domain names are case-insensitive
	r = n.ctl("domain", "add", D1.upper(), check_rc=False)
	check(r.returncode != 0, "adding %s again in upper case must fail" % D1.upper())


def test_domain_errors(env):
	fails(env, "domain", "add", D1, want=73)                  # duplicate
	fails(env, "domain", "rm", "never-added.test", want=67)   # unknown
	fails(env, "domain", "add", "not a domain!", want=65)
	fails(env, "domain", "add", "bad-.test", want=65)
	fails(env, "domain", "add", "--", "-bad.test", want=65)
	fails(env, "domain", "add", "a" * 64 + ".test", want=65)
	fails(env, "domain", "add", want=64)


def test_domain_dns(env):
	"""`domain dns`: the records to publish, with this node's hostname and its client ports."""
	n = env.node
	doc = n.ctl_json("domain", "dns", D1)
	host = n.conf["hostname"]
	got = {(r["name"], r["type"]): r["value"] for r in doc["rows"]}
	eq(got.get((D1 + ".", "MX")), "10 %s." % host, "MX")
	eq(got.get((D1 + ".", "TXT")), "v=spf1 mx -all", "SPF")
	eq(got.get(("_dmarc.%s." % D1, "TXT")), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s" % D1, "DMARC")
	for svc, key in (("_submissions._tcp", "submissions"), ("_submission._tcp", "submission"),
			("_imaps._tcp", "imaps"), ("_pop3s._tcp", "pop3s")):
		eq(got.get(("%s.%s." % (svc, D1), "SRV")), "0 1 %d %s." % (n.ports[key], host), svc)
	out = n.ctl("domain", "dns", D1).stdout
	contains(out, "v=spf1 mx -all", "human output")
	fails(env, "domain", "dns", "never-added.test", want=67)
	fails(env, "domain", "dns", "not a domain!", want=65)


def test_domain_in_use(env):
	n = env.node
	n.ctl("domain", "add", "busy.test")
	n.ctl("account", "add", "u@busy.test", "--password", "busy-pw-1")
	fails(env, "domain", "rm", "busy.test", want=65)
	check("busy.test" in strings(n.ctl_json("domain", "list")), "domain removed while in use")
	check(can_login(env, "u@busy.test", "busy-pw-1"), "account of a domain in use")
	n.ctl("account", "rm", "u@busy.test")
	n.ctl("domain", "rm", "busy.test")
	check("busy.test" not in strings(n.ctl_json("domain", "list")), "domain kept after rm")


def test_account_add_list_rm(env):
	n = env.node
	a = "kim@" + D1
	n.ctl("account", "add", a, "--password", "kim-pw-1")
	contains(n.ctl("account", "list").stdout, a, "account list")
	doc = n.ctl_json("account", "list")
	check(a in strings(doc), "account list --json: %r" % doc)
	for v in strings(doc):
		check("kim-pw-1" not in v, "password shown by account list --json")
	check("kim-pw-1" not in n.ctl("account", "list").stdout, "password shown by account list")
	check(can_login(env, a, "kim-pw-1"), "new account can log in over IMAP")
	eq(rcpt_code(env, a), 250, "RCPT to the new account")
	eq(n.send("sender@remote.test", [a], make_message("to-kim", "hello kim\n")), {}, "delivery")
	mrtest.wait_imap_count(n, a, "kim-pw-1", 1)
	n.ctl("account", "rm", a)
	check(a not in n.ctl("account", "list").stdout, "removed account still listed")
	check(a not in strings(n.ctl_json("account", "list")), "removed account in --json")
	check(not can_login(env, a, "kim-pw-1"), "removed account can still log in")
	eq(rcpt_code(env, a), 550, "RCPT to a removed account")


def test_account_errors(env):
	n = env.node
	fails(env, "account", "add", "x@unknown-domain.test", "--password", "pw-123456", want=67)
	n.ctl("account", "add", "lee@" + D1, "--password", "lee-pw-1")
	fails(env, "account", "add", "lee@" + D1, "--password", "other-pw-1", want=73)
	fails(env, "account", "add", "LEE@" + D1.upper(), "--password", "other-pw-1", want=73)
	check(can_login(env, "lee@" + D1, "lee-pw-1"), "duplicate add must not change the password")
	fails(env, "account", "add", "no-at-sign", "--password", "pw-123456", want=65)
	fails(env, "account", "add", "two@@" + D1, "--password", "pw-123456", want=65)
	fails(env, "account", "rm", "ghost@" + D1, want=67)
	fails(env, "account", "passwd", "ghost@" + D1, "--password", "pw-123456", want=67)
	fails(env, "account", "passwd", "lee@" + D1, want=64)
	# --json errors: one object with ok=false and the exit status
	r = n.ctl("account", "rm", "ghost@" + D1, json_out=True, check_rc=False)
	eq(r.returncode, 67, "exit status with --json")
	doc = json.loads(r.stdout)
	check(doc.get("ok") is False and doc.get("exit") == 67 and "ghost@" in doc.get("error", ""),
		"--json error object: %r" % doc)


def test_account_generated_and_stdin_password(env):
	n = env.node
	doc = n.ctl_json("account", "add", "gen@" + D1)
	pw = doc.get("password")
	check(isinstance(pw, str) and len(pw) >= 16, "generated password in --json output: %r" % doc)
	check(can_login(env, "gen@" + D1, pw), "login with the generated password")
	r = subprocess.run([n.ctl_bin, "--socket", n.admin_socket, "account", "passwd", "gen@" + D1, "--password-stdin"],
		input=b"stdin-pw-77\n", capture_output=True, timeout=30)
	eq(r.returncode, 0, "passwd --password-stdin (stderr %r)" % r.stderr)
	check(can_login(env, "gen@" + D1, "stdin-pw-77"), "login with the password read from stdin")
	check(not can_login(env, "gen@" + D1, pw), "generated password still valid after passwd")
	r = subprocess.run([n.ctl_bin, "--socket", n.admin_socket, "account", "passwd", "gen@" + D1, "--password-stdin"],
		input=b"", capture_output=True, timeout=30)
	eq(r.returncode, 65, "empty stdin password")


def test_account_passwd(env):
	n = env.node
	a = "pat@" + D1
	n.ctl("account", "add", a, "--password", "old-pw-1")
	check(can_login(env, a, "old-pw-1"), "login with the initial password")
	n.ctl("account", "passwd", a, "--password", "new-pw-2")
	check(not can_login(env, a, "old-pw-1"), "old password still accepted over IMAP after passwd")
	check(can_login(env, a, "new-pw-2"), "new password refused over IMAP after passwd")
	p = n.pop3()
	try:
		p.user(a)
		try:
			p.pass_("old-pw-1")
			raise mrtest.Fail("old password accepted over POP3")
		except poplib.error_proto:
			pass
		p.user(a)
		p.pass_("new-pw-2")
		p.quit()
	finally:
		p.close()


def test_alias_add_list_rm(env):
	n = env.node
	n.ctl("account", "add", "ann@" + D1, "--password", "ann-pw-1")
	n.ctl("account", "add", "ben@" + D1, "--password", "ben-pw-1")
	al = "both@" + D1
	n.ctl("alias", "add", al, "ann@" + D1)
	n.ctl("alias", "add", al, "ben@" + D1)
	out = n.ctl("alias", "list").stdout
	contains(out, al, "alias list")
	contains(out, "ann@" + D1, "alias list targets")
	contains(out, "ben@" + D1, "alias list targets")
	s = strings(n.ctl_json("alias", "list"))
	check(al in s and "ann@" + D1 in s and "ben@" + D1 in s, "alias list --json: %r" % s)
	subj = "alias-" + mrtest.rand_token(3)
	eq(n.send("sender@remote.test", [al], make_message(subj, "to both\n")), {}, "alias delivery")
	mrtest.wait_imap_count(n, "ann@" + D1, "ann-pw-1", 1)
	mrtest.wait_imap_count(n, "ben@" + D1, "ben-pw-1", 1)
	# remove one target
	n.ctl("alias", "rm", al, "ben@" + D1)
	s = strings(n.ctl_json("alias", "list"))
	check(al in s and "ann@" + D1 in s and "ben@" + D1 not in s, "after rm of one target: %r" % s)
	eq(n.send("sender@remote.test", [al], make_message(subj + "-2", "to ann only\n")), {}, "alias delivery")
	mrtest.wait_imap_count(n, "ann@" + D1, "ann-pw-1", 2)
	m = n.imap("ben@" + D1, "ben-pw-1")
	try:
		typ, data = m.select("INBOX", readonly=True)
		eq(int(data[0]), 1, "ben no longer receives through the alias")
	finally:
		m.logout()
	# remove the alias entirely
	n.ctl("alias", "rm", al)
	check(al not in strings(n.ctl_json("alias", "list")), "alias still listed after rm")
	eq(rcpt_code(env, al), 550, "RCPT to a removed alias")


def test_alias_errors(env):
	fails(env, "alias", "add", "x@unknown-domain.test", "ann@" + D1, want=67)
	fails(env, "alias", "add", "bad alias", "ann@" + D1, want=65)
	fails(env, "alias", "add", "y@" + D1, "not-an-address", want=65)
	fails(env, "alias", "add", "y@" + D1, "nobody@" + D1, want=67)        # target must be an account
	fails(env, "alias", "add", "lee@" + D1, "ann@" + D1)                   # an account cannot be an alias
	fails(env, "alias", "rm", "never@" + D1, want=67)
	env.node.ctl("alias", "add", "z@" + D1, "ann@" + D1)
	fails(env, "alias", "add", "z@" + D1, "ann@" + D1, want=73)             # same target twice
	fails(env, "alias", "rm", "z@" + D1, "nobody@" + D1, want=67)          # target not on this alias
	fails(env, "alias", "add", want=64)


def test_alias_target_limit(env):
	n = env.node
	for i in range(11):
		n.ctl("account", "add", "t%d@%s" % (i, D1), "--password", "t-pw-%d" % i)
	for i in range(10):
		n.ctl("alias", "add", "many@" + D1, "t%d@%s" % (i, D1))
	fails(env, "alias", "add", "many@" + D1, "t10@" + D1, want=65)
	n.ctl("alias", "rm", "many@" + D1)


def test_status(env):
	n = env.node
	r = n.ctl("status")
	check(r.stdout.strip() != "", "status prints something")
	doc = n.ctl_json("status")
	check(isinstance(doc, dict) and doc.get("ok") is True and isinstance(doc.get("fields"), dict),
		"status --json is {ok, fields}: %r" % doc)
	f = doc["fields"]
	contains(json.dumps(f), str(n.ports["imaps"]), "status lists the listeners")
	eq(f.get("mode"), "single-node", "status mode without cluster_address")
	contains(r.stdout, "single-node", "human status names the mode")


def test_cluster_verbs_on_single_node(env):
	r = fails(env, "cluster", "members", want=69)
	contains(r.stderr, "not in cluster mode", "cluster members on a single node")
	doc = json.loads(env.node.ctl("cluster", "members", json_out=True, check_rc=False).stdout)
	check(doc.get("ok") is False and doc.get("exit") == 69, "members --json: %r" % doc)
	fails(env, "cluster", "add", "--id", "2", "--address", "127.0.0.1:7002", want=69)
	fails(env, "cluster", "promote", "2", want=69)
	fails(env, "cluster", "transfer", "--to", "2", want=69)
	fails(env, "cluster", "promote", "two", want=64)
	fails(env, "cluster", "add", "--id", "2", want=64)
	# the daemon is not disturbed
	check(env.node.ctl_json("status").get("ok") is True, "status after cluster verbs")


def offline(node, *args):
	"""mailraftctl --config <node's config> ARGS (offline verbs find everything there)."""
	node.write_config()
	r = subprocess.run([node.ctl_bin, "--config", node.config_path] + [str(a) for a in args],
		stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=node._env())
	r.stdout = r.stdout.decode("utf-8", "replace")
	r.stderr = r.stderr.decode("utf-8", "replace")
	return r


def test_cluster_init_offline(env):
	n = env.new_node("ctl-init")  # configured, never started
	addr = "127.0.0.1:7001"
	r = offline(n, "cluster", "init", "--address", addr)
	eq(r.returncode, 0, "cluster init (stderr %r)" % r.stderr)
	contains(r.stdout, "cluster_address = " + addr, "init says what to set")
	contains(r.stdout, "start mailraftd", "init says what to do next")
	cdir = os.path.join(n.data_dir, "cluster")
	eq(os.stat(cdir).st_mode & 0o777, 0o700, "cluster dir mode")
	for f in ("ca.key", "node.key"):
		eq(os.stat(os.path.join(cdir, f)).st_mode & 0o777, 0o600, "%s mode" % f)
	for f in ("ca.crt", "node.crt"):
		with open(os.path.join(cdir, f)) as fh:
			contains(fh.read(), "BEGIN CERTIFICATE", f)
	with open(os.path.join(cdir, "bootstrap")) as fh:
		eq(fh.read(), "1@%s\n" % addr, "bootstrap marker")
	with open(os.path.join(cdir, "node.key"), "rb") as fh:
		key = fh.read()
	# a second init is refused and changes nothing
	r = offline(n, "cluster", "init", "--address", addr)
	eq(r.returncode, 73, "second cluster init (stderr %r)" % r.stderr)
	contains(r.stderr, "already has a cluster identity", "second init message")
	with open(os.path.join(cdir, "node.key"), "rb") as fh:
		eq(fh.read(), key, "node key untouched")
	# the address may come from the configuration; JSON output
	m = env.new_node("ctl-init2", conf={"cluster_address": "127.0.0.1:7011"})
	r = offline(m, "--json", "cluster", "init", "--id", "3")
	eq(r.returncode, 0, "init from cluster_address (stderr %r)" % r.stderr)
	doc = json.loads(r.stdout)
	eq(doc["fields"]["node_id"], "3", "init --json node_id")
	eq(len(doc["fields"]["ca_fingerprint"]), 64, "init --json fingerprint")
	with open(os.path.join(m.data_dir, "cluster", "bootstrap")) as fh:
		eq(fh.read(), "3@127.0.0.1:7011\n", "bootstrap marker from the config")
	# no address anywhere: usage
	u = env.new_node("ctl-init3")
	r = offline(u, "cluster", "init")
	eq(r.returncode, 64, "init without an address")
	contains(r.stderr, "--address", "init without an address names the option")
	check(not os.path.exists(os.path.join(u.data_dir, "cluster")), "nothing created")


def test_cluster_offline_refused_while_running(env):
	n = env.node
	for args in (("cluster", "init", "--address", "127.0.0.1:7001"), ("cluster", "join", "mrjoin1-x")):
		r = offline(n, *args)
		eq(r.returncode, 75, "%s while the daemon runs (stderr %r)" % (" ".join(args), r.stderr))
		contains(r.stderr, "mailraftd is running", "refusal names the reason")
	check(not os.path.exists(os.path.join(n.data_dir, "cluster")), "running node untouched")


def raft_address():
	"""A loopback raft address whose port and port + 1 (the member RPC) are free."""
	while True:
		p = ports.free_port()
		if p + 1 >= ports.PORT_HI:
			continue
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		try:
			s.bind((ports.HOST, p + 1))
		except OSError:
			continue
		finally:
			s.close()
		ports._given_ports.add(p + 1)  # never handed out to another listener
		return "%s:%d" % (ports.HOST, p)


def members(node):
	doc = node.ctl_json("cluster", "members")
	return dict((r["id"], r) for r in doc["rows"])


def test_cluster_two_nodes(env):
	"""The whole operator path on two local nodes: init, start, status, add, join, start,
	members, transfer, demote / promote. Exercises the daemon's cluster wiring through ctl."""
	a1, a2 = raft_address(), raft_address()
	n1 = env.new_node("ctl-c1")
	r = offline(n1, "cluster", "init", "--address", a1)
	eq(r.returncode, 0, "init (stderr %r)" % r.stderr)
	n1.conf["cluster_address"] = a1
	n1.start()
	st = n1.ctl_json("status")["fields"]
	eq(st["mode"], "cluster", "status mode")
	eq(st["node_id"], "1", "status node_id")
	mrtest.wait_for(lambda: n1.ctl_json("status")["fields"]["state"] == "leader", timeout=15,
		what="node 1 leader")
	st = n1.ctl_json("status")["fields"]
	eq(st["leader_id"], "1", "leader id")
	eq(st["health"], "ok", "health of a one-voter cluster")
	for k in ("term", "commit_index", "last_applied", "ready", "leader_address"):
		check(k in st, "status field %s: %r" % (k, st))
	r = n1.ctl("cluster", "add", "--id", "2", "--address", a2)
	tok = re.search(r"^token:\s+(mrjoin1-\S+)$", r.stdout, re.M)
	check(tok is not None, "cluster add prints a token: %r" % r.stdout)
	contains(r.stdout, "cluster join " + tok.group(1), "cluster add prints the join command")
	n2 = env.new_node("ctl-c2")
	r = offline(n2, "cluster", "join", tok.group(1))
	eq(r.returncode, 0, "join (stdout %r stderr %r)" % (r.stdout, r.stderr))
	contains(r.stdout, "cluster_address = " + a2, "join says what to set")
	eq(os.stat(os.path.join(n2.data_dir, "master.key")).st_mode & 0o777, 0o600, "master key mode")
	eq(os.path.getsize(os.path.join(n2.data_dir, "master.key")), 32, "master key size")
	# the token is used up
	n3 = env.new_node("ctl-c3")
	r = offline(n3, "cluster", "join", tok.group(1))
	check(r.returncode in (67, 77), "a used token is refused (rc %d, stderr %r)" % (r.returncode, r.stderr))
	check(not os.path.exists(os.path.join(n3.data_dir, "cluster")), "nothing written for a used token")
	n2.conf["cluster_address"] = a2
	# a joiner logs "ready" only once it holds the committed directory (catch-up); the admin
	# socket answers before that
	n2.start(wait=False)
	mrtest.wait_for(lambda: n2.ctl("status", check_rc=False).returncode == 0, timeout=30,
		what="node 2 admin socket")
	mrtest.wait_for(lambda: members(n1).get("2", {}).get("role") == "voter", timeout=30,
		what="node 2 promoted to voter")
	m = members(n1)
	eq(m["1"]["state"], "leader", "members: leader marked")
	eq(m["1"]["self"], "yes", "members: self marked")
	mrtest.wait_for(lambda: members(n1)["2"]["reachable"] == "yes", timeout=15, what="node 2 reachable")
	r = n1.ctl("cluster", "members")
	contains(r.stdout, "REACHABLE", "human members table")
	# leadership moves and comes back
	r = n1.ctl("cluster", "transfer", "--to", "2")
	contains(r.stdout, "node 2", "transfer message")
	mrtest.wait_for(lambda: n2.ctl_json("status")["fields"]["state"] == "leader", timeout=15,
		what="node 2 leader")
	n2.ctl("cluster", "transfer")
	mrtest.wait_for(lambda: n1.ctl_json("status")["fields"]["state"] == "leader", timeout=15,
		what="node 1 leader again")
	# role changes, and their errors
	r = n1.ctl("cluster", "demote", "2")
	contains(r.stdout, "node 2 is now a spare", "demote message")
	mrtest.wait_for(lambda: members(n1)["2"]["role"] == "spare", timeout=10, what="node 2 spare")
	r = n1.ctl("cluster", "promote", "2")
	contains(r.stdout, "node 2 is now a voter", "promote message")
	mrtest.wait_for(lambda: members(n1)["2"]["role"] == "voter", timeout=10, what="node 2 voter")
	r = fails(env, "cluster", "promote", "9", want=69)  # env.node is a single node
	r = n1.ctl("cluster", "promote", "9", check_rc=False)
	eq(r.returncode, 67, "promote an unknown node (stderr %r)" % r.stderr)
	# a joined node received the CA key with its credentials: it can invite too
	check(os.path.exists(os.path.join(n2.data_dir, "cluster", "ca.key")), "joined node holds ca.key")
	eq(os.stat(os.path.join(n2.data_dir, "cluster", "ca.key")).st_mode & 0o777, 0o600, "ca.key mode")
	r = n2.ctl("cluster", "add", "--id", "3", "--address", raft_address())
	contains(r.stdout, "mrjoin1-", "invitation made on a joined node")
	# without the CA key (e.g. removed by the operator) a member refuses to invite
	os.rename(os.path.join(n2.data_dir, "cluster", "ca.key"), os.path.join(n2.data_dir, "ca.key.off"))
	r = n2.ctl("cluster", "add", "--id", "3", "--address", raft_address(), check_rc=False)
	eq(r.returncode, 77, "invite from a node without the CA key (stderr %r)" % r.stderr)
	contains(r.stderr, "CA key", "why a member without the CA key cannot invite")
	eq(n2.stop(), 0, "stop node 2")
	eq(n1.stop(), 0, "stop node 1")


def test_cluster_join_malformed_token(env):
	n = env.new_node("ctl-join")
	for tok in ("garbage", "mrjoin1-", "mrjoin1-AAAA", "mrjoin1-" + "A" * 5000):
		r = offline(n, "cluster", "join", tok)
		eq(r.returncode, 65, "join %r (stderr %r)" % (tok[:20], r.stderr))
		contains(r.stderr, "malformed join token", "join error message")
	r = offline(n, "--json", "cluster", "join", "garbage")
	doc = json.loads(r.stdout)
	check(doc.get("ok") is False and doc.get("exit") == 65, "join --json: %r" % doc)
	check(not os.path.exists(os.path.join(n.data_dir, "cluster")), "no cluster dir after a bad token")
	u = env.new_node("ctl-join2")
	shutil.rmtree(u.data_dir)
	r = offline(u, "cluster", "join", "garbage")
	eq(r.returncode, 65, "join with a bad token and no data dir")
	check(not os.path.exists(u.data_dir), "a bad token creates no data directory")
	check(not os.path.exists(os.path.join(n.data_dir, "master.key")), "no master key after a bad token")
	r = offline(n, "cluster", "join")
	eq(r.returncode, 64, "join without a token")


def test_usage_and_connection_errors(env):
	n = env.node
	r = subprocess.run([n.ctl_bin], capture_output=True, timeout=20)
	eq(r.returncode, 64, "no arguments: EX_USAGE")
	r = n.ctl("frobnicate", check_rc=False)
	eq(r.returncode, 64, "unknown verb: EX_USAGE")
	r = n.ctl("domain", "frob", "x.test", check_rc=False)
	eq(r.returncode, 64, "unknown sub-verb: EX_USAGE")
	r = n.ctl("status", check_rc=False, socket_path=os.path.join(n.root, "no-such.sock"))
	eq(r.returncode, 69, "unreachable socket: EX_UNAVAILABLE")
	r = n.ctl("cluster", "failover", check_rc=False)
	eq(r.returncode, 69, "planned verb: not implemented yet")
	r = n.ctl("status", "extra-arg", check_rc=False)
	eq(r.returncode, 64, "extra argument")
	r = subprocess.run([n.ctl_bin, "--help"], capture_output=True, timeout=20)
	eq(r.returncode, 0, "--help")
	contains((r.stdout + r.stderr).decode(), "account", "--help text")


def test_admin_socket_refuses_other_users(env):
	n = env.node
	mode = os.stat(n.admin_socket).st_mode & 0o777
	eq(mode, 0o600, "admin socket mode")
	if os.getuid() != 0:
		return
	# the build tree may sit in a directory "nobody" cannot enter (a mktemp -d clone): run a
	# copy of the binary from a directory it can
	tmp = tempfile.mkdtemp(prefix="mrctl-")
	try:
		os.chmod(tmp, 0o755)
		ctl = os.path.join(tmp, "mailraftctl")
		shutil.copy2(n.ctl_bin, ctl)
		os.chmod(ctl, 0o755)
		r = subprocess.run([ctl, "--socket", n.admin_socket, "domain", "add", "intruder.test"],
			capture_output=True, timeout=20, user=65534, group=65534, stdin=subprocess.DEVNULL)
	finally:
		shutil.rmtree(tmp, ignore_errors=True)
	check(r.returncode != 0, "mailraftctl as nobody was allowed to add a domain")
	check("intruder.test" not in n.ctl("domain", "list").stdout, "domain added by another user")


def test_account_rm_with_open_sessions_and_recreate(env):
	"""Removing an account while it is in use must not crash anything, and an account created
	again under the same address must not see the old mail."""
	n = env.node
	a = "vera@" + D1
	n.ctl("account", "add", a, "--password", "vera-pw-1")
	subj = "old-mail-" + mrtest.rand_token(4)
	eq(n.send("sender@remote.test", [a], make_message(subj, "private old mail\n")), {}, "delivery")
	mrtest.wait_imap_count(n, a, "vera-pw-1", 1)
	m = n.imap(a, "vera-pw-1")
	m.select("INBOX")
	p = n.pop3(a, "vera-pw-1")
	n.ctl("account", "rm", a)
	# the open sessions: errors or a closed connection are fine, the old mail is not
	try:
		typ, d = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
		if typ == "OK":
			check(b"private old mail" not in mrtest.flat(d), "removed account's mail served to an open session")
	except Exception:  # noqa: BLE001 - NO/BYE/closed connection are all acceptable
		pass
	mrtest.quiet_close(m)
	try:
		p.retr(1)
	except Exception:  # noqa: BLE001
		pass
	try:
		p.close()
	except Exception:  # noqa: BLE001
		pass
	check(n.running(), "daemon died after removing an account in use")
	eq(rcpt_code(env, a), 550, "RCPT to the removed account")
	n.ctl("account", "add", a, "--password", "vera-pw-2")
	check(not can_login(env, a, "vera-pw-1"), "old password works on the re-created account")
	m = n.imap(a, "vera-pw-2")
	try:
		typ, d = m.select("INBOX", readonly=True)
		eq(int(d[0]), 0, "the re-created account must start empty")
		eq(mrtest.imap_uids(m, 'SUBJECT "%s"' % subj), [], "old mail visible in the re-created account")
	finally:
		m.logout()
	p = n.pop3(a, "vera-pw-2")
	try:
		eq(p.stat()[0], 0, "POP3: the re-created account must start empty")
		p.quit()
	finally:
		p.close()


def test_changes_survive_restart(env):
	n = env.node
	eq(n.stop(), 0, "stop")
	n.start()
	s = strings(n.ctl_json("account", "list"))
	check("pat@" + D1 in s and "kim@" + D1 not in s, "accounts after restart: %r" % s)
	check(can_login(env, "pat@" + D1, "new-pw-2") and not can_login(env, "pat@" + D1, "old-pw-1"), "passwd survives restart")
	s = strings(n.ctl_json("alias", "list"))
	check("z@" + D1 in s and "both@" + D1 not in s, "aliases after restart: %r" % s)
	try:
		n.send("sender@remote.test", ["both@" + D1], make_message("x", "y"))
		raise mrtest.Fail("removed alias accepted after restart")
	except smtplib.SMTPRecipientsRefused:
		pass


if __name__ == "__main__":
	mrtest.main(globals(), setup=setup)

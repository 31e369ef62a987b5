/* test_ctl_cluster_offline.c - `mailraftctl cluster init` and `cluster join` on real data
 * directories. init: the CA, node certificate and keys (0600) and the bootstrap marker, the
 * address from --address or the configuration (and their disagreement), refusal of a second
 * init, resumption after an init interrupted between the CA and the node certificate, refusal
 * while a daemon answers on the admin socket. join: against a member RPC server run by the test
 * (raft/cluster_rpc.h) whose JOIN handler does what a member does (check the proof, issue a
 * certificate from the cluster CA, seal the grant): credentials, master key (32 bytes, 0600)
 * and marker written; a wrong secret, a CA that is not the token's, an id without invitation,
 * a malformed token, a data directory with databases and a repeated join all refused with
 * their exit status and nothing left behind. */
#include "unit.h"
#include "ctl_offline.h"
#include "common/err.h"
#include "node/cluster/cluster.h"
#include "raft/cluster_join.h"
#include "raft/cluster_pki.h"
#include "raft/cluster_rpc.h"
#include "../raft/cluster_net_helpers.h"
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static char err[512];

/* A config file with data_dir <tmp>/<name> and optional extra lines; returns its path. */
static const char *conf(const char *name, const char *extra)
{
	static char path[600];
	snprintf(path, sizeof path, "%s/%s.conf", unit_tmpdir(), name);
	FILE *f = fopen(path, "w");
	ASSERT(f);
	fprintf(f, "data_dir = %s/%s\n%s", unit_tmpdir(), name, extra ? extra : "");
	fclose(f);
	return path;
}

static const char *dpath(const char *name, const char *rel)
{
	static char p[4][700];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s%s%s", unit_tmpdir(), name, rel[0] ? "/" : "", rel);
	return p[k];
}

static int mode_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	return (int)(st.st_mode & 0777);
}

static char *slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	if (len_r)
		*len_r = n;
	return buf;
}

static char out_text[8192];

/* Run mailraftctl argv (offline verbs) with output captured in out_text; exit status. */
static int run(int argc, char **argv)
{
	struct ctl_opts o;
	int st = ctl_parse(argc, argv, &o, err, sizeof err);
	ASSERT_OK(st);
	ASSERT_EQ_INT(o.action, CTL_ACT_OFFLINE);
	FILE *out = fmemopen(out_text, sizeof out_text - 1, "w");
	ASSERT(out);
	st = ctl_offline_run(&o, out, out);
	fclose(out);
	return st;
}
#define RUN(...)                                                                                   \
	({                                                                                         \
		char *argv_[] = {"mailraftctl", __VA_ARGS__, NULL};                                \
		run((int)(sizeof argv_ / sizeof argv_[0]) - 1, argv_);                             \
	})

/* A listening unix socket: what a running daemon looks like to the offline verbs. */
static int fake_daemon(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	ASSERT(fd >= 0 && strlen(path) < sizeof sa.sun_path);
	strcpy(sa.sun_path, path);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof sa));
	ASSERT_OK(listen(fd, 4));
	return fd;
}

/* ---- init ----------------------------------------------------------------------------- */

static void test_init(void)
{
	unsetenv("MAILRAFT_CLUSTER_ADDRESS");
	const char *c = conf("n1", NULL);
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "127.0.0.1:7101"),
	              0);
	ASSERT(strstr(out_text, "cluster initialised"));
	ASSERT(strstr(out_text, "cluster_address = 127.0.0.1:7101"));
	ASSERT_EQ_INT(mode_of(dpath("n1", "cluster")), 0700);
	ASSERT_EQ_INT(mode_of(dpath("n1", "cluster/ca.key")), 0600);
	ASSERT_EQ_INT(mode_of(dpath("n1", "cluster/node.key")), 0600);
	ASSERT(mode_of(dpath("n1", "cluster/ca.crt")) > 0);
	ASSERT(mode_of(dpath("n1", "cluster/node.crt")) > 0);
	ASSERT_EQ_STR(slurp(dpath("n1", "cluster/bootstrap"), NULL), "1@127.0.0.1:7101\n");
	ASSERT(!ctl_off_exists(dpath("n1", "cluster/bootstrap.tmp")));
	struct cl_pki pki = {0};
	ASSERT_OK(cl_pki_load(dpath("n1", "cluster"), &pki));
	ASSERT_EQ_INT(pki.node_id, 1);
	ASSERT_EQ_STR(pki.host, "127.0.0.1");
	char fpr[CL_PKI_FPR_LEN + 1];
	ASSERT_OK(cl_pki_fingerprint(pki.ca_pem, fpr));
	ASSERT(strstr(out_text, fpr));
	cl_pki_free(&pki);

	/* a second init is refused and changes nothing */
	char before[8192];
	snprintf(before, sizeof before, "%s", slurp(dpath("n1", "cluster/node.crt"), NULL));
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "127.0.0.1:7101"),
	              CTL_EX_CANTCREAT);
	ASSERT(strstr(out_text, "already has a cluster identity"));
	ASSERT_EQ_STR(slurp(dpath("n1", "cluster/node.crt"), NULL), before);

	/* JSON: one object with the fields */
	c = conf("n1j", NULL);
	ASSERT_EQ_INT(RUN("--config", (char *)c, "--json", "cluster", "init", "--address",
	                  "mail.example:7001", "--id", "4"),
	              0);
	ASSERT(strncmp(out_text, "{\"ok\":true", 10) == 0);
	ASSERT(strstr(out_text, "\"node_id\":\"4\""));
	ASSERT_EQ_STR(slurp(dpath("n1j", "cluster/bootstrap"), NULL), "4@mail.example:7001\n");
	ASSERT_EQ_INT(RUN("--config", (char *)c, "--json", "cluster", "init", "--address",
	                  "mail.example:7001"),
	              CTL_EX_CANTCREAT);
	ASSERT(strstr(out_text, "\"ok\":false") && strstr(out_text, "\"exit\":73"));
}

static void test_init_address_rules(void)
{
	unsetenv("MAILRAFT_CLUSTER_ADDRESS");
	/* from the configuration */
	const char *c = conf("a1", "cluster_address = 127.0.0.1:7201\n");
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init"), 0);
	ASSERT_EQ_STR(slurp(dpath("a1", "cluster/bootstrap"), NULL), "1@127.0.0.1:7201\n");
	ASSERT(!strstr(out_text, "set `cluster_address")); /* already set */
	/* both, disagreeing */
	c = conf("a2", "cluster_address = 127.0.0.1:7201\n");
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "127.0.0.1:7301"),
	              CTL_EX_CONFIG);
	ASSERT(strstr(out_text, "differs"));
	ASSERT(!ctl_off_exists(dpath("a2", "cluster")));
	/* neither */
	c = conf("a3", NULL);
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init"), CTL_EX_USAGE);
	ASSERT(strstr(out_text, "--address"));
	/* malformed */
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "nohost"),
	              CTL_EX_DATAERR);
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "h:99999"),
	              CTL_EX_DATAERR);
	ASSERT(!ctl_off_exists(dpath("a3", "cluster")));
}

static void test_init_resumes_and_daemon_check(void)
{
	/* an init interrupted after the CA: the CA is reused */
	const char *c = conf("r1", NULL);
	ASSERT_OK(mkdir(dpath("r1", ""), 0700));
	ASSERT_OK(cl_pki_init_ca(dpath("r1", "cluster")));
	char ca[8192];
	snprintf(ca, sizeof ca, "%s", slurp(dpath("r1", "cluster/ca.crt"), NULL));
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "127.0.0.1:7401"),
	              0);
	ASSERT_EQ_STR(slurp(dpath("r1", "cluster/ca.crt"), NULL), ca);
	ASSERT(ctl_off_exists(dpath("r1", "cluster/node.key")));

	/* a daemon answering on the admin socket: refused, nothing created */
	c = conf("r2", NULL);
	ASSERT_OK(mkdir(dpath("r2", ""), 0700));
	int fd = fake_daemon(dpath("r2", "admin.sock"));
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "127.0.0.1:7501"),
	              CTL_EX_TEMPFAIL);
	ASSERT(strstr(out_text, "mailraftd is running"));
	ASSERT(!ctl_off_exists(dpath("r2", "cluster")));
	close(fd);
	/* a stale socket file (nobody listening) does not count */
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "init", "--address", "127.0.0.1:7501"),
	              0);
}

/* ---- join, against a member played by the test ---------------------------------------- */

static struct {
	char ca_dir[600];
	uint8_t secret[CL_JOIN_SECRET];
	uint8_t master[CL_JOIN_MASTER_KEY];
	uint64_t invited;
	char peer[64];
	struct cl_pki pki;
	struct cl_rpc_server *srv;
	int calls;
} M;

static void join_handler(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	uint64_t id;
	uint8_t proof[CL_JOIN_PROOF], want[CL_JOIN_PROOF];
	__atomic_add_fetch(&M.calls, 1, __ATOMIC_SEQ_CST);
	if (cl_join_request_decode(body, len, &id, proof) != 0) {
		cl_rpc_reply(call, MR_EPROTO, NULL, 0);
		return;
	}
	if (id != M.invited) {
		cl_rpc_reply(call, MR_ENOTFOUND, NULL, 0);
		return;
	}
	cl_join_proof(M.secret, want);
	if (sodium_memcmp(proof, want, sizeof want) != 0) {
		cl_rpc_reply(call, MR_EAUTH, NULL, 0);
		return;
	}
	struct cl_pki pki = {0};
	if (cl_pki_issue_pem(M.ca_dir, id, "127.0.0.1", &pki) != 0) {
		cl_rpc_reply(call, MR_EIO, NULL, 0);
		return;
	}
	struct cl_join_grant g = {.ca_pem = pki.ca_pem,
	                          .cert_pem = pki.cert_pem,
	                          .key_pem = pki.key_pem,
	                          .members = "1@127.0.0.1:7001"};
	memcpy(g.master_key, M.master, sizeof g.master_key);
	uint8_t *buf = NULL;
	size_t n = 0;
	int rv = cl_join_grant_seal(&g, M.secret, &buf, &n);
	cl_rpc_reply(call, rv, buf, rv == 0 ? n : 0);
	free(buf);
	cl_pki_free(&pki);
}

static const struct cl_rpc_handler handlers[] = {{CL_RPC_JOIN, true, join_handler}};

static void member_start(void)
{
	snprintf(M.ca_dir, sizeof M.ca_dir, "%s/member-ca", unit_tmpdir());
	ASSERT_OK(cl_pki_init_ca(M.ca_dir));
	ASSERT_OK(cl_pki_issue_pem(M.ca_dir, 1, "127.0.0.1", &M.pki));
	randombytes_buf(M.secret, sizeof M.secret);
	randombytes_buf(M.master, sizeof M.master);
	M.invited = 2;
	int port = helper_free_port();
	char rpc[CL_ADDRESS_MAX + 1];
	snprintf(M.peer, sizeof M.peer, "127.0.0.1:%d", port - 1);
	ASSERT_OK(cl_rpc_address(M.peer, rpc));
	ASSERT_OK(cl_rpc_server_start(rpc, &M.pki, handlers, 1, NULL, &M.srv));
}

static void member_stop(void)
{
	cl_rpc_server_stop(&M.srv);
	cl_pki_free(&M.pki);
}

/* A token for id from the member, optionally with another secret or CA fingerprint. */
static const char *token(uint64_t id, bool wrong_secret, bool wrong_ca)
{
	static char text[CL_JOIN_TOKEN_MAX];
	struct cl_join_token t = {.id = id};
	snprintf(t.peer, sizeof t.peer, "%s", M.peer);
	snprintf(t.address, sizeof t.address, "127.0.0.1:%u", (unsigned)(7600 + id));
	ASSERT_OK(cl_pki_fingerprint(M.pki.ca_pem, t.ca_fpr));
	if (wrong_ca)
		t.ca_fpr[0] = t.ca_fpr[0] == 'a' ? 'b' : 'a';
	memcpy(t.secret, M.secret, sizeof t.secret);
	if (wrong_secret)
		t.secret[0] ^= 1;
	ASSERT(cl_join_token_encode(&t, text, sizeof text) > 0);
	return text;
}

static void test_join(void)
{
	unsetenv("MAILRAFT_CLUSTER_ADDRESS");
	member_start();
	const char *c = conf("j1", "cluster_address = 127.0.0.1:9999\n");
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(2, false, false)),
	              0);
	ASSERT(strstr(out_text, "cluster_address = 127.0.0.1:7602"));
	ASSERT(strstr(out_text, "127.0.0.1:9999")); /* the wrong configured address is named */
	ASSERT_EQ_INT(mode_of(dpath("j1", "cluster/node.key")), 0600);
	ASSERT(!ctl_off_exists(dpath("j1", "cluster/ca.key"))); /* only inviters hold the CA key */
	ASSERT_EQ_STR(slurp(dpath("j1", "cluster/join"), NULL), "2@127.0.0.1:7602\n");
	size_t n = 0;
	char *key = slurp(dpath("j1", "master.key"), &n);
	ASSERT(key);
	ASSERT_EQ_MEM(key, n, M.master, sizeof M.master);
	ASSERT_EQ_INT(mode_of(dpath("j1", "master.key")), 0600);
	struct cl_pki pki = {0};
	ASSERT_OK(cl_pki_load(dpath("j1", "cluster"), &pki));
	ASSERT_EQ_INT(pki.node_id, 2);
	ASSERT_EQ_STR(pki.ca_pem, M.pki.ca_pem);
	cl_pki_free(&pki);
	/* again: refused before asking anyone */
	int calls = M.calls;
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(2, false, false)),
	              CTL_EX_CANTCREAT);
	ASSERT(strstr(out_text, "already has a cluster identity"));
	ASSERT_EQ_INT(M.calls, calls);
	member_stop();
}

static void test_join_refusals(void)
{
	unsetenv("MAILRAFT_CLUSTER_ADDRESS");
	member_start();
	const char *c = conf("j2", NULL);
	/* wrong secret: the member refuses the proof */
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(2, true, false)),
	              CTL_EX_NOPERM);
	ASSERT(strstr(out_text, "refused the token"));
	ASSERT(!ctl_off_exists(dpath("j2", "cluster")));
	/* a grant from a CA that is not the token's */
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(2, false, true)),
	              CTL_EX_NOPERM);
	ASSERT(strstr(out_text, "fingerprint"));
	ASSERT(!ctl_off_exists(dpath("j2", "cluster")));
	ASSERT(!ctl_off_exists(dpath("j2", "master.key")));
	/* nobody invited node 5 */
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(5, false, false)),
	              CTL_EX_NOUSER);
	ASSERT(strstr(out_text, "no invitation"));
	/* a member that does not answer (nobody on its RPC port): unavailable, nothing written */
	char saved[64];
	snprintf(saved, sizeof saved, "%s", M.peer);
	snprintf(M.peer, sizeof M.peer, "127.0.0.1:%d", helper_free_port());
	const char *dead = token(2, false, false);
	snprintf(M.peer, sizeof M.peer, "%s", saved);
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)dead),
	              CTL_EX_UNAVAILABLE);
	ASSERT(strstr(out_text, "cannot join through the member"));
	ASSERT(!ctl_off_exists(dpath("j2", "cluster")));
	/* malformed tokens */
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", "mrjoin1-!!!"), CTL_EX_DATAERR);
	ASSERT(strstr(out_text, "malformed join token"));
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", "hello"), CTL_EX_DATAERR);
	/* a data directory that holds databases */
	ASSERT_OK(mkdir(dpath("j2", "db"), 0700));
	FILE *f = fopen(dpath("j2", "db/directory.db"), "w");
	ASSERT(f);
	fclose(f);
	int calls = M.calls;
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(2, false, false)),
	              CTL_EX_CANTCREAT);
	ASSERT(strstr(out_text, "holds databases"));
	ASSERT_EQ_INT(M.calls, calls);
	/* a master key already there */
	c = conf("j3", NULL);
	ASSERT_OK(mkdir(dpath("j3", ""), 0700));
	f = fopen(dpath("j3", "master.key"), "w");
	ASSERT(f);
	fclose(f);
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(2, false, false)),
	              CTL_EX_CANTCREAT);
	ASSERT(strstr(out_text, "master key"));
	/* the daemon running */
	c = conf("j4", NULL);
	ASSERT_OK(mkdir(dpath("j4", ""), 0700));
	int fd = fake_daemon(dpath("j4", "admin.sock"));
	ASSERT_EQ_INT(RUN("--config", (char *)c, "cluster", "join", (char *)token(2, false, false)),
	              CTL_EX_TEMPFAIL);
	close(fd);
	ASSERT_EQ_INT(M.calls, calls);
	member_stop();
}

static void test_write_helper(void)
{
	struct ctl_off x = {0};
	char p[700];
	snprintf(p, sizeof p, "%s/f", unit_tmpdir());
	ASSERT_OK(ctl_off_write(&x, p, "abc", 3, 0640));
	ASSERT_EQ_INT(mode_of(p), 0640);
	ASSERT_EQ_STR(slurp(p, NULL), "abc");
	ASSERT_ERR(ctl_off_write(&x, p, "xyz", 3, 0600), MR_EEXIST);
	ASSERT_EQ_STR(slurp(p, NULL), "abc");
	char m[64];
	ASSERT_EQ_INT(ctl_off_marker(m, sizeof m, 12, "h:1"), 7);
	ASSERT_EQ_STR(m, "12@h:1\n");
	ASSERT_EQ_INT(ctl_off_marker(m, 4, 12, "h:1"), 0);
}

static const struct unit_test tests[] = {
    {"init", test_init},
    {"init_address_rules", test_init_address_rules},
    {"init_resumes_and_daemon_check", test_init_resumes_and_daemon_check},
    {"join", test_join},
    {"join_refusals", test_join_refusals},
    {"write_helper", test_write_helper},
    {0},
};
UNIT_MAIN(tests)

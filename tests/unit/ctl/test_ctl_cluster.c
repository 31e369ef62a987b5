/* test_ctl_cluster.c - the cluster verbs of mailraftctl without a daemon: parsing and request
 * building (ids, --id/--address/--to, offline verbs, options that do not apply), node id
 * parsing, the configuration keys read for the offline verbs (file and environment), and the
 * node side's rendering of a cluster view (admin_cluster_fmt.c, compiled in: health verdicts,
 * member rows with the leader and self markers, unknown values, status fields). */
#include "unit.h"
#include "ctl.h"
#include "../../../node/admin/admin_cluster_fmt.c"
#include <stdlib.h>

#define PARSE(o, ...)                                                                              \
	({                                                                                         \
		char *argv_[] = {"mailraftctl", __VA_ARGS__, NULL};                                \
		err[0] = 0;                                                                        \
		ctl_parse((int)(sizeof argv_ / sizeof argv_[0]) - 1, argv_, (o), err, sizeof err); \
	})

static char err[512];
static struct ctl_call call;

/* Parse and build; returns the first non-zero status. */
static int parse_build(struct ctl_opts *o, int argc, char **argv)
{
	int st = ctl_parse(argc, argv, o, err, sizeof err);
	if (st == 0 && o->action == CTL_ACT_RUN)
		st = ctl_build(o, NULL, &call, err, sizeof err);
	return st;
}
#define BUILD(o, ...)                                                                              \
	({                                                                                         \
		char *argv_[] = {"mailraftctl", __VA_ARGS__, NULL};                                \
		err[0] = 0;                                                                        \
		parse_build((o), (int)(sizeof argv_ / sizeof argv_[0]) - 1, argv_);                \
	})

static void test_parse_id(void)
{
	uint64_t id = 0;
	ASSERT_OK(ctl_parse_id("1", &id));
	ASSERT_EQ_INT(id, 1);
	ASSERT_OK(ctl_parse_id("9223372036854775807", &id));
	ASSERT(id == (uint64_t)INT64_MAX);
	ASSERT_EQ_INT(ctl_parse_id("9223372036854775808", &id), -1);
	ASSERT_EQ_INT(ctl_parse_id("99999999999999999999", &id), -1);
	ASSERT_EQ_INT(ctl_parse_id("0", &id), -1);
	ASSERT_EQ_INT(ctl_parse_id("", &id), -1);
	ASSERT_EQ_INT(ctl_parse_id("-1", &id), -1);
	ASSERT_EQ_INT(ctl_parse_id("3x", &id), -1);
	ASSERT_EQ_INT(ctl_parse_id(" 3", &id), -1);
}

static void test_online_verbs(void)
{
	struct ctl_opts o;
	ASSERT_OK(BUILD(&o, "cluster", "members", "--json"));
	ASSERT_EQ_INT(call.req.cmd_case, MR__CTL_REQUEST__CMD_CLUSTER_MEMBERS);
	ASSERT(o.json);

	ASSERT_OK(BUILD(&o, "cluster", "add", "--id", "4", "--address=node4.example:7001"));
	ASSERT_EQ_INT(call.req.cmd_case, MR__CTL_REQUEST__CMD_CLUSTER_ADD);
	ASSERT_EQ_INT(call.req.cluster_add->id, 4);
	ASSERT_EQ_STR(call.req.cluster_add->address, "node4.example:7001");
	/* both options are required, and checked */
	ASSERT_EQ_INT(BUILD(&o, "cluster", "add", "--id", "4"), CTL_EX_USAGE);
	ASSERT(strstr(err, "--address"));
	ASSERT_EQ_INT(BUILD(&o, "cluster", "add", "--address", "h:1"), CTL_EX_USAGE);
	ASSERT_EQ_INT(BUILD(&o, "cluster", "add", "--id", "0", "--address", "h:1"), CTL_EX_USAGE);
	ASSERT(strstr(err, "--id"));
	ASSERT_EQ_INT(BUILD(&o, "cluster", "add", "--id", "4", "--address", ""), CTL_EX_USAGE);
	ASSERT_EQ_INT(BUILD(&o, "cluster", "add", "4", "h:1"), CTL_EX_USAGE);

	ASSERT_OK(BUILD(&o, "cluster", "promote", "3"));
	ASSERT_EQ_INT(call.req.cmd_case, MR__CTL_REQUEST__CMD_CLUSTER_ASSIGN);
	ASSERT_EQ_INT(call.req.cluster_assign->id, 3);
	ASSERT_EQ_INT(call.req.cluster_assign->role, MR__CTL_CLUSTER_ROLE__CTL_ROLE_VOTER);
	ASSERT_OK(BUILD(&o, "cluster", "demote", "3"));
	ASSERT_EQ_INT(call.req.cluster_assign->role, MR__CTL_CLUSTER_ROLE__CTL_ROLE_SPARE);
	ASSERT_EQ_INT(BUILD(&o, "cluster", "promote", "three"), CTL_EX_USAGE);
	ASSERT(strstr(err, "invalid node id"));
	ASSERT_EQ_INT(BUILD(&o, "cluster", "promote"), CTL_EX_USAGE);

	ASSERT_OK(BUILD(&o, "cluster", "remove", "7"));
	ASSERT_EQ_INT(call.req.cmd_case, MR__CTL_REQUEST__CMD_CLUSTER_REMOVE);
	ASSERT_EQ_INT(call.req.cluster_remove->id, 7);
	ASSERT_EQ_INT(BUILD(&o, "cluster", "remove", "0"), CTL_EX_USAGE);

	ASSERT_OK(BUILD(&o, "cluster", "transfer"));
	ASSERT_EQ_INT(call.req.cmd_case, MR__CTL_REQUEST__CMD_CLUSTER_TRANSFER);
	ASSERT(!call.req.cluster_transfer->has_to);
	ASSERT_OK(BUILD(&o, "cluster", "transfer", "--to", "2"));
	ASSERT(call.req.cluster_transfer->has_to);
	ASSERT_EQ_INT(call.req.cluster_transfer->to, 2);
	ASSERT_EQ_INT(BUILD(&o, "cluster", "transfer", "--to", "x"), CTL_EX_USAGE);

	/* command options belong to their commands */
	ASSERT_EQ_INT(BUILD(&o, "cluster", "members", "--to", "2"), CTL_EX_USAGE);
	ASSERT(strstr(err, "does not apply"));
	ASSERT_EQ_INT(BUILD(&o, "status", "--id", "2"), CTL_EX_USAGE);
	ASSERT_EQ_INT(BUILD(&o, "cluster", "remove", "2", "--address", "h:1"), CTL_EX_USAGE);
	/* failover stays planned */
	ASSERT_OK(PARSE(&o, "cluster", "failover"));
	ASSERT_EQ_INT(o.action, CTL_ACT_PLANNED);
}

static void test_offline_verbs(void)
{
	struct ctl_opts o;
	ASSERT_OK(PARSE(&o, "--config", "/etc/m.conf", "cluster", "init"));
	ASSERT_EQ_INT(o.action, CTL_ACT_OFFLINE);
	ASSERT_EQ_STR(o.verb->sub, "init");
	ASSERT(!o.has_id && !o.address);
	ASSERT_OK(PARSE(&o, "cluster", "init", "--address", "[::1]:7001", "--id", "5"));
	ASSERT_EQ_INT(o.action, CTL_ACT_OFFLINE);
	ASSERT_EQ_STR(o.address, "[::1]:7001");
	ASSERT(o.has_id && o.id == 5);
	ASSERT_EQ_INT(PARSE(&o, "cluster", "init", "extra"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "cluster", "init", "--to", "1"), CTL_EX_USAGE);

	ASSERT_OK(PARSE(&o, "cluster", "join", "mrjoin1-abc"));
	ASSERT_EQ_INT(o.action, CTL_ACT_OFFLINE);
	ASSERT_EQ_STR(o.args[0], "mrjoin1-abc");
	ASSERT_EQ_INT(PARSE(&o, "cluster", "join"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "cluster", "join", "a", "b"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "cluster", "join", "t", "--id", "2"), CTL_EX_USAGE);
}

static void test_usage_lists_cluster(void)
{
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	ctl_usage(f);
	fclose(f);
	const char *planned = strstr(text, "planned (not implemented yet");
	ASSERT(planned);
	const char *verbs[] = {"cluster init",   "cluster join",    "cluster members",
	                       "cluster add",    "cluster promote", "cluster demote",
	                       "cluster remove", "cluster transfer"};
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		const char *p = strstr(text, verbs[i]);
		ASSERT(p && p < planned);
	}
	ASSERT(strstr(planned, "cluster failover"));
	ASSERT(strstr(text, "75"));
	free(text);
}

static void test_conf_keys(void)
{
	static const char *const envs[] = {"MAILRAFT_DATA_DIR", "MAILRAFT_ADMIN_SOCKET",
	                                   "MAILRAFT_CLUSTER_ADDRESS", "MAILRAFT_MASTER_KEY_FILE"};
	for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
		unsetenv(envs[i]);
	struct ctl_conf c;
	ASSERT_OK(ctl_conf_read(NULL, &c, err, sizeof err));
	ASSERT_EQ_STR(c.data_dir, "./data");
	ASSERT_EQ_STR(c.cluster_address, "");
	ASSERT_EQ_STR(c.master_key_file, "");

	char path[512];
	snprintf(path, sizeof path, "%s/m.conf", unit_tmpdir());
	FILE *f = fopen(path, "w");
	ASSERT(f);
	fputs("# comment\n"
	      "data_dir = \"/srv/mr data\"\n"
	      "  cluster_address=10.0.0.1:7001  \n"
	      "master_key_file = /etc/mr/master.key\n"
	      "smtp_listen = 0.0.0.0:25\n"
	      "garbage line\n",
	      f);
	fclose(f);
	ASSERT_OK(ctl_conf_read(path, &c, err, sizeof err));
	ASSERT_EQ_STR(c.data_dir, "/srv/mr data");
	ASSERT_EQ_STR(c.cluster_address, "10.0.0.1:7001");
	ASSERT_EQ_STR(c.master_key_file, "/etc/mr/master.key");
	ASSERT_EQ_STR(c.admin_socket, "");
	/* the environment wins, as in the daemon */
	setenv("MAILRAFT_CLUSTER_ADDRESS", "10.0.0.9:7001", 1);
	setenv("MAILRAFT_DATA_DIR", "/env/data", 1);
	ASSERT_OK(ctl_conf_read(path, &c, err, sizeof err));
	ASSERT_EQ_STR(c.cluster_address, "10.0.0.9:7001");
	ASSERT_EQ_STR(c.data_dir, "/env/data");
	setenv("MAILRAFT_DATA_DIR", "", 1);
	ASSERT_EQ_INT(ctl_conf_read(path, &c, err, sizeof err), -1);
	ASSERT(strstr(err, "data_dir"));
	unsetenv("MAILRAFT_DATA_DIR");
	unsetenv("MAILRAFT_CLUSTER_ADDRESS");
	/* a value longer than the key's room is refused, not cut */
	f = fopen(path, "w");
	ASSERT(f);
	fputs("cluster_address = ", f);
	for (int i = 0; i < 300; i++)
		fputc('a', f);
	fputs(":1\n", f);
	fclose(f);
	ASSERT_EQ_INT(ctl_conf_read(path, &c, err, sizeof err), -1);
	ASSERT(strstr(err, "cluster_address too long"));
	ASSERT_EQ_INT(ctl_conf_read("/nonexistent/m.conf", &c, err, sizeof err), -1);
}

/* ---- the node side's rendering -------------------------------------------------------- */

static void member(struct cluster_view *v, uint64_t id, int role, const char *addr,
                   uint64_t applied, bool reachable, int64_t lag)
{
	struct cluster_member_view *m = &v->members[v->n++];
	memset(m, 0, sizeof *m);
	m->m.id = id;
	m->m.role = role;
	snprintf(m->m.address, sizeof m->m.address, "%s", addr);
	m->applied_index = applied;
	m->reachable = reachable;
	m->lag = lag;
}

/* Three voters and a spare; this node is 2, the leader 1. */
static void three(struct cluster_view *v)
{
	memset(v, 0, sizeof *v);
	v->st.id = 2;
	v->st.state = CL_FOLLOWER;
	v->st.leader_id = 1;
	snprintf(v->st.leader_address, sizeof v->st.leader_address, "h1:7001");
	v->st.term = 7;
	v->st.commit_index = 120;
	v->st.last_applied = 118;
	v->ready = true;
	member(v, 1, CL_VOTER, "h1:7001", 120, true, 0);
	member(v, 2, CL_VOTER, "h2:7001", 118, false, 2);
	member(v, 3, CL_VOTER, "h3:7001", 100, true, 20);
	member(v, 4, CL_SPARE, "h4:7001", 0, false, -1);
}

static const char *field(const Mr__CtlResponse *r, const char *key)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (strcmp(r->fields[i]->key, key) == 0)
			return r->fields[i]->value;
	return NULL;
}

static void test_health(void)
{
	static struct cluster_view v;
	char buf[128];
	three(&v);
	/* self (2) is reported unreachable by the poll but is never "down"; a spare does not
	 * count */
	ASSERT_EQ_STR(admin_cluster_health(&v, buf, sizeof buf), "ok");
	v.members[2].reachable = false;
	ASSERT_EQ_STR(admin_cluster_health(&v, buf, sizeof buf), "degraded: voter 3 unreachable");
	v.members[0].reachable = false;
	ASSERT_EQ_STR(admin_cluster_health(&v, buf, sizeof buf),
	              "degraded: voter 1, 3 unreachable");
	/* the state column of an unreachable follower says it does not know */
	ASSERT_EQ_STR(member_state(&v, &v.members[2]), "unknown");
	ASSERT_EQ_STR(member_state(&v, &v.members[0]), "leader");
	/* a small buffer is cut, never overrun */
	char small[12];
	admin_cluster_health(&v, small, sizeof small);
	ASSERT_EQ_INT(strlen(small), sizeof small - 1);
	v.st.leader_id = 0;
	ASSERT_EQ_STR(admin_cluster_health(&v, buf, sizeof buf), "no leader");
}

static void test_member_rows(void)
{
	static struct cluster_view v;
	three(&v);
	Mr__CtlResponse r;
	admin_resp_init(&r);
	admin_cluster_member_rows(&r, &v);
	ASSERT_EQ_INT(r.n_columns, ADMIN_CLUSTER_COLS);
	ASSERT_EQ_STR(r.columns[0], "id");
	ASSERT_EQ_STR(r.columns[7], "reachable");
	ASSERT_EQ_INT(r.n_rows, 4);
	const char *want[4][ADMIN_CLUSTER_COLS] = {
	    {"1", "h1:7001", "voter", "leader", "no", "120", "0", "yes"},
	    {"2", "h2:7001", "voter", "follower", "yes", "118", "2", "yes"},
	    {"3", "h3:7001", "voter", "follower", "no", "100", "20", "yes"},
	    {"4", "h4:7001", "spare", "-", "no", "-", "-", "no"},
	};
	for (size_t i = 0; i < 4; i++) {
		ASSERT_EQ_INT(r.rows[i]->n_cells, ADMIN_CLUSTER_COLS);
		for (size_t j = 0; j < ADMIN_CLUSTER_COLS; j++)
			ASSERT_EQ_STR(r.rows[i]->cells[j], want[i][j]);
	}
	ASSERT_EQ_STR(field(&r, "node_id"), "2");
	ASSERT_EQ_STR(field(&r, "leader"), "1 (h1:7001)");
	ASSERT_EQ_STR(field(&r, "term"), "7");
	ASSERT_EQ_STR(field(&r, "health"), "ok");
	admin_resp_clear(&r);
}

static void test_status_fields(void)
{
	static struct cluster_view v;
	three(&v);
	v.st.id = 1;
	v.st.state = CL_LEADER;
	v.ready = false;
	v.needs_fetch = 3;
	Mr__CtlResponse r;
	admin_resp_init(&r);
	admin_cluster_status_fields(&r, &v);
	ASSERT_EQ_STR(field(&r, "mode"), "cluster");
	ASSERT_EQ_STR(field(&r, "node_id"), "1");
	ASSERT_EQ_STR(field(&r, "state"), "leader");
	ASSERT_EQ_STR(field(&r, "leader"), "1 (h1:7001) this node");
	ASSERT_EQ_STR(field(&r, "leader_id"), "1");
	ASSERT_EQ_STR(field(&r, "leader_address"), "h1:7001");
	ASSERT_EQ_STR(field(&r, "term"), "7");
	ASSERT_EQ_STR(field(&r, "commit_index"), "120");
	ASSERT_EQ_STR(field(&r, "last_applied"), "118");
	ASSERT_EQ_STR(field(&r, "ready"), "no");
	/* node 2 did not answer the poll and is not this node any more */
	ASSERT_EQ_STR(field(&r, "health"), "degraded: voter 2 unreachable");
	ASSERT_EQ_STR(field(&r, "members"), "4 (3 voters)");
	ASSERT_EQ_STR(field(&r, "needs_fetch"), "3");
	admin_resp_clear(&r);

	/* no leader known: said plainly, no stale address */
	v.st.leader_id = 0;
	v.st.state = CL_CANDIDATE;
	admin_resp_init(&r);
	admin_cluster_status_fields(&r, &v);
	ASSERT_EQ_STR(field(&r, "leader"), "none");
	ASSERT_EQ_STR(field(&r, "leader_address"), "");
	ASSERT_EQ_STR(field(&r, "state"), "candidate");
	ASSERT_EQ_STR(field(&r, "health"), "no leader");
	admin_resp_clear(&r);
}

static const struct unit_test tests[] = {
    {"parse_id", test_parse_id},
    {"online_verbs", test_online_verbs},
    {"offline_verbs", test_offline_verbs},
    {"usage_lists_cluster", test_usage_lists_cluster},
    {"conf_keys", test_conf_keys},
    {"health", test_health},
    {"member_rows", test_member_rows},
    {"status_fields", test_status_fields},
    {0},
};
UNIT_MAIN(tests)

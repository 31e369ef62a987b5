/* test_ctl_cli.c - mailraftctl without a socket: argument parsing through the command
 * table (globals anywhere, --opt=value, command-only options, arity, planned verbs), request
 * building (password given / read / generated), sizes, socket discovery from option, env and
 * config file, exit-code mapping and the human / JSON renderings of a response. The ctl
 * sources are compiled into this test directly (mailraftctl is an executable). */
#include "unit.h"
#include "../../../ctl/ctl_cli.c"
#include "../../../ctl/ctl_conf.c"
#include "../../../ctl/ctl_json.c"
#include "../../../ctl/ctl_out.c"

#define PARSE(o, ...)                                                                              \
	({                                                                                         \
		char *argv_[] = {"mailraftctl", __VA_ARGS__, NULL};                                \
		err[0] = 0;                                                                        \
		ctl_parse((int)(sizeof argv_ / sizeof argv_[0]) - 1, argv_, (o), err, sizeof err); \
	})

static char err[256];

static void test_status_and_globals(void)
{
	struct ctl_opts o;
	ASSERT_OK(PARSE(&o, "status"));
	ASSERT_EQ_INT(o.action, CTL_ACT_RUN);
	ASSERT_EQ_STR(o.verb->verb, "status");
	ASSERT(!o.json);
	ASSERT_OK(PARSE(&o, "--json", "--socket", "/run/x.sock", "status"));
	ASSERT(o.json);
	ASSERT_EQ_STR(o.socket, "/run/x.sock");
	/* global options after the verb, and --opt=value */
	ASSERT_OK(PARSE(&o, "status", "--socket=/tmp/s", "--config", "/etc/m.conf", "--json"));
	ASSERT_EQ_STR(o.socket, "/tmp/s");
	ASSERT_EQ_STR(o.config, "/etc/m.conf");
	ASSERT(o.json);
	ASSERT_EQ_INT(PARSE(&o, "status", "extra"), CTL_EX_USAGE);
}

static void test_help_version(void)
{
	struct ctl_opts o;
	ASSERT_OK(PARSE(&o, "--help"));
	ASSERT_EQ_INT(o.action, CTL_ACT_HELP);
	ASSERT_OK(PARSE(&o, "account", "add", "-h"));
	ASSERT_EQ_INT(o.action, CTL_ACT_HELP);
	ASSERT_OK(PARSE(&o, "--version"));
	ASSERT_EQ_INT(o.action, CTL_ACT_VERSION);
}

static void test_usage_errors(void)
{
	struct ctl_opts o;
	char *argv0[] = {"mailraftctl", NULL};
	ASSERT_EQ_INT(ctl_parse(1, argv0, &o, err, sizeof err), CTL_EX_USAGE);
	ASSERT(strstr(err, "no command"));
	ASSERT_EQ_INT(PARSE(&o, "frobnicate"), CTL_EX_USAGE);
	ASSERT(strstr(err, "unknown command"));
	ASSERT_EQ_INT(PARSE(&o, "domain"), CTL_EX_USAGE);
	ASSERT(strstr(err, "sub-command"));
	ASSERT_EQ_INT(PARSE(&o, "domain", "frob"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "domain", "add"), CTL_EX_USAGE);
	ASSERT(strstr(err, "domain add DOMAIN"));
	ASSERT_EQ_INT(PARSE(&o, "domain", "add", "a.org", "b.org"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "--bogus", "status"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "status", "--socket"), CTL_EX_USAGE);
	ASSERT(strstr(err, "needs a value"));
	ASSERT_EQ_INT(PARSE(&o, "--json=yes", "status"), CTL_EX_USAGE);
	/* command options only where the table allows them */
	ASSERT_EQ_INT(PARSE(&o, "domain", "list", "--password", "x"), CTL_EX_USAGE);
	ASSERT(strstr(err, "does not apply"));
	ASSERT_EQ_INT(PARSE(&o, "account", "passwd", "a@b.org", "--quota", "1G"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "account", "add", "a@b.org", "--quota", "lots"), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "account", "add", "a@b.org", "--password", ""), CTL_EX_USAGE);
	ASSERT_EQ_INT(PARSE(&o, "account", "add", "a@b.org", "--password", "x", "--password-stdin"),
	              CTL_EX_USAGE);
	/* passwd needs a password source; add does not (it generates one) */
	ASSERT_EQ_INT(PARSE(&o, "account", "passwd", "a@b.org"), CTL_EX_USAGE);
	ASSERT_OK(PARSE(&o, "account", "add", "a@b.org"));
}

static void test_dashdash(void)
{
	struct ctl_opts o;
	/* after --, a leading dash is an argument, not an option */
	ASSERT_OK(PARSE(&o, "domain", "add", "--", "-x.org"));
	ASSERT_EQ_STR(o.args[0], "-x.org");
}

static void test_planned(void)
{
	struct ctl_opts o;
	const char *planned[][2] = {{"cluster", "failover"}, {"backup", "create"},
	                            {"queue", "list"},       {"dkim", "rotate"},
	                            {"cert", "reload"},      {"domain", "check"}};
	for (size_t i = 0; i < MR_ARRAY_LEN(planned); i++) {
		char *argv[] = {"mailraftctl", (char *)planned[i][0], (char *)planned[i][1], "x",
		                NULL};
		ASSERT_OK(ctl_parse(4, argv, &o, err, sizeof err));
		ASSERT_EQ_INT(o.action, CTL_ACT_PLANNED);
		ASSERT_EQ_STR(o.verb->sub, planned[i][1]);
	}
	/* an unknown sub of a planned verb is still a usage error */
	ASSERT_EQ_INT(PARSE(&o, "cluster", "explode"), CTL_EX_USAGE);
}

static void test_build_requests(void)
{
	struct ctl_opts o;
	static struct ctl_call c;
	ASSERT_OK(PARSE(&o, "domain", "add", "Example.ORG"));
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT_EQ_INT(c.req.version, CTL_VERSION);
	ASSERT_EQ_INT(c.req.cmd_case, MR__CTL_REQUEST__CMD_DOMAIN_ADD);
	ASSERT_EQ_STR(c.req.domain_add->domain, "Example.ORG"); /* the node lower-cases */

	ASSERT_OK(PARSE(&o, "alias", "rm", "info@x.org"));
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT_EQ_INT(c.req.cmd_case, MR__CTL_REQUEST__CMD_ALIAS_RM);
	ASSERT(c.req.alias_rm->target == NULL);
	ASSERT_OK(PARSE(&o, "alias", "rm", "info@x.org", "bob@x.org"));
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT_EQ_STR(c.req.alias_rm->target, "bob@x.org");

	ASSERT_OK(PARSE(&o, "account", "list"));
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT(c.req.account_list->domain == NULL);
	ASSERT_OK(PARSE(&o, "account", "list", "x.org"));
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT_EQ_STR(c.req.account_list->domain, "x.org");

	/* the built request packs and decodes as the node will see it */
	struct buf b;
	buf_init(&b, 0);
	ASSERT_OK(admin_wire_pack(&c.req.base, &b));
	Mr__CtlRequest *got;
	ASSERT_OK(admin_req_decode(b.p + 4, b.len - 4, &got));
	ASSERT_EQ_STR(got->account_list->domain, "x.org");
	admin_req_free(&got);
	buf_free(&b);
}

static void test_build_passwords(void)
{
	struct ctl_opts o;
	static struct ctl_call c;
	ASSERT_OK(PARSE(&o, "account", "add", "bob@x.org", "--password=hunter2", "--quota", "2G"));
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT_EQ_STR(c.req.account_add->password, "hunter2");
	ASSERT(!c.generated);
	ASSERT(c.req.account_add->has_quota);
	ASSERT_EQ_INT(c.req.account_add->quota, 2LL << 30);
	ctl_call_wipe(&c);
	ASSERT_EQ_INT(c.password[0], 0);

	/* generated: 20 characters of the unambiguous alphabet, different each time */
	ASSERT_OK(PARSE(&o, "account", "add", "bob@x.org"));
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT(c.generated);
	ASSERT_EQ_INT(strlen(c.password), 20);
	ASSERT(strspn(c.password, "0O1lI") == 0 && strpbrk(c.password, "0O1lI") == NULL);
	ASSERT(!c.req.account_add->has_quota);
	char first[32];
	strcpy(first, c.password);
	ASSERT_OK(ctl_build(&o, NULL, &c, err, sizeof err));
	ASSERT(strcmp(first, c.password) != 0);

	/* from stdin (already read by main) */
	ASSERT_OK(PARSE(&o, "account", "passwd", "bob@x.org", "--password-stdin"));
	ASSERT(o.password_stdin);
	ASSERT_OK(ctl_build(&o, "from-stdin", &c, err, sizeof err));
	ASSERT_EQ_INT(c.req.cmd_case, MR__CTL_REQUEST__CMD_ACCOUNT_PASSWD);
	ASSERT_EQ_STR(c.req.account_passwd->password, "from-stdin");
	ASSERT(!c.generated);
	ASSERT_EQ_INT(ctl_build(&o, "", &c, err, sizeof err), CTL_EX_USAGE);
}

static void test_password_line(void)
{
	char a[] = "secret\n", b[] = "secret\r\n", c[] = "\n", d[] = "se\tcret\n", e[] = "x";
	ASSERT_OK(ctl_password_line(a));
	ASSERT_EQ_STR(a, "secret");
	ASSERT_OK(ctl_password_line(b));
	ASSERT_EQ_STR(b, "secret");
	ASSERT_EQ_INT(ctl_password_line(c), -1);
	ASSERT_EQ_INT(ctl_password_line(d), -1);
	ASSERT_OK(ctl_password_line(e));
}

static void test_parse_size(void)
{
	int64_t v;
	ASSERT_OK(ctl_parse_size("0", &v));
	ASSERT_EQ_INT(v, 0);
	ASSERT_OK(ctl_parse_size("1500", &v));
	ASSERT_EQ_INT(v, 1500);
	ASSERT_OK(ctl_parse_size("10K", &v));
	ASSERT_EQ_INT(v, 10240);
	ASSERT_OK(ctl_parse_size("500m", &v));
	ASSERT_EQ_INT(v, 500LL << 20);
	ASSERT_OK(ctl_parse_size("1T", &v));
	ASSERT_EQ_INT(v, 1LL << 40);
	ASSERT_EQ_INT(ctl_parse_size("", &v), -1);
	ASSERT_EQ_INT(ctl_parse_size("G", &v), -1);
	ASSERT_EQ_INT(ctl_parse_size("-1", &v), -1);
	ASSERT_EQ_INT(ctl_parse_size("10GB", &v), -1);
	ASSERT_EQ_INT(ctl_parse_size("10X", &v), -1);
	ASSERT_EQ_INT(ctl_parse_size("99999999999999999999", &v), -1);
	ASSERT_EQ_INT(ctl_parse_size("9000000T", &v), -1); /* > INT64_MAX */
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ASSERT(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void test_socket_path(void)
{
	char p[1024], conf[512];
	unsetenv("MAILRAFT_ADMIN_SOCKET");
	unsetenv("MAILRAFT_DATA_DIR");
	ASSERT_OK(ctl_socket_path(NULL, NULL, p, sizeof p, err, sizeof err));
	ASSERT_EQ_STR(p, "./data/admin.sock");
	snprintf(conf, sizeof conf, "%s/m.conf", unit_tmpdir());
	write_file(conf, "# comment\nhostname = mx.example.org\n  data_dir = \"/var/lib/mr\"  \n"
	                 "admin_socket =\n");
	ASSERT_OK(ctl_socket_path(NULL, conf, p, sizeof p, err, sizeof err));
	ASSERT_EQ_STR(p, "/var/lib/mr/admin.sock");
	write_file(conf, "data_dir = /d\nadmin_socket = /run/mailraft/admin.sock\n");
	ASSERT_OK(ctl_socket_path(NULL, conf, p, sizeof p, err, sizeof err));
	ASSERT_EQ_STR(p, "/run/mailraft/admin.sock");
	/* environment wins over the file, as in the daemon */
	write_file(conf, "data_dir = /d\n");
	setenv("MAILRAFT_DATA_DIR", "/env/dir", 1);
	ASSERT_OK(ctl_socket_path(NULL, conf, p, sizeof p, err, sizeof err));
	ASSERT_EQ_STR(p, "/env/dir/admin.sock");
	setenv("MAILRAFT_ADMIN_SOCKET", "/env/admin.sock", 1);
	ASSERT_OK(ctl_socket_path(NULL, conf, p, sizeof p, err, sizeof err));
	ASSERT_EQ_STR(p, "/env/admin.sock");
	/* --socket wins over everything */
	ASSERT_OK(ctl_socket_path("/opt.sock", conf, p, sizeof p, err, sizeof err));
	ASSERT_EQ_STR(p, "/opt.sock");
	unsetenv("MAILRAFT_ADMIN_SOCKET");
	/* unreadable config: an error naming the file */
	ASSERT_EQ_INT(ctl_socket_path(NULL, "/nonexistent/m.conf", p, sizeof p, err, sizeof err),
	              -1);
	ASSERT(strstr(err, "/nonexistent/m.conf"));
	/* a path that does not fit */
	char small[8];
	ASSERT_EQ_INT(
	    ctl_socket_path("/a/long/path.sock", NULL, small, sizeof small, err, sizeof err), -1);
}

static void test_exit_codes(void)
{
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_OK), 0);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_EINVAL), 65);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_ENOTFOUND), 67);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_EUNAVAIL), 69);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_EINTERNAL), 70);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_EEXIST), 73);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_EVERSION), 76);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_EPERM), 77);
	ASSERT_EQ_INT(ctl_exit_code(MR__CTL_CODE__CTL_EBUSY), 65);
	ASSERT_EQ_INT(ctl_exit_code(999), 70);
}

/* Render into a memory stream and return the text (static buffer). */
static const char *render(const struct ctl_opts *o, const struct ctl_call *c,
                          const Mr__CtlResponse *r, int *status_r, const char **errtext)
{
	static char *obuf, *ebuf;
	size_t olen, elen;
	free(obuf);
	free(ebuf);
	FILE *out = open_memstream(&obuf, &olen), *ef = open_memstream(&ebuf, &elen);
	*status_r = ctl_print(o, c, r, out, ef);
	fclose(out);
	fclose(ef);
	*errtext = ebuf;
	return obuf;
}

static void test_render(void)
{
	struct ctl_opts o = {0};
	Mr__CtlResponse r;
	int st;
	const char *e;
	admin_resp_init(&r);
	const char *cols[] = {"alias", "target"};
	admin_resp_columns(&r, 2, cols);
	const char *r1[] = {"info@x.org", "bob@x.org"}, *r2[] = {"a@x.org", "q\"uote@x.org"};
	admin_resp_row(&r, 2, r1);
	admin_resp_row(&r, 2, r2);
	const char *t = render(&o, NULL, &r, &st, &e);
	ASSERT_EQ_INT(st, 0);
	ASSERT_EQ_STR(t, "ALIAS       TARGET\n"
	                 "info@x.org  bob@x.org\n"
	                 "a@x.org     q\"uote@x.org\n");
	o.json = true;
	t = render(&o, NULL, &r, &st, &e);
	ASSERT_EQ_STR(t,
	              "{\"ok\":true,\"rows\":[{\"alias\":\"info@x.org\",\"target\":\"bob@x.org\"},"
	              "{\"alias\":\"a@x.org\",\"target\":\"q\\\"uote@x.org\"}]}\n");
	admin_resp_clear(&r);

	/* fields, human: "key: value" aligned */
	admin_resp_field(&r, "version", "0.1.0");
	admin_resp_field(&r, "cluster", "single node (cluster of one)");
	admin_resp_field(&r, "up", "5s");
	o.json = false;
	t = render(&o, NULL, &r, &st, &e);
	ASSERT_EQ_STR(t, "version: 0.1.0\ncluster: single node (cluster of one)\nup:      5s\n");
	o.json = true;
	t = render(&o, NULL, &r, &st, &e);
	ASSERT_EQ_STR(t, "{\"ok\":true,\"fields\":{\"version\":\"0.1.0\",\"cluster\":"
	                 "\"single node (cluster of one)\",\"up\":\"5s\"}}\n");
	admin_resp_clear(&r);

	/* a generated password is shown once, with the message */
	static struct ctl_call c;
	strcpy(c.password, "GenPass");
	c.generated = true;
	admin_resp_message(&r, "account bob@x.org added");
	o.json = false;
	t = render(&o, &c, &r, &st, &e);
	ASSERT_EQ_STR(t, "account bob@x.org added\npassword: GenPass\n");
	o.json = true;
	t = render(&o, &c, &r, &st, &e);
	ASSERT_EQ_STR(t, "{\"ok\":true,\"message\":\"account bob@x.org added\",\"password\":"
	                 "\"GenPass\"}\n");
	admin_resp_clear(&r);

	/* errors: stderr in human mode, in the object with --json; never the password */
	admin_resp_error(&r, MR__CTL_CODE__CTL_ENOTFOUND, "no such account: z@x.org");
	o.json = false;
	t = render(&o, &c, &r, &st, &e);
	ASSERT_EQ_INT(st, 67);
	ASSERT_EQ_STR(t, "");
	ASSERT_EQ_STR(e, "mailraftctl: no such account: z@x.org\n");
	o.json = true;
	t = render(&o, &c, &r, &st, &e);
	ASSERT_EQ_INT(st, 67);
	ASSERT_EQ_STR(t, "{\"ok\":false,\"error\":\"no such account: z@x.org\",\"code\":"
	                 "\"not found\",\"exit\":67}\n");
	admin_resp_clear(&r);
}

static void test_usage_text(void)
{
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	ctl_usage(f);
	fclose(f);
	/* every implemented verb before the planned heading, planned ones after it */
	const char *planned = strstr(text, "planned (not implemented yet");
	ASSERT(planned != NULL);
	const char *acct = strstr(text, "account passwd");
	ASSERT(acct && acct < planned);
	const char *cl = strstr(text, "cluster init");
	ASSERT(cl && cl < planned);
	cl = strstr(text, "cluster failover");
	ASSERT(cl && cl > planned);
	ASSERT(strstr(planned, "queue list") && strstr(planned, "dkim rotate") &&
	       strstr(planned, "backup create"));
	free(text);
}

static const struct unit_test tests[] = {
    {"status_and_globals", test_status_and_globals},
    {"help_version", test_help_version},
    {"usage_errors", test_usage_errors},
    {"dashdash", test_dashdash},
    {"planned", test_planned},
    {"build_requests", test_build_requests},
    {"build_passwords", test_build_passwords},
    {"password_line", test_password_line},
    {"parse_size", test_parse_size},
    {"socket_path", test_socket_path},
    {"exit_codes", test_exit_codes},
    {"render", test_render},
    {"usage_text", test_usage_text},
    {0},
};
UNIT_MAIN(tests)

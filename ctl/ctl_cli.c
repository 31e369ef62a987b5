/* ctl_cli.c - mailraftctl's command line: an option table and a command table walked by one
 * parser (ctl_parse), and per-command builders that turn the parsed arguments into a
 * CtlRequest (ctl_build). No I/O except the optional password generation, so the whole
 * command line is unit-tested without a socket. */
#include "ctl.h"
#include "node/admin/admin_wire.h"
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STR(x) ((char *)(x)) /* protobuf-c wants char *; the strings outlive the request */

static int usage_err(char *err, size_t errlen, const char *fmt, ...) MR_PRINTF(3, 4);

/* ---- builders ------------------------------------------------------------------------- */

static int b_status(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.status = (Mr__CtlStatus)MR__CTL_STATUS__INIT;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_STATUS;
	c->req.status = &c->u.status;
	return 0;
}

static int b_domain_add(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.domain_add = (Mr__CtlDomainAdd)MR__CTL_DOMAIN_ADD__INIT;
	c->u.domain_add.domain = STR(o->args[0]);
	c->req.cmd_case = MR__CTL_REQUEST__CMD_DOMAIN_ADD;
	c->req.domain_add = &c->u.domain_add;
	return 0;
}

static int b_domain_list(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.domain_list = (Mr__CtlDomainList)MR__CTL_DOMAIN_LIST__INIT;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_DOMAIN_LIST;
	c->req.domain_list = &c->u.domain_list;
	return 0;
}

static int b_domain_rm(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.domain_rm = (Mr__CtlDomainRm)MR__CTL_DOMAIN_RM__INIT;
	c->u.domain_rm.domain = STR(o->args[0]);
	c->req.cmd_case = MR__CTL_REQUEST__CMD_DOMAIN_RM;
	c->req.domain_rm = &c->u.domain_rm;
	return 0;
}

static int b_domain_dns(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.domain_dns = (Mr__CtlDomainDns)MR__CTL_DOMAIN_DNS__INIT;
	c->u.domain_dns.domain = STR(o->args[0]);
	c->req.cmd_case = MR__CTL_REQUEST__CMD_DOMAIN_DNS;
	c->req.domain_dns = &c->u.domain_dns;
	return 0;
}

static int b_account_add(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.account_add = (Mr__CtlAccountAdd)MR__CTL_ACCOUNT_ADD__INIT;
	c->u.account_add.address = STR(o->args[0]);
	c->u.account_add.password = c->password;
	c->u.account_add.has_quota = o->has_quota;
	c->u.account_add.quota = o->quota;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_ACCOUNT_ADD;
	c->req.account_add = &c->u.account_add;
	return 0;
}

static int b_account_list(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.account_list = (Mr__CtlAccountList)MR__CTL_ACCOUNT_LIST__INIT;
	c->u.account_list.domain = o->nargs > 0 ? STR(o->args[0]) : NULL;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_ACCOUNT_LIST;
	c->req.account_list = &c->u.account_list;
	return 0;
}

static int b_account_rm(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.account_rm = (Mr__CtlAccountRm)MR__CTL_ACCOUNT_RM__INIT;
	c->u.account_rm.address = STR(o->args[0]);
	c->req.cmd_case = MR__CTL_REQUEST__CMD_ACCOUNT_RM;
	c->req.account_rm = &c->u.account_rm;
	return 0;
}

static int b_account_passwd(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.account_passwd = (Mr__CtlAccountPasswd)MR__CTL_ACCOUNT_PASSWD__INIT;
	c->u.account_passwd.address = STR(o->args[0]);
	c->u.account_passwd.password = c->password;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_ACCOUNT_PASSWD;
	c->req.account_passwd = &c->u.account_passwd;
	return 0;
}

static int b_alias_add(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.alias_add = (Mr__CtlAliasAdd)MR__CTL_ALIAS_ADD__INIT;
	c->u.alias_add.alias = STR(o->args[0]);
	c->u.alias_add.target = STR(o->args[1]);
	c->req.cmd_case = MR__CTL_REQUEST__CMD_ALIAS_ADD;
	c->req.alias_add = &c->u.alias_add;
	return 0;
}

static int b_alias_list(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.alias_list = (Mr__CtlAliasList)MR__CTL_ALIAS_LIST__INIT;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_ALIAS_LIST;
	c->req.alias_list = &c->u.alias_list;
	return 0;
}

static int b_alias_rm(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.alias_rm = (Mr__CtlAliasRm)MR__CTL_ALIAS_RM__INIT;
	c->u.alias_rm.alias = STR(o->args[0]);
	c->u.alias_rm.target = o->nargs > 1 ? STR(o->args[1]) : NULL;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_ALIAS_RM;
	c->req.alias_rm = &c->u.alias_rm;
	return 0;
}

static int b_cluster_members(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.cluster_members = (Mr__CtlClusterMembers)MR__CTL_CLUSTER_MEMBERS__INIT;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_CLUSTER_MEMBERS;
	c->req.cluster_members = &c->u.cluster_members;
	return 0;
}

static int b_cluster_add(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	if (!o->has_id || !o->address)
		return usage_err(err, errlen,
		                 "usage: mailraftctl cluster add --id N --address HOST:PORT");
	c->u.cluster_add = (Mr__CtlClusterAdd)MR__CTL_CLUSTER_ADD__INIT;
	c->u.cluster_add.id = o->id;
	c->u.cluster_add.address = STR(o->address);
	c->req.cmd_case = MR__CTL_REQUEST__CMD_CLUSTER_ADD;
	c->req.cluster_add = &c->u.cluster_add;
	return 0;
}

/* The node id given as the one argument of promote / demote / remove. */
static int arg_id(const struct ctl_opts *o, uint64_t *id_r, char *err, size_t errlen)
{
	if (ctl_parse_id(o->args[0], id_r) != 0)
		return usage_err(err, errlen, "invalid node id '%s' (a number from 1)", o->args[0]);
	return 0;
}

static int assign(const struct ctl_opts *o, struct ctl_call *c, Mr__CtlClusterRole role, char *err,
                  size_t errlen)
{
	c->u.cluster_assign = (Mr__CtlClusterAssign)MR__CTL_CLUSTER_ASSIGN__INIT;
	if (arg_id(o, &c->u.cluster_assign.id, err, errlen) != 0)
		return CTL_EX_USAGE;
	c->u.cluster_assign.role = role;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_CLUSTER_ASSIGN;
	c->req.cluster_assign = &c->u.cluster_assign;
	return 0;
}

static int b_cluster_promote(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	return assign(o, c, MR__CTL_CLUSTER_ROLE__CTL_ROLE_VOTER, err, errlen);
}

static int b_cluster_demote(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	return assign(o, c, MR__CTL_CLUSTER_ROLE__CTL_ROLE_SPARE, err, errlen);
}

static int b_cluster_remove(const struct ctl_opts *o, struct ctl_call *c, char *err, size_t errlen)
{
	c->u.cluster_remove = (Mr__CtlClusterRemove)MR__CTL_CLUSTER_REMOVE__INIT;
	if (arg_id(o, &c->u.cluster_remove.id, err, errlen) != 0)
		return CTL_EX_USAGE;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_CLUSTER_REMOVE;
	c->req.cluster_remove = &c->u.cluster_remove;
	return 0;
}

static int b_cluster_transfer(const struct ctl_opts *o, struct ctl_call *c, char *err,
                              size_t errlen)
{
	c->u.cluster_transfer = (Mr__CtlClusterTransfer)MR__CTL_CLUSTER_TRANSFER__INIT;
	c->u.cluster_transfer.has_to = o->has_to;
	c->u.cluster_transfer.to = o->to;
	c->req.cmd_case = MR__CTL_REQUEST__CMD_CLUSTER_TRANSFER;
	c->req.cluster_transfer = &c->u.cluster_transfer;
	return 0;
}

/* ---- the command table ---------------------------------------------------------------- */

#define PW (CTL_F_PASSWORD)
#define PLANNED(v, s, a, h)                                                                        \
	{                                                                                          \
		v, s, a, h, 0, CTL_MAX_ARGS, CTL_F_PLANNED, NULL                                   \
	}

static const struct ctl_verb ctl_verbs[] = {
    {"status", NULL, "", "node version, uptime, listeners, counts", 0, 0, 0, b_status},
    {"domain", "add", "DOMAIN", "add a local domain", 1, 1, 0, b_domain_add},
    {"domain", "list", "", "list the local domains", 0, 0, 0, b_domain_list},
    {"domain", "dns", "DOMAIN", "print the DNS records to publish for a local domain", 1, 1, 0,
     b_domain_dns},
    {"domain", "rm", "DOMAIN", "remove a domain (it must have no accounts or aliases)", 1, 1, 0,
     b_domain_rm},
    {"account", "add", "ADDRESS [--password PW | --password-stdin] [--quota SIZE]",
     "add an account; without a password option one is generated and printed", 1, 1,
     PW | CTL_F_GENPW | CTL_F_QUOTA, b_account_add},
    {"account", "list", "[DOMAIN]", "list accounts, optionally of one domain", 0, 1, 0,
     b_account_list},
    {"account", "rm", "ADDRESS", "remove an account and delete its mail", 1, 1, 0, b_account_rm},
    {"account", "passwd", "ADDRESS (--password PW | --password-stdin)", "set an account's password",
     1, 1, PW, b_account_passwd},
    {"alias", "add", "ALIAS TARGET", "deliver mail for ALIAS to the local account TARGET", 2, 2, 0,
     b_alias_add},
    {"alias", "list", "", "list aliases and their targets", 0, 0, 0, b_alias_list},
    {"alias", "rm", "ALIAS [TARGET]", "remove one target of an alias, or the whole alias", 1, 2, 0,
     b_alias_rm},
    {"cluster", "init", "[--address HOST:PORT] [--id N]",
     "offline (daemon stopped): make this node the first member of a new cluster", 0, 0,
     CTL_F_OFFLINE | CTL_F_ID | CTL_F_ADDRESS, NULL},
    {"cluster", "join", "TOKEN",
     "offline (daemon stopped, empty data dir): fetch credentials with a token from cluster add", 1,
     1, CTL_F_OFFLINE, NULL},
    {"cluster", "members", "", "list the members: role, state, applied index, lag, reachable", 0, 0,
     0, b_cluster_members},
    {"cluster", "add", "--id N --address HOST:PORT",
     "invite a new node; prints the token for cluster join on the new machine", 0, 0,
     CTL_F_ID | CTL_F_ADDRESS, b_cluster_add},
    {"cluster", "promote", "ID", "make a member a voter (after it caught up)", 1, 1, 0,
     b_cluster_promote},
    {"cluster", "demote", "ID", "make a voter a spare (no vote, no replication)", 1, 1, 0,
     b_cluster_demote},
    {"cluster", "remove", "ID", "remove a member from the cluster", 1, 1, 0, b_cluster_remove},
    {"cluster", "transfer", "[--to ID]", "hand leadership to ID or the most up-to-date voter", 0, 0,
     CTL_F_TO, b_cluster_transfer},
    /* later work: listed under "planned" in --help, answer "not implemented yet" (69) */
    PLANNED("cluster", "failover", "", "force a new leader"),
    PLANNED("backup", "create", "", "take a backup"),
    PLANNED("backup", "list", "", "list backups"),
    PLANNED("backup", "verify", "NAME", "check a backup"),
    PLANNED("backup", "restore", "NAME", "restore a backup"),
    PLANNED("backup", "schedule", "SPEC", "schedule backups"),
    PLANNED("domain", "check", "DOMAIN", "compare the published DNS records"),
    PLANNED("account", "quota", "ADDRESS SIZE", "change an account's quota"),
    PLANNED("queue", "list", "", "list the outbound queue"),
    PLANNED("queue", "retry", "ID", "retry a queued message now"),
    PLANNED("queue", "drop", "ID", "drop a queued message"),
    PLANNED("dkim", "rotate", "DOMAIN", "rotate a domain's DKIM key"),
    PLANNED("cert", "reload", "", "reload the TLS certificate"),
};

/* ---- the option table ----------------------------------------------------------------- */

enum opt_id {
	O_SOCKET,
	O_CONFIG,
	O_JSON,
	O_HELP,
	O_VERSION,
	O_PASSWORD,
	O_PWSTDIN,
	O_QUOTA,
	O_ID,
	O_ADDRESS,
	O_TO,
};

struct ctl_option {
	const char *name;
	bool has_arg;
	unsigned needs; /* command flag the verb must carry; 0: global */
	enum opt_id id;
};

static const struct ctl_option ctl_options[] = {
    {"--socket", true, 0, O_SOCKET},
    {"--config", true, 0, O_CONFIG},
    {"--json", false, 0, O_JSON},
    {"--help", false, 0, O_HELP},
    {"-h", false, 0, O_HELP},
    {"--version", false, 0, O_VERSION},
    {"-V", false, 0, O_VERSION},
    {"--password", true, CTL_F_PASSWORD, O_PASSWORD},
    {"--password-stdin", false, CTL_F_PASSWORD, O_PWSTDIN},
    {"--quota", true, CTL_F_QUOTA, O_QUOTA},
    {"--id", true, CTL_F_ID, O_ID},
    {"--address", true, CTL_F_ADDRESS, O_ADDRESS},
    {"--to", true, CTL_F_TO, O_TO},
};

static int usage_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CTL_EX_USAGE;
}

/* Find an option by "--name" or "--name=value"; *val_r gets the inline value. */
static const struct ctl_option *find_option(const char *arg, const char **val_r)
{
	*val_r = NULL;
	for (size_t i = 0; i < MR_ARRAY_LEN(ctl_options); i++) {
		const struct ctl_option *op = &ctl_options[i];
		size_t n = strlen(op->name);
		if (strncmp(arg, op->name, n) != 0)
			continue;
		if (arg[n] == 0)
			return op;
		if (arg[n] == '=' && op->has_arg) {
			*val_r = arg + n + 1;
			return op;
		}
	}
	return NULL;
}

static const struct ctl_verb *find_verb(const char *verb, const char *sub, bool *known_verb)
{
	*known_verb = false;
	for (size_t i = 0; i < MR_ARRAY_LEN(ctl_verbs); i++) {
		const struct ctl_verb *v = &ctl_verbs[i];
		if (strcmp(v->verb, verb) != 0)
			continue;
		*known_verb = true;
		if (!v->sub || (sub && strcmp(v->sub, sub) == 0))
			return v;
	}
	return NULL;
}

static int apply_option(struct ctl_opts *o, const struct ctl_option *op, const char *val, char *err,
                        size_t errlen)
{
	switch (op->id) {
	case O_SOCKET:
		o->socket = val;
		break;
	case O_CONFIG:
		o->config = val;
		break;
	case O_JSON:
		o->json = true;
		break;
	case O_HELP:
		o->action = CTL_ACT_HELP;
		break;
	case O_VERSION:
		o->action = CTL_ACT_VERSION;
		break;
	case O_PASSWORD:
		o->password = val;
		break;
	case O_PWSTDIN:
		o->password_stdin = true;
		break;
	case O_QUOTA:
		if (ctl_parse_size(val, &o->quota) != 0)
			return usage_err(err, errlen, "invalid --quota '%s' (e.g. 500M, 10G)", val);
		o->has_quota = true;
		break;
	case O_ID:
		if (ctl_parse_id(val, &o->id) != 0)
			return usage_err(err, errlen, "invalid --id '%s' (a number from 1)", val);
		o->has_id = true;
		break;
	case O_ADDRESS:
		if (!val[0])
			return usage_err(err, errlen, "empty --address (HOST:PORT)");
		o->address = val;
		break;
	case O_TO:
		if (ctl_parse_id(val, &o->to) != 0)
			return usage_err(err, errlen, "invalid --to '%s' (a node id from 1)", val);
		o->has_to = true;
		break;
	}
	return 0;
}

int ctl_parse(int argc, char **argv, struct ctl_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	o->action = CTL_ACT_RUN;
	const char *words[2 + CTL_MAX_ARGS];
	int nwords = 0;
	const struct ctl_option *cmd_opts[MR_ARRAY_LEN(ctl_options)];
	size_t ncmd_opts = 0;
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!dashdash && strcmp(a, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (dashdash || a[0] != '-' || a[1] == 0) {
			if (nwords == (int)MR_ARRAY_LEN(words))
				return usage_err(err, errlen, "too many arguments");
			words[nwords++] = a;
			continue;
		}
		const char *val;
		const struct ctl_option *op = find_option(a, &val);
		if (!op)
			return usage_err(err, errlen, "unknown option '%s'", a);
		if (op->has_arg && !val) {
			if (i + 1 >= argc)
				return usage_err(err, errlen, "option %s needs a value", a);
			val = argv[++i];
		}
		int rv = apply_option(o, op, val, err, errlen);
		if (rv != 0)
			return rv;
		if (op->needs && ncmd_opts < MR_ARRAY_LEN(cmd_opts))
			cmd_opts[ncmd_opts++] = op; /* checked against the verb below */
	}
	if (o->action == CTL_ACT_HELP || o->action == CTL_ACT_VERSION)
		return 0;
	if (nwords == 0)
		return usage_err(err, errlen, "no command given (try --help)");
	bool known;
	o->verb_name = words[0];
	o->sub_name = nwords > 1 ? words[1] : NULL;
	const struct ctl_verb *v = find_verb(words[0], o->sub_name, &known);
	if (!known)
		return usage_err(err, errlen, "unknown command '%s' (try --help)", words[0]);
	if (!v && o->sub_name)
		return usage_err(err, errlen, "unknown %s sub-command '%s' (try --help)", words[0],
		                 o->sub_name);
	if (!v)
		return usage_err(err, errlen, "%s needs a sub-command (try --help)", words[0]);
	o->verb = v;
	int first = v->sub ? 2 : 1;
	if (v->flags & CTL_F_PLANNED) {
		o->action = CTL_ACT_PLANNED;
		return 0;
	}
	o->nargs = nwords - first;
	if (o->nargs < v->min_args || o->nargs > v->max_args)
		return usage_err(err, errlen, "usage: mailraftctl %s%s%s %s", v->verb,
		                 v->sub ? " " : "", v->sub ? v->sub : "", v->args);
	for (int i = 0; i < o->nargs; i++)
		o->args[i] = words[first + i];
	/* command options must belong to the command (one central check) */
	for (size_t i = 0; i < ncmd_opts; i++)
		if (!(v->flags & cmd_opts[i]->needs))
			return usage_err(err, errlen, "option %s does not apply to '%s%s%s'",
			                 cmd_opts[i]->name, v->verb, v->sub ? " " : "",
			                 v->sub ? v->sub : "");
	if (o->password && o->password_stdin)
		return usage_err(err, errlen, "give either --password or --password-stdin");
	if ((v->flags & CTL_F_PASSWORD) && !(v->flags & CTL_F_GENPW) && !o->password &&
	    !o->password_stdin)
		return usage_err(err, errlen, "%s %s needs --password PW or --password-stdin",
		                 v->verb, v->sub);
	if (o->password && (!o->password[0] || strlen(o->password) > CTL_PASSWORD_MAX))
		return usage_err(err, errlen, "the password must be 1 to %d bytes",
		                 CTL_PASSWORD_MAX);
	if (v->flags & CTL_F_OFFLINE)
		o->action = CTL_ACT_OFFLINE;
	return 0;
}

int ctl_build(const struct ctl_opts *o, const char *pw, struct ctl_call *call, char *err,
              size_t errlen)
{
	memset(call, 0, sizeof *call);
	call->req = (Mr__CtlRequest)MR__CTL_REQUEST__INIT;
	call->req.version = CTL_VERSION;
	const struct ctl_verb *v = o->verb;
	if (v->flags & CTL_F_PASSWORD) {
		const char *src = o->password ? o->password : pw;
		if (src) {
			size_t n = strlen(src);
			if (n == 0 || n > CTL_PASSWORD_MAX)
				return usage_err(err, errlen, "the password must be 1 to %d bytes",
				                 CTL_PASSWORD_MAX);
			memcpy(call->password, src, n + 1);
		} else if (v->flags & CTL_F_GENPW) {
			/* 20 of 55 symbols: about 115 bits */
			ctl_gen_password(call->password, 20);
			call->generated = true;
		} else {
			return usage_err(err, errlen, "no password given");
		}
	}
	return v->build(o, call, err, errlen);
}

void ctl_call_wipe(struct ctl_call *call)
{
	sodium_memzero(call->password, sizeof call->password);
}

void ctl_gen_password(char *out, size_t n)
{
	/* no 0/O, 1/l/I: read aloud or copied by hand without mistakes */
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	if (sodium_init() < 0)
		abort();
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[randombytes_uniform((uint32_t)(sizeof alphabet - 1))];
	out[n] = 0;
}

int ctl_parse_size(const char *s, int64_t *out_r)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -1;
	unsigned shift = 0;
	switch (s[i]) {
	case 0:
		break;
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (s[i] && s[i + 1] != 0)
		return -1;
	if (v > ((uint64_t)INT64_MAX >> shift))
		return -1;
	*out_r = (int64_t)(v << shift);
	return 0;
}

int ctl_parse_id(const char *s, uint64_t *out_r)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i >= 19) /* 19 digits cover INT64_MAX; more is no raft id */
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0 || s[i] != 0 || v == 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*out_r = v;
	return 0;
}

int ctl_password_line(char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '\n')
		s[--n] = 0;
	if (n && s[n - 1] == '\r')
		s[--n] = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -1;
	return 0;
}

static void usage_group(FILE *f, bool planned)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(ctl_verbs); i++) {
		const struct ctl_verb *v = &ctl_verbs[i];
		if (!(v->flags & CTL_F_PLANNED) != !planned)
			continue;
		char head[128];
		snprintf(head, sizeof head, "%s%s%s %s", v->verb, v->sub ? " " : "",
		         v->sub ? v->sub : "", v->args);
		if (strlen(head) > 28)
			fprintf(f, "  %s\n  %-28s %s\n", head, "", v->help);
		else
			fprintf(f, "  %-28s %s\n", head, v->help);
	}
}

void ctl_usage(FILE *f)
{
	fputs("usage: mailraftctl [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]\n"
	      "       mailraftctl --help | --version\n"
	      "\n"
	      "Administer a running mailraft node over its admin socket (cluster init and\n"
	      "cluster join work on the data directory while the daemon is stopped).\n"
	      "\n"
	      "options:\n"
	      "  --socket PATH      admin socket (default: $MAILRAFT_ADMIN_SOCKET, else the\n"
	      "                     config's admin_socket or <data_dir>/admin.sock, else\n"
	      "                     ./data/admin.sock)\n"
	      "  --config FILE      the daemon's config file (admin_socket, data_dir,\n"
	      "                     master_key_file, cluster_address are read)\n"
	      "  --json             print results as JSON\n"
	      "  --id N, --address HOST:PORT, --to ID\n"
	      "                     node id, raft address, target of the cluster verbs\n"
	      "\n"
	      "commands:\n",
	      f);
	usage_group(f, false);
	fputs("\nplanned (not implemented yet; exit status 69):\n", f);
	usage_group(f, true);
	fputs("\nexit status (sysexits.h): 0 ok, 64 usage, 65 invalid data, 67 no such\n"
	      "account/domain/alias/member, 69 daemon unavailable, not in cluster mode or command\n"
	      "not implemented, 70 internal error, 73 already exists, 74 I/O error, 75 daemon\n"
	      "running (offline verbs), 76 protocol mismatch, 77 permission denied,\n"
	      "78 configuration error.\n",
	      f);
}

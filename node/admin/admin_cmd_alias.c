/* admin_cmd_alias.c - `alias add|list|rm`. An alias is an address in a local domain that
 * delivers to one or more local accounts (remote forwarding targets come with the outbound
 * queue). Checks in the job: the alias's domain is local, the alias is not itself an account,
 * the target is an existing account, and an alias has at most ADMIN_ALIAS_MAX_TARGETS. */
#include "admin_int.h"
#include "admin_valid.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>

/* features.md "Limits": forwarding to at most 10 targets per alias. */
#define ADMIN_ALIAS_MAX_TARGETS 10

struct count_ctx {
	const char *alias;
	size_t n;
};

static void count_targets(void *ud, const char *alias, const char *target)
{
	struct count_ctx *cc = ud;
	if (strcmp(alias, cc->alias) == 0)
		cc->n++;
}

static int alias_add_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	Mr__CtlAliasAdd *a = r->req->alias_add;
	struct dir_account acct;
	if (!dir_domain_exists(db, strchr(a->alias, '@') + 1)) {
		r->why = "the alias's domain is not a local domain";
		return MR_ENOTFOUND;
	}
	if (dir_account_get(db, a->alias, &acct) == 0) {
		r->why = "an account with that address exists";
		return MR_EEXIST;
	}
	if (dir_account_get(db, a->target, &acct) != 0) {
		r->why = "the target is not a local account";
		return MR_ENOTFOUND;
	}
	struct count_ctx cc = {a->alias, 0};
	int rv = dir_alias_list(db, count_targets, &cc);
	if (rv != 0)
		return rv;
	if (cc.n >= ADMIN_ALIAS_MAX_TARGETS) {
		r->why = "the alias already has the maximum of 10 targets";
		return MR_EINVAL;
	}
	rv = dir_alias_add(db, a->alias, a->target);
	if (rv == MR_EEXIST)
		r->why = "the alias already has that target";
	return rv;
}

static void alias_add_done(struct admin_req *r, int rv)
{
	Mr__CtlAliasAdd *a = r->req->alias_add;
	if (rv != 0) {
		admin__fail(r, rv, "cannot add alias %s -> %s: %s", a->alias, a->target,
		            r->why ? r->why : mr_strerror(rv));
		return;
	}
	log_info("admin", "alias added alias=%s target=%s uid=%u", a->alias, a->target,
	         (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "alias %s -> %s added", a->alias, a->target);
	admin__reply(r);
}

static int check_addr(struct admin_req *r, char *addr, const char *what)
{
	const char *why;
	if (admin_valid_address(addr, NULL, &why) != 0) {
		admin__fail(r, MR_EINVAL, "invalid %s: %s", what, why);
		return MR_EINVAL;
	}
	return 0;
}

void admin__cmd_alias_add(struct admin_req *r)
{
	Mr__CtlAliasAdd *a = r->req->alias_add;
	if (check_addr(r, a->alias, "alias") != 0 || check_addr(r, a->target, "target") != 0)
		return;
	if (strcmp(a->alias, a->target) == 0) {
		admin__fail(r, MR_EINVAL, "an alias cannot point at itself");
		return;
	}
	admin__job(r, STORE_DIRECTORY, 0, alias_add_job, alias_add_done);
}

static void alias_row(void *ud, const char *alias, const char *target)
{
	struct admin_req *r = ud;
	const char *cells[] = {alias, target};
	admin_resp_row(&r->resp, 2, cells);
}

static int alias_list_job(struct store_db *db, void *arg)
{
	return dir_alias_list(db, alias_row, arg);
}

static void alias_list_done(struct admin_req *r, int rv)
{
	if (rv != 0) {
		admin__fail(r, rv, "cannot list aliases: %s", mr_strerror(rv));
		return;
	}
	admin__reply(r);
}

void admin__cmd_alias_list(struct admin_req *r)
{
	static const char *const cols[] = {"alias", "target"};
	admin_resp_columns(&r->resp, 2, cols);
	admin__job(r, STORE_DIRECTORY, 0, alias_list_job, alias_list_done);
}

static int alias_rm_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	return dir_alias_rm(db, r->req->alias_rm->alias, r->req->alias_rm->target);
}

static void alias_rm_done(struct admin_req *r, int rv)
{
	Mr__CtlAliasRm *a = r->req->alias_rm;
	if (rv == MR_ENOTFOUND) {
		admin__fail(r, rv, "no such alias: %s%s%s", a->alias, a->target ? " -> " : "",
		            a->target ? a->target : "");
		return;
	}
	if (rv != 0) {
		admin__fail(r, rv, "cannot remove alias %s: %s", a->alias, mr_strerror(rv));
		return;
	}
	log_info("admin", "alias removed alias=%s uid=%u", a->alias, (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "alias %s%s%s removed", a->alias, a->target ? " -> " : "",
	                   a->target ? a->target : "");
	admin__reply(r);
}

void admin__cmd_alias_rm(struct admin_req *r)
{
	Mr__CtlAliasRm *a = r->req->alias_rm;
	if (check_addr(r, a->alias, "alias") != 0 ||
	    (a->target && check_addr(r, a->target, "target") != 0))
		return;
	admin__job(r, STORE_DIRECTORY, 0, alias_rm_job, alias_rm_done);
}

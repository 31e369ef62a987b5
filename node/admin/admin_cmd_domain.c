/* admin_cmd_domain.c - `domain add|list|rm`: the local domains of the directory. Names are
 * checked (RFC 1035 §2.3.1) and lower-cased before a job on the directory database runs. */
#include "admin_int.h"
#include "admin_valid.h"
#include "common/err.h"
#include "common/log.h"

static int domain_add_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	return dir_domain_add(db, r->req->domain_add->domain);
}

static void domain_add_done(struct admin_req *r, int rv)
{
	const char *d = r->req->domain_add->domain;
	if (rv == MR_EEXIST) {
		admin__fail(r, rv, "domain %s already exists", d);
		return;
	}
	if (rv != 0) {
		admin__fail(r, rv, "cannot add domain %s: %s", d, mr_strerror(rv));
		return;
	}
	log_info("admin", "domain added domain=%s uid=%u", d, (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "domain %s added", d);
	admin__reply(r);
}

void admin__cmd_domain_add(struct admin_req *r)
{
	const char *why;
	if (admin_valid_domain(r->req->domain_add->domain, &why) != 0) {
		admin__fail(r, MR_EINVAL, "invalid domain: %s", why);
		return;
	}
	admin__job(r, STORE_DIRECTORY, 0, domain_add_job, domain_add_done);
}

static void domain_row(void *ud, const char *name, const char *unused)
{
	struct admin_req *r = ud;
	admin_resp_row(&r->resp, 1, &name);
}

static int domain_list_job(struct store_db *db, void *arg)
{
	return dir_domain_list(db, domain_row, arg);
}

static void list_done(struct admin_req *r, int rv)
{
	if (rv != 0) {
		admin__fail(r, rv, "cannot list: %s", mr_strerror(rv));
		return;
	}
	admin__reply(r);
}

void admin__cmd_domain_list(struct admin_req *r)
{
	static const char *const cols[] = {"domain"};
	admin_resp_columns(&r->resp, 1, cols);
	admin__job(r, STORE_DIRECTORY, 0, domain_list_job, list_done);
}

static int domain_rm_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	return dir_domain_rm(db, r->req->domain_rm->domain);
}

static void domain_rm_done(struct admin_req *r, int rv)
{
	const char *d = r->req->domain_rm->domain;
	if (rv == MR_ENOTFOUND) {
		admin__fail(r, rv, "no such domain: %s", d);
		return;
	}
	if (rv == MR_EBUSY) {
		admin__fail(r, rv, "domain %s still has accounts or aliases; remove them first", d);
		return;
	}
	if (rv != 0) {
		admin__fail(r, rv, "cannot remove domain %s: %s", d, mr_strerror(rv));
		return;
	}
	log_info("admin", "domain removed domain=%s uid=%u", d, (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "domain %s removed", d);
	admin__reply(r);
}

void admin__cmd_domain_rm(struct admin_req *r)
{
	const char *why;
	if (admin_valid_domain(r->req->domain_rm->domain, &why) != 0) {
		admin__fail(r, MR_EINVAL, "invalid domain: %s", why);
		return;
	}
	admin__job(r, STORE_DIRECTORY, 0, domain_rm_job, domain_rm_done);
}

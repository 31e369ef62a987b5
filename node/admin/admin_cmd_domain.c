/* admin_cmd_domain.c - `domain add|list|rm|dns`: the local domains of the directory. Names are
 * checked (RFC 1035 §2.3.1) and lower-cased before a job on the directory database runs.
 * `domain dns` lists the records to publish for a domain: MX, SPF, DMARC and the client
 * autoconfiguration SRV records of the ports this node serves (DKIM records come with the
 * signing keys, not built yet). */
#include "admin_int.h"
#include "admin_valid.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "node.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

/* ---- domain dns ---------------------------------------------------------------------------- */

static int domain_dns_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	return dir_domain_exists(db, r->req->domain_dns->domain) ? 0 : MR_ENOTFOUND;
}

/* The port of a listen address ("host:port"), or NULL when the listener is off. */
static const char *port_of(const char *listen)
{
	const char *c = listen[0] ? strrchr(listen, ':') : NULL;
	return c && c[1] ? c + 1 : NULL;
}

static void dns_row(struct admin_req *r, const char *name, const char *type, const char *value,
                    const char *why)
{
	const char *cells[] = {name, type, value, why};
	admin_resp_row(&r->resp, 4, cells);
}

/* RFC 6186 / RFC 8314 service records for the client ports that are on. */
static void srv_rows(struct admin_req *r, const char *d, const char *host)
{
	const struct config *cfg = node_get()->cfg;
	static const struct {
		const char *svc;
		size_t off;
	} srv[] = {
	    {"_submissions._tcp", offsetof(struct config, submissions_listen)},
	    {"_submission._tcp", offsetof(struct config, submission_listen)},
	    {"_imaps._tcp", offsetof(struct config, imaps_listen)},
	    {"_imap._tcp", offsetof(struct config, imap_listen)},
	    {"_pop3s._tcp", offsetof(struct config, pop3s_listen)},
	    {"_pop3._tcp", offsetof(struct config, pop3_listen)},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(srv); i++) {
		const char *port = port_of((const char *)cfg + srv[i].off);
		if (!port)
			continue;
		char name[300], value[320];
		snprintf(name, sizeof name, "%s.%s.", srv[i].svc, d);
		snprintf(value, sizeof value, "0 1 %s %s.", port, host);
		dns_row(r, name, "SRV", value, "mail client autoconfiguration (RFC 6186)");
	}
}

static void domain_dns_done(struct admin_req *r, int rv)
{
	const char *d = r->req->domain_dns->domain;
	if (rv == MR_ENOTFOUND) {
		admin__fail(r, rv, "no such domain: %s", d);
		return;
	}
	if (rv != 0) {
		admin__fail(r, rv, "cannot read domain %s: %s", d, mr_strerror(rv));
		return;
	}
	const char *host = node_get()->hostname;
	char name[300], value[400];
	snprintf(name, sizeof name, "%s.", d);
	snprintf(value, sizeof value, "10 %s.", host);
	dns_row(r, name, "MX", value, "mail for the domain comes to this host");
	dns_row(r, name, "TXT", "v=spf1 mx -all", "SPF: only the MX hosts send for the domain");
	snprintf(name, sizeof name, "_dmarc.%s.", d);
	snprintf(value, sizeof value, "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", d);
	dns_row(r, name, "TXT", value, "DMARC policy and aggregate reports (RFC 7489)");
	srv_rows(r, d, host);
	admin__reply(r);
}

void admin__cmd_domain_dns(struct admin_req *r)
{
	const char *why;
	if (admin_valid_domain(r->req->domain_dns->domain, &why) != 0) {
		admin__fail(r, MR_EINVAL, "invalid domain: %s", why);
		return;
	}
	static const char *const cols[] = {"name", "type", "value", "purpose"};
	admin_resp_columns(&r->resp, 4, cols);
	admin__job(r, STORE_DIRECTORY, 0, domain_dns_job, domain_dns_done);
}

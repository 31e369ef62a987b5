/* admin_cmd_status.c - `status`: version, uptime, data directory, the listeners from the
 * configuration, the mode (single-node, or the cluster fields of admin_cmd_cluster.c) and the
 * number of domains, accounts and aliases, counted by a job on the directory database (skipped,
 * shown as "-", while a cluster node does not serve the directory yet). */
#include "admin_int.h"
#include "cluster/cluster.h"
#include "common/err.h"
#include "node.h"
#include <inttypes.h>
#include <stdio.h>

static void count_cb(void *ud, const char *a, const char *b)
{
	(*(uint64_t *)ud)++;
}

static int status_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	int rv = dir_domain_list(db, count_cb, &r->n_domains);
	if (rv == 0)
		rv = dir_account_list(db, count_cb, &r->n_accounts);
	if (rv == 0)
		rv = dir_alias_list(db, count_cb, &r->n_aliases);
	return rv;
}

static void count(struct admin_req *r, const char *name, uint64_t n)
{
	char tmp[24];
	if (r->no_counts)
		snprintf(tmp, sizeof tmp, "-");
	else
		snprintf(tmp, sizeof tmp, "%" PRIu64, n);
	admin_resp_field(&r->resp, name, tmp);
}

static void listener(struct admin_req *r, const char *name, const char *addr)
{
	admin_resp_field(&r->resp, name, addr[0] ? addr : "off");
}

static void status_done(struct admin_req *r, int rv)
{
	if (rv != 0) {
		admin__fail(r, rv, "cannot read the directory: %s", mr_strerror(rv));
		return;
	}
	const struct config *cfg = node_get()->cfg;
	char tmp[64];
	uint64_t up = admin__uptime_s();
	admin_resp_field(&r->resp, "version", MR_VERSION);
	admin_resp_field(&r->resp, "hostname", cfg->hostname);
	snprintf(tmp, sizeof tmp, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s",
	         up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
	admin_resp_field(&r->resp, "uptime", tmp);
	snprintf(tmp, sizeof tmp, "%" PRIu64, up);
	admin_resp_field(&r->resp, "uptime_seconds", tmp);
	admin_resp_field(&r->resp, "data_dir", cfg->data_dir);
	admin__status_cluster(r);
	listener(r, "smtp", cfg->smtp_listen);
	listener(r, "submission", cfg->submission_listen);
	listener(r, "submissions", cfg->submissions_listen);
	listener(r, "imap", cfg->imap_listen);
	listener(r, "imaps", cfg->imaps_listen);
	listener(r, "pop3", cfg->pop3_listen);
	listener(r, "pop3s", cfg->pop3s_listen);
	count(r, "domains", r->n_domains);
	count(r, "accounts", r->n_accounts);
	count(r, "aliases", r->n_aliases);
	admin__reply(r);
}

void admin__cmd_status(struct admin_req *r)
{
	if (cluster_enabled(node_get()) && !cluster_ready()) {
		r->no_counts = true;
		status_done(r, 0);
		return;
	}
	admin__job(r, STORE_DIRECTORY, 0, status_job, status_done);
}

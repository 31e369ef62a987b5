/* smtp_cmd_rcpt.c - RCPT TO (RFC 5321 §4.1.1.3): parses the forward path, enforces the recipient
 * limit (§4.5.3.1.10, 452 4.5.3), then resolves the address in the directory with a store job
 * on STORE_DIRECTORY while the connection is paused. Unknown users get 550 5.1.1, domains that
 * are not ours 550 5.7.1 (we never relay), lookup failures 451 4.3.0. Accepted recipients add
 * their account databases, deduplicated, to the transaction.
 */
#include "smtp_int.h"
#include "node.h"
#include "net/conn.h"
#include "storage/store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rcpt_job {
	struct smtp_session *s; /* touched only on the loop thread (done) */
	/* inputs (read by the job) */
	char lookup[SMTP_ADDR_MAX + 64];
	char domain[SMTP_ADDR_MAX + 64];
	struct smtp_path path;
	/* outputs (written by the job, read in done) */
	int rv;
	bool domain_known;
	char **names;
	size_t n;
};

/* dir_resolve's answer means "no such local recipient" (MR_EINVAL: an address the directory
 * cannot hold, e.g. a quoted local part with spaces, so no account can match it). */
static bool rcpt_missing(const struct rcpt_job *j)
{
	return j->rv == MR_ENOTFOUND || j->rv == MR_EINVAL || (j->rv == 0 && j->n == 0);
}

/* Runs on the directory's actor thread. */
static int rcpt_job_fn(struct store_db *db, void *arg)
{
	struct rcpt_job *j = arg;
	j->rv = dir_resolve(db, j->lookup, &j->names, &j->n);
	if (rcpt_missing(j))
		j->domain_known = dir_domain_exists(db, j->domain);
	return 0;
}

static void job_free(struct rcpt_job *j)
{
	if (j->names)
		dir_names_free(j->names, j->n);
	free(j);
}

/* Add the job's databases to the transaction; false when the cap would be passed. */
static bool add_dbnames(struct smtp_session *s, struct rcpt_job *j)
{
	size_t fresh = 0;
	for (size_t i = 0; i < j->n; i++) {
		bool seen = false;
		for (size_t k = 0; k < s->ndb && !seen; k++)
			seen = strcmp(s->dbnames[k], j->names[i]) == 0;
		if (!seen)
			fresh++;
	}
	if (s->ndb + fresh > SMTP_MAX_DBNAMES)
		return false;
	if (fresh)
		s->dbnames = xrealloc(s->dbnames, (s->ndb + fresh) * sizeof *s->dbnames);
	for (size_t i = 0; i < j->n; i++) {
		bool seen = false;
		for (size_t k = 0; k < s->ndb && !seen; k++)
			seen = strcmp(s->dbnames[k], j->names[i]) == 0;
		if (!seen)
			s->dbnames[s->ndb++] = xstrdup(j->names[i]);
	}
	return true;
}

static void rcpt_done(void *arg, int rv)
{
	struct rcpt_job *j = arg;
	struct smtp_session *s = j->s;
	if (!smtp__async_end(s)) {
		job_free(j);
		return;
	}
	const char *addr = j->path.addr;
	if (rv == 0 && j->rv == 0 && j->n > 0) {
		if (!add_dbnames(s, j)) {
			smtp__reply(s, "452 4.5.3 Error: too many recipients");
		} else {
			if (s->nrcpt++ == 0)
				snprintf(s->first_rcpt, sizeof s->first_rcpt, "%s", addr);
			if (s->state == SMTP_S_MAIL)
				smtp__enter_state(s, SMTP_S_RCPT);
			smtp__reply(s, "250 2.1.5 Ok");
		}
	} else if (rv == 0 && rcpt_missing(j)) {
		s->rcpt_rejected++;
		if (j->domain_known || j->path.postmaster)
			smtp__reply(s, "550 5.1.1 <%s>: Recipient address rejected: no such user",
			            addr);
		else if (s->submission) /* authenticated, but there is no outbound queue yet */
			smtp__reply(s, "550 5.7.1 <%s>: delivery to other domains is not available"
			               " on this server yet",
			            addr);
		else
			smtp__reply(s, "550 5.7.1 <%s>: Relay access denied", addr);
		smtp__error(s);
	} else {
		log_warn("smtp", "recipient lookup failed conn=%llu err=%s",
		         (unsigned long long)conn_id(s->c), mr_strerror(rv ? rv : j->rv));
		smtp__reply(s, "451 4.3.0 <%s>: Temporary lookup failure", addr);
	}
	job_free(j);
	smtp__process(s);
}

void smtp__cmd_rcpt(struct smtp_session *s, const char *args, size_t len)
{
	const struct node *n = node_get();
	struct rcpt_job *j = xmalloc(sizeof *j);
	int rv = smtp_parse_rcpt(args, len, &j->path);
	if (rv != 0) {
		free(j);
		if (rv == MR_EINVAL)
			smtp__reply(s, "555 5.5.4 Error: unsupported RCPT parameter");
		else if (rv == MR_ETOOBIG)
			smtp__reply(s, "501 5.1.3 Error: recipient address too long");
		else
			smtp__reply(s, "501 5.1.3 Error: bad recipient address syntax");
		smtp__error(s);
		return;
	}
	if (j->path.utf8 && !s->params.smtputf8) {
		free(j);
		smtp__reply(s, "553 5.6.7 Error: SMTPUTF8 is required for a non-ASCII recipient");
		smtp__error(s);
		return;
	}
	unsigned max = n->cfg->max_recipients ? n->cfg->max_recipients : SMTP_DEFAULT_MAX_RCPT;
	if (s->nrcpt >= max) {
		free(j);
		smtp__reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (j->path.postmaster) {
		/* RFC 5321 §4.1.1.3: "<Postmaster>" is the postmaster of this host */
		snprintf(j->lookup, sizeof j->lookup, "postmaster@%s", n->hostname);
		snprintf(j->domain, sizeof j->domain, "%s", n->hostname);
	} else {
		snprintf(j->lookup, sizeof j->lookup, "%s", j->path.addr);
		snprintf(j->domain, sizeof j->domain, "%s", smtp_path_domain(&j->path));
	}
	mr_lower(j->domain);
	j->s = s;
	smtp__async_begin(s);
	rv = store_submit(n->store, STORE_DIRECTORY, 0, rcpt_job_fn, rcpt_done, j);
	if (rv != 0) {
		/* done will never be called */
		bool usable = smtp__async_end(s);
		free(j);
		if (usable)
			smtp__reply(s, "451 4.3.0 Error: temporary lookup failure");
	}
}

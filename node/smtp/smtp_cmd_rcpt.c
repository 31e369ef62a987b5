/* smtp_cmd_rcpt.c - RCPT TO (RFC 5321 §4.1.1.3): parses the forward path, enforces the recipient
 * limit (§4.5.3.1.10, 452 4.5.3), then resolves the address in the directory with a store job
 * on STORE_DIRECTORY while the connection is paused. Unknown users get 550 5.1.1, domains that
 * are not ours 550 5.7.1 (we never relay), lookup failures 451 4.3.0. Postmaster of a local
 * domain (or <Postmaster>) with no account or alias of its own resolves to postmaster_address
 * when one is configured (RFC 5321 §4.5.1). The quota of every
 * account the address names is then checked on that account's actor (usage plus the declared
 * SIZE, or one byte): a full mailbox answers 452 4.2.2. Accepted recipients add their account
 * databases, deduplicated, to the transaction.
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
	char postmaster[320]; /* postmaster_address, when the address is a postmaster */
	struct smtp_path path;
	/* outputs (written by the job, read in done) */
	int rv;
	bool domain_known;
	char **names;
	size_t n;
	int64_t *quota; /* per name: the account's quota in bytes, 0 = none */
	/* quota checks in flight (loop thread) */
	size_t checks;
	bool full, check_failed;
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
	/* RFC 5321 §4.5.1: postmaster of a local domain (or of this host) without an account or
	 * alias of its own reaches the configured postmaster */
	if (rcpt_missing(j) && j->postmaster[0] && (j->domain_known || j->path.postmaster)) {
		if (j->names)
			dir_names_free(j->names, j->n);
		j->names = NULL;
		j->n = 0;
		j->rv = dir_resolve(db, j->postmaster, &j->names, &j->n);
	}
	if (j->rv == 0 && j->n > 0) {
		j->quota = xcalloc(j->n, sizeof *j->quota);
		for (size_t i = 0; i < j->n; i++)
			if (dir_quota_of_db(db, j->names[i], &j->quota[i]) == MR_EIO)
				return MR_EIO;
	}
	return 0;
}

static void job_free(struct rcpt_job *j)
{
	if (j->names)
		dir_names_free(j->names, j->n);
	free(j->quota);
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

/* The lookup and the quota checks are over: reply (loop thread, the session usable). */
static void rcpt_answer(struct smtp_session *s, struct rcpt_job *j, int rv)
{
	const char *addr = j->path.addr;
	if (rv == 0 && j->rv == 0 && j->n > 0 && j->check_failed) {
		smtp__reply(s, "451 4.3.0 <%s>: Temporary lookup failure", addr);
	} else if (rv == 0 && j->rv == 0 && j->n > 0 && j->full) {
		/* RFC 3463 X.2.2: mailbox full; temporary, the owner may make room */
		s->rcpt_rejected++;
		log_info("smtp", "recipient over quota conn=%llu", (unsigned long long)conn_id(s->c));
		smtp__reply(s, "452 4.2.2 <%s>: Mailbox full", addr);
	} else if (rv == 0 && j->rv == 0 && j->n > 0) {
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
}

static void rcpt_finish(struct rcpt_job *j, int rv)
{
	struct smtp_session *s = j->s;
	if (smtp__async_end(s)) {
		rcpt_answer(s, j, rv);
		job_free(j);
		smtp__process(s);
		return;
	}
	job_free(j);
}

/* One account database's usage against its quota (its actor). */
struct quota_check {
	struct rcpt_job *j;
	int64_t quota;
	uint64_t need; /* bytes the message is declared to have (SIZE), at least 1 */
	bool full;
};

static int usage_job(struct store_db *db, void *arg)
{
	struct quota_check *q = arg;
	uint64_t used = 0;
	int rv = mbox_usage(db, &used);
	if (rv == 0)
		q->full = used + q->need > (uint64_t)q->quota;
	return rv;
}

static void usage_done(void *arg, int rv)
{
	struct quota_check *q = arg;
	struct rcpt_job *j = q->j;
	if (rv != 0)
		j->check_failed = true;
	else if (q->full)
		j->full = true;
	free(q);
	if (--j->checks == 0)
		rcpt_finish(j, 0);
}

/* Directory answer: check the quota of every account it names, then reply. The account
 * quota is enforced here, per recipient (RFC 3463 X.2.2); the delivery itself never fails on
 * quota, so a mailbox may go over by the messages accepted while it was below. */
static void rcpt_done(void *arg, int rv)
{
	struct rcpt_job *j = arg;
	struct smtp_session *s = j->s;
	if (rv == 0 && j->rv == 0 && j->n > 0 && !s->closed) {
		uint64_t need = s->params.has_size && s->params.size ? s->params.size : 1;
		j->checks = 1; /* held while the checks are queued */
		for (size_t i = 0; i < j->n; i++) {
			if (j->quota[i] <= 0)
				continue;
			struct quota_check *q = xmalloc(sizeof *q);
			q->j = j;
			q->quota = j->quota[i];
			q->need = need;
			j->checks++;
			if (store_submit(node_get()->store, j->names[i], 0, usage_job, usage_done,
			                 q) != 0) {
				free(q);
				j->checks--;
				j->check_failed = true;
			}
		}
		if (--j->checks > 0)
			return;
	}
	rcpt_finish(j, rv);
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
	size_t local = strcspn(j->lookup, "@");
	j->postmaster[0] = 0;
	if (local == 10 && mr_strncasecmp(j->lookup, "postmaster", 10) == 0)
		snprintf(j->postmaster, sizeof j->postmaster, "%s", n->cfg->postmaster_address);
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

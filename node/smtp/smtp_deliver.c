/* smtp_deliver.c - local delivery of a received message: one store job per distinct account
 * database of the transaction, each parsing the message with the MIME parser (for the cached
 * IMAP ENVELOPE and BODYSTRUCTURE) and appending it to INBOX in its own transaction. The message
 * bytes live in a refcounted blob shared read-only by the jobs (style practice 10). The SMTP
 * reply is sent only when every job has returned: 250 only if every commit succeeded (the
 * message is then durable, features.md: SMTP), otherwise 451 4.3.0 so the sender retries.
 */
#include "smtp_int.h"
#include "node.h"
#include "net/conn.h"
#include "storage/store.h"
#include "mime/mime.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The message blob: immutable once created, freed by the last unref (any thread). Its IMAP
 * summary (ENVELOPE, BODYSTRUCTURE) is computed once, by the first job that needs it, and
 * shared by every recipient's job (and by re-runs of a job). */
struct smtp_msg {
	atomic_uint refs;
	uint8_t *raw;
	size_t len;
	pthread_mutex_t lock; /* guards the summary */
	bool summarized;
	char *env, *bs; /* NULL when the parser could not produce them */
};

static struct smtp_msg *msg_new(struct buf *b)
{
	struct smtp_msg *m = xmalloc(sizeof *m);
	atomic_init(&m->refs, 1);
	m->raw = buf_steal(b, &m->len);
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

/* Parse once (on whichever actor thread gets there first), outside any transaction. */
static void msg_summarize(struct smtp_msg *m)
{
	pthread_mutex_lock(&m->lock);
	if (!m->summarized) {
		struct buf env, bs;
		buf_init(&env, 0);
		buf_init(&bs, 0);
		struct mime_part *root = NULL;
		struct mime_parser *mp = mime_parse(m->raw, m->len, &root);
		if (root && mime_envelope(m->raw, root, &env) == 0)
			m->env = (char *)buf_steal(&env, NULL);
		if (root && mime_bodystructure(m->raw, root, true, &bs) == 0)
			m->bs = (char *)buf_steal(&bs, NULL);
		mime_parser_free(&mp);
		buf_free(&env);
		buf_free(&bs);
		m->summarized = true;
	}
	pthread_mutex_unlock(&m->lock);
}

static struct smtp_msg *msg_ref(struct smtp_msg *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

static void msg_unref(struct smtp_msg **mp)
{
	struct smtp_msg *m = *mp;
	*mp = NULL;
	if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
		pthread_mutex_destroy(&m->lock);
		free(m->env);
		free(m->bs);
		free(m->raw);
		free(m);
	}
}

/* One delivery (all recipients of one message); loop thread only. */
struct delivery {
	struct smtp_session *s;
	struct smtp_msg *msg;
	char **dbnames; /* taken from the session: store_submit may keep the name until done */
	size_t ndb;
	size_t pending;
	size_t failed;
	size_t nrcpt;
	int64_t now;
	char queue_id[24];
};

/* One job: shares the blob; written only by its actor thread until done runs. */
struct deliver_job {
	struct delivery *dl;
	struct smtp_msg *msg;
	int64_t now;
	uint32_t uid;
	bool sent_copy; /* submission_copy_to_sent: the sender's \Sent folder, \Seen */
};

/* Runs on the account database's actor thread. */
static int deliver_job_fn(struct store_db *db, void *arg)
{
	struct deliver_job *j = arg;
	struct smtp_msg *m = j->msg;
	msg_summarize(m);
	char folder[512] = "INBOX";
	if (j->sent_copy) {
		int r = mbox_folder_special(db, "\\Sent", folder, sizeof folder);
		if (r == MR_ENOTFOUND)
			return 0; /* the user removed it: no copy */
		if (r != 0)
			return r;
	}
	int rv = store_tx_begin(db);
	if (rv == 0) {
		rv = mbox_append(db, folder, j->sent_copy ? "\\Seen" : "", j->now, m->raw, m->len,
		                 m->env, m->bs, &j->uid);
		if (rv == 0)
			rv = store_tx_commit(db);
		else
			store_tx_rollback(db);
	}
	return rv;
}

static void delivery_free(struct delivery *dl)
{
	msg_unref(&dl->msg);
	for (size_t i = 0; i < dl->ndb; i++)
		free(dl->dbnames[i]);
	free(dl->dbnames);
	free(dl);
}

/* Every job has returned (or none could be queued): log, reply, go back to HELO. */
static void delivery_finish(struct delivery *dl, bool async)
{
	struct smtp_session *s = dl->s;
	bool ok = dl->failed == 0;
	log_info("smtp", "delivery queue_id=%s size=%zu nrcpt=%zu ndb=%zu result=%s", dl->queue_id,
	         dl->msg->len, dl->nrcpt, dl->ndb, ok ? "delivered" : "tempfail");
	bool usable = smtp__async_end(s);
	if (usable) {
		if (ok)
			smtp__reply(s, "250 2.0.0 Ok: queued as %s", dl->queue_id);
		else
			smtp__reply(s, "451 4.3.0 Error: local delivery failed, try again later");
		smtp__reset_tx(s);
		smtp__enter_state(s, SMTP_S_HELO);
	}
	delivery_free(dl);
	if (usable && async)
		smtp__process(s);
}

static void deliver_done(void *arg, int rv)
{
	struct deliver_job *j = arg;
	struct delivery *dl = j->dl;
	if (rv != 0 && j->sent_copy) {
		/* the recipients have it: a missing Sent copy must not make the client resend */
		log_warn("smtp", "copy to Sent failed queue_id=%s err=%s", dl->queue_id,
		         mr_strerror(rv));
	} else if (rv != 0) {
		dl->failed++;
		log_warn("smtp", "store failed queue_id=%s err=%s", dl->queue_id, mr_strerror(rv));
	}
	msg_unref(&j->msg);
	free(j);
	if (--dl->pending == 0)
		delivery_finish(dl, true);
}

void smtp__deliver(struct smtp_session *s)
{
	const struct node *n = node_get();
	struct delivery *dl = xmalloc(sizeof *dl);
	dl->s = s;
	dl->msg = msg_new(&s->msg);
	dl->dbnames = s->dbnames;
	dl->ndb = s->ndb;
	s->dbnames = NULL;
	s->ndb = 0;
	dl->nrcpt = s->nrcpt;
	dl->now = (int64_t)time(NULL);
	snprintf(dl->queue_id, sizeof dl->queue_id, "%s", s->queue_id);

	smtp__async_begin(s);
	/* pending starts at 1 so that a job finishing early cannot end the delivery while we
	 * are still queueing the others */
	dl->pending = 1;
	bool sent = s->submission && s->authed && n->cfg->submission_copy_to_sent;
	for (size_t i = 0; i < dl->ndb + (sent ? 1 : 0); i++) {
		struct deliver_job *j = xmalloc(sizeof *j);
		j->dl = dl;
		j->msg = msg_ref(dl->msg);
		j->now = dl->now;
		j->sent_copy = i == dl->ndb;
		dl->pending++;
		int rv = store_submit(n->store, j->sent_copy ? s->auth_db : dl->dbnames[i],
		                      STORE_GROUP, deliver_job_fn, deliver_done, j);
		if (rv != 0) {
			/* done will never be called for this one */
			dl->pending--;
			if (!j->sent_copy)
				dl->failed++;
			log_warn("smtp", "store submit failed queue_id=%s err=%s", dl->queue_id,
			         mr_strerror(rv));
			msg_unref(&j->msg);
			free(j);
		}
	}
	if (dl->ndb == 0)
		dl->failed++; /* cannot happen: DATA needs an accepted recipient */
	if (--dl->pending == 0)
		delivery_finish(dl, false);
}

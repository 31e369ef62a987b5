/* imap_job.c - store jobs for the IMAP session and the selected mailbox's sequence-number
 * snapshot. A job runs on the account database's actor with its own copy of the snapshot; the
 * session's conn is paused and held meanwhile (conn.h lifetime rules). After the command's own
 * work, a job in the selected state refreshes its copy against the folder and queues the
 * untagged EXISTS / EXPUNGE / FETCH FLAGS updates (RFC 3501 §7.3.1, §7.4.1, §7.4.2); expunges
 * are held back (entries marked gone) when the command is FETCH/STORE/SEARCH by sequence
 * number. The done callback writes the output and the tagged reply and resumes input. */
#include "imap_int.h"
#include "core/login.h"
#include "node.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- snapshot ------------------------------------------------------------------------- */
void imap__snap_free(struct imap_snap *sn)
{
	free(sn->m);
	sn->m = NULL;
	sn->n = sn->cap = 0;
}

void imap__snap_copy(struct imap_snap *dst, const struct imap_snap *src)
{
	dst->n = dst->cap = src->n;
	dst->m = src->n ? xcalloc(src->n, sizeof *dst->m) : NULL;
	if (src->n)
		memcpy(dst->m, src->m, src->n * sizeof *dst->m);
}

void imap__snap_push(struct imap_snap *sn, uint32_t uid, uint64_t modseq)
{
	if (sn->n == sn->cap) {
		sn->cap = sn->cap ? sn->cap * 2 : 64;
		sn->m = xrealloc(sn->m, sn->cap * sizeof *sn->m);
	}
	sn->m[sn->n++] = (struct imap_msgent){uid, modseq, false};
}

uint32_t imap__snap_max_uid(const struct imap_snap *sn)
{
	return sn->n ? sn->m[sn->n - 1].uid : 0;
}

size_t imap__snap_find(const struct imap_snap *sn, uint32_t uid)
{
	size_t lo = 0, hi = sn->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sn->m[mid].uid == uid)
			return mid;
		if (sn->m[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

size_t imap__snap_select(const struct imap_snap *sn, const struct imap_seqset *set, bool uid,
			 size_t **idx_r)
{
	size_t *idx = xcalloc(sn->n ? sn->n : 1, sizeof *idx), k = 0;
	uint32_t star = uid ? imap__snap_max_uid(sn) : (uint32_t)sn->n;
	for (size_t i = 0; i < sn->n; i++) {
		uint32_t key = uid ? sn->m[i].uid : (uint32_t)(i + 1);
		if (imap_seqset_contains(set, key, star))
			idx[k++] = i;
	}
	*idx_r = idx;
	return k;
}

int imap__seqset_arg(const struct imap_cmd *cmd, const struct imap_arg *a,
		     struct imap_seqset *set)
{
	if (a->type != IMAP_ARG_ATOM)
		return MR_EINVAL;
	if (!(a->len == 1 && a->str[0] == '$'))
		return imap_seqset_parse(a->str, a->len, set);
	/* RFC 5182 §2.1: "$" is the saved result; empty when nothing was saved */
	const struct imap_session *s = cmd->s;
	if (cmd->uid) {
		imap_seqset_copy(set, &s->saved);
		return 0;
	}
	uint32_t *seqs = xcalloc(s->snap.n ? s->snap.n : 1, sizeof *seqs);
	size_t k = 0;
	for (size_t i = 0; i < s->snap.n; i++)
		if (imap_seqset_contains(&s->saved, s->snap.m[i].uid, 0))
			seqs[k++] = (uint32_t)(i + 1);
	imap_seqset_from_sorted(seqs, k, set);
	free(seqs);
	return 0;
}

/* ---- refresh (actor) -------------------------------------------------------------------- */
static void put_fetch_flags(struct imap_job *j, struct buf *o, size_t seq, uint32_t uid,
			    const char *flags, uint64_t modseq)
{
	if (j->qresync) /* RFC 7162 §3.2.4: the UID lets the client apply it by UID */
		buf_printf(o, "* %zu FETCH (UID %u FLAGS (%s) MODSEQ (%llu))\r\n", seq, uid, flags,
			   (unsigned long long)modseq);
	else if (j->condstore && j->rev2) /* RFC 9051 §E: IMAP4rev2 always sends the UID */
		buf_printf(o, "* %zu FETCH (UID %u FLAGS (%s) MODSEQ (%llu))\r\n", seq, uid, flags,
			   (unsigned long long)modseq);
	else if (j->condstore) /* RFC 7162 §3.2 */
		buf_printf(o, "* %zu FETCH (FLAGS (%s) MODSEQ (%llu))\r\n", seq, flags,
			   (unsigned long long)modseq);
	else if (j->rev2)
		buf_printf(o, "* %zu FETCH (UID %u FLAGS (%s))\r\n", seq, uid, flags);
	else
		buf_printf(o, "* %zu FETCH (FLAGS (%s))\r\n", seq, flags);
}

/* RFC 7162 §3.2.10: "* VANISHED [(EARLIER) ]<uid set>" for sorted uids. */
static void put_vanished(struct buf *out, const char *earlier, const uint32_t *uids, size_t n)
{
	struct imap_seqset set;
	imap_seqset_from_sorted(uids, n, &set);
	buf_printf(out, "* VANISHED %s", earlier);
	imap_seqset_format(&set, out);
	buf_puts(out, "\r\n");
	imap_seqset_free(&set);
}

int imap__vanished_earlier(struct store_db *db, struct imap_job *j, int64_t folder,
			   uint64_t since, const struct imap_seqset *uids, uint32_t star)
{
	sqlite3_stmt *st = store_stmt(db, "SELECT uid FROM expunged WHERE folder = ? AND"
					  " modseq > ? ORDER BY uid");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, folder);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		if (uids && !imap_seqset_contains(uids, uid, star))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = uid;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE && n)
		put_vanished(&j->out, "(EARLIER) ", v, n);
	free(v);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

/* UIDs removed since the snapshot, collected for one VANISHED under QRESYNC. */
struct gone_list {
	uint32_t *v;
	size_t n, cap;
};

/* A snapshot entry that is no longer in the mailbox: announce it (EXPUNGE now, or VANISHED
 * later under QRESYNC) when expunges may be sent, else keep it as a "gone" placeholder so
 * sequence numbers stay stable. Returns true when something was announced. */
static bool old_gone(struct imap_job *j, struct imap_snap *nw, const struct imap_msgent *e,
		     struct gone_list *g)
{
	if (!j->allow_expunge) {
		imap__snap_push(nw, e->uid, e->modseq);
		nw->m[nw->n - 1].gone = true;
		return false;
	}
	if (j->qresync) {
		if (g->n == g->cap) {
			g->cap = g->cap ? g->cap * 2 : 64;
			g->v = xrealloc(g->v, g->cap * sizeof *g->v);
		}
		g->v[g->n++] = e->uid;
	} else {
		buf_printf(&j->out, "* %zu EXPUNGE\r\n", nw->n + 1);
	}
	return true;
}

int imap__refresh(struct store_db *db, struct imap_job *j)
{
	sqlite3_stmt *st = store_stmt(db, "SELECT uid, modseq, flags FROM messages"
					  " WHERE folder = ? ORDER BY uid");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, j->folder_id);
	struct imap_snap old = j->snap, nw = {0};
	size_t i = 0, added = 0;
	bool changed = false;
	int rc;
	/* RFC 7162 §3.2.10: with QRESYNC the removals go out as one VANISHED before the FETCHes
	 * (whose numbers already count them), so those are held in fetches meanwhile */
	struct buf fetches;
	buf_init(&fetches, 0);
	struct buf *fo = j->qresync ? &fetches : &j->out;
	struct gone_list g = {0};
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		uint64_t modseq = (uint64_t)sqlite3_column_int64(st, 1);
		const char *flags = (const char *)sqlite3_column_text(st, 2);
		/* old entries below this uid are gone */
		while (i < old.n && old.m[i].uid < uid)
			changed |= old_gone(j, &nw, &old.m[i++], &g);
		if (i < old.n && old.m[i].uid == uid) {
			imap__snap_push(&nw, uid, modseq);
			if (old.m[i].modseq != modseq) {
				put_fetch_flags(j, fo, nw.n, uid, flags ? flags : "", modseq);
				changed = true;
			}
			i++;
		} else if (i >= old.n) {
			imap__snap_push(&nw, uid, modseq);
			added++;
		}
		/* else: a uid below the last known one that we never saw: cannot happen (UIDs are
		 * allocated increasing); ignore it rather than renumber */
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		imap__snap_free(&nw);
		buf_free(&fetches);
		free(g.v);
		return MR_EIO;
	}
	for (; i < old.n; i++)
		changed |= old_gone(j, &nw, &old.m[i], &g);
	if (g.n)
		put_vanished(&j->out, "", g.v, g.n);
	if (fetches.len)
		buf_append(&j->out, fetches.p, fetches.len);
	buf_free(&fetches);
	free(g.v);
	if (added || nw.n != old.n)
		buf_printf(&j->out, "* %zu EXISTS\r\n", nw.n);
	imap__snap_free(&j->snap);
	j->snap = nw;
	/* RFC 7162 §3.1.2.1 / §6: once CONDSTORE is on, tell the client the new HIGHESTMODSEQ
	 * whenever the selected mailbox changed (as Dovecot does). QRESYNC clients (interimap)
	 * store it as their resync point; without it they would re-examine everything changed
	 * since the SELECT, including the messages they appended themselves. */
	if (j->condstore && (added || changed)) {
		sqlite3_stmt *hm = store_stmt(db, "SELECT highestmodseq FROM folders WHERE id = ?");
		if (!hm)
			return MR_EIO;
		sqlite3_bind_int64(hm, 1, j->folder_id);
		if (sqlite3_step(hm) == SQLITE_ROW)
			buf_printf(&j->out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
				   (unsigned long long)sqlite3_column_int64(hm, 0));
		sqlite3_reset(hm);
	}
	return 0;
}

/* ---- job lifecycle ------------------------------------------------------------------------ */
struct imap_job *imap__job_new(struct imap_session *s, const char *tag, imap_job_run_fn run)
{
	struct imap_job *j = xmalloc(sizeof *j);
	j->s = s;
	snprintf(j->tag, sizeof j->tag, "%s", tag ? tag : "");
	j->run = run;
	buf_init(&j->out, 0);
	j->quota = s->quota;
	j->condstore = s->condstore;
	j->qresync = s->qresync;
	j->utf8 = s->utf8;
	j->rev2 = s->rev2;
	if (s->state == IMAP_S_SELECTED) {
		j->selected = true;
		j->readonly = s->readonly;
		j->folder_id = s->folder_id;
		j->uidvalidity = s->uidvalidity;
		j->allow_expunge = true;
		imap__snap_copy(&j->snap, &s->snap);
	}
	return j;
}

static void job_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void job_free(struct imap_job *j)
{
	buf_free(&j->out);
	imap__snap_free(&j->snap);
	if (j->free_arg && j->arg)
		j->free_arg(j->arg);
	j->arg = NULL;
	if (j->timer_on) { /* the timer handle lives in the job: free after it closed */
		j->timer.data = j;
		uv_close((uv_handle_t *)&j->timer, job_timer_closed);
		return;
	}
	free(j);
}

void imap__job_reply(struct imap_job *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->reply, sizeof j->reply, fmt, ap);
	va_end(ap);
}

static int job_run(struct store_db *db, void *arg)
{
	struct imap_job *j = arg;
	j->again = false;
	int rv = j->run ? j->run(db, j) : 0;
	if (j->selected && rv == 0 && !j->again) {
		int r2 = imap__refresh(db, j);
		if (r2 < 0)
			rv = r2;
	}
	return rv;
}

static void default_reply(struct imap_job *j, int rv)
{
	if (j->reply[0])
		return;
	switch (rv) {
	case 0:
		imap__job_reply(j, "OK Completed");
		break;
	case MR_ENOTFOUND:
		imap__job_reply(j, "NO [NONEXISTENT] No such mailbox");
		break;
	case MR_EEXIST:
		imap__job_reply(j, "NO [ALREADYEXISTS] Mailbox already exists");
		break;
	case MR_ETOOBIG:
		imap__job_reply(j, "NO [TOOBIG] Too big");
		break;
	case MR_EQUOTA:
		imap__job_reply(j, "NO [OVERQUOTA] Quota exceeded");
		break;
	default:
		imap__job_reply(j, "NO [SERVERBUG] Internal error");
		break;
	}
}

static void job_done(void *arg, int rv);

static void on_drain_timer(uv_timer_t *t)
{
	struct imap_job *j = t->data;
	struct imap_session *s = j->s;
	if (!s->closed && !conn_closing(s->c) && conn_write_queued(s->c) > IMAP_OUT_HIGH)
		return; /* still draining: poll again */
	uv_timer_stop(t);
	if (store_submit(node_get()->store, s->dbname, 0, job_run, job_done, j) != 0)
		job_done(j, MR_EIO);
}

/* Another round of a multi-round job: the session stays busy, paused and held. */
static void job_next_round(struct imap_job *j)
{
	buf_reset(&j->out);
	if (!j->timer_on) {
		uv_timer_init(node_get()->loop, &j->timer);
		j->timer_on = true;
	}
	j->timer.data = j;
	uv_timer_start(&j->timer, on_drain_timer, 0, 10);
}

static void job_done(void *arg, int rv)
{
	struct imap_job *j = arg;
	struct imap_session *s = j->s;
	struct conn *c = s->c;
	s->busy = false;
	if (s->closed) {
		imap__session_free(s);
		job_free(j);
		conn_release(c);
		return;
	}
	if (conn_closing(c)) {
		job_free(j);
		conn_release(c);
		return;
	}
	if (rv < 0 && rv != MR_ENOTFOUND && rv != MR_EEXIST && rv != MR_EAUTH &&
	    rv != MR_EQUOTA)
		log_warn(IMAP_COMPONENT, "conn=%llu job failed: %s", (unsigned long long)conn_id(c),
			 mr_strerror(rv));
	if (j->out.len)
		conn_write(c, j->out.p, j->out.len);
	if (rv == 0 && j->again) {
		s->busy = true;
		job_next_round(j);
		return;
	}
	if (rv == 0 && j->selected && s->state == IMAP_S_SELECTED &&
	    s->folder_id == j->folder_id) {
		imap__snap_free(&s->snap);
		s->snap = j->snap;
		j->snap = (struct imap_snap){0};
	}
	if (j->done)
		j->done(j, rv);
	if (j->tag[0]) {
		if (rv != 0 && strncmp(j->reply, "OK", 2) == 0)
			j->reply[0] = 0; /* failed: the default error text applies */
		default_reply(j, rv);
		conn_printf(c, "%s %s\r\n", j->tag, j->reply);
	}
	job_free(j);
	conn_resume(c);
	conn_release(c);
	if (s->state == IMAP_S_LOGOUT) {
		conn_close(c);
		return;
	}
	imap__process_input(s);
	if (!s->busy && s->refresh_pending && s->mode == IMAP_M_IDLE) {
		s->refresh_pending = false;
		imap__start_idle_refresh(s);
	}
}

void imap__job_submit(struct imap_job *j, const char *dbname)
{
	struct imap_session *s = j->s;
	const char *db = dbname ? dbname : s->dbname;
	s->busy = true;
	conn_pause(s->c);
	conn_hold(s->c);
	int rv = store_submit(node_get()->store, db, 0, job_run, job_done, j);
	if (rv != 0) {
		s->busy = false;
		conn_release(s->c);
		conn_resume(s->c);
		if (j->tag[0])
			conn_printf(s->c, "%s NO [UNAVAILABLE] Storage unavailable\r\n", j->tag);
		job_free(j);
	}
}

struct job_login {
	struct imap_job *j;
	struct dir_account *out;
};

static void job_login_done(void *ud, int rv, const struct dir_account *acct)
{
	struct job_login *l = ud;
	struct imap_job *j = l->j;
	if (rv == 0)
		*l->out = *acct;
	free(l);
	job_done(j, rv);
}

void imap__job_submit_login(struct imap_job *j, const char *user, size_t ulen, const char *pass,
			    size_t plen, struct dir_account *acct_r)
{
	struct imap_session *s = j->s;
	s->busy = true;
	conn_pause(s->c);
	conn_hold(s->c);
	struct job_login *l = xmalloc(sizeof *l);
	l->j = j;
	l->out = acct_r;
	int rv = login_check(user, ulen, pass, plen, job_login_done, l);
	if (rv != 0) {
		free(l);
		s->busy = false;
		conn_release(s->c);
		conn_resume(s->c);
		if (j->tag[0])
			conn_printf(s->c, "%s NO [%s] %s\r\n", j->tag,
				    rv == MR_EINVAL ? "AUTHENTICATIONFAILED" : "UNAVAILABLE",
				    rv == MR_EINVAL ? "Authentication failed" : "Try again later");
		job_free(j);
	}
}

void imap__start_idle_refresh(struct imap_session *s)
{
	if (s->busy || s->state != IMAP_S_SELECTED) {
		s->refresh_pending = s->busy;
		return;
	}
	struct imap_job *j = imap__job_new(s, "", NULL);
	imap__job_submit(j, NULL);
}

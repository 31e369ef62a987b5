/* imap_cmd_search.c - SEARCH and UID SEARCH (RFC 3501 §6.4.4, §7.2.5) with ESEARCH result
 * options (RFC 4731: RETURN (MIN MAX ALL COUNT)) and SEARCHRES (RFC 5182: RETURN (SAVE) and
 * "$"). The criteria are parsed on the loop (imap_search_parse.c); the job walks its snapshot
 * copy in sequence order, loads each message row (and the body only when a key needs the
 * text) and evaluates the tree (imap_search_eval.c). Expunges are held back for SEARCH by
 * sequence number (§7.4.1). The saved result is kept as UIDs in the session and replaced in
 * the done callback. */
#include "imap_int.h"
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

struct search_arg {
	struct imap_search_key *key;
	struct imap_search_opts o;
	struct imap_seqset saved; /* copy of the session's "$" at submit time */
	bool uid;
	struct imap_seqset result; /* new "$" (UIDs), when SAVE */
	bool saved_ok;
};

static void search_arg_free(void *p)
{
	struct search_arg *a = p;
	imap_search_free(&a->key);
	imap_seqset_free(&a->saved);
	imap_seqset_free(&a->result);
	free(a);
}

/* Load the row (and body when needed) of snapshot entry i and evaluate the key. 1 match,
 * 0 no match / gone, <0 error. */
int imap__search_one(struct store_db *db, struct imap_job *j, const struct imap_search_key *key,
                     const struct imap_seqset *saved, size_t i, uint64_t *modseq_r)
{
	sqlite3_stmt *bst = NULL;
	if (imap_search_needs_text(key) && !(bst = store_stmt(db, "SELECT raw FROM bodies"
	                                                          " WHERE id = ?")))
		return MR_EIO;
	struct imap_msgent *e = &j->snap.m[i];
	struct imap_msgrow r = {0};
	int rv = imap__msg_load(db, j->folder_id, e->uid, &r);
	if (rv == MR_ENOTFOUND)
		return 0;
	if (rv != 0)
		return rv;
	struct imap_search_msg m = {
	    .seq = (uint32_t)(i + 1),
	    .uid = e->uid,
	    .max_seq = (uint32_t)j->snap.n,
	    .max_uid = imap__snap_max_uid(&j->snap),
	    .flags = r.flags,
	    .internaldate = r.internaldate,
	    .size = r.size,
	    .modseq = r.modseq,
	    .savedate = r.savedate,
	    .emailid = r.emailid,
	    .saved = saved,
	};
	if (bst) {
		sqlite3_bind_int64(bst, 1, r.id);
		if (sqlite3_step(bst) == SQLITE_ROW) {
			m.raw = sqlite3_column_blob(bst, 0);
			m.rawlen = (size_t)sqlite3_column_bytes(bst, 0);
		}
		if (!m.raw) {
			m.raw = (const uint8_t *)"";
			m.rawlen = 0;
		}
	}
	bool hit = imap_search_match(key, &m);
	if (modseq_r)
		*modseq_r = r.modseq;
	imap_search_msg_done(&m);
	if (bst)
		sqlite3_reset(bst);
	imap__msg_free(&r);
	return hit ? 1 : 0;
}

/* RFC 4731 §3.1 / §7: "* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n]" and
 * RFC 7162 §3.1.5 "MODSEQ n" when the criteria used MODSEQ and something matched. */
static void put_esearch(struct imap_job *j, const struct search_arg *a, const uint32_t *v, size_t n,
                        uint64_t top)
{
	buf_puts(&j->out, "* ESEARCH (TAG ");
	imap__put_string(&j->out, j->tag, strlen(j->tag));
	buf_puts(&j->out, ")");
	if (a->uid)
		buf_puts(&j->out, " UID");
	if (n && (a->o.ret & IMAP_SRET_MIN))
		buf_printf(&j->out, " MIN %u", v[0]);
	if (n && (a->o.ret & IMAP_SRET_MAX))
		buf_printf(&j->out, " MAX %u", v[n - 1]);
	if (n && (a->o.ret & IMAP_SRET_ALL)) {
		struct imap_seqset set;
		imap_seqset_from_sorted(v, n, &set);
		buf_puts(&j->out, " ALL ");
		imap_seqset_format(&set, &j->out);
		imap_seqset_free(&set);
	}
	if (a->o.ret & IMAP_SRET_COUNT)
		buf_printf(&j->out, " COUNT %zu", n);
	if (n && imap_search_uses_modseq(a->key))
		buf_printf(&j->out, " MODSEQ %llu", (unsigned long long)top);
	buf_puts(&j->out, "\r\n");
}

/* RFC 5182 §2.1: SAVE alone or with ALL/COUNT saves everything; with MIN and/or MAX only
 * those. */
static void save_result(struct search_arg *a, const uint32_t *uids, size_t n)
{
	unsigned mm = a->o.ret & (IMAP_SRET_MIN | IMAP_SRET_MAX);
	if (!mm || (a->o.ret & (IMAP_SRET_ALL | IMAP_SRET_COUNT))) {
		imap_seqset_from_sorted(uids, n, &a->result);
	} else if (n) {
		uint32_t pick[2];
		size_t k = 0;
		if (mm & IMAP_SRET_MIN)
			pick[k++] = uids[0];
		if ((mm & IMAP_SRET_MAX) && !(k && uids[n - 1] == pick[0]))
			pick[k++] = uids[n - 1];
		imap_seqset_from_sorted(pick, k, &a->result);
	} else {
		imap_seqset_from_sorted(uids, 0, &a->result);
	}
	a->saved_ok = true;
}

static int search_run(struct store_db *db, struct imap_job *j)
{
	struct search_arg *a = j->arg;
	size_t n = 0;
	uint32_t *v = xcalloc(j->snap.n ? j->snap.n : 1, sizeof *v);    /* reported numbers */
	uint32_t *uids = xcalloc(j->snap.n ? j->snap.n : 1, sizeof *v); /* for SAVE */
	int rv = 0;
	uint64_t top = 0;
	for (size_t i = 0; i < j->snap.n; i++) {
		uint64_t ms = 0;
		rv = imap__search_one(db, j, a->key, &a->saved, i, &ms);
		if (rv < 0)
			break;
		if (rv == 1) {
			v[n] = a->uid ? j->snap.m[i].uid : (uint32_t)(i + 1);
			uids[n++] = j->snap.m[i].uid;
			if (ms > top)
				top = ms;
		}
		rv = 0;
	}
	if (rv == 0) {
		if (!a->o.esearch) {
			buf_puts(&j->out, "* SEARCH");
			for (size_t k = 0; k < n; k++)
				buf_printf(&j->out, " %u", v[k]);
			if (n && imap_search_uses_modseq(a->key)) /* RFC 7162 §3.1.5 */
				buf_printf(&j->out, " (MODSEQ %llu)", (unsigned long long)top);
			buf_puts(&j->out, "\r\n");
		} else if (a->o.ret != IMAP_SRET_SAVE) {
			/* RFC 5182 §2.4: SAVE alone gives no ESEARCH response */
			put_esearch(j, a, v, n, top);
		}
		if (a->o.ret & IMAP_SRET_SAVE)
			save_result(a, uids, n);
	}
	free(v);
	free(uids);
	return rv;
}

static void search_done(struct imap_job *j, int rv)
{
	struct search_arg *a = j->arg;
	struct imap_session *s = j->s;
	if (!(a->o.ret & IMAP_SRET_SAVE) || s->state != IMAP_S_SELECTED)
		return;
	/* RFC 5182 §2.1: a failed SEARCH ... SAVE leaves "$" empty */
	imap_seqset_free(&s->saved);
	if (rv == 0 && a->saved_ok) {
		s->saved = a->result;
		a->result = (struct imap_seqset){0};
	}
}

void imap__cmd_search(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct search_arg *a = xmalloc(sizeof *a);
	a->uid = cmd->uid;
	const char *err = NULL;
	int rv = imap_search_parse_ex(cmd->args, cmd->nargs, &a->o, &a->key, &err);
	if (rv == 0 && s->rev2 && !a->o.esearch) {
		/* RFC 9051 §6.4.4: an IMAP4rev2 SEARCH without RETURN answers like RETURN (ALL)
		 * with an ESEARCH response; there is no untagged SEARCH response */
		a->o.esearch = true;
		a->o.ret = IMAP_SRET_ALL;
	}
	if (rv < 0 && (a->o.ret & IMAP_SRET_SAVE))
		imap_seqset_free(&s->saved); /* RFC 5182 §2.1 */
	if (rv == MR_ENOTFOUND) {
		free(a);
		conn_printf(s->c, "%s NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n",
		            cmd->tag);
		return;
	}
	if (rv < 0) {
		free(a);
		imap__bad(s, cmd->tag, err ? err : "Invalid search");
		return;
	}
	if (imap_search_uses_modseq(a->key))
		s->condstore = true;
	imap_seqset_copy(&a->saved, &s->saved);
	struct imap_job *j = imap__job_new(s, cmd->tag, search_run);
	j->arg = a;
	j->free_arg = search_arg_free;
	j->done = search_done;
	j->allow_expunge = cmd->uid;
	imap__job_reply(j, "OK %sSEARCH completed", cmd->uid ? "UID " : "");
	imap__job_submit(j, NULL);
}

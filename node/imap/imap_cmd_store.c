/* imap_cmd_store.c - selected-state commands that change messages (RFC 3501 §6.4): STORE
 * (+FLAGS / -FLAGS / FLAGS, .SILENT), COPY with UIDPLUS COPYUID (RFC 4315 §3), EXPUNGE, CLOSE
 * (expunge silently, §6.4.2) and UNSELECT (RFC 3691). Every write is one transaction; every
 * changed message gets a new MODSEQ and the folder's HIGHESTMODSEQ follows. */
#include "imap_int.h"
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- STORE ------------------------------------------------------------------------------ */
struct store_arg {
	struct imap_seqset set;
	bool uid, silent;
	bool unchanged; /* RFC 7162 §3.1.3 UNCHANGEDSINCE */
	uint64_t since;
	char op; /* '+', '-', '=' */
	char *flags;
};

static void store_arg_free(void *p)
{
	struct store_arg *a = p;
	imap_seqset_free(&a->set);
	free(a->flags);
	free(a);
}

/* Append a UID to a compact uid-set text ("1:3,7"). */
static void uidset_add(struct buf *b, uint32_t *last, uint32_t *run_start, uint32_t uid)
{
	if (*last && uid == *last + 1) {
		*last = uid;
		return;
	}
	if (*last) {
		if (*last != *run_start)
			buf_printf(b, ":%u", *last);
		buf_puts(b, ",");
	}
	buf_printf(b, "%u", uid);
	*last = *run_start = uid;
}

static void uidset_end(struct buf *b, uint32_t last, uint32_t run_start)
{
	if (last && last != run_start)
		buf_printf(b, ":%u", last);
}

static int flags_store_run(struct store_db *db, struct imap_job *j)
{
	struct store_arg *a = j->arg;
	size_t *idx;
	size_t n = imap__snap_select(&j->snap, &a->set, a->uid, &idx);
	int rv = store_tx_begin(db);
	struct buf nf, modified;
	buf_init(&nf, 0);
	buf_init(&modified, 0);
	uint32_t ml = 0, ms = 0;
	for (size_t k = 0; k < n && rv == 0; k++) {
		struct imap_msgent *m = &j->snap.m[idx[k]];
		struct imap_msgrow r = {0};
		rv = imap__msg_load(db, j->folder_id, m->uid, &r);
		if (rv == MR_ENOTFOUND) {
			rv = 0;
			continue;
		}
		if (rv != 0)
			break;
		if (a->unchanged && r.modseq > a->since) {
			/* RFC 7162 §3.1.3: not stored; reported in [MODIFIED] */
			uidset_add(&modified, &ml, &ms, a->uid ? m->uid : (uint32_t)(idx[k] + 1));
			imap__msg_free(&r);
			continue;
		}
		imap__flags_apply(r.flags, a->flags, a->op, &nf);
		const char *now = nf.p ? (const char *)nf.p : "";
		if (strcmp(now, r.flags) != 0)
			rv = imap__msg_set_flags(db, j->folder_id, r.id, now, &m->modseq);
		if (rv == 0 && (!a->silent || (j->condstore && a->unchanged))) {
			buf_printf(&j->out, "* %zu FETCH (FLAGS (%s)", idx[k] + 1, now);
			if (a->uid)
				buf_printf(&j->out, " UID %u", m->uid);
			if (j->condstore)
				buf_printf(&j->out, " MODSEQ (%llu)", (unsigned long long)m->modseq);
			buf_puts(&j->out, ")\r\n");
		}
		imap__msg_free(&r);
	}
	buf_free(&nf);
	free(idx);
	if (rv != 0) {
		buf_free(&modified);
		store_tx_rollback(db);
		return rv;
	}
	uidset_end(&modified, ml, ms);
	if (modified.len)
		imap__job_reply(j, "OK [MODIFIED %s] Conditional %sSTORE failed",
				(const char *)modified.p, a->uid ? "UID " : "");
	buf_free(&modified);
	return store_tx_commit(db);
}

void imap__cmd_store(struct imap_cmd *cmd)
{
	const struct imap_arg *set = imap__arg(cmd, 0), *mod = NULL;
	size_t ai = 1;
	if (imap__arg(cmd, 1) && imap__arg(cmd, 1)->type == IMAP_ARG_LIST)
		mod = imap__arg(cmd, ai++); /* RFC 7162 store-modifiers */
	const struct imap_arg *item = imap__arg(cmd, ai), *val = imap__arg(cmd, ai + 1);
	if (!set || !item || !val || imap__arg(cmd, ai + 2) || set->type != IMAP_ARG_ATOM ||
	    item->type != IMAP_ARG_ATOM) {
		imap__bad(cmd->s, cmd->tag, "STORE needs a sequence set, an item and flags");
		return;
	}
	if (cmd->s->readonly) {
		conn_printf(cmd->s->c, "%s NO [READ-ONLY] Mailbox is read-only\r\n", cmd->tag);
		return;
	}
	struct store_arg *a = xmalloc(sizeof *a);
	a->uid = cmd->uid;
	if (mod) {
		const struct imap_arg *k = mod + 1, *v = mod + 2;
		if (mod->nchildren != 2 || !imap_arg_atom_is(k, "UNCHANGEDSINCE") ||
		    v->type != IMAP_ARG_ATOM || mr_parse_u64(v->str, v->len, INT64_MAX, &a->since) < 0)
			goto bad;
		a->unchanged = true;
		cmd->s->condstore = true;
	}
	const char *it = item->str;
	a->op = *it == '+' ? '+' : *it == '-' ? '-' : '=';
	if (a->op != '=')
		it++;
	if (mr_strcasecmp(it, "FLAGS.SILENT") == 0)
		a->silent = true;
	else if (mr_strcasecmp(it, "FLAGS") != 0)
		goto bad;
	struct buf fl;
	buf_init(&fl, 64 * 1024);
	if (imap__flags_parse(cmd->args, (size_t)(val - cmd->args), &fl) < 0) {
		buf_free(&fl);
		goto bad;
	}
	a->flags = fl.p ? (char *)buf_steal(&fl, NULL) : xstrdup("");
	if (imap__seqset_arg(cmd, set, &a->set) < 0) {
		free(a->flags);
		goto bad;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, flags_store_run);
	j->arg = a;
	j->free_arg = store_arg_free;
	j->allow_expunge = cmd->uid; /* RFC 3501 §7.4.1 */
	imap__job_reply(j, "OK %sSTORE completed", cmd->uid ? "UID " : "");
	imap__job_submit(j, NULL);
	return;
bad:
	free(a);
	imap__bad(cmd->s, cmd->tag, "Invalid STORE arguments");
}

/* ---- COPY / MOVE ------------------------------------------------------------------------ */
struct copy_arg {
	struct imap_seqset set;
	bool uid;
	bool move; /* RFC 6851: copy, then expunge the originals in the same transaction */
	char dest[512];
};

static int move_delete(struct store_db *db, int64_t id)
{
	static const char *const sql[] = {"DELETE FROM messages WHERE id = ?",
					  "DELETE FROM bodies WHERE id = ?"};
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *st = store_stmt(db, sql[i]);
		if (!st)
			return MR_EIO;
		sqlite3_bind_int64(st, 1, id);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return MR_EIO;
	}
	return 0;
}

static int move_bump_source(struct store_db *db, int64_t folder)
{
	uint64_t modseq;
	int rv = mbox_next_modseq(db, &modseq);
	if (rv != 0)
		return rv;
	sqlite3_stmt *st = store_stmt(db, "UPDATE folders SET highestmodseq = ? WHERE id = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, (int64_t)modseq);
	sqlite3_bind_int64(st, 2, folder);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

static int keep_emailid(struct store_db *db, int64_t folder, uint32_t uid, const char *emailid)
{
	sqlite3_stmt *st = store_stmt(db, "UPDATE messages SET emailid = ? WHERE folder = ?"
					  " AND uid = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_text(st, 1, emailid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, folder);
	sqlite3_bind_int64(st, 3, uid);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

static void copy_arg_free(void *p)
{
	struct copy_arg *a = p;
	imap_seqset_free(&a->set);
	free(a);
}

static int copy_run(struct store_db *db, struct imap_job *j)
{
	struct copy_arg *a = j->arg;
	struct mbox_folder dst;
	int rv = mbox_folder_get(db, a->dest, &dst);
	if (rv == MR_ENOTFOUND) {
		imap__job_reply(j, "NO [TRYCREATE] Mailbox does not exist");
		return rv;
	}
	if (rv != 0)
		return rv;
	size_t *idx;
	size_t n = imap__snap_select(&j->snap, &a->set, a->uid, &idx);
	struct buf src, dstu;
	buf_init(&src, 0);
	buf_init(&dstu, 0);
	uint32_t sl = 0, ss = 0, dl = 0, ds = 0;
	if ((rv = store_tx_begin(db)) != 0)
		goto out;
	sqlite3_stmt *bst = store_stmt(db, "SELECT raw FROM bodies WHERE id = ?");
	for (size_t k = 0; k < n && rv == 0 && bst; k++) {
		struct imap_msgrow r = {0};
		uint32_t uid = j->snap.m[idx[k]].uid, nuid = 0;
		rv = imap__msg_load(db, j->folder_id, uid, &r);
		if (rv == MR_ENOTFOUND) {
			rv = 0;
			continue;
		}
		if (rv != 0)
			break;
		/* a MOVE does not change the account's usage (RFC 9208 §5.1 STORAGE) */
		if (!a->move && (rv = imap__quota_check(db, j->quota, r.size)) != 0) {
			imap__msg_free(&r);
			break;
		}
		sqlite3_bind_int64(bst, 1, r.id);
		if (sqlite3_step(bst) == SQLITE_ROW) {
			const uint8_t *raw = sqlite3_column_blob(bst, 0);
			size_t len = (size_t)sqlite3_column_bytes(bst, 0);
			rv = mbox_append(db, dst.name, r.flags, r.internaldate,
					 raw ? raw : (const uint8_t *)"", len, r.envelope,
					 r.bodystructure, &nuid);
		} else {
			rv = MR_EIO;
		}
		sqlite3_reset(bst);
		if (rv == 0 && r.emailid) /* RFC 8474 §5.1: a copy keeps the EMAILID */
			rv = keep_emailid(db, dst.id, nuid, r.emailid);
		if (rv == 0 && a->move)
			rv = move_delete(db, r.id);
		imap__msg_free(&r);
		if (rv == 0) {
			uidset_add(&src, &sl, &ss, uid);
			uidset_add(&dstu, &dl, &ds, nuid);
		}
	}
	if (!bst)
		rv = MR_EIO;
	if (rv == 0 && a->move && src.len)
		rv = move_bump_source(db, j->folder_id);
	if (rv != 0) {
		store_tx_rollback(db);
		goto out;
	}
	if ((rv = store_tx_commit(db)) != 0)
		goto out;
	uidset_end(&src, sl, ss);
	uidset_end(&dstu, dl, ds);
	const char *verb = a->move ? "MOVE" : "COPY", *u = a->uid ? "UID " : "";
	if (src.len && a->move) /* RFC 6851 §4.3: COPYUID untagged, before the EXPUNGEs */
		buf_printf(&j->out, "* OK [COPYUID %u %s %s] Moved\r\n", dst.uidvalidity,
			   (const char *)src.p, (const char *)dstu.p);
	if (src.len && !a->move) /* RFC 4315 §3 */
		imap__job_reply(j, "OK [COPYUID %u %s %s] %s%s completed", dst.uidvalidity,
				(const char *)src.p, (const char *)dstu.p, u, verb);
	else
		imap__job_reply(j, "OK %s%s completed", u, verb);
out:
	free(idx);
	buf_free(&src);
	buf_free(&dstu);
	return rv;
}

void imap__cmd_copy(struct imap_cmd *cmd)
{
	const struct imap_arg *set = imap__arg(cmd, 0), *mb = imap__arg(cmd, 1);
	if (!set || !mb || imap__arg(cmd, 2) || set->type != IMAP_ARG_ATOM ||
	    !imap_arg_is_astring(mb) || !imap__mailbox_ok(mb->str, mb->len)) {
		imap__bad(cmd->s, cmd->tag, "Needs a sequence set and a mailbox");
		return;
	}
	struct copy_arg *a = xmalloc(sizeof *a);
	a->uid = cmd->uid;
	a->move = strcmp(cmd->name, "MOVE") == 0;
	if (a->move && cmd->s->readonly) {
		free(a);
		conn_printf(cmd->s->c, "%s NO [READ-ONLY] Mailbox is read-only\r\n", cmd->tag);
		return;
	}
	snprintf(a->dest, sizeof a->dest, "%.*s", (int)mb->len, mb->str);
	if (!imap__mailbox_in(cmd->s, a->dest, sizeof a->dest)) {
		free(a);
		imap__bad(cmd->s, cmd->tag, "Invalid mailbox name");
		return;
	}
	if (imap__seqset_arg(cmd, set, &a->set) < 0) {
		free(a);
		imap__bad(cmd->s, cmd->tag, "Invalid sequence set");
		return;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, copy_run);
	j->arg = a;
	j->free_arg = copy_arg_free;
	imap__job_submit(j, NULL);
}

/* ---- EXPUNGE / CLOSE / UNSELECT ------------------------------------------------------------ */
/* Remove the folder's \Deleted messages (one transaction); only those whose UID is in `uids`
 * when given (UID EXPUNGE, RFC 4315 §2.1; '*' = uid_star). */
static int expunge_deleted(struct store_db *db, int64_t folder, const struct imap_seqset *uids,
			   uint32_t uid_star)
{
	sqlite3_stmt *st = store_stmt(db, "SELECT id, flags, uid FROM messages WHERE folder = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, folder);
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *flags = (const char *)sqlite3_column_text(st, 1);
		if (!imap_flags_has(flags ? flags : "", "\\Deleted"))
			continue;
		if (uids && !imap_seqset_contains(uids, (uint32_t)sqlite3_column_int64(st, 2),
						  uid_star))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || n == 0) {
		free(ids);
		return rc == SQLITE_DONE ? 0 : MR_EIO;
	}
	uint64_t modseq = 0;
	int rv = store_tx_begin(db);
	sqlite3_stmt *dm = store_stmt(db, "DELETE FROM messages WHERE id = ?");
	sqlite3_stmt *db_ = store_stmt(db, "DELETE FROM bodies WHERE id = ?");
	for (size_t i = 0; i < n && rv == 0; i++) {
		if (!dm || !db_) {
			rv = MR_EIO;
			break;
		}
		sqlite3_bind_int64(dm, 1, ids[i]);
		sqlite3_bind_int64(db_, 1, ids[i]);
		if (sqlite3_step(dm) != SQLITE_DONE || sqlite3_step(db_) != SQLITE_DONE)
			rv = MR_EIO;
		sqlite3_reset(dm);
		sqlite3_reset(db_);
	}
	free(ids);
	/* an expunge changes the mailbox: HIGHESTMODSEQ moves (taken after the deletes, whose
	 * schema trigger gives each removal its own MODSEQ for QRESYNC) */
	if (rv == 0)
		rv = mbox_next_modseq(db, &modseq);
	if (rv == 0) {
		sqlite3_stmt *up = store_stmt(db, "UPDATE folders SET highestmodseq = ? WHERE id = ?");
		if (!up)
			rv = MR_EIO;
		else {
			sqlite3_bind_int64(up, 1, (int64_t)modseq);
			sqlite3_bind_int64(up, 2, folder);
			if (sqlite3_step(up) != SQLITE_DONE)
				rv = MR_EIO;
			sqlite3_reset(up);
		}
	}
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

static int expunge_run(struct store_db *db, struct imap_job *j)
{
	/* the refresh that follows announces the removals as EXPUNGE responses */
	struct imap_seqset *uids = j->arg;
	return expunge_deleted(db, j->folder_id, uids, imap__snap_max_uid(&j->snap));
}

static void seqset_free_ptr(void *p)
{
	imap_seqset_free(p);
	free(p);
}

void imap__cmd_expunge(struct imap_cmd *cmd)
{
	const struct imap_arg *set = imap__arg(cmd, 0);
	struct imap_seqset *uids = NULL;
	if (cmd->uid) {
		uids = xmalloc(sizeof *uids);
		if (!set || imap__arg(cmd, 1) || set->type != IMAP_ARG_ATOM ||
		    imap__seqset_arg(cmd, set, uids) < 0) {
			free(uids);
			imap__bad(cmd->s, cmd->tag, "UID EXPUNGE needs a UID set");
			return;
		}
	} else if (cmd->nargs) {
		imap__bad(cmd->s, cmd->tag, "No arguments expected");
		return;
	}
	if (cmd->s->readonly) {
		if (uids)
			seqset_free_ptr(uids);
		conn_printf(cmd->s->c, "%s NO [READ-ONLY] Mailbox is read-only\r\n", cmd->tag);
		return;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, expunge_run);
	j->arg = uids;
	j->free_arg = seqset_free_ptr;
	imap__job_reply(j, "OK %sEXPUNGE completed", cmd->uid ? "UID " : "");
	imap__job_submit(j, NULL);
}

static void close_done(struct imap_job *j, int rv)
{
	if (rv == 0 && j->s->state == IMAP_S_SELECTED)
		imap__enter_state(j->s, IMAP_S_AUTH);
}

void imap__cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->nargs) {
		imap__bad(s, cmd->tag, "No arguments expected");
		return;
	}
	if (strcmp(cmd->name, "UNSELECT") == 0 || s->readonly) {
		imap__enter_state(s, IMAP_S_AUTH);
		conn_printf(s->c, "%s OK %s completed\r\n", cmd->tag, cmd->name);
		return;
	}
	/* RFC 3501 §6.4.2: expunge without EXPUNGE responses */
	struct imap_job *j = imap__job_new(s, cmd->tag, expunge_run);
	j->selected = false;
	j->done = close_done;
	imap__job_reply(j, "OK CLOSE completed");
	imap__job_submit(j, NULL);
}

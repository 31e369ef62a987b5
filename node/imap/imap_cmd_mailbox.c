/* imap_cmd_mailbox.c - authenticated-state mailbox commands (RFC 3501 §6.3): SELECT/EXAMINE,
 * CREATE, DELETE, RENAME (INBOX rules of §6.3.5), SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB with "*"/"%"
 * wildcards, "/" as the hierarchy delimiter, CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154)
 * attributes, and STATUS. Each runs as a job on the account database; the SQL follows the
 * account schema in storage/store.h. */
#include "imap_int.h"
#include "imap_list.h"
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 500

/* Copy mailbox argument i into out (INBOX normalised). false (BAD sent) if invalid. */
static bool get_mailbox(struct imap_cmd *cmd, size_t i, char out[NAME_MAX_LEN + 1])
{
	const struct imap_arg *a = imap__arg(cmd, i);
	if (!a || !imap_arg_is_astring(a) || !imap__mailbox_ok(a->str, a->len)) {
		imap__bad(cmd->s, cmd->tag, "Invalid mailbox name");
		return false;
	}
	memcpy(out, a->str, a->len);
	out[a->len] = 0;
	if (!imap__mailbox_in(cmd->s, out, NAME_MAX_LEN + 1)) {
		imap__bad(cmd->s, cmd->tag, "Invalid mailbox name");
		return false;
	}
	return true;
}

static int exec1(struct store_db *db, const char *sql, int64_t a, const char *t)
{
	sqlite3_stmt *st = store_stmt(db, sql);
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, a);
	if (t)
		sqlite3_bind_text(st, 2, t, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

/* ---- SELECT / EXAMINE ------------------------------------------------------------------ */
struct select_arg {
	char name[NAME_MAX_LEN + 1];
	bool closed; /* a mailbox was selected: RFC 7162 §3.2.11 [CLOSED] first */
	bool qresync; /* RFC 7162 §3.2.5 QRESYNC parameter */
	uint32_t uidvalidity;
	uint64_t modseq;
	bool have_uids;
	struct imap_seqset uids; /* known-uids */
};

static void select_arg_free(void *p)
{
	struct select_arg *a = p;
	imap_seqset_free(&a->uids);
	free(a);
}

/* RFC 7162 §3.2.5.2: after the usual responses, what changed since the client's MODSEQ:
 * VANISHED (EARLIER) for removals, then FETCH (UID FLAGS MODSEQ) for changed messages. */
static int qresync_run(struct store_db *db, struct imap_job *j, const struct select_arg *a,
		       int64_t folder)
{
	uint32_t star = imap__snap_max_uid(&j->snap);
	/* "*" in known-uids reaches past the largest remaining UID for removals */
	int rv = imap__vanished_earlier(db, j, folder, a->modseq, a->have_uids ? &a->uids : NULL,
					UINT32_MAX);
	if (rv != 0)
		return rv;
	sqlite3_stmt *st = store_stmt(db, "SELECT uid, flags, modseq FROM messages"
					  " WHERE folder = ? AND modseq > ? ORDER BY uid");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, folder);
	sqlite3_bind_int64(st, 2, (int64_t)a->modseq);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
		size_t i = imap__snap_find(&j->snap, uid);
		if (i == SIZE_MAX || (a->have_uids && !imap_seqset_contains(&a->uids, uid, star)))
			continue;
		const char *flags = (const char *)sqlite3_column_text(st, 1);
		buf_printf(&j->out, "* %zu FETCH (UID %u FLAGS (%s) MODSEQ (%lld))\r\n", i + 1, uid,
			   flags ? flags : "", (long long)sqlite3_column_int64(st, 2));
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

static int select_run(struct store_db *db, struct imap_job *j)
{
	struct select_arg *a = j->arg;
	struct mbox_folder f;
	int rv = mbox_folder_get(db, a->name, &f);
	if (a->closed)
		buf_puts(&j->out, "* OK [CLOSED] Previous mailbox closed\r\n");
	if (rv != 0)
		return rv;
	sqlite3_stmt *st = store_stmt(db, "SELECT uid, modseq, flags FROM messages"
					  " WHERE folder = ? ORDER BY uid");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, f.id);
	size_t first_unseen = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		imap__snap_push(&j->snap, (uint32_t)sqlite3_column_int64(st, 0),
				(uint64_t)sqlite3_column_int64(st, 1));
		const char *flags = (const char *)sqlite3_column_text(st, 2);
		if (!first_unseen && !imap_flags_has(flags ? flags : "", "\\Seen"))
			first_unseen = j->snap.n;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return MR_EIO;
	j->folder_id = f.id;
	j->uidvalidity = f.uidvalidity;
	struct buf *o = &j->out;
	buf_puts(o, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
	buf_printf(o, "* OK [PERMANENTFLAGS (%s)] Flags permitted\r\n",
		   j->readonly ? "" : "\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*");
	buf_printf(o, "* %zu EXISTS\r\n", j->snap.n);
	if (!j->rev2) /* RFC 9051 §E: no RECENT response (nor \\Recent) in IMAP4rev2 */
		buf_puts(o, "* 0 RECENT\r\n");
	if (first_unseen && !j->rev2) /* RFC 9051 §E: no [UNSEEN] in IMAP4rev2 */
		buf_printf(o, "* OK [UNSEEN %zu] First unseen\r\n", first_unseen);
	buf_printf(o, "* OK [UIDVALIDITY %u] UIDs valid\r\n", f.uidvalidity);
	buf_printf(o, "* OK [UIDNEXT %u] Predicted next UID\r\n", f.uidnext);
	buf_printf(o, "* OK [HIGHESTMODSEQ %llu] Highest\r\n", (unsigned long long)f.highestmodseq);
	char mid[40];
	buf_printf(o, "* OK [MAILBOXID (%s)] Ok\r\n", imap__mailboxid(&f, mid)); /* RFC 8474 §4.1 */
	if (j->rev2 && (rv = imap__list_one(db, o, a->name, j->utf8)) != 0) /* RFC 9051 §6.3.2 */
		return rv;
	imap__job_reply(j, "OK [%s] %s completed", j->readonly ? "READ-ONLY" : "READ-WRITE",
			j->readonly ? "EXAMINE" : "SELECT");
	if (a->qresync && a->uidvalidity == f.uidvalidity) /* else a full resync (§3.2.5.2) */
		return qresync_run(db, j, a, f.id);
	return 0;
}

static void select_done(struct imap_job *j, int rv)
{
	struct imap_session *s = j->s;
	if (rv != 0) {
		/* RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected */
		if (s->state == IMAP_S_SELECTED)
			imap__enter_state(s, IMAP_S_AUTH);
		return;
	}
	imap__enter_state(s, IMAP_S_SELECTED);
	imap__snap_free(&s->snap);
	s->snap = j->snap;
	j->snap = (struct imap_snap){0};
	snprintf(s->mailbox, sizeof s->mailbox, "%s", ((const struct select_arg *)j->arg)->name);
	s->folder_id = j->folder_id;
	s->uidvalidity = j->uidvalidity;
	s->readonly = j->readonly;
}

/* RFC 7162 §3.2.5: "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
 * [SP seq-match-data] ")"; seq-match-data is accepted and not needed (we resolve by UID). */
static int parse_qresync(const struct imap_arg *args, size_t i, struct select_arg *a)
{
	const struct imap_arg *l = &args[i];
	uint64_t uv, ms;
	if (l->type != IMAP_ARG_LIST || l->nchildren < 2 || l->nchildren > 4)
		return MR_EINVAL;
	const struct imap_arg *v = &args[i + 1], *m = &args[i + 2];
	if (v->type != IMAP_ARG_ATOM || m->type != IMAP_ARG_ATOM ||
	    mr_parse_u64(v->str, v->len, UINT32_MAX, &uv) < 0 || uv == 0 ||
	    mr_parse_u64(m->str, m->len, INT64_MAX, &ms) < 0 || ms == 0)
		return MR_EINVAL;
	a->uidvalidity = (uint32_t)uv;
	a->modseq = ms;
	size_t k = i + 3;
	if (k < l->end && args[k].type == IMAP_ARG_ATOM) {
		if (imap_seqset_parse(args[k].str, args[k].len, &a->uids) < 0)
			return MR_EINVAL;
		a->have_uids = true;
		k++;
	}
	if (k < l->end) { /* seq-match-data = "(" known-sequence-set SP known-uid-set ")" */
		if (args[k].type != IMAP_ARG_LIST || args[k].nchildren != 2 ||
		    args[k + 1].type != IMAP_ARG_ATOM || args[k + 2].type != IMAP_ARG_ATOM ||
		    !imap_seqset_valid(args[k + 1].str, args[k + 1].len) ||
		    !imap_seqset_valid(args[k + 2].str, args[k + 2].len) || args[k].end != l->end)
			return MR_EINVAL;
	}
	a->qresync = true;
	return 0;
}

void imap__cmd_select(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct select_arg *a = xmalloc(sizeof *a);
	if (!get_mailbox(cmd, 0, a->name)) {
		free(a);
		return;
	}
	const struct imap_arg *params = imap__arg(cmd, 1);
	if (params) { /* RFC 4466 select-params: (CONDSTORE) RFC 7162 §3.1.8, (QRESYNC (...)) */
		bool ok = !imap__arg(cmd, 2) && params->type == IMAP_ARG_LIST && params->nchildren;
		size_t p0 = (size_t)(params - cmd->args);
		for (size_t k = p0 + 1; ok && k < params->end;) {
			if (imap_arg_atom_is(&cmd->args[k], "CONDSTORE")) {
				s->condstore = true;
				k++;
			} else if (imap_arg_atom_is(&cmd->args[k], "QRESYNC") && s->qresync &&
				   !a->qresync && k + 1 < params->end &&
				   parse_qresync(cmd->args, k + 1, a) == 0) {
				k = cmd->args[k + 1].end; /* §3.2.5: only after ENABLE QRESYNC */
			} else {
				ok = false;
			}
		}
		if (!ok) {
			select_arg_free(a);
			imap__bad(s, cmd->tag, "Unexpected arguments");
			return;
		}
	}
	a->closed = s->state == IMAP_S_SELECTED;
	struct imap_job *j = imap__job_new(s, cmd->tag, select_run);
	j->selected = false; /* do not refresh the previous mailbox */
	imap__snap_free(&j->snap);
	j->readonly = strcmp(cmd->name, "EXAMINE") == 0;
	j->arg = a;
	j->free_arg = select_arg_free;
	j->done = select_done;
	imap__job_submit(j, NULL);
}

/* ---- CREATE / DELETE / RENAME / SUBSCRIBE ------------------------------------------------ */
struct create_arg {
	char name[NAME_MAX_LEN + 1];
	const char *use; /* RFC 6154 §3 special-use attribute, static string or NULL */
};

static int create_run(struct store_db *db, struct imap_job *j)
{
	struct create_arg *a = j->arg;
	char *name = a->name;
	int rv = store_tx_begin(db);
	if (rv != 0)
		return rv;
	/* RFC 3501 §6.3.3: create superior hierarchical names as needed */
	for (char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
		*p = 0;
		rv = mbox_folder_create(db, name, NULL);
		*p = '/';
		if (rv != 0 && rv != MR_EEXIST)
			goto err;
	}
	if ((rv = mbox_folder_create(db, name, a->use)) != 0)
		goto err;
	if ((rv = store_tx_commit(db)) != 0)
		return rv;
	struct mbox_folder f;
	char mid[40];
	if (mbox_folder_get(db, name, &f) == 0) /* RFC 8474 §4.1 */
		imap__job_reply(j, "OK [MAILBOXID (%s)] CREATE completed", imap__mailboxid(&f, mid));
	return 0;
err:
	store_tx_rollback(db);
	return rv;
}

static int delete_run(struct store_db *db, struct imap_job *j)
{
	struct mbox_folder f;
	int rv = mbox_folder_get(db, j->arg, &f);
	if (rv != 0)
		return rv;
	if ((rv = store_tx_begin(db)) != 0)
		return rv;
	if ((rv = exec1(db, "DELETE FROM bodies WHERE id IN (SELECT id FROM messages"
			    " WHERE folder = ?)", f.id, NULL)) != 0 ||
	    (rv = exec1(db, "DELETE FROM messages WHERE folder = ?", f.id, NULL)) != 0 ||
	    (rv = exec1(db, "DELETE FROM folders WHERE id = ?", f.id, NULL)) != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

struct rename_arg {
	char from[NAME_MAX_LEN + 1], to[NAME_MAX_LEN + 1];
};

static int rename_inbox(struct store_db *db, const struct mbox_folder *inbox, const char *to)
{
	/* RFC 3501 §6.3.5: renaming INBOX moves its messages; INBOX stays, empty */
	int rv;
	struct mbox_folder nf;
	uint64_t modseq;
	if ((rv = mbox_folder_create(db, to, NULL)) != 0 || (rv = mbox_folder_get(db, to, &nf)) != 0)
		return rv;
	sqlite3_stmt *st = store_stmt(db, "UPDATE messages SET folder = ? WHERE folder = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, nf.id);
	sqlite3_bind_int64(st, 2, inbox->id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || (rv = mbox_next_modseq(db, &modseq)) != 0)
		return rc != SQLITE_DONE ? MR_EIO : rv;
	st = store_stmt(db, "UPDATE folders SET uidnext = ?, highestmodseq = ? WHERE id = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, inbox->uidnext);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	sqlite3_bind_int64(st, 3, nf.id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return MR_EIO;
	return exec1(db, "UPDATE folders SET highestmodseq = ?1 WHERE name = 'INBOX'",
		     (int64_t)modseq, NULL);
}

static int rename_run(struct store_db *db, struct imap_job *j)
{
	struct rename_arg *a = j->arg;
	struct mbox_folder f;
	int rv = mbox_folder_get(db, a->from, &f);
	if (rv != 0)
		return rv;
	if (mbox_folder_get(db, a->to, NULL) == 0)
		return MR_EEXIST;
	if ((rv = store_tx_begin(db)) != 0)
		return rv;
	if (strcmp(a->from, "INBOX") == 0) {
		rv = rename_inbox(db, &f, a->to);
	} else {
		sqlite3_stmt *st = store_stmt(db, "UPDATE folders SET name = ?1 || substr(name, ?2)"
						  " WHERE name = ?3 OR substr(name, 1, ?4) = ?3 || '/'");
		if (!st) {
			rv = MR_EIO;
		} else {
			size_t fl = strlen(a->from);
			sqlite3_bind_text(st, 1, a->to, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 2, (int64_t)fl + 1);
			sqlite3_bind_text(st, 3, a->from, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 4, (int64_t)fl + 1);
			int rc = sqlite3_step(st);
			sqlite3_reset(st);
			rv = rc == SQLITE_DONE ? 0 : rc == SQLITE_CONSTRAINT ? MR_EEXIST : MR_EIO;
		}
	}
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

static int subscribe_run(struct store_db *db, struct imap_job *j)
{
	const char *name = j->arg;
	bool on = name[0] == '+';
	int rv = store_tx_begin(db);
	if (rv != 0)
		return rv;
	if ((rv = exec1(db, "UPDATE folders SET subscribed = ?1 WHERE name = ?2", on, name + 1))) {
		store_tx_rollback(db);
		return rv;
	}
	if (sqlite3_changes(store_db_sql(db)) == 0) {
		store_tx_rollback(db);
		return MR_ENOTFOUND;
	}
	return store_tx_commit(db);
}

/* The reply stays "OK ..." unless the job failed: clear it then so the default applies. */
static void clear_reply_on_error(struct imap_job *j, int rv)
{
	if (rv != 0)
		j->reply[0] = 0;
}

void imap__cmd_create(struct imap_cmd *cmd)
{
	struct create_arg *a = xmalloc(sizeof *a);
	if (!get_mailbox(cmd, 0, a->name)) {
		free(a);
		return;
	}
	const struct imap_arg *params = imap__arg(cmd, 1);
	if (params) { /* RFC 4466 §2.2 create-params; RFC 6154 §3 USE */
		int rv = imap__arg(cmd, 2) ? MR_EINVAL
					   : imap_create_params_parse(cmd->args,
								      (size_t)(params - cmd->args),
								      &a->use);
		if (rv < 0) {
			free(a);
			if (rv == MR_EPERM)
				conn_printf(cmd->s->c, "%s NO [USEATTR] Unsupported special-use"
						       " attribute\r\n",
					    cmd->tag);
			else
				imap__bad(cmd->s, cmd->tag, "Invalid CREATE parameters");
			return;
		}
	}
	if (strcmp(a->name, "INBOX") == 0) {
		free(a);
		conn_printf(cmd->s->c, "%s NO [ALREADYEXISTS] INBOX always exists\r\n", cmd->tag);
		return;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, create_run);
	j->arg = a;
	j->free_arg = free;
	j->done = clear_reply_on_error;
	imap__job_reply(j, "OK CREATE completed");
	imap__job_submit(j, NULL);
}

void imap__cmd_delete(struct imap_cmd *cmd)
{
	char name[NAME_MAX_LEN + 1];
	if (!get_mailbox(cmd, 0, name))
		return;
	if (strcmp(name, "INBOX") == 0) {
		conn_printf(cmd->s->c, "%s NO [CANNOT] INBOX cannot be deleted\r\n", cmd->tag);
		return;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, delete_run);
	j->arg = xstrdup(name);
	j->free_arg = free;
	j->done = clear_reply_on_error;
	imap__job_reply(j, "OK DELETE completed");
	imap__job_submit(j, NULL);
}

void imap__cmd_rename(struct imap_cmd *cmd)
{
	struct rename_arg *a = xmalloc(sizeof *a);
	if (!get_mailbox(cmd, 0, a->from) || !get_mailbox(cmd, 1, a->to)) {
		free(a);
		return;
	}
	size_t fl = strlen(a->from);
	if (strcmp(a->to, "INBOX") == 0 ||
	    (strncmp(a->to, a->from, fl) == 0 && a->to[fl] == '/')) {
		conn_printf(cmd->s->c, "%s NO [CANNOT] Cannot rename there\r\n", cmd->tag);
		free(a);
		return;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, rename_run);
	j->arg = a;
	j->free_arg = free;
	j->done = clear_reply_on_error;
	imap__job_reply(j, "OK RENAME completed");
	imap__job_submit(j, NULL);
}

void imap__cmd_subscribe(struct imap_cmd *cmd)
{
	char name[NAME_MAX_LEN + 1];
	if (!get_mailbox(cmd, 0, name))
		return;
	bool on = strcmp(cmd->name, "SUBSCRIBE") == 0;
	char *arg = xasprintf("%c%s", on ? '+' : '-', name);
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, subscribe_run);
	j->arg = arg;
	j->free_arg = free;
	j->done = clear_reply_on_error;
	imap__job_reply(j, "OK %s completed", cmd->name);
	imap__job_submit(j, NULL);
}

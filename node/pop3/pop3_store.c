/* pop3_store.c - the storage side of the POP3 frontend: the store jobs that run on actor
 * threads (maildrop snapshot, chunked body reads, the UPDATE-state transaction; the password
 * check is core/login's). They touch only their job struct and the database handed to them; results go
 * back to the loop thread through the job struct and the store_done_fn. */
#include <stdio.h>
#include <string.h>
#include "pop3_int.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

int pop3__job_snapshot(struct store_db *db, void *arg)
{
	struct pop3_login_job *j = arg;
	struct mbox_folder f;
	uint32_t cap = 0;
	int rv, src;

	rv = mbox_folder_get(db, "INBOX", &f);
	if (rv != 0)
		return rv;
	j->folder_id = f.id;
	j->uidvalidity = f.uidvalidity;
	sqlite3_stmt *st =
	    store_stmt(db, "SELECT id, uid, size FROM messages WHERE folder = ? ORDER BY uid");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, f.id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (j->nmsgs == POP3_MAX_MESSAGES) {
			log_warn("pop3", "maildrop truncated db=%s max=%u", store_db_name(db),
			         POP3_MAX_MESSAGES);
			src = SQLITE_DONE;
			break;
		}
		if (j->nmsgs == cap) {
			cap = cap ? cap * 2 : 64;
			if (cap > POP3_MAX_MESSAGES)
				cap = POP3_MAX_MESSAGES;
			j->msgs = xrealloc(j->msgs, cap * sizeof *j->msgs);
		}
		struct pop3_msg *m = &j->msgs[j->nmsgs++];
		m->id = sqlite3_column_int64(st, 0);
		m->uid = (uint32_t)sqlite3_column_int64(st, 1);
		int64_t size = sqlite3_column_int64(st, 2);
		m->size = size > 0 ? (uint64_t)size : 0;
		m->deleted = false;
	}
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		log_error("pop3", "snapshot failed db=%s err=%s", store_db_name(db),
		          sqlite3_errstr(src));
		return MR_EIO;
	}
	return 0;
}

int pop3__job_chunk(struct store_db *db, void *arg)
{
	struct pop3_chunk_job *j = arg;
	sqlite3_blob *blob = NULL;
	int src;

	/* bodies.id is an INTEGER PRIMARY KEY, i.e. the rowid the blob API wants. */
	src = sqlite3_blob_open(store_db_sql(db), "main", "bodies", "raw", j->id, 0, &blob);
	if (src != SQLITE_OK) {
		if (blob)
			sqlite3_blob_close(blob);
		return MR_ENOTFOUND;
	}
	int bytes = sqlite3_blob_bytes(blob);
	j->total = bytes > 0 ? (uint64_t)bytes : 0;
	j->n = 0;
	if (j->off < j->total) {
		uint64_t left = j->total - j->off;
		j->n = left > POP3_CHUNK ? POP3_CHUNK : (size_t)left;
		src = sqlite3_blob_read(blob, j->data, (int)j->n, (int)j->off);
		if (src != SQLITE_OK) {
			sqlite3_blob_close(blob);
			log_error("pop3", "body read failed db=%s err=%s", store_db_name(db),
			          sqlite3_errstr(src));
			return MR_EIO;
		}
	}
	sqlite3_blob_close(blob);
	return 0;
}

static int delete_one(struct store_db *db, int64_t folder, int64_t id, size_t *removed)
{
	sqlite3_stmt *st = store_stmt(db, "DELETE FROM messages WHERE id = ? AND folder = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, folder);
	int src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return MR_EIO;
	/* Already expunged by IMAP meanwhile: nothing to do for this one. */
	if (sqlite3_changes(store_db_sql(db)) == 0)
		return 0;
	st = store_stmt(db, "DELETE FROM bodies WHERE id = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return MR_EIO;
	(*removed)++;
	return 0;
}

int pop3__job_update(struct store_db *db, void *arg)
{
	struct pop3_update_job *j = arg;
	uint64_t modseq;
	int rv;

	j->removed = 0;
	rv = store_tx_begin(db);
	if (rv != 0)
		return rv;
	for (size_t i = 0; i < j->n; i++) {
		rv = delete_one(db, j->folder_id, j->ids[i], &j->removed);
		if (rv != 0)
			goto err_rollback;
	}
	if (j->removed > 0) {
		/* An expunge is a change IMAP clients must see (RFC 7162 §3.2.10). */
		rv = mbox_next_modseq(db, &modseq);
		if (rv != 0)
			goto err_rollback;
		sqlite3_stmt *st =
		    store_stmt(db, "UPDATE folders SET highestmodseq = ? WHERE id = ?");
		if (!st) {
			rv = MR_EIO;
			goto err_rollback;
		}
		sqlite3_bind_int64(st, 1, (int64_t)modseq);
		sqlite3_bind_int64(st, 2, j->folder_id);
		int src = sqlite3_step(st);
		sqlite3_reset(st);
		if (src != SQLITE_DONE) {
			rv = MR_EIO;
			goto err_rollback;
		}
	}
	return store_tx_commit(db); /* rolls back by itself on failure */

err_rollback:
	store_tx_rollback(db);
	log_error("pop3", "update failed db=%s err=%s", store_db_name(db), mr_strerror(rv));
	return rv;
}

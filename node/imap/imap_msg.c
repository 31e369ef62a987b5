/* imap_msg.c - message-row helpers shared by the FETCH, STORE, COPY and SEARCH jobs (actor
 * side): load one message of a folder by UID, load its raw bytes, and change its flags with a
 * fresh MODSEQ (RFC 7162 §3.1) while keeping the folder's HIGHESTMODSEQ current. The SQL follows
 * the account schema documented in storage/store.h. */
#include "imap_int.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>


void imap__msg_free(struct imap_msgrow *r)
{
	free(r->flags);
	free(r->envelope);
	free(r->bodystructure);
	free(r->emailid);
	memset(r, 0, sizeof *r);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? xstrdup(t) : NULL;
}

int imap__msg_load(struct store_db *db, int64_t folder, uint32_t uid, struct imap_msgrow *r)
{
	sqlite3_stmt *st = store_stmt(db, "SELECT id, flags, internaldate, size, envelope,"
					  " bodystructure, modseq, savedate, emailid FROM messages"
					  " WHERE folder = ? AND uid = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, folder);
	sqlite3_bind_int64(st, 2, uid);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->id = sqlite3_column_int64(st, 0);
		r->flags = col_dup(st, 1);
		if (!r->flags)
			r->flags = xstrdup("");
		r->internaldate = sqlite3_column_int64(st, 2);
		r->size = (uint64_t)sqlite3_column_int64(st, 3);
		r->envelope = col_dup(st, 4);
		r->bodystructure = col_dup(st, 5);
		r->modseq = (uint64_t)sqlite3_column_int64(st, 6);
		r->savedate = sqlite3_column_int64(st, 7);
		r->emailid = col_dup(st, 8);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MR_ENOTFOUND : MR_EIO;
}

int imap__msg_set_flags(struct store_db *db, int64_t folder, int64_t id, const char *flags,
			uint64_t *modseq_r)
{
	uint64_t modseq;
	int rv = mbox_next_modseq(db, &modseq);
	if (rv != 0)
		return rv;
	sqlite3_stmt *st = store_stmt(db, "UPDATE messages SET flags = ?, modseq = ? WHERE id = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_text(st, 1, flags, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (int64_t)modseq);
	sqlite3_bind_int64(st, 3, id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return MR_EIO;
	st = store_stmt(db, "UPDATE folders SET highestmodseq = ? WHERE id = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, (int64_t)modseq);
	sqlite3_bind_int64(st, 2, folder);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	*modseq_r = modseq;
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}


int imap__quota_check(struct store_db *db, int64_t quota, uint64_t add)
{
	if (quota <= 0)
		return 0;
	uint64_t used;
	int rv = mbox_usage(db, &used);
	if (rv != 0)
		return rv;
	return used + add > (uint64_t)quota ? MR_EQUOTA : 0;
}

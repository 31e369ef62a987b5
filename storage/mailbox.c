/* mailbox.c - one account's mail (an account database): folders with IMAP UIDVALIDITY / UIDNEXT
 * / HIGHESTMODSEQ, and message appends. MODSEQ is one counter per account (meta 'modseq',
 * RFC 7162 §3.1: mod-sequences are positive and strictly increasing; one global counter makes
 * them increase across folders too). A folder's creation consumes a MODSEQ so HIGHESTMODSEQ is
 * never 0. UIDVALIDITY (RFC 9051 §2.3.1.1) is max(now, last issued + 1) from meta
 * 'uidvalidity', so a folder deleted and re-created with the same name never reuses a value.
 * New accounts get the RFC 6154 SPECIAL-USE folders below.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <limits.h>
#include <string.h>
#include <time.h>

static const struct {
	const char *name, *special;
} default_folders[] = {
    {"INBOX", NULL},          {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Archive", "\\Archive"}, {"Junk", "\\Junk"},     {"Trash", "\\Trash"},
};

/* RFC 9051 §5.1: INBOX is case-insensitive; every other name is kept as given. */
static const char *norm_name(const char *name)
{
	return mr_strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n > 0 && n < sizeof(((struct mbox_folder *)0)->name);
}

int mbox_folder_get(struct store_db *db, const char *name, struct mbox_folder *f_r)
{
	if (!name_ok(name))
		return MR_EINVAL;
	sqlite3_stmt *s = store_stmt(db, "SELECT id, name, special, subscribed, uidvalidity,"
	                                 " uidnext, highestmodseq FROM folders WHERE name = ?");
	if (!s)
		return MR_EIO;
	sqlite3_bind_text(s, 1, norm_name(name), -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && f_r) {
		memset(f_r, 0, sizeof *f_r);
		f_r->id = sqlite3_column_int64(s, 0);
		snprintf(f_r->name, sizeof f_r->name, "%s",
		         (const char *)sqlite3_column_text(s, 1));
		const char *sp = (const char *)sqlite3_column_text(s, 2);
		snprintf(f_r->special, sizeof f_r->special, "%s", sp ? sp : "");
		f_r->subscribed = sqlite3_column_int(s, 3) != 0;
		f_r->uidvalidity = (uint32_t)sqlite3_column_int64(s, 4);
		f_r->uidnext = (uint32_t)sqlite3_column_int64(s, 5);
		f_r->highestmodseq = (uint64_t)sqlite3_column_int64(s, 6);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MR_ENOTFOUND : MR_EIO;
}

static int meta_get(struct store_db *db, const char *k, int64_t *v_r)
{
	sqlite3_stmt *s = store_stmt(db, "SELECT v FROM meta WHERE k = ?");
	if (!s)
		return MR_EIO;
	sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	*v_r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : MR_EIO;
}

static int meta_set(struct store_db *db, const char *k, int64_t v)
{
	sqlite3_stmt *s = store_stmt(db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)");
	if (!s)
		return MR_EIO;
	sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, v);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

int mbox_next_modseq(struct store_db *db, uint64_t *modseq_r)
{
	if (!db->in_tx)
		return MR_EINVAL;
	int64_t v;
	int rv = meta_get(db, "modseq", &v);
	if (rv != 0)
		return rv;
	if (v < 0 || v >= INT64_MAX)
		return MR_ECORRUPT; /* RFC 7162: 63-bit */
	if ((rv = meta_set(db, "modseq", v + 1)) != 0)
		return rv;
	*modseq_r = (uint64_t)v + 1;
	return 0;
}

static int next_uidvalidity(struct store_db *db, uint32_t *uv_r)
{
	int64_t last;
	int rv = meta_get(db, "uidvalidity", &last);
	if (rv != 0)
		return rv;
	int64_t now = (int64_t)time(NULL);
	int64_t v = now > last ? now : last + 1;
	if (v <= 0 || v > (int64_t)UINT32_MAX)
		return MR_ECORRUPT;
	if ((rv = meta_set(db, "uidvalidity", v)) != 0)
		return rv;
	*uv_r = (uint32_t)v;
	return 0;
}

int mbox_usage(struct store_db *db, uint64_t *used_r)
{
	sqlite3_stmt *st = store_stmt(db, "SELECT COALESCE(SUM(size), 0) FROM messages");
	if (!st)
		return MR_EIO;
	int rc = sqlite3_step(st);
	int64_t used = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return MR_EIO;
	*used_r = used > 0 ? (uint64_t)used : 0;
	return 0;
}

int mbox_folder_special(struct store_db *db, const char *special, char *name, size_t cap)
{
	sqlite3_stmt *s = store_stmt(db, "SELECT name FROM folders WHERE special = ?"
	                                 " ORDER BY id LIMIT 1");
	if (!s)
		return MR_EIO;
	sqlite3_bind_text(s, 1, special, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(name, cap, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MR_ENOTFOUND : MR_EIO;
}

int mbox_folder_create(struct store_db *db, const char *name, const char *special)
{
	if (!name_ok(name) ||
	    (special && strlen(special) >= sizeof(((struct mbox_folder *)0)->special)))
		return MR_EINVAL;
	name = norm_name(name);
	bool own;
	int rv = store__tx_auto_begin(db, &own);
	if (rv != 0)
		return rv;
	uint32_t uidvalidity = 0;
	uint64_t modseq = 0;
	if ((rv = mbox_folder_get(db, name, NULL)) != MR_ENOTFOUND) {
		rv = rv == 0 ? MR_EEXIST : rv;
		goto out;
	}
	if ((rv = next_uidvalidity(db, &uidvalidity)) != 0 ||
	    (rv = mbox_next_modseq(db, &modseq)) != 0)
		goto out;
	sqlite3_stmt *s =
	    store_stmt(db, "INSERT INTO folders(name, special, subscribed,"
	                   " uidvalidity, uidnext, highestmodseq) VALUES(?, ?, 1, ?, 1, ?)");
	if (!s) {
		rv = MR_EIO;
		goto out;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	if (special && special[0])
		sqlite3_bind_text(s, 2, special, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, uidvalidity);
	sqlite3_bind_int64(s, 4, (int64_t)modseq);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	rv = rc == SQLITE_DONE ? 0 : rc == SQLITE_CONSTRAINT ? MR_EEXIST : MR_EIO;
out:
	return store__tx_auto_end(db, own, rv);
}

int mbox_append(struct store_db *db, const char *folder, const char *flags, int64_t internaldate,
                const uint8_t *raw, size_t len, const char *envelope, const char *bodystructure,
                uint32_t *uid_r)
{
	if (!db->in_tx)
		return MR_EINVAL;
	if (!raw || len > INT_MAX)
		return MR_ETOOBIG;
	struct mbox_folder f;
	uint64_t modseq;
	int rv = mbox_folder_get(db, folder, &f);
	if (rv != 0)
		return rv;
	/* RFC 9051 §2.3.1.1: UIDs are 32-bit; a full folder needs a new UIDVALIDITY. */
	if (f.uidnext == 0 || f.uidnext == UINT32_MAX)
		return MR_ETOOBIG;
	if ((rv = mbox_next_modseq(db, &modseq)) != 0)
		return rv;
	sqlite3_stmt *s = store_stmt(db, "INSERT INTO messages(folder, uid, modseq, flags,"
	                                 " internaldate, size, envelope, bodystructure)"
	                                 " VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
	if (!s)
		return MR_EIO;
	sqlite3_bind_int64(s, 1, f.id);
	sqlite3_bind_int64(s, 2, f.uidnext);
	sqlite3_bind_int64(s, 3, (int64_t)modseq);
	sqlite3_bind_text(s, 4, flags ? flags : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 5, internaldate);
	sqlite3_bind_int64(s, 6, (int64_t)len);
	if (envelope)
		sqlite3_bind_text(s, 7, envelope, -1, SQLITE_TRANSIENT);
	if (bodystructure)
		sqlite3_bind_text(s, 8, bodystructure, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		goto err_sql;
	int64_t id = sqlite3_last_insert_rowid(store_db_sql(db));
	s = store_stmt(db, "INSERT INTO bodies(id, raw) VALUES(?, ?)");
	if (!s)
		return MR_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_blob(s, 2, len ? (const void *)raw : "", (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s); /* drop the pointer to the caller's buffer */
	if (rc != SQLITE_DONE)
		goto err_sql;
	s = store_stmt(db, "UPDATE folders SET uidnext = ?, highestmodseq = ? WHERE id = ?");
	if (!s)
		return MR_EIO;
	sqlite3_bind_int64(s, 1, (int64_t)f.uidnext + 1);
	sqlite3_bind_int64(s, 2, (int64_t)modseq);
	sqlite3_bind_int64(s, 3, f.id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		goto err_sql;
	if (uid_r)
		*uid_r = f.uidnext;
	return 0;

err_sql:
	log_error(STORE_COMPONENT, "append failed db=%s err=%s", store_db_name(db),
	          sqlite3_errmsg(store_db_sql(db)));
	return MR_EIO;
}

int store__mbox_init(struct store_db *db)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(default_folders); i++) {
		int rv =
		    mbox_folder_create(db, default_folders[i].name, default_folders[i].special);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* test_mailbox.c - account databases: default SPECIAL-USE folders on creation, folder creation
 * (UIDVALIDITY fresh and never reused, INBOX case-insensitive), mbox_append allocating strictly
 * increasing UIDs and MODSEQs, rollback leaving no trace, and reading everything back after the
 * store is closed and reopened. */
#include "storage_helpers.h"
#include <string.h>

#define ACCT "a0123456789abcdef"

static int job_defaults(struct store_db *db, void *arg)
{
	static const struct {
		const char *name, *special;
	} want[] = {
	    {"INBOX", ""},      {"Drafts", "\\Drafts"},
	    {"Sent", "\\Sent"}, {"Archive", "\\Archive"},
	    {"Junk", "\\Junk"}, {"Trash", "\\Trash"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct mbox_folder f;
		ASSERT_OK(mbox_folder_get(db, want[i].name, &f));
		ASSERT_EQ_STR(f.name, want[i].name);
		ASSERT_EQ_STR(f.special, want[i].special);
		ASSERT(f.subscribed);
		ASSERT(f.uidvalidity > 0);
		ASSERT_EQ_INT(f.uidnext, 1);
		ASSERT(f.highestmodseq > 0);
	}
	struct mbox_folder f;
	ASSERT_OK(mbox_folder_get(db, "inbox", &f)); /* RFC 9051 §5.1 */
	ASSERT_EQ_STR(f.name, "INBOX");
	ASSERT_ERR(mbox_folder_get(db, "sent", &f), MR_ENOTFOUND); /* others are case-sensitive */
	sqlite3_stmt *s = store_stmt(db, "SELECT count(*) FROM folders");
	ASSERT(s && sqlite3_step(s) == SQLITE_ROW);
	ASSERT_EQ_INT(sqlite3_column_int(s, 0), 6);
	s = store_stmt(db, "SELECT v FROM meta WHERE k = 'schema_version'");
	ASSERT(s && sqlite3_step(s) == SQLITE_ROW);
	ASSERT_EQ_INT(sqlite3_column_int(s, 0), MBOX_SCHEMA_VERSION);
	return 0;
}

static void test_defaults(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, ACCT, STORE_CREATE, job_defaults, NULL));
	store_close(&st);
}

/* mbox_folder_special: the folder with a special use, whatever its name. */
static int job_special(struct store_db *db, void *arg)
{
	(void)arg;
	char name[64];
	ASSERT_OK(mbox_folder_special(db, "\\Sent", name, sizeof name));
	ASSERT_EQ_STR(name, "Sent");
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(store_exec(db, "UPDATE folders SET name = 'Sent Items' WHERE name = 'Sent'"));
	ASSERT_OK(store_tx_commit(db));
	ASSERT_OK(mbox_folder_special(db, "\\Sent", name, sizeof name));
	ASSERT_EQ_STR(name, "Sent Items");
	ASSERT_ERR(mbox_folder_special(db, "\\Flagged", name, sizeof name), MR_ENOTFOUND);
	return 0;
}

static void test_special(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, ACCT, STORE_CREATE, job_special, NULL));
	store_close(&st);
}

static int job_folders(struct store_db *db, void *arg)
{
	struct mbox_folder a, b;
	ASSERT_ERR(mbox_folder_create(db, "INBOX", NULL), MR_EEXIST);
	ASSERT_ERR(mbox_folder_create(db, "Inbox", NULL), MR_EEXIST);
	ASSERT_ERR(mbox_folder_create(db, "", NULL), MR_EINVAL);
	ASSERT_OK(mbox_folder_create(db, "Work/Projects", NULL));
	ASSERT_OK(mbox_folder_get(db, "Work/Projects", &a));
	ASSERT_EQ_STR(a.special, "");
	ASSERT_ERR(mbox_folder_create(db, "Work/Projects", NULL), MR_EEXIST);
	/* delete and re-create: a new UIDVALIDITY (RFC 9051 §2.3.1.1) */
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(store_exec(db, "DELETE FROM folders WHERE name = 'Work/Projects'"));
	ASSERT_OK(store_tx_commit(db));
	ASSERT_OK(mbox_folder_create(db, "Work/Projects", NULL));
	ASSERT_OK(mbox_folder_get(db, "Work/Projects", &b));
	ASSERT(b.uidvalidity != a.uidvalidity);
	ASSERT(b.highestmodseq > a.highestmodseq);
	/* inside a caller's transaction it joins it: a rollback removes the folder */
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(mbox_folder_create(db, "Temp", NULL));
	ASSERT_OK(mbox_folder_get(db, "Temp", &a));
	store_tx_rollback(db);
	ASSERT_ERR(mbox_folder_get(db, "Temp", &a), MR_ENOTFOUND);
	return 0;
}

static void test_folders(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, ACCT, STORE_CREATE, job_folders, NULL));
	store_close(&st);
}

#define NMSG 5

static void body_of(int i, char *buf, size_t cap)
{
	snprintf(buf, cap, "From: a@b\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i);
}

struct appended {
	uint32_t uid[NMSG];
	uint64_t modseq[NMSG];
	uint32_t uidvalidity;
};

static int job_append(struct store_db *db, void *arg)
{
	struct appended *ap = arg;
	uint8_t raw[1] = {0};
	uint32_t uid;
	ASSERT_ERR(mbox_append(db, "INBOX", "", 1, raw, 1, NULL, NULL, &uid), MR_EINVAL);
	uint64_t ms;
	ASSERT_ERR(mbox_next_modseq(db, &ms), MR_EINVAL);
	for (int i = 0; i < NMSG; i++) {
		char body[128];
		body_of(i, body, sizeof body);
		ASSERT_OK(store_tx_begin(db));
		ASSERT_OK(mbox_append(db, i % 2 ? "inbox" : "INBOX", i ? "\\Seen" : "",
		                      1700000000 + i, (const uint8_t *)body, strlen(body),
		                      i == 0 ? "(env)" : NULL, i == 0 ? "(bs)" : NULL,
		                      &ap->uid[i]));
		ASSERT_OK(store_tx_commit(db));
		struct mbox_folder f;
		ASSERT_OK(mbox_folder_get(db, "INBOX", &f));
		ap->modseq[i] = f.highestmodseq;
		ap->uidvalidity = f.uidvalidity;
		ASSERT_EQ_INT(f.uidnext, ap->uid[i] + 1);
		if (i > 0) {
			ASSERT(ap->uid[i] > ap->uid[i - 1]);
			ASSERT(ap->modseq[i] > ap->modseq[i - 1]);
		}
	}
	ASSERT_EQ_INT(ap->uid[0], 1);
	/* a rolled-back append leaves uidnext and the message count alone */
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(mbox_append(db, "INBOX", "", 1, raw, 1, NULL, NULL, &uid));
	ASSERT_EQ_INT(uid, NMSG + 1);
	store_tx_rollback(db);
	struct mbox_folder f;
	ASSERT_OK(mbox_folder_get(db, "INBOX", &f));
	ASSERT_EQ_INT(f.uidnext, NMSG + 1);
	/* a missing folder */
	ASSERT_OK(store_tx_begin(db));
	ASSERT_ERR(mbox_append(db, "Nope", "", 1, raw, 1, NULL, NULL, &uid), MR_ENOTFOUND);
	/* MODSEQ is one counter for the account: another folder continues it */
	ASSERT_OK(mbox_append(db, "Sent", "", 1, raw, 1, NULL, NULL, &uid));
	ASSERT_EQ_INT(uid, 1);
	ASSERT_OK(store_tx_commit(db));
	ASSERT_OK(mbox_folder_get(db, "Sent", &f));
	ASSERT(f.highestmodseq > ap->modseq[NMSG - 1]);
	return 0;
}

static int job_readback(struct store_db *db, void *arg)
{
	struct appended *ap = arg;
	struct mbox_folder f;
	ASSERT_OK(mbox_folder_get(db, "INBOX", &f));
	ASSERT_EQ_INT(f.uidvalidity, ap->uidvalidity);
	ASSERT_EQ_INT(f.uidnext, NMSG + 1);
	ASSERT_EQ_INT(f.highestmodseq, ap->modseq[NMSG - 1]);
	sqlite3_stmt *s = store_stmt(db, "SELECT m.uid, m.modseq, m.flags, m.internaldate, m.size,"
	                                 " m.envelope, m.bodystructure, b.raw FROM messages m"
	                                 " JOIN bodies b ON b.id = m.id WHERE m.folder = ?"
	                                 " ORDER BY m.uid");
	ASSERT(s != NULL);
	sqlite3_bind_int64(s, 1, f.id);
	for (int i = 0; i < NMSG; i++) {
		char body[128];
		body_of(i, body, sizeof body);
		ASSERT_EQ_INT(sqlite3_step(s), SQLITE_ROW);
		ASSERT_EQ_INT(sqlite3_column_int64(s, 0), ap->uid[i]);
		ASSERT_EQ_INT(sqlite3_column_int64(s, 1), ap->modseq[i]);
		ASSERT_EQ_STR((const char *)sqlite3_column_text(s, 2), i ? "\\Seen" : "");
		ASSERT_EQ_INT(sqlite3_column_int64(s, 3), 1700000000 + i);
		ASSERT_EQ_INT(sqlite3_column_int64(s, 4), strlen(body));
		if (i == 0) {
			ASSERT_EQ_STR((const char *)sqlite3_column_text(s, 5), "(env)");
			ASSERT_EQ_STR((const char *)sqlite3_column_text(s, 6), "(bs)");
		} else {
			ASSERT(sqlite3_column_type(s, 5) == SQLITE_NULL);
		}
		ASSERT_EQ_MEM(sqlite3_column_blob(s, 7), sqlite3_column_bytes(s, 7), body,
		              strlen(body));
	}
	ASSERT_EQ_INT(sqlite3_step(s), SQLITE_DONE);
	return 0;
}

static void test_append_and_reopen(void)
{
	struct appended ap;
	memset(&ap, 0, sizeof ap);
	struct store *st = th_open();
	ASSERT_OK(store_run(st, ACCT, STORE_CREATE, job_append, &ap));
	ASSERT_OK(store_run(st, ACCT, 0, job_readback, &ap));
	store_close(&st);
	st = th_open();
	ASSERT_OK(store_run(st, ACCT, 0, job_readback, &ap));
	store_close(&st);
}

/* Many databases across actors, more than one actor's open-database table holds. */
static int job_one(struct store_db *db, void *arg)
{
	uint32_t uid;
	int rv = store_tx_begin(db);
	if (rv == 0)
		rv = mbox_append(db, "INBOX", "", 1, (const uint8_t *)"x", 1, NULL, NULL, &uid);
	if (rv == 0)
		rv = store_tx_commit(db);
	else
		store_tx_rollback(db);
	return rv == 0 ? (int)uid : rv;
}

static void test_many_databases(void)
{
	struct store *st = th_open();
	char name[STORE_DBNAME_MAX];
	for (int round = 1; round <= 2; round++)
		for (int i = 0; i < 140; i++) {
			snprintf(name, sizeof name, "a%016x", i);
			ASSERT_EQ_INT(store_run(st, name, STORE_CREATE, job_one, NULL), round);
		}
	store_close(&st);
}

static const struct unit_test tests[] = {
    {"special", test_special},
    {"defaults", test_defaults},
    {"folders", test_folders},
    {"append and reopen", test_append_and_reopen},
    {"many databases", test_many_databases},
    {0},
};
UNIT_MAIN(tests)

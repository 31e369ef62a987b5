/* schema.c - schemas and migrations. Every database has meta(k, v) with k = 'schema_version';
 * the schema of a database is picked by its name (a table of kinds below) and is an ordered list
 * of migration steps: step i moves version i to i+1. On open, the missing steps run in one
 * transaction with the new version written last, so a crash leaves the old version intact. A
 * database whose version is newer than this code knows is refused (MR_ECORRUPT) rather than
 * written by an older binary. The table layouts are documented in store.h.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>

static const char *const directory_steps[] = {
    /* 0 -> 1 */
    "CREATE TABLE domains(name TEXT PRIMARY KEY);"
    "CREATE TABLE accounts(id INTEGER PRIMARY KEY, address TEXT UNIQUE NOT NULL,"
    " dbname TEXT UNIQUE NOT NULL, pwhash TEXT NOT NULL, quota INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE aliases(address TEXT NOT NULL, target TEXT NOT NULL,"
    " PRIMARY KEY(address, target));"
    "CREATE INDEX aliases_target ON aliases(target);",
};

static const char *const mailbox_steps[] = {
    /* 0 -> 1 */
    "CREATE TABLE folders(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, special TEXT,"
    " subscribed INTEGER NOT NULL DEFAULT 1, uidvalidity INTEGER NOT NULL,"
    " uidnext INTEGER NOT NULL, highestmodseq INTEGER NOT NULL);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, folder INTEGER NOT NULL"
    " REFERENCES folders(id) ON DELETE CASCADE, uid INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL, flags TEXT NOT NULL, internaldate INTEGER NOT NULL,"
    " size INTEGER NOT NULL, envelope TEXT, bodystructure TEXT, UNIQUE(folder, uid));"
    "CREATE INDEX messages_modseq ON messages(folder, modseq);"
    "CREATE TABLE bodies(id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " raw BLOB NOT NULL);"
    "INSERT INTO meta(k, v) VALUES('modseq', 0);",
    /* 1 -> 2: IMAP extensions. savedate (RFC 8514) and emailid (RFC 8474) are filled by a
     * trigger when an insert leaves them NULL, so every writer (SMTP delivery, APPEND, COPY)
     * gets them. expunged(folder, uid, modseq) remembers removals for QRESYNC VANISHED
     * (RFC 7162 §3.2.5.1): every removal of a message from a folder (DELETE, or a change of
     * its folder column) takes a fresh MODSEQ from meta and raises the folder's
     * HIGHESTMODSEQ; the rows of a deleted folder go with it. */
    "ALTER TABLE messages ADD COLUMN savedate INTEGER;"
    "ALTER TABLE messages ADD COLUMN emailid TEXT;"
    "UPDATE messages SET savedate = internaldate, emailid = lower(hex(randomblob(8)));"
    "CREATE TABLE expunged(folder INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL, PRIMARY KEY(folder, uid));"
    "CREATE INDEX expunged_modseq ON expunged(folder, modseq);"
    "CREATE TRIGGER messages_ins AFTER INSERT ON messages"
    " WHEN new.savedate IS NULL OR new.emailid IS NULL BEGIN"
    " UPDATE messages SET savedate = COALESCE(new.savedate, CAST(strftime('%s', 'now') AS"
    " INTEGER)), emailid = COALESCE(new.emailid, lower(hex(randomblob(8)))) WHERE id = new.id;"
    " END;"
    "CREATE TRIGGER messages_del AFTER DELETE ON messages BEGIN"
    " UPDATE meta SET v = v + 1 WHERE k = 'modseq';"
    " INSERT OR REPLACE INTO expunged(folder, uid, modseq) VALUES(old.folder, old.uid,"
    " (SELECT v FROM meta WHERE k = 'modseq'));"
    " UPDATE folders SET highestmodseq = (SELECT v FROM meta WHERE k = 'modseq')"
    " WHERE id = old.folder;"
    " END;"
    "CREATE TRIGGER messages_mv AFTER UPDATE OF folder ON messages"
    " WHEN new.folder != old.folder BEGIN"
    " UPDATE meta SET v = v + 1 WHERE k = 'modseq';"
    " INSERT OR REPLACE INTO expunged(folder, uid, modseq) VALUES(old.folder, old.uid,"
    " (SELECT v FROM meta WHERE k = 'modseq'));"
    " UPDATE folders SET highestmodseq = (SELECT v FROM meta WHERE k = 'modseq')"
    " WHERE id = old.folder;"
    " END;"
    "CREATE TRIGGER folders_del AFTER DELETE ON folders BEGIN"
    " DELETE FROM expunged WHERE folder = old.id;"
    " END;",
};

_Static_assert(MR_ARRAY_LEN(mailbox_steps) == MBOX_SCHEMA_VERSION,
               "store.h MBOX_SCHEMA_VERSION must match the mailbox migration steps");

static bool is_directory(const char *name)
{
	return strcmp(name, STORE_DIRECTORY) == 0;
}

/* "a" + 16 lower-case hex (store.h). */
static bool is_account(const char *name)
{
	if (name[0] != 'a' || strlen(name) != 17)
		return false;
	for (int i = 1; i < 17; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return true;
}

static bool is_other(const char *name)
{
	return true;
}

struct schema_kind {
	const char *kind;
	bool (*match)(const char *name);
	const char *const *steps;
	size_t nsteps;
	int (*init)(struct store_db *db); /* after the first creation, same transaction */
};

/* First match wins; databases of no known kind get only meta (version 0). */
static const struct schema_kind kinds[] = {
    {"directory", is_directory, directory_steps, MR_ARRAY_LEN(directory_steps), NULL},
    {"mailbox", is_account, mailbox_steps, MR_ARRAY_LEN(mailbox_steps), store__mbox_init},
    {"other", is_other, NULL, 0, NULL},
};

static int get_version(struct store_db *db, int64_t *v_r)
{
	sqlite3_stmt *s = store_stmt(db, "SELECT v FROM meta WHERE k = 'schema_version'");
	if (!s)
		return MR_EIO;
	int rc = sqlite3_step(s);
	*v_r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : MR_EIO;
}

int store__schema_apply(struct store_db *db)
{
	const struct schema_kind *k = kinds;
	while (!k->match(db->name))
		k++;
	int64_t ver = 0;
	int rv;
	/* Fast path: an up-to-date database needs no write transaction. */
	if (sqlite3_exec(db->sql, "SELECT 1 FROM meta LIMIT 0", NULL, NULL, NULL) == SQLITE_OK) {
		if ((rv = get_version(db, &ver)) != 0)
			return rv;
		if (ver == (int64_t)k->nsteps)
			return 0;
	}
	if ((rv = store_tx_begin(db)) != 0)
		return rv;
	if ((rv = store_exec(db, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v)")) != 0)
		goto err;
	if ((rv = get_version(db, &ver)) != 0)
		goto err;
	if (ver < 0 || ver > (int64_t)k->nsteps) {
		log_error(STORE_COMPONENT, "unknown schema version db=%s kind=%s version=%lld",
		          db->name, k->kind, (long long)ver);
		rv = MR_ECORRUPT;
		goto err;
	}
	bool fresh = ver == 0;
	for (size_t i = (size_t)ver; i < k->nsteps; i++) {
		log_info(STORE_COMPONENT, "migrating db=%s kind=%s from=%zu to=%zu", db->name,
		         k->kind, i, i + 1);
		if ((rv = store_exec(db, k->steps[i])) != 0)
			goto err;
	}
	if (fresh && k->init && (rv = k->init(db)) != 0)
		goto err;
	sqlite3_stmt *s =
	    store_stmt(db, "INSERT OR REPLACE INTO meta(k, v) VALUES('schema_version', ?)");
	if (!s) {
		rv = MR_EIO;
		goto err;
	}
	sqlite3_bind_int64(s, 1, (int64_t)k->nsteps);
	if (sqlite3_step(s) != SQLITE_DONE) {
		rv = MR_EIO;
		goto err;
	}
	sqlite3_reset(s);
	return store_tx_commit(db);

err:
	store_tx_rollback(db);
	return rv;
}

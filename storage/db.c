/* db.c - one open SQLCipher database: keyed open through "mrvfs", validation, connection
 * pragmas, the per-database prepared-statement cache, and the single write path
 * (store_tx_begin / store_tx_commit / store_tx_rollback). A store_db is owned by exactly one
 * actor thread; nothing here locks. The raw key is handed to SQLCipher as "x'<64 hex>'"
 * (dependencies.md §2: no per-open KDF) and wiped right after. SQLCipher checks the key lazily,
 * so every open runs "SELECT count(*) FROM sqlite_master" at once: SQLITE_NOTADB -> MR_EKEY.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool store__name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= STORE_DBNAME_MAX || !(name[0] >= 'a' && name[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

char *store__db_path(struct store *st, const char *dbname, const char *ext)
{
	return xasprintf("%s/%s%s", st->db_dir, dbname, ext);
}

int store__db_key(sqlite3 *sql, const uint8_t *dbkey)
{
	char hex[2 * STORE_KEYBYTES + 4];
	hex[0] = 'x';
	hex[1] = '\'';
	sodium_bin2hex(hex + 2, 2 * STORE_KEYBYTES + 1, dbkey, STORE_KEYBYTES);
	hex[2 + 2 * STORE_KEYBYTES] = '\'';
	hex[3 + 2 * STORE_KEYBYTES] = 0;
	int rc = sqlite3_key(sql, hex, (int)strlen(hex));
	sodium_memzero(hex, sizeof hex);
	if (rc != SQLITE_OK)
		return MR_EIO;
	rc = sqlite3_exec(sql, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	if (rc == SQLITE_NOTADB)
		return MR_EKEY;
	return rc == SQLITE_OK ? 0 : MR_EIO;
}

/* Connection pragmas, applied on every open. WAL + synchronous=FULL makes each COMMIT fsync
 * the WAL before returning (store.h: "Commit is durable"). secure_delete is compiled in. */
static const char *const open_pragmas[] = {
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
};

int store__db_open(struct store *st, const char *dbname, int flags, struct store_db **db_r)
{
	uint8_t dbkey[STORE_KEYBYTES];
	struct store_db *db = NULL;
	char *path = NULL;
	int rv;

	if (!store__name_valid(dbname))
		return MR_EINVAL;
	path = store__db_path(st, dbname, ".db");
	struct stat sb;
	bool exists = stat(path, &sb) == 0;
	if (!exists && !(flags & STORE_CREATE)) {
		rv = MR_ENOTFOUND;
		goto err;
	}
	/* The key file is written (atomically) before the database exists, so a crash in between
	 * leaves a stray key that the next creation simply replaces. */
	rv = exists ? store__key_load(st, dbname, dbkey) : store__key_create(st, dbname, dbkey);
	if (rv == MR_ENOTFOUND)
		rv = MR_ECORRUPT; /* a database without its key file */
	if (rv != 0)
		goto err;

	db = xmalloc(sizeof *db);
	db->st = st;
	snprintf(db->name, sizeof db->name, "%s", dbname);
	int oflags =
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (exists ? 0 : SQLITE_OPEN_CREATE);
	int rc = sqlite3_open_v2(path, &db->sql, oflags, STORE_VFS_NAME);
	if (rc != SQLITE_OK) {
		log_error(STORE_COMPONENT, "open failed db=%s err=%s", dbname,
		          db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
		rv = MR_EIO;
		goto err_after_alloc;
	}
	/* The unix VFS creates files 0644 (less umask); -wal and -shm copy the main file's mode,
	 * so restricting it now keeps every file of the database owner-only. */
	if (!exists && chmod(path, 0600) != 0) {
		rv = MR_EIO;
		goto err_after_alloc;
	}
	rv = store__db_key(db->sql, dbkey);
	sodium_memzero(dbkey, sizeof dbkey);
	if (rv != 0) {
		log_error(STORE_COMPONENT, "database key rejected db=%s err=%s", dbname,
		          mr_strerror(rv));
		goto err_after_alloc;
	}
	for (size_t i = 0; i < MR_ARRAY_LEN(open_pragmas); i++) {
		if ((rv = store_exec(db, open_pragmas[i])) != 0)
			goto err_after_alloc;
	}
	if ((rv = store__schema_apply(db)) != 0)
		goto err_after_alloc;
	free(path);
	*db_r = db;
	return 0;

err_after_alloc:
	store__db_close(&db);
	if (!exists) {
		/* A half-created database is removed with its key so a retry starts clean. */
		static const char *const exts[] = {".db", ".db-wal", ".db-shm", ".key"};
		for (size_t i = 0; i < MR_ARRAY_LEN(exts); i++) {
			char *p = store__db_path(st, dbname, exts[i]);
			unlink(p);
			free(p);
		}
	}
err:
	sodium_memzero(dbkey, sizeof dbkey);
	free(path);
	return rv;
}

void store__db_close(struct store_db **dbp)
{
	struct store_db *db = *dbp;
	if (!db)
		return;
	if (db->in_tx)
		store_tx_rollback(db);
	for (size_t i = 0; i < db->nstmts; i++) {
		sqlite3_finalize(db->stmts[i].stmt);
		free(db->stmts[i].sql);
	}
	free(db->stmts);
	if (db->sql && sqlite3_close(db->sql) != SQLITE_OK)
		log_error(STORE_COMPONENT, "close failed db=%s err=%s", db->name,
		          sqlite3_errmsg(db->sql));
	free(db);
	*dbp = NULL;
}

sqlite3 *store_db_sql(struct store_db *db)
{
	return db->sql;
}

const char *store_db_name(struct store_db *db)
{
	return db->name;
}

struct store *store_db_store(struct store_db *db)
{
	return db->st;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

sqlite3_stmt *store_stmt(struct store_db *db, const char *sql)
{
	uint32_t h = fnv1a(sql);
	for (size_t i = 0; i < db->nstmts; i++) {
		struct stmt_ent *e = &db->stmts[i];
		if (e->hash == h && strcmp(e->sql, sql) == 0) {
			sqlite3_reset(e->stmt);
			sqlite3_clear_bindings(e->stmt);
			return e->stmt;
		}
	}
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(db->sql, sql, -1, &stmt, NULL) != SQLITE_OK) {
		log_error(STORE_COMPONENT, "prepare failed db=%s err=%s", db->name,
		          sqlite3_errmsg(db->sql));
		return NULL;
	}
	if (db->nstmts == STORE_STMT_CACHE_MAX) {
		/* Full: evict the oldest entry (callers never keep a statement across calls). */
		sqlite3_finalize(db->stmts[0].stmt);
		free(db->stmts[0].sql);
		memmove(&db->stmts[0], &db->stmts[1], (db->nstmts - 1) * sizeof db->stmts[0]);
		db->nstmts--;
	}
	if (!db->stmts)
		db->stmts = xcalloc(STORE_STMT_CACHE_MAX, sizeof *db->stmts);
	db->stmts[db->nstmts++] = (struct stmt_ent){.hash = h, .sql = xstrdup(sql), .stmt = stmt};
	return stmt;
}

int store_exec(struct store_db *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->sql, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		log_error(STORE_COMPONENT, "exec failed db=%s rc=%d err=%s", db->name, rc,
		          msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return MR_EIO;
	}
	return 0;
}

int store_tx_begin(struct store_db *db)
{
	if (db->in_tx) {
		log_error(STORE_COMPONENT, "nested transaction db=%s", db->name);
		return MR_EINVAL;
	}
	int rv = store_exec(db, db->grouped ? "SAVEPOINT job" : "BEGIN IMMEDIATE");
	if (rv == 0)
		db->in_tx = true;
	return rv;
}

int store_tx_commit(struct store_db *db)
{
	if (!db->in_tx)
		return MR_EINVAL;
	if (db->grouped) {
		/* the group's transaction commits (and replicates) once for every job */
		int rv = store_exec(db, "RELEASE job");
		if (rv != 0) {
			store_tx_rollback(db);
			return rv;
		}
		db->in_tx = false;
		return 0;
	}
	if (db->st->repl)
		return store__repl_commit(db); /* replicate.c: returns once the log decided */
	int rv = store_exec(db, "COMMIT");
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	db->in_tx = false;
	store__post(db->st, NULL, NULL, 0, db->name);
	return 0;
}

void store_tx_rollback(struct store_db *db)
{
	if (!db->in_tx)
		return;
	/* Reset cached statements first so none holds the transaction open. */
	for (size_t i = 0; i < db->nstmts; i++)
		sqlite3_reset(db->stmts[i].stmt);
	if (db->grouped)
		(void)store_exec(db, "ROLLBACK TO job; RELEASE job");
	else if (sqlite3_get_autocommit(db->sql) == 0)
		(void)store_exec(db, "ROLLBACK");
	db->in_tx = false;
}

int store__tx_auto_begin(struct store_db *db, bool *own_r)
{
	*own_r = !db->in_tx;
	return *own_r ? store_tx_begin(db) : 0;
}

int store__tx_auto_end(struct store_db *db, bool own, int rv)
{
	if (!own)
		return rv;
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

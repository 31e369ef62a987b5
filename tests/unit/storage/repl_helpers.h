/* repl_helpers.h - shared fixture of the WAL-capture tests (test_repl*.c): paths of the leader's
 * files and of the follower's byte copy, crash-like copies, a logical dump of a database (hash
 * over every row of every table + integrity_check), the leader store in capture mode, and
 * random write transactions run as jobs, each captured with repl_poll (and promoted). */
#ifndef MR_TEST_REPL_HELPERS_H
#define MR_TEST_REPL_HELPERS_H
#include "storage_helpers.h"
#include "dbtest.h"
#include "storage/store_int.h"
#include "storage/repl.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACCT "a0000000000000001"
#define MARKER "PLAINTEXT-MARKER-7f3a9c21"

/* ---- files ---------------------------------------------------------------------------- */

static inline char *leader_path(const char *ext)
{
	static char p[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/db/%s%s", th_datadir(), ACCT, ext);
	return p[k];
}

static inline char *tmp_path(const char *name)
{
	static char p[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", unit_tmpdir(), name);
	return p[k];
}

static inline off_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* A crash-like copy of the leader's files (what a SIGKILLed process leaves): .db and .db-wal,
 * without the -shm (a new process rebuilds the wal-index from the -wal). */
static inline const char *crash_copy(const char *name)
{
	char *db = tmp_path(name);
	static char dbp[600];
	snprintf(dbp, sizeof dbp, "%s", db);
	char wal[620];
	snprintf(wal, sizeof wal, "%s-wal", dbp);
	unlink(wal);
	ASSERT_OK(copy_file(leader_path(".db"), dbp));
	(void)copy_file(leader_path(".db-wal"), wal);
	return dbp;
}

/* ---- logical content ------------------------------------------------------------------- */

struct dump {
	uint8_t hash[32];
	long rows;
	char integrity[64];
};

static inline void hash_rows(sqlite3 *sql, const char *q, crypto_generichash_state *h, long *rows)
{
	sqlite3_stmt *s = NULL;
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql, q, -1, &s, NULL), SQLITE_OK);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		(*rows)++;
		for (int c = 0; c < sqlite3_column_count(s); c++) {
			int t = sqlite3_column_type(s, c);
			const void *p = sqlite3_column_blob(s, c);
			int n = sqlite3_column_bytes(s, c);
			uint8_t tag[5] = {(uint8_t)t, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
			                  (uint8_t)(n >> 8), (uint8_t)n};
			crypto_generichash_update(h, tag, sizeof tag);
			if (p && n > 0)
				crypto_generichash_update(h, p, (size_t)n);
		}
	}
	ASSERT_EQ_INT(rc, SQLITE_DONE);
	sqlite3_finalize(s);
}

static inline void dump_sql(sqlite3 *sql, struct dump *d)
{
	memset(d, 0, sizeof *d);
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, sizeof d->hash);
	hash_rows(sql, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name", &h,
	          &d->rows);
	sqlite3_stmt *s = NULL;
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql,
	                                 "SELECT name FROM sqlite_master WHERE type = 'table' "
	                                 "ORDER BY name",
	                                 -1, &s, NULL),
	              SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		char q[256];
		snprintf(q, sizeof q, "SELECT * FROM \"%s\" ORDER BY rowid",
		         sqlite3_column_text(s, 0));
		hash_rows(sql, q, &h, &d->rows);
	}
	sqlite3_finalize(s);
	crypto_generichash_final(&h, d->hash, sizeof d->hash);
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	ASSERT_EQ_INT(sqlite3_step(s), SQLITE_ROW);
	snprintf(d->integrity, sizeof d->integrity, "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

static inline int job_dump(struct store_db *db, void *arg)
{
	dump_sql(store_db_sql(db), arg);
	return 0;
}

static uint8_t dbkey[STORE_KEYBYTES];

/* Open a copy with the key, as a restarted node would (plain "unix" VFS). */
static inline void dump_file(const char *path, struct dump *d)
{
	sqlite3 *sql = NULL;
	ASSERT_EQ_INT(sqlite3_open_v2(path, &sql, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ASSERT_OK(store__db_key(sql, dbkey));
	dump_sql(sql, d);
	ASSERT_EQ_INT(sqlite3_close(sql), SQLITE_OK);
}

static inline void assert_same(const char *follower, struct store *st)
{
	struct dump a, b;
	ASSERT_OK(store_run(st, ACCT, 0, job_dump, &a));
	dump_file(follower, &b);
	ASSERT_EQ_STR(a.integrity, "ok");
	ASSERT_EQ_STR(b.integrity, "ok");
	ASSERT_EQ_INT(b.rows, a.rows);
	ASSERT_EQ_MEM(b.hash, sizeof b.hash, a.hash, sizeof a.hash);
	/* the follower's SQLite left no -wal behind: the next apply may go ahead */
	ASSERT(file_size(tmp_path("follower.db-wal")) <= 0);
}

static inline int job_ckpt(struct store_db *db, void *arg)
{
	return repl_checkpoint(db, true);
}

static inline uint8_t *slurp(const char *path, size_t *n_r)
{
	off_t n = file_size(path);
	ASSERT(n >= 0);
	uint8_t *p = malloc((size_t)n + 1);
	int fd = open(path, O_RDONLY);
	ASSERT(fd >= 0);
	ASSERT_EQ_INT(read(fd, p, (size_t)n), n);
	close(fd);
	*n_r = (size_t)n;
	return p;
}

/* Stronger than assert_same: once the leader's WAL is checkpointed, its database file and the
 * follower's are byte-identical (pages are shipped as ciphertext; every write re-encrypts with
 * a fresh IV, so a stale page image would differ even with equal plaintext). */
static inline void assert_identical(struct store *st)
{
	ASSERT_OK(store_run(st, ACCT, 0, job_ckpt, NULL));
	size_t a, b;
	uint8_t *pa = slurp(leader_path(".db"), &a), *pb = slurp(tmp_path("follower.db"), &b);
	ASSERT_EQ_MEM(pb, b, pa, a);
	free(pa);
	free(pb);
}

static inline long count_where(sqlite3 *sql, const char *q)
{
	sqlite3_stmt *s = NULL;
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql, q, -1, &s, NULL), SQLITE_OK);
	ASSERT_EQ_INT(sqlite3_step(s), SQLITE_ROW);
	long n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static inline long count_file(const char *path, const char *q)
{
	sqlite3 *sql = NULL;
	ASSERT_EQ_INT(sqlite3_open_v2(path, &sql, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ASSERT_OK(store__db_key(sql, dbkey));
	long n = count_where(sql, q);
	struct dump d;
	dump_sql(sql, &d);
	ASSERT_EQ_STR(d.integrity, "ok");
	sqlite3_close(sql);
	return n;
}

/* ---- fixture --------------------------------------------------------------------------- */

static inline int job_enable(struct store_db *db, void *arg)
{
	ASSERT(!repl_enabled(db));
	ASSERT_OK(repl_enable(db));
	ASSERT(repl_enabled(db));
	ASSERT_OK(repl_enable(db)); /* idempotent */
	return 0;
}

/* Leader store with a fresh account database in capture mode, and the follower's byte copy
 * of its file made right after creation. */
static inline struct store *setup(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, ACCT, STORE_CREATE, job_enable, NULL));
	ASSERT_OK(store__key_load(st, ACCT, dbkey));
	ASSERT(file_size(leader_path(".db-wal")) == 0); /* enable checkpointed everything */
	ASSERT_OK(copy_file(leader_path(".db"), tmp_path("follower.db")));
	return st;
}

static inline void apply(const struct repl_tx *tx)
{
	ASSERT_OK(repl_apply_pages(tmp_path("follower.db"), tx->page_size, tx->db_size, tx->n,
	                           tx->pgno, tx->pages));
	ASSERT_EQ_INT(file_size(tmp_path("follower.db")), (off_t)tx->db_size * tx->page_size);
}

/* ---- random write transactions ------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static inline uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

enum op {
	OP_APPEND,
	OP_FLAGS,
	OP_DELETE,
	OP_SQL,
	OP_FOLDER,
	OP_SAVEPOINT,
	OP_SPILL,
	OP_VACUUM,
};

struct wjob {
	enum op op;
	int seq;
	bool promote;
	const char *marker; /* appended message body contains it, when set */
	int poll_rv;
	struct repl_tx tx;
};

static inline void do_append(struct store_db *db, size_t len, const char *marker)
{
	uint8_t *raw = malloc(len + 64);
	size_t n = (size_t)snprintf((char *)raw, 64, "Subject: %s\r\n\r\n", marker ? marker : "x");
	for (; n < len; n++)
		raw[n] = (uint8_t)('a' + rnd(26));
	uint32_t uid;
	ASSERT_OK(mbox_append(db, rnd(3) ? "INBOX" : "Sent", rnd(2) ? "\\Seen" : "",
	                      1700000000 + rnd(100000), raw, n, rnd(2) ? "(env)" : NULL, NULL,
	                      &uid));
	free(raw);
}

static inline int job_write(struct store_db *db, void *arg)
{
	struct wjob *w = arg;
	sqlite3 *sql = store_db_sql(db);
	char q[256];
	if (w->op == OP_VACUUM) {
		ASSERT_OK(store_exec(db, "VACUUM"));
	} else if (w->op == OP_FOLDER) {
		snprintf(q, sizeof q, "Folder%d", w->seq);
		ASSERT_OK(mbox_folder_create(db, q, NULL));
	} else {
		ASSERT_OK(store_tx_begin(db));
		switch (w->op) {
		case OP_APPEND:
			for (uint32_t i = 0, k = 1 + rnd(3); i < k; i++)
				do_append(db, 50 + rnd(20000), w->marker);
			break;
		case OP_FLAGS:
			snprintf(q, sizeof q,
			         "UPDATE messages SET flags = '\\Flagged k%d' WHERE id %% 3 = %u",
			         w->seq, rnd(3));
			ASSERT_OK(store_exec(db, q));
			ASSERT_OK(store_exec(db, "UPDATE meta SET v = v + 1 WHERE k = 'modseq'"));
			break;
		case OP_DELETE:
			ASSERT_OK(store_exec(db, "DELETE FROM messages WHERE id IN (SELECT id FROM "
			                         "messages ORDER BY random() LIMIT 2)"));
			ASSERT_OK(store_exec(db, "DELETE FROM bodies WHERE id NOT IN (SELECT id "
			                         "FROM messages)"));
			ASSERT_OK(store_exec(db, "UPDATE meta SET v = v + 1 WHERE k = 'modseq'"));
			break;
		case OP_SQL:
			ASSERT_OK(store_exec(db, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY "
			                         "KEY, v BLOB, w TEXT)"));
			snprintf(q, sizeof q, "INSERT INTO t(v, w) VALUES (randomblob(%u), 'r%d')",
			         rnd(5000), w->seq);
			ASSERT_OK(store_exec(db, q));
			ASSERT_OK(store_exec(db, "UPDATE t SET w = w || '+' WHERE k % 2 = 0"));
			break;
		case OP_SAVEPOINT:
			/* spilled frames undone by ROLLBACK TO, then overwritten by later frames */
			ASSERT_OK(store_exec(db, "PRAGMA cache_size = 10"));
			do_append(db, 300, NULL);
			ASSERT_OK(store_exec(db, "SAVEPOINT sp"));
			for (int i = 0; i < 15; i++)
				do_append(db, 3000, NULL);
			ASSERT_OK(store_exec(db, "ROLLBACK TO sp"));
			ASSERT_OK(store_exec(db, "RELEASE sp"));
			do_append(db, 4000, NULL);
			break;
		case OP_SPILL:
			/* A tiny page cache makes SQLite spill uncommitted frames into the WAL
			 * mid-transaction and rewrite some of them before the commit. */
			ASSERT_OK(store_exec(db, "PRAGMA cache_size = 10"));
			for (int i = 0; i < 40; i++)
				do_append(db, 2000 + rnd(3000), NULL);
			ASSERT_OK(store_exec(db, "UPDATE messages SET flags = 'spilled' WHERE "
			                         "id % 2 = 1"));
			break;
		default:
			break;
		}
		ASSERT_OK(store_tx_commit(db));
		if (w->op == OP_SPILL || w->op == OP_SAVEPOINT)
			ASSERT_OK(store_exec(db, "PRAGMA cache_size = -2000"));
	}
	ASSERT(repl_pending(db));
	w->poll_rv = repl_poll(db, &w->tx);
	ASSERT_EQ_INT(w->poll_rv, 1);
	ASSERT_EQ_INT(repl_poll(db, &(struct repl_tx){0}), 0); /* handed out once */
	ASSERT_EQ_INT(w->tx.page_size, 1024);
	ASSERT(w->tx.n > 0 && w->tx.db_size > 0);
	for (size_t i = 0; i < w->tx.n; i++) {
		ASSERT(w->tx.pgno[i] >= 1 && w->tx.pgno[i] <= w->tx.db_size);
		if (i > 0)
			ASSERT(w->tx.pgno[i] > w->tx.pgno[i - 1]);
	}
	(void)sql;
	if (w->promote) {
		ASSERT_OK(repl_promote(db));
		ASSERT(!repl_pending(db));
	}
	return 0;
}

static inline void run_write(struct store *st, struct wjob *w)
{
	ASSERT_OK(store_run(st, ACCT, 0, job_write, w));
}

#endif

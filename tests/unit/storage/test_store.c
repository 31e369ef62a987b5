/* test_store.c - store lifecycle and the on-disk guarantees: the data-dir layout and modes, the
 * master key created only on an empty data dir, a wrong or missing master key refused with
 * MR_EKEY without touching any file, no plaintext on disk (a unique marker appended in a message
 * is found in no file; no .db starts with "SQLite format 3"), jobs, drop, and completions plus
 * the commit hook on a libuv loop. */
#define _GNU_SOURCE
#include "storage_helpers.h"
#include "storage/store_int.h"
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- file snapshots ------------------------------------------------------------------- */
#define SNAP_MAX 64
struct snap_ent {
	char path[512];
	off_t size;
	struct timespec mtime;
	mode_t mode;
	uint8_t hash[32];
};
struct snap {
	struct snap_ent e[SNAP_MAX];
	size_t n;
};
static struct snap *snap_cur;

static int read_all(const char *path, uint8_t **p_r, size_t *n_r)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 4096, n = 0;
	uint8_t *p = malloc(cap);
	size_t k;
	while ((k = fread(p + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap)
			p = realloc(p, cap *= 2);
	}
	fclose(f);
	*p_r = p;
	*n_r = n;
	return 0;
}

static int snap_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (snap_cur->n == SNAP_MAX)
		return 1;
	struct snap_ent *e = &snap_cur->e[snap_cur->n++];
	memset(e, 0, sizeof *e);
	snprintf(e->path, sizeof e->path, "%s", path);
	e->mode = sb->st_mode;
	e->mtime = sb->st_mtim;
	if (type == FTW_F) {
		e->size = sb->st_size;
		uint8_t *p;
		size_t n;
		if (read_all(path, &p, &n) == 0) {
			crypto_generichash(e->hash, sizeof e->hash, p, n, NULL, 0);
			free(p);
		}
	}
	return 0;
}

static void snapshot(const char *dir, struct snap *s)
{
	memset(s, 0, sizeof *s);
	snap_cur = s;
	ASSERT_OK(nftw(dir, snap_cb, 16, FTW_PHYS));
}

static void assert_same(const struct snap *a, const struct snap *b)
{
	ASSERT_EQ_INT(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ASSERT_EQ_STR(a->e[i].path, b->e[i].path);
		ASSERT_EQ_INT(a->e[i].size, b->e[i].size);
		ASSERT_EQ_INT(a->e[i].mode, b->e[i].mode);
		ASSERT_EQ_INT(a->e[i].mtime.tv_sec, b->e[i].mtime.tv_sec);
		ASSERT_EQ_INT(a->e[i].mtime.tv_nsec, b->e[i].mtime.tv_nsec);
		ASSERT_EQ_MEM(a->e[i].hash, 32, b->e[i].hash, 32);
	}
}

static char *path_in(const char *rel)
{
	static char p[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", th_datadir(), rel);
	return p[k];
}

/* ---- jobs used below ------------------------------------------------------------------ */
static int job_noop(struct store_db *db, void *arg)
{
	return 0;
}

static int job_ret(struct store_db *db, void *arg)
{
	return *(int *)arg;
}

struct append_arg {
	const char *body;
	uint32_t uid;
};

static int job_append(struct store_db *db, void *arg)
{
	struct append_arg *a = arg;
	int rv = store_tx_begin(db);
	if (rv != 0)
		return rv;
	rv = mbox_append(db, "INBOX", "\\Seen", 1700000000, (const uint8_t *)a->body,
	                 strlen(a->body), NULL, NULL, &a->uid);
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

/* ---- tests ---------------------------------------------------------------------------- */
static void test_layout(void)
{
	struct store *st = th_open();
	struct stat sb;
	ASSERT_OK(stat(th_datadir(), &sb));
	ASSERT_EQ_INT(sb.st_mode & 0777, 0700);
	ASSERT_OK(stat(path_in("db"), &sb));
	ASSERT_EQ_INT(sb.st_mode & 0777, 0700);
	ASSERT_OK(stat(path_in("master.key"), &sb));
	ASSERT_EQ_INT(sb.st_mode & 0777, 0600);
	ASSERT_EQ_INT(sb.st_size, 32);
	ASSERT_OK(stat(path_in("db/directory.key"), &sb));
	ASSERT_EQ_INT(sb.st_mode & 0777, 0600);
	ASSERT_EQ_INT(sb.st_size, STORE_WRAPPED_LEN);
	ASSERT_OK(stat(path_in("db/directory.db"), &sb));
	ASSERT_EQ_INT(sb.st_mode & 0777, 0600);
	ASSERT_OK(stat(path_in("db/directory.db-wal"), &sb)); /* open: WAL mode */
	ASSERT_EQ_INT(sb.st_mode & 0777, 0600);
	ASSERT(store_exists(st, STORE_DIRECTORY));
	ASSERT(!store_exists(st, "a0000000000000000"));
	ASSERT(!store_exists(st, "../x"));
	/* the SQLite in use is SQLCipher's */
	ASSERT_EQ_STR(sqlite3_libversion(), "3.15.2");
	store_close(&st);
	ASSERT(st == NULL);
	/* reopen with the same key */
	st = th_open();
	store_close(&st);
}

static void test_jobs(void)
{
	struct store *st = th_open();
	int v = MR_EQUOTA;
	ASSERT_ERR(store_run(st, STORE_DIRECTORY, 0, job_ret, &v), MR_EQUOTA);
	v = 0;
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_ret, &v));
	/* a missing database without STORE_CREATE is not created */
	ASSERT_ERR(store_run(st, "a00000000000000ff", 0, job_noop, NULL), MR_ENOTFOUND);
	ASSERT(!store_exists(st, "a00000000000000ff"));
	ASSERT(access(path_in("db/a00000000000000ff.key"), F_OK) != 0);
	ASSERT_ERR(store_run(st, "bad/name", STORE_CREATE, job_noop, NULL), MR_EINVAL);
	ASSERT_ERR(store_run(st, STORE_DIRECTORY, 0, NULL, NULL), MR_EINVAL);
	/* without a loop, done callbacks are refused */
	ASSERT_ERR(store_submit(st, STORE_DIRECTORY, 0, job_noop, (store_done_fn)1, NULL),
	           MR_EINVAL);
	ASSERT_OK(store_submit(st, STORE_DIRECTORY, 0, job_noop, NULL, NULL));
	/* create, drop */
	ASSERT_OK(store_run(st, "a00000000000000ff", STORE_CREATE, job_noop, NULL));
	ASSERT(store_exists(st, "a00000000000000ff"));
	ASSERT_OK(store_drop(st, "a00000000000000ff"));
	ASSERT(!store_exists(st, "a00000000000000ff"));
	ASSERT(access(path_in("db/a00000000000000ff.key"), F_OK) != 0);
	ASSERT_ERR(store_drop(st, "a00000000000000ff"), MR_ENOTFOUND);
	store_close(&st);
}

static int pragma_int(sqlite3 *sql, const char *q)
{
	sqlite3_stmt *s = NULL;
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql, q, -1, &s, NULL), SQLITE_OK);
	ASSERT_EQ_INT(sqlite3_step(s), SQLITE_ROW);
	int v = sqlite3_column_type(s, 0) == SQLITE_TEXT
	            ? (strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0 ? 100 : -1)
	            : sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int job_connection(struct store_db *db, void *arg)
{
	sqlite3 *sql = store_db_sql(db);
	sqlite3_vfs *vfs = NULL;
	ASSERT_EQ_INT(sqlite3_file_control(sql, "main", SQLITE_FCNTL_VFS_POINTER, &vfs), SQLITE_OK);
	ASSERT(vfs != NULL);
	ASSERT_EQ_STR(vfs->zName, "mrvfs");
	ASSERT_EQ_INT(pragma_int(sql, "PRAGMA journal_mode"), 100); /* "wal" */
	ASSERT_EQ_INT(pragma_int(sql, "PRAGMA synchronous"), 2);    /* FULL */
	ASSERT_EQ_INT(pragma_int(sql, "PRAGMA foreign_keys"), 1);
	ASSERT_EQ_STR(store_db_name(db), arg);
	/* store_run from an actor would deadlock: refused */
	ASSERT_ERR(store_run(store_db_store(db), STORE_DIRECTORY, 0, job_noop, NULL), MR_EINVAL);
	/* the statement cache hands back the same, reset statement */
	sqlite3_stmt *a = store_stmt(db, "SELECT k FROM meta");
	ASSERT(a != NULL);
	ASSERT_EQ_INT(sqlite3_step(a), SQLITE_ROW);
	sqlite3_stmt *b = store_stmt(db, "SELECT k FROM meta");
	ASSERT(a == b);
	ASSERT_EQ_INT(sqlite3_step(b), SQLITE_ROW);
	ASSERT(store_stmt(db, "SELECT nonsense FROM") == NULL);
	ASSERT_ERR(store_exec(db, "NOT SQL"), MR_EIO);
	/* transactions: no nesting, commit without begin refused */
	ASSERT_ERR(store_tx_commit(db), MR_EINVAL);
	ASSERT_OK(store_tx_begin(db));
	ASSERT_ERR(store_tx_begin(db), MR_EINVAL);
	ASSERT_OK(store_exec(db, "INSERT INTO meta(k, v) VALUES('rolled', 1)"));
	store_tx_rollback(db);
	sqlite3_stmt *c = store_stmt(db, "SELECT count(*) FROM meta WHERE k = 'rolled'");
	ASSERT_EQ_INT(sqlite3_step(c), SQLITE_ROW);
	ASSERT_EQ_INT(sqlite3_column_int(c, 0), 0);
	/* a job that forgets to commit is rolled back by the actor */
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(store_exec(db, "INSERT INTO meta(k, v) VALUES('forgotten', 1)"));
	return 0;
}

static int job_not_forgotten(struct store_db *db, void *arg)
{
	sqlite3_stmt *c = store_stmt(db, "SELECT count(*) FROM meta WHERE k = 'forgotten'");
	ASSERT_EQ_INT(sqlite3_step(c), SQLITE_ROW);
	return sqlite3_column_int(c, 0);
}

static void test_connection(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_connection, STORE_DIRECTORY));
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_not_forgotten, NULL));
	ASSERT_OK(
	    store_run(st, "a0123456789abcdef", STORE_CREATE, job_connection, "a0123456789abcdef"));
	store_close(&st);
}

static int job_future_schema(struct store_db *db, void *arg)
{
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(store_exec(db, "UPDATE meta SET v = 99 WHERE k = 'schema_version'"));
	return store_tx_commit(db);
}

static void test_schema_version(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, "a0123456789abcdef", STORE_CREATE, job_future_schema, NULL));
	store_close(&st);
	/* a database written by a newer schema is refused, not downgraded or recreated */
	st = th_open();
	ASSERT_ERR(store_run(st, "a0123456789abcdef", STORE_CREATE, job_noop, NULL), MR_ECORRUPT);
	ASSERT(store_exists(st, "a0123456789abcdef"));
	store_close(&st);
}

static void test_open_errors(void)
{
	char err[256];
	struct store *st = NULL;
	ASSERT_ERR(store_open(NULL, &st, err, sizeof err), MR_EINVAL);
	struct store_config cfg = {.data_dir = "", .pwcost = STORE_PWCOST_MIN};
	ASSERT_ERR(store_open(&cfg, &st, err, sizeof err), MR_EINVAL);
	char dir[600];
	snprintf(dir, sizeof dir, "%s/no/such/parent", unit_tmpdir());
	cfg.data_dir = dir;
	ASSERT_ERR(store_open(&cfg, &st, err, sizeof err), MR_EIO);
	ASSERT(strstr(err, "cannot create data directory") != NULL);
	ASSERT(st == NULL);
}

static void write_other_master_key(void)
{
	uint8_t k[32];
	randombytes_buf(k, sizeof k);
	int fd = open(path_in("master.key"), O_WRONLY | O_TRUNC);
	ASSERT(fd >= 0);
	ASSERT_EQ_INT(write(fd, k, sizeof k), 32);
	close(fd);
}

static void test_wrong_master_key(void)
{
	struct store *st = th_open();
	struct append_arg a = {.body = "Subject: x\r\n\r\nhello\r\n"};
	ASSERT_OK(store_run(st, "a0123456789abcdef", STORE_CREATE, job_append, &a));
	store_close(&st);
	write_other_master_key();
	struct snap before, after;
	snapshot(th_datadir(), &before);
	ASSERT(before.n >= 7); /* dir, master.key, db/, 2 x (db + key) */
	sleep(1);              /* make any rewrite visible in mtimes too */

	struct store_config cfg = {.data_dir = th_datadir(), .pwcost = STORE_PWCOST_MIN};
	char err[256] = "";
	ASSERT_ERR(store_open(&cfg, &st, err, sizeof err), MR_EKEY);
	ASSERT(strstr(err, "master key does not match the data in") != NULL);
	ASSERT(strstr(err, th_datadir()) != NULL);
	snapshot(th_datadir(), &after);
	assert_same(&before, &after);

	/* a missing master key with existing databases is refused the same way */
	ASSERT_OK(unlink(path_in("master.key")));
	snapshot(th_datadir(), &before);
	ASSERT_ERR(store_open(&cfg, &st, err, sizeof err), MR_EKEY);
	ASSERT(strstr(err, "missing") != NULL);
	snapshot(th_datadir(), &after);
	assert_same(&before, &after);
	ASSERT(access(path_in("master.key"), F_OK) != 0);

	/* a master key of the wrong size */
	int fd = open(path_in("master.key"), O_WRONLY | O_CREAT, 0600);
	ASSERT_EQ_INT(write(fd, "short", 5), 5);
	close(fd);
	ASSERT_ERR(store_open(&cfg, &st, err, sizeof err), MR_EKEY);
}

static void test_master_key_file_option(void)
{
	char keyfile[600];
	snprintf(keyfile, sizeof keyfile, "%s/elsewhere.key", unit_tmpdir());
	struct store_config cfg = {
	    .data_dir = th_datadir(), .master_key_file = keyfile, .pwcost = STORE_PWCOST_MIN};
	char err[256];
	struct store *st = NULL;
	ASSERT_OK(store_open(&cfg, &st, err, sizeof err));
	store_close(&st);
	struct stat sb;
	ASSERT_OK(stat(keyfile, &sb));
	ASSERT_EQ_INT(sb.st_size, 32);
	ASSERT(access(path_in("master.key"), F_OK) != 0);
	ASSERT_OK(store_open(&cfg, &st, err, sizeof err));
	store_close(&st);
	/* the default path has no key: refused, and no key is generated there */
	cfg.master_key_file = NULL;
	ASSERT_ERR(store_open(&cfg, &st, err, sizeof err), MR_EKEY);
	ASSERT(access(path_in("master.key"), F_OK) != 0);
}

static void test_tampered_db_key(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, "a0123456789abcdef", STORE_CREATE, job_noop, NULL));
	store_close(&st);
	/* swap an account key file for the directory's: the AD (name) check rejects it */
	uint8_t buf[128];
	size_t n;
	ASSERT_OK(store__file_read(path_in("db/directory.key"), buf, sizeof buf, &n));
	ASSERT_OK(store__file_write_atomic(path_in("db/a0123456789abcdef.key"), buf, n));
	st = th_open();
	ASSERT_ERR(store_run(st, "a0123456789abcdef", 0, job_noop, NULL), MR_EKEY);
	store_close(&st);
}

static bool mem_contains(const uint8_t *p, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(p + i, needle, m) == 0)
			return true;
	return false;
}

static void assert_no_plaintext(const char *marker)
{
	struct snap s;
	snapshot(th_datadir(), &s);
	size_t dbs = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (!S_ISREG(s.e[i].mode))
			continue;
		uint8_t *p;
		size_t n;
		ASSERT_OK(read_all(s.e[i].path, &p, &n));
		if (mem_contains(p, n, marker) || mem_contains(p, n, "CREATE TABLE"))
			unit_fail(__FILE__, __LINE__, "plaintext found in %s", s.e[i].path);
		size_t len = strlen(s.e[i].path);
		if (len > 3 && strcmp(s.e[i].path + len - 3, ".db") == 0) {
			dbs++;
			ASSERT(n >= 16);
			ASSERT(memcmp(p, "SQLite format 3", 15) != 0);
		}
		free(p);
	}
	ASSERT(dbs >= 2);
}

static void test_no_plaintext(void)
{
	char marker[64], body[256];
	uint8_t rnd[8];
	ASSERT(sodium_init() >= 0);
	randombytes_buf(rnd, sizeof rnd);
	snprintf(marker, sizeof marker, "MARKER-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
	         rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	snprintf(body, sizeof body, "Subject: secret\r\n\r\nThe code word is %s.\r\n", marker);
	struct store *st = th_open();
	struct append_arg a = {.body = body};
	ASSERT_OK(store_run(st, "a0123456789abcdef", STORE_CREATE, job_append, &a));
	/* while open: the WAL holds the frames */
	assert_no_plaintext(marker);
	store_close(&st);
	assert_no_plaintext(marker);
}

/* ---- loop: done callbacks and the commit hook ------------------------------------------ */
struct loop_state {
	int done_calls, last_rv, hooks;
	char hook_db[STORE_DBNAME_MAX];
	int order[8];
	int norder;
};
static struct loop_state ls;

static void on_done(void *arg, int rv)
{
	ls.done_calls++;
	ls.last_rv = rv;
	if (ls.norder < 8)
		ls.order[ls.norder++] = (int)(intptr_t)arg;
}

static void on_commit(const char *dbname, void *ud)
{
	ASSERT(ud == &ls);
	ls.hooks++;
	snprintf(ls.hook_db, sizeof ls.hook_db, "%s", dbname);
}

static int job_tx(struct store_db *db, void *arg)
{
	int rv = store_tx_begin(db);
	if (rv == 0)
		rv = store_exec(db, "INSERT OR REPLACE INTO meta(k, v) VALUES('test', 1)");
	if (rv == 0)
		rv = store_tx_commit(db);
	return rv;
}

static int job_rollback(struct store_db *db, void *arg)
{
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(store_exec(db, "INSERT OR REPLACE INTO meta(k, v) VALUES('test', 2)"));
	store_tx_rollback(db);
	return 0;
}

static void test_loop_completions(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	memset(&ls, 0, sizeof ls);
	struct store *st = th_open_loop(&loop);
	store_set_commit_hook(st, on_commit, &ls);
	for (intptr_t i = 0; i < 5; i++)
		ASSERT_OK(store_submit(st, STORE_DIRECTORY, 0, i == 2 ? job_tx : job_noop, on_done,
		                       (void *)i));
	while (ls.done_calls < 5)
		uv_run(&loop, UV_RUN_ONCE);
	/* jobs on one database complete in submission order */
	for (int i = 0; i < 5; i++)
		ASSERT_EQ_INT(ls.order[i], i);
	ASSERT_EQ_INT(ls.hooks, 1);
	ASSERT_EQ_STR(ls.hook_db, STORE_DIRECTORY);
	/* a rolled-back transaction fires no hook */
	ASSERT_OK(store_submit(st, STORE_DIRECTORY, 0, job_rollback, on_done, (void *)5));
	while (ls.done_calls < 6)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(ls.hooks, 1);
	/* the open error is reported through done */
	ASSERT_OK(store_submit(st, "a00000000000000ee", 0, job_noop, on_done, (void *)7));
	while (ls.done_calls < 7)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_ERR(ls.last_rv, MR_ENOTFOUND);
	/* jobs still queued at close complete during store_close */
	for (int i = 0; i < 3; i++)
		ASSERT_OK(
		    store_submit(st, "a00000000000000ee", STORE_CREATE, job_tx, on_done, NULL));
	store_close(&st);
	ASSERT_EQ_INT(ls.done_calls, 10);
	/* after store_close one more loop run releases the async handle */
	ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
	ASSERT_OK(uv_loop_close(&loop));
}

static const struct unit_test tests[] = {
    {"layout", test_layout},
    {"jobs", test_jobs},
    {"connection", test_connection},
    {"schema version", test_schema_version},
    {"open errors", test_open_errors},
    {"wrong master key", test_wrong_master_key},
    {"master key file option", test_master_key_file_option},
    {"tampered db key", test_tampered_db_key},
    {"no plaintext", test_no_plaintext},
    {"loop completions", test_loop_completions},
    {0},
};
UNIT_MAIN(tests)

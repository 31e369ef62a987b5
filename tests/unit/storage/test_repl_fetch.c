/* test_repl_fetch.c - the store's database-fetch calls (store.h "database fetch"):
 * store_repl_checkpoint empties the -wal into the .db file so that a byte copy of .db + .key is
 * the whole committed state (opened with the key elsewhere: same rows, integrity ok), and
 * store_repl_install replaces a database with such a copy in all three situations: not open
 * (stale -wal removed, file renamed), open and idle (connection closed first), and held by a
 * job that waits in a replicated commit (its pending transaction aborted with a conflict, the
 * copy written in place, the connection keeps working and sees the new content); and
 * store_repl_hold refuses commits on a database awaiting its copy until the install. */
#include "storage_helpers.h"
#include "dbtest.h"
#include "storage/store_int.h"
#include "common/util.h"
#include "storage/repl.h"
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DB "a00000000000000f1"

static char dir_a[600], dir_b[600];

static struct store *open_at(const char *dir)
{
	struct store_config cfg = {.data_dir = dir, .actors = 2, .pwcost = STORE_PWCOST_MIN};
	char err[256];
	struct store *st = NULL;
	int rv = store_open(&cfg, &st, err, sizeof err);
	if (rv != 0)
		unit_fail(__FILE__, __LINE__, "store_open: %s (%s)", err, mr_strerror(rv));
	return st;
}

static char *path_in(const char *dir, const char *ext)
{
	static char p[4][700];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/db/%s%s", dir, DB, ext);
	return p[k];
}

static off_t fsize(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static ino_t inode(const char *path)
{
	struct stat sb;
	ASSERT_OK(stat(path, &sb));
	return sb.st_ino;
}

static size_t read_key(const char *dir, uint8_t *buf, size_t cap)
{
	int fd = open(path_in(dir, ".key"), O_RDONLY);
	ASSERT(fd >= 0);
	ssize_t n = read(fd, buf, cap);
	close(fd);
	ASSERT(n > 0);
	return (size_t)n;
}

static int job_append(struct store_db *db, void *arg)
{
	int rv = store_tx_begin(db);
	if (rv != 0)
		return rv;
	uint32_t uid;
	rv = mbox_append(db, "INBOX", "", 1700000000, (const uint8_t *)arg, strlen(arg), NULL, NULL,
	                 &uid);
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

static void append_n(struct store *st, int flags, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		char body[96];
		snprintf(body, sizeof body, "message %u %0*u", i, 40, i);
		ASSERT_OK(store_run(st, DB, flags, job_append, body));
		flags = 0;
	}
}

static void summary_of(struct store *st, struct summary *m)
{
	ASSERT_OK(store_run(st, DB, 0, job_summary, m));
	ASSERT_EQ_STR(m->integrity, "ok");
}

/* Store A (the server) with DB holding n messages, most of them still in its -wal; store B
 * (same master key) gets the byte copy A had after `early` messages. */
static void setup(unsigned early, unsigned n)
{
	snprintf(dir_a, sizeof dir_a, "%s/a", unit_tmpdir());
	snprintf(dir_b, sizeof dir_b, "%s/b", unit_tmpdir());
	struct store *a = open_at(dir_a);
	append_n(a, STORE_CREATE, 0, early);
	ASSERT_OK(store_repl_checkpoint(a, DB, NULL));
	char p[800];
	ASSERT_OK(mkdir(dir_b, 0700));
	snprintf(p, sizeof p, "%s/db", dir_b);
	ASSERT_OK(mkdir(p, 0700));
	snprintf(p, sizeof p, "%s/master.key", dir_a);
	char q[800];
	snprintf(q, sizeof q, "%s/master.key", dir_b);
	ASSERT_OK(copy_file(p, q));
	static const char *const exts[] = {".db", ".key"};
	for (size_t i = 0; i < MR_ARRAY_LEN(exts); i++)
		ASSERT_OK(copy_file(path_in(dir_a, exts[i]), path_in(dir_b, exts[i])));
	snprintf(p, sizeof p, "%s/db/directory.db", dir_a);
	snprintf(q, sizeof q, "%s/db/directory.db", dir_b);
	ASSERT_OK(copy_file(p, q));
	snprintf(p, sizeof p, "%s/db/directory.key", dir_a);
	snprintf(q, sizeof q, "%s/db/directory.key", dir_b);
	ASSERT_OK(copy_file(p, q));
	append_n(a, 0, early, n - early);
	store_close(&a);
}

/* Serving side: after store_repl_checkpoint the .db file alone is the whole state. */
static void make_copy(struct store *a, const char *dst, uint8_t *key, size_t *key_len)
{
	uint64_t ix = 99;
	store_repl_set_index(a, DB, 42);
	ASSERT(fsize(path_in(dir_a, ".db-wal")) > 0); /* the last messages are in the -wal */
	ASSERT_OK(store_repl_checkpoint(a, DB, &ix));
	ASSERT_EQ_INT(ix, 42);
	ASSERT_EQ_INT(fsize(path_in(dir_a, ".db-wal")), 0);
	ASSERT_OK(copy_file(path_in(dir_a, ".db"), dst));
	*key_len = read_key(dir_a, key, 256);
}

static void test_checkpoint_copy(void)
{
	setup(3, 20);
	struct store *a = open_at(dir_a);
	struct summary ref;
	summary_of(a, &ref); /* opens DB: the -wal is not empty while open */
	ASSERT_EQ_INT(ref.msgs, 20);
	append_n(a, 0, 20, 2);
	summary_of(a, &ref);
	uint8_t key[256];
	size_t key_len;
	char copy[700];
	snprintf(copy, sizeof copy, "%s/db/%s.db.fetch", dir_b, DB);
	make_copy(a, copy, key, &key_len);
	ASSERT_ERR(store_repl_checkpoint(a, "a00000000000000ff", NULL), MR_ENOTFOUND);
	ASSERT_ERR(store_repl_checkpoint(a, "../x", NULL), MR_EINVAL);
	store_close(&a);

	/* B has the old copy and no open connection, but a stale -wal lying around */
	struct store *b = open_at(dir_b);
	struct summary old;
	summary_of(b, &old);
	ASSERT_EQ_INT(old.msgs, 3);
	store_close(&b);
	int fd = open(path_in(dir_b, ".db-wal"), O_WRONLY | O_CREAT, 0600);
	ASSERT(fd >= 0);
	ASSERT_EQ_INT(write(fd, "garbage", 7), 7);
	close(fd);
	b = open_at(dir_b);
	ASSERT_OK(store_repl_install(b, DB, 42, copy, key, key_len));
	ASSERT(fsize(copy) < 0); /* renamed */
	ASSERT(fsize(path_in(dir_b, ".db-wal")) <= 0);
	ASSERT_EQ_INT(store_repl_index(b, DB), 42);
	struct summary got;
	summary_of(b, &got);
	ASSERT_EQ_INT(got.msgs, 22);
	ASSERT_EQ_MEM(got.hash, sizeof got.hash, ref.hash, sizeof ref.hash);
	ASSERT_ERR(store_repl_install(b, DB, 1, copy, NULL, 0), MR_EINVAL);
	store_close(&b);
}

/* B has DB open (idle) with the old content when the copy arrives: the connection is closed
 * first, the next job reads the new file. */
static void test_install_open_idle(void)
{
	setup(5, 12);
	struct store *a = open_at(dir_a);
	append_n(a, 0, 12, 1);
	struct summary ref;
	summary_of(a, &ref);
	uint8_t key[256];
	size_t key_len;
	char copy[700];
	snprintf(copy, sizeof copy, "%s/db/%s.db.fetch", dir_b, DB);
	make_copy(a, copy, key, &key_len);
	store_close(&a);

	struct store *b = open_at(dir_b);
	struct summary old;
	summary_of(b, &old);
	ASSERT_EQ_INT(old.msgs, 5);
	append_n(b, 0, 100, 1); /* B's own write sits in its -wal: must not shadow the copy */
	ino_t copy_ino = inode(copy);
	ASSERT_OK(store_repl_install(b, DB, 42, copy, key, key_len));
	ASSERT_EQ_INT(inode(path_in(dir_b, ".db")), copy_ino); /* closed, then renamed */
	struct summary got;
	summary_of(b, &got);
	ASSERT_EQ_INT(got.msgs, 13);
	ASSERT_EQ_MEM(got.hash, sizeof got.hash, ref.hash, sizeof ref.hash);
	append_n(b, 0, 200, 1); /* and it stays writable */
	summary_of(b, &got);
	ASSERT_EQ_INT(got.msgs, 14);
	store_close(&b);
}

/* ---- a job waiting in a replicated commit ------------------------------------------------ */

static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;
static struct store_ticket *held;
static unsigned proposals;

static int fake_propose(void *ud, const char *db, uint64_t base, const struct repl_tx *tx,
                        uint64_t token, struct store_ticket *t)
{
	(void)ud, (void)db, (void)base, (void)tx, (void)token;
	pthread_mutex_lock(&fmu);
	unsigned k = proposals++;
	if (k == 0)
		held = t; /* keep the writer waiting */
	pthread_mutex_unlock(&fmu);
	return k == 0 ? 0 : MR_EIO; /* the re-run after the conflict fails for good */
}

static const struct store_replicator fake = {.propose = fake_propose};

struct writer {
	struct store *st;
	int rv;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	w->rv = store_run(w->st, DB, 0, job_append, "local write that loses");
	return NULL;
}

static void test_install_under_waiting_job(void)
{
	setup(4, 30);
	struct store *a = open_at(dir_a);
	append_n(a, 0, 30, 1);
	struct summary ref;
	summary_of(a, &ref);
	uint8_t key[256];
	size_t key_len;
	char copy[700];
	snprintf(copy, sizeof copy, "%s/db/%s.db.fetch", dir_b, DB);
	make_copy(a, copy, key, &key_len);
	store_close(&a);

	struct store *b = open_at(dir_b);
	store_set_replicator(b, &fake, NULL);
	struct writer w = {.st = b, .rv = 1};
	pthread_t thr;
	ASSERT_EQ_INT(pthread_create(&thr, NULL, writer_main, &w), 0);
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&fmu);
		bool seen = held != NULL;
		pthread_mutex_unlock(&fmu);
		if (seen)
			break;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	ASSERT(held != NULL); /* the writer now waits inside its commit, DB held by its job */
	/* a different key file cannot be switched under an open connection */
	uint8_t other[256];
	memcpy(other, key, key_len);
	other[0] ^= 1;
	char copy2[720];
	snprintf(copy2, sizeof copy2, "%s.2", copy);
	ASSERT_OK(copy_file(copy, copy2));
	ASSERT_ERR(store_repl_install(b, DB, 42, copy2, other, key_len), MR_EBUSY);
	unlink(copy2);
	ino_t db_ino = inode(path_in(dir_b, ".db"));
	ASSERT_OK(store_repl_install(b, DB, 42, copy, key, key_len));
	ASSERT_EQ_INT(inode(path_in(dir_b, ".db")), db_ino); /* written in place */
	ASSERT(fsize(copy) < 0);
	pthread_join(thr, NULL);
	ASSERT_ERR(w.rv, MR_EIO); /* conflict, then the re-run's proposal failed */
	ASSERT_EQ_INT(proposals, 2);
	store_ticket_done(held, MR_ECLOSED);
	ASSERT_EQ_INT(store_repl_index(b, DB), 42);
	struct summary got;
	summary_of(b, &got);
	ASSERT_EQ_INT(got.msgs, 31);
	ASSERT_EQ_MEM(got.hash, sizeof got.hash, ref.hash, sizeof ref.hash);
	store_set_replicator(b, NULL, NULL);
	store_close(&b);
}

/* A held database (awaiting a fetched copy) refuses commits without proposing anything; the
 * install releases the hold. */
static unsigned counted;

static int count_propose(void *ud, const char *db, uint64_t base, const struct repl_tx *tx,
                         uint64_t token, struct store_ticket *t)
{
	(void)ud, (void)db, (void)base, (void)tx, (void)token, (void)t;
	counted++;
	return MR_EIO; /* refused: the commit aborts with this error */
}

static const struct store_replicator counting = {.propose = count_propose};

static void test_hold(void)
{
	setup(2, 6);
	struct store *a = open_at(dir_a);
	append_n(a, 0, 6, 1);
	uint8_t key[256];
	size_t key_len;
	char copy[700];
	snprintf(copy, sizeof copy, "%s/db/%s.db.fetch", dir_b, DB);
	make_copy(a, copy, key, &key_len);
	store_close(&a);

	struct store *b = open_at(dir_b);
	store_set_replicator(b, &counting, NULL);
	ASSERT_OK(store_repl_hold(b, DB, true));
	store_repl_set_index(b, DB, 40); /* even with the right base index */
	ASSERT_ERR(store_run(b, DB, 0, job_append, "refused"), MR_EBUSY);
	ASSERT_EQ_INT(counted, 0);
	ASSERT_OK(store_repl_hold(b, DB, false));
	ASSERT_ERR(store_run(b, DB, 0, job_append, "proposed"), MR_EIO);
	ASSERT_EQ_INT(counted, 1);
	ASSERT_OK(store_repl_hold(b, DB, true));
	ASSERT_ERR(store_run(b, DB, 0, job_append, "refused"), MR_EBUSY);
	ASSERT_EQ_INT(counted, 1);
	ASSERT_OK(store_repl_install(b, DB, 42, copy, key, key_len));
	ASSERT_ERR(store_run(b, DB, 0, job_append, "proposed"), MR_EIO);
	ASSERT_EQ_INT(counted, 2);
	struct summary got;
	summary_of(b, &got);
	ASSERT_EQ_INT(got.msgs, 7); /* the copy's rows, none of the refused writes */
	store_set_replicator(b, NULL, NULL);
	store_close(&b);
}

static const struct unit_test tests[] = {
    {"checkpoint_copy", test_checkpoint_copy},
    {"install_open_idle", test_install_open_idle},
    {"install_under_waiting_job", test_install_under_waiting_job},
    {"hold", test_hold},
    {0},
};
UNIT_MAIN(tests)

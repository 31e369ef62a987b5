/* test_fsm_local.c - the state machine driven directly (cl_fsm_apply_at and the struct
 * raft_fsm callbacks, no raft): page writes against a model, replay after a clean restart and
 * after a crash between sync points, at-most-once tokens (and their bound), bad data in the log,
 * delete/recreate, multi-database entries, snapshot manifests and restore on the same node and
 * on an empty node, fetch completion, I/O failures and a damaged applied record. */
#include "fsm_helpers.h"

static struct cl_fsm *open_fsm(const char *dir, unsigned sync_every, struct hook_log *h)
{
	struct cl_fsm_config cfg = {.data_dir = dir,
	                            .sync_every = sync_every,
	                            .applied_cb = h ? hook_cb : NULL,
	                            .cb_arg = h};
	struct cl_fsm *fsm;
	ASSERT_OK(cl_fsm_open(&cfg, &fsm));
	return fsm;
}

static void apply_tx(struct cl_fsm *fsm, uint64_t index, const struct tx *t)
{
	struct raft_buffer b = tx_encode(t);
	ASSERT_OK(cl_fsm_apply_at(fsm, index, b.base, b.len));
	raft_free(b.base);
}

/* A history: create + n-1 frames on "inbox"; txs[i] is the entry at index i + 1. */
static void make_history(struct tx **txs, unsigned n, struct model *m)
{
	txs[0] = tx_make(CL_ENTRY_CREATE_DB, "inbox", 4, 4, 1000);
	model_apply(m, txs[0]);
	uint32_t size = 4;
	for (unsigned i = 1; i < n; i++) {
		size += (uint32_t)(rng() % 3);
		txs[i] =
		    tx_make(CL_ENTRY_FRAMES, "inbox", size, 1 + (unsigned)(rng() % 5), 1000 + i);
		model_apply(m, txs[i]);
	}
}

static void test_apply_pages(void)
{
	const char *dir = unit_tmpdir();
	struct cl_fsm *fsm = open_fsm(dir, 0, NULL);
	struct tx *txs[30];
	struct model m = {0};
	make_history(txs, 30, &m);
	for (unsigned i = 0; i < 30; i++)
		apply_tx(fsm, i + 1, txs[i]);
	expect_db_file(dir, "inbox", &m);
	char path[512];
	size_t len;
	snprintf(path, sizeof path, "%s/db/inbox.key", dir);
	uint8_t *key = read_all(path, &len);
	ASSERT(key);
	ASSERT_EQ_MEM(key, len, txs[0]->key, sizeof txs[0]->key);
	free(key);
	struct cl_fsm_stats st;
	cl_fsm_get_stats(fsm, &st);
	ASSERT_EQ_INT(st.applied, 30);
	ASSERT_EQ_INT(st.last_index, 30);
	ASSERT_EQ_INT(st.dbs, 1);
	uint64_t idx;
	ASSERT_OK(cl_fsm_db_index(fsm, "inbox", &idx));
	ASSERT_EQ_INT(idx, 30);
	ASSERT_ERR(cl_fsm_db_index(fsm, "nope", &idx), MR_ENOTFOUND);
	/* A shrinking transaction truncates, and its page past the end is not written. */
	struct tx *s = tx_make(CL_ENTRY_FRAMES, "inbox", 2, 2, 0);
	s->pgno[1] = 3;
	s->e.sets[0].shrink = true;
	apply_tx(fsm, 31, s);
	model_apply(&m, s);
	expect_db_file(dir, "inbox", &m);
	tx_free(s);
	for (unsigned i = 0; i < 30; i++)
		tx_free(txs[i]);
	cl_fsm_close(&fsm);
	ASSERT(fsm == NULL);
	free(m.data);
}

static void test_replay_after_restart(void)
{
	const char *dir = unit_tmpdir();
	struct cl_fsm *fsm = open_fsm(dir, 1000, NULL);
	struct tx *txs[20];
	struct model m = {0};
	make_history(txs, 20, &m);
	for (unsigned i = 0; i < 20; i++)
		apply_tx(fsm, i + 1, txs[i]);
	cl_fsm_close(&fsm); /* clean stop: a sync point */
	struct hook_log h = {0};
	fsm = open_fsm(dir, 1000, &h);
	struct cl_fsm_stats st;
	cl_fsm_get_stats(fsm, &st);
	ASSERT_EQ_INT(st.durable_index, 20);
	for (unsigned i = 0; i < 20; i++)
		apply_tx(fsm, i + 1, txs[i]);
	cl_fsm_get_stats(fsm, &st);
	ASSERT_EQ_INT(st.skipped, 20);
	ASSERT_EQ_INT(st.applied, 0);
	ASSERT_EQ_INT(h.calls, 20);
	expect_db_file(dir, "inbox", &m);
	/* The next entry applies normally. */
	struct tx *t = tx_make(CL_ENTRY_FRAMES, "inbox", 6, 3, 77);
	apply_tx(fsm, 21, t);
	model_apply(&m, t);
	expect_db_file(dir, "inbox", &m);
	tx_free(t);
	for (unsigned i = 0; i < 20; i++)
		tx_free(txs[i]);
	cl_fsm_close(&fsm);
	free(m.data);
}

/* Crash between sync points: the record says 10, the files hold 12; replay redoes 11..12. */
static void test_crash_redo(void)
{
	const char *dir = unit_tmpdir();
	struct cl_fsm *a = open_fsm(dir, 5, NULL);
	struct tx *txs[12];
	struct model m = {0};
	make_history(txs, 12, &m);
	for (unsigned i = 0; i < 12; i++)
		apply_tx(a, i + 1, txs[i]);
	struct hook_log h = {.token = 1003};     /* token of the entry at index 4 */
	struct cl_fsm *b = open_fsm(dir, 5, &h); /* "after the crash": a is never synced again */
	struct cl_fsm_stats st;
	cl_fsm_get_stats(b, &st);
	ASSERT_EQ_INT(st.last_index, 10);
	for (unsigned i = 0; i < 12; i++)
		apply_tx(b, i + 1, txs[i]);
	cl_fsm_get_stats(b, &st);
	ASSERT_EQ_INT(st.skipped, 10);
	ASSERT_EQ_INT(st.applied, 2);
	expect_db_file(dir, "inbox", &m);
	/* Tokens survived the restart: a retry of index 4's operation is a duplicate. */
	ASSERT(cl_fsm_token_seen(b, "inbox", 1003));
	struct tx *retry = tx_make(CL_ENTRY_FRAMES, "inbox", 9, 2, 1003);
	apply_tx(b, 13, retry);
	ASSERT_EQ_INT(h.by_result[CL_APPLY_DUPLICATE], 1);
	expect_db_file(dir, "inbox", &m); /* not written */
	tx_free(retry);
	for (unsigned i = 0; i < 12; i++)
		tx_free(txs[i]);
	cl_fsm_close(&b);
	cl_fsm_close(&a);
	free(m.data);
}

static void test_tokens_bounded(void)
{
	const char *dir = unit_tmpdir();
	struct hook_log h = {.token = 555};
	struct cl_fsm *fsm = open_fsm(dir, 0, &h);
	struct model m = {0};
	struct tx *c = tx_make(CL_ENTRY_CREATE_DB, "inbox", 3, 3, 0);
	apply_tx(fsm, 1, c);
	model_apply(&m, c);
	uint64_t index = 2;
	struct tx *t = tx_make(CL_ENTRY_FRAMES, "inbox", 3, 2, 555);
	apply_tx(fsm, index++, t);
	model_apply(&m, t);
	struct tx *again = tx_make(CL_ENTRY_FRAMES, "inbox", 3, 2, 555); /* same token */
	apply_tx(fsm, index++, again);
	ASSERT_EQ_INT(h.by_result[CL_APPLY_OK], 1);
	ASSERT_EQ_INT(h.by_result[CL_APPLY_DUPLICATE], 1);
	expect_db_file(dir, "inbox", &m);
	/* Token 0 is never deduplicated. */
	for (int i = 0; i < 2; i++) {
		struct tx *z = tx_make(CL_ENTRY_FRAMES, "inbox", 3, 1, 0);
		apply_tx(fsm, index++, z);
		model_apply(&m, z);
		tx_free(z);
	}
	expect_db_file(dir, "inbox", &m);
	/* After CL_FSM_TOKENS newer tokens the old one is forgotten. */
	for (unsigned i = 0; i < CL_FSM_TOKENS; i++) {
		struct tx *o = tx_make(CL_ENTRY_FRAMES, "inbox", 3, 1, 9000 + i);
		apply_tx(fsm, index++, o);
		model_apply(&m, o);
		tx_free(o);
	}
	ASSERT(!cl_fsm_token_seen(fsm, "inbox", 555));
	apply_tx(fsm, index++, again);
	model_apply(&m, again);
	ASSERT_EQ_INT(h.by_result[CL_APPLY_OK], 2);
	expect_db_file(dir, "inbox", &m);
	tx_free(c);
	tx_free(t);
	tx_free(again);
	cl_fsm_close(&fsm);
	free(m.data);
}

static void test_bad_data(void)
{
	const char *dir = unit_tmpdir();
	struct hook_log h = {.token = 42};
	struct cl_fsm *fsm = open_fsm(dir, 0, &h);
	struct tx *f = tx_make(CL_ENTRY_FRAMES, "ghost", 2, 2, 42);
	apply_tx(fsm, 1, f); /* unknown database */
	ASSERT(!file_exists(dir, "ghost", ".db"));
	const uint8_t junk[] = {0xff, 0x00, 0x13, 0x37};
	ASSERT_OK(cl_fsm_apply_at(fsm, 2, junk, sizeof junk));
	struct tx *c = tx_make(CL_ENTRY_CREATE_DB, "inbox", 1, 1, 0);
	apply_tx(fsm, 3, c);
	struct tx *c2 = tx_make(CL_ENTRY_CREATE_DB, "inbox", 2, 2, 0);
	apply_tx(fsm, 4, c2); /* exists already: rejected, file unchanged */
	struct model m = {0};
	model_apply(&m, c);
	expect_db_file(dir, "inbox", &m);
	struct tx *d = tx_make(CL_ENTRY_DELETE_DB, "ghost", 0, 0, 0);
	apply_tx(fsm, 5, d);
	/* Two sets, the second unknown: nothing of the entry is written. */
	struct tx *two = tx_make(CL_ENTRY_FRAMES, "inbox", 1, 1, 0);
	two->e.n_sets = 2;
	two->e.sets[1] = two->e.sets[0];
	snprintf(two->e.sets[1].db, CL_DBNAME_MAX, "ghost");
	apply_tx(fsm, 6, two);
	expect_db_file(dir, "inbox", &m);
	struct cl_fsm_stats st;
	cl_fsm_get_stats(fsm, &st);
	ASSERT_EQ_INT(st.rejected, 5);
	ASSERT_EQ_INT(st.applied, 1);
	ASSERT_EQ_INT(st.last_index, 6);
	ASSERT_EQ_INT(h.by_result[CL_APPLY_REJECTED], 1);
	tx_free(f), tx_free(c), tx_free(c2), tx_free(d), tx_free(two);
	cl_fsm_close(&fsm);
	free(m.data);
}

static void test_multi_db_and_delete(void)
{
	const char *dir = unit_tmpdir();
	struct cl_fsm *fsm = open_fsm(dir, 0, NULL);
	struct model ma = {0}, mb = {0};
	struct tx *ca = tx_make(CL_ENTRY_CREATE_DB, "alpha", 2, 2, 0);
	struct tx *cb = tx_make(CL_ENTRY_CREATE_DB, "beta", 3, 3, 0);
	apply_tx(fsm, 1, ca), model_apply(&ma, ca);
	apply_tx(fsm, 2, cb), model_apply(&mb, cb);
	/* One entry, two databases (a MOVE). */
	struct tx *x = tx_make(CL_ENTRY_FRAMES, "alpha", 4, 3, 31);
	struct tx *y = tx_make(CL_ENTRY_FRAMES, "beta", 3, 2, 31);
	x->e.n_sets = 2;
	x->e.sets[1] = y->e.sets[0];
	apply_tx(fsm, 3, x);
	model_apply(&ma, x), model_apply(&mb, y);
	expect_db_file(dir, "alpha", &ma);
	expect_db_file(dir, "beta", &mb);
	ASSERT(cl_fsm_token_seen(fsm, "beta", 31));
	/* Delete beta: files gone, index unknown; recreate: fresh content. */
	struct tx *d = tx_make(CL_ENTRY_DELETE_DB, "beta", 0, 0, 0);
	apply_tx(fsm, 4, d);
	ASSERT(!file_exists(dir, "beta", ".db") && !file_exists(dir, "beta", ".key"));
	uint64_t idx;
	ASSERT_ERR(cl_fsm_db_index(fsm, "beta", &idx), MR_ENOTFOUND);
	struct tx *c2 = tx_make(CL_ENTRY_CREATE_DB, "beta", 1, 1, 0);
	apply_tx(fsm, 5, c2);
	struct model mb2 = {0};
	model_apply(&mb2, c2);
	expect_db_file(dir, "beta", &mb2);
	ASSERT_OK(cl_fsm_db_index(fsm, "beta", &idx));
	ASSERT_EQ_INT(idx, 5);
	cl_fsm_close(&fsm);
	/* Replay everything after a restart: nothing resurrects or changes. */
	fsm = open_fsm(dir, 0, NULL);
	struct tx *all[] = {ca, cb, x, d, c2};
	for (unsigned i = 0; i < 5; i++)
		apply_tx(fsm, i + 1, all[i]);
	expect_db_file(dir, "alpha", &ma);
	expect_db_file(dir, "beta", &mb2);
	cl_fsm_close(&fsm);
	tx_free(ca), tx_free(cb), tx_free(x), tx_free(y), tx_free(d), tx_free(c2);
	free(ma.data), free(mb.data), free(mb2.data);
}

/* Snapshot of fsm as a raft_malloc'd manifest (what raft would hand to restore). */
static struct raft_buffer take_snapshot(struct cl_fsm *fsm)
{
	struct raft_fsm *rf = cl_fsm_raft_fsm(fsm);
	struct raft_buffer *bufs;
	unsigned n;
	ASSERT_OK(rf->snapshot(rf, &bufs, &n));
	ASSERT_EQ_INT(n, 1);
	struct raft_buffer copy = {.base = raft_malloc(bufs[0].len), .len = bufs[0].len};
	memcpy(copy.base, bufs[0].base, copy.len);
	ASSERT_OK(rf->snapshot_finalize(rf, &bufs, &n));
	return copy;
}

static void test_snapshot_restore(void)
{
	char dir_a[300], dir_b[300];
	snprintf(dir_a, sizeof dir_a, "%s/a", unit_tmpdir());
	snprintf(dir_b, sizeof dir_b, "%s/b", unit_tmpdir());
	struct cl_fsm *a = open_fsm(dir_a, 1000, NULL);
	struct tx *c1 = tx_make(CL_ENTRY_CREATE_DB, "alpha", 2, 2, 0);
	struct tx *c2 = tx_make(CL_ENTRY_CREATE_DB, "beta", 2, 2, 0);
	struct tx *f1 = tx_make(CL_ENTRY_FRAMES, "alpha", 5, 3, 0);
	apply_tx(a, 1, c1), apply_tx(a, 2, c2), apply_tx(a, 3, f1);
	struct raft_buffer snap = take_snapshot(a);
	struct cl_fsm_stats st;
	cl_fsm_get_stats(a, &st);
	ASSERT_EQ_INT(st.durable_index, 3); /* taking a snapshot is a sync point */
	struct raft_fsm *ra = cl_fsm_raft_fsm(a);
	char names[4][CL_DBNAME_MAX];
	uint64_t idx;

	/* Same node, files intact: nothing to fetch. */
	struct raft_buffer copy = {.base = raft_malloc(snap.len), .len = snap.len};
	memcpy(copy.base, snap.base, snap.len);
	ASSERT_OK(ra->restore(ra, &copy));
	ASSERT_EQ_INT(cl_fsm_needs_fetch(a, names, 4), 0);
	/* Same node, a file damaged: that database needs a fetch. */
	char path[512];
	snprintf(path, sizeof path, "%s/db/alpha.db", dir_a);
	ASSERT(truncate(path, CL_PAGE_SIZE) == 0);
	copy.base = raft_malloc(snap.len);
	memcpy(copy.base, snap.base, snap.len);
	ASSERT_OK(ra->restore(ra, &copy));
	ASSERT_EQ_INT(cl_fsm_needs_fetch(a, names, 4), 1);
	ASSERT_EQ_STR(names[0], "alpha");
	/* A file missing after later entries touched it is caught too. */
	struct tx *f3 = tx_make(CL_ENTRY_FRAMES, "beta", 3, 1, 0);
	apply_tx(a, 4, f3);
	snprintf(path, sizeof path, "%s/db/beta.db", dir_a);
	ASSERT(unlink(path) == 0);
	copy.base = raft_malloc(snap.len);
	memcpy(copy.base, snap.base, snap.len);
	ASSERT_OK(ra->restore(ra, &copy));
	ASSERT_EQ_INT(cl_fsm_needs_fetch(a, names, 4), 2);
	ASSERT_EQ_STR(names[1], "beta");
	tx_free(f3);

	/* Same node, a database deleted after the snapshot: restoring does not resurrect it. */
	struct tx *del = tx_make(CL_ENTRY_DELETE_DB, "beta", 0, 0, 0);
	apply_tx(a, 5, del);
	ASSERT_OK(cl_fsm_sync(a));
	copy.base = raft_malloc(snap.len);
	memcpy(copy.base, snap.base, snap.len);
	ASSERT_OK(ra->restore(ra, &copy));
	ASSERT_EQ_INT(cl_fsm_needs_fetch(a, names, 4), 1);
	ASSERT_ERR(cl_fsm_db_index(a, "beta", &idx), MR_ENOTFOUND);
	cl_fsm_get_stats(a, &st);
	ASSERT_EQ_INT(st.last_index, 5);
	tx_free(del);

	/* An empty node with a stale local database: everything in the manifest needs a fetch,
	 * the database the snapshot does not know is removed. */
	struct cl_fsm *b = open_fsm(dir_b, 1000, NULL);
	struct tx *old = tx_make(CL_ENTRY_CREATE_DB, "old", 1, 1, 0);
	apply_tx(b, 1, old);
	struct raft_fsm *rb = cl_fsm_raft_fsm(b);
	ASSERT_OK(rb->restore(rb, &snap));
	ASSERT_EQ_INT(cl_fsm_needs_fetch(b, names, 4), 2);
	ASSERT_EQ_STR(names[0], "alpha");
	ASSERT_EQ_STR(names[1], "beta");
	ASSERT(!file_exists(dir_b, "old", ".db"));
	cl_fsm_get_stats(b, &st);
	ASSERT_EQ_INT(st.last_index, 3);
	/* It keeps applying the log meanwhile (redo on the partial file) ... */
	struct tx *f2 = tx_make(CL_ENTRY_FRAMES, "beta", 2, 1, 0);
	apply_tx(b, 4, f2);
	ASSERT_OK(cl_fsm_db_index(b, "beta", &idx));
	ASSERT_EQ_INT(idx, 4);
	/* ... and a fetched copy older than what it applied is refused, a newer one accepted. */
	ASSERT_ERR(cl_fsm_fetch_done(b, "beta", 3), MR_EBUSY);
	ASSERT_OK(cl_fsm_fetch_done(b, "beta", 4));
	ASSERT_OK(cl_fsm_fetch_done(b, "alpha", 6)); /* the copy is newer than the log here */
	struct tx *f4 = tx_make(CL_ENTRY_FRAMES, "alpha", 9, 2, 0);
	apply_tx(b, 5, f4); /* already in the fetched copy: skipped, file untouched */
	cl_fsm_get_stats(b, &st);
	ASSERT_EQ_INT(st.skipped, 1);
	ASSERT(!file_exists(dir_b, "alpha", ".db")); /* the test "fetch" copied nothing */
	ASSERT_OK(cl_fsm_db_index(b, "alpha", &idx));
	ASSERT_EQ_INT(idx, 6);
	tx_free(f4);
	ASSERT_ERR(cl_fsm_fetch_done(b, "nope", 3), MR_ENOTFOUND);
	ASSERT_EQ_INT(cl_fsm_needs_fetch(b, names, 4), 0);
	/* The flags are durable. */
	cl_fsm_close(&a);
	a = open_fsm(dir_a, 1000, NULL);
	ASSERT_EQ_INT(cl_fsm_needs_fetch(a, names, 4), 1);
	/* A malformed manifest is refused. */
	uint8_t junk[40] = "MRSNAP01";
	struct raft_buffer bad = {.base = junk, .len = sizeof junk};
	ASSERT_EQ_INT(rb->restore(rb, &bad), RAFT_MALFORMED);
	cl_fsm_close(&a);
	cl_fsm_close(&b);
	tx_free(c1), tx_free(c2), tx_free(f1), tx_free(old), tx_free(f2);
}

/* The leader's own transaction: claimed by the VFS, recorded, not written by the fsm. */
static int claim_cb(void *arg, const struct cl_frames *set, uint64_t index, uint64_t token)
{
	(void)set, (void)index;
	return token == 4242 ? 1 : token == 666 ? MR_EIO : 0;
}

static void test_claim(void)
{
	const char *dir = unit_tmpdir();
	struct hook_log h = {.token = 4242};
	struct cl_fsm_config cfg = {
	    .data_dir = dir, .applied_cb = hook_cb, .claim_cb = claim_cb, .cb_arg = &h};
	struct cl_fsm *fsm;
	ASSERT_OK(cl_fsm_open(&cfg, &fsm));
	struct model m = {0};
	struct tx *c = tx_make(CL_ENTRY_CREATE_DB, "inbox", 2, 2, 0);
	apply_tx(fsm, 1, c);
	model_apply(&m, c);
	struct tx *mine = tx_make(CL_ENTRY_FRAMES, "inbox", 3, 2, 4242);
	apply_tx(fsm, 2, mine);
	expect_db_file(dir, "inbox", &m); /* untouched */
	uint64_t idx;
	ASSERT_OK(cl_fsm_db_index(fsm, "inbox", &idx));
	ASSERT_EQ_INT(idx, 2);
	ASSERT(cl_fsm_token_seen(fsm, "inbox", 4242));
	ASSERT_EQ_INT(h.by_result[CL_APPLY_OK], 1);
	struct tx *other = tx_make(CL_ENTRY_FRAMES, "inbox", 3, 2, 7);
	apply_tx(fsm, 3, other);
	model_apply(&m, other);
	expect_db_file(dir, "inbox", &m);
	struct tx *bad = tx_make(CL_ENTRY_FRAMES, "inbox", 3, 1, 666);
	struct raft_buffer b = tx_encode(bad);
	ASSERT_ERR(cl_fsm_apply_at(fsm, 4, b.base, b.len), MR_EIO);
	raft_free(b.base);
	struct cl_fsm_stats st;
	cl_fsm_get_stats(fsm, &st);
	ASSERT_EQ_INT(st.claimed, 1);
	ASSERT_EQ_INT(st.last_index, 3);
	tx_free(c), tx_free(mine), tx_free(other), tx_free(bad);
	cl_fsm_close(&fsm);
	free(m.data);
}

static void test_io_error(void)
{
	const char *dir = unit_tmpdir();
	struct cl_fsm *fsm = open_fsm(dir, 0, NULL);
	struct tx *c = tx_make(CL_ENTRY_CREATE_DB, "inbox", 1, 1, 0);
	apply_tx(fsm, 1, c);
	/* The database path turns into a directory: the write fails, the entry is not applied. */
	char path[512];
	snprintf(path, sizeof path, "%s/db/inbox.db", dir);
	ASSERT(unlink(path) == 0 && mkdir(path, 0700) == 0);
	struct tx *f = tx_make(CL_ENTRY_FRAMES, "inbox", 1, 1, 0);
	struct raft_buffer b = tx_encode(f);
	ASSERT_ERR(cl_fsm_apply_at(fsm, 2, b.base, b.len), MR_EIO);
	struct cl_fsm_stats st;
	cl_fsm_get_stats(fsm, &st);
	ASSERT_EQ_INT(st.last_index, 1);
	/* Through the raft callback it is RAFT_IOERR. */
	struct raft_fsm *rf = cl_fsm_raft_fsm(fsm);
	void *result = NULL;
	ASSERT_EQ_INT(rf->apply(rf, &b, &result), RAFT_IOERR);
	raft_free(b.base);
	rmdir(path);
	tx_free(c), tx_free(f);
	cl_fsm_close(&fsm);
}

static void test_corrupt_record(void)
{
	const char *dir = unit_tmpdir();
	struct cl_fsm *fsm = open_fsm(dir, 0, NULL);
	struct tx *c = tx_make(CL_ENTRY_CREATE_DB, "inbox", 1, 1, 0);
	apply_tx(fsm, 1, c);
	cl_fsm_close(&fsm);
	char path[512];
	snprintf(path, sizeof path, "%s/raft/applied", dir);
	int fd = open(path, O_RDWR);
	ASSERT(fd >= 0);
	uint8_t byte;
	ASSERT(pread(fd, &byte, 1, 30) == 1);
	byte ^= 0x40;
	ASSERT(pwrite(fd, &byte, 1, 30) == 1);
	close(fd);
	struct cl_fsm_config cfg = {.data_dir = dir};
	ASSERT_ERR(cl_fsm_open(&cfg, &fsm), MR_ECORRUPT);
	ASSERT(truncate(path, 10) == 0);
	ASSERT_ERR(cl_fsm_open(&cfg, &fsm), MR_ECORRUPT);
	tx_free(c);
}

static const struct unit_test tests[] = {
    {"apply_pages", test_apply_pages},
    {"replay_after_restart", test_replay_after_restart},
    {"crash_redo", test_crash_redo},
    {"tokens_bounded", test_tokens_bounded},
    {"bad_data", test_bad_data},
    {"multi_db_and_delete", test_multi_db_and_delete},
    {"snapshot_restore", test_snapshot_restore},
    {"claim", test_claim},
    {"io_error", test_io_error},
    {"corrupt_record", test_corrupt_record},
    {0},
};
UNIT_MAIN(tests)

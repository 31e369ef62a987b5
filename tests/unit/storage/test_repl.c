/* test_repl.c - WAL-frame capture (storage/repl.h), the crucial property: every write
 * transaction captured on a "leader" account database (mbox_append, flag updates, deletes,
 * direct SQL, schema changes, cache spills, savepoint rollbacks, VACUUM) and applied with
 * repl_apply_pages to a byte copy of the database file taken right after creation gives a
 * "follower" file that opens with the key, has the same logical content and passes
 * PRAGMA integrity_check, and once the leader is checkpointed is byte-identical to the
 * leader's file; applying twice or replaying the whole sequence again is harmless. Also a
 * follower that is itself a store with the database open (repl_invalidate), leadership
 * moving back and forth between two stores (step down / step up), the directory
 * database replicated the same way, captured pages carrying no plaintext, and
 * repl_apply_pages's validation. Abort, crash and checkpoints: test_repl_abort.c. */
#define _GNU_SOURCE
#include "repl_helpers.h"

#define NTX 48

static void test_random_transactions(void)
{
	const char *seed = getenv("REPL_TEST_SEED"); /* explore other sequences by hand */
	if (seed && *seed)
		rng = strtoull(seed, NULL, 0) | 1;
	struct store *st = setup();
	static struct wjob w[NTX + 4];
	size_t nw = 0;
	for (int i = 0; i < NTX; i++) {
		w[nw] = (struct wjob){
		    .op = i < 4 ? OP_APPEND : (enum op)rnd(OP_SPILL), .seq = i, .promote = true};
		if (i == 20)
			w[nw].op = OP_SPILL;
		run_write(st, &w[nw]);
		apply(&w[nw].tx);
		if (rnd(3) == 0)
			apply(&w[nw].tx); /* the same entry twice: harmless */
		nw++;
		if (i % 12 == 11)
			assert_same(tmp_path("follower.db"), st);
		if (i % 8 == 7 || w[nw - 1].op >= OP_SAVEPOINT)
			assert_identical(st);
	}
	assert_same(tmp_path("follower.db"), st);
	assert_identical(st);
	/* libraft replays the log after a restart: the whole sequence again, on the final state */
	for (size_t i = 0; i < nw; i++)
		apply(&w[i].tx);
	assert_same(tmp_path("follower.db"), st);
	for (size_t i = 0; i < nw; i++)
		repl_tx_free(&w[i].tx);
	store_close(&st);
}

static int job_rollback(struct store_db *db, void *arg)
{
	/* a spilled transaction rolled back: nothing to replicate, the next one is fine */
	ASSERT_OK(store_exec(db, "PRAGMA cache_size = 10"));
	ASSERT_OK(store_tx_begin(db));
	for (int i = 0; i < 30; i++)
		do_append(db, 3000, NULL);
	store_tx_rollback(db);
	ASSERT_OK(store_exec(db, "PRAGMA cache_size = -2000"));
	ASSERT(!repl_pending(db));
	struct repl_tx tx;
	ASSERT_EQ_INT(repl_poll(db, &tx), 0);
	/* an empty transaction neither */
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(store_tx_commit(db));
	ASSERT(!repl_pending(db));
	ASSERT_EQ_INT(repl_poll(db, &tx), 0);
	/* read-only work captures nothing either */
	ASSERT(count_where(store_db_sql(db), "SELECT count(*) FROM messages") >= 0);
	ASSERT_EQ_INT(repl_poll(db, &tx), 0);
	return 0;
}

static void test_rollback_and_vacuum(void)
{
	struct store *st = setup();
	struct wjob w = {.op = OP_APPEND, .promote = true};
	for (int i = 0; i < 12; i++) {
		w.seq = i;
		run_write(st, &w);
		apply(&w.tx);
		repl_tx_free(&w.tx);
	}
	ASSERT_OK(store_run(st, ACCT, 0, job_rollback, NULL));
	w.seq = 99;
	run_write(st, &w);
	apply(&w.tx);
	repl_tx_free(&w.tx);
	assert_same(tmp_path("follower.db"), st);
	off_t before = file_size(tmp_path("follower.db"));
	/* delete most messages, then VACUUM: the file shrinks through the commit frame's size */
	struct wjob del = {.op = OP_DELETE, .promote = true};
	for (int i = 0; i < 12; i++) {
		run_write(st, &del);
		apply(&del.tx);
		repl_tx_free(&del.tx);
	}
	struct wjob vac = {.op = OP_VACUUM, .promote = true};
	run_write(st, &vac);
	uint32_t shrunk = vac.tx.db_size;
	apply(&vac.tx);
	repl_tx_free(&vac.tx);
	assert_identical(st);
	ASSERT(file_size(tmp_path("follower.db")) < before);
	ASSERT_EQ_INT(file_size(tmp_path("follower.db")), (off_t)shrunk * 1024);
	assert_same(tmp_path("follower.db"), st);
	/* and more writes after the shrink */
	w.seq = 100;
	run_write(st, &w);
	apply(&w.tx);
	repl_tx_free(&w.tx);
	assert_same(tmp_path("follower.db"), st);
	store_close(&st);
}

/* ---- a follower that is itself a store with the database open --------------------------- */

struct fapply {
	const struct repl_tx *tx;
	struct dump d;
	bool invalidate;
};

static int job_apply_dump(struct store_db *db, void *arg)
{
	struct fapply *fa = arg;
	char path[700];
	snprintf(path, sizeof path, "%s/fdata/db/%s.db", unit_tmpdir(), ACCT);
	ASSERT_OK(repl_apply_pages(path, fa->tx->page_size, fa->tx->db_size, fa->tx->n,
	                           fa->tx->pgno, fa->tx->pages));
	if (fa->invalidate)
		ASSERT_OK(repl_invalidate(db));
	dump_sql(store_db_sql(db), &fa->d);
	return 0;
}

/* A second node: a store on a copy of the data dir (same master key, the directory) whose
 * account database is the follower's file as it is now. */
static struct store *open_follower_store(void)
{
	char fd[600], src[700], dst[700];
	snprintf(fd, sizeof fd, "%s/fdata", unit_tmpdir());
	ASSERT_OK(mkdir(fd, 0700));
	snprintf(dst, sizeof dst, "%s/db", fd);
	ASSERT_OK(mkdir(dst, 0700));
	static const char *const files[] = {"master.key", "db/directory.db", "db/directory.db-wal",
	                                    "db/directory.key", "db/" ACCT ".key"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(src, sizeof src, "%s/%s", th_datadir(), files[i]);
		snprintf(dst, sizeof dst, "%s/%s", fd, files[i]);
		(void)copy_file(src, dst);
	}
	snprintf(dst, sizeof dst, "%s/db/%s.db", fd, ACCT);
	ASSERT_OK(copy_file(tmp_path("follower.db"), dst));
	struct store_config cfg = {.data_dir = fd, .actors = 1, .pwcost = STORE_PWCOST_MIN};
	struct store *fst = NULL;
	char err[256];
	ASSERT_OK(store_open(&cfg, &fst, err, sizeof err));
	return fst;
}

static void test_follower_store(void)
{
	struct store *st = setup();
	struct store *fst = open_follower_store();
	struct dump d;
	ASSERT_OK(store_run(fst, ACCT, 0, job_dump, &d)); /* open, pages cached */
	for (int i = 0; i < 10; i++) {
		struct wjob w = {.op = i % 2 ? OP_SQL : OP_APPEND, .seq = i, .promote = true};
		run_write(st, &w);
		struct fapply fa = {.tx = &w.tx, .invalidate = i != 9};
		ASSERT_OK(store_run(fst, ACCT, 0, job_apply_dump, &fa));
		repl_tx_free(&w.tx);
		ASSERT_OK(store_run(st, ACCT, 0, job_dump, &d));
		ASSERT_EQ_STR(fa.d.integrity, "ok");
		if (fa.invalidate) {
			ASSERT_EQ_INT(fa.d.rows, d.rows);
			ASSERT_EQ_MEM(fa.d.hash, 32, d.hash, 32);
		} else {
			/* control: without invalidation the open connection reads stale pages */
			ASSERT(fa.d.rows != d.rows || memcmp(fa.d.hash, d.hash, 32) != 0);
		}
	}
	store_close(&fst);
	store_close(&st);
}

static int job_marker_check(struct store_db *db, void *arg)
{
	ASSERT_EQ_INT(count_where(store_db_sql(db), "SELECT count(*) FROM bodies WHERE "
	                                            "instr(raw, '" MARKER "') > 0"),
	              1);
	return 0;
}

static void test_no_plaintext(void)
{
	struct store *st = setup();
	struct wjob w = {.op = OP_APPEND, .marker = MARKER, .promote = true};
	run_write(st, &w);
	ASSERT(memmem(w.tx.pages, w.tx.n * w.tx.page_size, MARKER, strlen(MARKER)) == NULL);
	ASSERT(memmem(w.tx.pages, w.tx.n * w.tx.page_size, "SQLite format 3", 15) == NULL);
	ASSERT_OK(store_run(st, ACCT, 0, job_marker_check, NULL)); /* positive control */
	apply(&w.tx);
	repl_tx_free(&w.tx);
	static const char *const files[] = {"follower.db"};
	for (size_t i = 0; i < 1; i++) {
		FILE *f = fopen(tmp_path(files[i]), "rb");
		ASSERT(f);
		static uint8_t buf[1 << 22];
		size_t n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		ASSERT(n > 0 && memmem(buf, n, MARKER, strlen(MARKER)) == NULL);
	}
	assert_same(tmp_path("follower.db"), st);
	store_close(&st);
}

static void test_apply_validation(void)
{
	const char *p = tmp_path("v.db");
	uint8_t page[1024] = {1};
	uint32_t pg = 1, zero = 0;
	ASSERT_ERR(repl_apply_pages(p, 1000, 1, 1, &pg, page), MR_EINVAL);
	ASSERT_ERR(repl_apply_pages(p, 256, 1, 1, &pg, page), MR_EINVAL);
	ASSERT_ERR(repl_apply_pages(p, 1024, 0, 1, &pg, page), MR_EINVAL);
	ASSERT_ERR(repl_apply_pages(p, 1024, 1, 1, &zero, page), MR_EINVAL);
	ASSERT_ERR(repl_apply_pages(p, 1024, 1, 1, NULL, page), MR_EINVAL);
	ASSERT_EQ_INT(file_size(p), -1);
	/* pages beyond db_size are skipped; the file is created 0600 */
	uint32_t pgs[2] = {1, 3};
	uint8_t two[2048];
	memset(two, 0xab, sizeof two);
	ASSERT_OK(repl_apply_pages(p, 1024, 2, 2, pgs, two));
	ASSERT_EQ_INT(file_size(p), 2048);
	struct stat sb;
	ASSERT_OK(stat(p, &sb));
	ASSERT_EQ_INT(sb.st_mode & 0777, 0600);
	/* a -wal with frames would shadow the pages */
	char wal[700];
	snprintf(wal, sizeof wal, "%s-wal", p);
	FILE *f = fopen(wal, "wb");
	fputs("x", f);
	fclose(f);
	ASSERT_ERR(repl_apply_pages(p, 1024, 2, 2, pgs, two), MR_EBUSY);
	f = fopen(wal, "wb");
	fclose(f);
	ASSERT_OK(repl_apply_pages(p, 1024, 1, 2, pgs, two));
	ASSERT_EQ_INT(file_size(p), 1024);
	/* the vector form: pages by pointer, truncating first, no sync */
	uint8_t pa[1024], pb[1024];
	memset(pa, 0x11, sizeof pa);
	memset(pb, 0x22, sizeof pb);
	const uint8_t *vec[2] = {pb, pa};
	uint32_t order[2] = {2, 1};
	ASSERT_OK(
	    repl_apply_pagev(p, 1024, 2, 2, order, vec, REPL_APPLY_NOSYNC | REPL_APPLY_TRUNC));
	size_t n;
	uint8_t *got = slurp(p, &n);
	ASSERT_EQ_INT(n, 2048);
	ASSERT_EQ_MEM(got, 1024, pa, 1024);
	ASSERT_EQ_MEM(got + 1024, 1024, pb, 1024);
	free(got);
	const uint8_t *holes[2] = {pa, NULL};
	ASSERT_ERR(repl_apply_pagev(p, 1024, 2, 2, order, holes, 0), MR_EINVAL);
	/* TRUNC really starts from nothing: page 2 of the old file is gone (a hole reads 0) */
	uint32_t one = 1;
	ASSERT_OK(repl_apply_pagev(p, 1024, 2, 1, &one, vec + 1, REPL_APPLY_TRUNC));
	got = slurp(p, &n);
	ASSERT_EQ_INT(n, 2048);
	ASSERT_EQ_MEM(got, 1024, pa, 1024);
	ASSERT(got[1024] == 0 && got[2047] == 0);
	free(got);
}

/* ---- leadership moves: the old leader follows, the old follower leads ----------------- */

static int job_step_down(struct store_db *db, void *arg)
{
	ASSERT_OK(repl_abort(db));
	ASSERT_OK(repl_checkpoint(db, true));
	ASSERT_OK(repl_disable(db));
	ASSERT(!repl_enabled(db));
	return 0;
}

struct fapply2 {
	const struct repl_tx *tx;
	const char *path;
};

static int job_follow(struct store_db *db, void *arg)
{
	struct fapply2 *fa = arg;
	ASSERT_OK(repl_apply_pages(fa->path, fa->tx->page_size, fa->tx->db_size, fa->tx->n,
	                           fa->tx->pgno, fa->tx->pages));
	return repl_invalidate(db);
}

static void lead_and_follow(struct store *leader, struct store *follower, const char *fpath, int n)
{
	for (int i = 0; i < n; i++) {
		struct wjob w = {.op = (enum op)(i % 4), .seq = 1000 + i, .promote = true};
		if (i % 4 == OP_DELETE)
			w.op = OP_APPEND;
		run_write(leader, &w);
		struct fapply2 fa = {.tx = &w.tx, .path = fpath};
		ASSERT_OK(store_run(follower, ACCT, 0, job_follow, &fa));
		repl_tx_free(&w.tx);
	}
	struct dump a, b;
	ASSERT_OK(store_run(leader, ACCT, 0, job_dump, &a));
	ASSERT_OK(store_run(follower, ACCT, 0, job_dump, &b));
	ASSERT_EQ_STR(a.integrity, "ok");
	ASSERT_EQ_STR(b.integrity, "ok");
	ASSERT_EQ_INT(b.rows, a.rows);
	ASSERT_EQ_MEM(b.hash, 32, a.hash, 32);
}

static void test_role_switch(void)
{
	struct store *st = setup();
	struct wjob w = {.op = OP_APPEND, .promote = true};
	for (int i = 0; i < 3; i++) {
		run_write(st, &w);
		apply(&w.tx);
		repl_tx_free(&w.tx);
	}
	struct store *fst = open_follower_store();
	char fpath[700];
	snprintf(fpath, sizeof fpath, "%s/fdata/db/%s.db", unit_tmpdir(), ACCT);
	lead_and_follow(st, fst, fpath, 4);
	/* the leader steps down (its -wal checkpointed away), the follower takes over */
	ASSERT_OK(store_run(st, ACCT, 0, job_step_down, NULL));
	ASSERT_EQ_INT(file_size(leader_path(".db-wal")), 0);
	ASSERT_OK(store_run(fst, ACCT, 0, job_enable, NULL));
	lead_and_follow(fst, st, leader_path(".db"), 6);
	/* and back */
	ASSERT_OK(store_run(fst, ACCT, 0, job_step_down, NULL));
	ASSERT_OK(store_run(st, ACCT, 0, job_enable, NULL));
	lead_and_follow(st, fst, fpath, 5);
	store_close(&fst);
	store_close(&st);
}

/* ---- the directory database is replicated the same way ----------------------------------- */

struct dirjob {
	int i;
	struct repl_tx tx;
};

static int job_dir_enable(struct store_db *db, void *arg)
{
	return repl_enable(db);
}

static int job_dir_write(struct store_db *db, void *arg)
{
	struct dirjob *dj = arg;
	char name[64];
	snprintf(name, sizeof name, "d%d.example", dj->i);
	ASSERT_OK(dir_domain_add(db, name));
	ASSERT_EQ_INT(repl_poll(db, &dj->tx), 1);
	ASSERT_OK(repl_promote(db));
	ASSERT_OK(store_tx_begin(db));
	for (int k = 0; k < 5; k++) {
		char addr[96];
		snprintf(addr, sizeof addr, "u%d@%s", k, name);
		struct dir_account acct;
		ASSERT_OK(dir_account_add(db, addr, "$argon2id$x", 1000 * k, &acct));
	}
	ASSERT_OK(store_tx_commit(db));
	struct repl_tx tx2;
	ASSERT_EQ_INT(repl_poll(db, &tx2), 1);
	ASSERT_OK(repl_promote(db));
	/* the follower applies both entries in log order (its file is open nowhere) */
	char path[700];
	snprintf(path, sizeof path, "%s/dirfollower.db", unit_tmpdir());
	ASSERT_OK(repl_apply_pages(path, dj->tx.page_size, dj->tx.db_size, dj->tx.n, dj->tx.pgno,
	                           dj->tx.pages));
	ASSERT_OK(repl_apply_pages(path, tx2.page_size, tx2.db_size, tx2.n, tx2.pgno, tx2.pages));
	repl_tx_free(&tx2);
	repl_tx_free(&dj->tx);
	return 0;
}

static void test_directory(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_dir_enable, NULL));
	char src[700];
	snprintf(src, sizeof src, "%s/db/%s.db", th_datadir(), STORE_DIRECTORY);
	ASSERT_OK(copy_file(src, tmp_path("dirfollower.db")));
	ASSERT_OK(store__key_load(st, STORE_DIRECTORY, dbkey));
	for (int i = 0; i < 8; i++) {
		struct dirjob dj = {.i = i};
		ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_dir_write, &dj));
	}
	struct dump a, b;
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_dump, &a));
	dump_file(tmp_path("dirfollower.db"), &b);
	ASSERT_EQ_STR(b.integrity, "ok");
	ASSERT(b.rows > 48);
	ASSERT_EQ_INT(b.rows, a.rows);
	ASSERT_EQ_MEM(b.hash, 32, a.hash, 32);
	store_close(&st);
}

static const struct unit_test tests[] = {
    {"random transactions replicate", test_random_transactions},
    {"rollback and vacuum", test_rollback_and_vacuum},
    {"follower store", test_follower_store},
    {"role switch", test_role_switch},
    {"directory", test_directory},
    {"no plaintext", test_no_plaintext},
    {"apply validation", test_apply_validation},
    {0},
};

UNIT_MAIN(tests)

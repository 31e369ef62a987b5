/* test_repl_abort.c - the life cycle of a captured transaction (storage/repl.h): capture is
 * off by default; repl_abort makes a transaction vanish on the leader (even a schema change,
 * even one that started a fresh -wal) while the next ones replicate fine; a pending
 * transaction holds the WAL write lock and is absent from a crash-like copy of the files,
 * a promoted one is present; closing the store while pending loses the transaction; forced
 * and threshold checkpoints truncate the -wal. */
#define _GNU_SOURCE
#include "repl_helpers.h"

/* ---- abort, crash, close ------------------------------------------------------------------ */

static int job_abort_checks(struct store_db *db, void *arg)
{
	sqlite3 *sql = store_db_sql(db);
	ASSERT(!repl_pending(db));
	ASSERT_EQ_INT(
	    count_where(sql, "SELECT count(*) FROM bodies WHERE instr(raw, '" MARKER "') > 0"), 0);
	ASSERT(sqlite3_prepare_v2(sql, "SELECT * FROM zz", -1, &(sqlite3_stmt *){NULL}, NULL) !=
	       SQLITE_OK);
	return 0;
}

static int job_schema_change(struct store_db *db, void *arg)
{
	ASSERT_OK(store_tx_begin(db));
	ASSERT_OK(store_exec(db, "CREATE TABLE zz(a)"));
	ASSERT_OK(store_exec(db, "INSERT INTO zz VALUES (1)"));
	ASSERT_OK(store_tx_commit(db));
	ASSERT(count_where(store_db_sql(db), "SELECT count(*) FROM zz") == 1);
	struct repl_tx tx;
	ASSERT_EQ_INT(repl_poll(db, &tx), 1);
	repl_tx_free(&tx);
	ASSERT_OK(repl_abort(db));
	ASSERT_OK(repl_abort(db)); /* nothing pending any more */
	return 0;
}

static int job_abort(struct store_db *db, void *arg)
{
	return repl_abort(db);
}

static int job_promote(struct store_db *db, void *arg)
{
	return repl_promote(db);
}

static void test_abort(void)
{
	struct store *st = setup();
	struct wjob w = {.op = OP_APPEND, .promote = true};
	run_write(st, &w);
	apply(&w.tx);
	repl_tx_free(&w.tx);
	/* the entry fails: the marked message must vanish on the leader */
	struct wjob bad = {.op = OP_APPEND, .marker = MARKER};
	run_write(st, &bad);
	repl_tx_free(&bad.tx);
	ASSERT_OK(store_run(st, ACCT, 0, job_abort, NULL));
	ASSERT_OK(store_run(st, ACCT, 0, job_abort_checks, NULL));
	/* a schema change too */
	ASSERT_OK(store_run(st, ACCT, 0, job_schema_change, NULL));
	ASSERT_OK(store_run(st, ACCT, 0, job_abort_checks, NULL));
	/* and a transaction that starts a fresh -wal (header rewritten at offset 0) */
	ASSERT_OK(store_run(st, ACCT, 0, job_ckpt, NULL));
	ASSERT_EQ_INT(file_size(leader_path(".db-wal")), 0);
	run_write(st, &bad);
	repl_tx_free(&bad.tx);
	ASSERT(file_size(leader_path(".db-wal")) > 0);
	ASSERT_OK(store_run(st, ACCT, 0, job_abort, NULL));
	ASSERT_EQ_INT(file_size(leader_path(".db-wal")), 0);
	ASSERT_OK(store_run(st, ACCT, 0, job_abort_checks, NULL));
	/* the next transactions are fine, and the follower (which never saw the aborted ones)
	 * matches the leader */
	for (int i = 0; i < 3; i++) {
		w.op = i == 1 ? OP_SQL : OP_APPEND;
		w.seq = i;
		run_write(st, &w);
		apply(&w.tx);
		repl_tx_free(&w.tx);
	}
	assert_same(tmp_path("follower.db"), st);
	/* and a crash-like copy after the abort has no trace of it */
	const char *c = crash_copy("after_abort.db");
	ASSERT_EQ_INT(
	    count_file(c, "SELECT count(*) FROM bodies WHERE instr(raw, '" MARKER "') > 0"), 0);
	store_close(&st);
}

static int job_second_writer(struct store_db *db, void *arg)
{
	/* one replicated transaction per database at a time */
	sqlite3_busy_timeout(store_db_sql(db), 0);
	ASSERT(repl_pending(db));
	ASSERT(store_tx_begin(db) != 0);
	ASSERT_ERR(repl_checkpoint(db, true), MR_EBUSY);
	ASSERT_ERR(repl_disable(db), MR_EBUSY);
	sqlite3_busy_timeout(store_db_sql(db), 5000);
	return 0;
}

static void test_crash_copies(void)
{
	struct store *st = setup();
	static const char q[] = "SELECT count(*) FROM bodies WHERE instr(raw, '" MARKER "') > 0";
	struct wjob w = {.op = OP_APPEND, .marker = MARKER};
	run_write(st, &w); /* committed locally, polled, not promoted */
	ASSERT_OK(store_run(st, ACCT, 0, job_second_writer, NULL));
	/* the WAL write lock really is held: another connection cannot write either */
	sqlite3 *other = NULL;
	ASSERT_EQ_INT(sqlite3_open_v2(leader_path(".db"), &other, SQLITE_OPEN_READWRITE, NULL),
	              SQLITE_OK);
	ASSERT_OK(store__db_key(other, dbkey));
	ASSERT_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_BUSY);
	ASSERT_EQ_INT(sqlite3_close(other), SQLITE_OK);
	/* a crash now: the pending transaction is not in the files */
	ASSERT_EQ_INT(count_file(crash_copy("pending.db"), q), 0);
	ASSERT_OK(store_run(st, ACCT, 0, job_promote, NULL));
	/* a crash after promote: it is there (durable in the WAL, not checkpointed yet) */
	ASSERT(file_size(leader_path(".db-wal")) > 0);
	ASSERT(count_file(crash_copy("promoted.db"), q) >= 1);
	apply(&w.tx);
	repl_tx_free(&w.tx);
	assert_same(tmp_path("follower.db"), st);
	ASSERT(count_file(tmp_path("follower.db"), q) >= 1);
	store_close(&st);
	/* a clean restart keeps it too */
	st = th_open();
	struct dump d;
	ASSERT_OK(store_run(st, ACCT, 0, job_dump, &d));
	ASSERT_EQ_STR(d.integrity, "ok");
	store_close(&st);
	ASSERT(count_file(leader_path(".db"), q) >= 1);
}

static void test_close_while_pending(void)
{
	struct store *st = setup();
	static const char q[] = "SELECT count(*) FROM bodies WHERE instr(raw, '" MARKER "') > 0";
	struct wjob w = {.op = OP_APPEND, .promote = true};
	run_write(st, &w);
	apply(&w.tx);
	repl_tx_free(&w.tx);
	struct wjob bad = {.op = OP_APPEND, .marker = MARKER};
	run_write(st, &bad);
	repl_tx_free(&bad.tx);
	store_close(&st); /* no checkpoint of the pending frames at close */
	ASSERT_EQ_INT(count_file(leader_path(".db"), q), 0);
	st = th_open();
	ASSERT_OK(store_run(st, ACCT, 0, job_enable, NULL));
	w.seq = 7;
	run_write(st, &w);
	apply(&w.tx);
	repl_tx_free(&w.tx);
	assert_same(tmp_path("follower.db"), st);
	store_close(&st);
}

/* ---- misc ------------------------------------------------------------------------------- */

static int job_off(struct store_db *db, void *arg)
{
	ASSERT(!repl_enabled(db));
	ASSERT_OK(store_tx_begin(db));
	do_append(db, 500, MARKER);
	ASSERT_OK(store_tx_commit(db));
	ASSERT(!repl_pending(db));
	struct repl_tx tx;
	ASSERT_EQ_INT(repl_poll(db, &tx), 0);
	ASSERT_ERR(repl_promote(db), MR_EINVAL);
	ASSERT_OK(repl_abort(db));
	ASSERT_ERR(repl_checkpoint(db, true), MR_EINVAL);
	ASSERT_OK(repl_disable(db));
	/* a second write goes straight through */
	ASSERT_OK(store_tx_begin(db));
	do_append(db, 500, NULL);
	ASSERT_OK(store_tx_commit(db));
	return 0;
}

static void test_off_by_default(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, ACCT, STORE_CREATE, job_off, NULL));
	ASSERT_OK(store__key_load(st, ACCT, dbkey));
	static const char q[] = "SELECT count(*) FROM bodies WHERE instr(raw, '" MARKER "') > 0";
	ASSERT_EQ_INT(count_file(crash_copy("off.db"), q), 1);
	store_close(&st);
}

static int job_checkpoint(struct store_db *db, void *arg)
{
	ASSERT_OK(repl_checkpoint(db, false)); /* below the threshold: nothing */
	ASSERT(file_size(leader_path(".db-wal")) > 0);
	ASSERT_OK(repl_checkpoint(db, true));
	ASSERT_EQ_INT(file_size(leader_path(".db-wal")), 0);
	return 0;
}

static void test_checkpoint(void)
{
	struct store *st = setup();
	struct wjob w = {.op = OP_APPEND, .promote = true};
	run_write(st, &w);
	apply(&w.tx);
	repl_tx_free(&w.tx);
	ASSERT_OK(store_run(st, ACCT, 0, job_checkpoint, NULL));
	/* the threshold: enough frames make repl_promote checkpoint by itself (the -wal is
	 * truncated to 0), and the -wal never grows far past it */
	off_t max_wal = 0, prev = 0;
	int drops = 0;
	for (int i = 0; i < 200 && drops < 2; i++) {
		run_write(st, &w);
		apply(&w.tx);
		repl_tx_free(&w.tx);
		off_t s = file_size(leader_path(".db-wal"));
		ASSERT(s >= 0);
		if (s < prev) {
			ASSERT_EQ_INT(s, 0);
			drops++;
		}
		prev = s;
		if (s > max_wal)
			max_wal = s;
	}
	ASSERT_EQ_INT(drops, 2);
	ASSERT(max_wal >= (off_t)(REPL_CKPT_FRAMES - 200) * (1024 + 24));
	ASSERT(max_wal < (off_t)(REPL_CKPT_FRAMES + 400) * (1024 + 24));
	assert_same(tmp_path("follower.db"), st);
	store_close(&st);
}

static const struct unit_test tests[] = {
    {"off by default", test_off_by_default}, {"abort", test_abort},
    {"crash copies", test_crash_copies},     {"close while pending", test_close_while_pending},
    {"checkpoint", test_checkpoint},         {0},
};

UNIT_MAIN(tests)

/* test_replicator.c - the store's replication hook (store.h) with a fake in-process replicator:
 * two (or three) stores in one process share one "log", a sequencer thread that plays raft and
 * the state machine. It validates each proposal's base index against its own per-database
 * applied index (else STORE_ECONFLICT), assigns a log index, and applies the entry to every
 * store through store_repl_apply / store_repl_note (the proposer promotes, the others write
 * pages). Checks: logical equality of every replica (row hash + integrity_check), UIDs strictly
 * increasing without reuse, concurrent writers on different stores conflict and retry to
 * success, lost or late acknowledgements (outcome unknown) never apply a write twice. */
#include "repl_helpers.h"
#include "common/util.h"
#include <pthread.h>

#define NSTORES 3

enum fake_mode { FAKE_OK, FAKE_DROP_UNKNOWN, FAKE_LATE_ACK };

struct entry {
	struct entry *next;
	bool create;
	char db[STORE_DBNAME_MAX];
	uint64_t base, token;
	struct store_ticket *t;
	uint32_t page_size, db_size;
	size_t n;
	uint32_t *pgno;
	uint8_t *pages;
	uint8_t *key;
	size_t key_len;
};

struct dbidx {
	char name[STORE_DBNAME_MAX];
	uint64_t index;
};

static struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_t thr;
	struct entry *head, *tail;
	bool stop;
	bool busy; /* the sequencer is processing an entry */
	struct store *st[NSTORES];
	char dirs[NSTORES][600];
	unsigned nst;
	uint64_t log;
	struct dbidx idx[16];
	unsigned nidx;
	enum fake_mode mode; /* applies to the next proposal only */
	unsigned conflicts, applied, unknowns;
	unsigned delay_us;
} F;

static uint64_t *fake_index(const char *db, bool add)
{
	for (unsigned i = 0; i < F.nidx; i++)
		if (strcmp(F.idx[i].name, db) == 0)
			return &F.idx[i].index;
	if (!add)
		return NULL;
	snprintf(F.idx[F.nidx].name, sizeof F.idx[0].name, "%s", db);
	F.idx[F.nidx].index = 0;
	return &F.idx[F.nidx++].index;
}

static void write_all(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT(fd >= 0);
	ASSERT_EQ_INT(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void apply_entry(struct entry *e, uint64_t index)
{
	const uint8_t **pv = xcalloc(e->n ? e->n : 1, sizeof *pv);
	for (size_t i = 0; i < e->n; i++)
		pv[i] = e->pages + i * e->page_size;
	for (unsigned s = 0; s < F.nst; s++) {
		if (e->create) {
			char p[700];
			snprintf(p, sizeof p, "%s/db/%s.key", F.dirs[s], e->db);
			write_all(p, e->key, e->key_len);
			snprintf(p, sizeof p, "%s/db/%s.db", F.dirs[s], e->db);
			ASSERT_OK(repl_apply_pagev(p, e->page_size, e->db_size, e->n, e->pgno, pv,
			                           REPL_APPLY_TRUNC));
			ASSERT_OK(store_repl_note(F.st[s], e->db, index, e->token, false));
		} else {
			ASSERT_OK(store_repl_apply(F.st[s], e->db, index, e->token, e->page_size,
			                           e->db_size, e->n, e->pgno, pv));
		}
	}
	free(pv);
}

static void process(struct entry *e, enum fake_mode mode)
{
	if (F.delay_us)
		usleep(F.delay_us);
	uint64_t *ix = fake_index(e->db, e->create);
	bool ok = e->create ? *ix == 0 && !e->base : ix && *ix == e->base;
	if (mode == FAKE_DROP_UNKNOWN) {
		F.unknowns++;
		store_ticket_done(e->t, STORE_EUNKNOWN); /* never reaches the log */
		return;
	}
	if (!ok) {
		F.conflicts++;
		store_ticket_done(e->t, STORE_ECONFLICT);
		return;
	}
	*ix = ++F.log;
	F.applied++;
	if (mode == FAKE_LATE_ACK) {
		/* leadership lost after the entry was replicated: the proposer hears "unknown"
		 * first, the entry commits anyway and reaches it later */
		F.unknowns++;
		store_ticket_done(e->t, STORE_EUNKNOWN);
		usleep(20000);
		apply_entry(e, *ix);
		return;
	}
	apply_entry(e, *ix);
	store_ticket_done(e->t, 0);
}

static void *sequencer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&F.mu);
	for (;;) {
		while (!F.head && !F.stop)
			pthread_cond_wait(&F.cond, &F.mu);
		struct entry *e = F.head;
		if (!e)
			break;
		F.head = e->next;
		if (!F.head)
			F.tail = NULL;
		F.busy = true;
		enum fake_mode mode = e->create ? FAKE_OK : F.mode;
		if (!e->create)
			F.mode = FAKE_OK;
		pthread_mutex_unlock(&F.mu);
		process(e, mode);
		free(e->pgno);
		free(e->pages);
		free(e->key);
		free(e);
		pthread_mutex_lock(&F.mu);
		F.busy = false;
	}
	pthread_mutex_unlock(&F.mu);
	return NULL;
}

static void push(struct entry *e)
{
	pthread_mutex_lock(&F.mu);
	if (F.tail)
		F.tail->next = e;
	else
		F.head = e;
	F.tail = e;
	pthread_cond_signal(&F.cond);
	pthread_mutex_unlock(&F.mu);
}

static int fake_propose(void *ud, const char *db, uint64_t base, const struct repl_tx *tx,
                        uint64_t token, struct store_ticket *t)
{
	(void)ud;
	struct entry *e = xcalloc(1, sizeof *e);
	snprintf(e->db, sizeof e->db, "%s", db);
	e->base = base;
	e->token = token;
	e->t = t;
	e->page_size = tx->page_size;
	e->db_size = tx->db_size;
	e->n = tx->n;
	e->pgno = xmalloc(tx->n * sizeof *e->pgno + 1);
	memcpy(e->pgno, tx->pgno, tx->n * sizeof *e->pgno);
	e->pages = xmalloc(tx->n * tx->page_size + 1);
	memcpy(e->pages, tx->pages, tx->n * tx->page_size);
	push(e);
	return 0;
}

static int fake_create(void *ud, const char *db, const uint8_t *key, size_t key_len,
                       uint32_t page_size, uint32_t db_size, const uint8_t *pages, uint64_t token,
                       struct store_ticket *t)
{
	(void)ud;
	struct entry *e = xcalloc(1, sizeof *e);
	e->create = true;
	snprintf(e->db, sizeof e->db, "%s", db);
	e->token = token;
	e->t = t;
	e->page_size = page_size;
	e->db_size = db_size;
	e->n = db_size;
	e->pgno = xmalloc(db_size * sizeof *e->pgno + 1);
	for (uint32_t i = 0; i < db_size; i++)
		e->pgno[i] = i + 1;
	e->pages = xmalloc((size_t)db_size * page_size + 1);
	memcpy(e->pages, pages, (size_t)db_size * page_size);
	e->key = xmalloc(key_len);
	memcpy(e->key, key, key_len);
	e->key_len = key_len;
	push(e);
	return 0;
}

static const struct store_replicator fake_repl = {.propose = fake_propose, .create = fake_create};

static uv_loop_t *loops[NSTORES]; /* set: stores open with a loop (commit hook test) */

static struct store *open_at_loop(const char *dir, uv_loop_t *loop)
{
	struct store_config cfg = {
	    .data_dir = dir, .actors = 2, .pwcost = STORE_PWCOST_MIN, .loop = loop};
	char err[256];
	struct store *st = NULL;
	int rv = store_open(&cfg, &st, err, sizeof err);
	if (rv != 0)
		unit_fail(__FILE__, __LINE__, "store_open: %s (%s)", err, mr_strerror(rv));
	return st;
}

static struct store *open_at(const char *dir)
{
	return open_at_loop(dir, NULL);
}

/* nst stores: the first creates the directory database; the others get byte copies. */
static void fake_start(unsigned nst)
{
	memset(&F, 0, sizeof F);
	pthread_mutex_init(&F.mu, NULL);
	pthread_cond_init(&F.cond, NULL);
	F.nst = nst;
	for (unsigned s = 0; s < nst; s++)
		snprintf(F.dirs[s], sizeof F.dirs[s], "%s/n%u", unit_tmpdir(), s);
	struct store *st = open_at(F.dirs[0]);
	store_close(&st);
	static const char *const files[] = {"master.key", "db/directory.db", "db/directory.key"};
	for (unsigned s = 1; s < nst; s++) {
		char p[700], q[700];
		snprintf(p, sizeof p, "%s/db", F.dirs[s]);
		ASSERT_OK(mkdir(F.dirs[s], 0700));
		ASSERT_OK(mkdir(p, 0700));
		for (size_t i = 0; i < MR_ARRAY_LEN(files); i++) {
			snprintf(p, sizeof p, "%s/%s", F.dirs[0], files[i]);
			snprintf(q, sizeof q, "%s/%s", F.dirs[s], files[i]);
			ASSERT_OK(copy_file(p, q));
		}
	}
	(void)fake_index(STORE_DIRECTORY, true); /* the seeded database, at index 0 */
	for (unsigned s = 0; s < nst; s++) {
		F.st[s] = open_at_loop(F.dirs[s], loops[s]);
		store_set_replicator(F.st[s], &fake_repl, NULL);
	}
	ASSERT_EQ_INT(pthread_create(&F.thr, NULL, sequencer, NULL), 0);
}

static void fake_stop(void)
{
	pthread_mutex_lock(&F.mu);
	F.stop = true;
	pthread_cond_signal(&F.cond);
	pthread_mutex_unlock(&F.mu);
	pthread_join(F.thr, NULL);
	for (unsigned s = 0; s < F.nst; s++)
		store_close(&F.st[s]);
}

/* ---- jobs ---------------------------------------------------------------------------------- */

struct app {
	char body[64];
	uint32_t uid;
	unsigned runs;
};

static int job_append(struct store_db *db, void *arg)
{
	struct app *p = arg;
	p->runs++;
	int rv = store_tx_begin(db);
	if (rv != 0)
		return rv;
	rv = mbox_append(db, "INBOX", "", 1700000000, (const uint8_t *)p->body, strlen(p->body),
	                 NULL, NULL, &p->uid);
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

static int job_domain(struct store_db *db, void *arg)
{
	return dir_domain_add(db, arg);
}

static int job_none(struct store_db *db, void *arg)
{
	(void)db, (void)arg;
	return 0;
}

static void append_on(unsigned s, const char *body, uint32_t *uid_r)
{
	struct app a = {.uid = 0};
	snprintf(a.body, sizeof a.body, "%s", body);
	ASSERT_OK(store_run(F.st[s], ACCT, STORE_CREATE, job_append, &a));
	ASSERT(a.uid > 0);
	if (uid_r)
		*uid_r = a.uid;
}

/* Every message once, UIDs 1..n: strictly increasing, never reused. */
static int job_count_check(struct store_db *db, void *arg)
{
	long want = *(long *)arg;
	sqlite3 *sql = store_db_sql(db);
	ASSERT_EQ_INT(count_where(sql, "SELECT count(*) FROM messages"), want);
	ASSERT_EQ_INT(count_where(sql, "SELECT count(DISTINCT uid) FROM messages"), want);
	ASSERT_EQ_INT(count_where(sql, "SELECT count(DISTINCT raw) FROM bodies"), want);
	ASSERT_EQ_INT(count_where(sql, "SELECT coalesce(max(uid), 0) FROM messages"), want);
	ASSERT_EQ_INT(count_where(sql, "SELECT uidnext FROM folders WHERE name = 'INBOX'"),
	              want + 1);
	return 0;
}

/* Wait until the log has reached every store: a proposer's job returns once its own store
 * applied the entry, while the sequencer may still be applying it to the others. */
static void fake_drain(void)
{
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&F.mu);
		bool idle = !F.head && !F.busy;
		pthread_mutex_unlock(&F.mu);
		if (idle)
			return;
		usleep(1000);
	}
	unit_fail(__FILE__, __LINE__, "the fake log did not drain");
}

static void check_replicas(const char *db, long want_msgs)
{
	fake_drain();
	struct dump d0;
	ASSERT_OK(store_run(F.st[0], db, 0, job_dump, &d0));
	ASSERT_EQ_STR(d0.integrity, "ok");
	for (unsigned s = 1; s < F.nst; s++) {
		struct dump d;
		ASSERT_OK(store_run(F.st[s], db, 0, job_dump, &d));
		ASSERT_EQ_STR(d.integrity, "ok");
		ASSERT_EQ_INT(d.rows, d0.rows);
		ASSERT_EQ_MEM(d.hash, sizeof d.hash, d0.hash, sizeof d0.hash);
	}
	if (want_msgs < 0)
		return;
	for (unsigned s = 0; s < F.nst; s++)
		ASSERT_OK(store_run(F.st[s], db, 0, job_count_check, &want_msgs));
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_replicated_writes(void)
{
	fake_start(NSTORES);
	/* creation through store 1 (a CREATE entry), then appends spread over all stores */
	uint32_t prev = 0;
	for (int i = 0; i < 60; i++) {
		char body[64];
		snprintf(body, sizeof body, "message %d", i);
		uint32_t uid;
		append_on((unsigned)(i + 1) % NSTORES, body, &uid);
		ASSERT(uid > prev);
		prev = uid;
	}
	ASSERT_OK(store_run(F.st[2], STORE_DIRECTORY, 0, job_domain, "example.org"));
	ASSERT_ERR(store_run(F.st[0], STORE_DIRECTORY, 0, job_domain, "example.org"), MR_EEXIST);
	check_replicas(ACCT, 60);
	check_replicas(STORE_DIRECTORY, -1);
	/* a store that had not yet applied the previous entry conflicted and re-ran: allowed,
	 * but every write reached the log exactly once */
	ASSERT_EQ_INT(F.applied, 60 + 1 + 1);
	/* every store records the same index for the account: the last entry's */
	uint64_t ix = store_repl_index(F.st[0], ACCT);
	ASSERT(ix > 0);
	for (unsigned s = 1; s < NSTORES; s++)
		ASSERT_EQ_INT((long)store_repl_index(F.st[s], ACCT), (long)ix);
	/* read-only jobs propose nothing */
	unsigned before = F.applied;
	ASSERT_OK(store_run(F.st[1], ACCT, 0, job_none, NULL));
	ASSERT_EQ_INT(F.applied, before);
	fake_stop();
}

struct writer {
	unsigned store, count, base;
	int failures;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (unsigned i = 0; i < w->count; i++) {
		struct app a = {.uid = 0};
		snprintf(a.body, sizeof a.body, "w%u-%u", w->base, i);
		if (store_run(F.st[w->store], ACCT, 0, job_append, &a) != 0 || a.uid == 0)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent_conflicts(void)
{
	fake_start(NSTORES);
	F.delay_us = 300; /* a slow log: concurrent proposals overlap */
	append_on(0, "first", NULL);
	struct writer w[2] = {{.store = 1, .count = 40, .base = 1},
	                      {.store = 2, .count = 40, .base = 2}};
	pthread_t thr[2];
	for (int i = 0; i < 2; i++)
		ASSERT_EQ_INT(pthread_create(&thr[i], NULL, writer_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(thr[i], NULL);
	ASSERT_EQ_INT(w[0].failures, 0);
	ASSERT_EQ_INT(w[1].failures, 0);
	ASSERT(F.conflicts > 0); /* they did collide, and retried to success */
	check_replicas(ACCT, 81);
	fake_stop();
}

static void test_unknown_outcome(void)
{
	fake_start(2);
	append_on(0, "first", NULL);
	/* lost before the log: the job re-runs and its message is there once */
	pthread_mutex_lock(&F.mu);
	F.mode = FAKE_DROP_UNKNOWN;
	pthread_mutex_unlock(&F.mu);
	struct app a = {.uid = 0};
	snprintf(a.body, sizeof a.body, "dropped-once");
	ASSERT_OK(store_run(F.st[1], ACCT, 0, job_append, &a));
	ASSERT(a.runs >= 2);
	ASSERT_EQ_INT(a.uid, 2);
	/* committed but acknowledged as unknown: never applied twice */
	pthread_mutex_lock(&F.mu);
	F.mode = FAKE_LATE_ACK;
	pthread_mutex_unlock(&F.mu);
	struct app b = {.uid = 0};
	snprintf(b.body, sizeof b.body, "late-ack");
	ASSERT_OK(store_run(F.st[1], ACCT, 0, job_append, &b));
	ASSERT_EQ_INT(F.unknowns, 2);
	check_replicas(ACCT, 3);
	append_on(0, "after", NULL);
	check_replicas(ACCT, 4);
	fake_stop();
}

static unsigned hooks[NSTORES];

static void on_commit(const char *db, void *ud)
{
	if (strcmp(db, ACCT) == 0)
		hooks[(uintptr_t)ud]++;
}

/* The commit hook (IMAP IDLE wake-up) fires on every store, for the proposer's promote and
 * for the pages the others applied. */
static void test_commit_hook_everywhere(void)
{
	uv_loop_t lp[2];
	for (unsigned s = 0; s < 2; s++) {
		ASSERT_OK(uv_loop_init(&lp[s]));
		loops[s] = &lp[s];
	}
	fake_start(2);
	for (unsigned s = 0; s < 2; s++)
		store_set_commit_hook(F.st[s], on_commit, (void *)(uintptr_t)s);
	append_on(0, "one", NULL); /* creation + first message */
	append_on(1, "two", NULL);
	append_on(0, "three", NULL);
	for (int i = 0; i < 200 && (hooks[0] < 4 || hooks[1] < 4); i++) {
		for (unsigned s = 0; s < 2; s++)
			uv_run(&lp[s], UV_RUN_NOWAIT);
		usleep(5000);
	}
	/* per store: the CREATE note + three applied/promoted entries (conflict re-runs of a
	 * stale store add none: aborted transactions do not fire it) */
	ASSERT_EQ_INT(hooks[0], 4);
	ASSERT_EQ_INT(hooks[1], 4);
	fake_stop();
	for (unsigned s = 0; s < 2; s++) {
		uv_run(&lp[s], UV_RUN_NOWAIT);
		ASSERT_OK(uv_loop_close(&lp[s]));
		loops[s] = NULL;
	}
}

/* Without a replicator nothing changes: commits are local, no capture. */
static void test_off_by_default(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_domain, "example.org"));
	ASSERT_EQ_INT((long)store_repl_index(st, STORE_DIRECTORY), 0);
	store_close(&st);
}


/* ---- group commit (STORE_GROUP) ------------------------------------------------------------ */

static struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool entered, open;
} G = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

/* Holds its actor until the test opens the gate: the jobs submitted meanwhile queue up. */
static int job_gate(struct store_db *db, void *arg)
{
	(void)db, (void)arg;
	pthread_mutex_lock(&G.mu);
	G.entered = true;
	pthread_cond_broadcast(&G.cond);
	while (!G.open)
		pthread_cond_wait(&G.cond, &G.mu);
	pthread_mutex_unlock(&G.mu);
	return 0;
}

struct gjob {
	struct app a;
	bool fail; /* insert, then fail: the job's own savepoint must vanish */
	int rv;
	bool done;
};

static int job_group_member(struct store_db *db, void *arg)
{
	struct gjob *g = arg;
	if (!g->fail)
		return job_append(db, &g->a);
	int rv = store_tx_begin(db);
	if (rv == 0)
		rv = mbox_append(db, "INBOX", "", 1700000000, (const uint8_t *)g->a.body,
		                 strlen(g->a.body), NULL, NULL, &g->a.uid);
	return rv == 0 ? MR_EINVAL : rv; /* leaves its savepoint open: the store rolls it back */
}

static void gjob_done(void *arg, int rv)
{
	struct gjob *g = arg;
	g->rv = rv;
	g->done = true;
}

/* Hold the account's actor, queue jobs[i] (group or not by grouped[i]), open the gate, run the
 * loop until every job is done. */
static void run_gated(uv_loop_t *lp, struct gjob *jobs, const bool *grouped, size_t n)
{
	G.entered = G.open = false;
	ASSERT_OK(store_submit(F.st[0], ACCT, 0, job_gate, NULL, NULL));
	pthread_mutex_lock(&G.mu);
	while (!G.entered)
		pthread_cond_wait(&G.cond, &G.mu);
	pthread_mutex_unlock(&G.mu);
	for (size_t i = 0; i < n; i++)
		ASSERT_OK(store_submit(F.st[0], ACCT, grouped[i] ? STORE_GROUP : 0,
		                       job_group_member, gjob_done, &jobs[i]));
	pthread_mutex_lock(&G.mu);
	G.open = true;
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.mu);
	for (int t = 0; t < 1000; t++) {
		uv_run(lp, UV_RUN_NOWAIT);
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += jobs[i].done;
		if (done == n)
			return;
		usleep(2000);
	}
	unit_fail(__FILE__, __LINE__, "group jobs did not finish");
}

static void group_start(uv_loop_t *lp)
{
	ASSERT_OK(uv_loop_init(lp));
	loops[0] = lp;
	fake_start(2);
	append_on(0, "first", NULL); /* the account exists (uid 1) */
}

static void group_stop(uv_loop_t *lp)
{
	fake_stop();
	uv_run(lp, UV_RUN_NOWAIT);
	ASSERT_OK(uv_loop_close(lp));
	loops[0] = NULL;
}

/* Ten deliveries queued behind a busy actor commit as one entry; each gets its own UID, in
 * submission order; a failing member loses only its own changes. */
static void test_group_commit(void)
{
	uv_loop_t lp;
	group_start(&lp);
	struct gjob jobs[10];
	bool grouped[10];
	memset(jobs, 0, sizeof jobs);
	for (int i = 0; i < 10; i++) {
		snprintf(jobs[i].a.body, sizeof jobs[i].a.body, "grouped %d", i);
		grouped[i] = true;
	}
	jobs[4].fail = true;
	unsigned before = F.applied;
	run_gated(&lp, jobs, grouped, 10);
	ASSERT_EQ_INT(F.applied - before, 1);
	uint32_t prev = 1;
	for (int i = 0; i < 10; i++) {
		if (i == 4) {
			ASSERT_ERR(jobs[i].rv, MR_EINVAL);
			continue;
		}
		ASSERT_OK(jobs[i].rv);
		ASSERT(jobs[i].a.uid > prev);
		prev = jobs[i].a.uid;
	}
	/* the failed member's UID was rolled back with it and handed out again */
	check_replicas(ACCT, 10);
	group_stop(&lp);
}

/* A job without STORE_GROUP for the same database ends the group: order is kept. */
static void test_group_order(void)
{
	uv_loop_t lp;
	group_start(&lp);
	struct gjob jobs[4];
	memset(jobs, 0, sizeof jobs);
	const bool grouped[4] = {true, true, false, true};
	for (int i = 0; i < 4; i++)
		snprintf(jobs[i].a.body, sizeof jobs[i].a.body, "ordered %d", i);
	unsigned before = F.applied;
	run_gated(&lp, jobs, grouped, 4);
	ASSERT_EQ_INT(F.applied - before, 3); /* {0,1}, 2, 3 */
	for (int i = 0; i < 4; i++) {
		ASSERT_OK(jobs[i].rv);
		ASSERT_EQ_INT(jobs[i].a.uid, i + 2);
	}
	check_replicas(ACCT, 5);
	group_stop(&lp);
}

/* The group's entry is lost (outcome unknown) or commits after an "unknown" answer: the jobs
 * re-run one by one, and every message is there exactly once either way. */
static void test_group_unknown(void)
{
	uv_loop_t lp;
	group_start(&lp);
	static const enum fake_mode modes[] = {FAKE_DROP_UNKNOWN, FAKE_LATE_ACK};
	long want = 1;
	for (size_t m = 0; m < MR_ARRAY_LEN(modes); m++) {
		struct gjob jobs[5];
		bool grouped[5];
		memset(jobs, 0, sizeof jobs);
		for (int i = 0; i < 5; i++) {
			snprintf(jobs[i].a.body, sizeof jobs[i].a.body, "mode %zu job %d", m, i);
			grouped[i] = true;
		}
		pthread_mutex_lock(&F.mu);
		F.mode = modes[m];
		pthread_mutex_unlock(&F.mu);
		run_gated(&lp, jobs, grouped, 5);
		for (int i = 0; i < 5; i++)
			ASSERT_OK(jobs[i].rv);
		want += 5;
		check_replicas(ACCT, want);
	}
	ASSERT_EQ_INT(F.unknowns, 2);
	group_stop(&lp);
}

static const struct unit_test tests[] = {
    {"replicated_writes", test_replicated_writes},
    {"concurrent_conflicts", test_concurrent_conflicts},
    {"unknown_outcome", test_unknown_outcome},
    {"off_by_default", test_off_by_default},
    {"commit_hook_everywhere", test_commit_hook_everywhere},
    {"group_commit", test_group_commit},
    {"group_order", test_group_order},
    {"group_unknown", test_group_unknown},
    {NULL, NULL},
};

UNIT_MAIN(tests)

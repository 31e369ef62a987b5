/* test_engine.c - the replication engine (raft/cluster_engine.h) end to end in one process:
 * three cl_node instances over libraft's TCP transport on loopback, each with its own store
 * (same master key, byte-copied directory database) and state machine in its own temp data
 * dir; followers forward entries to the leader in-process. An account database is created by a
 * CREATE_DB entry through the leader, then writers on all three nodes append messages to it
 * concurrently (conflicts retry), and the leader is stopped mid-stream. Checks: identical
 * logical content on every running replica (row hash, integrity_check), UIDs 1..n without gaps
 * or reuse, every acknowledged write present exactly once, no write applied twice. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>

#include "common/err.h"
#include "dbtest.h"
#include "common/util.h"
#include "raft/cluster_engine.h"
#include "raft/cluster_entry.h"
#include "raft/cluster_fsm.h"
#include "storage/store.h"
#include "unit.h"

#define N 3
#define ACCT "a00000000000000aa"
#define PER_WRITER 67 /* 3 writers: 201 messages + the first */

struct enode {
	raft_id id;
	char addr[64], dir[512], logdir[600];
	struct raft_uv_transport transport;
	struct store *st;
	struct cl_engine *eng;
	struct cl_node *node;
	bool stopped;
};

static struct enode nodes[N];
static pthread_mutex_t nodes_mu = PTHREAD_MUTEX_INITIALIZER;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	socklen_t sl = sizeof sa;
	ASSERT(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static int tr_init(struct raft_uv_transport *t, uv_loop_t *loop, void *arg)
{
	(void)arg;
	return raft_uv_tcp_init(t, loop);
}

static void tr_close(struct raft_uv_transport *t, void *arg)
{
	(void)arg;
	raft_uv_tcp_close(t);
}

/* In-process stand-in for the nng req/rep forwarding RPC. */
static int forward(void *ud, raft_id leader, const char *leader_address, const void *buf,
                   size_t len, cl_apply_cb cb, void *cb_ud)
{
	(void)ud;
	(void)leader_address;
	if (leader < 1 || leader > N)
		return MR_ENOTLEADER;
	pthread_mutex_lock(&nodes_mu);
	struct cl_engine *e = nodes[leader - 1].stopped ? NULL : nodes[leader - 1].eng;
	int rv = e ? cl_engine_submit(e, buf, len, cb, cb_ud) : MR_ENOTLEADER;
	pthread_mutex_unlock(&nodes_mu);
	return rv;
}

static struct store *open_store(const char *dir)
{
	struct store_config cfg = {.data_dir = dir, .actors = 2, .pwcost = STORE_PWCOST_MIN};
	char err[256];
	struct store *st = NULL;
	int rv = store_open(&cfg, &st, err, sizeof err);
	if (rv != 0)
		unit_fail(__FILE__, __LINE__, "store_open: %s (%s)", err, mr_strerror(rv));
	return st;
}

/* Start (or restart) node i's raft runtime over its engine's state machine. */
static void start_node(unsigned i)
{
	struct cl_server servers[N];
	for (unsigned k = 0; k < N; k++)
		servers[k] = (struct cl_server){nodes[k].id, nodes[k].addr, CL_VOTER};
	struct enode *n = &nodes[i];
	struct cl_node_config cfg = {
	    .id = n->id,
	    .address = n->addr,
	    .dir = n->logdir,
	    .servers = servers,
	    .n_servers = N,
	    .election_timeout_ms = 500,
	    .heartbeat_ms = 100,
	    .snapshot_threshold = 100000,
	    .connect_retry_ms = 100,
	    .transport = &n->transport,
	    .transport_init = tr_init,
	    .transport_close = tr_close,
	    .fsm = cl_engine_fsm(n->eng),
	    .attach = cl_engine_attach,
	    .attach_arg = n->eng,
	};
	ASSERT_OK(cl_node_start(&cfg, &n->node));
	cl_engine_set_node(n->eng, n->node);
	pthread_mutex_lock(&nodes_mu);
	n->stopped = false;
	pthread_mutex_unlock(&nodes_mu);
}

static void cluster_start(void)
{
	signal(SIGPIPE, SIG_IGN);
	memset(nodes, 0, sizeof nodes);
	for (unsigned i = 0; i < N; i++) {
		struct enode *n = &nodes[i];
		n->id = i + 1;
		snprintf(n->addr, sizeof n->addr, "127.0.0.1:%u", free_port());
		snprintf(n->dir, sizeof n->dir, "%s/node%u", unit_tmpdir(), i + 1);
		snprintf(n->logdir, sizeof n->logdir, "%s/node%u/log", unit_tmpdir(), i + 1);
	}
	/* node 1 creates the master key and the directory; the others get byte copies */
	struct store *st = open_store(nodes[0].dir);
	store_close(&st);
	static const char *const files[] = {"master.key", "db/directory.db", "db/directory.key"};
	for (unsigned i = 1; i < N; i++) {
		char p[700], q[700];
		ASSERT_OK(mkdir(nodes[i].dir, 0700));
		snprintf(q, sizeof q, "%s/db", nodes[i].dir);
		ASSERT_OK(mkdir(q, 0700));
		for (size_t f = 0; f < MR_ARRAY_LEN(files); f++) {
			snprintf(p, sizeof p, "%s/%s", nodes[0].dir, files[f]);
			snprintf(q, sizeof q, "%s/%s", nodes[i].dir, files[f]);
			ASSERT_OK(copy_file(p, q));
		}
	}
	for (unsigned i = 0; i < N; i++) {
		struct enode *n = &nodes[i];
		n->st = open_store(n->dir);
		struct cl_engine_config ec = {
		    .store = n->st, .data_dir = n->dir, .forward = forward};
		ASSERT_OK(cl_engine_open(&ec, &n->eng));
		start_node(i);
	}
}
/* Index of the leader every running node agrees on (leader_ready), or -1 after timeout. */
static int wait_leader(unsigned timeout_ms)
{
	uint64_t end = mr_now_ms() + timeout_ms;
	do {
		int leader = -1;
		struct cl_status s;
		for (unsigned i = 0; i < N; i++)
			if (!nodes[i].stopped && cl_node_status(nodes[i].node, &s) == 0 &&
			    s.leader_ready)
				leader = (int)i;
		bool agreed = leader >= 0;
		for (unsigned i = 0; agreed && i < N; i++)
			if (!nodes[i].stopped && (cl_node_status(nodes[i].node, &s) != 0 ||
			                          s.leader_id != nodes[leader].id))
				agreed = false;
		if (agreed)
			return leader;
		sleep_ms(10);
	} while (mr_now_ms() < end);
	return -1;
}

static void stop_node(unsigned i)
{
	pthread_mutex_lock(&nodes_mu);
	nodes[i].stopped = true;
	pthread_mutex_unlock(&nodes_mu);
	cl_engine_set_node(nodes[i].eng, NULL);
	cl_node_stop(&nodes[i].node);
}

static void cluster_stop(void)
{
	for (unsigned i = 0; i < N; i++)
		if (!nodes[i].stopped)
			stop_node(i);
	for (unsigned i = 0; i < N; i++) {
		cl_engine_close(&nodes[i].eng);
		store_close(&nodes[i].st);
	}
}

/* ---- jobs and checks ----------------------------------------------------------------------- */

struct app {
	char body[64];
	uint32_t uid;
};

static int job_append(struct store_db *db, void *arg)
{
	struct app *p = arg;
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

static long count_q(sqlite3 *sql, const char *q, const char *bind)
{
	sqlite3_stmt *s = NULL;
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql, q, -1, &s, NULL), SQLITE_OK);
	if (bind)
		sqlite3_bind_blob(s, 1, bind, (int)strlen(bind), SQLITE_TRANSIENT);
	ASSERT_EQ_INT(sqlite3_step(s), SQLITE_ROW);
	long n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

struct replica_summary {
	uint8_t hash[32];
	long msgs, distinct_uid, distinct_raw, max_uid, uidnext;
	char integrity[64];
};

static void hash_q(sqlite3 *sql, const char *q, crypto_generichash_state *h)
{
	sqlite3_stmt *s = NULL;
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql, q, -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(s); c++) {
			const void *p = sqlite3_column_blob(s, c);
			int n = sqlite3_column_bytes(s, c);
			uint8_t tag[2] = {(uint8_t)sqlite3_column_type(s, c), (uint8_t)n};
			crypto_generichash_update(h, tag, sizeof tag);
			if (p && n > 0)
				crypto_generichash_update(h, p, (size_t)n);
		}
	}
	sqlite3_finalize(s);
}

static int job_replica_summary(struct store_db *db, void *arg)
{
	struct replica_summary *m = arg;
	sqlite3 *sql = store_db_sql(db);
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, sizeof m->hash);
	hash_q(sql, "SELECT * FROM folders ORDER BY id", &h);
	hash_q(sql, "SELECT * FROM messages ORDER BY id", &h);
	hash_q(sql, "SELECT * FROM bodies ORDER BY id", &h);
	hash_q(sql, "SELECT * FROM meta ORDER BY k", &h);
	crypto_generichash_final(&h, m->hash, sizeof m->hash);
	m->msgs = count_q(sql, "SELECT count(*) FROM messages", NULL);
	m->distinct_uid = count_q(sql, "SELECT count(DISTINCT uid) FROM messages", NULL);
	m->distinct_raw = count_q(sql, "SELECT count(DISTINCT raw) FROM bodies", NULL);
	m->max_uid = count_q(sql, "SELECT coalesce(max(uid), 0) FROM messages", NULL);
	m->uidnext = count_q(sql, "SELECT uidnext FROM folders WHERE name = 'INBOX'", NULL);
	sqlite3_stmt *s = NULL;
	ASSERT_EQ_INT(sqlite3_prepare_v2(sql, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	ASSERT_EQ_INT(sqlite3_step(s), SQLITE_ROW);
	snprintf(m->integrity, sizeof m->integrity, "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return 0;
}

struct acked {
	pthread_mutex_t mu;
	char (*bodies)[64];
	size_t n;
};

static int job_has_body(struct store_db *db, void *arg)
{
	return (int)count_q(store_db_sql(db), "SELECT count(*) FROM bodies WHERE raw = ?", arg);
}

/* Wait until every running replica has the same content; returns node 0's (or the first
 * running node's) summary. */
static void converge(struct replica_summary *ref, unsigned timeout_ms)
{
	uint64_t end = mr_now_ms() + timeout_ms;
	for (;;) {
		struct replica_summary m[N];
		int first = -1;
		bool same = true;
		for (unsigned i = 0; i < N; i++) {
			if (nodes[i].stopped)
				continue;
			ASSERT_OK(store_run(nodes[i].st, ACCT, 0, job_replica_summary, &m[i]));
			if (first < 0)
				first = (int)i;
			else if (memcmp(m[i].hash, m[first].hash, sizeof m[i].hash) != 0)
				same = false;
		}
		if (same) {
			*ref = m[first];
			return;
		}
		if (mr_now_ms() > end)
			unit_fail(__FILE__, __LINE__, "replicas did not converge");
		sleep_ms(50);
	}
}

static void check_sane(const struct replica_summary *m, long want)
{
	ASSERT_EQ_STR(m->integrity, "ok");
	ASSERT_EQ_INT(m->msgs, want);
	ASSERT_EQ_INT(m->distinct_uid, want);
	ASSERT_EQ_INT(m->distinct_raw, want); /* none applied twice */
	ASSERT_EQ_INT(m->max_uid, want);      /* UIDs 1..n: increasing, no reuse */
	ASSERT_EQ_INT(m->uidnext, want + 1);
}

/* ---- writers ------------------------------------------------------------------------------- */

struct writer {
	unsigned node, count;
	struct acked *acked;
	volatile bool *stop_on; /* writer stops when *stop_on (its node was stopped) */
	unsigned failures;
	uint32_t last_uid;
	bool uid_order_bad;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (unsigned i = 0; i < w->count; i++) {
		if (w->stop_on && *w->stop_on)
			break;
		struct app a = {.uid = 0};
		snprintf(a.body, sizeof a.body, "node%u-msg%u", w->node + 1, i);
		int rv = store_run(nodes[w->node].st, ACCT, 0, job_append, &a);
		if (rv != 0) {
			w->failures++;
			continue;
		}
		if (a.uid <= w->last_uid)
			w->uid_order_bad = true; /* a later acknowledged append got a smaller UID */
		w->last_uid = a.uid;
		pthread_mutex_lock(&w->acked->mu);
		snprintf(w->acked->bodies[w->acked->n++], 64, "%s", a.body);
		pthread_mutex_unlock(&w->acked->mu);
	}
	return NULL;
}

static void create_account(int leader)
{
	struct app a = {.uid = 0};
	snprintf(a.body, sizeof a.body, "first");
	ASSERT_OK(store_run(nodes[leader].st, ACCT, STORE_CREATE, job_append, &a));
	ASSERT_EQ_INT(a.uid, 1);
	uint64_t end = mr_now_ms() + 10000;
	for (unsigned i = 0; i < N; i++)
		while (!store_exists(nodes[i].st, ACCT)) {
			ASSERT(mr_now_ms() < end);
			sleep_ms(10);
		}
}

static void test_three_nodes(void)
{
	cluster_start();
	int leader = wait_leader(10000);
	ASSERT(leader >= 0);
	create_account(leader);
	struct acked acked = {.bodies = xcalloc(N * PER_WRITER + 1, 64)};
	pthread_mutex_init(&acked.mu, NULL);
	struct writer w[N];
	pthread_t thr[N];
	for (unsigned i = 0; i < N; i++) {
		w[i] = (struct writer){.node = i, .count = PER_WRITER, .acked = &acked};
		ASSERT_EQ_INT(pthread_create(&thr[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < N; i++)
		pthread_join(thr[i], NULL);
	for (unsigned i = 0; i < N; i++) {
		ASSERT_EQ_INT(w[i].failures, 0);
		ASSERT(!w[i].uid_order_bad);
	}
	ASSERT_EQ_INT(acked.n, N * PER_WRITER);
	struct replica_summary m;
	converge(&m, 15000);
	check_sane(&m, (long)acked.n + 1);
	uint64_t conflicts = 0, forwarded = 0;
	for (unsigned i = 0; i < N; i++) {
		struct cl_engine_stats s;
		cl_engine_get_stats(nodes[i].eng, &s);
		conflicts += s.conflicts;
		forwarded += s.forwarded;
		fprintf(stderr, "node%u proposed=%llu forwarded=%llu conflicts=%llu unknown=%llu\n",
		        i + 1, (unsigned long long)s.proposed, (unsigned long long)s.forwarded,
		        (unsigned long long)s.conflicts, (unsigned long long)s.unknown);
	}
	ASSERT(forwarded > 0); /* followers proposed through the leader */
	ASSERT(conflicts > 0); /* concurrent writers to one account did collide, and retried */
	/* store_drop on a follower becomes a DELETE_DB entry: gone on every node */
	unsigned follower = (unsigned)(leader + 1) % N;
	ASSERT_OK(store_drop(nodes[follower].st, ACCT));
	uint64_t end = mr_now_ms() + 10000;
	for (unsigned i = 0; i < N; i++)
		while (store_exists(nodes[i].st, ACCT)) {
			ASSERT(mr_now_ms() < end);
			sleep_ms(10);
		}
	/* the files go first (state machine), then the store closes its connection (note): wait
	 * for both instead of racing the note */
	int rv;
	while ((rv = store_run(nodes[leader].st, ACCT, 0, job_replica_summary, &m)) != MR_ENOTFOUND) {
		ASSERT(mr_now_ms() < end);
		sleep_ms(10);
	}
	ASSERT_ERR(rv, MR_ENOTFOUND);
	cluster_stop();
	free(acked.bodies);
}

static void test_leader_stopped(void)
{
	cluster_start();
	int leader = wait_leader(10000);
	ASSERT(leader >= 0);
	create_account(leader);
	struct acked acked = {.bodies = xcalloc(N * PER_WRITER + 1, 64)};
	pthread_mutex_init(&acked.mu, NULL);
	volatile bool killed = false;
	struct writer w[N];
	pthread_t thr[N];
	for (unsigned i = 0; i < N; i++) {
		w[i] = (struct writer){.node = i, .count = PER_WRITER / 2, .acked = &acked};
		if ((int)i == leader)
			w[i].stop_on = &killed;
		ASSERT_EQ_INT(pthread_create(&thr[i], NULL, writer_main, &w[i]), 0);
	}
	/* mid-stream: once some writes are acknowledged */
	uint64_t end = mr_now_ms() + 20000;
	for (;;) {
		pthread_mutex_lock(&acked.mu);
		size_t n = acked.n;
		pthread_mutex_unlock(&acked.mu);
		if (n >= 20)
			break;
		ASSERT(mr_now_ms() < end);
		sleep_ms(5);
	}
	killed = true;
	stop_node((unsigned)leader);
	for (unsigned i = 0; i < N; i++)
		pthread_join(thr[i], NULL);
	for (unsigned i = 0; i < N; i++)
		if ((int)i != leader)
			ASSERT_EQ_INT(w[i].failures, 0); /* survivors ride through the election */
	ASSERT(wait_leader(10000) >= 0);
	struct replica_summary m;
	converge(&m, 15000);
	/* every acknowledged write is there exactly once; unacknowledged ones at most once */
	for (size_t k = 0; k < acked.n; k++)
		for (unsigned i = 0; i < N; i++)
			if (!nodes[i].stopped)
				ASSERT_EQ_INT(
				    store_run(nodes[i].st, ACCT, 0, job_has_body, acked.bodies[k]),
				    1);
	ASSERT(m.msgs >= (long)acked.n + 1);
	check_sane(&m, m.msgs);
	/* the stopped leader restarts (log replay over its state machine, then catch-up): it
	 * converges to the same content, and takes writes again */
	start_node((unsigned)leader);
	ASSERT(wait_leader(10000) >= 0);
	struct app a = {.uid = 0};
	snprintf(a.body, sizeof a.body, "after-restart");
	ASSERT_OK(store_run(nodes[leader].st, ACCT, 0, job_append, &a));
	ASSERT_EQ_INT(a.uid, (long)m.msgs + 1);
	struct replica_summary m2;
	converge(&m2, 15000);
	check_sane(&m2, m.msgs + 1);
	cluster_stop();
	free(acked.bodies);
}

/* The state machine's deterministic validation, without raft: a FRAMES set applies only on
 * the base index it was built on. */
static void test_fsm_base_check(void)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/fsm", unit_tmpdir());
	struct cl_fsm *fsm = NULL;
	struct cl_fsm_config fc = {.data_dir = dir};
	ASSERT_OK(cl_fsm_open(&fc, &fsm));
	static uint8_t page[CL_PAGE_SIZE];
	const uint8_t *pv[1] = {page};
	uint32_t pg[1] = {1};
	uint8_t key[72] = {1};
	struct cl_entry c = {.type = CL_ENTRY_CREATE_DB, .n_sets = 1};
	snprintf(c.sets[0].db, CL_DBNAME_MAX, "abc");
	c.sets[0] = (struct cl_frames){.db = "abc",
	                               .db_size = 1,
	                               .n = 1,
	                               .pgno = pg,
	                               .pages = pv,
	                               .key_file = key,
	                               .key_file_len = sizeof key};
	struct raft_buffer b;
	ASSERT_OK(cl_entry_encode(&c, &b));
	ASSERT_OK(cl_fsm_apply_at(fsm, 1, b.base, b.len));
	raft_free(b.base);
	struct cl_entry f = {.type = CL_ENTRY_FRAMES, .token = 7, .n_sets = 1};
	f.sets[0] = (struct cl_frames){.db = "abc",
	                               .db_size = 1,
	                               .n = 1,
	                               .pgno = pg,
	                               .pages = pv,
	                               .has_base = true,
	                               .base_index = 1};
	ASSERT_OK(cl_entry_encode(&f, &b));
	ASSERT_OK(cl_fsm_apply_at(fsm, 2, b.base, b.len)); /* base 1 == applied 1: applies */
	raft_free(b.base);
	uint64_t ix = 0;
	ASSERT_OK(cl_fsm_db_index(fsm, "abc", &ix));
	ASSERT_EQ_INT((long)ix, 2);
	f.token = 8; /* built on the same base: loses */
	ASSERT_OK(cl_entry_encode(&f, &b));
	ASSERT_OK(cl_fsm_apply_at(fsm, 3, b.base, b.len));
	raft_free(b.base);
	ASSERT_OK(cl_fsm_db_index(fsm, "abc", &ix));
	ASSERT_EQ_INT((long)ix, 2);
	ASSERT(cl_fsm_token_seen(fsm, "abc", 7));
	ASSERT(!cl_fsm_token_seen(fsm, "abc", 8));
	struct cl_fsm_stats s;
	cl_fsm_get_stats(fsm, &s);
	ASSERT_EQ_INT((long)s.rejected, 1);
	cl_fsm_close(&fsm);
}

static const struct unit_test tests[] = {
    {"fsm_base_check", test_fsm_base_check},
    {"three_nodes", test_three_nodes},
    {"leader_stopped", test_leader_stopped},
    {NULL, NULL},
};

UNIT_MAIN(tests)

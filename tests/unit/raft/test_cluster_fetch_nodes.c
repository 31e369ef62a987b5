/* test_cluster_fetch_nodes.c - the database fetch (raft/cluster_fetch.h) on its production path:
 * two real raft nodes (cl_node over libraft's TCP transport on loopback, each with its own
 * store and state machine), the member RPC with mutual TLS on raft port + 1, and both sides'
 * fetch modules posting their work to their raft threads. Node S creates a real account
 * database through the log, rewrites it at a later index, keeps newer rows of its own in the
 * -wal, and compacts its log with snapshots; then an empty node C joins (add + standby): it
 * installs S's snapshot, its state machine marks the database "needs fetch", and C's fetcher
 * pulls it from the leader. Checks: the flag clears, C's state machine and store record the
 * database's index, and C's copy opens with the key with S's exact rows (integrity "ok").
 * snapshot_catch_up drives bare state machines with hand-made entries; engine_catch_up runs the
 * replication engine on both nodes (replicated commits, forwarding) and also checks that S's
 * later writes apply on C over the fetched copy and that C's own writes commit. */
#include "fetch_helpers.h"
#include "raft/cluster_engine.h"

/* ---- real nodes: a new member catches up through a snapshot --------------------------------- */

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;
	int status;
	uint64_t index;
	int result;
};

static void done_init(struct done *d)
{
	memset(d, 0, sizeof *d);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cond, NULL);
}

static void done_set(struct done *d, int status, const struct cl_fsm_result *r)
{
	pthread_mutex_lock(&d->mu);
	d->status = status;
	if (status == 0 && r) {
		d->index = r->index;
		d->result = (int)r->result;
	}
	d->done = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->mu);
}

static void on_apply(void *ud, int status, void *result)
{
	done_set(ud, status, result);
}

static void on_done(void *ud, int status)
{
	done_set(ud, status, NULL);
}

static int done_wait(struct done *d)
{
	uint64_t end = mr_now_ms() + 20000;
	pthread_mutex_lock(&d->mu);
	while (!d->done && mr_now_ms() < end) {
		pthread_mutex_unlock(&d->mu);
		sleep_ms(5);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	ASSERT(d->done);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cond);
	return d->status;
}

/* Propose an entry on node (the leader) and wait until it applied; returns its index. */
static uint64_t propose(struct cl_node *node, const struct cl_entry *e)
{
	struct raft_buffer buf;
	ASSERT_OK(cl_entry_encode(e, &buf));
	struct done d;
	done_init(&d);
	ASSERT_OK(cl_node_apply(node, buf.base, buf.len, on_apply, &d));
	raft_free(buf.base);
	ASSERT_OK(done_wait(&d));
	ASSERT_EQ_INT(d.result, CL_APPLY_OK);
	return d.index;
}

/* A CREATE_DB (base 0) or FRAMES (base > 0) entry with every page of ACCT's file on S. */
static uint64_t propose_file(struct cl_node *node, uint64_t base)
{
	size_t len, klen = 0;
	uint8_t *data = slurp(dbfile(&S, ".db"), &len);
	uint8_t *key = base == 0 ? slurp(dbfile(&S, ".key"), &klen) : NULL;
	uint32_t n = (uint32_t)(len / CL_PAGE_SIZE);
	uint32_t *pgno = xcalloc(n, sizeof *pgno);
	const uint8_t **pv = xcalloc(n, sizeof *pv);
	for (uint32_t i = 0; i < n; i++) {
		pgno[i] = i + 1;
		pv[i] = data + (size_t)i * CL_PAGE_SIZE;
	}
	struct cl_entry e = {.type = base ? CL_ENTRY_FRAMES : CL_ENTRY_CREATE_DB, .n_sets = 1};
	struct cl_frames *set = &e.sets[0];
	snprintf(set->db, sizeof set->db, "%s", ACCT);
	*set = (struct cl_frames){.db_size = n,
	                          .n = n,
	                          .pgno = pgno,
	                          .pages = pv,
	                          .key_file = key,
	                          .key_file_len = klen,
	                          .has_base = base != 0,
	                          .base_index = base};
	snprintf(set->db, sizeof set->db, "%s", ACCT);
	uint64_t ix = propose(node, &e);
	free(pgno);
	free(pv);
	free(data);
	free(key);
	return ix;
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

static void attach_fsm(struct raft *r, void *fsm)
{
	cl_fsm_attach(fsm, r);
}

struct rnode {
	struct side *side;
	char addr[64], rpc_addr[CL_ADDRESS_MAX + 1], logdir[600];
	struct raft_uv_transport tr;
	struct cl_node *node;
};

static void rnode_start(struct rnode *n, raft_id id, bool bootstrap)
{
	struct cl_server self = {id, n->addr, CL_VOTER};
	struct cl_node_config cfg = {
	    .id = id,
	    .address = n->addr,
	    .dir = n->logdir,
	    .servers = bootstrap ? &self : NULL,
	    .n_servers = bootstrap ? 1 : 0,
	    .election_timeout_ms = 500,
	    .heartbeat_ms = 50,
	    .snapshot_threshold = 4,
	    .snapshot_trailing = 2,
	    .connect_retry_ms = 100,
	    .transport = &n->tr,
	    .transport_init = tr_init,
	    .transport_close = tr_close,
	    .fsm = cl_fsm_raft_fsm(n->side->fsm),
	    .attach = attach_fsm,
	    .attach_arg = n->side->fsm,
	};
	ASSERT_OK(cl_node_start(&cfg, &n->node));
}

struct fsm_query {
	struct cl_fsm *fsm;
	struct done d;
	bool needs;
	uint64_t index;
	int rv;
};

static void query_work(struct cl_node *node, void *arg)
{
	(void)node;
	struct fsm_query *q = arg;
	q->needs = needs_fetch(q->fsm);
	q->rv = cl_fsm_db_index(q->fsm, ACCT, &q->index);
	done_set(&q->d, 0, NULL);
}

/* C: a new, empty member (master key and directory only) */
static void new_member_files(void)
{
	ASSERT_OK(mkdir(C.dir, 0700));
	char p[800], q[800];
	snprintf(q, sizeof q, "%s/db", C.dir);
	ASSERT_OK(mkdir(q, 0700));
	static const char *const files[] = {"master.key", "db/directory.db", "db/directory.key"};
	for (size_t i = 0; i < MR_ARRAY_LEN(files); i++) {
		snprintf(p, sizeof p, "%s/%s", S.dir, files[i]);
		snprintf(q, sizeof q, "%s/%s", C.dir, files[i]);
		ASSERT_OK(copy_file(p, q));
	}
}

static void test_snapshot_catch_up(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct rnode ns = {.side = &S}, nc = {.side = &C};
	snprintf(S.dir, sizeof S.dir, "%s/s", unit_tmpdir());
	snprintf(C.dir, sizeof C.dir, "%s/c", unit_tmpdir());
	uint16_t ports[2];
	for (unsigned i = 0; i < 2; i++) {
		do
			ports[i] = (uint16_t)helper_free_port();
		while (ports[i] == 65535 || (i == 1 && abs((int)ports[1] - (int)ports[0]) < 2));
	}
	snprintf(ns.addr, sizeof ns.addr, "127.0.0.1:%u", ports[0]);
	snprintf(nc.addr, sizeof nc.addr, "127.0.0.1:%u", ports[1]);
	ASSERT_OK(cl_rpc_address(ns.addr, ns.rpc_addr));
	snprintf(ns.logdir, sizeof ns.logdir, "%s/raft/log", S.dir);
	snprintf(nc.logdir, sizeof nc.logdir, "%s/raft/log", C.dir);
	/* S: a real account database, created through the log */
	S.st = open_store(S.dir);
	append_n(S.st, STORE_CREATE, 0, 5);
	store_close(&S.st);
	open_fsm(&S);
	rnode_start(&ns, 1, true);
	uint64_t end = mr_now_ms() + 10000;
	struct cl_status stt;
	while (!(cl_node_status(ns.node, &stt) == 0 && stt.leader_ready) && mr_now_ms() < end)
		sleep_ms(10);
	ASSERT(stt.leader_ready);
	uint64_t i1 = propose_file(ns.node, 0);
	S.st = open_store(S.dir);
	append_n(S.st, 0, 5, 20);
	ASSERT_OK(store_repl_checkpoint(S.st, ACCT, NULL));
	uint64_t i2 = propose_file(ns.node, i1); /* the same bytes, now at index i2 */
	append_n(S.st, 0, 25, 3);                /* S's own newest rows, in its -wal */
	struct summary ref;
	summary_of(S.st, &ref);
	for (unsigned i = 0; i < 12; i++) { /* snapshots, and a log compacted past i2 */
		struct cl_entry noop = {.type = CL_ENTRY_NOOP};
		(void)propose(ns.node, &noop);
	}
	struct cl_pki pki_s, pki_c;
	helper_creds("ca", 1, &pki_s);
	helper_creds("ca", 2, &pki_c);
	struct cl_fetch *fs = NULL, *fc = NULL;
	struct cl_fetch_config cs = {.data_dir = S.dir, .store = S.st, .fsm = S.fsm};
	ASSERT_OK(cl_fetch_open(&cs, &fs));
	cl_fetch_set_node(fs, ns.node);
	static const struct cl_rpc_handler table[] = {
	    {CL_RPC_FETCH, false, cl_fetch_server_handler},
	};
	struct cl_rpc_server *srv = NULL;
	ASSERT_OK(cl_rpc_server_start(ns.rpc_addr, &pki_s, table, 1, fs, &srv));

	new_member_files();
	C.st = open_store(C.dir);
	open_fsm(&C);
	rnode_start(&nc, 2, false);
	struct cl_rpc_client *client = NULL;
	ASSERT_OK(cl_rpc_client_open(&pki_c, &client));
	struct cl_fetch_config cc = {.data_dir = C.dir,
	                             .store = C.st,
	                             .fsm = C.fsm,
	                             .call = cl_fetch_rpc_call,
	                             .call_ud = client,
	                             .poll_ms = 100};
	ASSERT_OK(cl_fetch_open(&cc, &fc));
	cl_fetch_set_node(fc, nc.node);
	struct done d;
	done_init(&d);
	ASSERT_OK(cl_node_add(ns.node, 2, nc.addr, on_done, &d));
	ASSERT_OK(done_wait(&d));
	done_init(&d);
	ASSERT_OK(cl_node_assign(ns.node, 2, CL_STANDBY, on_done, &d));
	ASSERT_OK(done_wait(&d));
	wait_fetched(fc, 30000);

	struct fsm_query fq = {.fsm = C.fsm};
	done_init(&fq.d);
	ASSERT_OK(cl_node_post(nc.node, query_work, &fq));
	(void)done_wait(&fq.d);
	ASSERT(!fq.needs);
	ASSERT_OK(fq.rv);
	ASSERT_EQ_INT(fq.index, i2);
	ASSERT_EQ_INT(store_repl_index(C.st, ACCT), i2);
	struct summary got;
	summary_of(C.st, &got);
	ASSERT_EQ_INT(got.msgs, 28);
	ASSERT_EQ_MEM(got.hash, sizeof got.hash, ref.hash, sizeof ref.hash);

	cl_rpc_server_stop(&srv);
	cl_fetch_set_node(fs, NULL);
	cl_fetch_set_node(fc, NULL);
	cl_node_stop(&nc.node);
	cl_node_stop(&ns.node);
	cl_fetch_close(&fc);
	cl_fetch_close(&fs);
	cl_rpc_client_close(&client);
	cl_pki_free(&pki_s);
	cl_pki_free(&pki_c);
	teardown();
}

/* ---- the same with the replication engine on both nodes ------------------------------------ */

static struct cl_engine *engine_s;

/* In-process stand-in for forwarding to the leader (always S here). */
static int forward_to_s(void *ud, raft_id leader, const char *leader_address,
                        const void *buf, size_t len, cl_apply_cb cb, void *cb_ud)
{
	(void)ud;
	(void)leader_address;
	return leader == 1 ? cl_engine_submit(engine_s, buf, len, cb, cb_ud) : MR_ENOTLEADER;
}

static void rnode_start_engine(struct rnode *n, struct cl_engine *e, raft_id id, bool bootstrap)
{
	struct cl_server self = {id, n->addr, CL_VOTER};
	struct cl_node_config cfg = {
	    .id = id,
	    .address = n->addr,
	    .dir = n->logdir,
	    .servers = bootstrap ? &self : NULL,
	    .n_servers = bootstrap ? 1 : 0,
	    .election_timeout_ms = 500,
	    .heartbeat_ms = 50,
	    .snapshot_threshold = 4,
	    .snapshot_trailing = 2,
	    .connect_retry_ms = 100,
	    .transport = &n->tr,
	    .transport_init = tr_init,
	    .transport_close = tr_close,
	    .fsm = cl_engine_fsm(e),
	    .attach = cl_engine_attach,
	    .attach_arg = e,
	};
	ASSERT_OK(cl_node_start(&cfg, &n->node));
	cl_engine_set_node(e, n->node);
}

/* Wait until C's copy of ACCT has the same rows as S's. */
static void converge(unsigned timeout_ms)
{
	uint64_t end = mr_now_ms() + timeout_ms;
	for (;;) {
		struct summary a, b;
		summary_of(S.st, &a);
		summary_of(C.st, &b);
		if (memcmp(a.hash, b.hash, sizeof a.hash) == 0 && a.msgs == b.msgs)
			return;
		if (mr_now_ms() > end)
			unit_fail(__FILE__, __LINE__, "C did not converge: %ld vs %ld messages",
			          b.msgs, a.msgs);
		sleep_ms(50);
	}
}

/* Engines on both nodes: S creates and fills ACCT through the log (replicated commits), C joins
 * after S compacted its log, fetches ACCT, then keeps applying S's new writes on top of the
 * fetched copy and has its own writes forwarded and committed. */
static void test_engine_catch_up(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct rnode ns = {.side = &S}, nc = {.side = &C};
	snprintf(S.dir, sizeof S.dir, "%s/s", unit_tmpdir());
	snprintf(C.dir, sizeof C.dir, "%s/c", unit_tmpdir());
	uint16_t ports[2];
	for (unsigned i = 0; i < 2; i++) {
		do
			ports[i] = (uint16_t)helper_free_port();
		while (ports[i] == 65535 || (i == 1 && abs((int)ports[1] - (int)ports[0]) < 2));
	}
	snprintf(ns.addr, sizeof ns.addr, "127.0.0.1:%u", ports[0]);
	snprintf(nc.addr, sizeof nc.addr, "127.0.0.1:%u", ports[1]);
	ASSERT_OK(cl_rpc_address(ns.addr, ns.rpc_addr));
	snprintf(ns.logdir, sizeof ns.logdir, "%s/raft/log", S.dir);
	snprintf(nc.logdir, sizeof nc.logdir, "%s/raft/log", C.dir);

	S.st = open_store(S.dir);
	struct cl_engine *ec = NULL;
	struct cl_engine_config ecs = {.store = S.st, .data_dir = S.dir, .forward = forward_to_s};
	ASSERT_OK(cl_engine_open(&ecs, &engine_s));
	rnode_start_engine(&ns, engine_s, 1, true);
	uint64_t end = mr_now_ms() + 10000;
	struct cl_status stt;
	while (!(cl_node_status(ns.node, &stt) == 0 && stt.leader_ready) && mr_now_ms() < end)
		sleep_ms(10);
	ASSERT(stt.leader_ready);
	append_n(S.st, STORE_CREATE, 0, 30); /* CREATE_DB, then one FRAMES entry per message */

	struct cl_pki pki_s, pki_c;
	helper_creds("ca", 1, &pki_s);
	helper_creds("ca", 2, &pki_c);
	struct cl_fetch *fs = NULL, *fc = NULL;
	struct cl_fetch_config cs = {
	    .data_dir = S.dir, .store = S.st, .fsm = cl_engine_fsm_handle(engine_s)};
	ASSERT_OK(cl_fetch_open(&cs, &fs));
	cl_fetch_set_node(fs, ns.node);
	static const struct cl_rpc_handler table[] = {
	    {CL_RPC_FETCH, false, cl_fetch_server_handler},
	};
	struct cl_rpc_server *srv = NULL;
	ASSERT_OK(cl_rpc_server_start(ns.rpc_addr, &pki_s, table, 1, fs, &srv));

	new_member_files();
	C.st = open_store(C.dir);
	struct cl_engine_config ecc = {.store = C.st, .data_dir = C.dir, .forward = forward_to_s};
	ASSERT_OK(cl_engine_open(&ecc, &ec));
	rnode_start_engine(&nc, ec, 2, false);
	struct cl_rpc_client *client = NULL;
	ASSERT_OK(cl_rpc_client_open(&pki_c, &client));
	struct cl_fetch_config cc = {.data_dir = C.dir,
	                             .store = C.st,
	                             .fsm = cl_engine_fsm_handle(ec),
	                             .call = cl_fetch_rpc_call,
	                             .call_ud = client,
	                             .poll_ms = 100};
	ASSERT_OK(cl_fetch_open(&cc, &fc));
	cl_fetch_set_node(fc, nc.node);
	struct done d;
	done_init(&d);
	ASSERT_OK(cl_node_add(ns.node, 2, nc.addr, on_done, &d));
	ASSERT_OK(done_wait(&d));
	done_init(&d);
	ASSERT_OK(cl_node_assign(ns.node, 2, CL_STANDBY, on_done, &d));
	ASSERT_OK(done_wait(&d));
	wait_fetched(fc, 30000);
	converge(10000);
	append_n(S.st, 0, 100, 3); /* applied on C over the fetched copy */
	converge(10000);
	append_n(C.st, 0, 200, 2); /* C's own writes, forwarded to S */
	converge(10000);
	struct summary got;
	summary_of(C.st, &got);
	ASSERT_EQ_INT(got.msgs, 35);

	cl_rpc_server_stop(&srv);
	cl_fetch_set_node(fs, NULL);
	cl_fetch_set_node(fc, NULL);
	cl_engine_set_node(ec, NULL);
	cl_engine_set_node(engine_s, NULL);
	cl_node_stop(&nc.node);
	cl_node_stop(&ns.node);
	cl_fetch_close(&fc);
	cl_fetch_close(&fs);
	cl_engine_close(&ec);
	cl_engine_close(&engine_s);
	cl_rpc_client_close(&client);
	cl_pki_free(&pki_s);
	cl_pki_free(&pki_c);
	store_close(&S.st);
	store_close(&C.st);
}

static const struct unit_test tests[] = {
    {"snapshot_catch_up", test_snapshot_catch_up},
    {"engine_catch_up", test_engine_catch_up},
    {0},
};
UNIT_MAIN(tests)

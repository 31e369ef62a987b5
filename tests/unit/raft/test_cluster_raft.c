/* test_cluster_raft.c - real libraft servers (raft_uv: durable log in a temp dir) talking over
 * the nng mutual-TLS transport on loopback, all on one uv loop: three servers elect a leader
 * and apply 100 entries identically everywhere; after the leader is shut down the two others
 * elect a new one and go on; a third server whose certificate comes from another CA is kept
 * out (the other two still commit, it applies nothing). Every wait is bounded by a deadline
 * that fails the test, and shutdown must leave no handle on the loop. */
#include "cluster_net_helpers.h"

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <raft.h>
#include <raft/uv.h>
#include <sys/stat.h>

#define N 3

struct srv {
	struct raft raft;
	struct raft_io io;
	struct raft_fsm fsm;
	struct raft_uv_transport t;
	struct cl_pki pki;
	uint64_t id;
	char dir[512];
	char addr[64];
	uint64_t count, sum; /* the state machine */
	bool running, closed;
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct srv *s = fsm->data;
	uint64_t v = 0;
	ASSERT_EQ_INT(buf->len, sizeof v);
	memcpy(&v, buf->base, sizeof v);
	s->count++;
	s->sum += v * s->count; /* order-sensitive: equal sums mean equal sequences */
	*result = NULL;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct srv *s = fsm->data;
	*bufs = raft_malloc(sizeof **bufs);
	(*bufs)[0].len = 16;
	(*bufs)[0].base = raft_malloc(16);
	memcpy((*bufs)[0].base, &s->count, 8);
	memcpy((uint8_t *)(*bufs)[0].base + 8, &s->sum, 8);
	*n_bufs = 1;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct srv *s = fsm->data;
	ASSERT_EQ_INT(buf->len, 16);
	memcpy(&s->count, buf->base, 8);
	memcpy(&s->sum, (uint8_t *)buf->base + 8, 8);
	raft_free(buf->base);
	return 0;
}

static void srv_setup(struct srv *s, uint64_t id, const char *ca)
{
	s->id = id;
	helper_creds(ca, id, &s->pki);
	snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", helper_free_port());
	snprintf(s->dir, sizeof s->dir, "%s/raft%llu", unit_tmpdir(), (unsigned long long)id);
	ASSERT_OK(mkdir(s->dir, 0700));
}

static void srv_start(uv_loop_t *loop, struct srv *s, const struct raft_configuration *conf)
{
	s->fsm = (struct raft_fsm){.version = 1,
	                           .data = s,
	                           .apply = fsm_apply,
	                           .snapshot = fsm_snapshot,
	                           .restore = fsm_restore};
	ASSERT_OK(cl_transport_init(&s->t, loop, &s->pki));
	ASSERT_OK(raft_uv_init(&s->io, loop, s->dir, &s->t));
	ASSERT_OK(raft_init(&s->raft, &s->io, &s->fsm, s->id, s->addr));
	raft_set_election_timeout(&s->raft, 1000);
	raft_set_heartbeat_timeout(&s->raft, 100);
	raft_set_pre_vote(&s->raft, true);
	ASSERT_OK(raft_bootstrap(&s->raft, conf));
	ASSERT_OK(raft_start(&s->raft));
	s->running = true;
}

static void srv_closed(struct raft *r)
{
	((struct srv *)r->data)->closed = true;
}

static void srv_stop(uv_loop_t *loop, struct srv *s)
{
	s->raft.data = s;
	raft_close(&s->raft, srv_closed);
	helper_run_until(loop, &s->closed, 10000, "raft_close");
	s->running = false;
}

static void srv_release(struct srv *s)
{
	raft_uv_close(&s->io);
	cl_transport_close(&s->t);
	cl_pki_free(&s->pki);
}

/* ---- waiting on conditions ---- */

typedef bool (*cond_fn)(struct srv *srvs);

static void tick_cb(uv_timer_t *t)
{
	(void)t; /* only wakes the loop so the condition is re-checked */
}

static void run_until_cond(uv_loop_t *loop, struct srv *srvs, cond_fn fn, unsigned ms,
                           const char *what)
{
	uv_timer_t tick;
	bool never = false;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	uv_timer_t deadline;
	uv_timer_init(loop, &deadline);
	deadline.data = (void *)what;
	uv_timer_start(&deadline, helper_deadline_cb, ms, 0);
	while (!fn(srvs) && !never)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

static struct srv *leader_of(struct srv *srvs)
{
	for (int i = 0; i < N; i++)
		if (srvs[i].running && raft_state(&srvs[i].raft) == RAFT_LEADER)
			return &srvs[i];
	return NULL;
}

static bool has_leader(struct srv *srvs)
{
	return leader_of(srvs) != NULL;
}

/* ---- applying ---- */

struct batch {
	unsigned done, failed;
	struct raft_apply reqs[100];
};

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct batch *b = req->data;
	(void)result;
	if (status == 0)
		b->done++;
	else
		b->failed++;
}

static struct batch *g_batch;
static unsigned g_want;

static bool batch_complete(struct srv *srvs)
{
	(void)srvs;
	return g_batch->done + g_batch->failed >= g_want;
}

static uint64_t g_count;

static bool all_applied(struct srv *srvs)
{
	for (int i = 0; i < N; i++)
		if (srvs[i].running && srvs[i].pki.key_pem && srvs[i].count < g_count)
			return false;
	return true;
}

/* Apply n entries (values base+1..base+n) on the current leader, all in flight at once. */
static void apply_n(uv_loop_t *loop, struct srv *srvs, unsigned n, uint64_t base)
{
	struct srv *l = leader_of(srvs);
	ASSERT(l != NULL);
	struct batch *b = xmalloc(sizeof *b);
	ASSERT(n <= MR_ARRAY_LEN(b->reqs));
	for (unsigned i = 0; i < n; i++) {
		struct raft_buffer buf = {.base = raft_malloc(8), .len = 8};
		uint64_t v = base + i + 1;
		memcpy(buf.base, &v, 8);
		b->reqs[i].data = b;
		ASSERT_OK(raft_apply(&l->raft, &b->reqs[i], &buf, 1, apply_cb));
	}
	g_batch = b;
	g_want = n;
	run_until_cond(loop, srvs, batch_complete, 20000, "apply callbacks");
	ASSERT_EQ_INT(b->failed, 0);
	ASSERT_EQ_INT(b->done, n);
	free(b);
}

static void configuration(struct srv *srvs, struct raft_configuration *conf)
{
	raft_configuration_init(conf);
	for (int i = 0; i < N; i++)
		ASSERT_OK(raft_configuration_add(conf, srvs[i].id, srvs[i].addr, RAFT_VOTER));
}

static void finish(uv_loop_t *loop, struct srv *srvs, struct raft_configuration *conf)
{
	for (int i = 0; i < N; i++)
		if (srvs[i].running)
			srv_stop(loop, &srvs[i]);
	for (int i = 0; i < N; i++)
		srv_release(&srvs[i]);
	raft_configuration_close(conf);
	uv_run(loop, UV_RUN_NOWAIT);
	ASSERT_OK(uv_loop_close(loop));
	nng_msleep(100); /* see loop_finish() in test_cluster_transport.c */
	nng_fini();
}

static void test_three_nodes_elect_and_apply(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct srv srvs[N] = {0};
	struct raft_configuration conf;
	for (int i = 0; i < N; i++)
		srv_setup(&srvs[i], (uint64_t)i + 1, "ca");
	configuration(srvs, &conf);
	for (int i = 0; i < N; i++)
		srv_start(&loop, &srvs[i], &conf);

	run_until_cond(&loop, srvs, has_leader, 20000, "leader election");
	apply_n(&loop, srvs, 100, 0);
	g_count = 100;
	run_until_cond(&loop, srvs, all_applied, 10000, "followers apply");
	for (int i = 0; i < N; i++) {
		ASSERT_EQ_INT(srvs[i].count, 100);
		ASSERT_EQ_INT(srvs[i].sum, srvs[0].sum);
	}
	ASSERT(srvs[0].sum != 0);

	/* the leader goes away: the two others elect a new one and go on */
	struct srv *old = leader_of(srvs);
	srv_stop(&loop, old);
	run_until_cond(&loop, srvs, has_leader, 20000, "re-election");
	ASSERT(leader_of(srvs) != old);
	apply_n(&loop, srvs, 20, 100);
	g_count = 120;
	run_until_cond(&loop, srvs, all_applied, 10000, "apply after failover");
	uint64_t sum = 0;
	for (int i = 0; i < N; i++) {
		if (!srvs[i].running)
			continue;
		ASSERT_EQ_INT(srvs[i].count, 120);
		if (sum)
			ASSERT_EQ_INT(srvs[i].sum, sum);
		sum = srvs[i].sum;
	}
	finish(&loop, srvs, &conf);
}

static bool two_applied(struct srv *srvs)
{
	return srvs[0].count >= g_count && srvs[1].count >= g_count;
}

static void test_foreign_node_kept_out(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct srv srvs[N] = {0};
	struct raft_configuration conf;
	srv_setup(&srvs[0], 1, "ca");
	srv_setup(&srvs[1], 2, "ca");
	srv_setup(&srvs[2], 3, "intruder"); /* same id space, certificate from another CA */
	configuration(srvs, &conf);
	for (int i = 0; i < N; i++)
		srv_start(&loop, &srvs[i], &conf);
	run_until_cond(&loop, srvs, has_leader, 20000, "leader election");
	ASSERT(leader_of(srvs) != &srvs[2]);
	apply_n(&loop, srvs, 30, 0);
	g_count = 30;
	run_until_cond(&loop, srvs, two_applied, 10000, "members apply");
	helper_run_for(&loop, 300);
	ASSERT_EQ_INT(srvs[0].sum, srvs[1].sum);
	ASSERT_EQ_INT(srvs[2].count, 0);
	ASSERT(raft_state(&srvs[2].raft) != RAFT_LEADER);
	finish(&loop, srvs, &conf);
}

static const struct unit_test tests[] = {
    {"three_nodes_elect_and_apply", test_three_nodes_elect_and_apply},
    {"foreign_node_kept_out", test_foreign_node_kept_out},
    {0},
};
UNIT_MAIN(tests)

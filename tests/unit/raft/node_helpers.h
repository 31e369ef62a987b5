/* node_helpers.h - shared by tests/unit/raft/test_node*.c: in-process raft nodes over libraft's
 * own TCP transport (raft_uv_tcp_init) on 127.0.0.1 free ports with temp dirs, a trivial test
 * FSM, and blocking wrappers around the runtime's asynchronous calls. The test FSM records every
 * applied payload in order and keeps its own "last applied index" across restarts of the node,
 * so a log replay after a restart shows up as entries at or below that index (counted as
 * replays and skipped: the applied-index check the real FSM needs). Header-only (static
 * functions) so each test executable stays one file. */
#ifndef MR_TEST_NODE_HELPERS_H
#define MR_TEST_NODE_HELPERS_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>

#include "common/err.h"
#include "common/util.h"
#include "raft/cluster_node.h"
#include "unit.h"

#define TN_MAX 5
#define TN_ELECTION_MS 500
#define TN_HEARTBEAT_MS 100

/* ---- test FSM ---- */

struct tfsm {
	struct raft_fsm fsm;
	struct raft *raft; /* set by the attach hook, changes on restart */
	pthread_mutex_t mu;
	uint64_t *keys; /* payload keys in apply order */
	size_t n, cap;
	raft_index last_index; /* survives node restarts (like a durable applied index) */
	size_t replays;        /* entries seen again at or below last_index */
	bool bad;              /* an entry had a wrong size or magic */
};

#define TN_MAGIC 0x4d52544eu /* "MRTN" */

struct tpayload {
	uint32_t magic;
	uint32_t pad;
	uint64_t key;
};

static int tfsm_apply(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
	struct tfsm *t = f->data;
	/* libraft 0.15 sets last_applied after fsm->apply returns: this is the entry's index */
	raft_index idx = raft_last_applied(t->raft) + 1;
	pthread_mutex_lock(&t->mu);
	if (idx <= t->last_index) {
		t->replays++;
	} else {
		struct tpayload p;
		if (buf->len != sizeof p) {
			t->bad = true;
		} else {
			memcpy(&p, buf->base, sizeof p);
			if (p.magic != TN_MAGIC)
				t->bad = true;
			if (t->n == t->cap) {
				t->cap = t->cap ? 2 * t->cap : 256;
				t->keys = xrealloc(t->keys, t->cap * sizeof *t->keys);
			}
			t->keys[t->n++] = p.key;
		}
		t->last_index = idx;
	}
	pthread_mutex_unlock(&t->mu);
	*result = (void *)(uintptr_t)idx;
	return 0;
}

static int tfsm_snapshot(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n)
{
	(void)f;
	(void)bufs;
	(void)n;
	return RAFT_BUSY; /* tolerated by libraft: the tests keep the whole log */
}

static int tfsm_restore(struct raft_fsm *f, struct raft_buffer *buf)
{
	struct tfsm *t = f->data;
	t->bad = true; /* never expected: no snapshots are taken */
	raft_free(buf->base);
	return 0;
}

static void tfsm_init(struct tfsm *t)
{
	memset(t, 0, sizeof *t);
	t->fsm.version = 1;
	t->fsm.data = t;
	t->fsm.apply = tfsm_apply;
	t->fsm.snapshot = tfsm_snapshot;
	t->fsm.restore = tfsm_restore;
	pthread_mutex_init(&t->mu, NULL);
}

static void tfsm_fini(struct tfsm *t)
{
	free(t->keys);
	pthread_mutex_destroy(&t->mu);
}

static size_t tfsm_count(struct tfsm *t)
{
	pthread_mutex_lock(&t->mu);
	size_t n = t->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}

static void tfsm_attach(struct raft *r, void *arg)
{
	struct tfsm *t = arg;
	t->raft = r;
}

/* ---- nodes ---- */

struct tnode {
	raft_id id;
	char addr[64];
	char dir[256];
	struct raft_uv_transport transport;
	struct tfsm fsm;
	struct cl_node *node;
	pthread_mutex_t mu;
	int gained, lost; /* on_leader callbacks */
	bool is_leader;
};

static int tn_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, void *arg)
{
	(void)arg;
	return raft_uv_tcp_init(t, loop);
}

static void tn_transport_close(struct raft_uv_transport *t, void *arg)
{
	(void)arg;
	raft_uv_tcp_close(t);
}

static void tn_on_leader(struct cl_node *node, bool leader, raft_term term, void *arg)
{
	struct tnode *tn = arg;
	(void)term;
	if (cl_node_id(node) != tn->id)
		tn->fsm.bad = true;
	pthread_mutex_lock(&tn->mu);
	if (leader)
		tn->gained++;
	else
		tn->lost++;
	tn->is_leader = leader;
	pthread_mutex_unlock(&tn->mu);
}

/* on_leader counters, read under the node's lock (written on its raft thread). */
static int tn_gained(struct tnode *tn)
{
	pthread_mutex_lock(&tn->mu);
	int v = tn->gained;
	pthread_mutex_unlock(&tn->mu);
	return v;
}

static int tn_lost(struct tnode *tn)
{
	pthread_mutex_lock(&tn->mu);
	int v = tn->lost;
	pthread_mutex_unlock(&tn->mu);
	return v;
}

static uint16_t tn_free_port(void)
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

/* Set up n nodes with ids 1..n (not started). Ports are picked while holding every probe
 * socket... one at a time is enough on loopback: the kernel does not hand the same ephemeral
 * port out twice in a row. */
static void tn_setup(struct tnode *tn, unsigned n)
{
	signal(SIGPIPE, SIG_IGN); /* as mailraftd does: raft_uv writes to peers that went away */
	for (unsigned i = 0; i < n; i++) {
		memset(&tn[i], 0, sizeof tn[i]);
		tn[i].id = i + 1;
		snprintf(tn[i].addr, sizeof tn[i].addr, "127.0.0.1:%u", tn_free_port());
		snprintf(tn[i].dir, sizeof tn[i].dir, "%s/node%u/raft", unit_tmpdir(), i + 1);
		tfsm_init(&tn[i].fsm);
		pthread_mutex_init(&tn[i].mu, NULL);
	}
}

/* Start node tn with a bootstrap configuration of the first n_voters nodes of all (voters),
 * or in join mode if n_voters == 0. */
static int tn_start(struct tnode *tn, const struct tnode *all, unsigned n_voters)
{
	struct cl_server servers[TN_MAX];
	for (unsigned i = 0; i < n_voters; i++)
		servers[i] = (struct cl_server){all[i].id, all[i].addr, CL_VOTER};
	struct cl_node_config cfg = {
	    .id = tn->id,
	    .address = tn->addr,
	    .dir = tn->dir,
	    .servers = servers,
	    .n_servers = n_voters,
	    .election_timeout_ms = TN_ELECTION_MS,
	    .heartbeat_ms = TN_HEARTBEAT_MS,
	    .snapshot_threshold = 100000, /* keep the whole log: restart replays it all */
	    .connect_retry_ms = 100,
	    .transport = &tn->transport,
	    .transport_init = tn_transport_init,
	    .transport_close = tn_transport_close,
	    .fsm = &tn->fsm.fsm,
	    .attach = tfsm_attach,
	    .attach_arg = &tn->fsm,
	    .on_leader = tn_on_leader,
	    .leader_arg = tn,
	};
	return cl_node_start(&cfg, &tn->node);
}

static void tn_teardown(struct tnode *tn, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		cl_node_stop(&tn[i].node);
		tfsm_fini(&tn[i].fsm);
		pthread_mutex_destroy(&tn[i].mu);
	}
}

static void tn_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Index of the node that is leader_ready and recognised by every other running node, or -1
 * after timeout_ms. */
static int tn_wait_leader(struct tnode *tn, unsigned n, unsigned timeout_ms)
{
	uint64_t end = mr_now_ms() + timeout_ms;
	do {
		int leader = -1;
		for (unsigned i = 0; i < n; i++) {
			struct cl_status st;
			if (tn[i].node && cl_node_status(tn[i].node, &st) == 0 && st.leader_ready)
				leader = (int)i;
		}
		bool agreed = leader >= 0;
		for (unsigned i = 0; agreed && i < n; i++) {
			struct cl_status st;
			if (!tn[i].node)
				continue;
			cl_node_status(tn[i].node, &st);
			if (st.leader_id != tn[leader].id)
				agreed = false;
		}
		if (agreed)
			return leader;
		tn_sleep_ms(10);
	} while (mr_now_ms() < end);
	return -1;
}

/* Wait until the FSM of every running node holds at least count entries. */
static bool tn_wait_count(struct tnode *tn, unsigned n, size_t count, unsigned timeout_ms)
{
	uint64_t end = mr_now_ms() + timeout_ms;
	do {
		bool ok = true;
		for (unsigned i = 0; i < n; i++)
			if (tn[i].node && tfsm_count(&tn[i].fsm) < count)
				ok = false;
		if (ok)
			return true;
		tn_sleep_ms(10);
	} while (mr_now_ms() < end);
	return false;
}

/* ---- blocking wrappers ---- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int fired;
	int status;
	uintptr_t result;
};

static void waiter_init(struct waiter *w)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
}

static void waiter_done(void *ud, int status)
{
	struct waiter *w = ud;
	pthread_mutex_lock(&w->mu);
	w->fired++;
	w->status = status;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

static void waiter_apply_done(void *ud, int status, void *result)
{
	struct waiter *w = ud;
	w->result = (uintptr_t)result;
	waiter_done(ud, status);
}

/* Wait for the callback (fails the test after timeout_ms); returns its status. */
static int waiter_wait(struct waiter *w, unsigned timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->fired)
		if (pthread_cond_timedwait(&w->cond, &w->mu, &ts) == ETIMEDOUT)
			break;
	int fired = w->fired, st = w->status;
	pthread_mutex_unlock(&w->mu);
	if (!fired)
		unit_fail(__FILE__, __LINE__, "callback did not fire within %u ms", timeout_ms);
	if (fired != 1)
		unit_fail(__FILE__, __LINE__, "callback fired %d times", fired);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cond);
	return st;
}

static uint64_t tn_key(uint32_t tid, uint32_t seq)
{
	return ((uint64_t)tid << 32) | seq;
}

/* Apply one payload on node and wait: returns the callback status. */
static int tn_apply_sync(struct cl_node *node, uint64_t key)
{
	struct tpayload p = {.magic = TN_MAGIC, .key = key};
	struct waiter w;
	waiter_init(&w);
	ASSERT_OK(cl_node_apply(node, &p, sizeof p, waiter_apply_done, &w));
	int st = waiter_wait(&w, 20000);
	if (st == 0)
		ASSERT(w.result > 0); /* the FSM's result (its entry index) reaches the caller */
	return st;
}

/* Every running node's FSM holds exactly the same keys in the same order as node ref. */
static void tn_assert_same_log(struct tnode *tn, unsigned n, unsigned ref)
{
	struct tfsm *r = &tn[ref].fsm;
	for (unsigned i = 0; i < n; i++) {
		if (!tn[i].node)
			continue;
		struct tfsm *f = &tn[i].fsm;
		ASSERT(!f->bad);
		if (f == r)
			continue;
		pthread_mutex_lock(&f->mu);
		pthread_mutex_lock(&r->mu);
		bool same = f->n == r->n && memcmp(f->keys, r->keys, r->n * sizeof *r->keys) == 0;
		size_t fn = f->n, rn = r->n;
		pthread_mutex_unlock(&r->mu);
		pthread_mutex_unlock(&f->mu);
		if (!same)
			unit_fail(__FILE__, __LINE__,
			          "node %llu log (%zu entries) differs from node "
			          "%llu (%zu entries)",
			          tn[i].id, fn, tn[ref].id, rn);
	}
}

#endif

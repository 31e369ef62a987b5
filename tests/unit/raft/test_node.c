/* test_node.c - the raft runtime (raft/cluster_node.h) with real raft_uv nodes in one process,
 * each on its own thread and loop, over libraft's TCP transport on 127.0.0.1: start errors, a
 * single node's shutdown semantics, a three-node cluster electing a leader and committing 500
 * entries sent from several threads (some to followers: MR_ENOTLEADER) in the same order on
 * every node, and failover: the leader stops, a new one takes over, the old one restarts from
 * its directory, replays its log (its FSM sees entries it had applied) and catches up. Commit
 * latency p50/p99 is printed, not asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node_helpers.h"

/* ---- start errors and a single node ---- */

static void test_start_invalid(void)
{
	struct tnode tn[1];
	tn_setup(tn, 1);
	struct cl_node *node = NULL;
	struct cl_node_config cfg = {.id = 0,
	                             .address = tn[0].addr,
	                             .dir = tn[0].dir,
	                             .transport = &tn[0].transport,
	                             .fsm = &tn[0].fsm.fsm};
	ASSERT_ERR(cl_node_start(&cfg, &node), MR_EINVAL); /* id 0 */
	ASSERT(node == NULL);
	cfg.id = 1;
	cfg.fsm = NULL;
	ASSERT_ERR(cl_node_start(&cfg, &node), MR_EINVAL);
	cfg.fsm = &tn[0].fsm.fsm;
	struct cl_server dup[2] = {{1, "127.0.0.1:1", CL_VOTER}, {1, "127.0.0.1:2", CL_VOTER}};
	cfg.servers = dup;
	cfg.n_servers = 2;
	ASSERT_ERR(cl_node_start(&cfg, &node), MR_EINVAL); /* duplicate id in bootstrap */
	ASSERT(node == NULL);
	tn_teardown(tn, 1);
}

static void test_start_bad_dir(void)
{
	struct tnode tn[1];
	tn_setup(tn, 1);
	/* the data "directory" is a regular file: mkdir -p fails, nothing leaks (ASan) */
	snprintf(tn[0].dir, sizeof tn[0].dir, "%s/file", unit_tmpdir());
	FILE *f = fopen(tn[0].dir, "w");
	ASSERT(f != NULL);
	fclose(f);
	ASSERT(tn_start(&tn[0], tn, 1) != 0);
	ASSERT(tn[0].node == NULL);
	/* a path too long for raft_uv (its limit is below PATH_MAX): fails in raft_uv_init after
	 * the loop and the transport exist, which the teardown path closes */
	static char longdir[1200];
	snprintf(longdir, sizeof longdir, "%s", unit_tmpdir());
	for (int i = 0; i < 5; i++) {
		size_t l = strlen(longdir);
		longdir[l] = '/';
		memset(longdir + l + 1, 'd', 200);
		longdir[l + 201] = '\0';
	}
	struct cl_node_config cfg = {.id = 1,
	                             .address = tn[0].addr,
	                             .dir = longdir,
	                             .transport = &tn[0].transport,
	                             .fsm = &tn[0].fsm.fsm,
	                             .transport_init = tn_transport_init,
	                             .transport_close = tn_transport_close};
	struct cl_node *node = NULL;
	ASSERT(cl_node_start(&cfg, &node) != 0);
	ASSERT(node == NULL);
	/* damaged raft metadata: fails once raft exists (raft_init or raft_start), closed by
	 * raft_close */
	snprintf(tn[0].dir, sizeof tn[0].dir, "%s/damaged", unit_tmpdir());
	ASSERT(mkdir(tn[0].dir, 0700) == 0);
	char path[512];
	snprintf(path, sizeof path, "%s/metadata1", tn[0].dir);
	f = fopen(path, "w");
	ASSERT(f != NULL);
	fputs("this is not raft metadata at all", f);
	fclose(f);
	ASSERT(tn_start(&tn[0], tn, 1) != 0);
	ASSERT(tn[0].node == NULL);
	tn_teardown(tn, 1);
}

struct counter {
	pthread_mutex_t mu;
	int fired, ok, closed, unknown, notleader, other;
};

static void counter_apply(void *ud, int status, void *result)
{
	struct counter *c = ud;
	(void)result;
	pthread_mutex_lock(&c->mu);
	c->fired++;
	if (status == 0)
		c->ok++;
	else if (status == MR_ECLOSED)
		c->closed++;
	else if (status == CL_EUNKNOWN)
		c->unknown++;
	else if (status == MR_ENOTLEADER)
		c->notleader++;
	else
		c->other++;
	pthread_mutex_unlock(&c->mu);
}

struct posted_arg {
	struct waiter w;
	int state;
};

static void posted(struct cl_node *node, void *arg)
{
	/* runs on the raft thread: raft calls are allowed here */
	struct posted_arg *pa = arg;
	pa->state = raft_state(cl_node_raft(node));
	waiter_done(&pa->w, 0);
}

static void test_single_node(void)
{
	struct tnode tn[1];
	tn_setup(tn, 1);
	ASSERT_OK(tn_start(&tn[0], tn, 1));
	ASSERT(tn_wait_leader(tn, 1, 10000) == 0); /* a single voter elects itself */
	ASSERT_EQ_INT(tn_gained(&tn[0]), 1);
	ASSERT_OK(tn_apply_sync(tn[0].node, tn_key(9, 1)));
	ASSERT_EQ_INT(tfsm_count(&tn[0].fsm), 1);

	struct waiter w;
	waiter_init(&w);
	ASSERT_OK(cl_node_barrier(tn[0].node, waiter_done, &w));
	ASSERT_OK(waiter_wait(&w, 10000));

	struct posted_arg pa = {.state = -1};
	waiter_init(&pa.w);
	ASSERT_OK(cl_node_post(tn[0].node, posted, &pa));
	ASSERT_OK(waiter_wait(&pa.w, 10000));
	ASSERT_EQ_INT(pa.state, RAFT_LEADER);
	struct cl_status st;
	ASSERT_OK(cl_node_status(tn[0].node, &st));
	ASSERT_EQ_INT(st.id, 1);
	ASSERT_EQ_INT(st.state, CL_LEADER);
	ASSERT(st.leader_ready);
	ASSERT_EQ_INT(st.leader_id, 1);
	ASSERT_EQ_STR(st.leader_address, tn[0].addr);
	ASSERT_EQ_INT(st.n_members, 1);
	ASSERT_EQ_INT(st.members[0].role, CL_VOTER);
	ASSERT(st.commit_index >= 3); /* bootstrap configuration, barrier, entry, barrier */
	ASSERT(st.last_applied <= st.commit_index);
	ASSERT(st.term >= 1);

	/* bad arguments never reach the callback */
	ASSERT_ERR(cl_node_apply(tn[0].node, "x", 0, counter_apply, NULL), MR_EINVAL);
	ASSERT_ERR(cl_node_assign(tn[0].node, 1, 7, waiter_done, NULL), MR_EINVAL);
	ASSERT_ERR(cl_node_add(tn[0].node, 0, "a", waiter_done, NULL), MR_EINVAL);

	/* stop with many requests queued or in flight: each callback fires exactly once, with
	 * 0 (applied), CL_EUNKNOWN (submitted, shutdown) or MR_ECLOSED (never submitted) */
	struct counter c = {0};
	pthread_mutex_init(&c.mu, NULL);
	struct tpayload p = {.magic = TN_MAGIC};
	for (uint32_t i = 0; i < 300; i++) {
		p.key = tn_key(10, i);
		ASSERT_OK(cl_node_apply(tn[0].node, &p, sizeof p, counter_apply, &c));
		if (i == 150) /* let some commit, some be in flight, the rest stay queued */
			tn_wait_count(tn, 1, 20, 10000);
	}
	cl_node_stop(&tn[0].node);
	ASSERT(tn[0].node == NULL);
	ASSERT_EQ_INT(c.fired, 300);
	ASSERT_EQ_INT(c.other + c.notleader, 0);
	ASSERT_EQ_INT(c.ok + c.unknown + c.closed, 300);
	ASSERT(c.ok > 0);
	ASSERT(tfsm_count(&tn[0].fsm) >= 1 + (size_t)c.ok);
	printf("  stop with 300 requests: %d applied, %d unknown, %d closed\n", c.ok, c.unknown,
	       c.closed);
	ASSERT_EQ_INT(tn_lost(&tn[0]), 1); /* a reported leadership is closed at stop */
	cl_node_stop(&tn[0].node);         /* NULL: no-op */

	/* restart from the same directory: bootstrap is skipped, the log replays */
	size_t before = tfsm_count(&tn[0].fsm);
	ASSERT_OK(tn_start(&tn[0], tn, 1));
	ASSERT(tn_wait_leader(tn, 1, 10000) == 0);
	ASSERT_OK(tn_apply_sync(tn[0].node, tn_key(9, 2)));
	/* entries whose outcome was unknown at stop may commit now, hence >= */
	ASSERT(tfsm_count(&tn[0].fsm) >= before + 1);
	ASSERT_EQ_INT(tn[0].fsm.replays, before); /* every entry applied before, seen again */
	tn_teardown(tn, 1);
	pthread_mutex_destroy(&c.mu);
}

static void test_join_mode_not_leader(void)
{
	/* a node started in join mode has no configuration: it never becomes leader */
	struct tnode tn[1];
	tn_setup(tn, 1);
	ASSERT_OK(tn_start(&tn[0], tn, 0));
	struct tpayload p = {.magic = TN_MAGIC, .key = 1};
	struct waiter w;
	waiter_init(&w);
	ASSERT_OK(cl_node_apply(tn[0].node, &p, sizeof p, waiter_apply_done, &w));
	ASSERT_ERR(waiter_wait(&w, 10000), MR_ENOTLEADER);
	waiter_init(&w);
	ASSERT_OK(cl_node_transfer(tn[0].node, 0, waiter_done, &w));
	ASSERT_ERR(waiter_wait(&w, 10000), MR_ENOTLEADER);
	struct cl_status st;
	ASSERT_OK(cl_node_status(tn[0].node, &st));
	ASSERT_EQ_INT(st.n_members, 0);
	ASSERT(st.state != CL_LEADER);
	ASSERT_EQ_INT(st.leader_id, 0);
	cl_node_stop(&tn[0].node);
	ASSERT_EQ_INT(tn_gained(&tn[0]), 0);
	tn_teardown(tn, 1);
}

/* ---- 500 applies from several threads ---- */

#define LOAD_THREADS 4
#define LOAD_PER_THREAD 125
#define LOAD_WINDOW 8 /* outstanding applies per thread */

struct load_thread;
struct load_entry {
	struct load_thread *lt;
	uint32_t seq;
	uint64_t t0;
	int status;
	uint64_t lat_us;
	bool done;
};

struct load_thread {
	struct tnode *tn;
	unsigned n_nodes;
	uint32_t tid;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	unsigned outstanding, finished, n_retry;
	unsigned to_follower, notleader, unknown, errors, dup_callbacks;
	uint32_t retry[LOAD_PER_THREAD];
	struct load_entry e[LOAD_PER_THREAD];
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void load_cb(void *ud, int status, void *result)
{
	struct load_entry *e = ud;
	struct load_thread *lt = e->lt;
	(void)result;
	pthread_mutex_lock(&lt->mu);
	lt->outstanding--;
	if (e->done) {
		lt->dup_callbacks++;
	} else if (status == MR_ENOTLEADER) {
		lt->notleader++;
		lt->retry[lt->n_retry++] = e->seq;
	} else {
		e->done = true;
		e->status = status;
		e->lat_us = now_us() - e->t0;
		lt->finished++;
		if (status == CL_EUNKNOWN)
			lt->unknown++;
		else if (status != 0)
			lt->errors++;
	}
	pthread_cond_broadcast(&lt->cond);
	pthread_mutex_unlock(&lt->mu);
}

/* Node the statuses name as leader (or any node if unknown yet); a follower if want_follower. */
static struct cl_node *pick(struct load_thread *lt, bool want_follower)
{
	for (unsigned i = 0; i < lt->n_nodes; i++) {
		struct cl_status st;
		cl_node_status(lt->tn[i].node, &st);
		if (want_follower ? st.state == CL_FOLLOWER && st.leader_id != 0
		                  : st.state == CL_LEADER)
			return lt->tn[i].node;
	}
	return lt->tn[lt->tid % lt->n_nodes].node;
}

static void *load_main(void *arg)
{
	struct load_thread *lt = arg;
	uint32_t next = 0;
	pthread_mutex_lock(&lt->mu);
	while (lt->finished < LOAD_PER_THREAD) {
		if (lt->outstanding >= LOAD_WINDOW || (next >= LOAD_PER_THREAD && !lt->n_retry)) {
			pthread_cond_wait(&lt->cond, &lt->mu);
			continue;
		}
		bool first = lt->n_retry == 0;
		uint32_t seq = first ? next++ : lt->retry[--lt->n_retry];
		bool follower = first && seq % 10 == 5; /* every 10th first attempt: a follower */
		if (follower)
			lt->to_follower++;
		lt->outstanding++;
		pthread_mutex_unlock(&lt->mu);
		struct load_entry *e = &lt->e[seq];
		e->lt = lt;
		e->seq = seq;
		e->t0 = now_us();
		struct tpayload p = {.magic = TN_MAGIC, .key = tn_key(lt->tid, seq)};
		int rv = cl_node_apply(pick(lt, follower), &p, sizeof p, load_cb, e);
		pthread_mutex_lock(&lt->mu);
		if (rv != 0) {
			lt->errors++;
			lt->outstanding--;
			lt->finished++;
		}
	}
	pthread_mutex_unlock(&lt->mu);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Run the load against tn[0..n) and check it; returns how many entries committed. */
static size_t run_load(struct tnode *tn, unsigned n, uint32_t tid_base)
{
	static struct load_thread lts[LOAD_THREADS];
	memset(lts, 0, sizeof lts);
	size_t base = tfsm_count(&tn[0].fsm);
	uint64_t t0 = now_us();
	for (unsigned i = 0; i < LOAD_THREADS; i++) {
		lts[i].tn = tn;
		lts[i].n_nodes = n;
		lts[i].tid = tid_base + i;
		pthread_mutex_init(&lts[i].mu, NULL);
		pthread_cond_init(&lts[i].cond, NULL);
		ASSERT(pthread_create(&lts[i].th, NULL, load_main, &lts[i]) == 0);
	}
	unsigned to_follower = 0, notleader = 0, unknown = 0, errors = 0, dups = 0, n_lat = 0;
	static uint64_t lat[LOAD_THREADS * LOAD_PER_THREAD];
	for (unsigned i = 0; i < LOAD_THREADS; i++) {
		pthread_join(lts[i].th, NULL);
		to_follower += lts[i].to_follower;
		notleader += lts[i].notleader;
		unknown += lts[i].unknown;
		errors += lts[i].errors;
		for (unsigned j = 0; j < LOAD_PER_THREAD; j++)
			if (lts[i].e[j].status == 0)
				lat[n_lat++] = lts[i].e[j].lat_us;
	}
	double secs = (double)(now_us() - t0) / 1e6;
	/* callbacks of all threads have fired (finished counts them); a late duplicate would show
	 * up here */
	tn_sleep_ms(100);
	for (unsigned i = 0; i < LOAD_THREADS; i++)
		dups += lts[i].dup_callbacks;
	qsort(lat, n_lat, sizeof lat[0], cmp_u64);
	printf("  %u applies (%u threads x window %u) in %.2f s: commit latency p50 %.2f ms, p99 "
	       "%.2f ms; %u sent to followers, %u MR_ENOTLEADER, %u unknown\n",
	       n_lat, LOAD_THREADS, LOAD_WINDOW, secs, n_lat ? lat[n_lat / 2] / 1000.0 : 0.0,
	       n_lat ? lat[n_lat * 99 / 100] / 1000.0 : 0.0, to_follower, notleader, unknown);
	ASSERT_EQ_INT(errors, 0);
	ASSERT_EQ_INT(dups, 0);
	ASSERT_EQ_INT(unknown, 0); /* no leadership change expected in this short run */
	ASSERT(to_follower > 0);
	ASSERT(notleader >= to_follower);
	ASSERT_EQ_INT(n_lat, LOAD_THREADS * LOAD_PER_THREAD);

	size_t total = base + n_lat;
	ASSERT(tn_wait_count(tn, n, total, 20000));
	tn_assert_same_log(tn, n, 0);
	/* every acknowledged key is in the log exactly once */
	struct tfsm *f = &tn[0].fsm;
	pthread_mutex_lock(&f->mu);
	ASSERT_EQ_INT(f->n, total);
	uint64_t *sorted = xmalloc(n_lat * sizeof *sorted);
	size_t k = 0;
	for (size_t i = base; i < f->n; i++)
		sorted[k++] = f->keys[i];
	pthread_mutex_unlock(&f->mu);
	qsort(sorted, k, sizeof *sorted, cmp_u64);
	k = 0;
	for (unsigned i = 0; i < LOAD_THREADS; i++)
		for (uint32_t j = 0; j < LOAD_PER_THREAD; j++)
			ASSERT(sorted[k++] == tn_key(tid_base + i, j));
	free(sorted);
	for (unsigned i = 0; i < LOAD_THREADS; i++) {
		pthread_mutex_destroy(&lts[i].mu);
		pthread_cond_destroy(&lts[i].cond);
	}
	return n_lat;
}

static void test_three_nodes_500_applies(void)
{
	struct tnode tn[3];
	tn_setup(tn, 3);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_OK(tn_start(&tn[i], tn, 3));
	uint64_t t0 = mr_now_ms();
	int leader = tn_wait_leader(tn, 3, 20000);
	ASSERT(leader >= 0);
	printf("  leader %llu ready after %llu ms\n", tn[leader].id,
	       (unsigned long long)(mr_now_ms() - t0));
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ_INT(tn_gained(&tn[i]), (int)i == leader ? 1 : 0);
		struct cl_status st;
		ASSERT_OK(cl_node_status(tn[i].node, &st));
		ASSERT_EQ_INT(st.n_members, 3);
		ASSERT_EQ_INT(st.state, (int)i == leader ? CL_LEADER : CL_FOLLOWER);
	}
	run_load(tn, 3, 1);
	/* the leader sees every member caught up and reachable */
	struct cl_status st;
	ASSERT_OK(cl_node_status(tn[leader].node, &st));
	for (unsigned i = 0; i < st.n_members; i++) {
		ASSERT(st.members[i].reachable);
		ASSERT(st.members[i].match_index > 0);
	}
	tn_teardown(tn, 3);
}

/* ---- failover and restart ---- */

static void test_failover_and_restart(void)
{
	struct tnode tn[3];
	tn_setup(tn, 3);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_OK(tn_start(&tn[i], tn, 3));
	int old = tn_wait_leader(tn, 3, 20000);
	ASSERT(old >= 0);
	for (uint32_t i = 0; i < 50; i++)
		ASSERT_OK(tn_apply_sync(tn[old].node, tn_key(1, i)));
	ASSERT(tn_wait_count(tn, 3, 50, 20000));

	/* stop the leader: the other two elect a new one, applies continue */
	size_t had = tfsm_count(&tn[old].fsm);
	ASSERT_EQ_INT(had, 50);
	uint64_t t0 = mr_now_ms();
	cl_node_stop(&tn[old].node);
	ASSERT_EQ_INT(tn_lost(&tn[old]), 1);
	int now = tn_wait_leader(tn, 3, 20000);
	ASSERT(now >= 0);
	ASSERT(now != old);
	printf("  new leader %llu ready %llu ms after the old one stopped\n", tn[now].id,
	       (unsigned long long)(mr_now_ms() - t0));
	int other = 3 - old - now;
	struct tpayload p = {.magic = TN_MAGIC, .key = 7};
	struct waiter w;
	waiter_init(&w);
	ASSERT_OK(cl_node_apply(tn[other].node, &p, sizeof p, waiter_apply_done, &w));
	ASSERT_ERR(waiter_wait(&w, 10000), MR_ENOTLEADER);
	for (uint32_t i = 0; i < 50; i++)
		ASSERT_OK(tn_apply_sync(tn[now].node, tn_key(2, i)));

	/* restart the old leader from its directory: raft replays the whole log into its FSM
	 * (entries it had applied come again: skipped by the applied-index check), then it
	 * catches up on what it missed */
	ASSERT_OK(tn_start(&tn[old], tn, 3));
	ASSERT(tn_wait_count(tn, 3, 100, 20000));
	ASSERT_EQ_INT(tn[old].fsm.replays, had);
	tn_assert_same_log(tn, 3, (unsigned)now);
	ASSERT_OK(tn_apply_sync(tn[now].node, tn_key(3, 0)));
	ASSERT(tn_wait_count(tn, 3, 101, 20000));
	tn_assert_same_log(tn, 3, (unsigned)now);
	struct cl_status st;
	ASSERT_OK(cl_node_status(tn[old].node, &st));
	ASSERT_EQ_INT(st.leader_id, tn[now].id);
	ASSERT_EQ_STR(st.leader_address, tn[now].addr);
	tn_teardown(tn, 3);
}

/* ---- quorum loss: outcome unknown ---- */

static void test_quorum_loss_unknown(void)
{
	struct tnode tn[3];
	tn_setup(tn, 3);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_OK(tn_start(&tn[i], tn, 3));
	int l = tn_wait_leader(tn, 3, 20000);
	ASSERT(l >= 0);
	ASSERT_OK(tn_apply_sync(tn[l].node, tn_key(1, 0)));
	ASSERT(tn_wait_count(tn, 3, 1, 20000));
	for (unsigned i = 0; i < 3; i++)
		if ((int)i != l)
			cl_node_stop(&tn[i].node);
	/* the entry reaches the leader's log but no quorum: the leader steps down after an
	 * election timeout and the caller learns the outcome is unknown */
	uint64_t t0 = mr_now_ms();
	ASSERT_ERR(tn_apply_sync(tn[l].node, tn_key(1, 1)), CL_EUNKNOWN);
	printf("  outcome unknown after %llu ms\n", (unsigned long long)(mr_now_ms() - t0));
	/* the loss is reported after the loop iteration that failed the apply */
	for (int i = 0; i < 500 && tn_lost(&tn[l]) == 0; i++)
		tn_sleep_ms(2);
	ASSERT_EQ_INT(tn_lost(&tn[l]), 1);
	struct cl_status st;
	ASSERT_OK(cl_node_status(tn[l].node, &st));
	ASSERT(st.state != CL_LEADER);
	ASSERT(!st.leader_ready);
	/* heal: the entry commits or not, but is never applied twice */
	for (unsigned i = 0; i < 3; i++)
		if ((int)i != l)
			ASSERT_OK(tn_start(&tn[i], tn, 3));
	int l2 = tn_wait_leader(tn, 3, 20000);
	ASSERT(l2 >= 0);
	ASSERT_OK(tn_apply_sync(tn[l2].node, tn_key(1, 2)));
	size_t n = tfsm_count(&tn[l2].fsm);
	ASSERT(n == 2 || n == 3);
	ASSERT(tn_wait_count(tn, 3, n, 20000));
	tn_assert_same_log(tn, 3, (unsigned)l2);
	tn_teardown(tn, 3);
}

static const struct unit_test tests[] = {
    {"start_invalid", test_start_invalid},
    {"start_bad_dir", test_start_bad_dir},
    {"single_node", test_single_node},
    {"join_mode_not_leader", test_join_mode_not_leader},
    {"three_nodes_500_applies", test_three_nodes_500_applies},
    {"failover_and_restart", test_failover_and_restart},
    {"quorum_loss_unknown", test_quorum_loss_unknown},
    {0},
};
UNIT_MAIN(tests)

/* test_node_membership.c - membership changes and leadership transfer through the raft runtime
 * (raft/cluster_node.h; thesis §4.1 and §3.10), with real raft_uv nodes in one process over
 * libraft's TCP transport on 127.0.0.1: a fourth node started in join mode is added as spare
 * (receives nothing), promoted to voter (catches up on the whole log), then removed; leadership
 * is handed to a chosen node and then to "the best" one; refused requests map to MR_E* codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_helpers.h"

static int add_sync(struct cl_node *node, raft_id id, const char *addr)
{
	struct waiter w;
	waiter_init(&w);
	int rv = cl_node_add(node, id, addr, waiter_done, &w);
	return rv ? rv : waiter_wait(&w, 30000);
}

static int assign_sync(struct cl_node *node, raft_id id, int role)
{
	struct waiter w;
	waiter_init(&w);
	int rv = cl_node_assign(node, id, role, waiter_done, &w);
	return rv ? rv : waiter_wait(&w, 30000);
}

static int remove_sync(struct cl_node *node, raft_id id)
{
	struct waiter w;
	waiter_init(&w);
	int rv = cl_node_remove(node, id, waiter_done, &w);
	return rv ? rv : waiter_wait(&w, 30000);
}

static int transfer_sync(struct cl_node *node, raft_id id)
{
	struct waiter w;
	waiter_init(&w);
	int rv = cl_node_transfer(node, id, waiter_done, &w);
	return rv ? rv : waiter_wait(&w, 30000);
}

/* Role of member id in node's status, -1 if absent. */
static int role_of(struct cl_node *node, raft_id id, unsigned *n_members_r)
{
	struct cl_status st;
	ASSERT_OK(cl_node_status(node, &st));
	if (n_members_r)
		*n_members_r = st.n_members;
	for (unsigned i = 0; i < st.n_members; i++)
		if (st.members[i].id == id)
			return st.members[i].role;
	return -1;
}

/* Wait until every running node's configuration gives member id the role (-1: absent). */
static bool wait_role(struct tnode *tn, unsigned n, raft_id id, int role)
{
	uint64_t end = mr_now_ms() + 20000;
	do {
		bool ok = true;
		for (unsigned i = 0; i < n; i++)
			if (tn[i].node && role_of(tn[i].node, id, NULL) != role)
				ok = false;
		if (ok)
			return true;
		tn_sleep_ms(10);
	} while (mr_now_ms() < end);
	return false;
}

static void test_add_promote_remove(void)
{
	struct tnode tn[4];
	tn_setup(tn, 4);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_OK(tn_start(&tn[i], tn, 3));
	int l = tn_wait_leader(tn, 3, 20000);
	ASSERT(l >= 0);
	struct cl_node *leader = tn[l].node;
	struct cl_node *follower = tn[(l + 1) % 3].node;
	for (uint32_t i = 0; i < 20; i++)
		ASSERT_OK(tn_apply_sync(leader, tn_key(1, i)));

	/* node 4 starts empty (join mode), then the leader adds it as a spare */
	ASSERT_OK(tn_start(&tn[3], tn, 0));
	ASSERT_ERR(add_sync(follower, 4, tn[3].addr), MR_ENOTLEADER);
	ASSERT_OK(add_sync(leader, 4, tn[3].addr));
	ASSERT_ERR(add_sync(leader, 4, tn[3].addr), MR_EEXIST);
	unsigned n_members = 0;
	ASSERT_EQ_INT(role_of(leader, 4, &n_members), CL_SPARE);
	ASSERT_EQ_INT(n_members, 4);
	ASSERT(wait_role(tn, 3, 4, CL_SPARE));
	/* a spare gets no log entries */
	ASSERT_OK(tn_apply_sync(leader, tn_key(2, 0)));
	ASSERT(tn_wait_count(tn, 3, 21, 20000));
	tn_sleep_ms(3 * TN_HEARTBEAT_MS);
	ASSERT_EQ_INT(tfsm_count(&tn[3].fsm), 0);

	/* promote to voter: libraft catches it up first; then it has the whole log */
	ASSERT_ERR(assign_sync(follower, 4, CL_VOTER), MR_ENOTLEADER);
	ASSERT_OK(assign_sync(leader, 4, CL_VOTER));
	ASSERT_ERR(assign_sync(leader, 4, CL_VOTER), MR_EINVAL); /* RAFT_BADROLE: unchanged */
	ASSERT(wait_role(tn, 4, 4, CL_VOTER));
	for (uint32_t i = 0; i < 10; i++)
		ASSERT_OK(tn_apply_sync(leader, tn_key(3, i)));
	ASSERT(tn_wait_count(tn, 4, 31, 20000));
	tn_assert_same_log(tn, 4, (unsigned)l);
	struct cl_status st;
	ASSERT_OK(cl_node_status(tn[3].node, &st));
	ASSERT_EQ_INT(st.leader_id, tn[l].id);
	ASSERT_EQ_INT(st.n_members, 4);
	ASSERT(st.last_applied >= 31);

	/* remove it again: the configuration is back to three voters, applies go on */
	ASSERT_ERR(remove_sync(leader, 99), MR_ENOTFOUND);
	ASSERT_OK(remove_sync(leader, 4));
	ASSERT(wait_role(tn, 3, 4, -1));
	ASSERT_EQ_INT(role_of(leader, 4, &n_members), -1);
	ASSERT_EQ_INT(n_members, 3);
	cl_node_stop(&tn[3].node);
	ASSERT_OK(tn_apply_sync(leader, tn_key(4, 0)));
	ASSERT(tn_wait_count(tn, 3, 32, 20000));
	tn_assert_same_log(tn, 3, (unsigned)l);
	tn_teardown(tn, 4);
}

static void test_transfer(void)
{
	struct tnode tn[3];
	tn_setup(tn, 3);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_OK(tn_start(&tn[i], tn, 3));
	int l = tn_wait_leader(tn, 3, 20000);
	ASSERT(l >= 0);
	ASSERT_OK(tn_apply_sync(tn[l].node, tn_key(1, 0)));

	int t = (l + 1) % 3;
	ASSERT_ERR(transfer_sync(tn[t].node, tn[l].id), MR_ENOTLEADER);
	ASSERT_ERR(transfer_sync(tn[l].node, 99), MR_ENOTFOUND); /* RAFT_BADID */
	uint64_t t0 = mr_now_ms();
	ASSERT_OK(transfer_sync(tn[l].node, tn[t].id));
	printf("  transfer %llu -> %llu took %llu ms\n", tn[l].id, tn[t].id,
	       (unsigned long long)(mr_now_ms() - t0));
	ASSERT_EQ_INT(tn_wait_leader(tn, 3, 20000), t);
	ASSERT_EQ_INT(tn_lost(&tn[l]), 1);
	ASSERT_EQ_INT(tn_gained(&tn[t]), 1);
	ASSERT_OK(tn_apply_sync(tn[t].node, tn_key(1, 1)));
	struct tpayload p = {.magic = TN_MAGIC, .key = 5};
	struct waiter w;
	waiter_init(&w);
	ASSERT_OK(cl_node_apply(tn[l].node, &p, sizeof p, waiter_apply_done, &w));
	ASSERT_ERR(waiter_wait(&w, 10000), MR_ENOTLEADER);

	/* 0 = let libraft pick the most up-to-date voter */
	ASSERT_OK(transfer_sync(tn[t].node, 0));
	int l2 = tn_wait_leader(tn, 3, 20000);
	ASSERT(l2 >= 0);
	ASSERT(l2 != t);
	ASSERT_OK(tn_apply_sync(tn[l2].node, tn_key(1, 2)));
	ASSERT(tn_wait_count(tn, 3, 3, 20000));
	tn_assert_same_log(tn, 3, (unsigned)l2);
	tn_teardown(tn, 3);
}

static const struct unit_test tests[] = {
    {"add_promote_remove", test_add_promote_remove},
    {"transfer", test_transfer},
    {0},
};
UNIT_MAIN(tests)

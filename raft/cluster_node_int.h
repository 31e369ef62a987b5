/* cluster_node_int.h - private declarations shared by cluster_node.c (thread, queue, start/stop,
 * status) and cluster_node_ops.c (what the raft thread does with each queued request). Not for
 * use outside raft/cluster_node*.c. */
#ifndef MR_CLUSTER_NODE_INT_H
#define MR_CLUSTER_NODE_INT_H
#include <pthread.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "raft/cluster_node.h"

enum cl__op_type {
	CL_OP_APPLY,
	CL_OP_BARRIER,
	CL_OP_ADD,
	CL_OP_ASSIGN,
	CL_OP_REMOVE,
	CL_OP_TRANSFER,
	CL_OP_POST
};

/* One queued request; owned by the queue, then by the raft thread until its callback fired. */
struct cl__op {
	struct cl__op *next;
	enum cl__op_type type;
	struct cl_node *node;
	cl_apply_cb apply_cb;
	cl_done_cb done_cb;
	cl_post_fn post_fn;
	void *ud;
	raft_id id;    /* add/assign/remove/transfer target */
	int role;      /* assign */
	char *address; /* add (xmalloc'd) */
	void *buf;     /* apply: raft_malloc'd payload until handed to raft_apply */
	size_t len;
	uint64_t start_ms; /* apply: when queued (for logs) / transfer: deadline */
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
		struct raft_change change;
		struct raft_transfer transfer;
	} req;
};

struct cl_node {
	/* copied configuration */
	raft_id id;
	char *address, *dir;
	struct raft_configuration bootstrap; /* n == 0: join mode */
	unsigned election_timeout_ms, heartbeat_ms, snapshot_threshold, snapshot_trailing;
	unsigned connect_retry_ms;
	bool pre_vote;
	struct raft_uv_transport *transport;
	cl_transport_init_cb transport_init;
	cl_transport_close_cb transport_close;
	void *transport_arg;
	struct raft_fsm *fsm;
	cl_attach_cb attach;
	void *attach_arg;
	cl_leader_cb on_leader;
	void *leader_arg;

	pthread_t thread;

	/* shared with other threads, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool started; /* start handshake done: start_rv valid */
	int start_rv;
	bool stopping; /* cl_node_stop called: no more requests, no more uv_async_send */
	bool async_ok; /* the async handle exists (uv_async_send allowed) */
	struct cl__op *q_head, **q_tail;
	struct cl_status status;

	/* raft thread only */
	uv_loop_t loop;
	uv_async_t async;
	uv_check_t check;
	uv_timer_t timer; /* polls transfers waiting to learn the new leader */
	bool loop_ok, check_ok, timer_ok, transport_ok, io_ok, raft_ok;
	bool closing;  /* teardown began: requests fail with MR_ECLOSED */
	bool draining; /* closing, waiting for local appends/applies before raft_close */
	uint64_t drain_deadline;
	struct raft_io io;
	struct raft raft;
	raft_term lead_term;   /* term whose leadership we track (0: not leader) */
	bool lead_reported;    /* on_leader(true) sent for lead_term */
	bool lead_barrier_due; /* issue the leadership barrier at the next check */
	bool lead_barrier_inflight;
	struct cl__op *transfers; /* transfers whose raft callback fired, waiting for a leader */
};

/* Handle one dequeued request on the raft thread (cluster_node_ops.c). When stopping,
 * everything but CL_OP_POST completes with MR_ECLOSED. */
void cl__op_run(struct cl_node *n, struct cl__op *op, bool stopping);
/* Complete and free a request with a status (never for CL_OP_POST). */
void cl__op_done(struct cl__op *op, int status);
void cl__op_free(struct cl__op *op);
/* Once per loop iteration: leadership tracking (barrier on gain, on_leader callbacks) and
 * transfers waiting for the new leader. */
void cl__leadership_check(struct cl_node *n);
void cl__transfers_poll(struct cl_node *n, bool closing);
/* At teardown, before raft_close: report a lost leadership. */
void cl__leadership_close(struct cl_node *n);
/* Start the timer that polls waiting transfers and the drain at stop (cluster_node.c). */
void cl__transfer_timer_arm(struct cl_node *n);

#endif

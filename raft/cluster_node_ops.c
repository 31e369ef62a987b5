/* cluster_node_ops.c - what the raft thread does with each queued request, and leadership
 * tracking (replication.md §3.4, §3.5, §7.4). Every function here runs on the node's raft
 * thread. Applies go to raft_apply() only if this node is the leader when the request is
 * dequeued (otherwise MR_ENOTLEADER without touching raft); once submitted, any non-zero apply
 * status (RAFT_LEADERSHIPLOST, RAFT_SHUTDOWN, an I/O error on the leader's own disk while
 * followers may still have the entry) means the outcome is unknown. Leadership gained is
 * reported only after a raft_barrier() of the new term applied (§7.4 step 6). A leadership
 * transfer (thesis §3.10) completes when another node is known as leader: libraft's transfer
 * callback fires when this node steps down, usually before the new leader is known, so such
 * transfers wait in a list polled after every loop iteration and by a short timer. */
#include <stdlib.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "raft/cluster_node_int.h"

#define LOG_C "raft"

void cl__op_free(struct cl__op *op)
{
	if (op->buf)
		raft_free(op->buf);
	free(op->address);
	free(op);
}

void cl__op_done(struct cl__op *op, int status)
{
	if (op->type == CL_OP_APPLY)
		op->apply_cb(op->ud, status, NULL);
	else
		op->done_cb(op->ud, status);
	cl__op_free(op);
}

/* raft_apply_cb: fires after the entry is committed and fsm->apply returned (status 0). */
static void apply_done(struct raft_apply *req, int status, void *result)
{
	struct cl__op *op = req->data;
	if (status != 0 && status != RAFT_LEADERSHIPLOST && status != RAFT_SHUTDOWN)
		log_warn(LOG_C, "apply failed id=%llu status=%d (%s)", op->node->id, status,
		         raft_strerror(status));
	op->apply_cb(op->ud, status == 0 ? 0 : CL_EUNKNOWN, status == 0 ? result : NULL);
	cl__op_free(op);
}

static void barrier_done(struct raft_barrier *req, int status)
{
	cl__op_done(req->data, cl_err_from_raft(status));
}

static void change_done(struct raft_change *req, int status)
{
	struct cl__op *op = req->data;
	log_info(LOG_C, "membership change node=%llu target=%llu status=%d", op->node->id, op->id,
	         status);
	cl__op_done(op, cl_err_from_raft(status));
}

static void transfer_done(struct raft_transfer *req)
{
	struct cl__op *op = req->data;
	struct cl_node *n = op->node;
	if (n->closing) {
		cl__op_done(op, MR_ECLOSED);
		return;
	}
	/* wait up to two election timeouts for the new leader to make itself known */
	op->start_ms = mr_now_ms() + 2ull * n->election_timeout_ms;
	op->next = n->transfers;
	n->transfers = op;
	cl__transfer_timer_arm(n);
}

void cl__transfers_poll(struct cl_node *n, bool closing)
{
	struct cl__op **pp = &n->transfers;
	uint64_t now = mr_now_ms();
	while (*pp) {
		struct cl__op *op = *pp;
		int st = 1; /* still waiting */
		raft_id lid = 0;
		const char *laddr = NULL;
		if (!closing)
			raft_leader(&n->raft, &lid, &laddr);
		if (closing)
			st = MR_ECLOSED;
		else if (lid != 0 && lid != n->id)
			st = (op->id == 0 || lid == op->id) ? 0 : MR_EBUSY;
		else if (lid == n->id && raft_state(&n->raft) == RAFT_LEADER)
			st = MR_EBUSY; /* libraft gave up after an election timeout */
		else if (now >= op->start_ms)
			st = MR_EBUSY;
		if (st == 1) {
			pp = &op->next;
			continue;
		}
		*pp = op->next;
		log_info(LOG_C, "transfer from=%llu to=%llu leader=%llu status=%d", n->id, op->id,
		         lid, st);
		cl__op_done(op, st);
	}
}

void cl__op_run(struct cl_node *n, struct cl__op *op, bool stopping)
{
	struct raft *r = &n->raft;
	int rv;
	if (op->type == CL_OP_POST) {
		op->post_fn(n, op->ud);
		cl__op_free(op);
		return;
	}
	if (stopping) {
		cl__op_done(op, MR_ECLOSED);
		return;
	}
	switch (op->type) {
	case CL_OP_APPLY: {
		if (raft_state(r) != RAFT_LEADER) {
			rv = RAFT_NOTLEADER;
			break;
		}
		struct raft_buffer b = {.base = op->buf, .len = op->len};
		op->req.apply.data = op;
		rv = raft_apply(r, &op->req.apply, &b, 1, apply_done);
		if (rv == 0)
			op->buf = NULL; /* raft owns the payload now */
		break;
	}
	case CL_OP_BARRIER:
		op->req.barrier.data = op;
		rv = raft_barrier(r, &op->req.barrier, barrier_done);
		break;
	case CL_OP_ADD:
		op->req.change.data = op;
		rv = raft_add(r, &op->req.change, op->id, op->address, change_done);
		break;
	case CL_OP_ASSIGN:
		op->req.change.data = op;
		rv = raft_assign(r, &op->req.change, op->id, op->role, change_done);
		break;
	case CL_OP_REMOVE:
		op->req.change.data = op;
		rv = raft_remove(r, &op->req.change, op->id, change_done);
		break;
	case CL_OP_TRANSFER:
		if (raft_state(r) != RAFT_LEADER) {
			rv = RAFT_NOTLEADER;
			break;
		}
		op->req.transfer.data = op;
		rv = raft_transfer(r, &op->req.transfer, op->id, transfer_done);
		break;
	default:
		rv = RAFT_INVALID;
		break;
	}
	if (rv != 0) {
		if (rv != RAFT_NOTLEADER)
			log_info(LOG_C, "request type=%d on node=%llu refused: %s", (int)op->type,
			         n->id, raft_strerror(rv));
		cl__op_done(op, cl_err_from_raft(rv));
	}
}

/* ---- leadership ---- */

struct lead_barrier {
	struct raft_barrier req;
	struct cl_node *n;
	raft_term term;
};

static void report(struct cl_node *n, bool leader, raft_term term)
{
	n->lead_reported = leader;
	log_info(LOG_C, "%s id=%llu term=%llu", leader ? "leader ready" : "leadership lost", n->id,
	         term);
	if (n->on_leader)
		n->on_leader(n, leader, term, n->leader_arg);
}

static void lead_barrier_done(struct raft_barrier *req, int status)
{
	struct lead_barrier *b = req->data;
	struct cl_node *n = b->n;
	raft_term term = b->term;
	free(b);
	n->lead_barrier_inflight = false;
	if (n->closing || raft_state(&n->raft) != RAFT_LEADER || n->raft.current_term != term ||
	    n->lead_term != term)
		return; /* cl__leadership_check handles the change */
	if (status != 0) {
		log_warn(LOG_C, "leadership barrier failed id=%llu: %s", n->id,
		         raft_strerror(status));
		n->lead_barrier_due = true; /* retried after this loop iteration */
		return;
	}
	if (!n->lead_reported)
		report(n, true, term);
}

void cl__leadership_check(struct cl_node *n)
{
	struct raft *r = &n->raft;
	bool leader = raft_state(r) == RAFT_LEADER;
	raft_term term = r->current_term;
	if (n->lead_term != 0 && (!leader || term != n->lead_term)) {
		if (n->lead_reported)
			report(n, false, n->lead_term);
		n->lead_term = 0;
		n->lead_barrier_due = false;
	}
	if (leader && n->lead_term == 0) {
		log_info(LOG_C, "elected leader id=%llu term=%llu", n->id, term);
		n->lead_term = term;
		n->lead_barrier_due = true;
	}
	if (!leader || !n->lead_barrier_due || n->lead_barrier_inflight)
		return;
	struct lead_barrier *b = xmalloc(sizeof *b);
	b->n = n;
	b->term = term;
	b->req.data = b;
	int rv = raft_barrier(r, &b->req, lead_barrier_done);
	if (rv != 0) {
		log_warn(LOG_C, "leadership barrier refused id=%llu: %s", n->id, raft_errmsg(r));
		free(b);
		return; /* still due: retried after the next loop iteration */
	}
	n->lead_barrier_due = false;
	n->lead_barrier_inflight = true;
}

void cl__leadership_close(struct cl_node *n)
{
	if (n->lead_reported)
		report(n, false, n->lead_term);
	n->lead_term = 0;
	n->lead_barrier_due = false;
}

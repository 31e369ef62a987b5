/* cluster_node.c - the raft runtime's thread, request queue, start/stop and status snapshot
 * (replication.md §3.6, §7.1). cl_node_start() spawns a thread that builds the uv loop, the
 * caller's transport, raft_uv and the struct raft, then reports the outcome back through a
 * condition variable and runs the loop until cl_node_stop(). Requests from other threads go
 * through a mutex-protected FIFO (multi-producer, single consumer) plus uv_async_send(); a
 * uv_check handle runs after every loop iteration to refresh the status snapshot and track
 * leadership. What each request does on the raft thread is in cluster_node_ops.c. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "raft/cluster_node_int.h"

#define LOG_C "raft"

const char *cl_strerror(int rv)
{
	if (rv == CL_EUNKNOWN)
		return "outcome unknown (leadership lost or shutdown)";
	return mr_strerror(rv);
}

int cl_err_from_raft(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOTLEADER:
		return MR_ENOTLEADER;
	case RAFT_LEADERSHIPLOST:
	case RAFT_SHUTDOWN:
		return CL_EUNKNOWN;
	case RAFT_CANTCHANGE:
	case RAFT_BUSY:
		return MR_EBUSY;
	case RAFT_BADID:
	case RAFT_NOTFOUND:
		return MR_ENOTFOUND;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
		return MR_EEXIST;
	case RAFT_BADROLE:
	case RAFT_INVALID:
		return MR_EINVAL;
	case RAFT_TOOBIG:
		return MR_ETOOBIG;
	case RAFT_NOMEM:
		return MR_ENOMEM;
	case RAFT_CORRUPT:
	case RAFT_MALFORMED:
		return MR_ECORRUPT;
	case RAFT_NOSPACE:
		return MR_EQUOTA;
	case RAFT_CANCELED:
		return MR_ECLOSED;
	}
	return MR_EIO;
}

const char *cl_role_name(int role)
{
	switch (role) {
	case CL_VOTER:
		return "voter";
	case CL_STANDBY:
		return "standby";
	case CL_SPARE:
		return "spare";
	}
	return "?";
}

const char *cl_state_name(int state)
{
	static const char *const names[] = {"unavailable", "follower", "candidate", "leader"};
	if (state < 0 || (size_t)state >= MR_ARRAY_LEN(names))
		return "?";
	return names[state];
}

/* mkdir -p with mode 0700 for the created components. */
static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof tmp)
		return MR_EINVAL;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return MR_EIO;
		*p = '/';
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return MR_EIO;
	struct stat st;
	if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
		return MR_EIO;
	return 0;
}

/* ---- status snapshot (raft thread writes, anyone reads) ---- */

static void status_refresh(struct cl_node *n)
{
	struct raft *r = &n->raft;
	pthread_mutex_lock(&n->mu);
	struct cl_status *st = &n->status;
	st->id = n->id;
	if (n->closing || !n->raft_ok) {
		st->state = CL_UNAVAILABLE;
		st->leader_ready = false;
		pthread_mutex_unlock(&n->mu);
		return;
	}
	const char *laddr = NULL;
	raft_id lid = 0;
	raft_leader(r, &lid, &laddr);
	st->state = raft_state(r);
	st->leader_ready = n->lead_reported;
	st->leader_id = lid;
	snprintf(st->leader_address, sizeof st->leader_address, "%s", laddr ? laddr : "");
	st->term = r->current_term;
	st->commit_index = r->commit_index;
	st->last_applied = raft_last_applied(r);
	st->last_index = raft_last_index(r);
	st->configuration_index = r->configuration_index;
	st->members_total = r->configuration.n;
	st->n_members = r->configuration.n < CL_MAX_MEMBERS ? r->configuration.n : CL_MAX_MEMBERS;
	bool leader = st->state == RAFT_LEADER && r->leader_state.progress != NULL;
	for (unsigned i = 0; i < st->n_members; i++) {
		const struct raft_server *s = &r->configuration.servers[i];
		struct cl_member *m = &st->members[i];
		m->id = s->id;
		m->role = s->role;
		snprintf(m->address, sizeof m->address, "%s", s->address ? s->address : "");
		m->match_index = leader ? r->leader_state.progress[i].match_index : 0;
		m->reachable =
		    leader ? (s->id == n->id || r->leader_state.progress[i].recent_recv) : false;
	}
	pthread_mutex_unlock(&n->mu);
}

int cl_node_status(struct cl_node *n, struct cl_status *st_r)
{
	pthread_mutex_lock(&n->mu);
	*st_r = n->status;
	int rv = n->stopping ? MR_ECLOSED : 0;
	pthread_mutex_unlock(&n->mu);
	return rv;
}

struct raft *cl_node_raft(struct cl_node *n)
{
	return &n->raft;
}

uv_loop_t *cl_node_loop(struct cl_node *n)
{
	return &n->loop;
}

raft_id cl_node_id(const struct cl_node *n)
{
	return n->id;
}

/* ---- teardown (raft thread) ---- */

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void close_handles(struct cl_node *n)
{
	pthread_mutex_lock(&n->mu);
	bool async_ok = n->async_ok;
	n->async_ok = false; /* producers check this under mu before uv_async_send */
	pthread_mutex_unlock(&n->mu);
	if (async_ok)
		uv_close((uv_handle_t *)&n->async, handle_closed);
	if (n->check_ok)
		uv_close((uv_handle_t *)&n->check, handle_closed);
	if (n->timer_ok)
		uv_close((uv_handle_t *)&n->timer, handle_closed);
	n->check_ok = n->timer_ok = false;
}

static void release_io(struct cl_node *n)
{
	if (n->io_ok)
		raft_uv_close(&n->io);
	n->io_ok = false;
	if (n->transport_ok && n->transport_close)
		n->transport_close(n->transport, n->transport_arg);
	n->transport_ok = false;
}

static void raft_closed(struct raft *r)
{
	struct cl_node *n = r->data;
	release_io(n);
	close_handles(n);
}

static void close_raft(struct cl_node *n)
{
	n->draining = false;
	if (n->raft_ok) {
		raft_close(&n->raft, raft_closed);
		return;
	}
	release_io(n);
	close_handles(n);
}

/* Graceful stop: before raft_close(), let the entries this node already has reach its disk
 * (and, on a leader, be applied, so their callbacks report 0), for at most one election
 * timeout. Besides being friendlier to callers, this avoids closing libraft 0.15 with local
 * appends in flight: cancelling them at close crashed it (NULL dereference in the log's
 * reference table, seen once in ~10 stops of a busy single-node leader). */
static bool drained(struct cl_node *n)
{
	struct raft *r = &n->raft;
	raft_index last = raft_last_index(r);
	if (raft_state(r) == RAFT_LEADER)
		return raft_last_applied(r) >= last;
	return r->last_stored >= last;
}

static void drain_poll(struct cl_node *n)
{
	if (n->draining && (drained(n) || mr_now_ms() >= n->drain_deadline))
		close_raft(n);
}

/* Start closing everything that exists; uv_run() then returns once all of it closed. */
static void teardown(struct cl_node *n)
{
	if (n->closing)
		return;
	if (n->raft_ok)
		cl__leadership_close(n);
	n->closing = true;
	status_refresh(n);
	cl__transfers_poll(n, true);
	if (n->raft_ok && raft_state(&n->raft) != RAFT_UNAVAILABLE && !drained(n)) {
		n->draining = true;
		n->drain_deadline = mr_now_ms() + n->election_timeout_ms;
		cl__transfer_timer_arm(n); /* polls drain_poll too */
		return;
	}
	close_raft(n);
}

/* ---- queue (raft thread side) ---- */

static void on_async(uv_async_t *a)
{
	struct cl_node *n = a->data;
	pthread_mutex_lock(&n->mu);
	struct cl__op *op = n->q_head;
	n->q_head = NULL;
	n->q_tail = &n->q_head;
	bool stop = n->stopping;
	pthread_mutex_unlock(&n->mu);
	while (op) { /* when stopping, requests still queued fail with MR_ECLOSED */
		struct cl__op *next = op->next;
		op->next = NULL;
		cl__op_run(n, op, stop || n->closing);
		op = next;
	}
	if (stop)
		teardown(n);
}

static void on_check(uv_check_t *c)
{
	struct cl_node *n = c->data;
	if (n->closing) {
		drain_poll(n);
		return;
	}
	cl__leadership_check(n);
	cl__transfers_poll(n, false);
	status_refresh(n);
}

static void on_timer(uv_timer_t *t)
{
	struct cl_node *n = t->data;
	if (n->closing)
		drain_poll(n);
	else
		cl__transfers_poll(n, false);
	if (!n->transfers && !n->draining)
		uv_timer_stop(t);
}

/* ---- start (raft thread) ---- */

static int node_open(struct cl_node *n)
{
	int rv = mkdir_p(n->dir);
	if (rv != 0) {
		log_error(LOG_C, "cannot create raft dir=%s errno=%d", n->dir, errno);
		return rv;
	}
	if (uv_loop_init(&n->loop) != 0)
		return MR_EIO;
	n->loop_ok = true;
	if (uv_async_init(&n->loop, &n->async, on_async) != 0)
		return MR_EIO;
	n->async.data = n;
	pthread_mutex_lock(&n->mu);
	n->async_ok = true;
	pthread_mutex_unlock(&n->mu);
	if (uv_check_init(&n->loop, &n->check) != 0)
		return MR_EIO;
	n->check.data = n;
	n->check_ok = true;
	if (uv_timer_init(&n->loop, &n->timer) != 0)
		return MR_EIO;
	n->timer.data = n;
	n->timer_ok = true;

	if (n->transport_init) {
		rv = n->transport_init(n->transport, &n->loop, n->transport_arg);
		if (rv != 0) {
			log_error(LOG_C, "transport init failed id=%llu rv=%d", n->id, rv);
			return rv < 0 ? rv : cl_err_from_raft(rv);
		}
	}
	n->transport_ok = true;
	rv = raft_uv_init(&n->io, &n->loop, n->dir, n->transport);
	if (rv != 0) {
		log_error(LOG_C, "raft_uv_init: %s", n->io.errmsg);
		return cl_err_from_raft(rv);
	}
	n->io_ok = true;
	if (n->connect_retry_ms)
		raft_uv_set_connect_retry_delay(&n->io, n->connect_retry_ms);
	rv = raft_init(&n->raft, &n->io, n->fsm, n->id, n->address);
	if (rv != 0) {
		log_error(LOG_C, "raft_init: %s", raft_errmsg(&n->raft));
		return cl_err_from_raft(rv);
	}
	n->raft_ok = true;
	n->raft.data = n;
	raft_set_election_timeout(&n->raft, n->election_timeout_ms);
	raft_set_heartbeat_timeout(&n->raft, n->heartbeat_ms);
	raft_set_snapshot_threshold(&n->raft, n->snapshot_threshold);
	raft_set_snapshot_trailing(&n->raft, n->snapshot_trailing);
	raft_set_pre_vote(&n->raft, n->pre_vote);
	if (n->bootstrap.n > 0) {
		rv = raft_bootstrap(&n->raft, &n->bootstrap);
		if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
			log_error(LOG_C, "raft_bootstrap: %s", raft_errmsg(&n->raft));
			return cl_err_from_raft(rv);
		}
	}
	if (n->attach)
		n->attach(&n->raft, n->attach_arg);
	rv = raft_start(&n->raft);
	if (rv != 0) {
		log_error(LOG_C, "raft_start: %s", raft_errmsg(&n->raft));
		return cl_err_from_raft(rv);
	}
	if (uv_check_start(&n->check, on_check) != 0)
		return MR_EIO;
	status_refresh(n);
	log_info(LOG_C, "node started id=%llu address=%s term=%llu last_index=%llu", n->id,
	         n->address, n->raft.current_term, raft_last_index(&n->raft));
	return 0;
}

static void *node_thread(void *arg)
{
	struct cl_node *n = arg;
	int rv = node_open(n);
	pthread_mutex_lock(&n->mu);
	n->start_rv = rv;
	n->started = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	if (rv != 0)
		teardown(n);
	if (!n->loop_ok)
		return NULL;
	uv_run(&n->loop, UV_RUN_DEFAULT);
	int lrv = uv_loop_close(&n->loop);
	if (lrv != 0)
		log_error(LOG_C, "uv_loop_close id=%llu: %s", n->id, uv_strerror(lrv));
	return NULL;
}

/* ---- public entry points ---- */

static void node_free(struct cl_node *n)
{
	free(n->address);
	free(n->dir);
	raft_configuration_close(&n->bootstrap);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cond);
	free(n);
}

int cl_node_start(const struct cl_node_config *cfg, struct cl_node **node_r)
{
	*node_r = NULL;
	if (!cfg || cfg->id == 0 || !cfg->address || !cfg->dir || !cfg->transport || !cfg->fsm ||
	    strlen(cfg->address) >= CL_ADDR_MAX || (cfg->n_servers > 0 && !cfg->servers))
		return MR_EINVAL;
	struct cl_node *n = xmalloc(sizeof *n);
	n->id = cfg->id;
	n->address = xstrdup(cfg->address);
	n->dir = xstrdup(cfg->dir);
	raft_configuration_init(&n->bootstrap);
	for (unsigned i = 0; i < cfg->n_servers; i++) {
		const struct cl_server *s = &cfg->servers[i];
		int rv = s->address
		             ? raft_configuration_add(&n->bootstrap, s->id, s->address, s->role)
		             : RAFT_INVALID;
		if (rv != 0) {
			log_error(LOG_C, "bad bootstrap server id=%llu: %s", s->id,
			          raft_strerror(rv));
			raft_configuration_close(&n->bootstrap);
			free(n->address);
			free(n->dir);
			free(n);
			return rv == RAFT_NOMEM ? MR_ENOMEM : MR_EINVAL;
		}
	}
	n->election_timeout_ms = cfg->election_timeout_ms ? cfg->election_timeout_ms : 1000;
	n->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 100;
	n->snapshot_threshold = cfg->snapshot_threshold ? cfg->snapshot_threshold : 1024;
	n->snapshot_trailing = cfg->snapshot_trailing ? cfg->snapshot_trailing : 128;
	n->connect_retry_ms = cfg->connect_retry_ms;
	n->pre_vote = !cfg->no_pre_vote;
	n->transport = cfg->transport;
	n->transport_init = cfg->transport_init;
	n->transport_close = cfg->transport_close;
	n->transport_arg = cfg->transport_arg;
	n->fsm = cfg->fsm;
	n->attach = cfg->attach;
	n->attach_arg = cfg->attach_arg;
	n->on_leader = cfg->on_leader;
	n->leader_arg = cfg->leader_arg;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cond, NULL);
	n->q_tail = &n->q_head;
	n->status.id = n->id;

	if (pthread_create(&n->thread, NULL, node_thread, n) != 0) {
		node_free(n);
		return MR_EIO;
	}
	pthread_mutex_lock(&n->mu);
	while (!n->started)
		pthread_cond_wait(&n->cond, &n->mu);
	int rv = n->start_rv;
	pthread_mutex_unlock(&n->mu);
	if (rv != 0) {
		pthread_join(n->thread, NULL);
		node_free(n);
		return rv;
	}
	*node_r = n;
	return 0;
}

void cl_node_stop(struct cl_node **np)
{
	struct cl_node *n = *np;
	if (!n)
		return;
	*np = NULL;
	if (pthread_equal(pthread_self(), n->thread)) {
		log_error(LOG_C, "cl_node_stop called on the raft thread");
		abort();
	}
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	if (n->async_ok)
		uv_async_send(&n->async);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	log_info(LOG_C, "node stopped id=%llu", n->id);
	node_free(n);
}

/* Queue op (takes ownership). 0, or MR_ECLOSED (op freed, its callback not called). */
static int enqueue(struct cl_node *n, struct cl__op *op)
{
	op->node = n;
	pthread_mutex_lock(&n->mu);
	if (n->stopping || !n->async_ok) {
		pthread_mutex_unlock(&n->mu);
		cl__op_free(op);
		return MR_ECLOSED;
	}
	*n->q_tail = op;
	n->q_tail = &op->next;
	uv_async_send(&n->async); /* under mu: the handle cannot be closed meanwhile */
	pthread_mutex_unlock(&n->mu);
	return 0;
}

static struct cl__op *op_new(enum cl__op_type type, void *ud)
{
	struct cl__op *op = xmalloc(sizeof *op);
	op->type = type;
	op->ud = ud;
	op->start_ms = mr_now_ms();
	return op;
}

int cl_node_apply(struct cl_node *n, const void *buf, size_t len, cl_apply_cb cb, void *ud)
{
	if (len == 0 || len > UINT32_MAX || !buf || !cb)
		return MR_EINVAL;
	struct cl__op *op = op_new(CL_OP_APPLY, ud);
	op->apply_cb = cb;
	op->buf = raft_malloc(len);
	if (!op->buf)
		abort(); /* style practice 9: abort on OOM */
	memcpy(op->buf, buf, len);
	op->len = len;
	return enqueue(n, op);
}

int cl_node_barrier(struct cl_node *n, cl_done_cb cb, void *ud)
{
	if (!cb)
		return MR_EINVAL;
	struct cl__op *op = op_new(CL_OP_BARRIER, ud);
	op->done_cb = cb;
	return enqueue(n, op);
}

int cl_node_add(struct cl_node *n, raft_id id, const char *address, cl_done_cb cb, void *ud)
{
	if (!cb || id == 0 || !address || !*address || strlen(address) >= CL_ADDR_MAX)
		return MR_EINVAL;
	struct cl__op *op = op_new(CL_OP_ADD, ud);
	op->done_cb = cb;
	op->id = id;
	op->address = xstrdup(address);
	return enqueue(n, op);
}

int cl_node_assign(struct cl_node *n, raft_id id, int role, cl_done_cb cb, void *ud)
{
	if (!cb || id == 0 || (role != CL_VOTER && role != CL_STANDBY && role != CL_SPARE))
		return MR_EINVAL;
	struct cl__op *op = op_new(CL_OP_ASSIGN, ud);
	op->done_cb = cb;
	op->id = id;
	op->role = role;
	return enqueue(n, op);
}

int cl_node_remove(struct cl_node *n, raft_id id, cl_done_cb cb, void *ud)
{
	if (!cb || id == 0)
		return MR_EINVAL;
	struct cl__op *op = op_new(CL_OP_REMOVE, ud);
	op->done_cb = cb;
	op->id = id;
	return enqueue(n, op);
}

int cl_node_transfer(struct cl_node *n, raft_id id, cl_done_cb cb, void *ud)
{
	if (!cb)
		return MR_EINVAL;
	struct cl__op *op = op_new(CL_OP_TRANSFER, ud);
	op->done_cb = cb;
	op->id = id;
	return enqueue(n, op);
}

int cl_node_post(struct cl_node *n, cl_post_fn fn, void *arg)
{
	if (!fn)
		return MR_EINVAL;
	struct cl__op *op = op_new(CL_OP_POST, arg);
	op->post_fn = fn;
	return enqueue(n, op);
}

void cl__transfer_timer_arm(struct cl_node *n)
{
	if (n->timer_ok && !uv_is_active((uv_handle_t *)&n->timer))
		uv_timer_start(&n->timer, on_timer, 20, 20);
}

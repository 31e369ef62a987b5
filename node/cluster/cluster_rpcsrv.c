/* cluster_rpcsrv.c - what this node answers on the member RPC (raft/cluster_rpc.h) and the
 * engine's forward hook that calls the leader's FORWARD:
 *   FORWARD  an encoded raft entry from a follower: proposed here (we must be the leader);
 *            the reply carries the apply status once the entry applied locally.
 *   STATUS   this node's view (RpcStatus) for `cluster members` on the other nodes.
 *   MEMBER   a membership change or transfer asked by a follower (we must be the leader).
 *   JOIN     anonymous: a new node proves it holds an invitation's secret and receives its
 *            certificate and the master key, sealed (raft/cluster_join.h); we then ask the
 *            leader to add it as a spare and make it a standby so the log flows to it.
 * Handlers run on nng threads and never block: slow work completes through callbacks. */
#include "cluster/cluster_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "node.h"
#include "rpc.pb-c.h"

/* ---- forward (client side: the engine's hook) ----------------------------------------------
 * A forward whose leader dies would wait for the RPC timeout (nng queues the request until it
 * can redial). The poll tick sweeps forwards sent to a node that is no longer the leader and
 * ends them at once with "outcome unknown": the store re-runs the job against the new leader,
 * and stops once the old entry shows up as applied if it did commit. Each forward is owned by
 * the list and by its RPC; whoever ends it first calls back, the last reference frees it. */

struct fwd {
	struct fwd *prev, *next;
	uint64_t leader;
	cl_apply_cb cb;
	void *cb_ud;
	bool ended;
	int refs;
};

static pthread_mutex_t fwd_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fwd *fwd_list;

static void fwd_unlink(struct fwd *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		fwd_list = f->next;
	if (f->next)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
}

/* Drop one reference; end the forward (callback) if it was still running. */
static void fwd_release(struct fwd *f, int status)
{
	pthread_mutex_lock(&fwd_mu);
	bool call = !f->ended;
	if (call) {
		f->ended = true;
		fwd_unlink(f);
		f->refs--; /* the list's reference */
	}
	bool last = --f->refs == 0;
	pthread_mutex_unlock(&fwd_mu);
	if (call)
		f->cb(f->cb_ud, status, NULL);
	if (last)
		free(f);
}

static void fwd_done(void *ud, int status, const uint8_t *body, size_t len)
{
	(void)body;
	(void)len;
	/* A transport failure after the request may have left: the entry may still commit. */
	if (status == CL_RPC_ETIMEDOUT || status == MR_EIO || status == MR_EPROTO)
		status = CL_EUNKNOWN;
	fwd_release(ud, status);
}

int cluster__forward(void *ud, raft_id leader, const char *leader_address, const void *buf,
                     size_t len, cl_apply_cb cb, void *cb_ud)
{
	struct cluster *c = ud;
	char rpc[CL_ADDRESS_MAX + 1];
	if (cl_rpc_address(leader_address, rpc) != 0)
		return MR_ENOTLEADER;
	struct fwd *f = xcalloc(1, sizeof *f);
	f->leader = leader;
	f->cb = cb;
	f->cb_ud = cb_ud;
	f->refs = 2;
	pthread_mutex_lock(&fwd_mu);
	f->next = fwd_list;
	if (fwd_list)
		fwd_list->prev = f;
	fwd_list = f;
	pthread_mutex_unlock(&fwd_mu);
	int rv = cl_rpc_call(c->client, rpc, CL_RPC_FORWARD, buf, len, CLUSTER_FORWARD_TIMEOUT_MS,
	                     fwd_done, f);
	if (rv != 0) {
		pthread_mutex_lock(&fwd_mu);
		fwd_unlink(f);
		pthread_mutex_unlock(&fwd_mu);
		free(f);
	}
	return rv;
}

void cluster__forward_sweep(uint64_t leader)
{
	for (;;) {
		pthread_mutex_lock(&fwd_mu);
		struct fwd *f = fwd_list;
		while (f && f->leader == leader)
			f = f->next;
		if (f)
			f->refs++; /* keep it alive across the release below */
		pthread_mutex_unlock(&fwd_mu);
		if (!f)
			return;
		/* ends it: drops the list's reference and our extra one; the RPC's stays */
		fwd_release(f, CL_EUNKNOWN);
	}
}

/* ---- FORWARD (server side) ------------------------------------------------------------------ */

/* libraft 0.15 tells followers a new commit index only with its next AppendEntries: a new
 * entry or the next heartbeat. The proposer of a forwarded entry waits for its own state
 * machine to apply it, so once the leader applied one, a barrier (an empty entry, sent to
 * every follower at once) carries the commit index to them. One barrier at a time: under
 * load the entries that follow carry it anyway. */
static atomic_bool barrier_busy;

static void barrier_done(void *ud, int status)
{
	(void)ud;
	(void)status;
	atomic_store(&barrier_busy, false);
}

static void push_commit_index(struct cluster *c)
{
	if (atomic_exchange(&barrier_busy, true))
		return;
	if (!c->node || cl_node_barrier(c->node, barrier_done, NULL) != 0)
		atomic_store(&barrier_busy, false);
}

static void forward_applied(void *ud, int status, void *result)
{
	(void)result;
	cl_rpc_reply(ud, status, NULL, 0);
	if (status == 0)
		push_commit_index(&cluster__g);
}

static void h_forward(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct cluster *c = ud;
	int rv = len > 0 ? cl_engine_submit(c->engine, body, len, forward_applied, call)
	                 : MR_EINVAL;
	if (rv != 0)
		cl_rpc_reply(call, rv == MR_ECLOSED ? MR_ENOTLEADER : rv, NULL, 0);
}

/* ---- STATUS --------------------------------------------------------------------------------- */

static void h_status(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct cluster *c = ud;
	(void)body;
	(void)len;
	struct cl_status st;
	if (!c->node || cl_node_status(c->node, &st) != 0) {
		cl_rpc_reply(call, MR_ECLOSED, NULL, 0);
		return;
	}
	Mr__RpcStatus m = MR__RPC_STATUS__INIT;
	m.id = st.id;
	m.state = (uint32_t)st.state;
	m.has_term = m.has_commit_index = m.has_last_applied = m.has_leader_id = true;
	m.term = st.term;
	m.commit_index = st.commit_index;
	m.last_applied = st.last_applied;
	m.leader_id = st.leader_id;
	m.has_applied = true;
	m.applied = st.last_applied;
	m.has_ready = true;
	m.ready = cluster_ready();
	size_t n = mr__rpc_status__get_packed_size(&m);
	uint8_t *buf = xmalloc(n ? n : 1);
	mr__rpc_status__pack(&m, buf);
	cl_rpc_reply(call, 0, buf, n);
	free(buf);
}

/* ---- MEMBER --------------------------------------------------------------------------------- */

static void member_done(void *ud, int status)
{
	cl_rpc_reply(ud, status, NULL, 0);
}

static void h_member(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	(void)ud;
	Mr__RpcMember *m = mr__rpc_member__unpack(NULL, len, body);
	if (!m) {
		cl_rpc_reply(call, MR_EPROTO, NULL, 0);
		return;
	}
	bool self = false;
	char rpc[CL_ADDRESS_MAX + 1];
	int rv = cluster__leader_rpc(rpc, &self) == 0 && self ? 0 : MR_ENOTLEADER;
	if (rv == 0)
		rv = cluster__member_op((int)m->verb, m->has_id ? m->id : 0, m->address,
		                        m->has_role ? (int)m->role : CL_VOTER, member_done, call);
	mr__rpc_member__free_unpacked(m, NULL);
	if (rv != 0)
		cl_rpc_reply(call, rv, NULL, 0);
}

/* ---- JOIN ----------------------------------------------------------------------------------- */

/* After the grant: add the node as a spare, then make it a standby (it receives the log
 * without voting); it asks for its promotion to voter itself once caught up. */
struct join_follow {
	uint64_t id;
	char address[CL_ADDRESS_MAX + 1];
};

static void join_standby_done(void *ud, int status)
{
	struct join_follow *j = ud;
	if (status != 0)
		log_warn(CLUSTER_COMP, "join: standby role for id=%llu failed: %s",
		         (unsigned long long)j->id, mr_strerror(status));
	else
		log_info(CLUSTER_COMP, "join: id=%llu address=%s added as standby",
		         (unsigned long long)j->id, j->address);
	free(j);
}

static void join_added(void *ud, int status)
{
	struct join_follow *j = ud;
	if (status != 0 && status != MR_EEXIST) {
		log_warn(CLUSTER_COMP, "join: adding id=%llu address=%s failed: %s",
		         (unsigned long long)j->id, j->address, mr_strerror(status));
		free(j);
		return;
	}
	if (cluster__member_op(MR__RPC_MEMBER__VERB__ASSIGN, j->id, NULL, CL_STANDBY,
	                       join_standby_done, j) != 0) {
		log_warn(CLUSTER_COMP, "join: cannot ask for the standby role of id=%llu",
		         (unsigned long long)j->id);
		free(j);
	}
}

static int grant_for(const struct invite *inv, uint8_t **buf_r, size_t *len_r)
{
	struct cluster *c = &cluster__g;
	char host[CL_ADDRESS_MAX + 1], url[CL_URL_MAX];
	int rv = cl_address_parse(inv->address, url, host);
	struct cl_pki issued = {0};
	if (rv == 0)
		rv = cl_pki_issue_pem(c->dir, inv->id, host, &issued);
	struct cl_join_grant g = {0};
	if (rv == 0)
		rv = cluster__master_key(g.master_key);
	char *ca_key = NULL;
	if (rv == 0)
		rv = cl_pki_read(c->dir, CL_PKI_CA_KEY, true, &ca_key);
	if (rv == 0) {
		g.ca_pem = issued.ca_pem;
		g.cert_pem = issued.cert_pem;
		g.key_pem = issued.key_pem;
		g.ca_key_pem = ca_key;
		rv = cl_join_grant_seal(&g, inv->secret, buf_r, len_r);
	}
	sodium_memzero(g.master_key, sizeof g.master_key);
	if (ca_key) {
		sodium_memzero(ca_key, strlen(ca_key));
		free(ca_key);
	}
	cl_pki_free(&issued);
	return rv;
}

static void h_join(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	(void)ud;
	uint64_t id = 0;
	uint8_t proof[CL_JOIN_PROOF];
	struct invite inv;
	int rv = cl_join_request_decode(body, len, &id, proof);
	if (rv == 0)
		rv = cluster__invite_take(id, proof, &inv);
	uint8_t *grant = NULL;
	size_t glen = 0;
	if (rv == 0)
		rv = grant_for(&inv, &grant, &glen);
	if (rv != 0) {
		log_warn(CLUSTER_COMP, "join refused id=%llu err=%s", (unsigned long long)id,
		         mr_strerror(rv));
		cl_rpc_reply(call, rv == MR_ENOTFOUND ? MR_EAUTH : rv, NULL, 0);
		sodium_memzero(&inv, sizeof inv);
		return;
	}
	cl_rpc_reply(call, 0, grant, glen);
	free(grant);
	log_info(CLUSTER_COMP, "join: credentials sent to id=%llu address=%s",
	         (unsigned long long)inv.id, inv.address);
	struct join_follow *j = xmalloc(sizeof *j);
	j->id = inv.id;
	snprintf(j->address, sizeof j->address, "%s", inv.address);
	sodium_memzero(&inv, sizeof inv);
	if (cluster__member_op(MR__RPC_MEMBER__VERB__ADD, j->id, j->address, CL_SPARE, join_added,
	                       j) != 0) {
		log_warn(CLUSTER_COMP, "join: cannot ask the leader to add id=%llu",
		         (unsigned long long)j->id);
		free(j);
	}
}

/* ---- FETCH: a database copy for a lagging node (raft/cluster_fetch.h) ----------------------- */

static void h_fetch(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct cluster *c = ud;
	if (!c->fetch) {
		cl_rpc_reply(call, MR_ECLOSED, NULL, 0);
		return;
	}
	cl_fetch_serve(c->fetch, body, len, cl_fetch_rpc_reply, call);
}

const struct cl_rpc_handler cluster__rpc_table[] = {
    {CL_RPC_FETCH, false, h_fetch},
    {CL_RPC_FORWARD, false, h_forward},
    {CL_RPC_STATUS, false, h_status},
    {CL_RPC_MEMBER, false, h_member},
    {CL_RPC_JOIN, true, h_join},
};
const size_t cluster__rpc_table_len = sizeof cluster__rpc_table / sizeof cluster__rpc_table[0];

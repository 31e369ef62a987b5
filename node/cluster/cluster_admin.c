/* cluster_admin.c - cluster mode's operations for the admin socket and the periodic work:
 * completions posted back to the main loop, membership changes and transfers run on the
 * leader (locally, or through the member RPC when this node follows), invitations for
 * `cluster add`, the member poll behind `cluster members` (each member's own applied index,
 * reachability), the readiness check, and a joiner asking for its promotion once caught up. */
#include "cluster/cluster_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "node.h"
#include "rpc.pb-c.h"

#define POST_MSG_MAX 1024

struct cluster_post {
	struct cluster_post *next;
	cluster_post_fn fn;
	void *ud;
	int status;
	bool has_msg;
	char msg[POST_MSG_MAX];
};

/* ---- main-loop completions ------------------------------------------------------------------ */

void cluster__post(cluster_post_fn fn, void *ud, int status, const char *msg)
{
	struct cluster *c = &cluster__g;
	struct cluster_post *p = xcalloc(1, sizeof *p);
	p->fn = fn;
	p->ud = ud;
	p->status = status;
	if (msg) {
		p->has_msg = true;
		snprintf(p->msg, sizeof p->msg, "%s", msg);
	}
	pthread_mutex_lock(&c->mu);
	struct cluster_post **pp = &c->posts;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;
	bool up = c->handles_up;
	pthread_mutex_unlock(&c->mu);
	if (up)
		uv_async_send(&c->async);
}

void cluster__drain_posts(void)
{
	struct cluster *c = &cluster__g;
	pthread_mutex_lock(&c->mu);
	struct cluster_post *p = c->posts;
	c->posts = NULL;
	pthread_mutex_unlock(&c->mu);
	while (p) {
		struct cluster_post *next = p->next;
		p->fn(p->ud, p->status, p->has_msg ? p->msg : NULL);
		free(p);
		p = next;
	}
}

void cluster__async_cb(uv_async_t *h)
{
	(void)h;
	cluster__drain_posts();
}

/* ---- the leader ----------------------------------------------------------------------------- */

int cluster__leader_rpc(char out[CL_ADDRESS_MAX + 1], bool *self_r)
{
	struct cluster *c = &cluster__g;
	struct cl_status st;
	out[0] = 0;
	*self_r = false;
	if (!c->node || cl_node_status(c->node, &st) != 0 || st.leader_id == 0)
		return MR_ENOTFOUND;
	if (st.leader_id == st.id) {
		*self_r = true;
		return 0;
	}
	return cl_rpc_address(st.leader_address, out) == 0 ? 0 : MR_ENOTFOUND;
}

/* ---- membership operations ------------------------------------------------------------------ */

struct member_call {
	cluster_member_done done;
	void *ud;
};

static void member_local_done(void *ud, int status)
{
	struct member_call *m = ud;
	m->done(m->ud, status);
	free(m);
}

static void member_rpc_done(void *ud, int status, const uint8_t *body, size_t len)
{
	(void)body;
	(void)len;
	member_local_done(ud, status);
}

int cluster__member_op(int verb, uint64_t id, const char *address, int role,
                       cluster_member_done done, void *ud)
{
	struct cluster *c = &cluster__g;
	char rpc[CL_ADDRESS_MAX + 1];
	bool self = false;
	if (cluster__leader_rpc(rpc, &self) != 0)
		return MR_ENOTLEADER;
	struct member_call *m = xmalloc(sizeof *m);
	m->done = done;
	m->ud = ud;
	int rv;
	if (self) {
		switch (verb) {
		case MR__RPC_MEMBER__VERB__ADD:
			rv = address ? cl_node_add(c->node, id, address, member_local_done, m)
			             : MR_EINVAL;
			break;
		case MR__RPC_MEMBER__VERB__ASSIGN:
			rv = cl_node_assign(c->node, id, role, member_local_done, m);
			break;
		case MR__RPC_MEMBER__VERB__REMOVE:
			rv = cl_node_remove(c->node, id, member_local_done, m);
			break;
		case MR__RPC_MEMBER__VERB__TRANSFER:
			rv = cl_node_transfer(c->node, id, member_local_done, m);
			break;
		default:
			rv = MR_EINVAL;
		}
	} else {
		Mr__RpcMember req = MR__RPC_MEMBER__INIT;
		req.verb = (Mr__RpcMember__Verb)verb;
		req.has_id = true;
		req.id = id;
		req.address = (char *)address;
		req.has_role = true;
		req.role = (uint32_t)role;
		size_t n = mr__rpc_member__get_packed_size(&req);
		uint8_t *buf = xmalloc(n ? n : 1);
		mr__rpc_member__pack(&req, buf);
		/* a promotion waits for the catch-up: give it time */
		rv = cl_rpc_call(c->client, rpc, CL_RPC_MEMBER, buf, n, 30000, member_rpc_done, m);
		free(buf);
	}
	if (rv != 0)
		free(m);
	return rv;
}

/* ---- admin verbs ---------------------------------------------------------------------------- */

struct admin_op {
	cluster_done_fn done;
	void *ud;
};

static void admin_posted(void *ud, int status, const char *msg)
{
	struct admin_op *a = ud;
	a->done(a->ud, status, msg ? msg : status == 0 ? "ok" : mr_strerror(status));
	free(a);
}

static void admin_member_done(void *ud, int status)
{
	cluster__post(admin_posted, ud, status, NULL);
}

static int admin_member(int verb, uint64_t id, int role, cluster_done_fn done, void *ud)
{
	if (!cluster__g.node)
		return MR_ENOTFOUND;
	struct admin_op *a = xmalloc(sizeof *a);
	a->done = done;
	a->ud = ud;
	int rv = cluster__member_op(verb, id, NULL, role, admin_member_done, a);
	if (rv != 0)
		free(a);
	return rv;
}

int cluster_assign(uint64_t id, int role, cluster_done_fn done, void *ud)
{
	if (id == 0 || (role != CL_VOTER && role != CL_STANDBY && role != CL_SPARE))
		return MR_EINVAL;
	return admin_member(MR__RPC_MEMBER__VERB__ASSIGN, id, role, done, ud);
}

int cluster_remove(uint64_t id, cluster_done_fn done, void *ud)
{
	return id ? admin_member(MR__RPC_MEMBER__VERB__REMOVE, id, 0, done, ud) : MR_EINVAL;
}

int cluster_transfer(uint64_t to, cluster_done_fn done, void *ud)
{
	return admin_member(MR__RPC_MEMBER__VERB__TRANSFER, to, 0, done, ud);
}

/* ---- invitations ---------------------------------------------------------------------------- */

int cluster_invite(uint64_t id, const char *address, cluster_done_fn done, void *ud)
{
	struct cluster *c = &cluster__g;
	if (!c->node)
		return MR_ENOTFOUND;
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (id == 0 || !address || cl_address_parse(address, url, host) != 0)
		return MR_EINVAL;
	char *cakey = xasprintf("%s/%s", c->dir, CL_PKI_CA_KEY);
	bool has_ca = access(cakey, R_OK) == 0;
	free(cakey);
	if (!has_ca)
		return MR_EPERM; /* only a node holding the CA key can issue certificates */
	struct cl_join_token t = {.id = id};
	snprintf(t.peer, sizeof t.peer, "%.*s", CL_ADDRESS_MAX, c->address);
	snprintf(t.address, sizeof t.address, "%.*s", CL_ADDRESS_MAX, address);
	if (cl_pki_fingerprint(c->pki.ca_pem, t.ca_fpr) != 0)
		return MR_ECORRUPT;
	randombytes_buf(t.secret, sizeof t.secret);
	char token[CL_JOIN_TOKEN_MAX];
	if (cl_join_token_encode(&t, token, sizeof token) == 0) {
		sodium_memzero(&t, sizeof t);
		return MR_EINVAL;
	}
	uint64_t now = mr_now_ms();
	pthread_mutex_lock(&c->mu);
	struct invite *slot = NULL;
	for (unsigned i = 0; i < CLUSTER_MAX_INVITES; i++) {
		struct invite *v = &c->invites[i];
		if (v->id == id || v->used || v->expires_ms <= now || v->id == 0) {
			if (!slot || v->id == id)
				slot = v;
		}
	}
	if (slot) {
		slot->id = id;
		snprintf(slot->address, sizeof slot->address, "%s", address);
		memcpy(slot->secret, t.secret, sizeof slot->secret);
		slot->expires_ms = now + (uint64_t)CL_JOIN_TTL_S * 1000;
		slot->used = false;
	}
	pthread_mutex_unlock(&c->mu);
	sodium_memzero(&t, sizeof t);
	if (!slot) {
		sodium_memzero(token, sizeof token);
		return MR_EBUSY;
	}
	log_info(CLUSTER_COMP, "invitation created id=%llu address=%s", (unsigned long long)id,
	         address);
	struct admin_op *a = xmalloc(sizeof *a);
	a->done = done;
	a->ud = ud;
	cluster__post(admin_posted, a, 0, token); /* done fires from the loop, never inline */
	sodium_memzero(token, sizeof token);
	return 0;
}

int cluster__invite_take(uint64_t id, const uint8_t proof[CL_JOIN_PROOF], struct invite *inv_r)
{
	struct cluster *c = &cluster__g;
	int rv = MR_ENOTFOUND;
	uint64_t now = mr_now_ms();
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < CLUSTER_MAX_INVITES; i++) {
		struct invite *v = &c->invites[i];
		if (v->id != id || v->used || v->expires_ms <= now)
			continue;
		uint8_t want[CL_JOIN_PROOF];
		cl_join_proof(v->secret, want);
		if (sodium_memcmp(want, proof, CL_JOIN_PROOF) != 0) {
			rv = MR_EAUTH;
			continue;
		}
		v->used = true;
		*inv_r = *v;
		sodium_memzero(v->secret, sizeof v->secret);
		rv = 0;
		break;
	}
	pthread_mutex_unlock(&c->mu);
	return rv;
}

int cluster__master_key(uint8_t key[CL_JOIN_MASTER_KEY])
{
	const struct config *cfg = cluster__g.n->cfg;
	char *path = cfg->master_key_file[0] ? xstrdup(cfg->master_key_file)
	                                     : xasprintf("%s/master.key", cfg->data_dir);
	uint8_t *buf = NULL;
	size_t n = 0;
	int rv = mr_read_file(path, CL_JOIN_MASTER_KEY, &buf, &n);
	free(path);
	if (rv == 0 && n != CL_JOIN_MASTER_KEY)
		rv = MR_EKEY;
	if (rv == 0)
		memcpy(key, buf, CL_JOIN_MASTER_KEY);
	if (buf)
		sodium_memzero(buf, n);
	free(buf);
	return rv == MR_ETOOBIG ? MR_EKEY : rv;
}

/* ---- view and poll -------------------------------------------------------------------------- */

static struct member_seen *seen_slot(uint64_t id, bool add)
{
	struct cluster *c = &cluster__g;
	for (unsigned i = 0; i < c->n_seen; i++)
		if (c->seen[i].id == id)
			return &c->seen[i];
	if (!add || c->n_seen >= CL_MAX_MEMBERS)
		return NULL;
	struct member_seen *s = &c->seen[c->n_seen++];
	memset(s, 0, sizeof *s);
	s->id = id;
	return s;
}

int cluster_view(struct cluster_view *v)
{
	struct cluster *c = &cluster__g;
	memset(v, 0, sizeof *v);
	if (!c->node)
		return MR_ENOTFOUND;
	int rv = cl_node_status(c->node, &v->st);
	if (rv != 0)
		return rv;
	v->ready = cluster_ready();
	v->n = v->st.n_members;
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < v->n; i++) {
		struct cluster_member_view *mv = &v->members[i];
		mv->m = v->st.members[i];
		mv->lag = -1;
		if (mv->m.id == v->st.id) {
			mv->applied_index = v->st.last_applied;
			mv->reachable = true;
		} else {
			struct member_seen *s = seen_slot(mv->m.id, false);
			if (s) {
				mv->applied_index = s->applied;
				mv->reachable = s->reachable;
			}
		}
		if (mv->applied_index > 0 || mv->m.id == v->st.id)
			mv->lag = (int64_t)v->st.commit_index - (int64_t)mv->applied_index;
		if (mv->lag < 0)
			mv->lag = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

struct poll_call {
	uint64_t id;
};

static void poll_done(void *ud, int status, const uint8_t *body, size_t len)
{
	struct poll_call *p = ud;
	Mr__RpcStatus *m = status == 0 ? mr__rpc_status__unpack(NULL, len, body) : NULL;
	struct cluster *c = &cluster__g;
	pthread_mutex_lock(&c->mu);
	struct member_seen *s = seen_slot(p->id, true);
	if (s) {
		s->reachable = m != NULL;
		if (m)
			s->applied = m->has_applied ? m->applied : m->last_applied;
	}
	pthread_mutex_unlock(&c->mu);
	if (m)
		mr__rpc_status__free_unpacked(m, NULL);
	free(p);
}

static void promote_done(void *ud, int status)
{
	(void)ud;
	if (status != 0)
		log_info(CLUSTER_COMP, "promotion to voter not done yet: %s", mr_strerror(status));
}

/* A joiner that caught up asks the leader to make it a voter (every few seconds until it is). */
static void joiner_step(const struct cl_status *st)
{
	struct cluster *c = &cluster__g;
	for (unsigned i = 0; i < st->n_members; i++) {
		if (st->members[i].id != st->id)
			continue;
		if (st->members[i].role == CL_VOTER) {
			char *p = xasprintf("%s/%s", c->dir, CLUSTER_MARK_JOIN);
			unlink(p);
			free(p);
			c->joining = false;
			log_info(CLUSTER_COMP, "joined as voter id=%llu",
			         (unsigned long long)st->id);
			return;
		}
		if (st->members[i].role != CL_STANDBY || !cluster_ready())
			return;
	}
	uint64_t now = mr_now_ms();
	if (now - c->promote_asked_ms < 3000)
		return;
	c->promote_asked_ms = now;
	(void)cluster__member_op(MR__RPC_MEMBER__VERB__ASSIGN, st->id, NULL, CL_VOTER,
	                         promote_done, NULL);
}

static void check_ready(const struct cl_status *st)
{
	struct cluster *c = &cluster__g;
	if (atomic_load(&c->ready))
		return; /* sticky: checked until it first holds */
	bool ready = st->leader_id != 0 && store_exists(c->n->store, STORE_DIRECTORY) &&
	             st->last_applied + CLUSTER_CATCHUP_SLACK >= st->commit_index;
	if (ready) {
		atomic_store(&c->ready, true);
		if (c->on_ready)
			c->on_ready();
	}
}

void cluster__poll(uv_timer_t *t)
{
	(void)t;
	struct cluster *c = &cluster__g;
	struct cl_status st;
	if (!c->node || cl_node_status(c->node, &st) != 0)
		return;
	check_ready(&st);
	cluster__forward_sweep(st.leader_id); /* forwards to a deposed or dead leader */
	if (c->joining)
		joiner_step(&st);
	static unsigned round;
	if (round++ % 4 != 0) /* members every CLUSTER_POLL_MS, readiness 4x as often */
		return;
	for (unsigned i = 0; i < st.n_members; i++) {
		if (st.members[i].id == st.id)
			continue;
		char rpc[CL_ADDRESS_MAX + 1];
		if (cl_rpc_address(st.members[i].address, rpc) != 0)
			continue;
		struct poll_call *p = xmalloc(sizeof *p);
		p->id = st.members[i].id;
		if (cl_rpc_call(c->client, rpc, CL_RPC_STATUS, NULL, 0, CLUSTER_POLL_MS, poll_done,
		                p) != 0)
			free(p);
	}
}

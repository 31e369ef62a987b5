/* cluster_rpc_client.c - the member RPC client (see cluster_rpc.h). A client keeps one nng req0
 * socket per peer RPC address (a list under c->mu, created on first use; its dialer starts
 * non-blocking and nng redials on its own with a short backoff). Each call opens its own req
 * context and aio on that socket, sends the RpcRequest with the call's timeout and then
 * receives the reply with what is left of it, so the whole call is bounded by one deadline.
 * The aio callback runs the caller's done() exactly once, then closes the context and hands
 * the aio to nng's reaper (an aio cannot be freed inside its own callback).
 *
 * TLS: with credentials the client presents its node certificate and requires the server's
 * to chain to the cluster CA and carry the peer's host (server name = host of the address);
 * an anonymous client (JOIN) presents nothing and verifies nothing.
 *
 * Closing: every nng operation of a call starts under c->mu after a check of c->closing, and
 * the calls in flight are listed (c->calls). Close sets c->closing and cancels each listed
 * call's aio under c->mu, so no operation is left running or can start: each call completes
 * with MR_ECLOSED (unless its reply had already arrived). Close waits on c->cond until the
 * last callback has left, and only then closes the sockets: nng 1.5.2 can panic when
 * nng_ctx_close() (in a callback) races with nng_close() of the context's socket. */
#include "raft/cluster_rpc_int.h"
#include "raft/cluster_pki.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000

struct peer {
	struct peer *next;
	char addr[CL_ADDRESS_MAX + 1];
	nng_socket sock;
};

struct req;

struct cl_rpc_client {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool closing;
	struct req *calls; /* in flight: done has not returned yet */
	bool anonymous;
	struct cl_pki pki; /* copies of the PEM strings (key wiped at close) */
	struct peer *peers;
};

struct req {
	struct req *prev, *next; /* c->calls */
	struct cl_rpc_client *c;
	nng_ctx ctx;
	nng_aio *aio;
	nng_time deadline;
	bool sent;
	cl_rpc_done_fn done;
	void *ud;
};

/* ---- peers ---- */

/* Open a req socket dialing addr (tls+tcp). Caller holds c->mu. 0, MR_EINVAL, MR_ETLS, MR_EIO. */
static int peer_open(struct cl_rpc_client *c, const char *addr, struct peer **p_r)
{
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (cl_address_parse(addr, url, host) != 0)
		return MR_EINVAL;
	nng_tls_config *cfg = NULL;
	int rv = c->anonymous ? cl__rpc_tls_config(NNG_TLS_MODE_CLIENT, NNG_TLS_AUTH_MODE_NONE,
	                                           NULL, NULL, &cfg)
	                      : cl__rpc_tls_config(NNG_TLS_MODE_CLIENT, NNG_TLS_AUTH_MODE_REQUIRED,
	                                           &c->pki, host, &cfg);
	if (rv != 0)
		return rv;
	struct peer *p = xmalloc(sizeof *p);
	snprintf(p->addr, sizeof p->addr, "%s", addr);
	nng_dialer d;
	int nrv = nng_req0_open(&p->sock);
	if (nrv != 0) {
		free(p);
		nng_tls_config_free(cfg);
		log_error(RPC_COMPONENT, "socket failed err=\"%s\"", nng_strerror(nrv));
		return MR_EIO;
	}
	nrv = nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, CL_RPC_MAX_MSG);
	/* no timer resends: a request is resent only when its connection broke */
	if (nrv == 0)
		nrv = nng_socket_set_ms(p->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (nrv == 0)
		nrv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
	if (nrv == 0)
		nrv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, RECONNECT_MAX_MS);
	if (nrv == 0)
		nrv = nng_dialer_create(&d, p->sock, url);
	if (nrv == 0)
		nrv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	if (nrv == 0)
		nrv = nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, CL_RPC_MAX_MSG);
	if (nrv == 0)
		nrv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	nng_tls_config_free(cfg); /* the dialer holds its own reference */
	if (nrv != 0) {
		log_error(RPC_COMPONENT, "dialer failed url=%s err=\"%s\"", url, nng_strerror(nrv));
		nng_close(p->sock);
		free(p);
		return MR_EIO;
	}
	p->next = c->peers;
	c->peers = p;
	*p_r = p;
	return 0;
}

static int peer_get(struct cl_rpc_client *c, const char *addr, struct peer **p_r)
{
	for (struct peer *p = c->peers; p; p = p->next)
		if (strcmp(p->addr, addr) == 0) {
			*p_r = p;
			return 0;
		}
	return peer_open(c, addr, p_r);
}

/* ---- calls ---- */

static void req_finish(struct req *r, int status, const uint8_t *body, size_t len)
{
	struct cl_rpc_client *c = r->c;
	r->done(r->ud, status, body, len);
	nng_ctx_close(r->ctx);
	nng_aio_reap(r->aio);
	pthread_mutex_lock(&c->mu);
	if (r->prev)
		r->prev->next = r->next;
	else
		c->calls = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (!c->calls && c->closing)
		pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu); /* c may be freed from here on */
	free(r);
}

static void req_cb(void *arg)
{
	struct req *r = arg;
	int rv = nng_aio_result(r->aio);
	if (rv == 0 && !r->sent) {
		r->sent = true;
		nng_time now = nng_clock();
		int st = now >= r->deadline ? CL_RPC_ETIMEDOUT : 0;
		pthread_mutex_lock(&r->c->mu);
		if (st == 0 && r->c->closing)
			st = MR_ECLOSED;
		if (st == 0) {
			nng_aio_set_timeout(r->aio, (nng_duration)(r->deadline - now));
			nng_ctx_recv(r->ctx, r->aio);
		}
		pthread_mutex_unlock(&r->c->mu);
		if (st != 0)
			req_finish(r, st, NULL, 0);
		return;
	}
	if (rv != 0) {
		nng_msg *unsent = nng_aio_get_msg(r->aio);
		nng_aio_set_msg(r->aio, NULL);
		if (unsent)
			nng_msg_free(unsent);
		pthread_mutex_lock(&r->c->mu);
		bool closing = r->c->closing; /* nng reports the closed pipe first */
		pthread_mutex_unlock(&r->c->mu);
		req_finish(r, closing ? MR_ECLOSED : cl__rpc_err(rv), NULL, 0);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(r->aio);
	nng_aio_set_msg(r->aio, NULL);
	struct cl_rpc_msg rep;
	int drv = cl_rpc_reply_decode(nng_msg_body(msg), nng_msg_len(msg), &rep);
	nng_msg_free(msg);
	if (drv != 0) {
		log_warn(RPC_COMPONENT, "malformed reply");
		req_finish(r, MR_EPROTO, NULL, 0);
		return;
	}
	req_finish(r, rep.status, rep.body, rep.len);
	cl_rpc_msg_free(&rep);
}

int cl_rpc_call(struct cl_rpc_client *c, const char *rpc_address, uint32_t op, const void *body,
                size_t len, unsigned timeout_ms, cl_rpc_done_fn done, void *ud)
{
	if (!c || !rpc_address || !done || (len && !body))
		return MR_EINVAL;
	if (len > CL_RPC_MAX_MSG || cl_rpc_request_size(op, len) > CL_RPC_MAX_MSG)
		return MR_ETOOBIG;
	if (timeout_ms == 0)
		timeout_ms = CL_RPC_TIMEOUT_MS;
	struct req *r = xmalloc(sizeof *r);
	r->c = c;
	r->done = done;
	r->ud = ud;
	r->deadline = nng_clock() + timeout_ms;
	if (nng_aio_alloc(&r->aio, req_cb, r) != 0)
		abort(); /* ENOMEM only */
	nng_msg *msg;    /* built outside the lock: a request may be tens of MiB */
	size_t size = cl_rpc_request_size(op, len);
	if (nng_msg_alloc(&msg, size) != 0)
		abort();
	cl_rpc_request_pack(op, body, len, nng_msg_body(msg));
	nng_aio_set_timeout(r->aio, (nng_duration)timeout_ms);
	nng_aio_set_msg(r->aio, msg);

	struct peer *p = NULL;
	pthread_mutex_lock(&c->mu);
	int rv = c->closing ? MR_ECLOSED : peer_get(c, rpc_address, &p);
	if (rv == 0 && nng_ctx_open(&r->ctx, p->sock) != 0)
		rv = MR_ECLOSED;
	if (rv == 0) {
		r->next = c->calls;
		if (c->calls)
			c->calls->prev = r;
		c->calls = r;
		nng_ctx_send(r->ctx, r->aio); /* from here on only the callback frees r */
	}
	pthread_mutex_unlock(&c->mu);
	if (rv != 0) {
		nng_aio_free(r->aio); /* never started: no callback */
		nng_msg_free(msg);
		free(r);
	}
	return rv;
}

/* ---- blocking form ---- */

struct sync_call {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;
	int status;
	uint8_t *body;
	size_t len;
};

static void sync_done(void *ud, int status, const uint8_t *body, size_t len)
{
	struct sync_call *s = ud;
	uint8_t *copy = NULL;
	if (len) {
		copy = xmalloc(len);
		memcpy(copy, body, len);
	}
	pthread_mutex_lock(&s->mu);
	s->status = status;
	s->body = copy;
	s->len = len;
	s->done = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

int cl_rpc_call_sync(struct cl_rpc_client *c, const char *rpc_address, uint32_t op,
                     const void *body, size_t len, unsigned timeout_ms, uint8_t **reply_r,
                     size_t *reply_len_r)
{
	if (reply_r)
		*reply_r = NULL;
	if (reply_len_r)
		*reply_len_r = 0;
	struct sync_call s = {.done = false};
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cond, NULL);
	int rv = cl_rpc_call(c, rpc_address, op, body, len, timeout_ms, sync_done, &s);
	if (rv == 0) {
		pthread_mutex_lock(&s.mu);
		while (!s.done) /* the call's own deadline guarantees completion */
			pthread_cond_wait(&s.cond, &s.mu);
		pthread_mutex_unlock(&s.mu);
		rv = s.status;
		if (reply_r && reply_len_r) {
			*reply_r = s.body;
			*reply_len_r = s.len;
		} else {
			free(s.body);
		}
	}
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.mu);
	return rv;
}

/* ---- open / close ---- */

int cl_rpc_client_open(const struct cl_pki *pki, struct cl_rpc_client **c_r)
{
	if (!c_r)
		return MR_EINVAL;
	if (pki && (!pki->ca_pem || !pki->cert_pem || !pki->key_pem))
		return MR_EINVAL;
	struct cl_rpc_client *c = xmalloc(sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->anonymous = !pki;
	if (pki) {
		c->pki.ca_pem = xstrdup(pki->ca_pem);
		c->pki.cert_pem = xstrdup(pki->cert_pem);
		c->pki.key_pem = xstrdup(pki->key_pem);
		c->pki.node_id = pki->node_id;
		/* check that nng takes the credentials now rather than at the first call */
		nng_tls_config *cfg = NULL;
		int rv = cl__rpc_tls_config(NNG_TLS_MODE_CLIENT, NNG_TLS_AUTH_MODE_REQUIRED,
		                            &c->pki, NULL, &cfg);
		if (rv != 0) {
			cl_pki_free(&c->pki);
			pthread_cond_destroy(&c->cond);
			pthread_mutex_destroy(&c->mu);
			free(c);
			return rv;
		}
		nng_tls_config_free(cfg);
	}
	*c_r = c;
	return 0;
}

void cl_rpc_client_close(struct cl_rpc_client **cp)
{
	if (!cp || !*cp)
		return;
	struct cl_rpc_client *c = *cp;
	*cp = NULL;
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	/* cancelling completes the operation with NNG_ECANCELED; the callback runs on an nng
	 * thread once we release mu (it needs mu) and starts nothing new */
	for (struct req *r = c->calls; r; r = r->next)
		nng_aio_cancel(r->aio);
	while (c->calls)
		pthread_cond_wait(&c->cond, &c->mu);
	struct peer *peers = c->peers;
	c->peers = NULL;
	pthread_mutex_unlock(&c->mu);
	while (peers) {
		struct peer *next = peers->next;
		nng_close(peers->sock);
		free(peers);
		peers = next;
	}
	cl_pki_free(&c->pki);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

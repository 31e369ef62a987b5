/* cluster_rpc.c - the member RPC server (see cluster_rpc.h): an nng rep0 socket listening on
 * tls+tcp with the node's credentials, client certificates optional (auth mode OPTIONAL), and
 * CL_RPC_CONTEXTS slots. A slot owns one rep context and two aios: rx (receive a request) and
 * tx (send its reply). A slot's life is a loop: rx completes -> the request is decoded, checked
 * (known op; a verified client certificate unless the op is anonymous) and handed to its handler
 * as a heap `struct cl_rpc_call` -> cl_rpc_reply() (any thread, any time) sends the reply on the
 * slot's context -> tx completes -> rx again. So a slot serves one request at a time and at most
 * CL_RPC_CONTEXTS requests are open at once; further requests wait in nng.
 *
 * Lifetime: the server is reference counted under srv->mu: one reference for the owner and one
 * per unanswered call, so a handler may answer after cl_rpc_server_stop() returned (its reply is
 * then dropped). srv->stopped, set under mu before the socket closes, is checked under mu by
 * every path that would start an nng operation, so nothing touches a slot's aio once stop began;
 * stop closes the socket (cancelling every operation) and nng_aio_stop()s every aio, which also
 * waits for handlers still running inside rx callbacks. An rx callback does nothing after its
 * handler returns except freeing its decoded request (a reply sent from inside the handler
 * may already have restarted the slot on another nng thread). */
#include "raft/cluster_rpc_int.h"
#include "raft/cluster_pki.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/rep.h>

#define RECV_RETRY_MS 100    /* after a receive error other than "closed" */
#define REFUSED_LOG_MS 60000 /* refused requests: one warning per minute, the rest at debug */

struct slot {
	struct cl_rpc_server *srv;
	nng_ctx ctx;
	nng_aio *rx, *tx;
	bool retry; /* rx is sleeping before the next receive */
};

struct cl_rpc_server {
	pthread_mutex_t mu;
	unsigned refs; /* owner + unanswered calls */
	bool stopped;
	nng_socket sock;
	bool sock_open;
	nng_tls_config *cfg;
	const struct cl_rpc_handler *table;
	size_t n;
	void *ud;
	uint64_t refused_logged_ms; /* under mu */
	unsigned n_slots;           /* slots with their aios allocated */
	struct slot slots[CL_RPC_CONTEXTS];
};

struct cl_rpc_call {
	struct cl_rpc_server *srv;
	struct slot *slot;
	uint32_t op;
};

/* ---- lifetime ---- */

static void srv_free(struct cl_rpc_server *srv)
{
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}

static void srv_unref(struct cl_rpc_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	bool last = --srv->refs == 0;
	pthread_mutex_unlock(&srv->mu);
	if (last)
		srv_free(srv);
}

/* Start the next receive on s unless the server is stopping. Caller holds srv->mu. */
static void slot_arm_locked(struct slot *s)
{
	if (s->srv->stopped)
		return;
	s->retry = false;
	nng_ctx_recv(s->ctx, s->rx);
}

/* ---- the central gate ---- */

static const struct cl_rpc_handler *find_handler(const struct cl_rpc_server *srv, uint32_t op)
{
	for (size_t i = 0; i < srv->n; i++)
		if (srv->table[i].op == op)
			return &srv->table[i];
	return NULL;
}

/* Did the request come over a connection whose client certificate chains to the CA? */
static bool request_verified(nng_msg *msg)
{
	bool verified = false;
	nng_pipe p = nng_msg_get_pipe(msg);
	if (nng_pipe_id(p) <= 0 || nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) != 0)
		return false;
	return verified;
}

/* Refusals come from outside the cluster (anyone can connect): rate-limit their warnings. */
static enum log_level refused_level(struct cl_rpc_server *srv)
{
	uint64_t now = mr_now_ms();
	pthread_mutex_lock(&srv->mu);
	bool warn = srv->refused_logged_ms == 0 || now - srv->refused_logged_ms >= REFUSED_LOG_MS;
	if (warn)
		srv->refused_logged_ms = now;
	pthread_mutex_unlock(&srv->mu);
	return warn ? LOG_WARN : LOG_DEBUG;
}

static void serve(struct slot *s, nng_msg *msg)
{
	struct cl_rpc_server *srv = s->srv;
	bool verified = request_verified(msg);
	struct cl_rpc_msg req;
	int rv = cl_rpc_request_decode(nng_msg_body(msg), nng_msg_len(msg), &req);
	nng_msg_free(msg);

	struct cl_rpc_call *call = xmalloc(sizeof *call);
	call->srv = srv;
	call->slot = s;
	call->op = req.op;
	pthread_mutex_lock(&srv->mu);
	srv->refs++;
	pthread_mutex_unlock(&srv->mu);

	const struct cl_rpc_handler *h = rv == 0 ? find_handler(srv, req.op) : NULL;
	if (rv != 0) {
		log_msg(refused_level(srv), RPC_COMPONENT, "malformed request refused");
		cl_rpc_reply(call, MR_EPROTO, NULL, 0);
	} else if (!h || !h->fn) {
		log_debug(RPC_COMPONENT, "unknown op=%u", (unsigned)req.op);
		cl_rpc_reply(call, MR_EINVAL, NULL, 0);
	} else if (!h->anonymous && !verified) {
		log_msg(refused_level(srv), RPC_COMPONENT,
		        "op=%u refused: client has no cluster certificate", (unsigned)req.op);
		cl_rpc_reply(call, MR_EAUTH, NULL, 0);
	} else {
		h->fn(srv->ud, call, req.body, req.len);
	}
	cl_rpc_msg_free(&req); /* s and call may belong to another request by now */
}

/* ---- nng callbacks ---- */

static void rx_cb(void *arg)
{
	struct slot *s = arg;
	struct cl_rpc_server *srv = s->srv;
	int rv = nng_aio_result(s->rx);
	if (rv == 0 && s->retry) { /* the retry sleep ended */
		pthread_mutex_lock(&srv->mu);
		slot_arm_locked(s);
		pthread_mutex_unlock(&srv->mu);
		return;
	}
	if (rv != 0) {
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		log_warn(RPC_COMPONENT, "receive failed err=\"%s\"", nng_strerror(rv));
		pthread_mutex_lock(&srv->mu);
		if (!srv->stopped) {
			s->retry = true;
			nng_sleep_aio(RECV_RETRY_MS, s->rx);
		}
		pthread_mutex_unlock(&srv->mu);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(s->rx);
	nng_aio_set_msg(s->rx, NULL);
	pthread_mutex_lock(&srv->mu);
	bool stopped = srv->stopped;
	pthread_mutex_unlock(&srv->mu);
	if (stopped) {
		nng_msg_free(msg);
		return;
	}
	serve(s, msg);
}

static void tx_cb(void *arg)
{
	struct slot *s = arg;
	int rv = nng_aio_result(s->tx);
	if (rv != 0) {
		nng_msg *msg = nng_aio_get_msg(s->tx);
		nng_aio_set_msg(s->tx, NULL);
		if (msg)
			nng_msg_free(msg);
		if (rv != NNG_ECLOSED)
			log_debug(RPC_COMPONENT, "reply not sent err=\"%s\"", nng_strerror(rv));
	}
	pthread_mutex_lock(&s->srv->mu);
	slot_arm_locked(s);
	pthread_mutex_unlock(&s->srv->mu);
}

/* ---- public ---- */

void cl_rpc_reply(struct cl_rpc_call *call, int status, const void *body, size_t len)
{
	if (!call)
		return;
	struct cl_rpc_server *srv = call->srv;
	struct slot *s = call->slot;
	if (!body)
		len = 0;
	if (status > 0)
		status = MR_EIO; /* statuses are 0 or MR_E* */
	size_t size = cl_rpc_reply_size(status, len);
	if (size > CL_RPC_MAX_MSG) {
		log_error(RPC_COMPONENT, "reply too large op=%u len=%zu", (unsigned)call->op, len);
		status = MR_ETOOBIG;
		len = 0;
		size = cl_rpc_reply_size(status, 0);
	}
	nng_msg *msg = NULL;
	pthread_mutex_lock(&srv->mu);
	bool stopped = srv->stopped;
	pthread_mutex_unlock(&srv->mu);
	if (!stopped) { /* build outside the lock: a reply may be tens of MiB */
		if (nng_msg_alloc(&msg, size) != 0)
			abort(); /* ENOMEM only: style practice 9 */
		cl_rpc_reply_pack(status, body, len, nng_msg_body(msg));
	}
	pthread_mutex_lock(&srv->mu);
	if (!srv->stopped && msg) {
		nng_aio_set_msg(s->tx, msg);
		nng_ctx_send(s->ctx, s->tx);
		msg = NULL;
	}
	bool last = --srv->refs == 0;
	pthread_mutex_unlock(&srv->mu);
	if (msg)
		nng_msg_free(msg);
	free(call);
	if (last)
		srv_free(srv);
}

/* Close the socket and wait for every aio (and the handlers running in rx callbacks). */
static void srv_shutdown(struct cl_rpc_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	srv->stopped = true;
	pthread_mutex_unlock(&srv->mu);
	if (srv->sock_open)
		nng_close(srv->sock);
	for (unsigned i = 0; i < srv->n_slots; i++) {
		nng_aio_stop(srv->slots[i].rx);
		nng_aio_stop(srv->slots[i].tx);
	}
	for (unsigned i = 0; i < srv->n_slots; i++) {
		nng_aio_free(srv->slots[i].rx);
		nng_aio_free(srv->slots[i].tx);
	}
	srv->n_slots = 0;
	if (srv->cfg)
		nng_tls_config_free(srv->cfg);
	srv->cfg = NULL;
}

int cl_rpc_server_start(const char *listen_address, const struct cl_pki *pki,
                        const struct cl_rpc_handler *table, size_t n, void *ud,
                        struct cl_rpc_server **srv_r)
{
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (!srv_r || !pki || !pki->ca_pem || !pki->cert_pem || !pki->key_pem || (n && !table) ||
	    cl_address_parse(listen_address, url, host) != 0)
		return MR_EINVAL;
	struct cl_rpc_server *srv = xmalloc(sizeof *srv);
	nng_listener l;
	int nrv = 0;
	pthread_mutex_init(&srv->mu, NULL);
	srv->refs = 1;
	srv->table = table;
	srv->n = n;
	srv->ud = ud;

	int rv = cl__rpc_tls_config(NNG_TLS_MODE_SERVER, NNG_TLS_AUTH_MODE_OPTIONAL, pki, NULL,
	                            &srv->cfg);
	if (rv != 0)
		goto err;
	nrv = nng_rep0_open(&srv->sock);
	if (nrv != 0)
		goto err_nng;
	srv->sock_open = true;
	nrv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, CL_RPC_MAX_MSG);
	if (nrv == 0)
		nrv = nng_listener_create(&l, srv->sock, url);
	if (nrv == 0)
		nrv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, srv->cfg);
	if (nrv == 0)
		nrv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, CL_RPC_MAX_MSG);
	if (nrv == 0)
		nrv = nng_listener_start(l, 0);
	if (nrv != 0)
		goto err_nng;
	for (unsigned i = 0; i < CL_RPC_CONTEXTS; i++) {
		struct slot *s = &srv->slots[i];
		s->srv = srv;
		if (nng_ctx_open(&s->ctx, srv->sock) != 0 || nng_aio_alloc(&s->rx, rx_cb, s) != 0 ||
		    nng_aio_alloc(&s->tx, tx_cb, s) != 0)
			abort(); /* ENOMEM only */
		srv->n_slots++;
	}
	pthread_mutex_lock(&srv->mu);
	for (unsigned i = 0; i < srv->n_slots; i++)
		slot_arm_locked(&srv->slots[i]);
	pthread_mutex_unlock(&srv->mu);
	log_info(RPC_COMPONENT, "listening url=%s", url);
	*srv_r = srv;
	return 0;

err_nng:
	log_error(RPC_COMPONENT, "listen failed url=%s err=\"%s\"", url, nng_strerror(nrv));
	rv = MR_EIO;
err:
	srv_shutdown(srv);
	srv_unref(srv);
	return rv;
}

void cl_rpc_server_stop(struct cl_rpc_server **srvp)
{
	if (!srvp || !*srvp)
		return;
	struct cl_rpc_server *srv = *srvp;
	*srvp = NULL;
	srv_shutdown(srv);
	srv_unref(srv);
}

/* cluster_transport.c - raft_uv_transport over nng mutual-TLS streams (see cluster_transport.h).
 *
 * One `struct cl_conn` follows a connection through its life, one state at a time:
 *   outbound: DIAL -> SEND_HELLO -> RECV_ACK -> RELAY
 *   inbound:  RECV_HELLO -> SEND_ACK -> RELAY
 * and DEAD from anywhere. Each conn owns two nng aios (rx, tx); at most one nng operation per
 * aio is in flight. The aio callbacks run on nng's threads and do nothing but set a bit in
 * conn->pend, queue the conn on tp->ready (under tp->mu) and uv_async_send(); the loop thread
 * drains the queue and runs the state machine, so every other field is loop-thread only.
 * cl__conn_destroy() closes the nng stream, waits for both aios with nng_aio_stop() (never while
 * holding tp->mu, which the callbacks take) and unlinks the conn from the ready queue, so no
 * callback can reach freed memory. The set-up is bounded by a deadline checked by one sweep
 * timer (nng 1.5.2 does not time out a TLS send stalled in the handshake). In RELAY the bytes
 * are moved by cluster_relay.c. */
#include "raft/cluster_transport_int.h"
#include "raft/cluster_pki.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#include <assert.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <nng/supplemental/tls/tls.h>

#define MAX_CONNS 64u        /* connections of all kinds: bounds pre-auth memory */
#define ACCEPT_RETRY_MS 100  /* after an accept error other than "closed" */
#define SWEEP_MS 100         /* handshake deadline check period */
#define REFUSED_LOG_MS 60000 /* TLS refusals: one warning per minute, the rest at debug */

static void conn_process(struct cl_conn *c, unsigned bits);
static void maybe_closed(struct cl_tp *tp);

/* ---- nng side: completions on nng threads ---- */

static void post(struct cl_conn *c, unsigned bit)
{
	struct cl_tp *tp = c->tp;
	pthread_mutex_lock(&tp->mu);
	c->pend |= bit;
	if (!c->in_ready) {
		c->in_ready = true;
		c->ready_next = tp->ready;
		tp->ready = c;
	}
	pthread_mutex_unlock(&tp->mu);
	uv_async_send(&tp->async);
}

static void rx_cb(void *arg)
{
	if (!cl__relay_rx_fast(arg))
		post(arg, EV_RX);
}

static void tx_cb(void *arg)
{
	if (!cl__relay_tx_fast(arg))
		post(arg, EV_TX);
}

static void accept_cb(void *arg)
{
	struct cl_tp *tp = arg;
	pthread_mutex_lock(&tp->mu);
	tp->accept_pend = true;
	pthread_mutex_unlock(&tp->mu);
	uv_async_send(&tp->async);
}

/* ---- TLS configuration ---- */

static int tls_config(struct cl_tp *tp, nng_tls_mode mode, const char *server_name,
                      nng_tls_config **cfg_r)
{
	nng_tls_config *cfg = NULL;
	int rv = nng_tls_config_alloc(&cfg, mode);
	if (rv == 0)
		rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_2);
	if (rv == 0)
		rv = nng_tls_config_ca_chain(cfg, tp->ca_pem, NULL);
	if (rv == 0)
		rv = nng_tls_config_own_cert(cfg, tp->cert_pem, tp->key_pem, NULL);
	if (rv == 0)
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (rv == 0 && server_name)
		rv = nng_tls_config_server_name(cfg, server_name);
	if (rv != 0) {
		log_error(COMPONENT, "TLS configuration failed err=\"%s\"", nng_strerror(rv));
		if (cfg)
			nng_tls_config_free(cfg);
		return MR_ETLS;
	}
	*cfg_r = cfg;
	return 0;
}

/* ---- connection lifecycle ---- */

static void conn_fail(struct cl_conn *c, int nng_rv, const char *what);

/* Fail every connection still setting up past its deadline; stop when none is left. */
static void sweep_cb(uv_timer_t *timer)
{
	struct cl_tp *tp = timer->data;
	uint64_t now = uv_now(tp->loop);
	bool pending = false;
	struct cl_conn *c = tp->conns;
	while (c) {
		struct cl_conn *next = c->next;
		if (c->st != ST_RELAY && c->st != ST_DEAD) {
			if (now >= c->deadline)
				conn_fail(c, NNG_ETIMEDOUT, "timeout");
			else
				pending = true;
		}
		c = next;
	}
	if (!pending)
		uv_timer_stop(timer);
}

static struct cl_conn *conn_new(struct cl_tp *tp, enum conn_state st)
{
	struct cl_conn *c = xmalloc(sizeof *c);
	c->tp = tp;
	c->st = st;
	if (nng_aio_alloc(&c->rx, rx_cb, c) != 0 || nng_aio_alloc(&c->tx, tx_cb, c) != 0)
		abort(); /* ENOMEM only: style practice 9 */
	c->next = tp->conns;
	if (tp->conns)
		tp->conns->prev = c;
	tp->conns = c;
	tp->n_conns++;
	c->deadline = uv_now(tp->loop) + tp->hs_timeout_ms;
	if (!uv_is_active((uv_handle_t *)&tp->sweep))
		uv_timer_start(&tp->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	return c;
}

static void conn_free(struct cl_conn *c)
{
	nng_aio_free(c->rx);
	nng_aio_free(c->tx);
	mr_memzero(c->rxbuf, sizeof c->rxbuf);
	mr_memzero(c->txbuf, sizeof c->txbuf);
	free(c);
}

static void relay_closed_cb(uv_handle_t *h)
{
	struct cl_conn *c = h->data;
	struct cl_tp *tp = c->tp;
	conn_free(c);
	tp->closing_handles--;
	maybe_closed(tp);
}

/* Answer an outbound request that did not produce a stream. */
static void connect_fail(struct cl_tp *tp, struct raft_uv_connect *req, int status)
{
	if (tp->closing) {
		struct cancelled *k = xmalloc(sizeof *k);
		k->req = req;
		k->next = tp->cancelled;
		tp->cancelled = k;
		return;
	}
	req->cb(req, NULL, status);
}

/* Tear c down; its memory goes now or once the relay handle is closed. */
void cl__conn_destroy(struct cl_conn *c, int status)
{
	struct cl_tp *tp = c->tp;
	if (c->st == ST_DEAD)
		return;
	bool dialing = c->st == ST_DIAL;
	c->st = ST_DEAD;
	atomic_store(&c->fast, false); /* the callbacks hand everything to the loop from now */
	if (c->prev)
		c->prev->next = c->next;
	else
		tp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	tp->n_conns--;
	if (c->s)
		nng_stream_close(c->s);
	if (c->dialer)
		nng_stream_dialer_close(c->dialer);
	nng_aio_stop(c->rx);
	nng_aio_stop(c->tx);
	if (dialing && nng_aio_result(c->tx) == 0) /* dialed, but not yet seen by the loop */
		c->s = nng_aio_get_output(c->tx, 0);
	pthread_mutex_lock(&tp->mu);
	if (c->in_ready) {
		struct cl_conn **pp = &tp->ready;
		while (*pp != c)
			pp = &(*pp)->ready_next;
		*pp = c->ready_next;
		c->in_ready = false;
	}
	pthread_mutex_unlock(&tp->mu);
	if (c->s)
		nng_stream_free(c->s);
	if (c->dialer)
		nng_stream_dialer_free(c->dialer);
	c->s = NULL;
	c->dialer = NULL;
	if (c->req) {
		struct raft_uv_connect *req = c->req;
		c->req = NULL;
		connect_fail(tp, req, status);
	}
	if (c->relay_open) {
		tp->closing_handles++;
		uv_close((uv_handle_t *)&c->relay, relay_closed_cb);
	} else {
		conn_free(c);
	}
}

static void conn_fail(struct cl_conn *c, int nng_rv, const char *what)
{
	struct cl_tp *tp = c->tp;
	bool auth = nng_rv == NNG_ECRYPTO || nng_rv == NNG_EPEERAUTH;
	uint64_t now = uv_now(tp->loop);
	if (auth)
		tp->refused++;
	/* raft_uv retries every second: say it loudly at most once per REFUSED_LOG_MS */
	if (auth && (tp->refused_logged_at == 0 || now - tp->refused_logged_at >= REFUSED_LOG_MS)) {
		log_warn(COMPONENT, "peer refused (TLS) step=%s peer=%s err=\"%s\" refusals=%llu",
		         what, c->peer[0] ? c->peer : "?", nng_strerror(nng_rv),
		         (unsigned long long)tp->refused);
		tp->refused_logged_at = now;
	} else
		log_debug(COMPONENT, "connection failed step=%s peer=%s err=\"%s\"", what,
		          c->peer[0] ? c->peer : "?", nng_rv ? nng_strerror(nng_rv) : "protocol");
	cl__conn_destroy(c, RAFT_NOCONNECTION);
}

/* ---- handshake I/O ---- */

static void hs_send(struct cl_conn *c)
{
	nng_iov iov = {c->hs + c->hs_off, c->hs_len - c->hs_off};
	nng_aio_set_iov(c->tx, 1, &iov);
	nng_aio_set_timeout(c->tx, (nng_duration)c->tp->hs_timeout_ms);
	nng_stream_send(c->s, c->tx);
}

static void hs_recv(struct cl_conn *c, size_t n)
{
	nng_iov iov = {c->hs + c->hs_off, n};
	nng_aio_set_iov(c->rx, 1, &iov);
	nng_aio_set_timeout(c->rx, (nng_duration)c->tp->hs_timeout_ms);
	nng_stream_recv(c->s, c->rx);
}

/* ---- outbound ---- */

static void out_on_dial(struct cl_conn *c)
{
	int rv = nng_aio_result(c->tx);
	if (rv != 0) {
		conn_fail(c, rv, "dial");
		return;
	}
	c->s = nng_aio_get_output(c->tx, 0);
	nng_aio_set_output(c->tx, 0, NULL);
	nng_stream_dialer_free(c->dialer);
	c->dialer = NULL;
	c->hs_len = cl_hello_encode(c->tp->id, c->tp->address, c->hs);
	c->hs_off = 0;
	c->st = ST_SEND_HELLO;
	hs_send(c); /* the first I/O runs the TLS handshake */
}

static void out_on_hello_sent(struct cl_conn *c)
{
	size_t n = 0;
	int rv = cl__io_result(c->tx, &n);
	if (rv != 0) {
		conn_fail(c, rv, "tls+hello");
		return;
	}
	c->hs_off += n;
	if (c->hs_off < c->hs_len) {
		hs_send(c);
		return;
	}
	c->st = ST_RECV_ACK;
	c->hs_off = 0;
	c->hs_len = CL_ACK_LEN;
	hs_recv(c, CL_ACK_LEN);
}

static void out_on_ack(struct cl_conn *c)
{
	size_t n = 0;
	int rv = cl__io_result(c->rx, &n);
	if (rv != 0) {
		conn_fail(c, rv, "ack");
		return;
	}
	c->hs_off += n;
	if (c->hs_off < c->hs_len) {
		hs_recv(c, c->hs_len - c->hs_off);
		return;
	}
	uv_stream_t *stream = NULL;
	if (cl_ack_check(c->hs) != 0) {
		conn_fail(c, 0, "ack");
		return;
	}
	if (cl__relay_start(c, &stream) != 0) {
		cl__conn_destroy(c, RAFT_NOCONNECTION);
		return;
	}
	struct raft_uv_connect *req = c->req;
	c->req = NULL;
	log_debug(COMPONENT, "connected peer=%s id=%llu", c->peer, (unsigned long long)c->peer_id);
	req->cb(req, stream, 0);
}

static int tp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
	struct cl_tp *tp = t->impl;
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	nng_tls_config *cfg = NULL;
	assert(!tp->closing);
	if (cl_address_parse(address, url, host) != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "bad address %.200s", address);
		return RAFT_NOCONNECTION;
	}
	if (tp->n_conns >= MAX_CONNS)
		return RAFT_NOCONNECTION;
	if (tls_config(tp, NNG_TLS_MODE_CLIENT, host, &cfg) != 0)
		return RAFT_NOCONNECTION;
	nng_stream_dialer *d = NULL;
	int rv = nng_stream_dialer_alloc(&d, url);
	if (rv == 0)
		rv = nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the dialer holds its own reference */
	if (rv == 0) {
		nng_stream_dialer_set_bool(d, NNG_OPT_TCP_NODELAY, true);
		nng_stream_dialer_set_bool(d, NNG_OPT_TCP_KEEPALIVE, true);
	}
	if (rv != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "dialer %.200s: %s", url, nng_strerror(rv));
		if (d)
			nng_stream_dialer_free(d);
		return RAFT_NOCONNECTION;
	}
	struct cl_conn *c = conn_new(tp, ST_DIAL);
	c->dialer = d;
	c->req = req;
	c->peer_id = id;
	snprintf(c->peer, sizeof c->peer, "%s", address);
	req->cb = cb;
	nng_aio_set_timeout(c->tx, (nng_duration)tp->hs_timeout_ms);
	nng_stream_dialer_dial(d, c->tx);
	return 0;
}

/* ---- inbound ---- */

static void in_recv_hello(struct cl_conn *c)
{
	c->hs_off = 0;
	hs_recv(c, cl_hello_need(&c->hello));
}

static void in_on_hello(struct cl_conn *c)
{
	size_t n = 0, used = 0;
	int rv = cl__io_result(c->rx, &n);
	if (rv != 0) {
		conn_fail(c, rv, "tls+hello");
		return;
	}
	int r = cl_hello_push(&c->hello, c->hs, n, &used);
	if (r < 0) {
		log_warn(COMPONENT, "bad hello from peer, closing");
		cl__conn_destroy(c, 0);
		return;
	}
	if (r == 0) {
		in_recv_hello(c);
		return;
	}
	c->peer_id = c->hello.id;
	memcpy(c->peer, c->hello.address, sizeof c->peer);
	cl_ack_encode(c->hs);
	c->hs_len = CL_ACK_LEN;
	c->hs_off = 0;
	c->st = ST_SEND_ACK;
	hs_send(c);
}

static void in_on_ack_sent(struct cl_conn *c)
{
	size_t n = 0;
	int rv = cl__io_result(c->tx, &n);
	if (rv != 0) {
		conn_fail(c, rv, "ack");
		return;
	}
	c->hs_off += n;
	if (c->hs_off < c->hs_len) {
		hs_send(c);
		return;
	}
	uv_stream_t *stream = NULL;
	if (cl__relay_start(c, &stream) != 0) {
		cl__conn_destroy(c, 0);
		return;
	}
	log_debug(COMPONENT, "accepted peer=%s id=%llu", c->peer, (unsigned long long)c->peer_id);
	c->tp->accept_cb(c->tp->t, c->peer_id, c->peer, stream);
}

/* "ip:port" of the remote end, for logs until the hello names the peer. */
static void remote_address(nng_stream *s, char *out, size_t n)
{
	nng_sockaddr sa;
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	out[0] = '\0';
	if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) != 0)
		return;
	if (sa.s_family == NNG_AF_INET) {
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof ip);
		port = ntohs(sa.s_in.sa_port);
		snprintf(out, n, "%s:%u", ip, port);
	} else if (sa.s_family == NNG_AF_INET6) {
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof ip);
		port = ntohs(sa.s_in6.sa_port);
		snprintf(out, n, "[%s]:%u", ip, port);
	}
}

static void accept_next(struct cl_tp *tp)
{
	nng_aio_set_timeout(tp->accept_aio, NNG_DURATION_INFINITE);
	nng_stream_listener_accept(tp->listener, tp->accept_aio);
}

static void accept_done(struct cl_tp *tp)
{
	if (tp->accept_sleeping) {
		tp->accept_sleeping = false;
		accept_next(tp);
		return;
	}
	int rv = nng_aio_result(tp->accept_aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv != 0) {
		log_warn(COMPONENT, "accept failed err=\"%s\"", nng_strerror(rv));
		tp->accept_sleeping = true;
		nng_sleep_aio(ACCEPT_RETRY_MS, tp->accept_aio);
		return;
	}
	nng_stream *s = nng_aio_get_output(tp->accept_aio, 0);
	nng_aio_set_output(tp->accept_aio, 0, NULL);
	if (tp->n_conns >= MAX_CONNS) {
		log_warn(COMPONENT, "too many connections, refusing one");
		nng_stream_close(s);
		nng_stream_free(s);
	} else {
		struct cl_conn *c = conn_new(tp, ST_RECV_HELLO);
		c->s = s;
		remote_address(s, c->peer, sizeof c->peer);
		cl_hello_init(&c->hello);
		in_recv_hello(c);
	}
	accept_next(tp);
}

static int tp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct cl_tp *tp = t->impl;
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	const char *addr = tp->bind[0] ? tp->bind : tp->address;
	if (cl_address_parse(addr, url, host) != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "bad listen address %.200s", addr);
		return RAFT_INVALID;
	}
	int rv = nng_stream_listener_alloc(&tp->listener, url);
	if (rv == 0)
		rv = nng_stream_listener_set_ptr(tp->listener, NNG_OPT_TLS_CONFIG, tp->server_cfg);
	if (rv == 0) {
		nng_stream_listener_set_bool(tp->listener, NNG_OPT_TCP_NODELAY, true);
		nng_stream_listener_set_bool(tp->listener, NNG_OPT_TCP_KEEPALIVE, true);
		rv = nng_stream_listener_listen(tp->listener);
	}
	if (rv != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "listen %.200s: %s", url, nng_strerror(rv));
		log_error(COMPONENT, "listen failed url=%s err=\"%s\"", url, nng_strerror(rv));
		if (tp->listener)
			nng_stream_listener_free(tp->listener);
		tp->listener = NULL;
		return RAFT_IOERR;
	}
	tp->accept_cb = cb;
	if (nng_aio_alloc(&tp->accept_aio, accept_cb, tp) != 0)
		abort();
	accept_next(tp);
	log_info(COMPONENT, "listening url=%s id=%llu", url, (unsigned long long)tp->id);
	return 0;
}

/* ---- the loop side of the queue ---- */

static void conn_process(struct cl_conn *c, unsigned bits)
{
	switch (c->st) {
	case ST_DIAL:
		out_on_dial(c);
		break;
	case ST_SEND_HELLO:
		out_on_hello_sent(c);
		break;
	case ST_RECV_ACK:
		out_on_ack(c);
		break;
	case ST_RECV_HELLO:
		in_on_hello(c);
		break;
	case ST_SEND_ACK:
		in_on_ack_sent(c);
		break;
	case ST_RELAY:
		/* both directions may complete together; the first may kill the conn */
		if (bits & EV_TX)
			cl__relay_on_tx(c);
		if ((bits & EV_RX) && c->st == ST_RELAY)
			cl__relay_on_rx(c);
		break;
	case ST_DEAD:
		break;
	}
}

static void async_cb(uv_async_t *a)
{
	struct cl_tp *tp = a->data;
	while (!tp->closing) {
		pthread_mutex_lock(&tp->mu);
		bool acc = tp->accept_pend;
		tp->accept_pend = false;
		struct cl_conn *c = tp->ready;
		unsigned bits = 0;
		if (c) {
			tp->ready = c->ready_next;
			c->in_ready = false;
			bits = c->pend;
			c->pend = 0;
		}
		pthread_mutex_unlock(&tp->mu);
		if (acc)
			accept_done(tp);
		if (c)
			conn_process(c, bits);
		if (!acc && !c)
			break;
	}
}

/* ---- raft_uv_transport methods ---- */

static int tp_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct cl_tp *tp = t->impl;
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (id == 0 || cl_address_parse(address, url, host) != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "bad server id or address");
		return RAFT_INVALID;
	}
	tp->id = id;
	snprintf(tp->address, sizeof tp->address, "%s", address);
	if (uv_async_init(tp->loop, &tp->async, async_cb) != 0)
		return RAFT_IOERR;
	tp->async.data = tp;
	uv_timer_init(tp->loop, &tp->sweep);
	tp->sweep.data = tp;
	tp->inited = true;
	return 0;
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct cl_tp *tp = h->data;
	tp->closing_handles--;
	maybe_closed(tp);
}

static void maybe_closed(struct cl_tp *tp)
{
	if (!tp->closing || tp->closed || tp->closing_handles > 0)
		return;
	tp->closed = true;
	while (tp->cancelled) {
		struct cancelled *k = tp->cancelled;
		tp->cancelled = k->next;
		k->req->cb(k->req, NULL, RAFT_CANCELED);
		free(k);
	}
	if (tp->close_cb)
		tp->close_cb(tp->t);
}

static void tp_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct cl_tp *tp = t->impl;
	assert(!tp->closing);
	tp->closing = true;
	tp->close_cb = cb;
	if (tp->listener)
		nng_stream_listener_close(tp->listener);
	if (tp->accept_aio) {
		nng_aio_stop(tp->accept_aio);
		/* an accepted stream the loop has not picked up yet */
		nng_stream *s = tp->accept_sleeping || nng_aio_result(tp->accept_aio) != 0
		                    ? NULL
		                    : nng_aio_get_output(tp->accept_aio, 0);
		if (s) {
			nng_aio_set_output(tp->accept_aio, 0, NULL);
			nng_stream_free(s);
		}
	}
	while (tp->conns)
		cl__conn_destroy(tp->conns, RAFT_CANCELED);
	pthread_mutex_lock(&tp->mu);
	tp->accept_pend = false;
	pthread_mutex_unlock(&tp->mu);
	if (tp->inited) {
		tp->closing_handles += 2;
		uv_close((uv_handle_t *)&tp->async, handle_closed_cb);
		uv_close((uv_handle_t *)&tp->sweep, handle_closed_cb);
	}
	maybe_closed(tp);
}

int cl_transport_init(struct raft_uv_transport *t, struct uv_loop_s *loop, const struct cl_pki *pki)
{
	if (!t || !loop || !pki || !pki->ca_pem || !pki->cert_pem || !pki->key_pem)
		return MR_EINVAL;
	/* a write into a socketpair whose other end is gone must be an EPIPE, not a SIGPIPE
	 * that kills the process (libuv writes pipes with write(2), no MSG_NOSIGNAL) */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	struct cl_tp *tp = xmalloc(sizeof *tp);
	tp->t = t;
	tp->loop = loop;
	tp->hs_timeout_ms = CL_HANDSHAKE_TIMEOUT_MS;
	tp->ca_pem = xstrdup(pki->ca_pem);
	tp->cert_pem = xstrdup(pki->cert_pem);
	tp->key_pem = xstrdup(pki->key_pem);
	pthread_mutex_init(&tp->mu, NULL);
	memset(t, 0, sizeof *t);
	t->impl = tp;
	int rv = tls_config(tp, NNG_TLS_MODE_SERVER, NULL, &tp->server_cfg);
	if (rv != 0) {
		cl_transport_close(t);
		return rv;
	}
	t->init = tp_init;
	t->listen = tp_listen;
	t->connect = tp_connect;
	t->close = tp_close;
	return 0;
}

int cl_transport_set_bind_address(struct raft_uv_transport *t, const char *address)
{
	struct cl_tp *tp = t->impl;
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (cl_address_parse(address, url, host) != 0)
		return MR_EINVAL;
	snprintf(tp->bind, sizeof tp->bind, "%s", address);
	return 0;
}

void cl_transport_set_handshake_timeout(struct raft_uv_transport *t, unsigned msecs)
{
	struct cl_tp *tp = t->impl;
	tp->hs_timeout_ms = msecs ? msecs : CL_HANDSHAKE_TIMEOUT_MS;
}

void cl_transport_close(struct raft_uv_transport *t)
{
	struct cl_tp *tp = t->impl;
	if (!tp)
		return;
	assert(!tp->inited || tp->closed); /* t->close() must have completed */
	if (tp->listener)
		nng_stream_listener_free(tp->listener);
	if (tp->accept_aio)
		nng_aio_free(tp->accept_aio);
	if (tp->server_cfg)
		nng_tls_config_free(tp->server_cfg);
	mr_memzero(tp->key_pem, strlen(tp->key_pem));
	free(tp->key_pem);
	free(tp->cert_pem);
	free(tp->ca_pem);
	pthread_mutex_destroy(&tp->mu);
	free(tp);
	t->impl = NULL;
}

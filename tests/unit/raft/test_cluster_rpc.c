/* test_cluster_rpc.c - the member RPC over loopback with real certificates (cluster_pki): a
 * round trip with a body (sync and async forms, empty bodies, a 3 MiB reply past nng's default
 * 1 MiB receive limit, more calls at once than the server has contexts); a reply sent from
 * another thread after the handler returned; an unknown op answers MR_EINVAL; a client without
 * a certificate gets MR_EAUTH on a normal op while an anonymous op works; a client whose
 * certificate comes from another CA is refused (by the server's CA check it gets MR_EAUTH, and
 * a client that trusts only its own CA never reaches the server); a handler that never
 * answers makes the call time out, and stopping the server then (the late reply only frees
 * the call) leaks nothing under ASan; oversized requests and replies are refused on both
 * sides; stopping the server or closing the client with calls in flight. Also the address
 * rule (port + 1) and the envelope codec on malformed input. */
#include "cluster_net_helpers.h"
#include "raft/cluster_rpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#define OP_ECHO CL_RPC_STATUS  /* echoes the body with "re:" prepended */
#define OP_JOIN CL_RPC_JOIN    /* anonymous: answers "hello" */
#define OP_HOLD CL_RPC_FORWARD /* keeps the call; the test answers it later */
#define OP_LATER CL_RPC_MEMBER /* answered from another thread after the handler returned */
#define OP_HUGE CL_RPC_FETCH   /* tries to answer with CL_RPC_MAX_MSG bytes */
#define MAX_HELD 32

struct env {
	pthread_mutex_t mu;
	struct cl_rpc_call *held[MAX_HELD];
	unsigned n_held;
	atomic_int handled;
	struct cl_pki pki; /* server credentials */
	struct cl_rpc_server *srv;
	char addr[CL_ADDRESS_MAX + 1];
	pthread_t later;
	bool later_started;
};

static void h_echo(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct env *e = ud;
	atomic_fetch_add(&e->handled, 1);
	uint8_t *out = xmalloc(len + 3);
	memcpy(out, "re:", 3);
	if (len)
		memcpy(out + 3, body, len);
	cl_rpc_reply(call, 0, out, len + 3);
	free(out);
}

static void h_join(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct env *e = ud;
	(void)body;
	(void)len;
	atomic_fetch_add(&e->handled, 1);
	cl_rpc_reply(call, 0, "hello", 5);
}

static void h_hold(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct env *e = ud;
	(void)body;
	(void)len;
	atomic_fetch_add(&e->handled, 1);
	pthread_mutex_lock(&e->mu);
	ASSERT(e->n_held < MAX_HELD);
	e->held[e->n_held++] = call;
	pthread_mutex_unlock(&e->mu);
}

struct later {
	struct cl_rpc_call *call;
	uint8_t body[64];
	size_t len;
};

static void *later_main(void *arg)
{
	struct later *l = arg;
	nng_msleep(100); /* well after the handler returned */
	cl_rpc_reply(l->call, MR_ENOTLEADER, l->body, l->len);
	free(l);
	return NULL;
}

static void h_later(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct env *e = ud;
	atomic_fetch_add(&e->handled, 1);
	struct later *l = xmalloc(sizeof *l);
	l->call = call;
	l->len = len < sizeof l->body ? len : sizeof l->body;
	memcpy(l->body, body, l->len);
	ASSERT(!e->later_started);
	e->later_started = true;
	ASSERT_OK(pthread_create(&e->later, NULL, later_main, l));
}

static void h_huge(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	struct env *e = ud;
	(void)body;
	(void)len;
	atomic_fetch_add(&e->handled, 1);
	uint8_t *big = malloc(CL_RPC_MAX_MSG); /* never read: the reply is refused by its size */
	ASSERT(big);
	cl_rpc_reply(call, 0, big, CL_RPC_MAX_MSG);
	free(big);
}

static const struct cl_rpc_handler table[] = {
    {OP_ECHO, false, h_echo},   {OP_JOIN, true, h_join},  {OP_HOLD, false, h_hold},
    {OP_LATER, false, h_later}, {OP_HUGE, false, h_huge},
};

static void env_start(struct env *e)
{
	memset(e, 0, sizeof *e);
	pthread_mutex_init(&e->mu, NULL);
	helper_creds("ca", 1, &e->pki);
	snprintf(e->addr, sizeof e->addr, "127.0.0.1:%d", helper_free_port());
	ASSERT_OK(cl_rpc_server_start(e->addr, &e->pki, table, MR_ARRAY_LEN(table), e, &e->srv));
}

/* Answer every held call (after the server stopped this only frees them). */
static void env_release(struct env *e, int status)
{
	pthread_mutex_lock(&e->mu);
	for (unsigned i = 0; i < e->n_held; i++)
		cl_rpc_reply(e->held[i], status, "late", 4);
	e->n_held = 0;
	pthread_mutex_unlock(&e->mu);
}

static void env_finish(struct env *e)
{
	cl_rpc_server_stop(&e->srv);
	ASSERT(e->srv == NULL);
	env_release(e, MR_EIO);
	if (e->later_started)
		pthread_join(e->later, NULL);
	cl_pki_free(&e->pki);
	pthread_mutex_destroy(&e->mu);
	/* nng 1.5.2 reaps some objects asynchronously; let it settle before nng_fini(), which is
	 * what lets LeakSanitizer see an nng object we forgot. */
	nng_msleep(100);
	nng_fini();
}

static unsigned held_count(struct env *e)
{
	pthread_mutex_lock(&e->mu);
	unsigned n = e->n_held;
	pthread_mutex_unlock(&e->mu);
	return n;
}

static void wait_held(struct env *e, unsigned n)
{
	for (int i = 0; i < 500 && held_count(e) < n; i++)
		nng_msleep(10);
	ASSERT_EQ_INT(held_count(e), n);
}

static struct cl_rpc_client *client(const char *ca, uint64_t id)
{
	struct cl_pki pki = {0};
	struct cl_rpc_client *c = NULL;
	helper_creds(ca, id, &pki);
	ASSERT_OK(cl_rpc_client_open(&pki, &c));
	cl_pki_free(&pki); /* the client keeps copies */
	return c;
}

/* ---- async completion record ---- */

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int fired;
	int status;
	size_t len;
	uint8_t body[64];
};

static void done_init(struct done *d)
{
	memset(d, 0, sizeof *d);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cond, NULL);
}

static void on_done(void *ud, int status, const uint8_t *body, size_t len)
{
	struct done *d = ud;
	pthread_mutex_lock(&d->mu);
	d->fired++;
	d->status = status;
	d->len = len;
	if (len)
		memcpy(d->body, body, len < sizeof d->body ? len : sizeof d->body);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mu);
}

static void done_wait(struct done *d)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&d->mu);
	while (!d->fired)
		ASSERT(pthread_cond_timedwait(&d->cond, &d->mu, &ts) == 0);
	pthread_mutex_unlock(&d->mu);
}

/* ---- pure parts ---- */

static void test_address(void)
{
	char out[CL_ADDRESS_MAX + 1];
	ASSERT_OK(cl_rpc_address("10.0.0.7:7001", out));
	ASSERT_EQ_STR(out, "10.0.0.7:7002");
	ASSERT_OK(cl_rpc_address("[::1]:9", out));
	ASSERT_EQ_STR(out, "[::1]:10");
	ASSERT_OK(cl_rpc_address("mx.example.org:65534", out));
	ASSERT_EQ_STR(out, "mx.example.org:65535");
	const char *bad[] = {"h:65535", "h", "h:0", ":7001", "h:70000", "", "a b:1"};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++)
		ASSERT_ERR(cl_rpc_address(bad[i], out), MR_EINVAL);
	ASSERT_ERR(cl_rpc_address(NULL, out), MR_EINVAL);
}

static void test_envelope(void)
{
	uint8_t buf[64];
	struct cl_rpc_msg m;
	size_t n = cl_rpc_request_size(7, 3);
	ASSERT(n <= sizeof buf);
	cl_rpc_request_pack(7, "abc", 3, buf);
	ASSERT_OK(cl_rpc_request_decode(buf, n, &m));
	ASSERT_EQ_INT(m.op, 7);
	ASSERT_EQ_MEM(m.body, m.len, "abc", 3);
	cl_rpc_msg_free(&m);
	ASSERT(m.priv_ == NULL);
	for (size_t cut = 0; cut < n; cut++) { /* truncations inside a field are refused */
		if (cut == 2) { /* after the op field: a valid request without a body */
			ASSERT_OK(cl_rpc_request_decode(buf, cut, &m));
			ASSERT(m.op == 7 && m.body == NULL && m.len == 0);
			cl_rpc_msg_free(&m);
			continue;
		}
		ASSERT_ERR(cl_rpc_request_decode(buf, cut, &m), MR_EPROTO);
	}

	n = cl_rpc_request_size(3, 0); /* empty body: absent */
	cl_rpc_request_pack(3, NULL, 0, buf);
	ASSERT_OK(cl_rpc_request_decode(buf, n, &m));
	ASSERT(m.body == NULL && m.len == 0 && m.op == 3);
	cl_rpc_msg_free(&m);

	n = cl_rpc_reply_size(MR_ENOTLEADER, 2);
	cl_rpc_reply_pack(MR_ENOTLEADER, "xy", 2, buf);
	ASSERT_OK(cl_rpc_reply_decode(buf, n, &m));
	ASSERT_EQ_INT(m.status, MR_ENOTLEADER);
	ASSERT_EQ_MEM(m.body, m.len, "xy", 2);
	cl_rpc_msg_free(&m);

	n = cl_rpc_reply_size(5, 0); /* statuses are never positive */
	cl_rpc_reply_pack(5, NULL, 0, buf);
	ASSERT_ERR(cl_rpc_reply_decode(buf, n, &m), MR_EPROTO);
	ASSERT(m.priv_ == NULL);
	const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	ASSERT_ERR(cl_rpc_request_decode(junk, sizeof junk, &m), MR_EPROTO);
	ASSERT_ERR(cl_rpc_reply_decode(junk, 0, &m), MR_EPROTO); /* status is required */
	cl_rpc_msg_free(&m);                                     /* zeroed: a no-op */
}

/* ---- over the network ---- */

static void test_round_trip(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	uint8_t *rep = NULL;
	size_t rlen = 0;
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_ECHO, "ping", 4, 5000, &rep, &rlen));
	ASSERT_EQ_MEM(rep, rlen, "re:ping", 7);
	free(rep);
	/* empty request body */
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_ECHO, NULL, 0, 5000, &rep, &rlen));
	ASSERT_EQ_MEM(rep, rlen, "re:", 3);
	free(rep);
	/* the async form on the same cached socket */
	struct done d;
	done_init(&d);
	ASSERT_OK(cl_rpc_call(c, e.addr, OP_ECHO, "x", 1, 0, on_done, &d));
	done_wait(&d);
	ASSERT_EQ_INT(d.status, 0);
	ASSERT_EQ_MEM(d.body, d.len, "re:x", 4);
	/* 3 MiB each way: past nng's default 1 MiB receive limit on both ends */
	size_t big = 3u << 20;
	uint8_t *b = xmalloc(big);
	for (size_t i = 0; i < big; i++)
		b[i] = (uint8_t)(i * 31u);
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_ECHO, b, big, 10000, &rep, &rlen));
	ASSERT_EQ_INT(rlen, big + 3);
	ASSERT(memcmp(rep + 3, b, big) == 0);
	free(rep);
	free(b);
	ASSERT_EQ_INT(atomic_load(&e.handled), 4);
	cl_rpc_client_close(&c);
	ASSERT(c == NULL);
	env_finish(&e);
}

/* More calls at once than the server has contexts, from several client threads. */
struct burst {
	struct cl_rpc_client *c;
	const char *addr;
	int ok;
};

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	for (int i = 0; i < 5; i++) {
		char msg[32], want[40];
		int n = snprintf(msg, sizeof msg, "m%p-%d", (void *)b, i);
		snprintf(want, sizeof want, "re:%s", msg);
		uint8_t *rep = NULL;
		size_t rlen = 0;
		if (cl_rpc_call_sync(b->c, b->addr, OP_ECHO, msg, (size_t)n, 10000, &rep, &rlen) ==
		        0 &&
		    rlen == strlen(want) && memcmp(rep, want, rlen) == 0)
			b->ok++;
		free(rep);
	}
	return NULL;
}

static void test_concurrent_calls(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	enum { N = CL_RPC_CONTEXTS + 8 };
	pthread_t th[N];
	struct burst b[N];
	for (int i = 0; i < N; i++) {
		b[i] = (struct burst){.c = c, .addr = e.addr};
		ASSERT_OK(pthread_create(&th[i], NULL, burst_main, &b[i]));
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		ASSERT_EQ_INT(b[i].ok, 5);
	}
	ASSERT_EQ_INT(atomic_load(&e.handled), N * 5);
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_async_reply_other_thread(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	uint8_t *rep = NULL;
	size_t rlen = 0;
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_LATER, "abc", 3, 5000, &rep, &rlen),
	           MR_ENOTLEADER);
	ASSERT_EQ_MEM(rep, rlen, "abc", 3); /* a failing status may carry a body */
	free(rep);
	/* the slot is free again */
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_ECHO, "z", 1, 5000, &rep, &rlen));
	free(rep);
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_unknown_op(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	uint8_t *rep = (uint8_t *)"x";
	size_t rlen = 9;
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, 99, "q", 1, 5000, &rep, &rlen), MR_EINVAL);
	ASSERT(rep == NULL && rlen == 0);
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, 0, NULL, 0, 5000, NULL, NULL), MR_EINVAL);
	ASSERT_EQ_INT(atomic_load(&e.handled), 0);
	/* bad arguments never reach the network */
	ASSERT_ERR(cl_rpc_call(c, "nohost", OP_ECHO, NULL, 0, 0, on_done, NULL), MR_EINVAL);
	ASSERT_ERR(cl_rpc_call(c, e.addr, OP_ECHO, NULL, 0, 0, NULL, NULL), MR_EINVAL);
	ASSERT_ERR(cl_rpc_call(c, e.addr, OP_ECHO, NULL, 5, 0, on_done, NULL), MR_EINVAL);
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_anonymous_client(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = NULL;
	ASSERT_OK(cl_rpc_client_open(NULL, &c));
	uint8_t *rep = NULL;
	size_t rlen = 0;
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_ECHO, "x", 1, 5000, &rep, &rlen), MR_EAUTH);
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_HOLD, "x", 1, 5000, &rep, &rlen), MR_EAUTH);
	ASSERT_EQ_INT(atomic_load(&e.handled), 0); /* refused before any handler */
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_JOIN, "t", 1, 5000, &rep, &rlen));
	ASSERT_EQ_MEM(rep, rlen, "hello", 5);
	free(rep);
	ASSERT_EQ_INT(atomic_load(&e.handled), 1);
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_client_from_other_ca(void)
{
	struct env e;
	env_start(&e);
	/* A client of another cluster trusts only its own CA: the handshake fails on its side
	 * and the call never reaches a handler. */
	struct cl_rpc_client *c = client("other", 2);
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_JOIN, "x", 1, 1500, NULL, NULL),
	           CL_RPC_ETIMEDOUT);
	cl_rpc_client_close(&c);
	/* One that trusts the server's CA but presents a certificate from another CA is served
	 * as anonymous: the server's chain check refuses the certificate. */
	struct cl_pki foreign = {0}, mixed = {0};
	helper_creds("other", 3, &foreign);
	mixed.ca_pem = e.pki.ca_pem;
	mixed.cert_pem = foreign.cert_pem;
	mixed.key_pem = foreign.key_pem;
	ASSERT_OK(cl_rpc_client_open(&mixed, &c));
	cl_pki_free(&foreign);
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_ECHO, "x", 1, 5000, NULL, NULL), MR_EAUTH);
	ASSERT_EQ_INT(atomic_load(&e.handled), 0);
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_JOIN, "x", 1, 5000, NULL, NULL));
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_timeout_then_stop(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	uint64_t t0 = mr_now_ms();
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_HOLD, "x", 1, 300, NULL, NULL), CL_RPC_ETIMEDOUT);
	uint64_t dt = mr_now_ms() - t0;
	ASSERT(dt >= 250 && dt < 5000);
	ASSERT_EQ_INT(held_count(&e), 1);
	/* other slots still serve */
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_ECHO, "y", 1, 5000, NULL, NULL));
	/* stop with the held call unanswered; its reply afterwards only frees it */
	cl_rpc_server_stop(&e.srv);
	env_release(&e, 0);
	cl_rpc_client_close(&c);
	env_finish(&e);
}

/* ---- a raw SP-over-TLS client (nng's tls+tcp framing, spoken by hand) ---- */

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Send or receive exactly n bytes within 5 s: 0 or the nng error. */
static int raw_io(nng_stream *st, void *buf, size_t n, bool send)
{
	nng_aio *aio;
	ASSERT_OK(nng_aio_alloc(&aio, NULL, NULL));
	int rv = 0;
	size_t done = 0;
	while (rv == 0 && done < n) {
		nng_iov iov = {(uint8_t *)buf + done, n - done};
		ASSERT_OK(nng_aio_set_iov(aio, 1, &iov));
		nng_aio_set_timeout(aio, 5000);
		if (send)
			nng_stream_send(st, aio);
		else
			nng_stream_recv(st, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		done += nng_aio_count(aio);
	}
	nng_aio_free(aio);
	return rv;
}

/* Connect with the server's own credentials and exchange the SP headers (req0 = 0x30, the
 * server's rep0 = 0x31). */
static nng_stream *raw_connect(struct env *e)
{
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	nng_stream_dialer *d;
	nng_tls_config *cfg;
	nng_aio *aio;
	ASSERT_OK(cl_address_parse(e->addr, url, host));
	ASSERT_OK(nng_stream_dialer_alloc(&d, url));
	ASSERT_OK(nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT));
	ASSERT_OK(nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_2));
	ASSERT_OK(nng_tls_config_ca_chain(cfg, e->pki.ca_pem, NULL));
	ASSERT_OK(nng_tls_config_own_cert(cfg, e->pki.cert_pem, e->pki.key_pem, NULL));
	ASSERT_OK(nng_tls_config_server_name(cfg, host));
	ASSERT_OK(nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg));
	nng_tls_config_free(cfg);
	ASSERT_OK(nng_aio_alloc(&aio, NULL, NULL));
	nng_aio_set_timeout(aio, 5000);
	nng_stream_dialer_dial(d, aio);
	nng_aio_wait(aio);
	ASSERT_OK(nng_aio_result(aio));
	nng_stream *st = nng_aio_get_output(aio, 0);
	nng_aio_free(aio);
	nng_stream_dialer_free(d);
	uint8_t sp[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0}, peer[8];
	ASSERT_OK(raw_io(st, sp, sizeof sp, true));
	ASSERT_OK(raw_io(st, peer, sizeof peer, false));
	ASSERT(peer[1] == 'S' && peer[2] == 'P' && peer[5] == 0x31);
	return st;
}

static void test_oversized(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	/* request: refused before sending */
	uint8_t *big = malloc(CL_RPC_MAX_MSG + 1u); /* never read */
	ASSERT(big);
	struct done d;
	done_init(&d);
	ASSERT_ERR(cl_rpc_call(c, e.addr, OP_ECHO, big, CL_RPC_MAX_MSG, 0, on_done, &d),
	           MR_ETOOBIG);
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_ECHO, big, CL_RPC_MAX_MSG + 1u, 0, NULL, NULL),
	           MR_ETOOBIG);
	ASSERT_EQ_INT(d.fired, 0);
	/* reply: the server answers MR_ETOOBIG instead */
	ASSERT_ERR(cl_rpc_call_sync(c, e.addr, OP_HUGE, NULL, 0, 5000, NULL, NULL), MR_ETOOBIG);

	/* A raw client speaking the SP-over-TLS framing itself: a valid request is served, then a
	 * length header above CL_RPC_MAX_MSG makes the server drop the connection at once, before
	 * the body (nothing is allocated for it); others are still served. */
	nng_stream *st = raw_connect(&e);
	uint8_t hdr[8 + 4], in[64];
	size_t n = cl_rpc_request_size(OP_ECHO, 2);
	uint8_t req[32];
	cl_rpc_request_pack(OP_ECHO, "hi", 2, req);
	be64(hdr, 4 + n);
	memcpy(hdr + 8, "\x80\x00\x00\x07", 4); /* req0 request id 7 */
	ASSERT_OK(raw_io(st, hdr, sizeof hdr, true));
	ASSERT_OK(raw_io(st, req, n, true));
	ASSERT_OK(raw_io(st, in, 12, false)); /* reply length, request id */
	uint64_t rlen = 0;
	for (int i = 0; i < 8; i++)
		rlen = rlen << 8 | in[i];
	ASSERT(rlen > 4 && rlen - 4 <= sizeof in);
	ASSERT_EQ_MEM(in + 8, 4, "\x80\x00\x00\x07", 4);
	ASSERT_OK(raw_io(st, in, rlen - 4, false));
	struct cl_rpc_msg rep;
	ASSERT_OK(cl_rpc_reply_decode(in, rlen - 4, &rep));
	ASSERT_EQ_MEM(rep.body, rep.len, "re:hi", 5);
	cl_rpc_msg_free(&rep);
	be64(hdr, (uint64_t)CL_RPC_MAX_MSG + 16u);
	memcpy(hdr + 8, "\x80\x00\x00\x08", 4);
	ASSERT_OK(raw_io(st, hdr, sizeof hdr, true));
	int rv = raw_io(st, in, 1, false);
	ASSERT(rv != 0 && rv != NNG_ETIMEDOUT); /* closed by the server, not left waiting */
	nng_stream_close(st);
	nng_stream_free(st);
	free(big);
	ASSERT_EQ_INT(atomic_load(&e.handled), 2); /* OP_HUGE and the small raw request */
	ASSERT_OK(cl_rpc_call_sync(c, e.addr, OP_ECHO, "ok", 2, 5000, NULL, NULL));
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_stop_with_calls_in_flight(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	struct done d[4];
	for (int i = 0; i < 4; i++) {
		done_init(&d[i]);
		ASSERT_OK(cl_rpc_call(c, e.addr, OP_HOLD, "h", 1, 5000, on_done, &d[i]));
	}
	wait_held(&e, 4);
	cl_rpc_server_stop(&e.srv); /* calls unanswered */
	env_release(&e, 0);         /* late replies: dropped, memory freed */
	for (int i = 0; i < 4; i++) {
		done_wait(&d[i]);
		ASSERT_EQ_INT(d[i].fired, 1);
		ASSERT_EQ_INT(d[i].status, MR_EIO); /* connection lost while waiting */
	}
	/* a second stop is a no-op */
	cl_rpc_server_stop(&e.srv);
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_client_close_with_calls_in_flight(void)
{
	struct env e;
	env_start(&e);
	struct cl_rpc_client *c = client("ca", 2);
	struct done d[3];
	for (int i = 0; i < 3; i++) {
		done_init(&d[i]);
		ASSERT_OK(cl_rpc_call(c, e.addr, OP_HOLD, "h", 1, 20000, on_done, &d[i]));
	}
	wait_held(&e, 3);
	cl_rpc_client_close(&c); /* done fired before it returned */
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ_INT(d[i].fired, 1);
		ASSERT_EQ_INT(d[i].status, MR_ECLOSED);
	}
	/* a peer that never answers the dial: the call ends at its deadline */
	c = client("ca", 2);
	char dead[64];
	snprintf(dead, sizeof dead, "127.0.0.1:%d", helper_free_port());
	ASSERT_ERR(cl_rpc_call_sync(c, dead, OP_ECHO, "x", 1, 400, NULL, NULL), CL_RPC_ETIMEDOUT);
	cl_rpc_client_close(&c);
	env_finish(&e);
}

static void test_server_errors(void)
{
	struct cl_pki pki = {0};
	struct cl_rpc_server *srv = NULL, *srv2 = NULL;
	helper_creds("ca", 1, &pki);
	ASSERT_ERR(cl_rpc_server_start("nope", &pki, table, 1, NULL, &srv), MR_EINVAL);
	ASSERT_ERR(cl_rpc_server_start("127.0.0.1:1", NULL, table, 1, NULL, &srv), MR_EINVAL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", helper_free_port());
	ASSERT_OK(cl_rpc_server_start(addr, &pki, table, 1, NULL, &srv));
	ASSERT_ERR(cl_rpc_server_start(addr, &pki, table, 1, NULL, &srv2), MR_EIO); /* in use */
	ASSERT(srv2 == NULL);
	struct cl_pki bad = pki;
	bad.key_pem = (char *)"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	ASSERT_ERR(cl_rpc_server_start(addr, &bad, table, 1, NULL, &srv2), MR_ETLS);
	ASSERT_ERR(cl_rpc_client_open(&bad, &(struct cl_rpc_client *){NULL}), MR_ETLS);
	cl_rpc_server_stop(&srv);
	cl_pki_free(&pki);
	nng_msleep(100);
	nng_fini();
}

static const struct unit_test tests[] = {
    {"address", test_address},
    {"envelope", test_envelope},
    {"round_trip", test_round_trip},
    {"concurrent_calls", test_concurrent_calls},
    {"async_reply_other_thread", test_async_reply_other_thread},
    {"unknown_op", test_unknown_op},
    {"anonymous_client", test_anonymous_client},
    {"client_from_other_ca", test_client_from_other_ca},
    {"timeout_then_stop", test_timeout_then_stop},
    {"oversized", test_oversized},
    {"stop_with_calls_in_flight", test_stop_with_calls_in_flight},
    {"client_close_with_calls_in_flight", test_client_close_with_calls_in_flight},
    {"server_errors", test_server_errors},
    {0},
};
UNIT_MAIN(tests)

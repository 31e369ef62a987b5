/* test_cluster_transport.c - the nng mutual-TLS raft transport without raft: two transports on
 * one loop connect, the acceptor learns the connector's id and address from the hello, 1 MiB
 * crosses the uv_pipe bridge each way intact, a peer closing its stream is seen as EOF on the
 * other side, and close() frees everything (uv_loop_close succeeds: no handle left). Refusals:
 * a server certificate from another CA, a client certificate from another CA, a client without
 * any certificate and a plaintext client never reach accept_cb; connect to a closed port fails;
 * a stalled TLS handshake times out, close() cancels a pending connect with RAFT_CANCELED, and
 * a taken port or a bad address fails listen/init cleanly.
 * Also the hello codec byte at a time and on malformed input, and the address syntax. */
#include "cluster_net_helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

/* ---- codec ---- */

static void test_hello_codec(void)
{
	uint8_t buf[CL_HELLO_MAX + 8];
	size_t n = cl_hello_encode(42, "10.0.0.7:7001", buf);
	ASSERT_EQ_INT(n, CL_HELLO_HDR + 13);
	memcpy(buf + n, "TRAILING", 8); /* raft bytes after the hello must not be eaten */

	struct cl_hello h;
	cl_hello_init(&h);
	size_t i = 0, used = 0;
	int r = 0;
	while (r == 0) {
		ASSERT(cl_hello_need(&h) > 0);
		r = cl_hello_push(&h, buf + i, 1, &used);
		ASSERT_EQ_INT(used, 1);
		i++;
	}
	ASSERT_EQ_INT(r, 1);
	ASSERT_EQ_INT(i, n);
	ASSERT_EQ_INT(h.id, 42);
	ASSERT_EQ_STR(h.address, "10.0.0.7:7001");
	ASSERT_EQ_INT(cl_hello_need(&h), 0);

	/* all at once, with trailing bytes: consumes exactly the hello */
	cl_hello_init(&h);
	ASSERT_EQ_INT(cl_hello_push(&h, buf, n + 8, &used), 1);
	ASSERT_EQ_INT(used, n);
	ASSERT_EQ_INT(h.id, 42);
	/* in reads of cl_hello_need() bytes: header, then exactly the address */
	cl_hello_init(&h);
	ASSERT_EQ_INT(cl_hello_need(&h), CL_HELLO_HDR);
	ASSERT_EQ_INT(cl_hello_push(&h, buf, CL_HELLO_HDR, &used), 0);
	ASSERT_EQ_INT(cl_hello_need(&h), 13);
	ASSERT_EQ_INT(cl_hello_push(&h, buf + CL_HELLO_HDR, 13, &used), 1);

	/* malformed: magic, version, id 0, length 0 and > max, non-printable address byte */
	struct {
		size_t off;
		uint8_t val;
	} bad[] = {{0, 'X'},
	           {4, 2},
	           {7, 1},
	           {16, 0},
	           {17, 1},
	           {CL_HELLO_HDR + 3, 0},
	           {CL_HELLO_HDR + 3, ' '},
	           {CL_HELLO_HDR, 0x80}};
	for (size_t k = 0; k < MR_ARRAY_LEN(bad); k++) {
		uint8_t m[CL_HELLO_MAX];
		memcpy(m, buf, n);
		m[bad[k].off] = bad[k].val;
		if (bad[k].off == 16) /* length 0 */
			m[17] = 0;
		cl_hello_init(&h);
		int rr = 0;
		for (i = 0; i < n && rr == 0; i++)
			rr = cl_hello_push(&h, m + i, 1, &used);
		ASSERT_EQ_INT(rr, MR_EPROTO);
	}
	uint8_t z[CL_HELLO_HDR];
	memcpy(z, buf, CL_HELLO_HDR);
	memset(z + 8, 0, 8); /* id 0 */
	cl_hello_init(&h);
	ASSERT_EQ_INT(cl_hello_push(&h, z, sizeof z, &used), MR_EPROTO);

	/* the encoder refuses what the parser would refuse */
	ASSERT_EQ_INT(cl_hello_encode(0, "a:1", buf), 0);
	ASSERT_EQ_INT(cl_hello_encode(1, "", buf), 0);
	ASSERT_EQ_INT(cl_hello_encode(1, "a b:1", buf), 0);
	char big[CL_ADDRESS_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ASSERT_EQ_INT(cl_hello_encode(1, big, buf), 0);
	big[CL_ADDRESS_MAX] = '\0';
	ASSERT_EQ_INT(cl_hello_encode(1, big, buf), CL_HELLO_MAX);

	uint8_t ack[CL_ACK_LEN];
	cl_ack_encode(ack);
	ASSERT_OK(cl_ack_check(ack));
	ack[7] = 1;
	ASSERT_ERR(cl_ack_check(ack), MR_EPROTO);
}

static void test_address_parse(void)
{
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	ASSERT_OK(cl_address_parse("127.0.0.1:7001", url, host));
	ASSERT_EQ_STR(url, "tls+tcp://127.0.0.1:7001");
	ASSERT_EQ_STR(host, "127.0.0.1");
	ASSERT_OK(cl_address_parse("mx-2.example.org:65535", url, host));
	ASSERT_EQ_STR(host, "mx-2.example.org");
	ASSERT_OK(cl_address_parse("[::1]:9", url, host));
	ASSERT_EQ_STR(host, "::1");
	ASSERT_EQ_STR(url, "tls+tcp://[::1]:9");
	const char *bad[] = {"",        "host",    ":7001",    "h:",    "h:0",
	                     "h:65536", "h:12a",   "h:123456", "a b:1", "h/x:1",
	                     "::1:80",  "[::1:80", "[]:80",    "h:-1",  "h:+1"};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++)
		if (cl_address_parse(bad[i], url, host) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
}

/* ---- two transports on one loop ---- */

struct node {
	struct raft_uv_transport t;
	struct cl_pki pki;
	uint64_t id;
	char addr[64];
	uv_stream_t *accepted;
	raft_id acc_id;
	char acc_addr[CL_ADDRESS_MAX + 1];
	int n_accept;
	bool closed;
};

struct dial {
	struct raft_uv_connect req;
	uv_stream_t *stream;
	int status;
	bool done;
};

static void on_accept(struct raft_uv_transport *t, raft_id id, const char *address,
                      uv_stream_t *stream)
{
	struct node *n = t->data;
	n->n_accept++;
	n->acc_id = id;
	snprintf(n->acc_addr, sizeof n->acc_addr, "%s", address);
	if (n->accepted) /* keep the first only */
		uv_close((uv_handle_t *)stream, (uv_close_cb)raft_free);
	else
		n->accepted = stream;
}

static void on_connect(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
	struct dial *d = req->data;
	d->stream = stream;
	d->status = status;
	d->done = true;
}

static void on_closed(struct raft_uv_transport *t)
{
	((struct node *)t->data)->closed = true;
}

static void node_start(uv_loop_t *loop, struct node *n, uint64_t id, bool listen)
{
	n->id = id;
	snprintf(n->addr, sizeof n->addr, "127.0.0.1:%d", helper_free_port());
	ASSERT_OK(cl_transport_init(&n->t, loop, &n->pki));
	n->t.data = n;
	ASSERT_OK(n->t.init(&n->t, id, n->addr));
	if (listen)
		ASSERT_OK(n->t.listen(&n->t, on_accept));
}

static void node_stop(uv_loop_t *loop, struct node *n)
{
	n->t.close(&n->t, on_closed);
	helper_run_until(loop, &n->closed, 5000, "transport close");
	cl_transport_close(&n->t);
	cl_pki_free(&n->pki);
}

static void dial(struct node *from, struct node *to, struct dial *d)
{
	memset(d, 0, sizeof *d);
	d->req.data = d;
	ASSERT_OK(from->t.connect(&from->t, &d->req, to->id, to->addr, on_connect));
}

static void loop_finish(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_NOWAIT);
	ASSERT_OK(uv_loop_close(loop)); /* UV_EBUSY if any handle was left open */
	/* nng 1.5.2 tears some objects down asynchronously (reaper) and its nng_fini() can race
	 * with that and panic on a destroyed mutex; let it settle first. nng_fini() itself is
	 * what makes LeakSanitizer see an nng object we forgot to free. */
	nng_msleep(100);
	nng_fini();
}

/* Streams in the test: read into a growing buffer; note EOF. */
struct sink {
	uint8_t *data;
	size_t len, cap;
	bool eof, full;
	size_t want;
};

static void sink_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char scratch[65536];
	(void)h;
	(void)hint;
	*buf = uv_buf_init(scratch, sizeof scratch);
}

static void sink_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct sink *k = s->data;
	if (n < 0) {
		k->eof = true;
		uv_read_stop(s);
		return;
	}
	ASSERT(k->len + (size_t)n <= k->cap);
	memcpy(k->data + k->len, buf->base, (size_t)n);
	k->len += (size_t)n;
	if (k->len >= k->want)
		k->full = true;
}

static void write_done(uv_write_t *w, int status)
{
	ASSERT_OK(status);
	*(bool *)w->data = true;
}

static void pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31u + seed + (i >> 13));
}

static void transfer(uv_loop_t *loop, uv_stream_t *from, uv_stream_t *to, uint8_t seed)
{
	const size_t size = 1u << 20;
	uint8_t *src = xmalloc(size), *expect = xmalloc(size);
	pattern(src, size, seed);
	memcpy(expect, src, size);
	struct sink k = {.data = xmalloc(size), .cap = size, .want = size};
	to->data = &k;
	ASSERT_OK(uv_read_start(to, sink_alloc, sink_read));
	bool written = false;
	uv_write_t w = {.data = &written};
	uv_buf_t b = uv_buf_init((char *)src, (unsigned)size);
	ASSERT_OK(uv_write(&w, from, &b, 1, write_done));
	helper_run_until(loop, &k.full, 20000, "1 MiB transfer");
	helper_run_until(loop, &written, 5000, "write completion");
	uv_read_stop(to);
	ASSERT_EQ_MEM(k.data, k.len, expect, size);
	free(k.data);
	free(src);
	free(expect);
}

static void test_connect_exchange_close(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {0};
	helper_creds("ca", 1, &a.pki);
	helper_creds("ca", 2, &b.pki);
	node_start(&loop, &a, 1, true);
	node_start(&loop, &b, 2, true);

	struct dial d;
	dial(&a, &b, &d);
	helper_run_until(&loop, &d.done, 10000, "connect");
	ASSERT_OK(d.status);
	ASSERT(d.stream != NULL);
	while (b.n_accept == 0)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(b.n_accept, 1);
	ASSERT_EQ_INT(b.acc_id, 1);
	ASSERT_EQ_STR(b.acc_addr, a.addr);
	ASSERT_EQ_INT(a.n_accept, 0);

	transfer(&loop, d.stream, b.accepted, 7);  /* connector -> acceptor */
	transfer(&loop, b.accepted, d.stream, 99); /* and back */

	/* the connector closes: the acceptor's stream sees EOF */
	struct sink k = {.data = xmalloc(16), .cap = 16, .want = 16};
	b.accepted->data = &k;
	ASSERT_OK(uv_read_start(b.accepted, sink_alloc, sink_read));
	uv_close((uv_handle_t *)d.stream, (uv_close_cb)raft_free);
	helper_run_until(&loop, &k.eof, 5000, "EOF after peer close");
	ASSERT_EQ_INT(k.len, 0);
	free(k.data);
	uv_close((uv_handle_t *)b.accepted, (uv_close_cb)raft_free);

	node_stop(&loop, &a);
	node_stop(&loop, &b);
	loop_finish(&loop);
}

/* close() with a live relay: raft's end sees EOF, memory is released. */
static void test_close_with_live_connection(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {0};
	helper_creds("ca", 1, &a.pki);
	helper_creds("ca", 2, &b.pki);
	node_start(&loop, &a, 1, false);
	node_start(&loop, &b, 2, true);
	struct dial d;
	dial(&a, &b, &d);
	helper_run_until(&loop, &d.done, 10000, "connect");
	ASSERT_OK(d.status);
	while (b.n_accept == 0)
		uv_run(&loop, UV_RUN_ONCE);

	struct sink k = {.data = xmalloc(16), .cap = 16, .want = 16};
	d.stream->data = &k;
	ASSERT_OK(uv_read_start(d.stream, sink_alloc, sink_read));
	node_stop(&loop, &b); /* tears down b's side, the TLS stream, then a's relay */
	helper_run_until(&loop, &k.eof, 5000, "EOF after transport close");
	free(k.data);
	uv_close((uv_handle_t *)d.stream, (uv_close_cb)raft_free);
	uv_close((uv_handle_t *)b.accepted, (uv_close_cb)raft_free);
	node_stop(&loop, &a);
	loop_finish(&loop);
}

/* ---- refusals ---- */

static void expect_refused(struct node *a, struct node *b, uv_loop_t *loop)
{
	struct dial d;
	dial(a, b, &d);
	helper_run_until(loop, &d.done, 10000, "refused connect");
	ASSERT_EQ_INT(d.status, RAFT_NOCONNECTION);
	ASSERT(d.stream == NULL);
	helper_run_for(loop, 200);
	ASSERT_EQ_INT(b->n_accept, 0);
}

static void test_server_from_other_ca(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {0};
	helper_creds("ca", 1, &a.pki);
	helper_creds("other", 2, &b.pki);
	node_start(&loop, &a, 1, false);
	node_start(&loop, &b, 2, true);
	expect_refused(&a, &b, &loop);
	node_stop(&loop, &a);
	node_stop(&loop, &b);
	loop_finish(&loop);
}

/* The client trusts the right CA but holds a certificate from another one: only the server's
 * REQUIRED client authentication can refuse it. */
static void test_client_from_other_ca(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {0};
	struct cl_pki foreign = {0};
	helper_creds("ca", 2, &b.pki);
	helper_creds("other", 1, &foreign);
	a.pki.ca_pem = xstrdup(b.pki.ca_pem);
	a.pki.cert_pem = xstrdup(foreign.cert_pem);
	a.pki.key_pem = xstrdup(foreign.key_pem);
	cl_pki_free(&foreign);
	node_start(&loop, &a, 1, false);
	node_start(&loop, &b, 2, true);
	expect_refused(&a, &b, &loop);
	node_stop(&loop, &a);
	node_stop(&loop, &b);
	loop_finish(&loop);
}

/* Raw nng clients in a thread: no client certificate at all, or no TLS at all. */
struct raw {
	const char *url;
	const char *ca_pem;
	bool tls;
	int send_rv;
	atomic_bool done;
};

static void *raw_client(void *arg)
{
	struct raw *r = arg;
	nng_stream_dialer *d = NULL;
	nng_aio *aio = NULL;
	nng_tls_config *cfg = NULL;
	ASSERT_OK(nng_aio_alloc(&aio, NULL, NULL));
	ASSERT_OK(nng_stream_dialer_alloc(&d, r->url));
	if (r->tls) {
		ASSERT_OK(nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT));
		ASSERT_OK(nng_tls_config_ca_chain(cfg, r->ca_pem, NULL));
		ASSERT_OK(nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED));
		ASSERT_OK(nng_tls_config_server_name(cfg, "127.0.0.1"));
		ASSERT_OK(nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg));
		nng_tls_config_free(cfg);
	}
	nng_aio_set_timeout(aio, 5000);
	nng_stream_dialer_dial(d, aio);
	nng_aio_wait(aio);
	ASSERT_OK(nng_aio_result(aio));
	nng_stream *s = nng_aio_get_output(aio, 0);
	uint8_t hello[CL_HELLO_MAX];
	nng_iov iov = {hello, cl_hello_encode(9, "127.0.0.1:1", hello)};
	nng_aio_set_iov(aio, 1, &iov);
	nng_stream_send(s, aio);
	nng_aio_wait(aio);
	r->send_rv = nng_aio_result(aio);
	if (r->send_rv == 0) { /* the server must still refuse: wait for its verdict */
		uint8_t ack[CL_ACK_LEN];
		nng_iov riov = {ack, sizeof ack};
		nng_aio_set_iov(aio, 1, &riov);
		nng_stream_recv(s, aio);
		nng_aio_wait(aio);
		r->send_rv = nng_aio_result(aio);
	}
	nng_stream_free(s);
	nng_stream_dialer_free(d);
	nng_aio_free(aio);
	atomic_store(&r->done, true);
	return NULL;
}

static void raw_case(bool tls)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node b = {0};
	helper_creds("ca", 2, &b.pki);
	node_start(&loop, &b, 2, true);
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	ASSERT_OK(cl_address_parse(b.addr, url, host));
	struct raw r = {.url = tls ? url : url + 4, .ca_pem = b.pki.ca_pem, .tls = tls};
	pthread_t th;
	ASSERT_OK(pthread_create(&th, NULL, raw_client, &r));
	while (!atomic_load(&r.done))
		helper_run_for(&loop, 20);
	pthread_join(th, NULL);
	ASSERT(r.send_rv != 0); /* never acknowledged */
	helper_run_for(&loop, 100);
	ASSERT_EQ_INT(b.n_accept, 0);
	node_stop(&loop, &b);
	loop_finish(&loop);
}

static void test_client_without_certificate(void)
{
	raw_case(true);
}

static void test_plaintext_client(void)
{
	raw_case(false);
}

static void test_connect_refused_port(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {0};
	helper_creds("ca", 1, &a.pki);
	node_start(&loop, &a, 1, false);
	b.id = 2;
	snprintf(b.addr, sizeof b.addr, "127.0.0.1:%d", helper_free_port());
	expect_refused(&a, &b, &loop);
	struct dial d = {0};
	d.req.data = &d;
	ASSERT_EQ_INT(a.t.connect(&a.t, &d.req, 2, "no-port", on_connect), RAFT_NOCONNECTION);
	node_stop(&loop, &a);
	loop_finish(&loop);
}

static void test_handshake_timeout(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {.id = 2};
	int port = 0, fd = helper_stall_listener(&port);
	snprintf(b.addr, sizeof b.addr, "127.0.0.1:%d", port);
	helper_creds("ca", 1, &a.pki);
	node_start(&loop, &a, 1, false);
	cl_transport_set_handshake_timeout(&a.t, 300);
	uint64_t t0 = uv_now(&loop);
	expect_refused(&a, &b, &loop);
	ASSERT(uv_now(&loop) - t0 < 3000);
	node_stop(&loop, &a);
	close(fd);
	loop_finish(&loop);
}

static void test_close_cancels_pending_connect(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {.id = 2};
	int port = 0, fd = helper_stall_listener(&port);
	snprintf(b.addr, sizeof b.addr, "127.0.0.1:%d", port);
	helper_creds("ca", 1, &a.pki);
	node_start(&loop, &a, 1, true);
	struct dial d;
	dial(&a, &b, &d);
	helper_run_for(&loop, 200);
	ASSERT(!d.done);
	a.t.close(&a.t, on_closed);
	helper_run_until(&loop, &a.closed, 5000, "close");
	ASSERT(d.done);
	ASSERT_EQ_INT(d.status, RAFT_CANCELED);
	cl_transport_close(&a.t);
	cl_pki_free(&a.pki);
	close(fd);
	loop_finish(&loop);
}

static void test_bad_credentials(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct raft_uv_transport t;
	struct cl_pki p = {0};
	helper_creds("ca", 1, &p);
	free(p.key_pem);
	p.key_pem = xstrdup("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
	ASSERT_ERR(cl_transport_init(&t, &loop, &p), MR_ETLS);
	struct cl_pki empty = {0};
	ASSERT_ERR(cl_transport_init(&t, &loop, &empty), MR_EINVAL);
	cl_pki_free(&p);
	loop_finish(&loop);
}

/* A port already taken makes listen fail (raft_start reports it); bad addresses are refused. */
static void test_listen_errors(void)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	struct node a = {0}, b = {0};
	helper_creds("ca", 1, &a.pki);
	helper_creds("ca", 2, &b.pki);
	node_start(&loop, &a, 1, true);
	ASSERT_OK(cl_transport_init(&b.t, &loop, &b.pki));
	b.t.data = &b;
	ASSERT_ERR(cl_transport_set_bind_address(&b.t, "nowhere"), MR_EINVAL);
	ASSERT_OK(cl_transport_set_bind_address(&b.t, a.addr));
	snprintf(b.addr, sizeof b.addr, "127.0.0.1:%d", helper_free_port());
	b.id = 2;
	ASSERT_EQ_INT(b.t.init(&b.t, 0, b.addr), RAFT_INVALID);
	ASSERT_EQ_INT(b.t.init(&b.t, 2, "bad address"), RAFT_INVALID);
	ASSERT_OK(b.t.init(&b.t, 2, b.addr));
	ASSERT_EQ_INT(b.t.listen(&b.t, on_accept), RAFT_IOERR);
	ASSERT(strstr(b.t.errmsg, a.addr) != NULL);
	/* the transport listening on its bind address is reachable under its own */
	struct dial d;
	dial(&b, &a, &d);
	helper_run_until(&loop, &d.done, 10000, "connect");
	ASSERT_OK(d.status);
	uv_close((uv_handle_t *)d.stream, (uv_close_cb)raft_free);
	while (a.n_accept == 0)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)a.accepted, (uv_close_cb)raft_free);
	node_stop(&loop, &a);
	node_stop(&loop, &b);
	loop_finish(&loop);
}

static const struct unit_test tests[] = {
    {"listen_errors", test_listen_errors},
    {"hello_codec", test_hello_codec},
    {"address_parse", test_address_parse},
    {"connect_exchange_close", test_connect_exchange_close},
    {"close_with_live_connection", test_close_with_live_connection},
    {"server_from_other_ca", test_server_from_other_ca},
    {"client_from_other_ca", test_client_from_other_ca},
    {"client_without_certificate", test_client_without_certificate},
    {"plaintext_client", test_plaintext_client},
    {"connect_refused_port", test_connect_refused_port},
    {"handshake_timeout", test_handshake_timeout},
    {"close_cancels_pending_connect", test_close_cancels_pending_connect},
    {"bad_credentials", test_bad_credentials},
    {0},
};
UNIT_MAIN(tests)

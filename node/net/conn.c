/* conn.c - client connections on the libuv loop with TLS through OpenSSL memory BIOs.
 *
 * Input: socket bytes (decrypted when TLS is on) accumulate in c->in, bounded by CONN_IN_MAX;
 * reading stops while the buffer is full or the protocol is paused, so a client can never make
 * us buffer more than that. Output: conn_write appends to c->out; one uv_prepare handle flushes
 * every dirty connection right before the loop blocks, coalescing a command's many small
 * replies into one write (and one TLS record run). An optional stream filter (conn_set_filter,
 * e.g. IMAP COMPRESS=DEFLATE) sits between the two: received bytes wait in c->fin (bounded like
 * c->in) and are pulled through the filter only while c->in has room, so an expanding filter
 * never grows c->in past its bound; output batches go through it at flush time into c->fout.
 * All of it runs on the loop thread.
 */
#include "conn.h"
#include "conn_int.h"
#include "tls.h"
#include "common/err.h"
#include "common/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

/* Stop reading when this much unconsumed input is buffered (a FETCH command line or an SMTP
 * DATA chunk fits; protocols drain literals with conn_read into their own bounded buffers). */
#define CONN_IN_MAX (256 * 1024)
/* The shared read buffer: one loop thread, so one buffer serves every connection and an idle
 * connection holds no read buffer at all. */
#define CONN_READ_CHUNK (64 * 1024)

struct write_req {
	uv_write_t req;
	struct conn *c;
	size_t len;
	uint8_t data[];
};

static char read_chunk[CONN_READ_CHUNK];
static bool read_chunk_busy;
static uv_prepare_t flush_handle;
static uv_idle_t kick_handle;
static struct conn *dirty_head; /* connections with output to flush */
static struct conn *kick_head;  /* connections to re-deliver buffered input to */
static bool handles_ready;
static uint64_t next_id = 1;

static void conn_flush(struct conn *c);
static void conn_try_free(struct conn *c);
static void conn_deliver(struct conn *c);

static void mark_dirty(struct conn *c)
{
	if (c->dirty || c->closed)
		return;
	c->dirty = true;
	c->dirty_next = dirty_head;
	dirty_head = c;
}

static void on_prepare(uv_prepare_t *h)
{
	(void)h;
	while (dirty_head) {
		struct conn *c = dirty_head;
		dirty_head = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		conn_flush(c);
		if (c->closing && !c->shutdown_sent)
			conn__finish_close(c);
	}
}

static void on_kick(uv_idle_t *h)
{
	struct conn *list = kick_head;
	kick_head = NULL;
	uv_idle_stop(h);
	while (list) {
		struct conn *c = list;
		list = c->kick_next;
		c->kicked = false;
		c->kick_next = NULL;
		if (!c->closing && !c->paused)
			conn_deliver(c);
		conn_release(c);
	}
}

void conn__init_loop(uv_loop_t *loop)
{
	if (handles_ready)
		return;
	uv_prepare_init(loop, &flush_handle);
	uv_prepare_start(&flush_handle, on_prepare);
	uv_unref((uv_handle_t *)&flush_handle);
	uv_idle_init(loop, &kick_handle);
	handles_ready = true;
}

void conn__fini_loop(void)
{
	if (!handles_ready)
		return;
	uv_prepare_stop(&flush_handle);
	uv_idle_stop(&kick_handle);
	uv_close((uv_handle_t *)&flush_handle, NULL);
	uv_close((uv_handle_t *)&kick_handle, NULL);
	handles_ready = false;
}

/* ---- writing ------------------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;
	c->write_queued -= w->len;
	free(w);
	if (status < 0 && !c->closing)
		conn_close(c);
	conn_release(c);
}

static void raw_write(struct conn *c, const void *p, size_t n)
{
	if (n == 0 || c->closed)
		return;
	struct write_req *w = xmalloc(sizeof *w + n);
	w->c = c;
	w->len = n;
	memcpy(w->data, p, n);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
	conn_hold(c);
	c->write_queued += n;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
		c->write_queued -= n;
		free(w);
		conn_release(c);
		conn_close(c);
	}
}

/* Move whatever OpenSSL produced for the network onto the socket. */
static void tls_drain(struct conn *c)
{
	char tmp[16384];
	int n;
	while ((n = BIO_read(c->wbio, tmp, sizeof tmp)) > 0)
		raw_write(c, tmp, (size_t)n);
}

static void conn_flush(struct conn *c)
{
	if (c->closed || (c->out.len == 0 && c->fout.len == 0))
		return;
	if (c->ssl && !SSL_is_init_finished(c->ssl))
		return; /* queued until the handshake completes */
	struct buf *src = &c->out;
	if (c->filter) {
		/* one batch through the filter (it flushes, so the peer can decode it alone) */
		if (c->out.len && c->filter->out(c->filter_ctx, c->out.p, c->out.len, &c->fout) < 0) {
			log_warn("conn", "id=%llu output filter failed, closing",
				 (unsigned long long)c->id);
			buf_reset(&c->out);
			buf_reset(&c->fout);
			conn_close(c);
			return;
		}
		buf_reset(&c->out);
		src = &c->fout;
	}
	if (!c->ssl) {
		raw_write(c, src->p, src->len);
		buf_reset(src);
		return;
	}
	size_t off = 0;
	while (off < src->len) {
		int n = SSL_write(c->ssl, src->p + off, (int)(src->len - off > 1 << 30 ? 1 << 30 : src->len - off));
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf_consume(src, off);
	tls_drain(c);
	if (src->len > CONN_IN_MAX * 64) {
		log_warn("conn", "id=%llu output stuck, closing", (unsigned long long)c->id);
		buf_reset(src);
		conn_close(c);
	}
}

void conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->closing || c->closed)
		return;
	buf_append(&c->out, p, n);
	mark_dirty(c);
}

void conn_puts(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	if (c->closing || c->closed)
		return;
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		conn_write(c, tmp, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	conn_write(c, big, (size_t)n);
	free(big);
}

size_t conn_write_queued(struct conn *c)
{
	return c->write_queued + c->out.len + c->fout.len;
}

/* ---- reading ------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	(void)suggested;
	if (read_chunk_busy) { /* never expected: reads are delivered one at a time */
		*b = uv_buf_init(NULL, 0);
		return;
	}
	read_chunk_busy = true;
	*b = uv_buf_init(read_chunk, sizeof read_chunk);
}

static void update_reading(struct conn *c)
{
	bool want = !c->closing && !c->closed && !c->paused && c->in.len < CONN_IN_MAX &&
		    c->fin.len < CONN_IN_MAX;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, conn__on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static int tls_pump_in(struct conn *c, const char *data, size_t n);

/* Where transport input goes: the filter's queue when a filter is installed, else c->in. */
static struct buf *in_target(struct conn *c)
{
	return c->filter ? &c->fin : &c->in;
}

/* Pull queued input through the filter while c->in has room (the filter never appends more
 * than that room). Returns 0 or < 0 (fatal: close). */
static int filter_pump(struct conn *c)
{
	if (!c->filter)
		return 0;
	while (c->in.len < CONN_IN_MAX) {
		size_t before = c->in.len;
		long used = c->filter->in(c->filter_ctx, c->fin.p, c->fin.len, &c->in,
					  CONN_IN_MAX - c->in.len);
		if (used < 0 || (size_t)used > c->fin.len) {
			log_info("conn", "id=%llu peer=%s input filter error", (unsigned long long)c->id,
				 c->peer);
			return MR_EPROTO;
		}
		buf_consume(&c->fin, (size_t)used);
		if (used == 0 && c->in.len == before)
			break; /* needs more input */
	}
	return 0;
}

static void conn_deliver(struct conn *c)
{
	conn_hold(c);
	for (;;) {
		while (!c->closing && !c->paused && c->in.len > 0) {
			size_t before = c->in.len;
			c->ops->on_input(c);
			if (c->in.len == before)
				break; /* protocol needs more bytes */
		}
		if (c->closing || c->paused)
			break;
		/* filtered input (or filter output) left while c->in was full */
		if (c->filter && c->in.len < CONN_IN_MAX) {
			size_t before = c->in.len;
			if (filter_pump(c) < 0) {
				conn_close(c);
				break;
			}
			if (c->in.len > before)
				continue;
		}
		/* decrypted bytes left in OpenSSL while our buffer was full */
		if (!c->ssl || in_target(c)->len >= CONN_IN_MAX ||
		    (BIO_ctrl_pending(c->rbio) == 0 && SSL_pending(c->ssl) == 0))
			break;
		size_t before = c->in.len, before_f = c->fin.len;
		if (tls_pump_in(c, NULL, 0) < 0 || filter_pump(c) < 0) {
			conn_close(c);
			break;
		}
		if (c->in.len == before && c->fin.len == before_f)
			break;
	}
	update_reading(c);
	conn_release(c);
}

static int tls_pump_in(struct conn *c, const char *data, size_t n)
{
	if (n && BIO_write(c->rbio, data, (int)n) != (int)n)
		return MR_ETLS;
	if (!SSL_is_init_finished(c->ssl)) {
		int r = SSL_do_handshake(c->ssl);
		tls_drain(c);
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			unsigned long ec = ERR_peek_last_error();
			log_info("tls", "id=%llu peer=%s handshake failed: %s",
				 (unsigned long long)c->id, c->peer,
				 ec ? ERR_reason_error_string(ec) : "closed");
			ERR_clear_error();
			return MR_ETLS;
		}
		log_debug("tls", "id=%llu %s %s", (unsigned long long)c->id,
			  SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
		mark_dirty(c); /* send what was queued before the handshake */
	}
	char tmp[16384];
	for (;;) {
		if (in_target(c)->len >= CONN_IN_MAX * 2)
			break; /* the rest stays in the BIO until the protocol drains */
		int r = SSL_read(c->ssl, tmp, sizeof tmp);
		if (r > 0) {
			buf_append(in_target(c), tmp, (size_t)r);
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		tls_drain(c);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e == SSL_ERROR_ZERO_RETURN)
			return MR_ECLOSED;
		ERR_clear_error();
		return MR_ETLS;
	}
	return 0;
}

void conn__on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	if (b->base == read_chunk)
		read_chunk_busy = false;
	if (n == 0)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->closing)
		return;
	if (c->timeout_ms)
		uv_timer_again(&c->timer);
	if (c->ssl) {
		int rv = tls_pump_in(c, b->base, (size_t)n);
		if (rv < 0) {
			conn_close(c);
			return;
		}
	} else {
		buf_append(in_target(c), b->base, (size_t)n);
	}
	if (filter_pump(c) < 0) {
		conn_close(c);
		return;
	}
	conn_deliver(c);
}

int conn_getline(struct conn *c, struct buf *out)
{
	buf_reset(out);
	for (;;) {
		uint8_t *nl = c->in.len ? memchr(c->in.p, '\n', c->in.len) : NULL;
		if (c->discard_line) {
			if (!nl) {
				buf_reset(&c->in);
				return 0;
			}
			buf_consume(&c->in, (size_t)(nl - c->in.p) + 1);
			c->discard_line = false;
			continue;
		}
		if (!nl) {
			if (out->max && c->in.len > out->max + 1) {
				c->discard_line = true;
				buf_reset(&c->in);
				return MR_ETOOBIG;
			}
			return 0;
		}
		size_t len = (size_t)(nl - c->in.p);
		size_t eol = len + 1;
		if (len && c->in.p[len - 1] == '\r')
			len--;
		if (out->max && len > out->max) {
			buf_consume(&c->in, eol);
			return MR_ETOOBIG;
		}
		buf_append(out, c->in.p, len);
		buf_consume(&c->in, eol);
		return 1;
	}
}

size_t conn_read(struct conn *c, void *dst, size_t n)
{
	if (n > c->in.len)
		n = c->in.len;
	memcpy(dst, c->in.p, n);
	buf_consume(&c->in, n);
	return n;
}

size_t conn_pending(struct conn *c)
{
	return c->in.len;
}

/* ---- TLS ----------------------------------------------------------------------------- */

int conn__tls_start(struct conn *c)
{
	SSL_CTX *ctx = tls_ctx();
	if (!ctx || c->ssl)
		return MR_ETLS;
	c->ssl = SSL_new(ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_accept_state(c->ssl);
	return 0;
}

int conn_starttls(struct conn *c)
{
	if (c->ssl || c->tls_mode != CONN_TLS_STARTTLS || !tls_ctx())
		return MR_ETLS;
	conn_flush(c); /* the plaintext "go ahead" goes out before TLS starts */
	buf_reset(&c->in); /* RFC 3207 §4.2: drop anything pipelined before TLS */
	return conn__tls_start(c);
}

bool conn_is_tls(struct conn *c)
{
	return c->ssl && SSL_is_init_finished(c->ssl);
}

enum conn_tls conn_tls_mode(struct conn *c)
{
	return c->tls_mode;
}

/* ---- flow control, lifetime -------------------------------------------------------- */

void conn_pause(struct conn *c)
{
	c->paused = true;
	update_reading(c);
}

/* Re-deliver buffered input on the next loop iteration. */
static void kick(struct conn *c)
{
	if (c->kicked || !handles_ready)
		return;
	c->kicked = true;
	conn_hold(c);
	c->kick_next = kick_head;
	kick_head = c;
	uv_idle_start(&kick_handle, on_kick);
}

void conn_resume(struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = false;
	if (c->closing)
		return;
	update_reading(c);
	/* with a filter, output may also be pending inside it (inflate stopped at the room left) */
	if (c->in.len || c->filter)
		kick(c);
}

int conn_set_filter(struct conn *c, const struct conn_filter *f, void *ctx, const void *pre,
		    size_t npre)
{
	if (c->filter || !f || !f->in || !f->out)
		return MR_EINVAL;
	conn_flush(c); /* the reply announcing the switch goes out unfiltered */
	c->filter = f;
	c->filter_ctx = ctx;
	buf_append(&c->fin, pre, npre);
	buf_append(&c->fin, c->in.p, c->in.len); /* arrived after the switch: filtered data */
	buf_reset(&c->in);
	if (c->fin.len && !c->closing && !c->paused)
		kick(c);
	return 0;
}

bool conn_has_filter(struct conn *c)
{
	return c->filter != NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles_open > 0)
		return;
	c->closed = true;
	if (c->ops->on_close && !c->close_notified) {
		c->close_notified = true;
		c->ops->on_close(c);
	}
	conn__unregister(c);
	conn_release(c); /* the reference taken at accept */
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	struct conn *c = req->data;
	free(req);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void conn__finish_close(struct conn *c)
{
	if (c->shutdown_sent)
		return;
	c->shutdown_sent = true;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	uv_timer_stop(&c->timer);
	uv_shutdown_t *req = xmalloc(sizeof *req);
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		free(req);
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	}
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->ssl && SSL_is_init_finished(c->ssl)) {
		conn_flush(c);
		SSL_shutdown(c->ssl); /* close_notify */
		tls_drain(c);
	} else if (!c->ssl) {
		conn_flush(c);
	}
	conn__finish_close(c);
}

bool conn_closing(struct conn *c)
{
	return c->closing;
}

void conn_hold(struct conn *c)
{
	c->holds++;
}

void conn_release(struct conn *c)
{
	if (--c->holds == 0)
		conn_try_free(c);
}

static void conn_try_free(struct conn *c)
{
	if (!c->closed || c->holds > 0)
		return;
	if (c->dirty) { /* still queued for a flush: unlink before freeing */
		struct conn **pp = &dirty_head;
		while (*pp && *pp != c)
			pp = &(*pp)->dirty_next;
		if (*pp)
			*pp = c->dirty_next;
		c->dirty = false;
	}
	if (c->ssl)
		SSL_free(c->ssl); /* frees both BIOs */
	if (c->filter && c->filter->free)
		c->filter->free(c->filter_ctx);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->fin);
	buf_free(&c->fout);
	free(c);
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->closing)
		return;
	log_info("conn", "id=%llu peer=%s proto=%s idle timeout", (unsigned long long)c->id,
		 c->peer, c->ops->name);
	if (c->ops->on_timeout)
		c->ops->on_timeout(c);
	conn_close(c);
}

void conn_set_timeout(struct conn *c, unsigned ms)
{
	c->timeout_ms = ms;
	if (ms)
		uv_timer_start(&c->timer, on_timeout, ms, ms);
	else
		uv_timer_stop(&c->timer);
}

const char *conn_peer(struct conn *c)
{
	return c->peer;
}

unsigned conn_local_port(struct conn *c)
{
	return c->lport;
}

void *conn_data(struct conn *c)
{
	return c->data;
}

void conn_set_data(struct conn *c, void *data)
{
	c->data = data;
}

uint64_t conn_id(struct conn *c)
{
	return c->id;
}

struct conn *conn__new(uv_loop_t *loop, const struct proto_ops *ops, enum conn_tls mode)
{
	struct conn *c = xmalloc(sizeof *c);
	c->ops = ops;
	c->tls_mode = mode;
	c->id = next_id++;
	c->holds = 1;
	buf_init(&c->in, 0);
	buf_init(&c->out, 0);
	buf_init(&c->fin, 0);
	buf_init(&c->fout, 0);
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	return c;
}

void conn__started(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
		else
			uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
	}
	len = sizeof ss;
	if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		c->lport = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							 : ((struct sockaddr_in6 *)&ss)->sin6_port);
	uv_tcp_nodelay(&c->tcp, 1);
	conn_hold(c);
	if (c->ops->on_open)
		c->ops->on_open(c);
	update_reading(c);
	conn_release(c);
}

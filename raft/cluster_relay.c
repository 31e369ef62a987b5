/* cluster_relay.c - the socketpair bridge between raft_uv and one nng TLS stream.
 *
 * raft_uv only speaks to a uv_stream_t, so each established connection gets a
 * socketpair(AF_UNIX, SOCK_STREAM): raft owns a raft_malloc'd uv_pipe_t on one end (it will
 * uv_close and raft_free it), the transport keeps conn->relay on the other. Two pumps:
 * relay -> nng (uv_read_start, pause after each chunk, resume once nng_stream_send has taken
 * all of it, partial sends continue) and nng -> relay (nng_stream_recv, write, next receive
 * when the write completed). Each pump runs on the nng thread that completed its operation
 * as long as it can (a receive is written straight into the pair and the next receive issued;
 * after a send the next bytes are read straight from the pair) and hands over to the loop
 * (uv_write / uv_read_start) only when the pair is full or empty, at end of stream or on an
 * error: a loop wake-up per 16 KiB TLS record made a raft message of 100 KiB take several
 * milliseconds. Memory is two RELAY_BUF buffers per connection whatever the peers do. End of stream: when raft closes its
 * end, the chunk being sent is flushed first; when the peer closes, the write in flight is
 * flushed first; then the whole pair is torn down, and closing our end is what raft sees. */
#include "raft/cluster_transport_int.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int cl__io_result(nng_aio *aio, size_t *n_r)
{
	int rv = nng_aio_result(aio);
	*n_r = nng_aio_count(aio);
	if (rv == 0 && *n_r == 0)
		rv = NNG_ECONNSHUT;
	return rv;
}

static void relay_recv(struct cl_conn *c)
{
	c->rx_off = 0;
	nng_iov iov = {c->rxbuf, sizeof c->rxbuf};
	nng_aio_set_iov(c->rx, 1, &iov);
	nng_aio_set_timeout(c->rx, NNG_DURATION_INFINITE);
	nng_stream_recv(c->s, c->rx);
}

static void relay_send(struct cl_conn *c)
{
	nng_iov iov = {c->txbuf + c->tx_off, c->tx_len - c->tx_off};
	nng_aio_set_iov(c->tx, 1, &iov);
	nng_aio_set_timeout(c->tx, NNG_DURATION_INFINITE);
	c->sending = true;
	nng_stream_send(c->s, c->tx);
}

static void relay_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct cl_conn *c = h->data;
	(void)hint;
	*buf = uv_buf_init((char *)c->txbuf, sizeof c->txbuf);
}

static void relay_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct cl_conn *c = st->data;
	(void)buf;
	if (nread == 0 || c->st != ST_RELAY)
		return;
	if (nread < 0) { /* raft closed its end (UV_EOF) or the pipe failed */
		uv_read_stop(st);
		c->relay_eof = true;
		if (!c->sending)
			cl__conn_destroy(c, 0);
		return;
	}
	uv_read_stop(st);
	c->tx_len = (size_t)nread;
	c->tx_off = 0;
	relay_send(c);
}

static void relay_write_cb(uv_write_t *req, int status)
{
	struct cl_conn *c = req->data;
	c->writing = false;
	if (c->st != ST_RELAY)
		return;
	if (status != 0 || c->net_eof) {
		cl__conn_destroy(c, 0);
		return;
	}
	relay_recv(c);
}

void cl__relay_on_rx(struct cl_conn *c)
{
	size_t n = 0;
	int rv = cl__io_result(c->rx, &n);
	if (rv != 0) {
		log_debug(COMPONENT, "relay closed by peer peer=%s err=\"%s\"", c->peer,
		          nng_strerror(rv));
		c->net_eof = true;
		if (!c->writing)
			cl__conn_destroy(c, 0);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)c->rxbuf + c->rx_off, (unsigned)(n - c->rx_off));
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->relay, &b, 1, relay_write_cb) != 0) {
		cl__conn_destroy(c, 0);
		return;
	}
	c->writing = true;
}

void cl__relay_on_tx(struct cl_conn *c)
{
	size_t n = 0;
	int rv = 0;
	if (c->tx_done) /* the fast path counted it and found nothing more to send */
		c->tx_done = false;
	else
		rv = cl__io_result(c->tx, &n);
	c->sending = false;
	if (rv != 0) {
		log_debug(COMPONENT, "relay send failed peer=%s err=\"%s\"", c->peer,
		          nng_strerror(rv));
		cl__conn_destroy(c, 0);
		return;
	}
	c->tx_off += n;
	if (c->tx_off < c->tx_len) {
		relay_send(c);
		return;
	}
	if (c->relay_eof) {
		cl__conn_destroy(c, 0);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->relay, relay_alloc_cb, relay_read_cb) != 0)
		cl__conn_destroy(c, 0);
}

/* nng thread, receive done: write the bytes into our socketpair end now and receive again.
 * Falls back to the loop (uv_write of what is left) when the pair is full or failed. */
bool cl__relay_rx_fast(struct cl_conn *c)
{
	if (!atomic_load(&c->fast))
		return false;
	size_t n = 0;
	if (cl__io_result(c->rx, &n) != 0)
		return false;
	while (c->rx_off < n) {
		ssize_t w = send(c->relay_fd, c->rxbuf + c->rx_off, n - c->rx_off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return false;
		}
		c->rx_off += (size_t)w;
	}
	relay_recv(c);
	return true;
}

/* nng thread, send done: continue a partial send, or read raft's next bytes from the
 * socketpair and send them. Falls back to the loop (uv_read_start) when there is nothing to
 * read yet, at end of stream, and on errors. */
bool cl__relay_tx_fast(struct cl_conn *c)
{
	if (!atomic_load(&c->fast))
		return false;
	size_t n = 0;
	if (cl__io_result(c->tx, &n) != 0)
		return false;
	c->tx_off += n;
	if (c->tx_off < c->tx_len) {
		relay_send(c);
		return true;
	}
	ssize_t r;
	do
		r = recv(c->relay_fd, c->txbuf, sizeof c->txbuf, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		c->tx_done = true;
		return false;
	}
	c->tx_len = (size_t)r;
	c->tx_off = 0;
	relay_send(c);
	return true;
}

static void raft_pipe_free_cb(uv_handle_t *h)
{
	raft_free(h);
}

int cl__relay_start(struct cl_conn *c, uv_stream_t **stream_r)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_error(COMPONENT, "socketpair failed err=%s", strerror(errno));
		return MR_EIO;
	}
	uv_pipe_t *p = raft_malloc(sizeof *p);
	if (!p)
		abort();
	uv_pipe_init(c->tp->loop, p, 0);
	if (uv_pipe_open(p, sv[0]) != 0) {
		close(sv[0]);
		close(sv[1]);
		uv_close((uv_handle_t *)p, raft_pipe_free_cb);
		return MR_EIO;
	}
	uv_pipe_init(c->tp->loop, &c->relay, 0);
	c->relay.data = c;
	c->relay_open = true;
	if (uv_pipe_open(&c->relay, sv[1]) != 0) {
		close(sv[1]);
		uv_close((uv_handle_t *)p, raft_pipe_free_cb); /* closes sv[0] */
		return MR_EIO;
	}
	/* room for whole raft messages in the pair, so the fast paths rarely hand over */
	int sz = 1 << 20;
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	c->relay_fd = sv[1];
	c->st = ST_RELAY;
	atomic_store(&c->fast, true);
	relay_recv(c);
	if (uv_read_start((uv_stream_t *)&c->relay, relay_alloc_cb, relay_read_cb) != 0) {
		uv_close((uv_handle_t *)p, raft_pipe_free_cb);
		return MR_EIO;
	}
	*stream_r = (uv_stream_t *)p;
	return 0;
}

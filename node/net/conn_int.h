/* conn_int.h - private to node/net: the connection object and the hooks the listener uses. */
#ifndef MR_CONN_INT_H
#define MR_CONN_INT_H
#include <uv.h>
#include <openssl/ssl.h>
#include "conn.h"

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	const struct proto_ops *ops;
	enum conn_tls tls_mode;
	SSL *ssl;
	BIO *rbio, *wbio; /* network -> SSL, SSL -> network (owned by ssl) */
	struct buf in, out;
	/* stream filter (conn_set_filter): fin = input not yet through the filter, fout = filtered
	 * output not yet handed to TLS / the socket */
	const struct conn_filter *filter;
	void *filter_ctx;
	struct buf fin, fout;
	size_t write_queued;
	unsigned timeout_ms;
	int holds;
	int handles_open;
	bool reading, paused, closing, closed, shutdown_sent, close_notified;
	bool dirty, kicked, discard_line;
	struct conn *dirty_next, *kick_next;
	struct conn *all_prev, *all_next; /* every live connection (for shutdown) */
	void *data;
	uint64_t id;
	char peer[64];
	unsigned lport;
};

void conn__init_loop(uv_loop_t *loop);
void conn__fini_loop(void);
struct conn *conn__new(uv_loop_t *loop, const struct proto_ops *ops, enum conn_tls mode);
int conn__tls_start(struct conn *c);
void conn__started(struct conn *c); /* after accept: on_open + start reading */
void conn__on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
void conn__finish_close(struct conn *c);
void conn__unregister(struct conn *c); /* listener.c: forget a closed connection */

#endif

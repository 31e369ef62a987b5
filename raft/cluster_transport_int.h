/* cluster_transport_int.h - private to the transport (cluster_transport.c: handshake,
 * listener, raft_uv_transport methods; cluster_relay.c: the socketpair bridge). State and
 * threading rules are described at the top of cluster_transport.c. */
#ifndef MR_CLUSTER_TRANSPORT_INT_H
#define MR_CLUSTER_TRANSPORT_INT_H
#include "raft/cluster_transport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <uv.h>

#define COMPONENT "cluster"
#define RELAY_BUF 65536u

enum conn_state {
	ST_DIAL,
	ST_SEND_HELLO,
	ST_RECV_ACK,
	ST_RECV_HELLO,
	ST_SEND_ACK,
	ST_RELAY,
	ST_DEAD
};
enum { EV_RX = 1u, EV_TX = 2u };

struct cl_tp;

struct cl_conn {
	struct cl_tp *tp;
	struct cl_conn *next, *prev; /* tp->conns (loop thread) */
	struct cl_conn *ready_next;  /* tp->ready (under tp->mu) */
	bool in_ready;               /* under tp->mu */
	unsigned pend;               /* EV_* bits, under tp->mu */
	enum conn_state st;
	nng_stream_dialer *dialer;
	nng_stream *s;
	nng_aio *rx, *tx;
	struct raft_uv_connect *req; /* outbound, until its callback fired */
	raft_id peer_id;
	char peer[CL_ADDRESS_MAX + 1];
	struct cl_hello hello;
	uint8_t hs[CL_HELLO_MAX]; /* hello / ack bytes being sent or received */
	size_t hs_len, hs_off;
	uint64_t deadline; /* uv_now() bound of the handshake */
	uv_pipe_t relay;
	bool relay_open;
	bool relay_eof; /* raft closed its end: flush tx, then die */
	bool net_eof;   /* peer closed: flush the pending write, then die */
	bool writing;   /* uv_write in flight */
	bool sending;   /* nng send in flight (relay) */
	uv_write_t wreq;
	size_t tx_len, tx_off;
	/* Fast paths (cluster_relay.c): in RELAY the nng callbacks move bytes between the stream
	 * and our socketpair end themselves and only hand over to the loop when that would
	 * block or fails. fast: RELAY and not being torn down; relay_fd: our end's descriptor;
	 * rx_off: bytes of rxbuf the fast path already wrote; tx_done: the fast path already
	 * accounted the last send. While an nng operation is in flight its direction's fields
	 * belong to the nng thread; a post() hands them back to the loop. */
	atomic_bool fast;
	int relay_fd;
	size_t rx_off;
	bool tx_done;
	uint8_t rxbuf[RELAY_BUF];
	uint8_t txbuf[RELAY_BUF];
};

/* A connect request cancelled by close(), answered just before the close callback. */
struct cancelled {
	struct raft_uv_connect *req;
	struct cancelled *next;
};

struct cl_tp {
	struct raft_uv_transport *t;
	uv_loop_t *loop;
	raft_id id;
	char address[CL_ADDRESS_MAX + 1];
	char bind[CL_ADDRESS_MAX + 1];
	char *ca_pem, *cert_pem, *key_pem;
	unsigned hs_timeout_ms;
	bool inited;
	nng_tls_config *server_cfg;
	nng_stream_listener *listener;
	nng_aio *accept_aio;
	bool accept_sleeping;
	raft_uv_accept_cb accept_cb;
	uv_async_t async;
	uv_timer_t sweep; /* handshake deadlines, runs while some are pending */
	pthread_mutex_t mu;
	struct cl_conn *ready; /* under mu */
	bool accept_pend;      /* under mu */
	struct cl_conn *conns;
	unsigned n_conns;
	bool closing, closed;
	unsigned closing_handles;
	raft_uv_transport_close_cb close_cb;
	struct cancelled *cancelled;
	uint64_t refused;           /* TLS refusals so far */
	uint64_t refused_logged_at; /* uv_now() of the last warning about one */
};

/* Tear c down (idempotent); status answers a pending outbound request. Its memory goes now, or
 * once the relay handle is closed. */
void cl__conn_destroy(struct cl_conn *c, int status);

/* Result of c's last rx or tx operation: 0 and *n_r bytes, or an nng error (a transfer of 0
 * bytes counts as NNG_ECONNSHUT so a misbehaving peer cannot make us spin). */
int cl__io_result(nng_aio *aio, size_t *n_r);

/* nng callbacks in RELAY: true when the completion was handled without the loop. */
bool cl__relay_rx_fast(struct cl_conn *c);
bool cl__relay_tx_fast(struct cl_conn *c);
/* Bridge c to a new socketpair and start both pumps; *stream_r is raft's end (raft_malloc'd
 * uv_pipe_t). 0 or MR_EIO (then the caller destroys c). */
int cl__relay_start(struct cl_conn *c, uv_stream_t **stream_r);

/* The relay's nng receive / send completed. */
void cl__relay_on_rx(struct cl_conn *c);
void cl__relay_on_tx(struct cl_conn *c);

#endif

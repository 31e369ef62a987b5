/* cluster_transport.h - raft's node-to-node transport over nng mutual TLS (replication.md §3.2,
 * §3.6, §4; issue 3 §1).
 *
 * cl_transport_init() fills a `struct raft_uv_transport` (raft/uv.h) for raft_uv_init(): every
 * raft connection is an nng stream over tls+tcp://<address> where both ends present a node
 * certificate from the cluster CA (server auth mode REQUIRED, client verifies the server
 * against the CA and its address's host; TLS 1.2, the only version nng's mbedTLS 2.28 has).
 * Inside TLS the connecting side sends a hello (below) naming its raft id and address, which
 * raft_uv needs for accept_cb, and waits for the acceptor's 8-byte ack before reporting the
 * connection: a refused peer (wrong CA, bad hello, version mismatch) is a failed connect, and
 * an unauthenticated peer never reaches raft. raft_uv wants a uv_stream_t, so each connection
 * is bridged to libuv through a socketpair(AF_UNIX): raft gets a raft_malloc'd uv_pipe_t on
 * one end; on the other end two pumps move bytes (pipe -> nng_stream_send, nng_stream_recv ->
 * pipe). All transport state lives on the loop thread; nng completions (on nng's threads) only
 * mark the connection ready in a mutex-protected queue and uv_async_send() the loop.
 *
 * Addresses are "host:port" ("[v6]:port" for IPv6), at most CL_ADDRESS_MAX bytes: the strings
 * stored in the raft configuration. A node's certificate must carry the host part of its raft
 * address (cl_pki_issue's host): peers dialing it check that name. nng 1.5.2 cannot show the
 * acceptor the client certificate's CN, so the id in the hello is trusted once the certificate
 * chains to the cluster CA: every member is equally trusted (each holds the master key anyway).
 *
 * Hello (connector -> acceptor), little-endian:
 *   0  "MRCL"  4 bytes magic
 *   4  u32     protocol version (CL_HELLO_VERSION)
 *   8  u64     raft id of the connecting server (>= 1)
 *   16 u16     address length n (1..CL_ADDRESS_MAX)
 *   18 n bytes the connecting server's address (printable ASCII, no NUL)
 * Ack (acceptor -> connector): "MRCL" + u32 status 0. Anything else closes the stream. */
#ifndef MR_CLUSTER_TRANSPORT_H
#define MR_CLUSTER_TRANSPORT_H
#include <stddef.h>
#include <stdint.h>
#include <raft.h>
#include <raft/uv.h>

struct cl_pki;

#define CL_ADDRESS_MAX 255
#define CL_HELLO_VERSION 1u
#define CL_HELLO_HDR 18u
#define CL_HELLO_MAX (CL_HELLO_HDR + CL_ADDRESS_MAX)
#define CL_ACK_LEN 8u
#define CL_URL_MAX (CL_ADDRESS_MAX + 16)
#define CL_HANDSHAKE_TIMEOUT_MS 5000u /* dial + TLS + hello + ack */

/* ---- transport ---- */

/* Set up t (all its fields are overwritten) as a TLS transport on loop with the node credentials
 * pki (copied: pki may be freed afterwards). Then: raft_uv_init(io, loop, dir, t) ... and after
 * raft_close() completed, raft_uv_close(io) and cl_transport_close(t). MR_ETLS if nng rejects
 * the credentials (e.g. not P-256), MR_EINVAL on a NULL argument. Loop thread only. If SIGPIPE
 * still has its default disposition it is set to SIG_IGN (a peer closing a socketpair must
 * not kill the process). */
int cl_transport_init(struct raft_uv_transport *t, struct uv_loop_s *loop,
                      const struct cl_pki *pki);

/* Listen on address ("host:port", e.g. "0.0.0.0:7001") instead of the server's own address.
 * Call before raft_start(). MR_EINVAL on a malformed address. */
int cl_transport_set_bind_address(struct raft_uv_transport *t, const char *address);

/* Bound for the whole connection set-up (default CL_HANDSHAKE_TIMEOUT_MS). */
void cl_transport_set_handshake_timeout(struct raft_uv_transport *t, unsigned msecs);

/* Release the memory behind t. Only after t->close() has called its callback (raft_close does
 * that through raft_uv), or when t->init() was never called. */
void cl_transport_close(struct raft_uv_transport *t);

/* ---- addresses and hello codec (pure functions, for tests) ---- */

/* Split "host:port" / "[v6]:port": url_r gets "tls+tcp://<address>", host_r the bare host
 * (brackets removed). 0 or MR_EINVAL (empty host, bad characters, port not 1..65535, too long). */
int cl_address_parse(const char *address, char url_r[CL_URL_MAX], char host_r[CL_ADDRESS_MAX + 1]);

/* Encode a hello for (id, address) into buf (CL_HELLO_MAX bytes); returns its length, or 0 if
 * id is 0 or address is not 1..CL_ADDRESS_MAX printable bytes. */
size_t cl_hello_encode(uint64_t id, const char *address, uint8_t buf[CL_HELLO_MAX]);

/* Incremental hello parser: feed bytes with cl_hello_push(). Reading at most cl_hello_need()
 * bytes at a time never consumes bytes past the hello. */
struct cl_hello {
	uint8_t buf[CL_HELLO_MAX];
	size_t have;
	size_t want; /* CL_HELLO_HDR, then CL_HELLO_HDR + address length */
	uint64_t id; /* valid once cl_hello_push returned 1 */
	char address[CL_ADDRESS_MAX + 1];
};

void cl_hello_init(struct cl_hello *h);
/* Bytes still needed before the hello is complete (0 once it is). */
size_t cl_hello_need(const struct cl_hello *h);
/* Consume bytes of data up to the end of the hello, never beyond (*used_r = how many; on an
 * error, the offending byte included). 1 = complete (h->id and
 * h->address set), 0 = need more, MR_EPROTO = bad magic, version, id, length or address byte. */
int cl_hello_push(struct cl_hello *h, const uint8_t *data, size_t len, size_t *used_r);

/* The ack: encode into buf; check returns 0 for a valid ack, MR_EPROTO otherwise. */
void cl_ack_encode(uint8_t buf[CL_ACK_LEN]);
int cl_ack_check(const uint8_t buf[CL_ACK_LEN]);

#endif

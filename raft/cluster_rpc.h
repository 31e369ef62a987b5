/* cluster_rpc.h - request/reply between cluster members over nng req/rep (issue 3 §4, §5, §6).
 *
 * Every member runs one RPC server: an nng rep socket listening on tls+tcp://<rpc address>,
 * where the rpc address is the node's raft address with port + 1 (cl_rpc_address). TLS uses the
 * node's cluster credentials (raft/cluster_pki.h); the server asks for a client certificate
 * (auth mode OPTIONAL) and each request's pipe says whether the client presented one that
 * chains to the cluster CA (NNG_OPT_TLS_VERIFIED): only handlers marked `anonymous` (JOIN:
 * the new node has no certificate yet; its request is authenticated by the join token,
 * raft/cluster_join.h) accept unverified clients; every other op answers MR_EAUTH.
 *
 * Wire: one nng message per request and per reply, each one protobuf message of
 * proto/rpc.proto (RpcRequest {op, body} / RpcReply {status, body}), at most CL_RPC_MAX_MSG
 * bytes (nng's NNG_OPT_RECVMAXSZ enforces it before allocation). Requests are served
 * concurrently (CL_RPC_CONTEXTS nng contexts); a handler answers with cl_rpc_reply() exactly once,
 * from any thread, possibly after it returned (e.g. from the raft thread once an entry applied).
 *
 * Clients: a cl_rpc_client keeps one req socket per peer address (dialed on first use, nng
 * redials by itself) and sends each call on its own nng context with a timeout; completion
 * callbacks run on an nng thread (never block there: post to your own loop).
 *
 * Ops (CL_RPC_*): FORWARD (a follower hands an encoded raft entry to the leader; reply status
 * = the leader's apply status, cl_node_apply codes), STATUS (a member's view for
 * `cluster members`: applied index, state; body is proto RpcStatus), FETCH (database copy for
 * catch-up, raft/cluster_fetch.h), JOIN (anonymous, token-authenticated: returns the new
 * node's credentials and the master key, sealed; raft/cluster_join.h), MEMBER (a membership
 * change or leadership transfer run on the leader for a follower: body RpcMember {verb, id,
 * address, role}). */
#ifndef MR_CLUSTER_RPC_H
#define MR_CLUSTER_RPC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "raft/cluster_transport.h" /* CL_ADDRESS_MAX */

struct cl_pki;
struct cl_rpc_server;
struct cl_rpc_client;
struct cl_rpc_call;

#define CL_RPC_MAX_MSG (80u << 20) /* largest request or reply: a raft entry or a fetch chunk */
#define CL_RPC_CONTEXTS 16         /* requests served at once */
#define CL_RPC_TIMEOUT_MS 10000    /* default call timeout */

/* A call that got no answer in time: its outcome is unknown (node/common/err.h has no
 * MR_ETIMEDOUT). */
#define CL_RPC_ETIMEDOUT MR_EUNKNOWN

enum cl_rpc_op {
	CL_RPC_FORWARD = 1,
	CL_RPC_STATUS = 2,
	CL_RPC_FETCH = 3,
	CL_RPC_JOIN = 4,
	CL_RPC_MEMBER = 5,
};

/* The member RPC address for a raft address: same host, port + 1 ("h:7001" -> "h:7002").
 * 0 or MR_EINVAL (malformed, or port 65535). */
int cl_rpc_address(const char *raft_address, char out[CL_ADDRESS_MAX + 1]);

/* ---- envelope codec (pure functions: the server and client use them; tests, fuzzing) ---- */

/* A decoded RpcRequest (op) or RpcReply (status); body points into priv_ (NULL when empty). */
struct cl_rpc_msg {
	uint32_t op;
	int status;
	const uint8_t *body;
	size_t len;
	void *priv_;
};

/* Decode an RpcRequest / RpcReply (a reply's status must be 0 or negative). 0 or MR_EPROTO
 * (*m_r zeroed). Release with cl_rpc_msg_free. */
int cl_rpc_request_decode(const uint8_t *buf, size_t len, struct cl_rpc_msg *m_r);
int cl_rpc_reply_decode(const uint8_t *buf, size_t len, struct cl_rpc_msg *m_r);
void cl_rpc_msg_free(struct cl_rpc_msg *m); /* safe on a zeroed struct */

/* Encoded size of an RpcRequest {op, body} / RpcReply {status, body}, and the encoding into
 * out (exactly that many bytes). */
size_t cl_rpc_request_size(uint32_t op, size_t len);
size_t cl_rpc_reply_size(int status, size_t len);
void cl_rpc_request_pack(uint32_t op, const void *body, size_t len, uint8_t *out);
void cl_rpc_reply_pack(int status, const void *body, size_t len, uint8_t *out);

/* ---- server ---- */

/* A handler: body/len are valid only during the call; answer with cl_rpc_reply exactly once.
 * Runs on an nng thread: must not block for long (hand long work to another thread). */
typedef void (*cl_rpc_handler_fn)(void *ud, struct cl_rpc_call *call, const uint8_t *body,
                                  size_t len);

struct cl_rpc_handler {
	uint32_t op;    /* enum cl_rpc_op */
	bool anonymous; /* accept clients without a cluster certificate */
	cl_rpc_handler_fn fn;
};

/* Listen on listen_address ("host:port", the RPC port) with pki and serve ops from table
 * (borrowed, must outlive the server); unknown ops answer MR_EINVAL. 0, MR_EINVAL, MR_ETLS,
 * MR_EIO (cannot listen: address in use...). */
int cl_rpc_server_start(const char *listen_address, const struct cl_pki *pki,
                        const struct cl_rpc_handler *table, size_t n, void *ud,
                        struct cl_rpc_server **srv_r);

/* Answer a call (any thread, exactly once): status 0 or MR_E*, body copied (may be NULL/0).
 * After the server stopped this only frees the call. */
void cl_rpc_reply(struct cl_rpc_call *call, int status, const void *body, size_t len);

/* Stop listening, wait for handlers currently running to return (calls they have not
 * answered yet stay valid and are freed by their cl_rpc_reply), free. *srv set to NULL. */
void cl_rpc_server_stop(struct cl_rpc_server **srv);

/* ---- client ---- */

/* pki NULL: anonymous client (no certificate, server not verified: only for JOIN, whose
 * payload is protected by the join token). 0, MR_ETLS. */
int cl_rpc_client_open(const struct cl_pki *pki, struct cl_rpc_client **c_r);

/* done: status is the server's status, or CL_RPC_ETIMEDOUT / MR_EIO / MR_ECLOSED / MR_EPROTO
 * for transport failures; body valid only during the callback. Runs on an nng thread. A
 * request is sent once (no resend timer): MR_EIO when its connection broke before the reply
 * came (the server may or may not have served it), CL_RPC_ETIMEDOUT when no reply came in
 * time (peer unreachable, refused TLS, slow or silent handler). */
typedef void (*cl_rpc_done_fn)(void *ud, int status, const uint8_t *body, size_t len);

/* Send op with body to the member RPC address (port + 1 already applied); timeout_ms 0 =
 * CL_RPC_TIMEOUT_MS. 0 (done fires exactly once) or MR_EINVAL / MR_ETOOBIG / MR_ECLOSED (done
 * never fires). Thread-safe. */
int cl_rpc_call(struct cl_rpc_client *c, const char *rpc_address, uint32_t op, const void *body,
                size_t len, unsigned timeout_ms, cl_rpc_done_fn done, void *ud);

/* Blocking form: *reply_r (malloc'd, caller frees; NULL when empty) and *reply_len_r. Returns
 * the status as above. Never call from an nng callback or the raft thread. */
int cl_rpc_call_sync(struct cl_rpc_client *c, const char *rpc_address, uint32_t op,
                     const void *body, size_t len, unsigned timeout_ms, uint8_t **reply_r,
                     size_t *reply_len_r);

/* Calls in flight complete with MR_ECLOSED before this returns (a call whose reply already
 * arrived completes with it). *c set to NULL. Never from a done callback (it would wait for
 * itself). */
void cl_rpc_client_close(struct cl_rpc_client **c);

#endif

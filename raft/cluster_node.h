/* cluster_node.h - the raft runtime: one raft server on its own thread with its own libuv loop
 * (replication.md §3, §7.1, §7.4).
 *
 * cl_node_start() creates the data directory, starts a thread that owns a uv_loop_t, a raft_uv
 * I/O backend (durable log, snapshots) over the caller's struct raft_uv_transport, and a
 * struct raft driving the caller's struct raft_fsm; it bootstraps the configuration on first
 * start (a data directory that already holds one is reused: RAFT_CANTBOOTSTRAP is fine) or
 * starts empty in join mode, waiting for a leader to cl_node_add() it. Every request function
 * below may be called from ANY thread: it enqueues an operation on a multi-producer queue and
 * wakes the loop with uv_async_send(); the loop thread performs the raft call. Every callback
 * (apply, barrier, membership, transfer, leadership, post) runs ON THE RAFT THREAD: it must not
 * block and must not call cl_node_stop(); callers that live on another loop post the result back
 * to it (uv_async_send, nng_aio_finish, a condition variable). A request function that returns
 * an error never invokes its callback; one that returns 0 invokes it exactly once, also when the
 * node is stopped meanwhile.
 *
 * The process must ignore SIGPIPE (mailraftd does): raft_uv writes to peers that went away.
 *
 * Leadership: when this node becomes leader the runtime issues raft_barrier() and reports
 * "leader" only once the barrier applied, i.e. every entry of earlier terms is applied locally
 * (replication.md §7.4 step 6); losing leadership is reported once the state changes.
 *
 * Status codes given to callbacks: 0, MR_ENOTLEADER (not submitted: this node is not the leader,
 * retry on the leader), CL_EUNKNOWN (submitted, then leadership was lost or the node shut down:
 * the entry may or may not commit; retry only idempotent operations, with the same client token),
 * MR_ECLOSED (not submitted: the node is stopping), or another MR_E* from cl_err_from_raft(). */
#ifndef MR_CLUSTER_NODE_H
#define MR_CLUSTER_NODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include <raft.h>
#include <uv.h>

struct raft_uv_transport;
struct cl_node;

/* "Outcome unknown": the request reached raft_apply (or a membership change was submitted) but
 * leadership was lost (RAFT_LEADERSHIPLOST) or the node shut down (RAFT_SHUTDOWN) before it
 * applied. An alias of MR_EUNKNOWN (node/common/err.h). */
#define CL_EUNKNOWN MR_EUNKNOWN

/* Text for an MR_E* code or CL_EUNKNOWN (never NULL). */
const char *cl_strerror(int rv);

/* Map a libraft return/status code to the project's codes: 0 -> 0, NOTLEADER -> MR_ENOTLEADER,
 * LEADERSHIPLOST/SHUTDOWN -> CL_EUNKNOWN, CANTCHANGE/BUSY -> MR_EBUSY, BADID/NOTFOUND ->
 * MR_ENOTFOUND, DUPLICATEID/DUPLICATEADDRESS -> MR_EEXIST, BADROLE/INVALID -> MR_EINVAL,
 * TOOBIG -> MR_ETOOBIG, NOMEM -> MR_ENOMEM, CORRUPT/MALFORMED -> MR_ECORRUPT, NOSPACE ->
 * MR_EQUOTA, CANCELED -> MR_ECLOSED, anything else -> MR_EIO. */
int cl_err_from_raft(int raft_rv);

/* Roles, equal to libraft's RAFT_STANDBY / RAFT_VOTER / RAFT_SPARE (raft.h). */
enum cl_role { CL_STANDBY = RAFT_STANDBY, CL_VOTER = RAFT_VOTER, CL_SPARE = RAFT_SPARE };
/* States, equal to libraft's RAFT_UNAVAILABLE ... RAFT_LEADER. */
enum cl_state {
	CL_UNAVAILABLE = RAFT_UNAVAILABLE,
	CL_FOLLOWER = RAFT_FOLLOWER,
	CL_CANDIDATE = RAFT_CANDIDATE,
	CL_LEADER = RAFT_LEADER,
};
const char *cl_role_name(int role);   /* "voter", "standby", "spare", "?" */
const char *cl_state_name(int state); /* "unavailable", "follower", "candidate", "leader" */

/* Limits of the status snapshot: a mail cluster has 3-5 voters plus a few standbys/spares;
 * addresses are "host:port" or nng URLs like "tls+tcp://[v6]:port". Larger configurations are
 * truncated in cl_status (n_members is capped, members_total tells the real count). */
#define CL_MAX_MEMBERS 16
#define CL_ADDR_MAX 256

struct cl_server {
	raft_id id;          /* > 0 */
	const char *address; /* what the transport connects to */
	int role;            /* enum cl_role */
};

/* Called on the raft thread after raft_init() and before raft_start(): the place to attach
 * the FSM to the struct raft (e.g. cl_fsm_attach) or set extra raft options. */
typedef void (*cl_attach_cb)(struct raft *r, void *arg);
/* Set up the caller's transport on the node's loop (e.g. raft_uv_tcp_init(t, loop)), on the
 * raft thread before raft_uv_init(). Returns 0 or a negative MR_E* / positive RAFT_* code. */
typedef int (*cl_transport_init_cb)(struct raft_uv_transport *t, uv_loop_t *loop, void *arg);
/* Release the transport (e.g. raft_uv_tcp_close), on the raft thread once raft_uv has closed
 * it (or after a failed start); the transport's memory is the caller's. */
typedef void (*cl_transport_close_cb)(struct raft_uv_transport *t, void *arg);
/* Leadership change, on the raft thread: leader = true once the barrier of the new term
 * applied; false when this node stops being the leader it reported (also at stop). */
typedef void (*cl_leader_cb)(struct cl_node *node, bool leader, raft_term term, void *arg);

struct cl_node_config {
	raft_id id;          /* this server, > 0 */
	const char *address; /* this server's address (as in the configuration) */
	const char *dir;     /* raft_uv data directory; created (mkdir -p, 0700) if missing */
	/* Bootstrap configuration used on first start; n_servers = 0: join mode (start empty and
	 * wait to be added by the leader). Ignored if dir already holds a raft state. */
	const struct cl_server *servers;
	unsigned n_servers;
	unsigned election_timeout_ms; /* 0: 1000 (libraft default) */
	unsigned heartbeat_ms;        /* 0: 100 */
	unsigned snapshot_threshold;  /* entries between snapshots; 0: 1024 */
	unsigned snapshot_trailing;   /* entries kept after a snapshot; 0: 128 */
	unsigned connect_retry_ms;    /* raft_uv reconnect delay; 0: 1000 */
	bool no_pre_vote;             /* pre-vote (thesis §9.6) is on unless this is set */
	/* Owned by the caller, must outlive the node. transport_init may be NULL if the
	 * transport needs no loop (then transport_close is still called if set). */
	struct raft_uv_transport *transport;
	cl_transport_init_cb transport_init;
	cl_transport_close_cb transport_close;
	void *transport_arg;
	struct raft_fsm *fsm; /* owned by the caller, used only on the raft thread */
	cl_attach_cb attach;  /* optional */
	void *attach_arg;
	cl_leader_cb on_leader; /* optional */
	void *leader_arg;
};

/* Start a node. Returns once raft_start() has run on the new thread: 0 and *node_r, or
 * MR_EINVAL (bad config), MR_EIO (directory, loop or thread creation), or the mapped raft error
 * of raft_uv_init/raft_init/raft_bootstrap/raft_start (errors are logged with raft's message).
 * cfg and its strings are copied; transport and fsm are borrowed. */
int cl_node_start(const struct cl_node_config *cfg, struct cl_node **node_r);

/* Stop: report a held leadership lost (on_leader(false)), fail queued requests with
 * MR_ECLOSED, give entries already submitted up to one election timeout to be stored locally
 * (and applied, on a leader: their callbacks get 0), then raft_close() (what is still in flight
 * completes with CL_EUNKNOWN), run the loop until every handle closed, join the thread and free
 * the node. *node set to NULL. Must not be called from the raft thread (i.e. from one of this
 * node's callbacks). NULL is a no-op. */
void cl_node_stop(struct cl_node **node);

/* Result of an apply: status as above; result is what fsm->apply stored in *result, valid only
 * during the callback and only when status == 0 (the entry is committed AND applied locally). */
typedef void (*cl_apply_cb)(void *ud, int status, void *result);
/* Copy len bytes (1 .. UINT32_MAX) into a new raft entry and propose it (raft_apply) if this
 * node is the leader when the raft thread handles the request. 0: cb will fire; MR_EINVAL (len),
 * MR_ECLOSED (stopping): cb will not fire. */
int cl_node_apply(struct cl_node *node, const void *buf, size_t len, cl_apply_cb cb, void *ud);

/* Status-only completion (barrier, membership changes, transfer). */
typedef void (*cl_done_cb)(void *ud, int status);
/* raft_barrier(): status 0 once every entry before it is applied locally (linearizable read
 * point on the leader). Returns 0 or MR_ECLOSED. */
int cl_node_barrier(struct cl_node *node, cl_done_cb cb, void *ud);

/* Membership (thesis §4.1; leader only, one change at a time: MR_EBUSY = libraft's
 * RAFT_CANTCHANGE, e.g. right after an election before an entry of the new term commits).
 * add: a new server joins as spare; assign: change the role (promotion to voter waits for the
 * server to catch up); remove: drop a server; the status is 0 once the new configuration is
 * committed. address is copied. Returns 0 or MR_EINVAL (id 0, bad role, NULL/long address) or
 * MR_ECLOSED. */
int cl_node_add(struct cl_node *node, raft_id id, const char *address, cl_done_cb cb, void *ud);
int cl_node_assign(struct cl_node *node, raft_id id, int role, cl_done_cb cb, void *ud);
int cl_node_remove(struct cl_node *node, raft_id id, cl_done_cb cb, void *ud);
/* Leadership transfer (thesis §3.10) to voter id, or 0 = the most up-to-date voter. Status 0
 * once another node (id if given) is known as leader, MR_EBUSY if the transfer did not happen
 * within about two election timeouts, MR_ENOTLEADER, MR_ENOTFOUND (id not a voter). */
int cl_node_transfer(struct cl_node *node, raft_id id, cl_done_cb cb, void *ud);

/* Run fn(node, arg) on the raft thread (e.g. to call cluster FSM functions that must run there).
 * fn runs exactly once, also while the node is stopping (raft still valid). 0 or MR_ECLOSED. */
typedef void (*cl_post_fn)(struct cl_node *node, void *arg);
int cl_node_post(struct cl_node *node, cl_post_fn fn, void *arg);

struct cl_member {
	raft_id id;
	int role; /* enum cl_role */
	char address[CL_ADDR_MAX];
	/* Leader's view (0/false on other nodes): highest index known replicated on the member
	 * and whether it answered within the last election timeout. */
	raft_index match_index;
	bool reachable;
};

struct cl_status {
	raft_id id;
	int state;         /* enum cl_state */
	bool leader_ready; /* state == leader and its barrier applied (on_leader(true) sent) */
	raft_id leader_id; /* 0 if unknown */
	char leader_address[CL_ADDR_MAX];
	raft_term term;
	raft_index commit_index, last_applied, last_index;
	raft_index configuration_index; /* index of the committed configuration */
	unsigned n_members, members_total;
	struct cl_member members[CL_MAX_MEMBERS];
};
/* Thread-safe snapshot, refreshed by the raft thread after every loop iteration. Returns 0, or
 * MR_ECLOSED once the node is stopping (st_r still holds the last snapshot). */
int cl_node_status(struct cl_node *node, struct cl_status *st_r);

/* For code running ON THE RAFT THREAD only (callbacks, posted functions, the FSM). */
struct raft *cl_node_raft(struct cl_node *node);
uv_loop_t *cl_node_loop(struct cl_node *node);
raft_id cl_node_id(const struct cl_node *node); /* any thread */

#endif

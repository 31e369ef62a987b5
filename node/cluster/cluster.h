/* cluster.h - the daemon's side of replication (issue 3): when cluster_address is set,
 * mailraftd runs its store through the replication engine (raft/cluster_engine.h) on a raft
 * node (raft/cluster_node.h) over the nng mutual-TLS transport, serves the member RPC
 * (raft/cluster_rpc.h: forwarding, status, fetch, join) and answers the admin socket's cluster
 * verbs. Credentials live in <data_dir>/cluster/ (ca.crt, node.crt, node.key; ca.key on members
 * that can invite), written by `mailraftctl cluster init` (first node) or `cluster join`.
 * Markers in <data_dir>/cluster/: "bootstrap" (written by init: bootstrap a one-voter
 * configuration on first start and adopt the local databases), "join" (written by join: start
 * with an empty log and wait to be added).
 *
 * All functions run on the main loop thread unless stated. Asynchronous admin operations
 * complete through a callback on the main loop. */
#ifndef MR_NODE_CLUSTER_H
#define MR_NODE_CLUSTER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/cluster_node.h" /* struct cl_status, cl_member, roles */

struct node;

#define CLUSTER_DIR "cluster"              /* under data_dir */
#define CLUSTER_MARK_BOOTSTRAP "bootstrap" /* file names inside it */
#define CLUSTER_MARK_JOIN "join"

/* True if the configuration asks for cluster mode (cluster_address set). */
bool cluster_enabled(const struct node *n);

/* Before store_open (which would create a master key in an empty data directory): 0 if the
 * node's credentials exist (<data_dir>/cluster/node.crt), else MR_ENOTFOUND with a message
 * telling to run `mailraftctl cluster init` or `cluster join`. */
int cluster_preflight(const struct node *n, char *err, size_t errlen);

/* Start replication for n (after store_open, before admin_start and the frontends serve):
 * load the credentials, open the engine, start the RPC server and the raft node, bootstrap or
 * join as the markers say. Returns 0 or MR_E* with a message in err. */
int cluster_start(struct node *n, char *err, size_t errlen);

/* True once this node can serve: it holds the directory database at an index the cluster has
 * committed (after adoption on the first node, after catch-up on a joiner). */
bool cluster_ready(void);

/* Called once on the main loop when cluster_ready() first becomes true (mailraftd logs its
 * "ready" line then). Set before cluster_start. */
void cluster_on_ready(void (*fn)(void));

/* Stop the raft node, the RPC server and the engine (before store_close). Blocks briefly.
 * No-op if not started. */
void cluster_stop(void);

/* ---- for the admin socket (node/admin) ---- */

/* This node's view plus, per member, what the member itself reports over RPC (applied index,
 * reachable). Synchronous snapshot of the raft status; the per-member applied indexes come
 * from the last periodic poll (every second on every node). MR_ENOTFOUND if not in cluster
 * mode. */
struct cluster_member_view {
	struct cl_member m;     /* id, role, address, match_index (leader's view) */
	uint64_t applied_index; /* what the member reported (0 if never) */
	bool reachable;         /* answered the last poll */
	int64_t lag;            /* leader's last index - applied_index, -1 unknown */
};
struct cluster_view {
	struct cl_status st; /* this node's raft status */
	unsigned n;
	struct cluster_member_view members[CL_MAX_MEMBERS];
	bool ready;           /* cluster_ready() */
	unsigned needs_fetch; /* databases waiting for a copy from a peer */
};
int cluster_view(struct cluster_view *v);

/* Completion of an admin operation, on the main loop: status 0 or MR_E*, msg a short human
 * text (e.g. the join token for cluster_invite), valid during the call. */
typedef void (*cluster_done_fn)(void *ud, int status, const char *msg);

/* `cluster add`: create an invitation for (id, address) and answer with the join token.
 * `cluster promote|demote`: assign voter / spare. `cluster remove`. `cluster transfer`
 * (to = 0: the most up-to-date voter). Membership changes go to the leader (forwarded over
 * RPC when this node is a follower). Return 0 (done fires once) or an error (it never fires). */
int cluster_invite(uint64_t id, const char *address, cluster_done_fn done, void *ud);
int cluster_assign(uint64_t id, int role, cluster_done_fn done, void *ud);
int cluster_remove(uint64_t id, cluster_done_fn done, void *ud);
int cluster_transfer(uint64_t to, cluster_done_fn done, void *ud);

#endif

/* cluster_engine.h - the replication engine: joins the encrypted store (storage/store.h) to raft
 * (cluster_node.h, cluster_fsm.h, cluster_entry.h). Off unless a daemon opens one: without an
 * engine the store commits locally as before.
 *
 * Design (decided for issue 3): optimistic replication with deterministic validation.
 *   - Any node runs a write transaction against its own replica of a database. The store
 *     captures it (storage/repl.h: the commit header is held back, the WAL write lock kept) and
 *     calls the engine's replicator with the BASE index (the database's applied log index the
 *     transaction was built on) and a fresh random client token.
 *   - The engine encodes one FRAMES entry (proto/entry.proto; EntryFrames.base_index) and
 *     proposes it: cl_node_apply on the leader; a follower forwards the encoded bytes to the
 *     leader through cl_engine_config.forward (in-process today; the nng req/rep RPC plugs in
 *     there later: it carries the bytes and returns the leader's apply status).
 *   - The state machine (cluster_fsm.c) applies a set for database D only if D's applied index
 *     == base_index, else rejects the entry (a conflict): every node decides the same.
 *   - Applying: the claim hook hands the pages to the store (store_repl_apply), on D's actor.
 *     On the proposer (its pending transaction has the token) the pending frames are PROMOTED;
 *     everywhere else the pages are written into the file and the open connection drops its
 *     caches. The commit hook (IDLE wake-up) fires on every node.
 *   - The proposer's store_tx_commit() returns 0 only once its own state machine applied the
 *     entry (committed on a quorum + applied locally). A rejection ends it with STORE_ECONFLICT;
 *     not leader / no leader known with STORE_ECONFLICT too (nothing was submitted: re-run);
 *     leadership lost after submission with STORE_EUNKNOWN (aborted locally; the entry may
 *     still commit and then arrives like a foreign one). The store re-runs the job (bounded)
 *     and stops once one of its unknown tokens shows up as applied: at most once, because two
 *     proposals built on the same base can never both apply.
 *   - STORE_CREATE becomes a CREATE_DB entry (wrapped key file + initial pages, built by the
 *     store); store_drop will become a DELETE_DB entry (cl_engine_drop).
 * Threads: the raft thread runs the state machine and blocks on store actors (store_repl_*);
 * actors never block on the raft thread (proposals are asynchronous), so there is no cycle.
 */
#ifndef MR_CLUSTER_ENGINE_H
#define MR_CLUSTER_ENGINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "raft/cluster_entry.h" /* CL_DBNAME_MAX */
#include "raft/cluster_node.h"

struct store;
struct cl_engine;

/* Hand an encoded entry to the leader `leader` (a raft id, never this node) at
 * `leader_address` (its raft address, as in the configuration) and report its apply
 * status through cb (as cl_node_apply does: 0 = committed and applied on the leader,
 * MR_ENOTLEADER, CL_EUNKNOWN, MR_ECLOSED). Returns 0 (cb will fire once, from any thread) or an
 * error (cb will not fire). For an in-process cluster, call cl_engine_submit on the leader's
 * engine. */
typedef int (*cl_engine_forward_fn)(void *ud, raft_id leader, const char *leader_address,
                                    const void *buf, size_t len, cl_apply_cb cb, void *cb_ud);

struct cl_engine_config {
	struct store *store;  /* opened on data_dir; the engine installs its replicator */
	const char *data_dir; /* the store's data directory (the state machine writes db/, raft/) */
	unsigned sync_every;  /* state machine sync points; 0: its default */
	cl_engine_forward_fn forward; /* NULL: only the local node can propose (leader only) */
	void *forward_ud;
};

/* Open the state machine, tell the store the applied index of every database it knows and
 * install the replicator on the store. 0, MR_E*.
 * Order: cl_engine_open -> cl_node_start -> cl_engine_set_node ... cl_engine_set_node(NULL) ->
 * cl_node_stop -> cl_engine_close -> store_close (the state machine calls into the store's
 * actors, and outstanding tickets point into them).
 * Databases created by store_open before the engine exists (the directory) are unknown to the
 * state machine until a CREATE_DB entry registers them: their writes are rejected until then
 * (not solved yet: the daemon wiring must create the directory through the engine). */
int cl_engine_open(const struct cl_engine_config *cfg, struct cl_engine **e_r);
/* The struct raft_fsm for cl_node_config.fsm, and the attach hook for cl_node_config.attach
 * (arg = the engine). */
struct raft_fsm *cl_engine_fsm(struct cl_engine *e);
void cl_engine_attach(struct raft *r, void *engine);
/* Tell the engine its running node (after cl_node_start), or NULL before cl_node_stop: without
 * a node, proposals fail with MR_ECLOSED. Thread-safe. */
void cl_engine_set_node(struct cl_engine *e, struct cl_node *node);
/* Leader side of forwarding: propose an encoded entry on this engine's node. 0 (cb fires) or
 * MR_ECLOSED / MR_EINVAL (cb does not fire). Any thread. */
int cl_engine_submit(struct cl_engine *e, const void *buf, size_t len, cl_apply_cb cb, void *ud);
/* Local databases (<data_dir>/db/<name>.db) the state machine does not know: those of a
 * single-node data directory turned into a cluster. Names into names (up to max); returns how
 * many exist. Call before cl_node_start (the state machine is not read concurrently). */
size_t cl_engine_unknown_dbs(struct cl_engine *e, char (*names)[CL_DBNAME_MAX], size_t max);
/* Register a local database with the cluster: propose a CREATE_DB entry holding its key file
 * and its pages as they are on disk, on this node (which must be the leader) and wait until it
 * applied. The store must not have the database open and its WAL must be empty (checkpointed):
 * MR_EBUSY otherwise. At most CL_ENTRY_MAX_PAGES pages (MR_ETOOBIG). 0, MR_EEXIST (already
 * known), MR_ENOTLEADER, MR_E*. Blocks: not from the raft thread. */
int cl_engine_adopt(struct cl_engine *e, const char *name);
/* The state machine (raft thread only, e.g. from cl_node_post: cluster_fsm.h). */
struct cl_fsm *cl_engine_fsm_handle(struct cl_engine *e);
/* Counters for tests and status. */
struct cl_engine_stats {
	uint64_t proposed, forwarded, conflicts, unknown, promoted_or_applied;
};
void cl_engine_get_stats(struct cl_engine *e, struct cl_engine_stats *st_r);
/* After cl_node_stop: fail outstanding proposals (MR_ECLOSED), remove the replicator from the
 * store, close the state machine. *e set to NULL. */
void cl_engine_close(struct cl_engine **e);

#endif

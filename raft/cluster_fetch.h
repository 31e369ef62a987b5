/* cluster_fetch.h - database fetch: catch-up of a lagging or new node (issue 3 §5,
 * replication.md §7.5).
 *
 * When a node installs a raft snapshot it is behind on, the state machine marks every database
 * modified after what the node holds as "needs fetch" (cl_fsm_needs_fetch). This module gets
 * byte copies of those databases from a peer and installs them.
 *
 * Serving side (every member): CL_RPC_FETCH requests (proto/fetch.proto). The first request for
 * a database (copy_id 0) makes a consistent copy ON THE RAFT THREAD (posted, so no entry applies
 * meanwhile): store_repl_checkpoint() empties the database's -wal into its file on its actor,
 * then <db>.db is copied (reflink when the file system can, else copy_file_range) to
 * <data_dir>/fetch/<id>.db and <db>.key read, and the copy is labelled with cl_fsm_db_index(db)
 * (the index of the last entry that modified db, the same number on every node). A database
 * that needs a fetch itself, or whose index is below the fetcher's (min_index), is refused
 * (MR_EBUSY) before anything is copied. The copy is then served in chunks of
 * chunk_size bytes by (copy id, offset); each reply repeats the copy's index and total size,
 * the first one also carries the key file. Copies unused for copy_ttl_ms are deleted (the
 * fetcher thread sweeps them), all of them at open and close; at most CL_FETCH_MAX_COPIES exist.
 *
 * Fetching side: a thread wakes on cl_fetch_kick() and every poll_ms; it asks the raft thread
 * for cl_fsm_needs_fetch() and fetches each listed database from a peer (the leader first,
 * then the other members of cl_node_status(), member RPC address = raft address port + 1) into
 * <data_dir>/db/<db>.db.fetch, fdatasyncs it, and installs it ON THE RAFT THREAD: the copy's
 * index must be >= cl_fsm_db_index(db) (else: fetch again later), then store_repl_install()
 * (closes the store's connection and renames the copy and key over the files, or writes it in
 * place under a job holding the connection; records the index, releases the hold),
 * cl_fsm_fetch_done(db, index) and cl_fsm_sync(). Entries for db after the copy's index keep
 * coming from the log and are applied on top (page redo). A failed database is retried at the
 * next wake-up. The raft thread never waits on the network; the fetcher thread waits on the raft
 * thread (posted work), never the reverse.
 *
 * Cost: making a copy blocks the serving node's raft thread for the local copy: instant with a
 * reflink (btrfs, xfs), roughly a second per GB otherwise (ext4: copy_file_range). A leader
 * serving a multi-GB database may miss heartbeats long enough to lose its leadership.
 *
 * Consistency (needs two small changes outside this module, see H5's report): the check
 * "copy index >= cl_fsm_db_index" is sufficient only if the state machine keeps a needs-fetch
 * database's applied index at its last-modified index (taken from the snapshot manifest at
 * restore) so entries after the snapshot are validated (base_index) exactly as on every other
 * node, and writes their pages itself (no claim_cb: the store cannot open a partial file).
 * And while a database awaits its copy the store must refuse local commits on it
 * (store_repl_hold): a transaction built on a stale or partial file must never reach the log.
 * The fetcher holds every database it lists; the engine should hold them at once, on the raft
 * thread, when it sees a database that needs a fetch (before the next entry applies).
 *
 * Wiring (node/cluster/cluster.c), order of calls:
 *   store_open -> cl_engine_open -> cl_fetch_open(.fsm = cl_engine_fsm_handle(engine), .store,
 * .data_dir, .call = cl_fetch_rpc_call, .call_ud = rpc client) -> cl_node_start ->
 * cl_engine_set_node
 *   -> cl_fetch_set_node(f, node) -> cl_rpc_server_start(table with
 *   {CL_RPC_FETCH, false, cl_fetch_server_handler}, ud = f ... see below) -> cl_fetch_kick()
 *   whenever a snapshot may have been installed (optional: the thread also polls)
 *   ... stop: cl_rpc_server_stop -> cl_fetch_set_node(f, NULL) -> cl_engine_set_node(NULL) ->
 *   cl_node_stop -> cl_fetch_close -> cl_engine_close -> store_close.
 * The rpc server has ONE ud for all handlers: if it is not the cl_fetch, call
 * cl_fetch_serve(f, ...) from your own handler with cl_fetch_rpc_reply as reply function. */
#ifndef MR_CLUSTER_FETCH_H
#define MR_CLUSTER_FETCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/cluster_entry.h" /* CL_DBNAME_MAX, CL_PAGE_SIZE, CL_KEYFILE_MAX */

struct store;
struct cl_fsm;
struct cl_node;
struct cl_fetch;
struct cl_rpc_call;

#define CL_FETCH_CHUNK (4u << 20)       /* default chunk size */
#define CL_FETCH_CHUNK_MAX (16u << 20)  /* largest chunk served or accepted */
#define CL_FETCH_KEY_MAX CL_KEYFILE_MAX /* largest key file */
#define CL_FETCH_MAX_COPIES 8           /* copies a server keeps at once */
/* largest database accepted: the state machine's limit */
#define CL_FETCH_SIZE_MAX ((uint64_t)CL_DB_MAX_PAGES * CL_PAGE_SIZE)

/* Blocking request to a member: send req (len bytes) as CL_RPC_FETCH to rpc_address, return
 * the server's status (or a transport error) and the reply body (*reply_r malloc'd, caller
 * frees, NULL when empty). Never called on the raft thread or an nng callback. */
typedef int (*cl_fetch_call_fn)(void *ud, const char *rpc_address, const void *req, size_t len,
                                uint8_t **reply_r, size_t *reply_len_r);

/* Run fn(arg) on the thread that owns the state machine; return 0 (fn runs exactly once, maybe
 * later) or an error (fn never runs). */
typedef void (*cl_fetch_work_fn)(void *arg);
typedef int (*cl_fetch_post_fn)(void *ud, cl_fetch_work_fn fn, void *arg);

struct cl_fetch_config {
	const char *data_dir; /* the store's and state machine's data directory */
	struct store *store;
	struct cl_fsm *fsm; /* used only in work run on the raft thread */
	/* The fetching side's transport; NULL: this node only serves. Production:
	 * cl_fetch_rpc_call with call_ud = the struct cl_rpc_client *. */
	cl_fetch_call_fn call;
	void *call_ud;
	/* NULL: cl_node_post on the node given to cl_fetch_set_node (MR_ECLOSED without one).
	 * Tests without a node run the work inline. */
	cl_fetch_post_fn post;
	void *post_ud;
	/* Fixed peers (RPC addresses) tried when no node is set or the node knows no other
	 * member; NULL-terminated, copied. Normally NULL. */
	const char *const *peers;
	unsigned chunk_size;  /* served chunk size; 0: CL_FETCH_CHUNK */
	unsigned copy_ttl_ms; /* unused copies expire; 0: 60000 */
	unsigned poll_ms;     /* fetcher wake-up period (also the retry delay); 0: 1000 */
};

/* Create <data_dir>/fetch (emptied), start the fetcher thread. 0, MR_EINVAL, MR_EIO. */
int cl_fetch_open(const struct cl_fetch_config *cfg, struct cl_fetch **f_r);
/* The running node (after cl_node_start), NULL before cl_node_stop; work already posted still
 * runs (cl_node_post guarantees it, also while the node stops), later posts fail with
 * MR_ECLOSED. Thread-safe. */
void cl_fetch_set_node(struct cl_fetch *f, struct cl_node *node);
/* needs-fetch may have become non-empty (a snapshot was installed): wake the fetcher. Any
 * thread, also the raft thread (never blocks). */
void cl_fetch_kick(struct cl_fetch *f);
/* Stop the thread (a fetch in progress ends at its next request), delete every copy and
 * temporary file, free. *f set to NULL. Not on the raft thread. */
void cl_fetch_close(struct cl_fetch **f);

struct cl_fetch_stats {
	uint64_t copies_made, chunks_served; /* serving side */
	uint64_t fetched, failures;          /* fetching side: installed copies, failed attempts */
	unsigned copies_open;                /* copies currently kept */
};
void cl_fetch_get_stats(struct cl_fetch *f, struct cl_fetch_stats *st_r);

/* ---- serving ----------------------------------------------------------------------------- */

/* How a served request is answered (exactly once, any thread). */
typedef void (*cl_fetch_reply_fn)(void *ud, int status, const void *body, size_t len);
/* Serve one FetchRequest (body valid only during the call). Never blocks for long: the first
 * request of a copy is answered from the raft thread once the copy exists. */
void cl_fetch_serve(struct cl_fetch *f, const uint8_t *body, size_t len, cl_fetch_reply_fn reply,
                    void *reply_ud);

/* ---- member RPC adapters (raft/cluster_fetch_rpc.c; need raft/cluster_rpc.c) ---------------- */

/* cl_rpc_handler_fn for CL_RPC_FETCH with ud = the struct cl_fetch. */
void cl_fetch_server_handler(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len);
/* cl_fetch_reply_fn over cl_rpc_reply (ud = the struct cl_rpc_call). */
void cl_fetch_rpc_reply(void *call, int status, const void *body, size_t len);
/* cl_fetch_call_fn over cl_rpc_call_sync (ud = the struct cl_rpc_client). */
int cl_fetch_rpc_call(void *client, const char *rpc_address, const void *req, size_t len,
                      uint8_t **reply_r, size_t *reply_len_r);

/* ---- local steps (raft thread; exposed for tests) ------------------------------------------ */

struct cl_fetch_copy {
	uint64_t index; /* cl_fsm_db_index of the database when copied */
	uint64_t size;  /* bytes of the .db copy */
	uint8_t key[CL_FETCH_KEY_MAX];
	size_t key_len;
};
/* Make a consistent byte copy of <data_dir>/db/<db>.db into path (created/truncated, 0600) and
 * describe it. 0, MR_ENOTFOUND (unknown/deleted db), MR_EBUSY (db needs a fetch itself, or a local
 * transaction is pending: retry), MR_EIO. */
int cl_fetch_make_copy(struct store *st, struct cl_fsm *fsm, const char *data_dir, const char *db,
                       const char *path, struct cl_fetch_copy *c_r);
/* Install a fetched copy (tmp_path in <data_dir>/db, synced) of db at index with its key file.
 * 0 (tmp_path consumed), MR_ENOTFOUND (db unknown or deleted now: drop the copy), MR_EBUSY (the
 * copy is older than what this node applied to db: fetch again), MR_EIO. */
int cl_fetch_install(struct store *st, struct cl_fsm *fsm, const char *db, uint64_t index,
                     const char *tmp_path, const uint8_t *key, size_t key_len);

#endif

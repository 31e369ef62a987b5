/* cluster_fsm.h - the replicated state machine (replication.md §3.1, §7.4, §7.5).
 *
 * Every node applies every committed entry (raft/cluster_entry.h) to its own files without the
 * key and without SQL: FRAMES pwrites each page at (pgno-1)*CL_PAGE_SIZE into
 * <data_dir>/db/<name>.db and truncates the file to db_size pages; CREATE_DB writes <name>.key
 * and the initial pages; DELETE_DB removes the database's files. Page images are idempotent
 * redo records, so replaying entries over a newer state converges to the same bytes.
 *
 * Durable progress: <data_dir>/raft/applied holds the global applied index and, per database,
 * its applied index, a "needs fetch" flag and its last CL_FSM_TOKENS client tokens. It is
 * rewritten atomically (tmp + fdatasync + rename + directory fsync) at sync points, only after
 * every database file dirtied since the previous one has been fdatasync'ed: every sync_every
 * applies, at each snapshot and at close. libraft replays its whole log (or everything after
 * its last snapshot) on restart; entries at or below the recorded indexes are skipped, and the
 * ones after the last sync point are redone over the files, which is safe (redo).
 *
 * At-most-once: an entry whose token is among its first database's remembered tokens is not
 * applied again (an operation retried after RAFT_LEADERSHIPLOST carries the same token).
 * Bad data that reached the log (unknown database, undecodable entry) is logged and counted,
 * never returned as an error: in libraft 0.15 an apply error makes the node unavailable. Only
 * an I/O failure on the node's own disk is returned (RAFT_IOERR).
 *
 * Snapshots (fsm version 2) are a small manifest {index, per database: name, page count,
 * last modified index}; taking one syncs the dirtied files. Restoring on the same node (its
 * applied index >= the snapshot's) verifies the files it knows; on a lagging or new node every
 * database modified after what the node holds is marked "needs fetch" (cl_fsm_needs_fetch
 * lists them; fetching them from a peer is the caller's job, finished with cl_fsm_fetch_done;
 * the log keeps being applied to the partial file meanwhile, which is harmless redo), and
 * local databases absent from the manifest are deleted.
 *
 * All functions run on the thread that owns the struct raft (the raft loop thread). */
#ifndef MR_CLUSTER_FSM_H
#define MR_CLUSTER_FSM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/cluster_entry.h"

struct raft;
struct raft_fsm;
struct cl_fsm;

#define CL_FSM_TOKENS 32u /* client tokens remembered per database */
#define CL_FSM_SNAPSHOT_BYTES (64ull << 20)

/* Outcome of applying one entry, per database (also in the raft_apply_cb result). */
enum cl_apply_result {
	CL_APPLY_OK = 0,        /* applied now */
	CL_APPLY_DUPLICATE = 1, /* token already applied: nothing done, the operation succeeded */
	CL_APPLY_SKIPPED = 2,   /* index already applied (replay after restart): nothing done */
	CL_APPLY_REJECTED = 3,  /* bad data in the log (unknown/existing database, malformed), or a
	                         * FRAMES set whose base_index is not the database's applied index
	                         * (an optimistic-replication conflict: cluster_engine.h) */
};

/* Called after each entry for each of its databases (db NULL and token 0 for a NOOP, an
 * undecodable entry, or a replayed entry skipped by index without decoding): lets the leader
 * match its own in-flight request and wake IDLE sessions. */
typedef void (*cl_fsm_applied_cb)(void *arg, const char *db, uint64_t index, uint64_t token,
                                  enum cl_apply_result result);

/* Called for each frame set of a FRAMES entry before the state machine writes it: return 1 when
 * this node already holds these pages and makes them durable itself (the leader's own
 * transaction, promoted in its VFS: replication.md §7.4) so the file must not be written, 0 to
 * let the state machine write the pages, or MR_EIO when making them durable failed (the apply
 * then fails like a local I/O error). Either way the index and token are recorded. */
typedef int (*cl_fsm_claim_cb)(void *arg, const struct cl_frames *set, uint64_t index,
                               uint64_t token);

/* What raft_apply_cb receives as `result` (valid only during that callback). */
struct cl_fsm_result {
	uint64_t index;
	enum cl_apply_result result;
};

struct cl_fsm_config {
	const char *data_dir; /* holds db/ and raft/ (created if missing) */
	unsigned sync_every;  /* applies between sync points; 0: 256 */
	/* Memory bound: once this many log bytes were applied since the last snapshot, take one
	 * after the next entry whatever the entry-count threshold says (libraft keeps every entry
	 * since the last snapshot in memory). 0: CL_FSM_SNAPSHOT_BYTES. */
	uint64_t snapshot_bytes;
	cl_fsm_applied_cb applied_cb;
	cl_fsm_claim_cb claim_cb; /* NULL: always write */
	void *cb_arg;             /* passed to both callbacks */
};

struct cl_fsm_stats {
	uint64_t last_index;    /* highest index applied or skipped */
	uint64_t durable_index; /* global index of the last sync point */
	uint64_t applied, skipped, duplicates, rejected, syncs;
	uint64_t claimed; /* frame sets made durable by claim_cb instead of a file write */
	unsigned dbs;     /* live databases */
};

/* Load <data_dir>/raft/applied (absent: fresh state). MR_ECORRUPT if it is damaged, MR_EIO. */
int cl_fsm_open(const struct cl_fsm_config *cfg, struct cl_fsm **fsm_r);

/* The struct raft_fsm to pass to raft_init / raft_fixture_grow (owned by fsm). */
struct raft_fsm *cl_fsm_raft_fsm(struct cl_fsm *fsm);

/* Tell the fsm which raft instance drives it (the entry index comes from raft_last_applied);
 * call after raft_init and before raft_start. */
void cl_fsm_attach(struct cl_fsm *fsm, struct raft *r);

/* Apply the entry at index (what the raft apply callback does; tests call it to replay).
 * 0, or MR_EIO on a local I/O failure. */
int cl_fsm_apply_at(struct cl_fsm *fsm, uint64_t index, const void *data, size_t len);

/* Sync point now: fdatasync dirtied files, rewrite the applied record. 0 or MR_EIO. */
int cl_fsm_sync(struct cl_fsm *fsm);

/* Sync and free; *fsm set to NULL. */
void cl_fsm_close(struct cl_fsm **fsm);

/* Counters and indexes (for `cluster members` / status and tests). */
void cl_fsm_get_stats(struct cl_fsm *fsm, struct cl_fsm_stats *st_r);

/* Applied index of a live database; MR_ENOTFOUND if unknown or deleted. */
int cl_fsm_db_index(struct cl_fsm *fsm, const char *db, uint64_t *index_r);

/* Has token been applied to db (among the last CL_FSM_TOKENS)? */
bool cl_fsm_token_seen(struct cl_fsm *fsm, const char *db, uint64_t token);

/* Does db (live) wait for a fetch (its local file is not a valid copy)? */
bool cl_fsm_db_needs_fetch(struct cl_fsm *fsm, const char *db);

/* Names of databases that need a fetch from a peer, up to max; returns how many exist. */
size_t cl_fsm_needs_fetch(struct cl_fsm *fsm, char (*names)[CL_DBNAME_MAX], size_t max);

/* The caller installed a copy of db consistent with log index `index` in place of the local
 * file: clears "needs fetch". MR_EBUSY if index is older than what this node already applied
 * to db (fetch again), MR_ENOTFOUND if db is unknown. */
int cl_fsm_fetch_done(struct cl_fsm *fsm, const char *db, uint64_t index);

#endif

/* cluster_fsm_int.h - private declarations shared by cluster_fsm.c (apply, registry, raft
 * callbacks) and cluster_fsm_disk.c (database files, the durable applied record, the snapshot
 * manifest). Not for use outside raft/cluster_fsm*. */
#ifndef MR_CLUSTER_FSM_INT_H
#define MR_CLUSTER_FSM_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "raft/cluster_fsm.h"

#define CL_FSM_COMP "raft"

/* What the node knows about one database. */
struct cl_dbrec {
	char name[CL_DBNAME_MAX];
	uint64_t applied;  /* the file reflects every entry for this db up to this index */
	bool live;         /* false: deleted (tombstone kept until the next sync point) */
	bool needs_fetch;  /* the local file is not a valid copy: fetch it from a peer */
	bool dirty;        /* written since the last sync point */
	bool seen;         /* scratch for restore */
	uint32_t n_tokens; /* valid entries in tokens[] */
	uint32_t tok_next; /* ring position of the next token */
	uint64_t tokens[CL_FSM_TOKENS];
};

struct cl_fsm {
	struct raft_fsm rfsm;
	struct raft *raft;
	char *db_dir;   /* <data_dir>/db */
	char *raft_dir; /* <data_dir>/raft */
	unsigned sync_every;
	unsigned since_sync;
	bool dir_dirty; /* a create/delete since the last sync point */
	cl_fsm_applied_cb applied_cb;
	cl_fsm_claim_cb claim_cb;
	void *cb_arg;
	struct cl_dbrec **recs; /* sorted by name */
	size_t n_recs, cap_recs;
	struct cl_fsm_stats st;
	struct cl_fsm_result res; /* handed to raft_apply_cb as `result` */
	/* memory bound: log bytes applied since the last snapshot; past snapshot_bytes the raft
	 * snapshot threshold is lowered to 1 until the next snapshot (libraft 0.15 only counts
	 * entries) */
	uint64_t snapshot_bytes, bytes_since_snapshot;
	unsigned saved_threshold; /* 0: not lowered */
};

/* Registry (cluster_fsm.c). */
struct cl_dbrec *cl__fsm_find(struct cl_fsm *fsm, const char *name);
struct cl_dbrec *cl__fsm_insert(struct cl_fsm *fsm, const char *name);
void cl__fsm_drop_tombstones(struct cl_fsm *fsm);

/* Files (cluster_fsm_disk.c). Paths are <db_dir>/<name><ext>. All return 0 or MR_EIO. */
char *cl__fsm_path(const struct cl_fsm *fsm, const char *name, const char *ext);
int cl__fsm_write_pages(struct cl_fsm *fsm, const struct cl_frames *s, bool create);
int cl__fsm_write_key(struct cl_fsm *fsm, const char *name, const uint8_t *p, size_t n);
int cl__fsm_remove_db(struct cl_fsm *fsm, const char *name);
/* Page count of the local file (0 if absent), or MR_EIO. */
int64_t cl__fsm_file_pages(const struct cl_fsm *fsm, const char *name);

/* Applied record: load (absent: empty) / save atomically. MR_ECORRUPT, MR_EIO. */
int cl__fsm_load_applied(struct cl_fsm *fsm);
int cl__fsm_save_applied(struct cl_fsm *fsm);

/* Snapshot manifest of the live databases at index (raft_malloc'd). */
void cl__fsm_manifest_encode(struct cl_fsm *fsm, uint64_t index, struct raft_buffer *buf_r);
struct cl_manifest_db {
	char name[CL_DBNAME_MAX];
	uint32_t page_count;
	uint64_t last_modified;
};
/* Decode a manifest: *dbs_r (xmalloc'd array of *n_r) and the snapshot index. MR_ECORRUPT. */
int cl__fsm_manifest_decode(const void *p, size_t len, uint64_t *index_r,
                            struct cl_manifest_db **dbs_r, size_t *n_r);

uint32_t cl__crc32(const uint8_t *p, size_t n);

#endif

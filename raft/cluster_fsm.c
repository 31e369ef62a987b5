/* cluster_fsm.c - the replicated state machine: the libraft struct raft_fsm (version 2:
 * apply, snapshot, snapshot_finalize, restore), the per-database registry (sorted array of
 * records: applied index, live/needs-fetch flags, the ring of recent client tokens), and the
 * apply rules of cluster_fsm.h. Entry types are dispatched through a table; each handler
 * returns a cl_apply_result or MR_EIO. Disk formats and file writes are in cluster_fsm_disk.c. */
#include "raft/cluster_fsm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#define DEFAULT_SYNC_EVERY 256u

/* ---- registry ------------------------------------------------------------------------------ */

static size_t lower_bound(struct cl_fsm *fsm, const char *name)
{
	size_t lo = 0, hi = fsm->n_recs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(fsm->recs[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct cl_dbrec *cl__fsm_find(struct cl_fsm *fsm, const char *name)
{
	size_t i = lower_bound(fsm, name);
	return i < fsm->n_recs && strcmp(fsm->recs[i]->name, name) == 0 ? fsm->recs[i] : NULL;
}

struct cl_dbrec *cl__fsm_insert(struct cl_fsm *fsm, const char *name)
{
	size_t i = lower_bound(fsm, name);
	if (fsm->n_recs == fsm->cap_recs) {
		fsm->cap_recs = fsm->cap_recs ? 2 * fsm->cap_recs : 16;
		fsm->recs = xrealloc(fsm->recs, fsm->cap_recs * sizeof(*fsm->recs));
	}
	memmove(&fsm->recs[i + 1], &fsm->recs[i], (fsm->n_recs - i) * sizeof(*fsm->recs));
	struct cl_dbrec *r = xmalloc(sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	fsm->recs[i] = r;
	fsm->n_recs++;
	return r;
}

void cl__fsm_drop_tombstones(struct cl_fsm *fsm)
{
	size_t w = 0;
	for (size_t i = 0; i < fsm->n_recs; i++) {
		if (fsm->recs[i]->live)
			fsm->recs[w++] = fsm->recs[i];
		else
			free(fsm->recs[i]);
	}
	fsm->n_recs = w;
}

static bool token_in(const struct cl_dbrec *r, uint64_t token)
{
	for (uint32_t i = 0; i < r->n_tokens; i++)
		if (r->tokens[i] == token)
			return true;
	return false;
}

static void token_add(struct cl_dbrec *r, uint64_t token)
{
	if (token == 0)
		return;
	r->tokens[r->tok_next] = token;
	r->tok_next = (r->tok_next + 1) % CL_FSM_TOKENS;
	if (r->n_tokens < CL_FSM_TOKENS)
		r->n_tokens++;
}

/* The entry at index (token) changed r's file. */
static void mark(struct cl_dbrec *r, uint64_t index, uint64_t token)
{
	r->applied = index;
	r->dirty = true;
	token_add(r, token);
}

/* ---- apply --------------------------------------------------------------------------------- */

static int apply_noop(struct cl_fsm *fsm, uint64_t index, const struct cl_entry *e)
{
	(void)fsm, (void)index, (void)e;
	return CL_APPLY_OK;
}

static int apply_frames(struct cl_fsm *fsm, uint64_t index, const struct cl_entry *e)
{
	struct cl_dbrec *recs[CL_ENTRY_MAX_SETS];
	bool any = false;
	for (unsigned i = 0; i < e->n_sets; i++) {
		recs[i] = cl__fsm_find(fsm, e->sets[i].db);
		if (!recs[i] || !recs[i]->live) {
			log_warn(CL_FSM_COMP, "fsm frames for unknown database db=%s index=%llu",
			         e->sets[i].db, (unsigned long long)index);
			return CL_APPLY_REJECTED; /* nothing written: the entry is all or nothing */
		}
		any |= recs[i]->applied < index;
	}
	if (!any)
		return CL_APPLY_SKIPPED;
	/* Optimistic replication (cluster_engine.h): a set built on another state than the
	 * database's applied index loses; the whole entry is rejected on every node alike. */
	for (unsigned i = 0; i < e->n_sets; i++) {
		if (e->sets[i].has_base && recs[i]->applied < index &&
		    recs[i]->applied != e->sets[i].base_index)
			return CL_APPLY_REJECTED;
	}
	for (unsigned i = 0; i < e->n_sets; i++) {
		if (recs[i]->applied >= index)
			continue; /* this copy was fetched at a later index */
		int rc = fsm->claim_cb && !recs[i]->needs_fetch
		             ? fsm->claim_cb(fsm->cb_arg, &e->sets[i], index, e->token)
		             : 0;
		if (rc == 1)
			fsm->st.claimed++;
		else if (rc == 0)
			rc = cl__fsm_write_pages(fsm, &e->sets[i], false);
		if (rc < 0)
			return MR_EIO;
		mark(recs[i], index, e->token);
	}
	return CL_APPLY_OK;
}

static int apply_create(struct cl_fsm *fsm, uint64_t index, const struct cl_entry *e)
{
	const struct cl_frames *s = &e->sets[0];
	struct cl_dbrec *r = cl__fsm_find(fsm, s->db);
	if (r && r->live) {
		log_warn(CL_FSM_COMP, "fsm create of an existing database db=%s index=%llu", s->db,
		         (unsigned long long)index);
		return CL_APPLY_REJECTED;
	}
	int rc = cl__fsm_remove_db(fsm, s->db); /* stale -wal/-shm of an earlier life */
	if (rc == 0)
		rc = cl__fsm_write_key(fsm, s->db, s->key_file, s->key_file_len);
	if (rc == 0)
		rc = cl__fsm_write_pages(fsm, s, true);
	if (rc != 0)
		return rc;
	if (!r)
		r = cl__fsm_insert(fsm, s->db);
	r->live = true;
	r->needs_fetch = false;
	fsm->dir_dirty = true;
	mark(r, index, e->token);
	return CL_APPLY_OK;
}

static int apply_delete(struct cl_fsm *fsm, uint64_t index, const struct cl_entry *e)
{
	struct cl_dbrec *r = cl__fsm_find(fsm, e->sets[0].db);
	if (!r || !r->live) {
		log_warn(CL_FSM_COMP, "fsm delete of an unknown database db=%s index=%llu",
		         e->sets[0].db, (unsigned long long)index);
		return CL_APPLY_REJECTED;
	}
	int rc = cl__fsm_remove_db(fsm, r->name);
	if (rc != 0)
		return rc;
	r->live = false;
	r->needs_fetch = false;
	fsm->dir_dirty = true;
	mark(r, index, e->token);
	return CL_APPLY_OK;
}

typedef int (*apply_fn)(struct cl_fsm *fsm, uint64_t index, const struct cl_entry *e);
static const apply_fn apply_table[] = {
    [CL_ENTRY_NOOP] = apply_noop,
    [CL_ENTRY_FRAMES] = apply_frames,
    [CL_ENTRY_CREATE_DB] = apply_create,
    [CL_ENTRY_DELETE_DB] = apply_delete,
};

static void notify(struct cl_fsm *fsm, const struct cl_entry *e, uint64_t index,
                   enum cl_apply_result res)
{
	switch (res) {
	case CL_APPLY_OK:
		fsm->st.applied++;
		break;
	case CL_APPLY_DUPLICATE:
		fsm->st.duplicates++;
		break;
	case CL_APPLY_SKIPPED:
		fsm->st.skipped++;
		break;
	case CL_APPLY_REJECTED:
		fsm->st.rejected++;
		break;
	}
	fsm->res.index = index;
	fsm->res.result = res;
	if (!fsm->applied_cb)
		return;
	if (!e || e->n_sets == 0)
		fsm->applied_cb(fsm->cb_arg, NULL, index, e ? e->token : 0, res);
	for (unsigned i = 0; e && i < e->n_sets; i++)
		fsm->applied_cb(fsm->cb_arg, e->sets[i].db, index, e->token, res);
}

int cl_fsm_apply_at(struct cl_fsm *fsm, uint64_t index, const void *data, size_t len)
{
	if (index <= fsm->st.last_index) {
		/* Replay of an entry already applied (and synced) before a restart. */
		notify(fsm, NULL, index, CL_APPLY_SKIPPED);
		return 0;
	}
	struct cl_entry e;
	int res;
	if (cl_entry_decode(data, len, &e) != 0) {
		log_error(CL_FSM_COMP, "fsm undecodable entry index=%llu len=%zu",
		          (unsigned long long)index, len);
		notify(fsm, NULL, index, CL_APPLY_REJECTED);
		fsm->st.last_index = index;
		return 0;
	}
	struct cl_dbrec *first = e.n_sets ? cl__fsm_find(fsm, e.sets[0].db) : NULL;
	if (e.token != 0 && first && token_in(first, e.token))
		res = CL_APPLY_DUPLICATE;
	else
		res = apply_table[e.type](fsm, index, &e);
	if (res < 0) {
		/* Local I/O failure: the entry is not applied; raft stops here (node unavailable
		 * until restart, which replays it). */
		cl_entry_free(&e);
		return res;
	}
	fsm->st.last_index = index;
	notify(fsm, &e, index, (enum cl_apply_result)res);
	cl_entry_free(&e);
	if (++fsm->since_sync >= fsm->sync_every)
		return cl_fsm_sync(fsm);
	return 0;
}

int cl_fsm_sync(struct cl_fsm *fsm)
{
	int rv = cl__fsm_save_applied(fsm);
	if (rv != 0)
		return rv;
	cl__fsm_drop_tombstones(fsm);
	for (size_t i = 0; i < fsm->n_recs; i++)
		fsm->recs[i]->dirty = false;
	fsm->dir_dirty = false;
	fsm->since_sync = 0;
	fsm->st.durable_index = fsm->st.last_index;
	fsm->st.syncs++;
	return 0;
}

/* ---- raft_fsm callbacks -------------------------------------------------------------------- */

static uint64_t current_index(struct cl_fsm *fsm)
{
	return fsm->raft ? (uint64_t)raft_last_applied(fsm->raft) : fsm->st.last_index;
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
	struct cl_fsm *fsm = rf->data;
	/* libraft 0.15 applies entries in order and sets last_applied after each one, so the
	 * entry being applied is last_applied + 1 (src/replication.c replicationApply). */
	int rv = cl_fsm_apply_at(fsm, current_index(fsm) + 1, buf->base, buf->len);
	*result = &fsm->res;
	fsm->bytes_since_snapshot += buf->len;
	if (fsm->raft && fsm->snapshot_bytes && !fsm->saved_threshold &&
	    fsm->bytes_since_snapshot >= fsm->snapshot_bytes) {
		fsm->saved_threshold = fsm->raft->snapshot.threshold;
		raft_set_snapshot_threshold(fsm->raft, 1); /* snapshot after this entry */
	}
	return rv == 0 ? 0 : RAFT_IOERR;
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct cl_fsm *fsm = rf->data;
	/* Make every file at least as new as the snapshot index durable first (§7.5). */
	if (cl_fsm_sync(fsm) != 0)
		return RAFT_IOERR;
	struct raft_buffer *b = raft_malloc(sizeof(*b));
	if (!b)
		abort(); /* OOM policy */
	cl__fsm_manifest_encode(fsm, current_index(fsm), b);
	*bufs = b;
	*n_bufs = 1;
	fsm->bytes_since_snapshot = 0;
	if (fsm->saved_threshold && fsm->raft) {
		raft_set_snapshot_threshold(fsm->raft, fsm->saved_threshold);
		fsm->saved_threshold = 0;
	}
	return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	(void)rf;
	if (*bufs) {
		for (unsigned i = 0; i < *n_bufs; i++)
			raft_free((*bufs)[i].base);
		raft_free(*bufs);
	}
	*bufs = NULL;
	*n_bufs = 0;
	return 0;
}

/* Same node (or a node already past the snapshot): local knowledge is newer than the manifest.
 * A database the node knows must have its file, exactly as in the snapshot when nothing touched
 * it since (a later entry may have resized it); one it does not know was deleted after. */
static void verify_one(struct cl_fsm *fsm, const struct cl_manifest_db *m)
{
	struct cl_dbrec *r = cl__fsm_find(fsm, m->name);
	if (!r || !r->live)
		return;
	int64_t pages = cl__fsm_file_pages(fsm, m->name);
	if ((r->applied == m->last_modified && pages != (int64_t)m->page_count) ||
	    (m->page_count > 0 && pages <= 0)) {
		log_error(CL_FSM_COMP, "fsm restore: file differs from the snapshot db=%s",
		          m->name);
		r->needs_fetch = true;
		r->dirty = true;
	}
}

/* Lagging or new node (InstallSnapshot): a database modified after what the node holds, or
 * unknown to it, needs a fetch from a peer. */
static void catch_up_one(struct cl_fsm *fsm, const struct cl_manifest_db *m)
{
	struct cl_dbrec *r = cl__fsm_find(fsm, m->name);
	if (!r)
		r = cl__fsm_insert(fsm, m->name);
	if (!r->live) {
		r->live = true;
		r->applied = 0;
		r->needs_fetch = true;
	} else if (r->applied < m->last_modified) {
		r->needs_fetch = true;
	}
	if (r->needs_fetch) {
		log_info(CL_FSM_COMP, "fsm database needs fetch db=%s modified=%llu local=%llu",
		         m->name, (unsigned long long)m->last_modified,
		         (unsigned long long)r->applied);
		r->applied = m->last_modified; /* validate later entries like every node does */
	}
	r->seen = true;
	r->dirty = true;
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
	struct cl_fsm *fsm = rf->data;
	struct cl_manifest_db *dbs;
	size_t n;
	uint64_t index;
	if (cl__fsm_manifest_decode(buf->base, buf->len, &index, &dbs, &n) != 0) {
		log_error(CL_FSM_COMP, "fsm restore: malformed manifest len=%zu", buf->len);
		return RAFT_MALFORMED;
	}
	bool behind = fsm->st.last_index < index;
	for (size_t i = 0; i < fsm->n_recs; i++)
		fsm->recs[i]->seen = false;
	for (size_t i = 0; i < n; i++)
		(behind ? catch_up_one : verify_one)(fsm, &dbs[i]);
	free(dbs);
	/* Behind: local databases the snapshot does not know were deleted before its index. */
	for (size_t i = 0; behind && i < fsm->n_recs; i++) {
		struct cl_dbrec *r = fsm->recs[i];
		if (r->seen || !r->live)
			continue;
		log_info(CL_FSM_COMP, "fsm restore: removing db=%s absent from the snapshot",
		         r->name);
		if (cl__fsm_remove_db(fsm, r->name) != 0)
			return RAFT_IOERR;
		r->live = false;
		fsm->dir_dirty = true;
	}
	if (behind)
		fsm->st.last_index = index;
	if (cl_fsm_sync(fsm) != 0)
		return RAFT_IOERR;
	raft_free(buf->base);
	return 0;
}

/* ---- lifecycle and queries ----------------------------------------------------------------- */

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		log_error(CL_FSM_COMP, "fsm mkdir failed path=%s err=%s", path, strerror(errno));
		return MR_EIO;
	}
	return 0;
}

int cl_fsm_open(const struct cl_fsm_config *cfg, struct cl_fsm **fsm_r)
{
	struct cl_fsm *fsm = xmalloc(sizeof(*fsm));
	int rv;
	fsm->db_dir = xasprintf("%s/db", cfg->data_dir);
	fsm->raft_dir = xasprintf("%s/raft", cfg->data_dir);
	fsm->sync_every = cfg->sync_every ? cfg->sync_every : DEFAULT_SYNC_EVERY;
	fsm->snapshot_bytes = cfg->snapshot_bytes ? cfg->snapshot_bytes : CL_FSM_SNAPSHOT_BYTES;
	fsm->applied_cb = cfg->applied_cb;
	fsm->claim_cb = cfg->claim_cb;
	fsm->cb_arg = cfg->cb_arg;
	fsm->rfsm.version = 2;
	fsm->rfsm.data = fsm;
	fsm->rfsm.apply = fsm_apply;
	fsm->rfsm.snapshot = fsm_snapshot;
	fsm->rfsm.restore = fsm_restore;
	fsm->rfsm.snapshot_finalize = fsm_snapshot_finalize;
	fsm->rfsm.snapshot_async = NULL;
	if ((rv = make_dir(cfg->data_dir)) != 0 || (rv = make_dir(fsm->db_dir)) != 0 ||
	    (rv = make_dir(fsm->raft_dir)) != 0 || (rv = cl__fsm_load_applied(fsm)) != 0)
		goto err;
	*fsm_r = fsm;
	return 0;
err:
	cl__fsm_drop_tombstones(fsm);
	for (size_t i = 0; i < fsm->n_recs; i++)
		free(fsm->recs[i]);
	free(fsm->recs);
	free(fsm->db_dir);
	free(fsm->raft_dir);
	free(fsm);
	return rv;
}

struct raft_fsm *cl_fsm_raft_fsm(struct cl_fsm *fsm)
{
	return &fsm->rfsm;
}

void cl_fsm_attach(struct cl_fsm *fsm, struct raft *r)
{
	fsm->raft = r;
}

void cl_fsm_close(struct cl_fsm **fsmp)
{
	struct cl_fsm *fsm = *fsmp;
	if (!fsm)
		return;
	if (cl_fsm_sync(fsm) != 0)
		log_error(CL_FSM_COMP, "fsm close: final sync failed (the log will be replayed)");
	for (size_t i = 0; i < fsm->n_recs; i++)
		free(fsm->recs[i]);
	free(fsm->recs);
	free(fsm->db_dir);
	free(fsm->raft_dir);
	free(fsm);
	*fsmp = NULL;
}

void cl_fsm_get_stats(struct cl_fsm *fsm, struct cl_fsm_stats *st_r)
{
	*st_r = fsm->st;
	st_r->dbs = 0;
	for (size_t i = 0; i < fsm->n_recs; i++)
		st_r->dbs += fsm->recs[i]->live;
}

int cl_fsm_db_index(struct cl_fsm *fsm, const char *db, uint64_t *index_r)
{
	struct cl_dbrec *r = cl__fsm_find(fsm, db);
	if (!r || !r->live)
		return MR_ENOTFOUND;
	*index_r = r->applied;
	return 0;
}

bool cl_fsm_token_seen(struct cl_fsm *fsm, const char *db, uint64_t token)
{
	struct cl_dbrec *r = cl__fsm_find(fsm, db);
	return token != 0 && r && token_in(r, token);
}

bool cl_fsm_db_needs_fetch(struct cl_fsm *fsm, const char *db)
{
	struct cl_dbrec *r = cl__fsm_find(fsm, db);
	return r && r->live && r->needs_fetch;
}

size_t cl_fsm_needs_fetch(struct cl_fsm *fsm, char (*names)[CL_DBNAME_MAX], size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < fsm->n_recs; i++) {
		const struct cl_dbrec *r = fsm->recs[i];
		if (!r->live || !r->needs_fetch)
			continue;
		if (n < max)
			memcpy(names[n], r->name, CL_DBNAME_MAX);
		n++;
	}
	return n;
}

int cl_fsm_fetch_done(struct cl_fsm *fsm, const char *db, uint64_t index)
{
	struct cl_dbrec *r = cl__fsm_find(fsm, db);
	if (!r || !r->live)
		return MR_ENOTFOUND;
	if (index < r->applied)
		return MR_EBUSY;
	r->applied = index;
	r->needs_fetch = false;
	r->dirty = true;
	fsm->dir_dirty = true;
	return 0;
}

/* replicate.c - the store side of replication (store.h "replication hook"). With a replicator
 * installed, store_tx_commit() of a captured transaction (repl.h) proposes the transaction's
 * pages with the database's base index and a random client token, then waits on its actor
 * (store__actor_wait) for the outcome; the log-applying thread drives the outcome through
 * store_repl_apply / store_repl_note, which run as JOB_REPL requests on the database's actor:
 * promote the proposer's own pending frames, or write a foreign transaction's pages into the
 * file (abort a pending local transaction first: it lost the base index, STORE_ECONFLICT) and
 * make the open connection drop its caches. Every actor records the log index its databases'
 * files reflect (the base of the next transaction) and the tokens it applied lately (so a job
 * re-run after an unknown outcome can tell that its earlier attempt did commit). Database
 * creation is built in a scratch directory with the real name (so the key file is wrapped for
 * it) and proposed as one CREATE_DB: the state machine writes the files on every node.
 */
#include "store_int.h"
#include "storage/repl.h"
#include "common/err.h"
#include "common/log.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store_ticket {
	struct actor *a;        /* its mutex guards the fields below */
	struct store_waiter *w; /* NULL once the waiting side left */
	int refs;
};

enum repl_req_kind {
	REQ_APPLY,
	REQ_NOTE,
	REQ_INDEX_GET,
	REQ_INDEX_SET,
	REQ_CHECKPOINT, /* store_repl_checkpoint (fetch serving side) */
	REQ_INSTALL,    /* store_repl_install (fetching side) */
	REQ_HOLD,       /* store_repl_hold */
};

struct repl_req {
	enum repl_req_kind kind;
	uint64_t index, token;
	bool gone;
	uint32_t page_size, db_size;
	size_t n;
	const uint32_t *pgno;
	const uint8_t *const *pages;
	const char *copy_path; /* REQ_INSTALL */
	const uint8_t *key_file;
	size_t key_len;
	bool hold; /* REQ_HOLD */
};

void store_set_replicator(struct store *st, const struct store_replicator *r, void *ud)
{
	st->repl = r;
	st->repl_ud = ud;
}

/* ---- tickets ------------------------------------------------------------------------------- */

static struct store_ticket *ticket_new(struct actor *a, struct store_waiter *w)
{
	struct store_ticket *t = xmalloc(sizeof *t);
	t->a = a;
	t->w = w;
	t->refs = 2; /* the waiting actor and the replicator */
	return t;
}

static void ticket_put_locked(struct store_ticket *t)
{
	if (--t->refs == 0)
		free(t);
}

void store_ticket_done(struct store_ticket *t, int rv)
{
	struct actor *a = t->a;
	pthread_mutex_lock(&a->mu);
	if (t->w && t->w->rv == 1 && rv < 0) {
		t->w->rv = rv;
		pthread_cond_signal(&a->cond);
	}
	ticket_put_locked(t);
	pthread_mutex_unlock(&a->mu);
}

static void ticket_leave(struct store_ticket *t)
{
	struct actor *a = t->a;
	pthread_mutex_lock(&a->mu);
	t->w = NULL;
	ticket_put_locked(t);
	pthread_mutex_unlock(&a->mu);
}

/* ---- per-actor index and token records ----------------------------------------------------- */

static struct repl_index_ent *index_find(struct actor *a, const char *db, bool add)
{
	for (size_t i = 0; i < a->nridx; i++)
		if (strcmp(a->ridx[i].name, db) == 0)
			return &a->ridx[i];
	if (!add)
		return NULL;
	if (a->nridx == a->capridx) {
		a->capridx = a->capridx ? 2 * a->capridx : 16;
		a->ridx = xrealloc(a->ridx, a->capridx * sizeof *a->ridx);
	}
	struct repl_index_ent *e = &a->ridx[a->nridx++];
	snprintf(e->name, sizeof e->name, "%s", db);
	e->index = 0;
	e->hold = false;
	return e;
}

static uint64_t index_of(struct actor *a, const char *db)
{
	struct repl_index_ent *e = index_find(a, db, false);
	return e ? e->index : 0;
}

static void token_applied(struct actor *a, uint64_t token)
{
	if (token == 0)
		return;
	a->applied_tokens[a->tok_next] = token;
	a->tok_next = (a->tok_next + 1) % STORE_APPLIED_TOKENS;
}

bool store__repl_unknown_applied(struct actor *a, struct store_db *db)
{
	for (unsigned k = 0; k < db->n_unknown; k++)
		for (unsigned i = 0; i < STORE_APPLIED_TOKENS; i++)
			if (a->applied_tokens[i] == db->unknown_tokens[k])
				return true;
	return false;
}

void store__repl_actor_free(struct actor *a)
{
	free(a->ridx);
	a->ridx = NULL;
	a->nridx = a->capridx = 0;
}

static uint64_t new_token(void)
{
	uint64_t t = 0;
	while (t == 0)
		randombytes_buf(&t, sizeof t);
	return t;
}

static bool waiting_for(struct actor *a, const char *db)
{
	return a->waiter && a->waiter->rv == 1 && strcmp(a->waiter->db, db) == 0;
}

/* ---- commit (actor thread) ----------------------------------------------------------------- */

static void reset_stmts(struct store_db *db)
{
	for (size_t i = 0; i < db->nstmts; i++)
		sqlite3_reset(db->stmts[i].stmt);
}

int store__repl_commit(struct store_db *db)
{
	struct store *st = db->st;
	struct repl_index_ent *held = index_find(store__actor_of(st, db->name), db->name, false);
	if (held && held->hold) {
		/* Our files are not a valid replica (awaiting a fetch): a transaction built on
		 * them must not reach the log, even with the right base index. */
		store_tx_rollback(db);
		return MR_EBUSY;
	}
	int rv = store_exec(db, "COMMIT");
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	db->in_tx = false;
	struct repl_tx tx;
	int p = repl_poll(db, &tx);
	if (p == 0)
		return 0; /* nothing written (or capture off): nothing to replicate */
	if (p < 0) {
		(void)repl_abort(db);
		return MR_EIO;
	}
	struct actor *a = store__actor_of(st, db->name);
	struct store_waiter w = {.rv = 1, .token = new_token()};
	snprintf(w.db, sizeof w.db, "%s", db->name);
	struct store_ticket *t = ticket_new(a, &w);
	rv = st->repl->propose(st->repl_ud, db->name, index_of(a, db->name), &tx, w.token, t);
	repl_tx_free(&tx);
	if (rv != 0) {
		t->refs--; /* the replicator never took its reference */
		ticket_leave(t);
		(void)repl_abort(db);
		return rv;
	}
	rv = store__actor_wait(a, &w, STORE_REPL_TIMEOUT_MS);
	ticket_leave(t);
	if (rv != 0) {
		/* Rejected, failed or unknown: the transaction vanishes locally; if it does
		 * commit after all, it comes back through store_repl_apply like a foreign one. */
		if (repl_pending(db) && repl_abort(db) != 0)
			log_error(STORE_COMPONENT, "abort failed db=%s", db->name);
		if (rv == STORE_EUNKNOWN && db->n_unknown < MR_ARRAY_LEN(db->unknown_tokens))
			db->unknown_tokens[db->n_unknown++] = w.token;
		return rv;
	}
	return 0;
}

/* ---- requests from the log-applying thread (actor thread) --------------------------------- */

static int write_foreign(struct store_db *db, const struct repl_req *q)
{
	struct store *st = db->st;
	reset_stmts(db);
	int rv = repl_checkpoint(db, true);
	if (rv == 0)
		rv = repl_disable(db);
	if (rv != 0) {
		log_error(STORE_COMPONENT, "apply: cannot empty the WAL db=%s err=%s", db->name,
		          mr_strerror(rv));
		return MR_EIO;
	}
	char *path = store__db_path(st, db->name, ".db");
	/* no fdatasync here: the state machine marks the database dirty and syncs its file at
	 * its next sync point, before it records the index as durable (cluster_fsm.h); until
	 * then a crash replays the entry from the raft log */
	rv = repl_apply_pagev(path, q->page_size, q->db_size, q->n, q->pgno, q->pages,
	                      REPL_APPLY_NOSYNC);
	free(path);
	int rv2 = repl_invalidate(db);
	int rv3 = repl_enable(db);
	if (rv == 0 && (rv2 != 0 || rv3 != 0))
		rv = MR_EIO;
	if (rv != 0)
		log_error(STORE_COMPONENT,
		          "apply failed db=%s index=%llu pages=%zu db_size=%u err=%s/%s/%s sqlite=%s",
		          db->name, (unsigned long long)q->index, q->n, q->db_size,
		          mr_strerror(rv), mr_strerror(rv2), mr_strerror(rv3), sqlite3_errmsg(db->sql));
	return rv;
}

static struct store_db *open_db_of(struct actor *a, const char *name);

/* A database nobody has open here (a follower of an account served elsewhere): write the
 * pages straight into its file, without opening it. MR_EBUSY when it has a -wal with frames
 * (then the open path checkpoints it first), MR_ENOTFOUND when there is no file. */
static int write_closed(struct actor *a, const char *name, const struct repl_req *q)
{
	char *path = store__db_path(a->st, name, ".db");
	struct stat sb;
	int rv = stat(path, &sb) == 0 ? 0 : MR_ENOTFOUND;
	if (rv == 0)
		rv = repl_apply_pagev(path, q->page_size, q->db_size, q->n, q->pgno, q->pages,
		                      REPL_APPLY_NOSYNC); /* synced at the fsm's sync point */
	free(path);
	return rv;
}

static int do_apply(struct actor *a, const char *name, struct repl_req *q)
{
	struct store_db *db = NULL;
	int rv;
	if (!open_db_of(a, name) && !waiting_for(a, name)) {
		rv = write_closed(a, name, q);
		if (rv == 0) {
			index_find(a, name, true)->index = q->index;
			token_applied(a, q->token);
			store__post(a->st, NULL, NULL, 0, name);
			return 0;
		}
		if (rv != MR_EBUSY)
			return rv;
	}
	rv = store__actor_get_db(a, name, 0, &db);
	if (rv != 0)
		return rv;
	struct store_waiter *w = a->waiter;
	if (waiting_for(a, name) && w->token == q->token && repl_pending(db)) {
		if ((rv = repl_promote(db)) != 0)
			return rv;
		w->rv = 0;
		w->index = q->index;
	} else {
		if (repl_pending(db)) {
			(void)repl_abort(db);
			if (waiting_for(a, name))
				w->rv = STORE_ECONFLICT;
		}
		if ((rv = write_foreign(db, q)) != 0)
			return rv;
	}
	index_find(a, name, true)->index = q->index;
	token_applied(a, q->token);
	store__post(a->st, NULL, NULL, 0, name);
	return 0;
}

static int do_note(struct actor *a, const char *name, struct repl_req *q)
{
	store__actor_close_db(a, name);
	struct repl_index_ent *e = index_find(a, name, true);
	e->index = q->gone ? 0 : q->index;
	if (q->gone)
		e->hold = false; /* nothing left to fetch */
	token_applied(a, q->token);
	if (waiting_for(a, name) && a->waiter->token == q->token) {
		a->waiter->rv = 0;
		a->waiter->index = q->index;
	}
	store__post(a->st, NULL, NULL, 0, name);
	return 0;
}

/* ---- database fetch (actor thread; raft/cluster_fetch.h) ----------------------------------- */

/* db's open connection on this actor, or NULL (never opens). */
static struct store_db *open_db_of(struct actor *a, const char *name)
{
	for (size_t i = 0; i < a->ndbs; i++)
		if (strcmp(a->dbs[i]->name, name) == 0)
			return a->dbs[i];
	return NULL;
}

static bool wal_nonempty(struct store *st, const char *name)
{
	char *p = store__db_path(st, name, ".db-wal");
	struct stat sb;
	bool yes = stat(p, &sb) == 0 && sb.st_size > 0;
	free(p);
	return yes;
}

/* TRUNCATE checkpoint of a connection (capture on or off). 0, MR_EBUSY, MR_EIO. */
static int checkpoint_any(struct store_db *db)
{
	if (db->in_tx || repl_pending(db))
		return MR_EBUSY;
	reset_stmts(db);
	if (repl_enabled(db))
		return repl_checkpoint(db, true);
	int log = -1, ckpt = -1;
	int rc = sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &ckpt);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return MR_EBUSY;
	return rc == SQLITE_OK ? 0 : MR_EIO;
}

static int do_checkpoint(struct actor *a, const char *name, struct repl_req *q)
{
	if (!store_exists(a->st, name))
		return MR_ENOTFOUND;
	struct store_db *db = open_db_of(a, name);
	int rv;
	/* Not open: the -wal is normally gone (checkpointed at close); after a crash it may
	 * still hold committed frames, which opening the database checkpoints. */
	if (!db && wal_nonempty(a->st, name) && (rv = store__actor_get_db(a, name, 0, &db)) != 0)
		return rv;
	if (db && (rv = checkpoint_any(db)) != 0) {
		if (rv != MR_EBUSY)
			log_error(STORE_COMPONENT, "fetch checkpoint failed db=%s err=%s", name,
			          mr_strerror(rv));
		return rv;
	}
	q->index = index_of(a, name);
	return 0;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return MR_EIO;
	int rc = fsync(fd);
	close(fd);
	return rc == 0 ? 0 : MR_EIO;
}

/* Nobody has db open: remove the stale -wal/-shm (everything they held is older than the copy),
 * write the key file atomically, rename the copy over the database file, sync the directory. */
static int install_files(struct store *st, const char *name, const struct repl_req *q)
{
	static const char *const stale[] = {".db-wal", ".db-shm"};
	for (size_t i = 0; i < MR_ARRAY_LEN(stale); i++) {
		char *p = store__db_path(st, name, stale[i]);
		int bad = unlink(p) != 0 && errno != ENOENT;
		free(p);
		if (bad)
			return MR_EIO;
	}
	char *kp = store__db_path(st, name, ".key");
	int rv = store__file_write_atomic(kp, q->key_file, q->key_len);
	free(kp);
	if (rv != 0)
		return rv;
	char *dp = store__db_path(st, name, ".db");
	if (rename(q->copy_path, dp) != 0) {
		log_error(STORE_COMPONENT, "fetch install: rename failed db=%s err=%s", name,
		          strerror(errno));
		rv = MR_EIO;
	}
	free(dp);
	return rv == 0 ? fsync_dir(st->db_dir) : rv;
}

/* Copy src over dst in place (same inode: an open connection keeps working), truncate, sync. */
static int copy_over(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CLOEXEC);
	int rv = in >= 0 && out >= 0 ? 0 : MR_EIO;
	size_t cap = 1u << 20;
	uint8_t *buf = xmalloc(cap);
	off_t off = 0;
	while (rv == 0) {
		ssize_t k = pread(in, buf, cap, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rv = k == 0 ? 0 : MR_EIO;
			break;
		}
		for (ssize_t w = 0; rv == 0 && w < k;) {
			ssize_t n = pwrite(out, buf + w, (size_t)(k - w), off + w);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				rv = MR_EIO;
			else
				w += n;
		}
		off += k;
	}
	free(buf);
	if (rv == 0 && (ftruncate(out, off) != 0 || fdatasync(out) != 0))
		rv = MR_EIO;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rv;
}

/* A job on this actor holds db (it waits in a commit, or backs off between re-runs): the
 * connection cannot be closed under it. Write the copy into the file in place like foreign
 * pages (empty WAL, capture off, write, drop caches, capture back on). */
static int install_in_place(struct store_db *db, const struct repl_req *q)
{
	struct store *st = db->st;
	uint8_t cur[STORE_WRAPPED_LEN + 1];
	size_t cur_len = 0;
	char *kp = store__db_path(st, db->name, ".key");
	int rv = store__file_read(kp, cur, sizeof cur, &cur_len);
	free(kp);
	if (rv != 0 || cur_len != q->key_len || memcmp(cur, q->key_file, cur_len) != 0)
		return MR_EBUSY; /* another key: only a closed connection can switch; retry */
	if ((rv = checkpoint_any(db)) != 0 || (rv = repl_disable(db)) != 0)
		return rv == MR_EBUSY ? MR_EBUSY : MR_EIO;
	char *dp = store__db_path(st, db->name, ".db");
	rv = copy_over(q->copy_path, dp);
	free(dp);
	int rv2 = repl_invalidate(db);
	int rv3 = st->repl ? repl_enable(db) : 0;
	if (rv == 0 && (rv2 != 0 || rv3 != 0))
		rv = MR_EIO;
	if (rv == 0)
		unlink(q->copy_path);
	return rv;
}

static int do_install(struct actor *a, const char *name, struct repl_req *q)
{
	struct store *st = a->st;
	struct store_db *db = open_db_of(a, name);
	if (db && repl_pending(db)) {
		/* A local transaction built on the stale copy: it loses (as against foreign
		 * pages); if its entry still commits it arrives through the log. */
		(void)repl_abort(db);
		if (waiting_for(a, name))
			a->waiter->rv = STORE_ECONFLICT;
	}
	/* a->waiter set: this request runs inside a job's wait, and that job may use db even
	 * when db->in_job is false (re-run back-off), so the connection must stay. */
	if (db && !db->in_job && !a->waiter) {
		store__actor_close_db(a, name);
		db = NULL;
	}
	int rv = db ? install_in_place(db, q) : install_files(st, name, q);
	if (rv != 0) {
		log_error(STORE_COMPONENT, "fetch install failed db=%s err=%s", name,
		          mr_strerror(rv));
		return rv;
	}
	struct repl_index_ent *e = index_find(a, name, true);
	e->index = q->index;
	e->hold = false;
	store__post(st, NULL, NULL, 0, name);
	log_info(STORE_COMPONENT, "fetched copy installed db=%s index=%llu%s", name,
	         (unsigned long long)q->index, db ? " (in place)" : "");
	return 0;
}

int store__repl_run(struct actor *a, struct job *j)
{
	struct repl_req *q = j->req;
	switch (q->kind) {
	case REQ_APPLY:
		return do_apply(a, j->dbname, q);
	case REQ_NOTE:
		return do_note(a, j->dbname, q);
	case REQ_INDEX_GET:
		q->index = index_of(a, j->dbname);
		return 0;
	case REQ_INDEX_SET:
		index_find(a, j->dbname, true)->index = q->index;
		return 0;
	case REQ_CHECKPOINT:
		return do_checkpoint(a, j->dbname, q);
	case REQ_INSTALL:
		return do_install(a, j->dbname, q);
	case REQ_HOLD:
		index_find(a, j->dbname, true)->hold = q->hold;
		return 0;
	}
	return MR_EINVAL;
}

int store_repl_apply(struct store *st, const char *db, uint64_t index, uint64_t token,
                     uint32_t page_size, uint32_t db_size, size_t n, const uint32_t *pgno,
                     const uint8_t *const *pages)
{
	struct repl_req q = {.kind = REQ_APPLY,
	                     .index = index,
	                     .token = token,
	                     .page_size = page_size,
	                     .db_size = db_size,
	                     .n = n,
	                     .pgno = pgno,
	                     .pages = pages};
	return store__repl_submit(st, db, &q);
}

int store_repl_note(struct store *st, const char *db, uint64_t index, uint64_t token, bool gone)
{
	struct repl_req q = {.kind = REQ_NOTE, .index = index, .token = token, .gone = gone};
	return store__repl_submit(st, db, &q);
}

uint64_t store_repl_index(struct store *st, const char *db)
{
	struct repl_req q = {.kind = REQ_INDEX_GET};
	return store__repl_submit(st, db, &q) == 0 ? q.index : 0;
}

void store_repl_set_index(struct store *st, const char *db, uint64_t index)
{
	struct repl_req q = {.kind = REQ_INDEX_SET, .index = index};
	(void)store__repl_submit(st, db, &q);
}

int store_repl_checkpoint(struct store *st, const char *db, uint64_t *index_r)
{
	if (!st || !db || !store__name_valid(db))
		return MR_EINVAL;
	struct repl_req q = {.kind = REQ_CHECKPOINT};
	int rv = store__repl_submit(st, db, &q);
	if (rv == 0 && index_r)
		*index_r = q.index;
	return rv;
}

int store_repl_hold(struct store *st, const char *db, bool hold)
{
	if (!st || !db || !store__name_valid(db))
		return MR_EINVAL;
	struct repl_req q = {.kind = REQ_HOLD, .hold = hold};
	return store__repl_submit(st, db, &q);
}

int store_repl_install(struct store *st, const char *db, uint64_t index, const char *copy_path,
                       const uint8_t *key_file, size_t key_len)
{
	if (!st || !db || !store__name_valid(db) || !copy_path || !key_file || key_len == 0)
		return MR_EINVAL;
	struct repl_req q = {.kind = REQ_INSTALL,
	                     .index = index,
	                     .copy_path = copy_path,
	                     .key_file = key_file,
	                     .key_len = key_len};
	return store__repl_submit(st, db, &q);
}

/* ---- creation (actor thread) --------------------------------------------------------------- */

static void remove_scratch(struct store *scratch, const char *name)
{
	static const char *const exts[] = {".db", ".db-wal", ".db-shm", ".key"};
	for (size_t i = 0; i < MR_ARRAY_LEN(exts); i++) {
		char *p = store__db_path(scratch, name, exts[i]);
		unlink(p);
		free(p);
	}
}

/* Build the database (key, schema) in <data_dir>/create-<actor>/ under its real name, with no
 * replicator (a local commit), checkpoint it into its .db file, and propose both files. */
int store__repl_create(struct actor *a, const char *name)
{
	struct store *st = a->st;
	if (!st->repl->create)
		return MR_EPERM;
	struct store scratch = *st;
	scratch.repl = NULL;
	scratch.async = NULL; /* no commit hook for the scratch copy */
	scratch.db_dir = xasprintf("%s/create-%u", st->data_dir, a->idx);
	if (mkdir(scratch.db_dir, 0700) != 0 && errno != EEXIST) {
		free(scratch.db_dir);
		return MR_EIO;
	}
	remove_scratch(&scratch, name);
	struct store_db *db = NULL;
	uint8_t *key = NULL, *pages = NULL;
	size_t key_len = 0, len = 0;
	int rv = store__db_open(&scratch, name, STORE_CREATE, &db);
	if (rv == 0)
		rv = store_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	store__db_close(&db);
	char *kp = store__db_path(&scratch, name, ".key");
	char *dp = store__db_path(&scratch, name, ".db");
	if (rv == 0)
		rv = mr_read_file(kp, 65536, &key, &key_len);
	if (rv == 0)
		rv = mr_read_file(dp, (size_t)1 << 30, &pages, &len);
	free(kp);
	free(dp);
	remove_scratch(&scratch, name);
	rmdir(scratch.db_dir);
	free(scratch.db_dir);
	const uint32_t ps = 1024; /* SQLCipher 3 default page size (CL_PAGE_SIZE) */
	if (rv == 0 && (len == 0 || len % ps != 0))
		rv = MR_EIO;
	if (rv != 0) {
		log_error(STORE_COMPONENT, "replicated create: build failed db=%s err=%s", name,
		          mr_strerror(rv));
		goto out;
	}
	struct store_waiter w = {.rv = 1, .token = new_token()};
	snprintf(w.db, sizeof w.db, "%s", name);
	struct store_ticket *t = ticket_new(a, &w);
	rv = st->repl->create(st->repl_ud, name, key, key_len, ps, (uint32_t)(len / ps), pages,
	                      w.token, t);
	if (rv != 0) {
		t->refs--;
		ticket_leave(t);
		goto out;
	}
	rv = store__actor_wait(a, &w, STORE_REPL_TIMEOUT_MS);
	ticket_leave(t);
	if (rv == STORE_ECONFLICT && store_exists(st, name))
		rv = 0; /* created concurrently by another node: it exists, which was the point */
out:
	if (key)
		sodium_memzero(key, key_len);
	free(key);
	free(pages);
	return rv;
}

/* ---- removal (actor thread) ---------------------------------------------------------------- */

int store__repl_drop(struct actor *a, const char *name)
{
	struct store *st = a->st;
	if (!store_exists(st, name))
		return MR_ENOTFOUND;
	if (!st->repl->drop)
		return MR_EPERM;
	store__actor_close_db(a, name);
	struct store_waiter w = {.rv = 1, .token = new_token()};
	snprintf(w.db, sizeof w.db, "%s", name);
	struct store_ticket *t = ticket_new(a, &w);
	int rv = st->repl->drop(st->repl_ud, name, w.token, t);
	if (rv != 0) {
		t->refs--;
		ticket_leave(t);
		return rv;
	}
	rv = store__actor_wait(a, &w, STORE_REPL_TIMEOUT_MS);
	ticket_leave(t);
	if (rv == 0)
		log_info(STORE_COMPONENT, "dropped db=%s (replicated)", name);
	return rv;
}

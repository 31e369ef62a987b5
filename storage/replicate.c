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

enum repl_req_kind { REQ_APPLY, REQ_NOTE, REQ_INDEX_GET, REQ_INDEX_SET };

struct repl_req {
	enum repl_req_kind kind;
	uint64_t index, token;
	bool gone;
	uint32_t page_size, db_size;
	size_t n;
	const uint32_t *pgno;
	const uint8_t *const *pages;
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
	rv = repl_apply_pagev(path, q->page_size, q->db_size, q->n, q->pgno, q->pages, 0);
	free(path);
	int rv2 = repl_invalidate(db);
	int rv3 = repl_enable(db);
	if (rv == 0 && (rv2 != 0 || rv3 != 0))
		rv = MR_EIO;
	if (rv != 0)
		log_error(STORE_COMPONENT, "apply failed db=%s err=%s", db->name, mr_strerror(rv));
	return rv;
}

static int do_apply(struct actor *a, const char *name, struct repl_req *q)
{
	struct store_db *db = NULL;
	int rv = store__actor_get_db(a, name, 0, &db);
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
	index_find(a, name, true)->index = q->gone ? 0 : q->index;
	token_applied(a, q->token);
	if (waiting_for(a, name) && a->waiter->token == q->token) {
		a->waiter->rv = 0;
		a->waiter->index = q->index;
	}
	store__post(a->st, NULL, NULL, 0, name);
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

/* ---- creation (actor thread) --------------------------------------------------------------- */

static int read_file(const char *path, uint8_t **buf_r, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return MR_EIO;
	struct stat sb;
	if (fstat(fd, &sb) != 0 || sb.st_size < 0 || sb.st_size > (off_t)(1u << 30)) {
		close(fd);
		return MR_EIO;
	}
	size_t len = (size_t)sb.st_size;
	uint8_t *buf = xmalloc(len ? len : 1);
	size_t off = 0;
	while (off < len) {
		ssize_t k = pread(fd, buf + off, len - off, (off_t)off);
		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			close(fd);
			free(buf);
			return MR_EIO;
		}
		off += (size_t)k;
	}
	close(fd);
	*buf_r = buf;
	*len_r = len;
	return 0;
}

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
		rv = read_file(kp, &key, &key_len);
	if (rv == 0)
		rv = read_file(dp, &pages, &len);
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

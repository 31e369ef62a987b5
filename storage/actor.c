/* actor.c - the store's worker threads. Each actor is a thread with its own FIFO job queue
 * (mutex + condition variable) and a small table of the databases it has open; a database name
 * hashes (FNV-1a) to exactly one actor, so a database is only ever touched by one thread and
 * jobs on one database run in submission order. Results go back to the libuv loop through one
 * uv_async_t and a mutex-protected multi-producer queue of completions (done callbacks and
 * commit-hook calls), drained on the loop thread. store_run blocks its caller on a per-call
 * condition variable instead. Stopping finishes every queued job before the threads exit.
 * Replication requests from the log-applying thread may borrow a parked actor (run on its
 * databases while the actor thread waits) instead of waiting for it to be scheduled.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "storage/repl.h"

/* Upper bound for cfg->actors: more threads than this only adds contention on 2-core nodes. */
#define STORE_ACTORS_MAX 64

struct job_sync {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;
	int rv;
};

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The directory has an actor of its own when there are two or more: every SMTP recipient
 * check and login reads it, and an account's write can hold its actor for a whole raft round
 * trip in cluster mode (store__actor_wait runs only replication requests meanwhile), which
 * would stall every session behind one account's commit. */
static struct actor *actor_for(struct store *st, const char *dbname)
{
	if (st->nactors < 2)
		return &st->actors[0];
	if (strcmp(dbname, STORE_DIRECTORY) == 0)
		return &st->actors[0];
	return &st->actors[1 + name_hash(dbname) % (st->nactors - 1)];
}

static void actor_forget(struct actor *a, size_t i)
{
	store__db_close(&a->dbs[i]);
	a->dbs[i] = a->dbs[--a->ndbs];
	a->dbs[a->ndbs] = NULL;
}

int store__actor_get_db(struct actor *a, const char *dbname, int flags, struct store_db **db_r)
{
	a->tick++;
	for (size_t i = 0; i < a->ndbs; i++) {
		if (strcmp(a->dbs[i]->name, dbname) == 0) {
			struct store_db *db = a->dbs[i];
			db->last_use = a->tick;
			/* Opened before the replicator was installed (store_open's directory). */
			if (a->st->repl && !db->in_tx && !repl_enabled(db)) {
				int rv = repl_enable(db);
				if (rv != 0)
					return rv;
			}
			*db_r = db;
			return 0;
		}
	}
	if (a->ndbs == STORE_ACTOR_MAX_OPEN) {
		/* Never evict a database a job is running on (it may wait for a replicated
		 * commit while this open serves a replication request). */
		size_t lru = a->ndbs;
		for (size_t i = 0; i < a->ndbs; i++)
			if (!a->dbs[i]->in_job &&
			    (lru == a->ndbs || a->dbs[i]->last_use < a->dbs[lru]->last_use))
				lru = i;
		if (lru == a->ndbs)
			return MR_EBUSY;
		actor_forget(a, lru);
	}
	int rv;
	if (a->st->repl && (flags & STORE_CREATE) && !store_exists(a->st, dbname)) {
		/* Replicated creation: the database appears through the log (CREATE_DB). */
		if ((rv = store__repl_create(a, dbname)) != 0)
			return rv;
		flags &= ~STORE_CREATE;
	}
	struct store_db *db = NULL;
	rv = store__db_open(a->st, dbname, flags, &db);
	if (rv != 0)
		return rv;
	if (a->st->repl && (rv = repl_enable(db)) != 0) {
		log_error(STORE_COMPONENT, "capture mode failed db=%s err=%s", dbname,
		          mr_strerror(rv));
		store__db_close(&db);
		return rv;
	}
	db->last_use = a->tick;
	a->dbs[a->ndbs++] = db;
	*db_r = db;
	return 0;
}

void store__actor_close_db(struct actor *a, const char *dbname)
{
	for (size_t i = 0; i < a->ndbs; i++) {
		if (strcmp(a->dbs[i]->name, dbname) == 0) {
			if (!a->dbs[i]->in_job)
				actor_forget(a, i);
			return;
		}
	}
}

struct actor *store__actor_of(struct store *st, const char *dbname)
{
	return actor_for(st, dbname);
}

static int do_drop(struct actor *a, const char *dbname)
{
	if (a->st->repl)
		return store__repl_drop(a, dbname); /* a DELETE_DB entry removes it everywhere */
	for (size_t i = 0; i < a->ndbs; i++) {
		if (strcmp(a->dbs[i]->name, dbname) == 0) {
			actor_forget(a, i);
			break;
		}
	}
	char *path = store__db_path(a->st, dbname, ".db");
	struct stat sb;
	bool exists = stat(path, &sb) == 0;
	free(path);
	if (!exists)
		return MR_ENOTFOUND;
	/* Database first, key last: a crash in between leaves only a harmless stray key. */
	static const char *const exts[] = {".db", ".db-wal", ".db-shm", ".key"};
	int rv = 0;
	for (size_t i = 0; i < MR_ARRAY_LEN(exts); i++) {
		path = store__db_path(a->st, dbname, exts[i]);
		if (unlink(path) != 0 && i == 0)
			rv = MR_EIO;
		free(path);
	}
	log_info(STORE_COMPONENT, "dropped db=%s", dbname);
	return rv;
}

void store__job_cleanup(struct store_db *db)
{
	if (db->in_tx) {
		log_warn(STORE_COMPONENT, "job left a transaction open db=%s", db->name);
		store_tx_rollback(db);
	}
	/* No cached statement may keep a read snapshot past its job. */
	for (size_t i = 0; i < db->nstmts; i++)
		sqlite3_reset(db->stmts[i].stmt);
}

/* Run a job's function; with a replicator, re-run it after a conflict or an unknown outcome
 * (bounded, with a short random back-off during which replication requests still run). */
int store__run_fn(struct actor *a, struct job *j, struct store_db *db, bool keep_unknown)
{
	int rv;
	if (!keep_unknown)
		db->n_unknown = 0;
	uint64_t started = mr_now_ms();
	for (unsigned attempt = 0;; attempt++) {
		db->in_job = true;
		rv = j->fn(db, j->arg);
		store__job_cleanup(db);
		db->in_job = false;
		if (!a->st->repl || (rv != STORE_ECONFLICT && rv != STORE_EUNKNOWN))
			break;
		if (store__repl_unknown_applied(a, db)) {
			rv = 0; /* an earlier attempt's entry did commit */
			break;
		}
		/* enough attempts AND long enough to ride out an election */
		if (attempt + 1 >= STORE_REPL_RETRIES &&
		    mr_now_ms() - started >= STORE_REPL_RETRY_WINDOW_MS)
			break;
		struct store_waiter w = {.rv = 1};
		unsigned ms = 1 + randombytes_uniform(attempt < 8 ? 2u + attempt * 2u : 40u);
		/* the connection stays the job's during the back-off: replication requests run
		 * meanwhile and must not close it under the next attempt */
		db->in_job = true;
		(void)store__actor_wait(a, &w, (int)ms);
		db->in_job = false;
		if (store__repl_unknown_applied(a, db)) {
			rv = 0;
			break;
		}
	}
	return rv;
}

static void run_job(struct actor *a, struct job *j)
{
	int rv;
	if (j->kind == JOB_DROP) {
		rv = do_drop(a, j->dbname);
	} else if (j->kind == JOB_REPL) {
		rv = store__repl_run(a, j);
	} else {
		struct store_db *db = NULL;
		rv = store__actor_get_db(a, j->dbname, j->flags, &db);
		if (rv == 0)
			rv = store__run_fn(a, j, db, false);
	}
	store__job_finish(a, j, rv);
}

void store__job_finish(struct actor *a, struct job *j, int rv)
{
	if (j->sync) {
		pthread_mutex_lock(&j->sync->mu);
		j->sync->rv = rv;
		j->sync->done = true;
		pthread_cond_signal(&j->sync->cond);
		pthread_mutex_unlock(&j->sync->mu);
	} else if (j->done) {
		store__post(a->st, j->done, j->arg, rv, NULL);
	}
}

static bool take_repl_peek(struct actor *a)
{
	for (struct job *j = a->head; j; j = j->next)
		if (j->kind == JOB_REPL)
			return true;
	return false;
}

/* Unlink the first JOB_REPL request of the queue (caller holds a->mu). */
static struct job *take_repl(struct actor *a)
{
	struct job *prev = NULL;
	for (struct job *j = a->head; j; prev = j, j = j->next) {
		if (j->kind != JOB_REPL)
			continue;
		if (prev)
			prev->next = j->next;
		else
			a->head = j->next;
		if (a->tail == j)
			a->tail = prev;
		j->next = NULL;
		return j;
	}
	return NULL;
}

/* Wait on the actor's condition (a->mu held), open to borrowing meanwhile (see
 * store__repl_submit). dl: absolute deadline, or NULL. */
static int park(struct actor *a, const struct timespec *dl)
{
	a->parked = true;
	int rc = dl ? pthread_cond_timedwait(&a->cond, &a->mu, dl)
	            : pthread_cond_wait(&a->cond, &a->mu);
	a->parked = false;
	return rc;
}

int store__actor_wait(struct actor *a, struct store_waiter *w, int timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	struct store_waiter *saved = a->waiter;
	a->waiter = w;
	pthread_mutex_lock(&a->mu);
	int rv = 0;
	for (;;) {
		if (a->borrowed) { /* a replication request runs on our databases: wait it out */
			park(a, NULL);
			continue;
		}
		if (w->rv != 1)
			break;
		struct job *j = take_repl(a);
		if (j) {
			pthread_mutex_unlock(&a->mu);
			run_job(a, j);
			free(j);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		if (park(a, &dl) == ETIMEDOUT && !a->borrowed && w->rv == 1 && !take_repl_peek(a)) {
			rv = STORE_EUNKNOWN;
			break;
		}
	}
	if (rv == 0)
		rv = w->rv;
	pthread_mutex_unlock(&a->mu);
	a->waiter = saved;
	return rv;
}

static void *actor_main(void *arg)
{
	struct actor *a = arg;
	struct job *group[STORE_GROUP_MAX];
	for (;;) {
		size_t n = 0;
		pthread_mutex_lock(&a->mu);
		while ((!a->head && !a->stop) || a->borrowed)
			(void)park(a, NULL);
		struct job *j = a->head;
		if (j) {
			a->head = j->next;
			if (!a->head)
				a->tail = NULL;
			/* group commit only pays where a commit waits for a raft round trip */
			if (j->kind == JOB_RUN && (j->flags & STORE_GROUP) && a->st->repl)
				n = store__group_take(a, j, group + 1, STORE_GROUP_MAX);
		}
		pthread_mutex_unlock(&a->mu);
		if (!j)
			break; /* stop requested and the queue is empty */
		if (n > 0) {
			group[0] = j;
			store__group_run(a, group, n + 1);
			continue;
		}
		run_job(a, j);
		free(j);
	}
	while (a->ndbs > 0)
		actor_forget(a, a->ndbs - 1);
	store__repl_actor_free(a);
	return NULL;
}

int store__actors_start(struct store *st)
{
	if (st->nactors == 0)
		st->nactors = 2;
	if (st->nactors > STORE_ACTORS_MAX)
		st->nactors = STORE_ACTORS_MAX;
	st->actors = xcalloc(st->nactors, sizeof *st->actors);
	for (unsigned i = 0; i < st->nactors; i++) {
		struct actor *a = &st->actors[i];
		a->st = st;
		a->idx = i;
		pthread_mutex_init(&a->mu, NULL);
		pthread_cond_init(&a->cond, NULL);
		if (pthread_create(&a->thr, NULL, actor_main, a) != 0) {
			log_error(STORE_COMPONENT, "pthread_create failed actor=%u", i);
			return MR_EIO;
		}
		a->started = true;
	}
	return 0;
}

void store__actors_stop(struct store *st)
{
	if (!st->actors)
		return;
	for (unsigned i = 0; i < st->nactors; i++) {
		struct actor *a = &st->actors[i];
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->mu);
	}
	for (unsigned i = 0; i < st->nactors; i++) {
		struct actor *a = &st->actors[i];
		if (a->started)
			pthread_join(a->thr, NULL);
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cond);
	}
	free(st->actors);
	st->actors = NULL;
}

static bool on_actor_thread(struct store *st)
{
	pthread_t self = pthread_self();
	for (unsigned i = 0; i < st->nactors; i++)
		if (st->actors[i].started && pthread_equal(st->actors[i].thr, self))
			return true;
	return false;
}

static int enqueue(struct store *st, struct job *j)
{
	struct actor *a = actor_for(st, j->dbname);
	pthread_mutex_lock(&a->mu);
	if (a->stop) {
		pthread_mutex_unlock(&a->mu);
		return MR_ECLOSED;
	}
	if (j->kind == JOB_REPL) {
		/* Replication requests overtake queued jobs (after other such requests). */
		struct job **pp = &a->head;
		while (*pp && (*pp)->kind == JOB_REPL)
			pp = &(*pp)->next;
		j->next = *pp;
		*pp = j;
		if (!j->next)
			a->tail = j;
	} else if (a->tail) {
		a->tail->next = j;
		a->tail = j;
	} else {
		a->head = j;
		a->tail = j;
	}
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int store_submit(struct store *st, const char *dbname, int flags, store_job_fn fn,
                 store_done_fn done, void *arg)
{
	if (!st || !dbname || !fn || !store__name_valid(dbname))
		return MR_EINVAL;
	if (done && !st->async)
		return MR_EINVAL; /* opened without a loop: completions cannot be delivered */
	struct job *j = xmalloc(sizeof *j);
	j->kind = JOB_RUN;
	snprintf(j->dbname, sizeof j->dbname, "%s", dbname);
	j->flags = flags;
	j->fn = fn;
	j->done = done;
	j->arg = arg;
	int rv = enqueue(st, j);
	if (rv != 0)
		free(j);
	return rv;
}

static int run_sync(struct store *st, struct job *j)
{
	if (on_actor_thread(st)) {
		log_error(STORE_COMPONENT, "store_run called from an actor thread db=%s",
		          j->dbname);
		free(j);
		return MR_EINVAL;
	}
	struct job_sync sync = {.done = false};
	pthread_mutex_init(&sync.mu, NULL);
	pthread_cond_init(&sync.cond, NULL);
	j->sync = &sync;
	int rv = enqueue(st, j);
	if (rv != 0) {
		free(j);
	} else {
		pthread_mutex_lock(&sync.mu);
		while (!sync.done)
			pthread_cond_wait(&sync.cond, &sync.mu);
		rv = sync.rv;
		pthread_mutex_unlock(&sync.mu);
	}
	pthread_mutex_destroy(&sync.mu);
	pthread_cond_destroy(&sync.cond);
	return rv;
}

int store_run(struct store *st, const char *dbname, int flags, store_job_fn fn, void *arg)
{
	if (!st || !dbname || !fn || !store__name_valid(dbname))
		return MR_EINVAL;
	struct job *j = xmalloc(sizeof *j);
	j->kind = JOB_RUN;
	snprintf(j->dbname, sizeof j->dbname, "%s", dbname);
	j->flags = flags;
	j->fn = fn;
	j->arg = arg;
	return run_sync(st, j);
}

/* A replication request comes from the log-applying thread, which must not wait for the actor
 * to be scheduled (under load that wake-up is most of a raft round trip). When the actor is
 * parked (idle, or waiting for a commit) and no other replication request is queued ahead, the
 * caller borrows it: runs the request itself on the actor's databases while the actor cannot
 * run (it waits until the borrow ends, then sees what the request changed). Otherwise the
 * request is queued and the caller waits for it as before. */
static bool borrow(struct actor *a)
{
	pthread_mutex_lock(&a->mu);
	bool ok = a->parked && !a->borrowed && !a->stop && !take_repl_peek(a);
	if (ok)
		a->borrowed = true;
	pthread_mutex_unlock(&a->mu);
	return ok;
}

static void give_back(struct actor *a)
{
	pthread_mutex_lock(&a->mu);
	a->borrowed = false;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
}

int store__repl_submit(struct store *st, const char *dbname, struct repl_req *req)
{
	struct actor *a = actor_for(st, dbname);
	if (!on_actor_thread(st) && borrow(a)) {
		struct job j = {.kind = JOB_REPL, .req = req};
		snprintf(j.dbname, sizeof j.dbname, "%s", dbname);
		int rv = store__repl_run(a, &j);
		give_back(a);
		return rv;
	}
	struct job *j = xcalloc(1, sizeof *j);
	j->kind = JOB_REPL;
	snprintf(j->dbname, sizeof j->dbname, "%s", dbname);
	j->req = req;
	return run_sync(st, j);
}

int store_drop(struct store *st, const char *dbname)
{
	if (!st || !dbname || !store__name_valid(dbname))
		return MR_EINVAL;
	struct job *j = xmalloc(sizeof *j);
	j->kind = JOB_DROP;
	snprintf(j->dbname, sizeof j->dbname, "%s", dbname);
	return run_sync(st, j);
}

void store__post(struct store *st, store_done_fn done, void *arg, int rv, const char *dbname)
{
	if (!st->async)
		return; /* no loop: done was refused at submit; commit hooks have no thread */
	struct cmpl *c = xmalloc(sizeof *c);
	c->done = done;
	c->arg = arg;
	c->rv = rv;
	if (dbname)
		snprintf(c->dbname, sizeof c->dbname, "%s", dbname);
	pthread_mutex_lock(&st->cmpl_mu);
	if (st->cmpl_tail)
		st->cmpl_tail->next = c;
	else
		st->cmpl_head = c;
	st->cmpl_tail = c;
	pthread_mutex_unlock(&st->cmpl_mu);
	uv_async_send(st->async);
}

void store__drain_completions(struct store *st)
{
	for (;;) {
		pthread_mutex_lock(&st->cmpl_mu);
		struct cmpl *c = st->cmpl_head;
		st->cmpl_head = st->cmpl_tail = NULL;
		pthread_mutex_unlock(&st->cmpl_mu);
		if (!c)
			return;
		while (c) {
			struct cmpl *next = c->next;
			if (c->done)
				c->done(c->arg, c->rv);
			else if (st->hook)
				st->hook(c->dbname, st->hook_ud);
			free(c);
			c = next;
		}
	}
}

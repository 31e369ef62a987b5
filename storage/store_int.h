/* store_int.h - private declarations shared by the files of storage/ (never included outside
 * storage/ except by its unit tests). The store is a set of actors (worker threads, actor.c),
 * each owning a table of open databases (db.c); the key hierarchy (master key -> wrapped
 * per-database keys) lives in keys.c, the VFS in vfs.c (pass-through unless a connection is in
 * the Raft capture mode of repl.c / repl.h), the schemas and their migrations in schema.c.
 * Completions travel back to the libuv loop through one uv_async_t and a mutex-protected MPSC
 * queue (actor.c). With a replicator installed, commits, creations and drops go through the
 * replicated path of replicate.c.
 */
#ifndef MR_STORE_INT_H
#define MR_STORE_INT_H

#include "store.h"
#include <pthread.h>
#include <sodium.h>

#define STORE_COMPONENT "store"
#define STORE_KEYBYTES 32
/* Wrapped key file: 24-byte XChaCha20 nonce + 32-byte ciphertext + 16-byte Poly1305 tag. */
#define STORE_NONCEBYTES 24
#define STORE_TAGBYTES 16
#define STORE_WRAPPED_LEN (STORE_NONCEBYTES + STORE_KEYBYTES + STORE_TAGBYTES)
/* Open databases per actor before the least recently used idle one is closed: bounds file
 * descriptors (3 per WAL database: db, -wal, -shm) and page-cache memory. */
#define STORE_ACTOR_MAX_OPEN 64
/* Cached prepared statements per database; a database uses a few dozen distinct SQL texts. */
#define STORE_STMT_CACHE_MAX 128
#define STORE_VFS_NAME "mrvfs"
#define STORE_SQLITE_VERSION "3.15.2"

/* JOB_REPL: a store_repl_* request (replicate.c); runs ahead of other jobs and also while the
 * actor waits for a replicated commit. */
enum job_kind { JOB_RUN, JOB_DROP, JOB_REPL };

struct repl_req; /* replicate.c */

struct job_sync; /* store_run's rendezvous (actor.c) */

struct job {
	struct job *next;
	enum job_kind kind;
	char dbname[STORE_DBNAME_MAX];
	int flags;
	store_job_fn fn;
	store_done_fn done;
	void *arg;
	struct job_sync *sync;
	struct repl_req *req; /* JOB_REPL */
};

/* A completion posted to the loop: a done callback, or a commit-hook call. */
struct cmpl {
	struct cmpl *next;
	store_done_fn done; /* NULL: commit hook for dbname */
	void *arg;
	int rv;
	char dbname[STORE_DBNAME_MAX];
};

struct stmt_ent {
	uint32_t hash;
	char *sql;
	sqlite3_stmt *stmt;
};

struct store_db {
	struct store *st;
	char name[STORE_DBNAME_MAX];
	sqlite3 *sql;
	bool in_tx;
	bool grouped; /* inside a group commit (group.c): tx calls act on a savepoint */
	uint64_t last_use; /* actor tick, for LRU */
	struct stmt_ent *stmts;
	size_t nstmts;
	bool in_job; /* a job runs on it: never evicted (replication waits inside jobs) */
	/* Tokens of this job's commits whose outcome is unknown (replicate.c). */
	uint64_t unknown_tokens[8];
	unsigned n_unknown;
};

/* What a replicated commit (or creation) waits for, on its actor (replicate.c). */
struct store_waiter {
	char db[STORE_DBNAME_MAX];
	uint64_t token;
	int rv; /* 1 while waiting, then 0 or an error */
	uint64_t index;
};

struct repl_index_ent {
	char name[STORE_DBNAME_MAX];
	uint64_t index;
	bool hold; /* awaiting a fetched copy: commits refused (store_repl_hold) */
};

#define STORE_APPLIED_TOKENS 256

struct actor {
	struct store *st;
	unsigned idx;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stop, started;
	/* parked: the thread waits on cond (idle, or for a commit) and may be borrowed;
	 * borrowed: another thread runs a replication request on its databases (actor.c) */
	bool parked, borrowed;
	struct store_db *dbs[STORE_ACTOR_MAX_OPEN];
	size_t ndbs;
	uint64_t tick;
	/* Replication (replicate.c): the wait in progress, the log index each database's files
	 * reflect, and a ring of the client tokens applied lately. */
	struct store_waiter *waiter;
	struct repl_index_ent *ridx;
	size_t nridx, capridx;
	uint64_t applied_tokens[STORE_APPLIED_TOKENS];
	unsigned tok_next;
};

struct store {
	char *data_dir;
	char *db_dir;
	char *master_key_file;
	uint8_t *mkey; /* STORE_KEYBYTES, sodium_malloc'd (guarded, locked) */
	enum store_pwcost pwcost;
	uv_loop_t *loop;
	uv_async_t *async; /* NULL when loop is NULL; freed in its close callback */
	pthread_mutex_t cmpl_mu;
	struct cmpl *cmpl_head, *cmpl_tail;
	struct actor *actors;
	unsigned nactors;
	store_commit_hook hook;
	void *hook_ud;
	const struct store_replicator *repl; /* NULL: single node */
	void *repl_ud;
};

/* keys.c */
/* Wrap a database key under the master key; AD = database name. out gets STORE_WRAPPED_LEN. */
void store__key_wrap(const uint8_t *mkey, const char *dbname, const uint8_t *dbkey,
                     uint8_t out[STORE_WRAPPED_LEN]);
/* Unwrap; MR_ECORRUPT when len is wrong, MR_EKEY when authentication fails (wrong master key,
 * wrong name, or tampered file). dbkey gets STORE_KEYBYTES only on success. */
int store__key_unwrap(const uint8_t *mkey, const char *dbname, const uint8_t *in, size_t len,
                      uint8_t *dbkey);
/* Write a small file atomically: <path>.tmp (0600) + fsync + rename + fsync(dir). 0 / MR_EIO. */
int store__file_write_atomic(const char *path, const void *data, size_t len);
/* Read a whole small file of at most cap bytes. MR_ENOTFOUND, MR_ETOOBIG, MR_EIO. */
int store__file_read(const char *path, void *buf, size_t cap, size_t *len_r);
/* Create a fresh key for dbname, wrap it and write <db_dir>/<dbname>.key. */
int store__key_create(struct store *st, const char *dbname, uint8_t *dbkey);
/* Read and unwrap <db_dir>/<dbname>.key. MR_ENOTFOUND, MR_EKEY, MR_ECORRUPT, MR_EIO. */
int store__key_load(struct store *st, const char *dbname, uint8_t *dbkey);

/* vfs.c: register "mrvfs" once (thread-safe). 0 or MR_EIO. */
int store__vfs_register(void);

/* vfs.c <-> repl.c: the capture mode of repl.h. A repl_state is owned by the main database
 * file of one connection (freed by repl.c's store__repl_free when that file closes); vfs.c
 * calls the store__repl_* hooks only for the main and -wal files of a linked connection. */
struct repl_state;
/* Link rs to the connection's main file and its open -wal file (found with
 * SQLITE_FCNTL_FILE_POINTER / SQLITE_FCNTL_JOURNAL_POINTER). 0, MR_EINVAL (not our VFS, no
 * WAL open, or already linked). *main_real_r / *wal_real_r get the underlying "unix" files. */
int store__vfs_link(sqlite3 *sql, struct repl_state *rs, sqlite3_file **main_real_r,
                    sqlite3_file **wal_real_r);
/* Unlink (the state is not freed). */
void store__vfs_unlink(sqlite3 *sql);
/* The state linked to the connection's main file, or NULL. */
struct repl_state *store__vfs_repl(sqlite3 *sql);
/* The connection's mapped wal-index region 0 (32 KiB), or NULL when not mapped. */
void volatile *store__vfs_shm0(sqlite3 *sql);
/* Zero the wal-index header of a connection that is not capturing (taking the WAL write lock
 * for it), so its next read rebuilds the wal-index and drops its page cache. 0, MR_EINVAL,
 * MR_EBUSY (write lock held elsewhere). */
int store__vfs_shm_reset(sqlite3 *sql);
/* Hooks implemented in repl.c (real = the underlying "unix" file). */
int store__repl_shm_lock(struct repl_state *rs, sqlite3_file *real, int ofst, int n, int flags);
bool store__repl_holds_tx(struct repl_state *rs);
int store__repl_wal_write(struct repl_state *rs, sqlite3_file *real, const void *p, int n,
                          sqlite3_int64 off);
void store__repl_wal_read(struct repl_state *rs, void *p, int n, sqlite3_int64 off);
void store__repl_wal_closed(struct repl_state *rs);
void store__repl_free(struct repl_state *rs);

/* db.c */
/* Valid database name: 1..63 chars of [a-z0-9_], starting with a letter. */
bool store__name_valid(const char *name);
char *store__db_path(struct store *st, const char *dbname, const char *ext);
/* Open (and with STORE_CREATE create) a database: key, validate, pragmas, schema. */
int store__db_open(struct store *st, const char *dbname, int flags, struct store_db **db_r);
void store__db_close(struct store_db **db);
/* Apply the keyed-open sequence to an sqlite handle: sqlite3_key + validation SELECT. */
int store__db_key(sqlite3 *sql, const uint8_t *dbkey);

/* schema.c: create or migrate the schema of db (by its name); runs its own transaction. */
int store__schema_apply(struct store_db *db);

/* actor.c */
int store__actors_start(struct store *st);
/* Finish queued jobs, stop and join the threads, close their databases. */
void store__actors_stop(struct store *st);
/* Queue a completion for the loop (commit hook when done == NULL). */
void store__post(struct store *st, store_done_fn done, void *arg, int rv, const char *dbname);
/* Run every queued completion now (loop thread, or store_close). */
void store__drain_completions(struct store *st);

/* actor.c, for group.c: run a JOB_RUN job's function with the replicated re-run loop
 * (keep_unknown: start with the tokens already in db->unknown_tokens), clean up after a
 * job's function, and hand a job's result to its waiter or done callback. */
int store__run_fn(struct actor *a, struct job *j, struct store_db *db, bool keep_unknown);
void store__job_cleanup(struct store_db *db);
void store__job_finish(struct actor *a, struct job *j, int rv);

/* group.c: group commit (STORE_GROUP). Called by the actor with a->mu held after taking
 * `first`: unlink up to cap-1 more group jobs for the same database (stopping at any other
 * job for it) into more[]; returns how many. */
size_t store__group_take(struct actor *a, const struct job *first, struct job **more, size_t cap);
/* Run jobs[0..n) in one transaction and finish (and free) them all. */
void store__group_run(struct actor *a, struct job **jobs, size_t n);
#define STORE_GROUP_MAX 32

/* actor.c, for replicate.c */
struct actor *store__actor_of(struct store *st, const char *dbname);
/* The actor's open database, opening it (without creating) if needed; capture mode is
 * switched on when a replicator is installed. */
int store__actor_get_db(struct actor *a, const char *dbname, int flags, struct store_db **db_r);
/* Close db if the actor has it open and no job runs on it. */
void store__actor_close_db(struct actor *a, const char *dbname);
/* On the actor thread: wait until w->rv != 1 or timeout_ms passed (then w->rv is left as is
 * and STORE_EUNKNOWN returned), running JOB_REPL requests meanwhile. Returns w->rv. */
int store__actor_wait(struct actor *a, struct store_waiter *w, int timeout_ms);
/* Run a JOB_REPL request synchronously from a non-actor thread. */
int store__repl_submit(struct store *st, const char *dbname, struct repl_req *req);

/* replicate.c */
int store__repl_commit(struct store_db *db);
int store__repl_create(struct actor *a, const char *dbname);
int store__repl_drop(struct actor *a, const char *dbname);
int store__repl_run(struct actor *a, struct job *j);
/* Has any of db's unknown-outcome tokens been applied since? */
bool store__repl_unknown_applied(struct actor *a, struct store_db *db);
void store__repl_actor_free(struct actor *a);

/* mailbox.c: create the default folders of a new account database (inside a transaction). */
int store__mbox_init(struct store_db *db);

/* Helpers for functions that run "their own transaction" unless one is already open. */
int store__tx_auto_begin(struct store_db *db, bool *own_r);
int store__tx_auto_end(struct store_db *db, bool own, int rv);

#endif

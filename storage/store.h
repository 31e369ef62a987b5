/* store.h - the encrypted store: the only storage header the frontends include.
 *
 * Every database (the directory plus one per account) is a SQLCipher file keyed with its own
 * random 256-bit raw key; that key is wrapped (XChaCha20-Poly1305, libsodium) under the node's
 * master key and kept beside the database as <name>.key. Each open database is owned by exactly
 * one actor (worker thread): all reads and writes of a database run as jobs on its actor, so a
 * database never sees two threads. Writes go through one commit path, store_tx_commit(), on a
 * WAL-mode connection opened through our own VFS ("mrvfs", pass-through today) so the Raft
 * replication of issue 3 plugs in there without touching the frontends.
 *
 * Layout of the data directory:
 *   master.key            32 random bytes, 0600 (path configurable)
 *   db/<name>.db          SQLCipher database (never starts with "SQLite format 3")
 *   db/<name>.key         24-byte nonce + wrapped 32-byte key + 16-byte tag
 *
 * Database names: "directory" for the directory, "a" + 16 lower-case hex for accounts
 * (the name carries no address, so file names leak nothing).
 */
#ifndef MR_STORE_H
#define MR_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <uv.h>
#include "common/err.h"
#include <sqlcipher/sqlite3.h>

struct store;
struct store_db;

#define STORE_DIRECTORY "directory"
#define STORE_DBNAME_MAX 64

enum store_pwcost {
	STORE_PWCOST_INTERACTIVE = 0, /* Argon2id OPSLIMIT/MEMLIMIT_INTERACTIVE (default) */
	STORE_PWCOST_MODERATE = 1,
	STORE_PWCOST_MIN = 2, /* tests only: fast */
};

struct store_config {
	const char *data_dir;        /* created if missing (0700) */
	const char *master_key_file; /* NULL: <data_dir>/master.key */
	unsigned actors;             /* worker threads; 0 -> 2 */
	enum store_pwcost pwcost;
	uv_loop_t *loop; /* completions (store_done_fn, commit hook) run on this loop */
	/* Cluster mode: do not open (or create) the directory database at open: it is created,
	 * adopted or received through the replication engine, which must be installed before
	 * any database is opened (store_set_replicator). */
	bool no_directory;
};

/* Open the store. Creates the data dir and the master key when the data dir holds no database
 * yet; otherwise loads the key and verifies it against the directory database (unwrap + open +
 * SELECT). A wrong key gives MR_EKEY with a message in err and changes no file.
 * Opens (creating on first start) the directory database with its schema, unless
 * cfg->no_directory. */
int store_open(const struct store_config *cfg, struct store **st_r, char *err, size_t errlen);
/* Stop the actors (finishing queued jobs), close every database, wipe keys. */
void store_close(struct store **st);

/* ---- jobs ---------------------------------------------------------------------------- */
#define STORE_CREATE 0x1 /* create the database (key, file, schema) if it does not exist */
/* Group commit (replicated mode): the job may share one transaction, and so one raft entry,
 * with the jobs for the same database queued right behind it. Its store_tx_begin/commit/
 * rollback then act on a savepoint of the group's transaction, and its done callback runs
 * only once the group committed. The job must not depend on other databases being written
 * in the same job, and must be safe to re-run (as every replicated job is). */
#define STORE_GROUP 0x2

/* Runs on the actor thread owning the database; returns 0 or MR_E*. */
typedef int (*store_job_fn)(struct store_db *db, void *arg);
/* Runs on the loop thread after the job; rv is the job's return, or the open error
 * (MR_ENOTFOUND when the database does not exist and STORE_CREATE was not given). */
typedef void (*store_done_fn)(void *arg, int rv);

/* Queue fn on the actor owning `dbname` (hash of the name). done may be NULL.
 * Returns 0 (done will be called exactly once) or an error (done will never be called). */
int store_submit(struct store *st, const char *dbname, int flags, store_job_fn fn,
		 store_done_fn done, void *arg);
/* Same, but blocks the caller until fn has run and returns its result. Must not be called from
 * an actor thread. For startup, ctl handlers that may block, and tests. */
int store_run(struct store *st, const char *dbname, int flags, store_job_fn fn, void *arg);
/* Remove a database and its key file (runs on its actor; closes it first). */
int store_drop(struct store *st, const char *dbname);
/* True when the database file exists. */
bool store_exists(struct store *st, const char *dbname);

/* ---- inside a job --------------------------------------------------------------------- */
sqlite3 *store_db_sql(struct store_db *db);
const char *store_db_name(struct store_db *db);
struct store *store_db_store(struct store_db *db);
/* A prepared statement cached per database, reset and with bindings cleared; never free it. */
sqlite3_stmt *store_stmt(struct store_db *db, const char *sql);
/* Run SQL with no result rows. 0 or MR_EIO (logged). */
int store_exec(struct store_db *db, const char *sql);
/* The single write path: BEGIN IMMEDIATE ... store_tx_commit(). Commit is durable (fsync'd WAL)
 * before it returns 0; later it will return only after the Raft commit. On failure the
 * transaction is rolled back. After a commit the commit hook fires on the loop thread. */
int store_tx_begin(struct store_db *db);
int store_tx_commit(struct store_db *db);
void store_tx_rollback(struct store_db *db);

/* Called on the loop thread after every committed write transaction of any database
 * (used to wake IMAP IDLE sessions). One hook; set before serving. */
typedef void (*store_commit_hook)(const char *dbname, void *ud);
void store_set_commit_hook(struct store *st, store_commit_hook hook, void *ud);

/* ---- passwords (Argon2id; call from an actor or worker thread, never the loop) ---------- */
#define STORE_PWHASH_MAX 128
int store_pw_hash(struct store *st, const char *pw, char out[STORE_PWHASH_MAX]);
/* 0 if pw matches, MR_EAUTH otherwise. */
int store_pw_verify(const char *hash, const char *pw);

/* ---- directory (jobs on STORE_DIRECTORY) ----------------------------------------------- */
/* Schema:
 *   domains(name TEXT PRIMARY KEY)                                  -- lower-case
 *   accounts(id INTEGER PRIMARY KEY, address TEXT UNIQUE NOT NULL,  -- lower-case local@domain
 *            dbname TEXT UNIQUE NOT NULL, pwhash TEXT NOT NULL, quota INTEGER NOT NULL,
 *            created INTEGER NOT NULL)
 *   aliases(address TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY(address, target))
 */
struct dir_account {
	int64_t id;
	char address[320];
	char dbname[STORE_DBNAME_MAX];
	char pwhash[STORE_PWHASH_MAX];
	int64_t quota;
};
typedef void (*dir_list_cb)(void *ud, const char *a, const char *b);

int dir_domain_add(struct store_db *d, const char *domain);     /* MR_EEXIST */
int dir_domain_rm(struct store_db *d, const char *domain);      /* MR_ENOTFOUND, MR_EBUSY if used */
int dir_domain_list(struct store_db *d, dir_list_cb cb, void *ud); /* cb(ud, name, NULL) */
bool dir_domain_exists(struct store_db *d, const char *domain);
/* Adds the row and picks a fresh dbname (written to acct_r); the caller then creates the
 * account database with store_submit(..., STORE_CREATE, ...). MR_ENOTFOUND: domain unknown. */
int dir_account_add(struct store_db *d, const char *address, const char *pwhash, int64_t quota,
		    struct dir_account *acct_r);
int dir_account_get(struct store_db *d, const char *address, struct dir_account *acct_r);
/* The quota in bytes (0 = none) of the account whose database is dbname. MR_ENOTFOUND. */
int dir_quota_of_db(struct store_db *d, const char *dbname, int64_t *quota_r);
int dir_account_rm(struct store_db *d, const char *address, struct dir_account *acct_r);
int dir_account_passwd(struct store_db *d, const char *address, const char *pwhash);
int dir_account_list(struct store_db *d, dir_list_cb cb, void *ud); /* cb(ud, address, dbname) */
int dir_alias_add(struct store_db *d, const char *alias, const char *target);
int dir_alias_rm(struct store_db *d, const char *alias, const char *target); /* target NULL: all */
int dir_alias_list(struct store_db *d, dir_list_cb cb, void *ud); /* cb(ud, alias, target) */
/* Resolve an envelope recipient to account database names (an account, or an alias's local
 * targets, deduplicated). Case-insensitive. MR_ENOTFOUND when nothing local matches.
 * *names_r is an array of n strings; free with dir_names_free. */
int dir_resolve(struct store_db *d, const char *rcpt, char ***names_r, size_t *n_r);
void dir_names_free(char **names, size_t n);

/* ---- mailbox (jobs on an account database) --------------------------------------------- */
/* Schema (account database):
 *   meta(k TEXT PRIMARY KEY, v)                       -- 'schema_version', 'modseq' (global
 *                                                        counter: next MODSEQ = v+1)
 *   folders(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,  -- "INBOX", "Sent", "a/b"
 *           special TEXT,                             -- "\\Sent" etc. or NULL
 *           subscribed INTEGER NOT NULL DEFAULT 1,
 *           uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL,
 *           highestmodseq INTEGER NOT NULL)
 *   messages(id INTEGER PRIMARY KEY, folder INTEGER NOT NULL, uid INTEGER NOT NULL,
 *            modseq INTEGER NOT NULL, flags TEXT NOT NULL,  -- space-separated, e.g. "\\Seen foo"
 *            internaldate INTEGER NOT NULL,                 -- unix seconds
 *            size INTEGER NOT NULL, envelope TEXT, bodystructure TEXT,  -- IMAP forms, cached
 *            savedate INTEGER,   -- unix seconds the message entered the folder (RFC 8514)
 *            emailid TEXT,       -- RFC 8474 EMAILID (16 hex); both set by a trigger when NULL
 *            UNIQUE(folder, uid))
 *   bodies(id INTEGER PRIMARY KEY, raw BLOB NOT NULL)        -- id = messages.id
 *   expunged(folder INTEGER, uid INTEGER, modseq INTEGER, PRIMARY KEY(folder, uid))
 *            -- removed messages, for QRESYNC VANISHED (RFC 7162). Triggers: deleting a
 *            -- messages row (or changing its folder) takes a fresh MODSEQ from meta, records
 *            -- it here and raises the folder's highestmodseq; deleting a folder drops its rows.
 * New accounts get INBOX, Drafts, Sent, Archive, Junk, Trash with SPECIAL-USE attributes.
 */
#define MBOX_SCHEMA_VERSION 2

struct mbox_folder {
	int64_t id;
	char name[512];
	char special[16];
	bool subscribed;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
};

int mbox_folder_get(struct store_db *db, const char *name, struct mbox_folder *f_r);
/* Bytes used by every message of the mailbox (the quota's STORAGE resource). */
int mbox_usage(struct store_db *db, uint64_t *used_r);
/* The name of the first folder with this special use (RFC 6154, e.g. "\\Sent") into name.
 * 0, MR_ENOTFOUND, MR_EIO. */
int mbox_folder_special(struct store_db *db, const char *special, char *name, size_t cap);
/* Creates with a fresh UIDVALIDITY; MR_EEXIST. Runs its own transaction. */
int mbox_folder_create(struct store_db *db, const char *name, const char *special);
/* Next MODSEQ value; must be called inside a transaction (bumps meta.modseq). */
int mbox_next_modseq(struct store_db *db, uint64_t *modseq_r);
/* Store one message in folder (must exist). Must be called inside a transaction: allocates the
 * UID (folder uidnext++) and MODSEQ, inserts messages + bodies rows. envelope/bodystructure may
 * be NULL. *uid_r gets the new UID. */
int mbox_append(struct store_db *db, const char *folder, const char *flags, int64_t internaldate,
		const uint8_t *raw, size_t len, const char *envelope, const char *bodystructure,
		uint32_t *uid_r);

/* ---- replication hook (issue 3; off unless store_set_replicator is called) ---------------
 * With a replicator installed, every database the store opens is switched into WAL capture
 * (storage/repl.h) and store_tx_commit() no longer makes a write transaction durable by itself:
 * it polls the transaction's pages, hands them to the replicator's propose() together with the
 * database's BASE index (the replicated log index the transaction was built on) and a fresh
 * random client token, and blocks the actor until the outcome:
 *   - store_repl_apply() for that database with the same token (the entry committed and is
 *     being applied on this node): the pending frames are promoted, commit returns 0;
 *   - store_repl_apply() for that database with another token, or store_ticket_done() with
 *     STORE_ECONFLICT (the entry was rejected: another transaction won the base index): the
 *     transaction is aborted and commit returns STORE_ECONFLICT;
 *   - store_ticket_done() with another error (not leader, outcome unknown, closed) or no
 *     outcome within STORE_REPL_TIMEOUT_MS: aborted, that error (or STORE_EUNKNOWN).
 * While it waits the actor keeps running store_repl_* requests (never other jobs), so the
 * thread applying the log may block on them. A job (store_submit/store_run) whose function
 * returns STORE_ECONFLICT or STORE_EUNKNOWN is re-run (at least STORE_REPL_RETRIES times and
 * STORE_REPL_RETRY_WINDOW_MS, with a short random back-off) on the
 * state it has caught up with; after an unknown outcome it stops re-running (and succeeds) once
 * one of its earlier tokens shows up as applied. Job functions must therefore be re-runnable
 * (they are: every mailbox/directory job is a function of (db, arg)). The commit hook fires
 * after a promote and after every store_repl_apply/store_repl_note on every node. */
#define STORE_ECONFLICT MR_ECONFLICT /* conflict: built on a stale state, re-run the job */
#define STORE_EUNKNOWN MR_EUNKNOWN   /* outcome unknown (= raft/cluster_node.h CL_EUNKNOWN) */
#define STORE_REPL_RETRIES 200
#define STORE_REPL_RETRY_WINDOW_MS 6000 /* and keep re-running at least this long (elections) */
#define STORE_REPL_TIMEOUT_MS 15000

struct repl_tx;
struct store_ticket; /* one proposal's completion handle (refcounted, thread-safe) */

struct store_replicator {
	/* Propose one captured transaction of db (on the actor thread; must not block on the
	 * store). tx is valid only during the call (copy what you keep). Returns 0 (the ticket
	 * is now the replicator's: complete it with store_ticket_done exactly once) or an error
	 * (the ticket is untouched and the transaction aborted). */
	int (*propose)(void *ud, const char *db, uint64_t base_index, const struct repl_tx *tx,
	               uint64_t token, struct store_ticket *t);
	/* Propose the creation of db: its wrapped key file and initial pages (page i of the
	 * file at pages + i * page_size, db_size pages). Same contract; success is signalled by
	 * store_repl_note(st, db, index, token) once the files exist on this node. NULL: creating
	 * a database while a replicator is installed fails with MR_EPERM. */
	int (*create)(void *ud, const char *db, const uint8_t *key_file, size_t key_len,
	              uint32_t page_size, uint32_t db_size, const uint8_t *pages, uint64_t token,
	              struct store_ticket *t);
	/* Propose the removal of db (store_drop). Same contract; success is signalled by
	 * store_repl_note(st, db, index, token, true). NULL: store_drop fails with MR_EPERM. */
	int (*drop)(void *ud, const char *db, uint64_t token, struct store_ticket *t);
};
/* Install (or with r NULL remove) the replicator; call before any job runs. r is borrowed. */
void store_set_replicator(struct store *st, const struct store_replicator *r, void *ud);
/* Complete a proposal from any thread. rv 0 means "accepted, outcome later" and is ignored;
 * a negative rv ends the wait with that error. Releases the replicator's reference. */
void store_ticket_done(struct store_ticket *t, int rv);
/* Apply one committed entry's pages for db at log index `index` (any thread except an actor;
 * blocks until done). On the node that proposed it (pending transaction with this token) the
 * pending frames are promoted; anywhere else the pages are written into the database file
 * (repl_apply_pagev) and the open connection, if any, drops its caches; a pending transaction
 * of another token on db is aborted (STORE_ECONFLICT). 0, MR_ENOTFOUND (no such database
 * file), MR_EIO. */
int store_repl_apply(struct store *st, const char *db, uint64_t index, uint64_t token,
                     uint32_t page_size, uint32_t db_size, size_t n, const uint32_t *pgno,
                     const uint8_t *const *pages);
/* Someone else (the state machine) created or replaced db's files at `index` (CREATE_DB), or
 * removed them (gone = true, DELETE_DB): close the store's connection, record the index, end a
 * creator's wait with this token. Any thread except an actor; blocks until done. 0. */
int store_repl_note(struct store *st, const char *db, uint64_t index, uint64_t token, bool gone);
/* The log index db's local files reflect (0 when unknown), as recorded by the two calls above.
 * Any thread except an actor (blocks). */
uint64_t store_repl_index(struct store *st, const char *db);
/* Seed the recorded index of db (engine start-up, from the state machine). Blocks. */
void store_repl_set_index(struct store *st, const char *db, uint64_t index);

/* ---- database fetch (raft/cluster_fetch.h: catch-up of a lagging or new node) -------------
 * Serving side: make db's .db file alone hold its whole committed state, on db's actor: a
 * TRUNCATE checkpoint of the -wal (this node's own promoted transactions live there), opening
 * the database first when it is closed with a non-empty -wal (crash leftovers). Call it on the
 * thread applying the log, so no entry promotes or writes db until the caller has byte-copied
 * <db>.db and <db>.key (no key needed: SQLCipher pages are ciphertext). *index_r (may be NULL)
 * gets the index the store recorded for db. 0, MR_EBUSY (a local transaction is pending on
 * db: retry later), MR_ENOTFOUND (no database file), MR_EINVAL, MR_EIO. Blocks; not from an
 * actor. */
int store_repl_checkpoint(struct store *st, const char *db, uint64_t *index_r);
/* Fetching side: replace db's files with a fetched copy consistent with log index `index`:
 * copy_path is a complete, synced .db image in the store's db directory (same file system;
 * renamed away or removed on success, left to the caller on error), key_file the <db>.key bytes.
 * On db's actor: a pending local transaction is aborted (its commit returns STORE_ECONFLICT).
 * Normally the connection is closed, the stale -wal/-shm removed, the key file written
 * atomically and copy_path renamed over <db>.db (directory fsync'd). When a job on that actor
 * is in progress (it waits in a commit or between re-runs) the connection cannot be closed: the
 * copy is then written into the database file in place and the connection drops its caches
 * (as for foreign pages); that needs the same key file, else MR_EBUSY (retry later).
 * Then index is recorded for db, its hold (below) released, and the commit hook fires.
 * 0, MR_EBUSY, MR_EINVAL, MR_EIO. Blocks; not from an actor. */
int store_repl_install(struct store *st, const char *db, uint64_t index, const char *copy_path,
                       const uint8_t *key_file, size_t key_len);
/* hold = true: db's local files are not a valid replica (the state machine marked it "needs
 * fetch"): every replicated commit on it fails with MR_EBUSY and proposes nothing, even once
 * the recorded index is right (a transaction built on a stale or partial file must never reach
 * the log), until store_repl_install or hold = false. Reads still run (stale data). Call it on
 * the thread applying the log as soon as the database needs a fetch. 0, MR_EINVAL. Blocks; not
 * from an actor. */
int store_repl_hold(struct store *st, const char *db, bool hold);

#endif

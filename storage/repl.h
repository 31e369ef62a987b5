/* repl.h - WAL-frame capture for Raft replication (issue 3, replication.md §7.2-7.4).
 *
 * A database connection can be switched into "capture mode" (OFF by default: a connection that
 * never calls repl_enable behaves exactly as before). In capture mode each committed write
 * transaction stays *pending*: its frames are in the on-disk -wal file but its commit frame
 * header is held back in memory (the disk copy is zeroed, so a crash or a fresh open never sees
 * the transaction), and the connection keeps SQLite's WAL write lock. The caller then:
 *
 *   store_tx_begin(db) ... store_tx_commit(db)        (or any SQL write, e.g. VACUUM)
 *   repl_poll(db, &tx)        -> the transaction's pages (SQLCipher ciphertext), page size and
 *                                the database size from the commit frame header (bytes 4-7)
 *   ...raft_apply(tx)...
 *   repl_promote(db)          -> entry committed: commit header written (not synced: the raft
 *                                log holds the entry; the state machine syncs the -wal at
 *                                its sync points), write
 *                                lock released, data visible (durable once the -wal is
 *                                synced; until then a crash is repaired by replaying the log)
 *   repl_abort(db)            -> entry failed / leadership lost: the transaction vanishes as if
 *                                it never happened (wal-index rebuilt from committed frames)
 *
 * Followers apply a transaction without the key and without SQL with repl_apply_pages().
 * Stepping down from leader: repl_abort (if pending), repl_checkpoint(db, true) (the -wal is
 * then empty), repl_disable; from then on repl_apply_pages + repl_invalidate. Becoming leader:
 * repl_enable (it drops any page cached before the follower applies).
 * Capture is per connection: a database closed and reopened (actor LRU, store restart) is back
 * in normal mode until repl_enable is called again, and a close while pending loses the
 * transaction (as an abort does). Other connections to the same file in this process would
 * see a pending transaction: the store never opens a database twice.
 * All repl_* functions taking a store_db run on the database's actor thread (inside a job),
 * like everything else touching a store_db. While a transaction is pending, the connection
 * still reads its own pending data, and a new write transaction (BEGIN IMMEDIATE) or a
 * checkpoint on it fails with SQLITE_BUSY (after the connection's busy timeout, so check
 * repl_pending() before writing): exactly one replicated transaction per database is in flight.
 */
#ifndef MR_REPL_H
#define MR_REPL_H

#include "store.h"
#include <stddef.h>
#include <stdint.h>

/* WAL frames after which repl_promote checkpoints the WAL into the database file. */
#define REPL_CKPT_FRAMES 1000

/* One captured write transaction: n distinct pages in increasing page-number order, each the
 * newest image written by the transaction; pages = n * page_size bytes, page i at
 * pages + i * page_size is page number pgno[i]. Pages beyond db_size are left out. */
struct repl_tx {
	uint32_t page_size;
	uint32_t db_size; /* database size in pages after the commit */
	size_t n;
	uint32_t *pgno;
	uint8_t *pages;
};

/* Switch capture mode on for db's connection (no transaction may be open). Disables SQLite's
 * automatic checkpoints (replaced by REPL_CKPT_FRAMES in repl_promote), sets
 * synchronous=NORMAL (durability comes from the raft log and the state machine's sync
 * points), then checkpoints
 * the WAL into the database file (TRUNCATE): on return 0 the .db file alone holds the whole
 * committed state, so a byte copy of it (plus the .key file) seeds a follower.
 * 0, MR_EINVAL (transaction open / not WAL mode), MR_EBUSY (checkpoint blocked), MR_EIO. */
int repl_enable(struct store_db *db);
/* Back to normal mode (nothing may be pending: MR_EBUSY). Restores synchronous=FULL and
 * automatic checkpoints. 0 when capture was off already. */
int repl_disable(struct store_db *db);
bool repl_enabled(struct store_db *db);
/* True between a captured commit and repl_promote/repl_abort. */
bool repl_pending(struct store_db *db);

/* After a commit: 1 and *tx filled (free with repl_tx_free) when a committed transaction is
 * pending and was not polled yet; 0 when there is none (capture off, no write since the last
 * promote/abort, or already polled); MR_EIO when the capture saw a write it cannot interpret
 * (the caller must then repl_abort). */
int repl_poll(struct store_db *db, struct repl_tx *tx);
void repl_tx_free(struct repl_tx *tx);
/* The pending transaction is committed by Raft: make it valid in the WAL (commit headers
 * written, no fdatasync: the raft log holds it durably and the state machine syncs the -wal at
 * its next sync point), release the WAL write lock, checkpoint when the WAL holds
 * REPL_CKPT_FRAMES or more. 0, MR_EINVAL (nothing pending), MR_EIO (write failed: the
 * transaction stays pending; retry or repl_abort). */
int repl_promote(struct store_db *db);
/* Discard the pending transaction: its frames become garbage, SQLite's wal-index is rebuilt
 * from the committed frames (so no cached page or schema of the transaction survives) and the
 * write lock is released. 0 (also when nothing is pending), MR_EIO when the rebuild failed
 * (the transaction is still invalid on disk: close and reopen the connection). */
int repl_abort(struct store_db *db);
/* Checkpoint the WAL into the database file (TRUNCATE) when it holds REPL_CKPT_FRAMES or more
 * frames, or always with force. 0 (also when below the threshold), MR_EBUSY (a transaction is
 * pending or a reader blocks it: retry later), MR_EINVAL (capture off), MR_EIO. */
int repl_checkpoint(struct store_db *db, bool force);

/* Follower side: write page i at (pgno[i]-1)*page_size of the database file `path` (created
 * 0600 if missing), truncate it to db_size*page_size and fdatasync it. No key, no SQLite.
 * Idempotent: applying the same transaction twice, or replaying a sequence on a state at
 * least as new as its start, gives the same file. page_size must be a power of two in
 * 512..65536, pgno >= 1; pages beyond db_size are skipped. The database must not have a
 * non-empty -wal (its frames would shadow the pages; a former leader steps down first, see
 * above): MR_EBUSY then. 0, MR_EINVAL, MR_EBUSY, MR_EIO. */
int repl_apply_pages(const char *path, uint32_t page_size, uint32_t db_size, size_t n,
                     const uint32_t *pgno, const uint8_t *pages);

#define REPL_APPLY_NOSYNC 0x1 /* no fdatasync: the caller syncs the file at its own sync point */
#define REPL_APPLY_TRUNC 0x2  /* start from an empty file (a database created by this entry) */
/* The same with one pointer per page (page_size bytes each; e.g. straight from a decoded
 * entry, no copy) and flags. */
int repl_apply_pagev(const char *path, uint32_t page_size, uint32_t db_size, size_t n,
                     const uint32_t *pgno, const uint8_t *const *pages, unsigned flags);

/* Follower side, for a database that is open in this process (e.g. for local reads) while
 * repl_apply_pages rewrote its file: run both on the database's actor (never concurrently with
 * a read), then call this so the connection's next read drops every cached page and schema.
 * Not for a connection in capture mode. 0, MR_EINVAL (capture on, transaction open),
 * MR_EBUSY (another connection holds the WAL write lock). */
int repl_invalidate(struct store_db *db);

#endif

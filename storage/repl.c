/* repl.c - capture of each write transaction's WAL frames for Raft (repl.h), on an ON-DISK WAL.
 *
 * Choice: dqlite keeps the WAL (and the wal-index) in process memory (replication.md §1.2,
 * §7.2). We keep SQLite's own on-disk -wal and -shm and make a captured transaction
 * *roll-back-able* instead: while it is pending, every frame header carrying a commit marker
 * (bytes 4-7 = database size, SQLite's WAL format) is written to disk as 24 zero bytes and
 * kept in memory (reads by the connection see the real header), and SQLite's WAL write lock is
 * kept past its own release. An invalid commit frame makes SQLite's WAL recovery (which only
 * accepts frames up to the last valid commit frame) ignore the whole transaction, so:
 *  - abort = truncate the -wal at the transaction's first frame, zero the wal-index header and
 *    let SQLite rebuild it from disk (the pager sees a changed header and drops its cache; a
 *    changed schema cookie makes statements re-prepare): the transaction never happened;
 *  - a crash (or a close) while pending loses the transaction, as an aborted entry must;
 *  - promote = write the held headers + one fdatasync: the data is durable locally at once,
 *    without waiting for a checkpoint or replaying the Raft log (with an in-memory WAL every
 *    promoted but un-checkpointed transaction would exist only in RAM until the next
 *    checkpoint, and a restart would depend on the log replay to get it back);
 *  - no emulation of WAL/shm file semantics (the riskiest part of dqlite's VFS), SQLite 3.15.2
 *    reads, checkpoints and recovers exactly as it does without capture, and a connection that
 *    never enables capture is untouched;
 *  - memory: only the pending transaction's frame list (8 bytes per frame); page images are
 *    read back from the -wal file at poll time.
 * The price: pending frames hit the disk before Raft commits them (at most one transaction per
 * database, since the write lock is held), and the -wal grows until a checkpoint, which is
 * SQLite's own keyed checkpoint (TRUNCATE) run by repl_promote past REPL_CKPT_FRAMES (SQLite's
 * automatic checkpoint is disabled: it would copy pending frames into the database file), and
 * refused while a transaction is pending (the CKPT lock and, for the checkpoint at close, the
 * EXCLUSIVE lock on the main file are refused; replication.md §2.3).
 * Write classification relies on SQLite's WAL layout: a 32-byte header at 0, then frames of
 * 24 + page_size bytes, each written as a 24-byte header and a page (walWriteOneFrame), pages
 * possibly rewritten in place and headers re-checksummed (walRewriteChecksums) inside one
 * transaction; synchronous=NORMAL avoids the sector padding of FULL. Anything else marks the
 * transaction "broken": repl_poll then fails and the caller aborts it.
 */
#include "repl.h"
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAL_HDR 32
#define FRAME_HDR 24
#define SHM_WRITE_LOCK 0 /* WAL_WRITE_LOCK in wal.c */
#define SHM_CKPT_LOCK 1  /* WAL_CKPT_LOCK */
/* The wal-index header: two copies of the 48-byte WalIndexHdr at the start of region 0. */
#define WALINDEX_HDR_BYTES 96
/* A transaction of more frames than this is refused (1 KiB pages: ~64 GiB). */
#define MAX_TX_FRAMES (1u << 26)
#define DEFAULT_AUTOCKPT 1000 /* SQLITE_DEFAULT_WAL_AUTOCHECKPOINT */

enum phase {
	PH_IDLE,    /* no write lock taken through us */
	PH_WRITING, /* SQLite holds the write lock: frames are being captured */
	PH_PENDING, /* committed locally, lock kept, not polled yet */
	PH_POLLED,  /* handed to the caller, waiting for promote/abort */
};

struct frame {
	uint32_t pgno;
	uint32_t commit; /* database size in pages on a commit frame, else 0 */
};

struct held {
	sqlite3_int64 off;
	uint8_t hdr[FRAME_HDR];
};

struct repl_state {
	sqlite3_file *main_real, *wal_real; /* wal_real NULL once the -wal was closed */
	enum phase phase;
	uint32_t page_size;
	uint32_t first, last; /* frame indexes (1-based) of the transaction; first 0: none */
	uint32_t top;         /* highest frame index written by the transaction */
	struct frame *frames; /* frames[i] describes frame first + i */
	size_t cap;
	struct held *held;
	size_t nheld, heldcap;
	sqlite3_int64 min_off; /* lowest -wal offset written by the transaction */
	bool broken;
	int wal_frames; /* frames in the WAL after the last commit (sqlite3_wal_hook) */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool page_size_ok(uint32_t ps)
{
	return ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0;
}

static sqlite3_int64 frame_off(const struct repl_state *rs, uint32_t idx)
{
	return WAL_HDR + (sqlite3_int64)(idx - 1) * (FRAME_HDR + rs->page_size);
}

static void tx_reset(struct repl_state *rs)
{
	rs->first = rs->last = rs->top = 0;
	rs->nheld = 0;
	rs->broken = false;
	rs->min_off = INT64_MAX;
}

static bool tx_committed(const struct repl_state *rs)
{
	return rs->first && rs->last >= rs->first && rs->frames[rs->last - rs->first].commit;
}

/* ---- VFS hooks (vfs.c) ------------------------------------------------------------------ */

bool store__repl_holds_tx(struct repl_state *rs)
{
	return rs->phase == PH_PENDING || rs->phase == PH_POLLED;
}

int store__repl_shm_lock(struct repl_state *rs, sqlite3_file *real, int ofst, int n, int flags)
{
	bool excl = (flags & SQLITE_SHM_EXCLUSIVE) != 0;
	bool w = ofst <= SHM_WRITE_LOCK && SHM_WRITE_LOCK < ofst + n;
	bool c = ofst <= SHM_CKPT_LOCK && SHM_CKPT_LOCK < ofst + n;
	if (flags & SQLITE_SHM_LOCK) {
		/* One replicated transaction at a time, and no checkpoint of pending frames. */
		if (excl && (w || c) && store__repl_holds_tx(rs))
			return SQLITE_BUSY;
		int rc = real->pMethods->xShmLock(real, ofst, n, flags);
		if (rc == SQLITE_OK && excl && w) {
			if (!rs->wal_real) {
				/* The -wal was reopened behind our back: capture would miss it. */
				real->pMethods->xShmLock(real, ofst, n,
				                         SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE);
				return SQLITE_IOERR;
			}
			tx_reset(rs);
			rs->phase = PH_WRITING;
		}
		return rc;
	}
	if (excl && w && rs->phase == PH_WRITING) {
		if (tx_committed(rs) || (rs->broken && rs->min_off != INT64_MAX)) {
			/* Keep the write lock until repl_promote / repl_abort (dqlite's rule). A
			 * broken capture is kept too, so the caller aborts it cleanly. */
			rs->phase = PH_PENDING;
			return n > 1 ? real->pMethods->xShmLock(real, ofst + 1, n - 1, flags)
			             : SQLITE_OK;
		}
		tx_reset(rs); /* rolled back, or a lock taken for recovery/checkpoint */
		rs->phase = PH_IDLE;
	}
	return real->pMethods->xShmLock(real, ofst, n, flags);
}

static void held_put(struct repl_state *rs, sqlite3_int64 off, const uint8_t *hdr)
{
	for (size_t i = 0; i < rs->nheld; i++) {
		if (rs->held[i].off == off) {
			memcpy(rs->held[i].hdr, hdr, FRAME_HDR);
			return;
		}
	}
	if (rs->nheld == rs->heldcap) {
		rs->heldcap = rs->heldcap ? 2 * rs->heldcap : 4;
		rs->held = xrealloc(rs->held, rs->heldcap * sizeof *rs->held);
	}
	rs->held[rs->nheld].off = off;
	memcpy(rs->held[rs->nheld].hdr, hdr, FRAME_HDR);
	rs->nheld++;
}

static void held_del(struct repl_state *rs, sqlite3_int64 off)
{
	for (size_t i = 0; i < rs->nheld; i++) {
		if (rs->held[i].off == off) {
			rs->held[i] = rs->held[--rs->nheld];
			return;
		}
	}
}

static int frame_header(struct repl_state *rs, sqlite3_file *real, uint32_t idx, const uint8_t *hdr,
                        sqlite3_int64 off)
{
	if (!rs->first)
		rs->first = idx;
	if (idx < rs->first || idx - rs->first >= MAX_TX_FRAMES) {
		rs->broken = true;
		return real->pMethods->xWrite(real, hdr, FRAME_HDR, off);
	}
	size_t i = idx - rs->first;
	if (i >= rs->cap) {
		size_t cap = rs->cap ? rs->cap : 64;
		while (cap <= i)
			cap *= 2;
		rs->frames = xrealloc(rs->frames, cap * sizeof *rs->frames);
		rs->cap = cap;
	}
	if (idx > rs->top) { /* frames never written by this transaction read as pgno 0 */
		size_t from = rs->top ? rs->top - rs->first + 1 : 0;
		memset(&rs->frames[from], 0, (i - from) * sizeof *rs->frames);
		rs->top = idx;
	}
	rs->frames[i].pgno = be32(hdr);
	rs->frames[i].commit = be32(hdr + 4);
	rs->last = idx;
	held_del(rs, off);
	if (!rs->frames[i].commit)
		return real->pMethods->xWrite(real, hdr, FRAME_HDR, off);
	/* A commit frame: on disk it stays invalid (pgno 0 ends WAL recovery) until promoted. */
	static const uint8_t zero[FRAME_HDR];
	held_put(rs, off, hdr);
	return real->pMethods->xWrite(real, zero, FRAME_HDR, off);
}

int store__repl_wal_write(struct repl_state *rs, sqlite3_file *real, const void *p, int n,
                          sqlite3_int64 off)
{
	if (rs->phase != PH_WRITING)
		return real->pMethods->xWrite(real, p, n, off);
	const uint8_t *b = p;
	if (off < rs->min_off)
		rs->min_off = off;
	if (off == 0 && n == WAL_HDR) {
		/* A new WAL header (first write, or a restart after a full checkpoint). */
		uint32_t ps = be32(b + 8) == 1 ? 65536 : be32(b + 8);
		if (!page_size_ok(ps) || (rs->first && ps != rs->page_size))
			rs->broken = true;
		else
			rs->page_size = ps;
		return real->pMethods->xWrite(real, p, n, off);
	}
	int fs = FRAME_HDR + (int)rs->page_size;
	if (off >= WAL_HDR) {
		sqlite3_int64 rel = off - WAL_HDR;
		sqlite3_int64 k = rel / fs, r = rel % fs;
		if (k < UINT32_MAX && r == 0 && (n == FRAME_HDR || n == fs)) {
			int rc = frame_header(rs, real, (uint32_t)k + 1, b, off);
			if (rc != SQLITE_OK || n == FRAME_HDR)
				return rc;
			return real->pMethods->xWrite(real, b + FRAME_HDR, n - FRAME_HDR,
			                              off + FRAME_HDR);
		}
		if (r == FRAME_HDR && n == (int)rs->page_size) /* page image: read at poll */
			return real->pMethods->xWrite(real, p, n, off);
	}
	if (!rs->broken)
		log_warn(STORE_COMPONENT, "unexpected WAL write off=%lld len=%d", (long long)off,
		         n);
	rs->broken = true;
	return real->pMethods->xWrite(real, p, n, off);
}

void store__repl_wal_read(struct repl_state *rs, void *p, int n, sqlite3_int64 off)
{
	for (size_t i = 0; i < rs->nheld; i++) {
		sqlite3_int64 a = rs->held[i].off, e = a + FRAME_HDR;
		sqlite3_int64 lo = a > off ? a : off, hi = e < off + n ? e : off + n;
		if (lo < hi)
			memcpy((uint8_t *)p + (lo - off), rs->held[i].hdr + (lo - a),
			       (size_t)(hi - lo));
	}
}

void store__repl_wal_closed(struct repl_state *rs)
{
	rs->wal_real = NULL;
}

void store__repl_free(struct repl_state *rs)
{
	free(rs->frames);
	free(rs->held);
	free(rs);
}

/* ---- connection side ---------------------------------------------------------------------- */

static struct repl_state *state_of(struct store_db *db)
{
	return db->sql ? store__vfs_repl(db->sql) : NULL;
}

/* No cached statement may hold a read transaction across a checkpoint or an abort. */
static void reset_stmts(struct store_db *db)
{
	for (size_t i = 0; i < db->nstmts; i++)
		sqlite3_reset(db->stmts[i].stmt);
}

static int wal_hook(void *ud, sqlite3 *sql, const char *name, int nframes)
{
	struct repl_state *rs = ud;
	rs->wal_frames = nframes;
	return SQLITE_OK;
}

/* Zero the wal-index header and rebuild it at once with a read: SQLite 3.15.2's checkpoint
 * cannot recover a wal-index itself (walIndexReadHdr asks for the write lock the TRUNCATE
 * checkpoint already holds, and gets SQLITE_BUSY). */
static int reload(struct store_db *db)
{
	int rv = store__vfs_shm_reset(db->sql);
	if (rv == 0 && sqlite3_exec(db->sql, "SELECT count(*) FROM sqlite_master", NULL, NULL,
	                            NULL) != SQLITE_OK)
		rv = MR_EIO;
	return rv;
}

static int checkpoint(struct store_db *db, struct repl_state *rs)
{
	reset_stmts(db);
	int nlog = 0, nckpt = 0;
	int rc =
	    sqlite3_wal_checkpoint_v2(db->sql, "main", SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return MR_EBUSY;
	if (rc != SQLITE_OK) {
		log_error(STORE_COMPONENT, "checkpoint failed db=%s err=%s", db->name,
		          sqlite3_errmsg(db->sql));
		return MR_EIO;
	}
	rs->wal_frames = 0;
	return 0;
}

static bool journal_is_wal(sqlite3 *sql)
{
	sqlite3_stmt *s = NULL;
	bool wal = false;
	if (sqlite3_prepare_v2(sql, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *m = sqlite3_column_text(s, 0);
		wal = m && strcmp((const char *)m, "wal") == 0;
	}
	sqlite3_finalize(s);
	return wal;
}

static int page_size_of(sqlite3 *sql)
{
	sqlite3_stmt *s = NULL;
	int ps = 0;
	if (sqlite3_prepare_v2(sql, "PRAGMA page_size", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		ps = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return ps;
}

static void unlink_state(struct store_db *db, struct repl_state *rs)
{
	sqlite3_wal_hook(db->sql, NULL, NULL);
	sqlite3_wal_autocheckpoint(db->sql, DEFAULT_AUTOCKPT);
	(void)store_exec(db, "PRAGMA synchronous=FULL");
	store__vfs_unlink(db->sql);
	store__repl_free(rs);
}

int repl_enable(struct store_db *db)
{
	if (!db->sql || db->in_tx || !sqlite3_get_autocommit(db->sql))
		return MR_EINVAL;
	if (state_of(db))
		return 0;
	reset_stmts(db);
	/* A former follower's file may have been rewritten by repl_apply_pages: drop the cache. */
	int rv = reload(db);
	if (rv != 0)
		return rv;
	/* journal_mode reads the database, so the -wal is open afterwards. */
	if (!journal_is_wal(db->sql))
		return MR_EINVAL;
	int ps = page_size_of(db->sql);
	if (!page_size_ok((uint32_t)ps))
		return MR_EIO;
	struct repl_state *rs = xcalloc(1, sizeof *rs);
	rs->page_size = (uint32_t)ps;
	tx_reset(rs);
	if (store__vfs_link(db->sql, rs, &rs->main_real, &rs->wal_real) != 0) {
		store__repl_free(rs);
		log_error(STORE_COMPONENT, "capture cannot link the WAL db=%s", db->name);
		return MR_EINVAL;
	}
	sqlite3_wal_hook(db->sql, wal_hook, rs); /* also disables the automatic checkpoint */
	rv = store_exec(db, "PRAGMA synchronous=NORMAL");
	if (rv == 0)
		rv = checkpoint(db, rs);
	if (rv != 0) {
		unlink_state(db, rs);
		return rv;
	}
	log_debug(STORE_COMPONENT, "capture on db=%s", db->name);
	return 0;
}

int repl_disable(struct store_db *db)
{
	struct repl_state *rs = state_of(db);
	if (!rs)
		return 0;
	if (rs->phase != PH_IDLE || db->in_tx)
		return MR_EBUSY;
	unlink_state(db, rs);
	return 0;
}

bool repl_enabled(struct store_db *db)
{
	return state_of(db) != NULL;
}

bool repl_pending(struct store_db *db)
{
	struct repl_state *rs = state_of(db);
	return rs && store__repl_holds_tx(rs);
}

struct pg_ref {
	uint32_t pgno, idx;
};

static int pg_cmp(const void *a, const void *b)
{
	const struct pg_ref *x = a, *y = b;
	if (x->pgno != y->pgno)
		return x->pgno < y->pgno ? -1 : 1;
	return x->idx > y->idx ? -1 : x->idx < y->idx; /* newest frame first */
}

int repl_poll(struct store_db *db, struct repl_tx *tx)
{
	memset(tx, 0, sizeof *tx);
	struct repl_state *rs = state_of(db);
	if (!rs || rs->phase != PH_PENDING)
		return 0;
	if (rs->broken || !rs->wal_real || !tx_committed(rs)) {
		log_error(STORE_COMPONENT, "capture cannot decode the transaction db=%s", db->name);
		return MR_EIO;
	}
	uint32_t nf = rs->last - rs->first + 1;
	uint32_t db_size = rs->frames[nf - 1].commit;
	struct pg_ref *refs = xcalloc(nf, sizeof *refs);
	size_t n = 0;
	for (uint32_t i = 0; i < nf; i++) {
		if (rs->frames[i].pgno == 0) {
			free(refs);
			return MR_EIO;
		}
		if (rs->frames[i].pgno <= db_size) /* pages past the end vanish with the truncate */
			refs[n++] = (struct pg_ref){rs->frames[i].pgno, rs->first + i};
	}
	qsort(refs, n, sizeof *refs, pg_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || refs[u - 1].pgno != refs[i].pgno)
			refs[u++] = refs[i];
	tx->page_size = rs->page_size;
	tx->db_size = db_size;
	tx->n = u;
	tx->pgno = xcalloc(u ? u : 1, sizeof *tx->pgno);
	tx->pages = xmalloc(u ? u * rs->page_size : 1);
	for (size_t i = 0; i < u; i++) {
		tx->pgno[i] = refs[i].pgno;
		int rc = rs->wal_real->pMethods->xRead(rs->wal_real, tx->pages + i * rs->page_size,
		                                       (int)rs->page_size,
		                                       frame_off(rs, refs[i].idx) + FRAME_HDR);
		if (rc != SQLITE_OK) {
			free(refs);
			repl_tx_free(tx);
			return MR_EIO;
		}
	}
	free(refs);
	rs->phase = PH_POLLED;
	return 1;
}

void repl_tx_free(struct repl_tx *tx)
{
	free(tx->pgno);
	free(tx->pages);
	memset(tx, 0, sizeof *tx);
}

static void release_write_lock(struct repl_state *rs)
{
	rs->main_real->pMethods->xShmLock(rs->main_real, SHM_WRITE_LOCK, 1,
	                                  SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE);
}

int repl_promote(struct store_db *db)
{
	struct repl_state *rs = state_of(db);
	if (!rs || !store__repl_holds_tx(rs) || rs->broken || !tx_committed(rs))
		return MR_EINVAL;
	if (!rs->wal_real)
		return MR_EIO;
	sqlite3_int64 lo = frame_off(rs, rs->first), hi = frame_off(rs, rs->last);
	for (size_t i = 0; i < rs->nheld; i++) {
		if (rs->held[i].off < lo || rs->held[i].off > hi)
			continue;
		if (rs->wal_real->pMethods->xWrite(rs->wal_real, rs->held[i].hdr, FRAME_HDR,
		                                   rs->held[i].off) != SQLITE_OK)
			return MR_EIO;
	}
	/* No sync: the entry is already durable in the raft log of a majority, and the state
	 * machine syncs this -wal at its next sync point before it records the entry as applied;
	 * a crash before that replays the entry (torn frames fail SQLite's WAL checksums and are
	 * dropped at recovery). */
	tx_reset(rs);
	rs->phase = PH_IDLE;
	release_write_lock(rs);
	if (rs->wal_frames >= REPL_CKPT_FRAMES && !db->in_tx) {
		int rv = checkpoint(db, rs);
		if (rv != 0)
			log_debug(STORE_COMPONENT, "checkpoint deferred db=%s err=%s", db->name,
			          mr_strerror(rv));
	}
	return 0;
}

int repl_abort(struct store_db *db)
{
	struct repl_state *rs = state_of(db);
	if (!rs || !store__repl_holds_tx(rs))
		return 0;
	reset_stmts(db);
	/* 1. Cut the transaction off the -wal (its commit header is invalid there already; the
	 *    cut also covers a broken capture and leaves no garbage behind). */
	sqlite3_int64 cut = 0;
	if (rs->min_off >= WAL_HDR && rs->min_off != INT64_MAX) {
		sqlite3_int64 fs = FRAME_HDR + rs->page_size;
		cut = WAL_HDR + (rs->min_off - WAL_HDR) / fs * fs;
	}
	int rv = 0;
	if (!rs->wal_real || rs->wal_real->pMethods->xTruncate(rs->wal_real, cut) != SQLITE_OK ||
	    rs->wal_real->pMethods->xSync(rs->wal_real, SQLITE_SYNC_NORMAL) != SQLITE_OK)
		rv = MR_EIO;
	/* 2. Still holding the write lock: zero the wal-index header so the next reader runs
	 *    SQLite's WAL recovery from the file (wal.c walIndexReadHdr). */
	volatile uint8_t *shm = store__vfs_shm0(db->sql);
	if (shm) {
		for (size_t i = 0; i < WALINDEX_HDR_BYTES; i++)
			shm[i] = 0;
	} else {
		rv = MR_EIO;
	}
	rs->wal_frames = cut > WAL_HDR ? (int)((cut - WAL_HDR) / (FRAME_HDR + rs->page_size)) : 0;
	tx_reset(rs);
	rs->phase = PH_IDLE;
	release_write_lock(rs);
	/* 3. Recover now (and learn whether it worked). */
	if (sqlite3_exec(db->sql, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
	    SQLITE_OK)
		rv = MR_EIO;
	if (rv != 0)
		log_error(STORE_COMPONENT, "abort could not rebuild the wal-index db=%s", db->name);
	return rv;
}

int repl_checkpoint(struct store_db *db, bool force)
{
	struct repl_state *rs = state_of(db);
	if (!rs)
		return MR_EINVAL;
	if (rs->phase != PH_IDLE || db->in_tx)
		return MR_EBUSY;
	if (!force && rs->wal_frames < REPL_CKPT_FRAMES)
		return 0;
	return checkpoint(db, rs);
}

/* ---- follower side ------------------------------------------------------------------------ */

int repl_invalidate(struct store_db *db)
{
	if (!db->sql || db->in_tx || state_of(db))
		return MR_EINVAL;
	reset_stmts(db);
	return reload(db);
}

static int sync_parent_dir(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return MR_EIO;
	int rv = fsync(fd) == 0 ? 0 : MR_EIO;
	close(fd);
	return rv;
}

static int apply(const char *path, uint32_t page_size, uint32_t db_size, size_t n,
                 const uint32_t *pgno, const uint8_t *flat, const uint8_t *const *vec,
                 unsigned flags)
{
	if (!page_size_ok(page_size) || db_size == 0 || (n && (!pgno || (!flat && !vec))))
		return MR_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (pgno[i] == 0 || (vec && !vec[i]))
			return MR_EINVAL;
	/* A -wal with frames would override the pages we write (its frames win on read). */
	char *wal = xasprintf("%s-wal", path);
	struct stat sb;
	bool busy = stat(wal, &sb) == 0 && sb.st_size > 0;
	free(wal);
	if (busy)
		return MR_EBUSY;
	bool created = stat(path, &sb) != 0;
	int oflags = O_RDWR | O_CREAT | O_CLOEXEC | ((flags & REPL_APPLY_TRUNC) ? O_TRUNC : 0);
	int fd = open(path, oflags, 0600);
	if (fd < 0) {
		log_error(STORE_COMPONENT, "apply: cannot open err=%s", strerror(errno));
		return MR_EIO;
	}
	int rv = 0;
	for (size_t i = 0; i < n && rv == 0; i++) {
		if (pgno[i] > db_size)
			continue; /* cut by the truncate below anyway */
		const uint8_t *p = vec ? vec[i] : flat + i * (size_t)page_size;
		rv = mr_pwrite_all(fd, p, page_size, (uint64_t)(pgno[i] - 1) * page_size);
	}
	if (rv == 0 && ftruncate(fd, (off_t)db_size * page_size) != 0)
		rv = MR_EIO;
	if (rv == 0 && !(flags & REPL_APPLY_NOSYNC) && fdatasync(fd) != 0)
		rv = MR_EIO;
	if (close(fd) != 0 && rv == 0)
		rv = MR_EIO;
	if (rv == 0 && created && !(flags & REPL_APPLY_NOSYNC))
		rv = sync_parent_dir(path);
	if (rv != 0)
		log_error(STORE_COMPONENT, "apply: write failed err=%s", strerror(errno));
	return rv;
}

int repl_apply_pages(const char *path, uint32_t page_size, uint32_t db_size, size_t n,
                     const uint32_t *pgno, const uint8_t *pages)
{
	return apply(path, page_size, db_size, n, pgno, pages, NULL, 0);
}

int repl_apply_pagev(const char *path, uint32_t page_size, uint32_t db_size, size_t n,
                     const uint32_t *pgno, const uint8_t *const *pages, unsigned flags)
{
	return apply(path, page_size, db_size, n, pgno, NULL, pages, flags);
}

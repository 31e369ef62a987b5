/* vfs.c - "mrvfs", the store's SQLite VFS: a pass-through over the default "unix" VFS through
 * which every database is opened (sqlite3_open_v2(..., "mrvfs")). A connection switched into
 * the Raft capture mode of repl.h has its main file and -wal file linked to a repl_state
 * (repl.c); only then are xShmLock/xLock on the main file and xWrite/xRead on the -wal file
 * routed through repl.c's hooks, so a connection that never enables capture behaves exactly
 * as with "unix". SQLCipher encrypts above the VFS, so everything seen here is already
 * ciphertext except the WAL header and frame headers (dependencies.md §2). io_methods are
 * version 3 (shared memory for WAL plus xFetch/xUnfetch). Registered once, not as default.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>

enum vfs_kind { VFS_OTHER, VFS_MAIN, VFS_WAL };

struct mrvfs_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation (szOsFile) */
	enum vfs_kind kind;
	struct repl_state *repl; /* capture state when linked (main: owner; wal: borrowed) */
	void volatile *shm0;     /* main: wal-index region 0 as last mapped */
};

#define MF(f) ((struct mrvfs_file *)(f))

static sqlite3_vfs *real_vfs;
static sqlite3_vfs mrvfs;

#define REAL(f) (((struct mrvfs_file *)(f))->real)

static int f_close(sqlite3_file *f)
{
	struct mrvfs_file *mf = MF(f);
	if (mf->repl) {
		if (mf->kind == VFS_MAIN)
			store__repl_free(mf->repl);
		else
			store__repl_wal_closed(mf->repl);
		mf->repl = NULL;
	}
	sqlite3_file *r = REAL(f);
	int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
	f->pMethods = NULL;
	return rc;
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	int rc = REAL(f)->pMethods->xRead(REAL(f), p, n, off);
	if (MF(f)->repl && MF(f)->kind == VFS_WAL &&
	    (rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ))
		store__repl_wal_read(MF(f)->repl, p, n, off);
	return rc;
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	if (MF(f)->repl && MF(f)->kind == VFS_WAL)
		return store__repl_wal_write(MF(f)->repl, REAL(f), p, n, off);
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int lvl)
{
	/* SQLite 3.15.2 has no SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE: closing the last connection
	 * checkpoints the WAL when this lock succeeds, which must never copy a pending
	 * (not yet replicated) transaction into the database file (replication.md §2.3). */
	if (lvl == SQLITE_LOCK_EXCLUSIVE && MF(f)->repl && MF(f)->kind == VFS_MAIN &&
	    store__repl_holds_tx(MF(f)->repl))
		return SQLITE_BUSY;
	return REAL(f)->pMethods->xLock(REAL(f), lvl);
}

static int f_unlock(sqlite3_file *f, int lvl)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lvl);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
	int rc = REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
	if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK && arg) {
		char **name = arg;
		char *wrapped = sqlite3_mprintf(STORE_VFS_NAME "/%z", *name);
		if (wrapped)
			*name = wrapped;
	}
	return rc;
}

static int f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	int rc = REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
	if (pg == 0 && rc == SQLITE_OK)
		MF(f)->shm0 = *pp;
	return rc;
}

static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	if (MF(f)->repl && MF(f)->kind == VFS_MAIN)
		return store__repl_shm_lock(MF(f)->repl, REAL(f), off, n, flags);
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
	MF(f)->shm0 = NULL;
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods io_v3 = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_check_reserved,
    .xFileControl = f_fcntl,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_devchar,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct mrvfs_file *mf = (struct mrvfs_file *)f;
	mf->real = (sqlite3_file *)(mf + 1);
	mf->kind = (flags & SQLITE_OPEN_MAIN_DB) ? VFS_MAIN
	           : (flags & SQLITE_OPEN_WAL)   ? VFS_WAL
	                                         : VFS_OTHER;
	mf->repl = NULL;
	mf->shm0 = NULL;
	memset(mf->real, 0, (size_t)real_vfs->szOsFile);
	f->pMethods = NULL;
	int rc = real_vfs->xOpen(real_vfs, name, mf->real, flags, out_flags);
	/* The real methods may be older than v3 (never for "unix"); we forward only what exists,
	 * and a NULL pMethods after a failed open means xClose must not be called. */
	if (mf->real->pMethods)
		f->pMethods = &io_v3;
	return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *path)
{
	return real_vfs->xDlOpen(real_vfs, path);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
	real_vfs->xDlClose(real_vfs, h);
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
	return real_vfs->xSleep(real_vfs, us);
}

static int v_time(sqlite3_vfs *vfs, double *t)
{
	return real_vfs->xCurrentTime(real_vfs, t);
}

static int v_lasterr(sqlite3_vfs *vfs, int n, char *msg)
{
	return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	return real_vfs->xCurrentTimeInt64(real_vfs, t);
}

static int v_set_syscall(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr p)
{
	return real_vfs->xSetSystemCall(real_vfs, name, p);
}

static sqlite3_syscall_ptr v_get_syscall(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs->xGetSystemCall(real_vfs, name);
}

static const char *v_next_syscall(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs->xNextSystemCall(real_vfs, name);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_rv = MR_EIO;

static void do_register(void)
{
	real_vfs = sqlite3_vfs_find("unix");
	if (!real_vfs || real_vfs->iVersion < 3) {
		log_error(STORE_COMPONENT, "sqlite has no usable unix VFS");
		return;
	}
	mrvfs = (sqlite3_vfs){
	    .iVersion = 3,
	    .szOsFile = (int)sizeof(struct mrvfs_file) + real_vfs->szOsFile,
	    .mxPathname = real_vfs->mxPathname,
	    .zName = STORE_VFS_NAME,
	    .xOpen = v_open,
	    .xDelete = v_delete,
	    .xAccess = v_access,
	    .xFullPathname = v_fullpath,
	    .xDlOpen = v_dlopen,
	    .xDlError = v_dlerror,
	    .xDlSym = v_dlsym,
	    .xDlClose = v_dlclose,
	    .xRandomness = v_random,
	    .xSleep = v_sleep,
	    .xCurrentTime = v_time,
	    .xGetLastError = v_lasterr,
	    .xCurrentTimeInt64 = v_time64,
	    .xSetSystemCall = v_set_syscall,
	    .xGetSystemCall = v_get_syscall,
	    .xNextSystemCall = v_next_syscall,
	};
	if (sqlite3_vfs_register(&mrvfs, 0) == SQLITE_OK)
		once_rv = 0;
	else
		log_error(STORE_COMPONENT, "sqlite3_vfs_register failed");
}

int store__vfs_register(void)
{
	pthread_once(&once, do_register);
	return once_rv;
}

/* ---- capture linkage (repl.c) ------------------------------------------------------------ */

static struct mrvfs_file *conn_file(sqlite3 *sql, int op, enum vfs_kind kind)
{
	sqlite3_file *f = NULL;
	if (sqlite3_file_control(sql, "main", op, &f) != SQLITE_OK || !f || f->pMethods != &io_v3 ||
	    MF(f)->kind != kind)
		return NULL;
	return MF(f);
}

int store__vfs_link(sqlite3 *sql, struct repl_state *rs, sqlite3_file **main_real_r,
                    sqlite3_file **wal_real_r)
{
	struct mrvfs_file *m = conn_file(sql, SQLITE_FCNTL_FILE_POINTER, VFS_MAIN);
	struct mrvfs_file *w = conn_file(sql, SQLITE_FCNTL_JOURNAL_POINTER, VFS_WAL);
	if (!m || !w || m->repl || w->repl)
		return MR_EINVAL;
	m->repl = rs;
	w->repl = rs;
	*main_real_r = m->real;
	*wal_real_r = w->real;
	return 0;
}

void store__vfs_unlink(sqlite3 *sql)
{
	struct mrvfs_file *m = conn_file(sql, SQLITE_FCNTL_FILE_POINTER, VFS_MAIN);
	struct mrvfs_file *w = conn_file(sql, SQLITE_FCNTL_JOURNAL_POINTER, VFS_WAL);
	if (w && m && w->repl == m->repl)
		w->repl = NULL;
	if (m)
		m->repl = NULL;
}

struct repl_state *store__vfs_repl(sqlite3 *sql)
{
	struct mrvfs_file *m = conn_file(sql, SQLITE_FCNTL_FILE_POINTER, VFS_MAIN);
	return m ? m->repl : NULL;
}

void volatile *store__vfs_shm0(sqlite3 *sql)
{
	struct mrvfs_file *m = conn_file(sql, SQLITE_FCNTL_FILE_POINTER, VFS_MAIN);
	return m ? m->shm0 : NULL;
}

int store__vfs_shm_reset(sqlite3 *sql)
{
	struct mrvfs_file *m = conn_file(sql, SQLITE_FCNTL_FILE_POINTER, VFS_MAIN);
	if (!m || m->repl)
		return MR_EINVAL;
	if (!m->shm0)
		return 0; /* no wal-index yet: nothing cached from it */
	sqlite3_file *r = m->real;
	if (r->pMethods->xShmLock(r, 0, 1, SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE) != SQLITE_OK)
		return MR_EBUSY;
	volatile uint8_t *hdr = m->shm0;
	for (size_t i = 0; i < 96; i++) /* both copies of the WalIndexHdr */
		hdr[i] = 0;
	r->pMethods->xShmLock(r, 0, 1, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE);
	return 0;
}

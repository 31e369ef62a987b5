/* vfs.c - "mrvfs", the store's SQLite VFS. Today a pure pass-through over the default "unix"
 * VFS: every database is opened through it (sqlite3_open_v2(..., "mrvfs")) so the Raft WAL
 * capture (issue 3) can later intercept xWrite/xSync on the -wal file (SQLITE_OPEN_WAL) without
 * touching callers. SQLCipher encrypts above the VFS, so everything seen here is already
 * ciphertext except the WAL header and frame headers (dependencies.md §2). io_methods are
 * version 3 (shared memory for WAL plus xFetch/xUnfetch). Registered once, not as default.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>

struct mrvfs_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation (szOsFile) */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs mrvfs;

#define REAL(f) (((struct mrvfs_file *)(f))->real)

static int f_close(sqlite3_file *f)
{
	sqlite3_file *r = REAL(f);
	int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
	f->pMethods = NULL;
	return rc;
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
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
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
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

/* store.c - opening and closing the store: library checks (SQLCipher's SQLite 3.15.2, never the
 * system libsqlite3), the data directory, and the master key. The master key is generated only
 * when the data directory holds no database yet; otherwise it is loaded and verified by
 * unwrapping a database key file (AEAD: a wrong master key cannot unwrap anything) BEFORE any
 * file is created or written, so a misconfigured node fails with MR_EKEY and leaves its data
 * untouched. Then the actors start and the directory database is opened (created on first
 * start). store_close drains the job queues, joins the actors, delivers the remaining
 * completions and closes the uv_async handle.
 *
 * Caller contract for a store opened with a loop: call store_open and store_close on the loop
 * thread. store_close runs the done callbacks of jobs still queued (synchronously, before it
 * returns) and then uv_close()s its async handle; the handle's memory is released by libuv's
 * close callback, so the caller must run the loop once more afterwards (uv_run(loop,
 * UV_RUN_DEFAULT) returns once nothing else is active) before uv_loop_close(). The async handle
 * is referenced: while the store is open, uv_run(UV_RUN_DEFAULT) does not return on its own.
 * With cfg->loop == NULL there is no handle: only store_run/store_drop and store_submit without
 * a done callback work, and the commit hook never fires.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int rv, const char *fmt, ...) MR_PRINTF(4, 5);

static int fail(char *err, size_t errlen, int rv, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rv;
}

static int check_libs(char *err, size_t errlen)
{
	if (sodium_init() < 0)
		return fail(err, errlen, MR_EIO, "libsodium initialisation failed");
	/* dependencies.md gotcha 1: a system libsqlite3 earlier on the link line silently writes
	 * plaintext. Only SQLCipher 3.4.1 embeds 3.15.2. */
	if (strcmp(sqlite3_libversion(), STORE_SQLITE_VERSION) != 0)
		return fail(err, errlen, MR_ECONFIG,
		            "linked SQLite is %s, not SQLCipher's %s: is libsqlite3 linked in?",
		            sqlite3_libversion(), STORE_SQLITE_VERSION);
	sqlite3 *mem = NULL;
	bool cipher = false;
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_stmt *s = NULL;
		if (sqlite3_prepare_v2(mem, "PRAGMA cipher_version", -1, &s, NULL) == SQLITE_OK)
			cipher = sqlite3_step(s) == SQLITE_ROW;
		sqlite3_finalize(s);
	}
	sqlite3_close(mem);
	if (!cipher)
		return fail(err, errlen, MR_ECONFIG, "SQLite has no SQLCipher codec");
	if (store__vfs_register() != 0)
		return fail(err, errlen, MR_EIO, "cannot register the %s VFS", STORE_VFS_NAME);
	return 0;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n > m && strcmp(s + n - m, suf) == 0;
}

/* Does db_dir hold any database or key file? *keyname_r (STORE_DBNAME_MAX) gets a database name
 * whose key can verify the master key: "directory" when present, else any. */
static bool scan_data(const char *db_dir, char *keyname_r)
{
	keyname_r[0] = 0;
	DIR *d = opendir(db_dir);
	if (!d)
		return false;
	bool any = false;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (!has_suffix(n, ".db") && !has_suffix(n, ".key"))
			continue;
		any = true;
		if (has_suffix(n, ".key") && strlen(n) - 4 < STORE_DBNAME_MAX &&
		    strcmp(keyname_r, STORE_DIRECTORY) != 0)
			snprintf(keyname_r, STORE_DBNAME_MAX, "%.*s", (int)(strlen(n) - 4), n);
	}
	closedir(d);
	return any;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return MR_EIO;
}

/* Load the existing master key, or (no data yet) create one. */
static int master_key(struct store *st, bool has_data, const char *keyname, char *err,
                      size_t errlen)
{
	size_t len = 0;
	int rv = store__file_read(st->master_key_file, st->mkey, STORE_KEYBYTES, &len);
	if (rv == 0 && len != STORE_KEYBYTES)
		rv = MR_ECORRUPT;
	if (rv == MR_ETOOBIG || rv == MR_ECORRUPT)
		return fail(err, errlen, MR_EKEY, "master key file %s is not %d bytes",
		            st->master_key_file, STORE_KEYBYTES);
	if (rv == MR_EIO)
		return fail(err, errlen, MR_EIO, "cannot read master key file %s: %s",
		            st->master_key_file, strerror(errno));
	if (has_data) {
		if (rv == MR_ENOTFOUND)
			return fail(err, errlen, MR_EKEY,
			            "master key file %s is missing but %s holds databases",
			            st->master_key_file, st->data_dir);
		if (!keyname[0])
			return fail(err, errlen, MR_ECORRUPT, "%s holds databases but no key files",
			            st->db_dir);
		uint8_t dbkey[STORE_KEYBYTES];
		rv = store__key_load(st, keyname, dbkey);
		sodium_memzero(dbkey, sizeof dbkey);
		if (rv == MR_EKEY)
			return fail(err, errlen, MR_EKEY,
			            "master key does not match the data in %s", st->data_dir);
		if (rv != 0)
			return fail(err, errlen, rv,
			            "cannot verify the master key against %s.key: %s", keyname,
			            mr_strerror(rv));
		struct stat sb;
		if (stat(st->master_key_file, &sb) == 0 && (sb.st_mode & 077))
			log_warn(STORE_COMPONENT, "master key file is readable by others path=%s",
			         st->master_key_file);
		return 0;
	}
	if (rv == 0)
		return 0; /* provided before the first start (e.g. handed over by ctl) */
	randombytes_buf(st->mkey, STORE_KEYBYTES);
	if ((rv = store__file_write_atomic(st->master_key_file, st->mkey, STORE_KEYBYTES)) != 0)
		return fail(err, errlen, rv, "cannot write master key file %s",
		            st->master_key_file);
	log_info(STORE_COMPONENT, "created master key path=%s", st->master_key_file);
	return 0;
}

static int noop_job(struct store_db *db, void *arg)
{
	return 0;
}

static void async_cb(uv_async_t *h)
{
	struct store *st = h->data;
	if (st)
		store__drain_completions(st);
}

static void free_store(struct store *st)
{
	if (st->mkey)
		sodium_free(st->mkey); /* zeroes before freeing */
	pthread_mutex_destroy(&st->cmpl_mu);
	free(st->data_dir);
	free(st->db_dir);
	free(st->master_key_file);
	free(st);
}

int store_open(const struct store_config *cfg, struct store **st_r, char *err, size_t errlen)
{
	int rv;
	if (err && errlen)
		err[0] = 0;
	if (!cfg || !cfg->data_dir || !cfg->data_dir[0])
		return fail(err, errlen, MR_EINVAL, "no data directory configured");
	if ((rv = check_libs(err, errlen)) != 0)
		return rv;

	struct store *st = xmalloc(sizeof *st);
	pthread_mutex_init(&st->cmpl_mu, NULL);
	st->data_dir = xstrdup(cfg->data_dir);
	st->db_dir = xasprintf("%s/db", cfg->data_dir);
	st->master_key_file = cfg->master_key_file && cfg->master_key_file[0]
	                          ? xstrdup(cfg->master_key_file)
	                          : xasprintf("%s/master.key", cfg->data_dir);
	st->pwcost = cfg->pwcost;
	st->loop = cfg->loop;
	st->nactors = cfg->actors;
	st->mkey = sodium_malloc(STORE_KEYBYTES);
	if (!st->mkey) {
		rv = fail(err, errlen, MR_ENOMEM, "cannot allocate key memory");
		goto err;
	}

	char keyname[STORE_DBNAME_MAX];
	bool has_data = scan_data(st->db_dir, keyname);
	if (!has_data && (make_dir(st->data_dir) != 0 || make_dir(st->db_dir) != 0)) {
		rv = fail(err, errlen, MR_EIO, "cannot create data directory %s: %s", st->db_dir,
		          strerror(errno));
		goto err;
	}
	if ((rv = master_key(st, has_data, keyname, err, errlen)) != 0)
		goto err;

	if ((rv = store__actors_start(st)) != 0) {
		fail(err, errlen, rv, "cannot start store threads");
		goto err_after_actors;
	}
	rv = cfg->no_directory ? 0 : store_run(st, STORE_DIRECTORY, STORE_CREATE, noop_job, NULL);
	if (rv != 0) {
		fail(err, errlen, rv, "cannot open the directory database in %s: %s", st->db_dir,
		     mr_strerror(rv));
		goto err_after_actors;
	}
	if (st->loop) {
		st->async = xmalloc(sizeof *st->async);
		if (uv_async_init(st->loop, st->async, async_cb) != 0) {
			free(st->async);
			st->async = NULL;
			rv = fail(err, errlen, MR_EIO, "uv_async_init failed");
			goto err_after_actors;
		}
		st->async->data = st;
	}
	log_info(STORE_COMPONENT, "store open dir=%s actors=%u", st->data_dir, st->nactors);
	*st_r = st;
	return 0;

err_after_actors:
	store__actors_stop(st);
err:
	free_store(st);
	return rv;
}

void store_set_commit_hook(struct store *st, store_commit_hook hook, void *ud)
{
	st->hook = hook;
	st->hook_ud = ud;
}

bool store_exists(struct store *st, const char *dbname)
{
	if (!store__name_valid(dbname))
		return false;
	char *path = store__db_path(st, dbname, ".db");
	struct stat sb;
	bool ok = stat(path, &sb) == 0;
	free(path);
	return ok;
}

static void async_close_cb(uv_handle_t *h)
{
	free(h);
}

void store_close(struct store **stp)
{
	struct store *st = *stp;
	if (!st)
		return;
	*stp = NULL;
	store__actors_stop(st);
	/* Jobs are all finished: deliver their completions now so every done callback runs
	 * exactly once, on this (the loop's) thread. */
	store__drain_completions(st);
	if (st->async) {
		st->async->data = NULL;
		uv_close((uv_handle_t *)st->async, async_close_cb);
	}
	log_info(STORE_COMPONENT, "store closed dir=%s", st->data_dir);
	free_store(st);
}

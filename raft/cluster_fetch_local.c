/* cluster_fetch_local.c - the local steps of the database fetch (cluster_fetch.h), both run on
 * the raft thread so no entry applies meanwhile: making a consistent byte copy of a database
 * for a peer (store checkpoint, then a reflink / copy_file_range / read-write copy of the .db
 * file and the key file, labelled with the state machine's applied index of the database), and
 * installing a fetched copy (index check against the state machine, store_repl_install,
 * cl_fsm_fetch_done, sync point). */
#define _GNU_SOURCE /* copy_file_range */
#include "raft/cluster_fetch_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h> /* FICLONE */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "raft/cluster_fsm.h"
#include "storage/store.h"

static bool needs_fetch(struct cl_fsm *fsm, const char *db)
{
	size_t n = cl_fsm_needs_fetch(fsm, NULL, 0);
	if (n == 0)
		return false;
	char(*names)[CL_DBNAME_MAX] = xcalloc(n, sizeof *names);
	n = cl_fsm_needs_fetch(fsm, names, n);
	bool found = false;
	for (size_t i = 0; i < n && !found; i++)
		found = strcmp(names[i], db) == 0;
	free(names);
	return found;
}

/* Byte copy of an open file into another: reflink when the file system shares extents
 * (instant), else copy_file_range (in the kernel), else read/write. 0 or MR_EIO. */
static int copy_fd(int in, int out, uint64_t size)
{
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	uint64_t done = 0;
	bool plain = false;
	uint8_t *buf = NULL;
	while (done < size) {
		size_t want = size - done > (1u << 30) ? (1u << 30) : (size_t)(size - done);
		ssize_t k;
		if (!plain) {
			loff_t ioff = (loff_t)done, ooff = (loff_t)done;
			k = copy_file_range(in, &ioff, out, &ooff, want, 0);
			if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			              errno == EOPNOTSUPP)) {
				plain = true;
				continue;
			}
		} else {
			if (!buf)
				buf = xmalloc(1u << 20);
			k = pread(in, buf, want > (1u << 20) ? (1u << 20) : want, (off_t)done);
			for (ssize_t w = 0; k > 0 && w < k;) {
				ssize_t n = pwrite(out, buf + w, (size_t)(k - w),
				                   (off_t)(done + (uint64_t)w));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					k = -1;
					break;
				}
				w += n;
			}
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(buf);
			return MR_EIO; /* error, or the file shrank under us */
		}
		done += (uint64_t)k;
	}
	free(buf);
	return 0;
}

int cl_fetch_make_copy(struct store *st, struct cl_fsm *fsm, const char *data_dir, const char *db,
                       const char *path, struct cl_fetch_copy *c_r)
{
	uint64_t index;
	int rv = cl_fsm_db_index(fsm, db, &index);
	if (rv != 0)
		return MR_ENOTFOUND;
	if (needs_fetch(fsm, db))
		return MR_EBUSY; /* our own file is not a valid copy either */
	/* Our own promoted transactions live in the -wal: move them into the file. Nothing can
	 * change the file after this until the raft thread (us) applies the next entry. */
	if ((rv = store_repl_checkpoint(st, db, NULL)) != 0)
		return rv;
	char *kp = xasprintf("%s/db/%s.key", data_dir, db);
	uint8_t *key = NULL;
	size_t key_len = 0;
	rv = mr_read_file(kp, CL_FETCH_KEY_MAX, &key, &key_len);
	free(kp);
	if (rv == 0 && key_len > 0) {
		memcpy(c_r->key, key, key_len);
		c_r->key_len = key_len;
	}
	free(key);
	if (rv != 0 || key_len == 0)
		return rv == MR_ENOTFOUND ? MR_ENOTFOUND : MR_EIO;
	char *dp = xasprintf("%s/db/%s.db", data_dir, db);
	int in = open(dp, O_RDONLY | O_CLOEXEC);
	free(dp);
	if (in < 0)
		return errno == ENOENT ? MR_ENOTFOUND : MR_EIO;
	struct stat sb;
	int out = -1;
	if (fstat(in, &sb) != 0 || sb.st_size < (off_t)CL_PAGE_SIZE ||
	    sb.st_size % CL_PAGE_SIZE != 0 || (uint64_t)sb.st_size > CL_FETCH_SIZE_MAX) {
		log_error(CL_FETCH_COMP, "copy: unexpected database size db=%s size=%lld", db,
		          (long long)sb.st_size);
		rv = MR_EIO;
	} else if ((out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rv = MR_EIO;
	} else {
		rv = copy_fd(in, out, (uint64_t)sb.st_size);
	}
	close(in);
	if (out >= 0 && close(out) != 0)
		rv = MR_EIO;
	if (rv != 0) {
		unlink(path);
		log_error(CL_FETCH_COMP, "copy failed db=%s err=%s", db, mr_strerror(rv));
		return rv;
	}
	c_r->index = index;
	c_r->size = (uint64_t)sb.st_size;
	return 0;
}

int cl_fetch_install(struct store *st, struct cl_fsm *fsm, const char *db, uint64_t index,
                     const char *tmp_path, const uint8_t *key, size_t key_len)
{
	uint64_t cur;
	if (cl_fsm_db_index(fsm, db, &cur) != 0)
		return MR_ENOTFOUND; /* deleted meanwhile */
	if (index < cur)
		return MR_EBUSY; /* the copy misses entries this node already handled */
	if (!needs_fetch(fsm, db)) {
		unlink(tmp_path); /* fetched by an earlier attempt (or recreated): nothing to do */
		return store_repl_hold(st, db, false);
	}
	int rv = store_repl_install(st, db, index, tmp_path, key, key_len);
	if (rv != 0)
		return rv == MR_EBUSY ? MR_EBUSY : MR_EIO;
	if ((rv = cl_fsm_fetch_done(fsm, db, index)) != 0)
		return rv;
	if (cl_fsm_sync(fsm) != 0)
		return MR_EIO;
	log_info(CL_FETCH_COMP, "fetched db=%s index=%llu (was %llu)", db,
	         (unsigned long long)index, (unsigned long long)cur);
	return 0;
}

/* cluster_fsm_disk.c - the state machine's disk side: writing pages into database files
 * (pwrite at (pgno-1)*CL_PAGE_SIZE, then ftruncate to db_size pages: replication.md §2.2 and
 * §7.4), key files and deletions; the durable applied record <data_dir>/raft/applied (written
 * atomically: tmp file, fdatasync, rename, directory fsync; checked by magic, version and a
 * CRC-32 on load); and the snapshot manifest (§7.5). Both binary formats are little-endian with
 * explicit widths, bounded on decode before any allocation.
 *
 *   applied:  "MRAPPLD1" u32 version u32 n u64 global_index, n records, u32 crc32
 *     record: name[64] (NUL padded) u64 applied u32 flags(1 = needs fetch) u32 n_tokens
 *             u32 tok_next u32 0 u64 tokens[CL_FSM_TOKENS]
 *   manifest: "MRSNAP01" u64 index u32 n, n x {u8 len, name, u32 page_count,
 *             u64 last_modified}, u32 crc32 */
#include "raft/cluster_fsm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#define APPLIED_MAGIC "MRAPPLD1"
#define APPLIED_VERSION 1u
#define APPLIED_HDR (8 + 4 + 4 + 8)
#define APPLIED_REC (CL_DBNAME_MAX + 8 + 4 + 4 + 4 + 4 + 8 * CL_FSM_TOKENS)
#define APPLIED_MAX_RECS (1u << 22)
#define MANIFEST_MAGIC "MRSNAP01"
#define MANIFEST_MAX_DBS (1u << 22)

uint32_t cl__crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

char *cl__fsm_path(const struct cl_fsm *fsm, const char *name, const char *ext)
{
	/* the checks quiet gcc -O2's -Wformat-overflow on inlined callers; never NULL in practice */
	return xasprintf("%s/%s%s", fsm->db_dir ? fsm->db_dir : ".", name ? name : "",
			 ext ? ext : "");
}

static int io_fail(const char *what, const char *name)
{
	log_error(CL_FSM_COMP, "fsm %s failed db=%s err=%s", what, name ? name : "-",
	          strerror(errno));
	return MR_EIO;
}

/* TODO(issue 3): switch to storage's repl_apply_pages() (storage/repl.c) once it lands; same
 * semantics: pages at (pgno-1)*page_size, then the file truncated to db_size pages. */
int cl__fsm_write_pages(struct cl_fsm *fsm, const struct cl_frames *s, bool create)
{
	char *path = cl__fsm_path(fsm, s->db, ".db");
	int rv = MR_EIO;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (create ? O_TRUNC : 0), 0600);
	if (fd < 0) {
		io_fail("open", s->db);
		goto out;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		/* Pages beyond db_size (a shrinking transaction) would be cut right away. */
		if (s->pgno[i] > s->db_size)
			continue;
		if (mr_pwrite_all(fd, s->pages[i], CL_PAGE_SIZE,
		                  (uint64_t)(s->pgno[i] - 1) * CL_PAGE_SIZE) != 0) {
			io_fail("pwrite", s->db);
			goto out_close;
		}
	}
	if (ftruncate(fd, (off_t)s->db_size * CL_PAGE_SIZE) != 0) {
		io_fail("ftruncate", s->db);
		goto out_close;
	}
	rv = 0;
out_close:
	close(fd);
out:
	free(path);
	return rv;
}

/* Write path atomically: tmp + fdatasync + rename (the directory is synced at the sync point). */
static int write_atomic(const char *path, const uint8_t *p, size_t n, const char *name)
{
	char *tmp = xasprintf("%s.tmp", path);
	int rv = MR_EIO;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		io_fail("open", name);
		goto out;
	}
	if (mr_pwrite_all(fd, p, n, 0) != 0 || fdatasync(fd) != 0) {
		io_fail("write", name);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		io_fail("rename", name);
		unlink(tmp);
		goto out;
	}
	rv = 0;
out:
	free(tmp);
	return rv;
}

int cl__fsm_write_key(struct cl_fsm *fsm, const char *name, const uint8_t *p, size_t n)
{
	char *path = cl__fsm_path(fsm, name, ".key");
	int rv = write_atomic(path, p, n, name);
	free(path);
	return rv;
}

int cl__fsm_remove_db(struct cl_fsm *fsm, const char *name)
{
	static const char *const exts[] = {".db", ".db-wal", ".db-shm", ".key"};
	int rv = 0;
	for (size_t i = 0; i < MR_ARRAY_LEN(exts); i++) {
		char *path = cl__fsm_path(fsm, name, exts[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			rv = io_fail("unlink", name);
		free(path);
	}
	return rv;
}

int64_t cl__fsm_file_pages(const struct cl_fsm *fsm, const char *name)
{
	char *path = cl__fsm_path(fsm, name, ".db");
	struct stat sb;
	int64_t rv = 0;
	if (stat(path, &sb) == 0)
		rv = (int64_t)(sb.st_size / CL_PAGE_SIZE);
	else if (errno != ENOENT)
		rv = io_fail("stat", name);
	free(path);
	return rv;
}

static int sync_path(const char *path, const char *name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : io_fail("open for sync", name);
	int rc = fdatasync(fd);
	close(fd);
	return rc == 0 ? 0 : io_fail("fdatasync", name);
}

static char *applied_path(const struct cl_fsm *fsm)
{
	return xasprintf("%s/applied", fsm->raft_dir);
}

int cl__fsm_save_applied(struct cl_fsm *fsm)
{
	/* Data first: every dirtied file, then the directory entries, then the record. */
	for (size_t i = 0; i < fsm->n_recs; i++) {
		struct cl_dbrec *r = fsm->recs[i];
		if (!r->dirty || !r->live)
			continue;
		/* the -wal too: a node's own transactions are promoted into it without a sync
		 * (the raft log holds them durably until this point) */
		static const char *const exts[] = {".db", ".db-wal"};
		for (size_t k = 0; k < sizeof exts / sizeof exts[0]; k++) {
			char *path = cl__fsm_path(fsm, r->name, exts[k]);
			int rc = sync_path(path, r->name);
			free(path);
			if (rc != 0)
				return rc;
		}
	}
	if (fsm->dir_dirty && sync_path(fsm->db_dir, NULL) != 0)
		return MR_EIO;

	size_t live = 0;
	for (size_t i = 0; i < fsm->n_recs; i++)
		live += fsm->recs[i]->live;
	size_t len = APPLIED_HDR + live * APPLIED_REC + 4;
	uint8_t *buf = xmalloc(len), *p = buf;
	memcpy(p, APPLIED_MAGIC, 8);
	put32(p + 8, APPLIED_VERSION);
	put32(p + 12, (uint32_t)live);
	put64(p + 16, fsm->st.last_index);
	p += APPLIED_HDR;
	for (size_t i = 0; i < fsm->n_recs; i++) {
		const struct cl_dbrec *r = fsm->recs[i];
		if (!r->live)
			continue;
		memcpy(p, r->name, CL_DBNAME_MAX); /* NUL padded: records are zeroed on insert */
		put64(p + 64, r->applied);
		put32(p + 72, r->needs_fetch ? 1u : 0u);
		put32(p + 76, r->n_tokens);
		put32(p + 80, r->tok_next);
		put32(p + 84, 0);
		for (unsigned k = 0; k < CL_FSM_TOKENS; k++)
			put64(p + 88 + 8 * k, r->tokens[k]);
		p += APPLIED_REC;
	}
	put32(p, cl__crc32(buf, len - 4));
	char *path = applied_path(fsm);
	int rv = write_atomic(path, buf, len, NULL);
	free(path);
	free(buf);
	if (rv == 0 && sync_path(fsm->raft_dir, NULL) != 0)
		rv = MR_EIO;
	return rv;
}

static int corrupt(const char *why)
{
	log_error(CL_FSM_COMP, "fsm applied record corrupt reason=\"%s\"", why);
	return MR_ECORRUPT;
}

int cl__fsm_load_applied(struct cl_fsm *fsm)
{
	char *path = applied_path(fsm);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : io_fail("open applied", NULL);
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return io_fail("stat applied", NULL);
	}
	if (sb.st_size < APPLIED_HDR + 4 ||
	    (uint64_t)sb.st_size > APPLIED_HDR + (uint64_t)APPLIED_MAX_RECS * APPLIED_REC + 4) {
		close(fd);
		return corrupt("size");
	}
	size_t len = (size_t)sb.st_size;
	uint8_t *buf = xmalloc(len);
	ssize_t got = pread(fd, buf, len, 0);
	close(fd);
	int rv = 0;
	if (got != (ssize_t)len) {
		rv = got < 0 ? io_fail("read applied", NULL) : corrupt("short read");
		goto out;
	}
	if (memcmp(buf, APPLIED_MAGIC, 8) != 0 || get32(buf + 8) != APPLIED_VERSION) {
		rv = corrupt("magic/version");
		goto out;
	}
	uint32_t n = get32(buf + 12);
	if (len != APPLIED_HDR + (size_t)n * APPLIED_REC + 4) {
		rv = corrupt("length");
		goto out;
	}
	if (cl__crc32(buf, len - 4) != get32(buf + len - 4)) {
		rv = corrupt("checksum");
		goto out;
	}
	fsm->st.last_index = fsm->st.durable_index = get64(buf + 16);
	const uint8_t *p = buf + APPLIED_HDR;
	for (uint32_t i = 0; i < n; i++, p += APPLIED_REC) {
		char name[CL_DBNAME_MAX];
		memcpy(name, p, CL_DBNAME_MAX);
		size_t nl = strnlen(name, CL_DBNAME_MAX);
		uint32_t nt = get32(p + 76), next = get32(p + 80);
		if (!cl_dbname_valid(name, nl) || nt > CL_FSM_TOKENS || next >= CL_FSM_TOKENS ||
		    cl__fsm_find(fsm, name)) {
			rv = corrupt("record");
			goto out;
		}
		struct cl_dbrec *r = cl__fsm_insert(fsm, name);
		r->live = true;
		r->applied = get64(p + 64);
		r->needs_fetch = (get32(p + 72) & 1u) != 0;
		r->n_tokens = nt;
		r->tok_next = next;
		for (unsigned k = 0; k < CL_FSM_TOKENS; k++)
			r->tokens[k] = get64(p + 88 + 8 * k);
	}
out:
	free(buf);
	return rv;
}

void cl__fsm_manifest_encode(struct cl_fsm *fsm, uint64_t index, struct raft_buffer *buf_r)
{
	size_t n = 0, len = 8 + 8 + 4 + 4;
	for (size_t i = 0; i < fsm->n_recs; i++)
		if (fsm->recs[i]->live) {
			n++;
			len += 1 + strlen(fsm->recs[i]->name) + 4 + 8;
		}
	uint8_t *buf = raft_malloc(len), *p = buf;
	if (!buf)
		abort(); /* OOM policy */
	memcpy(p, MANIFEST_MAGIC, 8);
	put64(p + 8, index);
	put32(p + 16, (uint32_t)n);
	p += 20;
	for (size_t i = 0; i < fsm->n_recs; i++) {
		const struct cl_dbrec *r = fsm->recs[i];
		if (!r->live)
			continue;
		size_t nl = strlen(r->name);
		int64_t pages = cl__fsm_file_pages(fsm, r->name);
		*p++ = (uint8_t)nl;
		memcpy(p, r->name, nl);
		p += nl;
		put32(p, pages > 0 ? (uint32_t)pages : 0);
		put64(p + 4, r->applied);
		p += 12;
	}
	put32(p, cl__crc32(buf, len - 4));
	buf_r->base = buf;
	buf_r->len = len;
}

int cl__fsm_manifest_decode(const void *data, size_t len, uint64_t *index_r,
                            struct cl_manifest_db **dbs_r, size_t *n_r)
{
	const uint8_t *p = data, *end = p + len;
	*dbs_r = NULL;
	*n_r = 0;
	if (len < 24 || memcmp(p, MANIFEST_MAGIC, 8) != 0)
		return MR_ECORRUPT;
	if (cl__crc32(p, len - 4) != get32(end - 4))
		return MR_ECORRUPT;
	uint32_t n = get32(p + 16);
	/* Each record takes at least 1 + 1 + 12 bytes: bound n before allocating. */
	if (n > MANIFEST_MAX_DBS || (size_t)n * 14 > len - 24)
		return MR_ECORRUPT;
	*index_r = get64(p + 8);
	end -= 4;
	p += 20;
	struct cl_manifest_db *dbs = xcalloc(n ? n : 1, sizeof(*dbs));
	for (uint32_t i = 0; i < n; i++) {
		if (p >= end)
			goto bad;
		size_t nl = *p++;
		if (nl == 0 || nl >= CL_DBNAME_MAX || (size_t)(end - p) < nl + 12)
			goto bad;
		memcpy(dbs[i].name, p, nl);
		dbs[i].name[nl] = '\0';
		if (!cl_dbname_valid(dbs[i].name, nl))
			goto bad;
		dbs[i].page_count = get32(p + nl);
		dbs[i].last_modified = get64(p + nl + 4);
		p += nl + 12;
	}
	if (p != end)
		goto bad;
	*dbs_r = dbs;
	*n_r = n;
	return 0;
bad:
	free(dbs);
	return MR_ECORRUPT;
}

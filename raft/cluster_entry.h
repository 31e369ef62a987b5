/* cluster_entry.h - the raft log entry codec (replication.md §7.3, proto/entry.proto).
 *
 * One entry is one replicated write transaction: a type (FRAMES, CREATE_DB, DELETE_DB, NOOP), a
 * client token for at-most-once application, and one or more frame sets, each naming a
 * database and carrying the page numbers and page images (SQLCipher ciphertext) written by the
 * transaction plus the database size from the WAL commit frame. cl_entry_encode() builds the
 * wire bytes in raft_malloc() memory, ready for raft_apply(); cl_entry_decode() checks every
 * field against the cluster's rules and answers MR_EPROTO for anything the encoder would not
 * have produced, so the state machine never sees a malformed entry. A decoded entry points into
 * its own unpacked message (no page copies) until cl_entry_free(). */
#ifndef MR_CLUSTER_ENTRY_H
#define MR_CLUSTER_ENTRY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct raft_buffer;

#define CL_ENTRY_FORMAT 1u        /* Entry.format; bump on incompatible changes */
#define CL_PAGE_SIZE 1024u        /* cluster-wide page size (SQLCipher 3 default, fixed) */
#define CL_DBNAME_MAX 64          /* name buffer: [a-z][a-z0-9_]{0,62} + NUL */
#define CL_ENTRY_MAX_SETS 8u      /* databases per entry (e.g. MOVE across two mailboxes) */
#define CL_ENTRY_MAX_PAGES 65536u /* pages per entry, all sets together (64 MiB of pages) */
#define CL_ENTRY_MAX_BYTES (CL_ENTRY_MAX_PAGES * (CL_PAGE_SIZE + 16u) + 65536u)
#define CL_DB_MAX_PAGES (1u << 26) /* 64 GiB per database */
#define CL_KEYFILE_MAX 256u        /* wrapped key file bytes (store: 72) */

enum cl_entry_type {
	CL_ENTRY_NOOP = 0,
	CL_ENTRY_FRAMES = 1,
	CL_ENTRY_CREATE_DB = 2,
	CL_ENTRY_DELETE_DB = 3,
};

/* The pages one transaction wrote into one database. */
struct cl_frames {
	char db[CL_DBNAME_MAX];      /* database name */
	uint32_t db_size;            /* pages after the commit (WAL commit frame bytes 4-7) */
	bool shrink;                 /* the transaction truncates: pgno > db_size allowed */
	uint32_t n;                  /* number of pages */
	const uint32_t *pgno;        /* n page numbers, >= 1 */
	const uint8_t *const *pages; /* n pointers to CL_PAGE_SIZE bytes each */
	const uint8_t *key_file;     /* CREATE_DB: wrapped key bytes, else NULL */
	size_t key_file_len;
	bool has_base;       /* FRAMES: apply only if the database's applied index == base_index */
	uint64_t base_index; /* (else the entry is rejected as a conflict: cluster_engine.h) */
};

struct cl_entry {
	enum cl_entry_type type;
	uint64_t token;  /* 0: no at-most-once check */
	unsigned n_sets; /* NOOP 0, CREATE_DB/DELETE_DB 1, FRAMES 1..CL_ENTRY_MAX_SETS */
	struct cl_frames sets[CL_ENTRY_MAX_SETS];
	void *priv_; /* decoder-owned memory (unpacked message), freed by cl_entry_free */
};

/* True when name matches [a-z][a-z0-9_]{0,62}. */
bool cl_dbname_valid(const char *name, size_t len);

/* Check e against the rules decode enforces (MR_EINVAL with a log line when not). */
int cl_entry_check(const struct cl_entry *e);

/* Encode e into buf_r->base (raft_malloc'd, buf_r->len bytes, always a multiple of 8: libraft's
 * raft_uv log needs 8-byte aligned entry lengths to reload its segments): hand it to raft_apply() or
 * release it with raft_free(). MR_EINVAL if e breaks a rule (nothing allocated then). */
int cl_entry_encode(const struct cl_entry *e, struct raft_buffer *buf_r);

/* Decode and validate len bytes into *e_r. MR_EPROTO on anything malformed or out of bounds
 * (then *e_r is zeroed and needs no cleanup); on success release with cl_entry_free(). The
 * entry keeps no pointer into data (it owns copies). */
int cl_entry_decode(const void *data, size_t len, struct cl_entry *e_r);

/* Release what cl_entry_decode() allocated; safe on a zeroed or already freed entry. */
void cl_entry_free(struct cl_entry *e);

/* Name of a type for logs ("frames", ...). */
const char *cl_entry_type_name(enum cl_entry_type t);

#endif

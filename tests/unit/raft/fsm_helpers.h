/* fsm_helpers.h - shared by the state machine tests (test_fsm*.c): a deterministic PRNG,
 * synthetic entries with random 1024-byte pages, an in-memory model of each database file that
 * the real files are compared with, and file helpers. Header-only (static functions). */
#ifndef MR_TEST_FSM_HELPERS_H
#define MR_TEST_FSM_HELPERS_H
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>

#include "unit.h"
#include "common/err.h"
#include "common/log.h"
#include "raft/cluster_entry.h"
#include "raft/cluster_fsm.h"

__attribute__((constructor)) static void quiet_logs(void)
{
	log_set_level(LOG_ERROR);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A synthetic transaction: owns its page numbers and pages. */
struct tx {
	struct cl_entry e;
	uint32_t pgno[64];
	uint8_t *pagebuf;
	const uint8_t *pages[64];
	uint8_t key[72];
};

static inline void tx_free(struct tx *t)
{
	free(t->pagebuf);
	free(t);
}

/* FRAMES (or CREATE_DB when create) for db: n random pages among 1..db_size. */
static inline struct tx *tx_make(enum cl_entry_type type, const char *db, uint32_t db_size,
                                 unsigned n, uint64_t token)
{
	struct tx *t = calloc(1, sizeof(*t));
	t->e.type = type;
	t->e.token = token;
	t->e.n_sets = type == CL_ENTRY_NOOP ? 0 : 1;
	struct cl_frames *s = &t->e.sets[0];
	snprintf(s->db, CL_DBNAME_MAX, "%s", db);
	if (type == CL_ENTRY_DELETE_DB || type == CL_ENTRY_NOOP)
		return t;
	s->db_size = db_size;
	s->n = n;
	t->pagebuf = malloc((size_t)(n ? n : 1) * CL_PAGE_SIZE);
	for (unsigned i = 0; i < n; i++) {
		/* The first pages of a create are 1..n so the file has no hole. */
		t->pgno[i] = type == CL_ENTRY_CREATE_DB ? i + 1 : 1 + (uint32_t)(rng() % db_size);
		for (unsigned k = 0; k < CL_PAGE_SIZE; k++)
			t->pagebuf[(size_t)i * CL_PAGE_SIZE + k] = (uint8_t)rng();
		t->pages[i] = t->pagebuf + (size_t)i * CL_PAGE_SIZE;
	}
	s->pgno = t->pgno;
	s->pages = t->pages;
	if (type == CL_ENTRY_CREATE_DB) {
		for (unsigned k = 0; k < sizeof t->key; k++)
			t->key[k] = (uint8_t)rng();
		s->key_file = t->key;
		s->key_file_len = sizeof t->key;
	}
	return t;
}

static inline struct raft_buffer tx_encode(const struct tx *t)
{
	struct raft_buffer b;
	ASSERT_OK(cl_entry_encode(&t->e, &b));
	return b;
}

/* Expected content of one database file. */
struct model {
	uint8_t *data;
	size_t len;
};

static inline void model_apply(struct model *m, const struct tx *t)
{
	const struct cl_frames *s = &t->e.sets[0];
	if (t->e.type == CL_ENTRY_CREATE_DB) {
		free(m->data);
		m->data = NULL;
		m->len = 0;
	}
	size_t want = (size_t)s->db_size * CL_PAGE_SIZE;
	size_t cap = want;
	for (uint32_t i = 0; i < s->n; i++)
		if ((size_t)s->pgno[i] * CL_PAGE_SIZE > cap)
			cap = (size_t)s->pgno[i] * CL_PAGE_SIZE;
	if (cap > m->len) {
		m->data = realloc(m->data, cap);
		memset(m->data + m->len, 0, cap - m->len);
		m->len = cap;
	}
	for (uint32_t i = 0; i < s->n; i++)
		memcpy(m->data + (size_t)(s->pgno[i] - 1) * CL_PAGE_SIZE, s->pages[i],
		       CL_PAGE_SIZE);
	m->len = want;
}

static inline uint8_t *read_all(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat sb;
	ASSERT(fstat(fd, &sb) == 0);
	uint8_t *p = malloc((size_t)sb.st_size + 1);
	ASSERT(pread(fd, p, (size_t)sb.st_size, 0) == sb.st_size);
	close(fd);
	*len_r = (size_t)sb.st_size;
	return p;
}

static inline void expect_db_file(const char *data_dir, const char *db, const struct model *m)
{
	char path[512];
	size_t len;
	snprintf(path, sizeof path, "%s/db/%s.db", data_dir, db);
	uint8_t *p = read_all(path, &len);
	if (!p)
		unit_fail(__FILE__, __LINE__, "missing %s", path);
	ASSERT_EQ_MEM(p, len, m->data, m->len);
	free(p);
}

static inline bool file_exists(const char *data_dir, const char *db, const char *ext)
{
	char path[512];
	snprintf(path, sizeof path, "%s/db/%s%s", data_dir, db, ext);
	return access(path, F_OK) == 0;
}

/* Counts of applied-hook calls by result, for one token. */
struct hook_log {
	uint64_t token;
	unsigned by_result[4];
	unsigned calls;
	uint64_t last_index;
};

static inline void hook_cb(void *arg, const char *db, uint64_t index, uint64_t token,
                           enum cl_apply_result result)
{
	struct hook_log *h = arg;
	(void)db;
	h->calls++;
	h->last_index = index;
	if (h->token && token == h->token)
		h->by_result[result]++;
}

#endif

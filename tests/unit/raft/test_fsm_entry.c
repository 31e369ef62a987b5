/* test_fsm_entry.c - the raft entry codec (raft/cluster_entry.c): round trips of every type,
 * each validation rule (page size, page numbers, page lengths, database size, names, set
 * counts, key file, format, shard), truncated inputs, random garbage and oversized inputs. */
#include <raft.h>

#include "unit.h"
#include "common/err.h"
#include "common/log.h"
#include "entry.pb-c.h"
#include "raft/cluster_entry.h"

__attribute__((constructor)) static void quiet_logs(void)
{
	log_set_level(LOG_ERROR); /* every rejection logs a warning */
}

static uint8_t pages[4][CL_PAGE_SIZE];
static const uint8_t *page_ptrs[4] = {pages[0], pages[1], pages[2], pages[3]};
static const uint32_t pgnos[4] = {1, 7, 3, 2};
static const uint8_t keyf[72] = {1, 2, 3};

static void fill_pages(void)
{
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < (int)CL_PAGE_SIZE; k++)
			pages[i][k] = (uint8_t)(i * 31 + k * 7);
}

static struct cl_entry frames_entry(void)
{
	struct cl_entry e = {.type = CL_ENTRY_FRAMES, .token = 0x1122334455667788ull, .n_sets = 2};
	snprintf(e.sets[0].db, CL_DBNAME_MAX, "directory");
	e.sets[0].db_size = 7;
	e.sets[0].n = 4;
	e.sets[0].pgno = pgnos;
	e.sets[0].pages = page_ptrs;
	snprintf(e.sets[1].db, CL_DBNAME_MAX, "acct_42");
	e.sets[1].db_size = 1;
	e.sets[1].n = 1;
	e.sets[1].pgno = pgnos;
	e.sets[1].pages = page_ptrs + 3;
	return e;
}

static void roundtrip(const struct cl_entry *in)
{
	struct raft_buffer b;
	struct cl_entry out;
	ASSERT_OK(cl_entry_encode(in, &b));
	ASSERT_EQ_INT(b.len % 8, 0); /* raft_uv reloads only 8-byte aligned entries */
	ASSERT_OK(cl_entry_decode(b.base, b.len, &out));
	ASSERT_EQ_INT(out.type, in->type);
	ASSERT(out.token == in->token);
	ASSERT_EQ_INT(out.n_sets, in->n_sets);
	for (unsigned i = 0; i < in->n_sets; i++) {
		const struct cl_frames *a = &in->sets[i], *o = &out.sets[i];
		ASSERT_EQ_STR(o->db, a->db);
		ASSERT_EQ_INT(o->db_size, a->db_size);
		ASSERT_EQ_INT(o->shrink, a->shrink);
		ASSERT_EQ_INT(o->has_base, a->has_base);
		ASSERT(o->base_index == a->base_index);
		ASSERT_EQ_INT(o->n, a->n);
		for (uint32_t k = 0; k < a->n; k++) {
			ASSERT_EQ_INT(o->pgno[k], a->pgno[k]);
			ASSERT_EQ_MEM(o->pages[k], CL_PAGE_SIZE, a->pages[k], CL_PAGE_SIZE);
		}
		ASSERT_EQ_INT(o->key_file_len, a->key_file_len);
		if (a->key_file)
			ASSERT_EQ_MEM(o->key_file, o->key_file_len, a->key_file, a->key_file_len);
		else
			ASSERT(o->key_file == NULL);
	}
	cl_entry_free(&out);
	cl_entry_free(&out); /* idempotent */
	raft_free(b.base);
}

static void test_roundtrip_types(void)
{
	fill_pages();
	struct cl_entry e = frames_entry();
	roundtrip(&e);
	struct cl_entry noop = {.type = CL_ENTRY_NOOP, .token = 9};
	roundtrip(&noop);
	struct cl_entry c = {.type = CL_ENTRY_CREATE_DB, .token = 5, .n_sets = 1};
	snprintf(c.sets[0].db, CL_DBNAME_MAX, "a");
	c.sets[0].db_size = 7;
	c.sets[0].n = 2;
	c.sets[0].pgno = pgnos;
	c.sets[0].pages = page_ptrs;
	c.sets[0].key_file = keyf;
	c.sets[0].key_file_len = sizeof keyf;
	roundtrip(&c);
	struct cl_entry d = {.type = CL_ENTRY_DELETE_DB, .n_sets = 1};
	snprintf(d.sets[0].db, CL_DBNAME_MAX, "z_9");
	roundtrip(&d);
	/* A shrinking transaction may carry a page past the new end. */
	struct cl_entry s = frames_entry();
	s.n_sets = 1;
	s.sets[0].db_size = 2;
	s.sets[0].shrink = true;
	roundtrip(&s);
	/* The optimistic-replication base index (0 is a valid base, distinct from absent). */
	struct cl_entry bse = frames_entry();
	bse.sets[0].has_base = true;
	bse.sets[0].base_index = 0;
	bse.sets[1].has_base = true;
	bse.sets[1].base_index = UINT64_MAX;
	roundtrip(&bse);
	/* ... and only in frames */
	struct raft_buffer b;
	c.sets[0].has_base = true;
	ASSERT_ERR(cl_entry_encode(&c, &b), MR_EINVAL);
	d.sets[0].has_base = true;
	ASSERT_ERR(cl_entry_encode(&d, &b), MR_EINVAL);
}

static void test_names(void)
{
	ASSERT(cl_dbname_valid("a", 1));
	ASSERT(cl_dbname_valid("acct_0123", 9));
	char longest[64];
	memset(longest, 'x', 63);
	longest[63] = 0;
	ASSERT(cl_dbname_valid(longest, 63));
	ASSERT(!cl_dbname_valid(longest, 64));
	ASSERT(!cl_dbname_valid("", 0));
	ASSERT(!cl_dbname_valid("1abc", 4));
	ASSERT(!cl_dbname_valid("_abc", 4));
	ASSERT(!cl_dbname_valid("Abc", 3));
	ASSERT(!cl_dbname_valid("a.b", 3));
	ASSERT(!cl_dbname_valid("a/b", 3));
	ASSERT(!cl_dbname_valid("a-b", 3));
}

/* Encoder-side rules: cl_entry_encode refuses what decode would refuse. */
static void test_check_rules(void)
{
	fill_pages();
	struct raft_buffer b;
	struct cl_entry e = frames_entry();
	e.sets[0].db_size = 6; /* page 7 beyond the size, no shrink */
	ASSERT_ERR(cl_entry_encode(&e, &b), MR_EINVAL);
	e = frames_entry();
	uint32_t zero[4] = {1, 0, 2, 3};
	e.sets[0].pgno = zero;
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e = frames_entry();
	snprintf(e.sets[1].db, CL_DBNAME_MAX, "directory"); /* same db twice */
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e = frames_entry();
	snprintf(e.sets[1].db, CL_DBNAME_MAX, "Bad");
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e = frames_entry();
	e.n_sets = 0;
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e = frames_entry();
	e.sets[1].key_file = keyf;
	e.sets[1].key_file_len = 3;
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e = frames_entry();
	e.type = (enum cl_entry_type)9;
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e = frames_entry();
	e.type = CL_ENTRY_NOOP; /* noop with sets */
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e = frames_entry();
	e.type = CL_ENTRY_CREATE_DB; /* two sets, no key */
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e.n_sets = 1;
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e.sets[0].key_file = keyf;
	e.sets[0].key_file_len = CL_KEYFILE_MAX + 1;
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	e.sets[0].key_file_len = sizeof keyf;
	ASSERT_OK(cl_entry_check(&e));
	e.type = CL_ENTRY_DELETE_DB; /* delete with pages */
	ASSERT_ERR(cl_entry_check(&e), MR_EINVAL);
	/* Too many sets, and too many pages in all. */
	struct cl_entry m = {.type = CL_ENTRY_FRAMES, .n_sets = CL_ENTRY_MAX_SETS + 1};
	ASSERT_ERR(cl_entry_check(&m), MR_EINVAL);
	uint32_t *pg = calloc(CL_ENTRY_MAX_PAGES, sizeof(*pg));
	const uint8_t **pp = calloc(CL_ENTRY_MAX_PAGES, sizeof(*pp));
	for (uint32_t i = 0; i < CL_ENTRY_MAX_PAGES; i++)
		pg[i] = i + 1, pp[i] = pages[0];
	m.n_sets = 2;
	for (unsigned i = 0; i < 2; i++) {
		snprintf(m.sets[i].db, CL_DBNAME_MAX, "db%u", i);
		m.sets[i].n = CL_ENTRY_MAX_PAGES / 2 + 1;
		m.sets[i].db_size = CL_ENTRY_MAX_PAGES;
		m.sets[i].pgno = pg;
		m.sets[i].pages = pp;
	}
	ASSERT_ERR(cl_entry_check(&m), MR_EINVAL);
	m.sets[1].n = CL_ENTRY_MAX_PAGES / 2 - 1;
	ASSERT_OK(cl_entry_check(&m));
	free(pg);
	free(pp);
}

/* Hand-built protobuf messages that break one decode rule each. */
static size_t pack_raw(Mr__Entry *m, uint8_t **out)
{
	size_t n = mr__entry__get_packed_size(m);
	*out = malloc(n + 1);
	return mr__entry__pack(m, *out);
}

static void expect_reject(Mr__Entry *m)
{
	uint8_t *p;
	size_t n = pack_raw(m, &p);
	struct cl_entry e;
	ASSERT_ERR(cl_entry_decode(p, n, &e), MR_EPROTO);
	ASSERT(e.priv_ == NULL);
	free(p);
}

static void test_decode_rules(void)
{
	fill_pages();
	uint32_t pg[2] = {1, 2};
	ProtobufCBinaryData pd[2] = {{CL_PAGE_SIZE, pages[0]}, {CL_PAGE_SIZE, pages[1]}};
	Mr__EntryFrames f = MR__ENTRY_FRAMES__INIT;
	Mr__EntryFrames *fp = &f;
	Mr__Entry m = MR__ENTRY__INIT;
	f.db.data = (uint8_t *)"inbox";
	f.db.len = 5;
	f.page_size = CL_PAGE_SIZE;
	f.db_size = 2;
	f.n_pgno = 2;
	f.pgno = pg;
	f.n_pages = 2;
	f.pages = pd;
	m.format = CL_ENTRY_FORMAT;
	m.type = MR__ENTRY_TYPE__ENTRY_FRAMES;
	m.n_sets = 1;
	m.sets = &fp;
	uint8_t *p;
	size_t n = pack_raw(&m, &p);
	struct cl_entry e;
	ASSERT_OK(cl_entry_decode(p, n, &e)); /* the baseline is valid */
	cl_entry_free(&e);
	free(p);

	m.format = 2;
	expect_reject(&m);
	m.format = CL_ENTRY_FORMAT;
	m.has_shard = 1, m.shard = 1;
	expect_reject(&m);
	m.has_shard = 0;
	m.type = (Mr__EntryType)7;
	expect_reject(&m);
	m.type = MR__ENTRY_TYPE__ENTRY_FRAMES;
	f.page_size = 4096;
	expect_reject(&m);
	f.page_size = CL_PAGE_SIZE;
	pd[1].len = CL_PAGE_SIZE - 1;
	expect_reject(&m);
	pd[1].len = CL_PAGE_SIZE;
	pg[0] = 0;
	expect_reject(&m);
	pg[0] = 3; /* beyond db_size 2 */
	expect_reject(&m);
	f.has_shrink = 1, f.shrink = 1; /* ... fine when shrinking */
	n = pack_raw(&m, &p);
	ASSERT_OK(cl_entry_decode(p, n, &e));
	ASSERT(e.sets[0].shrink);
	cl_entry_free(&e);
	free(p);
	f.has_shrink = 0, f.shrink = 0;
	pg[0] = 1;
	f.n_pgno = 1; /* counts differ */
	expect_reject(&m);
	f.n_pgno = 2;
	f.db.data = (uint8_t *)"in\0ox"; /* embedded NUL */
	expect_reject(&m);
	f.db.data = (uint8_t *)"INBOX";
	expect_reject(&m);
	f.db.len = 0;
	expect_reject(&m);
	f.db.data = (uint8_t *)"inbox";
	f.db.len = 5;
	f.db_size = CL_DB_MAX_PAGES + 1;
	expect_reject(&m);
	f.db_size = 2;
	Mr__EntryFrames *two[2] = {&f, &f}; /* same database twice */
	m.sets = two;
	m.n_sets = 2;
	expect_reject(&m);
	m.sets = &fp;
	m.n_sets = 1;
	m.type = MR__ENTRY_TYPE__ENTRY_DELETE_DB; /* delete carrying pages */
	expect_reject(&m);
	m.type = MR__ENTRY_TYPE__ENTRY_CREATE_DB; /* create without key */
	expect_reject(&m);
}

static void test_truncated(void)
{
	fill_pages();
	struct cl_entry e = frames_entry();
	e.n_sets = 1;
	struct raft_buffer b;
	ASSERT_OK(cl_entry_encode(&e, &b));
	/* Sets are the last field before the 8-byte alignment pad (field 6: tag 0x32, length p,
	 * p zero bytes), so every proper prefix of what precedes the pad is missing pages or the
	 * set. */
	size_t body = b.len;
	for (size_t p = 0; p < 8; p++) {
		const uint8_t *q = (const uint8_t *)b.base + b.len - p - 2;
		if (q[0] == 0x32 && q[1] == p) {
			body = b.len - p - 2;
			break;
		}
	}
	ASSERT(body < b.len);
	for (size_t len = 0; len < body; len++) {
		struct cl_entry out;
		uint8_t *copy = malloc(len + 1); /* exact-size copy: ASan catches over-reads */
		memcpy(copy, b.base, len);
		ASSERT_ERR(cl_entry_decode(copy, len, &out), MR_EPROTO);
		free(copy);
	}
	raft_free(b.base);
}

static void test_garbage(void)
{
	fill_pages();
	uint64_t x = 88172645463325252ull;
	struct cl_entry e = frames_entry();
	struct raft_buffer b;
	ASSERT_OK(cl_entry_encode(&e, &b));
	unsigned accepted = 0;
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = 1 + (size_t)(x % 300);
		uint8_t *g = malloc(len);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			g[i] = (uint8_t)x;
		}
		struct cl_entry out;
		if (cl_entry_decode(g, len, &out) == 0) {
			ASSERT_OK(cl_entry_check(&out));
			accepted++;
			cl_entry_free(&out);
		} else {
			ASSERT(out.priv_ == NULL && out.n_sets == 0);
		}
		free(g);
		/* Bit flips in a valid entry: decoded or refused, never a crash. */
		uint8_t *m = malloc(b.len);
		memcpy(m, b.base, b.len);
		m[x % b.len] ^= (uint8_t)(1u << (x >> 8) % 8);
		if (cl_entry_decode(m, b.len, &out) == 0) {
			ASSERT_OK(cl_entry_check(&out));
			cl_entry_free(&out);
		}
		free(m);
	}
	ASSERT(accepted < 3000);
	raft_free(b.base);
}

static void test_oversized(void)
{
	struct cl_entry out;
	size_t big = CL_ENTRY_MAX_BYTES + 1;
	uint8_t *p = calloc(1, big);
	ASSERT(p);
	ASSERT_ERR(cl_entry_decode(p, big, &out), MR_EPROTO);
	ASSERT_ERR(cl_entry_decode(p, 0, &out), MR_EPROTO);
	free(p);
	/* A declared length far past the input (field 5, length 2^31). */
	const uint8_t lie[] = {0x08, 0x01, 0x10, 0x01, 0x2a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x0a};
	ASSERT_ERR(cl_entry_decode(lie, sizeof lie, &out), MR_EPROTO);
}

static const struct unit_test tests[] = {
    {"roundtrip_types", test_roundtrip_types},
    {"names", test_names},
    {"check_rules", test_check_rules},
    {"decode_rules", test_decode_rules},
    {"truncated", test_truncated},
    {"garbage", test_garbage},
    {"oversized", test_oversized},
    {0},
};
UNIT_MAIN(tests)

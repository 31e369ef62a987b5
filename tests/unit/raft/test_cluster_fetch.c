/* test_cluster_fetch.c - the database fetch (raft/cluster_fetch.h) with real stores and state
 * machines. Setup: node S (the server) and node C (the lagging one) share a master key; a real
 * account database is registered on both state machines by the same CREATE_DB entry (index 5),
 * then S moves on (a FRAMES entry at index 9 with base 5, plus local writes still in its -wal)
 * and C installs S's snapshot manifest, which marks the database "needs fetch" on C.
 *   local_steps: cl_fetch_make_copy on S (index 9, the -wal's rows included), refusals (a
 *     needs-fetch database cannot be served, an older copy cannot be installed), then
 *     cl_fetch_install on C: the flag clears, C's state machine and store record index 9, and
 *     the database opens with the key on C with S's exact rows and integrity "ok".
 *   serve_and_fetch: the same through two cl_fetch instances, C's fetcher thread calling S's
 *     cl_fetch_serve directly (small chunks, so the copy travels in many), plus protocol errors
 *     and the expiry of an unused copy.
 *   rpc_fetch: the same over the member RPC (raft/cluster_rpc.h, mutual TLS on loopback).
 *   codec: the wire messages' bounds under truncation and mutation.
 * The production path with real raft nodes and a snapshot is test_cluster_fetch_nodes.c. */
#include "fetch_helpers.h"

/* ---- entries ------------------------------------------------------------------------------- */

/* Apply to fsm at index a CREATE_DB (create) or FRAMES-with-base entry carrying every page of
 * the file at path (and the key file for a create). */
static void apply_file(struct cl_fsm *fsm, uint64_t index, bool create, uint64_t base,
                       const char *path, const char *key_path)
{
	size_t len, klen = 0;
	uint8_t *data = slurp(path, &len), *key = create ? slurp(key_path, &klen) : NULL;
	ASSERT(len > 0 && len % CL_PAGE_SIZE == 0);
	uint32_t n = (uint32_t)(len / CL_PAGE_SIZE);
	uint32_t *pgno = xcalloc(n, sizeof *pgno);
	const uint8_t **pv = xcalloc(n, sizeof *pv);
	for (uint32_t i = 0; i < n; i++) {
		pgno[i] = i + 1;
		pv[i] = data + (size_t)i * CL_PAGE_SIZE;
	}
	struct cl_entry e = {
	    .type = create ? CL_ENTRY_CREATE_DB : CL_ENTRY_FRAMES, .token = index, .n_sets = 1};
	struct cl_frames *s = &e.sets[0];
	snprintf(s->db, sizeof s->db, "%s", ACCT);
	s->db_size = n;
	s->n = n;
	s->pgno = pgno;
	s->pages = pv;
	s->key_file = key;
	s->key_file_len = klen;
	s->has_base = !create;
	s->base_index = base;
	struct raft_buffer buf;
	ASSERT_OK(cl_entry_encode(&e, &buf));
	ASSERT_OK(cl_fsm_apply_at(fsm, index, buf.base, buf.len));
	raft_free(buf.base);
	free(pgno);
	free(pv);
	free(data);
	free(key);
}

/* Install S's snapshot (a manifest) on C's state machine, as InstallSnapshot would. */
static void snapshot_s_to_c(void)
{
	struct raft_fsm *rs = cl_fsm_raft_fsm(S.fsm), *rc = cl_fsm_raft_fsm(C.fsm);
	struct raft_buffer *bufs = NULL;
	unsigned n = 0;
	ASSERT_OK(rs->snapshot(rs, &bufs, &n));
	ASSERT_EQ_INT(n, 1);
	struct raft_buffer copy = {.base = raft_malloc(bufs[0].len), .len = bufs[0].len};
	memcpy(copy.base, bufs[0].base, copy.len);
	ASSERT_OK(rs->snapshot_finalize(rs, &bufs, &n));
	ASSERT_OK(rc->restore(rc, &copy)); /* takes copy.base */
}

/* The scenario of the file comment; S and C left open, C's store has ACCT open (old rows). */
static void setup(struct summary *ref)
{
	snprintf(S.dir, sizeof S.dir, "%s/s", unit_tmpdir());
	snprintf(C.dir, sizeof C.dir, "%s/c", unit_tmpdir());
	S.st = open_store(S.dir);
	append_n(S.st, STORE_CREATE, 0, 5);
	store_close(&S.st); /* checkpointed into the .db file */
	ASSERT_OK(mkdir(C.dir, 0700));
	char p[800], q[800];
	snprintf(q, sizeof q, "%s/db", C.dir);
	ASSERT_OK(mkdir(q, 0700));
	static const char *const files[] = {"master.key", "db/directory.db", "db/directory.key"};
	for (size_t i = 0; i < MR_ARRAY_LEN(files); i++) {
		snprintf(p, sizeof p, "%s/%s", S.dir, files[i]);
		snprintf(q, sizeof q, "%s/%s", C.dir, files[i]);
		ASSERT_OK(copy_file(p, q));
	}
	open_fsm(&S);
	open_fsm(&C);
	apply_file(S.fsm, 5, true, 0, dbfile(&S, ".db"), dbfile(&S, ".key"));
	apply_file(C.fsm, 5, true, 0, dbfile(&S, ".db"), dbfile(&S, ".key"));
	ASSERT(!needs_fetch(C.fsm));

	S.st = open_store(S.dir);
	append_n(S.st, 0, 5, 20);
	ASSERT_OK(store_repl_checkpoint(S.st, ACCT, NULL));
	apply_file(S.fsm, 9, false, 5, dbfile(&S, ".db"), NULL); /* same bytes: S moves to 9 */
	append_n(S.st, 0, 25, 3); /* S's own newest rows, in its -wal */
	struct stat sb;
	ASSERT(stat(dbfile(&S, ".db-wal"), &sb) == 0 && sb.st_size > 0);
	summary_of(S.st, ref);
	ASSERT_EQ_INT(ref->msgs, 28);

	snapshot_s_to_c();
	ASSERT(needs_fetch(C.fsm));
	C.st = open_store(C.dir);
	struct summary old;
	summary_of(C.st, &old);
	ASSERT_EQ_INT(old.msgs, 5);
}

/* C now holds S's database at index 9. */
static void check_fetched(const struct summary *ref)
{
	ASSERT(!needs_fetch(C.fsm));
	uint64_t ix = 0;
	ASSERT_OK(cl_fsm_db_index(C.fsm, ACCT, &ix));
	ASSERT_EQ_INT(ix, 9);
	ASSERT_EQ_INT(store_repl_index(C.st, ACCT), 9);
	struct summary got;
	summary_of(C.st, &got);
	ASSERT_EQ_INT(got.msgs, 28);
	ASSERT_EQ_MEM(got.hash, sizeof got.hash, ref->hash, sizeof ref->hash);
	/* and the fetched file is durable as such: a restarted state machine agrees */
	cl_fsm_close(&C.fsm);
	open_fsm(&C);
	ASSERT(!needs_fetch(C.fsm));
	ASSERT_OK(cl_fsm_db_index(C.fsm, ACCT, &ix));
	ASSERT_EQ_INT(ix, 9);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_local_steps(void)
{
	struct summary ref;
	setup(&ref);
	char copy[700], tmp[700];
	snprintf(copy, sizeof copy, "%s/copy.db", unit_tmpdir());
	struct cl_fetch_copy c;
	/* C cannot serve what it has to fetch itself; S does not know other databases */
	ASSERT_ERR(cl_fetch_make_copy(C.st, C.fsm, C.dir, ACCT, copy, &c), MR_EBUSY);
	ASSERT_ERR(cl_fetch_make_copy(S.st, S.fsm, S.dir, "a00000000000000ee", copy, &c),
	           MR_ENOTFOUND);
	ASSERT_OK(cl_fetch_make_copy(S.st, S.fsm, S.dir, ACCT, copy, &c));
	ASSERT_EQ_INT(c.index, 9);
	struct stat sb;
	ASSERT_OK(stat(copy, &sb));
	ASSERT_EQ_INT((uint64_t)sb.st_size, c.size);
	ASSERT_EQ_INT(c.size % CL_PAGE_SIZE, 0);
	ASSERT_OK(stat(dbfile(&S, ".db-wal"), &sb));
	ASSERT_EQ_INT(sb.st_size, 0); /* S's -wal went into the file first */
	size_t klen;
	uint8_t *key = slurp(dbfile(&S, ".key"), &klen);
	ASSERT_EQ_MEM(c.key, c.key_len, key, klen);
	free(key);

	snprintf(tmp, sizeof tmp, "%s/db/%s.db.fetch", C.dir, ACCT);
	ASSERT_OK(copy_file(copy, tmp));
	ASSERT_ERR(cl_fetch_install(C.st, C.fsm, ACCT, 4, tmp, c.key, c.key_len), MR_EBUSY);
	ASSERT(needs_fetch(C.fsm));
	ASSERT_ERR(cl_fetch_install(C.st, C.fsm, "a00000000000000ee", 9, tmp, c.key, c.key_len),
	           MR_ENOTFOUND);
	ASSERT_OK(cl_fetch_install(C.st, C.fsm, ACCT, c.index, tmp, c.key, c.key_len));
	ASSERT(stat(tmp, &sb) != 0);
	check_fetched(&ref);
	/* a late duplicate is dropped without touching anything */
	ASSERT_OK(copy_file(copy, tmp));
	ASSERT_OK(cl_fetch_install(C.st, C.fsm, ACCT, c.index, tmp, c.key, c.key_len));
	ASSERT(stat(tmp, &sb) != 0);
	teardown();
}

/* ---- serve + fetch without the RPC layer --------------------------------------------------- */

static int post_inline(void *ud, cl_fetch_work_fn fn, void *arg)
{
	(void)ud;
	fn(arg);
	return 0;
}

struct captured {
	int status;
	uint8_t *body;
	size_t len;
	bool done;
};

static void capture(void *ud, int status, const void *body, size_t len)
{
	struct captured *c = ud;
	ASSERT(!c->done); /* exactly once */
	c->done = true;
	c->status = status;
	c->len = len;
	c->body = len ? xmalloc(len) : NULL;
	if (len)
		memcpy(c->body, body, len);
}

static unsigned calls;

/* cl_fetch_call_fn straight into the server's cl_fetch_serve (post_inline answers at once). */
static int direct_call(void *ud, const char *addr, const void *req, size_t len, uint8_t **reply_r,
                       size_t *reply_len_r)
{
	ASSERT_EQ_STR(addr, "peer-s");
	__atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
	struct captured cap = {.done = false};
	cl_fetch_serve(ud, req, len, capture, &cap);
	ASSERT(cap.done);
	*reply_r = cap.body;
	*reply_len_r = cap.len;
	return cap.status;
}

static int serve_status(struct cl_fetch *f, const struct cl_fetch_req *q)
{
	size_t len;
	uint8_t *req = cl_fetch_req_encode(q, &len);
	struct captured cap = {.done = false};
	cl_fetch_serve(f, req, len, capture, &cap);
	free(req);
	ASSERT(cap.done);
	free(cap.body);
	return cap.status;
}

static void test_serve_and_fetch(void)
{
	struct summary ref;
	setup(&ref);
	struct cl_fetch *fs = NULL, *fc = NULL;
	struct cl_fetch_config cs = {.data_dir = S.dir,
	                             .store = S.st,
	                             .fsm = S.fsm,
	                             .post = post_inline,
	                             .chunk_size = 3000,
	                             .copy_ttl_ms = 300,
	                             .poll_ms = 50};
	ASSERT_OK(cl_fetch_open(&cs, &fs));

	/* protocol errors answer without a copy */
	struct captured cap = {.done = false};
	cl_fetch_serve(fs, (const uint8_t *)"\xff\xff\xff", 3, capture, &cap);
	ASSERT_ERR(cap.status, MR_EPROTO);
	struct cl_fetch_req q = {.db = "a00000000000000ee"};
	ASSERT_ERR(serve_status(fs, &q), MR_ENOTFOUND);
	q = (struct cl_fetch_req){.db = ACCT, .copy_id = 12345, .offset = 0};
	ASSERT_ERR(serve_status(fs, &q), MR_ENOTFOUND); /* no such copy */
	q = (struct cl_fetch_req){.db = ACCT, .min_index = 10};
	ASSERT_ERR(serve_status(fs, &q), MR_EBUSY); /* S is at 9: behind that fetcher */

	const char *peers[] = {"peer-s", NULL};
	struct cl_fetch_config cc = {.data_dir = C.dir,
	                             .store = C.st,
	                             .fsm = C.fsm,
	                             .post = post_inline,
	                             .call = direct_call,
	                             .call_ud = fs,
	                             .peers = peers,
	                             .poll_ms = 50};
	ASSERT_OK(cl_fetch_open(&cc, &fc));
	cl_fetch_kick(fc);
	struct cl_fetch_stats st;
	uint64_t end = mr_now_ms() + 20000;
	do {
		sleep_ms(20);
		cl_fetch_get_stats(fc, &st);
	} while (st.fetched == 0 && mr_now_ms() < end);
	ASSERT_EQ_INT(st.fetched, 1);
	ASSERT_EQ_INT(st.failures, 0);
	cl_fetch_close(&fc); /* its thread used C's state machine: stop it before looking */
	check_fetched(&ref);

	cl_fetch_get_stats(fs, &st);
	ASSERT_EQ_INT(st.copies_made, 1);
	struct stat sb;
	ASSERT_OK(stat(dbfile(&S, ".db"), &sb));
	ASSERT_EQ_INT(st.chunks_served, ((uint64_t)sb.st_size + 2999) / 3000);
	ASSERT_EQ_INT(calls, st.chunks_served);
	/* the unused copy expires */
	end = mr_now_ms() + 5000;
	do {
		sleep_ms(20);
		cl_fetch_get_stats(fs, &st);
	} while (st.copies_open != 0 && mr_now_ms() < end);
	ASSERT_EQ_INT(st.copies_open, 0);
	cl_fetch_close(&fs);
	char p[700];
	snprintf(p, sizeof p, "%s/fetch", S.dir);
	ASSERT(stat(p, &sb) != 0); /* cleaned up */
	teardown();
}

/* ---- over the member RPC ------------------------------------------------------------------- */

static void test_rpc_fetch(void)
{
	struct summary ref;
	setup(&ref);
	struct cl_pki pki_s, pki_c;
	helper_creds("ca", 1, &pki_s);
	helper_creds("ca", 2, &pki_c);
	struct cl_fetch *fs = NULL, *fc = NULL;
	struct cl_fetch_config cs = {.data_dir = S.dir,
	                             .store = S.st,
	                             .fsm = S.fsm,
	                             .post = post_inline, /* no raft thread in this test */
	                             .chunk_size = 8192};
	ASSERT_OK(cl_fetch_open(&cs, &fs));
	static const struct cl_rpc_handler table[] = {
	    {CL_RPC_FETCH, false, cl_fetch_server_handler},
	};
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", helper_free_port());
	struct cl_rpc_server *srv = NULL;
	ASSERT_OK(cl_rpc_server_start(addr, &pki_s, table, 1, fs, &srv));
	struct cl_rpc_client *client = NULL;
	ASSERT_OK(cl_rpc_client_open(&pki_c, &client));
	const char *peers[] = {addr, NULL};
	struct cl_fetch_config cc = {.data_dir = C.dir,
	                             .store = C.st,
	                             .fsm = C.fsm,
	                             .post = post_inline,
	                             .call = cl_fetch_rpc_call,
	                             .call_ud = client,
	                             .peers = peers,
	                             .poll_ms = 100};
	ASSERT_OK(cl_fetch_open(&cc, &fc));
	wait_fetched(fc, 30000);
	cl_fetch_close(&fc);
	check_fetched(&ref);
	struct cl_fetch_stats st;
	cl_fetch_get_stats(fs, &st);
	ASSERT_EQ_INT(st.copies_made, 1);
	ASSERT(st.chunks_served > 2);
	/* a client without a cluster certificate is refused */
	struct cl_rpc_client *anon = NULL;
	ASSERT_OK(cl_rpc_client_open(NULL, &anon));
	struct cl_fetch_req q = {.db = ACCT};
	size_t len, rlen = 0;
	uint8_t *req = cl_fetch_req_encode(&q, &len), *rep = NULL;
	int rv = cl_fetch_rpc_call(anon, addr, req, len, &rep, &rlen);
	ASSERT(rv != 0);
	free(req);
	free(rep);
	cl_rpc_client_close(&anon);
	cl_rpc_server_stop(&srv);
	cl_rpc_client_close(&client);
	cl_fetch_close(&fs);
	cl_pki_free(&pki_s);
	cl_pki_free(&pki_c);
	teardown();
}

/* ---- codec ----------------------------------------------------------------------------------- */

/* Valid messages round-trip; every truncation and random byte flips of them, and random bytes,
 * either decode to something within the documented bounds or are refused. */
static void test_codec(void)
{
	struct cl_fetch_req q = {.db = ACCT, .copy_id = 7, .offset = 4096, .min_index = 3}, q2;
	size_t len;
	uint8_t *enc = cl_fetch_req_encode(&q, &len);
	ASSERT_OK(cl_fetch_req_decode(enc, len, &q2));
	ASSERT_EQ_STR(q2.db, ACCT);
	ASSERT_EQ_INT(q2.copy_id, 7);
	ASSERT_EQ_INT(q2.offset, 4096);
	ASSERT_EQ_INT(q2.min_index, 3);
	free(enc);
	/* refused requests: bad name, an offset without a copy */
	struct cl_fetch_req bad[] = {{.db = "A"}, {.db = "../x"}, {.db = ACCT, .offset = 5}};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++) {
		enc = cl_fetch_req_encode(&bad[i], &len);
		ASSERT_ERR(cl_fetch_req_decode(enc, len, &q2), MR_EPROTO);
		free(enc);
	}
	uint8_t data[3000], key[72];
	memset(data, 0xab, sizeof data);
	memset(key, 0xcd, sizeof key);
	struct cl_fetch_rep r = {.copy_id = 9,
	                         .index = 4,
	                         .size = 8192,
	                         .offset = 0,
	                         .data = data,
	                         .data_len = sizeof data,
	                         .key = key,
	                         .key_len = sizeof key};
	struct cl_fetch_rep r2;
	uint8_t *rep = cl_fetch_rep_encode(&r, &len);
	ASSERT_OK(cl_fetch_rep_decode(rep, len, &r2));
	ASSERT_EQ_INT(r2.size, 8192);
	ASSERT_EQ_MEM(r2.data, r2.data_len, data, sizeof data);
	ASSERT_EQ_MEM(r2.key, r2.key_len, key, sizeof key);
	cl_fetch_rep_free(&r2);
	/* refused replies */
	struct cl_fetch_rep rb[] = {
	    {.copy_id = 0, .size = 8192, .data = data, .data_len = 10, .key = key, .key_len = 72},
	    {.copy_id = 1, .size = 8000, .data = data, .data_len = 10, .key = key, .key_len = 72},
	    {.copy_id = 1, .size = 1024, .data = data, .data_len = 2000, .key = key, .key_len = 72},
	    {.copy_id = 1, .size = 8192, .data = data, .data_len = 10},
	    {.copy_id = 1,
	     .size = 8192,
	     .offset = 1024,
	     .data = data,
	     .data_len = 10,
	     .key = key,
	     .key_len = 72},
	    {.copy_id = 1, .size = 8192, .offset = 1024},
	    {.copy_id = 1, .size = 8192, .offset = 9216, .data = data, .data_len = 1},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(rb); i++) {
		uint8_t *e = cl_fetch_rep_encode(&rb[i], &len);
		ASSERT_ERR(cl_fetch_rep_decode(e, len, &r2), MR_EPROTO);
		free(e);
	}
	/* mutations: nothing decoded may break the bounds */
	enc = cl_fetch_rep_encode(&r, &len);
	uint8_t *m = xmalloc(len);
	uint64_t seed = 0x1234567;
	for (unsigned it = 0; it < 20000; it++) {
		memcpy(m, enc, len);
		size_t n = it < len ? it : len;
		for (unsigned k = 0; it >= len && k < 1 + it % 4; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			m[(seed >> 33) % len] = (uint8_t)(seed >> 20);
		}
		if (it >= len)
			n = len - ((seed >> 40) % 3 == 0 ? (seed >> 24) % len : 0);
		if (cl_fetch_rep_decode(m, n, &r2) == 0) {
			ASSERT(r2.copy_id != 0 && r2.size % CL_PAGE_SIZE == 0 && r2.size > 0);
			ASSERT(r2.offset + r2.data_len <= r2.size &&
			       r2.data_len <= CL_FETCH_CHUNK_MAX);
			ASSERT(r2.key_len <= CL_FETCH_KEY_MAX &&
			       (r2.key_len > 0) == (r2.offset == 0));
			cl_fetch_rep_free(&r2);
		}
		struct cl_fetch_req qq;
		if (cl_fetch_req_decode(m, n, &qq) == 0)
			ASSERT(qq.db[0] >= 'a' && qq.db[0] <= 'z' && (qq.copy_id || !qq.offset));
	}
	free(m);
	free(enc);
	free(rep);
}

static const struct unit_test tests[] = {
    {"codec", test_codec},
    {"local_steps", test_local_steps},
    {"serve_and_fetch", test_serve_and_fetch},
    {"rpc_fetch", test_rpc_fetch},
    {0},
};
UNIT_MAIN(tests)

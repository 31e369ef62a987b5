/* test_admin_wire.c - the admin channel codec: length-prefixed framing fed whole, a byte at a
 * time and split across frames; oversize lengths rejected before allocation; strict decoding
 * of CtlRequest/CtlResponse (garbage, truncation, unknown fields); the response builder. */
#include "unit.h"
#include "common/err.h"
#include "node/admin/admin_wire.h"

static size_t pack_req(const Mr__CtlRequest *req, struct buf *out)
{
	buf_init(out, 0);
	ASSERT_OK(admin_wire_pack(&req->base, out));
	return out->len;
}

static Mr__CtlRequest domain_add_req(Mr__CtlDomainAdd *d, const char *name)
{
	*d = (Mr__CtlDomainAdd)MR__CTL_DOMAIN_ADD__INIT;
	d->domain = (char *)name;
	Mr__CtlRequest req = MR__CTL_REQUEST__INIT;
	req.version = CTL_VERSION;
	req.cmd_case = MR__CTL_REQUEST__CMD_DOMAIN_ADD;
	req.domain_add = d;
	return req;
}

static void test_header_big_endian(void)
{
	Mr__CtlDomainAdd d;
	Mr__CtlRequest req = domain_add_req(&d, "example.org");
	struct buf b;
	size_t n = pack_req(&req, &b);
	size_t body = protobuf_c_message_get_packed_size(&req.base);
	ASSERT_EQ_INT(n, body + 4);
	ASSERT_EQ_INT(b.p[0], 0);
	ASSERT_EQ_INT(b.p[1], 0);
	ASSERT_EQ_INT(b.p[2], (body >> 8) & 0xff);
	ASSERT_EQ_INT(b.p[3], body & 0xff);
	buf_free(&b);
}

static void test_byte_at_a_time(void)
{
	Mr__CtlDomainAdd d;
	Mr__CtlRequest req = domain_add_req(&d, "example.org");
	struct buf b;
	size_t n = pack_req(&req, &b);
	struct admin_rd rd;
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	for (size_t i = 0; i < n; i++) {
		size_t used = 99;
		int rv = admin_rd_push(&rd, b.p + i, 1, &used);
		ASSERT_EQ_INT(used, 1);
		ASSERT_EQ_INT(rv, i + 1 == n ? 1 : 0);
	}
	size_t len;
	uint8_t *body = admin_rd_take(&rd, &len);
	ASSERT_EQ_MEM(body, len, b.p + 4, n - 4);
	Mr__CtlRequest *got;
	ASSERT_OK(admin_req_decode(body, len, &got));
	ASSERT_EQ_INT(got->version, CTL_VERSION);
	ASSERT_EQ_INT(got->cmd_case, MR__CTL_REQUEST__CMD_DOMAIN_ADD);
	ASSERT_EQ_STR(got->domain_add->domain, "example.org");
	admin_req_free(&got);
	ASSERT(got == NULL);
	free(body);
	admin_rd_free(&rd);
	buf_free(&b);
}

/* Two frames in one buffer: the reader stops after the first and leaves the rest. */
static void test_two_frames_one_push(void)
{
	Mr__CtlDomainAdd d1, d2;
	Mr__CtlRequest r1 = domain_add_req(&d1, "a.example"), r2 = domain_add_req(&d2, "b.example");
	struct buf b;
	buf_init(&b, 0);
	ASSERT_OK(admin_wire_pack(&r1.base, &b));
	size_t first = b.len;
	ASSERT_OK(admin_wire_pack(&r2.base, &b));
	struct admin_rd rd;
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	size_t used;
	ASSERT_EQ_INT(admin_rd_push(&rd, b.p, b.len, &used), 1);
	ASSERT_EQ_INT(used, first);
	/* a ready frame must be taken first: pushing more consumes nothing */
	size_t used2;
	ASSERT_EQ_INT(admin_rd_push(&rd, b.p + used, b.len - used, &used2), 1);
	ASSERT_EQ_INT(used2, 0);
	size_t len;
	uint8_t *body = admin_rd_take(&rd, &len);
	Mr__CtlRequest *got;
	ASSERT_OK(admin_req_decode(body, len, &got));
	ASSERT_EQ_STR(got->domain_add->domain, "a.example");
	admin_req_free(&got);
	free(body);
	ASSERT_EQ_INT(admin_rd_push(&rd, b.p + used, b.len - used, &used2), 1);
	ASSERT_EQ_INT(used + used2, b.len);
	body = admin_rd_take(&rd, &len);
	ASSERT_OK(admin_req_decode(body, len, &got));
	ASSERT_EQ_STR(got->domain_add->domain, "b.example");
	admin_req_free(&got);
	free(body);
	admin_rd_free(&rd);
	buf_free(&b);
}

/* Header split 3+1, body split unevenly. */
static void test_partial_reads(void)
{
	Mr__CtlDomainAdd d;
	Mr__CtlRequest req = domain_add_req(&d, "partial.example");
	struct buf b;
	size_t n = pack_req(&req, &b);
	struct admin_rd rd;
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	size_t used;
	ASSERT_EQ_INT(admin_rd_push(&rd, b.p, 3, &used), 0);
	ASSERT_EQ_INT(used, 3);
	ASSERT(rd.body == NULL); /* nothing allocated before the whole header */
	ASSERT_EQ_INT(admin_rd_push(&rd, b.p + 3, 5, &used), 0);
	ASSERT_EQ_INT(used, 5);
	ASSERT_EQ_INT(admin_rd_push(&rd, b.p + 8, 0, &used), 0);
	ASSERT_EQ_INT(used, 0);
	ASSERT_EQ_INT(admin_rd_push(&rd, b.p + 8, n - 8, &used), 1);
	ASSERT_EQ_INT(used, n - 8);
	size_t len;
	uint8_t *body = admin_rd_take(&rd, &len);
	ASSERT_EQ_MEM(body, len, b.p + 4, n - 4);
	free(body);
	admin_rd_free(&rd);
	buf_free(&b);
}

static void test_oversize_rejected(void)
{
	struct admin_rd rd;
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	/* 1 MiB + 1: rejected as soon as the header is complete, without allocating */
	const uint8_t hdr[] = {0x00, 0x10, 0x00, 0x01, 'x'};
	size_t used;
	ASSERT_EQ_INT(admin_rd_push(&rd, hdr, 3, &used), 0);
	ASSERT_EQ_INT(admin_rd_push(&rd, hdr + 3, 2, &used), MR_ETOOBIG);
	ASSERT(rd.body == NULL);
	admin_rd_free(&rd);
	/* 4 GiB - 1 */
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	ASSERT_EQ_INT(admin_rd_push(&rd, huge, 4, &used), MR_ETOOBIG);
	ASSERT(rd.body == NULL);
	admin_rd_free(&rd);
	/* exactly the maximum is fine */
	const uint8_t max[] = {0x00, 0x10, 0x00, 0x00};
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	ASSERT_EQ_INT(admin_rd_push(&rd, max, 4, &used), 0);
	ASSERT(rd.body != NULL);
	admin_rd_free(&rd);
	/* a smaller reader limit is honoured */
	const uint8_t small[] = {0x00, 0x00, 0x00, 0x11};
	admin_rd_init(&rd, 16);
	ASSERT_EQ_INT(admin_rd_push(&rd, small, 4, &used), MR_ETOOBIG);
	admin_rd_free(&rd);
}

static void test_empty_frame(void)
{
	struct admin_rd rd;
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	const uint8_t z[] = {0, 0, 0, 0};
	size_t used, len = 99;
	ASSERT_EQ_INT(admin_rd_push(&rd, z, 4, &used), 1);
	uint8_t *body = admin_rd_take(&rd, &len);
	ASSERT_EQ_INT(len, 0);
	/* an empty payload is not a valid request: version is required */
	Mr__CtlRequest *req;
	ASSERT_ERR(admin_req_decode(body, len, &req), MR_EPROTO);
	ASSERT(req == NULL);
	free(body);
	admin_rd_free(&rd);
}

static void test_pack_too_big(void)
{
	static char big[ADMIN_FRAME_MAX + 10];
	memset(big, 'a', sizeof big - 1);
	Mr__CtlDomainAdd d;
	Mr__CtlRequest req = domain_add_req(&d, big);
	struct buf b;
	buf_init(&b, 0);
	ASSERT_ERR(admin_wire_pack(&req.base, &b), MR_ETOOBIG);
	ASSERT_EQ_INT(b.len, 0);
	buf_free(&b);
	/* and the out buffer's own limit */
	Mr__CtlRequest small = domain_add_req(&d, "example.org");
	buf_init(&b, 8);
	ASSERT_ERR(admin_wire_pack(&small.base, &b), MR_ETOOBIG);
	ASSERT_EQ_INT(b.len, 0);
	buf_free(&b);
}

static void test_request_roundtrip_all(void)
{
	Mr__CtlAccountAdd a = MR__CTL_ACCOUNT_ADD__INIT;
	a.address = "bob@example.org";
	a.password = "s3cret \"pw\"";
	a.has_quota = 1;
	a.quota = 12345;
	Mr__CtlRequest req = MR__CTL_REQUEST__INIT;
	req.version = CTL_VERSION;
	req.cmd_case = MR__CTL_REQUEST__CMD_ACCOUNT_ADD;
	req.account_add = &a;
	struct buf b;
	size_t n = pack_req(&req, &b);
	Mr__CtlRequest *got;
	ASSERT_OK(admin_req_decode(b.p + 4, n - 4, &got));
	ASSERT_EQ_INT(got->cmd_case, MR__CTL_REQUEST__CMD_ACCOUNT_ADD);
	ASSERT_EQ_STR(got->account_add->address, "bob@example.org");
	ASSERT_EQ_STR(got->account_add->password, "s3cret \"pw\"");
	ASSERT(got->account_add->has_quota);
	ASSERT_EQ_INT(got->account_add->quota, 12345);
	admin_req_free(&got);
	buf_free(&b);

	Mr__CtlAliasRm rm = MR__CTL_ALIAS_RM__INIT;
	rm.alias = "info@example.org";
	req.cmd_case = MR__CTL_REQUEST__CMD_ALIAS_RM;
	req.alias_rm = &rm;
	n = pack_req(&req, &b);
	ASSERT_OK(admin_req_decode(b.p + 4, n - 4, &got));
	ASSERT_EQ_STR(got->alias_rm->alias, "info@example.org");
	ASSERT(got->alias_rm->target == NULL); /* optional stays absent */
	admin_req_free(&got);
	buf_free(&b);
}

static void test_decode_rejects(void)
{
	Mr__CtlRequest *req;
	const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff};
	ASSERT_ERR(admin_req_decode(garbage, sizeof garbage, &req), MR_EPROTO);
	/* version only, then an unknown field 99 (varint): rejected as unknown */
	const uint8_t unknown[] = {0x08, 0x01, 0x98, 0x06, 0x01};
	ASSERT_ERR(admin_req_decode(unknown, sizeof unknown, &req), MR_EPROTO);
	/* a known oneof member carrying an unknown field inside: rejected too */
	const uint8_t inner[] = {0x08, 0x01, 0x52, 0x02, 0x28, 0x01}; /* status{field 5} */
	ASSERT_ERR(admin_req_decode(inner, sizeof inner, &req), MR_EPROTO);
	/* a valid status request decodes */
	const uint8_t ok[] = {0x08, 0x01, 0x52, 0x00};
	ASSERT_OK(admin_req_decode(ok, sizeof ok, &req));
	ASSERT_EQ_INT(req->cmd_case, MR__CTL_REQUEST__CMD_STATUS);
	admin_req_free(&req);
	/* truncated: domain_add with a length running past the end */
	const uint8_t trunc[] = {0x08, 0x01, 0x5a, 0x10, 0x0a, 0x03, 'a', 'b'};
	ASSERT_ERR(admin_req_decode(trunc, sizeof trunc, &req), MR_EPROTO);
	/* missing required version */
	const uint8_t nover[] = {0x52, 0x00};
	ASSERT_ERR(admin_req_decode(nover, sizeof nover, &req), MR_EPROTO);
	ASSERT(req == NULL);
}

static void test_response_builder_roundtrip(void)
{
	Mr__CtlResponse r;
	admin_resp_init(&r);
	const char *cols[] = {"alias", "target"};
	admin_resp_columns(&r, 2, cols);
	char a[32], t[32];
	for (int i = 0; i < 100; i++) {
		snprintf(a, sizeof a, "a%d@example.org", i);
		snprintf(t, sizeof t, "t%d@example.org", i);
		const char *cells[] = {a, t};
		admin_resp_row(&r, 2, cells);
	}
	admin_resp_field(&r, "version", "0.1.0");
	admin_resp_message(&r, "listed %d", 100);
	struct buf b;
	buf_init(&b, 0);
	ASSERT_OK(admin_wire_pack(&r.base, &b));
	admin_resp_clear(&r);
	ASSERT_EQ_INT(r.n_rows, 0);
	Mr__CtlResponse *got;
	ASSERT_OK(admin_resp_decode(b.p + 4, b.len - 4, &got));
	ASSERT_EQ_INT(got->version, CTL_VERSION);
	ASSERT_EQ_INT(got->code, MR__CTL_CODE__CTL_OK);
	ASSERT_EQ_INT(got->n_rows, 100);
	ASSERT_EQ_STR(got->rows[99]->cells[1], "t99@example.org");
	ASSERT_EQ_STR(got->fields[0]->key, "version");
	ASSERT_EQ_STR(got->message, "listed 100");
	ASSERT(got->error == NULL);
	admin_resp_free_unpacked(&got);
	buf_free(&b);

	admin_resp_init(&r);
	admin_resp_error(&r, MR__CTL_CODE__CTL_ENOTFOUND, "no such account: %s", "x@y.z");
	admin_resp_error(&r, MR__CTL_CODE__CTL_EEXIST, "replaced");
	buf_init(&b, 0);
	ASSERT_OK(admin_wire_pack(&r.base, &b));
	admin_resp_clear(&r);
	ASSERT_OK(admin_resp_decode(b.p + 4, b.len - 4, &got));
	ASSERT_EQ_INT(got->code, MR__CTL_CODE__CTL_EEXIST);
	ASSERT_EQ_STR(got->error, "replaced");
	admin_resp_free_unpacked(&got);
	buf_free(&b);
}

/* A response whose rows do not match its columns is malformed. */
static void test_response_ragged_rows(void)
{
	Mr__CtlResponse r;
	admin_resp_init(&r);
	const char *cols[] = {"alias", "target"};
	admin_resp_columns(&r, 2, cols);
	const char *one[] = {"only"};
	admin_resp_row(&r, 1, one);
	struct buf b;
	buf_init(&b, 0);
	ASSERT_OK(admin_wire_pack(&r.base, &b));
	admin_resp_clear(&r);
	Mr__CtlResponse *got;
	ASSERT_ERR(admin_resp_decode(b.p + 4, b.len - 4, &got), MR_EPROTO);
	buf_free(&b);
}

static void test_code_str(void)
{
	ASSERT_EQ_STR(admin_code_str(MR__CTL_CODE__CTL_ENOTFOUND), "not found");
	ASSERT_EQ_STR(admin_code_str(MR__CTL_CODE__CTL_EBUSY), "still in use");
	ASSERT_EQ_STR(admin_code_str(-1), "unknown error");
	ASSERT_EQ_STR(admin_code_str(1000), "unknown error");
}

static const struct unit_test tests[] = {
    {"header_big_endian", test_header_big_endian},
    {"byte_at_a_time", test_byte_at_a_time},
    {"two_frames_one_push", test_two_frames_one_push},
    {"partial_reads", test_partial_reads},
    {"oversize_rejected", test_oversize_rejected},
    {"empty_frame", test_empty_frame},
    {"pack_too_big", test_pack_too_big},
    {"request_roundtrip_all", test_request_roundtrip_all},
    {"decode_rejects", test_decode_rejects},
    {"response_builder_roundtrip", test_response_builder_roundtrip},
    {"response_ragged_rows", test_response_ragged_rows},
    {"code_str", test_code_str},
    {0},
};
UNIT_MAIN(tests)

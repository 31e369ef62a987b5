/* test_mime_refcases.c - the edge cases the Dovecot comparison found
 * (tests/integration/test_mime_reference.py): a part whose header's last line ending is the
 * next boundary's (no blank line of its own), a multipart without parts (its part 1 is the
 * empty text/plain BODYSTRUCTURE shows, with extension data in the extended form), a
 * message/rfc822 part in base64 (opaque: no encapsulated sections), mime_part_find on a
 * message whose whole body is a message/rfc822, and the ENVELOPE name of an addr-spec with
 * comments on both sides, and which transfer encodings BINARY can undo (RFC 3516 §4.3).
 */
#include "unit.h"
#include "mime/mime.h"
#include "common/err.h"

static struct mime_parser *parse(const char *m, struct mime_part **root)
{
	return mime_parse((const uint8_t *)m, strlen(m), root);
}

/* [start, end) of a section as a NUL-terminated copy, or NULL if not found. */
static char *section(const char *m, const struct mime_part *root, const char *path,
                     const char *kind)
{
	size_t s, e;
	if (mime_section((const uint8_t *)m, root, path, kind, &s, &e) != 0)
		return NULL;
	char *o = malloc(e - s + 1);
	memcpy(o, m + s, e - s);
	o[e - s] = 0;
	return o;
}

static void expect_section(const char *m, const struct mime_part *root, const char *path,
                           const char *kind, const char *want)
{
	char *got = section(m, root, path, kind);
	if (!want) {
		ASSERT(got == NULL);
		return;
	}
	ASSERT(got != NULL);
	ASSERT_EQ_STR(got, want);
	free(got);
}

static void test_header_on_boundary_line_end(void)
{
	const char *m = "Content-Type: multipart/mixed; boundary=e\r\n\r\n"
	                "--e\r\n"
	                "--e\r\nContent-Type: text/plain\r\n\r\n"
	                "--e\r\n\r\n"
	                "--e\r\nContent-Type: text/html\r\n\r\nx\r\n"
	                "--e--\r\n";
	struct mime_part *root;
	struct mime_parser *p = parse(m, &root);
	ASSERT_EQ_INT(root->nchildren, 4);
	/* the CRLF before "--e" is the delimiter's, not part 2's blank line */
	expect_section(m, root, "2", "MIME", "Content-Type: text/plain\r\n");
	expect_section(m, root, "2", "", "");
	expect_section(m, root, "3", "MIME", "");
	expect_section(m, root, "3", "", "");
	expect_section(m, root, "4", "MIME", "Content-Type: text/html\r\n\r\n");
	expect_section(m, root, "4", "", "x");
	const struct mime_part *c = root->first_child->next;
	ASSERT_EQ_INT(c->body_lines, 0);
	/* every part still nests inside the multipart's body */
	for (c = root->first_child; c; c = c->next)
		ASSERT(c->hdr_start >= root->body_start && c->body_end <= root->body_end);
	mime_parser_free(&p);

	/* the same inside a message/rfc822 part: header, child and all end at the delimiter */
	const char *m2 = "Content-Type: multipart/mixed; boundary=f\r\n\r\n"
	                 "--f\r\nContent-Type: message/rfc822\r\n\r\n"
	                 "--f--\r\n";
	p = parse(m2, &root);
	const struct mime_part *msg = root->first_child;
	ASSERT(msg && msg->first_child);
	ASSERT_EQ_INT(msg->hdr_end, msg->body_end);
	ASSERT(msg->first_child->hdr_start >= msg->body_start &&
	       msg->first_child->body_end <= msg->body_end);
	expect_section(m2, root, "1", "MIME", "Content-Type: message/rfc822\r\n");
	expect_section(m2, root, "1", "HEADER", "");
	mime_parser_free(&p);
}

static void test_multipart_without_parts(void)
{
	/* no boundary parameter, a boundary never seen, only a preamble and the close */
	static const char *const msgs[] = {
	    "Content-Type: multipart/mixed\r\n\r\n--x\r\nhi\r\n--x--\r\n",
	    "Content-Type: multipart/mixed; boundary=nowhere\r\n\r\n--x\r\n\r\nhi\r\n",
	    "Content-Type: multipart/mixed; boundary=zz\r\n\r\njust a preamble\r\n--zz--\r\n",
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct mime_part *root;
		struct mime_parser *p = parse(msgs[i], &root);
		ASSERT_EQ_INT(root->nchildren, 0);
		/* BODYSTRUCTURE shows one empty text/plain part: part 1 exists and is empty */
		expect_section(msgs[i], root, "1", "", "");
		expect_section(msgs[i], root, "1", "MIME", "");
		expect_section(msgs[i], root, "2", "", NULL);
		expect_section(msgs[i], root, "1.1", "", NULL);
		expect_section(msgs[i], root, "1", "HEADER", NULL);
		struct mime_part empty;
		const struct mime_part *e = mime_part_find(root, "1", &empty);
		ASSERT(e == &empty);
		ASSERT_EQ_STR(e->type, "text");
		ASSERT_EQ_INT(e->body_end - e->body_start, 0);
		ASSERT(mime_part_find(root, "2", &empty) == NULL);
		struct buf o;
		buf_init(&o, 0);
		ASSERT_OK(mime_bodystructure((const uint8_t *)msgs[i], root, true, &o));
		ASSERT(strstr((const char *)o.p,
		              "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		              "\"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\"") != NULL);
		buf_reset(&o);
		ASSERT_OK(mime_bodystructure((const uint8_t *)msgs[i], root, false, &o));
		ASSERT_EQ_STR((const char *)o.p,
		              "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		              "NIL \"7bit\" 0 0) \"mixed\")");
		buf_free(&o);
		mime_parser_free(&p);
	}
}

static void test_rfc822_base64_is_opaque(void)
{
	const char *m =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "RnJvbTogYUBiDQoNCmJvZHkNCg==\r\n"
	    "--b--\r\n";
	struct mime_part *root;
	struct mime_parser *p = parse(m, &root);
	expect_section(m, root, "1", "", "RnJvbTogYUBiDQoNCmJvZHkNCg==");
	expect_section(m, root, "1", "HEADER", NULL);
	expect_section(m, root, "1.1", "", NULL);
	struct mime_part empty;
	ASSERT(mime_part_find(root, "1.1", &empty) == NULL);
	ASSERT(mime_part_find(root, "1", &empty) == root->first_child);
	/* its BODYSTRUCTURE stands in an empty envelope and body, with extension data */
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(mime_bodystructure((const uint8_t *)m, root, true, &o));
	ASSERT(strstr((const char *)o.p,
	              "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
	              "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL "
	              "NIL) 1 NIL") != NULL);
	buf_free(&o);
	mime_parser_free(&p);
}

static void test_part_find_top_message(void)
{
	/* the whole body is a message: its parts are 1.1, 1.2 (RFC 3501 §6.4.5) */
	const char *m = "Content-Type: message/rfc822\r\n\r\n"
	                "Subject: inner\r\nContent-Type: multipart/alternative; boundary=ia\r\n\r\n"
	                "--ia\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
	                "--ia\r\nContent-Type: text/html\r\n\r\n<i>html</i>\r\n--ia--\r\n";
	struct mime_part *root;
	struct mime_parser *p = parse(m, &root);
	struct mime_part empty;
	const struct mime_part *h = mime_part_find(root, "1.2", &empty);
	ASSERT(h != NULL);
	ASSERT_EQ_STR(h->subtype, "html");
	ASSERT_EQ_MEM(m + h->body_start, h->body_end - h->body_start, "<i>html</i>", 11);
	ASSERT(mime_part_find(root, "1", &empty) == root);
	ASSERT(mime_part_find(root, "", &empty) == root);
	ASSERT(mime_part_find(root, "1.3", &empty) == NULL);
	ASSERT(mime_part_find(root, "1.1.1", &empty) == NULL);
	ASSERT(mime_part_find(root, "0", &empty) == NULL);
	ASSERT(mime_part_find(root, "1.", &empty) == NULL);
	expect_section(m, root, "1.2", "", "<i>html</i>");
	mime_parser_free(&p);
}

static void test_envelope_comment_name(void)
{
	const char *m = "From: (before) c@d.test (Real Name)\r\n"
	                "To: e@f.test (Only)\r\n"
	                "Cc: (lead) g@h.test\r\n\r\nx\r\n";
	struct mime_part *root;
	struct mime_parser *p = parse(m, &root);
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(mime_envelope((const uint8_t *)m, root, &o));
	ASSERT_EQ_STR((const char *)o.p, "(NIL NIL ((\"Real Name\" NIL \"c\" \"d.test\")) "
	                                 "((\"Real Name\" NIL \"c\" \"d.test\")) "
	                                 "((\"Real Name\" NIL \"c\" \"d.test\")) "
	                                 "((\"Only\" NIL \"e\" \"f.test\")) "
	                                 "((\"lead\" NIL \"g\" \"h.test\")) NIL NIL NIL)");
	buf_free(&o);
	mime_parser_free(&p);
}

static void test_cte_known(void)
{
	static const struct {
		const char *cte;
		bool known;
	} cases[] = {{NULL, true},          {"7bit", true},     {"8BIT", true},
	             {"binary", true},      {" Base64 ", true}, {"quoted-printable (qp)", true},
	             {"x-uuencode", false}, {"x-foo", false},   {"base-64", false}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char m[200];
		snprintf(m, sizeof(m), "Subject: x\r\n%s%s%s\r\nbody\r\n",
		         cases[i].cte ? "Content-Transfer-Encoding:" : "",
		         cases[i].cte ? cases[i].cte : "", cases[i].cte ? "\r\n" : "");
		struct mime_part *root;
		struct mime_parser *p = parse(m, &root);
		ASSERT_EQ_INT(mime_cte_known((const uint8_t *)m, root), cases[i].known);
		mime_parser_free(&p);
	}
}

static const struct unit_test tests[] = {
    {"header_on_boundary_line_end", test_header_on_boundary_line_end},
    {"multipart_without_parts", test_multipart_without_parts},
    {"rfc822_base64_is_opaque", test_rfc822_base64_is_opaque},
    {"part_find_top_message", test_part_find_top_message},
    {"envelope_comment_name", test_envelope_comment_name},
    {"cte_known", test_cte_known},
    {0},
};

UNIT_MAIN(tests)

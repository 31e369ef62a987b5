/* test_mime.c - the MIME structure parser: exact ENVELOPE / BODY / BODYSTRUCTURE strings for
 * messages shaped like RFC 3501's examples, offsets and line counts, boundary edge cases,
 * bare LF, missing separators, digests and encapsulated messages, section lookup, limits
 * (MR_ETOOBIG with a usable tree), and byte-at-a-time == one-push on every fuzz seed.
 */
#include "unit.h"
#include "mime/mime.h"
#include "common/err.h"
#include <dirent.h>

/* Rewrite "\n" to "\r\n" (test messages are written with LF for readability). */
static char *crlf(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *o = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			o[k++] = '\r';
		o[k++] = s[i];
	}
	o[k] = 0;
	return o;
}

static void tree_dump(const struct mime_part *p, struct buf *out)
{
	for (; p; p = p->next) {
		buf_printf(out, "[%zu %zu %zu %zu %zu %s/%s %u", p->hdr_start, p->hdr_end,
		           p->body_start, p->body_end, p->body_lines, p->type, p->subtype,
		           p->nchildren);
		tree_dump(p->first_child, out);
		buf_puts(out, "]");
	}
}

/* Parse with a given chunk size (0 = one push) and return the dump; rc in *rc_r. */
static char *parse_dump(const char *m, size_t len, size_t chunk, const struct mime_limits *lim,
                        int *rc_r)
{
	struct mime_parser *p = mime_parser_new(lim);
	int rc = 0;
	if (chunk == 0)
		chunk = len ? len : 1;
	for (size_t i = 0; i < len; i += chunk) {
		int r =
		    mime_parser_push(p, (const uint8_t *)m + i, len - i < chunk ? len - i : chunk);
		if (r)
			rc = r;
	}
	struct mime_part *root = mime_parser_finish(p);
	struct buf d;
	buf_init(&d, 0);
	tree_dump(root, &d);
	mime_parser_free(&p);
	if (rc_r)
		*rc_r = rc;
	char *s = (char *)(d.p ? d.p : (uint8_t *)strdup(""));
	return s;
}

static char *render(const char *m, int what)
{
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)m, strlen(m), &root);
	struct buf o;
	buf_init(&o, 1 << 20);
	int rc = what == 0   ? mime_envelope((const uint8_t *)m, root, &o)
	         : what == 1 ? mime_bodystructure((const uint8_t *)m, root, false, &o)
	                     : mime_bodystructure((const uint8_t *)m, root, true, &o);
	ASSERT_OK(rc);
	mime_parser_free(&p);
	return (char *)o.p;
}

static const char RFC3501_MSG[] = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
                                  "From: Terry Gray <gray@cac.washington.edu>\n"
                                  "Subject: IMAP4rev1 WG mtg summary and minutes\n"
                                  "To: imap@cac.washington.edu\n"
                                  "cc: minutes@CNRI.Reston.VA.US,\n"
                                  " John Klensin <KLENSIN@MIT.EDU>\n"
                                  "Message-Id: <B27397-0100000@cac.washington.edu>\n"
                                  "MIME-Version: 1.0\n"
                                  "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
                                  "\n"
                                  "Hello Joe, do you think we can meet at 3:30 tomorrow?\n"
                                  "Second line.\n";

static void test_rfc3501_envelope(void)
{
	char *m = crlf(RFC3501_MSG);
	char *e = render(m, 0);
	ASSERT_EQ_STR(e, "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
	                 "\"IMAP4rev1 WG mtg summary and minutes\" "
	                 "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	                 "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	                 "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	                 "((NIL NIL \"imap\" \"cac.washington.edu\")) "
	                 "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
	                 "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
	                 "\"<B27397-0100000@cac.washington.edu>\")");
	free(e);
	char *b = render(m, 1);
	ASSERT_EQ_STR(b, "(\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 69 2)");
	free(b);
	b = render(m, 2);
	ASSERT_EQ_STR(b, "(\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 69 2 "
	                 "NIL NIL NIL NIL)");
	free(b);
	free(m);
}

static const char NESTED_MSG[] = "From: Alice <alice@example.org>\n"
                                 "Subject: nested\n"
                                 "Content-Type: multipart/mixed; boundary=\"outer\"\n"
                                 "\n"
                                 "preamble\n"
                                 "--outer\n"
                                 "Content-Type: multipart/alternative; boundary=inner\n"
                                 "\n"
                                 "--inner\n"
                                 "Content-Type: text/plain; charset=utf-8\n"
                                 "\n"
                                 "plain body\n"
                                 "two\n"
                                 "--inner\n"
                                 "Content-Type: text/html; charset=\"utf-8\"\n"
                                 "Content-Language: en\n"
                                 "\n"
                                 "<p>html</p>\n"
                                 "--inner--\n"
                                 "--outer\n"
                                 "Content-Type: application/octet-stream; name=\"a b.bin\"\n"
                                 "Content-Transfer-Encoding: BASE64\n"
                                 "Content-Disposition: attachment; filename=\"a b.bin\"\n"
                                 "Content-ID: <part3@x>\n"
                                 "Content-Description: some \"data\"\n"
                                 "\n"
                                 "AAEC\n"
                                 "--outer--\n"
                                 "epilogue\n";

static void test_nested_bodystructure(void)
{
	char *m = crlf(NESTED_MSG);
	char *b = render(m, 1);
	ASSERT_EQ_STR(b, "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 15 2)"
	                 "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 11 1) "
	                 "\"alternative\")"
	                 "(\"application\" \"octet-stream\" (\"name\" \"a b.bin\") \"<part3@x>\" "
	                 "\"some \\\"data\\\"\" \"base64\" 4) \"mixed\")");
	free(b);
	b = render(m, 2);
	ASSERT_EQ_STR(b, "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 15 2 NIL "
	                 "NIL NIL NIL)"
	                 "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 11 1 NIL NIL "
	                 "\"en\" NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)"
	                 "(\"application\" \"octet-stream\" (\"name\" \"a b.bin\") \"<part3@x>\" "
	                 "\"some \\\"data\\\"\" \"base64\" 4 NIL (\"attachment\" (\"filename\" "
	                 "\"a b.bin\")) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)");
	free(b);
	free(m);
}

static const char RFC822_MSG[] = "From: a@example.com\n"
                                 "Subject: fwd\n"
                                 "Content-Type: multipart/mixed; boundary=b1\n"
                                 "\n"
                                 "--b1\n"
                                 "\n"
                                 "see attached\n"
                                 "--b1\n"
                                 "Content-Type: message/rfc822\n"
                                 "\n"
                                 "From: Carol <carol@example.com>\n"
                                 "Subject: inner\n"
                                 "\n"
                                 "inner text\n"
                                 "line 2\n"
                                 "--b1--\n";

static void test_message_rfc822(void)
{
	char *m = crlf(RFC822_MSG);
	char *b = render(m, 1);
	ASSERT_EQ_STR(b, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1)"
	                 "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 69 "
	                 "(NIL \"inner\" ((\"Carol\" NIL \"carol\" \"example.com\")) "
	                 "((\"Carol\" NIL \"carol\" \"example.com\")) "
	                 "((\"Carol\" NIL \"carol\" \"example.com\")) NIL NIL NIL NIL NIL) "
	                 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 2) 5) "
	                 "\"mixed\")");
	free(b);
	/* sections: RFC 3501 §6.4.5 */
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)m, strlen(m), &root);
	size_t s, e;
	ASSERT_OK(mime_section((const uint8_t *)m, root, "1", "", &s, &e));
	ASSERT_EQ_MEM(m + s, e - s, "see attached", 12);
	ASSERT_OK(mime_section((const uint8_t *)m, root, "2", "TEXT", &s, &e));
	ASSERT_EQ_MEM(m + s, e - s, "inner text\r\nline 2", 18);
	ASSERT_OK(mime_section((const uint8_t *)m, root, "2", "HEADER", &s, &e));
	ASSERT_EQ_MEM(m + s, e - s, "From: Carol <carol@example.com>\r\nSubject: inner\r\n\r\n",
	              51);
	ASSERT_OK(mime_section((const uint8_t *)m, root, "2", "MIME", &s, &e));
	ASSERT_EQ_MEM(m + s, e - s, "Content-Type: message/rfc822\r\n\r\n", 32);
	ASSERT_OK(mime_section((const uint8_t *)m, root, "2.1", "", &s, &e));
	ASSERT_EQ_MEM(m + s, e - s, "inner text\r\nline 2", 18);
	ASSERT_OK(mime_section((const uint8_t *)m, root, "", "", &s, &e));
	ASSERT_EQ_INT(s, 0);
	ASSERT_EQ_INT(e, strlen(m));
	ASSERT_OK(mime_section((const uint8_t *)m, root, "", "HEADER", &s, &e));
	ASSERT_EQ_INT(e, strstr(m, "\r\n\r\n") + 4 - m);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "3", "", &s, &e), MR_ENOTFOUND);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "1.1", "", &s, &e), MR_ENOTFOUND);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "1", "HEADER", &s, &e), MR_ENOTFOUND);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "0", "", &s, &e), MR_ENOTFOUND);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "1.", "", &s, &e), MR_ENOTFOUND);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "x", "", &s, &e), MR_ENOTFOUND);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "", "MIME", &s, &e), MR_ENOTFOUND);
	mime_parser_free(&p);
	free(m);
}

static void test_single_part_sections(void)
{
	const char *m = "Subject: x\r\n\r\nbody\r\n";
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)m, strlen(m), &root);
	size_t s, e;
	/* a non-multipart message only has part 1: its body */
	ASSERT_OK(mime_section((const uint8_t *)m, root, "1", "", &s, &e));
	ASSERT_EQ_MEM(m + s, e - s, "body\r\n", 6);
	ASSERT_OK(mime_section((const uint8_t *)m, root, "", "TEXT", &s, &e));
	ASSERT_EQ_MEM(m + s, e - s, "body\r\n", 6);
	ASSERT_ERR(mime_section((const uint8_t *)m, root, "2", "", &s, &e), MR_ENOTFOUND);
	mime_parser_free(&p);
}

static void test_offsets_and_lines(void)
{
	/* bare LF throughout; the LF before a boundary belongs to the boundary */
	const char *m = "Content-Type: multipart/mixed; boundary=zz\n"
	                "\n"
	                "--zz\n"
	                "\n"
	                "a\n"
	                "b\n"
	                "\n"
	                "--zz\n"
	                "Content-Type: text/plain\n"
	                "\n"
	                "--zz--\n";
	char *d = parse_dump(m, strlen(m), 0, NULL, NULL);
	/* part 2's header ends on the boundary's LF: it keeps no blank line (RFC 2046 §5.1.1) */
	ASSERT_EQ_STR(d, "[0 44 44 93 9 multipart/mixed 2"
	                 "[49 50 50 54 2 text/plain 0]"
	                 "[60 85 85 85 0 text/plain 0]]");
	free(d);
	/* no final newline: the last line still counts */
	const char *m2 = "Subject: x\n\nline1\nline2";
	d = parse_dump(m2, strlen(m2), 0, NULL, NULL);
	ASSERT_EQ_STR(d, "[0 12 12 23 2 text/plain 0]");
	free(d);
}

static void test_boundary_edge_cases(void)
{
	char pad[400];
	memset(pad, ' ', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;
	char *m = malloc(2000);
	snprintf(m, 2000,
	         "Content-Type: multipart/mixed; boundary=\"a:b\"\r\n\r\n"
	         "--a:b \t\r\n" /* trailing whitespace */
	         "\r\none\r\n"
	         "--a:bc\r\n"  /* longer: not our boundary */
	         "--a:b%s\r\n" /* transport padding past the kept prefix */
	         "Content-Type: text/html\r\n"
	         "--a:b\r\n" /* interrupts an unterminated header */
	         "\r\nlast, no close\r\n",
	         pad);
	int rc;
	char *d = parse_dump(m, strlen(m), 0, NULL, &rc);
	ASSERT_OK(rc);
	/* parts: "one\r\n--a:bc", the interrupted text/html (empty), "last, no close" */
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)m, strlen(m), &root);
	ASSERT_EQ_INT(root->nchildren, 3);
	const struct mime_part *c = root->first_child;
	ASSERT_EQ_MEM(m + c->body_start, c->body_end - c->body_start, "one\r\n--a:bc", 11);
	ASSERT_EQ_INT(c->body_lines, 2);
	c = c->next;
	ASSERT_EQ_STR(c->subtype, "html");
	ASSERT_EQ_INT(c->body_end - c->body_start, 0);
	ASSERT_EQ_MEM(m + c->hdr_start, c->hdr_end - c->hdr_start, "Content-Type: text/html", 23);
	c = c->next;
	ASSERT_EQ_MEM(m + c->body_start, c->body_end - c->body_start, "last, no close\r\n", 16);
	ASSERT_EQ_INT(c->body_end, strlen(m)); /* missing close delimiter: runs to the end */
	mime_parser_free(&p);
	free(d);
	free(m);

	/* padding followed by junk past the kept prefix: not a delimiter */
	m = malloc(2000);
	snprintf(m, 2000,
	         "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\na\r\n"
	         "--q%sx\r\nb\r\n--q--\r\n",
	         pad);
	p = mime_parse((const uint8_t *)m, strlen(m), &root);
	ASSERT_EQ_INT(root->nchildren, 1);
	ASSERT_EQ_INT(root->first_child->body_lines, 3);
	mime_parser_free(&p);
	/* a boundary over 200 bytes is refused: the multipart stays a leaf */
	snprintf(m, 2000, "Content-Type: multipart/mixed; boundary=%.201s\r\n\r\n--x\r\n", pad);
	memset(strstr(m, "boundary=") + 9, 'z', 201);
	p = mime_parse((const uint8_t *)m, strlen(m), &root);
	ASSERT_EQ_STR(root->type, "multipart");
	ASSERT_EQ_INT(root->nchildren, 0);
	mime_parser_free(&p);
	free(m);
}

static void test_no_separator_and_defaults(void)
{
	const char *m = "From: x@y\r\nSubject: s\r\nnot a header line\r\nmore\r\n";
	char *d = parse_dump(m, strlen(m), 0, NULL, NULL);
	ASSERT_EQ_STR(d, "[0 23 23 48 2 text/plain 0]");
	free(d);
	/* multipart/digest: parts default to message/rfc822 (RFC 2046 §5.1.5) */
	const char *g =
	    "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n"
	    "--d\nContent-Type: text/plain\n\ntext\n--d--\n";
	d = parse_dump(g, strlen(g), 0, NULL, NULL);
	ASSERT_EQ_STR(d, "[0 44 44 109 10 multipart/digest 2[48 49 49 67 3 message/rfc822 1"
	                 "[49 63 63 67 1 text/plain 0]][72 98 98 102 1 text/plain 0]]");
	free(d);
	/* an encoded message/rfc822 is not parsed as a message */
	const char *b = "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
	                "RnJvbTogYUBiDQoNCmhp\n";
	d = parse_dump(b, strlen(b), 0, NULL, NULL);
	ASSERT_EQ_STR(d, "[0 64 64 85 1 message/rfc822 0]");
	free(d);
	/* invalid Content-Type falls back to text/plain; missing boundary makes a leaf */
	const char *x = "Content-Type: garbage\n\nx\n";
	d = parse_dump(x, strlen(x), 0, NULL, NULL);
	ASSERT_EQ_STR(d, "[0 23 23 25 1 text/plain 0]");
	free(d);
	const char *y = "Content-Type: multipart/mixed\n\n--x\n\nx\n";
	d = parse_dump(y, strlen(y), 0, NULL, NULL);
	ASSERT_EQ_STR(d, "[0 31 31 38 3 multipart/mixed 0]");
	free(d);
	char *bs = render(y, 1);
	ASSERT_EQ_STR(bs, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
	                  "\"mixed\")");
	free(bs);
}

static void test_limits(void)
{
	/* depth */
	char m[4096] = "Content-Type: multipart/mixed; boundary=d0\n\n";
	for (int i = 0; i < 10; i++)
		snprintf(m + strlen(m), sizeof(m) - strlen(m),
		         "--d%d\nContent-Type: multipart/mixed; boundary=d%d\n\n", i, i + 1);
	strcat(m, "--d10\n\nleaf\n");
	struct mime_limits lim = {.max_depth = 3};
	int rc;
	char *d = parse_dump(m, strlen(m), 0, &lim, &rc);
	ASSERT_ERR(rc, MR_ETOOBIG);
	char *d1 = parse_dump(m, strlen(m), 1, &lim, &rc);
	ASSERT_ERR(rc, MR_ETOOBIG);
	ASSERT_EQ_STR(d1, d);
	/* root + 3 levels, the last one open to the end of the message */
	ASSERT(strstr(d, "[[") == NULL);
	size_t depth = 0, maxd = 0;
	for (const char *s = d; *s; s++) {
		if (*s == '[' && ++depth > maxd)
			maxd = depth;
		if (*s == ']')
			depth--;
	}
	ASSERT_EQ_INT(maxd, 4);
	free(d);
	free(d1);
	/* a usable tree: BODYSTRUCTURE renders */
	struct mime_parser *p = mime_parser_new(&lim);
	ASSERT_ERR(mime_parser_push(p, (const uint8_t *)m, strlen(m)), MR_ETOOBIG);
	ASSERT_ERR(mime_parser_push(p, (const uint8_t *)"more", 4), MR_ETOOBIG);
	struct mime_part *root = mime_parser_finish(p);
	ASSERT_EQ_INT(root->body_end, strlen(m) + 4);
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(mime_bodystructure((const uint8_t *)m, root, true, &o));
	ASSERT(strncmp((const char *)o.p, "(((", 3) == 0);
	buf_free(&o);
	mime_parser_free(&p);

	/* parts */
	const char *pm =
	    "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n1\n--b\n\n2\n--b\n\n3\n"
	    "--b--\n";
	struct mime_limits pl = {.max_parts = 3};
	d = parse_dump(pm, strlen(pm), 0, &pl, &rc);
	ASSERT_ERR(rc, MR_ETOOBIG);
	ASSERT(strstr(d, "multipart/mixed 2[") != NULL);
	free(d);

	/* header line */
	char hm[600] = "Subject: x\nX-Long: ";
	memset(hm + strlen(hm), 'a', 200);
	strcat(hm, "\n\nbody\n");
	struct mime_limits hl = {.max_header_line = 100};
	d = parse_dump(hm, strlen(hm), 0, &hl, &rc);
	ASSERT_ERR(rc, MR_ETOOBIG);
	d1 = parse_dump(hm, strlen(hm), 1, &hl, &rc);
	ASSERT_ERR(rc, MR_ETOOBIG);
	ASSERT_EQ_STR(d1, d);
	free(d);
	free(d1);
	/* folded continuation making one field too long */
	char fm[600] = "Subject: x\nX-Fold: ";
	for (int i = 0; i < 10; i++)
		strcat(fm, "aaaaaaaaaaaaaaa\n ");
	strcat(fm, "end\n\nbody\n");
	d = parse_dump(fm, strlen(fm), 0, &hl, &rc);
	ASSERT_ERR(rc, MR_ETOOBIG);
	free(d);
	/* same length but within the limit: fine */
	struct mime_limits hl2 = {.max_header_line = 1000};
	d = parse_dump(fm, strlen(fm), 0, &hl2, &rc);
	ASSERT_OK(rc);
	free(d);
	/* a long line that cannot be a field ends the header instead (no separator) */
	char bl[600] = "From: x@y\r\n";
	memset(bl + strlen(bl), 'b', 300);
	strcat(bl, "\r\nmore\r\n");
	d = parse_dump(bl, strlen(bl), 0, &hl, &rc);
	ASSERT_OK(rc);
	ASSERT_EQ_STR(d, "[0 11 11 319 2 text/plain 0]");
	d1 = parse_dump(bl, strlen(bl), 1, &hl, &rc);
	ASSERT_OK(rc);
	ASSERT_EQ_STR(d1, d);
	free(d);
	free(d1);
	/* number of header fields */
	struct mime_limits hf = {.max_headers = 2};
	const char *three = "A: 1\nB: 2\nC: 3\n\nx\n";
	d = parse_dump(three, strlen(three), 0, &hf, &rc);
	ASSERT_ERR(rc, MR_ETOOBIG);
	free(d);
}

static void test_header_get(void)
{
	const char *h = "Subject: hello\r\n world\r\nX-A:  1\r\nx-a: 2\r\nBad line\r\n"
	                "Received : from a\r\nReceived: from b\r\n\r\nSubject: body\r\n";
	size_t end = strlen(h);
	struct buf o;
	buf_init(&o, 100);
	ASSERT_EQ_INT(mime_header_get((const uint8_t *)h, 0, end, "subject", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "hello world");
	buf_reset(&o);
	ASSERT_EQ_INT(mime_header_get((const uint8_t *)h, 0, end, "X-A", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "1");
	buf_reset(&o);
	ASSERT_EQ_INT(mime_header_get((const uint8_t *)h, 0, end, "Received", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "from a");
	ASSERT_EQ_INT(mime_header_get((const uint8_t *)h, 0, end, "Missing", &o), 0);
	ASSERT_EQ_INT(mime_header_count((const uint8_t *)h, 0, end, "received"), 2);
	ASSERT_EQ_INT(mime_header_count((const uint8_t *)h, 0, end, "x-a"), 2);
	ASSERT_EQ_INT(mime_header_count((const uint8_t *)h, 0, end, "subject"), 1);
	buf_free(&o);
}

/* Every fuzz seed: byte-at-a-time, odd chunks and one push give the same tree. */
static void test_seeds_bytewise(void)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", __FILE__);
	char *slash = strrchr(dir, '/');
	ASSERT(slash != NULL);
	strcpy(slash, "/../../fuzz/corpus/mime");
	DIR *dh = opendir(dir);
	ASSERT(dh != NULL);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		ASSERT(f != NULL);
		static char data[1 << 20];
		size_t n = fread(data, 1, sizeof(data), f);
		fclose(f);
		int rc0, rc1, rc7;
		char *one = parse_dump(data, n, 0, NULL, &rc0);
		char *bytes = parse_dump(data, n, 1, NULL, &rc1);
		char *seven = parse_dump(data, n, 7, NULL, &rc7);
		if (strcmp(one, bytes) != 0 || strcmp(one, seven) != 0 || rc0 != rc1 || rc0 != rc7)
			unit_fail(__FILE__, __LINE__, "%s: %s vs %s", de->d_name, one, bytes);
		free(one);
		free(bytes);
		free(seven);
		files++;
	}
	closedir(dh);
	ASSERT(files >= 12);
}

static void test_push_returns(void)
{
	/* need-more semantics: every push of a well-formed message returns 0 */
	char *m = crlf(NESTED_MSG);
	struct mime_parser *p = mime_parser_new(NULL);
	for (size_t i = 0; m[i]; i++)
		ASSERT_OK(mime_parser_push(p, (const uint8_t *)m + i, 1));
	struct mime_part *root = mime_parser_finish(p);
	ASSERT_EQ_STR(root->type, "multipart");
	ASSERT_EQ_INT(root->nchildren, 2);
	ASSERT_EQ_STR(root->first_child->subtype, "alternative");
	ASSERT_EQ_INT(root->first_child->nchildren, 2);
	ASSERT_EQ_STR(root->first_child->next->type, "application");
	ASSERT(mime_parser_finish(p) == root); /* idempotent */
	mime_parser_free(&p);
	ASSERT(p == NULL);
	free(m);
}

static void test_content_type_forms(void)
{
	/* CFWS around the slash, upper case, comments; a missing ';' ends the type */
	const char *m = "Content-Type: (c) MULTIPART / Mixed (x) ; BOUNDARY = \"B\"\r\n\r\n"
	                "--B\r\nContent-Type: text/plain charset=x\r\n\r\nhi\r\n--B--\r\n";
	char *b = render(m, 2);
	ASSERT_EQ_STR(b, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 1 NIL "
	                 "NIL NIL NIL) \"mixed\" (\"boundary\" \"B\") NIL NIL NIL)");
	free(b);
	/* long subtypes (up to 63 bytes) are kept; longer ones make the type invalid */
	const char *w = "Content-Type: application/"
	                "vnd.openxmlformats-officedocument.wordprocessingml.document\r\n\r\nx";
	char *d = parse_dump(w, strlen(w), 1, NULL, NULL);
	ASSERT(
	    strstr(d, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"));
	free(d);
	char lng[300] = "Content-Type: application/";
	memset(lng + strlen(lng), 'x', 100);
	strcat(lng, "\r\n\r\nx");
	d = parse_dump(lng, strlen(lng), 0, NULL, NULL);
	ASSERT(strstr(d, " text/plain ") != NULL);
	free(d);
}

static const struct unit_test tests[] = {
    {"content_type_forms", test_content_type_forms},
    {"rfc3501_envelope", test_rfc3501_envelope},
    {"nested_bodystructure", test_nested_bodystructure},
    {"message_rfc822", test_message_rfc822},
    {"single_part_sections", test_single_part_sections},
    {"offsets_and_lines", test_offsets_and_lines},
    {"boundary_edge_cases", test_boundary_edge_cases},
    {"no_separator_and_defaults", test_no_separator_and_defaults},
    {"limits", test_limits},
    {"header_get", test_header_get},
    {"seeds_bytewise", test_seeds_bytewise},
    {"push_returns", test_push_returns},
    {0},
};

UNIT_MAIN(tests)

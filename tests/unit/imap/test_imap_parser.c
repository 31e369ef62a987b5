/* test_imap_parser.c - the IMAP command parser (node/imap/imap_parser.c): whole and
 * byte-at-a-time input, literals (sync and LITERAL+), nested lists, bracketed fetch atoms,
 * limits and malformed input, plus recovery after errors. */
#include "unit.h"
#include "imap/imap_parser.h"
#include "common/err.h"

static const struct imap_parser_limits lim = {65536, 65536, 8, 1000};

/* Push everything at once (or byte-at-a-time), accepting every literal. Returns the final
 * event; *lits counts literal announcements. */
static int feed(struct imap_parser *p, const char *s, size_t len, bool bytewise, int *lits)
{
	size_t off = 0;
	int rv = 0;
	while (off < len) {
		size_t n = bytewise ? 1 : len - off, used = 0;
		rv = imap_parser_push(p, (const uint8_t *)s + off, n, &used);
		off += used;
		if (rv == IMAP_PARSE_LITERAL) {
			if (lits)
				(*lits)++;
			ASSERT_OK(imap_parser_literal_accept(p));
			continue;
		}
		if (rv != 0)
			return rv;
		ASSERT_EQ_INT(used, n);
	}
	return rv;
}

static void check_simple(bool bytewise)
{
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = "a001 login \"joe\\\"x\" {5}\r\nsecre NIL (\\Seen x) atom\r\n";
	int lits = 0;
	ASSERT_EQ_INT(feed(p, in, strlen(in), bytewise, &lits), IMAP_PARSE_DONE);
	ASSERT_EQ_INT(lits, 1);
	ASSERT_EQ_STR(imap_parser_tag(p), "a001");
	ASSERT_EQ_STR(imap_parser_name(p), "LOGIN");
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	ASSERT_EQ_INT(n, 7);
	ASSERT_EQ_INT(a[0].type, IMAP_ARG_QUOTED);
	ASSERT_EQ_STR(a[0].str, "joe\"x");
	ASSERT_EQ_INT(a[1].type, IMAP_ARG_LITERAL);
	ASSERT_EQ_MEM(a[1].str, a[1].len, "secre", 5);
	ASSERT_EQ_INT(a[2].type, IMAP_ARG_NIL);
	ASSERT_EQ_INT(a[3].type, IMAP_ARG_LIST);
	ASSERT_EQ_INT(a[3].nchildren, 2);
	ASSERT_EQ_INT(a[3].end, 6);
	ASSERT_EQ_STR(a[4].str, "\\Seen");
	ASSERT_EQ_STR(a[5].str, "x");
	ASSERT_EQ_INT(a[6].type, IMAP_ARG_ATOM);
	ASSERT_EQ_STR(a[6].str, "atom");
	imap_parser_free(&p);
	ASSERT(p == NULL);
}

static void test_whole(void)
{
	check_simple(false);
}

static void test_bytewise(void)
{
	check_simple(true);
}

static void test_pipelined(void)
{
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = "1 NOOP\r\n2 CAPABILITY\r\n";
	size_t used;
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)in, strlen(in), &used), IMAP_PARSE_DONE);
	ASSERT_EQ_INT(used, 8);
	ASSERT_EQ_STR(imap_parser_name(p), "NOOP");
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)in + 8, strlen(in) - 8, &used),
		      IMAP_PARSE_DONE);
	ASSERT_EQ_STR(imap_parser_tag(p), "2");
	ASSERT_EQ_STR(imap_parser_name(p), "CAPABILITY");
	size_t n;
	imap_parser_args(p, &n);
	ASSERT_EQ_INT(n, 0);
	imap_parser_free(&p);
}

static void test_literal_plus_and_size(void)
{
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = "x APPEND INBOX (\\Seen) {3+}\r\nabc\r\n";
	size_t used;
	int rv = imap_parser_push(p, (const uint8_t *)in, strlen(in), &used);
	ASSERT_EQ_INT(rv, IMAP_PARSE_LITERAL);
	uint64_t sz;
	bool sync;
	imap_parser_literal(p, &sz, &sync);
	ASSERT_EQ_INT(sz, 3);
	ASSERT(!sync);
	/* pushing without accepting is refused */
	size_t u2;
	ASSERT_ERR(imap_parser_push(p, (const uint8_t *)in + used, 1, &u2), MR_EPROTO);
	ASSERT_OK(imap_parser_literal_accept(p));
	rv = imap_parser_push(p, (const uint8_t *)in + used, strlen(in) - used, &u2);
	ASSERT_EQ_INT(rv, IMAP_PARSE_DONE);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	ASSERT_EQ_INT(n, 4);
	ASSERT_EQ_STR(a[3].str, "abc");
	imap_parser_free(&p);
}

static void test_literal_too_big_rejected(void)
{
	struct imap_parser_limits small = {8192, 100, 4, 50};
	struct imap_parser *p = imap_parser_new(&small);
	const char *in = "t1 LOGIN {4294967295}\r\n";
	size_t used;
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)in, strlen(in), &used),
		      IMAP_PARSE_LITERAL);
	uint64_t sz;
	bool sync;
	imap_parser_literal(p, &sz, &sync);
	ASSERT_EQ_INT(sz, 4294967295ull);
	ASSERT(sync);
	ASSERT_ERR(imap_parser_literal_accept(p), MR_ETOOBIG);
	imap_parser_reset(p, false);
	/* the next command parses cleanly */
	const char *next = "t2 NOOP\r\n";
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)next, strlen(next), &used),
		      IMAP_PARSE_DONE);
	ASSERT_EQ_STR(imap_parser_tag(p), "t2");
	/* more than 32 bits: refused while parsing the number */
	const char *huge = "t3 LOGIN {42949672950}\r\n";
	ASSERT_ERR(imap_parser_push(p, (const uint8_t *)huge, strlen(huge), &used), MR_ETOOBIG);
	ASSERT_EQ_STR(imap_parser_tag(p), "t3");
	imap_parser_free(&p);
}

static void test_nested_lists(void)
{
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = "a SEARCH (OR (FROM x) (TO y)) ALL\r\n";
	ASSERT_EQ_INT(feed(p, in, strlen(in), true, NULL), IMAP_PARSE_DONE);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	ASSERT_EQ_INT(n, 9);
	ASSERT_EQ_INT(a[0].type, IMAP_ARG_LIST);
	ASSERT_EQ_INT(a[0].nchildren, 3);
	ASSERT_EQ_INT(a[0].end, 8);
	ASSERT_EQ_INT(a[2].type, IMAP_ARG_LIST);
	ASSERT_EQ_INT(a[2].end, 5);
	ASSERT_EQ_STR(a[8].str, "ALL");
	imap_parser_free(&p);

	/* depth limit */
	p = imap_parser_new(&lim);
	const char *deep = "a X (((((((((x)))))))))\r\n";
	ASSERT_ERR(feed(p, deep, strlen(deep), false, NULL), MR_ETOOBIG);
	imap_parser_free(&p);
}

static void test_bracket_atom(void)
{
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = "f FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n";
	ASSERT_EQ_INT(feed(p, in, strlen(in), true, NULL), IMAP_PARSE_DONE);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	ASSERT_EQ_INT(n, 4);
	ASSERT_EQ_STR(a[0].str, "1:*");
	ASSERT_EQ_INT(a[1].nchildren, 2);
	ASSERT_EQ_STR(a[3].str, "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>");
	imap_parser_free(&p);
}

static void expect_error(const char *in, int err)
{
	struct imap_parser *p = imap_parser_new(&lim);
	size_t used;
	int rv = imap_parser_push(p, (const uint8_t *)in, strlen(in), &used);
	if (rv != err)
		unit_fail(__FILE__, __LINE__, "input %s: got %d want %d", in, rv, err);
	/* recovery: the rest of the line is skipped, then a fresh command parses */
	const char *rest = in + used;
	size_t u2 = 0;
	rv = imap_parser_push(p, (const uint8_t *)rest, strlen(rest), &u2);
	ASSERT_EQ_INT(rv, 0);
	const char *next = "ok NOOP\r\n";
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)next, strlen(next), &u2),
		      IMAP_PARSE_DONE);
	ASSERT_EQ_STR(imap_parser_tag(p), "ok");
	imap_parser_free(&p);
}

static void test_malformed(void)
{
	expect_error("a NOOP (x\r\n", MR_EPROTO);           /* unbalanced */
	expect_error("a NOOP x)\r\n", MR_EPROTO);           /* stray ) */
	expect_error("a+b NOOP\r\n", MR_EPROTO);            /* bad tag */
	expect_error("* NOOP\r\n", MR_EPROTO);              /* bad tag */
	expect_error(" NOOP\r\n", MR_EPROTO);               /* missing tag */
	expect_error("a LOGIN \"unterminated\r\n", MR_EPROTO);
	expect_error("a LOGIN \"bad\\escape\"\r\n", MR_EPROTO);
	expect_error("a LOGIN {}\r\n", MR_EPROTO);
	expect_error("a LOGIN {12x}\r\n", MR_EPROTO);
	expect_error("a LOGIN {3} trailing\r\n", MR_EPROTO);
	expect_error("a NOOP\rX\r\n", MR_EPROTO); /* CR without LF */
	expect_error("a NOOP x\"y\r\n", MR_EPROTO);
	expect_error("a FETCH 1 BODY[unterminated\r\n", MR_EPROTO);

	/* NUL bytes */
	struct imap_parser *p = imap_parser_new(&lim);
	const uint8_t nul[] = {'a', ' ', 'N', 0, 'P', '\r', '\n'};
	size_t used;
	ASSERT_ERR(imap_parser_push(p, nul, sizeof nul, &used), MR_EPROTO);
	ASSERT_EQ_STR(imap_parser_tag(p), "a");
	imap_parser_free(&p);
}

static void test_line_limit(void)
{
	struct imap_parser_limits small = {64, 100, 4, 50};
	struct imap_parser *p = imap_parser_new(&small);
	char line[200];
	memset(line, 'x', sizeof line);
	memcpy(line, "t NOOP ", 7);
	size_t used;
	ASSERT_ERR(imap_parser_push(p, (const uint8_t *)line, sizeof line, &used), MR_ETOOBIG);
	ASSERT_EQ_STR(imap_parser_tag(p), "t");
	size_t u2;
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)line + used, sizeof line - used, &u2),
		      0);
	const char *next = "\r\nb NOOP\r\n";
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)next, strlen(next), &u2),
		      IMAP_PARSE_DONE);
	ASSERT_EQ_STR(imap_parser_tag(p), "b");
	/* argument count limit */
	imap_parser_free(&p);
	struct imap_parser_limits few = {8192, 100, 4, 3};
	p = imap_parser_new(&few);
	const char *many = "t X a b c d e\r\n";
	ASSERT_ERR(imap_parser_push(p, (const uint8_t *)many, strlen(many), &used), MR_ETOOBIG);
	imap_parser_free(&p);
}

static void test_empty_literal_and_lf_only(void)
{
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = "\r\nz LOGIN {0}\r\n {2}\nab\n";
	int lits = 0;
	ASSERT_EQ_INT(feed(p, in, strlen(in), true, &lits), IMAP_PARSE_DONE);
	ASSERT_EQ_INT(lits, 2);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_INT(a[0].type, IMAP_ARG_LITERAL);
	ASSERT_EQ_INT(a[0].len, 0);
	ASSERT_EQ_STR(a[1].str, "ab");
	imap_parser_free(&p);
}

static const struct unit_test tests[] = {
	{"whole", test_whole},
	{"bytewise", test_bytewise},
	{"pipelined", test_pipelined},
	{"literal_plus_and_size", test_literal_plus_and_size},
	{"literal_too_big_rejected", test_literal_too_big_rejected},
	{"nested_lists", test_nested_lists},
	{"bracket_atom", test_bracket_atom},
	{"malformed", test_malformed},
	{"line_limit", test_line_limit},
	{"empty_literal_and_lf_only", test_empty_literal_and_lf_only},
	{0},
};
UNIT_MAIN(tests)

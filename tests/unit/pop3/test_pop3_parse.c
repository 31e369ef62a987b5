/* test_pop3_parse.c - unit tests of the POP3 codec (node/pop3/pop3_parse.c): command lines fed
 * byte-at-a-time and in one piece, malformed and overlong lines, PASS's verbatim argument, the
 * raw SASL line mode, message-number / line-count validation, and byte-exact output of the
 * byte-stuffing encoder (RETR and TOP cuts, chunk boundaries). */
#include "unit.h"
#include "pop3/pop3_parse.h"
#include "common/buf.h"
#include "common/err.h"

static struct pop3_parser P;

/* Feed s one byte at a time: every byte but the last must say "need more"; returns the last
 * call's result. */
static int feed_bytewise(struct pop3_parser *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t used = 0;
		int rv = pop3_parse_push(p, (const uint8_t *)s + i, 1, &used);
		ASSERT_EQ_INT(used, 1);
		if (i + 1 < n) {
			if (rv != 0)
				unit_fail(__FILE__, __LINE__, "byte %zu of %zu: rv %d", i, n, rv);
		} else {
			return rv;
		}
	}
	return 0;
}

/* Feed s in one call; asserts that the whole input was consumed. */
static int feed(struct pop3_parser *p, const char *s)
{
	size_t used = 0, n = strlen(s);
	int rv = pop3_parse_push(p, (const uint8_t *)s, n, &used);
	ASSERT_EQ_INT(used, n);
	return rv;
}

static void test_bytewise_user(void)
{
	pop3_parse_init(&P);
	const char *s = "USER alice@example.org\r\n";
	ASSERT_EQ_INT(feed_bytewise(&P, s, strlen(s)), 1);
	ASSERT_EQ_STR(P.cmd.keyword, "USER");
	ASSERT_EQ_INT(P.cmd.nargs, 1);
	ASSERT_EQ_MEM(P.cmd.args[0], P.cmd.arglen[0], "alice@example.org", 17);
	ASSERT_EQ_INT(P.cmd.args[0][P.cmd.arglen[0]], 0);
	/* and the parser is ready for the next line */
	ASSERT_EQ_INT(feed_bytewise(&P, "stat\r\n", 6), 1);
	ASSERT_EQ_STR(P.cmd.keyword, "STAT");
	ASSERT_EQ_INT(P.cmd.nargs, 0);
}

static void test_pipelined_in_one_push(void)
{
	pop3_parse_init(&P);
	const char *s = "STAT\r\nTOP 1 10\r\nLIST";
	size_t used = 0, n = strlen(s), off = 0;
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)s, n, &used), 1);
	ASSERT_EQ_INT(used, 6);
	ASSERT_EQ_STR(P.cmd.keyword, "STAT");
	off += used;
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)s + off, n - off, &used), 1);
	ASSERT_EQ_INT(used, 10);
	ASSERT_EQ_STR(P.cmd.keyword, "TOP");
	ASSERT_EQ_INT(P.cmd.nargs, 2);
	ASSERT_EQ_STR(P.cmd.args[0], "1");
	ASSERT_EQ_STR(P.cmd.args[1], "10");
	off += used;
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)s + off, n - off, &used), 0);
	ASSERT_EQ_INT(used, 4);
	ASSERT_EQ_INT(feed(&P, " 3\n"), 1); /* bare LF ends a line too */
	ASSERT_EQ_STR(P.cmd.keyword, "LIST");
	ASSERT_EQ_STR(P.cmd.args[0], "3");
}

static void test_keyword_case_and_trailing_blank(void)
{
	pop3_parse_init(&P);
	ASSERT_EQ_INT(feed(&P, "uIdL 7 \r\n"), 1);
	ASSERT_EQ_STR(P.cmd.keyword, "UIDL");
	ASSERT_EQ_INT(P.cmd.nargs, 1);
	ASSERT_EQ_STR(P.cmd.args[0], "7");
	ASSERT_EQ_INT(feed(&P, "LIST \r\n"), 1);
	ASSERT_EQ_INT(P.cmd.nargs, 0);
	ASSERT_EQ_INT(feed(&P, "TOP\r\n"), 1);
	ASSERT_EQ_STR(P.cmd.keyword, "TOP");
}

static void test_pass_keeps_spaces(void)
{
	pop3_parse_init(&P);
	const char *s = "PASS  my secret pw \r\n";
	ASSERT_EQ_INT(feed_bytewise(&P, s, strlen(s)), 1);
	ASSERT_EQ_STR(P.cmd.keyword, "PASS");
	ASSERT_EQ_INT(P.cmd.nargs, 1);
	ASSERT_EQ_MEM(P.cmd.args[0], P.cmd.arglen[0], " my secret pw ", 14);
	ASSERT_EQ_INT(feed(&P, "PASS \r\n"), 1);
	ASSERT_EQ_INT(P.cmd.nargs, 1);
	ASSERT_EQ_INT(P.cmd.arglen[0], 0);
}

static void test_malformed(void)
{
	static const struct {
		const char *line;
		size_t len;
	} bad[] = {
	    {"\r\n", 2},           /* empty */
	    {"   \r\n", 5},        /* no keyword */
	    {"QU\r\n", 4},         /* keyword too short */
	    {"RETRX 1\r\n", 9},    /* keyword too long */
	    {"L1ST\r\n", 6},       /* not letters */
	    {"TOP 1  2\r\n", 10},  /* empty argument */
	    {"TOP 1 2 3\r\n", 11}, /* three arguments */
	    {"ST\rAT\r\n", 7},     /* bare CR */
	    {"STAT\r\r\n", 7},     /* CR CR LF */
	    {"LIST \x01\r\n", 8},  /* control character in an argument */
	    {"US\0R x\r\n", 8},    /* NUL */
	    {"USER a\tb\r\n", 10}, /* tab inside an argument */
	    {" STAT\r\n", 7},      /* leading space */
	};
	pop3_parse_init(&P);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rv = feed_bytewise(&P, bad[i].line, bad[i].len);
		if (rv != MR_EPROTO)
			unit_fail(__FILE__, __LINE__, "case %zu: rv %d", i, rv);
		/* recovers: the next line is fine */
		ASSERT_EQ_INT(feed(&P, "NOOP\r\n"), 1);
		ASSERT_EQ_STR(P.cmd.keyword, "NOOP");
	}
}

static void test_line_limit(void)
{
	char line[600];
	/* RFC 2449 §4: 255 octets including CRLF is accepted */
	pop3_parse_init(&P);
	memcpy(line, "USER ", 5);
	memset(line + 5, 'a', 248);
	memcpy(line + 253, "\r\n", 2);
	ASSERT_EQ_INT(feed_bytewise(&P, line, 255), 1);
	ASSERT_EQ_INT(P.cmd.arglen[0], 248);

	/* one more octet: error exactly at content byte 254, the rest is discarded */
	memset(line + 5, 'a', 249);
	memcpy(line + 254, "\r\nNOOP\r\n", 8);
	for (size_t i = 0; i < 253; i++) {
		size_t used;
		ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)line + i, 1, &used), 0);
	}
	size_t used;
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)line + 253, 1, &used), MR_ETOOBIG);
	ASSERT_EQ_INT(used, 1);
	/* the tail of the long line and the next command, in one push */
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)line + 254, 8, &used), 1);
	ASSERT_EQ_INT(used, 8);
	ASSERT_EQ_STR(P.cmd.keyword, "NOOP");
}

static void test_huge_line_bounded(void)
{
	/* 1 MB without LF: one error, then silence, then recovery */
	pop3_parse_init(&P);
	static uint8_t junk[1 << 20];
	memset(junk, 'x', sizeof junk);
	size_t off = 0, used;
	int errors = 0;
	while (off < sizeof junk) {
		int rv = pop3_parse_push(&P, junk + off, sizeof junk - off, &used);
		ASSERT(rv == 0 || rv == MR_ETOOBIG);
		errors += rv == MR_ETOOBIG;
		off += used;
	}
	ASSERT_EQ_INT(errors, 1);
	ASSERT_EQ_INT(feed(&P, "\r\nQUIT\r\n"), 1);
	ASSERT_EQ_STR(P.cmd.keyword, "QUIT");
}

static void test_auth_line_budget(void)
{
	static char line[POP3_AUTH_LINE_MAX + 16];
	pop3_parse_init(&P);
	/* AUTH PLAIN <b64>: up to POP3_AUTH_LINE_MAX octets with CRLF */
	size_t n = POP3_AUTH_LINE_MAX - 2;
	memcpy(line, "auth PLAIN ", 11);
	memset(line + 11, 'Q', n - 11);
	memcpy(line + n, "\r\n", 2);
	ASSERT_EQ_INT(feed_bytewise(&P, line, n + 2), 1);
	ASSERT_EQ_STR(P.cmd.keyword, "AUTH");
	ASSERT_EQ_INT(P.cmd.nargs, 2);
	ASSERT_EQ_INT(P.cmd.arglen[1], n - 11);
	/* one more is too long */
	memset(line + 11, 'Q', n + 1 - 11);
	memcpy(line + n + 1, "\r\n", 2);
	size_t used;
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)line, n + 3, &used), MR_ETOOBIG);
	ASSERT_EQ_INT(used, n + 1);
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)line + used, 2, &used), 0);
	/* other keywords do not get the AUTH budget */
	memcpy(line, "USER ", 5);
	memset(line + 5, 'u', 300);
	ASSERT_EQ_INT(pop3_parse_push(&P, (const uint8_t *)line, 305, &used), MR_ETOOBIG);
	ASSERT_EQ_INT(used, 254);
}

static void test_line_mode(void)
{
	pop3_parse_init(&P);
	pop3_parse_set_mode(&P, POP3_MODE_LINE);
	const char *s = "AGFsaWNlAHNlY3JldA== trailing  spaces \r\n";
	ASSERT_EQ_INT(feed_bytewise(&P, s, strlen(s)), 1);
	ASSERT_EQ_STR(P.cmd.line, "AGFsaWNlAHNlY3JldA== trailing  spaces ");
	ASSERT_EQ_INT(P.cmd.linelen, strlen(s) - 2);
	ASSERT_EQ_STR(P.cmd.keyword, "");
	ASSERT_EQ_INT(feed(&P, "*\r\n"), 1);
	ASSERT_EQ_MEM(P.cmd.line, P.cmd.linelen, "*", 1);
	ASSERT_EQ_INT(feed(&P, "\r\n"), 1); /* an empty response is a valid line here */
	ASSERT_EQ_INT(P.cmd.linelen, 0);
	ASSERT_EQ_INT(feed(&P, "a\rb\r\n"), MR_EPROTO);
	pop3_parse_set_mode(&P, POP3_MODE_COMMAND);
	ASSERT_EQ_INT(feed(&P, "\r\n"), MR_EPROTO);
}

static void test_msgnum(void)
{
	uint32_t n = 0;
	ASSERT_OK(pop3_parse_msgnum("1", 1, 5, &n));
	ASSERT_EQ_INT(n, 1);
	ASSERT_OK(pop3_parse_msgnum("005", 3, 5, &n));
	ASSERT_EQ_INT(n, 5);
	static const char *const bad[] = {"0",  "-1", "99999999999999999999", "1x",  "",  "+1",
	                                  " 1", "6",  "4294967296",           "0x1", "1 "};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = 77;
		if (pop3_parse_msgnum(bad[i], strlen(bad[i]), 5, &n) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
		ASSERT_EQ_INT(n, 77);
	}
	/* an empty maildrop has no valid number at all */
	ASSERT_ERR(pop3_parse_msgnum("1", 1, 0, &n), MR_EINVAL);
	ASSERT_OK(pop3_parse_msgnum("4294967295", 10, UINT32_MAX, &n));
	ASSERT_EQ_INT(n, UINT32_MAX);
}

static void test_lines_arg(void)
{
	uint64_t v = 9;
	ASSERT_OK(pop3_parse_lines("0", 1, 1000, &v));
	ASSERT_EQ_INT(v, 0);
	ASSERT_OK(pop3_parse_lines("5000", 4, 1000, &v));
	ASSERT_EQ_INT(v, 1000); /* clamped */
	ASSERT_ERR(pop3_parse_lines("99999999999999999999", 20, 1000, &v), MR_EINVAL);
	ASSERT_ERR(pop3_parse_lines("-1", 2, 1000, &v), MR_EINVAL);
	ASSERT_ERR(pop3_parse_lines("1x", 2, 1000, &v), MR_EINVAL);
	ASSERT_ERR(pop3_parse_lines("", 0, 1000, &v), MR_EINVAL);
}

/* Encode in (whole) with limit and compare with want; then again byte-at-a-time. */
static void check_enc(const char *in, size_t inlen, int64_t limit, const char *want)
{
	for (int pass = 0; pass < 2; pass++) {
		struct pop3_dotenc e;
		struct buf out;
		buf_init(&out, 0);
		pop3_dot_init(&e, limit);
		if (pass == 0) {
			ASSERT_OK(pop3_dot_encode(&e, (const uint8_t *)in, inlen, &out));
		} else {
			for (size_t i = 0; i < inlen; i++)
				ASSERT_OK(pop3_dot_encode(&e, (const uint8_t *)in + i, 1, &out));
		}
		ASSERT_OK(pop3_dot_finish(&e, &out));
		if (out.len != strlen(want) || memcmp(out.p, want, out.len) != 0)
			unit_fail(__FILE__, __LINE__,
			          "pass %d limit %lld:\n got  \"%s\"\n want \"%s\"", pass,
			          (long long)limit, (const char *)out.p, want);
		buf_free(&out);
	}
}

static void test_dot_stuffing(void)
{
	check_enc("", 0, -1, ".\r\n");
	check_enc("a\r\n", 3, -1, "a\r\n.\r\n");
	check_enc(".\r\n", 3, -1, "..\r\n.\r\n");
	check_enc("x\r\n.y\r\n..\r\n.\r\nz.\r\n", 18, -1, "x\r\n..y\r\n...\r\n..\r\nz.\r\n.\r\n");
	check_enc(".start", 6, -1, "..start\r\n.\r\n");
	/* bare LF -> CRLF, unterminated last line gets CRLF, bare CR kept */
	check_enc("a\nb\n.c", 6, -1, "a\r\nb\r\n..c\r\n.\r\n");
	check_enc("a\rb\r\n", 5, -1, "a\rb\r\n.\r\n");
	check_enc("end\r", 4, -1, "end\r\n.\r\n");
}

static void test_dot_binary(void)
{
	const uint8_t in[] = {0, 0xff, '.', '\r', '\n', '.', 0};
	const uint8_t want[] = {0, 0xff, '.', '\r', '\n', '.', '.', 0, '\r', '\n', '.', '\r', '\n'};
	struct pop3_dotenc e;
	struct buf out;
	buf_init(&out, 0);
	pop3_dot_init(&e, -1);
	ASSERT_OK(pop3_dot_encode(&e, in, sizeof in, &out));
	ASSERT_OK(pop3_dot_finish(&e, &out));
	ASSERT_EQ_MEM(out.p, out.len, want, sizeof want);
	buf_free(&out);
}

static void test_top_cut(void)
{
	const char *msg = "Subject: x\r\nFrom: a@b\r\n\r\nl1\r\n.l2\r\nl3\r\n";
	size_t n = strlen(msg);
	check_enc(msg, n, 0, "Subject: x\r\nFrom: a@b\r\n\r\n.\r\n");
	check_enc(msg, n, 1, "Subject: x\r\nFrom: a@b\r\n\r\nl1\r\n.\r\n");
	check_enc(msg, n, 2, "Subject: x\r\nFrom: a@b\r\n\r\nl1\r\n..l2\r\n.\r\n");
	check_enc(msg, n, 3, "Subject: x\r\nFrom: a@b\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	check_enc(msg, n, 100, "Subject: x\r\nFrom: a@b\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	/* headers only, no separator line */
	check_enc("A: 1\r\nB: 2", 10, 0, "A: 1\r\nB: 2\r\n.\r\n");
	/* LF-only message */
	check_enc("A: 1\n\nbody\nmore\n", 16, 1, "A: 1\r\n\r\nbody\r\n.\r\n");
}

static void test_encode_bound(void)
{
	struct pop3_dotenc e;
	struct buf out;
	buf_init(&out, 8);
	pop3_dot_init(&e, -1);
	/* worst case of 5 input bytes is 11 output bytes: refused up front */
	ASSERT_ERR(pop3_dot_encode(&e, (const uint8_t *)"\n\n\n\n\n", 5, &out), MR_ETOOBIG);
	ASSERT_EQ_INT(out.len, 0);
	ASSERT_OK(pop3_dot_encode(&e, (const uint8_t *)"\n\n\n", 3, &out));
	ASSERT_EQ_MEM(out.p, out.len, "\r\n\r\n\r\n", 6);
	buf_free(&out);
}

static const struct unit_test tests[] = {
    {"bytewise_user", test_bytewise_user},
    {"pipelined_in_one_push", test_pipelined_in_one_push},
    {"keyword_case_and_trailing_blank", test_keyword_case_and_trailing_blank},
    {"pass_keeps_spaces", test_pass_keeps_spaces},
    {"malformed", test_malformed},
    {"line_limit", test_line_limit},
    {"huge_line_bounded", test_huge_line_bounded},
    {"auth_line_budget", test_auth_line_budget},
    {"line_mode", test_line_mode},
    {"msgnum", test_msgnum},
    {"lines_arg", test_lines_arg},
    {"dot_stuffing", test_dot_stuffing},
    {"dot_binary", test_dot_binary},
    {"top_cut", test_top_cut},
    {"encode_bound", test_encode_bound},
    {0},
};
UNIT_MAIN(tests)

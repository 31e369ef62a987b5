/* test_smtp_parse.c - the SMTP command codec (node/smtp/smtp_parse.c): the line reader fed byte
 * at a time and in one go, overlong lines and NUL bytes, the verb splitter, MAIL/RCPT path
 * syntax (brackets, source routes, quoted local parts, SMTPUTF8, <>, <Postmaster>) and the
 * ESMTP parameters (SIZE, BODY, SMTPUTF8), including malformed ones.
 */
#include "unit.h"
#include "smtp/smtp_parse.h"
#include "common/err.h"

/* Feed s to a reader byte at a time; collect lines as "line|" and errors as "!|". */
static void lines_bytewise(const char *s, size_t n, size_t max, char *out, size_t outlen)
{
	struct smtp_linereader lr;
	smtp_linereader_init(&lr, max);
	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t used = 99;
		int r = smtp_linereader_push(&lr, (const uint8_t *)s + i, 1, &used);
		ASSERT_EQ_INT(used, 1);
		if (r == 1) {
			ASSERT_EQ_INT(s[i], '\n'); /* a line is ready only on its final byte */
			strncat(out, (const char *)lr.line.p, outlen - strlen(out) - 2);
			strcat(out, "|");
		} else if (r < 0) {
			ASSERT_EQ_INT(r, MR_ETOOBIG);
			strcat(out, "!|");
		} else {
			ASSERT_EQ_INT(r, 0);
		}
	}
	smtp_linereader_free(&lr);
}

/* Same, in one buffer, looping on *used. */
static void lines_whole(const char *s, size_t n, size_t max, char *out, size_t outlen)
{
	struct smtp_linereader lr;
	smtp_linereader_init(&lr, max);
	out[0] = 0;
	size_t off = 0;
	while (off < n) {
		size_t used;
		int r = smtp_linereader_push(&lr, (const uint8_t *)s + off, n - off, &used);
		ASSERT(used > 0 && used <= n - off);
		off += used;
		if (r == 1) {
			strncat(out, (const char *)lr.line.p, outlen - strlen(out) - 2);
			strcat(out, "|");
		} else if (r < 0) {
			strcat(out, "!|");
		}
	}
	smtp_linereader_free(&lr);
}

static void test_lines_bytewise(void)
{
	const char *in = "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nNOOP\nRSET\r\n";
	char a[512], b[512];
	lines_bytewise(in, strlen(in), SMTP_LINE_MAX, a, sizeof a);
	ASSERT_EQ_STR(a, "EHLO client.example|MAIL FROM:<a@b.example>|NOOP|RSET|");
	lines_whole(in, strlen(in), SMTP_LINE_MAX, b, sizeof b);
	ASSERT_EQ_STR(b, a);
}

static void test_lines_partial_needs_more(void)
{
	struct smtp_linereader lr;
	smtp_linereader_init(&lr, SMTP_LINE_MAX);
	size_t used;
	ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)"NOOP\r", 5, &used), 0);
	ASSERT_EQ_INT(used, 5);
	ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)"\nQUIT\r\n", 7, &used), 1);
	ASSERT_EQ_INT(used, 1); /* only the LF: QUIT stays with the caller */
	ASSERT_EQ_MEM(lr.line.p, lr.line.len, "NOOP", 4);
	ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)"QUIT\r\n", 6, &used), 1);
	ASSERT_EQ_INT(used, 6);
	ASSERT_EQ_MEM(lr.line.p, lr.line.len, "QUIT", 4);
	/* a CR that is not before the LF stays in the line */
	ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)"A\rB\r\n", 5, &used), 1);
	ASSERT_EQ_MEM(lr.line.p, lr.line.len, "A\rB", 3);
	smtp_linereader_free(&lr);
}

static void test_lines_overlong(void)
{
	static char in[8000];
	memset(in, 'A', 3000);
	memcpy(in + 3000, "\r\nNOOP\r\n", 8);
	char a[8192], b[8192];
	lines_bytewise(in, 3008, SMTP_LINE_MAX, a, sizeof a);
	ASSERT_EQ_STR(a, "!|NOOP|");
	lines_whole(in, 3008, SMTP_LINE_MAX, b, sizeof b);
	ASSERT_EQ_STR(b, "!|NOOP|");

	/* the limit counts the CRLF: 2046 + CRLF fits in 2048, 2047 + CRLF does not */
	memset(in, 'B', 2046);
	memcpy(in + 2046, "\r\n", 2);
	lines_whole(in, 2048, SMTP_LINE_MAX, a, sizeof a);
	ASSERT_EQ_INT(strlen(a), 2047);
	memset(in, 'B', 2047);
	memcpy(in + 2047, "\r\n", 2);
	lines_whole(in, 2049, SMTP_LINE_MAX, a, sizeof a);
	ASSERT_EQ_STR(a, "!|");

	/* a huge line is never buffered beyond the limit */
	struct smtp_linereader lr;
	smtp_linereader_init(&lr, 64);
	size_t used;
	for (int i = 0; i < 1000; i++) {
		ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)in, 100, &used), 0);
		ASSERT(lr.line.len <= 64);
	}
	ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)"\n", 1, &used), MR_ETOOBIG);
	ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)"ok\n", 3, &used), 1);
	ASSERT_EQ_STR((const char *)lr.line.p, "ok");
	smtp_linereader_free(&lr);
}

static void test_lines_nul(void)
{
	struct smtp_linereader lr;
	smtp_linereader_init(&lr, SMTP_LINE_MAX);
	size_t used;
	ASSERT_EQ_INT(smtp_linereader_push(&lr, (const uint8_t *)"NO\0OP\r\n", 7, &used), 1);
	ASSERT_EQ_INT(lr.line.len, 5);
	struct smtp_cmdline cl;
	ASSERT_ERR(smtp_cmdline_split((const char *)lr.line.p, lr.line.len, &cl), MR_EPROTO);
	ASSERT_ERR(smtp_cmdline_split("MAIL FROM:<a\0@b>", 16, &cl), MR_EPROTO);
	smtp_linereader_free(&lr);
}

static void test_cmdline_split(void)
{
	struct smtp_cmdline cl;
	ASSERT_OK(smtp_cmdline_split("MAIL FROM:<a@b>", 15, &cl));
	ASSERT_EQ_MEM(cl.verb, cl.verb_len, "MAIL", 4);
	ASSERT_EQ_MEM(cl.args, cl.args_len, "FROM:<a@b>", 10);
	ASSERT_OK(smtp_cmdline_split("noop", 4, &cl));
	ASSERT_EQ_MEM(cl.verb, cl.verb_len, "noop", 4);
	ASSERT_EQ_INT(cl.args_len, 0);
	ASSERT_OK(smtp_cmdline_split("EHLO  foo.example \t ", 20, &cl));
	ASSERT_EQ_MEM(cl.args, cl.args_len, "foo.example", 11);
	ASSERT_OK(smtp_cmdline_split("QUIT   ", 7, &cl));
	ASSERT_EQ_INT(cl.args_len, 0);
	ASSERT_ERR(smtp_cmdline_split("", 0, &cl), MR_EPROTO);
	ASSERT_ERR(smtp_cmdline_split(" NOOP", 5, &cl), MR_EPROTO);
	ASSERT_ERR(smtp_cmdline_split("MAIL:FROM", 9, &cl), MR_EPROTO);
	ASSERT_ERR(smtp_cmdline_split("12 34", 5, &cl), MR_EPROTO);
	ASSERT_ERR(smtp_cmdline_split("NOOP\rX", 6, &cl), MR_EPROTO);
	ASSERT_ERR(smtp_cmdline_split("ABCDEFGHIJKLMNOPQ", 17, &cl), MR_EPROTO);
	ASSERT_OK(smtp_cmdline_split("STARTTLS", 8, &cl));
}

static int mail(const char *args, struct smtp_path *p, struct smtp_params *pr)
{
	return smtp_parse_mail(args, strlen(args), p, pr);
}

static int rcpt(const char *args, struct smtp_path *p)
{
	return smtp_parse_rcpt(args, strlen(args), p);
}

static void test_mail_basic(void)
{
	struct smtp_path p;
	struct smtp_params pr;
	ASSERT_OK(mail("FROM:<user@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "user@example.com");
	ASSERT_EQ_INT(p.local_len, 4);
	ASSERT_EQ_STR(smtp_path_domain(&p), "example.com");
	ASSERT(!p.null && !p.utf8 && !pr.has_size && pr.body == SMTP_BODY_NONE && !pr.smtputf8);
	/* case-insensitive keyword, a space after the colon (Postfix tolerance) */
	ASSERT_OK(mail("from: <User@Example.COM>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "User@Example.COM");
	ASSERT_OK(mail("FROM:<>", &p, &pr));
	ASSERT(p.null);
	ASSERT_EQ_STR(p.addr, "");
	ASSERT_EQ_STR(smtp_path_domain(&p), "");
	/* source route accepted and ignored (RFC 5321 §C) */
	ASSERT_OK(mail("FROM:<@a.example,@[192.0.2.1]:joe@b.example>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "joe@b.example");
	ASSERT_OK(mail("FROM:<joe@[192.0.2.1]>", &p, &pr));
	ASSERT_EQ_STR(smtp_path_domain(&p), "[192.0.2.1]");
	ASSERT_OK(mail("FROM:<joe@[IPv6:2001:db8::1]>", &p, &pr));
	ASSERT_OK(mail("FROM:<first.last+tag@sub-1.example.org>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "first.last+tag@sub-1.example.org");
}

static void test_mail_malformed(void)
{
	struct smtp_path p;
	struct smtp_params pr;
	ASSERT_ERR(mail("FROM:user@example.com", &p, &pr), MR_EPROTO); /* no brackets */
	ASSERT_ERR(mail("FROM:<user@example.com", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:user@example.com>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FRM:<a@b>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM<a@b>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a@>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<@b.example>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a>", &p, &pr), MR_EPROTO); /* no domain */
	ASSERT_ERR(mail("FROM:<a@b..example>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a@b.example.>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a b@c.example>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a@b@c.example>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a@b.example>junk", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a@[]>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a@[1.2.3.4>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<@a.example:>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<@a.example;b@c.example>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a\x01@b.example>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a\xff@b.example> SMTPUTF8", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<a\xc0\x80@b.example> SMTPUTF8", &p, &pr), MR_EPROTO);
	/* overlong address */
	char big[700];
	strcpy(big, "FROM:<");
	memset(big + 6, 'x', 600);
	strcpy(big + 606, "@example.com>");
	ASSERT_ERR(mail(big, &p, &pr), MR_ETOOBIG);
}

static void test_quoted_local(void)
{
	struct smtp_path p;
	struct smtp_params pr;
	ASSERT_OK(mail("FROM:<\"john doe\"@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "\"john doe\"@example.com");
	ASSERT_EQ_INT(p.local_len, 10);
	/* needless quoting is removed: the lookup form is the plain dot-string */
	ASSERT_OK(mail("FROM:<\"john.doe\"@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "john.doe@example.com");
	ASSERT_OK(mail("FROM:<\"j\\ohn\"@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "john@example.com");
	/* quoted-pair keeps the escape when quoting is needed */
	ASSERT_OK(mail("FROM:<\"a\\\"b\"@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "\"a\\\"b\"@example.com");
	ASSERT_OK(mail("FROM:<\"a..b\"@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "\"a..b\"@example.com");
	ASSERT_OK(mail("FROM:<\"\"@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "\"\"@example.com");
	ASSERT_OK(mail("FROM:<\"a>b\"@example.com>", &p, &pr));
	ASSERT_EQ_STR(p.addr, "\"a>b\"@example.com");
	ASSERT_ERR(mail("FROM:<\"unterminated@example.com>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<\"a\"b@example.com>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<\"a\x01\"@example.com>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<\"a\\\x01\"@example.com>", &p, &pr), MR_EPROTO);
	ASSERT_ERR(mail("FROM:<\"a\\", &p, &pr), MR_EPROTO);
}

static void test_smtputf8_address(void)
{
	struct smtp_path p;
	struct smtp_params pr;
	ASSERT_OK(
	    mail("FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>"
	         " SMTPUTF8",
	         &p, &pr));
	ASSERT(p.utf8);
	ASSERT(pr.smtputf8);
	ASSERT_EQ_INT(p.local_len, 6);
	ASSERT_OK(mail("FROM:<\"\xc3\xa9t\xc3\xa9\"@example.com>", &p, &pr));
	ASSERT(p.utf8);
	ASSERT_OK(mail("FROM:<plain@example.com>", &p, &pr));
	ASSERT(!p.utf8);
}

static void test_mail_params(void)
{
	struct smtp_path p;
	struct smtp_params pr;
	ASSERT_OK(mail("FROM:<> SIZE=1000 BODY=8BITMIME SMTPUTF8", &p, &pr));
	ASSERT(pr.has_size);
	ASSERT_EQ_INT(pr.size, 1000);
	ASSERT_EQ_INT(pr.body, SMTP_BODY_8BITMIME);
	ASSERT(pr.smtputf8);
	ASSERT_OK(mail("FROM:<a@b.example>  size=0  body=7bit", &p, &pr));
	ASSERT_EQ_INT(pr.size, 0);
	ASSERT_EQ_INT(pr.body, SMTP_BODY_7BIT);
	ASSERT_OK(mail("FROM:<a@b.example> SIZE=99999999999999999999", &p, &pr));
	ASSERT(pr.size == UINT64_MAX);
	ASSERT_OK(mail("FROM:<a@b.example> SIZE=18446744073709551615", &p, &pr));
	ASSERT(pr.size == UINT64_MAX);

	ASSERT_ERR(mail("FROM:<a@b.example> SIZE=123456789012345678901", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> SIZE=abc", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> SIZE=-1", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> SIZE=", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> SIZE", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> SIZE=1 SIZE=2", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> BODY=BINARYMIME", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> BODY", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> SMTPUTF8=yes", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> AUTH=<>", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> FOO", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> -X=1", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> X_Y=1", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> =1", &p, &pr), MR_EINVAL);
	ASSERT_ERR(mail("FROM:<a@b.example> BODY=8BITMIME=", &p, &pr), MR_EINVAL);
}

static void test_rcpt(void)
{
	struct smtp_path p;
	ASSERT_OK(rcpt("TO:<bob@example.org>", &p));
	ASSERT_EQ_STR(p.addr, "bob@example.org");
	ASSERT(!p.postmaster);
	ASSERT_OK(rcpt("to: <Bob@Example.org>", &p));
	ASSERT_OK(rcpt("TO:<Postmaster>", &p));
	ASSERT(p.postmaster);
	ASSERT_EQ_STR(smtp_path_domain(&p), "");
	ASSERT_OK(rcpt("TO:<postmaster>", &p));
	ASSERT(p.postmaster);
	ASSERT_OK(rcpt("TO:<postmaster@example.org>", &p));
	ASSERT(!p.postmaster);
	ASSERT_ERR(rcpt("TO:<>", &p), MR_EPROTO);
	ASSERT_ERR(rcpt("TO:<bob>", &p), MR_EPROTO);
	ASSERT_ERR(rcpt("TO:bob@example.org", &p), MR_EPROTO);
	ASSERT_ERR(rcpt("FROM:<bob@example.org>", &p), MR_EPROTO);
	ASSERT_ERR(rcpt("TO:<bob@example.org> NOTIFY=NEVER", &p), MR_EINVAL);
	ASSERT_ERR(rcpt("TO:<bob@example.org> SIZE=1", &p), MR_EINVAL);
}

static void test_utf8_valid(void)
{
	ASSERT(smtp_utf8_valid((const uint8_t *)"abc", 3));
	ASSERT(smtp_utf8_valid((const uint8_t *)"\xc3\xa9", 2));
	ASSERT(smtp_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	ASSERT(!smtp_utf8_valid((const uint8_t *)"\xc0\x80", 2));         /* overlong NUL */
	ASSERT(!smtp_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3));     /* overlong */
	ASSERT(!smtp_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
	ASSERT(!smtp_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	ASSERT(!smtp_utf8_valid((const uint8_t *)"\xc3", 1));             /* truncated */
	ASSERT(!smtp_utf8_valid((const uint8_t *)"\x80", 1));
}

/* RFC 3030 §2 bdat-cmd arguments. */
static void test_bdat_args(void)
{
	uint64_t sz = 7;
	bool last = true;
	ASSERT_OK(smtp_parse_bdat("1000", 4, &sz, &last));
	ASSERT(sz == 1000 && !last);
	ASSERT_OK(smtp_parse_bdat("0 last", 6, &sz, &last));
	ASSERT(sz == 0 && last);
	ASSERT_OK(smtp_parse_bdat("18446744073709551615 LAST", 25, &sz, &last));
	ASSERT(sz == UINT64_MAX && last);
	static const char *const bad[] = {"", "LAST", "-1", "12x", "1 2", "1  LAST", "1 LASTX",
	                                  "18446744073709551616", "123456789012345678901", " 1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ASSERT_ERR(smtp_parse_bdat(bad[i], strlen(bad[i]), &sz, &last), MR_EINVAL);
}

static const struct unit_test tests[] = {
    {"bdat_args", test_bdat_args},
    {"lines_bytewise", test_lines_bytewise},
    {"lines_partial_needs_more", test_lines_partial_needs_more},
    {"lines_overlong", test_lines_overlong},
    {"lines_nul", test_lines_nul},
    {"cmdline_split", test_cmdline_split},
    {"mail_basic", test_mail_basic},
    {"mail_malformed", test_mail_malformed},
    {"quoted_local", test_quoted_local},
    {"smtputf8_address", test_smtputf8_address},
    {"mail_params", test_mail_params},
    {"rcpt", test_rcpt},
    {"utf8_valid", test_utf8_valid},
    {0},
};
UNIT_MAIN(tests)

/* test_smtp_data.c - the DATA decoder (node/smtp/smtp_data.c): dot-unstuffing, CRLF and bare
 * LF end markers, the end marker split across pushes at every position, bytes after the end
 * left to the caller, the size limit (counted, not stored), long lines, Received counting.
 */
#include "unit.h"
#include "smtp/smtp_parse.h"
#include "common/err.h"

struct result {
	struct buf out;
	struct smtp_data d;
	size_t used; /* total bytes consumed when the end was seen */
	int done;
};

/* Push in[0,n) in chunks of `chunk` bytes (byte at a time with 1). Asserts the decoder says
 * "need more" until the end marker and consumes exactly what it reports. */
static void decode(const char *in, size_t n, size_t chunk, uint64_t max, struct result *r)
{
	buf_init(&r->out, 0);
	smtp_data_init(&r->d, &r->out, max);
	r->used = 0;
	r->done = 0;
	size_t off = 0;
	while (off < n && !r->done) {
		size_t len = n - off < chunk ? n - off : chunk, used = 0;
		int rv = smtp_data_push(&r->d, (const uint8_t *)in + off, len, &used);
		ASSERT(used <= len);
		off += used;
		if (rv == 1)
			r->done = 1;
		else
			ASSERT_EQ_INT(used, len); /* 0 means everything was consumed */
	}
	r->used = off;
}

static void check(const char *in, size_t n, const char *want, size_t want_len, size_t want_used)
{
	for (size_t chunk = 1; chunk <= n + 1; chunk++) {
		struct result r;
		decode(in, n, chunk, 1 << 20, &r);
		ASSERT_EQ_INT(r.done, 1);
		ASSERT_EQ_INT(r.used, want_used);
		ASSERT_EQ_INT(r.out.len, want_len);
		if (want_len)
			ASSERT_EQ_MEM(r.out.p, r.out.len, want, want_len);
		ASSERT_EQ_INT(r.d.size, want_len);
		ASSERT(!r.d.too_big);
		buf_free(&r.out);
	}
}

#define CHECK(in, want, used) check(in, sizeof(in) - 1, want, sizeof(want) - 1, used)

static void test_simple_bytewise(void)
{
	const char in[] = "Subject: hi\r\n\r\nhello\r\n.\r\n";
	struct result r;
	decode(in, sizeof in - 1, 1, 1000, &r);
	ASSERT_EQ_INT(r.done, 1);
	ASSERT_EQ_INT(r.used, sizeof in - 1); /* needed every byte: done only at the last LF */
	ASSERT_EQ_MEM(r.out.p, r.out.len, "Subject: hi\r\n\r\nhello\r\n", 22);
	buf_free(&r.out);
	CHECK("Subject: hi\r\n\r\nhello\r\n.\r\n", "Subject: hi\r\n\r\nhello\r\n", sizeof in - 1);
}

static void test_need_more(void)
{
	/* "\r\n." and "\r\n.\r" are not yet the end */
	struct buf out;
	struct smtp_data d;
	buf_init(&out, 0);
	smtp_data_init(&d, &out, 1000);
	size_t used;
	ASSERT_EQ_INT(smtp_data_push(&d, (const uint8_t *)"a\r\n.", 4, &used), 0);
	ASSERT_EQ_INT(smtp_data_push(&d, (const uint8_t *)"\r", 1, &used), 0);
	ASSERT_EQ_INT(smtp_data_push(&d, (const uint8_t *)"\n", 1, &used), 1);
	ASSERT_EQ_INT(used, 1);
	/* after the end, nothing more is consumed */
	ASSERT_EQ_INT(smtp_data_push(&d, (const uint8_t *)"QUIT\r\n", 6, &used), 1);
	ASSERT_EQ_INT(used, 0);
	ASSERT_EQ_MEM(out.p, out.len, "a\r\n", 3);
	buf_free(&out);
}

static void test_dot_stuffing(void)
{
	CHECK("..leading\r\n...\r\n..\r\n.x\r\n.\r\n", ".leading\r\n..\r\n.\r\nx\r\n", 27);
	/* a dot inside a line is never touched */
	CHECK("a.b\r\n a\r\n.\r\n", "a.b\r\n a\r\n", 12);
}

static void test_trailing_commands(void)
{
	const char in[] = "body\r\n.\r\nQUIT\r\n";
	check(in, sizeof in - 1, "body\r\n", 6, 9); /* QUIT stays for the command reader */
}

static void test_empty_message(void)
{
	CHECK(".\r\n", "", 3);
	CHECK(".\n\r\n.\r\n", "\r\n\r\n", 7); /* ".\n" is not the end: an empty line */
}

/* Bare LF ends a line (stored as CRLF), but only CRLF "." CRLF ends the data: a "." line next to
 * a bare LF is text, so no second transaction can hide inside a message (SMTP smuggling). */
static void test_bare_lf(void)
{
	CHECK("a\nb\r\n.\r\n", "a\r\nb\r\n", 8);
	CHECK("a\r\nb\n.\r\n.\r\n", "a\r\nb\r\n\r\n", 11);
	CHECK("a\r\n.\nX\r\n.\r\n", "a\r\n\r\nX\r\n", 11);
	CHECK("..x\n..y\r\n.\r\n", ".x\r\n.y\r\n", 12);
	CHECK("a\n.\nMAIL FROM:<e>\r\n.\r\n", "a\r\n\r\nMAIL FROM:<e>\r\n", 22);
}

static void test_bare_cr(void)
{
	/* a bare CR never ends a line, so "\r.\r" is not an end marker */
	CHECK("a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n", 11);
	CHECK(".\rX\r\n.\r\n", "\rX\r\n", 8);
	CHECK("a\r\r\n.\r\n", "a\r\r\n", 7);
	CHECK("\r\r\n.\r\n", "\r\r\n", 6);
}

static void test_split_everywhere(void)
{
	/* two pushes at every split point give the same message */
	const char in[] = "H: v\r\n\r\n..a\r\nb\r\n.\r\nNOOP";
	size_t n = sizeof in - 1;
	for (size_t k = 0; k <= n; k++) {
		struct buf out;
		struct smtp_data d;
		buf_init(&out, 0);
		smtp_data_init(&d, &out, 1000);
		size_t u1 = 0, u2 = 0;
		int r = smtp_data_push(&d, (const uint8_t *)in, k, &u1);
		if (r == 0) {
			ASSERT_EQ_INT(u1, k);
			r = smtp_data_push(&d, (const uint8_t *)in + k, n - k, &u2);
		}
		ASSERT_EQ_INT(r, 1);
		ASSERT_EQ_INT(u1 + u2, n - 4);
		ASSERT_EQ_MEM(out.p, out.len, "H: v\r\n\r\n.a\r\nb\r\n", 15);
		buf_free(&out);
	}
}

static void test_size_limit(void)
{
	static char in[300];
	memset(in, 'x', 200);
	memcpy(in + 200, "\r\n.\r\nRSET\r\n", 11);
	struct result r;
	decode(in, 211, 7, 100, &r);
	ASSERT_EQ_INT(r.done, 1);
	ASSERT_EQ_INT(r.used, 205); /* swallowed to the end marker */
	ASSERT(r.d.too_big);
	ASSERT_EQ_INT(r.d.size, 202);
	ASSERT(r.out.len <= 100); /* never stored beyond the limit */
	buf_free(&r.out);

	/* exactly at the limit is fine, one byte more is not (CRLF counts) */
	memcpy(in, "abcdefgh\r\n.\r\n", 13);
	decode(in, 13, 1, 10, &r);
	ASSERT(r.done && !r.d.too_big);
	ASSERT_EQ_INT(r.out.len, 10);
	buf_free(&r.out);
	decode(in, 13, 1, 9, &r);
	ASSERT(r.done && r.d.too_big);
	ASSERT_EQ_INT(r.d.size, 10);
	buf_free(&r.out);
}

static void test_long_line(void)
{
	size_t n = SMTP_DATA_LINE_MAX + 10;
	char *in = malloc(n + 16);
	memset(in, 'y', n);
	memcpy(in + n, "\r\n.\r\n", 5);
	struct result r;
	decode(in, n + 5, 4096, 1 << 20, &r);
	ASSERT(r.done && r.d.line_too_long && !r.d.too_big);
	buf_free(&r.out);
	/* exactly SMTP_DATA_LINE_MAX is accepted */
	memcpy(in + SMTP_DATA_LINE_MAX, "\r\n.\r\n", 5);
	decode(in, SMTP_DATA_LINE_MAX + 5, 4096, 1 << 20, &r);
	ASSERT(r.done && !r.d.line_too_long);
	buf_free(&r.out);
	free(in);
}

static void test_received_count(void)
{
	char in[8192] = "";
	for (int i = 0; i < 51; i++)
		strcat(in, i % 2 ? "Received: from x\r\n\tby y\r\n" : "received:from z\r\n");
	strcat(in, "Subject: s\r\n\r\nReceived: in the body\r\n.Received: stuffed\r\n.\r\n");
	struct result r;
	decode(in, strlen(in), 1, 1 << 20, &r);
	ASSERT(r.done);
	ASSERT_EQ_INT(r.d.received, 51);
	ASSERT(!r.d.in_headers);
	buf_free(&r.out);
	/* "Received-SPF:" and a short "Received" are not Received fields */
	const char in2[] = "Received-SPF: pass\r\nReceived\r\nX-Received: a\r\n\r\n.\r\n";
	decode(in2, sizeof in2 - 1, 3, 1000, &r);
	ASSERT_EQ_INT(r.d.received, 0);
	buf_free(&r.out);
}

static void test_eight_bit(void)
{
	struct result r;
	decode("caf\xc3\xa9\r\n.\r\n", 10, 1, 100, &r);
	ASSERT(r.done && r.d.eight_bit);
	buf_free(&r.out);
	decode("cafe\r\n.\r\n", 9, 1, 100, &r);
	ASSERT(r.done && !r.d.eight_bit);
	buf_free(&r.out);
}

static void test_nul_bytes(void)
{
	const char in[] = "a\0b\r\n.\r\n";
	check(in, sizeof in - 1, "a\0b\r\n", 5, 8);
}

static const struct unit_test tests[] = {
    {"simple_bytewise", test_simple_bytewise},
    {"need_more", test_need_more},
    {"dot_stuffing", test_dot_stuffing},
    {"trailing_commands", test_trailing_commands},
    {"empty_message", test_empty_message},
    {"bare_lf", test_bare_lf},
    {"bare_cr", test_bare_cr},
    {"split_everywhere", test_split_everywhere},
    {"size_limit", test_size_limit},
    {"long_line", test_long_line},
    {"received_count", test_received_count},
    {"eight_bit", test_eight_bit},
    {"nul_bytes", test_nul_bytes},
    {0},
};
UNIT_MAIN(tests)

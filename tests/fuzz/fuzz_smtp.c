/* fuzz_smtp.c - libFuzzer target for the SMTP codec (node/smtp/smtp_parse.c, smtp_data.c).
 * The input is treated as a client's byte stream: it is split into command lines with the line
 * reader (in chunks whose sizes come from the input, and again byte at a time: both must give
 * the same lines), each line is split into verb and arguments and run through the MAIL and
 * RCPT parsers, and the whole input is also decoded as DATA text with a small size limit
 * (chunked and byte-at-a-time must agree), and as a SASL PLAIN response (core/login.c, used by
 * AUTH on submission). Invariants are checked with abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "smtp/smtp_parse.h"
#include "core/login.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static void check_path(const struct smtp_path *p)
{
	size_t n = strlen(p->addr);
	CHECK(n <= SMTP_ADDR_MAX);
	CHECK(p->local_len <= n);
	CHECK(smtp_utf8_valid((const uint8_t *)p->addr, n));
	if (p->null)
		CHECK(n == 0);
	for (size_t i = 0; i < n; i++)
		CHECK((uint8_t)p->addr[i] >= 32 && p->addr[i] != 127);
}

static void run_line(const uint8_t *line, size_t len)
{
	struct smtp_cmdline cl;
	if (smtp_cmdline_split((const char *)line, len, &cl) != 0)
		return;
	CHECK(cl.verb_len >= 1 && cl.verb_len <= 16);
	CHECK(cl.args + cl.args_len <= (const char *)line + len);
	struct smtp_path p;
	struct smtp_params pr;
	int rv = smtp_parse_mail(cl.args, cl.args_len, &p, &pr);
	CHECK(rv == 0 || rv == MR_EPROTO || rv == MR_EINVAL || rv == MR_ETOOBIG);
	if (rv == 0) {
		check_path(&p);
		CHECK(pr.body <= SMTP_BODY_8BITMIME);
	}
	rv = smtp_parse_rcpt(cl.args, cl.args_len, &p);
	CHECK(rv == 0 || rv == MR_EPROTO || rv == MR_EINVAL || rv == MR_ETOOBIG);
	if (rv == 0) {
		check_path(&p);
		CHECK(!p.null);
	}
	uint64_t sz;
	bool last;
	rv = smtp_parse_bdat(cl.args, cl.args_len, &sz, &last);
	CHECK(rv == 0 || rv == MR_EINVAL);
	if (rv == 0)
		CHECK(cl.args_len >= 1 && cl.args[0] >= '0' && cl.args[0] <= '9');
}

/* Lines of data[0,size) pushed in chunks (chunk 0: sizes from the input), hashed in order. */
static uint64_t run_lines(const uint8_t *data, size_t size, size_t chunk, bool parse)
{
	struct smtp_linereader lr;
	smtp_linereader_init(&lr, 256);
	uint64_t h = 1469598103934665603ull;
	size_t off = 0, k = 0;
	while (off < size) {
		size_t want = chunk ? chunk : (size_t)(data[k++ % size] % 37) + 1;
		size_t len = size - off < want ? size - off : want, used = 0;
		int r = smtp_linereader_push(&lr, data + off, len, &used);
		CHECK(used >= 1 && used <= len);
		off += used;
		CHECK(lr.line.len <= 256);
		if (r == 1) {
			if (parse)
				run_line(lr.line.p, lr.line.len);
			for (size_t i = 0; i < lr.line.len; i++)
				h = (h ^ lr.line.p[i]) * 1099511628211ull;
			h = (h ^ 0x100) * 1099511628211ull;
		} else if (r < 0) {
			CHECK(r == MR_ETOOBIG);
			h = (h ^ 0x200) * 1099511628211ull;
		} else {
			CHECK(used == len);
		}
	}
	smtp_linereader_free(&lr);
	return h;
}

static void run_data(const uint8_t *data, size_t size, size_t chunk, struct buf *out,
                     struct smtp_data *d, size_t *used_r, int *done_r)
{
	buf_init(out, 0);
	smtp_data_init(d, out, 512);
	size_t off = 0;
	int done = 0;
	while (off < size && !done) {
		size_t len = size - off < chunk ? size - off : chunk, used = 0;
		done = smtp_data_push(d, data + off, len, &used);
		CHECK(used <= len);
		CHECK(done || used == len);
		off += used;
		CHECK(out->len <= 512);
	}
	*used_r = off;
	*done_r = done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	uint64_t a = run_lines(data, size, 0, true);
	uint64_t b = run_lines(data, size, 1, false);
	CHECK(a == b);

	struct buf o1, o2;
	struct smtp_data d1, d2;
	size_t u1, u2;
	int e1, e2;
	run_data(data, size, size ? size : 1, &o1, &d1, &u1, &e1);
	run_data(data, size, 1, &o2, &d2, &u2, &e2);
	CHECK(e1 == e2 && u1 == u2);
	CHECK(d1.size == d2.size && d1.too_big == d2.too_big && d1.received == d2.received);
	CHECK(d1.too_big == (d1.size > 512));
	if (!d1.too_big) {
		/* past the limit the stored prefix is unspecified; below it both must agree */
		CHECK(o1.len == d1.size && o1.len == o2.len);
		CHECK(o1.len == 0 || memcmp(o1.p, o2.p, o1.len) == 0);
	}
	buf_free(&o1);
	buf_free(&o2);

	char user[LOGIN_USER_MAX], pass[LOGIN_PASS_MAX];
	int rv = login_b64_field((const char *)data, size, user, sizeof user);
	CHECK(rv == 0 || rv == MR_EINVAL);
	if (rv == 0)
		CHECK(strnlen(user, sizeof user) < sizeof user);
	rv = login_sasl_plain((const char *)data, size, user, pass);
	CHECK(rv == 0 || rv == MR_EINVAL || rv == MR_EPERM);
	if (rv == 0) {
		size_t ul = strnlen(user, sizeof user), pl = strnlen(pass, sizeof pass);
		CHECK(ul > 0 && ul < sizeof user && pl < sizeof pass);
	}
	return 0;
}

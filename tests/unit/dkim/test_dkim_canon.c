/* test_dkim_canon.c - RFC 6376 §3.4 canonicalization: the §3.4.5 example for both
 * algorithms, empty and unterminated bodies, known body hashes, chunking independence of the
 * streaming body hasher (byte at a time), the l= limit, header splitting and the bottom-up
 * selection of signed header instances (§5.4.2) including oversigned absent names. */
#include "unit.h"
#include "dkim/dkim.h"
#include "common/err.h"
#include <openssl/evp.h>
#include <sodium.h>

static void canon_body(enum dkim_canon c, const char *in, struct buf *out, uint8_t hash[32])
{
	struct dkim_body b;
	dkim_body_init(&b, c, -1, out);
	dkim_body_update(&b, (const uint8_t *)in, strlen(in));
	ASSERT_OK(dkim_body_final(&b, hash, NULL));
	(void)buf_append(out, "", 1); /* NUL for ASSERT_EQ_STR */
}

static void b64(const uint8_t *h, char *out)
{
	sodium_bin2base64(out, 64, h, 32, sodium_base64_VARIANT_ORIGINAL);
}

static void test_rfc_example_headers(void)
{
	/* RFC 6376 §3.4.5 */
	const char *msg = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
	struct dkim_field f[8];
	size_t n, body;
	ASSERT_OK(dkim_split((const uint8_t *)msg, strlen(msg), f, 8, &n, &body));
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_STR(msg + body, " C \r\nD \t E\r\n\r\n\r\n");
	ASSERT_EQ_INT(f[1].name_len, 1);
	struct buf r, s;
	buf_init(&r, 0);
	buf_init(&s, 0);
	for (size_t i = 0; i < n; i++) {
		ASSERT_OK(dkim_canon_header(DKIM_CANON_RELAXED, (const uint8_t *)msg + f[i].off,
		                            f[i].len, true, &r));
		ASSERT_OK(dkim_canon_header(DKIM_CANON_SIMPLE, (const uint8_t *)msg + f[i].off,
		                            f[i].len, true, &s));
	}
	ASSERT_EQ_STR((char *)r.p, "a:X\r\nb:Y Z\r\n");
	ASSERT_EQ_STR((char *)s.p, "A: X\r\nB : Y\t\r\n\tZ  \r\n");
	/* a bare CR inside a value is not a fold (dkimpy agrees); an empty value stays empty */
	buf_reset(&r);
	const char *odd = "X-Odd :  a\rb \r\n\t c\t";
	ASSERT_OK(
	    dkim_canon_header(DKIM_CANON_RELAXED, (const uint8_t *)odd, strlen(odd), false, &r));
	ASSERT_OK(
	    dkim_canon_header(DKIM_CANON_RELAXED, (const uint8_t *)"Subject:  ", 10, true, &r));
	(void)buf_append(&r, "", 1);
	ASSERT_EQ_STR((char *)r.p, "x-odd:a\rb c"
	                           "subject:\r\n");
	buf_free(&r);
	buf_free(&s);
}

static void test_rfc_example_body(void)
{
	struct buf o;
	uint8_t h[32];
	buf_init(&o, 0);
	canon_body(DKIM_CANON_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", &o, h);
	ASSERT_EQ_STR((char *)o.p, " C\r\nD E\r\n");
	buf_reset(&o);
	canon_body(DKIM_CANON_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", &o, h);
	ASSERT_EQ_STR((char *)o.p, " C \r\nD \t E\r\n");
	buf_free(&o);
}

static void test_empty_and_unterminated(void)
{
	struct buf o;
	uint8_t h[32];
	char s[64];
	buf_init(&o, 0);
	/* §3.4.3: an empty body is CRLF for simple; §3.4.4: nothing for relaxed */
	canon_body(DKIM_CANON_SIMPLE, "", &o, h);
	ASSERT_EQ_STR((char *)o.p, "\r\n");
	b64(h, s);
	ASSERT_EQ_STR(s, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	buf_reset(&o);
	canon_body(DKIM_CANON_RELAXED, "\r\n\r\n  \r\n", &o, h);
	ASSERT_EQ_STR((char *)o.p, "");
	b64(h, s);
	ASSERT_EQ_STR(s, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	buf_reset(&o);
	canon_body(DKIM_CANON_SIMPLE, "\r\n\r\n", &o, h);
	ASSERT_EQ_STR((char *)o.p, "\r\n");
	buf_reset(&o);
	/* a missing final CRLF is added */
	canon_body(DKIM_CANON_SIMPLE, "abc", &o, h);
	ASSERT_EQ_STR((char *)o.p, "abc\r\n");
	buf_reset(&o);
	canon_body(DKIM_CANON_RELAXED, "abc \t", &o, h);
	ASSERT_EQ_STR((char *)o.p, "abc\r\n");
	buf_reset(&o);
	/* bare CR is content; bare LF ends a line; inner empty lines stay */
	canon_body(DKIM_CANON_RELAXED, "a\rb\n\n  x  y \r\n", &o, h);
	ASSERT_EQ_STR((char *)o.p, "a\rb\r\n\r\n x y\r\n");
	buf_reset(&o);
	canon_body(DKIM_CANON_SIMPLE, "a\r", &o, h);
	ASSERT_EQ_STR((char *)o.p, "a\r\r\n");
	buf_free(&o);
}

static void test_chunking_independent(void)
{
	static const char *const bodies[] = {
	    "",
	    "x",
	    "\r",
	    "\r\n",
	    " \t \r\n",
	    "a  b\r\n\r\n",
	    "a\r\r\nb\r\n\r\n\r\n",
	    "line\twith\t tabs \r\n  \r\nend",
	    "a\nb\n\n",
	    "\r\r\r\n \r\n",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		for (int c = 0; c <= 1; c++) {
			uint8_t h1[32], h2[32];
			uint64_t t1, t2;
			struct dkim_body b;
			dkim_body_init(&b, (enum dkim_canon)c, -1, NULL);
			dkim_body_update(&b, (const uint8_t *)bodies[i], strlen(bodies[i]));
			ASSERT_OK(dkim_body_final(&b, h1, &t1));
			dkim_body_init(&b, (enum dkim_canon)c, -1, NULL);
			for (size_t k = 0; k < strlen(bodies[i]); k++)
				dkim_body_update(&b, (const uint8_t *)bodies[i] + k, 1);
			ASSERT_OK(dkim_body_final(&b, h2, &t2));
			ASSERT_EQ_MEM(h1, 32, h2, 32);
			ASSERT_EQ_INT(t1, t2);
		}
	}
}

static void test_large_body_hash(void)
{
	/* > staging buffer, compared with a one-shot SHA-256 of the expected canonical form */
	struct buf in, want;
	buf_init(&in, 0);
	buf_init(&want, 0);
	for (int i = 0; i < 2000; i++) {
		(void)buf_printf(&in, "line %d   with  spaces  \r\n", i);
		(void)buf_printf(&want, "line %d with spaces\r\n", i);
	}
	(void)buf_puts(&in, "\r\n\r\n");
	uint8_t h[32], w[32];
	unsigned int wl;
	struct dkim_body b;
	dkim_body_init(&b, DKIM_CANON_RELAXED, -1, NULL);
	dkim_body_update(&b, in.p, in.len);
	uint64_t total;
	ASSERT_OK(dkim_body_final(&b, h, &total));
	EVP_Digest(want.p, want.len, w, &wl, EVP_sha256(), NULL);
	ASSERT_EQ_MEM(h, 32, w, 32);
	ASSERT_EQ_INT(total, want.len);
	buf_free(&in);
	buf_free(&want);
}

static void test_length_limit(void)
{
	const char *body = "hello  world\r\nsecond line\r\n";
	/* canonical relaxed: "hello world\r\nsecond line\r\n" (26 bytes); l=7 hashes "hello w" */
	uint8_t h[32], w[32];
	unsigned int wl;
	uint64_t total;
	struct dkim_body b;
	dkim_body_init(&b, DKIM_CANON_RELAXED, 7, NULL);
	dkim_body_update(&b, (const uint8_t *)body, strlen(body));
	ASSERT_OK(dkim_body_final(&b, h, &total));
	EVP_Digest("hello w", 7, w, &wl, EVP_sha256(), NULL);
	ASSERT_EQ_MEM(h, 32, w, 32);
	ASSERT_EQ_INT(total, 26);
	/* l=0 hashes nothing */
	dkim_body_init(&b, DKIM_CANON_RELAXED, 0, NULL);
	dkim_body_update(&b, (const uint8_t *)body, strlen(body));
	ASSERT_OK(dkim_body_final(&b, h, &total));
	EVP_Digest("", 0, w, &wl, EVP_sha256(), NULL);
	ASSERT_EQ_MEM(h, 32, w, 32);
}

static void test_split(void)
{
	struct dkim_field f[4];
	size_t n, body;
	const char *m1 = "Subject: a\n b\nX:y\n\nbody\n";
	ASSERT_OK(dkim_split((const uint8_t *)m1, strlen(m1), f, 4, &n, &body));
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_INT(f[0].len, strlen("Subject: a\n b"));
	ASSERT_EQ_STR(m1 + body, "body\n");
	const char *m2 = "A: 1\r\nB: 2"; /* no body, no final CRLF */
	ASSERT_OK(dkim_split((const uint8_t *)m2, strlen(m2), f, 4, &n, &body));
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_INT(body, strlen(m2));
	ASSERT_EQ_INT(f[1].len, 4);
	const char *m3 = "A:1\r\nB:1\r\nC:1\r\nD:1\r\nE:1\r\n\r\n";
	ASSERT_ERR(dkim_split((const uint8_t *)m3, strlen(m3), f, 4, &n, &body), MR_ETOOBIG);
	const char *m4 = " lead: x\r\n\r\n";
	ASSERT_ERR(dkim_split((const uint8_t *)m4, strlen(m4), f, 4, &n, &body), MR_EPROTO);
	const char *m5 = "\r\nonly body";
	ASSERT_OK(dkim_split((const uint8_t *)m5, strlen(m5), f, 4, &n, &body));
	ASSERT_EQ_INT(n, 0);
	ASSERT_EQ_INT(body, 2);
}

static void test_selected_bottom_up(void)
{
	const char *msg = "Received: one\r\nFrom: a@x\r\nReceived: two\r\nTo: b@y\r\n\r\n";
	struct dkim_field f[8];
	size_t n, body;
	ASSERT_OK(dkim_split((const uint8_t *)msg, strlen(msg), f, 8, &n, &body));
	char names[5][80] = {"received", "from", "received", "received", "from"};
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(
	    dkim__canon_selected(DKIM_CANON_RELAXED, (const uint8_t *)msg, f, n, names, 5, &o));
	(void)buf_append(&o, "", 1);
	/* last instance first; the third "received" and the second "from" are null strings */
	ASSERT_EQ_STR((char *)o.p, "received:two\r\nfrom:a@x\r\nreceived:one\r\n");
	buf_free(&o);
}

static const struct unit_test tests[] = {
    {"rfc_example_headers", test_rfc_example_headers},
    {"rfc_example_body", test_rfc_example_body},
    {"empty_and_unterminated", test_empty_and_unterminated},
    {"chunking_independent", test_chunking_independent},
    {"large_body_hash", test_large_body_hash},
    {"length_limit", test_length_limit},
    {"split", test_split},
    {"selected_bottom_up", test_selected_bottom_up},
    {0},
};
UNIT_MAIN(tests)

/* test_dkim_sign.c - sign-then-verify round trips for rsa-sha256 (2048) and ed25519-sha256,
 * relaxed and simple canonicalization, and what must break a signature: tampered header,
 * tampered body, a From prepended (oversigned From), expiry (x=), text appended past l=,
 * a key of the wrong type, revoked/absent keys and lookup failures, key t=s, rsa-sha1. */
#include "unit.h"
#include "dkim/dkim.h"
#include "common/err.h"
#include "common/util.h"

#define MSG                                                                                        \
	"From: Alice <alice@example.com>\r\n"                                                      \
	"To: bob@example.org\r\n"                                                                  \
	"Subject: Hello   there\r\n"                                                               \
	"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"                                                \
	"Message-ID: <1@example.com>\r\n"                                                          \
	"X-Unsigned: yes\r\n"                                                                      \
	"\r\n"                                                                                     \
	"Body line one.  \r\n"                                                                     \
	"Line two\r\n"                                                                             \
	"\r\n"

struct keys {
	char sel[4][32], txt[4][DKIM_TXT_MAX];
	int n;
	int fail; /* 0, or an error code every lookup returns */
};

static int lookup(void *ud, const char *selector, const char *domain, char *out, size_t cap)
{
	struct keys *k = ud;
	if (k->fail)
		return k->fail;
	if (strcmp(domain, "example.com") != 0)
		return MR_ENOTFOUND;
	for (int i = 0; i < k->n; i++)
		if (strcmp(k->sel[i], selector) == 0) {
			snprintf(out, cap, "%s", k->txt[i]);
			return 0;
		}
	return MR_ENOTFOUND;
}

static struct dkim_privkey *newkey(enum dkim_alg alg, struct keys *ks, const char *sel)
{
	struct buf pem, txt;
	buf_init(&pem, 0);
	buf_init(&txt, 0);
	ASSERT_OK(dkim_keygen(alg, &pem, &txt));
	struct dkim_privkey *k = NULL;
	ASSERT_OK(dkim_privkey_load(pem.p, pem.len, &k));
	ASSERT_EQ_INT(dkim_privkey_alg(k), alg);
	snprintf(ks->sel[ks->n], sizeof ks->sel[0], "%s", sel);
	snprintf(ks->txt[ks->n], sizeof ks->txt[0], "%s", (char *)txt.p);
	ks->n++;
	buf_free(&pem);
	buf_free(&txt);
	return k;
}

/* sign msg (prepending the signature) into out */
static void sign(struct dkim_privkey *k, const char *sel, enum dkim_canon c, const char *msg,
                 struct buf *out, int64_t t, int64_t expire, bool l)
{
	struct dkim_sign_opts o = {.domain = "example.com",
	                           .selector = sel,
	                           .key = k,
	                           .ch = c,
	                           .cb = c,
	                           .t = t,
	                           .expire = expire,
	                           .body_length = l};
	buf_reset(out);
	ASSERT_OK(dkim_sign(&o, (const uint8_t *)msg, strlen(msg), out));
	ASSERT_OK(buf_puts(out, msg));
}

static struct dkim_verdict verify1(const char *msg, struct keys *ks, int64_t now)
{
	struct dkim_verdict v[DKIM_MAX_SIGS];
	size_t n = 0;
	ASSERT_OK(
	    dkim_verify((const uint8_t *)msg, strlen(msg), lookup, ks, now, v, DKIM_MAX_SIGS, &n));
	ASSERT_EQ_INT(n, 1);
	return v[0];
}

/* replace the first occurrence of a by b in s (into out) */
static void replace(const char *s, const char *a, const char *b, struct buf *out)
{
	const char *p = strstr(s, a);
	ASSERT(p);
	buf_reset(out);
	(void)buf_append(out, s, (size_t)(p - s));
	(void)buf_puts(out, b);
	(void)buf_puts(out, p + strlen(a));
}

static void roundtrip(enum dkim_alg alg)
{
	struct keys ks = {0};
	struct dkim_privkey *k = newkey(alg, &ks, "sel");
	struct buf s, t;
	buf_init(&s, 0);
	buf_init(&t, 0);
	for (int c = 0; c <= 1; c++) {
		sign(k, "sel", (enum dkim_canon)c, MSG, &s, 1700000000, 0, false);
		struct dkim_verdict v = verify1((char *)s.p, &ks, 1700000000);
		ASSERT_EQ_STR(dkim_result_str(v.result), "pass");
		ASSERT_EQ_INT(v.alg, alg);
		ASSERT_EQ_STR(v.d, "example.com");
		ASSERT_EQ_STR(v.s, "sel");
		ASSERT_EQ_STR(v.i, "@example.com");
		ASSERT_EQ_INT(strlen(v.b_prefix), 8);
		/* tampered header */
		replace((char *)s.p, "Subject: Hello", "Subject: Jello", &t);
		v = verify1((char *)t.p, &ks, 1700000000);
		ASSERT_EQ_STR(dkim_result_str(v.result), "fail");
		ASSERT_EQ_STR(v.reason, "signature did not verify");
		/* tampered body */
		replace((char *)s.p, "Line two", "Line 2", &t);
		v = verify1((char *)t.p, &ks, 1700000000);
		ASSERT_EQ_STR(v.reason, "body hash mismatch");
		/* an unsigned header may change */
		replace((char *)s.p, "X-Unsigned: yes", "X-Unsigned: no", &t);
		ASSERT_EQ_INT(verify1((char *)t.p, &ks, 1700000000).result, DKIM_PASS);
		/* a second From on top: From is oversigned, so this breaks the signature */
		replace((char *)s.p, "From: Alice", "From: mallory@evil.test\r\nFrom: Alice", &t);
		ASSERT_EQ_INT(verify1((char *)t.p, &ks, 1700000000).result, DKIM_FAIL);
		/* whitespace and case changes: relaxed survives, simple does not */
		replace((char *)s.p, "Subject: Hello   there", "subject:Hello there ", &t);
		ASSERT_EQ_INT(verify1((char *)t.p, &ks, 1700000000).result,
		              c == DKIM_CANON_RELAXED ? DKIM_PASS : DKIM_FAIL);
		replace((char *)s.p, "Body line one.  ", "Body  line one.", &t);
		ASSERT_EQ_INT(verify1((char *)t.p, &ks, 1700000000).result,
		              c == DKIM_CANON_RELAXED ? DKIM_PASS : DKIM_FAIL);
		/* trailing empty lines never matter */
		(void)buf_printf(&s, "\r\n\r\n");
		ASSERT_EQ_INT(verify1((char *)s.p, &ks, 1700000000).result, DKIM_PASS);
	}
	buf_free(&s);
	buf_free(&t);
	dkim_privkey_free(&k);
	ASSERT(k == NULL);
}

static void test_roundtrip_rsa(void)
{
	roundtrip(DKIM_ALG_RSA_SHA256);
}

static void test_roundtrip_ed25519(void)
{
	roundtrip(DKIM_ALG_ED25519_SHA256);
}

static void test_header_list(void)
{
	struct keys ks = {0};
	struct dkim_privkey *k = newkey(DKIM_ALG_ED25519_SHA256, &ks, "e");
	struct buf s;
	buf_init(&s, 0);
	sign(k, "e", DKIM_CANON_RELAXED, MSG, &s, -1, 0, false);
	ASSERT(strncmp((char *)s.p, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;",
	               57) == 0);
	ASSERT(strstr((char *)s.p, "h=from:from:to:subject:date:message-id;"));
	ASSERT(!strstr((char *)s.p, "t=")); /* t = -1: omitted */
	/* no line of the signature field is longer than 78 characters */
	const char *end = strstr((char *)s.p, "\r\nFrom:");
	for (const char *p = (char *)s.p; p < end;) {
		const char *nl = strstr(p, "\r\n");
		ASSERT(nl - p <= 78);
		p = nl + 2;
	}
	/* a custom list; a message without From cannot be signed */
	const char *const hl[] = {"From", "Subject", NULL};
	struct dkim_sign_opts o = {.domain = "example.com",
	                           .selector = "e",
	                           .key = k,
	                           .ch = DKIM_CANON_RELAXED,
	                           .cb = DKIM_CANON_RELAXED,
	                           .t = 5,
	                           .expire = 10,
	                           .headers = hl,
	                           .identity = "a@example.com"};
	buf_reset(&s);
	ASSERT_OK(dkim_sign(&o, (const uint8_t *)MSG, strlen(MSG), &s));
	ASSERT(strstr((char *)s.p, "h=from:from:subject;"));
	ASSERT(strstr((char *)s.p, "t=5; x=15;"));
	ASSERT(strstr((char *)s.p, "i=a@example.com;"));
	const char *nofrom = "To: x@y\r\n\r\nbody\r\n";
	ASSERT_ERR(dkim_sign(&o, (const uint8_t *)nofrom, strlen(nofrom), &s), MR_EINVAL);
	buf_free(&s);
	dkim_privkey_free(&k);
}

static void test_expiry(void)
{
	struct keys ks = {0};
	struct dkim_privkey *k = newkey(DKIM_ALG_ED25519_SHA256, &ks, "e");
	struct buf s;
	buf_init(&s, 0);
	sign(k, "e", DKIM_CANON_RELAXED, MSG, &s, 1000, 100, false);
	ASSERT_EQ_INT(verify1((char *)s.p, &ks, 1100).result, DKIM_PASS);
	struct dkim_verdict v = verify1((char *)s.p, &ks, 1101);
	ASSERT_EQ_INT(v.result, DKIM_FAIL);
	ASSERT_EQ_STR(v.reason, "signature expired");
	buf_free(&s);
	dkim_privkey_free(&k);
}

static void test_body_length(void)
{
	struct keys ks = {0};
	struct dkim_privkey *k = newkey(DKIM_ALG_RSA_SHA256, &ks, "r");
	struct buf s, t;
	buf_init(&s, 0);
	buf_init(&t, 0);
	sign(k, "r", DKIM_CANON_RELAXED, MSG, &s, -1, 0, true);
	/* relaxed canonical body: "Body line one.\r\nLine two\r\n" = 26 bytes */
	ASSERT(strstr((char *)s.p, "l=26;"));
	ASSERT_EQ_INT(verify1((char *)s.p, &ks, 0).result, DKIM_PASS);
	/* text appended after the signed length still passes (the l= weakness) ... */
	(void)buf_append(&t, s.p, s.len);
	(void)buf_puts(&t, "Appended by a list\r\n");
	ASSERT_EQ_INT(verify1((char *)t.p, &ks, 0).result, DKIM_PASS);
	/* ... but changing the signed part does not, nor does cutting the body short */
	replace((char *)s.p, "Line two", "Line twO", &t);
	ASSERT_EQ_STR(verify1((char *)t.p, &ks, 0).reason, "body hash mismatch");
	replace((char *)s.p, "Line two\r\n", "", &t);
	ASSERT_EQ_STR(verify1((char *)t.p, &ks, 0).reason, "body shorter than l=");
	buf_free(&s);
	buf_free(&t);
	dkim_privkey_free(&k);
}

static void test_key_problems(void)
{
	struct keys ks = {0};
	struct dkim_privkey *k = newkey(DKIM_ALG_ED25519_SHA256, &ks, "e");
	struct buf s;
	buf_init(&s, 0);
	sign(k, "e", DKIM_CANON_RELAXED, MSG, &s, -1, 0, false);
	struct dkim_verdict v;
	ks.fail = MR_EIO;
	v = verify1((char *)s.p, &ks, 0);
	ASSERT_EQ_INT(v.result, DKIM_TEMPERROR);
	ks.fail = MR_ENOTFOUND;
	v = verify1((char *)s.p, &ks, 0);
	ASSERT_EQ_INT(v.result, DKIM_PERMERROR);
	ASSERT_EQ_STR(v.reason, "no key record");
	ks.fail = 0;
	snprintf(ks.txt[0], sizeof ks.txt[0], "v=DKIM1; k=ed25519; p=");
	ASSERT_EQ_STR(verify1((char *)s.p, &ks, 0).reason, "key revoked");
	/* an RSA key published for an ed25519 signature */
	struct keys other = {0};
	struct dkim_privkey *r = newkey(DKIM_ALG_RSA_SHA256, &other, "e");
	v = verify1((char *)s.p, &other, 0);
	ASSERT_EQ_INT(v.result, DKIM_PERMERROR);
	ASSERT_EQ_STR(v.reason, "key type does not match a=");
	/* another ed25519 key: the signature does not verify */
	struct keys third = {0};
	struct dkim_privkey *e2 = newkey(DKIM_ALG_ED25519_SHA256, &third, "e");
	ASSERT_EQ_STR(verify1((char *)s.p, &third, 0).reason, "signature did not verify");
	snprintf(third.txt[0], sizeof third.txt[0], "v=DKIM1; k=ed25519; p=AAAA");
	ASSERT_EQ_STR(verify1((char *)s.p, &third, 0).reason, "bad ed25519 key");
	snprintf(third.txt[0], sizeof third.txt[0], "v=DKIM1; k=ed25519; t=y; p=");
	v = verify1((char *)s.p, &third, 0);
	ASSERT(v.testing);
	/* key t=s: i= must be exactly d= */
	struct dkim_sign_opts o = {.domain = "example.com",
	                           .selector = "e",
	                           .key = k,
	                           .ch = DKIM_CANON_RELAXED,
	                           .cb = DKIM_CANON_RELAXED,
	                           .t = -1,
	                           .identity = "u@mail.example.com"};
	buf_reset(&s);
	ASSERT_OK(dkim_sign(&o, (const uint8_t *)MSG, strlen(MSG), &s));
	ASSERT_OK(buf_puts(&s, MSG));
	ASSERT_EQ_INT(verify1((char *)s.p, &ks, 0).result, DKIM_PERMERROR); /* still revoked */
	struct keys strict = {0};
	snprintf(strict.sel[0], sizeof strict.sel[0], "e");
	struct buf txt;
	buf_init(&txt, 0);
	(void)buf_puts(&txt, "v=DKIM1; t=s; ");
	ASSERT_OK(dkim_privkey_txt(k, &txt));
	/* "v=DKIM1; t=s; v=DKIM1; ..." would repeat v=: drop the second */
	char *second = strstr((char *)txt.p + 5, "v=DKIM1; ");
	memmove(second, second + 9, strlen(second + 9) + 1);
	snprintf(strict.txt[0], sizeof strict.txt[0], "%s", (char *)txt.p);
	strict.n = 1;
	v = verify1((char *)s.p, &strict, 0);
	ASSERT_EQ_INT(v.result, DKIM_FAIL);
	ASSERT_EQ_STR(v.reason, "i= domain differs from d= (key t=s)");
	buf_free(&txt);
	buf_free(&s);
	dkim_privkey_free(&k);
	dkim_privkey_free(&r);
	dkim_privkey_free(&e2);
}

static void test_unsigned_sha1_and_multi(void)
{
	struct keys ks = {0};
	struct dkim_verdict v[DKIM_MAX_SIGS];
	size_t n = 9;
	ASSERT_OK(dkim_verify((const uint8_t *)MSG, strlen(MSG), lookup, &ks, 0, v, 8, &n));
	ASSERT_EQ_INT(n, 0);
	struct dkim_privkey *r = newkey(DKIM_ALG_RSA_SHA256, &ks, "r");
	struct dkim_privkey *e = newkey(DKIM_ALG_ED25519_SHA256, &ks, "e");
	struct buf s1, s2, t;
	buf_init(&s1, 0);
	buf_init(&s2, 0);
	buf_init(&t, 0);
	sign(r, "r", DKIM_CANON_RELAXED, MSG, &s1, -1, 0, false);
	sign(e, "e", DKIM_CANON_RELAXED, (char *)s1.p, &s2, -1, 0, false);
	ASSERT_OK(dkim_verify(s2.p, s2.len, lookup, &ks, 0, v, 8, &n));
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_INT(v[0].result, DKIM_PASS);
	ASSERT_EQ_INT(v[0].alg, DKIM_ALG_ED25519_SHA256);
	ASSERT_EQ_INT(v[1].result, DKIM_PASS);
	ASSERT_EQ_INT(v[1].alg, DKIM_ALG_RSA_SHA256);
	/* max = 1 caps the verdicts */
	ASSERT_OK(dkim_verify(s2.p, s2.len, lookup, &ks, 0, v, 1, &n));
	ASSERT_EQ_INT(n, 1);
	/* different body hashes per signature (simple vs relaxed with l=) are kept apart:
	 * text appended to the body breaks only the one without l= */
	sign(r, "r", DKIM_CANON_SIMPLE, MSG, &s1, -1, 0, false);
	sign(e, "e", DKIM_CANON_RELAXED, (char *)s1.p, &s2, -1, 0, true);
	ASSERT_OK(buf_puts(&s2, "appended\r\n"));
	ASSERT_OK(dkim_verify(s2.p, s2.len, lookup, &ks, 0, v, 8, &n));
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_INT(v[0].result, DKIM_PASS);
	ASSERT_EQ_INT(v[1].result, DKIM_FAIL);
	ASSERT_EQ_STR(v[1].reason, "body hash mismatch");
	sign(r, "r", DKIM_CANON_RELAXED, MSG, &s1, -1, 0, false);
	/* a=rsa-sha1 is neutral (RFC 8301), a broken signature field a permerror */
	replace((char *)s1.p, "a=rsa-sha256", "a=rsa-sha1", &t);
	ASSERT_EQ_INT(verify1((char *)t.p, &ks, 0).result, DKIM_NEUTRAL);
	replace((char *)s1.p, "v=1;", "v=1; v=1;", &t);
	ASSERT_EQ_INT(verify1((char *)t.p, &ks, 0).result, DKIM_PERMERROR);
	/* the b= value itself is protected */
	replace((char *)s1.p, " b=", " b=AAAA", &t);
	ASSERT_EQ_INT(verify1((char *)t.p, &ks, 0).result, DKIM_FAIL);
	buf_free(&s1);
	buf_free(&s2);
	buf_free(&t);
	dkim_privkey_free(&r);
	dkim_privkey_free(&e);
}

static void test_key_loading(void)
{
	struct dkim_privkey *k = NULL;
	ASSERT_ERR(dkim_privkey_load((const uint8_t *)"junk", 4, &k), MR_EINVAL);
	ASSERT(k == NULL);
	const char *pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	ASSERT_ERR(dkim_privkey_load((const uint8_t *)pem, strlen(pem), &k), MR_EINVAL);
	/* dkimpy's Ed25519 format: base64 of the 32-byte seed */
	const char *seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
	ASSERT_OK(dkim_privkey_load((const uint8_t *)seed, strlen(seed), &k));
	ASSERT_EQ_INT(dkim_privkey_alg(k), DKIM_ALG_ED25519_SHA256);
	struct buf txt;
	buf_init(&txt, 0);
	ASSERT_OK(dkim_privkey_txt(k, &txt));
	/* RFC 8032 §7.1 test 1: this seed's public key is d75a9801...0f1a */
	ASSERT_EQ_STR((char *)txt.p,
	              "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	buf_free(&txt);
	dkim_privkey_free(&k);
	ASSERT_ERR(dkim_keygen(DKIM_ALG_NONE, NULL, NULL), MR_EINVAL);
}

/* An external vector: dkimpy's test message (RFC 6376 Appendix A text) signed with the
 * RFC 8032 §7.1 test key (ed25519-sha256, simple/simple) by dkimpy, not by us. */
static const char ext_msg[] = "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; \r\n"
                              " d=football.example.com; i=@football.example.com; \r\n"
                              " q=dns/txt; s=brisbane; t=1518460054; h=from : to : \r\n"
                              " subject : date : message-id : from : subject : date; \r\n"
                              " bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r\n"
                              " b=9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YB\r\n"
                              " o0wBLR++X5LqmsxXaOYLLJe46l10AQ==\r\n"
                              "From: Joe SixPack <joe@football.example.com>\r\n"
                              "To: Suzie Q <suzie@shopping.example.net>\r\n"
                              "Subject: Is dinner ready?\r\n"
                              "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
                              "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
                              "\r\n"
                              "Hi.\r\n"
                              "\r\n"
                              "We lost the game.  Are you hungry yet?\r\n"
                              "\r\n"
                              "Joe.\r\n"
                              "\r\n";

static int ext_lookup(void *ud, const char *selector, const char *domain, char *out, size_t cap)
{
	if (strcmp(selector, "brisbane") || strcmp(domain, "football.example.com"))
		return MR_ENOTFOUND;
	snprintf(out, cap, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	return 0;
}

static void test_external_ed25519_vector(void)
{
	struct dkim_verdict v[2];
	size_t n = 0;
	ASSERT_OK(dkim_verify((const uint8_t *)ext_msg, strlen(ext_msg), ext_lookup, NULL,
	                      1600000000, v, 2, &n));
	ASSERT_EQ_INT(n, 1);
	ASSERT_EQ_STR(dkim_result_str(v[0].result), "pass");
	ASSERT_EQ_STR(v[0].i, "@football.example.com");
	/* one changed body byte */
	char *bad = xstrdup(ext_msg);
	*strstr(bad, "hungry") = 'H';
	ASSERT_OK(
	    dkim_verify((const uint8_t *)bad, strlen(bad), ext_lookup, NULL, 1600000000, v, 2, &n));
	ASSERT_EQ_STR(v[0].reason, "body hash mismatch");
	free(bad);
}

static void test_auth_results(void)
{
	struct dkim_verdict v[2] = {
	    {.result = DKIM_PASS,
	     .alg = DKIM_ALG_ED25519_SHA256,
	     .d = "example.com",
	     .s = "e1",
	     .i = "@example.com",
	     .b_prefix = "ab/d+fgh",
	     .reason = ""},
	    {.result = DKIM_FAIL,
	     .alg = DKIM_ALG_RSA_SHA256,
	     .d = "example.org",
	     .s = "r",
	     .i = "u\"x@example.org",
	     .b_prefix = "abcdefgh",
	     .reason = "body hash mismatch"},
	};
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(dkim_ar_append(v, 0, &o));
	ASSERT_EQ_STR((char *)o.p, "dkim=none");
	buf_reset(&o);
	ASSERT_OK(dkim_ar_append(v, 2, &o));
	ASSERT_EQ_STR((char *)o.p,
	              "dkim=pass header.d=example.com header.i=@example.com header.s=e1 "
	              "header.a=ed25519-sha256 header.b=\"ab/d+fgh\"; "
	              "dkim=fail reason=\"body hash mismatch\" header.d=example.org "
	              "header.i=\"u\\\"x@example.org\" header.s=r header.a=rsa-sha256 "
	              "header.b=abcdefgh");
	buf_free(&o);
	struct buf small;
	buf_init(&small, 8);
	ASSERT_ERR(dkim_ar_append(v, 2, &small), MR_ETOOBIG);
	buf_free(&small);
}

static const struct unit_test tests[] = {
    {"roundtrip_rsa", test_roundtrip_rsa},
    {"roundtrip_ed25519", test_roundtrip_ed25519},
    {"header_list", test_header_list},
    {"expiry", test_expiry},
    {"body_length", test_body_length},
    {"key_problems", test_key_problems},
    {"unsigned_sha1_and_multi", test_unsigned_sha1_and_multi},
    {"key_loading", test_key_loading},
    {"external_ed25519_vector", test_external_ed25519_vector},
    {"auth_results", test_auth_results},
    {0},
};
UNIT_MAIN(tests)

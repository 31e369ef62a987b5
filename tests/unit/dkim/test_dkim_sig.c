/* test_dkim_sig.c - the tag=value parser (RFC 6376 §3.2) on valid and hostile lists
 * (FWS, trailing ';', duplicates, bad names, bad characters, too many tags), the
 * DKIM-Signature parser's MUSTs (§3.5, §6.1.1) and the key record parser (§3.6.1). */
#include "unit.h"
#include "dkim/dkim.h"
#include "common/err.h"

static int tags(const char *s, struct dkim_tag *t, size_t max, size_t *n)
{
	return dkim_tags_parse(s, strlen(s), t, max, n);
}

static void test_tags_basic(void)
{
	struct dkim_tag t[8];
	size_t n;
	ASSERT_OK(tags(" a = 1 ;\r\n\tb=two words ;c=;d_1=x=y", t, 8, &n));
	ASSERT_EQ_INT(n, 4);
	ASSERT_EQ_MEM(t[0].name, t[0].name_len, "a", 1);
	ASSERT_EQ_MEM(t[0].val, t[0].val_len, "1", 1);
	ASSERT_EQ_MEM(t[1].val, t[1].val_len, "two words", 9);
	ASSERT_EQ_INT(t[2].val_len, 0);
	ASSERT_EQ_MEM(t[3].name, t[3].name_len, "d_1", 3);
	ASSERT_EQ_MEM(t[3].val, t[3].val_len, "x=y", 3);
	ASSERT_OK(tags("a=1;", t, 8, &n)); /* trailing ';' allowed */
	ASSERT_EQ_INT(n, 1);
	ASSERT_OK(tags("  ", t, 8, &n));
	ASSERT_EQ_INT(n, 0);
}

static void test_tags_errors(void)
{
	struct dkim_tag t[4];
	size_t n;
	ASSERT_ERR(tags("a=1; a=2", t, 4, &n), MR_EPROTO);   /* duplicate: list invalid */
	ASSERT_ERR(tags("1a=x", t, 4, &n), MR_EPROTO);       /* name starts with a digit */
	ASSERT_ERR(tags("a", t, 4, &n), MR_EPROTO);          /* no '=' */
	ASSERT_ERR(tags("a b=1", t, 4, &n), MR_EPROTO);      /* space in name */
	ASSERT_ERR(tags("a=1;;b=2", t, 4, &n), MR_EPROTO);   /* empty tag-spec */
	ASSERT_ERR(tags("a=\x7f", t, 4, &n), MR_EPROTO);     /* not VALCHAR */
	ASSERT_ERR(tags("a=\xc3\xa9", t, 4, &n), MR_EPROTO); /* 8-bit */
	ASSERT_ERR(tags("=1", t, 4, &n), MR_EPROTO);
	ASSERT_ERR(tags("a=1;b=2;c=3;d=4;e=5", t, 4, &n), MR_ETOOBIG);
	/* an embedded NUL is not a value character (length-delimited input) */
	ASSERT_ERR(dkim_tags_parse("a=1\0b", 5, t, 4, &n), MR_EPROTO);
}

#define SIG_OK                                                                                     \
	"v=1; a=rsa-sha256; c=relaxed/relaxed; d=Example.COM; s=sel;\r\n\th=From : To:subject; "   \
	"bh=MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=; b=AAEC AwQF\r\n\tBgc=; t=100; x=200"

static int sig(const char *s, struct dkim_sig *g, const char **why)
{
	return dkim_sig_parse(s, strlen(s), g, why);
}

static void test_sig_valid(void)
{
	struct dkim_sig g;
	const char *why;
	ASSERT_OK(sig(SIG_OK "; zz=unknown", &g, &why));
	ASSERT_EQ_INT(g.alg, DKIM_ALG_RSA_SHA256);
	ASSERT_EQ_INT(g.ch, DKIM_CANON_RELAXED);
	ASSERT_EQ_INT(g.cb, DKIM_CANON_RELAXED);
	ASSERT_EQ_STR(g.d, "example.com");
	ASSERT_EQ_STR(g.s, "sel");
	ASSERT_EQ_STR(g.i, "@example.com"); /* default i= */
	ASSERT_EQ_INT(g.nh, 3);
	ASSERT_EQ_STR(g.h[0], "from");
	ASSERT_EQ_STR(g.h[2], "subject");
	ASSERT_EQ_INT(g.bhlen, 32);
	ASSERT_EQ_MEM(g.b, g.blen, "\0\1\2\3\4\5\6\7", 8);
	ASSERT_EQ_INT(g.t, 100);
	ASSERT_EQ_INT(g.x, 200);
	ASSERT_EQ_INT(g.l, -1);
	ASSERT_ERR(sig(SIG_OK "; c=relaxed", &g, &why), MR_EPROTO); /* duplicate c= */
	/* a single c= word gives the header canonicalization; the body stays simple */
	const char *s2 = "v=1; a=ed25519-sha256; c=relaxed; d=x.org; s=a; h=from; bh=AAAA; b=AAAA;"
	                 " l=42; q=dns/txt; i=user@sub.x.org";
	ASSERT_OK(sig(s2, &g, &why));
	ASSERT_EQ_INT(g.alg, DKIM_ALG_ED25519_SHA256);
	ASSERT_EQ_INT(g.ch, DKIM_CANON_RELAXED);
	ASSERT_EQ_INT(g.cb, DKIM_CANON_SIMPLE);
	ASSERT_EQ_INT(g.l, 42);
	ASSERT_EQ_STR(g.i, "user@sub.x.org");
	const char *s3 = "v=1; a=rsa-sha1; d=x.org; s=a; h=from; bh=AAAA; b=AAAA";
	ASSERT_OK(sig(s3, &g, &why));
	ASSERT(g.alg_sha1);
	ASSERT_EQ_INT(g.alg, DKIM_ALG_NONE);
	ASSERT_EQ_INT(g.ch, DKIM_CANON_SIMPLE);
	const char *s4 = "v=1; a=foo-bar; d=x.org; s=a; h=from; bh=AAAA; b=AAAA";
	ASSERT_OK(sig(s4, &g, &why));
	ASSERT_EQ_INT(g.alg, DKIM_ALG_NONE);
	ASSERT(!g.alg_sha1);
}

static void test_sig_errors(void)
{
	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA", "missing required tag"},
	    {"v=1; d=x.org; s=a; h=from; bh=AAAA; b=AAAA", "missing required tag"},
	    {"v=1; a=rsa-sha256; s=a; h=from; bh=AAAA; b=AAAA", "missing required tag"},
	    {"v=1; a=rsa-sha256; d=x.org; h=from; bh=AAAA; b=AAAA", "missing required tag"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; bh=AAAA; b=AAAA", "missing required tag"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; b=AAAA", "missing required tag"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA", "missing required tag"},
	    {"v=2; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA", "v= is not 1"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=to:subject; bh=AAAA; b=AAAA",
	     "h= does not sign From"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA; i=u@evilx.org",
	     "i= not within d="},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA; i=nodomain",
	     "i= not within d="},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA; t=10; x=9",
	     "x= earlier than t="},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA; q=http/well-known",
	     "q= lacks dns/txt"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=A!AA; b=AAAA", "bad bh= base64"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAA", "bad b= base64"},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA; c=fancy", "bad c="},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA; l=-1", "bad l="},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA; t=99999999999999",
	     "bad t="},
	    {"v=1; a=rsa-sha256; d=x.org; s=a; h=from::to; bh=AAAA; b=AAAA", "bad h="},
	    {"v=1; a=rsa-sha256; d=x/org; s=a; h=from; bh=AAAA; b=AAAA", "bad d="},
	    {"v=1; a=rsa-sha256; d=x.org; s=a/b; h=from; bh=AAAA; b=AAAA", "bad s="},
	    {"v=1; v=1; a=rsa-sha256; d=x.org; s=a; h=from; bh=AAAA; b=AAAA",
	     "syntax error in tag list"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dkim_sig g;
		const char *why = NULL;
		int rv = sig(bad[i].s, &g, &why);
		if (rv == 0)
			unit_fail(__FILE__, __LINE__, "accepted: %s", bad[i].s);
		ASSERT_EQ_STR(why, bad[i].why);
	}
	/* 65 h= names: over DKIM_MAX_HNAMES */
	struct buf b;
	buf_init(&b, 0);
	(void)buf_puts(&b, "v=1; a=rsa-sha256; d=x.org; s=a; bh=AAAA; b=AAAA; h=from");
	for (int i = 0; i < DKIM_MAX_HNAMES; i++)
		(void)buf_puts(&b, ":x");
	struct dkim_sig g;
	const char *why;
	ASSERT_ERR(dkim_sig_parse((char *)b.p, b.len, &g, &why), MR_ETOOBIG);
	/* a 2000-byte b= does not fit DKIM_MAX_SIGBYTES */
	buf_reset(&b);
	(void)buf_puts(&b, "v=1; a=rsa-sha256; d=x.org; s=a; bh=AAAA; h=from; b=");
	for (int i = 0; i < 500; i++)
		(void)buf_puts(&b, "AAAA");
	ASSERT(dkim_sig_parse((char *)b.p, b.len, &g, &why) != 0);
	buf_free(&b);
}

static int key(const char *s, struct dkim_keyrec *k, const char **why)
{
	return dkim_key_parse(s, strlen(s), k, why);
}

static void test_key_records(void)
{
	struct dkim_keyrec k;
	const char *why;
	ASSERT_OK(key("p=AAECAw==", &k, &why));
	ASSERT_EQ_INT(k.alg, DKIM_ALG_RSA_SHA256); /* k= defaults to rsa */
	ASSERT_EQ_MEM(k.p, k.plen, "\0\1\2\3", 4);
	ASSERT(!k.revoked && !k.testing && !k.strict);
	ASSERT_OK(
	    key("v=DKIM1; k=ed25519; h=sha1:sha256; s=email; t=y:s; n=note; p=AAAA", &k, &why));
	ASSERT_EQ_INT(k.alg, DKIM_ALG_ED25519_SHA256);
	ASSERT(k.testing && k.strict);
	ASSERT_OK(key("v=DKIM1; p=", &k, &why));
	ASSERT(k.revoked);
	ASSERT_OK(key("v=DKIM1; s=*; p=AA AA", &k, &why)); /* FWS inside base64 */
	ASSERT_EQ_INT(k.plen, 3);

	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"k=rsa; v=DKIM1; p=AAAA", "v= not the first tag"},
	    {"v=DKIM2; p=AAAA", "v= is not DKIM1"},
	    {"v=DKIM1; k=dsa; p=AAAA", "unknown key type"},
	    {"v=DKIM1; h=sha1; p=AAAA", "key h= excludes sha256"},
	    {"v=DKIM1; s=web; p=AAAA", "key not for email (s=)"},
	    {"v=DKIM1; k=rsa", "key record has no p="},
	    {"v=DKIM1; p=@@@@", "bad p= base64"},
	    {"v=DKIM1; p=AAAA; p=AAAA", "syntax error in key record"},
	    {"garbage", "syntax error in key record"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		if (key(bad[i].s, &k, &why) == 0)
			unit_fail(__FILE__, __LINE__, "accepted: %s", bad[i].s);
		ASSERT_EQ_STR(why, bad[i].why);
	}
}

static void test_result_names(void)
{
	ASSERT_EQ_STR(dkim_result_str(DKIM_PASS), "pass");
	ASSERT_EQ_STR(dkim_result_str(DKIM_PERMERROR), "permerror");
	ASSERT_EQ_STR(dkim_result_str(DKIM_TEMPERROR), "temperror");
	ASSERT_EQ_STR(dkim_result_str((enum dkim_result)99), "none");
	ASSERT_EQ_STR(dkim_alg_str(DKIM_ALG_ED25519_SHA256), "ed25519-sha256");
}

static const struct unit_test tests[] = {
    {"tags_basic", test_tags_basic},
    {"tags_errors", test_tags_errors},
    {"sig_valid", test_sig_valid},
    {"sig_errors", test_sig_errors},
    {"key_records", test_key_records},
    {"result_names", test_result_names},
    {0},
};
UNIT_MAIN(tests)

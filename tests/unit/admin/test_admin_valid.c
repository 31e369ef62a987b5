/* test_admin_valid.c - domain and address syntax accepted by the admin commands, with
 * lower-casing, RFC length limits and the malformed shapes that must be refused. */
#include "unit.h"
#include "common/err.h"
#include "node/admin/admin_valid.h"

static int dom(const char *in, char *out)
{
	strcpy(out, in);
	return admin_valid_domain(out, NULL);
}

static int addr(const char *in, char *out)
{
	strcpy(out, in);
	return admin_valid_address(out, NULL, NULL);
}

static void test_domains_ok(void)
{
	char b[512];
	ASSERT_OK(dom("Example.ORG", b));
	ASSERT_EQ_STR(b, "example.org");
	ASSERT_OK(dom("mail-1.example.co.uk", b));
	ASSERT_OK(dom("localhost", b));
	ASSERT_OK(dom("123.example", b)); /* RFC 1123 §2.1: leading digit */
	char l63[80];
	memset(l63, 'a', 63);
	strcpy(l63 + 63, ".org");
	ASSERT_OK(dom(l63, b));
}

static void test_domains_bad(void)
{
	char b[512];
	const char *why = NULL;
	const char *bad[] = {"",         ".",        "a..b",    ".example.org", "example.org.",
	                     "-a.org",   "a-.org",   "a_b.org", "ex ample.org", "exa\xc3\xa9.org",
	                     "a.-b.org", "a.b-.org", "a@b.org", "a/b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		strcpy(b, bad[i]);
		if (admin_valid_domain(b, &why) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted bad domain '%s'", bad[i]);
		ASSERT(why != NULL);
	}
	char l64[80];
	memset(l64, 'a', 64);
	strcpy(l64 + 64, ".org");
	ASSERT_ERR(dom(l64, b), MR_EINVAL);
	/* 254 characters in 63-char labels */
	char longd[400] = "";
	while (strlen(longd) < 254)
		strcat(longd, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
	longd[254] = 0;
	ASSERT_ERR(dom(longd, b), MR_EINVAL);
}

static void test_addresses_ok(void)
{
	char b[512];
	const char *at;
	strcpy(b, "Alice.Smith+tag@Example.ORG");
	ASSERT_OK(admin_valid_address(b, &at, NULL));
	ASSERT_EQ_STR(b, "alice.smith+tag@example.org");
	ASSERT_EQ_STR(at, "@example.org");
	ASSERT_OK(addr("o'brien@example.org", b));
	ASSERT_OK(addr("x@localhost", b));
	char l64[100];
	memset(l64, 'a', 64);
	strcpy(l64 + 64, "@example.org");
	ASSERT_OK(addr(l64, b));
}

static void test_addresses_bad(void)
{
	char b[600];
	const char *bad[] = {"",
	                     "nobody",
	                     "@example.org",
	                     "alice@",
	                     "alice@@example.org",
	                     "a@b@example.org",
	                     ".alice@example.org",
	                     "alice.@example.org",
	                     "al..ice@example.org",
	                     "al ice@example.org",
	                     "\"alice\"@example.org",
	                     "alice@exa_mple.org",
	                     "alice@[127.0.0.1]",
	                     "al\xc3\xa9@example.org",
	                     "a(b)@example.org",
	                     "a,b@example.org"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = NULL;
		strcpy(b, bad[i]);
		if (admin_valid_address(b, NULL, &why) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted bad address '%s'", bad[i]);
		ASSERT(why != NULL);
	}
	char l65[100];
	memset(l65, 'a', 65);
	strcpy(l65 + 65, "@example.org");
	ASSERT_ERR(addr(l65, b), MR_EINVAL);
	/* 255 characters overall (RFC 5321 §4.5.3.1.3) */
	char lng[300];
	memset(lng, 'a', 60);
	strcpy(lng + 60, "@");
	while (strlen(lng) < 255)
		strcat(lng, "b");
	lng[255] = 0;
	ASSERT_ERR(addr(lng, b), MR_EINVAL);
}

static const struct unit_test tests[] = {
    {"domains_ok", test_domains_ok},
    {"domains_bad", test_domains_bad},
    {"addresses_ok", test_addresses_ok},
    {"addresses_bad", test_addresses_bad},
    {0},
};
UNIT_MAIN(tests)

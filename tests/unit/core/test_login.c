/* test_login.c - SASL PLAIN decoding (RFC 4616) shared by IMAP, POP3 and SMTP submission:
 * well-formed responses with and without authzid, "=" for the empty response, an authzid for
 * another user, and malformed input (bad base64, missing NULs, empty user, NUL in the
 * password, over-long fields). */
#include "unit.h"
#include "core/login.h"
#include "common/err.h"
#include <sodium.h>
#include <string.h>

/* base64 of bin[0,n) into out. */
static const char *b64(const void *bin, size_t n, char *out, size_t cap)
{
	return sodium_bin2base64(out, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
}

static int decode(const void *bin, size_t n, char *user, char *pass)
{
	char enc[4096];
	b64(bin, n, enc, sizeof enc);
	return login_sasl_plain(enc, strlen(enc), user, pass);
}

static void test_plain_ok(void)
{
	char user[LOGIN_USER_MAX], pass[LOGIN_PASS_MAX];
	ASSERT_OK(decode("\0alice@example.test\0s3cret", 26, user, pass));
	ASSERT_EQ_STR(user, "alice@example.test");
	ASSERT_EQ_STR(pass, "s3cret");
	/* an authzid equal to the user (any case) is the same identity */
	ASSERT_OK(decode("ALICE@example.test\0alice@example.test\0pw", 40, user, pass));
	ASSERT_EQ_STR(user, "alice@example.test");
	ASSERT_EQ_STR(pass, "pw");
	/* RFC 4616 example (authzid "Ursel", authcid "Kurt") is acting as another user */
	ASSERT_ERR(decode("Ursel\0Kurt\0xipj3plmq", 20, user, pass), MR_EPERM);
	/* an empty password is a valid (wrong) credential */
	ASSERT_OK(decode("\0bob\0", 5, user, pass));
	ASSERT_EQ_STR(pass, "");
}

static void test_plain_bad(void)
{
	char user[LOGIN_USER_MAX], pass[LOGIN_PASS_MAX];
	ASSERT_ERR(login_sasl_plain("=", 1, user, pass), MR_EINVAL); /* empty response */
	ASSERT_ERR(login_sasl_plain("!!!!", 4, user, pass), MR_EINVAL);
	ASSERT_ERR(decode("alice", 5, user, pass), MR_EINVAL);           /* no NUL */
	ASSERT_ERR(decode("\0alice", 6, user, pass), MR_EINVAL);         /* one NUL */
	ASSERT_ERR(decode("\0\0pw", 4, user, pass), MR_EINVAL);          /* empty user */
	ASSERT_ERR(decode("\0bob\0p\0w", 8, user, pass), MR_EINVAL);     /* NUL in the password */
	char big[LOGIN_USER_MAX + 8];
	memset(big, 'a', sizeof big);
	big[0] = 0;
	big[sizeof big - 2] = 0;
	ASSERT_ERR(decode(big, sizeof big, user, pass), MR_EINVAL); /* user too long */
	char longb64[5000];
	memset(longb64, 'A', sizeof longb64);
	ASSERT_ERR(login_sasl_plain(longb64, sizeof longb64, user, pass), MR_EINVAL);
}

/* The SASL LOGIN mechanism's fields. */
static void test_b64_field(void)
{
	char out[16];
	ASSERT_OK(login_b64_field("YWxpY2U=", 8, out, sizeof out));
	ASSERT_EQ_STR(out, "alice");
	ASSERT_OK(login_b64_field("", 0, out, sizeof out)); /* empty: the caller decides */
	ASSERT_EQ_STR(out, "");
	ASSERT_ERR(login_b64_field("YQBi", 4, out, sizeof out), MR_EINVAL); /* "a\0b" */
	ASSERT_ERR(login_b64_field("!!!!", 4, out, sizeof out), MR_EINVAL);
	/* 16 decoded bytes do not fit 15 + NUL */
	ASSERT_ERR(login_b64_field("MDEyMzQ1Njc4OWFiY2RlZg==", 24, out, sizeof out), MR_EINVAL);
	ASSERT_OK(login_b64_field("MDEyMzQ1Njc4OWFiY2Rl", 20, out, sizeof out));
	ASSERT_EQ_STR(out, "0123456789abcde");
}

static const struct unit_test tests[] = {
    {"b64_field", test_b64_field},
    {"plain_ok", test_plain_ok},
    {"plain_bad", test_plain_bad},
    {NULL, NULL},
};

UNIT_MAIN(tests)

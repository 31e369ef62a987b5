/* test_ctl_json.c - JSON string escaping of mailraftctl --json (RFC 8259 §7): quotes,
 * backslashes, every control character, valid UTF-8 kept, invalid UTF-8 replaced. The ctl
 * sources are compiled into this test directly (mailraftctl is an executable, not a library). */
#include "unit.h"
#include "../../../ctl/ctl_json.c"

static void check(const char *in, const char *want)
{
	struct buf b;
	buf_init(&b, 0);
	ctl_json_str(&b, in);
	if (strcmp((const char *)b.p, want) != 0)
		unit_fail(__FILE__, __LINE__, "json(%s): got %s want %s", in, b.p, want);
	buf_free(&b);
}

static void test_plain(void)
{
	check("", "\"\"");
	check("alice@example.org", "\"alice@example.org\"");
	check("a/b", "\"a/b\"");
}

static void test_specials(void)
{
	check("say \"hi\"", "\"say \\\"hi\\\"\"");
	check("C:\\dir", "\"C:\\\\dir\"");
	check("a\nb\tc\rd\be\ff", "\"a\\nb\\tc\\rd\\be\\ff\"");
}

static void test_all_controls(void)
{
	for (int c = 1; c < 0x20; c++) {
		char in[2] = {(char)c, 0};
		struct buf b;
		buf_init(&b, 0);
		ctl_json_str(&b, in);
		/* every control char is escaped: no raw byte < 0x20 in the output */
		for (size_t i = 0; i < b.len; i++)
			ASSERT(b.p[i] >= 0x20);
		ASSERT(b.p[1] == '\\');
		buf_free(&b);
	}
	check("\x01", "\"\\u0001\"");
	check("\x1f", "\"\\u001f\"");
	check("\x7f", "\"\x7f\""); /* DEL needs no escape in JSON */
}

static void test_utf8(void)
{
	check("caf\xc3\xa9", "\"caf\xc3\xa9\"");                       /* U+00E9 */
	check("\xe2\x82\xac", "\"\xe2\x82\xac\"");                     /* U+20AC */
	check("\xf0\x9f\x93\xa7", "\"\xf0\x9f\x93\xa7\"");             /* U+1F4E7 */
	check("\xff", "\"\\ufffd\"");                                  /* never valid */
	check("\xc0\xaf", "\"\\ufffd\\ufffd\"");                       /* overlong '/' */
	check("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");            /* surrogate D800 */
	check("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
	check("a\xc3", "\"a\\ufffd\"");                                /* truncated at the end */
	check("\xe2\x82", "\"\\ufffd\\ufffd\"");
	check("\x80x", "\"\\ufffdx\""); /* lone continuation */
}

static const struct unit_test tests[] = {
    {"plain", test_plain},
    {"specials", test_specials},
    {"all_controls", test_all_controls},
    {"utf8", test_utf8},
    {0},
};
UNIT_MAIN(tests)

/* test_dns_rdata.c - the bounded rdata parsers of node/dns/dns_rdata.h on hand-built wire data:
 * domain names (escapes, the root, the 63/255-octet limits, compression pointers and
 * truncation refused), MX (preference, exact fill), TXT (character-strings joined, empty
 * strings, embedded NUL, lengths past the end), TLSA, A/AAAA sizes; the result assembly (MX
 * sorted stably by preference, RFC 7505 null MX, malformed records skipped and counted, the
 * DNS_MAX_RECORDS cap, all-malformed -> tempfail) and reverse names for PTR. */
#include <sys/socket.h>

#include "unit.h"
#include "dns/dns_rdata.h"
#include "common/err.h"

/* wire name from "a.b.c" (no escapes; test helper) */
static size_t wire_name(const char *s, uint8_t *out)
{
	size_t o = 0;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		out[o++] = (uint8_t)l;
		memcpy(out + o, s, l);
		o += l;
		s += l + (dot ? 1 : 0);
	}
	out[o++] = 0;
	return o;
}

static void test_name_basic(void)
{
	uint8_t w[300];
	char out[DNS_NAME_TEXT_MAX];
	size_t used, n = wire_name("mx1.Example.test", w);
	ASSERT_OK(dns_parse_name(w, n, &used, out));
	ASSERT_EQ_INT(used, n);
	ASSERT_EQ_STR(out, "mx1.Example.test");
	uint8_t root[] = {0};
	ASSERT_OK(dns_parse_name(root, 1, &used, out));
	ASSERT_EQ_STR(out, ".");
	ASSERT_EQ_INT(used, 1);
	/* a name followed by more bytes: used tells where it ended */
	uint8_t more[] = {1, 'a', 0, 9, 9};
	ASSERT_OK(dns_parse_name(more, sizeof more, &used, out));
	ASSERT_EQ_INT(used, 3);
}

static void test_name_escapes(void)
{
	uint8_t w[] = {5, 'a', '.', 'b', ' ', 0xff, 2, '\\', 'x', 0};
	char out[DNS_NAME_TEXT_MAX];
	size_t used;
	ASSERT_OK(dns_parse_name(w, sizeof w, &used, out));
	ASSERT_EQ_STR(out, "a\\.b\\032\\255.\\\\x");
}

static void test_name_limits(void)
{
	uint8_t w[300];
	char out[DNS_NAME_TEXT_MAX];
	size_t used, o = 0;
	/* 63-octet label fine, 64 refused (0x40 is also not a pointer) */
	w[o++] = 63;
	memset(w + o, 'a', 63);
	o += 63;
	w[o++] = 0;
	ASSERT_OK(dns_parse_name(w, o, &used, out));
	ASSERT_EQ_INT(strlen(out), 63);
	w[0] = 64;
	ASSERT_ERR(dns_parse_name(w, o, &used, out), MR_EPROTO);
	/* exactly 255 octets: 3 x (1+63) + (1+61) + 1 */
	o = 0;
	for (int i = 0; i < 4; i++) {
		size_t l = i < 3 ? 63 : 61;
		w[o++] = (uint8_t)l;
		memset(w + o, 0xff, l); /* worst case for the text form: \255 each */
		o += l;
	}
	w[o++] = 0;
	ASSERT_EQ_INT(o, 255);
	ASSERT_OK(dns_parse_name(w, o, &used, out));
	ASSERT_EQ_INT(strlen(out), 250 * 4 + 3);
	/* 256 octets refused */
	w[o - 1] = 1;
	w[o++] = 'z';
	w[o++] = 0;
	ASSERT_ERR(dns_parse_name(w, o, &used, out), MR_EPROTO);
}

static void test_name_bad(void)
{
	char out[DNS_NAME_TEXT_MAX];
	size_t used;
	uint8_t ptr[] = {0xc0, 0x0c};
	ASSERT_ERR(dns_parse_name(ptr, sizeof ptr, &used, out), MR_EPROTO);
	uint8_t trunc[] = {3, 'a', 'b'};
	ASSERT_ERR(dns_parse_name(trunc, sizeof trunc, &used, out), MR_EPROTO);
	uint8_t noend[] = {1, 'a'};
	ASSERT_ERR(dns_parse_name(noend, sizeof noend, &used, out), MR_EPROTO);
	ASSERT_ERR(dns_parse_name(noend, 0, &used, out), MR_EPROTO);
}

static void test_name_check(void)
{
	size_t w;
	ASSERT_OK(dns_name_check("example.test", &w));
	ASSERT_EQ_INT(w, 14);
	ASSERT_OK(dns_name_check("example.test.", &w));
	ASSERT_EQ_INT(w, 14);
	ASSERT_OK(dns_name_check(".", &w));
	ASSERT_EQ_INT(w, 1);
	ASSERT_OK(dns_name_check("a\\.b\\032.c", &w)); /* labels "a.b " and "c" */
	ASSERT_EQ_INT(w, 1 + 4 + 1 + 1 + 1);
	static const char *const bad[] = {"", "..", ".a", "a..b", "a\\", "a\\25", "a\\256", NULL};
	for (int i = 0; bad[i]; i++)
		ASSERT_ERR(dns_name_check(bad[i], NULL), MR_EINVAL);
	char l[80];
	memset(l, 'x', 64);
	l[64] = 0;
	ASSERT_ERR(dns_name_check(l, NULL), MR_EINVAL);
	l[63] = 0;
	ASSERT_OK(dns_name_check(l, &w));
	ASSERT_EQ_INT(w, 65);
	/* 255 wire octets accepted, 256 refused */
	char n[400];
	snprintf(n, sizeof n, "%s.%s.%s.%.61s", l, l, l, l);
	ASSERT_OK(dns_name_check(n, &w));
	ASSERT_EQ_INT(w, 255);
	snprintf(n, sizeof n, "%s.%s.%s.%.62s", l, l, l, l);
	ASSERT_ERR(dns_name_check(n, NULL), MR_EINVAL);
}

static void test_mx(void)
{
	uint8_t w[300] = {0x01, 0x02};
	size_t n = 2 + wire_name("mail.example.test", w + 2);
	struct dns_mx mx;
	ASSERT_OK(dns_parse_mx(w, n, &mx));
	ASSERT_EQ_INT(mx.pref, 258);
	ASSERT_EQ_STR(mx.host, "mail.example.test");
	ASSERT_ERR(dns_parse_mx(w, n + 1, &mx), MR_EPROTO); /* trailing byte */
	ASSERT_ERR(dns_parse_mx(w, n - 1, &mx), MR_EPROTO); /* truncated name */
	ASSERT_ERR(dns_parse_mx(w, 2, &mx), MR_EPROTO);
	uint8_t nullmx[] = {0, 0, 0};
	ASSERT_OK(dns_parse_mx(nullmx, 3, &mx));
	ASSERT_EQ_STR(mx.host, ".");
}

static void test_txt(void)
{
	char out[600];
	size_t ol;
	uint8_t two[] = {3, 'a', 'b', 'c', 0, 2, 'd', 'e'};
	ASSERT_OK(dns_parse_txt(two, sizeof two, out, &ol));
	ASSERT_EQ_INT(ol, 5);
	ASSERT_EQ_STR(out, "abcde");
	uint8_t empty[] = {0};
	ASSERT_OK(dns_parse_txt(empty, 1, out, &ol));
	ASSERT_EQ_INT(ol, 0);
	uint8_t nul[] = {3, 'a', 0, 'b'};
	ASSERT_OK(dns_parse_txt(nul, sizeof nul, out, &ol));
	ASSERT_EQ_MEM(out, ol, "a\0b", 3);
	uint8_t over[] = {4, 'a', 'b', 'c'};
	ASSERT_ERR(dns_parse_txt(over, sizeof over, out, &ol), MR_EPROTO);
	uint8_t over2[] = {1, 'a', 200, 'b'};
	ASSERT_ERR(dns_parse_txt(over2, sizeof over2, out, &ol), MR_EPROTO);
	ASSERT_ERR(dns_parse_txt(empty, 0, out, &ol), MR_EPROTO);
	/* a DKIM-style record longer than 255 bytes in two strings */
	uint8_t dk[2 + 255 + 100];
	dk[0] = 255;
	memset(dk + 1, 'k', 255);
	dk[256] = 100;
	memset(dk + 257, 'p', 100);
	ASSERT_OK(dns_parse_txt(dk, 357, out, &ol));
	ASSERT_EQ_INT(ol, 355);
	ASSERT(out[254] == 'k' && out[255] == 'p' && out[355] == 0);
}

static void test_tlsa_addr(void)
{
	uint8_t t[] = {3, 1, 1, 0xab, 0xcd};
	struct dns_tlsa tl;
	ASSERT_OK(dns_parse_tlsa(t, sizeof t, &tl));
	ASSERT_EQ_INT(tl.usage, 3);
	ASSERT_EQ_INT(tl.selector, 1);
	ASSERT_EQ_INT(tl.mtype, 1);
	ASSERT_EQ_MEM(tl.data, tl.len, "\xab\xcd", 2);
	ASSERT_ERR(dns_parse_tlsa(t, 3, &tl), MR_EPROTO);
	struct dns_addr a;
	uint8_t v4[] = {192, 0, 2, 1};
	ASSERT_OK(dns_parse_addr(DNS_T_A, v4, 4, &a));
	ASSERT_EQ_INT(a.family, AF_INET);
	ASSERT_EQ_STR(a.text, "192.0.2.1");
	ASSERT_ERR(dns_parse_addr(DNS_T_A, v4, 3, &a), MR_EPROTO);
	ASSERT_ERR(dns_parse_addr(DNS_T_AAAA, v4, 4, &a), MR_EPROTO);
	uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	ASSERT_OK(dns_parse_addr(DNS_T_AAAA, v6, 16, &a));
	ASSERT_EQ_INT(a.family, AF_INET6);
	ASSERT_EQ_STR(a.text, "2001:db8::1");
	ASSERT_ERR(dns_parse_addr(DNS_T_MX, v6, 16, &a), MR_EPROTO);
}

static size_t mx_rd(uint8_t *w, unsigned pref, const char *host)
{
	w[0] = (uint8_t)(pref >> 8);
	w[1] = (uint8_t)pref;
	return 2 + (strcmp(host, ".") == 0 ? (w[2] = 0, 1) : wire_name(host, w + 2));
}

static void test_build_mx_sorted(void)
{
	uint8_t w[5][64];
	size_t lens[5];
	lens[0] = mx_rd(w[0], 20, "b20");
	lens[1] = mx_rd(w[1], 10, "first10");
	lens[2] = mx_rd(w[2], 20, "a20");
	lens[3] = 3;
	memcpy(w[3], "\x00\x05\x07", 3); /* malformed: label runs off */
	lens[4] = mx_rd(w[4], 10, "second10");
	const uint8_t *d[5] = {w[0], w[1], w[2], w[3], w[4]};
	struct dns_result r = {.type = DNS_T_MX};
	ASSERT_OK(dns_result_build(&r, d, lens, 5));
	ASSERT_EQ_INT(r.status, DNS_OK);
	ASSERT_EQ_INT(r.n, 4);
	ASSERT_EQ_INT(r.dropped, 1);
	ASSERT(!r.null_mx);
	ASSERT_EQ_STR(r.u.mx[0].host, "first10");
	ASSERT_EQ_STR(r.u.mx[1].host, "second10");
	ASSERT_EQ_STR(r.u.mx[2].host, "b20");
	ASSERT_EQ_STR(r.u.mx[3].host, "a20");
	dns_result_free(&r);
	ASSERT_EQ_INT(r.n, 0);
}

static void test_build_null_mx(void)
{
	uint8_t w[2][64];
	size_t lens[2];
	lens[0] = mx_rd(w[0], 0, ".");
	const uint8_t *d[2] = {w[0], w[1]};
	struct dns_result r = {.type = DNS_T_MX};
	ASSERT_OK(dns_result_build(&r, d, lens, 1));
	ASSERT_EQ_INT(r.status, DNS_OK);
	ASSERT(r.null_mx);
	ASSERT_EQ_INT(r.n, 0);
	dns_result_free(&r);
	/* null MX next to a real one (forbidden by RFC 7505): the root entry is not listed */
	lens[1] = mx_rd(w[1], 10, "mx.example.test");
	struct dns_result r2 = {.type = DNS_T_MX};
	ASSERT_OK(dns_result_build(&r2, d, lens, 2));
	ASSERT(!r2.null_mx);
	ASSERT_EQ_INT(r2.n, 1);
	ASSERT_EQ_STR(r2.u.mx[0].host, "mx.example.test");
	dns_result_free(&r2);
}

static void test_build_txt_cap_and_malformed(void)
{
	enum { N = DNS_MAX_RECORDS + 6 };
	uint8_t w[N][8];
	size_t lens[N];
	const uint8_t *d[N];
	for (int i = 0; i < N; i++) {
		w[i][0] = 2;
		w[i][1] = (uint8_t)('A' + i % 26);
		w[i][2] = (uint8_t)('0' + i % 10);
		lens[i] = 3;
		d[i] = w[i];
	}
	struct dns_result r = {.type = DNS_T_TXT};
	ASSERT_OK(dns_result_build(&r, d, lens, N));
	ASSERT_EQ_INT(r.n, DNS_MAX_RECORDS);
	ASSERT_EQ_INT(r.dropped, 6);
	ASSERT_EQ_STR(r.u.txt[0].text, "A0");
	ASSERT_EQ_INT(r.u.txt[27].len, 2);
	ASSERT_EQ_STR(r.u.txt[27].text, "B7");
	dns_result_free(&r);
	/* every record malformed: tempfail, nothing allocated */
	for (int i = 0; i < 3; i++)
		w[i][0] = 9;
	struct dns_result r2 = {.type = DNS_T_TXT, .status = DNS_OK};
	ASSERT_OK(dns_result_build(&r2, d, lens, 3));
	ASSERT_EQ_INT(r2.status, DNS_TEMPFAIL);
	ASSERT_EQ_STR(r2.reason, "malformed records");
	ASSERT_EQ_INT(r2.n, 0);
	ASSERT_EQ_INT(r2.dropped, 3);
	ASSERT(r2.u.txt == NULL);
	dns_result_free(&r2);
}

static void test_build_tlsa(void)
{
	uint8_t t[] = {2, 0, 1, 1, 2, 3, 4};
	const uint8_t *d[1] = {t};
	size_t lens[1] = {sizeof t};
	struct dns_result r = {.type = DNS_T_TLSA};
	ASSERT_OK(dns_result_build(&r, d, lens, 1));
	ASSERT_EQ_INT(r.n, 1);
	ASSERT(r.u.tlsa[0].data != t + 3); /* a copy, valid after the rdata goes */
	ASSERT_EQ_MEM(r.u.tlsa[0].data, r.u.tlsa[0].len, "\x01\x02\x03\x04", 4);
	dns_result_free(&r);
}

static void test_reverse_name(void)
{
	char out[80];
	ASSERT_OK(dns_reverse_name("192.0.2.10", out, sizeof out));
	ASSERT_EQ_STR(out, "10.2.0.192.in-addr.arpa");
	ASSERT_OK(dns_reverse_name("2001:db8::567:89ab", out, sizeof out));
	ASSERT_EQ_STR(out,
	              "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	ASSERT_ERR(dns_reverse_name("192.0.2", out, sizeof out), MR_EINVAL);
	ASSERT_ERR(dns_reverse_name("example.test", out, sizeof out), MR_EINVAL);
	ASSERT_ERR(dns_reverse_name("::1", out, 40), MR_EINVAL);
	ASSERT_EQ_STR(dns_status_name(DNS_BOGUS), "bogus");
	ASSERT_EQ_STR(dns_type_name(DNS_T_TLSA), "TLSA");
}

static const struct unit_test tests[] = {
    {"name_basic", test_name_basic},
    {"name_escapes", test_name_escapes},
    {"name_limits", test_name_limits},
    {"name_bad", test_name_bad},
    {"name_check", test_name_check},
    {"mx", test_mx},
    {"txt", test_txt},
    {"tlsa_addr", test_tlsa_addr},
    {"build_mx_sorted", test_build_mx_sorted},
    {"build_null_mx", test_build_null_mx},
    {"build_txt_cap_and_malformed", test_build_txt_cap_and_malformed},
    {"build_tlsa", test_build_tlsa},
    {"reverse_name", test_reverse_name},
    {0},
};
UNIT_MAIN(tests)

/* fuzz_dns.c - libFuzzer target for the rdata parsers of node/dns/dns_rdata.c. Input: one byte
 * choosing the record type, then records, each a 2-byte big-endian length (clamped to what is
 * left) and that many rdata bytes. Every record goes through every parser (name, MX, PTR, A,
 * AAAA, TXT, TLSA), each record in its own exact-size heap copy so ASan sees any read past
 * the rdata, and each successful parse is checked: names NUL-terminated within
 * DNS_NAME_TEXT_MAX and never consuming more than the rdata, TXT no longer than the rdata,
 * TLSA data inside it; a decoded name, given back to dns_name_check (the lookup-name
 * validator, also fed the raw bytes), must be accepted with the same wire length. Then
 * dns_result_build assembles a result of the chosen type, which must hold at most DNS_MAX_RECORDS,
 * account for every record (kept + dropped, plus root MX entries), keep MX sorted without root
 * entries, and free cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_rdata.h"

#define MAX_RECS 200

static const enum dns_type types[] = {DNS_T_MX,  DNS_T_A,    DNS_T_AAAA,
                                      DNS_T_TXT, DNS_T_TLSA, DNS_T_PTR};

static void check_name(const char *s)
{
	if (memchr(s, 0, DNS_NAME_TEXT_MAX) == NULL || s[0] == 0)
		abort();
}

static void each_parser(const uint8_t *rd, size_t len)
{
	static char name[DNS_NAME_TEXT_MAX];
	static char txt[65536 + 1];
	size_t used, tl;
	if (dns_parse_name(rd, len, &used, name) == 0) {
		check_name(name);
		if (used == 0 || used > len || used > 255)
			abort();
		/* the text form is a valid lookup name of the same wire length */
		size_t wl;
		if (dns_name_check(name, &wl) != 0 || wl != used)
			abort();
	}
	/* the rdata as a presentation name: any verdict, but bounded */
	static char text[65536 + 1];
	memcpy(text, rd, len);
	text[len] = 0;
	size_t wl;
	if (dns_name_check(text, &wl) == 0 && (wl == 0 || wl > 255))
		abort();
	struct dns_mx mx;
	if (dns_parse_mx(rd, len, &mx) == 0)
		check_name(mx.host);
	if (dns_parse_ptr(rd, len, &mx) == 0)
		check_name(mx.host);
	struct dns_addr a;
	if (dns_parse_addr(DNS_T_A, rd, len, &a) == 0 && (len != 4 || !memchr(a.text, 0, 46)))
		abort();
	if (dns_parse_addr(DNS_T_AAAA, rd, len, &a) == 0 && len != 16)
		abort();
	if (dns_parse_txt(rd, len, txt, &tl) == 0 && (tl >= len || txt[tl] != 0))
		abort();
	struct dns_tlsa t;
	if (dns_parse_tlsa(rd, len, &t) == 0 && (t.data != rd + 3 || t.len + 3 != len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum dns_type type = types[data[0] % (sizeof types / sizeof types[0])];
	uint8_t *recs[MAX_RECS] = {NULL};
	size_t lens[MAX_RECS] = {0}, n = 0, off = 1;
	while (off + 2 <= size && n < MAX_RECS) {
		size_t l = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (l > size - off)
			l = size - off;
		recs[n] = malloc(l ? l : 1);
		if (!recs[n])
			abort();
		memcpy(recs[n], data + off, l);
		lens[n++] = l;
		off += l;
	}
	for (size_t i = 0; i < n; i++)
		each_parser(recs[i], lens[i]);

	struct dns_result r = {.type = type, .status = DNS_OK, .reason = ""};
	if (dns_result_build(&r, (const uint8_t *const *)recs, lens, n) == 0) {
		if (r.n > DNS_MAX_RECORDS || r.n + r.dropped > n)
			abort();
		if (type != DNS_T_MX && r.n + r.dropped != n)
			abort();
		if ((r.n == 0) != (r.status != DNS_OK || r.null_mx) && n > 0)
			abort();
		for (size_t i = 0; i < r.n; i++) {
			switch (type) {
			case DNS_T_MX:
				check_name(r.u.mx[i].host);
				if (strcmp(r.u.mx[i].host, ".") == 0 ||
				    (i > 0 && r.u.mx[i - 1].pref > r.u.mx[i].pref))
					abort();
				break;
			case DNS_T_PTR:
				check_name(r.u.ptr[i].host);
				break;
			case DNS_T_TXT:
				if (r.u.txt[i].text[r.u.txt[i].len] != 0)
					abort();
				break;
			case DNS_T_TLSA:
				if (r.u.tlsa[i].len == 0)
					abort();
				volatile uint8_t last = r.u.tlsa[i].data[r.u.tlsa[i].len - 1];
				(void)last;
				break;
			case DNS_T_A:
			case DNS_T_AAAA:
				if (!memchr(r.u.addr[i].text, 0, sizeof r.u.addr[i].text))
					abort();
				break;
			}
		}
		dns_result_free(&r);
	}
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	return 0;
}

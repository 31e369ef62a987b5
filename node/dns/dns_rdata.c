/* dns_rdata.c - the bounded rdata parsers of dns_rdata.h and the assembly of a dns_result from
 * a list of rdata. Every length is checked against the bytes actually present before it is
 * used; names are decoded label by label with the RFC 1035 limits (63-octet labels, 255-octet
 * names) and no compression. Results are allocated in one array per answer (bounded by
 * DNS_MAX_RECORDS) plus one buffer per TXT/TLSA record, each no larger than its rdata. */
#include "dns/dns_rdata.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"

int dns_parse_name(const uint8_t *rd, size_t len, size_t *used_r, char *out)
{
	size_t pos = 0, o = 0;
	for (;;) {
		if (pos >= len)
			return MR_EPROTO;
		uint8_t ll = rd[pos++];
		if (ll == 0)
			break;
		if (ll > 63 || len - pos < ll || pos + ll + 1 > 255) /* pointer bits, too long */
			return MR_EPROTO;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < ll; i++) {
			uint8_t c = rd[pos + i];
			if (c == '.' || c == '\\') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c < 0x21 || c > 0x7e) {
				o += (size_t)snprintf(out + o, 5, "\\%03u", c);
			} else {
				out[o++] = (char)c;
			}
		}
		pos += ll;
	}
	/* at most 254 content octets, 4 text bytes each, stays below DNS_NAME_TEXT_MAX */
	if (o == 0)
		out[o++] = '.';
	out[o] = 0;
	*used_r = pos;
	return 0;
}

int dns_name_check(const char *name, size_t *wire_r)
{
	size_t wire = 1, label = 0; /* the root octet */
	const char *p = name;
	if (strcmp(name, ".") == 0)
		goto done;
	if (!*p)
		return MR_EINVAL;
	while (*p) {
		if (*p == '.') {
			if (label == 0)
				return MR_EINVAL; /* empty label: "..", leading dot */
			wire += 1 + label;
			label = 0;
			p++;
			continue;
		}
		if (*p == '\\') {
			if (p[1] >= '0' && p[1] <= '9') {
				if (!(p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9') ||
				    (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0') > 255)
					return MR_EINVAL;
				p += 4;
			} else if (p[1]) {
				p += 2;
			} else {
				return MR_EINVAL;
			}
		} else {
			p++;
		}
		if (++label > 63)
			return MR_EINVAL;
	}
	if (label)
		wire += 1 + label;
	if (wire > 255)
		return MR_EINVAL;
done:
	if (wire_r)
		*wire_r = wire;
	return 0;
}

int dns_parse_mx(const uint8_t *rd, size_t len, struct dns_mx *out)
{
	size_t used;
	if (len < 3)
		return MR_EPROTO;
	if (dns_parse_name(rd + 2, len - 2, &used, out->host) != 0 || used != len - 2)
		return MR_EPROTO;
	out->pref = (uint16_t)(rd[0] << 8 | rd[1]);
	return 0;
}

int dns_parse_ptr(const uint8_t *rd, size_t len, struct dns_mx *out)
{
	size_t used;
	if (dns_parse_name(rd, len, &used, out->host) != 0 || used != len)
		return MR_EPROTO;
	out->pref = 0;
	return 0;
}

int dns_parse_addr(enum dns_type type, const uint8_t *rd, size_t len, struct dns_addr *out)
{
	size_t want = type == DNS_T_A ? 4 : type == DNS_T_AAAA ? 16 : 0;
	if (want == 0 || len != want)
		return MR_EPROTO;
	memset(out, 0, sizeof *out);
	out->family = type == DNS_T_A ? AF_INET : AF_INET6;
	memcpy(out->addr, rd, want);
	if (!inet_ntop(out->family, out->addr, out->text, sizeof out->text))
		return MR_EPROTO;
	return 0;
}

int dns_parse_txt(const uint8_t *rd, size_t len, char *out, size_t *outlen_r)
{
	size_t pos = 0, o = 0;
	if (len == 0)
		return MR_EPROTO;
	while (pos < len) {
		size_t sl = rd[pos++];
		if (len - pos < sl)
			return MR_EPROTO;
		memcpy(out + o, rd + pos, sl);
		o += sl;
		pos += sl;
	}
	out[o] = 0;
	*outlen_r = o;
	return 0;
}

int dns_parse_tlsa(const uint8_t *rd, size_t len, struct dns_tlsa *out)
{
	if (len < 4)
		return MR_EPROTO;
	out->usage = rd[0];
	out->selector = rd[1];
	out->mtype = rd[2];
	out->data = (uint8_t *)(uintptr_t)(rd + 3); /* borrowed; dns_result_build copies */
	out->len = len - 3;
	return 0;
}

/* ---------------------------------------------------------------- result assembly */

static size_t elem_size(enum dns_type t)
{
	switch (t) {
	case DNS_T_MX:
	case DNS_T_PTR:
		return sizeof(struct dns_mx);
	case DNS_T_A:
	case DNS_T_AAAA:
		return sizeof(struct dns_addr);
	case DNS_T_TXT:
		return sizeof(struct dns_txt);
	case DNS_T_TLSA:
		return sizeof(struct dns_tlsa);
	}
	return 0;
}

/* Parse one rdata into slot i of r's array; 0 kept, MR_EPROTO skipped, MR_ENOMEM fatal. */
static int parse_one(struct dns_result *r, size_t i, const uint8_t *rd, size_t len)
{
	switch (r->type) {
	case DNS_T_MX:
		return dns_parse_mx(rd, len, &r->u.mx[i]);
	case DNS_T_PTR:
		return dns_parse_ptr(rd, len, &r->u.ptr[i]);
	case DNS_T_A:
	case DNS_T_AAAA:
		return dns_parse_addr(r->type, rd, len, &r->u.addr[i]);
	case DNS_T_TXT: {
		char *buf = malloc(len + 1);
		if (!buf)
			return MR_ENOMEM;
		size_t tl;
		if (dns_parse_txt(rd, len, buf, &tl) != 0) {
			free(buf);
			return MR_EPROTO;
		}
		r->u.txt[i].text = buf;
		r->u.txt[i].len = tl;
		return 0;
	}
	case DNS_T_TLSA: {
		struct dns_tlsa t;
		if (dns_parse_tlsa(rd, len, &t) != 0)
			return MR_EPROTO;
		uint8_t *d = malloc(t.len);
		if (!d)
			return MR_ENOMEM;
		memcpy(d, t.data, t.len);
		t.data = d;
		r->u.tlsa[i] = t;
		return 0;
	}
	}
	return MR_EPROTO;
}

/* Stable insertion sort by preference (n <= DNS_MAX_RECORDS). */
static void sort_mx(struct dns_mx *mx, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (mx[i - 1].pref <= mx[i].pref)
			continue;
		struct dns_mx tmp = mx[i];
		size_t j = i;
		while (j > 0 && mx[j - 1].pref > tmp.pref) {
			mx[j] = mx[j - 1];
			j--;
		}
		mx[j] = tmp;
	}
}

/* MX: drop root exchanges; if they were all there was, the domain publishes null MX. */
static void filter_null_mx(struct dns_result *r)
{
	size_t k = 0, roots = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->u.mx[i].host, ".") == 0) {
			roots++;
			continue;
		}
		if (k != i)
			r->u.mx[k] = r->u.mx[i];
		k++;
	}
	r->n = k;
	r->null_mx = roots > 0 && k == 0;
}

int dns_result_build(struct dns_result *r, const uint8_t *const *data, const size_t *lens, size_t n)
{
	size_t es = elem_size(r->type);
	r->n = 0;
	r->dropped = 0;
	r->null_mx = false;
	r->u.mx = NULL;
	if (n == 0 || es == 0)
		return 0;
	size_t cap = n < DNS_MAX_RECORDS ? n : DNS_MAX_RECORDS;
	void *arr = calloc(cap, es);
	if (!arr)
		return MR_ENOMEM;
	r->u.mx = arr; /* all union members alias the one array */
	for (size_t i = 0; i < n; i++) {
		if (r->n == cap || !data[i]) {
			r->dropped++;
			continue;
		}
		int rv = parse_one(r, r->n, data[i], lens[i]);
		if (rv == MR_ENOMEM) {
			dns_result_free(r);
			return rv;
		}
		if (rv != 0)
			r->dropped++;
		else
			r->n++;
	}
	if (r->type == DNS_T_MX) {
		sort_mx(r->u.mx, r->n);
		filter_null_mx(r);
	}
	if (r->n == 0 && !r->null_mx) {
		free(arr);
		r->u.mx = NULL;
		r->status = DNS_TEMPFAIL;
		r->reason = "malformed records";
	}
	return 0;
}

void dns_result_free(struct dns_result *r)
{
	if (r->type == DNS_T_TXT && r->u.txt)
		for (size_t i = 0; i < r->n; i++)
			free(r->u.txt[i].text);
	if (r->type == DNS_T_TLSA && r->u.tlsa)
		for (size_t i = 0; i < r->n; i++)
			free(r->u.tlsa[i].data);
	free(r->u.mx);
	r->u.mx = NULL;
	r->n = 0;
}

/* ---------------------------------------------------------------- names */

int dns_reverse_name(const char *ip, char *out, size_t outlen)
{
	uint8_t a[16];
	static const char hex[] = "0123456789abcdef";
	if (inet_pton(AF_INET, ip, a) == 1) {
		int w = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return w > 0 && (size_t)w < outlen ? 0 : MR_EINVAL;
	}
	if (inet_pton(AF_INET6, ip, a) != 1 || outlen < 64 + 9)
		return MR_EINVAL;
	size_t o = 0;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[a[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", 9);
	return 0;
}

const char *dns_type_name(enum dns_type t)
{
	switch (t) {
	case DNS_T_A:
		return "A";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_TLSA:
		return "TLSA";
	}
	return "?";
}

const char *dns_status_name(enum dns_status s)
{
	static const char *const names[] = {"ok", "nxdomain", "nodata", "tempfail", "bogus"};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

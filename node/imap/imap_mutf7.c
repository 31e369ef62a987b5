/* imap_mutf7.c - mailbox-name conversion between modified UTF-7 (RFC 3501 §5.1.3, the form
 * names are stored in) and UTF-8 (RFC 6855 §3, used with a client that sent ENABLE
 * UTF8=ACCEPT). Printable US-ASCII except "&" stands for itself, "&" is "&-", everything else
 * is UTF-16 in base64 with "," for "/" between "&" and "-". Pure, bounded by the output size. */
#include "imap_mutf7.h"
#include "common/err.h"
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static int put(char *out, size_t cap, size_t *n, char c)
{
	if (*n + 1 >= cap)
		return MR_ETOOBIG;
	out[(*n)++] = c;
	return 0;
}

static int put_utf8(char *out, size_t cap, size_t *n, uint32_t cp)
{
	char b[4];
	size_t k;
	if (cp < 0x80) {
		b[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	for (size_t i = 0; i < k; i++)
		if (put(out, cap, n, b[i]) < 0)
			return MR_ETOOBIG;
	return 0;
}

int imap_mutf7_to_utf8(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; in[i];) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c > 0x7e)
			return MR_EINVAL;
		if (c != '&') {
			if (put(out, cap, &n, (char)c) < 0)
				return MR_ETOOBIG;
			i++;
			continue;
		}
		i++;
		if (in[i] == '-') { /* "&-" is "&" */
			if (put(out, cap, &n, '&') < 0)
				return MR_ETOOBIG;
			i++;
			continue;
		}
		uint32_t bits = 0, hi = 0;
		int nbits = 0;
		size_t start = i;
		while (in[i] && in[i] != '-') {
			int v = b64val(in[i++]);
			if (v < 0)
				return MR_EINVAL;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t u = (bits >> nbits) & 0xFFFF;
			if (u >= 0xD800 && u <= 0xDBFF) {
				if (hi)
					return MR_EINVAL;
				hi = u;
				continue;
			}
			if (u >= 0xDC00 && u <= 0xDFFF) {
				if (!hi)
					return MR_EINVAL;
				u = 0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00);
				hi = 0;
			} else if (hi || u < 0x20 || (u >= 0x20 && u <= 0x7e)) {
				/* RFC 3501: printable ASCII must not be encoded */
				return MR_EINVAL;
			}
			if (put_utf8(out, cap, &n, u) < 0)
				return MR_ETOOBIG;
		}
		/* an empty "&-" is handled above; leftover bits must be zero padding */
		if (in[i] != '-' || i == start || hi || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			return MR_EINVAL;
		i++;
	}
	out[n] = 0;
	return 0;
}

/* Next code point of UTF-8 at s (advances *i); -1 when invalid. */
static int32_t next_cp(const char *s, size_t *i)
{
	const unsigned char *p = (const unsigned char *)s + *i;
	uint32_t cp;
	size_t k;
	if (p[0] < 0x80) {
		cp = p[0];
		k = 1;
	} else if ((p[0] & 0xE0) == 0xC0) {
		cp = p[0] & 0x1F;
		k = 2;
	} else if ((p[0] & 0xF0) == 0xE0) {
		cp = p[0] & 0x0F;
		k = 3;
	} else if ((p[0] & 0xF8) == 0xF0) {
		cp = p[0] & 0x07;
		k = 4;
	} else {
		return -1;
	}
	for (size_t j = 1; j < k; j++) {
		if ((p[j] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (p[j] & 0x3F);
	}
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*i += k;
	return (int32_t)cp;
}

int imap_utf8_to_mutf7(const char *in, char *out, size_t cap)
{
	size_t n = 0, i = 0;
	while (in[i]) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x20 && c <= 0x7e) {
			if (put(out, cap, &n, (char)c) < 0 ||
			    (c == '&' && put(out, cap, &n, '-') < 0))
				return MR_ETOOBIG;
			i++;
			continue;
		}
		if (c < 0x80)
			return MR_EINVAL; /* control characters */
		if (put(out, cap, &n, '&') < 0)
			return MR_ETOOBIG;
		uint32_t bits = 0;
		int nbits = 0;
		while (in[i] && !((unsigned char)in[i] >= 0x20 && (unsigned char)in[i] <= 0x7e)) {
			int32_t cp = next_cp(in, &i);
			if (cp < 0x80) /* invalid UTF-8 or a control character */
				return MR_EINVAL;
			uint16_t u[2];
			size_t nu = 1;
			if (cp >= 0x10000) {
				u[0] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
				u[1] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
				nu = 2;
			} else {
				u[0] = (uint16_t)cp;
			}
			for (size_t k = 0; k < nu; k++) {
				bits = (bits << 16) | u[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					if (put(out, cap, &n, b64[(bits >> nbits) & 0x3F]) < 0)
						return MR_ETOOBIG;
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits && put(out, cap, &n, b64[(bits << (6 - nbits)) & 0x3F]) < 0)
			return MR_ETOOBIG;
		if (put(out, cap, &n, '-') < 0)
			return MR_ETOOBIG;
	}
	out[n] = 0;
	return 0;
}

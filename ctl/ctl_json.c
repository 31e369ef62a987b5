/* ctl_json.c - the JSON string writer behind `mailraftctl --json` (RFC 8259 §7). Quotation
 * mark, reverse solidus and the control characters U+0000..U+001F are escaped (short forms
 * where RFC 8259 has them, \u00XX otherwise); well-formed UTF-8 (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing above U+10FFFF) is copied as is, and any invalid byte becomes
 * U+FFFD so the output is always valid JSON text. */
#include "ctl.h"
#include <stdio.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80
		           ? 4
		           : 0;
	}
	return 0;
}

void ctl_json_str(struct buf *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	buf_append(out, "\"", 1);
	while (*s) {
		unsigned char c = *s;
		const char *esc = NULL;
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		default:
			break;
		}
		if (esc) {
			buf_puts(out, esc);
			s++;
			continue;
		}
		if (c < 0x20) {
			buf_printf(out, "\\u%04x", c);
			s++;
			continue;
		}
		/* a NUL inside a sequence fails the continuation-byte checks, so no overread */
		size_t n = utf8_len(s);
		if (n == 0) {
			buf_puts(out, "\\ufffd");
			s++;
			continue;
		}
		buf_append(out, s, n);
		s += n;
	}
	buf_append(out, "\"", 1);
}

/* ctl_json.c - the JSON string writer behind `mailraftctl --json` (RFC 8259 §7). Quotation
 * mark, reverse solidus and the control characters U+0000..U+001F are escaped (short forms
 * where RFC 8259 has them, \u00XX otherwise); well-formed UTF-8 (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing above U+10FFFF) is copied as is, and any invalid byte becomes
 * U+FFFD so the output is always valid JSON text. */
#include "ctl.h"
#include <stdio.h>
#include <string.h>

void ctl_json_str(struct buf *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	const unsigned char *end = s + strlen(str);
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
		size_t n = mr_utf8_seq(s, (size_t)(end - s));
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

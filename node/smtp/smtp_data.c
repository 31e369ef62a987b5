/* smtp_data.c - incremental decoder of the SMTP DATA text (RFC 5321 §4.1.1.4, §4.5.2). A byte
 * state machine: it removes the transparency dot, normalises line ends to CRLF, detects the end
 * marker (a line holding only "."), counts the size and the Received fields of the header block
 * (for loop detection, RFC 5321 §6.3) and stops storing once the size limit is passed while still
 * consuming input up to the end marker, so memory never exceeds the limit.
 *
 * Liberal for content, strict for the end: a bare LF ends a line (stored as CRLF) and a bare CR is
 * kept as content, but only CRLF "." CRLF ends the data: a "." line that begins after a bare LF
 * or ends with a bare LF is ordinary text. Any looser end marker lets a sender hide a second
 * transaction inside one message ("SMTP smuggling", CVE-2023-51766 class).
 */
#include "smtp_parse.h"
#include "common/util.h"
#include <string.h>

enum {
	D_BOL,   /* at the beginning of a line */
	D_DOT,   /* a "." at the beginning of a line */
	D_DOTCR, /* ".\r" at the beginning of a line */
	D_MID,   /* inside a line */
	D_CR,    /* a CR inside a line: CRLF or a bare CR */
	D_DONE,  /* end marker consumed */
};

void smtp_data_init(struct smtp_data *d, struct buf *out, uint64_t max)
{
	memset(d, 0, sizeof *d);
	d->out = out;
	d->max = max;
	d->in_headers = true;
	d->after_crlf = true; /* the DATA command line ended the previous line */
	d->state = D_BOL;
}

/* Store n output bytes, or only count them once over the limit. */
static void emit(struct smtp_data *d, const uint8_t *p, size_t n)
{
	if (!d->too_big && (n > d->max || d->size > d->max - n))
		d->too_big = true;
	d->size += n;
	if (!d->too_big && buf_append(d->out, p, n) != 0)
		d->too_big = true; /* the caller's buffer is smaller than max */
}

/* Message text inside a line. */
static void content(struct smtp_data *d, const uint8_t *p, size_t n)
{
	if (d->in_headers && d->line_len < sizeof d->hdr) {
		size_t k = sizeof d->hdr - (size_t)d->line_len;
		memcpy(d->hdr + d->line_len, p, k < n ? k : n);
	}
	d->line_len += n;
	if (d->line_len > SMTP_DATA_LINE_MAX)
		d->line_too_long = true;
	if (!d->eight_bit)
		for (size_t i = 0; i < n; i++)
			if (p[i] & 0x80) {
				d->eight_bit = true;
				break;
			}
	emit(d, p, n);
}

static void line_end(struct smtp_data *d, bool crlf)
{
	d->after_crlf = crlf;
	if (d->in_headers) {
		if (d->line_len == 0)
			d->in_headers = false; /* RFC 5322 §2.1: the empty line ends the header */
		else if (d->line_len >= sizeof d->hdr &&
		         mr_strncasecmp((const char *)d->hdr, "Received:", sizeof d->hdr) == 0)
			d->received++;
	}
	emit(d, (const uint8_t *)"\r\n", 2);
	d->line_len = 0;
	d->state = D_BOL;
}

int smtp_data_push(struct smtp_data *d, const uint8_t *p, size_t n, size_t *used_r)
{
	size_t i = 0;
	while (i < n && d->state != D_DONE) {
		uint8_t c = p[i];
		switch (d->state) {
		case D_MID: {
			size_t j = i;
			while (j < n && p[j] != '\r' && p[j] != '\n')
				j++;
			if (j > i) {
				content(d, p + i, j - i);
				i = j;
				break;
			}
			i++;
			if (c == '\r')
				d->state = D_CR;
			else
				line_end(d, false); /* bare LF */
			break;
		}
		case D_BOL:
			i++;
			if (c == '.') {
				d->state = D_DOT;
			} else if (c == '\r') {
				d->state = D_CR;
			} else if (c == '\n') {
				line_end(d, false);
			} else {
				content(d, &c, 1);
				d->state = D_MID;
			}
			break;
		case D_DOT:
			/* RFC 5321 §4.5.2: a leading period followed by more text is deleted */
			i++;
			if (c == '\r') {
				d->state = D_DOTCR;
			} else if (c == '\n') {
				line_end(d, false); /* ".\n" is not an end marker: an empty line */
			} else {
				content(d, &c, 1);
				d->state = D_MID;
			}
			break;
		case D_DOTCR:
			if (c == '\n') {
				i++;
				if (d->after_crlf)
					d->state = D_DONE; /* CRLF "." CRLF */
				else
					line_end(d, true); /* bare LF "." CRLF: text, not the end */
				break;
			}
			/* ".\r" + more: the dot goes, the bare CR stays; re-read c inside the line
			 */
			content(d, (const uint8_t *)"\r", 1);
			d->state = D_MID;
			break;
		case D_CR:
			if (c == '\n') {
				i++;
				line_end(d, true);
				break;
			}
			content(d, (const uint8_t *)"\r", 1); /* bare CR kept; re-read c */
			d->state = D_MID;
			break;
		}
	}
	*used_r = i;
	return d->state == D_DONE ? 1 : 0;
}

/* mime_decode.c - content decoding: charsets to UTF-8 (utf-8 validated, us-ascii, iso-8859-1
 * and windows-1252 built in, anything else through iconv when it knows the name), RFC 2047
 * encoded words in headers (B and Q, adjacent words joined so multi-byte characters split
 * across words survive, §6.2 white space between words dropped), and RFC 2045 §6.7/§6.8
 * quoted-printable and base64 bodies for SEARCH and BINARY.
 */
#include "mime_int.h"
#include "common/err.h"
#include <errno.h>
#include <iconv.h>
#include <string.h>

static const uint8_t REPL[3] = {0xef, 0xbf, 0xbd}; /* U+FFFD */

/* windows-1252 0x80-0x9f (unassigned ones map to the C1 control, as WHATWG does) */
static const uint16_t cp1252[32] = {0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
                                    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
                                    0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
                                    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178};

/* Small staging area so per-byte conversions do not call buf_append per byte. */
struct out {
	struct buf *b;
	uint8_t tmp[1024];
	size_t n;
	int rv;
};

static void out_flush(struct out *o)
{
	if (o->n && !o->rv)
		o->rv = buf_append(o->b, o->tmp, o->n);
	o->n = 0;
}

static void out_put(struct out *o, const uint8_t *s, size_t n)
{
	if (o->n + n > sizeof(o->tmp))
		out_flush(o);
	if (n > sizeof(o->tmp)) {
		if (!o->rv)
			o->rv = buf_append(o->b, s, n);
		return;
	}
	memcpy(o->tmp + o->n, s, n);
	o->n += n;
}

static void out_cp(struct out *o, uint32_t cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	}
	out_put(o, u, n);
}

static void conv_utf8(struct out *o, const uint8_t *in, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t l = mr_utf8_seq(in + i, n - i);
		if (l == 0) {
			out_put(o, REPL, 3);
			i++;
		} else {
			out_put(o, in + i, l);
			i += l;
		}
	}
}

static int conv_iconv(const char *cs, struct out *o, const uint8_t *in, size_t n)
{
	iconv_t cd = iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1)
		return MR_ENOTFOUND;
	char *ip = (char *)(uintptr_t)in;
	size_t il = n;
	while (il > 0) {
		char tmp[512], *op = tmp;
		size_t ol = sizeof(tmp);
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		out_put(o, (const uint8_t *)tmp, (size_t)(op - tmp));
		if (r == (size_t)-1 && errno != E2BIG) {
			out_put(o, REPL, 3); /* EILSEQ / EINVAL: skip one byte */
			ip++;
			il--;
		}
	}
	iconv_close(cd);
	return 0;
}

static bool cs_is(const char *cs, const char *const *names)
{
	for (; *names; names++)
		if (mr_strcasecmp(cs, *names) == 0)
			return true;
	return false;
}

int mime__to_utf8(const char *csn, size_t cslen, const uint8_t *in, size_t n, struct buf *out)
{
	static const char *const utf8[] = {"utf-8", "utf8",           "us-ascii",
	                                   "ascii", "ansi_x3.4-1968", NULL};
	static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "iso_8859-1",
	                                     "latin1",     "l1",        NULL};
	static const char *const w1252[] = {"windows-1252", "cp1252", NULL};
	char cs[48];
	size_t k = 0;
	/* RFC 2231 §5: charset*language */
	for (size_t i = 0; i < cslen && csn[i] != '*'; i++) {
		char c = csn[i];
		if (k + 1 >= sizeof(cs) || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		                             (c >= '0' && c <= '9') || strchr("-_.:", c)))
			return MR_ENOTFOUND;
		cs[k++] = c;
	}
	cs[k] = 0;
	if (k == 0)
		return MR_ENOTFOUND;
	struct out o = {.b = out};
	if (cs_is(cs, utf8)) {
		/* us-ascii too: mislabelled 8-bit text is usually UTF-8 */
		conv_utf8(&o, in, n);
	} else if (cs_is(cs, latin1) || cs_is(cs, w1252)) {
		bool w = cs_is(cs, w1252);
		for (size_t i = 0; i < n; i++) {
			uint32_t c = in[i];
			if (w && c >= 0x80 && c < 0xa0)
				c = cp1252[c - 0x80];
			out_cp(&o, c);
		}
	} else {
		int rv = conv_iconv(cs, &o, in, n);
		if (rv)
			return rv;
	}
	out_flush(&o);
	return o.rv;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Base64 (RFC 2045 §6.8): characters outside the alphabet are ignored; '=' ends a group. */
struct b64 {
	uint32_t acc;
	unsigned bits;
};

static void b64_feed(struct b64 *st, struct out *o, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		int v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else {
			if (c == '=')
				st->bits = st->acc = 0;
			continue;
		}
		st->acc = (st->acc << 6 | (uint32_t)v) & 0xffffff;
		st->bits += 6;
		if (st->bits >= 8) {
			st->bits -= 8;
			uint8_t b = (uint8_t)(st->acc >> st->bits);
			out_put(o, &b, 1);
		}
	}
}

/* Quoted-printable text (RFC 2045 §6.7 rule 1; '_' is a space in RFC 2047 §4.2 Q). */
static void qp_text(struct out *o, const uint8_t *s, size_t n, bool q_word)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c == '=' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = (uint8_t)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (c == '_' && q_word) {
			c = ' ';
		}
		out_put(o, &c, 1);
	}
}

/* An RFC 2047 §2 encoded word at s[0,n): "=?" charset "?" B|Q "?" text "?=". Returns its
 * length (0 if none) with the pieces. Words may not contain white space. */
static size_t ew_parse(const char *s, size_t n, size_t *cs_len, char *enc, size_t *t_off,
                       size_t *t_len)
{
	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	size_t i = 2;
	while (i < n && s[i] != '?' && s[i] != ' ' && s[i] != '\t' && i < 2 + 64)
		i++;
	if (i + 3 >= n || s[i] != '?' || i == 2 || s[i + 2] != '?')
		return 0;
	*cs_len = i - 2;
	*enc = (char)(s[i + 1] | 0x20);
	if (*enc != 'b' && *enc != 'q')
		return 0;
	size_t t = i + 3;
	for (size_t j = t; j + 1 < n; j++) {
		if (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')
			return 0;
		if (s[j] == '?' && s[j + 1] == '=') {
			*t_off = t;
			*t_len = j - t;
			return j + 2;
		}
	}
	return 0;
}

/* Decoded bytes of consecutive encoded words in one charset, converted together so that a
 * character split across two words (common with B) decodes right. */
struct ew_run {
	struct buf bytes;
	const char *cs, *raw; /* charset and raw text of the run in the input */
	size_t cs_len, raw_len;
};

static void run_flush(struct ew_run *r, struct out *o)
{
	if (!r->cs)
		return;
	out_flush(o);
	if (!o->rv) {
		int rv = mime__to_utf8(r->cs, r->cs_len, r->bytes.p, r->bytes.len, o->b);
		if (rv == MR_ENOTFOUND)
			rv = buf_append(o->b, r->raw, r->raw_len); /* unknown charset: as-is */
		o->rv = rv;
	}
	buf_reset(&r->bytes);
	r->cs = NULL;
}

int mime_decode_words(const char *in, size_t len, struct buf *out)
{
	struct out o = {.b = out};
	struct ew_run r = {0};
	buf_init(&r.bytes, 0);
	size_t i = 0;
	while (i < len && !o.rv) {
		size_t cl, toff, tl, wl;
		char enc;
		if ((wl = ew_parse(in + i, len - i, &cl, &enc, &toff, &tl)) > 0) {
			const char *cs = in + i + 2;
			if (r.cs && (r.cs_len != cl || mr_strncasecmp(r.cs, cs, cl) != 0))
				run_flush(&r, &o);
			if (!r.cs) {
				r.cs = cs;
				r.cs_len = cl;
				r.raw = in + i;
			}
			r.raw_len = (size_t)(in + i + wl - r.raw);
			struct out wo = {.b = &r.bytes};
			const uint8_t *t = (const uint8_t *)in + i + toff;
			if (enc == 'b') {
				struct b64 st = {0};
				b64_feed(&st, &wo, t, tl);
			} else {
				qp_text(&wo, t, tl, true);
			}
			out_flush(&wo);
			i += wl;
			/* §6.2: white space between adjacent encoded words is not displayed */
			size_t j = i;
			while (j < len &&
			       (in[j] == ' ' || in[j] == '\t' || in[j] == '\r' || in[j] == '\n'))
				j++;
			if (j > i && j < len && ew_parse(in + j, len - j, &cl, &enc, &toff, &tl))
				i = j;
			continue;
		}
		run_flush(&r, &o);
		out_put(&o, (const uint8_t *)in + i, 1);
		i++;
	}
	run_flush(&r, &o);
	out_flush(&o);
	buf_free(&r.bytes);
	return o.rv;
}

/* Quoted-printable body, line by line: trailing white space dropped (RFC 2045 §6.7 rule 3),
 * "=" at the end is a soft line break (rule 5), hard line breaks kept as they were. */
static void qp_body(struct out *o, const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n && !o->rv) {
		const uint8_t *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) : n;
		size_t ce = e > i && s[e - 1] == '\r' ? e - 1 : e;
		bool crlf = ce < e;
		while (ce > i && (s[ce - 1] == ' ' || s[ce - 1] == '\t'))
			ce--;
		if (ce > i && s[ce - 1] == '=') {
			qp_text(o, s + i, ce - 1 - i, false);
		} else {
			qp_text(o, s + i, ce - i, false);
			if (nl)
				out_put(o, (const uint8_t *)"\r\n" + (crlf ? 0 : 1), crlf ? 2 : 1);
		}
		i = nl ? e + 1 : n;
	}
}

/* The part's Content-Transfer-Encoding value into cv (empty when absent); free with
 * mime__cv_free. */
static void part_cte(const uint8_t *raw, const struct mime_part *part, struct mime__cv *cv)
{
	struct buf cte;
	buf_init(&cte, 256);
	if (mime_header_get(raw, part->hdr_start, part->hdr_end, "Content-Transfer-Encoding",
	                    &cte) == 1)
		mime__cv_parse((const char *)cte.p, cte.len, cv);
	buf_free(&cte);
}

bool mime_cte_known(const uint8_t *raw, const struct mime_part *part)
{
	static const char *const known[] = {"", "7bit", "8bit", "binary", "base64",
	                                    "quoted-printable"};
	struct mime__cv cv = {0};
	part_cte(raw, part, &cv);
	bool ok = false;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && !ok; i++)
		ok = strcmp(cv.value, known[i]) == 0;
	mime__cv_free(&cv);
	return ok;
}

int mime_decode_body(const uint8_t *raw, const struct mime_part *part, struct buf *out)
{
	struct mime__cv cv = {0};
	part_cte(raw, part, &cv);
	const uint8_t *s = raw + part->body_start;
	size_t n = part->body_end - part->body_start;
	struct out o = {.b = out};
	if (strcmp(cv.value, "base64") == 0) {
		struct b64 st = {0};
		/* feed in slices so a too-small out stops early */
		for (size_t i = 0; i < n && !o.rv; i += 4096)
			b64_feed(&st, &o, s + i, n - i < 4096 ? n - i : 4096);
	} else if (strcmp(cv.value, "quoted-printable") == 0) {
		qp_body(&o, s, n);
	} else if (out->max && out->len + n > out->max) {
		(void)buf_append(out, s, out->max - out->len); /* as much as fits */
		o.rv = MR_ETOOBIG;
	} else {
		o.rv = buf_append(out, s, n);
	}
	out_flush(&o);
	mime__cv_free(&cv);
	return o.rv;
}

int mime_decode_text(const uint8_t *raw, const struct mime_part *part, struct buf *out)
{
	struct buf tmp, ct, cs;
	buf_init(&tmp, out->max);
	buf_init(&ct, 0);
	buf_init(&cs, 128);
	int rv = mime_decode_body(raw, part, &tmp);
	bool have_cs =
	    mime_header_get(raw, part->hdr_start, part->hdr_end, "Content-Type", &ct) == 1 &&
	    mime_param_decode((const char *)ct.p, ct.len, "charset", &cs) == 1;
	int crv = MR_ENOTFOUND;
	if (have_cs && cs.len)
		crv = mime__to_utf8((const char *)cs.p, cs.len, tmp.p, tmp.len, out);
	else /* RFC 2046 §4.1.2: us-ascii (validated as UTF-8, so stray 8-bit shows as U+FFFD) */
		crv = mime__to_utf8("utf-8", 5, tmp.p, tmp.len, out);
	if (crv == MR_ENOTFOUND)
		crv = buf_append(out, tmp.p, tmp.len);
	buf_free(&tmp);
	buf_free(&ct);
	buf_free(&cs);
	return rv ? rv : crv;
}

/* imap_search_eval.c - evaluates a SEARCH key tree (imap_search.h) against one message
 * (RFC 3501 §6.4.4, RFC 9051 §6.4.4.1). Header keys compare a case-folded substring of the
 * RFC 2047-decoded field; BODY/TEXT look at the transfer-decoded text of every leaf part
 * converted to UTF-8 (mime_decode_text). Folding covers ASCII and Latin letters. The MIME tree
 * is parsed once per message, lazily, and only when a key needs the text. Runs on an actor. */
#define _GNU_SOURCE /* memmem */
#include "imap_search.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"
#include "mime/mime.h"
#include <string.h>

#define DECODE_MAX (32u * 1024 * 1024)

bool imap_memcasemem(const uint8_t *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0)
		return true;
	if (hlen < nlen)
		return false;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (mr_strncasecmp((const char *)hay + i, needle, nlen) == 0)
			return true;
	return false;
}

bool imap_flags_has(const char *flags, const char *flag)
{
	size_t fl = strlen(flag);
	const char *p = flags;
	while (p && *p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - p) == fl && mr_strncasecmp(p, flag, fl) == 0)
			return true;
		p = e;
	}
	return false;
}

/* Lower-case one code point: ASCII, Latin-1 Supplement (U+00C0..U+00DE but U+00D7) and
 * Latin Extended-A (U+0100..U+017F, mostly even/odd pairs). Enough for the "case folding for
 * ASCII and Latin letters" the search promises; other scripts compare exactly. */
static uint32_t fold_cp(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c == 0x178) /* Y with diaeresis */
		return 0xFF;
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
		return c | 1;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
		return (c & 1) ? c + 1 : c;
	return c;
}

void imap_search_fold(const uint8_t *in, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len) {
		uint8_t b = in[i];
		uint32_t c;
		size_t n;
		if (b < 0x80) {
			c = b;
			n = 1;
		} else if ((b & 0xE0) == 0xC0 && i + 1 < len && (in[i + 1] & 0xC0) == 0x80) {
			c = (uint32_t)(b & 0x1F) << 6 | (in[i + 1] & 0x3F);
			n = 2;
		} else {
			/* longer sequences and invalid bytes: copied as they are */
			buf_append(out, &in[i], 1);
			i++;
			continue;
		}
		uint32_t f = fold_cp(c);
		if (f < 0x80) {
			uint8_t o = (uint8_t)f;
			buf_append(out, &o, 1);
		} else if (n == 2 && f < 0x800) {
			uint8_t o[2] = {(uint8_t)(0xC0 | f >> 6), (uint8_t)(0x80 | (f & 0x3F))};
			buf_append(out, o, 2);
		} else {
			buf_append(out, &in[i], n);
		}
		i += n;
	}
}

/* Case-folded substring test (imap_search_fold on both sides). */
static bool fold_contains(const uint8_t *hay, size_t hlen, const char *needle)
{
	size_t nlen = strlen(needle);
	if (nlen == 0)
		return true;
	struct buf h, n;
	buf_init(&h, 0);
	buf_init(&n, 0);
	imap_search_fold(hay, hlen, &h);
	imap_search_fold((const uint8_t *)needle, nlen, &n);
	bool r = h.len >= n.len && memmem(h.p, h.len, n.p, n.len) != NULL;
	buf_free(&h);
	buf_free(&n);
	return r;
}

static struct mime_part *root_of(struct imap_search_msg *m)
{
	if (!m->root && m->raw)
		m->mp = mime_parse(m->raw, m->rawlen, &m->root);
	return m->root;
}

void imap_search_msg_done(struct imap_search_msg *m)
{
	if (m->mp)
		mime_parser_free(&m->mp);
	m->root = NULL;
}

static bool header_match(struct imap_search_msg *m, const char *field, const char *needle)
{
	struct mime_part *r = root_of(m);
	if (!r)
		return false;
	struct buf raw, dec;
	buf_init(&raw, 1024 * 1024);
	buf_init(&dec, 4 * 1024 * 1024);
	bool found = false;
	if (mime_header_get(m->raw, r->hdr_start, r->hdr_end, field, &raw) == 1) {
		if (mime_decode_words((const char *)raw.p, raw.len, &dec) < 0 || dec.len == 0) {
			buf_reset(&dec);
			buf_append(&dec, raw.p ? raw.p : (const uint8_t *)"", raw.len);
		}
		found = fold_contains(dec.p, dec.len, needle);
	}
	buf_free(&raw);
	buf_free(&dec);
	return found;
}

static bool body_match(struct imap_search_msg *m, const char *needle)
{
	struct mime_part *r = root_of(m);
	if (!r)
		return false;
	size_t nlen = strlen(needle);
	struct buf dec;
	buf_init(&dec, DECODE_MAX);
	bool found = false;
	/* pre-order walk over leaves without recursion */
	const struct mime_part *p = r;
	while (p && !found) {
		if (!p->first_child) {
			buf_reset(&dec);
			/* RFC 3501 §6.4.4 / RFC 9051 §6.4.4.1: the decoded text, in UTF-8 */
			mime_decode_text(m->raw, p, &dec);
			if (nlen == 0 || fold_contains(dec.p, dec.len, needle))
				found = true;
		}
		if (p->first_child) {
			p = p->first_child;
			continue;
		}
		while (p && p != r && !p->next)
			p = p->parent;
		if (!p || p == r)
			break;
		p = p->next;
	}
	buf_free(&dec);
	return found;
}

static bool text_match(struct imap_search_msg *m, const char *needle)
{
	struct mime_part *r = root_of(m);
	if (!r)
		return false;
	size_t end = r->hdr_end <= m->rawlen ? r->hdr_end : m->rawlen;
	struct buf dec;
	buf_init(&dec, DECODE_MAX);
	/* the header block with its encoded words decoded (RFC 2047) */
	if (mime_decode_words((const char *)m->raw, end, &dec) < 0 || dec.len == 0) {
		buf_reset(&dec);
		buf_append(&dec, m->raw, end);
	}
	bool hit = fold_contains(dec.p, dec.len, needle);
	buf_free(&dec);
	if (hit)
		return true;
	return body_match(m, needle);
}

int imap_parse_rfc5322_day(const char *s, size_t len, int64_t *days_r)
{
	/* [ day-of-week "," ] day month year ... (RFC 5322 §3.3) */
	size_t i = 0;
	const char *comma = memchr(s, ',', len);
	if (comma)
		i = (size_t)(comma - s) + 1;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	size_t ds = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	uint64_t day, year;
	if (i == ds || mr_parse_u64(s + ds, i - ds, 31, &day) < 0 || day == 0)
		return MR_EINVAL;
	while (i < len && s[i] == ' ')
		i++;
	static const char *const mon[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec"};
	unsigned m = 0;
	if (i + 3 > len)
		return MR_EINVAL;
	for (unsigned j = 0; j < 12; j++)
		if (mr_strncasecmp(s + i, mon[j], 3) == 0)
			m = j + 1;
	if (!m)
		return MR_EINVAL;
	i += 3;
	while (i < len && s[i] == ' ')
		i++;
	size_t ys = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (mr_parse_u64(s + ys, i - ys, 9999, &year) < 0)
		return MR_EINVAL;
	if (i - ys == 2) /* RFC 5322 §4.3 obsolete two-digit year */
		year += year < 50 ? 2000 : 1900;
	*days_r = imap_days_from_civil((int64_t)year, m, (unsigned)day);
	return 0;
}

static bool sent_day(struct imap_search_msg *m, int64_t *days_r)
{
	struct mime_part *r = root_of(m);
	if (!r)
		return false;
	struct buf v;
	buf_init(&v, 4096);
	bool ok = mime_header_get(m->raw, r->hdr_start, r->hdr_end, "Date", &v) == 1 &&
		  imap_parse_rfc5322_day((const char *)v.p, v.len, days_r) == 0;
	buf_free(&v);
	return ok;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

bool imap_search_match(const struct imap_search_key *k, struct imap_search_msg *m)
{
	int64_t day;
	switch (k->kind) {
	case SK_ALL:
		return true;
	case SK_NONE:
		return false;
	case SK_AND:
		for (const struct imap_search_key *c = k->child; c; c = c->next)
			if (!imap_search_match(c, m))
				return false;
		return true;
	case SK_OR:
		return imap_search_match(k->child, m) || imap_search_match(k->child->next, m);
	case SK_NOT:
		return !imap_search_match(k->child, m);
	case SK_SEQSET:
		return imap_seqset_contains(&k->set, m->seq, m->max_seq);
	case SK_UIDSET:
		return imap_seqset_contains(&k->set, m->uid, m->max_uid);
	case SK_FLAG:
		return imap_flags_has(m->flags, k->str) != k->neg;
	case SK_HEADER:
		return header_match(m, k->str, k->str2);
	case SK_BODY:
		return body_match(m, k->str2);
	case SK_TEXT:
		return text_match(m, k->str2);
	case SK_BEFORE:
		return floor_div(m->internaldate, 86400) < k->num;
	case SK_ON:
		return floor_div(m->internaldate, 86400) == k->num;
	case SK_SINCE:
		return floor_div(m->internaldate, 86400) >= k->num;
	case SK_SENTBEFORE:
		return sent_day(m, &day) && day < k->num;
	case SK_SENTON:
		return sent_day(m, &day) && day == k->num;
	case SK_SENTSINCE:
		return sent_day(m, &day) && day >= k->num;
	case SK_LARGER:
		return m->size > (uint64_t)k->num;
	case SK_SMALLER:
		return m->size < (uint64_t)k->num;
	case SK_MODSEQ:
		return m->modseq >= (uint64_t)k->num;
	case SK_SAVED:
		return m->saved && imap_seqset_contains(m->saved, m->uid, 0);
	case SK_SAVEDBEFORE: /* RFC 8514 §4: the date part of the save date */
		return floor_div(m->savedate, 86400) < k->num;
	case SK_SAVEDON:
		return floor_div(m->savedate, 86400) == k->num;
	case SK_SAVEDSINCE:
		return floor_div(m->savedate, 86400) >= k->num;
	case SK_SAVEDATESUPPORTED:
		return true;
	case SK_EMAILID:
		/* FETCH shows "M" + the stored id (RFC 8474 objectids start with a letter) */
		return m->emailid && k->str[0] == 'M' && strcmp(m->emailid, k->str + 1) == 0;
	case SK_THREADID:
		return false;
	}
	return false;
}

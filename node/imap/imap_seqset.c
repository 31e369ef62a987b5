/* imap_seqset.c - RFC 3501 §9 sequence-set parser and membership test:
 *   sequence-set = (seq-number / seq-range) *("," sequence-set)
 *   seq-range    = seq-number ":" seq-number
 *   seq-number   = nz-number / "*"
 * Bounded: at most IMAP_SEQSET_MAX_RANGES ranges, numbers are 32-bit non-zero. */
#include "imap_seqset.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

static int parse_num(const char *s, size_t len, size_t *i, uint32_t *out)
{
	if (*i < len && s[*i] == '*') {
		(*i)++;
		*out = IMAP_SEQ_STAR;
		return 0;
	}
	uint64_t v = 0;
	size_t start = *i;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v > UINT32_MAX)
			return MR_EINVAL;
		(*i)++;
	}
	if (*i == start || v == 0 || s[start] == '0')
		return MR_EINVAL;
	/* RFC 3501 §9: nz-number goes up to 4294967295 (interimap sends "UID FETCH 1:4294967295").
	 * UINT32_MAX is our '*', so the literal maximum becomes UINT32_MAX - 1: the store never
	 * allocates UID UINT32_MAX (storage/mailbox.c stops at uidnext == UINT32_MAX) and no
	 * mailbox holds that many messages, so the set selects exactly the same messages. */
	*out = v == UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)v;
	return 0;
}

int imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set_r)
{
	size_t i = 0, cap = 0;
	struct imap_seqset set = {0};
	int rv = MR_EINVAL;
	if (len == 0)
		goto err;
	for (;;) {
		struct imap_seqrange r;
		if ((rv = parse_num(s, len, &i, &r.lo)) < 0)
			goto err;
		r.hi = r.lo;
		if (i < len && s[i] == ':') {
			i++;
			if ((rv = parse_num(s, len, &i, &r.hi)) < 0)
				goto err;
		}
		if (set.n >= IMAP_SEQSET_MAX_RANGES) {
			rv = MR_ETOOBIG;
			goto err;
		}
		if (set.n == cap) {
			cap = cap ? cap * 2 : 4;
			set.r = xrealloc(set.r, cap * sizeof *set.r);
		}
		set.r[set.n++] = r;
		if (i == len)
			break;
		if (s[i] != ',') {
			rv = MR_EINVAL;
			goto err;
		}
		i++;
	}
	*set_r = set;
	return 0;
err:
	free(set.r);
	return rv;
}

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo == IMAP_SEQ_STAR ? star : set->r[i].lo;
		uint32_t hi = set->r[i].hi == IMAP_SEQ_STAR ? star : set->r[i].hi;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

bool imap_seqset_valid(const char *s, size_t len)
{
	struct imap_seqset set;
	if (imap_seqset_parse(s, len, &set) < 0)
		return false;
	imap_seqset_free(&set);
	return true;
}

void imap_seqset_from_sorted(const uint32_t *v, size_t n, struct imap_seqset *out)
{
	out->r = NULL;
	out->n = 0;
	size_t cap = 0;
	for (size_t i = 0; i < n; i++) {
		if (out->n && out->r[out->n - 1].hi + 1 == v[i] && v[i] != 0) {
			out->r[out->n - 1].hi = v[i];
			continue;
		}
		if (out->n && out->r[out->n - 1].hi >= v[i])
			continue; /* duplicate or out of order: already covered */
		if (out->n == cap) {
			cap = cap ? cap * 2 : 8;
			out->r = xrealloc(out->r, cap * sizeof *out->r);
		}
		out->r[out->n++] = (struct imap_seqrange){v[i], v[i]};
	}
}

void imap_seqset_format(const struct imap_seqset *set, struct buf *out)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct imap_seqrange *r = &set->r[i];
		buf_printf(out, "%s", i ? "," : "");
		if (r->lo == IMAP_SEQ_STAR)
			buf_puts(out, "*");
		else
			buf_printf(out, "%u", r->lo);
		if (r->hi != r->lo) {
			if (r->hi == IMAP_SEQ_STAR)
				buf_puts(out, ":*");
			else
				buf_printf(out, ":%u", r->hi);
		}
	}
}

void imap_seqset_copy(struct imap_seqset *dst, const struct imap_seqset *src)
{
	dst->n = src->n;
	dst->r = src->n ? xcalloc(src->n, sizeof *dst->r) : NULL;
	if (src->n)
		memcpy(dst->r, src->r, src->n * sizeof *dst->r);
}

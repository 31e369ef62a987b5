/* dkim_canon.c - RFC 6376 §3.4 canonicalization: splitting a message into header fields,
 * the simple and relaxed header forms, the bottom-up selection of signed header instances
 * (§5.4.2), and a streaming body canonicalizer that feeds SHA-256 through a small staging
 * buffer and stops hashing at the l= limit. The body state machine keeps its state across
 * pushes (pending CR, pending whitespace, deferred empty lines), so any chunking of the body
 * gives the same hash; trailing empty lines are dropped as §3.4.3/§3.4.4 require.
 */
#include "dkim.h"
#include "common/err.h"
#include "common/util.h"
#include <openssl/evp.h>
#include <string.h>

static bool is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

int dkim_split(const uint8_t *msg, size_t len, struct dkim_field *f, size_t max, size_t *n_r,
               size_t *body_off_r)
{
	size_t n = 0, pos = 0;
	*n_r = 0;
	*body_off_r = len;
	while (pos < len) {
		/* an empty line ends the header */
		if (msg[pos] == '\n') {
			*body_off_r = pos + 1;
			break;
		}
		if (msg[pos] == '\r' && pos + 1 < len && msg[pos + 1] == '\n') {
			*body_off_r = pos + 2;
			break;
		}
		if (is_wsp(msg[pos]) && n == 0)
			return MR_EPROTO; /* continuation before any field */
		size_t start = pos, end;
		for (;;) {
			const uint8_t *nl = memchr(msg + pos, '\n', len - pos);
			if (!nl) {
				end = pos = len;
				break;
			}
			size_t lf = (size_t)(nl - msg);
			end = lf > start && msg[lf - 1] == '\r' ? lf - 1 : lf;
			pos = lf + 1;
			if (pos >= len || !is_wsp(msg[pos]))
				break; /* next line is not a continuation */
		}
		if (n == max)
			return MR_ETOOBIG;
		const uint8_t *colon = memchr(msg + start, ':', end - start);
		size_t nl = colon ? (size_t)(colon - (msg + start)) : end - start;
		while (nl > 0 && is_wsp(msg[start + nl - 1]))
			nl--;
		f[n].off = start;
		f[n].len = end - start;
		f[n].name_len = nl;
		n++;
	}
	*n_r = n;
	return 0;
}

int dkim_canon_header(enum dkim_canon c, const uint8_t *field, size_t len, bool crlf,
                      struct buf *out)
{
	while (len > 0 && (field[len - 1] == '\n' || field[len - 1] == '\r'))
		len--;
	int rv = 0;
	if (c == DKIM_CANON_SIMPLE) {
		rv = buf_append(out, field, len); /* §3.4.1: unchanged */
	} else {
		/* §3.4.2: lower-case the name, unfold, collapse WSP runs to one SP, drop WSP at
		 * the end of the value and around the colon. */
		const uint8_t *colon = memchr(field, ':', len);
		size_t nl = colon ? (size_t)(colon - field) : len;
		size_t ne = nl;
		while (ne > 0 && is_wsp(field[ne - 1]))
			ne--;
		for (size_t k = 0; k < ne && rv == 0; k++) {
			uint8_t ch = field[k];
			if (ch == '\r' || ch == '\n')
				continue; /* malformed field without a colon: still unfold */
			if (ch >= 'A' && ch <= 'Z')
				ch = (uint8_t)(ch + 32);
			rv = buf_append(out, &ch, 1);
		}
		if (rv == 0 && colon) {
			rv = buf_append(out, ":", 1);
			bool wsp = false, started = false;
			for (size_t k = nl + 1; k < len && rv == 0; k++) {
				uint8_t ch = field[k];
				if (ch == '\n' ||
				    (ch == '\r' && k + 1 < len && field[k + 1] == '\n'))
					continue; /* unfold; a bare CR stays, as in dkimpy */
				if (is_wsp(ch)) {
					wsp = true;
					continue;
				}
				if (wsp && started)
					rv = buf_append(out, " ", 1);
				wsp = false;
				started = true;
				if (rv == 0)
					rv = buf_append(out, &ch, 1);
			}
		}
	}
	if (rv == 0 && crlf)
		rv = buf_append(out, "\r\n", 2);
	return rv;
}

int dkim__canon_selected(enum dkim_canon c, const uint8_t *msg, const struct dkim_field *f,
                         size_t nf, char (*names)[80], unsigned nnames, struct buf *out)
{
	/* §5.4.2: the k-th occurrence of a name in h= takes the k-th instance from the bottom;
	 * a name with no instance left contributes the null string (oversigning). */
	static const size_t none = (size_t)-1;
	for (unsigned i = 0; i < nnames; i++) {
		size_t nlen = strlen(names[i]);
		/* how many instances of this name were already taken by earlier h= entries */
		size_t skip = 0;
		for (unsigned j = 0; j < i; j++)
			if (mr_strcasecmp(names[j], names[i]) == 0)
				skip++;
		size_t pick = none;
		for (size_t k = nf; k-- > 0;) {
			if (f[k].name_len != nlen ||
			    mr_strncasecmp((const char *)msg + f[k].off, names[i], nlen) != 0)
				continue;
			if (skip == 0) {
				pick = k;
				break;
			}
			skip--;
		}
		if (pick == none)
			continue;
		int rv = dkim_canon_header(c, msg + f[pick].off, f[pick].len, true, out);
		if (rv)
			return rv;
	}
	return 0;
}

/* ---- body ---- */

static void body_emit(struct dkim_body *b, const uint8_t *p, size_t n)
{
	b->total += n;
	if (b->capture)
		(void)buf_append(b->capture, p, n);
	if (b->limit >= 0) {
		uint64_t room = (uint64_t)b->limit - b->hashed;
		if (n > room)
			n = (size_t)room;
	}
	b->hashed += n;
	while (n > 0) {
		size_t k = sizeof b->stage - b->stage_len;
		if (k > n)
			k = n;
		memcpy(b->stage + b->stage_len, p, k);
		b->stage_len += k;
		p += k;
		n -= k;
		if (b->stage_len == sizeof b->stage) {
			EVP_DigestUpdate(b->md, b->stage, b->stage_len);
			b->stage_len = 0;
		}
	}
}

static void body_flush_empty(struct dkim_body *b)
{
	for (; b->empty_lines > 0; b->empty_lines--)
		body_emit(b, (const uint8_t *)"\r\n", 2);
}

/* A content byte of the current line (never CR-LF). */
static void body_char(struct dkim_body *b, uint8_t ch)
{
	if (b->canon == DKIM_CANON_RELAXED && is_wsp(ch)) {
		b->wsp = true; /* §3.4.4: runs become one SP, dropped at line end */
		return;
	}
	if (!b->line_content) {
		body_flush_empty(b);
		b->line_content = b->any_content = true;
	}
	if (b->wsp) {
		body_emit(b, (const uint8_t *)" ", 1);
		b->wsp = false;
	}
	body_emit(b, &ch, 1);
}

static void body_eol(struct dkim_body *b)
{
	/* the line's CRLF is deferred like an empty line: only emitted before more content */
	b->empty_lines++;
	b->line_content = false;
	b->wsp = false;
}

void dkim_body_init(struct dkim_body *b, enum dkim_canon c, int64_t limit, struct buf *capture)
{
	memset(b, 0, sizeof *b);
	b->canon = c;
	b->limit = limit;
	b->capture = capture;
	b->md = EVP_MD_CTX_new();
	if (!b->md || !EVP_DigestInit_ex(b->md, EVP_sha256(), NULL))
		abort(); /* allocation failure: practice 9 */
}

void dkim_body_update(struct dkim_body *b, const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t ch = p[k];
		if (b->cr) {
			b->cr = false;
			if (ch == '\n') {
				body_eol(b);
				continue;
			}
			body_char(b, '\r'); /* a bare CR is content */
		}
		if (ch == '\r')
			b->cr = true;
		else if (ch == '\n')
			body_eol(b); /* bare LF tolerated as a line end */
		else
			body_char(b, ch);
	}
}

int dkim_body_final(struct dkim_body *b, uint8_t hash_r[32], uint64_t *total_r)
{
	if (b->cr) {
		b->cr = false;
		body_char(b, '\r');
	}
	if (b->line_content || (b->any_content && b->empty_lines > 0)) {
		/* the last non-empty line keeps (or gets) its CRLF; trailing empty lines go */
		b->empty_lines = 0;
		body_emit(b, (const uint8_t *)"\r\n", 2);
	} else if (!b->any_content && b->canon == DKIM_CANON_SIMPLE) {
		b->empty_lines = 0;
		body_emit(b, (const uint8_t *)"\r\n", 2); /* §3.4.3: empty body is one CRLF */
	}
	if (b->stage_len)
		EVP_DigestUpdate(b->md, b->stage, b->stage_len);
	unsigned int hl = 0;
	int ok = EVP_DigestFinal_ex(b->md, hash_r, &hl);
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
	if (total_r)
		*total_r = b->total;
	return ok && hl == 32 ? 0 : MR_EIO;
}

void dkim_body_abort(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

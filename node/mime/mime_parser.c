/* mime_parser.c - the incremental MIME structure parser (RFC 5322 §2.1-2.2, RFC 2045 §5,
 * RFC 2046 §5.1). Bytes are consumed line by line (LF ends a line, a CR before it is part of
 * the line ending, so CRLF and bare LF both work) without ever buffering the message: the
 * parser keeps only the first bytes of the current line (enough to recognise a boundary),
 * the current unfolded header field (bounded by max_header_line) and an explicit stack of
 * open parts (bounded by max_depth), so nesting never recurses. Every part records byte
 * offsets and a line count; the tree is identical however the input is chunked because all
 * decisions are taken at line ends from state carried across pushes.
 */
#include "mime_int.h"
#include "common/err.h"
#include <stdlib.h>
#include <string.h>

/* Bytes of each line kept for boundary matching: "--" boundary "--" plus slack. */
#define LP_MAX (MIME__MAX_BOUNDARY + 8)

enum fstate { F_HEADER, F_BODY, F_EPILOGUE };

/* An open part. Multiparts in F_BODY have an active boundary (blen > 0). */
struct frame {
	struct mime_part *part, *last_child;
	size_t lf_start; /* LFs before body_start, for body_lines */
	enum fstate state;
	bool ct_seen, encoded, digest;
	size_t blen;
	char boundary[MIME__MAX_BOUNDARY];
};

struct mime_parser {
	struct mime_limits lim;
	struct frame *frames;
	size_t nframes;
	struct mime_part **parts; /* every allocated part, for freeing */
	size_t nparts, parts_cap;
	/* header field accumulator: [pending field][current line] split at mark */
	struct buf field;
	size_t mark, nfields;
	/* position */
	size_t off, lf;                        /* bytes and LFs pushed so far */
	size_t line_start, line_lf, line_next; /* line_next: offset after its line ending */
	uint8_t lp[LP_MAX];
	size_t lp_len, line_len; /* line_len excludes the LF */
	bool tail_ws;            /* bytes beyond lp are all SP/HT/CR */
	uint8_t line_last;
	size_t prev_eol, prev_len; /* previous line: ending length (0/1/2), content length */
	uint8_t last;
	int err;
	bool finished;
};

static const struct mime_limits default_limits = {
    .max_depth = 32, .max_parts = 10000, .max_header_line = 64 * 1024, .max_headers = 2000};

static struct mime_part *part_new(struct mime_parser *p, struct frame *parent, size_t hdr_start)
{
	if (p->nparts >= p->lim.max_parts) {
		p->err = MR_ETOOBIG;
		return NULL;
	}
	if (p->nparts == p->parts_cap) {
		p->parts_cap = p->parts_cap ? p->parts_cap * 2 : 16;
		p->parts = xrealloc(p->parts, p->parts_cap * sizeof(*p->parts));
	}
	struct mime_part *mp = xmalloc(sizeof(*mp));
	p->parts[p->nparts++] = mp;
	mp->hdr_start = mp->hdr_end = mp->body_start = mp->body_end = hdr_start;
	/* RFC 2046 §5.1.5: parts of a digest default to message/rfc822; RFC 2045 §5.2 otherwise */
	if (parent && parent->digest) {
		strcpy(mp->type, "message");
		strcpy(mp->subtype, "rfc822");
	} else {
		strcpy(mp->type, "text");
		strcpy(mp->subtype, "plain");
	}
	if (parent) {
		mp->parent = parent->part;
		if (parent->last_child)
			parent->last_child->next = mp;
		else
			parent->part->first_child = mp;
		parent->last_child = mp;
		parent->part->nchildren++;
	}
	return mp;
}

/* Open a new part frame in F_HEADER state under the top frame (or as root). */
static int frame_push(struct mime_parser *p, size_t hdr_start)
{
	struct frame *parent = p->nframes ? &p->frames[p->nframes - 1] : NULL;
	if (parent && p->nframes > p->lim.max_depth) {
		p->err = MR_ETOOBIG;
		return -1;
	}
	struct mime_part *mp = part_new(p, parent, hdr_start);
	if (!mp)
		return -1;
	struct frame *f = &p->frames[p->nframes++];
	memset(f, 0, sizeof(*f));
	f->part = mp;
	f->state = F_HEADER;
	p->mark = 0; /* the field buffer is empty here: every caller flushed it */
	p->nfields = 0;
	return 0;
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Apply a complete unfolded header field to the top frame: only Content-Type and
 * Content-Transfer-Encoding shape the tree (the first of each wins). */
static void field_flush(struct mime_parser *p, struct frame *f)
{
	if (p->mark == 0)
		return;
	const char *s = (const char *)p->field.p;
	size_t n = p->mark, colon = 0;
	while (colon < n && s[colon] != ':')
		colon++;
	size_t nlen = colon;
	while (nlen > 0 && is_ws((uint8_t)s[nlen - 1]))
		nlen--;
	if (colon < n) {
		const char *v = s + colon + 1;
		size_t vlen = n - colon - 1;
		if (nlen == 12 && mr_strncasecmp(s, "content-type", 12) == 0 && !f->ct_seen) {
			struct mime__cv cv;
			f->ct_seen = true;
			mime__cv_parse(v, vlen, &cv);
			if (mime__cv_type(&cv, f->part->type, f->part->subtype) == 0 &&
			    strcmp(f->part->type, "multipart") == 0) {
				const struct mime__param *b = mime__cv_param(&cv, "boundary");
				if (b && b->vlen > 0 && b->vlen <= MIME__MAX_BOUNDARY) {
					memcpy(f->boundary, b->value, b->vlen);
					f->blen = b->vlen;
				}
			}
			mime__cv_free(&cv);
		} else if (nlen == 25 && mr_strncasecmp(s, "content-transfer-encoding", 25) == 0) {
			struct mime__cv cv;
			mime__cv_parse(v, vlen, &cv);
			f->encoded = strcmp(cv.value, "base64") == 0 ||
			             strcmp(cv.value, "quoted-printable") == 0;
			mime__cv_free(&cv);
		}
	}
	buf_consume(&p->field, p->mark);
	p->mark = 0;
}

/* Close frame f at body end E (LF count lfE before E; ends_lf: byte E-1 is LF). */
static void frame_close(struct mime_parser *p, struct frame *f, size_t E, size_t lfE, bool ends_lf)
{
	struct mime_part *mp = f->part;
	if (f->state == F_HEADER) {
		field_flush(p, f);
		if (E < mp->hdr_start)
			E = mp->hdr_start;
		mp->hdr_end = mp->body_start = mp->body_end = E;
		mp->body_lines = 0;
		return;
	}
	if (E <= mp->body_start) {
		mp->body_end = mp->body_start;
		mp->body_lines = 0;
		return;
	}
	mp->body_end = E;
	mp->body_lines = lfE - f->lf_start + (ends_lf ? 0 : 1);
}

/* Close every frame above index keep at the start of the current line: the line ending
 * before a boundary belongs to the boundary (RFC 2046 §5.1.1), so every closed part ends
 * before it. A part whose header ended on exactly that line ending ("header CRLF CRLF
 * --boundary") has no blank line of its own: its header ends there too, without the
 * delimiter's line ending, and its body is empty. A part that began after that point (right
 * after the previous boundary line, or the message inside such a part) is empty and placed at
 * it, so that children always nest inside their parents. */
static void close_above(struct mime_parser *p, size_t keep)
{
	size_t E = p->line_start - p->prev_eol;
	size_t lfE = p->line_lf - (p->prev_eol ? 1 : 0);
	bool ends_lf = p->prev_len == 0;
	while (p->nframes > keep + 1) {
		struct frame *f = &p->frames[p->nframes - 1];
		struct mime_part *mp = f->part;
		frame_close(p, f, E, lfE, ends_lf);
		if (mp->hdr_start > E)
			mp->hdr_start = E;
		if (mp->hdr_end > E) {
			mp->hdr_end = mp->body_start = mp->body_end = E;
			mp->body_lines = 0;
		}
		p->nframes--;
	}
}

/* Does the current line (content length clen) match frame f's boundary? 1 delimiter,
 * 2 close delimiter, 0 no. RFC 2046 §5.1.1: "--" boundary ["--"] *LWSP CRLF. */
static int boundary_match(const struct mime_parser *p, const struct frame *f, size_t clen)
{
	size_t r = 2 + f->blen;
	if (clen < r || memcmp(p->lp + 2, f->boundary, f->blen) != 0)
		return 0;
	if (clen >= r + 2 && p->lp[r] == '-' && p->lp[r + 1] == '-')
		return 2;
	size_t kept = clen < p->lp_len ? clen : p->lp_len;
	for (size_t i = r; i < kept; i++)
		if (!is_ws(p->lp[i]))
			return 0;
	return clen > p->lp_len && !p->tail_ws ? 0 : 1;
}

/* Check the active boundaries from the innermost out; handle a match. Returns true if the
 * line was a boundary. */
static bool check_boundaries(struct mime_parser *p, size_t clen)
{
	if (clen < 2 || p->lp[0] != '-' || p->lp[1] != '-')
		return false;
	for (size_t i = p->nframes; i-- > 0;) {
		struct frame *f = &p->frames[i];
		if (f->state != F_BODY || f->blen == 0)
			continue;
		int m = boundary_match(p, f, clen);
		if (!m)
			continue;
		close_above(p, i);
		if (m == 2)
			f->state = F_EPILOGUE; /* RFC 2046 §5.1.1: no parts after the close */
		else
			(void)frame_push(p, p->line_next);
		return true;
	}
	return false;
}

/* Header block of the top frame ends at hdr_end: decide what follows. The field buffer must
 * hold only the pending field. */
static void header_end(struct mime_parser *p, size_t hdr_end, size_t lf_at)
{
	struct frame *f = &p->frames[p->nframes - 1];
	struct mime_part *mp = f->part;
	field_flush(p, f);
	buf_reset(&p->field);
	mp->hdr_end = mp->body_start = mp->body_end = hdr_end;
	f->lf_start = lf_at;
	f->state = F_BODY;
	if (strcmp(mp->type, "multipart") == 0) {
		f->digest = strcmp(mp->subtype, "digest") == 0;
	} else if (strcmp(mp->type, "message") == 0 && !f->encoded &&
	           (strcmp(mp->subtype, "rfc822") == 0 || strcmp(mp->subtype, "global") == 0)) {
		/* RFC 2046 §5.2.1 (RFC 6532 §3.7): the body is a complete message */
		if (frame_push(p, hdr_end) == 0)
			p->frames[p->nframes - 1].lf_start = lf_at;
	}
}

/* field-name ":" with printable US-ASCII names (RFC 5322 §2.2), allowing obsolete WSP before
 * the colon (§4.5.2). */
static bool is_field_line(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] != ':' && s[i] > 32 && s[i] < 127)
		i++;
	if (i == 0)
		return false;
	while (i < n && is_ws(s[i]))
		i++;
	return i < n && s[i] == ':';
}

/* A complete line: content [line_start, line_start + clen), then eol ending bytes. */
static void line_end(struct mime_parser *p, size_t clen, size_t eol)
{
	struct frame *f = &p->frames[p->nframes - 1];
	p->line_next = p->line_start + clen + eol;
	if (f->state != F_HEADER) {
		(void)check_boundaries(p, clen);
		return;
	}
	/* header line: it sits in field[mark, len), maybe with its CR. A boundary wins over
	 * everything (boundaries may contain ':'); the header then ends unterminated. */
	p->field.len = p->mark;
	if (check_boundaries(p, clen))
		return;
	p->field.len = p->mark + clen; /* drops the CR */
	const uint8_t *s = clen ? p->field.p + p->mark : p->lp;
	if (clen > 0 && is_ws(s[0])) {
		if (p->mark == 0) {
			buf_reset(&p->field); /* continuation of nothing: ignore */
		} else if (p->field.len > p->lim.max_header_line) {
			p->field.len = p->mark;
			p->err = MR_ETOOBIG;
		} else {
			p->mark = p->field.len; /* RFC 5322 §2.2.3 unfolding: CRLF dropped */
		}
		return;
	}
	if (clen > 0 && is_field_line(s, clen)) {
		field_flush(p, f);
		p->mark = p->field.len;
		if (++p->nfields > p->lim.max_headers)
			p->err = MR_ETOOBIG;
		return;
	}
	p->field.len = p->mark;
	if (clen == 0) {
		header_end(p, p->line_next, p->line_lf + (eol ? 1 : 0));
		return;
	}
	/* not a header line: the header ended without the blank line and this line starts the
	 * body. An encapsulated message child then has an empty header too (the same line is
	 * no field for it either). */
	size_t depth = p->nframes;
	header_end(p, p->line_start, p->line_lf);
	if (p->nframes > depth)
		header_end(p, p->line_start, p->line_lf);
}

/* Keep the first LP_MAX bytes of the line; beyond, remember whether all are white space
 * (transport padding after a boundary, RFC 2046 §5.1.1). */
static void seg_feed(struct mime_parser *p, const uint8_t *s, size_t n)
{
	if (p->lp_len < LP_MAX) {
		size_t k = LP_MAX - p->lp_len < n ? LP_MAX - p->lp_len : n;
		memcpy(p->lp + p->lp_len, s, k);
		p->lp_len += k;
		s += k;
		n -= k;
	}
	if (n > 0 && p->tail_ws && p->lp[0] == '-' && p->lp[1] == '-') {
		for (size_t i = 0; i < n; i++)
			if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
				p->tail_ws = false;
				break;
			}
	}
}

/* A header line grew past max_header_line. If its start cannot be a field or a
 * continuation, it is the first line of a body that had no blank line before it (RFC 5322
 * §2.1 allows the body to be absent, real mail forgets the separator): the header ends
 * there and the line is not buffered. Only the first min(limit, LP_MAX) bytes are looked at,
 * which every chunking has seen by now, so the decision does not depend on chunking. */
static bool long_body_line(const struct mime_parser *p)
{
	size_t L = p->lim.max_header_line < p->lp_len ? p->lim.max_header_line : p->lp_len;
	const uint8_t *s = p->lp;
	if (L == 0 || is_ws(s[0]))
		return false;
	size_t i = 0;
	while (i < L && s[i] != ':' && s[i] > 32 && s[i] < 127)
		i++;
	if (i == 0)
		return true;
	while (i < L && is_ws(s[i]))
		i++;
	return !(i < L && s[i] == ':');
}

static void count_only(struct mime_parser *p, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p->lf += data[i] == '\n';
	p->off += len;
	if (len)
		p->last = data[len - 1];
}

int mime_parser_push(struct mime_parser *p, const uint8_t *data, size_t len)
{
	if (p->finished)
		return MR_EINVAL;
	while (len > 0 && !p->err) {
		const uint8_t *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		if (n > 0) {
			seg_feed(p, data, n);
			/* +1: the CR of CRLF is stored until the LF drops it */
			if (p->frames[p->nframes - 1].state == F_HEADER &&
			    p->field.len - p->mark + n > p->lim.max_header_line + 1) {
				p->field.len = p->mark;
				if (!long_body_line(p)) {
					p->err = MR_ETOOBIG;
					break;
				}
				size_t depth = p->nframes;
				header_end(p, p->line_start, p->line_lf);
				if (p->nframes > depth)
					header_end(p, p->line_start, p->line_lf);
				if (p->err)
					break;
			}
			if (p->frames[p->nframes - 1].state == F_HEADER)
				(void)buf_append(&p->field, data, n);
			p->line_len += n;
			p->line_last = data[n - 1];
			p->off += n;
			p->last = data[n - 1];
		}
		if (!nl)
			return 0;
		size_t clen = p->line_len, eol = 1;
		if (clen > 0 && p->line_last == '\r') {
			clen--;
			eol = 2;
		}
		p->off++;
		p->last = '\n';
		line_end(p, clen, eol);
		p->lf++;
		p->prev_eol = eol;
		p->prev_len = clen;
		p->line_start = p->off;
		p->line_lf = p->lf;
		p->lp_len = p->line_len = 0;
		p->tail_ws = true;
		data += n + 1;
		len -= n + 1;
	}
	count_only(p, data, len);
	return p->err;
}

struct mime_parser *mime_parser_new(const struct mime_limits *limits)
{
	struct mime_parser *p = xmalloc(sizeof(*p));
	p->lim = default_limits;
	if (limits) {
		if (limits->max_depth)
			p->lim.max_depth = limits->max_depth;
		if (limits->max_parts)
			p->lim.max_parts = limits->max_parts;
		if (limits->max_header_line)
			p->lim.max_header_line = limits->max_header_line;
		if (limits->max_headers)
			p->lim.max_headers = limits->max_headers;
	}
	if (p->lim.max_depth > 256) /* each level costs a frame and output recursion */
		p->lim.max_depth = 256;
	p->frames = xcalloc(p->lim.max_depth + 1, sizeof(*p->frames));
	buf_init(&p->field, 0);
	p->tail_ws = true;
	(void)frame_push(p, 0);
	return p;
}

struct mime_part *mime_parser_finish(struct mime_parser *p)
{
	if (p->finished)
		return p->parts[0];
	p->finished = true;
	if (!p->err && p->line_len > 0) {
		/* the last line has no line ending */
		line_end(p, p->line_len, 0);
	}
	while (p->nframes > 0) {
		frame_close(p, &p->frames[p->nframes - 1], p->off, p->lf, p->last == '\n');
		p->nframes--;
	}
	buf_free(&p->field);
	return p->parts[0];
}

void mime_parser_free(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;
	if (!p)
		return;
	for (size_t i = 0; i < p->nparts; i++)
		free(p->parts[i]);
	free(p->parts);
	free(p->frames);
	buf_free(&p->field);
	free(p);
	*pp = NULL;
}

struct mime_parser *mime_parse(const uint8_t *raw, size_t len, struct mime_part **root_r)
{
	struct mime_parser *p = mime_parser_new(NULL);
	(void)mime_parser_push(p, raw, len);
	*root_r = mime_parser_finish(p);
	return p;
}

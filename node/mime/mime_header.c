/* mime_header.c - reading header blocks in place: the field iterator (RFC 5322 §2.2 with
 * folding, CRLF or bare LF), mime_header_get/count, and structured values such as
 * Content-Type and Content-Disposition: a leading token plus RFC 2045 §5.1 parameters with
 * quoted strings, merged per RFC 2231 §3-4 (name*0=, name*1*=, name*=charset'lang'value).
 * mime_param_decode gives the decoded UTF-8 value of one parameter.
 */
#include "mime_int.h"
#include "common/err.h"
#include <stdlib.h>
#include <string.h>

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* End of the line starting at pos (index of its LF, or end). */
static size_t eol_at(const uint8_t *raw, size_t pos, size_t end)
{
	const uint8_t *nl = memchr(raw + pos, '\n', end - pos);
	return nl ? (size_t)(nl - raw) : end;
}

int mime__field_next(const uint8_t *raw, size_t *pos, size_t end, struct mime__field *f)
{
	size_t p = *pos;
	while (p < end) {
		size_t e = eol_at(raw, p, end);
		size_t ce = e > p && raw[e - 1] == '\r' ? e - 1 : e;
		if (ce == p) {
			*pos = end; /* blank line: end of the header block */
			return 0;
		}
		size_t next = e < end ? e + 1 : end;
		size_t i = p;
		while (i < ce && raw[i] != ':' && raw[i] > 32 && raw[i] < 127)
			i++;
		size_t nend = i;
		while (i < ce && is_ws(raw[i]))
			i++;
		if (nend == p || i >= ce || raw[i] != ':' || is_ws(raw[p])) {
			p = next; /* not a field (or a stray continuation): skip it */
			continue;
		}
		f->name = raw + p;
		f->nlen = nend - p;
		f->v = raw + i + 1;
		/* continuation lines start with WSP (RFC 5322 §2.2.3) */
		while (next < end && is_ws(raw[next])) {
			e = eol_at(raw, next, end);
			next = e < end ? e + 1 : end;
		}
		size_t vend = e;
		if (vend > i + 1 && raw[vend - 1] == '\r')
			vend--;
		f->vend = raw + vend;
		*pos = next;
		return 1;
	}
	*pos = end;
	return 0;
}

bool mime__field_is(const struct mime__field *f, const char *name)
{
	size_t n = strlen(name);
	return f->nlen == n && mr_strncasecmp((const char *)f->name, name, n) == 0;
}

int mime__field_value(const struct mime__field *f, struct buf *out)
{
	const uint8_t *s = f->v, *e = f->vend;
	while (s < e && (is_ws(*s) || *s == '\r' || *s == '\n'))
		s++;
	while (e > s && (is_ws(e[-1]) || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	const uint8_t *run = s;
	for (const uint8_t *q = s; q < e; q++) {
		if (*q != '\r' && *q != '\n')
			continue;
		/* drop CR/LF of a fold (a bare CR not before LF is kept as data) */
		if (*q == '\r' && !(q + 1 < e && q[1] == '\n'))
			continue;
		int rv = buf_append(out, run, (size_t)(q - run));
		if (rv)
			return rv;
		run = q + 1;
	}
	return buf_append(out, run, (size_t)(e - run));
}

int mime_header_get(const uint8_t *raw, size_t start, size_t end, const char *name, struct buf *out)
{
	struct mime__field f;
	size_t pos = start;
	while (mime__field_next(raw, &pos, end, &f) == 1) {
		if (!mime__field_is(&f, name))
			continue;
		/* "raw value without leading space": keep trailing bytes, drop folds */
		const uint8_t *s = f.v;
		while (s < f.vend && is_ws(*s))
			s++;
		struct mime__field g = f;
		g.v = s;
		const uint8_t *q = s, *run = s;
		for (; q < g.vend; q++) {
			if (*q == '\n' || (*q == '\r' && q + 1 < g.vend && q[1] == '\n')) {
				if (buf_append(out, run, (size_t)(q - run)))
					return MR_ETOOBIG;
				run = q + 1;
			}
		}
		if (buf_append(out, run, (size_t)(q - run)))
			return MR_ETOOBIG;
		return 1;
	}
	return 0;
}

size_t mime_header_count(const uint8_t *raw, size_t start, size_t end, const char *name)
{
	struct mime__field f;
	size_t pos = start, n = 0;
	while (mime__field_next(raw, &pos, end, &f) == 1)
		n += mime__field_is(&f, name);
	return n;
}

/* ---- structured values ---- */

/* Skip white space and RFC 5322 comments (nesting counted, not recursed). */
static size_t skip_cfws(const char *s, size_t i, size_t n)
{
	while (i < n) {
		if (is_ws((uint8_t)s[i]) || s[i] == '\r' || s[i] == '\n') {
			i++;
		} else if (s[i] == '(') {
			size_t depth = 0;
			for (; i < n; i++) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
		} else {
			break;
		}
	}
	return i;
}

struct raw_param {
	char *base;  /* lower-cased name without RFC 2231 suffixes */
	int section; /* -1: none */
	bool ext;
	char *value;
	size_t vlen;
};

static bool pct_safe(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$&+-.^_`|~", c) != NULL;
}

static void add_merged(struct mime__cv *cv, const char *base, bool ext, struct buf *v)
{
	if (cv->nparams >= MIME__MAX_PARAMS)
		return;
	char *name = xasprintf("%s%s", base, ext ? "*" : "");
	for (size_t i = 0; i < cv->nparams; i++)
		if (strcmp(cv->params[i].name, name) == 0) {
			free(name); /* duplicate: the first one wins */
			return;
		}
	struct mime__param *mp = &cv->params[cv->nparams++];
	mp->name = name;
	mp->vlen = v->len;
	mp->value = xmalloc(v->len + 1);
	if (v->len)
		memcpy(mp->value, v->p, v->len);
}

/* RFC 2231 §3: join name*0, name*1, ... in order (stopping at a gap). Extended sections
 * stay %-encoded; plain ones inside an extended value get %-encoded so the merged value is
 * one consistent charset'lang'%XX string. */
static void merge_sections(struct mime__cv *cv, struct raw_param *rp, size_t n, size_t first)
{
	struct buf v;
	buf_init(&v, 0);
	bool ext = false;
	for (int k = 0; k < MIME__MAX_SECTIONS; k++) {
		size_t j;
		for (j = first; j < n; j++)
			if (rp[j].section == k && strcmp(rp[j].base, rp[first].base) == 0)
				break;
		if (j == n)
			break;
		if (k == 0)
			ext = rp[j].ext;
		if (!ext || rp[j].ext) {
			(void)buf_append(&v, rp[j].value, rp[j].vlen);
			continue;
		}
		for (size_t i = 0; i < rp[j].vlen; i++) {
			uint8_t c = (uint8_t)rp[j].value[i];
			if (pct_safe(c))
				(void)buf_append(&v, &c, 1);
			else
				(void)buf_printf(&v, "%%%02X", c);
		}
	}
	add_merged(cv, rp[first].base, ext, &v);
	buf_free(&v);
}

/* name [*N] [*] = token | quoted-string */
static size_t parse_one(const char *s, size_t i, size_t n, struct raw_param *rp, bool *ok)
{
	*ok = false;
	size_t ns = i;
	while (i < n && s[i] != '=' && s[i] != ';' && !is_ws((uint8_t)s[i]) && s[i] != '(')
		i++;
	size_t ne = i;
	i = skip_cfws(s, i, n);
	if (ne == ns || i >= n || s[i] != '=')
		return i;
	i = skip_cfws(s, i + 1, n);
	struct buf v;
	buf_init(&v, 0);
	if (i < n && s[i] == '"') {
		for (i++; i < n && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < n)
				i++;
			if (s[i] != '\r' && s[i] != '\n')
				(void)buf_append(&v, s + i, 1);
		}
		if (i < n)
			i++;
	} else {
		size_t vs = i;
		while (i < n && s[i] != ';' && !is_ws((uint8_t)s[i]))
			i++;
		(void)buf_append(&v, s + vs, i - vs);
	}
	/* RFC 2231 suffixes: "*" (extended) and "*N" (section) */
	size_t be = ne;
	rp->ext = false;
	rp->section = -1;
	if (be > ns && s[be - 1] == '*') {
		rp->ext = true;
		be--;
	}
	size_t d = be;
	while (d > ns && s[d - 1] >= '0' && s[d - 1] <= '9')
		d--;
	if (d < be && d > ns + 1 && s[d - 1] == '*' && be - d <= 3) {
		rp->section = 0;
		for (size_t k = d; k < be; k++)
			rp->section = rp->section * 10 + (s[k] - '0');
		be = d - 1;
	}
	rp->base = xstrndup(s + ns, be - ns);
	mr_lower(rp->base);
	rp->vlen = v.len;
	rp->value = v.len ? (char *)buf_steal(&v, &rp->vlen) : xstrdup("");
	buf_free(&v);
	*ok = true;
	return i;
}

void mime__cv_parse(const char *s, size_t n, struct mime__cv *cv)
{
	memset(cv, 0, sizeof(*cv));
	size_t i = skip_cfws(s, 0, n);
	/* the leading token: type "/" subtype may carry CFWS around the slash (rare) */
	size_t k = 0;
	while (i < n && s[i] != ';') {
		if (s[i] == '(' || is_ws((uint8_t)s[i]) || s[i] == '\r' || s[i] == '\n') {
			i = skip_cfws(s, i, n);
			/* white space ends the token unless it sits next to the slash */
			if (i < n && s[i] != '/' && s[i] != ';' && k > 0 && cv->value[k - 1] != '/')
				break;
			continue;
		}
		if (k + 1 < sizeof(cv->value))
			cv->value[k++] = s[i];
		i++;
	}
	cv->value[k] = 0;
	mr_lower(cv->value);
	struct raw_param rp[MIME__MAX_PARAMS * 2];
	size_t nrp = 0;
	while (i < n) {
		/* at ';' (or junk): move to the next parameter */
		while (i < n && s[i] != ';')
			i++;
		if (i >= n)
			break;
		i = skip_cfws(s, i + 1, n);
		bool ok;
		if (nrp == MIME__MAX_PARAMS * 2)
			break;
		i = parse_one(s, i, n, &rp[nrp], &ok);
		if (ok)
			nrp++;
	}
	for (size_t j = 0; j < nrp; j++) {
		if (rp[j].section < 0) {
			struct buf v = {.p = (uint8_t *)rp[j].value, .len = rp[j].vlen};
			add_merged(cv, rp[j].base, rp[j].ext, &v);
			continue;
		}
		bool seen = false;
		for (size_t q = 0; q < j; q++)
			seen |= rp[q].section >= 0 && strcmp(rp[q].base, rp[j].base) == 0;
		if (!seen)
			merge_sections(cv, rp, nrp, j);
	}
	for (size_t j = 0; j < nrp; j++) {
		free(rp[j].base);
		free(rp[j].value);
	}
}

void mime__cv_free(struct mime__cv *cv)
{
	for (size_t i = 0; i < cv->nparams; i++) {
		free(cv->params[i].name);
		free(cv->params[i].value);
	}
	cv->nparams = 0;
}

int mime__cv_type(const struct mime__cv *cv, char type[64], char subtype[64])
{
	const char *slash = strchr(cv->value, '/');
	if (!slash || slash == cv->value || !slash[1])
		return -1;
	size_t tl = (size_t)(slash - cv->value), sl = strlen(slash + 1);
	if (tl >= 64 || sl >= 64 || strchr(slash + 1, '/'))
		return -1;
	memcpy(type, cv->value, tl);
	type[tl] = 0;
	memcpy(subtype, slash + 1, sl + 1);
	return 0;
}

const struct mime__param *mime__cv_param(const struct mime__cv *cv, const char *name)
{
	for (size_t i = 0; i < cv->nparams; i++)
		if (strcmp(cv->params[i].name, name) == 0)
			return &cv->params[i];
	return NULL;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int mime_param_decode(const char *value, size_t len, const char *name, struct buf *out)
{
	struct mime__cv cv;
	mime__cv_parse(value, len, &cv);
	char *xname = xasprintf("%s*", name);
	mr_lower(xname);
	const struct mime__param *ep = mime__cv_param(&cv, xname);
	int rv = 0;
	free(xname);
	if (ep) {
		/* RFC 2231 §4: charset'language'%XX-encoded */
		const char *q1 = memchr(ep->value, '\'', ep->vlen);
		const char *q2 =
		    q1 ? memchr(q1 + 1, '\'', ep->vlen - (size_t)(q1 + 1 - ep->value)) : NULL;
		if (q2) {
			struct buf raw;
			buf_init(&raw, 0);
			const char *e = ep->value + ep->vlen;
			for (const char *s = q2 + 1; s < e; s++) {
				uint8_t c = (uint8_t)*s;
				if (c == '%' && e - s >= 3 && hexval((uint8_t)s[1]) >= 0 &&
				    hexval((uint8_t)s[2]) >= 0) {
					c = (uint8_t)(hexval((uint8_t)s[1]) * 16 +
					              hexval((uint8_t)s[2]));
					s += 2;
				}
				(void)buf_append(&raw, &c, 1);
			}
			size_t cl = (size_t)(q1 - ep->value);
			rv = cl ? mime__to_utf8(ep->value, cl, raw.p, raw.len, out) : MR_ENOTFOUND;
			if (rv == MR_ENOTFOUND)
				rv = buf_append(out, raw.p, raw.len);
			buf_free(&raw);
			rv = rv ? rv : 1;
			goto out;
		}
		rv = buf_append(out, ep->value, ep->vlen);
		rv = rv ? rv : 1;
		goto out;
	}
	char *lname = xstrdup(name);
	mr_lower(lname);
	const struct mime__param *pp = mime__cv_param(&cv, lname);
	free(lname);
	if (pp) {
		rv = buf_append(out, pp->value, pp->vlen);
		rv = rv ? rv : 1;
	}
out:
	mime__cv_free(&cv);
	return rv;
}

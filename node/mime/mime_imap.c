/* mime_imap.c - IMAP renderings of a parsed message: strings (RFC 3501 §4.3 quoted/literal),
 * BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) and section lookup for
 * BODY[section] (RFC 3501 §6.4.5). Output functions recurse over the part tree, whose depth
 * the parser bounded by max_depth; each builds into a scratch buffer and appends the result
 * to the caller's bounded buffer in one go.
 */
#include "mime_int.h"
#include "common/err.h"
#include <stdlib.h>
#include <string.h>

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
/* the same with body-ext-1part (md5 dsp lang loc), for BODYSTRUCTURE */
#define EMPTY_BODY_EXT                                                                             \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
#define EMPTY_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

int mime__imap_string(struct buf *out, const void *sv, size_t len)
{
	const uint8_t *s = sv;
	bool lit = false;
	size_t nul = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n' || s[i] >= 0x80)
			lit = true;
		nul += s[i] == 0;
	}
	int rv;
	if (lit) {
		rv = buf_printf(out, "{%zu}\r\n", len - nul);
		if (rv)
			return rv;
		if (nul == 0)
			return buf_append(out, s, len);
	} else {
		rv = buf_append(out, "\"", 1);
	}
	size_t run = 0;
	for (size_t i = 0; i <= len && !rv; i++) {
		bool end = i == len;
		bool esc = !end && !lit && (s[i] == '"' || s[i] == '\\');
		if (!end && s[i] != 0 && !esc)
			continue;
		rv = buf_append(out, s + run, i - run);
		if (!rv && esc)
			rv = buf_append(out, "\\", 1);
		run = esc ? i : i + 1;
	}
	if (!rv && !lit)
		rv = buf_append(out, "\"", 1);
	return rv;
}

int mime__imap_nstring(struct buf *out, const void *s, size_t len)
{
	if (!s)
		return buf_append(out, "NIL", 3);
	return mime__imap_string(out, s, len);
}

static void put_str(struct buf *o, const char *s)
{
	(void)mime__imap_nstring(o, s, s ? strlen(s) : 0);
}

/* Header fields a body structure needs, read in one pass (first occurrence wins). */
enum bf { B_TYPE, B_CTE, B_ID, B_DESC, B_MD5, B_DISP, B_LANG, B_LOC, B_N };
static const char *const bf_names[B_N] = {
    "content-type", "content-transfer-encoding", "content-id",       "content-description",
    "content-md5",  "content-disposition",       "content-language", "content-location"};

struct bfields {
	struct buf v[B_N];
	bool have[B_N];
};

static void bfields_read(const uint8_t *raw, const struct mime_part *p, struct bfields *b)
{
	memset(b, 0, sizeof(*b));
	struct mime__field f;
	size_t pos = p->hdr_start;
	while (mime__field_next(raw, &pos, p->hdr_end, &f) == 1)
		for (int k = 0; k < B_N; k++)
			if (!b->have[k] && mime__field_is(&f, bf_names[k])) {
				b->have[k] = true;
				(void)mime__field_value(&f, &b->v[k]);
			}
}

static void bfields_free(struct bfields *b)
{
	for (int k = 0; k < B_N; k++)
		buf_free(&b->v[k]);
}

static const char *bval(const struct bfields *b, int k)
{
	return b->have[k] ? (b->v[k].p ? (const char *)b->v[k].p : "") : NULL;
}

/* body-fld-param: ("name" "value" ...) or NIL. Text parts without a charset get the
 * RFC 2046 §4.1.2 default "us-ascii" first, as Dovecot reports it. */
static void put_params(struct buf *o, const struct mime__cv *cv, bool text)
{
	bool add_cs =
	    text && !(cv && (mime__cv_param(cv, "charset") || mime__cv_param(cv, "charset*")));
	if ((!cv || cv->nparams == 0) && !add_cs) {
		(void)buf_puts(o, "NIL");
		return;
	}
	(void)buf_puts(o, add_cs ? "(\"charset\" \"us-ascii\"" : "(");
	for (size_t i = 0; cv && i < cv->nparams; i++) {
		if (i || add_cs)
			(void)buf_puts(o, " ");
		put_str(o, cv->params[i].name);
		(void)buf_puts(o, " ");
		(void)mime__imap_string(o, cv->params[i].value, cv->params[i].vlen);
	}
	(void)buf_puts(o, ")");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 3501 §9 body-ext-*) */
static void put_ext_tail(struct buf *o, const struct bfields *b)
{
	const char *d = bval(b, B_DISP);
	(void)buf_puts(o, " ");
	struct mime__cv cv;
	if (d) {
		mime__cv_parse(d, b->v[B_DISP].len, &cv);
		if (cv.value[0]) {
			(void)buf_puts(o, "(");
			put_str(o, cv.value);
			(void)buf_puts(o, " ");
			put_params(o, &cv, false);
			(void)buf_puts(o, ")");
		} else {
			(void)buf_puts(o, "NIL");
		}
		mime__cv_free(&cv);
	} else {
		(void)buf_puts(o, "NIL");
	}
	/* Content-Language (RFC 3282): one tag as a string, several as a list */
	(void)buf_puts(o, " ");
	const char *l = bval(b, B_LANG);
	size_t ntags = 0, ll = l ? b->v[B_LANG].len : 0;
	struct buf tags;
	buf_init(&tags, 0);
	for (size_t i = 0; i < ll;) {
		while (i < ll && (l[i] == ',' || l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i < ll && l[i] == '(') { /* comment */
			while (i < ll && l[i] != ')')
				i++;
			i++;
			continue;
		}
		size_t s = i;
		while (i < ll && l[i] != ',' && l[i] != ' ' && l[i] != '\t' && l[i] != '(')
			i++;
		if (i > s) {
			if (ntags++)
				(void)buf_puts(&tags, " ");
			(void)mime__imap_string(&tags, l + s, i - s);
		}
	}
	if (ntags == 0)
		(void)buf_puts(o, "NIL");
	else if (ntags == 1)
		(void)buf_append(o, tags.p, tags.len);
	else
		(void)buf_printf(o, "(%s)", (const char *)tags.p);
	buf_free(&tags);
	(void)buf_puts(o, " ");
	put_str(o, bval(b, B_LOC));
}

static void put_body(const uint8_t *raw, const struct mime_part *p, bool ext, struct buf *o);

static void put_multipart(const uint8_t *raw, const struct mime_part *p, bool ext,
                          const struct bfields *b, const struct mime__cv *cv, struct buf *o)
{
	(void)buf_puts(o, "(");
	if (!p->first_child) /* body-type-mpart needs one body */
		(void)buf_puts(o, ext ? EMPTY_BODY_EXT : EMPTY_BODY);
	for (const struct mime_part *c = p->first_child; c; c = c->next)
		put_body(raw, c, ext, o);
	(void)buf_puts(o, " ");
	put_str(o, p->subtype);
	if (ext) {
		(void)buf_puts(o, " ");
		put_params(o, cv, false);
		put_ext_tail(o, b);
	}
	(void)buf_puts(o, ")");
}

static void put_body(const uint8_t *raw, const struct mime_part *p, bool ext, struct buf *o)
{
	struct bfields b;
	bfields_read(raw, p, &b);
	struct mime__cv cv;
	bool ct_ok = false;
	if (b.have[B_TYPE]) {
		char t[64], s[64];
		mime__cv_parse(bval(&b, B_TYPE), b.v[B_TYPE].len, &cv);
		ct_ok = mime__cv_type(&cv, t, s) == 0;
	} else {
		memset(&cv, 0, sizeof(cv));
	}
	if (strcmp(p->type, "multipart") == 0) {
		put_multipart(raw, p, ext, &b, ct_ok ? &cv : NULL, o);
		goto out;
	}
	(void)buf_puts(o, "(");
	put_str(o, p->type);
	(void)buf_puts(o, " ");
	put_str(o, p->subtype);
	(void)buf_puts(o, " ");
	put_params(o, ct_ok ? &cv : NULL, strcmp(p->type, "text") == 0);
	(void)buf_puts(o, " ");
	put_str(o, bval(&b, B_ID));
	(void)buf_puts(o, " ");
	put_str(o, bval(&b, B_DESC));
	(void)buf_puts(o, " ");
	struct mime__cv cte;
	const char *e = bval(&b, B_CTE);
	if (e)
		mime__cv_parse(e, b.v[B_CTE].len, &cte);
	put_str(o, e && cte.value[0] ? cte.value : "7bit");
	if (e)
		mime__cv_free(&cte);
	(void)buf_printf(o, " %zu", p->body_end - p->body_start);
	bool msg = strcmp(p->type, "message") == 0 &&
	           (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0);
	if (msg) {
		/* body-type-msg: envelope body body-fld-lines */
		(void)buf_puts(o, " ");
		if (p->first_child) {
			const struct mime_part *c = p->first_child;
			(void)mime__envelope_hdr(raw, c->hdr_start, c->hdr_end, o);
			(void)buf_puts(o, " ");
			put_body(raw, c, ext, o);
		} else {
			(void)buf_puts(o, ext ? EMPTY_ENVELOPE " " EMPTY_BODY_EXT
			                      : EMPTY_ENVELOPE " " EMPTY_BODY);
		}
		(void)buf_printf(o, " %zu", p->body_lines);
	} else if (strcmp(p->type, "text") == 0) {
		(void)buf_printf(o, " %zu", p->body_lines);
	}
	if (ext) {
		/* body-ext-1part: md5 dsp lang loc */
		(void)buf_puts(o, " ");
		put_str(o, bval(&b, B_MD5));
		put_ext_tail(o, &b);
	}
	(void)buf_puts(o, ")");
out:
	mime__cv_free(&cv);
	bfields_free(&b);
}

int mime_bodystructure(const uint8_t *raw, const struct mime_part *part, bool extended,
                       struct buf *out)
{
	struct buf o;
	buf_init(&o, 0);
	put_body(raw, part, extended, &o);
	int rv = buf_append(out, o.p, o.len);
	buf_free(&o);
	return rv;
}

static bool is_message(const struct mime_part *p)
{
	return strcmp(p->type, "message") == 0 &&
	       (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0);
}

/* RFC 3501 §6.4.5: part numbers index the children of a multipart; a message/rfc822 part's
 * numbers apply to its encapsulated message; a non-multipart message only has part 1. A
 * multipart without parts (no boundary, or none found) is shown in BODYSTRUCTURE with one
 * empty text/plain part (body-type-mpart needs one): its part 1 is that empty part, *empty. */
static const struct mime_part *part_child(const struct mime_part *msg, unsigned long n,
                                          struct mime_part *empty)
{
	if (strcmp(msg->type, "multipart") == 0) {
		const struct mime_part *c = msg->first_child;
		if (!c && n == 1) {
			memset(empty, 0, sizeof(*empty));
			empty->hdr_start = empty->hdr_end = msg->body_start;
			empty->body_start = empty->body_end = msg->body_start;
			strcpy(empty->type, "text");
			strcpy(empty->subtype, "plain");
			return empty;
		}
		while (c && --n > 0)
			c = c->next;
		return c;
	}
	return n == 1 ? msg : NULL;
}

const struct mime_part *mime_part_find(const struct mime_part *root, const char *part_path,
                                       struct mime_part *empty)
{
	const struct mime_part *cur = NULL;
	const char *s = part_path ? part_path : "";
	if (!*s)
		return root;
	while (*s) {
		unsigned long n = 0;
		size_t digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 9) {
			n = n * 10 + (unsigned long)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || n == 0 || (*s && *s != '.') || (*s == '.' && !s[1]))
			return NULL;
		if (*s == '.')
			s++;
		const struct mime_part *container;
		if (!cur)
			container = root;
		else if (is_message(cur))
			container = cur->first_child; /* numbers go to the encapsulated message */
		else if (strcmp(cur->type, "multipart") == 0)
			container = cur;
		else
			container = NULL; /* a leaf has no sub-parts */
		cur = container ? part_child(container, n, empty) : NULL;
		if (!cur)
			return NULL;
	}
	return cur;
}

int mime_section(const uint8_t *raw, const struct mime_part *root, const char *part_path,
                 const char *kind, size_t *start, size_t *end)
{
	(void)raw;
	struct mime_part empty;
	bool numbered = part_path && *part_path;
	const struct mime_part *p = mime_part_find(root, part_path, &empty);
	if (!p)
		return MR_ENOTFOUND;
	const char *k = kind ? kind : "";
	if (*k == 0) {
		*start = numbered ? p->body_start : p->hdr_start;
		*end = p->body_end;
		return 0;
	}
	if (mr_strcasecmp(k, "MIME") == 0) {
		if (!numbered)
			return MR_ENOTFOUND;
		*start = p->hdr_start;
		*end = p->hdr_end;
		return 0;
	}
	/* HEADER / TEXT: of the top message, or of a message/rfc822 part's message */
	const struct mime_part *m = p;
	if (numbered) {
		if (!is_message(p) || !p->first_child)
			return MR_ENOTFOUND;
		m = p->first_child;
	}
	if (mr_strcasecmp(k, "HEADER") == 0) {
		*start = m->hdr_start;
		*end = m->hdr_end;
		return 0;
	}
	if (mr_strcasecmp(k, "TEXT") == 0) {
		*start = m->body_start;
		*end = m->body_end;
		return 0;
	}
	return MR_ENOTFOUND;
}

/* mime_addr.c - RFC 5322 §3.4 address lists turned into IMAP ENVELOPE address structures
 * (RFC 3501 §7.4.2): (name adl mailbox host), groups as (NIL NIL "group" NIL) members
 * (NIL NIL NIL NIL), and mime_envelope itself. The header text is tokenized (atoms, quoted
 * strings, comments with counted nesting, domain literals, specials) and then walked flatly;
 * nothing recurses and broken lists degrade to best-effort addresses instead of failing.
 * Display names stay raw (encoded words included): IMAP clients decode them.
 */
#include "mime_int.h"
#include "common/err.h"
#include <stdlib.h>
#include <string.h>

enum { T_ATOM = 256, T_QUOTED, T_COMMENT, T_DOMLIT };

struct tok {
	int type;        /* T_* or the special character itself */
	size_t off, len; /* text in the scratch buffer (unescaped for quoted/comment) */
};

struct toks {
	struct tok *t;
	size_t n, cap;
	struct buf text;
};

static void tok_add(struct toks *ts, int type, const char *s, size_t len)
{
	if (ts->n == ts->cap) {
		ts->cap = ts->cap ? ts->cap * 2 : 32;
		ts->t = xrealloc(ts->t, ts->cap * sizeof(*ts->t));
	}
	ts->t[ts->n++] = (struct tok){type, ts->text.len, len};
	(void)buf_append(&ts->text, s, len);
}

static bool is_special(char c)
{
	return strchr("()<>[]:;@,.\"", c) != NULL;
}

/* Quoted string / comment body with backslash escapes removed; i is past the opener. */
static size_t scan_delim(const char *s, size_t i, size_t n, bool comment, struct buf *t)
{
	size_t depth = 1;
	for (; i < n; i++) {
		char c = s[i];
		if (c == '\\' && i + 1 < n) {
			(void)buf_append(t, s + ++i, 1);
			continue;
		}
		if (c == '\r' || c == '\n')
			continue;
		if (!comment && c == '"')
			return i + 1;
		if (comment && c == '(')
			depth++;
		if (comment && c == ')' && --depth == 0)
			return i + 1;
		(void)buf_append(t, &c, 1);
	}
	return n;
}

static void tokenize(const char *s, size_t n, struct toks *ts)
{
	size_t i = 0;
	while (i < n) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ')') {
			i++;
		} else if (c == '"' || c == '(') {
			size_t start = ts->text.len;
			i = scan_delim(s, i + 1, n, c == '(', &ts->text);
			tok_add(ts, c == '"' ? T_QUOTED : T_COMMENT, NULL, 0);
			ts->t[ts->n - 1].off = start;
			ts->t[ts->n - 1].len = ts->text.len - start;
		} else if (c == '[') {
			size_t j = i + 1;
			while (j < n && s[j] != ']')
				j++;
			j = j < n ? j + 1 : n;
			tok_add(ts, T_DOMLIT, s + i, j - i);
			i = j;
		} else if (is_special(c)) {
			tok_add(ts, (unsigned char)c, s + i, 1);
			i++;
		} else {
			size_t j = i;
			while (j < n && !is_special(s[j]) && s[j] != ' ' && s[j] != '\t' &&
			       s[j] != '\r' && s[j] != '\n')
				j++;
			tok_add(ts, T_ATOM, s + i, j - i);
			i = j;
		}
	}
}

static const char *tt(const struct toks *ts, size_t i)
{
	return (const char *)ts->text.p + ts->t[i].off;
}

/* RFC 5322 §3.2.5 phrase: words joined by one space; '.' (obs-phrase) sticks to the left. */
static void phrase(const struct toks *ts, size_t a, size_t b, struct buf *out)
{
	bool glue = true;
	for (size_t i = a; i < b; i++) {
		int ty = ts->t[i].type;
		if (ty == T_COMMENT || ty == '<' || ty == '>')
			continue;
		if (ty == T_ATOM || ty == T_QUOTED || ty == T_DOMLIT) {
			if (!glue && out->len)
				(void)buf_append(out, " ", 1);
			glue = false;
		} else {
			glue = ty == '@';
		}
		(void)buf_append(out, tt(ts, i), ts->t[i].len);
	}
}

static bool atext_only(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_special(s[i]) || s[i] == ' ' || s[i] == '\t' || s[i] == '\\' ||
		    (unsigned char)s[i] < 32)
			return false;
	return n > 0;
}

/* addr-spec = local-part "@" domain (§3.4.1); CFWS between pieces is dropped. */
static void addr_spec(const struct toks *ts, size_t a, size_t b, struct buf *local,
                      struct buf *domain, bool *has_at)
{
	*has_at = false;
	for (size_t i = a; i < b; i++) {
		int ty = ts->t[i].type;
		if (ty == T_COMMENT)
			continue;
		if (ty == '@' && !*has_at) {
			*has_at = true;
			continue;
		}
		struct buf *o = *has_at ? domain : local;
		if (ty == T_QUOTED && !atext_only(tt(ts, i), ts->t[i].len)) {
			(void)buf_append(o, "\"", 1);
			for (size_t k = 0; k < ts->t[i].len; k++) {
				char c = tt(ts, i)[k];
				if (c == '"' || c == '\\')
					(void)buf_append(o, "\\", 1);
				(void)buf_append(o, &c, 1);
			}
			(void)buf_append(o, "\"", 1);
		} else if (ty != '<' && ty != '>') {
			(void)buf_append(o, tt(ts, i), ts->t[i].len);
		}
	}
}

static void put_addr(struct buf *out, const struct buf *name, const struct buf *adl,
                     const char *mbox, size_t mlen, const char *host, size_t hlen)
{
	(void)buf_append(out, "(", 1);
	(void)mime__imap_nstring(out, name && name->len ? (const char *)name->p : NULL,
	                         name ? name->len : 0);
	(void)buf_append(out, " ", 1);
	(void)mime__imap_nstring(out, adl && adl->len ? (const char *)adl->p : NULL,
	                         adl ? adl->len : 0);
	(void)buf_append(out, " ", 1);
	(void)mime__imap_nstring(out, mbox, mlen);
	(void)buf_append(out, " ", 1);
	(void)mime__imap_nstring(out, host, hlen);
	(void)buf_append(out, ")", 1);
}

/* One mailbox from tokens [a, b): name-addr or addr-spec. Returns false if empty. */
static bool mailbox(const struct toks *ts, size_t a, size_t b, struct buf *out)
{
	size_t k = a;
	bool any = false;
	while (k < b && ts->t[k].type != '<') {
		any |= ts->t[k].type != T_COMMENT;
		k++;
	}
	struct buf name, adl, local, domain;
	buf_init(&name, 0);
	buf_init(&adl, 0);
	buf_init(&local, 0);
	buf_init(&domain, 0);
	bool has_at;
	if (k < b) {
		/* name-addr = [display-name] "<" [obs-route] addr-spec ">" (§3.4, §4.4) */
		phrase(ts, a, k, &name);
		size_t m = k + 1, s = k + 1;
		while (m < b && ts->t[m].type != '>')
			m++;
		if (s < m && ts->t[s].type == '@') {
			size_t c = s;
			while (c < m && ts->t[c].type != ':')
				c++;
			if (c < m) {
				for (size_t i = s; i < c; i++)
					if (ts->t[i].type != T_COMMENT)
						(void)buf_append(&adl, tt(ts, i), ts->t[i].len);
				s = c + 1;
			}
		}
		addr_spec(ts, s, m, &local, &domain, &has_at);
		any = true;
	} else if (any) {
		addr_spec(ts, a, b, &local, &domain, &has_at);
		/* "user@host (Real Name)": the comment is the only name there is; with several,
		 * the last one, where RFC 822 §A.1.4 puts the name (Dovecot does the same) */
		for (size_t i = b; i-- > a;)
			if (ts->t[i].type == T_COMMENT) {
				const char *c = tt(ts, i);
				size_t l = ts->t[i].len;
				while (l && (*c == ' ' || *c == '\t'))
					c++, l--;
				while (l && (c[l - 1] == ' ' || c[l - 1] == '\t'))
					l--;
				(void)buf_append(&name, c, l);
				break;
			}
	}
	if (any) /* host never NIL: NIL host means a group (RFC 3501 §7.4.2) */
		put_addr(out, &name, &adl, local.len ? (const char *)local.p : "", local.len,
		         domain.len ? (const char *)domain.p : "", domain.len);
	buf_free(&name);
	buf_free(&adl);
	buf_free(&local);
	buf_free(&domain);
	return any;
}

/* Append an address list (or NIL when it has no address) for header value s[0,n). */
static void addr_list(const char *s, size_t n, struct buf *out)
{
	struct toks ts = {0};
	buf_init(&ts.text, 0);
	tokenize(s, n, &ts);
	struct buf l;
	buf_init(&l, 0);
	size_t count = 0, i = 0;
	bool in_group = false;
	while (i < ts.n) {
		size_t j = i, angle = 0;
		for (; j < ts.n; j++) {
			int ty = ts.t[j].type;
			if (ty == '<')
				angle++;
			else if (ty == '>' && angle)
				angle--;
			else if (!angle && (ty == ',' || ty == ';' || (ty == ':' && !in_group)))
				break;
		}
		int term = j < ts.n ? ts.t[j].type : 0;
		if (term == ':') {
			/* group = display-name ":" [group-list] ";" (§3.4) */
			struct buf name;
			buf_init(&name, 0);
			phrase(&ts, i, j, &name);
			put_addr(&l, NULL, NULL, (const char *)name.p ? (const char *)name.p : "",
			         name.len, NULL, 0);
			buf_free(&name);
			in_group = true;
			count++;
		} else {
			count += mailbox(&ts, i, j, &l);
			if (term == ';' && in_group) {
				put_addr(&l, NULL, NULL, NULL, 0, NULL, 0);
				in_group = false;
			}
		}
		i = j + 1;
	}
	if (in_group)
		put_addr(&l, NULL, NULL, NULL, 0, NULL, 0);
	if (count) {
		(void)buf_append(out, "(", 1);
		(void)buf_append(out, l.p, l.len);
		(void)buf_append(out, ")", 1);
	} else {
		(void)buf_append(out, "NIL", 3);
	}
	buf_free(&l);
	buf_free(&ts.text);
	free(ts.t);
}

enum env_field {
	E_DATE,
	E_SUBJECT,
	E_FROM,
	E_SENDER,
	E_REPLY_TO,
	E_TO,
	E_CC,
	E_BCC,
	E_IN_REPLY_TO,
	E_MESSAGE_ID,
	E_N
};

static const char *const env_names[E_N] = {"date", "subject", "from", "sender",      "reply-to",
                                           "to",   "cc",      "bcc",  "in-reply-to", "message-id"};

int mime__envelope_hdr(const uint8_t *raw, size_t start, size_t end, struct buf *out)
{
	struct buf v[E_N];
	bool have[E_N] = {0};
	for (int k = 0; k < E_N; k++)
		buf_init(&v[k], 0);
	struct mime__field f;
	size_t pos = start;
	while (mime__field_next(raw, &pos, end, &f) == 1) {
		for (int k = 0; k < E_N; k++)
			if (!have[k] && mime__field_is(&f, env_names[k])) {
				have[k] = true; /* the first occurrence wins */
				(void)mime__field_value(&f, &v[k]);
			}
	}
	/* RFC 3501 §7.4.2: sender and reply-to default to from when absent */
	struct buf res;
	buf_init(&res, 0);
	(void)buf_append(&res, "(", 1);
	for (int k = 0; k < E_N; k++) {
		if (k)
			(void)buf_append(&res, " ", 1);
		int src = k;
		if ((k == E_SENDER || k == E_REPLY_TO)) {
			struct buf probe;
			buf_init(&probe, 0);
			if (have[k])
				addr_list((const char *)v[k].p, v[k].len, &probe);
			if (!have[k] || strcmp((const char *)probe.p, "NIL") == 0)
				src = E_FROM;
			buf_free(&probe);
		}
		if (k >= E_FROM && k <= E_BCC) {
			if (have[src])
				addr_list((const char *)v[src].p, v[src].len, &res);
			else
				(void)buf_append(&res, "NIL", 3);
		} else {
			const char *s = v[k].p ? (const char *)v[k].p : "";
			(void)mime__imap_nstring(&res, have[k] ? s : NULL, v[k].len);
		}
	}
	(void)buf_append(&res, ")", 1);
	int rv = buf_append(out, res.p, res.len);
	buf_free(&res);
	for (int k = 0; k < E_N; k++)
		buf_free(&v[k]);
	return rv;
}

int mime_envelope(const uint8_t *raw, const struct mime_part *part, struct buf *out)
{
	return mime__envelope_hdr(raw, part->hdr_start, part->hdr_end, out);
}

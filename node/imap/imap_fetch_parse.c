/* imap_fetch_parse.c - RFC 3501 §6.4.5 / §9 fetch-att grammar: macros ALL/FAST/FULL, simple
 * items, and section specs "BODY[.PEEK][<part>.<text>]<origin.count>" parsed out of one
 * bracketed atom. Bounded: at most IMAP_FETCH_MAX_ITEMS items and IMAP_FETCH_MAX_FIELDS header
 * names per item. Pure codec; also the header-field filter. */
#include "imap_fetch.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct imap_fitem *add(struct imap_fetch *f, enum imap_fitem_kind k, const char *label)
{
	if (f->n >= IMAP_FETCH_MAX_ITEMS)
		return NULL;
	for (size_t i = 0; i < f->n; i++) /* simple items once */
		if (k != FI_SECTION && k != FI_BINARY && k != FI_BINARY_SIZE &&
		    f->items[i].kind == k)
			return &f->items[i];
	struct imap_fitem *it = &f->items[f->n++];
	memset(it, 0, sizeof *it);
	it->kind = k;
	snprintf(it->label, sizeof it->label, "%s", label);
	if (k == FI_BODY || k == FI_SECTION)
		f->needs_raw = true;
	return it;
}

static bool is_hdr_name_char(char c)
{
	return c > ' ' && c < 0x7f && c != ':' && c != '(' && c != ')';
}

/* "(From To)" into it->fields. p points at '('; returns the pointer after ')' or NULL. */
static const char *parse_fields(const char *p, const char *end, struct imap_fitem *it)
{
	if (p >= end || *p != '(')
		return NULL;
	p++;
	it->fields = xcalloc(IMAP_FETCH_MAX_FIELDS, sizeof *it->fields);
	for (;;) {
		while (p < end && *p == ' ')
			p++;
		if (p < end && *p == ')')
			break;
		const char *s = p;
		bool quoted = p < end && *p == '"';
		if (quoted)
			s = ++p;
		while (p < end && is_hdr_name_char(*p) && *p != '"')
			p++;
		if (p == s || it->nfields >= IMAP_FETCH_MAX_FIELDS)
			return NULL;
		it->fields[it->nfields] = xstrndup(s, (size_t)(p - s));
		mr_lower(it->fields[it->nfields]);
		it->nfields++;
		if (quoted) {
			if (p >= end || *p != '"')
				return NULL;
			p++;
		}
		if (p < end && *p != ' ' && *p != ')')
			return NULL;
	}
	return it->nfields ? p + 1 : NULL;
}

/* The section spec between '[' and ']'. */
static int parse_section(const char *p, const char *end, struct imap_fitem *it)
{
	size_t pl = 0;
	/* section-part: nz-number *("." nz-number) */
	while (p < end && *p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9') {
			if (pl + 2 >= sizeof it->path)
				return MR_EINVAL;
			it->path[pl++] = *p++;
		}
		if (p < end && *p == '.') {
			p++;
			if (p < end && *p >= '1' && *p <= '9') {
				it->path[pl++] = '.';
				continue;
			}
			if (p >= end || (*p >= '0' && *p <= '9'))
				return MR_EINVAL;
			break; /* followed by section-text */
		}
		if (p != end)
			return MR_EINVAL;
	}
	it->path[pl] = 0;
	if (p == end)
		return 0;
	static const char *const texts[] = {"HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT",
					    "MIME"};
	for (size_t i = 0; i < MR_ARRAY_LEN(texts); i++) {
		size_t tl = strlen(texts[i]);
		if ((size_t)(end - p) < tl || mr_strncasecmp(p, texts[i], tl) != 0)
			continue;
		const char *q = p + tl;
		if (i < 2) {
			if (q >= end || *q != ' ')
				continue;
			q = parse_fields(q + 1, end, it);
			if (!q || q != end)
				return MR_EINVAL;
		} else if (q != end) {
			continue;
		}
		if (i == 4 && pl == 0) /* MIME needs a part number */
			return MR_EINVAL;
		snprintf(it->spec, sizeof it->spec, "%s", texts[i]);
		return 0;
	}
	return MR_EINVAL;
}

static void make_label(struct imap_fitem *it)
{
	char sec[400] = "";
	size_t n = (size_t)snprintf(sec, sizeof sec, "%s%s%s", it->path,
				    it->path[0] && it->spec[0] ? "." : "", it->spec);
	if (it->nfields) {
		n += (size_t)snprintf(sec + n, sizeof sec - n, " (");
		for (size_t i = 0; i < it->nfields && n < sizeof sec; i++)
			n += (size_t)snprintf(sec + n, sizeof sec - n, "%s%s", i ? " " : "",
					      it->fields[i]);
		if (n < sizeof sec)
			snprintf(sec + n, sizeof sec - n, ")");
	}
	for (char *c = sec; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 32);
	if (it->partial)
		snprintf(it->label, sizeof it->label, "BODY[%s]<%u>", sec, it->origin);
	else
		snprintf(it->label, sizeof it->label, "BODY[%s]", sec);
}

/* "<" number "." nz-number ">" at [p, end) (RFC 3501 §9 partial). */
static int parse_partial(const char *p, const char *end, struct imap_fitem *it)
{
	if (p == end)
		return 0;
	const char *dot = memchr(p, '.', (size_t)(end - p));
	uint64_t o, c;
	if (*p != '<' || end[-1] != '>' || !dot ||
	    mr_parse_u64(p + 1, (size_t)(dot - p - 1), UINT32_MAX, &o) < 0 ||
	    mr_parse_u64(dot + 1, (size_t)(end - dot - 2), UINT32_MAX, &c) < 0 || c == 0)
		return MR_EINVAL;
	it->partial = true;
	it->origin = (uint32_t)o;
	it->count = (uint32_t)c;
	return 0;
}

/* RFC 3516 §7: "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary,
 * section-binary = "[" [section-part] "]". */
static int parse_binary(struct imap_fetch *f, const char *s, size_t len)
{
	static const struct {
		const char *pre;
		bool peek, size;
	} forms[] = {{"BINARY[", false, false}, {"BINARY.PEEK[", true, false},
		     {"BINARY.SIZE[", true, true}};
	for (size_t i = 0; i < MR_ARRAY_LEN(forms); i++) {
		size_t pl = strlen(forms[i].pre);
		if (len <= pl || mr_strncasecmp(s, forms[i].pre, pl) != 0)
			continue;
		const char *end = s + len, *close = memchr(s + pl, ']', len - pl);
		struct imap_fitem *it;
		if (!close || !(it = add(f, forms[i].size ? FI_BINARY_SIZE : FI_BINARY, "")))
			return MR_EINVAL;
		f->needs_raw = true;
		it->peek = forms[i].peek;
		if (!it->peek)
			f->sets_seen = true;
		if (parse_section(s + pl, close, it) < 0 || it->spec[0] ||
		    (forms[i].size ? close + 1 != end : parse_partial(close + 1, end, it) < 0))
			return MR_EINVAL;
		char path[sizeof it->path]; /* a copy: gcc -Wrestrict sees label and path in one object */
		memcpy(path, it->path, sizeof path);
		if (it->partial)
			snprintf(it->label, sizeof it->label, "BINARY[%s]<%u>", path, it->origin);
		else
			snprintf(it->label, sizeof it->label, "%s[%s]",
				 forms[i].size ? "BINARY.SIZE" : "BINARY", path);
		return 0;
	}
	return MR_EINVAL;
}

static int parse_item(struct imap_fetch *f, const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum imap_fitem_kind kind;
	} simple[] = {
		{"FLAGS", FI_FLAGS},
		{"UID", FI_UID},
		{"RFC822.SIZE", FI_SIZE},
		{"INTERNALDATE", FI_INTERNALDATE},
		{"ENVELOPE", FI_ENVELOPE},
		{"BODYSTRUCTURE", FI_BODYSTRUCTURE},
		{"BODY", FI_BODY},
		{"MODSEQ", FI_MODSEQ},
		{"SAVEDATE", FI_SAVEDATE},
		{"EMAILID", FI_EMAILID},
		{"THREADID", FI_THREADID},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(simple); i++)
		if (strlen(simple[i].name) == len && mr_strncasecmp(s, simple[i].name, len) == 0)
			return add(f, simple[i].kind, simple[i].name) ? 0 : MR_EINVAL;
	struct imap_fitem *it;
	if (len == 6 && mr_strncasecmp(s, "RFC822", 6) == 0) {
		if (!(it = add(f, FI_SECTION, "RFC822")))
			return MR_EINVAL;
		f->sets_seen = true;
		return 0;
	}
	if (len == 13 && mr_strncasecmp(s, "RFC822.HEADER", 13) == 0) {
		if (!(it = add(f, FI_SECTION, "RFC822.HEADER")))
			return MR_EINVAL;
		it->peek = true;
		snprintf(it->spec, sizeof it->spec, "HEADER");
		return 0;
	}
	if (len == 11 && mr_strncasecmp(s, "RFC822.TEXT", 11) == 0) {
		if (!(it = add(f, FI_SECTION, "RFC822.TEXT")))
			return MR_EINVAL;
		snprintf(it->spec, sizeof it->spec, "TEXT");
		f->sets_seen = true;
		return 0;
	}
	if (len > 7 && mr_strncasecmp(s, "BINARY", 6) == 0)
		return parse_binary(f, s, len);
	bool peek;
	size_t pre;
	if (len > 5 && mr_strncasecmp(s, "BODY[", 5) == 0) {
		peek = false;
		pre = 5;
	} else if (len > 10 && mr_strncasecmp(s, "BODY.PEEK[", 10) == 0) {
		peek = true;
		pre = 10;
	} else {
		return MR_EINVAL;
	}
	const char *end = s + len, *close = memchr(s + pre, ']', len - pre);
	if (!close || !(it = add(f, FI_SECTION, "")))
		return MR_EINVAL;
	it->peek = peek;
	if (!peek)
		f->sets_seen = true;
	if (parse_section(s + pre, close, it) < 0)
		return MR_EINVAL;
	if (parse_partial(close + 1, end, it) < 0)
		return MR_EINVAL;
	make_label(it);
	return 0;
}

static int parse_macro(struct imap_fetch *f, const char *s)
{
	/* RFC 3501 §6.4.5 macros */
	static const char *const fast[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE"};
	int n = mr_strcasecmp(s, "FAST") == 0 ? 3
		: mr_strcasecmp(s, "ALL") == 0 ? 4
		: mr_strcasecmp(s, "FULL") == 0 ? 5
						 : 0;
	if (!n)
		return 0;
	for (int i = 0; i < 3; i++)
		parse_item(f, fast[i], strlen(fast[i]));
	if (n >= 4)
		parse_item(f, "ENVELOPE", 8);
	if (n == 5)
		parse_item(f, "BODY", 4);
	return 1;
}

int imap_fetch_parse(const struct imap_arg *args, size_t i, bool uid, struct imap_fetch *f,
		     const char **err_r)
{
	memset(f, 0, sizeof *f);
	if (uid)
		add(f, FI_UID, "UID");
	const struct imap_arg *a = &args[i];
	if (a->type == IMAP_ARG_ATOM) {
		if (parse_macro(f, a->str))
			return 0;
		if (parse_item(f, a->str, a->len) < 0)
			goto err;
		return 0;
	}
	if (a->type != IMAP_ARG_LIST || a->nchildren == 0)
		goto err;
	for (size_t k = i + 1; k < a->end; k++) {
		if (args[k].type != IMAP_ARG_ATOM || parse_item(f, args[k].str, args[k].len) < 0)
			goto err;
	}
	return 0;
err:
	*err_r = "Invalid FETCH items";
	imap_fetch_free(f);
	return MR_EINVAL;
}

int imap_fetch_parse_modifiers(const struct imap_arg *args, size_t i, struct imap_fetch *f)
{
	const struct imap_arg *l = &args[i];
	uint64_t v;
	if (l->type != IMAP_ARG_LIST || l->nchildren == 0)
		return MR_EINVAL;
	for (size_t k = i + 1; k < l->end; k++) {
		if (imap_arg_atom_is(&args[k], "VANISHED") && !f->vanished) {
			f->vanished = true;
		} else if (imap_arg_atom_is(&args[k], "CHANGEDSINCE") && !f->changedsince &&
			   k + 1 < l->end && args[k + 1].type == IMAP_ARG_ATOM &&
			   mr_parse_u64(args[k + 1].str, args[k + 1].len, INT64_MAX, &v) == 0 &&
			   v != 0) {
			f->changedsince = true;
			f->since = v;
			k++;
		} else {
			return MR_EINVAL;
		}
	}
	if (!f->changedsince) /* §3.2.6: VANISHED only together with CHANGEDSINCE */
		return MR_EINVAL;
	if (!add(f, FI_MODSEQ, "MODSEQ")) /* CHANGEDSINCE implies MODSEQ */
		return MR_EINVAL;
	return 0;
}

void imap_fetch_free(struct imap_fetch *f)
{
	for (size_t i = 0; i < f->n; i++) {
		for (size_t k = 0; k < f->items[i].nfields; k++)
			free(f->items[i].fields[k]);
		free(f->items[i].fields);
		f->items[i].fields = NULL;
		f->items[i].nfields = 0;
	}
	f->n = 0;
}

void imap_fetch_filter_headers(const uint8_t *hdr, size_t len, char *const *fields,
			       size_t nfields, bool not, struct buf *out)
{
	size_t i = 0;
	bool keep = false;
	while (i < len) {
		const uint8_t *nl = memchr(hdr + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - hdr) + 1 : len;
		size_t ll = e - i;
		if (ll <= 2 && (hdr[i] == '\r' || hdr[i] == '\n'))
			break; /* the blank line ending the header */
		if (hdr[i] != ' ' && hdr[i] != '\t') {
			const uint8_t *colon = memchr(hdr + i, ':', ll);
			size_t nlen = colon ? (size_t)(colon - hdr) - i : 0;
			while (nlen > 0 && (hdr[i + nlen - 1] == ' ' || hdr[i + nlen - 1] == '\t'))
				nlen--;
			bool listed = false;
			for (size_t k = 0; k < nfields && nlen; k++)
				if (strlen(fields[k]) == nlen &&
				    mr_strncasecmp((const char *)hdr + i, fields[k], nlen) == 0)
					listed = true;
			keep = nlen > 0 && listed != not;
		}
		if (keep)
			buf_append(out, hdr + i, ll);
		i = e;
	}
	buf_append(out, "\r\n", 2);
}

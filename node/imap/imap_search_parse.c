/* imap_search_parse.c - RFC 3501 §6.4.4 search-key grammar to a key tree. A table maps each
 * key name to its kind and argument shape (none / astring / two astrings / date / number /
 * flag). Recursion (NOT, OR, parenthesised groups) is bounded by IMAP_SEARCH_MAX_DEPTH and the
 * total key count by IMAP_SEARCH_MAX_KEYS. Pure: no storage, no sockets. */
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

enum argshape {
	A_NONE,
	A_STR,
	A_HDR,
	A_DATE,
	A_NUM,
	A_FLAG,
	A_KEYWORD,
	A_SET,
	A_NOT,
	A_OR,
	A_MODSEQ,
	A_OBJID,
};

struct skey_def {
	const char *name;
	enum imap_skey kind;
	enum argshape shape;
	const char *flag; /* A_FLAG: the system flag */
	bool neg;
	const char *header; /* FROM/TO/...: the field */
};

static const struct skey_def skeys[] = {
	{"ALL", SK_ALL, A_NONE, NULL, false, NULL},
	{"ANSWERED", SK_FLAG, A_FLAG, "\\Answered", false, NULL},
	{"UNANSWERED", SK_FLAG, A_FLAG, "\\Answered", true, NULL},
	{"DELETED", SK_FLAG, A_FLAG, "\\Deleted", false, NULL},
	{"UNDELETED", SK_FLAG, A_FLAG, "\\Deleted", true, NULL},
	{"DRAFT", SK_FLAG, A_FLAG, "\\Draft", false, NULL},
	{"UNDRAFT", SK_FLAG, A_FLAG, "\\Draft", true, NULL},
	{"FLAGGED", SK_FLAG, A_FLAG, "\\Flagged", false, NULL},
	{"UNFLAGGED", SK_FLAG, A_FLAG, "\\Flagged", true, NULL},
	{"SEEN", SK_FLAG, A_FLAG, "\\Seen", false, NULL},
	{"UNSEEN", SK_FLAG, A_FLAG, "\\Seen", true, NULL},
	{"KEYWORD", SK_FLAG, A_KEYWORD, NULL, false, NULL},
	{"UNKEYWORD", SK_FLAG, A_KEYWORD, NULL, true, NULL},
	{"NEW", SK_NONE, A_NONE, NULL, false, NULL}, /* RECENT UNSEEN; no \Recent here */
	{"RECENT", SK_NONE, A_NONE, NULL, false, NULL},
	{"OLD", SK_ALL, A_NONE, NULL, false, NULL},
	{"FROM", SK_HEADER, A_STR, NULL, false, "From"},
	{"TO", SK_HEADER, A_STR, NULL, false, "To"},
	{"CC", SK_HEADER, A_STR, NULL, false, "Cc"},
	{"BCC", SK_HEADER, A_STR, NULL, false, "Bcc"},
	{"SUBJECT", SK_HEADER, A_STR, NULL, false, "Subject"},
	{"HEADER", SK_HEADER, A_HDR, NULL, false, NULL},
	{"BODY", SK_BODY, A_STR, NULL, false, NULL},
	{"TEXT", SK_TEXT, A_STR, NULL, false, NULL},
	{"BEFORE", SK_BEFORE, A_DATE, NULL, false, NULL},
	{"ON", SK_ON, A_DATE, NULL, false, NULL},
	{"SINCE", SK_SINCE, A_DATE, NULL, false, NULL},
	{"SENTBEFORE", SK_SENTBEFORE, A_DATE, NULL, false, NULL},
	{"SENTON", SK_SENTON, A_DATE, NULL, false, NULL},
	{"SENTSINCE", SK_SENTSINCE, A_DATE, NULL, false, NULL},
	{"LARGER", SK_LARGER, A_NUM, NULL, false, NULL},
	{"SMALLER", SK_SMALLER, A_NUM, NULL, false, NULL},
	{"UID", SK_UIDSET, A_SET, NULL, false, NULL},
	{"NOT", SK_NOT, A_NOT, NULL, false, NULL},
	{"OR", SK_OR, A_OR, NULL, false, NULL},
	{"MODSEQ", SK_MODSEQ, A_MODSEQ, NULL, false, NULL},
	{"SAVEDBEFORE", SK_SAVEDBEFORE, A_DATE, NULL, false, NULL},
	{"SAVEDON", SK_SAVEDON, A_DATE, NULL, false, NULL},
	{"SAVEDSINCE", SK_SAVEDSINCE, A_DATE, NULL, false, NULL},
	{"SAVEDATESUPPORTED", SK_SAVEDATESUPPORTED, A_NONE, NULL, false, NULL},
	{"EMAILID", SK_EMAILID, A_OBJID, NULL, false, NULL},
	{"THREADID", SK_THREADID, A_OBJID, NULL, false, NULL},
};

struct sp {
	const struct imap_arg *a;
	size_t i, n; /* cursor and end within a */
	size_t nkeys;
	const char *err;
};

static struct imap_search_key *key_new(enum imap_skey kind)
{
	struct imap_search_key *k = xmalloc(sizeof *k);
	k->kind = kind;
	return k;
}

void imap_search_free(struct imap_search_key **kp)
{
	/* iterative over siblings, recursive over children (depth is bounded by the parser) */
	struct imap_search_key *k = *kp;
	while (k) {
		struct imap_search_key *next = k->next;
		imap_search_free(&k->child);
		free(k->str);
		free(k->str2);
		imap_seqset_free(&k->set);
		free(k);
		k = next;
	}
	*kp = NULL;
}

static const struct imap_arg *take_astring(struct sp *p)
{
	if (p->i >= p->n || !imap_arg_is_astring(&p->a[p->i])) {
		p->err = "missing argument";
		return NULL;
	}
	return &p->a[p->i++];
}

static int parse_one(struct sp *p, unsigned depth, struct imap_search_key **k_r);

/* Keys up to the end of the current list level, ANDed into parent->child. */
static int parse_seq(struct sp *p, unsigned depth, struct imap_search_key *parent)
{
	struct imap_search_key **tail = &parent->child;
	while (p->i < p->n) {
		int rv = parse_one(p, depth, tail);
		if (rv < 0)
			return rv;
		tail = &(*tail)->next;
	}
	if (!parent->child) {
		p->err = "empty search key list";
		return MR_EINVAL;
	}
	return 0;
}

static int parse_one(struct sp *p, unsigned depth, struct imap_search_key **k_r)
{
	int rv;
	if (depth > IMAP_SEARCH_MAX_DEPTH || ++p->nkeys > IMAP_SEARCH_MAX_KEYS) {
		p->err = "search too complex";
		return MR_EINVAL;
	}
	if (p->i >= p->n) {
		p->err = "missing search key";
		return MR_EINVAL;
	}
	const struct imap_arg *a = &p->a[p->i];
	if (a->type == IMAP_ARG_LIST) {
		struct imap_search_key *k = key_new(SK_AND);
		*k_r = k;
		struct sp sub = {p->a, p->i + 1, a->end, p->nkeys, NULL};
		rv = parse_seq(&sub, depth + 1, k);
		p->nkeys = sub.nkeys;
		p->err = sub.err;
		p->i = a->end;
		return rv;
	}
	if (a->type != IMAP_ARG_ATOM) {
		p->err = "invalid search key";
		return MR_EINVAL;
	}
	p->i++;
	if (a->len == 1 && a->str[0] == '$') { /* RFC 5182 §2.1 */
		*k_r = key_new(SK_SAVED);
		return 0;
	}
	if ((a->str[0] >= '0' && a->str[0] <= '9') || a->str[0] == '*') {
		struct imap_search_key *k = key_new(SK_SEQSET);
		*k_r = k;
		if (imap_seqset_parse(a->str, a->len, &k->set) < 0) {
			p->err = "invalid sequence set";
			return MR_EINVAL;
		}
		return 0;
	}
	const struct skey_def *d = NULL;
	for (size_t j = 0; j < MR_ARRAY_LEN(skeys); j++)
		if (mr_strcasecmp(a->str, skeys[j].name) == 0)
			d = &skeys[j];
	if (!d) {
		p->err = "unknown search key";
		return MR_EINVAL;
	}
	struct imap_search_key *k = key_new(d->kind);
	*k_r = k;
	k->neg = d->neg;
	const struct imap_arg *v, *w;
	uint64_t num;
	switch (d->shape) {
	case A_NONE:
		return 0;
	case A_FLAG:
		k->str = xstrdup(d->flag);
		return 0;
	case A_KEYWORD:
		if (!(v = take_astring(p)) || v->type != IMAP_ARG_ATOM) {
			p->err = "invalid keyword";
			return MR_EINVAL;
		}
		k->str = xstrdup(v->str);
		return 0;
	case A_STR:
		if (!(v = take_astring(p)))
			return MR_EINVAL;
		k->str = xstrdup(d->header ? d->header : "");
		k->str2 = xstrndup(v->str, v->len);
		return 0;
	case A_HDR:
		if (!(v = take_astring(p)) || !(w = take_astring(p)))
			return MR_EINVAL;
		k->str = xstrndup(v->str, v->len);
		k->str2 = xstrndup(w->str, w->len);
		return 0;
	case A_DATE:
		if (!(v = take_astring(p)) || imap_parse_date(v->str, v->len, &k->num) < 0) {
			p->err = "invalid date";
			return MR_EINVAL;
		}
		return 0;
	case A_NUM:
		if (!(v = take_astring(p)) || v->type != IMAP_ARG_ATOM ||
		    mr_parse_u64(v->str, v->len, UINT32_MAX, &num) < 0) {
			p->err = "invalid number";
			return MR_EINVAL;
		}
		k->num = (int64_t)num;
		return 0;
	case A_OBJID:
		/* RFC 8474 §4: objectid = 1*255(ALPHA / DIGIT / "_" / "-") */
		if (!(v = take_astring(p)) || v->len == 0 || v->len > 255 ||
		    strspn(v->str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
			v->len) {
			p->err = "invalid object id";
			return MR_EINVAL;
		}
		k->str = xstrndup(v->str, v->len);
		return 0;
	case A_SET:
		if ((v = take_astring(p)) && v->type == IMAP_ARG_ATOM && v->len == 1 &&
		    v->str[0] == '$') {
			k->kind = SK_SAVED; /* "UID $": the saved set is UIDs already */
			return 0;
		}
		if (!v || v->type != IMAP_ARG_ATOM ||
		    imap_seqset_parse(v->str, v->len, &k->set) < 0) {
			p->err = "invalid UID set";
			return MR_EINVAL;
		}
		return 0;
	case A_MODSEQ:
		/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 §3.1.5) */
		if (p->i + 2 < p->n && imap_arg_is_string(&p->a[p->i]) &&
		    p->a[p->i + 1].type == IMAP_ARG_ATOM)
			p->i += 2;
		if (!(v = take_astring(p)) || v->type != IMAP_ARG_ATOM ||
		    mr_parse_u64(v->str, v->len, INT64_MAX, &num) < 0) {
			p->err = "invalid MODSEQ";
			return MR_EINVAL;
		}
		k->num = (int64_t)num;
		return 0;
	case A_NOT:
		return parse_one(p, depth + 1, &k->child);
	case A_OR:
		if ((rv = parse_one(p, depth + 1, &k->child)) < 0)
			return rv;
		return parse_one(p, depth + 1, &k->child->next);
	}
	return MR_EINVAL;
}

static int parse_main(const struct imap_arg *args, size_t start, size_t n, bool charset,
		      struct imap_search_key **key_r, const char **err_r);

/* RFC 4731 §3.1: search-return-opts = SP "RETURN" SP "(" [search-return-opt
 * *(SP search-return-opt)] ")"; RFC 5182 adds SAVE. Returns the index after it. */
static int parse_return(const struct imap_arg *args, size_t n, struct imap_search_opts *o,
			size_t *i_r, const char **err_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {{"MIN", IMAP_SRET_MIN},
		    {"MAX", IMAP_SRET_MAX},
		    {"ALL", IMAP_SRET_ALL},
		    {"COUNT", IMAP_SRET_COUNT},
		    {"SAVE", IMAP_SRET_SAVE}};
	if (n < 2 || args[1].type != IMAP_ARG_LIST) {
		*err_r = "RETURN needs a list";
		return MR_EINVAL;
	}
	const struct imap_arg *l = &args[1];
	for (size_t i = 2; i < l->end; i++) {
		unsigned bit = 0;
		for (size_t k = 0; k < MR_ARRAY_LEN(opts); k++)
			if (imap_arg_atom_is(&args[i], opts[k].name))
				bit = opts[k].bit;
		if (!bit) {
			*err_r = "unknown RETURN option";
			return MR_EINVAL;
		}
		o->ret |= bit;
	}
	if (o->ret == 0) /* RFC 4731 §3.1: "RETURN ()" is "RETURN (ALL)" */
		o->ret = IMAP_SRET_ALL;
	o->esearch = true;
	*i_r = l->end;
	return 0;
}

int imap_search_parse_keys(const struct imap_arg *args, size_t start, size_t n,
			   struct imap_search_key **key_r, const char **err_r)
{
	return parse_main(args, start, n, false, key_r, err_r);
}

int imap_search_parse_ex(const struct imap_arg *args, size_t n, struct imap_search_opts *o,
			 struct imap_search_key **key_r, const char **err_r)
{
	*o = (struct imap_search_opts){0};
	size_t start = 0;
	if (n >= 1 && imap_arg_atom_is(&args[0], "RETURN")) {
		int rv = parse_return(args, n, o, &start, err_r);
		if (rv < 0)
			return rv;
	}
	int rv = parse_main(args, start, n, true, key_r, err_r);
	if (rv == 0)
		o->uses_saved = imap_search_uses(*key_r, SK_SAVED);
	return rv;
}

bool imap_search_uses(const struct imap_search_key *k, enum imap_skey kind)
{
	for (; k; k = k->next)
		if (k->kind == kind || imap_search_uses(k->child, kind))
			return true;
	return false;
}

/* Criteria from args[start..n) with an optional leading CHARSET. List end indexes are
 * absolute in args, so the cursor moves instead of the base pointer. */
static int parse_main(const struct imap_arg *args, size_t start, size_t n, bool charset,
		      struct imap_search_key **key_r, const char **err_r)
{
	struct sp p = {args, start, n, 0, NULL};
	if (charset && n >= start + 2 && imap_arg_atom_is(&args[start], "CHARSET")) {
		if (!imap_arg_is_astring(&args[start + 1])) {
			*err_r = "invalid charset";
			return MR_EINVAL;
		}
		if (mr_strcasecmp(args[start + 1].str, "UTF-8") != 0 &&
		    mr_strcasecmp(args[start + 1].str, "US-ASCII") != 0) {
			*err_r = "unsupported charset";
			return MR_ENOTFOUND;
		}
		p.i = start + 2;
	}
	struct imap_search_key *root = key_new(SK_AND);
	int rv = parse_seq(&p, 0, root);
	if (rv < 0) {
		imap_search_free(&root);
		*err_r = p.err ? p.err : "invalid search";
		return rv;
	}
	*key_r = root;
	return 0;
}

int imap_search_parse(const struct imap_arg *args, size_t n, struct imap_search_key **key_r,
		      const char **err_r)
{
	return parse_main(args, 0, n, true, key_r, err_r);
}

bool imap_search_uses_modseq(const struct imap_search_key *k)
{
	for (; k; k = k->next)
		if (k->kind == SK_MODSEQ || imap_search_uses_modseq(k->child))
			return true;
	return false;
}

bool imap_search_needs_text(const struct imap_search_key *k)
{
	for (; k; k = k->next) {
		switch (k->kind) {
		case SK_HEADER:
		case SK_BODY:
		case SK_TEXT:
		case SK_SENTBEFORE:
		case SK_SENTON:
		case SK_SENTSINCE:
			return true;
		default:
			break;
		}
		if (imap_search_needs_text(k->child))
			return true;
	}
	return false;
}

int64_t imap_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* H. Hinnant's days_from_civil */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* RFC 3501 §9: date-text = date-day "-" date-month "-" date-year */
int imap_parse_date(const char *s, size_t len, int64_t *days_r)
{
	size_t i = 0;
	uint64_t day, year;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i > 2 || mr_parse_u64(s, i, 31, &day) < 0 || day == 0)
		return MR_EINVAL;
	if (len < i + 1 + 3 + 1 + 4 || s[i] != '-' || s[i + 4] != '-')
		return MR_EINVAL;
	unsigned m = 0;
	for (unsigned j = 0; j < 12; j++)
		if (mr_strncasecmp(s + i + 1, months[j], 3) == 0)
			m = j + 1;
	if (m == 0 || len != i + 9 || mr_parse_u64(s + i + 5, 4, 9999, &year) < 0)
		return MR_EINVAL;
	*days_r = imap_days_from_civil((int64_t)year, m, (unsigned)day);
	return 0;
}

/* imap_sort.c - RFC 5256 SORT and THREAD without storage (see imap_sort.h): the base-subject
 * algorithm of §2.1, sent dates (§2.2), a stable merge sort by the sort criteria (§3, ties by
 * sequence number), THREAD=ORDEREDSUBJECT (§3.1) and THREAD=REFERENCES (§3.2, the Zawinski
 * algorithm with its six steps: link by Message-ID/References, root set, prune empty
 * containers, sort siblings, group roots by base subject, sort again). Bounded by the number
 * of messages given; recursion depth is bounded by flattening the thread walk into an
 * explicit stack. */
#include "imap_sort.h"
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

#define MAX_REFS 64

/* ---- criteria ----------------------------------------------------------------------------- */
int imap_sort_parse(const struct imap_arg *args, size_t i, struct imap_sort_crit *c)
{
	static const struct {
		const char *name;
		enum imap_sort_key key;
	} keys[] = {{"ARRIVAL", SORT_ARRIVAL},
	            {"CC", SORT_CC},
	            {"DATE", SORT_DATE},
	            {"FROM", SORT_FROM},
	            {"SIZE", SORT_SIZE},
	            {"SUBJECT", SORT_SUBJECT},
	            {"TO", SORT_TO}};
	const struct imap_arg *l = &args[i];
	memset(c, 0, sizeof *c);
	if (l->type != IMAP_ARG_LIST || l->nchildren == 0)
		return MR_EINVAL;
	bool rev = false;
	for (size_t k = i + 1; k < l->end; k++) {
		if (imap_arg_atom_is(&args[k], "REVERSE")) {
			if (rev)
				return MR_EINVAL;
			rev = true;
			continue;
		}
		size_t found = SIZE_MAX;
		for (size_t j = 0; j < MR_ARRAY_LEN(keys); j++)
			if (imap_arg_atom_is(&args[k], keys[j].name))
				found = j;
		if (found == SIZE_MAX || c->n >= IMAP_SORT_MAX_KEYS)
			return MR_EINVAL;
		c->key[c->n] = keys[found].key;
		c->reverse[c->n++] = rev;
		rev = false;
	}
	return rev || c->n == 0 ? MR_EINVAL : 0; /* a trailing REVERSE has no key */
}

/* ---- base subject (RFC 5256 §2.1) --------------------------------------------------------- */
static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP: length at s, or 0. */
static size_t blob_len(const char *s, size_t len)
{
	if (len == 0 || s[0] != '[')
		return 0;
	size_t i = 1;
	while (i < len && s[i] != ']' && s[i] != '[')
		i++;
	if (i >= len || s[i] != ']')
		return 0;
	i++;
	while (i < len && is_wsp(s[i]))
		i++;
	return i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" : length at s, or 0. */
static size_t refwd_len(const char *s, size_t len)
{
	size_t i;
	if (len >= 2 && mr_strncasecmp(s, "re", 2) == 0)
		i = 2;
	else if (len >= 3 && mr_strncasecmp(s, "fwd", 3) == 0)
		i = 3;
	else if (len >= 2 && mr_strncasecmp(s, "fw", 2) == 0)
		i = 2;
	else
		return 0;
	while (i < len && is_wsp(s[i]))
		i++;
	i += blob_len(s + i, len - i);
	return i < len && s[i] == ':' ? i + 1 : 0;
}

bool imap_base_subject(const char *in, size_t len, struct buf *out)
{
	/* (1) whitespace runs to one space (the caller decoded encoded words) */
	char *s = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i] == '\t' || in[i] == '\r' || in[i] == '\n' ? ' ' : in[i];
		if (c == ' ' && n && s[n - 1] == ' ')
			continue;
		s[n++] = c;
	}
	const char *p = s;
	bool reply = false;
	for (;;) {
		/* (2) subj-trailer: "(fwd)" / WSP at the end */
		for (;;) {
			if (n && is_wsp(p[n - 1]))
				n--;
			else if (n >= 5 && mr_strncasecmp(p + n - 5, "(fwd)", 5) == 0) {
				n -= 5;
				reply = true;
			} else
				break;
		}
		/* (3)-(4) subj-leader: (*subj-blob subj-refwd) / WSP, and a leading blob when
		 * something remains after it */
		bool changed = true;
		while (changed) {
			changed = false;
			while (n && is_wsp(*p)) {
				p++;
				n--;
				changed = true;
			}
			size_t b = 0, k;
			while ((k = blob_len(p + b, n - b)) != 0)
				b += k;
			size_t r = refwd_len(p + b, n - b);
			if (r) {
				p += b + r;
				n -= b + r;
				reply = changed = true;
				continue;
			}
			k = blob_len(p, n);
			if (k && k < n) {
				p += k;
				n -= k;
				changed = true;
			}
		}
		/* (6) "[fwd:" subject "]" */
		if (n >= 6 && mr_strncasecmp(p, "[fwd:", 5) == 0 && p[n - 1] == ']') {
			p += 5;
			n -= 6;
			reply = true;
			continue;
		}
		break;
	}
	imap_search_fold((const uint8_t *)p, n, out);
	free(s);
	return reply;
}

/* ---- header values --------------------------------------------------------------------------- */
int imap_parse_rfc5322_time(const char *s, size_t len, int64_t *t_r)
{
	int64_t days;
	if (imap_parse_rfc5322_day(s, len, &days) < 0)
		return MR_EINVAL;
	/* after the year: hour ":" minute [":" second] zone */
	const char *colon = memchr(s, ':', len);
	if (!colon || colon - s < 2)
		return MR_EINVAL;
	const char *h = colon - 2;
	if (h[0] < '0' || h[0] > '9')
		h++;
	int hh = 0, mm = 0, ss = 0;
	size_t i = (size_t)(h - s);
	while (i < len && s[i] >= '0' && s[i] <= '9')
		hh = hh * 10 + (s[i++] - '0');
	if (i >= len || s[i++] != ':')
		return MR_EINVAL;
	size_t st = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		mm = mm * 10 + (s[i++] - '0');
	if (i == st)
		return MR_EINVAL;
	if (i < len && s[i] == ':') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			ss = ss * 10 + (s[i++] - '0');
	}
	while (i < len && is_wsp(s[i]))
		i++;
	int zone = 0;
	if (i + 5 <= len && (s[i] == '+' || s[i] == '-')) {
		int z = 0;
		for (int k = 1; k <= 4; k++)
			z = z * 10 + (s[i + k] >= '0' && s[i + k] <= '9' ? s[i + k] - '0' : 0);
		zone = (z / 100) * 3600 + (z % 100) * 60;
		if (s[i] == '-')
			zone = -zone;
	}
	if (hh > 23 || mm > 59 || ss > 60)
		return MR_EINVAL;
	*t_r = days * 86400 + hh * 3600 + mm * 60 + ss - zone;
	return 0;
}

void imap_first_mailbox(const char *s, size_t len, struct buf *out)
{
	/* the first address: inside <...> when present before the first ',' outside quotes */
	size_t i = 0, start = 0, end = len;
	bool q = false;
	for (; i < len; i++) {
		if (s[i] == '"')
			q = !q;
		else if (!q && s[i] == ',') {
			end = i;
			break;
		} else if (!q && s[i] == '<') {
			start = i + 1;
			const char *gt = memchr(s + start, '>', len - start);
			end = gt ? (size_t)(gt - s) : len;
			break;
		}
	}
	while (start < end && (is_wsp(s[start]) || s[start] == '"'))
		start++;
	const char *at = memchr(s + start, '@', end - start);
	if (at)
		end = (size_t)(at - s);
	while (end > start && is_wsp(s[end - 1]))
		end--;
	for (size_t k = start; k < end; k++) { /* i;ascii-casemap */
		char c = s[k] >= 'A' && s[k] <= 'Z' ? (char)(s[k] + 32) : s[k];
		buf_append(out, &c, 1);
	}
}

size_t imap_msgids(const char *s, size_t len, char ***ids_r, size_t max)
{
	char **ids = NULL;
	size_t n = 0;
	for (size_t i = 0; i < len && n < max; i++) {
		if (s[i] != '<')
			continue;
		const char *gt = memchr(s + i + 1, '>', len - i - 1);
		if (!gt)
			break;
		size_t l = (size_t)(gt - (s + i + 1));
		if (l > 0 && l < 1000 && !memchr(s + i + 1, '<', l)) {
			ids = xrealloc(ids, (n + 1) * sizeof *ids);
			ids[n++] = xstrndup(s + i + 1, l);
		}
		i = (size_t)(gt - s);
	}
	*ids_r = ids;
	return n;
}

void imap_sort_msg_free(struct imap_sort_msg *m)
{
	free(m->from);
	free(m->to);
	free(m->cc);
	free(m->subject);
	free(m->msgid);
	for (size_t i = 0; i < m->nrefs; i++)
		free(m->refs[i]);
	free(m->refs);
	memset(m, 0, sizeof *m);
}

/* ---- sorting ----------------------------------------------------------------------------- */
static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int cmp_msg(const struct imap_sort_msg *a, const struct imap_sort_msg *b,
                   const struct imap_sort_crit *c)
{
	for (size_t i = 0; i < c->n; i++) {
		int r = 0;
		switch (c->key[i]) {
		case SORT_ARRIVAL:
			r = cmp_i64(a->arrival, b->arrival);
			break;
		case SORT_DATE:
			r = cmp_i64(a->date, b->date);
			break;
		case SORT_SIZE:
			r = a->size < b->size ? -1 : a->size > b->size;
			break;
		case SORT_FROM:
			r = cmp_str(a->from, b->from);
			break;
		case SORT_TO:
			r = cmp_str(a->to, b->to);
			break;
		case SORT_CC:
			r = cmp_str(a->cc, b->cc);
			break;
		case SORT_SUBJECT:
			r = cmp_str(a->subject, b->subject);
			break;
		}
		if (r)
			return c->reverse[i] ? -r : r;
	}
	return a->seq < b->seq ? -1 : a->seq > b->seq; /* RFC 5256 §3 */
}

typedef int (*cmp_fn)(const void *a, const void *b, const void *ctx);

/* Stable merge sort of n pointers. */
static void msort(const void **v, size_t n, cmp_fn cmp, const void *ctx)
{
	if (n < 2)
		return;
	const void **tmp = xcalloc(n, sizeof *tmp);
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				tmp[k++] = cmp(v[j], v[i], ctx) < 0 ? v[j++] : v[i++];
			while (i < mid)
				tmp[k++] = v[i++];
			while (j < hi)
				tmp[k++] = v[j++];
		}
		memcpy(v, tmp, n * sizeof *v);
	}
	free(tmp);
}

static int cmp_msg_ptr(const void *a, const void *b, const void *ctx)
{
	return cmp_msg(a, b, ctx);
}

void imap_sort_msgs(struct imap_sort_msg *v, size_t n, const struct imap_sort_crit *c)
{
	const void **p = xcalloc(n ? n : 1, sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	msort(p, n, cmp_msg_ptr, c);
	struct imap_sort_msg *out = xcalloc(n ? n : 1, sizeof *out);
	for (size_t i = 0; i < n; i++)
		out[i] = *(const struct imap_sort_msg *)p[i];
	memcpy(v, out, n * sizeof *v);
	free(out);
	free(p);
}

/* ---- ORDEREDSUBJECT (RFC 5256 §3.1) ------------------------------------------------------- */
static int cmp_group(const void *a, const void *b, const void *ctx)
{
	const struct imap_sort_msg *v = ctx;
	const struct imap_sort_msg *p = &v[*(const size_t *)a], *q = &v[*(const size_t *)b];
	int r = cmp_i64(p->date, q->date);
	return r ? r : (p->seq < q->seq ? -1 : p->seq > q->seq);
}

void imap_thread_orderedsubject(struct imap_sort_msg *v, size_t n, struct buf *out)
{
	/* sort by base subject then sent date; each subject group is one thread whose first
	 * message is the parent of all the others; threads ordered by their first's date */
	static const struct imap_sort_crit by_subj = {2, {SORT_SUBJECT, SORT_DATE}, {false, false}};
	imap_sort_msgs(v, n, &by_subj);
	size_t *start = xcalloc(n + 1, sizeof *start), ng = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i].subject, v[i - 1].subject) != 0)
			start[ng++] = i;
	start[ng] = n;
	const void **roots = xcalloc(ng ? ng : 1, sizeof *roots);
	for (size_t g = 0; g < ng; g++)
		roots[g] = &start[g];
	/* order the groups by their first message's date, then sequence number */
	msort(roots, ng, cmp_group, v);
	for (size_t g = 0; g < ng; g++) {
		size_t s = *(const size_t *)roots[g];
		size_t e = start[(size_t)((const size_t *)roots[g] - start) + 1];
		buf_printf(out, "(%u", v[s].num);
		if (e - s == 2)
			buf_printf(out, " %u", v[s + 1].num);
		else if (e - s > 2) {
			buf_puts(out, " ");
			for (size_t k = s + 1; k < e; k++)
				buf_printf(out, "(%u)", v[k].num);
		}
		buf_puts(out, ")");
	}
	free(roots);
	free(start);
}

/* ---- REFERENCES (RFC 5256 §3.2) ----------------------------------------------------------- */
struct cont {
	long msg;                 /* index into v, -1 for an empty (dummy) container */
	long parent, child, next; /* -1 = none */
	const char *id;
	int64_t date;
	uint32_t seq;
};

struct forest {
	struct cont *c;
	size_t n, cap;
	long *tab; /* open addressing: id -> container */
	size_t tabcap;
	struct imap_sort_msg *v;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static long cont_new(struct forest *f, const char *id)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->c = xrealloc(f->c, f->cap * sizeof *f->c);
	}
	f->c[f->n] = (struct cont){-1, -1, -1, -1, id, 0, 0};
	return (long)f->n++;
}

/* The container of id, created when missing (only ids are hashed: dummies have none). */
static long cont_get(struct forest *f, const char *id, bool *created)
{
	size_t mask = f->tabcap - 1, h = (size_t)hash_str(id) & mask;
	while (f->tab[h] >= 0) {
		if (strcmp(f->c[f->tab[h]].id, id) == 0) {
			if (created)
				*created = false;
			return f->tab[h];
		}
		h = (h + 1) & mask;
	}
	if (created)
		*created = true;
	long k = cont_new(f, id);
	f->tab[h] = k;
	return k;
}

static bool is_ancestor(const struct forest *f, long a, long b)
{
	for (long p = b; p >= 0; p = f->c[p].parent)
		if (p == a)
			return true;
	return false;
}

static void unlink_cont(struct forest *f, long k)
{
	long p = f->c[k].parent;
	if (p < 0)
		return;
	long *pp = &f->c[p].child;
	while (*pp >= 0 && *pp != k)
		pp = &f->c[*pp].next;
	if (*pp == k)
		*pp = f->c[k].next;
	f->c[k].parent = -1;
	f->c[k].next = -1;
}

static void link_cont(struct forest *f, long parent, long k)
{
	unlink_cont(f, k);
	f->c[k].parent = parent;
	long *pp = &f->c[parent].child;
	while (*pp >= 0)
		pp = &f->c[*pp].next;
	*pp = k;
}

/* Pre-order list of the containers below root (explicit stack: no recursion). */
static size_t preorder(const struct forest *f, long root, long *out)
{
	size_t n = 0, sp = 0;
	long *stack = xcalloc(f->n + 1, sizeof *stack);
	stack[sp++] = root;
	while (sp) {
		long k = stack[--sp];
		out[n++] = k;
		size_t first = sp;
		for (long ch = f->c[k].child; ch >= 0; ch = f->c[ch].next)
			stack[sp++] = ch;
		for (size_t a = first, b = sp; a + 1 < b; a++, b--) { /* keep sibling order */
			long t = stack[a];
			stack[a] = stack[b - 1];
			stack[b - 1] = t;
		}
	}
	free(stack);
	return n;
}

static int cmp_cont(const void *a, const void *b, const void *ctx)
{
	(void)ctx;
	const struct cont *p = a, *q = b;
	int r = cmp_i64(p->date, q->date);
	return r ? r : (p->seq < q->seq ? -1 : p->seq > q->seq);
}

/* RFC 5256 §3.2 step 4 / 6: siblings by sent date; an empty container takes its first
 * child's date. Children are sorted before their parents (reverse pre-order). */
static void sort_all(struct forest *f, long root)
{
	long *order = xcalloc(f->n + 1, sizeof *order);
	size_t n = preorder(f, root, order);
	const void **tmp = xcalloc(f->n + 1, sizeof *tmp);
	for (size_t i = n; i-- > 0;) {
		struct cont *c = &f->c[order[i]];
		size_t k = 0;
		for (long ch = c->child; ch >= 0; ch = f->c[ch].next)
			tmp[k++] = &f->c[ch];
		msort(tmp, k, cmp_cont, NULL);
		c->child = -1;
		long *pp = &c->child;
		for (size_t j = 0; j < k; j++) {
			long idx = (long)((const struct cont *)tmp[j] - f->c);
			f->c[idx].next = -1;
			*pp = idx;
			pp = &f->c[idx].next;
		}
		if (c->msg >= 0) {
			c->date = f->v[c->msg].date;
			c->seq = f->v[c->msg].seq;
		} else if (c->child >= 0) {
			c->date = f->c[c->child].date;
			c->seq = f->c[c->child].seq;
		}
	}
	free(tmp);
	free(order);
}

/* Step 3: drop empty containers without children; promote the children of the other empty
 * ones, except an empty root with several children. */
static void prune(struct forest *f, long root)
{
	long *order = xcalloc(f->n + 1, sizeof *order);
	size_t n = preorder(f, root, order);
	for (size_t i = n; i-- > 0;) {
		long k = order[i];
		for (long ch = f->c[k].child, nx; ch >= 0; ch = nx) {
			nx = f->c[ch].next;
			if (f->c[ch].msg >= 0)
				continue;
			size_t kids = 0;
			for (long g = f->c[ch].child; g >= 0; g = f->c[g].next)
				kids++;
			if (kids > 1 && k == root)
				continue;
			while (f->c[ch].child >= 0)
				link_cont(f, k, f->c[ch].child);
			unlink_cont(f, ch);
		}
	}
	free(order);
}

static const char *root_subject(const struct forest *f, long k)
{
	const struct cont *c = &f->c[k];
	long m = c->msg >= 0 ? c->msg : c->child >= 0 ? f->c[c->child].msg : -1;
	return m >= 0 ? f->v[m].subject : "";
}

static bool cont_reply(const struct forest *f, long k)
{
	return f->c[k].msg >= 0 && f->v[f->c[k].msg].reply;
}

/* Step 5: merge root containers with the same base subject. */
static void group_subjects(struct forest *f, long root)
{
	size_t nroots = 0;
	for (long r = f->c[root].child; r >= 0; r = f->c[r].next)
		nroots++;
	size_t cap = 16;
	while (cap < nroots * 2)
		cap *= 2;
	long *tab = xcalloc(cap, sizeof *tab);
	for (size_t i = 0; i < cap; i++)
		tab[i] = -1;
	long *roots = xcalloc(nroots + 1, sizeof *roots);
	size_t k = 0;
	for (long r = f->c[root].child; r >= 0; r = f->c[r].next)
		roots[k++] = r;
	/* the table keeps one container per subject: an empty one, else a non-reply */
	for (size_t i = 0; i < nroots; i++) {
		const char *subj = root_subject(f, roots[i]);
		if (!*subj)
			continue;
		size_t h = (size_t)hash_str(subj) & (cap - 1);
		while (tab[h] >= 0 && strcmp(root_subject(f, tab[h]), subj) != 0)
			h = (h + 1) & (cap - 1);
		long old = tab[h];
		if (old < 0 || (f->c[roots[i]].msg < 0 && f->c[old].msg >= 0) ||
		    (f->c[old].msg >= 0 && f->c[roots[i]].msg >= 0 && cont_reply(f, old) &&
		     !cont_reply(f, roots[i])))
			tab[h] = roots[i];
	}
	for (size_t i = 0; i < nroots; i++) {
		long r = roots[i];
		const char *subj = root_subject(f, r);
		if (!*subj)
			continue;
		size_t h = (size_t)hash_str(subj) & (cap - 1);
		while (tab[h] >= 0 && strcmp(root_subject(f, tab[h]), subj) != 0)
			h = (h + 1) & (cap - 1);
		long t = tab[h];
		if (t < 0 || t == r)
			continue;
		bool rd = f->c[r].msg < 0, td = f->c[t].msg < 0;
		if (rd && td) {
			while (f->c[r].child >= 0)
				link_cont(f, t, f->c[r].child);
			unlink_cont(f, r);
		} else if (td) {
			link_cont(f, t, r);
		} else if (cont_reply(f, r) && !cont_reply(f, t)) {
			link_cont(f, t, r);
		} else {
			long d = cont_new(f, NULL);
			link_cont(f, root, d);
			link_cont(f, d, t);
			link_cont(f, d, r);
			tab[h] = d;
		}
	}
	free(roots);
	free(tab);
}

#define MAX_NEST 1000

static void put_thread(const struct forest *f, long k, struct buf *out, unsigned depth)
{
	/* thread-members: a chain of single children, then nested lists at a branch */
	for (;;) {
		const struct cont *c = &f->c[k];
		if (c->msg >= 0)
			buf_printf(out, "%u", f->v[c->msg].num);
		size_t kids = 0;
		for (long ch = c->child; ch >= 0; ch = f->c[ch].next)
			kids++;
		if (kids == 0)
			return;
		if (kids == 1 && c->msg >= 0) {
			buf_puts(out, " ");
			k = c->child;
			continue;
		}
		if (c->msg >= 0)
			buf_puts(out, " ");
		for (long ch = c->child; ch >= 0; ch = f->c[ch].next) {
			buf_puts(out, "(");
			if (depth < MAX_NEST)
				put_thread(f, ch, out, depth + 1);
			else
				buf_printf(out, "%u",
				           f->c[ch].msg >= 0 ? f->v[f->c[ch].msg].num : 0);
			buf_puts(out, ")");
		}
		return;
	}
}

void imap_thread_references(struct imap_sort_msg *v, size_t n, struct buf *out)
{
	struct forest f = {0};
	f.v = v;
	size_t ids = 0;
	for (size_t i = 0; i < n; i++)
		ids += 1 + v[i].nrefs;
	f.tabcap = 64;
	while (f.tabcap < ids * 2)
		f.tabcap *= 2;
	f.tab = xcalloc(f.tabcap, sizeof *f.tab);
	for (size_t i = 0; i < f.tabcap; i++)
		f.tab[i] = -1;
	/* step 1: link messages by Message-ID and References */
	for (size_t i = 0; i < n; i++) {
		long mc;
		bool created = true;
		if (v[i].msgid) {
			mc = cont_get(&f, v[i].msgid, &created);
			if (!created && f.c[mc].msg >= 0) /* duplicate Message-ID: a unique one */
				mc = cont_new(&f, NULL);
		} else {
			mc = cont_new(&f, NULL);
		}
		f.c[mc].msg = (long)i;
		long prev = -1;
		for (size_t r = 0; r < v[i].nrefs; r++) {
			long rc = cont_get(&f, v[i].refs[r], NULL);
			if (prev >= 0 && rc != prev && f.c[rc].parent < 0 &&
			    !is_ancestor(&f, rc, prev))
				link_cont(&f, prev, rc);
			prev = rc;
		}
		if (prev >= 0 && prev != mc && !is_ancestor(&f, mc, prev))
			link_cont(&f, prev, mc);
	}
	/* step 2: the root set under a pseudo-root */
	long root = cont_new(&f, NULL);
	for (long k = 0; k < root; k++)
		if (f.c[k].parent < 0)
			link_cont(&f, root, k);
	prune(&f, root);          /* step 3 */
	sort_all(&f, root);       /* step 4 */
	group_subjects(&f, root); /* step 5 */
	sort_all(&f, root);       /* step 6 */
	for (long r = f.c[root].child; r >= 0; r = f.c[r].next) {
		buf_puts(out, "(");
		put_thread(&f, r, out, 0);
		buf_puts(out, ")");
	}
	free(f.tab);
	free(f.c);
}

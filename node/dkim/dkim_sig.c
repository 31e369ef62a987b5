/* dkim_sig.c - bounded parsers for DKIM text: the generic tag=value list (RFC 6376 §3.2),
 * the DKIM-Signature tags (§3.5) checked against the MUSTs of §6.1.1, and the DNS key record
 * (§3.6.1, k=ed25519 from RFC 8463). Tags are dispatched through tables; every value is
 * length-checked before it is copied into the fixed-size result structs, base64 values are
 * decoded with FWS ignored, and numbers are parsed with an explicit digit limit.
 */
#include "dkim.h"
#include "common/err.h"
#include "common/util.h"
#include <sodium.h>
#include <stdio.h>
#include <string.h>

const char *dkim_result_str(enum dkim_result r)
{
	static const char *const names[] = {"none",    "pass",      "fail",
	                                    "neutral", "temperror", "permerror"};
	return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "none";
}

const char *dkim_alg_str(enum dkim_alg a)
{
	return a == DKIM_ALG_RSA_SHA256       ? "rsa-sha256"
	       : a == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256"
	                                      : "unknown";
}

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int dkim_tags_parse(const char *s, size_t len, struct dkim_tag *tags, size_t max, size_t *n_r)
{
	size_t n = 0, p = 0;
	*n_r = 0;
	for (;;) {
		while (p < len && is_fws(s[p]))
			p++;
		if (p == len)
			break; /* empty list, or trailing ";" */
		size_t ns = p;
		if (!is_alpha(s[p]))
			return MR_EPROTO;
		while (p < len && (is_alpha(s[p]) || is_digit(s[p]) || s[p] == '_'))
			p++;
		size_t nlen = p - ns;
		while (p < len && is_fws(s[p]))
			p++;
		if (p == len || s[p] != '=')
			return MR_EPROTO;
		p++;
		while (p < len && is_fws(s[p]))
			p++;
		size_t vs = p;
		while (p < len && s[p] != ';') {
			unsigned char c = (unsigned char)s[p];
			/* VALCHAR = %x21-3A / %x3C-7E, plus FWS between tvals */
			if (!is_fws(s[p]) && (c < 0x21 || c > 0x7e))
				return MR_EPROTO;
			p++;
		}
		size_t ve = p;
		while (ve > vs && is_fws(s[ve - 1]))
			ve--;
		/* §3.2: a duplicate tag name invalidates the whole list */
		for (size_t k = 0; k < n; k++)
			if (tags[k].name_len == nlen && memcmp(tags[k].name, s + ns, nlen) == 0)
				return MR_EPROTO;
		if (n == max)
			return MR_ETOOBIG;
		tags[n].name = s + ns;
		tags[n].name_len = nlen;
		tags[n].val = s + vs;
		tags[n].val_len = ve - vs;
		n++;
		if (p == len)
			break;
		p++; /* ';' */
	}
	*n_r = n;
	return 0;
}

int dkim__b64dec(const char *s, size_t len, uint8_t *out, size_t cap, size_t *n_r)
{
	/* sodium refuses a too-small output like bad input; bound the input first */
	size_t sig = 0;
	for (size_t k = 0; k < len; k++)
		if (!is_fws(s[k]))
			sig++;
	if (sig / 4 * 3 > cap + 2)
		return MR_ETOOBIG;
	if (sodium_base642bin(out, cap, s, len, " \t\r\n", n_r, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return MR_EPROTO;
	return 0;
}

static bool val_eq(const char *v, size_t n, const char *lit)
{
	return strlen(lit) == n && mr_strncasecmp(v, lit, n) == 0;
}

/* Copy a value without FWS into dst (cap incl. NUL), lower-cased when lower. */
static int copy_val(const char *v, size_t n, char *dst, size_t cap, bool lower)
{
	size_t o = 0;
	for (size_t k = 0; k < n; k++) {
		char c = v[k];
		if (is_fws(c))
			continue;
		if (o + 1 >= cap)
			return MR_ETOOBIG;
		if (lower && c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		dst[o++] = c;
	}
	dst[o] = 0;
	return 0;
}

/* Decimal up to 12 digits (year 33000): enough for t=/x=; l= gets 18 digits. */
static int parse_num(const char *v, size_t n, size_t maxdigits, int64_t *out)
{
	if (n == 0 || n > maxdigits)
		return MR_EPROTO;
	int64_t x = 0;
	for (size_t k = 0; k < n; k++) {
		if (!is_digit(v[k]))
			return MR_EPROTO;
		x = x * 10 + (v[k] - '0');
	}
	*out = x;
	return 0;
}

/* Does the colon-separated list v contain item (case-insensitive, FWS trimmed)? */
static bool list_has(const char *v, size_t n, const char *item)
{
	size_t p = 0;
	while (p <= n) {
		size_t s = p;
		while (p < n && v[p] != ':')
			p++;
		size_t e = p;
		while (s < e && is_fws(v[s]))
			s++;
		while (e > s && is_fws(v[e - 1]))
			e--;
		if (val_eq(v + s, e - s, item))
			return true;
		p++;
	}
	return false;
}

static bool domain_ok(const char *d)
{
	if (!*d || *d == '.')
		return false;
	for (const char *c = d; *c; c++)
		if (!is_alpha(*c) && !is_digit(*c) && *c != '-' && *c != '.' && *c != '_')
			return false;
	return true;
}

/* ---- DKIM-Signature tags (§3.5) ---- */

typedef int (*sig_tag_fn)(struct dkim_sig *sig, const char *v, size_t n, const char **why);

static int sigtag_v(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "v= is not 1";
	return val_eq(v, n, "1") ? 0 : MR_EPROTO;
}

static int sigtag_a(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	if (val_eq(v, n, "rsa-sha256"))
		sig->alg = DKIM_ALG_RSA_SHA256;
	else if (val_eq(v, n, "ed25519-sha256"))
		sig->alg = DKIM_ALG_ED25519_SHA256;
	else if (val_eq(v, n, "rsa-sha1"))
		sig->alg_sha1 = true;
	/* anything else: alg stays NONE, verification gives neutral */
	return 0;
}

static int sigtag_b(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad b= base64";
	return dkim__b64dec(v, n, sig->b, sizeof sig->b, &sig->blen);
}

static int sigtag_bh(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad bh= base64";
	return dkim__b64dec(v, n, sig->bh, sizeof sig->bh, &sig->bhlen);
}

static int canon_word(const char *v, size_t n, enum dkim_canon *c)
{
	if (val_eq(v, n, "simple"))
		*c = DKIM_CANON_SIMPLE;
	else if (val_eq(v, n, "relaxed"))
		*c = DKIM_CANON_RELAXED;
	else
		return MR_EPROTO;
	return 0;
}

static int sigtag_c(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad c=";
	const char *slash = memchr(v, '/', n);
	if (!slash)
		return canon_word(v, n, &sig->ch); /* body stays simple */
	size_t hl = (size_t)(slash - v);
	int rv = canon_word(v, hl, &sig->ch);
	return rv ? rv : canon_word(slash + 1, n - hl - 1, &sig->cb);
}

static int sigtag_d(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad d=";
	int rv = copy_val(v, n, sig->d, sizeof sig->d, true);
	return rv ? rv : domain_ok(sig->d) ? 0 : MR_EPROTO;
}

static int sigtag_h(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad h=";
	size_t p = 0;
	sig->nh = 0;
	while (p <= n) {
		size_t s = p;
		while (p < n && v[p] != ':')
			p++;
		size_t e = p;
		while (s < e && is_fws(v[s]))
			s++;
		while (e > s && is_fws(v[e - 1]))
			e--;
		if (e == s)
			return MR_EPROTO; /* empty name */
		if (sig->nh == DKIM_MAX_HNAMES) {
			*why = "too many h= names";
			return MR_ETOOBIG;
		}
		for (size_t k = s; k < e; k++)
			if (is_fws(v[k]))
				return MR_EPROTO;
		int rv = copy_val(v + s, e - s, sig->h[sig->nh], sizeof sig->h[0], true);
		if (rv)
			return rv;
		sig->nh++;
		p++;
	}
	return 0;
}

static int sigtag_i(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad i=";
	return copy_val(v, n, sig->i, sizeof sig->i, false);
}

static int sigtag_l(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad l=";
	return parse_num(v, n, 18, &sig->l);
}

static int sigtag_q(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "q= lacks dns/txt";
	return list_has(v, n, "dns/txt") ? 0 : MR_EPROTO;
}

static int sigtag_s(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad s=";
	int rv = copy_val(v, n, sig->s, sizeof sig->s, false);
	return rv ? rv : domain_ok(sig->s) ? 0 : MR_EPROTO;
}

static int sigtag_t(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad t=";
	return parse_num(v, n, 12, &sig->t);
}

static int sigtag_x(struct dkim_sig *sig, const char *v, size_t n, const char **why)
{
	*why = "bad x=";
	return parse_num(v, n, 12, &sig->x);
}

enum { T_V = 1, T_A = 2, T_B = 4, T_BH = 8, T_D = 16, T_H = 32, T_S = 64 };
#define SIG_REQUIRED (T_V | T_A | T_B | T_BH | T_D | T_H | T_S)

static const struct {
	const char *name;
	sig_tag_fn fn;
	unsigned bit;
} sig_tags[] = {
    {"v", sigtag_v, T_V}, {"a", sigtag_a, T_A}, {"b", sigtag_b, T_B}, {"bh", sigtag_bh, T_BH},
    {"c", sigtag_c, 0},   {"d", sigtag_d, T_D}, {"h", sigtag_h, T_H}, {"i", sigtag_i, 0},
    {"l", sigtag_l, 0},   {"q", sigtag_q, 0},   {"s", sigtag_s, T_S}, {"t", sigtag_t, 0},
    {"x", sigtag_x, 0},
};

int dkim_sig_parse(const char *val, size_t len, struct dkim_sig *sig, const char **why_r)
{
	struct dkim_tag tags[DKIM_MAX_TAGS];
	size_t nt;
	memset(sig, 0, sizeof *sig);
	sig->l = sig->t = sig->x = -1;
	const char *why = "syntax error in tag list";
	int rv = dkim_tags_parse(val, len, tags, DKIM_MAX_TAGS, &nt);
	if (rv)
		goto out;
	unsigned seen = 0;
	for (size_t k = 0; k < nt; k++) {
		for (size_t j = 0; j < sizeof sig_tags / sizeof sig_tags[0]; j++) {
			if (strlen(sig_tags[j].name) != tags[k].name_len ||
			    memcmp(sig_tags[j].name, tags[k].name, tags[k].name_len) != 0)
				continue;
			rv = sig_tags[j].fn(sig, tags[k].val, tags[k].val_len, &why);
			if (rv)
				goto out;
			seen |= sig_tags[j].bit;
			break;
		}
		/* unknown tags are ignored (§3.2) */
	}
	rv = MR_EPROTO;
	why = "missing required tag";
	if ((seen & SIG_REQUIRED) != SIG_REQUIRED)
		goto out;
	why = "h= does not sign From";
	bool from = false;
	for (unsigned k = 0; k < sig->nh; k++)
		from |= strcmp(sig->h[k], "from") == 0;
	if (!from)
		goto out;
	why = "x= earlier than t=";
	if (sig->x >= 0 && sig->t >= 0 && sig->x < sig->t)
		goto out;
	if (sig->i[0]) {
		/* §3.5 i=: the domain part must be d= or a subdomain of it */
		why = "i= not within d=";
		const char *at = strrchr(sig->i, '@');
		if (!at)
			goto out;
		const char *dom = at + 1;
		size_t dl = strlen(dom), l = strlen(sig->d);
		if (dl < l || mr_strcasecmp(dom + dl - l, sig->d) != 0 ||
		    (dl > l && dom[dl - l - 1] != '.'))
			goto out;
	} else {
		snprintf(sig->i, sizeof sig->i, "@%s", sig->d);
	}
	rv = 0;
	why = "";
out:
	if (why_r)
		*why_r = why;
	return rv;
}

/* ---- key record (§3.6.1) ---- */

typedef int (*key_tag_fn)(struct dkim_keyrec *k, const char *v, size_t n, const char **why);

static int keytag_v(struct dkim_keyrec *k, const char *v, size_t n, const char **why)
{
	*why = "v= is not DKIM1";
	return val_eq(v, n, "DKIM1") ? 0 : MR_EPROTO;
}

static int keytag_h(struct dkim_keyrec *k, const char *v, size_t n, const char **why)
{
	*why = "key h= excludes sha256";
	return list_has(v, n, "sha256") ? 0 : MR_EPROTO;
}

static int keytag_k(struct dkim_keyrec *k, const char *v, size_t n, const char **why)
{
	*why = "unknown key type";
	if (val_eq(v, n, "rsa"))
		k->alg = DKIM_ALG_RSA_SHA256;
	else if (val_eq(v, n, "ed25519"))
		k->alg = DKIM_ALG_ED25519_SHA256;
	else
		return MR_EPROTO;
	return 0;
}

static int keytag_p(struct dkim_keyrec *k, const char *v, size_t n, const char **why)
{
	*why = "bad p= base64";
	if (n == 0) {
		k->revoked = true;
		return 0;
	}
	return dkim__b64dec(v, n, k->p, sizeof k->p, &k->plen);
}

static int keytag_s(struct dkim_keyrec *k, const char *v, size_t n, const char **why)
{
	*why = "key not for email (s=)";
	return list_has(v, n, "*") || list_has(v, n, "email") ? 0 : MR_EPROTO;
}

static int keytag_t(struct dkim_keyrec *k, const char *v, size_t n, const char **why)
{
	k->testing = list_has(v, n, "y");
	k->strict = list_has(v, n, "s");
	return 0; /* unknown flags ignored */
}

static const struct {
	const char *name;
	key_tag_fn fn;
} key_tags[] = {
    {"v", keytag_v}, {"h", keytag_h}, {"k", keytag_k},
    {"p", keytag_p}, {"s", keytag_s}, {"t", keytag_t},
};

int dkim_key_parse(const char *txt, size_t len, struct dkim_keyrec *k, const char **why_r)
{
	struct dkim_tag tags[DKIM_MAX_TAGS];
	size_t nt;
	memset(k, 0, sizeof *k);
	k->alg = DKIM_ALG_RSA_SHA256; /* k= default */
	const char *why = "syntax error in key record";
	bool have_p = false;
	int rv = dkim_tags_parse(txt, len, tags, DKIM_MAX_TAGS, &nt);
	if (rv)
		goto out;
	for (size_t i = 0; i < nt; i++) {
		if (tags[i].name_len == 1 && tags[i].name[0] == 'v' && i != 0) {
			rv = MR_EPROTO;
			why = "v= not the first tag";
			goto out;
		}
		for (size_t j = 0; j < sizeof key_tags / sizeof key_tags[0]; j++) {
			if (strlen(key_tags[j].name) != tags[i].name_len ||
			    memcmp(key_tags[j].name, tags[i].name, tags[i].name_len) != 0)
				continue;
			rv = key_tags[j].fn(k, tags[i].val, tags[i].val_len, &why);
			if (rv)
				goto out;
			have_p |= key_tags[j].fn == keytag_p;
			break;
		}
	}
	rv = have_p ? 0 : MR_EPROTO;
	why = have_p ? "" : "key record has no p=";
out:
	if (why_r)
		*why_r = why;
	return rv;
}

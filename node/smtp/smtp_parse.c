/* smtp_parse.c - the SMTP command codec: the bounded line reader, the verb/argument splitter and
 * the MAIL FROM / RCPT TO parser (RFC 5321 §4.1.1.2, §4.1.1.3, path syntax of §4.1.2 with the
 * RFC 6531 §3.3 UTF-8 extensions) with its ESMTP parameters (RFC 1870 SIZE, RFC 6152 BODY,
 * RFC 6531 SMTPUTF8). Pure functions over caller-supplied bytes: no sockets, no storage.
 * Parsing is a single forward pass with an explicit cursor; it never reads past len and never
 * relies on NUL termination.
 */
#include "smtp_parse.h"
#include "common/err.h"
#include "common/util.h"
#include <string.h>

/* ---- line reader ------------------------------------------------------------------------ */

void smtp_linereader_init(struct smtp_linereader *lr, size_t max)
{
	/* the buffer holds the content plus a CR that is stripped when the LF arrives */
	buf_init(&lr->line, max > 3 ? max - 1 : 2);
	lr->overflow = false;
	lr->ready = false;
}

void smtp_linereader_free(struct smtp_linereader *lr)
{
	buf_free(&lr->line);
}

void smtp_linereader_reset(struct smtp_linereader *lr)
{
	buf_reset(&lr->line);
	lr->overflow = false;
	lr->ready = false;
}

int smtp_linereader_push(struct smtp_linereader *lr, const uint8_t *p, size_t n, size_t *used_r)
{
	if (lr->ready) {
		buf_reset(&lr->line);
		lr->ready = false;
	}
	const uint8_t *lf = n ? memchr(p, '\n', n) : NULL;
	size_t take = lf ? (size_t)(lf - p) : n;
	*used_r = lf ? take + 1 : n;
	if (!lr->overflow && buf_append(&lr->line, p, take) != 0) {
		/* over the limit: drop what we have and discard up to the LF */
		lr->overflow = true;
		buf_reset(&lr->line);
	}
	if (!lf)
		return 0;
	if (lr->overflow) {
		lr->overflow = false;
		buf_reset(&lr->line);
		return MR_ETOOBIG;
	}
	/* RFC 5321 §2.3.8: lines end in CRLF; a bare LF is accepted (liberal), a CR before it
	 * belongs to the terminator */
	if (lr->line.len && lr->line.p[lr->line.len - 1] == '\r')
		lr->line.p[--lr->line.len] = 0;
	lr->ready = true;
	return 1;
}

/* ---- command line ----------------------------------------------------------------------- */

static bool is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

int smtp_cmdline_split(const char *line, size_t len, struct smtp_cmdline *cmd_r)
{
	const uint8_t *s = (const uint8_t *)line;
	/* NUL and bare CR have no place in a command line (RFC 5321 §2.3.8, §4.1.1) */
	if (memchr(s, 0, len) || memchr(s, '\r', len))
		return MR_EPROTO;
	size_t i = 0;
	while (i < len && is_alpha(s[i]))
		i++;
	/* RFC 5321 §4.1.1: verbs are 4 letters; "STARTTLS" is 8. 16 leaves room for extensions */
	if (i == 0 || i > 16)
		return MR_EPROTO;
	if (i < len && s[i] != ' ' && s[i] != '\t')
		return MR_EPROTO;
	cmd_r->verb = line;
	cmd_r->verb_len = i;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	size_t end = len;
	while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	cmd_r->args = line + i;
	cmd_r->args_len = end - i;
	return 0;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

bool smtp_utf8_valid(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = mr_utf8_seq(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

/* ---- paths (RFC 5321 §4.1.2) ------------------------------------------------------------ */

struct cursor {
	const uint8_t *s;
	size_t i, len;
	bool utf8; /* a non-ASCII sequence was accepted */
};

static int peek(const struct cursor *c)
{
	return c->i < c->len ? c->s[c->i] : -1;
}

/* atext (RFC 5322 §3.2.3) */
static bool is_atext(uint8_t c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Accept one UTF8-non-ascii sequence (RFC 6531 §3.3) at the cursor; true if consumed. */
static bool take_utf8(struct cursor *c)
{
	if (c->i >= c->len || c->s[c->i] < 0x80)
		return false;
	size_t n = mr_utf8_seq(c->s + c->i, c->len - c->i);
	if (!n)
		return false;
	c->i += n;
	c->utf8 = true;
	return true;
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] or a U-label. We accept
 * letters, digits, "-" and UTF-8 within labels, with no empty label. */
static int parse_domain(struct cursor *c)
{
	for (;;) {
		size_t start = c->i;
		for (;;) {
			int ch = peek(c);
			if (ch >= 0 &&
			    (is_alpha((uint8_t)ch) || is_digit((uint8_t)ch) || ch == '-'))
				c->i++;
			else if (!take_utf8(c))
				break;
		}
		if (c->i == start)
			return MR_EPROTO;
		if (peek(c) != '.')
			return 0;
		c->i++;
	}
}

/* address-literal = "[" ... "]" (§4.1.3); the content is dcontent (%d33-90 / %d94-126). */
static int parse_addr_literal(struct cursor *c)
{
	c->i++; /* "[" */
	size_t start = c->i;
	while (c->i < c->len && c->s[c->i] != ']') {
		uint8_t ch = c->s[c->i];
		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
			return MR_EPROTO;
		c->i++;
	}
	if (c->i == start || peek(c) != ']')
		return MR_EPROTO;
	c->i++;
	return 0;
}

/* Source route "@a,@b:" (A-d-l, §4.1.2): must be accepted and ignored (§C). */
static int skip_route(struct cursor *c)
{
	for (;;) {
		if (peek(c) != '@')
			return MR_EPROTO;
		c->i++;
		int rv = peek(c) == '[' ? parse_addr_literal(c) : parse_domain(c);
		if (rv)
			return rv;
		if (peek(c) == ':') {
			c->i++;
			return 0;
		}
		if (peek(c) != ',')
			return MR_EPROTO;
		c->i++;
	}
}

/* True when q[0,n) is a Dot-string (§4.1.2), so the quoted form can be dropped. */
static bool is_dot_string(const uint8_t *q, size_t n)
{
	if (n == 0 || q[0] == '.' || q[n - 1] == '.')
		return false;
	for (size_t k = 0; k < n; k++) {
		if (q[k] == '.') {
			if (q[k + 1] == '.')
				return false;
		} else if (!is_atext(q[k]) && q[k] < 0x80) {
			return false;
		}
	}
	return true;
}

static int out_append(struct smtp_path *p, size_t *n, const void *src, size_t len)
{
	if (*n + len > SMTP_ADDR_MAX)
		return MR_ETOOBIG;
	memcpy(p->addr + *n, src, len);
	*n += len;
	p->addr[*n] = 0;
	return 0;
}

/* Local-part = Dot-string / Quoted-string, written to p->addr. */
static int parse_local(struct cursor *c, struct smtp_path *p, size_t *n)
{
	size_t start = c->i;
	if (peek(c) != '"') {
		/* Dot-string. Liberal like Postfix: consecutive or trailing dots (seen in the wild,
		 * e.g. "a..b@") are tolerated; an empty local part is not. */
		for (;;) {
			int ch = peek(c);
			if (ch >= 0 && (is_atext((uint8_t)ch) || ch == '.'))
				c->i++;
			else if (!take_utf8(c))
				break;
		}
		if (c->i == start)
			return MR_EPROTO;
		return out_append(p, n, c->s + start, c->i - start);
	}
	/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP %d32-33 / %d35-91 / %d93-126,
	 * quoted-pairSMTP = "\" %d32-126. Unescaped content collected for the dot-string check. */
	uint8_t plain[SMTP_ADDR_MAX];
	size_t np = 0;
	c->i++;
	for (;;) {
		int ch = peek(c);
		if (ch < 0)
			return MR_EPROTO;
		if (ch == '"')
			break;
		size_t from = c->i;
		if (ch == '\\') {
			c->i++;
			int e = peek(c);
			if (e < 32 || e > 126)
				return MR_EPROTO;
			c->i++;
		} else if (ch >= 32 && ch <= 126) {
			c->i++;
		} else if (!take_utf8(c)) {
			return MR_EPROTO;
		}
		size_t k = ch == '\\' ? c->i - 1 : from;
		for (; k < c->i; k++) {
			if (np == sizeof plain)
				return MR_ETOOBIG;
			plain[np++] = c->s[k];
		}
	}
	c->i++; /* closing quote */
	if (is_dot_string(plain, np))
		return out_append(p, n, plain, np);
	return out_append(p, n, c->s + start, c->i - start);
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>" when allow_null. */
static int parse_path(struct cursor *c, struct smtp_path *p, bool allow_null, bool rcpt)
{
	size_t n = 0;
	memset(p, 0, sizeof *p);
	if (peek(c) != '<')
		return MR_EPROTO;
	c->i++;
	if (peek(c) == '>') {
		if (!allow_null)
			return MR_EPROTO;
		c->i++;
		p->null = true;
		return 0;
	}
	int rv;
	if (peek(c) == '@' && (rv = skip_route(c)) != 0)
		return rv;
	if ((rv = parse_local(c, p, &n)) != 0)
		return rv;
	p->local_len = n;
	if (peek(c) == '>' && rcpt && n == 10 && mr_strncasecmp(p->addr, "postmaster", 10) == 0) {
		/* RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" without a domain */
		c->i++;
		p->postmaster = true;
		return 0;
	}
	if (peek(c) != '@')
		return MR_EPROTO;
	c->i++;
	size_t dstart = c->i;
	rv = peek(c) == '[' ? parse_addr_literal(c) : parse_domain(c);
	if (rv)
		return rv;
	if ((rv = out_append(p, &n, "@", 1)) != 0 ||
	    (rv = out_append(p, &n, c->s + dstart, c->i - dstart)) != 0)
		return rv;
	if (peek(c) != '>')
		return MR_EPROTO;
	c->i++;
	p->utf8 = c->utf8;
	return 0;
}

/* "FROM:" / "TO:" keyword, then optional spaces (Postfix tolerates "MAIL FROM: <a@b>"). */
static int parse_keyword(struct cursor *c, const char *kw)
{
	size_t kl = strlen(kw);
	if (c->len < kl || mr_strncasecmp((const char *)c->s, kw, kl) != 0)
		return MR_EPROTO;
	c->i = kl;
	while (peek(c) == ' ')
		c->i++;
	return 0;
}

/* ---- ESMTP parameters (RFC 5321 §4.1.2 Mail-parameters) ---------------------------------- */

static bool kw_is(const uint8_t *k, size_t kl, const char *name)
{
	return kl == strlen(name) && mr_strncasecmp((const char *)k, name, kl) == 0;
}

/* One esmtp-param at k[0,kl) = keyword [= value]; applies it to params (NULL: RCPT). */
static int apply_param(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, bool has_v,
                       struct smtp_params *pr)
{
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (kl == 0 || k[0] == '-')
		return MR_EINVAL;
	for (size_t i = 0; i < kl; i++)
		if (!is_alpha(k[i]) && !is_digit(k[i]) && k[i] != '-')
			return MR_EINVAL;
	/* esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii) */
	if (has_v && (vl == 0 || !smtp_utf8_valid(v, vl)))
		return MR_EINVAL;
	for (size_t i = 0; has_v && i < vl; i++)
		if (v[i] < 33 || v[i] == '=' || v[i] == 127)
			return MR_EINVAL;
	if (!pr)
		return MR_EINVAL; /* RCPT: we offer no parameter (no DSN, RFC 3461) */
	if (kw_is(k, kl, "SIZE")) {
		/* RFC 1870 §6: size-value = 1*20DIGIT */
		if (pr->has_size || !has_v || vl > 20)
			return MR_EINVAL;
		for (size_t i = 0; i < vl; i++)
			if (!is_digit(v[i]))
				return MR_EINVAL;
		if (mr_parse_u64((const char *)v, vl, UINT64_MAX, &pr->size) != 0)
			pr->size = UINT64_MAX; /* 20 digits overflowing: certainly too big */
		pr->has_size = true;
		return 0;
	}
	if (kw_is(k, kl, "BODY")) {
		/* RFC 6152 §2: BODY=7BIT / 8BITMIME (BINARYMIME needs CHUNKING: not offered) */
		if (pr->body != SMTP_BODY_NONE || !has_v)
			return MR_EINVAL;
		if (kw_is(v, vl, "7BIT"))
			pr->body = SMTP_BODY_7BIT;
		else if (kw_is(v, vl, "8BITMIME"))
			pr->body = SMTP_BODY_8BITMIME;
		else
			return MR_EINVAL;
		return 0;
	}
	if (kw_is(k, kl, "SMTPUTF8")) {
		/* RFC 6531 §3.4: no value */
		if (pr->smtputf8 || has_v)
			return MR_EINVAL;
		pr->smtputf8 = true;
		return 0;
	}
	return MR_EINVAL; /* RFC 5321 §4.1.1.11: unrecognized -> 555 */
}

static int parse_params(struct cursor *c, struct smtp_params *pr)
{
	if (peek(c) < 0)
		return 0;
	if (peek(c) != ' ')
		return MR_EPROTO; /* junk right after ">" */
	while (c->i < c->len) {
		while (peek(c) == ' ')
			c->i++;
		if (c->i >= c->len)
			break;
		size_t ks = c->i;
		while (c->i < c->len && c->s[c->i] != ' ' && c->s[c->i] != '=')
			c->i++;
		size_t ke = c->i;
		bool has_v = peek(c) == '=';
		size_t vs = 0, ve = 0;
		if (has_v) {
			vs = ++c->i;
			while (c->i < c->len && c->s[c->i] != ' ')
				c->i++;
			ve = c->i;
		}
		int rv = apply_param(c->s + ks, ke - ks, c->s + vs, ve - vs, has_v, pr);
		if (rv)
			return rv;
	}
	return 0;
}

int smtp_parse_mail(const char *args, size_t len, struct smtp_path *path_r,
                    struct smtp_params *params_r)
{
	struct cursor c = {(const uint8_t *)args, 0, len, false};
	memset(params_r, 0, sizeof *params_r);
	int rv = parse_keyword(&c, "FROM:");
	if (!rv)
		rv = parse_path(&c, path_r, true, false);
	if (!rv)
		rv = parse_params(&c, params_r);
	return rv;
}

int smtp_parse_rcpt(const char *args, size_t len, struct smtp_path *path_r)
{
	struct cursor c = {(const uint8_t *)args, 0, len, false};
	int rv = parse_keyword(&c, "TO:");
	if (!rv)
		rv = parse_path(&c, path_r, false, true);
	if (!rv)
		rv = parse_params(&c, NULL);
	return rv;
}

int smtp_parse_bdat(const char *args, size_t len, uint64_t *size_r, bool *last_r)
{
	size_t i = 0;
	uint64_t v = 0;
	while (i < len && args[i] >= '0' && args[i] <= '9') {
		unsigned d = (unsigned)(args[i] - '0');
		if (i >= 20 || v > (UINT64_MAX - d) / 10)
			return MR_EINVAL;
		v = v * 10 + d;
		i++;
	}
	if (i == 0)
		return MR_EINVAL;
	bool last = false;
	if (i < len) {
		if (args[i] != ' ' || len - i - 1 != 4 || mr_strncasecmp(args + i + 1, "LAST", 4) != 0)
			return MR_EINVAL;
		last = true;
	}
	*size_r = v;
	*last_r = last;
	return 0;
}

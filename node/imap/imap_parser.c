/* imap_parser.c - incremental, bounded IMAP command parser (RFC 3501 §9, RFC 7888). A byte
 * state machine: every byte is examined once, nothing is read ahead, lists are tracked with an
 * explicit bounded stack (no recursion). Non-literal bytes count against max_line; literal
 * bytes against max_literal, accepted only after the caller has seen the announced size. After
 * a syntax error the rest of the line is discarded so the next command parses cleanly.
 */
#include "imap_parser.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

#define TAG_MAX 128
#define NAME_MAX_ 32
#define DEPTH_CAP 64

enum pstate {
	ST_TAG,
	ST_NAME,
	ST_SEP,
	ST_ATOM,
	ST_QUOTED,
	ST_QESC,
	ST_TILDE, /* RFC 3516 literal8 "~{" */
	ST_LITNUM,
	ST_LITPLUS,
	ST_LITCR,
	ST_LITLF,
	ST_LITWAIT,
	ST_LITDATA,
	ST_CR,
	ST_SKIP,
	ST_DONE,
};

struct tok {
	enum imap_arg_type type;
	size_t off, len, nchildren, end;
	bool binary;
};

struct imap_parser {
	struct imap_parser_limits lim, next_lim;
	enum pstate st;
	char tag[TAG_MAX + 1], name[NAME_MAX_ + 1];
	size_t taglen, namelen;
	struct buf data; /* token bytes, each NUL-terminated */
	struct tok *toks;
	size_t ntoks, captoks;
	struct imap_arg *args; /* resolved at DONE */
	size_t stack[DEPTH_CAP], depth;
	size_t cur;      /* token being filled */
	size_t bracket;  /* inside [ ] of an atom */
	size_t line_len; /* non-literal bytes so far */
	uint64_t lit_size, lit_left, lit_total;
	unsigned lit_digits;
	bool lit_sync;
	bool lit_binary; /* the literal being announced is a literal8 */
	const char *err;
};

static bool is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* ATOM-CHAR, leniently also list-wildcards, '\' (flags) and ']' (resp-specials). */
static bool is_atom_char(uint8_t c)
{
	if (is_ctl(c) || c >= 0x80 || c == ' ')
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* RFC 3501 §9: tag = 1*<any ASTRING-CHAR except "+"> */
static bool is_tag_char(uint8_t c)
{
	return is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim)
{
	struct imap_parser *p = xmalloc(sizeof *p);
	imap_parser_set_limits(p, lim);
	p->lim = p->next_lim;
	buf_init(&p->data, 0);
	p->st = ST_TAG;
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (!p)
		return;
	buf_free(&p->data);
	free(p->toks);
	free(p->args);
	free(p);
	*pp = NULL;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim)
{
	p->next_lim = *lim;
	if (p->next_lim.max_depth > DEPTH_CAP)
		p->next_lim.max_depth = DEPTH_CAP;
	if (p->next_lim.max_line < 16)
		p->next_lim.max_line = 16;
}

static void start_command(struct imap_parser *p)
{
	p->lim = p->next_lim;
	p->st = ST_TAG;
	p->taglen = p->namelen = 0;
	p->tag[0] = p->name[0] = 0;
	buf_reset(&p->data);
	if (p->data.cap > 1024 * 1024) { /* give back a big APPEND buffer */
		buf_free(&p->data);
		buf_init(&p->data, 0);
	}
	p->ntoks = p->depth = p->bracket = p->line_len = 0;
	p->lit_total = p->lit_size = p->lit_left = 0;
	p->err = NULL;
}

void imap_parser_reset(struct imap_parser *p, bool skip_line)
{
	char tag[TAG_MAX + 1];
	memcpy(tag, p->tag, sizeof tag);
	start_command(p);
	if (skip_line) {
		p->st = ST_SKIP;
		memcpy(p->tag, tag, sizeof tag); /* still reportable until the line ends */
	}
}

bool imap_parser_idle(const struct imap_parser *p)
{
	return (p->st == ST_TAG && p->taglen == 0) || p->st == ST_DONE;
}

static int fail(struct imap_parser *p, int rv, const char *why, uint8_t c)
{
	p->err = why;
	p->st = (c == '\n') ? ST_TAG : ST_SKIP;
	if (p->st == ST_TAG) {
		/* line already over: next byte starts a fresh command (tag kept for the reply) */
		char tag[TAG_MAX + 1];
		memcpy(tag, p->tag, sizeof tag);
		const char *e = p->err;
		start_command(p);
		memcpy(p->tag, tag, sizeof tag);
		p->err = e;
	}
	return rv;
}

static int new_tok(struct imap_parser *p, enum imap_arg_type t)
{
	if (p->ntoks >= p->lim.max_args)
		return MR_ETOOBIG;
	if (p->ntoks == p->captoks) {
		p->captoks = p->captoks ? p->captoks * 2 : 16;
		p->toks = xrealloc(p->toks, p->captoks * sizeof *p->toks);
	}
	struct tok *k = &p->toks[p->ntoks];
	memset(k, 0, sizeof *k);
	k->type = t;
	k->off = p->data.len;
	if (p->depth > 0)
		p->toks[p->stack[p->depth - 1]].nchildren++;
	p->cur = p->ntoks++;
	return 0;
}

static void end_tok(struct imap_parser *p)
{
	struct tok *k = &p->toks[p->cur];
	k->len = p->data.len - k->off;
	buf_append(&p->data, "", 1); /* NUL terminator (unbounded buffer: cannot fail) */
	if (k->type == IMAP_ARG_ATOM && k->len == 3 &&
	    mr_strncasecmp((const char *)p->data.p + k->off, "NIL", 3) == 0)
		k->type = IMAP_ARG_NIL;
}

static void add_byte(struct imap_parser *p, uint8_t c)
{
	buf_append(&p->data, &c, 1);
}

static int finish(struct imap_parser *p)
{
	if (p->depth != 0)
		return MR_EPROTO;
	free(p->args);
	p->args = xcalloc(p->ntoks ? p->ntoks : 1, sizeof *p->args);
	for (size_t i = 0; i < p->ntoks; i++) {
		struct tok *k = &p->toks[i];
		p->args[i].type = k->type;
		p->args[i].str = (const char *)p->data.p + k->off;
		p->args[i].len = k->len;
		p->args[i].nchildren = k->nchildren;
		p->args[i].end = k->end;
		p->args[i].binary = k->binary;
	}
	p->st = ST_DONE;
	return IMAP_PARSE_DONE;
}

/* Token start (or separator) in argument context. Returns 0, an event or an error. */
static int sep_byte(struct imap_parser *p, uint8_t c)
{
	int rv;
	switch (c) {
	case ' ':
		return 0;
	case '\r':
		p->st = ST_CR;
		return 0;
	case '\n':
		if (finish(p) < 0)
			return fail(p, MR_EPROTO, "unbalanced parentheses", c);
		return IMAP_PARSE_DONE;
	case '(':
		if (p->depth >= p->lim.max_depth)
			return fail(p, MR_ETOOBIG, "lists nested too deeply", c);
		if ((rv = new_tok(p, IMAP_ARG_LIST)) < 0)
			return fail(p, rv, "too many arguments", c);
		p->toks[p->cur].off = p->data.len;
		buf_append(&p->data, "", 1);
		p->stack[p->depth++] = p->cur;
		return 0;
	case ')':
		if (p->depth == 0)
			return fail(p, MR_EPROTO, "unexpected ')'", c);
		p->depth--;
		p->toks[p->stack[p->depth]].end = p->ntoks;
		return 0;
	case '"':
		if ((rv = new_tok(p, IMAP_ARG_QUOTED)) < 0)
			return fail(p, rv, "too many arguments", c);
		p->st = ST_QUOTED;
		return 0;
	case '{':
		p->lit_size = 0;
		p->lit_digits = 0;
		p->lit_sync = true;
		p->lit_binary = false;
		p->st = ST_LITNUM;
		return 0;
	case '~': /* RFC 3516 §4.2: literal8 = "~{" number "}" CRLF *OCTET */
		p->st = ST_TILDE;
		return 0;
	default:
		if (!is_atom_char(c))
			return fail(p, MR_EPROTO, "invalid character", c);
		if ((rv = new_tok(p, IMAP_ARG_ATOM)) < 0)
			return fail(p, rv, "too many arguments", c);
		p->bracket = 0;
		p->st = ST_ATOM;
		if (c == '[')
			p->bracket = 1;
		add_byte(p, c);
		return 0;
	}
}

/* One non-literal byte. */
static int step(struct imap_parser *p, uint8_t c)
{
	if (p->st != ST_SKIP && ++p->line_len > p->lim.max_line)
		return fail(p, MR_ETOOBIG, "line too long", c);
	if (c == 0)
		return fail(p, MR_EPROTO, "NUL in command", c);
	switch (p->st) {
	case ST_TAG:
		if (p->taglen == 0 && (c == '\r' || c == '\n')) { /* ignore empty lines */
			p->line_len = 0;
			return 0;
		}
		if (c == ' ') {
			if (p->taglen == 0)
				return fail(p, MR_EPROTO, "missing tag", c);
			p->st = ST_NAME;
			return 0;
		}
		if (!is_tag_char(c) || p->taglen >= TAG_MAX)
			return fail(p, MR_EPROTO, "invalid tag", c);
		p->tag[p->taglen++] = (char)c;
		p->tag[p->taglen] = 0;
		return 0;
	case ST_NAME:
		if (c == ' ' || c == '\r' || c == '\n') {
			if (p->namelen == 0)
				return fail(p, MR_EPROTO, "missing command", c);
			p->st = ST_SEP;
			return sep_byte(p, c);
		}
		if (!is_atom_char(c) || p->namelen >= NAME_MAX_)
			return fail(p, MR_EPROTO, "invalid command name", c);
		p->name[p->namelen++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		p->name[p->namelen] = 0;
		return 0;
	case ST_SEP:
		return sep_byte(p, c);
	case ST_ATOM:
		if (p->bracket > 0) {
			if (c == '\r' || c == '\n')
				return fail(p, MR_EPROTO, "unterminated '['", c);
			if (c == '[')
				p->bracket++;
			else if (c == ']')
				p->bracket--;
			add_byte(p, c);
			return 0;
		}
		if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
			end_tok(p);
			p->st = ST_SEP;
			return sep_byte(p, c);
		}
		if (!is_atom_char(c))
			return fail(p, MR_EPROTO, "invalid character in atom", c);
		if (c == '[')
			p->bracket = 1;
		add_byte(p, c);
		return 0;
	case ST_QUOTED:
		if (c == '\\') {
			p->st = ST_QESC;
			return 0;
		}
		if (c == '"') {
			end_tok(p);
			p->st = ST_SEP;
			return 0;
		}
		if (c == '\r' || c == '\n')
			return fail(p, MR_EPROTO, "unterminated quoted string", c);
		add_byte(p, c);
		return 0;
	case ST_QESC:
		if (c != '"' && c != '\\')
			return fail(p, MR_EPROTO, "invalid escape in quoted string", c);
		add_byte(p, c);
		p->st = ST_QUOTED;
		return 0;
	case ST_TILDE:
		if (c != '{')
			return fail(p, MR_EPROTO, "invalid literal8", c);
		p->lit_size = 0;
		p->lit_digits = 0;
		p->lit_sync = true;
		p->lit_binary = true;
		p->st = ST_LITNUM;
		return 0;
	case ST_LITNUM:
		if (c >= '0' && c <= '9') {
			/* RFC 3501 §9: number is a 32-bit unsigned value */
			p->lit_size = p->lit_size * 10 + (uint64_t)(c - '0');
			if (++p->lit_digits > 10 || p->lit_size > UINT32_MAX)
				return fail(p, MR_ETOOBIG, "literal size out of range", c);
			return 0;
		}
		if (p->lit_digits == 0)
			return fail(p, MR_EPROTO, "invalid literal", c);
		if (c == '+') {
			p->lit_sync = false;
			p->st = ST_LITPLUS;
			return 0;
		}
		if (c == '}') {
			p->st = ST_LITCR;
			return 0;
		}
		return fail(p, MR_EPROTO, "invalid literal", c);
	case ST_LITPLUS:
		if (c != '}')
			return fail(p, MR_EPROTO, "invalid literal", c);
		p->st = ST_LITCR;
		return 0;
	case ST_LITCR:
		if (c == '\r') {
			p->st = ST_LITLF;
			return 0;
		}
		/* bare LF tolerated */
		__attribute__((fallthrough));
	case ST_LITLF:
		if (c != '\n')
			return fail(p, MR_EPROTO, "literal must end the line", c);
		p->st = ST_LITWAIT;
		return IMAP_PARSE_LITERAL;
	case ST_CR:
		if (c != '\n')
			return fail(p, MR_EPROTO, "CR without LF", c);
		if (finish(p) < 0)
			return fail(p, MR_EPROTO, "unbalanced parentheses", c);
		return IMAP_PARSE_DONE;
	default:
		return MR_EPROTO;
	}
}

int imap_parser_push(struct imap_parser *p, const uint8_t *data, size_t len, size_t *used_r)
{
	size_t i = 0;
	int rv = 0;
	if (p->st == ST_DONE)
		start_command(p);
	if (p->st == ST_LITWAIT) {
		*used_r = 0;
		p->err = "literal not accepted";
		return MR_EPROTO;
	}
	while (i < len) {
		if (p->st == ST_LITDATA) {
			size_t n = len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			buf_append(&p->data, data + i, n);
			i += n;
			p->lit_left -= n;
			if (p->lit_left == 0) {
				end_tok(p);
				p->toks[p->cur].type = IMAP_ARG_LITERAL; /* never NIL */
				p->st = ST_SEP;
			}
			continue;
		}
		if (p->st == ST_SKIP) {
			const uint8_t *nl = memchr(data + i, '\n', len - i);
			if (!nl) {
				i = len;
				break;
			}
			i = (size_t)(nl - data) + 1;
			start_command(p);
			continue;
		}
		rv = step(p, data[i++]);
		if (rv != 0)
			break;
	}
	*used_r = i;
	return rv;
}

void imap_parser_literal(const struct imap_parser *p, uint64_t *size_r, bool *sync_r)
{
	*size_r = p->lit_size;
	*sync_r = p->lit_sync;
}

int imap_parser_literal_accept(struct imap_parser *p)
{
	if (p->st != ST_LITWAIT)
		return MR_EINVAL;
	if (p->lit_size > p->lim.max_literal || p->lit_total + p->lit_size > p->lim.max_literal) {
		p->err = "literal too big";
		return MR_ETOOBIG;
	}
	int rv = new_tok(p, IMAP_ARG_LITERAL);
	if (rv < 0) {
		p->err = "too many arguments";
		return rv;
	}
	p->toks[p->cur].binary = p->lit_binary;
	p->lit_total += p->lit_size;
	p->lit_left = p->lit_size;
	if (p->lit_left == 0) {
		end_tok(p);
		p->toks[p->cur].type = IMAP_ARG_LITERAL;
		p->st = ST_SEP;
	} else {
		p->st = ST_LITDATA;
	}
	return 0;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

const char *imap_parser_name(const struct imap_parser *p)
{
	return p->name;
}

const struct imap_arg *imap_parser_args(const struct imap_parser *p, size_t *n_r)
{
	*n_r = p->st == ST_DONE ? p->ntoks : 0;
	return p->args;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->err ? p->err : "syntax error";
}

bool imap_arg_is_astring(const struct imap_arg *a)
{
	/* a literal8 is no astring: RFC 3516 allows it in APPEND only */
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED ||
	       (a->type == IMAP_ARG_LITERAL && !a->binary);
}

bool imap_arg_is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_QUOTED || (a->type == IMAP_ARG_LITERAL && !a->binary);
}

bool imap_arg_atom_is(const struct imap_arg *a, const char *s)
{
	return (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL) && mr_strcasecmp(a->str, s) == 0;
}

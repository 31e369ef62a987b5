/* pop3_parse.c - the POP3 codec (see pop3_parse.h): a line collector with a hard budget that
 * splits complete lines into keyword + arguments, the numeric argument validators, and the
 * byte-stuffing encoder used for RETR/TOP/LIST/UIDL/CAPA multi-line responses. Wire data is
 * handled by length throughout; no sscanf/strtoul/strlen on client bytes. */
#include <string.h>
#include "pop3_parse.h"
#include "common/err.h"
#include "common/util.h"

enum { ST_LINE, ST_SKIP };

void pop3_parse_init(struct pop3_parser *p)
{
	p->mode = POP3_MODE_COMMAND;
	p->state = ST_LINE;
	p->err = 0;
	p->len = 0;
	p->skipped = 0;
	p->cr = false;
	memset(&p->cmd, 0, sizeof p->cmd);
}

void pop3_parse_set_mode(struct pop3_parser *p, enum pop3_parse_mode mode)
{
	p->mode = mode;
}

static void line_reset(struct pop3_parser *p)
{
	p->state = ST_LINE;
	p->err = 0;
	p->len = 0;
	p->skipped = 0;
	p->cr = false;
}

/* The content budget of the current line (CRLF excluded). RFC 2449 §4 counts the CRLF in the
 * 255 octets; AUTH lines and raw SASL lines get the larger budget (RFC 5034 §4). */
static size_t line_budget(const struct pop3_parser *p)
{
	if (p->mode == POP3_MODE_LINE)
		return POP3_AUTH_LINE_MAX - 2;
	if (p->len >= 5 && mr_strncasecmp(p->buf, "AUTH ", 5) == 0)
		return POP3_AUTH_LINE_MAX - 2;
	return POP3_LINE_MAX - 2;
}

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Split the complete line held in p->buf (p->len bytes, NUL-terminated) into p->cmd. */
static int split_command(struct pop3_parser *p)
{
	struct pop3_cmd *cmd = &p->cmd;
	char *s = p->buf;
	size_t n = p->len, i = 0;

	memset(cmd, 0, sizeof *cmd);
	/* RFC 1939 §3: keyword, then arguments each separated by a single SP. */
	while (i < n && s[i] != ' ') {
		if (i >= POP3_KEYWORD_MAX || !is_alpha(s[i]))
			return MR_EPROTO;
		cmd->keyword[i] = (char)(s[i] & ~0x20); /* ASCII upper-case */
		i++;
	}
	if (i < 3) /* RFC 2449 §3: keywords are three or four characters */
		return MR_EPROTO;
	cmd->keyword[i] = 0;
	if (i == n)
		return 1;
	i++; /* the SP */

	if (strcmp(cmd->keyword, "PASS") == 0) {
		/* RFC 1939 §7 PASS: "the server may treat spaces in the argument as part of the
		 * password": the rest of the line, verbatim, is the single argument. */
		cmd->nargs = 1;
		cmd->args[0] = s + i;
		cmd->arglen[0] = n - i;
		return 1;
	}
	/* Be lenient with trailing blanks ("LIST " from sloppy clients), strict inside. */
	while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && s[i] != ' ') {
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return MR_EPROTO;
			i++;
		}
		if (i == start) /* empty argument: two spaces in a row */
			return MR_EPROTO;
		if (cmd->nargs == POP3_ARGS_MAX)
			return MR_EPROTO;
		cmd->args[cmd->nargs] = s + start;
		cmd->arglen[cmd->nargs] = i - start;
		cmd->nargs++;
		if (i < n)
			s[i++] = 0;
	}
	return 1;
}

static int line_complete(struct pop3_parser *p)
{
	int rv = p->err;
	p->buf[p->len] = 0;
	if (rv == 0 && p->mode == POP3_MODE_LINE) {
		memset(&p->cmd, 0, sizeof p->cmd);
		p->cmd.line = p->buf;
		p->cmd.linelen = p->len;
		rv = 1;
	} else if (rv == 0) {
		rv = p->len == 0 ? MR_EPROTO : split_command(p);
	}
	/* keep the buffer (p->cmd points into it) but start a fresh line */
	p->state = ST_LINE;
	p->err = 0;
	p->len = 0;
	p->skipped = 0;
	p->cr = false;
	return rv;
}

int pop3_parse_push(struct pop3_parser *p, const uint8_t *data, size_t len, size_t *used_r)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = data[i];
		if (p->state == ST_SKIP) {
			/* the rest of an overlong line, already reported */
			if (c == '\n')
				line_reset(p);
			else
				p->skipped++;
			continue;
		}
		if (c == '\n') {
			*used_r = i + 1;
			return line_complete(p);
		}
		if (p->cr) {
			/* a CR not followed by LF (RFC 1939 §3: lines end in CRLF) */
			p->err = MR_EPROTO;
			p->cr = false;
		}
		if (c == '\r') {
			p->cr = true;
			continue;
		}
		if (c == 0)
			p->err = MR_EPROTO;
		if (p->len >= line_budget(p)) {
			p->state = ST_SKIP;
			p->skipped = 1;
			*used_r = i + 1;
			return MR_ETOOBIG;
		}
		p->buf[p->len++] = (char)c;
	}
	*used_r = len;
	return 0;
}

int pop3_parse_msgnum(const char *s, size_t len, uint32_t max, uint32_t *n_r)
{
	uint64_t v;
	/* mr_parse_u64 accepts digits only: "-1", "+1", "1x", " 1" are all rejected. */
	if (mr_parse_u64(s, len, UINT32_MAX, &v) != 0)
		return MR_EINVAL;
	if (v == 0 || v > max) /* RFC 1939 §5: message numbers start at 1 */
		return MR_EINVAL;
	*n_r = (uint32_t)v;
	return 0;
}

int pop3_parse_lines(const char *s, size_t len, uint64_t max, uint64_t *n_r)
{
	uint64_t v;
	if (mr_parse_u64(s, len, UINT64_MAX, &v) != 0)
		return MR_EINVAL;
	*n_r = v > max ? max : v;
	return 0;
}

/* ---- encoder ---------------------------------------------------------------------------- */

void pop3_dot_init(struct pop3_dotenc *e, int64_t limit)
{
	memset(e, 0, sizeof *e);
	e->bol = true;
	e->hdr_empty = true;
	if (limit >= 0) {
		e->limited = true;
		e->lines_left = (uint64_t)limit;
	}
}

/* A line has just ended: advance the TOP bookkeeping (RFC 1939 §7: "the headers of the message,
 * the blank line separating the headers from the body, and then the number of lines of the
 * indicated message's body"). */
static void end_of_line(struct pop3_dotenc *e)
{
	if (!e->in_body) {
		if (e->hdr_empty) {
			e->in_body = true;
			if (e->limited && e->lines_left == 0)
				e->done = true;
		}
	} else if (e->limited) {
		if (e->lines_left > 0)
			e->lines_left--;
		if (e->lines_left == 0)
			e->done = true;
	}
	e->bol = true;
	e->hdr_empty = true;
}

int pop3_dot_encode(struct pop3_dotenc *e, const uint8_t *in, size_t len, struct buf *out)
{
	uint8_t tmp[1024];
	size_t t = 0;

	if (out->max && (len > (SIZE_MAX - 1) / 2 || out->len + POP3_DOT_ENC_MAX(len) > out->max))
		return MR_ETOOBIG;
	for (size_t i = 0; i < len && !e->done; i++) {
		uint8_t c = in[i];
		if (t + 2 > sizeof tmp) {
			buf_append(out, tmp, t);
			t = 0;
		}
		if (c == '\n') {
			/* a bare LF becomes CRLF; CRLF passes through */
			if (!e->cr)
				tmp[t++] = '\r';
			tmp[t++] = '\n';
			e->cr = false;
			end_of_line(e);
			continue;
		}
		if (e->bol && c == '.') /* RFC 1939 §3: byte-stuff the termination octet */
			tmp[t++] = '.';
		tmp[t++] = c;
		e->bol = false;
		e->cr = c == '\r';
		if (c != '\r')
			e->hdr_empty = false;
	}
	if (t)
		buf_append(out, tmp, t);
	return 0;
}

int pop3_dot_finish(struct pop3_dotenc *e, struct buf *out)
{
	int rv = 0;
	if (!e->bol)
		rv = buf_puts(out, e->cr ? "\n" : "\r\n");
	if (rv == 0)
		rv = buf_puts(out, ".\r\n");
	e->bol = true;
	e->cr = false;
	e->done = true;
	return rv;
}

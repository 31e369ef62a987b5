/* pop3_parse.h - the POP3 codec: a bounded incremental command-line parser (RFC 1939 §3,
 * RFC 2449 §3-4), argument validators for message numbers and TOP line counts, and the
 * incremental byte-stuffing encoder for multi-line responses (RFC 1939 §3) including TOP's
 * header + n body lines cut (RFC 1939 §7). Pure code: no sockets, no storage, no allocation
 * beyond what the caller hands in, so it is unit-tested byte-at-a-time and fuzzed. */
#ifndef MR_POP3_PARSE_H
#define MR_POP3_PARSE_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "common/buf.h"

/* RFC 2449 §4: "The maximum length of a command is increased from 47 characters (4 character
 * command, single space, 40 character argument, CRLF) to 255 octets, including the terminating
 * CRLF." */
#define POP3_LINE_MAX 255
/* AUTH command lines and SASL client responses (RFC 5034 §4) carry base64 credentials: PLAIN
 * with a 320-octet address twice plus a long password is ~1 KB once encoded. 4096 leaves slack
 * while keeping the per-connection buffer small. */
#define POP3_AUTH_LINE_MAX 4096
/* Keywords are 3 or 4 characters (RFC 2449 §3); anything longer is not a command. */
#define POP3_KEYWORD_MAX 4
/* RFC 1939 §3: "Commands ... consist of a case-insensitive keyword, possibly followed by one or
 * more arguments"; no POP3 command takes more than two (TOP msg n). */
#define POP3_ARGS_MAX 2

enum pop3_parse_mode {
	POP3_MODE_COMMAND, /* keyword [SP arg [SP arg]] CRLF */
	POP3_MODE_LINE,    /* one raw line (a SASL client response, RFC 5034 §4) */
};

/* One parsed command. Strings point into the parser's own line buffer, are NUL-terminated and
 * stay valid until the next pop3_parse_push() call. */
struct pop3_cmd {
	char keyword[POP3_KEYWORD_MAX + 1]; /* upper-cased; "" in POP3_MODE_LINE */
	unsigned nargs;
	const char *args[POP3_ARGS_MAX];
	size_t arglen[POP3_ARGS_MAX];
	const char *line; /* POP3_MODE_LINE: the whole line without CRLF */
	size_t linelen;
};

struct pop3_parser {
	enum pop3_parse_mode mode;
	int state;      /* internal */
	int err;        /* sticky error of the current line, reported at its LF */
	size_t len;     /* bytes of the current line held in buf */
	size_t skipped; /* bytes discarded from an overlong line */
	bool cr;        /* previous byte was CR */
	char buf[POP3_AUTH_LINE_MAX + 1];
	struct pop3_cmd cmd;
};

/* Reset to the start of a line in mode (POP3_MODE_COMMAND after init). */
void pop3_parse_init(struct pop3_parser *p);
void pop3_parse_set_mode(struct pop3_parser *p, enum pop3_parse_mode mode);

/* Push up to len bytes. Consumes bytes up to and including the first line end (LF; CRLF or a
 * bare LF end a line), *used_r gets how many were consumed. Returns:
 *   1            a command (or raw line) is ready in p->cmd;
 *   0            all len bytes consumed, the line is not complete yet;
 *   MR_ETOOBIG   the line passed its limit (POP3_LINE_MAX, or POP3_AUTH_LINE_MAX for AUTH and
 *                raw lines). Reported once, as soon as the limit is crossed; the rest of that
 *                line is then discarded silently as it arrives and parsing resumes after it;
 *   MR_EPROTO    the line (now fully consumed) is malformed: empty, a NUL or bare CR, a keyword
 *                that is not 3-4 letters, an empty argument or more than POP3_ARGS_MAX.
 * After a 1 or an error the parser is ready for the next line (in the same mode).
 * "PASS" takes the whole rest of the line as its single argument (RFC 1939 §7: spaces may be
 * part of the password). */
int pop3_parse_push(struct pop3_parser *p, const uint8_t *data, size_t len, size_t *used_r);

/* RFC 1939 §3/§5: a message-number argument: decimal digits only, no sign, no leading '+',
 * 1..max (max = messages in the snapshot). 0 and MR_EINVAL ("0", "-1", "1x", overflow, > max). */
int pop3_parse_msgnum(const char *s, size_t len, uint32_t max, uint32_t *n_r);
/* RFC 1939 §7 TOP: a non-negative line count. Values over max are clamped to max (sending the
 * whole body is what a huge count means); junk and overflow give MR_EINVAL. */
int pop3_parse_lines(const char *s, size_t len, uint64_t max, uint64_t *n_r);

/* ---- multi-line response encoder (RFC 1939 §3) ------------------------------------------ */

/* Turns stored message bytes into the wire form: lines beginning with "." get one more ".",
 * bare LF becomes CRLF (the stored form is normally CRLF already), and pop3_dot_finish()
 * terminates the last line if needed and appends ".\r\n". With a body line limit (TOP) the
 * encoder stops after the header block, the empty line and that many body lines. */
struct pop3_dotenc {
	bool bol;       /* at the beginning of a line */
	bool cr;        /* the last input byte was a CR not yet followed by LF */
	bool in_body;   /* the empty line ending the headers was seen */
	bool hdr_empty; /* the current header line is empty so far */
	bool done;      /* TOP limit reached: the rest of the input is ignored */
	bool limited;
	uint64_t lines_left; /* body lines still to send when limited */
};

/* limit < 0: whole message (RETR); limit >= 0: headers + limit body lines (TOP). */
void pop3_dot_init(struct pop3_dotenc *e, int64_t limit);
/* Encode len input bytes, appending to out (an unbounded or large enough buf: the output is at
 * most 2 * len + 1 bytes). Returns 0 or MR_ETOOBIG if out's max would be exceeded (then out may
 * hold a prefix: size out for the worst case). Once e->done, further input is ignored. */
int pop3_dot_encode(struct pop3_dotenc *e, const uint8_t *in, size_t len, struct buf *out);
/* Worst-case output size of pop3_dot_encode for len input bytes. */
#define POP3_DOT_ENC_MAX(len) (2 * (len) + 1)
/* End the response: CRLF if the last line is unterminated, then ".\r\n". */
int pop3_dot_finish(struct pop3_dotenc *e, struct buf *out);

#endif

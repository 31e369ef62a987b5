/* smtp_parse.h - the SMTP wire codec (no sockets, no storage): an incremental command line
 * reader, the command splitter, the MAIL/RCPT path and ESMTP parameter parser (RFC 5321 §4.1.2,
 * RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8) and the incremental DATA decoder
 * (RFC 5321 §4.5.2 dot-unstuffing, end-of-data detection, size limit). Every parser here is
 * bounded: it never holds more than its configured maximum, whatever the peer sends.
 * Results follow the project convention: 1 = item ready, 0 = need more, <0 = MR_E* error.
 */
#ifndef MR_SMTP_PARSE_H
#define MR_SMTP_PARSE_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "common/buf.h"

/* RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF. ESMTP parameters
 * (RFC 1869 §4.1.2) and SMTPUTF8 addresses (RFC 6531 §3.4) make longer MAIL and RCPT lines
 * legitimate, so the reader allows 2048 octets including the line terminator and the command
 * gate holds every other command to SMTP_CMD_LINE_MAX. */
#define SMTP_LINE_MAX 2048
#define SMTP_CMD_LINE_MAX 512
/* RFC 5321 §4.5.3.1.6 limits a text line to 1000 octets; real mail breaks that, so we are
 * liberal but bounded: a DATA line longer than 64 KiB marks the message as rejected. */
#define SMTP_DATA_LINE_MAX (64 * 1024)
/* RFC 5321 §4.5.3.1.1/2: local part 64 + "@" + domain 255 octets; we accept a little more
 * (320 = struct dir_account.address) since SMTPUTF8 local parts may be longer in octets. */
#define SMTP_ADDR_MAX 320
/* RFC 5321 §6.3: loop detection by counting Received fields (the RFC suggests 100; Postfix
 * uses 50). More than this many is treated as a mail loop. */
#define SMTP_MAX_RECEIVED 50

/* ---- command lines ---------------------------------------------------------------------- */

/* Splits the input stream into lines terminated by CRLF or (liberally) a bare LF. */
struct smtp_linereader {
	struct buf line; /* the current line, without its terminator; max = max - 2 */
	bool overflow;   /* the current line exceeded the maximum: discarding to its LF */
	bool ready;      /* line holds a complete line (cleared by the next push) */
};

/* max: largest line including CRLF (>= 3). */
void smtp_linereader_init(struct smtp_linereader *lr, size_t max);
void smtp_linereader_free(struct smtp_linereader *lr);
/* Forget a partial line (after STARTTLS: RFC 3207 §4.2 forbids keeping plaintext input). */
void smtp_linereader_reset(struct smtp_linereader *lr);
/* Push up to n bytes; *used_r gets how many were consumed (the rest belongs to what follows
 * the line and must be pushed again later). Returns 1 when lr->line holds a complete line
 * (NUL-terminated, but it may contain NUL bytes: use lr->line.len), 0 when all n bytes were
 * consumed without completing a line, MR_ETOOBIG when a line longer than the maximum has just
 * ended (its bytes were discarded; the reader is ready for the next line). The line buffer is
 * cleared at the start of the next push after a 1. */
int smtp_linereader_push(struct smtp_linereader *lr, const uint8_t *p, size_t n, size_t *used_r);

/* A command line split into verb and arguments (RFC 5321 §4.1.1). Pointers into the line. */
struct smtp_cmdline {
	const char *verb; /* not NUL-terminated */
	size_t verb_len;
	const char *args; /* after the separating space(s); "" when none */
	size_t args_len;
};

/* Split line[0,len). Trailing spaces are dropped from args. Returns 0, or MR_EPROTO when the
 * line contains a NUL or a CR, or the verb is empty, longer than 16 or not alphabetic. */
int smtp_cmdline_split(const char *line, size_t len, struct smtp_cmdline *cmd_r);

/* ---- MAIL FROM / RCPT TO -------------------------------------------------------------- */

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_path {
	char addr[SMTP_ADDR_MAX + 1]; /* the mailbox ("" for the null path); a quoted local part
	                               * is unquoted when its content is a valid dot-string */
	size_t local_len;             /* bytes of addr before the "@" (see smtp_path_domain) */
	bool null;                    /* "<>" (reverse path only) */
	bool postmaster;              /* "<Postmaster>" without a domain (RFC 5321 §4.1.1.3) */
	bool utf8;                    /* contains non-ASCII (needs SMTPUTF8, RFC 6531 §3.4) */
};

/* The domain part of p->addr ("" for the null path and "<Postmaster>"). */
static inline const char *smtp_path_domain(const struct smtp_path *p)
{
	return p->addr[p->local_len] == '@' ? p->addr + p->local_len + 1 : "";
}

struct smtp_params {
	bool has_size;
	uint64_t size; /* RFC 1870: declared size; UINT64_MAX when the digits overflow */
	enum smtp_body body;
	bool smtputf8;
};

/* Parse the arguments of MAIL: "FROM:<reverse-path> [SP params]" (case-insensitive keyword,
 * one optional space after the colon as Postfix tolerates). Returns 0; MR_EPROTO for a syntax
 * error in the keyword or the path (501 5.5.4 / 5.1.7); MR_ETOOBIG for an address longer than
 * SMTP_ADDR_MAX; MR_EINVAL for an unknown, duplicate or malformed parameter (555 5.5.4). */
int smtp_parse_mail(const char *args, size_t len, struct smtp_path *path_r,
                    struct smtp_params *params_r);
/* Parse the arguments of RCPT: "TO:<forward-path> [SP params]". The null path is a syntax
 * error; "<Postmaster>" is accepted. No RCPT parameter is supported (we offer no DSN), so any
 * parameter gives MR_EINVAL. Other returns as smtp_parse_mail. */
int smtp_parse_rcpt(const char *args, size_t len, struct smtp_path *path_r);

/* True when s[0,len) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
bool smtp_utf8_valid(const uint8_t *s, size_t len);

/* RFC 3030 §2: "BDAT" SP chunk-size [SP "LAST"] arguments. chunk-size is 1..20 digits (no
 * value over UINT64_MAX), LAST is case-insensitive. 0 or MR_EINVAL. */
int smtp_parse_bdat(const char *args, size_t len, uint64_t *size_r, bool *last_r);

/* ---- DATA ----------------------------------------------------------------------------- */

/* Incremental decoder of the DATA text (RFC 5321 §4.5.2 transparency, §4.1.1.4 end). Lines end
 * in CRLF or, liberally, a bare LF; the stored message always uses CRLF. The end marker is a
 * line holding only "." (so CRLF.CRLF and LF.LF both end; a bare CR never ends a line).
 * Output beyond the maximum is counted but not stored. */
struct smtp_data {
	struct buf *out;    /* unstuffed message appended here (owned by the caller) */
	uint64_t max;       /* message size limit (bytes of unstuffed text) */
	uint64_t size;      /* bytes of unstuffed text so far (also counted past max) */
	uint64_t line_len;  /* bytes in the current line */
	size_t received;    /* Received: header fields seen in the header block */
	bool too_big;       /* size went over max: out stopped growing */
	bool line_too_long; /* a line exceeded SMTP_DATA_LINE_MAX */
	bool eight_bit;     /* some byte >= 0x80 was seen */
	bool in_headers;    /* still in the header block (before the first empty line) */
	bool after_crlf;    /* private: the current line began after a real CRLF */
	int state;          /* private */
	uint8_t hdr[9];     /* private: start of the current header line, for "Received:" */
};

void smtp_data_init(struct smtp_data *d, struct buf *out, uint64_t max);
/* Push n bytes; *used_r gets how many were consumed. Returns 1 when the end marker has been
 * consumed (bytes after it are left for the command reader), 0 when all n bytes were consumed
 * and more are needed. Never fails: limits are reported through too_big / line_too_long. */
int smtp_data_push(struct smtp_data *d, const uint8_t *p, size_t n, size_t *used_r);

#endif

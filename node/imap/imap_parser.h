/* imap_parser.h - the IMAP command codec (RFC 3501 §9 "command" grammar, RFC 7888 LITERAL+):
 * an incremental, bounded push parser turning client bytes into one command at a time: tag,
 * command name and a flat, pre-order array of arguments (atoms, quoted strings, literals and
 * RFC 3516 literal8s, NIL, parenthesised lists). It knows nothing of sockets or storage.
 * Literal sizes are reported to the caller (IMAP_PARSE_LITERAL) before any literal byte is
 * accepted, so the session can check its budget before sending "+ Ready" (style.md practice 4).
 *
 * Atoms may contain a "[...]" section in which spaces and parentheses are part of the atom, so
 * "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>" is one atom (as Dovecot's parser does).
 */
#ifndef MR_IMAP_PARSER_H
#define MR_IMAP_PARSER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,    /* includes flags "\Seen" and bracketed fetch items */
	IMAP_ARG_QUOTED,  /* "..." with escapes removed */
	IMAP_ARG_LITERAL, /* {n} / {n+} data */
	IMAP_ARG_NIL,     /* the atom NIL (case-insensitive) */
	IMAP_ARG_LIST,    /* ( ... ): followed by its children in pre-order */
};

struct imap_arg {
	enum imap_arg_type type;
	const char *str; /* NUL-terminated (literal data may also hold NULs: use len) */
	size_t len;
	/* LIST only: number of direct children, and the index just after the last descendant */
	size_t nchildren, end;
	bool binary; /* LITERAL only: sent as a literal8 "~{n}" (RFC 3516 §4.2), may hold NULs */
};

struct imap_parser_limits {
	size_t max_line;    /* non-literal bytes of one command, CRLFs included */
	size_t max_literal; /* hard cap on the literal bytes of one command (sum) */
	size_t max_depth;   /* nesting of ( ) */
	size_t max_args;    /* tokens (lists count as one each) */
};

/* Return values of imap_parser_push besides 0 ("need more, all input consumed") and errors. */
#define IMAP_PARSE_DONE 1    /* a whole command is ready: imap_parser_command() */
#define IMAP_PARSE_LITERAL 2 /* a literal header was read: see imap_parser_literal() */

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser **p);
/* Change limits (e.g. after authentication); applies from the next command. */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *lim);

/* Push bytes. *used_r gets how many were consumed (the rest belongs to the next call: after
 * DONE the remaining bytes are the next command). Returns:
 *   IMAP_PARSE_DONE    command ready (valid until the next push / reset),
 *   IMAP_PARSE_LITERAL literal announced: the caller must call imap_parser_literal_accept()
 *                      (and send "+" for a synchronizing one) or reject the command,
 *   0                  all consumed, need more,
 *   MR_EPROTO          syntax error (imap_parser_error() says why),
 *   MR_ETOOBIG         a limit was exceeded.
 * After an error the parser discards input up to the end of the current line and then starts
 * a new command: keep pushing. imap_parser_tag() gives the tag if one was read (for "tag BAD"). */
int imap_parser_push(struct imap_parser *p, const uint8_t *data, size_t len, size_t *used_r);

/* After IMAP_PARSE_LITERAL: the announced size and whether it is synchronizing ({n} vs {n+}). */
void imap_parser_literal(const struct imap_parser *p, uint64_t *size_r, bool *sync_r);
/* Accept the announced literal (its bytes follow). MR_ETOOBIG when it exceeds max_literal. */
int imap_parser_literal_accept(struct imap_parser *p);
/* Abandon the current command. skip_line: discard input up to the next LF first (use after a
 * rejected {n+} or mid-line); false when the line already ended (a rejected {n}). */
void imap_parser_reset(struct imap_parser *p, bool skip_line);
/* True when the parser is at the start of a command (nothing buffered). */
bool imap_parser_idle(const struct imap_parser *p);

/* The parsed command after IMAP_PARSE_DONE: tag, name (upper-cased) and arguments. */
const char *imap_parser_tag(const struct imap_parser *p); /* "" if none read yet */
const char *imap_parser_name(const struct imap_parser *p);
const struct imap_arg *imap_parser_args(const struct imap_parser *p, size_t *n_r);
const char *imap_parser_error(const struct imap_parser *p);

/* Helpers over arguments. astring = atom / quoted / literal. */
bool imap_arg_is_astring(const struct imap_arg *a);
bool imap_arg_is_string(const struct imap_arg *a); /* quoted / literal */
/* Case-insensitive compare of an atom with s. */
bool imap_arg_atom_is(const struct imap_arg *a, const char *s);

#endif

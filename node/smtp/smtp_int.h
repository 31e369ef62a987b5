/* smtp_int.h - private declarations shared by the files of the SMTP frontend: the session state
 * enum and its transition table, the command table with its central gate (both pure, in
 * smtp_state.c, so they are unit-testable without a connection), the session object and the
 * command handlers (smtp_session.c, smtp_cmd_*.c, smtp_deliver.c). Not for other modules.
 */
#ifndef MR_SMTP_INT_H
#define MR_SMTP_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "smtp_parse.h"

/* ---- states (style practice 6) ---------------------------------------------------------- */
enum smtp_state {
	SMTP_S_INIT,    /* greeting sent, no HELO/EHLO yet (also after STARTTLS) */
	SMTP_S_HELO,    /* greeted; no mail transaction */
	SMTP_S_MAIL,    /* MAIL accepted, no recipient accepted yet */
	SMTP_S_RCPT,    /* at least one RCPT accepted */
	SMTP_S_DATA,    /* receiving the message text */
	SMTP_S_DELIVER, /* message complete; store jobs running */
	SMTP_S_AUTH,    /* AUTH exchange (RFC 4954): continuation lines go to smtp__auth_line */
	SMTP_S_BDAT,    /* reading (or skipping) the bytes of a BDAT chunk (RFC 3030) */
	SMTP_S_QUIT,    /* closing: no more input is read */
	SMTP_S_COUNT
};

#define SMTP_ST(s) (1u << (s))
#define SMTP_ST_CMD                                                                                \
	(SMTP_ST(SMTP_S_INIT) | SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_MAIL) |                      \
	 SMTP_ST(SMTP_S_RCPT)) /* states that read command lines */

const char *smtp__state_name(enum smtp_state s);
/* True when from -> to is a legal move (the table in smtp_state.c). */
bool smtp__transition_ok(enum smtp_state from, enum smtp_state to);

/* ---- command table (style practice 5) ---------------------------------------------------- */
enum smtp_cmd_id {
	SMTP_CMD_EHLO,
	SMTP_CMD_HELO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_HELP,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_BDAT,
	SMTP_CMD_NOTIMPL,   /* known verbs we do not implement: 502 */
	SMTP_CMD_FORBIDDEN, /* HTTP verbs (cross-protocol attacks): reply and close */
	SMTP_CMD_COUNT
};

enum {
	SMTP_F_NOARGS = 1 << 0,   /* arguments are a syntax error (501) */
	SMTP_F_NEEDARGS = 1 << 1, /* arguments required (501) */
	SMTP_F_STARTTLS = 1 << 2, /* only while STARTTLS can be offered */
	SMTP_F_LONGLINE = 1 << 3, /* may exceed SMTP_CMD_LINE_MAX (ESMTP parameters, UTF-8) */
	SMTP_F_SUBMIT = 1 << 4,   /* submission listeners only (elsewhere: 502) */
};

struct smtp_cmd_def {
	const char *verb;
	enum smtp_cmd_id id;
	unsigned states; /* SMTP_ST() mask where the command is allowed */
	unsigned flags;
	const char *usage; /* the 501 reply for wrong arguments */
};

/* What the gate knows about the connection. */
struct smtp_gate_ctx {
	enum smtp_state state;
	bool tls;         /* TLS active */
	bool starttls_ok; /* the listener offers STARTTLS (and TLS is configured) */
	bool has_args;
	size_t line_len;  /* the command line's length without CRLF */
	bool submission;  /* a submission listener (587/465, RFC 6409) */
	bool authed;      /* AUTH succeeded */
};

/* Look a verb up (case-insensitive); NULL when unknown. */
const struct smtp_cmd_def *smtp__cmd_find(const char *verb, size_t len);
/* The central gate: NULL when the command may run, otherwise the full reply line (without
 * CRLF) to send instead. *close_r is set when the connection must close after the reply. */
const char *smtp__gate(const struct smtp_cmd_def *def, const struct smtp_gate_ctx *g,
                       bool *close_r);

/* ---- session ----------------------------------------------------------------------------- */
struct conn;
struct smtp_msg;

/* RFC 5321 §4.5.3.1.8 wants at least 100 recipients; used when max_recipients is 0. */
#define SMTP_DEFAULT_MAX_RCPT 100
/* Disconnect after this many errors in one session (Dovecot CLIENT_MAX_BAD_COMMANDS,
 * Postfix smtpd_hard_error_limit). */
#define SMTP_MAX_ERRORS 20
/* Distinct account databases per transaction (aliases may fan out). */
#define SMTP_MAX_DBNAMES 1000
/* Replies queued to a peer that pipelines without reading them before we disconnect (RFC 2920
 * §3.1 lets the client send a whole group, whose replies stay far below this). */
#define SMTP_MAX_QUEUED_OUTPUT (1024 * 1024)
/* Raw input pulled from the connection at a time. */
#define SMTP_READ_CHUNK 16384

struct smtp_session {
	struct conn *c;
	enum smtp_state state;
	struct smtp_linereader lr;
	uint8_t in[SMTP_READ_CHUNK]; /* pulled from the connection, not yet consumed */
	size_t in_off, in_len;
	unsigned errors;
	bool esmtp;          /* greeted with EHLO */
	char helo[256];      /* sanitised HELO/EHLO argument */
	bool busy;           /* an async job runs: input paused */
	unsigned holds;      /* outstanding async operations (each with a conn_hold) */
	unsigned processing; /* nesting of smtp__process (the session is not freed inside) */
	bool closed;         /* on_close has run */
	/* submission (RFC 6409, RFC 4954) */
	bool submission;                    /* accepted on a submission listener */
	bool authed;                        /* AUTH succeeded */
	unsigned auth_failures;             /* failed AUTH in this session */
	unsigned char auth_step;            /* AUTH LOGIN: 1 = username next, 2 = password next */
	char auth_user[320];                /* the authenticated account (lower case) */
	char auth_db[64];                   /* its database */
	char *auth_login_user;              /* AUTH LOGIN: the username, until the password */
	/* mail transaction (RFC 5321 §3.3) */
	struct smtp_path from;
	struct smtp_params params;
	size_t nrcpt;
	unsigned rcpt_rejected; /* RCPTs refused in this transaction (for the DATA reply) */
	char first_rcpt[SMTP_ADDR_MAX + 1];
	char **dbnames; /* distinct account databases of the accepted recipients */
	size_t ndb;
	/* DATA */
	struct smtp_data data;
	struct buf msg;
	size_t hdr_start; /* offset in msg of the client's text (after our Received field) */
	/* CHUNKING (RFC 3030) */
	bool bdat_started;          /* a BDAT chunk of this transaction was accepted */
	bool bdat_last;             /* the chunk being read ends the message */
	bool bdat_too_big;          /* the message went over the size limit: not stored further */
	uint64_t bdat_left;         /* bytes of the current chunk still to read */
	uint64_t bdat_size;         /* bytes of the message so far */
	enum smtp_state bdat_ret;   /* state to return to after a skipped chunk */
	const char *bdat_reply;     /* reply after a skipped chunk (NULL: the chunk is kept) */
	char queue_id[24];
};

/* smtp_session.c */
void smtp__enter_state(struct smtp_session *s, enum smtp_state next);
void smtp__reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Count an error reply (RFC 5321 §4.2 5xx/4xx caused by the client); disconnects with 421 at
 * SMTP_MAX_ERRORS. Returns true when the session is closing. */
bool smtp__error(struct smtp_session *s);
void smtp__reset_tx(struct smtp_session *s);
/* Enter async mode: stop reading input, pause and hold the conn. Exactly one smtp__async_end
 * must follow, from the completion on the loop thread. It returns true when the session may go
 * on (reply, then smtp__process); false when the connection is closing: the session may have
 * been freed and must not be touched. */
void smtp__async_begin(struct smtp_session *s);
bool smtp__async_end(struct smtp_session *s);
/* Drop buffered input, including a partial line (STARTTLS, RFC 3207 §4.2). */
void smtp__discard_input(struct smtp_session *s);
/* Continue processing buffered input (after an async completion). */
void smtp__process(struct smtp_session *s);

/* command handlers: args[0,len) with surrounding spaces removed */
typedef void (*smtp_handler)(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_ehlo(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_helo(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_mail(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_rcpt(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_data(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_rset(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_noop(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_quit(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_vrfy(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_help(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_starttls(struct smtp_session *s, const char *args, size_t len);
void smtp__cmd_auth(struct smtp_session *s, const char *args, size_t len);

/* smtp_auth.c: one line of an AUTH exchange (SMTP_S_AUTH), and the end of a session's AUTH
 * state (wipes what it held). */
void smtp__auth_line(struct smtp_session *s, const char *line, size_t len);
void smtp__auth_free(struct smtp_session *s);
/* Submission: check that the authenticated account may use s->from as its sender (its own
 * address or one of its aliases), then open the transaction (250) or refuse (553). */
void smtp__submit_sender(struct smtp_session *s);


/* smtp_cmd_data.c: the end marker was consumed in SMTP_S_DATA */
void smtp__data_end(struct smtp_session *s);
/* The whole message is in s->msg (DATA or BDAT LAST): size, line and loop checks, submission
 * headers, then delivery (or the rejection reply). */
void smtp__message_end(struct smtp_session *s, bool too_big, bool line_too_long, size_t received);
/* Start the stored message: queue id, Return-Path and Received (both DATA and BDAT). */
void smtp__message_begin(struct smtp_session *s);

/* smtp_cmd_bdat.c: BDAT (RFC 3030), and the chunk bytes in SMTP_S_BDAT (returns bytes used). */
void smtp__cmd_bdat(struct smtp_session *s, const char *args, size_t len);
size_t smtp__bdat_input(struct smtp_session *s, const uint8_t *p, size_t n);

/* smtp_deliver.c: store the finished message (s->msg, Received header included) into every
 * account database of the transaction; replies and returns to SMTP_S_HELO when done. */
void smtp__deliver(struct smtp_session *s);

#endif

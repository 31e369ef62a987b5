/* smtp_state.c - the pure parts of the SMTP session: the state names and the table of legal
 * transitions (style practice 6), and the command table with the central gate that checks the
 * state, the arguments and the TLS conditions before any handler runs (practice 5), so the
 * handlers never re-check. RFC 5321 §4.1.4 gives the command ordering rules, §4.2.4 the
 * 502/503/504 replies, RFC 3207 §4 STARTTLS, RFC 3463 the enhanced status codes.
 */
#include "smtp_int.h"
#include "common/util.h"
#include <string.h>

static const char *const state_names[SMTP_S_COUNT] = {
    [SMTP_S_INIT] = "INIT", [SMTP_S_HELO] = "HELO", [SMTP_S_MAIL] = "MAIL",
    [SMTP_S_RCPT] = "RCPT", [SMTP_S_DATA] = "DATA", [SMTP_S_DELIVER] = "DELIVER",
    [SMTP_S_AUTH] = "AUTH", [SMTP_S_BDAT] = "BDAT", [SMTP_S_QUIT] = "QUIT",
};

/* allowed[from] = mask of the states reachable from it */
static const unsigned allowed[SMTP_S_COUNT] = {
    /* RSET before HELO stays in INIT; EHLO/HELO greets */
    [SMTP_S_INIT] = SMTP_ST(SMTP_S_INIT) | SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_BDAT) |
                    SMTP_ST(SMTP_S_QUIT),
    /* a new EHLO or RSET stays; STARTTLS forgets the greeting (RFC 3207 §4.2) */
    [SMTP_S_HELO] = SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_INIT) | SMTP_ST(SMTP_S_MAIL) |
                    SMTP_ST(SMTP_S_AUTH) | SMTP_ST(SMTP_S_BDAT) | SMTP_ST(SMTP_S_QUIT),
    /* RSET or EHLO abort the transaction (RFC 5321 §4.1.1.5, §4.1.4) */
    [SMTP_S_MAIL] = SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_RCPT) | SMTP_ST(SMTP_S_BDAT) |
                    SMTP_ST(SMTP_S_QUIT),
    [SMTP_S_RCPT] = SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_RCPT) | SMTP_ST(SMTP_S_DATA) |
                    SMTP_ST(SMTP_S_BDAT) | SMTP_ST(SMTP_S_QUIT),
    /* end of data: deliver, or back to HELO when the message was rejected */
    [SMTP_S_DATA] = SMTP_ST(SMTP_S_DELIVER) | SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_QUIT),
    [SMTP_S_DELIVER] = SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_QUIT),
    /* the exchange ends (success, failure or cancel) back in HELO */
    [SMTP_S_AUTH] = SMTP_ST(SMTP_S_HELO) | SMTP_ST(SMTP_S_QUIT),
    /* a kept chunk returns to RCPT (or delivers, after LAST); a skipped one to where the
     * BDAT command came from */
    [SMTP_S_BDAT] = SMTP_ST_CMD | SMTP_ST(SMTP_S_DELIVER) | SMTP_ST(SMTP_S_QUIT),
    [SMTP_S_QUIT] = 0,
};

const char *smtp__state_name(enum smtp_state s)
{
	return (unsigned)s < SMTP_S_COUNT ? state_names[s] : "?";
}

bool smtp__transition_ok(enum smtp_state from, enum smtp_state to)
{
	if ((unsigned)from >= SMTP_S_COUNT || (unsigned)to >= SMTP_S_COUNT)
		return false;
	return (allowed[from] & SMTP_ST(to)) != 0;
}

static const struct smtp_cmd_def cmds[] = {
    {"EHLO", SMTP_CMD_EHLO, SMTP_ST_CMD, SMTP_F_NEEDARGS, "501 5.5.4 Syntax: EHLO hostname"},
    {"HELO", SMTP_CMD_HELO, SMTP_ST_CMD, SMTP_F_NEEDARGS, "501 5.5.4 Syntax: HELO hostname"},
    {"MAIL", SMTP_CMD_MAIL, SMTP_ST(SMTP_S_HELO), SMTP_F_NEEDARGS | SMTP_F_LONGLINE,
     "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"RCPT", SMTP_CMD_RCPT, SMTP_ST(SMTP_S_MAIL) | SMTP_ST(SMTP_S_RCPT),
     SMTP_F_NEEDARGS | SMTP_F_LONGLINE, "501 5.5.4 Syntax: RCPT TO:<address>"},
    /* DATA in MAIL state reaches the handler: after rejected RCPTs it answers 554 (RFC 2920
     * §3.1), otherwise 503 */
    {"DATA", SMTP_CMD_DATA, SMTP_ST(SMTP_S_MAIL) | SMTP_ST(SMTP_S_RCPT), SMTP_F_NOARGS,
     "501 5.5.4 Syntax: DATA"},
    {"RSET", SMTP_CMD_RSET, SMTP_ST_CMD, SMTP_F_NOARGS, "501 5.5.4 Syntax: RSET"},
    {"NOOP", SMTP_CMD_NOOP, SMTP_ST_CMD, 0, "501 5.5.4 Syntax: NOOP"},
    {"QUIT", SMTP_CMD_QUIT, SMTP_ST_CMD, SMTP_F_NOARGS, "501 5.5.4 Syntax: QUIT"},
    {"VRFY", SMTP_CMD_VRFY, SMTP_ST_CMD, SMTP_F_NEEDARGS, "501 5.5.4 Syntax: VRFY address"},
    {"HELP", SMTP_CMD_HELP, SMTP_ST_CMD, 0, "501 5.5.4 Syntax: HELP"},
    {"STARTTLS", SMTP_CMD_STARTTLS, SMTP_ST(SMTP_S_INIT) | SMTP_ST(SMTP_S_HELO),
     SMTP_F_NOARGS | SMTP_F_STARTTLS, "501 5.5.4 Syntax: STARTTLS"},
    /* RFC 4954 §4: AUTH after EHLO, not during a mail transaction */
    {"AUTH", SMTP_CMD_AUTH, SMTP_ST(SMTP_S_HELO), SMTP_F_NEEDARGS | SMTP_F_SUBMIT,
     "501 5.5.4 Syntax: AUTH mechanism [initial-response]"},
    /* recognised but not offered here (no EXPN: RFC 5321 §7.3) */
    {"EXPN", SMTP_CMD_NOTIMPL, SMTP_ST_CMD, 0, ""},
    {"TURN", SMTP_CMD_NOTIMPL, SMTP_ST_CMD, 0, ""},
    {"ETRN", SMTP_CMD_NOTIMPL, SMTP_ST_CMD, 0, ""},
    /* RFC 3030: in every command state, so that a refused chunk is still skipped (its
     * bytes must never be read as commands); the handler decides */
    {"BDAT", SMTP_CMD_BDAT, SMTP_ST_CMD, SMTP_F_NEEDARGS, "501 5.5.4 Syntax: BDAT size [LAST]"},
    {"SEND", SMTP_CMD_NOTIMPL, SMTP_ST_CMD, 0, ""},
    {"SOML", SMTP_CMD_NOTIMPL, SMTP_ST_CMD, 0, ""},
    {"SAML", SMTP_CMD_NOTIMPL, SMTP_ST_CMD, 0, ""},
    /* HTTP requests sent to the MX (cross-protocol attacks; Postfix
     * smtpd_forbidden_commands) */
    {"GET", SMTP_CMD_FORBIDDEN, SMTP_ST_CMD, 0, ""},
    {"POST", SMTP_CMD_FORBIDDEN, SMTP_ST_CMD, 0, ""},
    {"CONNECT", SMTP_CMD_FORBIDDEN, SMTP_ST_CMD, 0, ""},
    {"PUT", SMTP_CMD_FORBIDDEN, SMTP_ST_CMD, 0, ""},
    {"HEAD", SMTP_CMD_FORBIDDEN, SMTP_ST_CMD, 0, ""},
};

const struct smtp_cmd_def *smtp__cmd_find(const char *verb, size_t len)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(cmds); i++)
		if (strlen(cmds[i].verb) == len && mr_strncasecmp(cmds[i].verb, verb, len) == 0)
			return &cmds[i];
	return NULL;
}

/* The 503 text for def in state st (RFC 5321 §4.1.4 ordering). */
static const char *bad_sequence(const struct smtp_cmd_def *def, enum smtp_state st)
{
	if (st == SMTP_S_INIT)
		return "503 5.5.1 Error: send HELO/EHLO first";
	if (def->id == SMTP_CMD_MAIL)
		return st == SMTP_S_HELO ? "503 5.5.1 Error: bad sequence of commands"
		                         : "503 5.5.1 Error: nested MAIL command";
	if (def->id == SMTP_CMD_STARTTLS)
		return "503 5.5.1 Error: MAIL transaction in progress";
	if (st == SMTP_S_HELO)
		return "503 5.5.1 Error: need MAIL command";
	return "503 5.5.1 Error: bad sequence of commands";
}

const char *smtp__gate(const struct smtp_cmd_def *def, const struct smtp_gate_ctx *g, bool *close_r)
{
	*close_r = false;
	if (!def)
		return "500 5.5.2 Error: command not recognized";
	if (def->id == SMTP_CMD_FORBIDDEN) {
		*close_r = true;
		return "521 5.7.0 Error: HTTP request on the SMTP port: closing";
	}
	/* RFC 5321 §4.5.3.1.4: 512 octets with CRLF, except where an extension allows more */
	if (!(def->flags & SMTP_F_LONGLINE) && g->line_len + 2 > SMTP_CMD_LINE_MAX)
		return "500 5.5.2 Error: line too long";
	if (def->id == SMTP_CMD_NOTIMPL)
		return "502 5.5.1 Error: command not implemented";
	if (def->flags & SMTP_F_STARTTLS) {
		/* RFC 3207 §4: offered only on a STARTTLS listener and never twice */
		if (g->tls)
			return "554 5.5.1 Error: TLS already active";
		if (!g->starttls_ok)
			return "502 5.5.1 Error: command not implemented";
	}
	if ((def->flags & SMTP_F_SUBMIT) && !g->submission)
		return "502 5.5.1 Error: command not implemented"; /* no AUTH on the MX port */
	if (def->id == SMTP_CMD_AUTH && g->authed)
		return "503 5.5.1 Error: already authenticated"; /* RFC 4954 §4 */
	if (def->id == SMTP_CMD_AUTH && !g->tls)
		return "530 5.7.0 Must issue a STARTTLS command first"; /* RFC 3207 §4 */
	if (def->id == SMTP_CMD_MAIL && g->submission && !g->authed && g->state == SMTP_S_HELO)
		return "530 5.7.0 Authentication required"; /* RFC 4954 §6, RFC 6409 §4.1 */
	if (!(def->states & SMTP_ST(g->state)))
		return bad_sequence(def, g->state);
	if ((def->flags & SMTP_F_NOARGS) && g->has_args)
		return def->usage;
	if ((def->flags & SMTP_F_NEEDARGS) && !g->has_args)
		return def->usage;
	return NULL;
}

/* test_smtp_state.c - the SMTP session's pure tables (node/smtp/smtp_state.c): the legal state
 * transitions, the command lookup and the central gate's replies per state, arguments and TLS
 * conditions (RFC 5321 §4.1.4 ordering, RFC 3207 STARTTLS rules).
 */
#include "unit.h"
#include "smtp/smtp_int.h"

static void test_transitions(void)
{
	/* the normal path */
	ASSERT(smtp__transition_ok(SMTP_S_INIT, SMTP_S_HELO));
	ASSERT(smtp__transition_ok(SMTP_S_HELO, SMTP_S_MAIL));
	ASSERT(smtp__transition_ok(SMTP_S_MAIL, SMTP_S_RCPT));
	ASSERT(smtp__transition_ok(SMTP_S_RCPT, SMTP_S_RCPT));
	ASSERT(smtp__transition_ok(SMTP_S_RCPT, SMTP_S_DATA));
	ASSERT(smtp__transition_ok(SMTP_S_DATA, SMTP_S_DELIVER));
	ASSERT(smtp__transition_ok(SMTP_S_DELIVER, SMTP_S_HELO));
	/* resets and rejections */
	ASSERT(smtp__transition_ok(SMTP_S_INIT, SMTP_S_INIT)); /* RSET before HELO */
	ASSERT(smtp__transition_ok(SMTP_S_HELO, SMTP_S_INIT)); /* STARTTLS */
	ASSERT(smtp__transition_ok(SMTP_S_MAIL, SMTP_S_HELO)); /* RSET */
	ASSERT(smtp__transition_ok(SMTP_S_RCPT, SMTP_S_HELO)); /* RSET / EHLO */
	ASSERT(smtp__transition_ok(SMTP_S_DATA, SMTP_S_HELO)); /* message rejected */
	/* skipping steps is illegal */
	ASSERT(!smtp__transition_ok(SMTP_S_INIT, SMTP_S_MAIL));
	ASSERT(!smtp__transition_ok(SMTP_S_INIT, SMTP_S_DATA));
	ASSERT(!smtp__transition_ok(SMTP_S_HELO, SMTP_S_RCPT));
	ASSERT(!smtp__transition_ok(SMTP_S_HELO, SMTP_S_DATA));
	ASSERT(!smtp__transition_ok(SMTP_S_MAIL, SMTP_S_DATA));
	ASSERT(!smtp__transition_ok(SMTP_S_MAIL, SMTP_S_MAIL));
	ASSERT(!smtp__transition_ok(SMTP_S_RCPT, SMTP_S_DELIVER));
	ASSERT(!smtp__transition_ok(SMTP_S_DATA, SMTP_S_RCPT));
	ASSERT(!smtp__transition_ok(SMTP_S_DELIVER, SMTP_S_DATA));
	ASSERT(!smtp__transition_ok(SMTP_S_DELIVER, SMTP_S_INIT));
	/* STARTTLS only outside a transaction */
	ASSERT(!smtp__transition_ok(SMTP_S_MAIL, SMTP_S_INIT));
	ASSERT(!smtp__transition_ok(SMTP_S_RCPT, SMTP_S_INIT));
	/* QUIT is reachable from everywhere else and terminal */
	for (int s = 0; s < SMTP_S_COUNT; s++) {
		ASSERT_EQ_INT(smtp__transition_ok((enum smtp_state)s, SMTP_S_QUIT),
		              s != SMTP_S_QUIT);
		ASSERT(!smtp__transition_ok(SMTP_S_QUIT, (enum smtp_state)s));
	}
	ASSERT(!smtp__transition_ok(SMTP_S_COUNT, SMTP_S_HELO));
	ASSERT(!smtp__transition_ok(SMTP_S_HELO, SMTP_S_COUNT));
	ASSERT_EQ_STR(smtp__state_name(SMTP_S_DELIVER), "DELIVER");
	ASSERT_EQ_STR(smtp__state_name(SMTP_S_COUNT), "?");
}

static const struct smtp_cmd_def *find(const char *v)
{
	return smtp__cmd_find(v, strlen(v));
}

static void test_lookup(void)
{
	ASSERT(find("EHLO") && find("EHLO")->id == SMTP_CMD_EHLO);
	ASSERT(find("ehlo") && find("ehlo")->id == SMTP_CMD_EHLO);
	ASSERT(find("StartTls") && find("StartTls")->id == SMTP_CMD_STARTTLS);
	ASSERT(find("rcpt")->id == SMTP_CMD_RCPT);
	ASSERT(find("EXPN")->id == SMTP_CMD_NOTIMPL);
	ASSERT(find("GET")->id == SMTP_CMD_FORBIDDEN);
	ASSERT(find("EHL") == NULL);
	ASSERT(find("EHLOX") == NULL);
	ASSERT(find("FOO") == NULL);
	ASSERT(smtp__cmd_find("EHLO", 0) == NULL);
}

/* The gate's reply for verb in state st ("" when allowed). */
static const char *gate(const char *verb, enum smtp_state st, bool args, bool tls, bool offer,
                        bool *close_r)
{
	struct smtp_gate_ctx g = {.state = st, .tls = tls, .starttls_ok = offer, .has_args = args};
	const char *r = smtp__gate(find(verb), &g, close_r);
	return r ? r : "";
}

#define GATE(verb, st, args, want)                                                                 \
	do {                                                                                       \
		bool c_;                                                                           \
		const char *r_ = gate(verb, st, args, false, true, &c_);                           \
		ASSERT(strncmp(r_, want, strlen(want)) == 0 && (*want || !*r_));                   \
		ASSERT(!c_);                                                                       \
	} while (0)

static void test_gate_sequence(void)
{
	/* RFC 5321 §4.1.4: HELO/EHLO first, then MAIL, RCPT, DATA */
	GATE("MAIL", SMTP_S_INIT, true, "503 5.5.1 Error: send HELO/EHLO first");
	GATE("RCPT", SMTP_S_INIT, true, "503 5.5.1 Error: send HELO/EHLO first");
	GATE("DATA", SMTP_S_INIT, false, "503 5.5.1");
	GATE("MAIL", SMTP_S_HELO, true, "");
	GATE("RCPT", SMTP_S_HELO, true, "503 5.5.1 Error: need MAIL command");
	GATE("DATA", SMTP_S_HELO, false, "503 5.5.1 Error: need MAIL command");
	GATE("MAIL", SMTP_S_MAIL, true, "503 5.5.1 Error: nested MAIL command");
	GATE("MAIL", SMTP_S_RCPT, true, "503 5.5.1 Error: nested MAIL command");
	GATE("RCPT", SMTP_S_MAIL, true, "");
	GATE("RCPT", SMTP_S_RCPT, true, "");
	GATE("DATA", SMTP_S_MAIL, false, ""); /* the handler answers 503/554 without RCPT */
	GATE("DATA", SMTP_S_RCPT, false, "");
	/* commands that work in every command state */
	enum smtp_state cmd_states[] = {SMTP_S_INIT, SMTP_S_HELO, SMTP_S_MAIL, SMTP_S_RCPT};
	for (size_t i = 0; i < 4; i++) {
		GATE("EHLO", cmd_states[i], true, "");
		GATE("HELO", cmd_states[i], true, "");
		GATE("NOOP", cmd_states[i], false, "");
		GATE("NOOP", cmd_states[i], true, "");
		GATE("RSET", cmd_states[i], false, "");
		GATE("QUIT", cmd_states[i], false, "");
		GATE("VRFY", cmd_states[i], true, "");
		GATE("HELP", cmd_states[i], false, "");
	}
	/* nothing is accepted as a command outside the command states (defensive) */
	GATE("NOOP", SMTP_S_DATA, false, "503");
	GATE("QUIT", SMTP_S_DELIVER, false, "503");
	GATE("EHLO", SMTP_S_QUIT, true, "503");
}

static void test_gate_args(void)
{
	GATE("EHLO", SMTP_S_INIT, false, "501 5.5.4 Syntax: EHLO hostname");
	GATE("HELO", SMTP_S_INIT, false, "501 5.5.4 Syntax: HELO hostname");
	GATE("MAIL", SMTP_S_HELO, false, "501 5.5.4 Syntax: MAIL FROM:<address>");
	GATE("RCPT", SMTP_S_MAIL, false, "501 5.5.4 Syntax: RCPT TO:<address>");
	GATE("DATA", SMTP_S_RCPT, true, "501 5.5.4 Syntax: DATA");
	GATE("RSET", SMTP_S_HELO, true, "501 5.5.4 Syntax: RSET");
	GATE("QUIT", SMTP_S_HELO, true, "501 5.5.4 Syntax: QUIT");
	GATE("VRFY", SMTP_S_HELO, false, "501 5.5.4");
	GATE("STARTTLS", SMTP_S_HELO, true, "501 5.5.4 Syntax: STARTTLS");
}

static void test_gate_starttls(void)
{
	bool c;
	ASSERT_EQ_STR(gate("STARTTLS", SMTP_S_INIT, false, false, true, &c), "");
	ASSERT_EQ_STR(gate("STARTTLS", SMTP_S_HELO, false, false, true, &c), "");
	ASSERT_EQ_STR(gate("STARTTLS", SMTP_S_HELO, false, true, true, &c),
	              "554 5.5.1 Error: TLS already active");
	ASSERT_EQ_STR(gate("STARTTLS", SMTP_S_HELO, false, false, false, &c),
	              "502 5.5.1 Error: command not implemented");
	ASSERT_EQ_STR(gate("STARTTLS", SMTP_S_MAIL, false, false, true, &c),
	              "503 5.5.1 Error: MAIL transaction in progress");
	ASSERT_EQ_STR(gate("STARTTLS", SMTP_S_RCPT, false, false, true, &c),
	              "503 5.5.1 Error: MAIL transaction in progress");
	ASSERT(!c);
}

static void test_gate_unknown_and_forbidden(void)
{
	bool c = true;
	struct smtp_gate_ctx g = {.state = SMTP_S_HELO};
	ASSERT_EQ_STR(smtp__gate(NULL, &g, &c), "500 5.5.2 Error: command not recognized");
	ASSERT(!c);
	ASSERT_EQ_STR(gate("EXPN", SMTP_S_HELO, true, false, true, &c),
	              "502 5.5.1 Error: command not implemented");
	ASSERT(!c);
	/* no AUTH on the MX port */
	ASSERT_EQ_STR(gate("AUTH", SMTP_S_HELO, true, false, true, &c),
	              "502 5.5.1 Error: command not implemented");
	ASSERT(strncmp(gate("GET", SMTP_S_INIT, true, false, true, &c), "521 5.7.0", 9) == 0);
	ASSERT(c); /* the connection closes */
	ASSERT(strncmp(gate("POST", SMTP_S_HELO, true, false, true, &c), "521", 3) == 0);
	ASSERT(c);
}

/* Submission (RFC 6409, RFC 4954): AUTH only after TLS and only once, MAIL only after AUTH,
 * AUTH not inside a transaction. */
static const char *sgate(const char *verb, enum smtp_state st, bool tls, bool authed)
{
	bool c = true;
	struct smtp_gate_ctx g = {.state = st, .tls = tls, .starttls_ok = true, .has_args = true,
	                          .submission = true, .authed = authed};
	const char *r = smtp__gate(find(verb), &g, &c);
	ASSERT(!c);
	return r ? r : "";
}

static void test_gate_submission(void)
{
	ASSERT_EQ_STR(sgate("AUTH", SMTP_S_HELO, false, false),
	              "530 5.7.0 Must issue a STARTTLS command first");
	ASSERT_EQ_STR(sgate("AUTH", SMTP_S_HELO, true, false), "");
	ASSERT_EQ_STR(sgate("AUTH", SMTP_S_HELO, true, true), "503 5.5.1 Error: already authenticated");
	ASSERT_EQ_STR(sgate("AUTH", SMTP_S_MAIL, true, false), "503 5.5.1 Error: bad sequence of commands");
	ASSERT_EQ_STR(sgate("AUTH", SMTP_S_INIT, true, false), "503 5.5.1 Error: send HELO/EHLO first");
	ASSERT_EQ_STR(sgate("MAIL", SMTP_S_HELO, true, false), "530 5.7.0 Authentication required");
	ASSERT_EQ_STR(sgate("MAIL", SMTP_S_HELO, true, true), "");
	ASSERT_EQ_STR(sgate("MAIL", SMTP_S_INIT, true, false), "503 5.5.1 Error: send HELO/EHLO first");
	/* the AUTH exchange reads lines itself: no command runs meanwhile */
	ASSERT_EQ_STR(sgate("NOOP", SMTP_S_AUTH, true, false), "503 5.5.1 Error: bad sequence of commands");
	ASSERT(smtp__transition_ok(SMTP_S_HELO, SMTP_S_AUTH));
	ASSERT(smtp__transition_ok(SMTP_S_AUTH, SMTP_S_HELO));
	ASSERT(!smtp__transition_ok(SMTP_S_AUTH, SMTP_S_MAIL));
	ASSERT(!smtp__transition_ok(SMTP_S_MAIL, SMTP_S_AUTH));
}

static void test_gate_line_length(void)
{
	/* RFC 5321 §4.5.3.1.4: 512 octets including CRLF; MAIL and RCPT may be longer (ESMTP
	 * parameters, SMTPUTF8) up to the reader's SMTP_LINE_MAX */
	bool c;
	struct smtp_gate_ctx g = {.state = SMTP_S_HELO, .has_args = true, .line_len = 510};
	ASSERT(smtp__gate(find("NOOP"), &g, &c) == NULL);
	ASSERT(smtp__gate(find("EHLO"), &g, &c) == NULL);
	g.line_len = 511;
	ASSERT_EQ_STR(smtp__gate(find("NOOP"), &g, &c), "500 5.5.2 Error: line too long");
	ASSERT_EQ_STR(smtp__gate(find("EHLO"), &g, &c), "500 5.5.2 Error: line too long");
	g.line_len = SMTP_LINE_MAX - 2;
	ASSERT(smtp__gate(find("MAIL"), &g, &c) == NULL);
	g.state = SMTP_S_MAIL;
	ASSERT(smtp__gate(find("RCPT"), &g, &c) == NULL);
	ASSERT(!c);
}

static const struct unit_test tests[] = {
    {"gate_submission", test_gate_submission},
    {"gate_line_length", test_gate_line_length},
    {"transitions", test_transitions},
    {"lookup", test_lookup},
    {"gate_sequence", test_gate_sequence},
    {"gate_args", test_gate_args},
    {"gate_starttls", test_gate_starttls},
    {"gate_unknown_and_forbidden", test_gate_unknown_and_forbidden},
    {0},
};
UNIT_MAIN(tests)

/* smtp_cmd_basic.c - the session commands that do not touch a mail transaction's content:
 * EHLO/HELO (RFC 5321 §4.1.1.1, extensions per RFC 2920, 1870, 6152, 6531, 2034, 3207), RSET
 * (§4.1.1.5), NOOP (§4.1.1.9), QUIT (§4.1.1.10), VRFY (§3.5.3: 252), HELP (§4.1.1.8) and
 * STARTTLS (RFC 3207). The gate (smtp_state.c) has already checked state and arguments.
 */
#include "smtp_int.h"
#include "node.h"
#include "net/conn.h"
#include "common/log.h"
#include <stdio.h>
#include <string.h>

/* Keep the first word of the HELO/EHLO argument, printable ASCII only, for the Received
 * header (the peer controls it: no CR/LF or control bytes may reach a header). */
static void set_helo(struct smtp_session *s, const char *args, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len && args[i] != ' ' && args[i] != '\t'; i++) {
		if (n == sizeof s->helo - 1)
			break;
		unsigned char ch = (unsigned char)args[i];
		s->helo[n++] = (ch > 32 && ch < 127 && ch != '(' && ch != ')') ? (char)ch : '?';
	}
	s->helo[n] = 0;
}

static void greet(struct smtp_session *s, const char *args, size_t len, bool esmtp)
{
	/* RFC 5321 §4.1.4: EHLO/HELO in a transaction resets it */
	smtp__reset_tx(s);
	set_helo(s, args, len);
	s->esmtp = esmtp;
	smtp__enter_state(s, SMTP_S_HELO);
}

void smtp__cmd_ehlo(struct smtp_session *s, const char *args, size_t len)
{
	const struct node *n = node_get();
	greet(s, args, len, true);
	char size[40];
	snprintf(size, sizeof size, "SIZE %llu", (unsigned long long)n->cfg->max_message_size);
	const char *ext[10];
	size_t k = 0;
	ext[k++] = "PIPELINING";          /* RFC 2920 */
	ext[k++] = size;                  /* RFC 1870 */
	ext[k++] = "8BITMIME";            /* RFC 6152 */
	ext[k++] = "SMTPUTF8";            /* RFC 6531 */
	ext[k++] = "ENHANCEDSTATUSCODES"; /* RFC 2034 */
	ext[k++] = "CHUNKING";            /* RFC 3030 */
	if (conn_tls_mode(s->c) == CONN_TLS_STARTTLS && !conn_is_tls(s->c))
		ext[k++] = "STARTTLS"; /* RFC 3207 */
	/* RFC 4954: AUTH on submission only, and only once TLS is on (RFC 8314 §3) */
	if (s->submission && conn_is_tls(s->c) && !s->authed)
		ext[k++] = "AUTH PLAIN LOGIN";
	smtp__reply(s, "250-%s", n->hostname);
	for (size_t i = 0; i < k; i++)
		smtp__reply(s, "250%c%s", i + 1 == k ? ' ' : '-', ext[i]);
}

void smtp__cmd_helo(struct smtp_session *s, const char *args, size_t len)
{
	greet(s, args, len, false);
	smtp__reply(s, "250 %s", node_get()->hostname);
}

void smtp__cmd_rset(struct smtp_session *s, const char *args, size_t len)
{
	smtp__reset_tx(s);
	if (s->state != SMTP_S_INIT)
		smtp__enter_state(s, SMTP_S_HELO);
	smtp__reply(s, "250 2.0.0 Ok");
}

void smtp__cmd_noop(struct smtp_session *s, const char *args, size_t len)
{
	smtp__reply(s, "250 2.0.0 Ok");
}

void smtp__cmd_quit(struct smtp_session *s, const char *args, size_t len)
{
	smtp__reply(s, "221 2.0.0 Bye");
	smtp__enter_state(s, SMTP_S_QUIT);
	conn_close(s->c);
}

void smtp__cmd_vrfy(struct smtp_session *s, const char *args, size_t len)
{
	/* RFC 5321 §3.5.3: 252 when we will not say (no address harvesting) */
	smtp__reply(s, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

void smtp__cmd_help(struct smtp_session *s, const char *args, size_t len)
{
	smtp__reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s",
	            conn_tls_mode(s->c) == CONN_TLS_STARTTLS && !conn_is_tls(s->c) ? " STARTTLS"
	                                                                           : "");
}

void smtp__cmd_starttls(struct smtp_session *s, const char *args, size_t len)
{
	smtp__reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 §4.2: discard pipelined plaintext and everything learnt before TLS */
	smtp__discard_input(s);
	if (conn_starttls(s->c) != 0) {
		log_error("smtp", "starttls failed conn=%llu", (unsigned long long)conn_id(s->c));
		smtp__enter_state(s, SMTP_S_QUIT);
		conn_close(s->c);
		return;
	}
	smtp__reset_tx(s);
	s->esmtp = false;
	s->helo[0] = 0;
	smtp__enter_state(s, SMTP_S_INIT);
}

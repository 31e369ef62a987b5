/* smtp_session.c - the SMTP server session on one connection (RFC 5321 §4): the proto_ops
 * callbacks, the input loop that feeds the line reader or the DATA decoder from raw connection
 * bytes, the dispatch of command lines through the central gate (smtp_state.c) to the handlers
 * (smtp_cmd_*.c), the one place where states change, reply output and the error counter.
 *
 * Pipelining (RFC 2920): input is consumed strictly one command at a time from a session-owned
 * buffer. A command that needs async work (RCPT lookup, delivery) pauses the connection and
 * stops the loop; its completion replies and resumes the loop, so replies stay in order.
 * Lifetime: the session is freed by whichever comes last of on_close and the last async
 * completion (conn.h: conn_hold/conn_release).
 */
#include "smtp.h"
#include "smtp_int.h"
#include "node.h"
#include "core/ratelimit.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const smtp_handler handlers[SMTP_CMD_COUNT] = {
    [SMTP_CMD_EHLO] = smtp__cmd_ehlo,         [SMTP_CMD_HELO] = smtp__cmd_helo,
    [SMTP_CMD_MAIL] = smtp__cmd_mail,         [SMTP_CMD_RCPT] = smtp__cmd_rcpt,
    [SMTP_CMD_DATA] = smtp__cmd_data,         [SMTP_CMD_RSET] = smtp__cmd_rset,
    [SMTP_CMD_NOOP] = smtp__cmd_noop,         [SMTP_CMD_QUIT] = smtp__cmd_quit,
    [SMTP_CMD_VRFY] = smtp__cmd_vrfy,         [SMTP_CMD_HELP] = smtp__cmd_help,
    [SMTP_CMD_STARTTLS] = smtp__cmd_starttls, [SMTP_CMD_AUTH] = smtp__cmd_auth,
    [SMTP_CMD_BDAT] = smtp__cmd_bdat,
};

static void session_free(struct smtp_session *s)
{
	smtp__auth_free(s);
	smtp_linereader_free(&s->lr);
	smtp__reset_tx(s);
	buf_free(&s->msg);
	free(s);
}

/* Free when nothing refers to the session any more. Returns true when freed. */
static bool maybe_free(struct smtp_session *s)
{
	if (s->closed && s->holds == 0 && s->processing == 0) {
		session_free(s);
		return true;
	}
	return false;
}

void smtp__enter_state(struct smtp_session *s, enum smtp_state next)
{
	if (!smtp__transition_ok(s->state, next)) {
		log_error("smtp", "illegal transition conn=%llu %s -> %s",
		          (unsigned long long)conn_id(s->c), smtp__state_name(s->state),
		          smtp__state_name(next));
		assert(!"illegal SMTP state transition");
	}
	log_debug("smtp", "conn=%llu %s -> %s", (unsigned long long)conn_id(s->c),
	          smtp__state_name(s->state), smtp__state_name(next));
	s->state = next;
}

void smtp__reply(struct smtp_session *s, const char *fmt, ...)
{
	/* RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; ours carry at most one
	 * address (SMTP_ADDR_MAX) plus fixed text */
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 3)
		n = (int)(sizeof line - 3);
	line[n++] = '\r';
	line[n++] = '\n';
	conn_write(s->c, line, (size_t)n);
}

bool smtp__error(struct smtp_session *s)
{
	if (++s->errors < SMTP_MAX_ERRORS)
		return false;
	smtp__reply(s, "421 4.7.0 %s Error: too many errors", node_get()->hostname);
	log_info("smtp", "too many errors conn=%llu", (unsigned long long)conn_id(s->c));
	smtp__enter_state(s, SMTP_S_QUIT);
	conn_close(s->c);
	return true;
}

void smtp__reset_tx(struct smtp_session *s)
{
	memset(&s->from, 0, sizeof s->from);
	memset(&s->params, 0, sizeof s->params);
	s->nrcpt = 0;
	s->rcpt_rejected = 0;
	s->first_rcpt[0] = 0;
	if (s->dbnames) {
		for (size_t i = 0; i < s->ndb; i++)
			free(s->dbnames[i]);
		free(s->dbnames);
	}
	s->dbnames = NULL;
	s->ndb = 0;
	buf_free(&s->msg);
	s->queue_id[0] = 0;
	s->bdat_started = s->bdat_last = s->bdat_too_big = false;
	s->bdat_size = s->bdat_left = 0;
	s->bdat_reply = NULL;
}

void smtp__async_begin(struct smtp_session *s)
{
	s->busy = true;
	s->holds++;
	conn_hold(s->c);
	conn_pause(s->c);
}

bool smtp__async_end(struct smtp_session *s)
{
	struct conn *c = s->c;
	s->holds--;
	s->busy = false;
	/* a timeout may have said goodbye meanwhile (the idle timer runs while paused) */
	bool usable = !s->closed && !conn_closing(c) && s->state != SMTP_S_QUIT;
	if (usable)
		conn_resume(c);
	else
		maybe_free(s);
	conn_release(c); /* may free c (and call on_close): s is not touched after it */
	return usable;
}

/* One command line from the line reader. */
static void dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmdline cl;
	if (smtp_cmdline_split(line, len, &cl) != 0) {
		smtp__reply(s, "500 5.5.2 Error: bad syntax");
		smtp__error(s);
		return;
	}
	const struct smtp_cmd_def *def = smtp__cmd_find(cl.verb, cl.verb_len);
	struct smtp_gate_ctx g = {
	    .state = s->state,
	    .tls = conn_is_tls(s->c),
	    .starttls_ok = conn_tls_mode(s->c) == CONN_TLS_STARTTLS,
	    .has_args = cl.args_len > 0,
	    .line_len = len,
	    .submission = s->submission,
	    .authed = s->authed,
	};
	bool close_after;
	const char *deny = smtp__gate(def, &g, &close_after);
	if (deny) {
		smtp__reply(s, "%s", deny);
		if (close_after) {
			smtp__enter_state(s, SMTP_S_QUIT);
			conn_close(s->c);
		} else {
			smtp__error(s);
		}
		return;
	}
	handlers[def->id](s, cl.args, cl.args_len);
}

static void process_input(struct smtp_session *s)
{
	while (!s->busy && !s->closed && s->state != SMTP_S_QUIT && !conn_closing(s->c)) {
		if (s->in_off == s->in_len) {
			if (conn_write_queued(s->c) > SMTP_MAX_QUEUED_OUTPUT) {
				/* pipelining without reading our replies: don't buffer them forever
				 */
				log_info("smtp", "peer not reading replies conn=%llu",
				         (unsigned long long)conn_id(s->c));
				smtp__enter_state(s, SMTP_S_QUIT);
				conn_close(s->c);
				return;
			}
			s->in_off = 0;
			s->in_len = conn_read(s->c, s->in, sizeof s->in);
			if (s->in_len == 0)
				return;
		}
		const uint8_t *p = s->in + s->in_off;
		size_t n = s->in_len - s->in_off, used = 0;
		if (s->state == SMTP_S_BDAT) {
			s->in_off += smtp__bdat_input(s, p, n);
			continue;
		}
		if (s->state == SMTP_S_DATA) {
			int r = smtp_data_push(&s->data, p, n, &used);
			s->in_off += used;
			if (r == 1)
				smtp__data_end(s);
			continue;
		}
		int r = smtp_linereader_push(&s->lr, p, n, &used);
		s->in_off += used;
		if (r == 1 && s->state == SMTP_S_AUTH) {
			smtp__auth_line(s, (const char *)s->lr.line.p, s->lr.line.len);
		} else if (r == 1) {
			dispatch(s, (const char *)s->lr.line.p, s->lr.line.len);
		} else if (r < 0) {
			/* RFC 5321 §4.5.3.1.4: command line over the limit */
			smtp__reply(s, "500 5.5.2 Error: line too long");
			smtp__error(s);
		}
	}
}

void smtp__process(struct smtp_session *s)
{
	s->processing++;
	process_input(s);
	s->processing--;
	maybe_free(s);
}

void smtp__discard_input(struct smtp_session *s)
{
	s->in_off = s->in_len = 0;
	smtp_linereader_reset(&s->lr);
}

/* ---- proto_ops ---------------------------------------------------------------------------- */

static struct smtp_session *open_session(struct conn *c, bool submission)
{
	const struct node *n = node_get();
	struct smtp_session *s = xmalloc(sizeof *s);
	s->c = c;
	s->submission = submission;
	s->state = SMTP_S_INIT;
	smtp_linereader_init(&s->lr, SMTP_LINE_MAX);
	buf_init(&s->msg, 0);
	conn_set_data(c, s);
	/* RFC 5321 §4.5.3.2: server timeout of at least 5 minutes */
	conn_set_timeout(c, n->cfg->smtp_timeout * 1000u);
	if (!node_serving()) {
		/* RFC 5321 §3.1, §4.2.3: 421 instead of the greeting; senders retry later */
		smtp__reply(s, "421 4.3.2 %s Service not available yet, try again later",
			    n->hostname);
		conn_close(c);
		return s;
	}
	if (!ratelimit_hit(ratelimit_global(), RL_CONN_IP, conn_peer(c),
	                   n->cfg->smtp_rate_connections_per_ip, RATELIMIT_MINUTE_MS)) {
		log_info("smtp", "connection rate limit peer=%s", conn_peer(c));
		smtp__reply(s, "421 4.7.0 %s Too many connections from your address, try again later",
			    n->hostname);
		conn_close(c);
		return s;
	}
	/* RFC 5321 §4.3.1 greeting (no enhanced code: RFC 2034 §3) */
	smtp__reply(s, "220 %s ESMTP mailraft", n->hostname);
	log_debug("smtp", "open conn=%llu peer=%s submission=%d", (unsigned long long)conn_id(c),
	          conn_peer(c), submission);
	return s;
}

static void on_open(struct conn *c)
{
	(void)open_session(c, false);
}

static void on_open_submission(struct conn *c)
{
	(void)open_session(c, true);
}

static void on_input(struct conn *c)
{
	struct smtp_session *s = conn_data(c);
	if (s)
		smtp__process(s);
}

static void on_close(struct conn *c)
{
	struct smtp_session *s = conn_data(c);
	if (!s)
		return;
	conn_set_data(c, NULL);
	s->closed = true;
	maybe_free(s);
}

static void on_timeout(struct conn *c)
{
	struct smtp_session *s = conn_data(c);
	if (!s || s->state == SMTP_S_QUIT)
		return;
	/* RFC 5321 §4.5.3.2; the connection closes after this */
	smtp__reply(s, "421 4.4.2 %s Error: timeout exceeded", node_get()->hostname);
	log_info("smtp", "timeout conn=%llu state=%s", (unsigned long long)conn_id(c),
	         smtp__state_name(s->state));
	smtp__enter_state(s, SMTP_S_QUIT);
}

const struct proto_ops smtp_ops = {
    .name = "smtp",
    .on_open = on_open,
    .on_input = on_input,
    .on_close = on_close,
    .on_timeout = on_timeout,
};

/* Submission (RFC 6409) on 587 (STARTTLS) and 465 (implicit TLS, RFC 8314): the same session
 * with AUTH offered after TLS and required before MAIL. */
const struct proto_ops smtp_submission_ops = {
    .name = "submission",
    .on_open = on_open_submission,
    .on_input = on_input,
    .on_close = on_close,
    .on_timeout = on_timeout,
};

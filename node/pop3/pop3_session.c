/* pop3_session.c - the POP3 server loop (RFC 1939): the connection callbacks (pop3_ops), the
 * input pump that feeds the codec, the command table with its one central gate (state, arity,
 * credentials-need-TLS), the explicit state machine AUTHORIZATION -> TRANSACTION -> UPDATE, and
 * the small TRANSACTION commands (STAT, LIST, UIDL, DELE, RSET, NOOP) plus CAPA (RFC 2449 §5).
 * Authentication lives in pop3_auth.c, RETR/TOP/QUIT in pop3_retr.c, store jobs in
 * pop3_store.c. Everything here runs on the loop thread. */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "pop3.h"
#include "pop3_int.h"
#include "node.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* ---- state machine (style practice 6) ---------------------------------------------------- */

static const char *const state_names[POP3_STATE_COUNT] = {"AUTHORIZATION", "TRANSACTION", "UPDATE"};
/* RFC 1939 §3: AUTHORIZATION -> TRANSACTION (after a successful login) -> UPDATE (QUIT). A
 * session that ends any other way never enters UPDATE (§6). */
static const unsigned state_next[POP3_STATE_COUNT] = {
    [POP3_AUTHORIZATION] = POP3_IN(POP3_TRANSACTION),
    [POP3_TRANSACTION] = POP3_IN(POP3_UPDATE),
    [POP3_UPDATE] = 0,
};

void pop3__enter_state(struct pop3_session *s, enum pop3_state next)
{
	if (!(state_next[s->state] & POP3_IN(next))) { /* a bug: say so even in release builds */
		log_error("pop3", "conn=%" PRIu64 " illegal state change %s -> %s", conn_id(s->c),
		          state_names[s->state], state_names[next]);
		assert(0);
	}
	log_debug("pop3", "conn=%" PRIu64 " %s -> %s", conn_id(s->c), state_names[s->state],
	          state_names[next]);
	s->state = next;
}

bool pop3__auth_allowed(struct pop3_session *s)
{
	/* RFC 2595 §2.1 / RFC 8314: no cleartext passwords unless the admin allows it. */
	return conn_is_tls(s->c) || node_get()->cfg->plaintext_auth;
}

/* ---- session lifetime ------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
	struct pop3_session *s = h->data;
	mr_memzero(s, sizeof *s); /* the parser and input buffers may have held a password */
	free(s);
}

static void session_destroy(struct pop3_session *s)
{
	pop3__timer_stop(s);
	pop3__stream_free(s);
	pop3__unlock(s);
	free(s->msgs);
	s->msgs = NULL;
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

static void on_timer(uv_timer_t *t)
{
	struct pop3_session *s = t->data;
	enum pop3_timer_use use = s->timer_use;
	if (s->gone || conn_closing(s->c)) {
		pop3__timer_stop(s);
		return;
	}
	if (use == POP3_TIMER_AUTH_DELAY) {
		pop3__timer_stop(s);
		pop3__auth_delay_expired(s);
	} else if (use == POP3_TIMER_DRAIN) {
		pop3__drain_tick(s);
	} else if (use == POP3_TIMER_OUTPUT && conn_write_queued(s->c) <= POP3_WRITE_LOW) {
		pop3__timer_stop(s);
		pop3__idle(s);
	}
}

void pop3__timer_start(struct pop3_session *s, enum pop3_timer_use use, uint64_t ms,
                       uint64_t repeat)
{
	s->timer_use = use;
	uv_timer_start(&s->timer, on_timer, ms, repeat);
}

void pop3__timer_stop(struct pop3_session *s)
{
	s->timer_use = POP3_TIMER_NONE;
	uv_timer_stop(&s->timer);
}

int pop3__submit(struct pop3_session *s, const char *dbname, store_job_fn fn, store_done_fn done,
                 void *arg)
{
	conn_hold(s->c);
	s->jobs++;
	int rv = store_submit(node_get()->store, dbname, 0, fn, done, arg);
	if (rv != 0) {
		s->jobs--;
		conn_release(s->c);
	}
	return rv;
}

bool pop3__job_end(struct pop3_session *s)
{
	struct conn *c = s->c;
	bool alive = !s->gone && !conn_closing(c);
	s->jobs--;
	if (s->gone && s->jobs == 0)
		session_destroy(s);
	conn_release(c);
	return alive;
}

/* ---- input ------------------------------------------------------------------------------- */

static void pump(struct pop3_session *s);

void pop3__busy(struct pop3_session *s)
{
	s->busy = true;
	conn_pause(s->c);
}

void pop3__idle(struct pop3_session *s)
{
	s->busy = false;
	conn_resume(s->c);
	pump(s); /* commands already taken from conn (pipelining, RFC 2449 §6.6) */
}

void pop3__bad(struct pop3_session *s, const char *reply)
{
	conn_printf(s->c, "%s\r\n", reply);
	if (++s->bad_commands >= POP3_MAX_BAD_COMMANDS) {
		log_info("pop3", "conn=%" PRIu64 " too many bad commands", conn_id(s->c));
		conn_puts(s->c, "-ERR too many bad commands, closing connection\r\n");
		conn_close(s->c);
	}
}

#define CMD_SECRET 0x1     /* carries credentials: TLS or plaintext_auth required */
#define CMD_NEEDS_USER 0x2 /* PASS: only after a USER */
#define CMD_KEEPS_USER 0x4 /* does not forget a pending USER name */

struct pop3_command {
	const char *name;
	pop3_handler fn;
	unsigned states; /* POP3_IN() mask */
	uint8_t min_args, max_args;
	unsigned flags;
};

static void cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd);
static void cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd);
static void cmd_uidl(struct pop3_session *s, const struct pop3_cmd *cmd);
static void cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd);
static void cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd);
static void cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd);

#define AUTHZ POP3_IN(POP3_AUTHORIZATION)
#define TRANS POP3_IN(POP3_TRANSACTION)
static const struct pop3_command commands[] = {
    {"CAPA", pop3__cmd_capa, AUTHZ | TRANS, 0, 0, 0},                   /* RFC 2449 §5 */
    {"USER", pop3__cmd_user, AUTHZ, 1, 1, CMD_SECRET | CMD_KEEPS_USER}, /* RFC 1939 §7 */
    {"PASS", pop3__cmd_pass, AUTHZ, 1, 1, CMD_SECRET | CMD_NEEDS_USER | CMD_KEEPS_USER},
    {"AUTH", pop3__cmd_auth, AUTHZ, 0, 2, CMD_SECRET}, /* RFC 5034 §4 */
    {"STLS", pop3__cmd_stls, AUTHZ, 0, 0, 0},          /* RFC 2595 §4 */
    {"STAT", cmd_stat, TRANS, 0, 0, 0},                /* RFC 1939 §5 */
    {"LIST", cmd_list, TRANS, 0, 1, 0},
    {"UIDL", cmd_uidl, TRANS, 0, 1, 0}, /* RFC 1939 §7 */
    {"TOP", pop3__cmd_top, TRANS, 2, 2, 0},
    {"RETR", pop3__cmd_retr, TRANS, 1, 1, 0},
    {"DELE", cmd_dele, TRANS, 1, 1, 0},
    {"RSET", cmd_rset, TRANS, 0, 0, 0},
    {"NOOP", cmd_noop, TRANS, 0, 0, 0},
    {"QUIT", pop3__cmd_quit, AUTHZ | TRANS, 0, 0, 0}, /* RFC 1939 §4, §6 */
};

/* The central gate: every check that depends on state, arity or transport happens here, so the
 * handlers never re-check (style practice 5). */
static void dispatch(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const struct pop3_command *k = NULL;
	for (size_t i = 0; i < MR_ARRAY_LEN(commands); i++) {
		if (strcmp(commands[i].name, cmd->keyword) == 0) {
			k = &commands[i];
			break;
		}
	}
	if (!k) {
		pop3__bad(s, "-ERR unknown command");
		return;
	}
	if (!(k->states & POP3_IN(s->state))) {
		pop3__bad(s, "-ERR command not valid in this state");
		return;
	}
	if (cmd->nargs < k->min_args || cmd->nargs > k->max_args) {
		pop3__bad(s, "-ERR syntax error: wrong number of arguments");
		return;
	}
	if ((k->flags & CMD_SECRET) && !pop3__auth_allowed(s)) {
		/* RFC 3206 §4: [AUTH] for an authentication problem the user must fix */
		pop3__bad(s, "-ERR [AUTH] plaintext authentication disallowed, use STLS first");
		return;
	}
	if ((k->flags & CMD_NEEDS_USER) && s->user[0] == 0) {
		pop3__bad(s, "-ERR USER first");
		return;
	}
	if (!(k->flags & CMD_KEEPS_USER))
		s->user[0] = 0; /* RFC 1939 §7: PASS must directly follow USER */
	k->fn(s, cmd);
}

static void handle_line(struct pop3_session *s)
{
	const struct pop3_cmd *cmd = &s->parser.cmd;
	if (s->sasl_wait) {
		s->sasl_wait = false;
		pop3_parse_set_mode(&s->parser, POP3_MODE_COMMAND);
		pop3__sasl_response(s, cmd->line, cmd->linelen);
		mr_memzero(s->parser.buf, sizeof s->parser.buf);
		return;
	}
	bool secret = strcmp(cmd->keyword, "PASS") == 0 || strcmp(cmd->keyword, "AUTH") == 0;
	dispatch(s, cmd);
	if (secret)
		mr_memzero(s->parser.buf, sizeof s->parser.buf);
}

/* Take input from the connection and run every complete command, until input runs out, an
 * async step starts, or too much output waits for the peer (a pipelining client that does not
 * read its replies must not grow our queue without bound). Not re-entered: a handler that ends
 * its async step synchronously (pop3__idle) just lets this loop continue. */
static void pump(struct pop3_session *s)
{
	if (s->pumping)
		return;
	s->pumping = true;
	while (!s->busy && !s->gone && !conn_closing(s->c)) {
		if (conn_write_queued(s->c) > POP3_WRITE_HIGH) {
			pop3__busy(s);
			pop3__timer_start(s, POP3_TIMER_OUTPUT, POP3_DRAIN_POLL_MS,
			                  POP3_DRAIN_POLL_MS);
			break;
		}
		if (s->in_off == s->in_len) {
			s->in_off = 0;
			s->in_len = conn_read(s->c, s->in, sizeof s->in);
			if (s->in_len == 0)
				break;
		}
		size_t used = 0;
		int rv =
		    pop3_parse_push(&s->parser, s->in + s->in_off, s->in_len - s->in_off, &used);
		s->in_off += used;
		if (rv == 0)
			continue;
		if (rv == 1) {
			handle_line(s);
			continue;
		}
		if (s->sasl_wait) {
			/* a broken SASL response ends the exchange (RFC 5034 §4) */
			s->sasl_wait = false;
			pop3_parse_set_mode(&s->parser, POP3_MODE_COMMAND);
			mr_memzero(s->parser.buf, sizeof s->parser.buf);
		}
		pop3__bad(s, rv == MR_ETOOBIG ? "-ERR line too long" : "-ERR malformed command");
	}
	s->pumping = false;
}

/* ---- small commands ------------------------------------------------------------------------ */

/* Append to a response being built, flushing to the connection in pieces. */
static void out_flush(struct pop3_session *s, struct buf *b, bool force)
{
	if (b->len && (force || b->len > 16384)) {
		conn_write(s->c, b->p, b->len);
		buf_reset(b);
	}
}

void pop3__cmd_capa(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct buf b;
	buf_init(&b, 0);
	/* RFC 2449 §6: the initial capabilities; USER and SASL only where usable (RFC 2595 §4:
	 * the client re-issues CAPA after STLS). */
	buf_puts(&b, "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	             "AUTH-RESP-CODE\r\n");
	if (s->state == POP3_AUTHORIZATION) {
		if (pop3__auth_allowed(s))
			buf_puts(&b, "USER\r\nSASL PLAIN\r\n");
		if (conn_tls_mode(s->c) == CONN_TLS_STARTTLS && !conn_is_tls(s->c))
			buf_puts(&b, "STLS\r\n");
	}
	buf_puts(&b, "IMPLEMENTATION mailraft\r\n.\r\n");
	out_flush(s, &b, true);
	buf_free(&b);
}

static void maildrop_totals(const struct pop3_session *s, uint32_t *n_r, uint64_t *octets_r)
{
	uint32_t n = 0;
	uint64_t octets = 0;
	for (uint32_t i = 0; i < s->nmsgs; i++) {
		if (!s->msgs[i].deleted) {
			n++;
			octets += s->msgs[i].size;
		}
	}
	*n_r = n;
	*octets_r = octets;
}

static void cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	uint32_t n;
	uint64_t octets;
	maildrop_totals(s, &n, &octets);
	conn_printf(s->c, "+OK %" PRIu32 " %" PRIu64 "\r\n", n, octets); /* RFC 1939 §5 */
}

/* The message named by arg, or NULL after replying -ERR (RFC 1939 §5: a deleted message may
 * not be referred to). */
static struct pop3_msg *msg_arg(struct pop3_session *s, const char *arg, size_t len, uint32_t *n_r)
{
	uint32_t n;
	if (pop3_parse_msgnum(arg, len, s->nmsgs, &n) != 0 || s->msgs[n - 1].deleted) {
		conn_puts(s->c, "-ERR no such message\r\n");
		return NULL;
	}
	*n_r = n;
	return &s->msgs[n - 1];
}

/* LIST and UIDL share their shape: one message or a multi-line listing. */
static void listing(struct pop3_session *s, const struct pop3_cmd *cmd, bool uidl)
{
	uint32_t n;
	struct pop3_msg *m;
	if (cmd->nargs == 1) {
		if (!(m = msg_arg(s, cmd->args[0], cmd->arglen[0], &n)))
			return;
		if (uidl)
			conn_printf(s->c, "+OK %" PRIu32 " %" PRIu32 "-%" PRIu32 "\r\n", n,
			            s->uidvalidity, m->uid);
		else
			conn_printf(s->c, "+OK %" PRIu32 " %" PRIu64 "\r\n", n, m->size);
		return;
	}
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, uidl ? "+OK unique-id listing follows\r\n" : "+OK scan listing follows\r\n");
	for (uint32_t i = 0; i < s->nmsgs; i++) {
		m = &s->msgs[i];
		if (m->deleted)
			continue;
		/* RFC 1939 §7 UIDL: unique-id is 1-70 chars of 0x21..0x7E; "<uidvalidity>-<uid>"
		 * is stable as long as the IMAP UIDs are. */
		if (uidl)
			buf_printf(&b, "%" PRIu32 " %" PRIu32 "-%" PRIu32 "\r\n", i + 1,
			           s->uidvalidity, m->uid);
		else
			buf_printf(&b, "%" PRIu32 " %" PRIu64 "\r\n", i + 1, m->size);
		out_flush(s, &b, false);
	}
	buf_puts(&b, ".\r\n");
	out_flush(s, &b, true);
	buf_free(&b);
}

static void cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	listing(s, cmd, false);
}

static void cmd_uidl(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	listing(s, cmd, true);
}

static void cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	uint32_t n;
	struct pop3_msg *m = msg_arg(s, cmd->args[0], cmd->arglen[0], &n);
	if (!m)
		return;
	m->deleted = true; /* RFC 1939 §5: applied in the UPDATE state only */
	conn_printf(s->c, "+OK message %" PRIu32 " deleted\r\n", n);
}

static void cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	uint32_t n;
	uint64_t octets;
	for (uint32_t i = 0; i < s->nmsgs; i++)
		s->msgs[i].deleted = false;
	maildrop_totals(s, &n, &octets);
	conn_printf(s->c, "+OK maildrop has %" PRIu32 " messages (%" PRIu64 " octets)\r\n", n,
	            octets);
}

static void cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	conn_puts(s->c, "+OK\r\n");
}

/* ---- connection callbacks ------------------------------------------------------------------ */

static void pop3_on_open(struct conn *c)
{
	struct node *node = node_get();
	struct pop3_session *s = xmalloc(sizeof *s);
	s->c = c;
	s->state = POP3_AUTHORIZATION;
	pop3_parse_init(&s->parser);
	uv_timer_init(node->loop, &s->timer);
	s->timer.data = s;
	conn_set_data(c, s);
	/* RFC 1939 §3: an autologout timer of at least 10 minutes */
	conn_set_timeout(c, node->cfg->pop3_timeout * 1000u);
	if (!node_serving()) {
		/* RFC 2449 §8.1.2 / RFC 3206 §4: a temporary condition, try later */
		conn_puts(c, "-ERR [SYS/TEMP] Not available yet, try again later\r\n");
		conn_close(c);
		return;
	}
	conn_puts(c, "+OK mailraft POP3 ready\r\n");
}

static void pop3_on_input(struct conn *c)
{
	struct pop3_session *s = conn_data(c);
	if (s && !s->busy)
		pump(s);
}

static void pop3_on_close(struct conn *c)
{
	struct pop3_session *s = conn_data(c);
	if (!s)
		return;
	conn_set_data(c, NULL);
	s->gone = true;
	pop3__timer_stop(s);
	if (s->jobs == 0)
		session_destroy(s);
}

static void pop3_on_timeout(struct conn *c)
{
	/* RFC 1939 §3: on autologout the session does NOT enter the UPDATE state. */
	conn_puts(c, "-ERR autologout; idle for too long\r\n");
}

const struct proto_ops pop3_ops = {
    .name = "pop3",
    .on_open = pop3_on_open,
    .on_input = pop3_on_input,
    .on_close = pop3_on_close,
    .on_timeout = pop3_on_timeout,
};

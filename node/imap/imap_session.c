/* imap_session.c - one IMAP client session on the loop thread (RFC 3501 §3, §5): greeting,
 * input loop (bytes from the conn are pushed into the command parser; literals are checked
 * against the state's budget before "+ Ready"), the command table with its one central gate
 * (state check, UID prefix), the explicit state machine, the bad-command counter and the
 * autologout timeout. Commands that touch storage run as store jobs (imap_job.c) while the
 * connection is paused. */
#include "imap_int.h"
#include "node.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

static struct imap_session *sessions;

static const struct imap_cmd_def cmd_table[] = {
	{"CAPABILITY", imap__cmd_capability, CMD_ANY},
	{"NOOP", imap__cmd_noop, CMD_ANY},
	{"LOGOUT", imap__cmd_logout, CMD_ANY},
	{"STARTTLS", imap__cmd_starttls, CMD_NOTAUTH},
	{"LOGIN", imap__cmd_login, CMD_NOTAUTH},
	{"AUTHENTICATE", imap__cmd_authenticate, CMD_NOTAUTH},
	{"ID", imap__cmd_id, CMD_ANY},
	{"ENABLE", imap__cmd_enable, CMD_AUTHED},
	{"LIST", imap__cmd_list, CMD_AUTHED},
	{"LSUB", imap__cmd_list, CMD_AUTHED},
	{"SELECT", imap__cmd_select, CMD_AUTHED},
	{"EXAMINE", imap__cmd_select, CMD_AUTHED},
	{"STATUS", imap__cmd_status, CMD_AUTHED},
	{"CREATE", imap__cmd_create, CMD_AUTHED},
	{"DELETE", imap__cmd_delete, CMD_AUTHED},
	{"RENAME", imap__cmd_rename, CMD_AUTHED},
	{"SUBSCRIBE", imap__cmd_subscribe, CMD_AUTHED},
	{"UNSUBSCRIBE", imap__cmd_subscribe, CMD_AUTHED},
	{"APPEND", imap__cmd_append, CMD_AUTHED},
	{"IDLE", imap__cmd_idle, CMD_AUTHED},
	{"CHECK", imap__cmd_noop, CMD_SELECTED},
	{"FETCH", imap__cmd_fetch, CMD_SELECTED},
	{"STORE", imap__cmd_store, CMD_SELECTED},
	{"COPY", imap__cmd_copy, CMD_SELECTED},
	{"MOVE", imap__cmd_copy, CMD_SELECTED},
	{"NAMESPACE", imap__cmd_namespace, CMD_AUTHED},
	{"SEARCH", imap__cmd_search, CMD_SELECTED},
	{"EXPUNGE", imap__cmd_expunge, CMD_SELECTED},
	{"CLOSE", imap__cmd_close, CMD_SELECTED},
	{"UNSELECT", imap__cmd_close, CMD_SELECTED},
	{"GETQUOTA", imap__cmd_getquota, CMD_AUTHED},
	{"GETQUOTAROOT", imap__cmd_getquota, CMD_AUTHED},
	{"SETQUOTA", imap__cmd_setquota, CMD_AUTHED},
	{"SORT", imap__cmd_sort, CMD_SELECTED},
	{"THREAD", imap__cmd_sort, CMD_SELECTED},
	{"COMPRESS", imap__cmd_compress, CMD_AUTHED},
};

/* Commands allowed after "UID" (RFC 3501 §6.4.8). */
/* (and RFC 4315 §2.1 UID EXPUNGE, RFC 6851 UID MOVE) */
/* (and RFC 5256 UID SORT / UID THREAD) */
static const char *const uid_cmds[] = {"FETCH",	  "STORE", "COPY", "SEARCH",
				       "EXPUNGE", "MOVE",  "SORT", "THREAD"};

/* ---- state machine (style.md practice 6) --------------------------------------------- */
static const unsigned allowed_next[] = {
	[IMAP_S_NOTAUTH] = 1u << IMAP_S_AUTH | 1u << IMAP_S_LOGOUT,
	[IMAP_S_AUTH] = 1u << IMAP_S_SELECTED | 1u << IMAP_S_LOGOUT | 1u << IMAP_S_AUTH,
	[IMAP_S_SELECTED] = 1u << IMAP_S_AUTH | 1u << IMAP_S_SELECTED | 1u << IMAP_S_LOGOUT,
	[IMAP_S_LOGOUT] = 1u << IMAP_S_LOGOUT,
};

const char *imap__state_name(enum imap_state st)
{
	static const char *const names[] = {"not-authenticated", "authenticated", "selected",
					    "logout"};
	return st <= IMAP_S_LOGOUT ? names[st] : "?";
}

void imap__enter_state(struct imap_session *s, enum imap_state next)
{
	if (!(allowed_next[s->state] & (1u << next))) {
		log_error(IMAP_COMPONENT, "illegal transition %s -> %s", imap__state_name(s->state),
			  imap__state_name(next));
		abort();
	}
	log_debug(IMAP_COMPONENT, "conn=%llu %s -> %s", (unsigned long long)conn_id(s->c),
		  imap__state_name(s->state), imap__state_name(next));
	if (next == IMAP_S_SELECTED || s->state == IMAP_S_SELECTED)
		imap_seqset_free(&s->saved); /* RFC 5182 §2.1: "$" is reset by (re)selection */
	if (next != IMAP_S_SELECTED) {
		imap__snap_free(&s->snap);
		s->mailbox[0] = 0;
		s->folder_id = 0;
	}
	bool limits = (s->state == IMAP_S_NOTAUTH) != (next == IMAP_S_NOTAUTH);
	s->state = next;
	if (limits) {
		imap__update_limits(s);
		/* RFC 3501 §5.4: autologout at least 30 minutes once authenticated */
		unsigned t = node_get()->cfg->imap_idle_timeout;
		if (next != IMAP_S_LOGOUT)
			conn_set_timeout(s->c, t * 1000u);
	}
}

void imap__update_limits(struct imap_session *s)
{
	const struct config *cfg = node_get()->cfg;
	struct imap_parser_limits lim;
	if (s->state == IMAP_S_NOTAUTH) {
		lim = (struct imap_parser_limits){IMAP_PREAUTH_LINE, IMAP_PREAUTH_LITERAL, 4,
						  IMAP_PREAUTH_ARGS};
	} else {
		lim = (struct imap_parser_limits){IMAP_LINE_MAX, (size_t)cfg->max_message_size + 65536,
						  16, 20000};
	}
	imap_parser_set_limits(s->parser, &lim);
}

/* ---- argument helpers ------------------------------------------------------------------ */
size_t imap__next_arg(const struct imap_arg *args, size_t i)
{
	return args[i].type == IMAP_ARG_LIST ? args[i].end : i + 1;
}

size_t imap__count_args(const struct imap_arg *args, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i = imap__next_arg(args, i))
		k++;
	return k;
}

const struct imap_arg *imap__arg(const struct imap_cmd *cmd, size_t want)
{
	size_t i = 0;
	for (size_t k = 0; i < cmd->nargs; k++, i = imap__next_arg(cmd->args, i))
		if (k == want)
			return &cmd->args[i];
	return NULL;
}

struct imap_session *imap__sessions(void)
{
	return sessions;
}

/* ---- replies ---------------------------------------------------------------------------- */
void imap__bad(struct imap_session *s, const char *tag, const char *text)
{
	conn_printf(s->c, "%s BAD %s\r\n", tag && tag[0] ? tag : "*", text);
	if (++s->bad >= IMAP_MAX_BAD) {
		conn_puts(s->c, "* BYE Too many invalid commands\r\n");
		imap__enter_state(s, IMAP_S_LOGOUT);
		conn_close(s->c);
	}
}

/* ---- the gate ------------------------------------------------------------------------- */
static const struct imap_cmd_def *lookup(const char *name)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(cmd_table); i++)
		if (strcmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	return NULL;
}

static void dispatch(struct imap_session *s)
{
	struct imap_cmd cmd = {0};
	struct imap_arg *shifted = NULL;
	cmd.s = s;
	cmd.tag = imap_parser_tag(s->parser);
	cmd.name = imap_parser_name(s->parser);
	cmd.args = imap_parser_args(s->parser, &cmd.nargs);
	snprintf(s->tag, sizeof s->tag, "%s", cmd.tag);
	const char *name = cmd.name;
	if (strcmp(name, "UID") == 0) {
		if (cmd.nargs == 0 || cmd.args[0].type != IMAP_ARG_ATOM) {
			imap__bad(s, cmd.tag, "UID needs a command");
			return;
		}
		name = NULL;
		for (size_t i = 0; i < MR_ARRAY_LEN(uid_cmds); i++)
			if (mr_strcasecmp(cmd.args[0].str, uid_cmds[i]) == 0)
				name = uid_cmds[i];
		if (!name) {
			imap__bad(s, cmd.tag, "Unknown UID command");
			return;
		}
		cmd.uid = true;
		/* drop the subcommand; LIST end indexes are absolute, so rebase them */
		shifted = xcalloc(cmd.nargs, sizeof *shifted);
		for (size_t i = 1; i < cmd.nargs; i++) {
			shifted[i - 1] = cmd.args[i];
			if (shifted[i - 1].type == IMAP_ARG_LIST)
				shifted[i - 1].end--;
		}
		cmd.args = shifted;
		cmd.nargs--;
	}
	const struct imap_cmd_def *d = lookup(name);
	if (!d) {
		imap__bad(s, cmd.tag, "Unknown command");
		free(shifted);
		return;
	}
	unsigned have = s->state == IMAP_S_NOTAUTH ? CMD_NOTAUTH
			: s->state == IMAP_S_AUTH  ? CMD_AUTH
			: s->state == IMAP_S_SELECTED ? CMD_SELECTED
						      : 0;
	if (!(d->states & have)) {
		imap__bad(s, cmd.tag,
			  s->state == IMAP_S_NOTAUTH ? "Not authenticated"
			  : (d->states & CMD_NOTAUTH) ? "Already authenticated"
						      : "No mailbox selected");
		free(shifted);
		return;
	}
	cmd.def = d;
	cmd.name = name;
	d->fn(&cmd);
	free(shifted);
}

/* A literal was announced: check the budget before "+ Ready" (RFC 7888 §4 for {n+}). */
static void on_literal(struct imap_session *s)
{
	uint64_t size;
	bool sync;
	imap_parser_literal(s->parser, &size, &sync);
	uint64_t budget = s->state == IMAP_S_NOTAUTH ? IMAP_PREAUTH_LITERAL
						     : node_get()->cfg->max_message_size;
	const char *tag = imap_parser_tag(s->parser);
	if (size <= budget && imap_parser_literal_accept(s->parser) == 0) {
		if (sync)
			conn_puts(s->c, "+ Ready for literal data\r\n");
		return;
	}
	if (sync) {
		conn_printf(s->c, "%s NO [TOOBIG] Literal too big\r\n", tag[0] ? tag : "*");
		imap_parser_reset(s->parser, false);
		if (++s->bad >= IMAP_MAX_BAD) {
			conn_puts(s->c, "* BYE Too many invalid commands\r\n");
			conn_close(s->c);
		}
		return;
	}
	/* the client sends the data regardless: we cannot resynchronise */
	conn_printf(s->c, "%s BAD Literal too big\r\n* BYE Literal too big\r\n", tag[0] ? tag : "*");
	imap__enter_state(s, IMAP_S_LOGOUT);
	conn_close(s->c);
}

/* Take one line (for IDLE / AUTHENTICATE continuation) from the local buffer. 1 = line in
 * s->line, 0 = need more. Over-long lines are truncated (the handler then rejects them). */
static int take_line(struct imap_session *s)
{
	while (s->in_off < s->in_len) {
		uint8_t c = s->in[s->in_off++];
		if (c == '\n') {
			if (!s->line)
				s->line = xmalloc(IMAP_PREAUTH_LINE + 1);
			if (s->line_len > 0 && s->line[s->line_len - 1] == '\r')
				s->line_len--;
			s->line[s->line_len] = 0;
			bool skip = s->line_skip;
			s->line_skip = false;
			if (skip) {
				s->line_len = 0;
				s->line[0] = 0;
			}
			return 1;
		}
		if (!s->line)
			s->line = xmalloc(IMAP_PREAUTH_LINE + 1);
		if (s->line_len < IMAP_PREAUTH_LINE)
			s->line[s->line_len++] = (char)c;
		else
			s->line_skip = true;
	}
	return 0;
}

/* Wipe and free the continuation line buffer (it may have held a SASL response). */
static void line_drop(struct imap_session *s)
{
	if (s->line) {
		mr_memzero(s->line, IMAP_PREAUTH_LINE + 1);
		free(s->line);
		s->line = NULL;
	}
}

void imap__process_input(struct imap_session *s)
{
	while (!s->busy && !conn_closing(s->c) && s->state != IMAP_S_LOGOUT) {
		if (s->in_off == s->in_len) {
			if (!s->in)
				s->in = xmalloc(IMAP_IN_BUF);
			s->in_off = s->in_len = 0;
			s->in_len = conn_read(s->c, s->in, IMAP_IN_BUF);
			if (s->in_len == 0) {
				free(s->in); /* all consumed: an idle session keeps no buffer */
				s->in = NULL;
				return;
			}
		}
		if (s->mode != IMAP_M_COMMAND) {
			if (take_line(s) != 1)
				continue;
			size_t len = s->line_len;
			s->line_len = 0;
			if (s->mode == IMAP_M_IDLE)
				imap__idle_line(s, s->line, len);
			else
				imap__auth_continue(s, s->line, len);
			line_drop(s);
			continue;
		}
		size_t used = 0;
		int rv = imap_parser_push(s->parser, s->in + s->in_off, s->in_len - s->in_off, &used);
		s->in_off += used;
		if (rv == 0)
			continue;
		if (rv == IMAP_PARSE_LITERAL) {
			on_literal(s);
		} else if (rv == IMAP_PARSE_DONE) {
			dispatch(s);
		} else {
			const char *tag = imap_parser_tag(s->parser);
			imap__bad(s, tag, rv == MR_ETOOBIG ? "Command too long or too complex"
							   : imap_parser_error(s->parser));
		}
	}
}

/* ---- proto_ops --------------------------------------------------------------------------- */
static void on_open(struct conn *c)
{
	const struct config *cfg = node_get()->cfg;
	struct imap_session *s = xmalloc(sizeof *s);
	s->c = c;
	s->state = IMAP_S_NOTAUTH;
	s->mode = IMAP_M_COMMAND;
	struct imap_parser_limits lim = {IMAP_PREAUTH_LINE, IMAP_PREAUTH_LITERAL, 4,
					 IMAP_PREAUTH_ARGS};
	s->parser = imap_parser_new(&lim);
	s->next = sessions;
	if (sessions)
		sessions->prev = s;
	sessions = s;
	conn_set_data(c, s);
	/* tighter before authentication (style.md practice 4) */
	unsigned t = cfg->imap_idle_timeout;
	conn_set_timeout(c, (t && t < IMAP_PREAUTH_TIMEOUT ? t : IMAP_PREAUTH_TIMEOUT) * 1000u);
	if (!node_serving()) {
		/* RFC 9051 §7.1.5 BYE as the greeting; RFC 5530 §3 UNAVAILABLE */
		conn_puts(c, "* BYE [UNAVAILABLE] Not available yet, try again later\r\n");
		conn_close(c);
		return;
	}
	char caps[IMAP_CAPS_MAX];
	imap__caps(s, caps, sizeof caps);
	conn_printf(c, "* OK [CAPABILITY %s] mailraft IMAP ready\r\n", caps);
	log_info(IMAP_COMPONENT, "connect conn=%llu peer=%s", (unsigned long long)conn_id(c),
		 conn_peer(c));
}

static void on_input(struct conn *c)
{
	struct imap_session *s = conn_data(c);
	if (s)
		imap__process_input(s);
}

void imap__session_free(struct imap_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else if (sessions == s)
		sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	imap_parser_free(&s->parser);
	imap__snap_free(&s->snap);
	imap_seqset_free(&s->saved);
	imap__auth_free(s);
	line_drop(s);
	free(s->in);
	free(s);
}

static void on_close(struct conn *c)
{
	struct imap_session *s = conn_data(c);
	if (!s)
		return;
	conn_set_data(c, NULL);
	log_info(IMAP_COMPONENT, "disconnect conn=%llu", (unsigned long long)conn_id(c));
	if (s->busy) {
		s->closed = true; /* the job's done callback frees it */
		return;
	}
	imap__session_free(s);
}

static void on_timeout(struct conn *c)
{
	conn_puts(c, "* BYE Autologout; idle for too long\r\n");
}

const struct proto_ops imap_ops = {
	.name = "imap",
	.on_open = on_open,
	.on_input = on_input,
	.on_close = on_close,
	.on_timeout = on_timeout,
};

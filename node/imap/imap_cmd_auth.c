/* imap_cmd_auth.c - any-state and not-authenticated commands (RFC 3501 §6.1, §6.2): CAPABILITY,
 * NOOP/CHECK, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN (RFC 4616, with SASL-IR RFC 4959),
 * ID (RFC 2971) and ENABLE (RFC 5161: CONDSTORE, QRESYNC RFC 7162, UTF8=ACCEPT RFC 6855).
 * Passwords are verified with Argon2 in a job on the directory actor, never on the loop; they
 * are wiped after use and never logged. Failed logins are throttled per client IP and per
 * account (core/authlimit.h): while locked out, LOGIN/AUTHENTICATE answer NO [UNAVAILABLE]
 * (RFC 5530 §3) without checking the password. LITERAL- is not advertised: RFC 7888 §5 forbids
 * advertising it together with LITERAL+, which already allows everything LITERAL- does. */
#include "imap_int.h"
#include "node.h"
#include "core/authlimit.h"
#include "core/login.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AUTH_FAILURES 5

/* Implicit-TLS connections count as protected from the start: the greeting is queued until
 * the handshake completes and no input arrives before it. */
static bool tls_on(struct imap_session *s)
{
	return conn_is_tls(s->c) || conn_tls_mode(s->c) == CONN_TLS_IMPLICIT;
}

/* RFC 3501 §6.2.3 / RFC 2595: no plaintext passwords before TLS unless configured. */
static bool login_allowed(struct imap_session *s)
{
	return tls_on(s) || node_get()->cfg->plaintext_auth;
}

void imap__caps(struct imap_session *s, char *out, size_t n)
{
	/* advertise only what works */
	snprintf(out, n,
		 "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE UNSELECT UIDPLUS CHILDREN "
		 "SPECIAL-USE MOVE NAMESPACE CONDSTORE ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS "
		 "CREATE-SPECIAL-USE STATUS=SIZE MULTIAPPEND QUOTA QUOTA=RES-STORAGE SAVEDATE "
		 "OBJECTID BINARY SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES QRESYNC "
		 "UTF8=ACCEPT APPENDLIMIT=%llu",
		 (unsigned long long)node_get()->cfg->max_message_size);
	size_t len = strlen(out);
	if (s->state != IMAP_S_NOTAUTH) {
		/* RFC 4978: COMPRESS is an authenticated-state command (as Dovecot advertises it) */
		if (len < n)
			snprintf(out + len, n - len, " COMPRESS=DEFLATE");
		return;
	}
	if (conn_tls_mode(s->c) == CONN_TLS_STARTTLS && !tls_on(s))
		len += (size_t)snprintf(out + len, n - len, " STARTTLS");
	if (len < n)
		snprintf(out + len, n - len,
			 login_allowed(s) ? " AUTH=PLAIN AUTH=LOGIN" : " LOGINDISABLED");
}

void imap__cmd_capability(struct imap_cmd *cmd)
{
	char caps[IMAP_CAPS_MAX];
	imap__caps(cmd->s, caps, sizeof caps);
	conn_printf(cmd->s->c, "* CAPABILITY %s\r\n%s OK CAPABILITY completed\r\n", caps, cmd->tag);
}

void imap__cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->nargs) {
		imap__bad(cmd->s, cmd->tag, "No arguments expected");
		return;
	}
	if (cmd->s->state != IMAP_S_SELECTED) {
		conn_printf(cmd->s->c, "%s OK %s completed\r\n", cmd->tag, cmd->name);
		return;
	}
	/* RFC 3501 §6.1.2: a good time to report mailbox updates */
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, NULL);
	imap__job_reply(j, "OK %s completed", cmd->name);
	imap__job_submit(j, NULL);
}

void imap__cmd_logout(struct imap_cmd *cmd)
{
	conn_printf(cmd->s->c, "* BYE Logging out\r\n%s OK LOGOUT completed\r\n", cmd->tag);
	imap__enter_state(cmd->s, IMAP_S_LOGOUT);
	conn_close(cmd->s->c);
}

void imap__cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (conn_tls_mode(s->c) != CONN_TLS_STARTTLS || tls_on(s)) {
		imap__bad(s, cmd->tag, "STARTTLS not available");
		return;
	}
	conn_printf(s->c, "%s OK Begin TLS negotiation now\r\n", cmd->tag);
	/* RFC 3501 §6.2.1 / RFC 3207 §4.2: discard plaintext input that followed the command */
	s->in_off = s->in_len = 0;
	imap_parser_reset(s->parser, false);
	if (conn_starttls(s->c) != 0)
		conn_close(s->c);
}

/* ---- login job -------------------------------------------------------------------------- */
struct login_arg {
	char user[320];
	struct dir_account acct;
};

static void login_free(void *p)
{
	mr_memzero(p, sizeof(struct login_arg));
	free(p);
}

static void login_done(struct imap_job *j, int rv)
{
	struct imap_session *s = j->s;
	struct login_arg *a = j->arg;
	if (rv == 0) {
		authlimit_success(authlimit_global(), conn_peer(s->c), a->user);
		snprintf(s->user, sizeof s->user, "%s", a->acct.address);
		snprintf(s->dbname, sizeof s->dbname, "%s", a->acct.dbname);
		s->quota = a->acct.quota;
		imap__enter_state(s, IMAP_S_AUTH);
		char caps[IMAP_CAPS_MAX];
		imap__caps(s, caps, sizeof caps);
		imap__job_reply(j, "OK [CAPABILITY %s] Logged in", caps);
		log_info(IMAP_COMPONENT, "login conn=%llu", (unsigned long long)conn_id(s->c));
		return;
	}
	if (rv == MR_EIO) {
		imap__job_reply(j, "NO [UNAVAILABLE] Temporary failure");
		return;
	}
	log_info(IMAP_COMPONENT, "login failed conn=%llu peer=%s", (unsigned long long)conn_id(s->c),
		 conn_peer(s->c));
	authlimit_failure(authlimit_global(), conn_peer(s->c), a->user); /* lower-cased by the job */
	imap__job_reply(j, "NO [AUTHENTICATIONFAILED] Authentication failed");
	if (++s->auth_failures >= MAX_AUTH_FAILURES) {
		conn_printf(s->c, "%s %s\r\n* BYE Too many failed logins\r\n", j->tag, j->reply);
		j->tag[0] = 0;
		imap__enter_state(s, IMAP_S_LOGOUT);
	}
}

static void start_login(struct imap_session *s, const char *tag, const char *user, size_t ulen,
			const char *pass, size_t plen)
{
	struct login_arg *a = xmalloc(sizeof *a);
	if (ulen == 0 || ulen >= sizeof a->user || plen >= LOGIN_PASS_MAX ||
	    memchr(user, 0, ulen) || memchr(pass, 0, plen)) {
		free(a);
		conn_printf(s->c, "%s NO [AUTHENTICATIONFAILED] Authentication failed\r\n", tag);
		return;
	}
	memcpy(a->user, user, ulen);
	/* throttled: refuse before any password work (the attempt counts for this session) */
	uint64_t wait_ms = authlimit_check(authlimit_global(), conn_peer(s->c), a->user);
	if (wait_ms > 0) {
		free(a);
		log_info(IMAP_COMPONENT, "login throttled conn=%llu peer=%s wait_ms=%llu",
			 (unsigned long long)conn_id(s->c), conn_peer(s->c),
			 (unsigned long long)wait_ms);
		conn_printf(s->c, "%s NO [UNAVAILABLE] Too many failed logins, try again later\r\n",
			    tag);
		if (++s->auth_failures >= MAX_AUTH_FAILURES) {
			conn_puts(s->c, "* BYE Too many failed logins\r\n");
			imap__enter_state(s, IMAP_S_LOGOUT);
			conn_close(s->c);
		}
		return;
	}
	mr_lower(a->user);
	struct imap_job *j = imap__job_new(s, tag, NULL);
	j->arg = a;
	j->free_arg = login_free;
	j->done = login_done;
	/* core/login: the directory actor only reads the row; Argon2id runs on the thread pool */
	imap__job_submit_login(j, a->user, ulen, pass, plen, &a->acct);
}

void imap__cmd_login(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const struct imap_arg *u = imap__arg(cmd, 0), *p = imap__arg(cmd, 1);
	if (!u || !p || imap__arg(cmd, 2) || !imap_arg_is_astring(u) || !imap_arg_is_astring(p)) {
		imap__bad(s, cmd->tag, "LOGIN needs user and password");
		return;
	}
	if (!login_allowed(s)) {
		conn_printf(s->c, "%s NO [PRIVACYREQUIRED] LOGIN disabled before STARTTLS\r\n",
			    cmd->tag);
		return;
	}
	start_login(s, cmd->tag, u->str, u->len, p->str, p->len);
}

/* RFC 4616: [authzid] NUL authcid NUL passwd, base64 (RFC 4648), decoded by core/login. */
static void plain_response(struct imap_session *s, const char *tag, const char *b64, size_t len)
{
	char user[LOGIN_USER_MAX], pass[LOGIN_PASS_MAX];
	int rv = login_sasl_plain(b64, len, user, pass);
	if (rv == 0)
		start_login(s, tag, user, strlen(user), pass, strlen(pass));
	else if (rv == MR_EPERM)
		conn_printf(s->c, "%s NO [AUTHORIZATIONFAILED] Cannot act as another user\r\n", tag);
	else
		imap__bad(s, tag, "Invalid base64 or PLAIN response");
	mr_memzero(pass, sizeof pass);
	mr_memzero(user, sizeof user);
}

static void login_mech_step(struct imap_session *s, const char *tag, const char *b64,
			    size_t len);

void imap__cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const struct imap_arg *mech = imap__arg(cmd, 0), *ir = imap__arg(cmd, 1);
	if (!mech || mech->type != IMAP_ARG_ATOM || imap__arg(cmd, 2) ||
	    (ir && ir->type != IMAP_ARG_ATOM)) {
		imap__bad(s, cmd->tag, "AUTHENTICATE needs a mechanism");
		return;
	}
	bool plain = mr_strcasecmp(mech->str, "PLAIN") == 0;
	if (!plain && mr_strcasecmp(mech->str, "LOGIN") != 0) {
		conn_printf(s->c, "%s NO Unsupported authentication mechanism\r\n", cmd->tag);
		return;
	}
	if (!login_allowed(s)) {
		conn_printf(s->c, "%s NO [PRIVACYREQUIRED] Authentication disabled before STARTTLS\r\n",
			    cmd->tag);
		return;
	}
	s->auth_step = plain ? 0 : 1;
	if (ir) { /* RFC 4959 SASL-IR (for LOGIN: the user name) */
		if (plain)
			plain_response(s, cmd->tag, ir->str, ir->len);
		else
			login_mech_step(s, cmd->tag, ir->str, ir->len);
		return;
	}
	/* LOGIN: the de-facto mechanism's "Username:" prompt, base64 */
	conn_puts(s->c, plain ? "+ \r\n" : "+ VXNlcm5hbWU6\r\n");
	s->mode = IMAP_M_AUTH_CONT;
	s->line_len = 0;
}

void imap__auth_free(struct imap_session *s)
{
	if (s->auth_user) {
		mr_memzero(s->auth_user, LOGIN_USER_MAX);
		free(s->auth_user);
		s->auth_user = NULL;
	}
	s->auth_step = 0;
}

/* One step of AUTHENTICATE LOGIN: the user name (then "Password:") or the password. */
static void login_mech_step(struct imap_session *s, const char *tag, const char *b64, size_t len)
{
	if (s->auth_step == 1) {
		s->auth_user = xmalloc(LOGIN_USER_MAX);
		if (login_b64_field(b64, len, s->auth_user, LOGIN_USER_MAX) != 0 || !s->auth_user[0]) {
			imap__auth_free(s);
			imap__bad(s, tag, "Invalid base64 user name");
			return;
		}
		s->auth_step = 2;
		conn_puts(s->c, "+ UGFzc3dvcmQ6\r\n");
		s->mode = IMAP_M_AUTH_CONT;
		s->line_len = 0;
		return;
	}
	char pass[LOGIN_PASS_MAX];
	if (login_b64_field(b64, len, pass, sizeof pass) != 0) {
		imap__auth_free(s);
		imap__bad(s, tag, "Invalid base64 password");
		return;
	}
	char user[LOGIN_USER_MAX];
	snprintf(user, sizeof user, "%s", s->auth_user);
	imap__auth_free(s);
	start_login(s, tag, user, strlen(user), pass, strlen(pass));
	mr_memzero(pass, sizeof pass);
	mr_memzero(user, sizeof user);
}

void imap__auth_continue(struct imap_session *s, const char *line, size_t len)
{
	s->mode = IMAP_M_COMMAND;
	if (len == 1 && line[0] == '*') { /* RFC 3501 §6.2.2: client cancelled */
		imap__auth_free(s);
		imap__bad(s, s->tag, "Authentication cancelled");
		return;
	}
	/* the caller wipes and frees the line */
	if (s->auth_step == 0)
		plain_response(s, s->tag, line, len);
	else
		login_mech_step(s, s->tag, line, len);
}

void imap__cmd_id(struct imap_cmd *cmd)
{
	const struct imap_arg *a = imap__arg(cmd, 0);
	if (!a || imap__arg(cmd, 1) || (a->type != IMAP_ARG_LIST && a->type != IMAP_ARG_NIL)) {
		imap__bad(cmd->s, cmd->tag, "ID needs a list or NIL");
		return;
	}
	conn_printf(cmd->s->c,
		    "* ID (\"name\" \"mailraft\" \"version\" \"%s\")\r\n%s OK ID completed\r\n",
		    MR_VERSION, cmd->tag);
}

/* ENABLE-able extensions (RFC 5161), each with the session flag it sets. */
static bool *en_condstore(struct imap_session *s) { return &s->condstore; }
static bool *en_qresync(struct imap_session *s) { return &s->qresync; }
static bool *en_utf8(struct imap_session *s) { return &s->utf8; }
static bool *en_rev2(struct imap_session *s) { return &s->rev2; }
static const struct {
	const char *name;
	bool *(*flag)(struct imap_session *s);
} enables[] = {
    {"CONDSTORE", en_condstore},
    {"QRESYNC", en_qresync},
    {"UTF8=ACCEPT", en_utf8}, /* RFC 6855 §3 */
    {"IMAP4rev2", en_rev2},   /* RFC 9051 §6.3.1 */
};
#define ENABLE_N (sizeof enables / sizeof enables[0])

void imap__cmd_enable(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->nargs == 0) {
		imap__bad(s, cmd->tag, "ENABLE needs capabilities");
		return;
	}
	bool want[ENABLE_N] = {false};
	for (size_t i = 0; i < cmd->nargs; i++) {
		if (cmd->args[i].type != IMAP_ARG_ATOM) {
			imap__bad(s, cmd->tag, "Invalid capability");
			return;
		}
		for (size_t k = 0; k < ENABLE_N; k++)
			if (imap_arg_atom_is(&cmd->args[i], enables[k].name))
				want[k] = true;
		/* RFC 5161 §3.1: unknown extensions are ignored */
	}
	/* RFC 5161 §3.1: report only what we support and was not enabled before, in a fixed
	 * order; RFC 7162 §3.2.3: QRESYNC implies CONDSTORE (reported only when asked for);
	 * RFC 9051: IMAP4rev2 mailbox names are UTF-8, as after UTF8=ACCEPT */
	char out[128] = "";
	for (size_t k = 0; k < ENABLE_N; k++) {
		bool *flag = enables[k].flag(s);
		if (!want[k] || *flag)
			continue;
		*flag = true;
		strcat(out, " ");
		strcat(out, enables[k].name);
	}
	if (s->qresync)
		s->condstore = true;
	if (s->rev2)
		s->utf8 = true;
	conn_printf(s->c, "* ENABLED%s\r\n%s OK ENABLE completed\r\n", out, cmd->tag);
}

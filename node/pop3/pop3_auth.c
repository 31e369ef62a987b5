/* pop3_auth.c - the AUTHORIZATION state of POP3: USER/PASS (RFC 1939 §7), AUTH PLAIN with an
 * initial response or a "+ " continuation (RFC 5034 §4, RFC 4616), STLS (RFC 2595 §4), the
 * login sequence (directory lookup + Argon2 on an actor, then the maildrop snapshot on the
 * account's actor), the delayed failure reply, and the per-node maildrop lock behind
 * [IN-USE] (RFC 1939 §8 "exclusive-access lock", RFC 2449 §8.1.1). Failed logins are
 * throttled per client IP and per account (core/authlimit.h): while locked out, PASS and AUTH
 * answer -ERR [SYS/TEMP] (RFC 3206 §4) at once, without checking the password. Loop thread
 * only. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "pop3_int.h"
#include "node.h"
#include "core/authlimit.h"
#include "core/login.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* ---- maildrop locks ------------------------------------------------------------------------
 * RFC 1939 §8: the server acquires an exclusive-access lock on the maildrop when entering the
 * TRANSACTION state. Held in memory on this node (loop thread only). */
struct lock_entry {
	struct lock_entry *next;
	char dbname[STORE_DBNAME_MAX];
};
static struct lock_entry *locks;

static bool lock_take(const char *dbname)
{
	for (struct lock_entry *e = locks; e; e = e->next)
		if (strcmp(e->dbname, dbname) == 0)
			return false;
	struct lock_entry *e = xmalloc(sizeof *e);
	snprintf(e->dbname, sizeof e->dbname, "%s", dbname);
	e->next = locks;
	locks = e;
	return true;
}

void pop3__unlock(struct pop3_session *s)
{
	if (!s->locked)
		return;
	for (struct lock_entry **pp = &locks; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->dbname, s->dbname) == 0) {
			struct lock_entry *e = *pp;
			*pp = e->next;
			free(e);
			break;
		}
	}
	s->locked = false;
}

/* ---- login sequence ------------------------------------------------------------------------ */

static void login_job_free(struct pop3_login_job *j)
{
	free(j->msgs);
	mr_memzero(j, sizeof *j);
	free(j);
}

/* Wrong credentials: answer after POP3_AUTH_FAIL_DELAY_MS (timer; the loop keeps running). */
static void auth_failed(struct pop3_session *s)
{
	s->auth_failures++;
	log_info("pop3", "conn=%" PRIu64 " login failed peer=%s", conn_id(s->c), conn_peer(s->c));
	pop3__timer_start(s, POP3_TIMER_AUTH_DELAY, POP3_AUTH_FAIL_DELAY_MS, 0);
}

void pop3__auth_delay_expired(struct pop3_session *s)
{
	/* RFC 3206 §4: [AUTH] = the credentials are wrong */
	conn_puts(s->c, "-ERR [AUTH] invalid user name or password\r\n");
	if (s->auth_failures >= POP3_MAX_AUTH_FAILURES) {
		conn_puts(s->c, "-ERR too many failed logins, closing connection\r\n");
		conn_close(s->c);
		return;
	}
	pop3__idle(s);
}

static void snapshot_done(void *arg, int rv)
{
	struct pop3_login_job *j = arg;
	struct pop3_session *s = j->s;
	if (!pop3__job_end(s)) {
		login_job_free(j);
		return;
	}
	if (rv != 0) {
		log_error("pop3", "conn=%" PRIu64 " maildrop snapshot failed: %s", conn_id(s->c),
		          mr_strerror(rv));
		pop3__unlock(s);
		conn_puts(s->c, "-ERR [SYS/TEMP] unable to open the maildrop\r\n");
		login_job_free(j);
		pop3__idle(s);
		return;
	}
	s->msgs = j->msgs;
	s->nmsgs = j->nmsgs;
	j->msgs = NULL;
	s->folder_id = j->folder_id;
	s->uidvalidity = j->uidvalidity;
	login_job_free(j);
	pop3__enter_state(s, POP3_TRANSACTION);
	s->bad_commands = 0; /* the pre-login budget is spent separately */
	uint64_t octets = 0;
	for (uint32_t i = 0; i < s->nmsgs; i++)
		octets += s->msgs[i].size;
	log_info("pop3", "conn=%" PRIu64 " login user=%s messages=%" PRIu32, conn_id(s->c),
	         s->address, s->nmsgs);
	conn_printf(s->c, "+OK maildrop has %" PRIu32 " messages (%" PRIu64 " octets)\r\n",
	            s->nmsgs, octets);
	pop3__idle(s);
}

static void auth_done(void *arg, int rv)
{
	struct pop3_login_job *j = arg;
	struct pop3_session *s = j->s;
	if (!pop3__job_end(s)) {
		login_job_free(j);
		return;
	}
	if (rv == MR_EAUTH) {
		/* the job lower-cased the address */
		authlimit_failure(authlimit_global(), conn_peer(s->c), j->address);
		login_job_free(j);
		auth_failed(s);
		return;
	}
	if (rv != 0) {
		log_error("pop3", "conn=%" PRIu64 " directory lookup failed: %s", conn_id(s->c),
		          mr_strerror(rv));
		conn_puts(s->c, "-ERR [SYS/TEMP] authentication temporarily unavailable\r\n");
		goto out_idle;
	}
	authlimit_success(authlimit_global(), conn_peer(s->c), j->address);
	if (!lock_take(j->dbname)) {
		/* RFC 2449 §8.1.1: another session holds the maildrop */
		conn_puts(s->c, "-ERR [IN-USE] maildrop already locked\r\n");
		goto out_idle;
	}
	s->locked = true;
	snprintf(s->dbname, sizeof s->dbname, "%s", j->dbname);
	snprintf(s->address, sizeof s->address, "%s", j->address);
	if (pop3__submit(s, j->dbname, pop3__job_snapshot, snapshot_done, j) == 0)
		return;
	pop3__unlock(s);
	conn_puts(s->c, "-ERR [SYS/TEMP] unable to open the maildrop\r\n");
out_idle:
	login_job_free(j);
	pop3__idle(s);
}

/* core/login's answer: on to auth_done as a finished job of the session. */
static void login_answer(void *ud, int rv, const struct dir_account *acct)
{
	struct pop3_login_job *j = ud;
	if (rv == 0)
		snprintf(j->dbname, sizeof j->dbname, "%s", acct->dbname);
	auth_done(j, rv);
}

/* Check user + password (core/login: the directory actor reads the row, Argon2id runs on the
 * thread pool); the reply comes from auth_done/snapshot_done. */
static void start_login(struct pop3_session *s, const char *user, size_t ulen, const char *pass,
                        size_t plen)
{
	pop3__busy(s);
	if (ulen == 0 || ulen > POP3_USER_MAX || plen > POP3_PASS_MAX ||
	    memchr(user, 0, ulen) != NULL) {
		auth_failed(s);
		return;
	}
	struct pop3_login_job *j = xmalloc(sizeof *j);
	j->s = s;
	memcpy(j->address, user, ulen);
	/* throttled: refuse at once, before any password work (counts for this session) */
	uint64_t wait_ms = authlimit_check(authlimit_global(), conn_peer(s->c), j->address);
	if (wait_ms > 0) {
		login_job_free(j);
		log_info("pop3", "conn=%" PRIu64 " login throttled peer=%s wait_ms=%" PRIu64,
		         conn_id(s->c), conn_peer(s->c), wait_ms);
		conn_puts(s->c, "-ERR [SYS/TEMP] too many failed logins, try again later\r\n");
		if (++s->auth_failures >= POP3_MAX_AUTH_FAILURES) {
			conn_puts(s->c, "-ERR too many failed logins, closing connection\r\n");
			conn_close(s->c);
			return;
		}
		pop3__idle(s);
		return;
	}
	mr_lower(j->address);
	/* counted like a store job (pop3__job_end in auth_done) */
	conn_hold(s->c);
	s->jobs++;
	if (login_check(j->address, strlen(j->address), pass, plen, login_answer, j) != 0) {
		s->jobs--;
		conn_release(s->c);
		login_job_free(j);
		conn_puts(s->c, "-ERR [SYS/TEMP] authentication temporarily unavailable\r\n");
		pop3__idle(s);
	}
}

/* ---- USER / PASS ---------------------------------------------------------------------------- */

void pop3__cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->arglen[0] > POP3_USER_MAX) {
		conn_puts(s->c, "-ERR [AUTH] user name too long\r\n");
		return;
	}
	memcpy(s->user, cmd->args[0], cmd->arglen[0]);
	s->user[cmd->arglen[0]] = 0;
	/* RFC 1939 §7: answering +OK for every name does not reveal which mailboxes exist */
	conn_puts(s->c, "+OK send PASS\r\n");
}

void pop3__cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	char user[POP3_USER_MAX + 1];
	size_t ulen = strlen(s->user);
	memcpy(user, s->user, ulen + 1);
	s->user[0] = 0;
	start_login(s, user, ulen, cmd->args[0], cmd->arglen[0]);
}

/* ---- AUTH PLAIN (RFC 5034, RFC 4616) ----------------------------------------------------------
 */

/* Decode a PLAIN client response "authzid NUL authcid NUL passwd" (base64, core/login.h) and
 * log in. */
static void plain_login(struct pop3_session *s, const char *b64, size_t len)
{
	char user[LOGIN_USER_MAX], pass[LOGIN_PASS_MAX];
	int rv = login_sasl_plain(b64, len, user, pass);
	if (rv == MR_EPERM) {
		/* RFC 4616 §2: an authzid other than the authcid would be a proxy login */
		pop3__busy(s);
		auth_failed(s);
	} else if (rv != 0) {
		/* RFC 5034 §4: an undecodable or malformed response rejects the AUTH command */
		conn_puts(s->c, "-ERR invalid or malformed PLAIN response\r\n");
	} else {
		start_login(s, user, strlen(user), pass, strlen(pass));
	}
	mr_memzero(pass, sizeof pass);
	mr_memzero(user, sizeof user);
}

void pop3__cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->nargs == 0) {
		/* Not in RFC 5034 but widely used: the mechanism list (same as CAPA's SASL). */
		conn_puts(s->c, "+OK\r\nPLAIN\r\n.\r\n");
		return;
	}
	if (cmd->arglen[0] != 5 || mr_strncasecmp(cmd->args[0], "PLAIN", 5) != 0) {
		conn_puts(s->c, "-ERR unsupported authentication mechanism\r\n");
		return;
	}
	if (cmd->nargs == 2) {
		plain_login(s, cmd->args[1], cmd->arglen[1]);
		return;
	}
	/* RFC 5034 §4: an empty challenge, the next line is the client's response */
	conn_puts(s->c, "+ \r\n");
	s->sasl_wait = true;
	pop3_parse_set_mode(&s->parser, POP3_MODE_LINE);
}

void pop3__sasl_response(struct pop3_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		conn_puts(s->c, "-ERR authentication cancelled\r\n"); /* RFC 5034 §4 */
		return;
	}
	plain_login(s, line, len);
}

/* ---- STLS (RFC 2595 §4) -----------------------------------------------------------------------
 */

void pop3__cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (conn_is_tls(s->c)) {
		conn_puts(s->c, "-ERR command not permitted when TLS active\r\n");
		return;
	}
	if (conn_tls_mode(s->c) != CONN_TLS_STARTTLS) {
		conn_puts(s->c, "-ERR STLS not available\r\n");
		return;
	}
	conn_puts(s->c, "+OK begin TLS negotiation\r\n");
	if (conn_starttls(s->c) != 0) {
		log_error("pop3", "conn=%" PRIu64 " STLS failed", conn_id(s->c));
		conn_close(s->c);
		return;
	}
	/* RFC 2595 §4 / RFC 3207 §4.2 command injection: forget everything said in plaintext,
	 * including pipelined bytes we had already taken from the connection. */
	mr_memzero(s->in, sizeof s->in);
	s->in_off = s->in_len = 0;
	pop3_parse_init(&s->parser);
	s->user[0] = 0;
}

/* smtp_auth.c - submission (RFC 6409) authentication and sender rules. AUTH (RFC 4954) with
 * PLAIN (RFC 4616, with or without an initial response) and LOGIN (the de-facto mechanism:
 * "334 VXNlcm5hbWU6" / "334 UGFzc3dvcmQ6"), offered only on submission listeners once TLS is
 * on (the gate in smtp_state.c refuses the rest). The credentials are checked by core/login
 * (directory lookup, then Argon2id on the libuv pool) while the connection is paused; failed
 * attempts count in core/authlimit per client IP and account, and a locked-out pair is refused
 * before any password work (454 4.7.0). After SMTP_MAX_AUTH_FAILURES the session closes.
 * MAIL FROM on submission must name the authenticated account's own address or an address the
 * directory resolves to it (alias, plus-address); anything else is refused with 553 5.7.1.
 */
#include "smtp_int.h"
#include "node.h"
#include "core/authlimit.h"
#include "core/login.h"
#include "net/conn.h"
#include "storage/store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SMTP_MAX_AUTH_FAILURES 3

void smtp__auth_free(struct smtp_session *s)
{
	if (s->auth_login_user) {
		sodium_memzero(s->auth_login_user, LOGIN_USER_MAX);
		free(s->auth_login_user);
		s->auth_login_user = NULL;
	}
	s->auth_step = 0;
}

/* End an exchange with a reply; back to HELO. */
static void auth_end(struct smtp_session *s)
{
	smtp__auth_free(s);
	if (s->state == SMTP_S_AUTH)
		smtp__enter_state(s, SMTP_S_HELO);
}

static void auth_failed_reply(struct smtp_session *s, const char *reply)
{
	smtp__reply(s, "%s", reply);
	if (++s->auth_failures >= SMTP_MAX_AUTH_FAILURES) {
		smtp__reply(s, "421 4.7.0 %s Error: too many failed authentications",
		            node_get()->hostname);
		smtp__enter_state(s, SMTP_S_QUIT);
		conn_close(s->c);
		return;
	}
	smtp__error(s);
}

struct auth_wait {
	struct smtp_session *s;
	char user[LOGIN_USER_MAX];
};

static void login_done(void *ud, int rv, const struct dir_account *acct)
{
	struct auth_wait *w = ud;
	struct smtp_session *s = w->s;
	if (rv == 0)
		authlimit_success(authlimit_global(), conn_peer(s->c), w->user);
	else if (rv == MR_EAUTH)
		authlimit_failure(authlimit_global(), conn_peer(s->c), w->user);
	bool usable = smtp__async_end(s);
	if (usable) {
		if (rv == 0) {
			s->authed = true;
			snprintf(s->auth_user, sizeof s->auth_user, "%s", acct->address);
			snprintf(s->auth_db, sizeof s->auth_db, "%s", acct->dbname);
			log_info("smtp", "auth conn=%llu user=%s", (unsigned long long)conn_id(s->c),
			         s->auth_user);
			smtp__reply(s, "235 2.7.0 Authentication successful");
		} else if (rv == MR_EAUTH) {
			log_info("smtp", "auth failed conn=%llu peer=%s",
			         (unsigned long long)conn_id(s->c), conn_peer(s->c));
			auth_failed_reply(s, "535 5.7.8 Authentication credentials invalid");
		} else {
			smtp__reply(s, "454 4.7.0 Temporary authentication failure");
		}
		if (s->state == SMTP_S_AUTH)
			smtp__enter_state(s, SMTP_S_HELO);
	}
	sodium_memzero(w, sizeof *w);
	free(w);
	if (usable)
		smtp__process(s);
}

/* Check user/pass: throttle, then the asynchronous login. The caller wipes pass. */
static void start_login(struct smtp_session *s, const char *user, const char *pass)
{
	smtp__auth_free(s);
	char lower[LOGIN_USER_MAX];
	snprintf(lower, sizeof lower, "%s", user);
	mr_lower(lower);
	uint64_t wait_ms = authlimit_check(authlimit_global(), conn_peer(s->c), lower);
	if (wait_ms > 0) {
		log_info("smtp", "auth throttled conn=%llu peer=%s wait_ms=%llu",
		         (unsigned long long)conn_id(s->c), conn_peer(s->c),
		         (unsigned long long)wait_ms);
		auth_end(s);
		auth_failed_reply(s, "454 4.7.0 Too many failed authentications, try again later");
		return;
	}
	struct auth_wait *w = xmalloc(sizeof *w);
	w->s = s;
	snprintf(w->user, sizeof w->user, "%s", lower);
	smtp__async_begin(s);
	int rv = login_check(user, strlen(user), pass, strlen(pass), login_done, w);
	if (rv != 0) {
		free(w);
		bool usable = smtp__async_end(s);
		if (!usable)
			return;
		auth_end(s);
		if (rv == MR_EINVAL)
			auth_failed_reply(s, "535 5.7.8 Authentication credentials invalid");
		else
			smtp__reply(s, "454 4.7.0 Temporary authentication failure");
	}
}

static void plain_response(struct smtp_session *s, const char *b64, size_t len)
{
	char user[LOGIN_USER_MAX], pass[LOGIN_PASS_MAX];
	int rv = login_sasl_plain(b64, len, user, pass);
	if (rv == 0) {
		start_login(s, user, pass);
	} else {
		auth_end(s);
		if (rv == MR_EPERM)
			auth_failed_reply(s, "535 5.7.8 Cannot act as another user");
		else
			auth_failed_reply(s, "501 5.5.2 Invalid base64 or PLAIN response");
	}
	sodium_memzero(pass, sizeof pass);
	sodium_memzero(user, sizeof user);
}

static void login_step(struct smtp_session *s, const char *b64, size_t len)
{
	if (s->auth_step == 1) {
		s->auth_login_user = xmalloc(LOGIN_USER_MAX);
		if (login_b64_field(b64, len, s->auth_login_user, LOGIN_USER_MAX) != 0 ||
		    !s->auth_login_user[0]) {
			auth_end(s);
			auth_failed_reply(s, "501 5.5.2 Invalid base64 user name");
			return;
		}
		s->auth_step = 2;
		smtp__reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
		return;
	}
	char pass[LOGIN_PASS_MAX];
	if (login_b64_field(b64, len, pass, sizeof pass) != 0) {
		sodium_memzero(pass, sizeof pass);
		auth_end(s);
		auth_failed_reply(s, "501 5.5.2 Invalid base64 password");
		return;
	}
	char user[LOGIN_USER_MAX];
	snprintf(user, sizeof user, "%s", s->auth_login_user);
	start_login(s, user, pass);
	sodium_memzero(pass, sizeof pass);
	sodium_memzero(user, sizeof user);
}

void smtp__auth_line(struct smtp_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') { /* RFC 4954 §4: the client cancels */
		auth_end(s);
		smtp__reply(s, "501 5.7.0 Authentication cancelled");
		smtp__error(s);
		return;
	}
	if (s->auth_step == 0)
		plain_response(s, line, len);
	else
		login_step(s, line, len);
}

/* Mechanisms (RFC 4954 §4): name, and whether it is PLAIN (else LOGIN). */
static const struct {
	const char *name;
	bool plain;
} mechs[] = {{"PLAIN", true}, {"LOGIN", false}};

void smtp__cmd_auth(struct smtp_session *s, const char *args, size_t len)
{
	const char *sp = memchr(args, ' ', len);
	size_t mlen = sp ? (size_t)(sp - args) : len;
	const char *ir = sp ? sp + 1 : NULL;
	size_t irlen = sp ? len - mlen - 1 : 0;
	int m = -1;
	for (size_t i = 0; i < MR_ARRAY_LEN(mechs); i++)
		if (strlen(mechs[i].name) == mlen && mr_strncasecmp(mechs[i].name, args, mlen) == 0)
			m = (int)i;
	if (m < 0) {
		smtp__reply(s, "504 5.5.4 Unrecognized authentication type");
		smtp__error(s);
		return;
	}
	smtp__enter_state(s, SMTP_S_AUTH);
	if (mechs[m].plain) {
		s->auth_step = 0;
		if (ir) {
			plain_response(s, ir, irlen);
			return;
		}
		smtp__reply(s, "334 "); /* RFC 4954 §4: empty challenge */
		return;
	}
	s->auth_step = 1;
	if (ir) { /* RFC 4954 allows an initial response: the user name */
		login_step(s, ir, irlen);
		return;
	}
	smtp__reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
}

/* ---- sender check (MAIL FROM on submission) ----------------------------------------------- */
struct sender_job {
	struct smtp_session *s;
	char addr[SMTP_ADDR_MAX + 1];
	char db[64];
	bool owned;
	int rv;
};

static int sender_job_fn(struct store_db *db, void *arg)
{
	struct sender_job *j = arg;
	char **names = NULL;
	size_t n = 0;
	j->rv = dir_resolve(db, j->addr, &names, &n);
	for (size_t i = 0; j->rv == 0 && i < n; i++)
		if (strcmp(names[i], j->db) == 0)
			j->owned = true;
	if (names)
		dir_names_free(names, n);
	if (j->rv == MR_ENOTFOUND || j->rv == MR_EINVAL)
		j->rv = 0; /* not ours: not owned */
	return 0;
}

static void sender_done(void *arg, int rv)
{
	struct sender_job *j = arg;
	struct smtp_session *s = j->s;
	if (rv == 0)
		rv = j->rv;
	bool owned = j->owned;
	free(j);
	if (!smtp__async_end(s))
		return;
	if (rv != 0) {
		smtp__reset_tx(s);
		smtp__reply(s, "451 4.3.0 Error: sender check failed, try again later");
	} else if (!owned) {
		log_info("smtp", "sender refused conn=%llu user=%s", (unsigned long long)conn_id(s->c),
		         s->auth_user);
		smtp__reset_tx(s);
		smtp__reply(s, "553 5.7.1 Sender address rejected: not owned by the authenticated user");
		smtp__error(s);
	} else {
		smtp__enter_state(s, SMTP_S_MAIL);
		smtp__reply(s, "250 2.1.0 Ok");
	}
	smtp__process(s);
}

void smtp__submit_sender(struct smtp_session *s)
{
	if (s->from.null) {
		smtp__reset_tx(s);
		smtp__reply(s, "553 5.7.1 Sender address rejected: a null sender cannot be submitted");
		smtp__error(s);
		return;
	}
	struct sender_job *j = xmalloc(sizeof *j);
	j->s = s;
	snprintf(j->addr, sizeof j->addr, "%s", s->from.addr);
	mr_lower(j->addr);
	snprintf(j->db, sizeof j->db, "%s", s->auth_db);
	smtp__async_begin(s);
	int rv = store_submit(node_get()->store, STORE_DIRECTORY, 0, sender_job_fn, sender_done, j);
	if (rv != 0) {
		free(j);
		if (!smtp__async_end(s))
			return;
		smtp__reset_tx(s);
		smtp__reply(s, "451 4.3.0 Error: sender check failed, try again later");
	}
}

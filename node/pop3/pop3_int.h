/* pop3_int.h - private declarations shared by the files of the POP3 frontend: the session
 * object, the protocol states (RFC 1939 §3: AUTHORIZATION, TRANSACTION, UPDATE), the maildrop
 * snapshot, and the store jobs that run on actor threads (pop3_store.c). Nothing here is used
 * outside node/pop3. All session functions run on the loop thread. */
#ifndef MR_POP3_INT_H
#define MR_POP3_INT_H
#include <stdint.h>
#include <stdbool.h>
#include <uv.h>
#include "pop3_parse.h"
#include "net/conn.h"
#include "storage/store.h"

/* Style practice 4 / Dovecot CLIENT_MAX_BAD_COMMANDS: disconnect after this many. */
#define POP3_MAX_BAD_COMMANDS 10
/* Failed logins allowed per connection before the server hangs up. */
#define POP3_MAX_AUTH_FAILURES 3
/* Delay before a failed-login reply (slows password guessing without blocking the loop). */
#define POP3_AUTH_FAIL_DELAY_MS 1000
/* Longest accepted user name: an RFC 5321 §4.5.3.1 path (local 64 + @ + domain 255). */
#define POP3_USER_MAX 320
/* Longest password we pass to Argon2 (bounded by the AUTH line budget anyway). */
#define POP3_PASS_MAX 1024
/* RETR/TOP read the body in chunks of this size (one store job each): memory per streaming
 * session is about 3 chunks. */
#define POP3_CHUNK 65536
/* Back-pressure: stop reading the body while more than HIGH bytes wait for the kernel, resume
 * below LOW (polled, conn.h has no drain callback). */
#define POP3_WRITE_HIGH (256 * 1024)
#define POP3_WRITE_LOW (64 * 1024)
#define POP3_DRAIN_POLL_MS 10
/* A maildrop larger than this many messages is presented truncated (memory bound: 24 bytes
 * each). */
#define POP3_MAX_MESSAGES 1000000u

enum pop3_state { POP3_AUTHORIZATION = 0, POP3_TRANSACTION, POP3_UPDATE, POP3_STATE_COUNT };
#define POP3_IN(st) (1u << (st))

/* One message of the maildrop as snapshotted at login (RFC 1939 §5: the numbering is fixed for
 * the session). */
struct pop3_msg {
	int64_t id; /* messages.id == bodies.id */
	uint32_t uid;
	bool deleted;
	uint64_t size;
};

enum pop3_timer_use {
	POP3_TIMER_NONE,
	POP3_TIMER_AUTH_DELAY, /* failed login: reply when it fires */
	POP3_TIMER_DRAIN,      /* RETR/TOP waiting for the write queue to drain */
	POP3_TIMER_OUTPUT,     /* input processing waiting for the write queue to drain */
};

struct pop3_stream; /* pop3_retr.c */

struct pop3_session {
	struct conn *c;
	enum pop3_state state;
	struct pop3_parser parser;
	uint8_t in[2048]; /* raw input taken from conn, not yet parsed */
	size_t in_off, in_len;
	bool busy;      /* an async step is in flight: input is not processed */
	bool pumping;   /* inside pump(): no re-entry */
	bool gone;      /* on_close has run */
	bool sasl_wait; /* AUTH PLAIN sent "+ ", the next line is the client response */
	unsigned jobs;  /* store jobs in flight (the session outlives them) */
	unsigned bad_commands;
	unsigned auth_failures;
	char user[POP3_USER_MAX + 1]; /* USER argument, "" when none */

	/* the maildrop (TRANSACTION state) */
	char address[POP3_USER_MAX + 1];
	char dbname[STORE_DBNAME_MAX];
	bool locked;
	int64_t folder_id;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	uint32_t nmsgs;

	struct pop3_stream *stream;
	uv_timer_t timer;
	enum pop3_timer_use timer_use;
};

/* ---- pop3_session.c ---- */
/* Move to a new protocol state (asserts the move is legal, traces it). */
void pop3__enter_state(struct pop3_session *s, enum pop3_state next);
/* Begin / end an async step: pauses input; the end resumes and processes buffered commands. */
void pop3__busy(struct pop3_session *s);
void pop3__idle(struct pop3_session *s);
/* Count a bad command; closes the connection at POP3_MAX_BAD_COMMANDS. */
void pop3__bad(struct pop3_session *s, const char *reply);
/* Submit a store job for this session (holds the conn). done must start with pop3__job_end. */
int pop3__submit(struct pop3_session *s, const char *dbname, store_job_fn fn, store_done_fn done,
                 void *arg);
/* In a job completion: returns false when the session is gone (then the caller must only free
 * its job and return; the session may already be freed). Releases the conn hold. */
bool pop3__job_end(struct pop3_session *s);
/* Start the session timer for use (one user at a time). */
void pop3__timer_start(struct pop3_session *s, enum pop3_timer_use use, uint64_t ms,
                       uint64_t repeat);
void pop3__timer_stop(struct pop3_session *s);
bool pop3__auth_allowed(struct pop3_session *s);

/* ---- command handlers (pop3_session.c, pop3_auth.c, pop3_retr.c) ---- */
typedef void (*pop3_handler)(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_capa(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_top(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3__cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd);
/* The client's line after "+ " (RFC 5034 §4). */
void pop3__sasl_response(struct pop3_session *s, const char *line, size_t len);
/* Timer expired in POP3_TIMER_AUTH_DELAY / POP3_TIMER_DRAIN use. */
void pop3__auth_delay_expired(struct pop3_session *s);
void pop3__drain_tick(struct pop3_session *s);
/* Session teardown helpers. */
void pop3__stream_free(struct pop3_session *s);
void pop3__unlock(struct pop3_session *s);

/* ---- pop3_store.c: jobs (run on actor threads; touch only their job struct) ---- */
struct pop3_login_job {
	struct pop3_session *s;
	char address[POP3_USER_MAX + 1];
	/* results */
	char dbname[STORE_DBNAME_MAX];
	int64_t folder_id;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	uint32_t nmsgs;
};
/* On the account database: INBOX's UIDVALIDITY and its messages (id, uid, size). */
int pop3__job_snapshot(struct store_db *db, void *arg);

struct pop3_chunk_job {
	struct pop3_session *s;
	int64_t id;
	uint64_t off;   /* in: where to read */
	uint64_t total; /* out: body size */
	size_t n;       /* out: bytes in data */
	uint8_t data[POP3_CHUNK];
};
/* On the account database: read up to POP3_CHUNK bytes of bodies.raw at off (incremental blob
 * I/O, so a big message is never loaded whole). MR_ENOTFOUND if the body is gone. */
int pop3__job_chunk(struct store_db *db, void *arg);

struct pop3_update_job {
	struct pop3_session *s;
	int64_t folder_id;
	int64_t *ids;
	size_t n;
	size_t removed; /* out */
};
/* On the account database: RFC 1939 §6 UPDATE: delete every marked message (messages + bodies
 * rows) and bump the folder's HIGHESTMODSEQ in one transaction. 0 only after the commit. */
int pop3__job_update(struct store_db *db, void *arg);

#endif

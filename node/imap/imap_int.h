/* imap_int.h - private declarations shared by the IMAP frontend's files: the session, its
 * state machine (RFC 3501 §3), the command table entry, store jobs and the selected mailbox's
 * sequence-number snapshot. Loop-thread objects (session) are never touched by actor code:
 * a job carries its own copy of everything it needs (tag, dbname, snapshot) and hands results
 * back through its done callback. Cross-file helpers use the imap__ prefix. */
#ifndef MR_IMAP_INT_H
#define MR_IMAP_INT_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "imap.h"
#include "imap_parser.h"
#include "imap_seqset.h"
#include "common/buf.h"
#include "storage/store.h"

#define IMAP_COMPONENT "imap"
#define IMAP_TAG_MAX 130
#define IMAP_CAPS_MAX 1024
#define IMAP_MAX_BAD 20           /* Dovecot CLIENT_MAX_BAD_COMMANDS */
#define IMAP_PREAUTH_LINE 8192    /* style.md practice 4: tighter before authentication */
#define IMAP_IN_BUF 16384         /* one read from the conn */
#define IMAP_LINE_MAX 65536
#define IMAP_PREAUTH_LITERAL 8192 /* largest {n} accepted before login */
#define IMAP_PREAUTH_ARGS 128     /* ID takes up to 30 pairs */
#define IMAP_PREAUTH_TIMEOUT 180  /* seconds to log in */

enum imap_state {
	IMAP_S_NOTAUTH,
	IMAP_S_AUTH,
	IMAP_S_SELECTED,
	IMAP_S_LOGOUT,
};

enum imap_mode {
	IMAP_M_COMMAND,   /* parsing commands */
	IMAP_M_IDLE,      /* RFC 2177: waiting for DONE */
	IMAP_M_AUTH_CONT, /* RFC 3501 §6.2.2: waiting for the SASL response line */
};

/* One message of the selected mailbox: index + 1 is its sequence number. gone: expunged in
 * the store but not yet announced (RFC 3501 §7.4.1 forbids EXPUNGE during FETCH/STORE/SEARCH). */
struct imap_msgent {
	uint32_t uid;
	uint64_t modseq;
	bool gone;
};

struct imap_snap {
	struct imap_msgent *m;
	size_t n, cap;
};

struct imap_session {
	struct conn *c;
	enum imap_state state;
	enum imap_mode mode;
	struct imap_parser *parser;
	/* Bytes taken from the conn, not yet parsed (IMAP_IN_BUF, allocated while input is being
	 * processed and freed once it is all consumed, so an idle session holds none). */
	uint8_t *in;
	size_t in_off, in_len;
	/* IDLE / AUTHENTICATE continuation line (IMAP_PREAUTH_LINE + 1, allocated on the first
	 * byte of such a line, wiped and freed once it is handled) */
	char *line;
	size_t line_len;
	bool line_skip;
	char tag[IMAP_TAG_MAX]; /* tag of the command in progress (IDLE, AUTHENTICATE, jobs) */
	/* after login */
	char user[320];
	char dbname[STORE_DBNAME_MAX];
	/* selected mailbox */
	char mailbox[512];
	int64_t folder_id;
	uint32_t uidvalidity;
	bool readonly;
	struct imap_snap snap;
	/* bookkeeping */
	int64_t quota; /* bytes (directory), 0 = none */
	bool condstore; /* RFC 7162 §3.1: enabled by ENABLE or a CONDSTORE-using command */
	bool qresync;   /* RFC 7162 §3.2.3: ENABLE QRESYNC (implies condstore) */
	bool utf8;      /* RFC 6855 §3: ENABLE UTF8=ACCEPT (or IMAP4rev2) */
	bool rev2;      /* RFC 9051: ENABLE IMAP4rev2 */
	/* AUTHENTICATE in progress: 0 = PLAIN response next; LOGIN: 1 = user name next, 2 =
	 * password next (auth_user holds the name, LOGIN_USER_MAX bytes, wiped when freed) */
	unsigned char auth_step;
	char *auth_user;
	struct imap_seqset saved; /* RFC 5182 "$": UIDs saved by SEARCH RETURN (SAVE) */
	unsigned bad;
	unsigned auth_failures;
	bool busy;            /* a store job is in flight (conn paused and held) */
	bool closed;          /* on_close ran while busy: free in the job's done */
	bool refresh_pending; /* a commit arrived while busy in IDLE */
	struct imap_session *prev, *next; /* all sessions (commit hook) */
};

/* ---- commands ----------------------------------------------------------------------- */
#define CMD_NOTAUTH 0x01u
#define CMD_AUTH 0x02u
#define CMD_SELECTED 0x04u
#define CMD_ANY (CMD_NOTAUTH | CMD_AUTH | CMD_SELECTED)
#define CMD_AUTHED (CMD_AUTH | CMD_SELECTED)

struct imap_cmd {
	const struct imap_cmd_def *def;
	struct imap_session *s;
	const char *tag;
	const char *name;
	const struct imap_arg *args; /* top-level walk: use imap__next_arg */
	size_t nargs;
	bool uid; /* "UID FETCH" etc. */
};

struct imap_cmd_def {
	const char *name;
	void (*fn)(struct imap_cmd *cmd);
	unsigned states; /* CMD_* bitmask */
};

/* Handlers (one file per concern). */
void imap__cmd_capability(struct imap_cmd *cmd);
void imap__cmd_noop(struct imap_cmd *cmd); /* NOOP and CHECK */
void imap__cmd_logout(struct imap_cmd *cmd);
void imap__cmd_starttls(struct imap_cmd *cmd);
void imap__cmd_login(struct imap_cmd *cmd);
void imap__cmd_authenticate(struct imap_cmd *cmd);
void imap__cmd_id(struct imap_cmd *cmd);
void imap__cmd_enable(struct imap_cmd *cmd);
void imap__cmd_list(struct imap_cmd *cmd); /* LIST and LSUB */
void imap__cmd_select(struct imap_cmd *cmd); /* SELECT and EXAMINE */
void imap__cmd_status(struct imap_cmd *cmd);
void imap__cmd_create(struct imap_cmd *cmd);
void imap__cmd_delete(struct imap_cmd *cmd);
void imap__cmd_rename(struct imap_cmd *cmd);
void imap__cmd_subscribe(struct imap_cmd *cmd); /* SUBSCRIBE and UNSUBSCRIBE */
void imap__cmd_append(struct imap_cmd *cmd);
void imap__cmd_fetch(struct imap_cmd *cmd);
void imap__cmd_store(struct imap_cmd *cmd);
void imap__cmd_copy(struct imap_cmd *cmd); /* COPY and MOVE */
void imap__cmd_namespace(struct imap_cmd *cmd);
void imap__cmd_search(struct imap_cmd *cmd);
void imap__cmd_expunge(struct imap_cmd *cmd);
void imap__cmd_close(struct imap_cmd *cmd); /* CLOSE and UNSELECT */
void imap__cmd_idle(struct imap_cmd *cmd);
void imap__cmd_getquota(struct imap_cmd *cmd);     /* GETQUOTA and GETQUOTAROOT */
void imap__cmd_sort(struct imap_cmd *cmd);         /* SORT and THREAD */
void imap__cmd_setquota(struct imap_cmd *cmd);
void imap__cmd_compress(struct imap_cmd *cmd);     /* RFC 4978 COMPRESS DEFLATE */

/* The raw-DEFLATE stream filter of COMPRESS (imap_compress.c), exposed for unit tests: a new
 * context (NULL if zlib fails) to pass with imap__deflate_filter() to conn_set_filter. */
const struct conn_filter *imap__deflate_filter(void);
void *imap__deflate_new(void);

/* The CAPABILITY list for the session's state and transport. */
void imap__caps(struct imap_session *s, char *out, size_t n);
/* A SASL continuation line arrived (AUTHENTICATE). */
/* Wipe and free the state of an AUTHENTICATE exchange (session end, cancel). */
void imap__auth_free(struct imap_session *s);
void imap__auth_continue(struct imap_session *s, const char *line, size_t len);
/* An input line arrived during IDLE. */
void imap__idle_line(struct imap_session *s, const char *line, size_t len);

/* ---- session helpers (imap_session.c) ------------------------------------------------ */
void imap__enter_state(struct imap_session *s, enum imap_state next);
/* "tag BAD text" and count it; closes after IMAP_MAX_BAD. */
void imap__bad(struct imap_session *s, const char *tag, const char *text);
/* Continue processing buffered input (after a job or a mode change). */
void imap__process_input(struct imap_session *s);
/* Parser limits for the session's state. */
void imap__update_limits(struct imap_session *s);
/* Index of the next top-level argument after args[i]. */
size_t imap__next_arg(const struct imap_arg *args, size_t i);
/* Number of top-level arguments. */
size_t imap__count_args(const struct imap_arg *args, size_t n);
/* The i-th top-level argument (NULL if absent). */
const struct imap_arg *imap__arg(const struct imap_cmd *cmd, size_t i);
/* The session list (commit hook). */
struct imap_session *imap__sessions(void);
/* Free a session (and unlink it). */
void imap__session_free(struct imap_session *s);

/* ---- store jobs (imap_job.c) ---------------------------------------------------------- */
struct imap_job;
typedef int (*imap_job_run_fn)(struct store_db *db, struct imap_job *j);
typedef void (*imap_job_done_fn)(struct imap_job *j, int rv);

struct imap_job {
	struct imap_session *s; /* loop thread only: never dereferenced by run */
	char tag[IMAP_TAG_MAX]; /* "" for a tagless refresh (IDLE) */
	imap_job_run_fn run;    /* actor */
	imap_job_done_fn done;  /* loop, before the tagged reply; may be NULL */
	struct buf out;         /* untagged responses built on the actor */
	char reply[512];        /* "OK ..." / "NO ..." (without the tag) */
	/* selected-mailbox context (copied at start when the session is SELECTED) */
	bool selected;
	int64_t quota; /* the account's, for APPEND / COPY */
	bool condstore; /* add MODSEQ to FETCH responses */
	bool qresync;   /* RFC 7162 §3.2.10: VANISHED instead of EXPUNGE, UID in FETCH */
	bool utf8;      /* RFC 6855: mailbox names go out in UTF-8 */
	bool rev2;      /* RFC 9051 behaviour (ENABLE IMAP4rev2) */
	bool allow_expunge; /* refresh may announce expunges */
	bool readonly;
	int64_t folder_id;
	uint32_t uidvalidity;
	struct imap_snap snap; /* working copy: replaces the session's on success */
	void *arg;
	void (*free_arg)(void *arg);
	/* set by run: more rounds follow (big FETCH). The output so far is written, then run is
	 * called again once the connection's queued output has drained below IMAP_OUT_HIGH;
	 * the refresh runs only after the last round. */
	bool again;
	bool timer_on;
	uv_timer_t timer;
};

#define IMAP_OUT_HIGH (4u * 1024 * 1024) /* back-pressure threshold and round size */

/* Parse the sequence-set argument a of cmd into *set for the job (sequence numbers for
 * a plain command, UIDs for a UID one), resolving RFC 5182 "$" from the session's saved
 * UIDs (mapped to sequence numbers through the snapshot when !cmd->uid). 0 / MR_EINVAL. */
int imap__seqset_arg(const struct imap_cmd *cmd, const struct imap_arg *a,
		     struct imap_seqset *set);

/* A job for s with the session's selected-mailbox context copied in. */
struct imap_job *imap__job_new(struct imap_session *s, const char *tag, imap_job_run_fn run);
/* Submit on dbname (NULL: the session's account db): pauses and holds the conn until done.
 * On submit failure replies "NO" and frees the job. */
void imap__job_submit(struct imap_job *j, const char *dbname);
/* Like imap__job_submit, but the job is a password login (core/login.h) instead of a store
 * job: the account goes to *acct_r, then done(j, 0 / MR_EAUTH / MR_EIO) and the tagged reply
 * follow as for any job. */
void imap__job_submit_login(struct imap_job *j, const char *user, size_t ulen, const char *pass,
			    size_t plen, struct dir_account *acct_r);
/* printf into j->reply. */
void imap__job_reply(struct imap_job *j, const char *fmt, ...) MR_PRINTF(2, 3);
/* RFC 7162 §3.2.5.1 / §3.2.6: "* VANISHED (EARLIER) uids" for the folder's messages expunged
 * with a MODSEQ above since (and, when uids is given, in it; '*' = star). Actor side. */
int imap__vanished_earlier(struct store_db *db, struct imap_job *j, int64_t folder,
			   uint64_t since, const struct imap_seqset *uids, uint32_t star);
/* Refresh (actor): compare j->snap with the folder and append EXISTS / EXPUNGE / FETCH FLAGS
 * to j->out, updating j->snap. */
int imap__refresh(struct store_db *db, struct imap_job *j);
/* Begin a refresh-only job for an IDLE session. */
void imap__start_idle_refresh(struct imap_session *s);

/* ---- snapshot helpers ------------------------------------------------------------------ */
void imap__snap_free(struct imap_snap *sn);
void imap__snap_copy(struct imap_snap *dst, const struct imap_snap *src);
void imap__snap_push(struct imap_snap *sn, uint32_t uid, uint64_t modseq);
/* Largest UID in the snapshot (0 if empty). */
uint32_t imap__snap_max_uid(const struct imap_snap *sn);
/* Index of uid or SIZE_MAX. */
size_t imap__snap_find(const struct imap_snap *sn, uint32_t uid);
/* Collect snapshot indexes selected by set (sequence numbers or UIDs; '*' is the last one).
 * Gone entries are included (their rows are missing, so callers skip them). Returns the count;
 * *idx_r is malloc'd (free it). */
size_t imap__snap_select(const struct imap_snap *sn, const struct imap_seqset *set, bool uid,
			 size_t **idx_r);

/* ---- message rows (imap_msg.c, actor side) --------------------------------------------- */
struct imap_msgrow {
	int64_t id;
	char *flags; /* never NULL after a load */
	int64_t internaldate;
	uint64_t size;
	char *envelope, *bodystructure; /* cached IMAP forms, may be NULL */
	uint64_t modseq;
	int64_t savedate; /* RFC 8514 */
	char *emailid;    /* RFC 8474, may be NULL */
};
/* Read one message of the folder by UID. 0, MR_ENOTFOUND, MR_EIO. Free with imap__msg_free. */
int imap__msg_load(struct store_db *db, int64_t folder, uint32_t uid, struct imap_msgrow *r);
void imap__msg_free(struct imap_msgrow *r);
/* Inside a transaction: set flags with a new MODSEQ (returned) and bump HIGHESTMODSEQ. */
int imap__msg_set_flags(struct store_db *db, int64_t folder, int64_t id, const char *flags,
			uint64_t *modseq_r);

/* SEARCH helper (imap_cmd_search.c, actor): evaluate key on snapshot entry i of j. 1 match,
 * 0 no match or gone, <0 error; *modseq_r gets the message's MODSEQ. */
struct imap_search_key;
int imap__search_one(struct store_db *db, struct imap_job *j, const struct imap_search_key *key,
		     const struct imap_seqset *saved, size_t i, uint64_t *modseq_r);

/* STATUS data (imap_cmd_list.c, actor): append "* STATUS name (...)" for IMAP_ST_* items.
 * MR_ENOTFOUND when the mailbox does not exist. */
int imap__status_put(struct store_db *db, struct buf *out, const char *name, unsigned items,
		     uint64_t appendlimit, bool utf8);
/* RFC 8474 MAILBOXID of a folder, written to out. */
const char *imap__mailboxid(const struct mbox_folder *f, char out[40]);

/* MR_EQUOTA when adding `add` bytes would exceed quota (bytes; <= 0: unlimited). */
int imap__quota_check(struct store_db *db, int64_t quota, uint64_t add);

/* ---- shared utilities (imap_util.c) --------------------------------------------------- */
/* Append s[0..len) as an IMAP string: quoted when safe, else a literal (8-bit, CR/LF, NUL). */
void imap__put_string(struct buf *out, const char *s, size_t len);
/* Append NIL or the string. */
void imap__put_nstring(struct buf *out, const char *s);
/* Parse a flag list argument ("(\Seen foo)" or a single flag atom) into a normalised
 * space-separated string. 0 or MR_EINVAL (\Recent and bad atoms refused). */
int imap__flags_parse(const struct imap_arg *args, size_t i, struct buf *out);
/* Flag set operations on space-separated strings; result in out. op: '+', '-', '='. */
void imap__flags_apply(const char *cur, const char *change, char op, struct buf *out);
/* RFC 3501 date-time "17-Jul-1996 02:44:25 -0700" <-> unix seconds. */
int imap__datetime_parse(const char *s, size_t len, int64_t *t_r);
void imap__datetime_format(int64_t t, char out[32]);
/* Escape-safe mailbox name check (non-empty, no NUL/CR/LF, bounded, no "%*"). */
bool imap__mailbox_ok(const char *name, size_t len);
/* A mailbox name from the client into its stored form in place: UTF-8 to modified UTF-7 when
 * the session enabled UTF8=ACCEPT, then INBOX normalised. false: invalid UTF-8 / too long. */
bool imap__mailbox_in(const struct imap_session *s, char *name, size_t cap);
/* Append a stored mailbox name as an IMAP string, in UTF-8 when utf8 (RFC 6855 §3). */
void imap__put_mailbox(struct buf *out, const char *name, bool utf8);
/* "* LIST (attributes) "/" name" for one existing mailbox (RFC 9051 §6.3.2: IMAP4rev2
 * SELECT/EXAMINE). MR_ENOTFOUND, MR_EIO. */
int imap__list_one(struct store_db *db, struct buf *out, const char *name, bool utf8);
/* Normalise INBOX case in place. */
void imap__mailbox_norm(char *name);
/* LIST pattern match: '*' matches anything, '%' anything but '/'; INBOX case-insensitive. */
bool imap__list_match(const char *pat, const char *name);
/* "not-authenticated", "authenticated", ... (state-transition traces). */
const char *imap__state_name(enum imap_state st);

#endif

/* test_pop3_session.c - the POP3 session (node/pop3) end to end over a fake connection and a
 * real store in the test's temp dir: greeting and CAPA, the plaintext-auth gate and STLS (with
 * the command-injection discard), USER/PASS and AUTH PLAIN (initial response, continuation,
 * cancel, failure with its delay), [IN-USE] locking, STAT/LIST/UIDL/TOP/RETR byte-exact output,
 * argument validation, pipelining across async steps, DELE + QUIT applying deletions in one
 * committed transaction (and RSET / autologout not applying them), the bad-command limit, and
 * RETR of a big message staying bounded under write back-pressure.
 *
 * The fake conn below replaces node/net's conn.c (this file defines every conn_* the frontend
 * uses, so the linker never pulls conn.o), and node_get() returns this file's node. */
#include <stdarg.h>
#include <time.h>
#include "unit.h"
#include "pop3/pop3.h"
#include "pop3/pop3_int.h"
#include "node.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"

/* ---- fake node + conn -------------------------------------------------------------------- */

static uv_loop_t loop;
static struct config cfg;
static struct node node;

struct node *node_get(void)
{
	return &node;
}

void node_set(struct node *n)
{
	(void)n;
}

struct conn {
	struct buf in, out;
	size_t in_off, out_read, drained;
	size_t extra_queued; /* pretend the kernel has this much unsent */
	bool paused, closing, closed, tls, backpressure;
	enum conn_tls mode;
	int holds;
	void *data;
	unsigned timeout_ms;
	uint64_t id;
};

size_t conn_read(struct conn *c, void *dst, size_t n)
{
	size_t left = c->in.len - c->in_off;
	if (n > left)
		n = left;
	memcpy(dst, c->in.p + c->in_off, n);
	c->in_off += n;
	return n;
}

size_t conn_pending(struct conn *c)
{
	return c->in.len - c->in_off;
}

int conn_getline(struct conn *c, struct buf *out)
{
	(void)c;
	(void)out;
	return MR_EINVAL; /* the POP3 frontend uses conn_read */
}

void conn_write(struct conn *c, const void *p, size_t n)
{
	if (!c->closing)
		buf_append(&c->out, p, n);
}

void conn_puts(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	ASSERT(n >= 0 && (size_t)n < sizeof tmp);
	conn_write(c, tmp, (size_t)n);
}

size_t conn_write_queued(struct conn *c)
{
	/* with back-pressure on, nothing is written to the "kernel" until the test drains */
	return (c->backpressure ? c->out.len - c->drained : 0) + c->extra_queued;
}

int conn_starttls(struct conn *c)
{
	if (c->tls || c->mode != CONN_TLS_STARTTLS)
		return MR_ETLS;
	c->tls = true;
	c->in_off = c->in.len; /* buffered plaintext is discarded */
	return 0;
}

bool conn_is_tls(struct conn *c)
{
	return c->tls;
}

enum conn_tls conn_tls_mode(struct conn *c)
{
	return c->mode;
}

void conn_pause(struct conn *c)
{
	c->paused = true;
}

void conn_resume(struct conn *c)
{
	c->paused = false;
}

void conn_close(struct conn *c)
{
	c->closing = true;
}

bool conn_closing(struct conn *c)
{
	return c->closing;
}

void conn_hold(struct conn *c)
{
	c->holds++;
}

void conn_release(struct conn *c)
{
	ASSERT(c->holds > 0);
	c->holds--;
}

void conn_set_timeout(struct conn *c, unsigned ms)
{
	c->timeout_ms = ms;
}

const char *conn_peer(struct conn *c)
{
	return "127.0.0.1";
}

unsigned conn_local_port(struct conn *c)
{
	return 110;
}

void *conn_data(struct conn *c)
{
	return c->data;
}

void conn_set_data(struct conn *c, void *data)
{
	c->data = data;
}

uint64_t conn_id(struct conn *c)
{
	return c->id;
}

/* ---- harness ------------------------------------------------------------------------------- */

#define MSG1 "Subject: one\r\n\r\nhello\r\n.dot line\r\n"
#define MSG2 "Subject: two\r\n\r\nbody two\r\n"
#define MSG3 "Subject: three\r\n\r\nl1\r\nl2\r\nl3\r\n"

static char acct_db[STORE_DBNAME_MAX];
static uint32_t inbox_uidvalidity;
static size_t big_size;

static int job_directory(struct store_db *db, void *arg)
{
	char hash[STORE_PWHASH_MAX];
	struct dir_account a;
	ASSERT_OK(store_pw_hash(store_db_store(db), "s3cret pw", hash));
	ASSERT_OK(dir_domain_add(db, "example.org"));
	ASSERT_OK(dir_account_add(db, "alice@example.org", hash, 0, &a));
	snprintf(acct_db, sizeof acct_db, "%s", a.dbname);
	return 0;
}

static int job_fill(struct store_db *db, void *arg)
{
	static const char *const msgs[] = {MSG1, MSG2, MSG3};
	uint32_t uid;
	struct mbox_folder f;
	ASSERT_OK(store_tx_begin(db));
	for (size_t i = 0; i < 3; i++)
		ASSERT_OK(mbox_append(db, "INBOX", "", 0, (const uint8_t *)msgs[i], strlen(msgs[i]),
		                      NULL, NULL, &uid));
	if (arg) {
		/* a 3 MB message of 100-byte lines, some starting with '.' */
		struct buf b;
		buf_init(&b, 0);
		buf_puts(&b, "Subject: big\r\n\r\n");
		for (int i = 0; b.len < 3u << 20; i++)
			buf_printf(&b, "%s%096d\r\n", i % 7 == 0 ? "." : "x", i);
		big_size = b.len;
		ASSERT_OK(mbox_append(db, "INBOX", "", 0, b.p, b.len, NULL, NULL, &uid));
		buf_free(&b);
	}
	ASSERT_OK(store_tx_commit(db));
	ASSERT_OK(mbox_folder_get(db, "INBOX", &f));
	inbox_uidvalidity = f.uidvalidity;
	return 0;
}

static void setup_with(bool big)
{
	char dir[512];
	ASSERT_OK(uv_loop_init(&loop));
	memset(&cfg, 0, sizeof cfg); /* the frontend reads only the two keys below */
	cfg.plaintext_auth = true;
	cfg.pop3_timeout = 600;
	snprintf(dir, sizeof dir, "%s/data", unit_tmpdir());
	struct store_config sc = {
	    .data_dir = dir, .actors = 2, .pwcost = STORE_PWCOST_MIN, .loop = &loop};
	char err[256];
	ASSERT_OK(store_open(&sc, &node.store, err, sizeof err));
	node.cfg = &cfg;
	node.loop = &loop;
	node.hostname = "test";
	ASSERT_OK(store_run(node.store, STORE_DIRECTORY, 0, job_directory, NULL));
	ASSERT_OK(store_run(node.store, acct_db, STORE_CREATE, job_fill, big ? &big : NULL));
}

static void setup(void)
{
	setup_with(false);
}

static struct conn *client(enum conn_tls mode)
{
	static uint64_t ids;
	struct conn *c = xmalloc(sizeof *c);
	buf_init(&c->in, 0);
	buf_init(&c->out, 0);
	c->mode = mode;
	c->tls = mode == CONN_TLS_IMPLICIT;
	c->id = ++ids;
	pop3_ops.on_open(c);
	return c;
}

/* One loop iteration plus what the real conn would do: deliver input, finish closes. */
static void step(struct conn *c)
{
	struct timespec ts = {0, 1000000};
	uv_run(&loop, UV_RUN_NOWAIT);
	if (c->closing && !c->closed) {
		c->closed = true;
		pop3_ops.on_close(c);
	}
	if (!c->closed && !c->paused && conn_pending(c))
		pop3_ops.on_input(c);
	nanosleep(&ts, NULL);
}

static void send_str(struct conn *c, const char *s)
{
	buf_puts(&c->in, s);
	if (!c->paused && !c->closing)
		pop3_ops.on_input(c);
}

/* Run until the unread output holds `want` (ends with it, or contains it when !exact_end);
 * returns the unread output up to the end of the match and marks it read. */
static char *wait_for(struct conn *c, const char *want)
{
	uint64_t deadline = mr_now_ms() + 10000;
	size_t wl = strlen(want);
	for (;;) {
		size_t avail = c->out.len - c->out_read;
		const uint8_t *p = c->out.p + c->out_read;
		for (size_t i = 0; wl <= avail && i <= avail - wl; i++) {
			if (memcmp(p + i, want, wl) == 0) {
				char *r = xstrndup((const char *)p, i + wl);
				c->out_read += i + wl;
				return r;
			}
		}
		if (mr_now_ms() > deadline)
			unit_fail(__FILE__, __LINE__, "timeout waiting for \"%s\"; have \"%.*s\"",
			          want, (int)avail, (const char *)p);
		step(c);
	}
}

/* Send a command and expect exactly `reply` as the next output. */
static void cmd(struct conn *c, const char *line, const char *reply)
{
	send_str(c, line);
	char *got = wait_for(c, reply);
	ASSERT_EQ_STR(got, reply);
	free(got);
}

static void login(struct conn *c)
{
	cmd(c, "USER alice@example.org\r\n", "+OK send PASS\r\n");
	char want[128];
	snprintf(want, sizeof want, "+OK maildrop has 3 messages (%zu octets)\r\n",
	         strlen(MSG1) + strlen(MSG2) + strlen(MSG3));
	cmd(c, "PASS s3cret pw\r\n", want);
}

static void finish(struct conn *c)
{
	if (!c->closing)
		conn_close(c);
	uint64_t deadline = mr_now_ms() + 10000;
	while (!c->closed || c->holds > 0) {
		ASSERT(mr_now_ms() < deadline);
		step(c);
	}
	store_close(&node.store);
	uv_run(&loop, UV_RUN_DEFAULT); /* session timer + store async handle close callbacks */
	ASSERT_OK(uv_loop_close(&loop));
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static int count_inbox(struct store_db *db, void *arg)
{
	sqlite3_stmt *st = store_stmt(db, "SELECT count(*) FROM messages m JOIN folders f ON "
	                                  "m.folder = f.id WHERE f.name = 'INBOX'");
	ASSERT(st && sqlite3_step(st) == SQLITE_ROW);
	*(int *)arg = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	st = store_stmt(db, "SELECT count(*) FROM bodies");
	ASSERT(st && sqlite3_step(st) == SQLITE_ROW);
	((int *)arg)[1] = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	struct mbox_folder f;
	ASSERT_OK(mbox_folder_get(db, "INBOX", &f));
	((int *)arg)[2] = (int)f.highestmodseq;
	return 0;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_greeting_capa_plaintext_gate(void)
{
	setup();
	cfg.plaintext_auth = false;
	struct conn *c = client(CONN_TLS_STARTTLS);
	free(wait_for(c, "+OK mailraft POP3 ready\r\n"));
	ASSERT_EQ_INT(c->timeout_ms, 600000);
	cmd(c, "CAPA\r\n",
	    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	    "AUTH-RESP-CODE\r\nSTLS\r\nIMPLEMENTATION mailraft\r\n.\r\n");
	cmd(c, "USER alice@example.org\r\n",
	    "-ERR [AUTH] plaintext authentication disallowed, use STLS first\r\n");
	cmd(c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldCBwdw==\r\n",
	    "-ERR [AUTH] plaintext authentication disallowed, use STLS first\r\n");
	cmd(c, "STAT\r\n", "-ERR command not valid in this state\r\n");
	/* STLS with a pipelined command behind it: that command must be discarded */
	cmd(c, "STLS\r\nCAPA\r\n", "+OK begin TLS negotiation\r\n");
	ASSERT(conn_is_tls(c));
	for (int i = 0; i < 20; i++)
		step(c);
	ASSERT_EQ_INT(c->out.len, c->out_read);
	cmd(c, "CAPA\r\n",
	    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	    "AUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN\r\nIMPLEMENTATION mailraft\r\n.\r\n");
	cmd(c, "STLS\r\n", "-ERR command not permitted when TLS active\r\n");
	login(c);
	cmd(c, "QUIT\r\n", "+OK mailraft POP3 server signing off\r\n");
	finish(c);
}

static void test_listing_and_retr(void)
{
	setup();
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	cmd(c, "PASS x\r\n", "-ERR USER first\r\n");
	login(c);
	char want[512];
	snprintf(want, sizeof want, "+OK 3 %zu\r\n", strlen(MSG1) + strlen(MSG2) + strlen(MSG3));
	cmd(c, "STAT\r\n", want);
	snprintf(want, sizeof want, "+OK scan listing follows\r\n1 %zu\r\n2 %zu\r\n3 %zu\r\n.\r\n",
	         strlen(MSG1), strlen(MSG2), strlen(MSG3));
	cmd(c, "LIST\r\n", want);
	snprintf(want, sizeof want, "+OK 2 %zu\r\n", strlen(MSG2));
	cmd(c, "list 2\r\n", want);
	uint32_t v = inbox_uidvalidity;
	snprintf(want, sizeof want,
	         "+OK unique-id listing follows\r\n1 %u-1\r\n2 %u-2\r\n3 %u-3\r\n.\r\n", v, v, v);
	cmd(c, "UIDL\r\n", want);
	snprintf(want, sizeof want, "+OK 3 %u-3\r\n", v);
	cmd(c, "UIDL 3\r\n", want);
	snprintf(want, sizeof want, "+OK %zu octets\r\n%s.\r\n", strlen(MSG1),
	         "Subject: one\r\n\r\nhello\r\n..dot line\r\n");
	cmd(c, "RETR 1\r\n", want);
	cmd(c, "TOP 3 0\r\n", "+OK top of message follows\r\nSubject: three\r\n\r\n.\r\n");
	cmd(c, "TOP 3 2\r\n",
	    "+OK top of message follows\r\nSubject: three\r\n\r\nl1\r\nl2\r\n.\r\n");
	/* argument validation */
	static const char *const bad[] = {
	    "RETR 0\r\n",  "RETR -1\r\n", "RETR 4\r\n", "RETR 99999999999999999999\r\n",
	    "RETR 1x\r\n", "LIST 0\r\n",  "DELE 9\r\n", "TOP 0 1\r\n"};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++)
		cmd(c, bad[i], "-ERR no such message\r\n");
	cmd(c, "TOP 1 -1\r\n", "-ERR syntax error: invalid line count\r\n");
	cmd(c, "RETR\r\n", "-ERR syntax error: wrong number of arguments\r\n");
	cmd(c, "USER bob\r\n", "-ERR command not valid in this state\r\n");
	cmd(c, "NOOP\r\n", "+OK\r\n");
	/* pipelining across the async RETR: replies stay in order */
	snprintf(want, sizeof want, "+OK %zu octets\r\nSubject: two\r\n\r\nbody two\r\n.\r\n+OK 3 ",
	         strlen(MSG2));
	cmd(c, "RETR 2\r\nSTAT\r\nNOOP\r\n", want);
	free(wait_for(c, "+OK\r\n"));
	finish(c);
}

static void test_dele_quit_commits(void)
{
	setup();
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	login(c);
	int before[3];
	ASSERT_OK(store_run(node.store, acct_db, 0, count_inbox, before));
	ASSERT_EQ_INT(before[0], 3);
	cmd(c, "DELE 2\r\n", "+OK message 2 deleted\r\n");
	cmd(c, "DELE 2\r\n", "-ERR no such message\r\n");
	cmd(c, "RETR 2\r\n", "-ERR no such message\r\n");
	char want[128];
	snprintf(want, sizeof want, "+OK 2 %zu\r\n", strlen(MSG1) + strlen(MSG3));
	cmd(c, "STAT\r\n", want);
	snprintf(want, sizeof want, "+OK scan listing follows\r\n1 %zu\r\n3 %zu\r\n.\r\n",
	         strlen(MSG1), strlen(MSG3));
	cmd(c, "LIST\r\n", want);
	cmd(c, "DELE 3\r\n", "+OK message 3 deleted\r\n");
	cmd(c, "QUIT\r\n", "+OK mailraft POP3 server signing off (2 messages deleted)\r\n");
	ASSERT(c->closing);
	int after[3];
	ASSERT_OK(store_run(node.store, acct_db, 0, count_inbox, after));
	ASSERT_EQ_INT(after[0], 1);
	ASSERT_EQ_INT(after[1], 1);
	ASSERT(after[2] > before[2]);
	finish(c);
}

static void test_rset_and_autologout_keep_messages(void)
{
	setup();
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	login(c);
	cmd(c, "DELE 1\r\n", "+OK message 1 deleted\r\n");
	char want[128];
	snprintf(want, sizeof want, "+OK maildrop has 3 messages (%zu octets)\r\n",
	         strlen(MSG1) + strlen(MSG2) + strlen(MSG3));
	cmd(c, "RSET\r\n", want);
	cmd(c, "DELE 1\r\n", "+OK message 1 deleted\r\n");
	/* RFC 1939 §3: autologout does not enter UPDATE */
	pop3_ops.on_timeout(c);
	free(wait_for(c, "-ERR autologout; idle for too long\r\n"));
	conn_close(c);
	while (!c->closed || c->holds)
		step(c);
	int n[3];
	ASSERT_OK(store_run(node.store, acct_db, 0, count_inbox, n));
	ASSERT_EQ_INT(n[0], 3);
	finish(c);
}

static void test_auth_plain_and_failures(void)
{
	setup();
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	cmd(c, "AUTH\r\n", "+OK\r\nPLAIN\r\n.\r\n");
	/* RFC 1939 §7: PASS must follow USER directly */
	cmd(c, "USER alice@example.org\r\n", "+OK send PASS\r\n");
	cmd(c, "AUTH\r\n", "+OK\r\nPLAIN\r\n.\r\n");
	cmd(c, "PASS s3cret pw\r\n", "-ERR USER first\r\n");
	cmd(c, "AUTH CRAM-MD5\r\n", "-ERR unsupported authentication mechanism\r\n");
	cmd(c, "AUTH PLAIN\r\n", "+ \r\n");
	cmd(c, "*\r\n", "-ERR authentication cancelled\r\n");
	cmd(c, "AUTH PLAIN\r\n", "+ \r\n");
	cmd(c, "!!notbase64\r\n", "-ERR invalid or malformed PLAIN response\r\n");
	/* wrong password ("\0alice@example.org\0wrong"), delayed by about a second */
	uint64_t t0 = mr_now_ms();
	cmd(c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHdyb25n\r\n",
	    "-ERR [AUTH] invalid user name or password\r\n");
	ASSERT(mr_now_ms() - t0 >= 900);
	/* unknown user via USER/PASS: same answer */
	cmd(c, "USER nobody@example.org\r\n", "+OK send PASS\r\n");
	cmd(c, "PASS s3cret pw\r\n", "-ERR [AUTH] invalid user name or password\r\n");
	/* continuation form, right password ("\0alice@example.org\0s3cret pw") */
	cmd(c, "AUTH PLAIN\r\n", "+ \r\n");
	char want[128];
	snprintf(want, sizeof want, "+OK maildrop has 3 messages (%zu octets)\r\n",
	         strlen(MSG1) + strlen(MSG2) + strlen(MSG3));
	cmd(c, "AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldCBwdw==\r\n", want);
	cmd(c, "QUIT\r\n", "+OK mailraft POP3 server signing off\r\n");
	finish(c);
}

static void test_three_failures_close(void)
{
	setup();
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	/* pipelined: the second and third PASS wait for the first's delayed reply */
	send_str(c, "USER alice@example.org\r\nPASS a\r\nUSER alice@example.org\r\nPASS b\r\n"
	            "USER alice@example.org\r\nPASS c\r\nNOOP\r\n");
	char *got = wait_for(c, "closing connection\r\n");
	ASSERT_EQ_STR(got, "+OK send PASS\r\n-ERR [AUTH] invalid user name or password\r\n"
	                   "+OK send PASS\r\n-ERR [AUTH] invalid user name or password\r\n"
	                   "+OK send PASS\r\n-ERR [AUTH] invalid user name or password\r\n"
	                   "-ERR too many failed logins, closing connection\r\n");
	free(got);
	ASSERT(c->closing);
	finish(c);
}

static void test_in_use(void)
{
	setup();
	struct conn *a = client(CONN_TLS_IMPLICIT);
	struct conn *b = client(CONN_TLS_IMPLICIT);
	free(wait_for(a, "ready\r\n"));
	free(wait_for(b, "ready\r\n"));
	login(a);
	cmd(b, "USER alice@example.org\r\n", "+OK send PASS\r\n");
	cmd(b, "PASS s3cret pw\r\n", "-ERR [IN-USE] maildrop already locked\r\n");
	cmd(a, "QUIT\r\n", "+OK mailraft POP3 server signing off\r\n");
	while (!a->closed || a->holds)
		step(a);
	login(b); /* the lock went with a's session */
	buf_free(&a->in);
	buf_free(&a->out);
	free(a);
	finish(b);
}

static void test_bad_commands_and_long_lines(void)
{
	setup();
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	char line[400];
	memset(line, 'A', sizeof line);
	memcpy(line + sizeof line - 3, "\r\n", 3);
	cmd(c, line, "-ERR line too long\r\n");
	cmd(c, "XYZZ\r\n", "-ERR unknown command\r\n");
	cmd(c, "ST\rAT\r\n", "-ERR malformed command\r\n");
	for (int i = 3; i < POP3_MAX_BAD_COMMANDS - 1; i++)
		cmd(c, "FOO\r\n", "-ERR unknown command\r\n");
	ASSERT(!c->closing);
	cmd(c, "FOO\r\n",
	    "-ERR unknown command\r\n-ERR too many bad commands, closing connection\r\n");
	ASSERT(c->closing);
	finish(c);
}

static void test_big_retr_backpressure(void)
{
	setup_with(true);
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	cmd(c, "USER alice@example.org\r\n", "+OK send PASS\r\n");
	char want[128];
	snprintf(want, sizeof want, "+OK maildrop has 4 messages (%zu octets)\r\n",
	         strlen(MSG1) + strlen(MSG2) + strlen(MSG3) + big_size);
	cmd(c, "PASS s3cret pw\r\n", want);
	c->backpressure = true;
	c->drained = c->out.len;
	send_str(c, "RETR 4\r\n");
	/* without draining, the queued output stops growing near the high-water mark */
	for (int i = 0; i < 300; i++)
		step(c);
	size_t queued = c->out.len - c->drained;
	ASSERT(queued > 200 * 1024);
	ASSERT(queued < 256 * 1024 + 2 * 65536 + 64);
	/* drain as we go until the terminator arrives */
	uint64_t deadline = mr_now_ms() + 20000;
	while (c->out.len < 6 || memcmp(c->out.p + c->out.len - 5, "\r\n.\r\n", 5) != 0) {
		ASSERT(mr_now_ms() < deadline);
		c->drained = c->out.len;
		step(c);
	}
	/* check the whole response: header, stuffed lines, terminator */
	const char *p = (const char *)c->out.p + c->out_read;
	char hdr[64];
	snprintf(hdr, sizeof hdr, "+OK %zu octets\r\nSubject: big\r\n\r\n", big_size);
	ASSERT(strncmp(p, hdr, strlen(hdr)) == 0);
	size_t lines = 0, dots = 0;
	for (const char *q = p + strlen(hdr); q < (const char *)c->out.p + c->out.len - 3;) {
		const char *e = memchr(q, '\n', (size_t)((const char *)c->out.p + c->out.len - q));
		ASSERT(e);
		size_t len = (size_t)(e - q + 1);
		if (q[0] == '.') {
			ASSERT(q[1] == '.');
			ASSERT_EQ_INT(len, 100);
			dots++;
		} else {
			ASSERT_EQ_INT(len, 99);
		}
		lines++;
		q = e + 1;
	}
	ASSERT_EQ_INT(lines, (big_size - 16) / 99);
	ASSERT_EQ_INT(dots, (lines + 6) / 7);
	finish(c);
}

static void test_pipelining_stops_when_peer_does_not_read(void)
{
	setup();
	struct conn *c = client(CONN_TLS_IMPLICIT);
	free(wait_for(c, "ready\r\n"));
	login(c);
	c->extra_queued = 300 * 1024;
	size_t before = c->out.len;
	send_str(c, "NOOP\r\nSTAT\r\n");
	for (int i = 0; i < 50; i++)
		step(c);
	ASSERT_EQ_INT(c->out.len, before); /* nothing answered while the queue is full */
	ASSERT(c->paused);
	c->extra_queued = 0;
	char *got = wait_for(c, "+OK 3 ");
	ASSERT_EQ_STR(got, "+OK\r\n+OK 3 ");
	free(got);
	finish(c);
}

static const struct unit_test tests[] = {
    {"pipelining_stops_when_peer_does_not_read", test_pipelining_stops_when_peer_does_not_read},
    {"greeting_capa_plaintext_gate", test_greeting_capa_plaintext_gate},
    {"listing_and_retr", test_listing_and_retr},
    {"dele_quit_commits", test_dele_quit_commits},
    {"rset_and_autologout_keep_messages", test_rset_and_autologout_keep_messages},
    {"auth_plain_and_failures", test_auth_plain_and_failures},
    {"three_failures_close", test_three_failures_close},
    {"in_use", test_in_use},
    {"bad_commands_and_long_lines", test_bad_commands_and_long_lines},
    {"big_retr_backpressure", test_big_retr_backpressure},
    {0},
};
UNIT_MAIN(tests)

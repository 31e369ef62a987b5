/* test_smtp_session.c - the SMTP session (node/smtp/smtp_session.c and smtp_cmd_*.c) driven in
 * process: a scripted fake connection (this file defines the conn_* functions the session uses,
 * so node/net is not linked in) on a real libuv loop with a real store in a temporary directory
 * and the real MIME parser. Checks replies and their order under pipelining, RCPT lookups,
 * delivery into INBOX (Received header, dot-unstuffing, alias fan-out and deduplication),
 * limits, sequencing errors, STARTTLS, the error counter, timeouts and a close during a lookup.
 */
#include "unit.h"
#include "smtp/smtp.h"
#include "smtp/smtp_int.h"
#include "node.h"
#include "storage/store.h"
#include "common/err.h"
#include <uv.h>

/* ---- fake connection ------------------------------------------------------------------ */
struct conn {
	struct buf in, out;
	enum conn_tls mode;
	bool tls, paused, closing, close_notified;
	int holds;
	unsigned timeout_ms;
	void *data;
};

static struct conn C;

size_t conn_read(struct conn *c, void *dst, size_t n)
{
	if (c->paused || c->closing)
		return 0;
	size_t k = c->in.len < n ? c->in.len : n;
	memcpy(dst, c->in.p, k);
	buf_consume(&c->in, k);
	return k;
}
void conn_write(struct conn *c, const void *p, size_t n)
{
	if (!c->closing)
		buf_append(&c->out, p, n);
}
size_t conn_write_queued(struct conn *c)
{
	return c->out.len;
}
int conn_starttls(struct conn *c)
{
	if (c->tls || c->mode != CONN_TLS_STARTTLS)
		return MR_ETLS;
	buf_reset(&c->in); /* RFC 3207 §4.2, as the real conn does */
	c->tls = true;
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
	return "192.0.2.7";
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
	return 1;
}

/* ---- fixture ---------------------------------------------------------------------------- */
static uv_loop_t loop;
static struct store *st;
static struct config cfg;
static struct node node;
static struct dir_account alice, bob;

static int setup_dir(struct store_db *db, void *arg)
{
	ASSERT_OK(dir_domain_add(db, "example.com"));
	ASSERT_OK(dir_account_add(db, "alice@example.com", "x", 0, &alice));
	ASSERT_OK(dir_account_add(db, "bob@example.com", "x", 0, &bob));
	ASSERT_OK(dir_alias_add(db, "team@example.com", "alice@example.com"));
	ASSERT_OK(dir_alias_add(db, "team@example.com", "bob@example.com"));
	return 0;
}

static int noop_job(struct store_db *db, void *arg)
{
	return 0;
}

static void fixture(enum conn_tls mode)
{
	ASSERT_OK(uv_loop_init(&loop));
	struct store_config sc = {
	    .data_dir = unit_tmpdir(), .actors = 2, .pwcost = STORE_PWCOST_MIN, .loop = &loop};
	char err[256];
	ASSERT_OK(store_open(&sc, &st, err, sizeof err));
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, setup_dir, NULL));
	ASSERT_OK(store_run(st, alice.dbname, STORE_CREATE, noop_job, NULL));
	ASSERT_OK(store_run(st, bob.dbname, STORE_CREATE, noop_job, NULL));
	config_defaults(&cfg);
	snprintf(cfg.hostname, sizeof cfg.hostname, "mx.test.example");
	cfg.max_message_size = 4000;
	cfg.max_recipients = 3;
	cfg.smtp_timeout = 300;
	node = (struct node){.cfg = &cfg, .loop = &loop, .store = st, .hostname = cfg.hostname};
	node_set(&node);
	memset(&C, 0, sizeof C);
	buf_init(&C.in, 0);
	buf_init(&C.out, 0);
	C.mode = mode;
	smtp_ops.on_open(&C);
	ASSERT_EQ_INT(C.timeout_ms, 300000);
}

/* Run input and async completions until the session waits for the peer. */
static void settle(void)
{
	for (int guard = 0; guard < 100000; guard++) {
		struct smtp_session *s = C.data;
		if (C.closing) {
			if (!C.close_notified) {
				C.close_notified = true;
				smtp_ops.on_close(&C); /* the real conn notifies even with holds */
				continue;
			}
			if (C.holds == 0)
				return;
			uv_run(&loop, UV_RUN_ONCE);
			continue;
		}
		if (s && s->busy) {
			uv_run(&loop, UV_RUN_ONCE);
			continue;
		}
		if (C.in.len && !C.paused) {
			smtp_ops.on_input(&C);
			continue;
		}
		return;
	}
	ASSERT(!"session did not settle");
}

static void teardown(void)
{
	settle();
	if (!C.closing) {
		C.closing = true;
		settle();
	}
	ASSERT(C.data == NULL);
	buf_free(&C.in);
	buf_free(&C.out);
	store_close(&st);
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_OK(uv_loop_close(&loop));
}

static void say(const char *s)
{
	buf_append(&C.in, s, strlen(s));
	settle();
}

/* The output so far as a string (then cleared). */
static char outbuf[1 << 16];
static const char *heard(void)
{
	size_t n = C.out.len < sizeof outbuf - 1 ? C.out.len : sizeof outbuf - 1;
	memcpy(outbuf, C.out.p ? (const char *)C.out.p : "", n);
	outbuf[n] = 0;
	buf_reset(&C.out);
	return outbuf;
}

/* Assert the output is exactly these reply lines, in order (prefix match per line). */
static void expect(const char *const *lines)
{
	const char *out = heard();
	for (size_t i = 0; lines[i]; i++) {
		const char *eol = strstr(out, "\r\n");
		if (!eol)
			unit_fail(__FILE__, __LINE__, "missing reply %zu \"%s\"; output ends", i,
			          lines[i]);
		if (strncmp(out, lines[i], strlen(lines[i])) != 0)
			unit_fail(__FILE__, __LINE__, "reply %zu: got \"%.*s\", want \"%s\"", i,
			          (int)(eol - out), out, lines[i]);
		out = eol + 2;
	}
	if (*out)
		unit_fail(__FILE__, __LINE__, "unexpected output \"%s\"", out);
}
#define EXPECT(...) expect((const char *const[]){__VA_ARGS__, NULL})

struct inbox {
	int count;
	char raw[8192];
	bool has_env, has_bs;
};

static int read_inbox(struct store_db *db, void *arg)
{
	struct inbox *ib = arg;
	sqlite3_stmt *q = store_stmt(db, "SELECT count(*) FROM messages m JOIN folders f ON "
	                                 "f.id = m.folder WHERE f.name = 'INBOX'");
	ASSERT(q && sqlite3_step(q) == SQLITE_ROW);
	ib->count = sqlite3_column_int(q, 0);
	sqlite3_reset(q);
	q = store_stmt(db,
	               "SELECT b.raw, m.envelope, m.bodystructure FROM messages m JOIN bodies b "
	               "ON b.id = m.id ORDER BY m.id DESC LIMIT 1");
	if (q && sqlite3_step(q) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(q, 0);
		if (n > (int)sizeof ib->raw - 1)
			n = (int)sizeof ib->raw - 1;
		memcpy(ib->raw, sqlite3_column_blob(q, 0), (size_t)n);
		ib->raw[n] = 0;
		ib->has_env = sqlite3_column_type(q, 1) != SQLITE_NULL;
		ib->has_bs = sqlite3_column_type(q, 2) != SQLITE_NULL;
	}
	if (q)
		sqlite3_reset(q);
	return 0;
}

static struct inbox inbox_of(const struct dir_account *a)
{
	struct inbox ib = {0};
	ASSERT_OK(store_run(st, a->dbname, 0, read_inbox, &ib));
	return ib;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_greeting_ehlo(void)
{
	fixture(CONN_TLS_STARTTLS);
	EXPECT("220 mx.test.example ESMTP mailraft");
	say("EHLO client.example\r\n");
	EXPECT("250-mx.test.example", "250-PIPELINING", "250-SIZE 4000", "250-8BITMIME",
	       "250-SMTPUTF8", "250-ENHANCEDSTATUSCODES", "250-CHUNKING", "250 STARTTLS");
	say("HELO client.example\r\nNOOP\r\nVRFY bob\r\nHELP\r\nRSET\r\n");
	EXPECT("250 mx.test.example", "250 2.0.0 Ok", "252 2.0.0", "214 2.0.0", "250 2.0.0 Ok");
	say("QUIT\r\n");
	EXPECT("221 2.0.0 Bye");
	ASSERT(C.closing);
	teardown();
}

static void test_no_starttls_on_plain_listener(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say("EHLO c\r\n");
	const char *o = heard();
	ASSERT(strstr(o, "STARTTLS") == NULL);
	ASSERT(strstr(o, "250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n") != NULL);
	ASSERT(strstr(o, "AUTH") == NULL);
	say("STARTTLS\r\n");
	EXPECT("502 5.5.1");
	teardown();
}

static void test_deliver(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say("EHLO client.example\r\n");
	heard();
	say("MAIL FROM:<sender@far.example> BODY=8BITMIME\r\n");
	EXPECT("250 2.1.0 Ok");
	say("RCPT TO:<Alice@Example.com>\r\n");
	EXPECT("250 2.1.5 Ok");
	say("DATA\r\n");
	EXPECT("354 End data with <CR><LF>.<CR><LF>");
	say("Subject: hello\r\nFrom: s@far.example\r\n\r\n..dotted\r\nbody\r\n");
	ASSERT_EQ_STR(heard(), ""); /* nothing before the end marker */
	say(".\r\n");
	const char *o = heard();
	ASSERT(strncmp(o, "250 2.0.0 Ok: queued as ", 24) == 0);
	struct inbox ib = inbox_of(&alice);
	ASSERT_EQ_INT(ib.count, 1);
	const char *hdr = "Return-Path: <sender@far.example>\r\n"
	                  "Received: from client.example (192.0.2.7)\r\n\tby mx.test.example "
	                  "(mailraft) with ESMTP id ";
	ASSERT(strncmp(ib.raw, hdr, strlen(hdr)) == 0);
	ASSERT(strstr(ib.raw, "\r\n\tfor <Alice@Example.com>;\r\n\t") != NULL);
	ASSERT(strstr(ib.raw,
	              "\r\nSubject: hello\r\nFrom: s@far.example\r\n\r\n.dotted\r\nbody\r\n") !=
	       NULL);
	ASSERT(ib.has_env && ib.has_bs);
	ASSERT_EQ_INT(inbox_of(&bob).count, 0);
	/* the session is ready for the next transaction */
	say("MAIL FROM:<>\r\n");
	EXPECT("250 2.1.0 Ok");
	teardown();
}

static void test_pipelined_in_order(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	/* one write holding a whole pipelined transaction (RFC 2920), with a rejected RCPT and
	 * alice twice (directly and through the alias): one copy each */
	say("HELO c\r\nMAIL FROM:<s@far.example>\r\nRCPT TO:<nobody@example.com>\r\n"
	    "RCPT TO:<alice@example.com>\r\nRCPT TO:<team@example.com>\r\n"
	    "RCPT TO:<x@elsewhere.example>\r\nDATA\r\nSubject: p\r\n\r\nhi\r\n.\r\nQUIT\r\n");
	EXPECT("250 mx.test.example", "250 2.1.0 Ok",
	       "550 5.1.1 <nobody@example.com>: Recipient address rejected: no such user",
	       "250 2.1.5 Ok", "250 2.1.5 Ok",
	       "550 5.7.1 <x@elsewhere.example>: Relay access denied", "354 ",
	       "250 2.0.0 Ok: queued as ", "221 2.0.0 Bye");
	struct inbox a = inbox_of(&alice), b = inbox_of(&bob);
	ASSERT_EQ_INT(a.count, 1);
	ASSERT_EQ_INT(b.count, 1);
	/* more than one recipient: the Received header names none */
	ASSERT(strstr(a.raw, "for <") == NULL);
	teardown();
}

static void test_sequence_errors(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say("MAIL FROM:<a@b.example>\r\n");
	EXPECT("503 5.5.1 Error: send HELO/EHLO first");
	say("EHLO c\r\n");
	heard();
	say("RCPT TO:<alice@example.com>\r\nDATA\r\n");
	EXPECT("503 5.5.1 Error: need MAIL command", "503 5.5.1 Error: need MAIL command");
	say("MAIL FROM:<a@b.example>\r\nDATA\r\n");
	EXPECT("250 2.1.0", "503 5.5.1 Error: need RCPT command");
	say("MAIL FROM:<a@b.example>\r\n");
	EXPECT("503 5.5.1 Error: nested MAIL command");
	say("RCPT TO:<nobody@example.com>\r\nDATA\r\n");
	EXPECT("550 5.1.1", "554 5.5.1 Error: no valid recipients");
	say("RSET\r\nRCPT TO:<alice@example.com>\r\n");
	EXPECT("250 2.0.0 Ok", "503 5.5.1 Error: need MAIL command");
	say("FOO bar\r\nMAIL FROM:a@b.example\r\nMAIL FROM:<a@b.example> FOO=1\r\nDATA x\r\n");
	EXPECT("500 5.5.2", "501 5.1.7", "555 5.5.4", "503 5.5.1"); /* state before args */
	say("MAIL FROM:<\xc3\xa9@b.example>\r\n");
	EXPECT("553 5.6.7");
	say("MAIL FROM:<\xc3\xa9@b.example> SMTPUTF8\r\n");
	EXPECT("250 2.1.0");
	teardown();
}

static void test_limits(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say("EHLO c\r\nMAIL FROM:<a@b.example> SIZE=4001\r\n");
	heard();
	/* RFC 1870: the declared size is checked at MAIL time */
	say("MAIL FROM:<a@b.example> SIZE=4001\r\n");
	EXPECT("552 5.3.4");
	say("MAIL FROM:<a@b.example> SIZE=100\r\n");
	EXPECT("250 2.1.0");
	/* max_recipients = 3 */
	say("RCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<team@example.com>"
	    "\r\nRCPT TO:<alice@example.com>\r\n");
	EXPECT("250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3");
	/* a message over the limit is swallowed to its end, then rejected; nothing stored */
	say("DATA\r\n");
	heard();
	static char big[6000];
	memset(big, 'x', sizeof big);
	for (size_t i = 70; i < sizeof big; i += 72)
		memcpy(big + i, "\r\n", 2);
	buf_append(&C.in, big, sizeof big);
	say("\r\n.\r\nNOOP\r\n");
	EXPECT("552 5.3.4 Error: message file too big", "250 2.0.0 Ok");
	ASSERT_EQ_INT(inbox_of(&alice).count, 0);
	/* the transaction is over */
	say("DATA\r\n");
	EXPECT("503 5.5.1");
	/* overlong command line */
	static char line[3000];
	memset(line, 'N', sizeof line);
	buf_append(&C.in, line, sizeof line);
	say("\r\nNOOP\r\n");
	EXPECT("500 5.5.2 Error: line too long", "250 2.0.0 Ok");
	/* over 512 octets only MAIL and RCPT are allowed (ESMTP parameters) */
	static char noop[2048], route[601];
	memset(route, 'r', 600);
	snprintf(noop, sizeof noop, "NOOP %s\r\nMAIL FROM:<@%s.example:a@b.example> SIZE=10\r\n",
	         route, route);
	say(noop);
	EXPECT("500 5.5.2 Error: line too long", "250 2.1.0 Ok");
	teardown();
}

static void test_loop_detection(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
	heard();
	for (int i = 0; i < 51; i++)
		buf_append(&C.in, "Received: from x by y\r\n", 23);
	say("\r\nloop\r\n.\r\n");
	EXPECT("554 5.4.6 Error: too many hops");
	ASSERT_EQ_INT(inbox_of(&alice).count, 0);
	/* 50 are fine (Received added by us makes 51 in the stored copy) */
	say("MAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
	heard();
	for (int i = 0; i < 50; i++)
		buf_append(&C.in, "Received: from x by y\r\n", 23);
	say("\r\nok\r\n.\r\n");
	EXPECT("250 2.0.0 Ok: queued as");
	ASSERT_EQ_INT(inbox_of(&alice).count, 1);
	teardown();
}

static void test_starttls(void)
{
	fixture(CONN_TLS_STARTTLS);
	heard();
	/* a command pipelined after STARTTLS must be dropped (RFC 3207 §4.2) */
	say("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<injected@x.example>\r\n");
	const char *o = heard();
	ASSERT(strstr(o, "220 2.0.0 Ready to start TLS\r\n") != NULL);
	ASSERT(strstr(o, "2.1.0") == NULL);
	ASSERT(C.tls);
	say("MAIL FROM:<a@b.example>\r\n");
	EXPECT("503 5.5.1 Error: send HELO/EHLO first");
	say("EHLO c\r\n");
	o = heard();
	ASSERT(strstr(o, "STARTTLS") == NULL);
	say("STARTTLS\r\n");
	EXPECT("554 5.5.1 Error: TLS already active");
	say("MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nx\r\n.\r\n");
	heard();
	ASSERT(strstr(inbox_of(&bob).raw, " with ESMTPS id ") != NULL);
	teardown();
}

static void test_error_limit(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	for (int i = 0; i < SMTP_MAX_ERRORS + 5; i++)
		buf_append(&C.in, "BOGUS\r\n", 7);
	settle();
	const char *o = heard();
	int n500 = 0;
	for (const char *p = o; (p = strstr(p, "500 5.5.2")); p++)
		n500++;
	ASSERT_EQ_INT(n500, SMTP_MAX_ERRORS);
	ASSERT(strstr(o, "421 4.7.0 mx.test.example Error: too many errors\r\n") != NULL);
	ASSERT(C.closing);
	teardown();
}

static void test_forbidden_http(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	EXPECT("521 5.7.0");
	ASSERT(C.closing);
	teardown();
}

static void test_timeout(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	smtp_ops.on_timeout(&C);
	EXPECT("421 4.4.2 mx.test.example Error: timeout exceeded");
	C.closing = true;
	teardown();
}

static void test_close_during_lookup(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	const char *in = "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nNOOP\r\n";
	buf_append(&C.in, in, strlen(in));
	smtp_ops.on_input(&C);
	struct smtp_session *s = C.data;
	ASSERT(s && s->busy && C.paused && C.holds == 1);
	/* the peer goes away while the directory job runs */
	C.closing = true;
	C.close_notified = true;
	smtp_ops.on_close(&C);
	ASSERT(C.data == NULL);
	while (C.holds)
		uv_run(&loop, UV_RUN_ONCE);
	/* the completion freed the session without replying (ASan checks the rest) */
	teardown();
}

static void test_bare_lf_and_dot_end(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	/* bare-LF commands and text are accepted; only CRLF "." CRLF ends the data */
	say("HELO c\nMAIL FROM:<>\nRCPT TO:<bob@example.com>\nDATA\r\nSubject: "
	    "lf\n\nbody\r\n.\r\nNOOP\n");
	EXPECT("250 mx.test.example", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0 Ok: queued as",
	       "250 2.0.0 Ok");
	ASSERT(strstr(inbox_of(&bob).raw, "\r\nSubject: lf\r\n\r\nbody\r\n") != NULL);
	teardown();
}

static void test_delivery_failure(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	/* bob's database disappears after his RCPT was accepted: that store job fails, so the
	 * whole message gets 451 and the sender retries (features.md: 250 only when stored) */
	say("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
	    "DATA\r\n");
	EXPECT("250 mx", "250 2.1.0", "250 2.1.5", "250 2.1.5", "354");
	ASSERT_OK(store_drop(st, bob.dbname));
	say("Subject: x\r\n\r\nx\r\n.\r\nNOOP\r\n");
	EXPECT("451 4.3.0", "250 2.0.0 Ok");
	/* a non-ASCII recipient needs MAIL ... SMTPUTF8 (RFC 6531 §3.7.4.1) */
	say("MAIL FROM:<>\r\nRCPT TO:<\xc3\xa9@example.com>\r\nRSET\r\n"
	    "MAIL FROM:<> SMTPUTF8\r\nRCPT TO:<\xc3\xa9@example.com>\r\n");
	EXPECT("250 2.1.0", "553 5.6.7", "250 2.0.0", "250 2.1.0", "550 5.1.1");
	teardown();
}

static void test_timeout_during_delivery(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
	heard();
	const char *msg = "Subject: t\r\n\r\nx\r\n.\r\n";
	buf_append(&C.in, msg, strlen(msg));
	smtp_ops.on_input(&C);
	struct smtp_session *s = C.data;
	ASSERT(s->busy && s->state == SMTP_S_DELIVER);
	/* the idle timer fires while the store jobs run; the conn closes after on_timeout */
	smtp_ops.on_timeout(&C);
	conn_close(&C);
	settle();
	EXPECT("421 4.4.2");
	ASSERT(C.data == NULL && C.holds == 0);
	teardown();
}

static void test_peer_not_reading(void)
{
	fixture(CONN_TLS_NONE);
	/* replies pile up (the fake's output is never drained): the session gives up */
	for (int i = 0; i < 100000 && !C.closing; i++)
		say("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n");
	ASSERT(C.closing);
	ASSERT(C.out.len > SMTP_MAX_QUEUED_OUTPUT && C.out.len < 2 * SMTP_MAX_QUEUED_OUTPUT);
	teardown();
}

/* Say s one byte at a time (each byte a separate read by the session). */
static void say_bytewise(const char *s)
{
	for (; *s; s++) {
		buf_append(&C.in, s, 1);
		settle();
	}
}

/* CHUNKING fed byte by byte: a chunk holding a command line and a "." line is data, the chunk
 * boundaries fall anywhere, and the stored message is exactly the chunks' bytes. */
static void test_bdat_bytewise(void)
{
	fixture(CONN_TLS_NONE);
	heard();
	say_bytewise("EHLO client.example\r\n");
	heard();
	say_bytewise("MAIL FROM:<s@far.example>\r\nRCPT TO:<alice@example.com>\r\n");
	EXPECT("250 2.1.0 Ok", "250 2.1.5 Ok");
	say_bytewise("BDAT 26\r\nSubject: chunked\r\n\r\nQUIT\r\n");
	EXPECT("250 2.0.0 26 octets received");
	say_bytewise("BDAT 8 LAST\r\n.\r\nend\r\n");
	const char *o = heard();
	ASSERT(strncmp(o, "250 2.0.0 Ok: queued as ", 24) == 0);
	struct inbox ib = inbox_of(&alice);
	ASSERT_EQ_INT(ib.count, 1);
	const char *body = "\r\nSubject: chunked\r\n\r\nQUIT\r\n.\r\nend\r\n";
	ASSERT(strlen(ib.raw) > strlen(body) &&
	       strcmp(ib.raw + strlen(ib.raw) - strlen(body), body) == 0);
	/* a malformed size cannot be skipped: the session ends */
	say_bytewise("BDAT 1x\r\n");
	EXPECT("501 5.5.4 Syntax: BDAT size [LAST]: closing");
	teardown();
}

static const struct unit_test tests[] = {
    {"bdat_bytewise", test_bdat_bytewise},
    {"peer_not_reading", test_peer_not_reading},
    {"timeout_during_delivery", test_timeout_during_delivery},
    {"delivery_failure", test_delivery_failure},
    {"greeting_ehlo", test_greeting_ehlo},
    {"no_starttls_on_plain_listener", test_no_starttls_on_plain_listener},
    {"deliver", test_deliver},
    {"pipelined_in_order", test_pipelined_in_order},
    {"sequence_errors", test_sequence_errors},
    {"limits", test_limits},
    {"loop_detection", test_loop_detection},
    {"starttls", test_starttls},
    {"error_limit", test_error_limit},
    {"forbidden_http", test_forbidden_http},
    {"timeout", test_timeout},
    {"close_during_lookup", test_close_during_lookup},
    {"bare_lf_and_dot_end", test_bare_lf_and_dot_end},
    {0},
};
UNIT_MAIN(tests)

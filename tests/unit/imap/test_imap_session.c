/* test_imap_session.c - the IMAP frontend end to end inside one process: a real store (fast
 * password cost) in a temporary directory, a real listener on the libuv loop, and a client
 * thread speaking IMAP over loopback. Covers login (good and bad), LIST with SPECIAL-USE and
 * CHILDREN, APPEND with APPENDUID, SELECT, FETCH (header fields, \Seen on BODY[]), SEARCH,
 * STORE, COPY with COPYUID, EXPUNGE, STATUS, IDLE woken by another session's APPEND, the
 * pre-auth literal cap and the bad-command limit. */
#include "unit.h"
#include "imap/imap.h"
#include "net/listener.h"
#include "net/tls.h"
#include <openssl/ssl.h>
#include "node.h"
#include "common/err.h"
#include "common/log.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <strings.h>
#include <unistd.h>


static struct config cfg;
static uv_loop_t *loop;
static uv_async_t stop_async;
static char addr[64];
static int port;
static void (*scenario)(void);

/* ---- client helpers (client thread) ---------------------------------------------------- */
struct cli {
	int fd;
	SSL *ssl;
	char buf[65536];
	size_t len;
};

static void cli_open(struct cli *c)
{
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ASSERT_OK(connect(c->fd, (struct sockaddr *)&sa, sizeof sa));
	struct timeval tv = {10, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void cli_send(struct cli *c, const char *s)
{
	size_t n = strlen(s);
	if (c->ssl)
		ASSERT_EQ_INT(SSL_write(c->ssl, s, (int)n), (long long)n);
	else
		ASSERT_EQ_INT(write(c->fd, s, n), (long long)n);
}

static ssize_t cli_read(struct cli *c, void *p, size_t n)
{
	if (c->ssl)
		return SSL_read(c->ssl, p, (int)n);
	return read(c->fd, p, n);
}

/* Read until a line starting with `until` (a tag + space, "+ ", "* BYE"...) has arrived.
 * Returns the whole transcript (NUL-terminated, in c->buf). */
static const char *cli_wait(struct cli *c, const char *until)
{
	c->len = 0;
	c->buf[0] = 0;
	for (;;) {
		/* look for a complete line starting with `until` */
		const char *p = c->buf;
		while (p && *p) {
			if (strncmp(p, until, strlen(until)) == 0 && strchr(p, '\n'))
				return c->buf;
			p = strchr(p, '\n');
			if (p)
				p++;
		}
		if (c->len + 1 >= sizeof c->buf)
			unit_fail(__FILE__, __LINE__, "response too long");
		ssize_t n = cli_read(c, c->buf + c->len, sizeof c->buf - 1 - c->len);
		if (n <= 0)
			unit_fail(__FILE__, __LINE__, "connection ended waiting for \"%s\"; got:\n%s",
				  until, c->buf);
		c->len += (size_t)n;
		c->buf[c->len] = 0;
	}
}

static const char *cli_cmd(struct cli *c, const char *tag, const char *line)
{
	char full[4096], until[64];
	snprintf(full, sizeof full, "%s %s\r\n", tag, line);
	snprintf(until, sizeof until, "%s ", tag);
	cli_send(c, full);
	return cli_wait(c, until);
}

#define ASSERT_HAS(hay, needle)                                                                    \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (!strstr(h_, (needle)))                                                         \
			unit_fail(__FILE__, __LINE__, "missing \"%s\" in:\n%s", (needle), h_);     \
	} while (0)
#define ASSERT_HASNT(hay, needle)                                                                  \
	do {                                                                                       \
		const char *h_ = (hay);                                                            \
		if (strstr(h_, (needle)))                                                          \
			unit_fail(__FILE__, __LINE__, "unexpected \"%s\" in:\n%s", (needle), h_);  \
	} while (0)

/* Case-insensitive: the MIME module may spell types in either case (RFC 3501 §7.4.2). */
static bool has_ci(const char *h, const char *n)
{
	size_t nl = strlen(n);
	for (; *h; h++)
		if (strncasecmp(h, n, nl) == 0)
			return true;
	return false;
}
#define ASSERT_HAS_CI(hay, needle)                                                                 \
	do {                                                                                       \
		if (!has_ci((hay), (needle)))                                                      \
			unit_fail(__FILE__, __LINE__, "missing \"%s\" in:\n%s", (needle), (hay));  \
	} while (0)

static void login(struct cli *c)
{
	cli_open(c);
	cli_wait(c, "* OK");
	ASSERT_HAS(cli_cmd(c, "L1", "LOGIN user@example.com secret"), "L1 OK");
}

static const char msg1[] = "From: Alice <alice@example.com>\r\n"
			   "To: user@example.com\r\n"
			   "Subject: Hello there\r\n"
			   "Date: Tue, 1 Feb 1994 10:00:00 +0000\r\n"
			   "\r\n"
			   "Body text with a Needle inside.\r\n";

static void append(struct cli *c, const char *tag, const char *mbox, const char *flags)
{
	char line[256], until[64];
	snprintf(line, sizeof line, "%s APPEND %s %s {%zu}\r\n", tag, mbox, flags,
		 strlen(msg1));
	cli_send(c, line);
	cli_wait(c, "+ ");
	cli_send(c, msg1);
	cli_send(c, "\r\n");
	snprintf(until, sizeof until, "%s ", tag);
	ASSERT_HAS(cli_wait(c, until), "OK [APPENDUID ");
}

/* ---- scenarios --------------------------------------------------------------------------- */
static void scenario_mail(void)
{
	struct cli c;
	cli_open(&c);
	const char *r = cli_wait(&c, "* OK");
	ASSERT_HAS(r, "[CAPABILITY IMAP4rev1");
	ASSERT_HAS(r, "AUTH=PLAIN");
	ASSERT_HAS(cli_cmd(&c, "a0", "SELECT INBOX"), "a0 BAD");
	ASSERT_HAS(cli_cmd(&c, "a1", "LOGIN user@example.com wrong"),
		   "a1 NO [AUTHENTICATIONFAILED]");
	ASSERT_HAS(cli_cmd(&c, "a2", "LOGIN \"User@Example.com\" secret"), "a2 OK");
	ASSERT_HAS(cli_cmd(&c, "a2b", "LOGIN x y"), "a2b BAD");
	r = cli_cmd(&c, "a3", "LIST \"\" \"*\"");
	ASSERT_HAS(r, "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"");
	ASSERT_HAS(r, "* LIST (\\HasNoChildren) \"/\" \"INBOX\"");
	ASSERT_HAS(r, "a3 OK");
	append(&c, "a4", "INBOX", "(\\Flagged)");
	r = cli_cmd(&c, "a5", "SELECT inbox");
	ASSERT_HAS(r, "* 1 EXISTS");
	ASSERT_HAS(r, "* OK [UIDVALIDITY ");
	ASSERT_HAS(r, "* OK [UIDNEXT 2]");
	ASSERT_HAS(r, "* OK [UNSEEN 1]");
	ASSERT_HAS(r, "a5 OK [READ-WRITE]");
	r = cli_cmd(&c, "a6", "FETCH 1 (FLAGS UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)])");
	ASSERT_HAS(r, "* 1 FETCH (FLAGS (\\Flagged) UID 1 RFC822.SIZE ");
	ASSERT_HAS(r, "BODY[HEADER.FIELDS (SUBJECT)] {24}\r\nSubject: Hello there\r\n\r\n)");
	r = cli_cmd(&c, "a7", "UID FETCH 1 (BODY[TEXT]<5.4>)");
	ASSERT_HAS(r, "* 1 FETCH (UID 1 BODY[TEXT]<5> {4}\r\ntext FLAGS (\\Flagged \\Seen))");
	ASSERT_HAS(r, "a7 OK");
	ASSERT_HAS(cli_cmd(&c, "a8", "SEARCH SUBJECT hello"), "* SEARCH 1\r\n");
	ASSERT_HAS(cli_cmd(&c, "a9", "SEARCH BODY needle SENTON 1-Feb-1994"), "* SEARCH 1\r\n");
	ASSERT_HAS(cli_cmd(&c, "b1", "SEARCH UNSEEN"), "* SEARCH\r\n");
	ASSERT_HAS(cli_cmd(&c, "b2", "UID SEARCH FROM alice"), "* SEARCH 1\r\n");
	ASSERT_HAS(cli_cmd(&c, "b2x", "SEARCH CHARSET KOI8-R ALL"), "b2x NO [BADCHARSET");
	r = cli_cmd(&c, "b3", "STORE 1 +FLAGS (\\Deleted)");
	ASSERT_HAS(r, "* 1 FETCH (FLAGS (\\Flagged \\Seen \\Deleted))");
	ASSERT_HAS(cli_cmd(&c, "b4", "COPY 1 Archive"), "b4 OK [COPYUID ");
	ASSERT_HAS(cli_cmd(&c, "b5", "COPY 1 Nowhere"), "b5 NO [TRYCREATE]");
	r = cli_cmd(&c, "b5x", "UID EXPUNGE 2:99");
	ASSERT_HASNT(r, "EXPUNGE\r\n* ");
	ASSERT_HASNT(r, "* 1 EXPUNGE");
	ASSERT_HAS(r, "b5x OK");
	r = cli_cmd(&c, "b6", "EXPUNGE");
	ASSERT_HAS(r, "* 1 EXPUNGE\r\n");
	ASSERT_HAS(r, "b6 OK");
	r = cli_cmd(&c, "b7", "STATUS Archive (MESSAGES UNSEEN UIDNEXT)");
	ASSERT_HAS(r, "* STATUS \"Archive\" (MESSAGES 1 UIDNEXT 2 UNSEEN 0)");
	ASSERT_HAS(cli_cmd(&c, "b8", "CREATE Projects/2024"), "b8 OK");
	r = cli_cmd(&c, "b9", "LIST \"\" \"Pro%\"");
	ASSERT_HAS(r, "* LIST (\\HasChildren) \"/\" \"Projects\"");
	ASSERT_HASNT(r, "2024");
	ASSERT_HAS(cli_cmd(&c, "c1", "RENAME Projects Work"), "c1 OK");
	ASSERT_HAS(cli_cmd(&c, "c2", "LIST \"\" \"Work/*\""), "\"Work/2024\"");
	ASSERT_HAS(cli_cmd(&c, "c2a", "DELETE Work"), "c2a OK");
	ASSERT_HAS(cli_cmd(&c, "c2b", "LIST \"\" \"W*\""),
		   "* LIST (\\Noselect \\HasChildren) \"/\" \"Work\"");
	ASSERT_HAS(cli_cmd(&c, "c2c", "SUBSCRIBE Work/2024"), "c2c OK");
	ASSERT_HAS(cli_cmd(&c, "c2d", "UNSUBSCRIBE Sent"), "c2d OK");
	r = cli_cmd(&c, "c2e", "LSUB \"\" \"*\"");
	ASSERT_HAS(r, "\"Work/2024\"");
	ASSERT_HASNT(r, "\"Sent\"");
	ASSERT_HAS(cli_cmd(&c, "c2f", "SUBSCRIBE Nope"), "c2f NO");
	ASSERT_HAS(cli_cmd(&c, "c3", "DELETE INBOX"), "c3 NO");
	ASSERT_HAS(cli_cmd(&c, "c4", "CREATE Work/2024"), "c4 NO [ALREADYEXISTS]");
	ASSERT_HAS(cli_cmd(&c, "c4b", "CAPABILITY"), "IDLE UNSELECT UIDPLUS");
	ASSERT_HAS(cli_cmd(&c, "c4c", "ENABLE X-UNKNOWN"), "* ENABLED\r\n");
	ASSERT_HAS(cli_cmd(&c, "c5", "EXAMINE Archive"), "c5 OK [READ-ONLY]");
	ASSERT_HAS(cli_cmd(&c, "c6", "STORE 1 +FLAGS (x)"), "c6 NO");
	ASSERT_HAS(cli_cmd(&c, "c7", "UNSELECT"), "c7 OK");
	ASSERT_HAS(cli_cmd(&c, "c8", "FETCH 1 FLAGS"), "c8 BAD");
	r = cli_cmd(&c, "c9", "LOGOUT");
	ASSERT_HAS(r, "* BYE");
	ASSERT_HAS(r, "c9 OK");
	close(c.fd);
}

static const char msg2[] = "From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.org>\r\n"
			   "To: user@example.com\r\n"
			   "Subject: =?UTF-8?B?w4RwZmVs?=\r\n"
			   "MIME-Version: 1.0\r\n"
			   "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
			   "\r\n"
			   "preamble\r\n"
			   "--XX\r\n"
			   "Content-Type: text/plain; charset=utf-8\r\n"
			   "\r\n"
			   "first part\r\n"
			   "--XX\r\n"
			   "Content-Type: text/plain\r\n"
			   "Content-Transfer-Encoding: base64\r\n"
			   "\r\n"
			   "c2Vjb25kIHBhcnQgc2VjcmV0d29yZA==\r\n"
			   "--XX--\r\n";

static void scenario_mime(void)
{
	struct cli c;
	login(&c);
	char line[128];
	snprintf(line, sizeof line, "m1 APPEND INBOX {%zu+}\r\n", strlen(msg2));
	cli_send(&c, line);
	cli_send(&c, msg2);
	cli_send(&c, "\r\n");
	ASSERT_HAS(cli_wait(&c, "m1 "), "m1 OK [APPENDUID");
	ASSERT_HAS(cli_cmd(&c, "m2", "SELECT INBOX"), "* 1 EXISTS");
	const char *r = cli_cmd(&c, "m3", "FETCH 1 (BODYSTRUCTURE ENVELOPE)");
	ASSERT_HAS_CI(r, "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\"");
	ASSERT_HAS_CI(r, "\"MIXED\" (\"BOUNDARY\" \"XX\")");
	ASSERT_HAS_CI(r, "\"BASE64\" 32 1");
	ASSERT_HAS(r, "ENVELOPE (");
	ASSERT_HAS(r, "m3 OK");
	r = cli_cmd(&c, "m4", "FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[3])");
	ASSERT_HAS(r, "BODY[1] {10}\r\nfirst part");
	ASSERT_HAS(r, "BODY[2.MIME] {");
	ASSERT_HAS(r, "Content-Transfer-Encoding: base64\r\n");
	ASSERT_HAS(r, "BODY[3] NIL");
	ASSERT_HAS(cli_cmd(&c, "m5", "SEARCH BODY secretword"), "* SEARCH 1\r\n");
	ASSERT_HAS(cli_cmd(&c, "m6", "SEARCH SUBJECT \"\xc3\x84pfel\""), "* SEARCH 1\r\n");
	ASSERT_HAS(cli_cmd(&c, "m7", "SEARCH CHARSET UTF-8 FROM \"j\xc3\xb6rg\""), "* SEARCH 1\r\n");
	ASSERT_HAS(cli_cmd(&c, "m8", "SEARCH TEXT nothere"), "* SEARCH\r\n");
	ASSERT_HAS(cli_cmd(&c, "m9", "FETCH 1 BODY"), "BODY ((");
	r = cli_cmd(&c, "n1", "UID MOVE 1 Trash");
	ASSERT_HAS(r, "* OK [COPYUID ");
	ASSERT_HAS(r, " 1 1] Moved\r\n* 1 EXPUNGE\r\n");
	ASSERT_HAS(r, "n1 OK UID MOVE completed");
	ASSERT_HAS(cli_cmd(&c, "n2", "STATUS Trash (MESSAGES)"), "(MESSAGES 1)");
	ASSERT_HAS(cli_cmd(&c, "n3", "NAMESPACE"), "* NAMESPACE ((\"\" \"/\")) NIL NIL");
	close(c.fd);
}

static uint64_t modseq_of(const char *r)
{
	const char *p = strstr(r, "MODSEQ (");
	if (!p)
		unit_fail(__FILE__, __LINE__, "no MODSEQ in:\n%s", r);
	return strtoull(p + 8, NULL, 10);
}

static void scenario_condstore(void)
{
	struct cli c;
	login(&c);
	append(&c, "a1", "INBOX", "()");
	append(&c, "a2", "INBOX", "()");
	ASSERT_HAS(cli_cmd(&c, "e1", "ENABLE CONDSTORE"), "* ENABLED CONDSTORE\r\n");
	ASSERT_HAS(cli_cmd(&c, "e2", "ENABLE CONDSTORE"), "* ENABLED\r\n");
	ASSERT_HAS(cli_cmd(&c, "s1", "SELECT INBOX (CONDSTORE)"), "* OK [HIGHESTMODSEQ ");
	uint64_t m1 = modseq_of(cli_cmd(&c, "f1", "FETCH 1 (MODSEQ)"));
	const char *r = cli_cmd(&c, "s2", "STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)");
	ASSERT_HAS(r, "s2 OK [MODIFIED 1]");
	r = cli_cmd(&c, "s3", "STORE 1:2 +FLAGS.SILENT (\\Seen)");
	ASSERT_HAS(r, "s3 OK");
	r = cli_cmd(&c, "f2", "FETCH 1 (MODSEQ)");
	ASSERT(modseq_of(r) > m1);
	char line[128];
	snprintf(line, sizeof line, "UID STORE 1:2 (UNCHANGEDSINCE %llu) +FLAGS (x)",
		 (unsigned long long)modseq_of(r));
	r = cli_cmd(&c, "s4", line);
	ASSERT_HAS(r, "* 1 FETCH (FLAGS (\\Seen x) UID 1 MODSEQ (");
	ASSERT_HAS(r, "s4 OK [MODIFIED 2]");
	uint64_t m2 = modseq_of(cli_cmd(&c, "f3", "FETCH 1 (MODSEQ)"));
	snprintf(line, sizeof line, "FETCH 1:* (FLAGS) (CHANGEDSINCE %llu)",
		 (unsigned long long)(m2 - 1));
	r = cli_cmd(&c, "f4", line);
	ASSERT_HAS(r, "* 1 FETCH (FLAGS (\\Seen x) MODSEQ (");
	ASSERT_HASNT(r, "* 2 FETCH");
	snprintf(line, sizeof line, "SEARCH MODSEQ %llu", (unsigned long long)m2);
	r = cli_cmd(&c, "q1", line);
	snprintf(line, sizeof line, "* SEARCH 1 (MODSEQ %llu)\r\n", (unsigned long long)m2);
	ASSERT_HAS(r, line);
	ASSERT_HAS(cli_cmd(&c, "q2", "STATUS INBOX (HIGHESTMODSEQ MESSAGES)"),
		   "(MESSAGES 2 HIGHESTMODSEQ ");
	close(c.fd);
}

static void scenario_timeout(void)
{
	struct cli c;
	login(&c);
	/* no input for longer than imap_idle_timeout (1 s here): RFC 3501 §5.4 autologout */
	const char *r = cli_wait(&c, "* BYE");
	ASSERT_HAS(r, "* BYE Autologout");
	char b;
	ASSERT_EQ_INT(read(c.fd, &b, 1), 0); /* then closed */
	close(c.fd);
}

static void scenario_starttls(void)
{
	struct cli c;
	cli_open(&c);
	const char *r = cli_wait(&c, "* OK");
	ASSERT_HAS(r, "STARTTLS");
	ASSERT_HAS(r, "LOGINDISABLED");
	ASSERT_HASNT(r, "AUTH=PLAIN");
	ASSERT_HAS(cli_cmd(&c, "t1", "LOGIN user@example.com secret"), "t1 NO [PRIVACYREQUIRED]");
	ASSERT_HAS(cli_cmd(&c, "t2", "AUTHENTICATE PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0"),
		   "t2 NO [PRIVACYREQUIRED]");
	/* injected plaintext after STARTTLS must be discarded (RFC 3207 §4.2 class of bug) */
	cli_send(&c, "t3 STARTTLS\r\nt4 LOGIN user@example.com secret\r\n");
	ASSERT_HAS(cli_wait(&c, "t3 "), "t3 OK");
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	c.ssl = SSL_new(ctx);
	SSL_set_fd(c.ssl, c.fd);
	ASSERT_EQ_INT(SSL_connect(c.ssl), 1);
	r = cli_cmd(&c, "t5", "CAPABILITY");
	ASSERT_HAS(r, "AUTH=PLAIN");
	ASSERT_HASNT(r, "STARTTLS");
	ASSERT_HASNT(r, "t4 ");
	ASSERT_HAS(cli_cmd(&c, "t6", "STARTTLS"), "t6 BAD");
	ASSERT_HAS(cli_cmd(&c, "t7", "LOGIN user@example.com secret"), "t7 OK");
	ASSERT_HAS(cli_cmd(&c, "t8", "LOGOUT"), "t8 OK");
	SSL_free(c.ssl);
	SSL_CTX_free(ctx);
	close(c.fd);
}

static void scenario_idle(void)
{
	struct cli a, b;
	login(&a);
	login(&b);
	ASSERT_HAS(cli_cmd(&b, "s1", "SELECT INBOX"), "* 0 EXISTS");
	cli_send(&b, "s2 IDLE\r\n");
	cli_wait(&b, "+ ");
	append(&a, "p1", "INBOX", "()");
	ASSERT_HAS(cli_wait(&b, "* 1 EXISTS"), "* 1 EXISTS");
	/* flag change by the other session is pushed too */
	ASSERT_HAS(cli_cmd(&a, "p2", "SELECT INBOX"), "p2 OK");
	ASSERT_HAS(cli_cmd(&a, "p3", "STORE 1 FLAGS.SILENT (\\Answered)"), "p3 OK");
	ASSERT_HAS(cli_wait(&b, "* 1 FETCH"), "FLAGS (\\Answered)");
	cli_send(&b, "DONE\r\n");
	ASSERT_HAS(cli_wait(&b, "s2 "), "s2 OK");
	/* expunge by a, seen by b at NOOP */
	ASSERT_HAS(cli_cmd(&a, "p4", "STORE 1 +FLAGS.SILENT (\\Deleted)"), "p4 OK");
	ASSERT_HAS(cli_cmd(&a, "p5", "CLOSE"), "p5 OK");
	ASSERT_HAS(cli_cmd(&b, "s3", "NOOP"), "* 1 EXPUNGE");
	close(a.fd);
	close(b.fd);
}

static void scenario_limits(void)
{
	struct cli c;
	cli_open(&c);
	cli_wait(&c, "* OK");
	/* pre-auth literal cap checked before "+" */
	cli_send(&c, "x1 LOGIN {9000}\r\n");
	ASSERT_HAS(cli_wait(&c, "x1 "), "x1 NO [TOOBIG]");
	ASSERT_HAS(cli_cmd(&c, "x2", "NOOP"), "x2 OK");
	/* AUTHENTICATE PLAIN with the continuation form */
	cli_send(&c, "x3 AUTHENTICATE PLAIN\r\n");
	cli_wait(&c, "+ ");
	cli_send(&c, "AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0\r\n"); /* \0user@example.com\0secret */
	ASSERT_HAS(cli_wait(&c, "x3 "), "x3 OK");
	/* bad-command limit */
	for (int i = 0; i < 18; i++) /* x1 above counted as one */
		ASSERT_HAS(cli_cmd(&c, "z", "BOGUS"), "z BAD");
	cli_send(&c, "z BOGUS\r\n");
	ASSERT_HAS(cli_wait(&c, "* BYE"), "* BYE");
	close(c.fd);

	/* SASL-IR */
	cli_open(&c);
	cli_wait(&c, "* OK");
	ASSERT_HAS(cli_cmd(&c, "y1", "AUTHENTICATE PLAIN AHVzZXJAZXhhbXBsZS5jb20Ad3Jvbmc="),
		   "y1 NO [AUTHENTICATIONFAILED]");
	ASSERT_HAS(cli_cmd(&c, "y2", "ID NIL"), "* ID (\"name\" \"mailraft\"");
	close(c.fd);
}

/* Read until the tagged line `tag OK|NO|BAD` arrives; returns a malloc'd transcript. */
static char *cli_wait_big(struct cli *c, const char *tag, size_t *len_r)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap + 1);
	char until[64];
	snprintf(until, sizeof until, "\r\n%s ", tag);
	for (;;) {
		if (len + 65536 > cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t n = read(c->fd, buf + len, 65536);
		if (n <= 0)
			unit_fail(__FILE__, __LINE__, "connection ended after %zu bytes", len);
		len += (size_t)n;
		buf[len] = 0;
		const char *t = len > 4096 ? buf + len - 4096 : buf;
		const char *hit = strstr(t, until);
		if (hit && strstr(hit + 2, "\r\n"))
			break;
	}
	*len_r = len;
	return buf;
}

static void scenario_big_fetch(void)
{
	struct cli c;
	login(&c);
	/* six ~900 KB messages: more than one IMAP_OUT_HIGH round */
	size_t body = 900 * 1024;
	char *m = malloc(body + 200);
	int hl = sprintf(m, "Subject: big\r\n\r\n");
	for (size_t i = (size_t)hl; i < body; i++)
		m[i] = (i % 78 == 77) ? '\n' : 'x';
	m[body] = 0;
	for (int k = 0; k < 6; k++) {
		char line[128];
		snprintf(line, sizeof line, "ap%d APPEND INBOX {%zu}\r\n", k, body);
		cli_send(&c, line);
		cli_wait(&c, "+ ");
		ASSERT_EQ_INT(write(c.fd, m, body), (long long)body);
		cli_send(&c, "\r\n");
		snprintf(line, sizeof line, "ap%d ", k);
		ASSERT_HAS(cli_wait(&c, line), "OK [APPENDUID");
	}
	ASSERT_HAS(cli_cmd(&c, "s", "SELECT INBOX"), "* 6 EXISTS");
	cli_send(&c, "f1 FETCH 1:* (UID BODY.PEEK[])\r\n");
	size_t len;
	char *all = cli_wait_big(&c, "f1", &len);
	ASSERT(len > 6 * body);
	char want[64];
	for (int k = 1; k <= 6; k++) {
		snprintf(want, sizeof want, "* %d FETCH (UID %d BODY[] {%zu}\r\n", k, k, body);
		ASSERT(strstr(all, want) != NULL);
	}
	ASSERT(strstr(all + len - 200, "f1 OK") != NULL);
	free(all);
	/* still in sync afterwards */
	ASSERT_HAS(cli_cmd(&c, "n", "NOOP"), "n OK");
	free(m);
	close(c.fd);
}

static void scenario_quota(void)
{
	struct cli c;
	cli_open(&c);
	cli_wait(&c, "* OK");
	ASSERT_HAS(cli_cmd(&c, "l", "LOGIN small@example.com secret"), "l OK");
	int ok = 0;
	const char *r = NULL;
	for (int k = 0; k < 10; k++) {
		char line[128], tag[16];
		snprintf(tag, sizeof tag, "q%d", k);
		snprintf(line, sizeof line, "%s APPEND INBOX {%zu}\r\n", tag, strlen(msg1));
		cli_send(&c, line);
		cli_wait(&c, "+ ");
		cli_send(&c, msg1);
		cli_send(&c, "\r\n");
		strcat(tag, " ");
		r = cli_wait(&c, tag);
		if (!strstr(r, "OK [APPENDUID"))
			break;
		ok++;
	}
	ASSERT_EQ_INT(ok, (int)(1000 / strlen(msg1)));
	ASSERT_HAS(r, "NO [OVERQUOTA]");
	close(c.fd);
}

/* ---- harness ------------------------------------------------------------------------------ */
static void *client_main(void *arg)
{
	(void)arg;
	scenario();
	uv_async_send(&stop_async);
	return NULL;
}

static void on_stop(uv_async_t *h)
{
	(void)h;
	listener_shutdown();
	uv_close((uv_handle_t *)&stop_async, NULL);
	uv_stop(loop); /* the store keeps its completion handle open */
}

static struct dir_account small_acct;

static int setup_account(struct store_db *db, void *arg)
{
	struct dir_account *acct = arg;
	char hash[STORE_PWHASH_MAX];
	int rv = store_pw_hash(store_db_store(db), "secret", hash);
	if (rv == 0)
		rv = dir_domain_add(db, "example.com");
	if (rv == 0)
		rv = dir_account_add(db, "user@example.com", hash, 1 << 30, acct);
	if (rv == 0)
		rv = dir_account_add(db, "small@example.com", hash, 1000, &small_acct);
	return rv;
}

static int nothing(struct store_db *db, void *arg)
{
	(void)db;
	(void)arg;
	return 0;
}

static enum conn_tls listen_mode = CONN_TLS_NONE;
static unsigned idle_timeout_s = 60;

static void run(void (*fn)(void))
{
	scenario = fn;
	if (getenv("IMAP_TEST_DEBUG"))
		log_set_level(LOG_DEBUG);
	loop = uv_default_loop();
	memset(&cfg, 0, sizeof cfg);
	cfg.max_message_size = 1 << 20;
	cfg.imap_idle_timeout = idle_timeout_s;
	cfg.plaintext_auth = listen_mode == CONN_TLS_NONE;
	snprintf(cfg.hostname, sizeof cfg.hostname, "test.example");
	struct store_config sc = {.data_dir = unit_tmpdir(), .actors = 2,
				  .pwcost = STORE_PWCOST_MIN, .loop = loop};
	struct store *st = NULL;
	char err[256];
	if (listen_mode != CONN_TLS_NONE)
		ASSERT_OK(tls_init("", "", unit_tmpdir(), "localhost", err, sizeof err));
	ASSERT_OK(store_open(&sc, &st, err, sizeof err));
	struct dir_account acct;
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, setup_account, &acct));
	ASSERT_OK(store_run(st, acct.dbname, STORE_CREATE, nothing, NULL));
	ASSERT_OK(store_run(st, small_acct.dbname, STORE_CREATE, nothing, NULL));
	static struct node n;
	n = (struct node){.cfg = &cfg, .loop = loop, .store = st, .hostname = cfg.hostname};
	node_set(&n);
	imap_init();
	int rv = -1;
	for (int i = 0; i < 50 && rv != 0; i++) { /* find a free port */
		port = 20000 + (int)((getpid() * 7 + i * 131) % 40000);
		snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
		rv = listener_add(loop, addr, &imap_ops, listen_mode, err, sizeof err);
	}
	ASSERT_OK(rv);
	uv_async_init(loop, &stop_async, on_stop);
	pthread_t th;
	pthread_create(&th, NULL, client_main, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 10; i++) /* let closing connections finish */
		uv_run(loop, UV_RUN_NOWAIT);
	pthread_join(th, NULL);
	store_close(&st);
}

static void test_mail(void)
{
	run(scenario_mail);
}

static void test_idle(void)
{
	run(scenario_idle);
}

static void test_limits(void)
{
	run(scenario_limits);
}

static void test_starttls(void)
{
	listen_mode = CONN_TLS_STARTTLS;
	run(scenario_starttls);
}

static void test_mime(void)
{
	run(scenario_mime);
}

static void test_condstore(void)
{
	run(scenario_condstore);
}

static void test_timeout(void)
{
	idle_timeout_s = 1;
	run(scenario_timeout);
}

static void test_big_fetch(void)
{
	run(scenario_big_fetch);
}

static void test_quota(void)
{
	run(scenario_quota);
}

static const struct unit_test tests[] = {
	{"mail", test_mail},
	{"idle", test_idle},
	{"limits", test_limits},
	{"starttls", test_starttls},
	{"mime", test_mime},
	{"condstore", test_condstore},
	{"timeout", test_timeout},
	{"big_fetch", test_big_fetch},
	{"quota", test_quota},
	{0},
};
UNIT_MAIN(tests)

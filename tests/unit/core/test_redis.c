/* test_redis.c - the async Redis client (core/redis.h) against a fake RESP server on the same
 * libuv loop: address parsing; AUTH and SELECT first on every connection; the commands' wire
 * form and the decoding of integer, nil, bulk, junk and error replies; commands refused while
 * not connected; the bound on commands in flight; commands in flight answered ok = false when
 * the server drops the connection, and the reconnect after the back-off; a refused connect;
 * close with everything freed (ASan); the redis_* configuration keys. */
#include "unit.h"
#include "config.h"
#include "core/redis.h"
#include <uv.h>

/* ---- fake server ----------------------------------------------------------------------- */
#define MAXCMDS 2048
static uv_loop_t *loop;
static uv_tcp_t srv;
static uv_tcp_t *peer;
static int port;
static char inbuf[1 << 16];
static size_t inlen;
static char cmds[MAXCMDS][160]; /* each command's arguments joined by ' ' */
static int ncmds;
static bool auth_ok = true;
static int accepts;

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	(void)h;
	(void)sz;
	b->base = inbuf + inlen;
	b->len = sizeof inbuf - inlen;
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void reply(const char *s)
{
	uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
	ASSERT(uv_try_write((uv_stream_t *)peer, &b, 1) == (int)b.len);
}

static void answer(const char *cmd)
{
	if (!strncmp(cmd, "AUTH ", 5))
		reply(auth_ok ? "+OK\r\n" : "-WRONGPASS invalid password\r\n");
	else if (!strncmp(cmd, "SELECT ", 7))
		reply("+OK\r\n");
	else if (!strcmp(cmd, "GET k-num"))
		reply("$2\r\n42\r\n");
	else if (!strcmp(cmd, "GET k-missing"))
		reply("$-1\r\n");
	else if (!strcmp(cmd, "GET k-junk"))
		reply("$3\r\nabc\r\n");
	else if (!strncmp(cmd, "GET k-hang", 10))
		; /* never answered */
	else if (!strncmp(cmd, "DEL ", 4))
		reply(":1\r\n");
	else if (!strncmp(cmd, "EVAL ", 5))
		reply(":7\r\n");
	else
		reply("-ERR unknown command\r\n");
}

/* Complete RESP arrays of bulk strings at the front of inbuf, one by one. */
static void parse(void)
{
	for (;;) {
		char *p = inbuf, *end = inbuf + inlen, *nl;
		if (inlen == 0 || *p != '*' || !(nl = memchr(p, '\n', inlen)))
			return;
		int n = atoi(p + 1);
		p = nl + 1;
		char line[160] = "";
		for (int i = 0; i < n; i++) {
			if (p >= end || *p != '$' || !(nl = memchr(p, '\n', (size_t)(end - p))))
				return;
			size_t len = (size_t)atoi(p + 1);
			p = nl + 1;
			if ((size_t)(end - p) < len + 2)
				return;
			size_t l = strlen(line);
			/* the EVAL script is long: keep its first word only */
			size_t take = len;
			if (i == 1 && !strncmp(line, "EVAL", 4))
				take = 5;
			snprintf(line + l, sizeof line - l, "%s%.*s", i ? " " : "", (int)take, p);
			p += len + 2;
		}
		size_t used = (size_t)(p - inbuf);
		memmove(inbuf, p, inlen - used);
		inlen -= used;
		if (ncmds < MAXCMDS)
			snprintf(cmds[ncmds++], sizeof cmds[0], "%s", line);
		answer(line);
	}
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	if (n < 0) {
		uv_close((uv_handle_t *)s, free_handle);
		if ((uv_tcp_t *)s == peer)
			peer = NULL;
		return;
	}
	inlen += (size_t)n;
	parse();
}

static void on_conn(uv_stream_t *s, int status)
{
	ASSERT_OK(status);
	uv_tcp_t *c = calloc(1, sizeof *c);
	ASSERT(c);
	uv_tcp_init(loop, c);
	ASSERT_OK(uv_accept(s, (uv_stream_t *)c));
	ASSERT(!peer); /* one client at a time */
	peer = c;
	inlen = 0;
	accepts++;
	uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

static void server_start(void)
{
	loop = uv_default_loop();
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", 0, &a);
	uv_tcp_init(loop, &srv);
	ASSERT_OK(uv_tcp_bind(&srv, (const struct sockaddr *)&a, 0));
	ASSERT_OK(uv_listen((uv_stream_t *)&srv, 8, on_conn));
	struct sockaddr_in got;
	int len = sizeof got;
	uv_tcp_getsockname(&srv, (struct sockaddr *)&got, &len);
	port = ntohs(got.sin_port);
}

static void drop_peer(void)
{
	if (peer) {
		uv_read_stop((uv_stream_t *)peer);
		uv_close((uv_handle_t *)peer, free_handle);
		peer = NULL;
	}
}

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until *flag or 5 s; the ticking timer keeps UV_RUN_ONCE from blocking. */
static bool run_until(const bool *flag)
{
	uv_timer_t t;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, tick, 5, 5);
	uint64_t end = uv_now(loop) + 5000;
	while (!*flag && uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *flag;
}

static void run_ms(uint64_t ms)
{
	bool never = false;
	uv_timer_t t;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, tick, 5, 5);
	uint64_t end = uv_now(loop) + ms;
	while (!never && uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

static void finish(struct redis *r)
{
	redis_close(r);
	drop_peer();
	uv_close((uv_handle_t *)&srv, NULL);
	while (uv_run(loop, UV_RUN_NOWAIT))
		;
	ASSERT_OK(uv_loop_close(loop));
}

/* ---- answers ---------------------------------------------------------------------------- */
struct ans {
	bool done, ok;
	long long v;
};
static int nanswers, nfailed;

static void on_ans(void *ud, bool ok, long long v)
{
	struct ans *a = ud;
	if (a) {
		a->done = true;
		a->ok = ok;
		a->v = v;
	}
	nanswers++;
	if (!ok)
		nfailed++;
}

static bool connected_flag;
static struct redis *R;
static void poll_connected(uv_timer_t *t)
{
	(void)t;
	connected_flag = redis_connected(R);
}

static bool wait_connected(struct redis *r, bool want)
{
	R = r;
	uv_timer_t t;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, poll_connected, 2, 2);
	uint64_t end = uv_now(loop) + 5000;
	connected_flag = redis_connected(r);
	while (connected_flag != want && uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return redis_connected(r) == want;
}

static struct redis *connect_fake(const char *pw, unsigned db)
{
	server_start();
	char addr[64], err[128];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	struct redis_options o = {.address = addr, .password = pw, .db = db};
	struct redis *r = redis_new(loop, &o, err, sizeof err);
	ASSERT(r);
	ASSERT(wait_connected(r, true));
	return r;
}

/* ---- tests ------------------------------------------------------------------------------ */
static void test_parse_address(void)
{
	static const struct {
		const char *in, *host;
		int port; /* -1: refused */
	} cases[] = {
	    {"127.0.0.1:6380", "127.0.0.1", 6380},
	    {"redis.internal", "redis.internal", 6379},
	    {"redis:1", "redis", 1},
	    {"[::1]:7000", "::1", 7000},
	    {"[::1]", "::1", 6379},
	    {"::1", NULL, -1},
	    {"host:0", NULL, -1},
	    {"host:65536", NULL, -1},
	    {"host:", NULL, -1},
	    {":6379", NULL, -1},
	    {"", NULL, -1},
	    {"[::1", NULL, -1},
	    {"[::1]x", NULL, -1},
	    {"a b:1", NULL, -1},
	    {"user@host:1", NULL, -1},
	    {"redis://host:1", NULL, -1},
	    {"host:12x", NULL, -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char host[64] = "";
		uint16_t p = 0;
		int rc = redis_parse_address(cases[i].in, host, sizeof host, &p);
		if (cases[i].port < 0) {
			if (rc != -1)
				unit_fail(__FILE__, __LINE__, "'%s' accepted", cases[i].in);
			continue;
		}
		if (rc != 0)
			unit_fail(__FILE__, __LINE__, "'%s' refused", cases[i].in);
		ASSERT_EQ_STR(host, cases[i].host);
		ASSERT_EQ_INT(p, cases[i].port);
	}
	char small[4];
	uint16_t p;
	ASSERT_EQ_INT(redis_parse_address("abcd:1", small, sizeof small, &p), -1);
	ASSERT_EQ_INT(redis_parse_address("abc:1", small, sizeof small, &p), 0);
	char err[128];
	struct redis_options o = {.address = "::1"};
	ASSERT(!redis_new(uv_default_loop(), &o, err, sizeof err));
	ASSERT(strstr(err, "bad redis address"));
}

static void test_commands_and_replies(void)
{
	struct redis *r = connect_fake("s3cret", 3);
	struct ans a[7] = {{0}};
	ASSERT_OK(redis_get_int(r, "k-num", on_ans, &a[0]));
	ASSERT_OK(redis_get_int(r, "k-missing", on_ans, &a[1]));
	ASSERT_OK(redis_get_int(r, "k-junk", on_ans, &a[2]));
	ASSERT_OK(redis_del(r, "k-del", on_ans, &a[3]));
	ASSERT_OK(redis_incr_expire(r, "k-incr", 900000, 5, on_ans, &a[4]));
	ASSERT_OK(redis_incr_expire(r, "k-fixed", 60000, 0, on_ans, &a[5]));
	ASSERT_OK(redis_del(r, "k-nocb", NULL, NULL));
	ASSERT_EQ_INT(redis_pending(r), 7);
	ASSERT(run_until(&a[5].done));
	ASSERT_EQ_INT(a[0].ok, 1);
	ASSERT_EQ_INT(a[0].v, 42);
	ASSERT_EQ_INT(a[1].ok, 1);
	ASSERT_EQ_INT(a[1].v, 0);
	ASSERT_EQ_INT(a[2].ok, 0); /* not a number */
	ASSERT_EQ_INT(a[3].ok, 1);
	ASSERT_EQ_INT(a[3].v, 1);
	ASSERT_EQ_INT(a[4].ok, 1);
	ASSERT_EQ_INT(a[4].v, 7);
	run_ms(20);
	ASSERT_EQ_INT(redis_pending(r), 0);
	ASSERT_EQ_INT(ncmds, 9);
	ASSERT_EQ_STR(cmds[0], "AUTH s3cret");
	ASSERT_EQ_STR(cmds[1], "SELECT 3");
	ASSERT_EQ_STR(cmds[2], "GET k-num");
	ASSERT_EQ_STR(cmds[5], "DEL k-del");
	ASSERT_EQ_STR(cmds[6], "EVAL local 1 k-incr 900000 5");
	ASSERT_EQ_STR(cmds[7], "EVAL local 1 k-fixed 60000 0");
	ASSERT_EQ_STR(cmds[8], "DEL k-nocb");
	/* an error reply is ok = false */
	struct ans e = {0};
	ASSERT_OK(redis_get_int(r, "k-err", on_ans, &e));
	ASSERT(run_until(&e.done));
	ASSERT_EQ_INT(e.ok, 0);
	finish(r);
}

static void test_drop_and_reconnect(void)
{
	struct redis *r = connect_fake(NULL, 0);
	ASSERT_EQ_INT(accepts, 1);
	/* no AUTH/SELECT without a password or db */
	struct ans a = {0};
	ASSERT_OK(redis_get_int(r, "k-hang", on_ans, &a));
	run_ms(20);
	ASSERT_EQ_INT(ncmds, 1);
	ASSERT_EQ_STR(cmds[0], "GET k-hang");
	ASSERT(!a.done);
	drop_peer(); /* the server goes away with a command in flight */
	ASSERT(run_until(&a.done));
	ASSERT_EQ_INT(a.ok, 0);
	ASSERT(!redis_connected(r));
	ASSERT_EQ_INT(redis_pending(r), 0);
	ASSERT_EQ_INT(redis_get_int(r, "k-num", on_ans, NULL), -1); /* refused, no callback */
	ASSERT(wait_connected(r, true));                            /* back after the back-off */
	ASSERT_EQ_INT(accepts, 2);
	struct ans b = {0};
	ASSERT_OK(redis_get_int(r, "k-num", on_ans, &b));
	ASSERT(run_until(&b.done));
	ASSERT_EQ_INT(b.v, 42);
	finish(r);
}

static void test_pending_bound(void)
{
	struct redis *r = connect_fake(NULL, 0);
	nanswers = nfailed = 0;
	for (int i = 0; i < REDIS_MAX_PENDING; i++)
		ASSERT_OK(redis_get_int(r, "k-hang", on_ans, NULL));
	ASSERT_EQ_INT(redis_get_int(r, "k-hang", on_ans, NULL), -1);
	ASSERT_EQ_INT(redis_pending(r), REDIS_MAX_PENDING);
	/* closing answers every command in flight, once */
	redis_close(r);
	ASSERT_EQ_INT(nanswers, REDIS_MAX_PENDING);
	ASSERT_EQ_INT(nfailed, REDIS_MAX_PENDING);
	drop_peer();
	uv_close((uv_handle_t *)&srv, NULL);
	while (uv_run(loop, UV_RUN_NOWAIT))
		;
	ASSERT_OK(uv_loop_close(loop));
}

static void test_auth_refused(void)
{
	auth_ok = false;
	server_start();
	char addr[64], err[128];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	struct redis_options o = {.address = addr, .password = "wrong"};
	struct redis *r = redis_new(loop, &o, err, sizeof err);
	ASSERT(r);
	/* the error reply makes the client hang up and retry after the back-off */
	uint64_t t0 = uv_now(loop);
	while (accepts < 3 && uv_now(loop) - t0 < 5000)
		run_ms(10);
	ASSERT_EQ_INT(accepts, 3);
	ASSERT(uv_now(loop) - t0 >= REDIS_BACKOFF_MIN_MS * 3); /* 100 + 200 ms at least */
	for (int i = 0; i < ncmds; i++)
		ASSERT_EQ_STR(cmds[i], "AUTH wrong");
	finish(r);
}

static void test_refused_connect(void)
{
	/* a port nothing listens on: take one and release it */
	server_start();
	int dead = port;
	uv_close((uv_handle_t *)&srv, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	char addr[64], err[128];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", dead);
	struct redis_options o = {.address = addr};
	struct redis *r = redis_new(loop, &o, err, sizeof err);
	ASSERT(r);
	run_ms(400); /* a few attempts: 100, 200 ms back-off */
	ASSERT(!redis_connected(r));
	ASSERT_EQ_INT(redis_del(r, "k", on_ans, NULL), -1);
	redis_close(r);
	while (uv_run(loop, UV_RUN_NOWAIT))
		;
	ASSERT_OK(uv_loop_close(loop));
}

static int load(const char *text, struct config *cfg, char *err, size_t errlen)
{
	char path[512];
	snprintf(path, sizeof path, "%s/mailraftd.conf", unit_tmpdir());
	FILE *f = fopen(path, "w");
	ASSERT(f);
	fputs(text, f);
	fclose(f);
	return config_load(cfg, path, err, errlen);
}

static void test_config_keys(void)
{
	static struct config cfg;
	char err[512];
	ASSERT_OK(load("data_dir = /tmp/x\n", &cfg, err, sizeof err));
	ASSERT_EQ_STR(cfg.redis_address, ""); /* off by default */
	ASSERT_EQ_INT(cfg.redis_db, 0);
	ASSERT_OK(load("redis_address = 10.0.0.5:6380\nredis_password = \"p w\"\nredis_db = 2\n"
	               "redis_secret = s\n",
	               &cfg, err, sizeof err));
	ASSERT_EQ_STR(cfg.redis_address, "10.0.0.5:6380");
	ASSERT_EQ_STR(cfg.redis_password, "p w");
	ASSERT_EQ_INT(cfg.redis_db, 2);
	ASSERT_EQ_STR(cfg.redis_secret, "s");
	ASSERT(load("redis_address = ::1\n", &cfg, err, sizeof err) != 0);
	ASSERT(strstr(err, "bad redis_address '::1'"));
	ASSERT(load("redis_db = 1001\n", &cfg, err, sizeof err) != 0);
	ASSERT(strstr(err, "redis_db"));
}

static const struct unit_test tests[] = {
    {"parse_address", test_parse_address},
    {"config_keys", test_config_keys},
    {"commands_and_replies", test_commands_and_replies},
    {"drop_and_reconnect", test_drop_and_reconnect},
    {"pending_bound", test_pending_bound},
    {"auth_refused", test_auth_refused},
    {"refused_connect", test_refused_connect},
    {0},
};
UNIT_MAIN(tests)

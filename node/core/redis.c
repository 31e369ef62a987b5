/* redis.c - the client behind redis.h: one hiredis async context attached to the loop with
 * hiredis' libuv adapter, driven by a small state machine (wait -> resolve -> connect -> up ->
 * wait ...). One timer serves as the connect timeout and the reconnect back-off; host names go
 * through uv_getaddrinfo so the connect itself only ever sees a numeric address. Every command
 * carries a small request record whose callback turns the reply into (ok, integer). The event
 * hooks are our own rather than hiredis 0.14's adapters/libuv.h: that adapter ignores a poll
 * error (libuv reports a socket reset as status UV_EBADF and stops the handle), so a server
 * killed while a command was in flight left the context waiting forever; here an error is
 * handed to hiredis as readable, whose read then fails and disconnects. */
#include "core/redis.h"
#include "common/log.h"
#include "common/util.h"
#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rstate { RS_WAIT, RS_RESOLVING, RS_CONNECTING, RS_UP, RS_CLOSED };

struct redis {
	uv_loop_t *loop;
	char host[256];
	char password[256];
	uint16_t port;
	unsigned db;
	enum rstate state;
	redisAsyncContext *ac;
	uv_timer_t timer;
	uv_getaddrinfo_t gai;
	bool gai_busy, timer_closed;
	unsigned backoff_ms;
	bool quiet; /* the failure of this outage was logged: stay silent until connected */
	size_t pending;
};

struct req {
	struct redis *r;
	redis_int_cb cb;
	void *ud;
	bool get; /* string reply expected (GET) */
};

/* INCR with expiry: ARGV[1] = ttl ms, ARGV[2] = count from which each increment refreshes it. */
static const char incr_script[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "local r = tonumber(ARGV[2]) "
    "if n == 1 or (r > 0 and n >= r) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

static void start_connect(struct redis *r);

/* ---- event hooks (hiredis ev.* on a uv_poll_t) ------------------------------------------ */
struct rev {
	redisAsyncContext *ac; /* NULL once hiredis cleaned up */
	uv_poll_t poll;
	int events;
};

static void rev_on_poll(uv_poll_t *h, int status, int events)
{
	struct rev *e = h->data;
	if (status != 0)
		events = UV_READABLE; /* reset/error: the read sees it and disconnects */
	if (e->ac && (events & UV_READABLE))
		redisAsyncHandleRead(e->ac);
	if (e->ac && (events & UV_WRITABLE))
		redisAsyncHandleWrite(e->ac);
}

static void rev_update(struct rev *e, int add, int del)
{
	e->events = (e->events | add) & ~del;
	if (e->events)
		uv_poll_start(&e->poll, e->events, rev_on_poll);
	else
		uv_poll_stop(&e->poll);
}

static void rev_add_read(void *p)
{
	rev_update(p, UV_READABLE, 0);
}

static void rev_del_read(void *p)
{
	rev_update(p, 0, UV_READABLE);
}

static void rev_add_write(void *p)
{
	rev_update(p, UV_WRITABLE, 0);
}

static void rev_del_write(void *p)
{
	rev_update(p, 0, UV_WRITABLE);
}

static void rev_closed(uv_handle_t *h)
{
	free(h->data);
}

static void rev_cleanup(void *p)
{
	struct rev *e = p;
	e->ac = NULL;
	uv_close((uv_handle_t *)&e->poll, rev_closed);
}

static int rev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct rev *e = xcalloc(1, sizeof *e);
	if (uv_poll_init(loop, &e->poll, ac->c.fd) != 0) {
		free(e);
		return -1;
	}
	uv_unref((uv_handle_t *)&e->poll); /* never keeps the loop alive */
	e->poll.data = e;
	e->ac = ac;
	ac->ev.data = e;
	ac->ev.addRead = rev_add_read;
	ac->ev.delRead = rev_del_read;
	ac->ev.addWrite = rev_add_write;
	ac->ev.delWrite = rev_del_write;
	ac->ev.cleanup = rev_cleanup;
	return 0;
}

/* ---- connection state machine ----------------------------------------------------------- */

int redis_parse_address(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	if (!s || !hostlen)
		return -1;
	const char *h = s, *hend, *p = NULL;
	if (*s == '[') {
		h = s + 1;
		hend = strchr(h, ']');
		if (!hend)
			return -1;
		if (hend[1] == ':')
			p = hend + 2;
		else if (hend[1])
			return -1;
	} else {
		const char *c = strchr(s, ':');
		if (c && strchr(c + 1, ':'))
			return -1; /* a bare IPv6 literal: ambiguous, must be bracketed */
		hend = c ? c : s + strlen(s);
		if (c)
			p = c + 1;
	}
	size_t hl = (size_t)(hend - h);
	if (hl == 0 || hl >= hostlen)
		return -1;
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == '/' || h[i] == '@')
			return -1;
	uint64_t n = REDIS_DEFAULT_PORT;
	if (p && (mr_parse_u64(p, strlen(p), 65535, &n) != 0 || n == 0))
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)n;
	return 0;
}

static void maybe_free(struct redis *r)
{
	if (r->state == RS_CLOSED && r->timer_closed && !r->gai_busy && !r->ac) {
		mr_memzero(r->password, sizeof r->password);
		free(r);
	}
}

static void on_timer_closed(uv_handle_t *h)
{
	struct redis *r = h->data;
	r->timer_closed = true;
	maybe_free(r);
}

static void on_retry(uv_timer_t *t)
{
	start_connect(t->data);
}

/* The attempt or the connection failed: log once per outage, retry after the back-off. */
static void retry_later(struct redis *r, const char *what, const char *why)
{
	if (r->state == RS_CLOSED)
		return;
	if (!r->quiet) {
		log_warn("redis",
		         "%s %s:%u: %s; using in-memory state only, retrying in the background",
		         what, r->host, (unsigned)r->port, why);
		r->quiet = true;
	} else {
		log_debug("redis", "%s %s:%u: %s", what, r->host, (unsigned)r->port, why);
	}
	r->state = RS_WAIT;
	uv_timer_start(&r->timer, on_retry, r->backoff_ms, 0);
	r->backoff_ms =
	    r->backoff_ms >= REDIS_BACKOFF_MAX_MS / 2 ? REDIS_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	(void)ac;
	struct req *q = privdata;
	struct redis *r = q->r;
	r->pending--;
	const redisReply *rep = reply;
	bool ok = false;
	long long v = 0;
	if (rep && rep->type == REDIS_REPLY_INTEGER) {
		ok = true;
		v = rep->integer;
	} else if (rep && rep->type == REDIS_REPLY_NIL) {
		ok = true;
	} else if (rep && rep->type == REDIS_REPLY_STRING && q->get) {
		uint64_t n;
		if (mr_parse_u64(rep->str, rep->len, (uint64_t)INT64_MAX, &n) == 0) {
			ok = true;
			v = (long long)n;
		}
	} else if (rep && rep->type == REDIS_REPLY_ERROR) {
		log_debug("redis", "error reply: %.*s", (int)(rep->len > 200 ? 200 : rep->len),
		          rep->str);
	}
	if (q->cb)
		q->cb(q->ud, ok, v);
	free(q);
}

/* The connection is usable (and AUTH / SELECT, if any, were accepted): one line, and the
 * back-off starts from the bottom again. */
static void mark_up(struct redis *r)
{
	r->backoff_ms = REDIS_BACKOFF_MIN_MS;
	r->quiet = false;
	log_info("redis", "connected to %s:%u", r->host, (unsigned)r->port);
}

/* AUTH / SELECT: an error reply means a misconfiguration; drop the connection (and retry,
 * logging it once and backing off, not once per attempt). */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	const char *what = privdata;
	const redisReply *rep = reply;
	struct redis *r = ac->data;
	if (!rep || !r || r->ac != ac)
		return;
	if (rep->type != REDIS_REPLY_ERROR) {
		if (!strcmp(what, "SELECT") || !r->db)
			mark_up(r);
		return;
	}
	if (!r->quiet)
		log_error("redis", "%s refused by %s:%u: %.*s", what, r->host, (unsigned)r->port,
		          (int)(rep->len > 200 ? 200 : rep->len), rep->str);
	r->quiet = true; /* the disconnect that follows needs no second line */
	redisAsyncDisconnect(ac);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	struct redis *r = cac->data;
	if (!r || r->ac != cac)
		return;
	redisAsyncContext *ac = r->ac;
	uv_timer_stop(&r->timer);
	if (status != REDIS_OK) {
		r->ac = NULL; /* hiredis frees it after this callback */
		retry_later(r, "cannot connect to",
		            cac->errstr[0] ? cac->errstr : "connect failed");
		return;
	}
	r->state = RS_UP;
	/* queued before any user command on this connection, so they run first */
	if (r->password[0])
		redisAsyncCommand(ac, on_setup_reply, (void *)"AUTH", "AUTH %s", r->password);
	if (r->db)
		redisAsyncCommand(ac, on_setup_reply, (void *)"SELECT", "SELECT %u", r->db);
	if (!r->password[0] && !r->db)
		mark_up(r);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	struct redis *r = cac->data;
	if (!r || r->ac != cac)
		return;
	r->ac = NULL;
	if (r->state == RS_CLOSED) {
		maybe_free(r);
		return;
	}
	retry_later(r, "lost the connection to",
	            status == REDIS_OK ? "closed" : (cac->errstr[0] ? cac->errstr : "error"));
}

static void connect_ip(struct redis *r, const char *ip)
{
	redisAsyncContext *ac = redisAsyncConnect(ip, r->port);
	if (!ac) {
		retry_later(r, "cannot connect to", "out of memory");
		return;
	}
	if (ac->err) {
		char why[128];
		snprintf(why, sizeof why, "%s", ac->errstr);
		redisAsyncFree(ac);
		retry_later(r, "cannot connect to", why);
		return;
	}
	if (rev_attach(ac, r->loop) != 0) {
		redisAsyncFree(ac);
		retry_later(r, "cannot connect to", "event loop attach failed");
		return;
	}
	ac->data = r;
	r->ac = ac;
	r->state = RS_CONNECTING;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	uv_timer_start(&r->timer, on_retry, REDIS_CONNECT_TIMEOUT_MS, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct redis *r = req->data;
	r->gai_busy = false;
	if (r->state == RS_CLOSED) {
		uv_freeaddrinfo(res);
		maybe_free(r);
		return;
	}
	char ip[INET6_ADDRSTRLEN] = "";
	if (status == 0 && res) {
		if (res->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr,
			          ip, sizeof ip);
		else if (res->ai_family == AF_INET6)
			inet_ntop(AF_INET6,
			          &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr, ip,
			          sizeof ip);
	}
	uv_freeaddrinfo(res);
	if (!ip[0]) {
		retry_later(r, "cannot resolve", status ? uv_strerror(status) : "no address");
		return;
	}
	connect_ip(r, ip);
}

/* Also the connect timeout: a timer firing while connecting abandons the attempt. */
static void start_connect(struct redis *r)
{
	if (r->state == RS_CONNECTING && r->ac) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		redisAsyncFree(ac);
		retry_later(r, "cannot connect to", "timed out");
		return;
	}
	if (r->state != RS_WAIT)
		return;
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, r->host, buf) == 1 || inet_pton(AF_INET6, r->host, buf) == 1) {
		connect_ip(r, r->host);
		return;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	r->gai.data = r;
	if (uv_getaddrinfo(r->loop, &r->gai, on_resolved, r->host, NULL, &hints) != 0) {
		retry_later(r, "cannot resolve", "getaddrinfo failed");
		return;
	}
	r->gai_busy = true;
	r->state = RS_RESOLVING;
}

struct redis *redis_new(uv_loop_t *loop, const struct redis_options *o, char *err, size_t errlen)
{
	struct redis *r = xcalloc(1, sizeof *r);
	if (redis_parse_address(o->address, r->host, sizeof r->host, &r->port) != 0) {
		snprintf(err, errlen, "bad redis address '%s' (host:port)",
		         o->address ? o->address : "");
		free(r);
		return NULL;
	}
	if (o->password && strlen(o->password) >= sizeof r->password) {
		snprintf(err, errlen, "redis password too long");
		free(r);
		return NULL;
	}
	snprintf(r->password, sizeof r->password, "%s", o->password ? o->password : "");
	r->loop = loop;
	r->db = o->db;
	r->backoff_ms = REDIS_BACKOFF_MIN_MS;
	r->state = RS_WAIT;
	uv_timer_init(loop, &r->timer);
	uv_unref((uv_handle_t *)&r->timer);
	r->timer.data = r;
	start_connect(r);
	return r;
}

void redis_close(struct redis *r)
{
	if (!r || r->state == RS_CLOSED)
		return;
	bool was_up = r->state == RS_UP;
	r->state = RS_CLOSED;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, on_timer_closed);
	if (r->gai_busy)
		uv_cancel((uv_req_t *)&r->gai);
	if (r->ac) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		redisAsyncFree(ac); /* answers the commands in flight with no reply */
	}
	if (was_up)
		log_info("redis", "disconnected from %s:%u (shutting down)", r->host,
		         (unsigned)r->port);
}

bool redis_connected(const struct redis *r)
{
	return r && r->state == RS_UP && r->ac;
}

size_t redis_pending(const struct redis *r)
{
	return r ? r->pending : 0;
}

static int send_cmd(struct redis *r, redis_int_cb cb, void *ud, bool get, const char *fmt, ...)
{
	if (!redis_connected(r) || r->pending >= REDIS_MAX_PENDING)
		return -1;
	struct req *q = xcalloc(1, sizeof *q);
	q->r = r;
	q->cb = cb;
	q->ud = ud;
	q->get = get;
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAsyncCommand(r->ac, on_reply, q, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		free(q);
		return -1;
	}
	r->pending++;
	return 0;
}

int redis_incr_expire(struct redis *r, const char *key, uint64_t ttl_ms, uint64_t refresh_from,
                      redis_int_cb cb, void *ud)
{
	char ttl[24], from[24];
	snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)(ttl_ms ? ttl_ms : 1));
	snprintf(from, sizeof from, "%llu", (unsigned long long)refresh_from);
	return send_cmd(r, cb, ud, false, "EVAL %s 1 %s %s %s", incr_script, key, ttl, from);
}

int redis_get_int(struct redis *r, const char *key, redis_int_cb cb, void *ud)
{
	return send_cmd(r, cb, ud, true, "GET %s", key);
}

int redis_del(struct redis *r, const char *key, redis_int_cb cb, void *ud)
{
	return send_cmd(r, cb, ud, false, "DEL %s", key);
}

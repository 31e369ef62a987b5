/* dns.c - libunbound on the libuv loop (dns.h). The ub_ctx runs its resolver in a background
 * thread (ub_ctx_async(ctx, 1)); answers come back through a pipe, ub_fd(), watched here with a
 * uv_poll; ub_process() then calls on_answer() on the loop thread for each finished query. Pending
 * queries sit in one FIFO list: every query gets the same timeout, so insertion order is deadline
 * order and a single uv_timer armed for the head expires them. Cancelling (dns_cancel, destroy)
 * calls ub_cancel(), after which libunbound never calls back for that id, and frees the query;
 * a destroy from inside a callback (inside ub_process) defers ub_ctx_delete until ub_process has
 * returned, and the resolver's memory goes in the last uv_close callback. */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unbound.h>

#include "common/err.h"

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;
	uint64_t deadline; /* uv_now() ms */
	int id;            /* libunbound async id */
	enum dns_type type;
	dns_cb cb;
	void *ud;
};

struct dns_resolver {
	uv_loop_t *loop;
	struct ub_ctx *ctx;
	uv_poll_t poll;
	uv_timer_t timer;
	unsigned timeout_ms;
	struct dns_query *head, *tail; /* pending, oldest (earliest deadline) first */
	size_t pending;
	int in_process; /* inside ub_process(): ub_ctx_delete must wait */
	bool closing;
	int open_handles; /* uv handles not yet closed */
};

/* ---------------------------------------------------------------- options */

/* "host", "host:port", "[v6]:port" or a bare IPv6 address into libunbound's "addr@port".
 * The host must be a numeric address (a forwarder cannot be looked up by name). */
static int fwd_spec(const char *in, char *out, size_t outlen)
{
	char host[64];
	const char *port = NULL;
	size_t hl;
	if (in[0] == '[') {
		const char *e = strchr(in, ']');
		if (!e)
			return MR_ECONFIG;
		hl = (size_t)(e - in - 1);
		if (e[1] == ':')
			port = e + 2;
		else if (e[1] != 0)
			return MR_ECONFIG;
		in++;
	} else {
		const char *c = strchr(in, ':');
		if (c && strchr(c + 1, ':'))
			c = NULL; /* bare IPv6 */
		hl = c ? (size_t)(c - in) : strlen(in);
		if (c)
			port = c + 1;
	}
	if (hl == 0 || hl >= sizeof host)
		return MR_ECONFIG;
	memcpy(host, in, hl);
	host[hl] = 0;
	unsigned char a[16];
	if (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1)
		return MR_ECONFIG;
	unsigned long p = 53;
	if (port) {
		char *end;
		if (!*port || strspn(port, "0123456789") != strlen(port))
			return MR_ECONFIG;
		p = strtoul(port, &end, 10);
		if (p == 0 || p > 65535)
			return MR_ECONFIG;
	}
	int w = snprintf(out, outlen, "%s@%lu", host, p);
	return w > 0 && (size_t)w < outlen ? 0 : MR_ECONFIG;
}

static int configure(struct ub_ctx *ctx, const struct dns_options *opt, char *err, size_t errlen)
{
	int rv;
	/* loopback forwarders (a local test server, systemd-resolved's 127.0.0.53) are allowed */
	if ((rv = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0)
		goto ub_fail;
	if (opt->resolver && opt->resolver[0]) {
		char spec[96];
		if (fwd_spec(opt->resolver, spec, sizeof spec) != 0) {
			snprintf(err, errlen, "bad DNS resolver address '%s' (ip[:port])",
			         opt->resolver);
			return MR_ECONFIG;
		}
		if ((rv = ub_ctx_set_fwd(ctx, spec)) != 0)
			goto ub_fail;
	} else if ((rv = ub_ctx_resolvconf(ctx, NULL)) != 0) {
		snprintf(err, errlen, "cannot use /etc/resolv.conf: %s", ub_strerror(rv));
		return MR_ECONFIG;
	}
	if (opt->trust_anchor && opt->trust_anchor[0]) {
		if (access(opt->trust_anchor, R_OK) != 0) {
			snprintf(err, errlen, "cannot read DNSSEC trust anchor file %s",
			         opt->trust_anchor);
			return MR_ECONFIG;
		}
		if ((rv = ub_ctx_add_ta_file(ctx, opt->trust_anchor)) != 0)
			goto ub_fail;
	}
	if ((rv = ub_ctx_async(ctx, 1)) != 0)
		goto ub_fail;
	/* unbound answers the RFC 6761 name test. itself (NXDOMAIN); with a forwarder the
	 * forwarder is asked, so a test server can serve example.test. This finalizes the
	 * context's configuration, hence last. */
	if (opt->resolver && opt->resolver[0] && (rv = ub_ctx_zone_remove(ctx, "test.")) != 0)
		goto ub_fail;
	return 0;
ub_fail:
	snprintf(err, errlen, "libunbound: %s", ub_strerror(rv));
	return MR_ECONFIG;
}

/* ---------------------------------------------------------------- queries */

static void unlink_query(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	if (q->prev)
		q->prev->next = q->next;
	else
		r->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		r->tail = q->prev;
	q->prev = q->next = NULL;
	if (--r->pending == 0 && !r->closing) {
		uv_timer_stop(&r->timer);
		uv_unref((uv_handle_t *)&r->poll); /* an idle resolver keeps no loop alive */
	}
}

static void deliver(struct dns_query *q, struct dns_result *res)
{
	dns_cb cb = q->cb;
	void *ud = q->ud;
	free(q);
	cb(ud, res);
}

static void fail(struct dns_result *out, enum dns_status st, const char *why)
{
	out->status = st;
	out->reason = why;
}

static const char *rcode_text(int rcode)
{
	static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
	                                    "NXDOMAIN", "NOTIMP",  "REFUSED"};
	return rcode >= 0 && (size_t)rcode < sizeof names / sizeof names[0] ? names[rcode]
	                                                                    : "error rcode";
}

/* libunbound's callback, from inside ub_process() on the loop thread. */
static void on_answer(void *arg, int err, struct ub_result *ub)
{
	struct dns_query *q = arg;
	unlink_query(q);
	struct dns_result out = {.type = q->type, .status = DNS_OK, .reason = ""};
	if (err != 0 || !ub) {
		fail(&out, DNS_TEMPFAIL, ub_strerror(err));
	} else {
		out.secure = ub->secure != 0;
		out.ttl = ub->ttl > 0 ? (uint32_t)ub->ttl : 0;
		if (ub->bogus) {
			out.secure = false;
			fail(&out, DNS_BOGUS,
			     ub->why_bogus ? ub->why_bogus : "DNSSEC validation failed");
		} else if (ub->rcode == 3) {
			fail(&out, DNS_NXDOMAIN, "");
		} else if (ub->rcode != 0) {
			fail(&out, DNS_TEMPFAIL, rcode_text(ub->rcode));
		} else if (!ub->havedata) {
			fail(&out, DNS_NODATA, "");
		} else {
			size_t n = 0;
			while (ub->data[n])
				n++;
			if (n == 0) {
				fail(&out, DNS_NODATA, "");
				goto done;
			}
			const uint8_t **data = calloc(n, sizeof *data);
			size_t *lens = calloc(n, sizeof *lens);
			int rv = data && lens ? 0 : MR_ENOMEM;
			for (size_t i = 0; rv == 0 && i < n; i++) {
				data[i] = (const uint8_t *)ub->data[i];
				lens[i] = ub->len[i] > 0 ? (size_t)ub->len[i] : 0;
			}
			if (rv == 0)
				rv = dns_result_build(&out, data, lens, n);
			if (rv != 0)
				fail(&out, DNS_TEMPFAIL, "out of memory");
			free(data);
			free(lens);
		}
	}
done:
	deliver(q, &out);
	dns_result_free(&out);
	if (ub)
		ub_resolve_free(ub);
}

static void on_timer(uv_timer_t *t)
{
	struct dns_resolver *r = t->data;
	uint64_t now = uv_now(r->loop);
	while (!r->closing && r->head && r->head->deadline <= now) {
		struct dns_query *q = r->head;
		unlink_query(q);
		ub_cancel(r->ctx, q->id);
		struct dns_result out = {
		    .type = q->type, .status = DNS_TEMPFAIL, .reason = "timeout"};
		deliver(q, &out);
	}
	if (!r->closing && r->head)
		uv_timer_start(&r->timer, on_timer, r->head->deadline - now, 0);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct dns_resolver *r = p->data;
	if (r->closing)
		return;
	r->in_process++;
	int rv = ub_process(r->ctx);
	r->in_process--;
	if (r->closing && r->in_process == 0 && r->ctx) {
		ub_ctx_delete(r->ctx); /* deferred from a destroy inside a callback */
		r->ctx = NULL;
	}
	(void)rv;
	(void)status;
	(void)events;
}

static bool type_known(enum dns_type t)
{
	static const enum dns_type known[] = {DNS_T_A,   DNS_T_PTR,  DNS_T_MX,
	                                      DNS_T_TXT, DNS_T_AAAA, DNS_T_TLSA};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (known[i] == t)
			return true;
	return false;
}

int dns_lookup(struct dns_resolver *r, enum dns_type type, const char *name, dns_cb cb, void *ud,
               struct dns_query **q_r)
{
	if (q_r)
		*q_r = NULL;
	if (r->closing)
		return MR_ECLOSED;
	if (!name || strnlen(name, DNS_NAME_TEXT_MAX) == DNS_NAME_TEXT_MAX ||
	    dns_name_check(name, NULL) != 0 || !type_known(type) || !cb)
		return MR_EINVAL;
	struct dns_query *q = calloc(1, sizeof *q);
	if (!q)
		return MR_ENOMEM;
	q->r = r;
	q->type = type;
	q->cb = cb;
	q->ud = ud;
	q->deadline = uv_now(r->loop) + r->timeout_ms;
	int rv = ub_resolve_async(r->ctx, name, (int)type, 1 /* IN */, q, on_answer, &q->id);
	if (rv != 0) {
		free(q);
		return rv == UB_SYNTAX ? MR_EINVAL : rv == UB_NOMEM ? MR_ENOMEM : MR_EIO;
	}
	q->prev = r->tail;
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
	if (r->pending++ == 0) {
		uv_timer_start(&r->timer, on_timer, r->timeout_ms, 0);
		uv_ref((uv_handle_t *)&r->poll);
	}
	if (q_r)
		*q_r = q;
	return 0;
}

int dns_lookup_ptr(struct dns_resolver *r, const char *ip, dns_cb cb, void *ud,
                   struct dns_query **q_r)
{
	char name[80];
	if (q_r)
		*q_r = NULL;
	if (dns_reverse_name(ip, name, sizeof name) != 0)
		return MR_EINVAL;
	return dns_lookup(r, DNS_T_PTR, name, cb, ud, q_r);
}

void dns_cancel(struct dns_query *q)
{
	if (!q)
		return;
	struct dns_resolver *r = q->r;
	unlink_query(q);
	if (r->ctx)
		ub_cancel(r->ctx, q->id);
	free(q);
}

size_t dns_pending(const struct dns_resolver *r)
{
	return r->pending;
}

/* ---------------------------------------------------------------- lifecycle */

static void on_close(uv_handle_t *h)
{
	struct dns_resolver *r = h->data;
	if (--r->open_handles == 0)
		free(r);
}

int dns_resolver_create(uv_loop_t *loop, const struct dns_options *opt, struct dns_resolver **r_r,
                        char *err, size_t errlen)
{
	char dummy[8];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = 0;
	*r_r = NULL;
	struct dns_resolver *r = calloc(1, sizeof *r);
	if (!r)
		return MR_ENOMEM;
	r->loop = loop;
	r->timeout_ms = opt->timeout_ms ? opt->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	r->ctx = ub_ctx_create();
	if (!r->ctx) {
		free(r);
		snprintf(err, errlen, "ub_ctx_create failed");
		return MR_ENOMEM;
	}
	int rv = configure(r->ctx, opt, err, errlen);
	if (rv == 0 && uv_poll_init(loop, &r->poll, ub_fd(r->ctx)) != 0) {
		snprintf(err, errlen, "cannot watch the libunbound pipe");
		rv = MR_EIO;
	}
	if (rv != 0) {
		ub_ctx_delete(r->ctx);
		free(r);
		return rv;
	}
	uv_timer_init(loop, &r->timer);
	r->poll.data = r->timer.data = r;
	r->open_handles = 2;
	uv_poll_start(&r->poll, UV_READABLE, on_readable);
	uv_unref((uv_handle_t *)&r->poll); /* referenced while queries are pending */
	*r_r = r;
	return 0;
}

void dns_resolver_destroy(struct dns_resolver *r)
{
	if (!r || r->closing)
		return;
	r->closing = true;
	while (r->head)
		dns_cancel(r->head);
	uv_close((uv_handle_t *)&r->poll, on_close); /* stops the poll before the fd goes */
	uv_close((uv_handle_t *)&r->timer, on_close);
	if (r->in_process == 0) {
		ub_ctx_delete(r->ctx);
		r->ctx = NULL;
	}
}

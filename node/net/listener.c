/* listener.c - accept loop: one uv_tcp_t per configured address; each accepted socket becomes a
 * struct conn for the listener's protocol, with TLS started at once on implicit-TLS ports. */
#include "listener.h"
#include "conn_int.h"
#include "common/err.h"
#include "common/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct listener {
	uv_tcp_t tcp;
	const struct proto_ops *ops;
	enum conn_tls mode;
	char addr[128];
	struct listener *next;
};

static struct listener *listeners;
static struct conn *all_conns;
static size_t nconns;
static unsigned max_conns;

void listener_set_max_connections(unsigned n)
{
	max_conns = n;
}

size_t listener_connections(void)
{
	return nconns;
}

void conn__unregister(struct conn *c)
{
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else if (all_conns == c)
		all_conns = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	c->all_prev = c->all_next = NULL;
	nconns--;
}

static void on_reject_closed(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	if (status < 0)
		return;
	if (max_conns && nconns >= max_conns) {
		uv_tcp_t *t = xmalloc(sizeof *t);
		uv_tcp_init(server->loop, t);
		if (uv_accept(server, (uv_stream_t *)t) == 0)
			log_warn("listen", "addr=%s connection limit %u reached, refusing", l->addr,
				 max_conns);
		uv_close((uv_handle_t *)t, on_reject_closed);
		return;
	}
	conn__init_loop(server->loop);
	struct conn *c = conn__new(server->loop, l->ops, l->mode);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		c->closing = true;
		nconns++; /* balanced by conn__unregister in the close path */
		conn__finish_close(c);
		return;
	}
	c->all_next = all_conns;
	if (all_conns)
		all_conns->all_prev = c;
	all_conns = c;
	nconns++;
	if (l->mode == CONN_TLS_IMPLICIT && conn__tls_start(c) != 0) {
		log_error("listen", "addr=%s TLS not available", l->addr);
		conn_close(c);
		return;
	}
	conn__started(c);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || strlen(s) >= sizeof host)
		return MR_EINVAL;
	size_t hl = (size_t)(colon - s);
	memcpy(host, s, hl);
	host[hl] = 0;
	uint64_t port;
	if (mr_parse_u64(colon + 1, strlen(colon + 1), 65535, &port) != 0)
		return MR_EINVAL;
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = 0;
		return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss) ? MR_EINVAL : 0;
	}
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) ? MR_EINVAL : 0;
}

int listener_add(uv_loop_t *loop, const char *addr, const struct proto_ops *ops,
		 enum conn_tls mode, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (parse_addr(addr, &ss) != 0) {
		snprintf(err, errlen, "bad listen address '%s' (want host:port)", addr);
		return MR_EINVAL;
	}
	struct listener *l = xmalloc(sizeof *l);
	l->ops = ops;
	l->mode = mode;
	snprintf(l->addr, sizeof l->addr, "%s", addr);
	uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	int r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
	if (r != 0) {
		snprintf(err, errlen, "cannot listen on %s for %s: %s", addr, ops->name,
			 uv_strerror(r));
		uv_close((uv_handle_t *)&l->tcp, on_reject_closed);
		return MR_EIO;
	}
	l->next = listeners;
	listeners = l;
	log_info("listen", "proto=%s addr=%s tls=%s", ops->name, addr,
		 mode == CONN_TLS_IMPLICIT ? "implicit" : mode == CONN_TLS_STARTTLS ? "starttls"
										: "none");
	return 0;
}

void listener_shutdown(void)
{
	while (listeners) {
		struct listener *l = listeners;
		listeners = l->next;
		uv_close((uv_handle_t *)&l->tcp, on_reject_closed);
	}
	for (struct conn *c = all_conns; c; c = c->all_next) {
		if (c->ops->on_timeout && !c->closing)
			c->ops->on_timeout(c); /* protocol goodbye (421 / BYE / -ERR) */
		conn_close(c);
	}
	conn__fini_loop();
}

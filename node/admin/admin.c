/* admin.c - the admin endpoint: a unix stream socket on the node's loop (uv_pipe_t) at
 * cfg->admin_socket or <data_dir>/admin.sock, mode 0600, whose peers must be root or the
 * daemon's own effective uid (SO_PEERCRED, checked at accept; others get one EPERM response
 * and are logged). Each connection reads length-prefixed frames with a bounded incremental
 * reader, handles one request at a time (reading pauses while the request's store job runs),
 * answers with one response frame, and is closed after ADMIN_IDLE_MS of silence. */
#define _GNU_SOURCE /* struct ucred */
#include "admin.h"
#include "admin_int.h"
#include "common/err.h"
#include "common/log.h"
#include "node.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Only root and the daemon's uid may connect, so a handful is plenty; bounds memory. */
#define ADMIN_MAX_CONNS 16
/* A ctl invocation sends its request right away; an idle peer is dropped after a minute. */
#define ADMIN_IDLE_MS 60000
/* Read chunk; bytes read past a complete frame are kept (at most one chunk) for later. */
#define ADMIN_READ_CHUNK 16384

struct admin_conn {
	uv_pipe_t pipe;
	uv_timer_t timer;
	int refs; /* pipe handle + timer handle + request in flight */
	bool closing, busy, close_after_write;
	bool in_process; /* inside process_input: a synchronous reply must not recurse */
	struct admin_conn *next, *prev; /* all open connections, for admin_stop */
	uid_t uid;
	struct admin_rd rd;
	struct buf pending; /* unparsed bytes read while busy */
	char rbuf[ADMIN_READ_CHUNK];
};

struct admin_write {
	uv_write_t req;
	struct admin_conn *conn;
	uint8_t *data;
};

static struct {
	bool running;
	uv_pipe_t server;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned nconns;
	struct admin_conn *conns;
	uint64_t start_ms;
} admin;

uint64_t admin__uptime_s(void)
{
	return (mr_now_ms() - admin.start_ms) / 1000;
}

static void conn_unref(struct admin_conn *c)
{
	if (--c->refs > 0)
		return;
	admin_rd_free(&c->rd);
	buf_free(&c->pending);
	admin.nconns--;
	if (c->prev)
		c->prev->next = c->next;
	else
		admin.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void conn_close(struct admin_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->pipe, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_idle(uv_timer_t *t)
{
	struct admin_conn *c = t->data;
	if (!c->busy) {
		log_info("admin", "closing idle connection uid=%u", (unsigned)c->uid);
		conn_close(c);
	}
}

static void on_write(uv_write_t *w, int status)
{
	struct admin_write *aw = (struct admin_write *)w;
	struct admin_conn *c = aw->conn;
	free(aw->data);
	free(aw);
	if (status < 0 || c->close_after_write)
		conn_close(c);
	conn_unref(c);
}

/* Queue one response frame on c. */
static void conn_send(struct admin_conn *c, Mr__CtlResponse *resp)
{
	struct buf out;
	buf_init(&out, 0);
	int rv = admin_wire_pack(&resp->base, &out);
	if (rv == MR_ETOOBIG) {
		/* a list too long for one frame: say so rather than cut it silently */
		size_t rows = resp->n_rows;
		admin_resp_clear(resp);
		admin_resp_error(resp, MR__CTL_CODE__CTL_EINTERNAL,
		                 "result too large for one response (%zu rows)", rows);
		rv = admin_wire_pack(&resp->base, &out);
	}
	if (rv != 0) {
		buf_free(&out);
		conn_close(c);
		return;
	}
	struct admin_write *aw = xmalloc(sizeof *aw);
	aw->conn = c;
	size_t len;
	aw->data = buf_steal(&out, &len);
	uv_buf_t b = uv_buf_init((char *)aw->data, (unsigned)len);
	c->refs++;
	rv = uv_write(&aw->req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
	if (rv < 0) {
		free(aw->data);
		free(aw);
		c->refs--;
		conn_close(c);
	}
}

static void process_input(struct admin_conn *c);

/* Passwords never outlive their request. */
static void wipe_secrets(Mr__CtlRequest *req)
{
	char *pw = NULL;
	if (req && req->cmd_case == MR__CTL_REQUEST__CMD_ACCOUNT_ADD)
		pw = req->account_add->password;
	else if (req && req->cmd_case == MR__CTL_REQUEST__CMD_ACCOUNT_PASSWD)
		pw = req->account_passwd->password;
	if (pw)
		mr_memzero(pw, strlen(pw));
}

void admin__reply(struct admin_req *r)
{
	struct admin_conn *c = r->conn;
	if (c && !c->closing) {
		conn_send(c, &r->resp);
		c->busy = false;
		uv_timer_start(&c->timer, on_idle, ADMIN_IDLE_MS, 0);
	}
	wipe_secrets(r->req);
	admin_req_free(&r->req);
	admin_resp_clear(&r->resp);
	if (r->names) {
		for (size_t i = 0; i < r->n_names; i++)
			free(r->names[i]);
		free(r->names);
	}
	free(r->filter);
	mr_memzero(r->pwhash, sizeof r->pwhash);
	free(r);
	if (c) {
		if (!c->closing && !c->in_process)
			process_input(c);
		conn_unref(c);
	}
}

/* One complete frame: decode and hand it to the gate. */
static void handle_frame(struct admin_conn *c, uint8_t *body, size_t len)
{
	struct admin_req *r = xmalloc(sizeof *r);
	admin_resp_init(&r->resp);
	r->conn = c;
	r->peer_uid = c->uid;
	c->refs++;
	c->busy = true;
	uv_timer_stop(&c->timer);
	int rv = admin_req_decode(body, len, &r->req);
	mr_memzero(body, len); /* may hold a password */
	free(body);
	if (rv != 0) {
		log_warn("admin", "malformed request uid=%u", (unsigned)c->uid);
		c->close_after_write = true;
		admin_resp_error(&r->resp, MR__CTL_CODE__CTL_EINVAL, "malformed request");
		admin__reply(r);
		return;
	}
	admin__dispatch(r);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct admin_conn *c = h->data;
	*b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

/* Feed pending bytes to the frame reader; dispatch a frame or read more. */
static void process_input(struct admin_conn *c)
{
	c->in_process = true;
	while (!c->busy && !c->closing && !c->close_after_write) {
		size_t used = 0;
		int rv = admin_rd_push(&c->rd, c->pending.p, c->pending.len, &used);
		buf_consume(&c->pending, used);
		if (rv < 0) {
			log_warn("admin", "oversized frame uid=%u", (unsigned)c->uid);
			c->in_process = false;
			conn_close(c);
			return;
		}
		if (rv == 0)
			break;
		size_t len;
		uint8_t *body = admin_rd_take(&c->rd, &len);
		handle_frame(c, body, len);
	}
	c->in_process = false;
	if (c->closing)
		return;
	if (c->close_after_write) { /* after a protocol error: answer, then hang up */
		uv_read_stop((uv_stream_t *)&c->pipe);
		return;
	}
	if (c->busy)
		uv_read_stop((uv_stream_t *)&c->pipe);
	else
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct admin_conn *c = s->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	uv_timer_start(&c->timer, on_idle, ADMIN_IDLE_MS, 0);
	if (buf_append(&c->pending, b->base, (size_t)nread) != 0) {
		conn_close(c);
		return;
	}
	mr_memzero(b->base, (size_t)nread);
	c->refs++; /* process_input may dispatch and reply synchronously */
	process_input(c);
	conn_unref(c);
}

/* SO_PEERCRED: the uid of the process that connected (Linux). */
static int peer_uid(uv_pipe_t *p, uid_t *uid_r)
{
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)p, &fd) != 0)
		return MR_EIO;
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
		return MR_EIO;
	*uid_r = cred.uid;
	return 0;
}

static void refuse(struct admin_conn *c, const char *why)
{
	Mr__CtlResponse resp;
	admin_resp_init(&resp);
	admin_resp_error(&resp, MR__CTL_CODE__CTL_EPERM, "%s", why);
	c->close_after_write = true;
	conn_send(c, &resp);
	admin_resp_clear(&resp);
}

static void on_connection(uv_stream_t *server, int status)
{
	if (status < 0) {
		log_warn("admin", "accept failed: %s", uv_strerror(status));
		return;
	}
	uv_loop_t *loop = server->loop;
	struct admin_conn *c = xmalloc(sizeof *c);
	uv_pipe_init(loop, &c->pipe, 0);
	uv_timer_init(loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->refs = 2;
	admin.nconns++;
	c->next = admin.conns;
	if (c->next)
		c->next->prev = c;
	admin.conns = c;
	admin_rd_init(&c->rd, ADMIN_FRAME_MAX);
	buf_init(&c->pending, ADMIN_READ_CHUNK);
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		conn_close(c);
		return;
	}
	if (peer_uid(&c->pipe, &c->uid) != 0) {
		log_warn("admin", "refused connection: no peer credentials");
		conn_close(c);
		return;
	}
	if (c->uid != 0 && c->uid != geteuid()) {
		log_warn("admin", "refused connection uid=%u (only root or uid %u)",
		         (unsigned)c->uid, (unsigned)geteuid());
		refuse(c, "permission denied: only root or the daemon's user may administer");
		return;
	}
	if (admin.nconns > ADMIN_MAX_CONNS) {
		log_warn("admin", "refused connection uid=%u: too many admin connections",
		         (unsigned)c->uid);
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_idle, ADMIN_IDLE_MS, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* A socket file left by a previous run: remove it unless a live daemon answers on it. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : MR_EIO;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return MR_EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return MR_EIO;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	if (live) {
		snprintf(err, errlen, "%s: another daemon is listening there", path);
		return MR_EBUSY;
	}
	if (unlink(path) != 0) {
		snprintf(err, errlen, "%s: cannot remove stale socket: %s", path, strerror(errno));
		return MR_EIO;
	}
	return 0;
}

int admin_start(char *err, size_t errlen)
{
	struct node *n = node_get();
	const struct config *cfg = n->cfg;
	int w;
	if (cfg->admin_socket[0])
		w = snprintf(admin.path, sizeof admin.path, "%s", cfg->admin_socket);
	else
		w = snprintf(admin.path, sizeof admin.path, "%s/admin.sock", cfg->data_dir);
	if (w < 0 || (size_t)w >= sizeof admin.path) {
		snprintf(err, errlen, "admin socket path longer than %zu bytes",
		         sizeof admin.path - 1);
		return MR_ECONFIG;
	}
	int rv = clear_stale(admin.path, err, errlen);
	if (rv != 0) {
		if (rv == MR_EIO && !err[0])
			snprintf(err, errlen, "%s: %s", admin.path, strerror(errno));
		return rv;
	}
	uv_pipe_init(n->loop, &admin.server, 0);
	rv = uv_pipe_bind(&admin.server, admin.path);
	/* bound but not listening yet: nobody can connect before the mode is 0600 */
	if (rv == 0 && chmod(admin.path, 0600) != 0)
		rv = uv_translate_sys_error(errno);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&admin.server, 8, on_connection);
	if (rv != 0) {
		snprintf(err, errlen, "admin socket %s: %s", admin.path, uv_strerror(rv));
		uv_close((uv_handle_t *)&admin.server, NULL);
		unlink(admin.path);
		return MR_EIO;
	}
	admin.running = true;
	admin.start_ms = mr_now_ms();
	admin__drops_quiesce(false);
	log_info("admin", "listening path=%s", admin.path);
	return 0;
}

void admin_stop(void)
{
	if (!admin.running)
		return;
	admin.running = false;
	admin__drops_quiesce(true); /* the node closes the store next */
	for (struct admin_conn *c = admin.conns; c; c = c->next)
		conn_close(c); /* requests in flight keep their connection until they finish */
	uv_close((uv_handle_t *)&admin.server, NULL);
	unlink(admin.path);
}

/* ctl_client.c - one request/response exchange with the node over its unix socket:
 * connect, write the framed request, read with a deadline through the same bounded frame
 * reader the node uses, decode strictly. Connection failures map to sysexits: no socket or
 * nobody listening = 69 (daemon not running), EACCES/EPERM = 77. */
#include "ctl.h"
#include "common/err.h"
#include "node/admin/admin_wire.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Password hashing with the "interactive" Argon2id cost takes about a second per request on
 * a small machine; a busy node may queue a few. Two minutes means "stuck", not "slow". */
#define CTL_TIMEOUT_MS 120000

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one frame into *body_r. 0, or an exit status with err set. */
static int read_frame(int fd, uint8_t **body_r, size_t *len_r, char *err, size_t errlen)
{
	struct admin_rd rd;
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	int64_t deadline = now_ms() + CTL_TIMEOUT_MS;
	uint8_t chunk[16384];
	int status = CTL_EX_PROTOCOL;
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			snprintf(err, errlen, "no answer from the node within %d s",
			         CTL_TIMEOUT_MS / 1000);
			status = CTL_EX_UNAVAILABLE;
			break;
		}
		ssize_t n = recv(fd, chunk, sizeof chunk, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "the node closed the connection without answering");
			status = CTL_EX_UNAVAILABLE;
			break;
		}
		size_t used;
		int rv = admin_rd_push(&rd, chunk, (size_t)n, &used);
		if (rv < 0) {
			snprintf(err, errlen, "oversized response from the node");
			break;
		}
		if (rv == 1) {
			*body_r = admin_rd_take(&rd, len_r);
			admin_rd_free(&rd);
			return 0;
		}
	}
	admin_rd_free(&rd);
	return status;
}

int ctl_roundtrip(const char *path, const Mr__CtlRequest *req, Mr__CtlResponse **resp_r, char *err,
                  size_t errlen)
{
	*resp_r = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return CTL_EX_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return CTL_EX_SOFTWARE;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;
		close(fd);
		if (e == EACCES || e == EPERM) {
			snprintf(err, errlen,
			         "%s: permission denied (run as root or the daemon's user)", path);
			return CTL_EX_NOPERM;
		}
		snprintf(err, errlen, "cannot connect to %s: %s (is mailraftd running?)", path,
		         strerror(e));
		return CTL_EX_UNAVAILABLE;
	}
	struct buf out;
	buf_init(&out, 0);
	int status = 0;
	if (admin_wire_pack(&req->base, &out) != 0) {
		snprintf(err, errlen, "request too large");
		status = CTL_EX_DATAERR;
		goto done;
	}
	/* A node that refuses us answers at once and hangs up, possibly before our request is
	 * written: after a failed send, still read the answer it may have left. */
	int send_errno = write_all(fd, out.p, out.len) != 0 ? errno : 0;
	uint8_t *body = NULL;
	size_t len = 0;
	status = read_frame(fd, &body, &len, err, errlen);
	if (status != 0 && send_errno) {
		snprintf(err, errlen, "cannot send to %s: %s", path, strerror(send_errno));
		status = CTL_EX_UNAVAILABLE;
	}
	if (status == 0 && admin_resp_decode(body, len, resp_r) != 0) {
		snprintf(err, errlen, "malformed response from the node");
		status = CTL_EX_PROTOCOL;
	}
	free(body);
done:
	mr_memzero(out.p, out.len); /* the request may carry a password */
	buf_free(&out);
	close(fd);
	return status;
}

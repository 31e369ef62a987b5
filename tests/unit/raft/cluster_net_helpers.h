/* cluster_net_helpers.h - shared by the transport tests: node credentials from a fresh CA, a
 * free loopback port, and driving a uv loop until a condition holds under a deadline that
 * fails the test (no test can hang). Header-only (static functions) so each test_*.c stays
 * one executable. */
#ifndef MR_TEST_CLUSTER_NET_HELPERS_H
#define MR_TEST_CLUSTER_NET_HELPERS_H
#include "unit.h"
#include "raft/cluster_pki.h"
#include "raft/cluster_transport.h"
#include "common/err.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/* A CA in <tmp>/<name> and credentials for node id at 127.0.0.1. */
static inline void helper_creds(const char *ca_name, uint64_t id, struct cl_pki *pki)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/%s", unit_tmpdir(), ca_name);
	int rv = cl_pki_init_ca(dir);
	ASSERT(rv == 0 || rv == MR_EEXIST);
	ASSERT_OK(cl_pki_issue_pem(dir, id, "127.0.0.1", pki));
}

/* A loopback port nobody uses right now, below the kernel's ephemeral range (32768+ on
 * Linux) so that the source port of some outgoing connection cannot take it between this
 * probe and the listener's bind. */
static inline int helper_free_port(void)
{
	static unsigned seed;
	if (!seed)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
	for (int tries = 0; tries < 200; tries++) {
		seed = seed * 1103515245u + 12345u;
		int port = 20000 + (int)((seed >> 8) % 12000u);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ASSERT(fd >= 0);
		int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok)
			return port;
	}
	unit_fail(__FILE__, __LINE__, "no free port");
}

/* A listening TCP socket that never accepts: a TCP connect to it succeeds, TLS stalls. */
static inline int helper_stall_listener(int *port_r)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT(fd >= 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof sa));
	ASSERT_OK(listen(fd, 8));
	ASSERT_OK(getsockname(fd, (struct sockaddr *)&sa, &len));
	*port_r = ntohs(sa.sin_port);
	return fd;
}

static inline void helper_deadline_cb(uv_timer_t *t)
{
	unit_fail(__FILE__, __LINE__, "deadline passed: %s", (const char *)t->data);
}

/* Run loop until *flag is true, failing the test after ms milliseconds. */
static inline void helper_run_until(uv_loop_t *loop, const bool *flag, unsigned ms,
                                    const char *what)
{
	uv_timer_t deadline;
	uv_timer_init(loop, &deadline);
	deadline.data = (void *)what;
	uv_timer_start(&deadline, helper_deadline_cb, ms, 0);
	while (!*flag)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

static inline void helper_sleep_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Run loop for ms milliseconds (to observe that something does NOT happen). */
static inline void helper_run_for(uv_loop_t *loop, unsigned ms)
{
	bool done = false;
	uv_timer_t t;
	uv_timer_init(loop, &t);
	t.data = &done;
	uv_timer_start(&t, helper_sleep_cb, ms, 0);
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

#endif

/* test_dns_loop.c - node/dns/dns.h on a real libuv loop with a real libunbound context, against
 * a "silent" server: a UDP socket bound here on 127.0.0.1 (kernel-chosen port) that never
 * answers. Checked: option errors (forwarder addresses, trust-anchor file) at create; argument
 * errors at lookup; the per-query deadline (tempfail "timeout", in deadline order, not early);
 * dns_cancel (that callback never runs, the others do); destroy from inside a callback and
 * with queries pending (no further callback, the loop ends, no leak under ASan). Answers from a
 * real server are covered by tests/integration/test_dns.py (nsd). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "dns/dns.h"
#include "common/err.h"

static int silent_fd = -1;
static char silent_addr[64];

static void start_silent(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT(silent_fd >= 0);
	ASSERT_OK(bind(silent_fd, (struct sockaddr *)&sa, sizeof sa));
	ASSERT_OK(getsockname(silent_fd, (struct sockaddr *)&sa, &sl));
	snprintf(silent_addr, sizeof silent_addr, "127.0.0.1:%u", ntohs(sa.sin_port));
}

struct rec {
	int calls;
	enum dns_status status;
	char reason[64];
	uint64_t at; /* uv_now at the callback */
	int order;
	bool destroy; /* destroy the resolver from this callback */
};

static uv_loop_t loop;
static struct dns_resolver *res;
static int seq;

static void on_res(void *ud, const struct dns_result *r)
{
	struct rec *rc = ud;
	rc->calls++;
	rc->status = r->status;
	snprintf(rc->reason, sizeof rc->reason, "%s", r->reason);
	rc->at = uv_now(&loop);
	rc->order = ++seq;
	if (rc->destroy) {
		dns_resolver_destroy(res);
		res = NULL;
	}
}

static struct dns_resolver *make(unsigned timeout_ms)
{
	struct dns_options o = {.resolver = silent_addr, .timeout_ms = timeout_ms};
	char err[200];
	struct dns_resolver *r = NULL;
	ASSERT_OK(uv_loop_init(&loop));
	int rv = dns_resolver_create(&loop, &o, &r, err, sizeof err);
	if (rv != 0)
		unit_fail(__FILE__, __LINE__, "create: %s", err);
	return r;
}

static void finish(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	ASSERT_OK(uv_loop_close(&loop));
}

static void test_create_errors(void)
{
	static const char *const bad[] = {"dns.example", "1.2.3.4:0", "1.2.3.4:99999", "[::1",
	                                  "1.2.3.4:x",   "1.2.3.4:",  "[::1]x",        NULL};
	static const char *const good[] = {"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53", NULL};
	char err[200];
	struct dns_resolver *r;
	ASSERT_OK(uv_loop_init(&loop));
	for (int i = 0; bad[i]; i++) {
		struct dns_options o = {.resolver = bad[i]};
		ASSERT_ERR(dns_resolver_create(&loop, &o, &r, err, sizeof err), MR_ECONFIG);
		ASSERT(r == NULL);
		ASSERT(strstr(err, "bad DNS resolver address") != NULL);
	}
	for (int i = 0; good[i]; i++) {
		struct dns_options o = {.resolver = good[i]};
		ASSERT_OK(dns_resolver_create(&loop, &o, &r, err, sizeof err));
		dns_resolver_destroy(r);
	}
	struct dns_options o = {.resolver = "127.0.0.1", .trust_anchor = "/nonexistent/ta.key"};
	ASSERT_ERR(dns_resolver_create(&loop, &o, &r, err, sizeof err), MR_ECONFIG);
	ASSERT(strstr(err, "/nonexistent/ta.key") != NULL);
	/* the system resolver (resolv.conf) is accepted as well */
	struct dns_options sys = {0};
	ASSERT_OK(dns_resolver_create(&loop, &sys, &r, NULL, 0));
	dns_resolver_destroy(r);
	finish();
}

static void test_lookup_errors(void)
{
	start_silent();
	res = make(1000);
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	struct rec rc = {0};
	struct dns_query *q = (struct dns_query *)&rc;
	ASSERT_ERR(dns_lookup(res, DNS_T_A, "", on_res, &rc, &q), MR_EINVAL);
	ASSERT(q == NULL);
	ASSERT_ERR(dns_lookup(res, DNS_T_A, longname, on_res, &rc, NULL), MR_EINVAL);
	ASSERT_ERR(dns_lookup(res, (enum dns_type)99, "example.test", on_res, &rc, NULL),
	           MR_EINVAL);
	ASSERT_ERR(dns_lookup_ptr(res, "not-an-ip", on_res, &rc, NULL), MR_EINVAL);
	ASSERT_EQ_INT(dns_pending(res), 0);
	dns_resolver_destroy(res);
	finish();
	ASSERT_EQ_INT(rc.calls, 0);
}

static struct rec late;

static void start_late(uv_timer_t *t)
{
	ASSERT_OK(dns_lookup(res, DNS_T_MX, "late.example.test", on_res, &late, NULL));
	uv_close((uv_handle_t *)t, NULL);
}

static void test_timeout_order(void)
{
	start_silent();
	res = make(300);
	struct rec a = {0}, b = {0};
	uint64_t t0 = uv_now(&loop);
	ASSERT_OK(dns_lookup(res, DNS_T_A, "a.example.test", on_res, &a, NULL));
	ASSERT_OK(dns_lookup(res, DNS_T_TXT, "b.example.test", on_res, &b, NULL));
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, start_late, 100, 0);
	ASSERT_EQ_INT(dns_pending(res), 2);
	/* run until the three have timed out, then destroy */
	while (late.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ_INT(dns_pending(res), 0);
	dns_resolver_destroy(res);
	finish();
	ASSERT_EQ_INT(a.calls, 1);
	ASSERT_EQ_INT(b.calls, 1);
	ASSERT_EQ_INT(late.calls, 1);
	ASSERT_EQ_INT(a.status, DNS_TEMPFAIL);
	ASSERT_EQ_STR(a.reason, "timeout");
	ASSERT_EQ_INT(late.status, DNS_TEMPFAIL);
	ASSERT(a.at - t0 >= 300 && a.at - t0 < 2000);
	ASSERT(late.at - t0 >= 400);
	ASSERT(a.order < b.order && b.order < late.order);
}

static void test_cancel(void)
{
	start_silent();
	res = make(200);
	struct rec a = {0}, b = {0};
	struct dns_query *qa;
	ASSERT_OK(dns_lookup(res, DNS_T_A, "a.example.test", on_res, &a, &qa));
	ASSERT_OK(dns_lookup(res, DNS_T_AAAA, "b.example.test", on_res, &b, NULL));
	ASSERT(qa != NULL);
	dns_cancel(qa);
	ASSERT_EQ_INT(dns_pending(res), 1);
	while (b.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	dns_resolver_destroy(res);
	finish();
	ASSERT_EQ_INT(a.calls, 0);
	ASSERT_EQ_INT(b.calls, 1);
}

static void test_destroy_in_callback(void)
{
	start_silent();
	res = make(200);
	struct rec r[3] = {{.destroy = true}, {0}, {0}};
	for (int i = 0; i < 3; i++)
		ASSERT_OK(
		    dns_lookup(res, DNS_T_TLSA, "_25._tcp.mx.example.test", on_res, &r[i], NULL));
	finish(); /* the loop ends: the destroy closed every handle */
	ASSERT(res == NULL);
	ASSERT_EQ_INT(r[0].calls, 1);
	ASSERT_EQ_INT(r[1].calls, 0);
	ASSERT_EQ_INT(r[2].calls, 0);
}

static void test_destroy_pending(void)
{
	start_silent();
	res = make(60000);
	struct rec r[4] = {{0}};
	for (int i = 0; i < 4; i++)
		ASSERT_OK(dns_lookup(res, DNS_T_MX, "example.test", on_res, &r[i], NULL));
	uv_run(&loop, UV_RUN_NOWAIT);
	ASSERT_EQ_INT(dns_pending(res), 4);
	dns_resolver_destroy(res);
	uint64_t t0 = uv_hrtime();
	finish();
	ASSERT(uv_hrtime() - t0 < 1000000000u);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ_INT(r[i].calls, 0);
}

/* An idle resolver holds no reference on the loop; a pending query does, until it ends. */
static void test_idle_unref(void)
{
	start_silent();
	res = make(200);
	uint64_t t0 = uv_hrtime();
	ASSERT_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0); /* returns at once */
	ASSERT(uv_hrtime() - t0 < 100000000u);
	struct rec a = {0};
	ASSERT_OK(dns_lookup(res, DNS_T_A, "a.example.test", on_res, &a, NULL));
	ASSERT_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0); /* runs until the timeout */
	ASSERT_EQ_INT(a.calls, 1);
	ASSERT(uv_hrtime() - t0 >= 190000000u); /* loop time is in whole ms */
	dns_resolver_destroy(res);
	finish();
}

static const struct unit_test tests[] = {
    {"create_errors", test_create_errors},
    {"lookup_errors", test_lookup_errors},
    {"timeout_order", test_timeout_order},
    {"cancel", test_cancel},
    {"destroy_in_callback", test_destroy_in_callback},
    {"destroy_pending", test_destroy_pending},
    {"idle_unref", test_idle_unref},
    {0},
};
UNIT_MAIN(tests)

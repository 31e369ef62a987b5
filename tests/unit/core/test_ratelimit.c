/* test_ratelimit.c - the SMTP rate-limit table with an injected clock: limits per window and
 * the window reset, kinds and keys kept apart (keys case-insensitive), limit 0 = none, shared
 * answers raising a count only within its window, and a bounded table under key churn. */
#include "unit.h"
#include "core/ratelimit.h"

static uint64_t now_ms;
static uint64_t fake_clock(void)
{
	return now_ms;
}

static void test_window(void)
{
	now_ms = 1000000;
	struct ratelimit *rl = ratelimit_new(64, fake_clock);
	for (int i = 0; i < 3; i++)
		ASSERT(ratelimit_hit(rl, RL_MSG_IP, "192.0.2.1", 3, 60000));
	ASSERT(!ratelimit_hit(rl, RL_MSG_IP, "192.0.2.1", 3, 60000)); /* 4th refused */
	ASSERT(!ratelimit_hit(rl, RL_MSG_IP, "192.0.2.1", 3, 60000)); /* refusals not counted */
	ASSERT(ratelimit_hit(rl, RL_MSG_IP, "192.0.2.2", 3, 60000));  /* another key */
	ASSERT(ratelimit_hit(rl, RL_CONN_IP, "192.0.2.1", 3, 60000)); /* another kind */
	now_ms += 59999;
	ASSERT(!ratelimit_hit(rl, RL_MSG_IP, "192.0.2.1", 3, 60000));
	now_ms += 1; /* a new window */
	ASSERT(ratelimit_hit(rl, RL_MSG_IP, "192.0.2.1", 3, 60000));
	/* user names compare case-insensitively; limit 0 never refuses */
	for (int i = 0; i < 2; i++)
		ASSERT(ratelimit_hit(rl, RL_MSG_USER, i ? "Alice@Example.test" : "alice@example.test", 2,
		                     60000));
	ASSERT(!ratelimit_hit(rl, RL_MSG_USER, "ALICE@EXAMPLE.TEST", 2, 60000));
	for (int i = 0; i < 1000; i++)
		ASSERT(ratelimit_hit(rl, RL_MSG_DOMAIN, "example.test", 0, 60000));
	ratelimit_free(rl);
}

static void test_churn_bounded(void)
{
	now_ms = 5000000;
	struct ratelimit *rl = ratelimit_new(16, fake_clock);
	ASSERT(ratelimit_hit(rl, RL_MSG_IP, "victim", 1, 60000));
	ASSERT(!ratelimit_hit(rl, RL_MSG_IP, "victim", 1, 60000));
	/* many other keys: the table never grows; the victim's counter may be evicted, which can
	 * only reset it (never refuse a fresh key) */
	char key[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ASSERT(ratelimit_hit(rl, RL_MSG_IP, key, 1, 60000));
	}
	ratelimit_free(rl);
}

/* A shared answer (the count over all nodes) raises the local count of the same window only. */
static void test_apply(void)
{
	now_ms = 9000000;
	struct ratelimit *rl = ratelimit_new(64, fake_clock);
	uint64_t d = ratelimit_digest(rl, RL_MSG_USER, "bob");
	ASSERT(d != ratelimit_digest(rl, RL_MSG_IP, "bob"));
	ASSERT(ratelimit_hit(rl, RL_MSG_USER, "bob", 5, 60000)); /* window starts: count 1 */
	ratelimit_apply(rl, d, now_ms - 1, 5);                  /* another window: ignored */
	ASSERT(ratelimit_hit(rl, RL_MSG_USER, "bob", 5, 60000)); /* 2 */
	ratelimit_apply(rl, d, now_ms, 1);                      /* smaller: ignored */
	ratelimit_apply(rl, d, now_ms, 4);                      /* other nodes counted too */
	ASSERT(ratelimit_hit(rl, RL_MSG_USER, "bob", 5, 60000)); /* 5 */
	ASSERT(!ratelimit_hit(rl, RL_MSG_USER, "bob", 5, 60000));
	ratelimit_apply(rl, ratelimit_digest(rl, RL_MSG_USER, "nobody"), now_ms, 9); /* unknown */
	ASSERT(ratelimit_hit(rl, RL_MSG_USER, "nobody", 1, 60000));
	ratelimit_free(rl);
}

static const struct unit_test tests[] = {
    {"window", test_window},
    {"churn_bounded", test_churn_bounded},
    {"apply", test_apply},
    {NULL, NULL},
};

UNIT_MAIN(tests)

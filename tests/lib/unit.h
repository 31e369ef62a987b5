/* unit.h - the project's small unit-test harness (style.md §5). One executable per test file:
 *
 *   static void test_x(void) { ASSERT_EQ_INT(1 + 1, 2); }
 *   static const struct unit_test tests[] = {{"x", test_x}, {0}};
 *   UNIT_MAIN(tests)
 *
 * Every test runs in a forked child with a timeout so a crash is reported by name.
 * `-t NAME` runs only tests whose name contains NAME. Ends with "N passed, N failed". */
#ifndef MR_UNIT_H
#define MR_UNIT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

void unit_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
int unit_run(const struct unit_test *tests, int argc, char **argv);
/* A fresh empty temporary directory for this test (removed at exit of the child). */
const char *unit_tmpdir(void);

#define UNIT_MAIN(tests)                                                                           \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return unit_run(tests, argc, argv);                                                \
	}

#define ASSERT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			unit_fail(__FILE__, __LINE__, "assertion failed: %s", #c);                 \
	} while (0)
#define ASSERT_EQ_INT(a, b)                                                                        \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			unit_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);   \
	} while (0)
#define ASSERT_EQ_STR(a, b)                                                                        \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
			unit_fail(__FILE__, __LINE__, "%s == %s:\n  got  \"%s\"\n  want \"%s\"", #a,  \
				  #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
	} while (0)
#define ASSERT_EQ_MEM(p, n, q, m)                                                                  \
	do {                                                                                       \
		size_t n_ = (size_t)(n), m_ = (size_t)(m);                                         \
		if (n_ != m_ || memcmp((p), (q), n_) != 0)                                         \
			unit_fail(__FILE__, __LINE__, "%s (%zu bytes) != %s (%zu bytes)", #p, n_,  \
				  #q, m_);                                                         \
	} while (0)
#define ASSERT_OK(rc) ASSERT_EQ_INT((rc), 0)
#define ASSERT_ERR(rc, e) ASSERT_EQ_INT((rc), (e))

#endif

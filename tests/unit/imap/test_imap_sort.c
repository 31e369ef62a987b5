/* test_imap_sort.c - RFC 5256 pieces (imap_sort.c): sort-criteria parsing (commands fed to the
 * command parser byte at a time), the base-subject algorithm (§2.1), sent dates, first-address
 * mailboxes, message-id lists, SORT ordering with REVERSE and ties, and the exact thread-list
 * output of ORDEREDSUBJECT (§3.1) and REFERENCES (§3.2). */
#include "unit.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_sort.h"
#include "common/err.h"
#include "common/util.h"

static int sort_crit(const char *line, struct imap_sort_crit *c)
{
	static const struct imap_parser_limits lim = {65536, 65536, 16, 5000};
	struct imap_parser *p = imap_parser_new(&lim);
	size_t len = strlen(line), used;
	int rv = 0;
	for (size_t i = 0; i < len; i++)
		rv = imap_parser_push(p, (const uint8_t *)line + i, 1, &used);
	ASSERT_EQ_INT(rv, IMAP_PARSE_DONE);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	rv = imap_sort_parse(a, 0, c);
	imap_parser_free(&p);
	return rv;
}

static void test_sort_parse(void)
{
	struct imap_sort_crit c;
	/* RFC 5256 §4 example */
	ASSERT_OK(sort_crit("A282 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n", &c));
	ASSERT_EQ_INT(c.n, 2);
	ASSERT_EQ_INT(c.key[0], SORT_SUBJECT);
	ASSERT(!c.reverse[0]);
	ASSERT_EQ_INT(c.key[1], SORT_DATE);
	ASSERT(c.reverse[1]);
	ASSERT_OK(sort_crit("A SORT (arrival cc from size to) UTF-8 ALL\r\n", &c));
	ASSERT_EQ_INT(c.n, 5);
	static const char *const bad[] = {"A SORT () UTF-8 ALL\r\n",
	                                  "A SORT (REVERSE) UTF-8 ALL\r\n",
	                                  "A SORT (DATE REVERSE) UTF-8 ALL\r\n",
	                                  "A SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n",
	                                  "A SORT (BOGUS) UTF-8 ALL\r\n",
	                                  "A SORT DATE UTF-8 ALL\r\n",
	                                  "A SORT (\"DATE\") UTF-8 ALL\r\n"};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++)
		if (sort_crit(bad[i], &c) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
}

static void check_base(const char *in, const char *want, bool reply)
{
	struct buf b;
	buf_init(&b, 0);
	bool r = imap_base_subject(in, strlen(in), &b);
	buf_append(&b, "", 1);
	if (strcmp((const char *)b.p, want) != 0 || r != reply)
		unit_fail(__FILE__, __LINE__, "base(\"%s\") = \"%s\" reply=%d, want \"%s\" %d", in,
		          (const char *)b.p, r, want, reply);
	buf_free(&b);
}

static void test_base_subject(void)
{
	check_base("Hello", "hello", false);
	check_base("Re: Hello", "hello", true);
	check_base("RE: re:  Fwd: Hello", "hello", true);
	check_base("Re[2]: Hello", "hello", true);
	check_base("Fw: Hello (fwd)", "hello", true);
	check_base("[list] Re: Hello", "hello", true);
	check_base("[list] [other] Hello", "hello", false);
	check_base("[Fwd: Re: Hello]", "hello", true);
	check_base("  Hello \t  World  ", "hello world", false);
	check_base("[only-a-blob]", "[only-a-blob]", false);
	check_base("Re:", "", true);
	check_base("Reply to all", "reply to all", false);
	check_base("\xc3\x84rger", "\xc3\xa4rger", false); /* folded */
	check_base("", "", false);
}

static void test_header_values(void)
{
	int64_t t;
	ASSERT_OK(imap_parse_rfc5322_time("Tue, 1 Feb 1994 10:00:00 +0200", 30, &t));
	ASSERT_EQ_INT(t, imap_days_from_civil(1994, 2, 1) * 86400 + 8 * 3600);
	ASSERT_OK(imap_parse_rfc5322_time("1 Feb 1994 23:30 -0100", 22, &t));
	ASSERT_EQ_INT(t, imap_days_from_civil(1994, 2, 2) * 86400 + 30 * 60);
	ASSERT_ERR(imap_parse_rfc5322_time("1 Feb 1994", 10, &t), MR_EINVAL);
	ASSERT_ERR(imap_parse_rfc5322_time("1 Feb 1994 25:00 +0000", 22, &t), MR_EINVAL);
	struct buf b;
	buf_init(&b, 0);
	static const struct {
		const char *in, *want;
	} addrs[] = {
	    {"\"Smith, John\" <John.Smith@example.com>, b@x", "john.smith"},
	    {"Alice@Example.COM", "alice"},
	    {"bob@x, carol@y", "bob"},
	    {"undisclosed-recipients:;", "undisclosed-recipients:;"},
	    {"", ""},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(addrs); i++) {
		buf_reset(&b);
		imap_first_mailbox(addrs[i].in, strlen(addrs[i].in), &b);
		buf_append(&b, "", 1);
		ASSERT_EQ_STR((const char *)b.p, addrs[i].want);
	}
	buf_free(&b);
	char **ids;
	size_t n = imap_msgids("<a@b>\r\n <c@d> junk <> <e@f", 27, &ids, 10);
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_STR(ids[0], "a@b");
	ASSERT_EQ_STR(ids[1], "c@d");
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static struct imap_sort_msg mk(uint32_t seq, int64_t date, const char *subj, const char *id,
                               const char *refs)
{
	struct imap_sort_msg m = {0};
	m.seq = m.num = seq;
	m.arrival = 1000 - seq;
	m.date = date;
	m.size = seq * 10;
	struct buf b;
	buf_init(&b, 0);
	m.reply = imap_base_subject(subj, strlen(subj), &b);
	m.subject = xstrndup(b.p ? (const char *)b.p : "", b.len);
	buf_free(&b);
	m.from = xstrdup(seq % 2 ? "zed" : "amy");
	m.to = xstrdup("");
	m.cc = xstrdup("");
	m.msgid = id ? xstrdup(id) : NULL;
	m.nrefs = refs ? imap_msgids(refs, strlen(refs), &m.refs, 64) : 0;
	return m;
}

static void free_all(struct imap_sort_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		imap_sort_msg_free(&v[i]);
}

static void test_sort_order(void)
{
	struct imap_sort_msg v[4] = {mk(1, 50, "b", NULL, NULL), mk(2, 10, "a", NULL, NULL),
	                             mk(3, 50, "Re: a", NULL, NULL), mk(4, 30, "c", NULL, NULL)};
	struct imap_sort_crit c = {2, {SORT_SUBJECT, SORT_DATE}, {false, true}};
	imap_sort_msgs(v, 4, &c);
	ASSERT_EQ_INT(v[0].seq, 3); /* "a" group, newest first */
	ASSERT_EQ_INT(v[1].seq, 2);
	ASSERT_EQ_INT(v[2].seq, 1);
	ASSERT_EQ_INT(v[3].seq, 4);
	struct imap_sort_crit d = {1, {SORT_DATE}, {false}};
	imap_sort_msgs(v, 4, &d); /* ties (1 and 3 at 50) by sequence number */
	ASSERT(v[0].seq == 2 && v[1].seq == 4 && v[2].seq == 1 && v[3].seq == 3);
	struct imap_sort_crit f = {2, {SORT_FROM, SORT_ARRIVAL}, {true, false}};
	imap_sort_msgs(v, 4, &f); /* zed (1, 3) before amy (2, 4); arrival = 1000 - seq */
	ASSERT(v[0].seq == 3 && v[1].seq == 1 && v[2].seq == 4 && v[3].seq == 2);
	free_all(v, 4);
}

static void check_thread(struct imap_sort_msg *v, size_t n, bool refs, const char *want)
{
	struct buf b;
	buf_init(&b, 0);
	if (refs)
		imap_thread_references(v, n, &b);
	else
		imap_thread_orderedsubject(v, n, &b);
	buf_append(&b, "", 1);
	if (strcmp((const char *)b.p, want) != 0)
		unit_fail(__FILE__, __LINE__, "thread = %s, want %s", (const char *)b.p, want);
	buf_free(&b);
}

static void test_orderedsubject(void)
{
	struct imap_sort_msg v[] = {
	    mk(1, 100, "Hello", NULL, NULL),     mk(2, 50, "Other", NULL, NULL),
	    mk(3, 200, "Re: Hello", NULL, NULL), mk(4, 150, "Re: hello", NULL, NULL),
	    mk(5, 10, "Single", NULL, NULL),     mk(6, 60, "Re: Other", NULL, NULL),
	};
	/* groups by first date: Single(5) 10, Other(2) 50, Hello(1) 100; children by date */
	check_thread(v, 6, false, "(5)(2 6)(1 (4)(3))");
	free_all(v, 6);
}

static void test_references(void)
{
	/* 1 <- 2 <- 3, 1 <- 4; 5 refers to a missing parent shared with 6 (dummy root with two
	 * children); 7 is alone; 8 has the same base subject as 7 but is a reply -> child of 7 */
	struct imap_sort_msg v[] = {
	    mk(1, 10, "Topic", "m1@x", NULL),
	    mk(2, 20, "Re: Topic", "m2@x", "<m1@x>"),
	    mk(3, 30, "Re: Topic", "m3@x", "<m1@x> <m2@x>"),
	    mk(4, 25, "Re: Topic", "m4@x", "<m1@x>"),
	    mk(5, 40, "Lost", "m5@x", "<gone@x>"),
	    mk(6, 45, "Lost too", "m6@x", "<gone@x>"),
	    mk(7, 50, "Alone", "m7@x", NULL),
	    mk(8, 60, "Re: Alone", "m8@x", NULL),
	};
	check_thread(v, 8, true, "(1 (2 3)(4))((5)(6))(7 8)");
	free_all(v, 8);
	/* loops and duplicates are tolerated: 1 refs 2 and 2 refs 1; a duplicate Message-ID */
	struct imap_sort_msg w[] = {
	    mk(1, 10, "x", "a@x", "<b@x>"),
	    mk(2, 20, "y", "b@x", "<a@x>"),
	    mk(3, 30, "z", "a@x", NULL),
	    mk(4, 40, "", NULL, NULL),
	};
	check_thread(w, 4, true, "(2 1)(3)(4)");
	free_all(w, 4);
	check_thread(NULL, 0, true, "");
}

/* Random reference graphs (loops, duplicates, missing parents, shared subjects), threaded by
 * both algorithms: every message appears exactly once and the parentheses balance. */
static void test_references_random(void)
{
	uint32_t seed = 12345;
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 40;
		struct imap_sort_msg *v = xcalloc(n, sizeof *v);
		for (size_t i = 0; i < n; i++) {
			char id[16], refs[256] = "", subj[16];
			seed = seed * 1103515245u + 12345u;
			snprintf(id, sizeof id, "m%u@x", (unsigned)(seed >> 8) % 30);
			size_t nr = (seed >> 20) % 5, len = 0;
			for (size_t r = 0; r < nr; r++) {
				seed = seed * 1103515245u + 12345u;
				len += (size_t)snprintf(refs + len, sizeof refs - len, "<m%u@x> ",
				                        (unsigned)(seed >> 8) % 30);
			}
			snprintf(subj, sizeof subj, "%sS%u", (seed >> 4) & 1 ? "Re: " : "",
			         (unsigned)(seed >> 12) % 4);
			v[i] = mk((uint32_t)(i + 1), (int64_t)((seed >> 3) % 7), subj,
			          (seed >> 7) & 3 ? id : NULL, nr ? refs : NULL);
		}
		struct buf b;
		buf_init(&b, 0);
		if (round % 2)
			imap_thread_references(v, n, &b);
		else
			imap_thread_orderedsubject(v, n, &b);
		buf_append(&b, "", 1);
		unsigned *seen = xcalloc(n + 1, sizeof *seen);
		int depth = 0;
		for (const char *p = (const char *)b.p; *p;) {
			if (*p == '(') {
				depth++;
				p++;
			} else if (*p == ')') {
				ASSERT(--depth >= 0);
				p++;
			} else if (*p == ' ') {
				p++;
			} else {
				char *e;
				unsigned long k = strtoul(p, &e, 10);
				ASSERT(e != p && k >= 1 && k <= n);
				seen[k]++;
				p = e;
			}
		}
		ASSERT_EQ_INT(depth, 0);
		for (size_t i = 1; i <= n; i++)
			if (seen[i] != 1)
				unit_fail(__FILE__, __LINE__,
				          "round %d: message %zu seen %u times in %s", round, i,
				          seen[i], (const char *)b.p);
		free(seen);
		buf_free(&b);
		free_all(v, n);
		free(v);
	}
}

static const struct unit_test tests[] = {
    {"references_random", test_references_random},
    {"sort_parse", test_sort_parse},
    {"base_subject", test_base_subject},
    {"header_values", test_header_values},
    {"sort_order", test_sort_order},
    {"orderedsubject", test_orderedsubject},
    {"references", test_references},
    {0},
};
UNIT_MAIN(tests)

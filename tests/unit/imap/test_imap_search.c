/* test_imap_search.c - sequence sets (imap_seqset.c), SEARCH key parsing
 * (imap_search_parse.c) and evaluation of non-text keys, date helpers. */
#include "unit.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "imap/imap_search.h"
#include "common/err.h"
#include "common/util.h"

static void test_seqset_parse(void)
{
	struct imap_seqset s;
	ASSERT_OK(imap_seqset_parse("1:3,5,9:*", 9, &s));
	ASSERT_EQ_INT(s.n, 3);
	ASSERT(imap_seqset_contains(&s, 1, 20));
	ASSERT(imap_seqset_contains(&s, 3, 20));
	ASSERT(!imap_seqset_contains(&s, 4, 20));
	ASSERT(imap_seqset_contains(&s, 5, 20));
	ASSERT(!imap_seqset_contains(&s, 8, 20));
	ASSERT(imap_seqset_contains(&s, 20, 20));
	ASSERT(!imap_seqset_contains(&s, 21, 20));
	imap_seqset_free(&s);
	/* reversed range and n:* beyond the end (RFC 3501 §6.4.8) */
	ASSERT_OK(imap_seqset_parse("7:2,30:*", 8, &s));
	ASSERT(imap_seqset_contains(&s, 2, 10));
	ASSERT(imap_seqset_contains(&s, 7, 10));
	ASSERT(imap_seqset_contains(&s, 10, 10)); /* 30:* with * = 10 is 10:30 */
	ASSERT(!imap_seqset_contains(&s, 9, 10));
	imap_seqset_free(&s);
	ASSERT_OK(imap_seqset_parse("*", 1, &s));
	ASSERT(imap_seqset_contains(&s, 5, 5));
	ASSERT(!imap_seqset_contains(&s, 4, 5));
	imap_seqset_free(&s);
	ASSERT_OK(imap_seqset_parse("4294967294", 10, &s));
	imap_seqset_free(&s);
	/* RFC 3501 §9: nz-number includes 4294967295 (interimap: "UID FETCH 1:4294967295"); it
	 * is not '*': "1:4294967295" covers every UID whatever the largest one in use is */
	ASSERT_OK(imap_seqset_parse("1:4294967295", 12, &s));
	ASSERT(imap_seqset_contains(&s, 1, 5));
	ASSERT(imap_seqset_contains(&s, 5, 5));
	ASSERT(imap_seqset_contains(&s, 4294967294u, 5));
	imap_seqset_free(&s);
	ASSERT_OK(imap_seqset_parse("4294967295", 10, &s));
	ASSERT(!imap_seqset_contains(&s, 5, 5)); /* a number, not '*' */
	imap_seqset_free(&s);
}

static void test_seqset_malformed(void)
{
	static const char *bad[] = {"", "0", "1:0", ",", "1,", ",1", "1::2", "a", "1:2:3",
				    "01", "4294967296", "99999999999", "1 2", "*:", ":1", "-1"};
	struct imap_seqset s;
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++) {
		if (imap_seqset_parse(bad[i], strlen(bad[i]), &s) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
		ASSERT(!imap_seqset_valid(bad[i], strlen(bad[i])));
	}
	/* too many ranges */
	size_t n = IMAP_SEQSET_MAX_RANGES + 1;
	char *big = malloc(n * 2);
	for (size_t i = 0; i < n; i++) {
		big[2 * i] = '1';
		big[2 * i + 1] = ',';
	}
	ASSERT_ERR(imap_seqset_parse(big, n * 2 - 1, &s), MR_ETOOBIG);
	free(big);
}

static struct imap_parser *parse_cmd(const char *line)
{
	static const struct imap_parser_limits lim = {65536, 65536, 16, 5000};
	struct imap_parser *p = imap_parser_new(&lim);
	size_t used;
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)line, strlen(line), &used),
		      IMAP_PARSE_DONE);
	return p;
}

static int search(const char *line, struct imap_search_key **k)
{
	struct imap_parser *p = parse_cmd(line);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	const char *err = NULL;
	int rv = imap_search_parse(a, n, k, &err);
	imap_parser_free(&p);
	return rv;
}

static void test_search_parse(void)
{
	struct imap_search_key *k = NULL;
	ASSERT_OK(search("a SEARCH CHARSET UTF-8 FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
			 &k));
	ASSERT_EQ_INT(k->kind, SK_AND);
	struct imap_search_key *c = k->child;
	ASSERT_EQ_INT(c->kind, SK_FLAG);
	ASSERT_EQ_STR(c->str, "\\Flagged");
	ASSERT(!c->neg);
	c = c->next;
	ASSERT_EQ_INT(c->kind, SK_SINCE);
	ASSERT_EQ_INT(c->num, imap_days_from_civil(1994, 2, 1));
	c = c->next;
	ASSERT_EQ_INT(c->kind, SK_NOT);
	ASSERT_EQ_INT(c->child->kind, SK_HEADER);
	ASSERT_EQ_STR(c->child->str, "From");
	ASSERT_EQ_STR(c->child->str2, "Smith");
	ASSERT(c->next == NULL);
	ASSERT(imap_search_needs_text(k));
	imap_search_free(&k);
	ASSERT(k == NULL);

	ASSERT_OK(search("a SEARCH OR (UNSEEN LARGER 100) 2:4 UID 7:* HEADER X-Foo \"\"\r\n", &k));
	c = k->child;
	ASSERT_EQ_INT(c->kind, SK_OR);
	ASSERT_EQ_INT(c->child->kind, SK_AND);
	ASSERT_EQ_INT(c->child->child->kind, SK_FLAG);
	ASSERT(c->child->child->neg);
	ASSERT_EQ_INT(c->child->child->next->kind, SK_LARGER);
	ASSERT_EQ_INT(c->child->child->next->num, 100);
	ASSERT_EQ_INT(c->child->next->kind, SK_SEQSET);
	ASSERT_EQ_INT(c->next->kind, SK_UIDSET);
	ASSERT_EQ_INT(c->next->next->kind, SK_HEADER);
	ASSERT_EQ_STR(c->next->next->str, "X-Foo");
	imap_search_free(&k);

	ASSERT_OK(search("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 NOT MODSEQ 5\r\n", &k));
	ASSERT_EQ_INT(k->child->kind, SK_MODSEQ);
	ASSERT_EQ_INT(k->child->num, 620162338);
	ASSERT_EQ_INT(k->child->next->child->num, 5);
	ASSERT(imap_search_uses_modseq(k));
	imap_search_free(&k);

	ASSERT_OK(search("a SEARCH all\r\n", &k));
	ASSERT(!imap_search_uses_modseq(k));
	ASSERT(!imap_search_needs_text(k));
	imap_search_free(&k);
}

static void test_search_parse_errors(void)
{
	struct imap_search_key *k = NULL;
	ASSERT_ERR(search("a SEARCH CHARSET KOI8-R ALL\r\n", &k), MR_ENOTFOUND);
	static const char *bad[] = {
		"a SEARCH\r\n",
		"a SEARCH BOGUS\r\n",
		"a SEARCH FROM\r\n",
		"a SEARCH OR ALL\r\n",
		"a SEARCH NOT\r\n",
		"a SEARCH SINCE 32-Jan-2000\r\n",
		"a SEARCH SINCE 1-Foo-2000\r\n",
		"a SEARCH SINCE 1-Jan-20000\r\n",
		"a SEARCH LARGER x\r\n",
		"a SEARCH LARGER 99999999999\r\n",
		"a SEARCH UID 0\r\n",
		"a SEARCH 1:x\r\n",
		"a SEARCH ()\r\n",
		"a SEARCH HEADER Subject\r\n",
		"a SEARCH \"ALL\"\r\n",
		"a SEARCH KEYWORD (x)\r\n",
		"a SEARCH MODSEQ\r\n",
		"a SEARCH MODSEQ x\r\n",
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++) {
		if (search(bad[i], &k) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
	}
	/* NOT chains deeper than the bound are refused, not recursed without limit */
	char line[4096] = "a SEARCH";
	for (int i = 0; i < 200; i++)
		strcat(line, " NOT");
	strcat(line, " ALL\r\n");
	ASSERT_ERR(search(line, &k), MR_EINVAL);
}

static void test_search_eval(void)
{
	struct imap_search_key *k = NULL;
	struct imap_search_msg m = {.seq = 3, .uid = 30, .max_seq = 5, .max_uid = 50,
				    .flags = "\\Seen $Label1", .size = 500,
				    .internaldate = 760060800 /* 1994-02-01 */};
	ASSERT_OK(search("a SEARCH SEEN NOT FLAGGED KEYWORD $label1 ON 1-Feb-1994\r\n", &k));
	ASSERT(imap_search_match(k, &m));
	imap_search_free(&k);
	ASSERT_OK(search("a SEARCH BEFORE 1-Feb-1994\r\n", &k));
	ASSERT(!imap_search_match(k, &m));
	imap_search_free(&k);
	ASSERT_OK(search("a SEARCH SINCE 1-Feb-1994 SMALLER 501 LARGER 499\r\n", &k));
	ASSERT(imap_search_match(k, &m));
	imap_search_free(&k);
	ASSERT_OK(search("a SEARCH OR UNSEEN 4:*\r\n", &k));
	ASSERT(!imap_search_match(k, &m));
	m.seq = 5;
	ASSERT(imap_search_match(k, &m));
	imap_search_free(&k);
	ASSERT_OK(search("a SEARCH UID 1:30 NEW\r\n", &k));
	ASSERT(!imap_search_match(k, &m));
	imap_search_free(&k);
	ASSERT_OK(search("a SEARCH UID 1:30 OLD\r\n", &k));
	ASSERT(imap_search_match(k, &m));
	imap_search_free(&k);
	m.modseq = 10;
	ASSERT_OK(search("a SEARCH MODSEQ 10\r\n", &k));
	ASSERT(imap_search_match(k, &m));
	imap_search_free(&k);
	ASSERT_OK(search("a SEARCH MODSEQ 11\r\n", &k));
	ASSERT(!imap_search_match(k, &m));
	imap_search_free(&k);
	imap_search_msg_done(&m);
}

static void test_dates(void)
{
	int64_t d;
	ASSERT_EQ_INT(imap_days_from_civil(1970, 1, 1), 0);
	ASSERT_EQ_INT(imap_days_from_civil(2000, 3, 1), 11017);
	ASSERT_OK(imap_parse_date("01-jan-1970", 11, &d));
	ASSERT_EQ_INT(d, 0);
	ASSERT_OK(imap_parse_rfc5322_day("Tue, 1 Feb 1994 10:00:00 +0000", 30, &d));
	ASSERT_EQ_INT(d, imap_days_from_civil(1994, 2, 1));
	ASSERT_OK(imap_parse_rfc5322_day("3 Mar 99 1:00 GMT", 17, &d));
	ASSERT_EQ_INT(d, imap_days_from_civil(1999, 3, 3));
	ASSERT_ERR(imap_parse_rfc5322_day("garbage", 7, &d), MR_EINVAL);
	ASSERT(imap_flags_has("\\Seen \\Flagged", "\\flagged"));
	ASSERT(!imap_flags_has("\\Seen \\Flaggedx", "\\Flagged"));
	ASSERT(imap_memcasemem((const uint8_t *)"Hello World", 11, "o wor", 5));
	ASSERT(!imap_memcasemem((const uint8_t *)"Hello", 5, "hello!", 6));
}

static const struct unit_test tests[] = {
	{"seqset_parse", test_seqset_parse},
	{"seqset_malformed", test_seqset_malformed},
	{"search_parse", test_search_parse},
	{"search_parse_errors", test_search_parse_errors},
	{"search_eval", test_search_eval},
	{"dates", test_dates},
	{0},
};
UNIT_MAIN(tests)

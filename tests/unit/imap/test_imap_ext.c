/* test_imap_ext.c - codecs of the IMAP extensions: ESEARCH / SEARCHRES search-return options
 * and "$" (imap_search_parse.c, RFC 4731, RFC 5182), saved-result evaluation, sequence-set
 * building and formatting (imap_seqset.c), LIST-EXTENDED / LIST-STATUS arguments, STATUS items
 * and CREATE USE parameters (imap_list_parse.c, RFC 5258, RFC 5819, RFC 6154, RFC 8438, RFC
 * 7889, RFC 8474). Commands are fed to the command parser one byte at a time, as a client
 * could send them, before the codec sees the arguments. */
#include "unit.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "imap/imap_search.h"
#include "imap/imap_list.h"
#include "imap/imap_fetch.h"
#include "imap/imap_mutf7.h"
#include "common/err.h"
#include "common/util.h"

/* Push line byte-at-a-time; the command must complete exactly on the last byte. */
static struct imap_parser *parse_bytewise(const char *line)
{
	static const struct imap_parser_limits lim = {65536, 65536, 16, 5000};
	struct imap_parser *p = imap_parser_new(&lim);
	size_t len = strlen(line), used;
	for (size_t i = 0; i < len; i++) {
		int rv = imap_parser_push(p, (const uint8_t *)line + i, 1, &used);
		ASSERT_EQ_INT(used, 1);
		if (i + 1 < len)
			ASSERT_EQ_INT(rv, 0);
		else
			ASSERT_EQ_INT(rv, IMAP_PARSE_DONE);
	}
	return p;
}

static int search_ex(const char *line, struct imap_search_opts *o, struct imap_search_key **k)
{
	struct imap_parser *p = parse_bytewise(line);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	const char *err = NULL;
	int rv = imap_search_parse_ex(a, n, o, k, &err);
	if (rv < 0)
		ASSERT(err != NULL);
	imap_parser_free(&p);
	return rv;
}

static void test_search_return(void)
{
	struct imap_search_opts o;
	struct imap_search_key *k = NULL;
	/* RFC 4731 §3.1 examples */
	ASSERT_OK(search_ex("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "
	                    "\"Smith\"\r\n",
	                    &o, &k));
	ASSERT(o.esearch);
	ASSERT_EQ_INT(o.ret, IMAP_SRET_MIN | IMAP_SRET_COUNT);
	ASSERT_EQ_INT(k->child->kind, SK_FLAG);
	ASSERT_EQ_INT(k->child->next->kind, SK_SINCE);
	imap_search_free(&k);
	ASSERT_OK(search_ex("A283 SEARCH RETURN () FLAGGED\r\n", &o, &k));
	ASSERT_EQ_INT(o.ret, IMAP_SRET_ALL); /* "RETURN ()" = ALL */
	imap_search_free(&k);
	/* RETURN before CHARSET (RFC 4731 §7 grammar) */
	ASSERT_OK(search_ex("A SEARCH RETURN (SAVE MAX) CHARSET UTF-8 (OR $ 1:3)\r\n", &o, &k));
	ASSERT_EQ_INT(o.ret, IMAP_SRET_SAVE | IMAP_SRET_MAX);
	ASSERT(o.uses_saved);
	ASSERT_EQ_INT(k->child->kind, SK_AND);
	ASSERT_EQ_INT(k->child->child->kind, SK_OR);
	ASSERT_EQ_INT(k->child->child->child->kind, SK_SAVED);
	ASSERT_EQ_INT(k->child->child->child->next->kind, SK_SEQSET);
	imap_search_free(&k);
	/* plain search: no ESEARCH; "UID $" is the saved set too */
	ASSERT_OK(search_ex("A SEARCH UID $ SAVEDSINCE 1-Jan-2020 EMAILID M1a-_\r\n", &o, &k));
	ASSERT(!o.esearch);
	ASSERT(o.uses_saved);
	ASSERT_EQ_INT(k->child->kind, SK_SAVED);
	ASSERT_EQ_INT(k->child->next->kind, SK_SAVEDSINCE);
	ASSERT_EQ_STR(k->child->next->next->str, "M1a-_");
	imap_search_free(&k);
	static const char *const bad[] = {
	    "A SEARCH RETURN (BOGUS) ALL\r\n",
	    "A SEARCH RETURN MIN ALL\r\n",
	    "A SEARCH RETURN\r\n",
	    "A SEARCH RETURN (MIN)\r\n",
	    "A SEARCH RETURN ((MIN)) ALL\r\n",
	    "A SEARCH EMAILID \"a b\"\r\n",
	    "A SEARCH EMAILID \"\"\r\n",
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++) {
		if (search_ex(bad[i], &o, &k) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
		ASSERT(k == NULL);
	}
}

static void test_saved_eval(void)
{
	struct imap_search_opts o;
	struct imap_search_key *k = NULL;
	ASSERT_OK(search_ex("A SEARCH NOT $\r\n", &o, &k));
	uint32_t uids[] = {3, 4, 5, 9};
	struct imap_seqset saved;
	imap_seqset_from_sorted(uids, 4, &saved);
	struct imap_search_msg m = {.seq = 1, .uid = 4, .max_seq = 10, .max_uid = 10, .flags = ""};
	ASSERT(imap_search_match(k, &m)); /* no saved set given: "$" empty, NOT $ matches */
	m.saved = &saved;
	ASSERT(!imap_search_match(k, &m));
	m.uid = 6;
	ASSERT(imap_search_match(k, &m));
	m.saved = NULL;
	ASSERT(imap_search_match(k, &m));
	imap_search_free(&k);
	ASSERT_OK(search_ex("A SEARCH SAVEDON 2-Jan-1970\r\n", &o, &k));
	m.savedate = 86400 + 5;
	ASSERT(imap_search_match(k, &m));
	m.savedate = 86399;
	ASSERT(!imap_search_match(k, &m));
	imap_search_free(&k);
	imap_seqset_free(&saved);
}

static void test_seqset_build(void)
{
	struct imap_seqset s;
	struct buf b;
	buf_init(&b, 0);
	uint32_t v[] = {1, 2, 3, 5, 7, 8, 8, 10, 4294967295u};
	imap_seqset_from_sorted(v, MR_ARRAY_LEN(v), &s);
	imap_seqset_format(&s, &b);
	buf_append(&b, "", 1);
	/* 4294967295 is IMAP_SEQ_STAR in a parsed set but never a real number here */
	ASSERT_EQ_STR((const char *)b.p, "1:3,5,7:8,10,*");
	ASSERT(imap_seqset_contains(&s, 8, 0));
	ASSERT(!imap_seqset_contains(&s, 9, 0));
	imap_seqset_free(&s);
	buf_reset(&b);
	imap_seqset_from_sorted(v, 0, &s);
	ASSERT_EQ_INT(s.n, 0);
	imap_seqset_format(&s, &b);
	ASSERT_EQ_INT(b.len, 0);
	ASSERT(!imap_seqset_contains(&s, 1, 1));
	struct imap_seqset c;
	imap_seqset_copy(&c, &s);
	ASSERT_EQ_INT(c.n, 0);
	imap_seqset_free(&s);
	/* round trip through the parser */
	ASSERT_OK(imap_seqset_parse("2:4,6,9:*", 9, &s));
	imap_seqset_copy(&c, &s);
	imap_seqset_format(&c, &b);
	buf_append(&b, "", 1);
	ASSERT_EQ_STR((const char *)b.p, "2:4,6,9:*");
	imap_seqset_free(&s);
	imap_seqset_free(&c);
	buf_free(&b);
}

static int list_parse(const char *line, struct imap_list_opts *o)
{
	struct imap_parser *p = parse_bytewise(line);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	const char *err = NULL;
	int rv = imap_list_parse(a, n, o, &err);
	if (rv < 0)
		ASSERT(err != NULL);
	imap_parser_free(&p);
	return rv;
}

static void test_list_parse(void)
{
	struct imap_list_opts o;
	ASSERT_OK(list_parse("A LIST \"\" %\r\n", &o));
	ASSERT(!o.extended);
	ASSERT_EQ_INT(o.npat, 1);
	ASSERT_EQ_STR(o.pat[0], "%");
	imap_list_opts_free(&o);
	/* RFC 5258 §5 examples */
	ASSERT_OK(list_parse("A02 LIST (SUBSCRIBED) \"\" \"*\"\r\n", &o));
	ASSERT(o.extended);
	ASSERT_EQ_INT(o.sel, IMAP_LSEL_SUBSCRIBED);
	imap_list_opts_free(&o);
	ASSERT_OK(list_parse("A03 LIST () \"\" (\"%\" \"Foo/*\") RETURN (CHILDREN)\r\n", &o));
	ASSERT_EQ_INT(o.sel, 0);
	ASSERT_EQ_INT(o.ret, IMAP_LRET_CHILDREN);
	ASSERT_EQ_INT(o.npat, 2);
	ASSERT_EQ_STR(o.pat[1], "Foo/*");
	imap_list_opts_free(&o);
	ASSERT_OK(list_parse("A04 LIST (REMOTE SUBSCRIBED RECURSIVEMATCH) Foo/ %\r\n", &o));
	ASSERT_EQ_INT(o.sel, IMAP_LSEL_REMOTE | IMAP_LSEL_SUBSCRIBED | IMAP_LSEL_RECURSIVEMATCH);
	ASSERT_EQ_STR(o.pat[0], "Foo/%"); /* reference prefixed */
	imap_list_opts_free(&o);
	/* RFC 5819 §3 */
	ASSERT_OK(list_parse(
	    "A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN SIZE) SUBSCRIBED)\r\n", &o));
	ASSERT_EQ_INT(o.ret, IMAP_LRET_STATUS | IMAP_LRET_SUBSCRIBED);
	ASSERT_EQ_INT(o.status, IMAP_ST_MESSAGES | IMAP_ST_UNSEEN | IMAP_ST_SIZE);
	imap_list_opts_free(&o);
	/* RFC 6154 §5.1 */
	ASSERT_OK(list_parse("t1 LIST (SPECIAL-USE) \"\" \"*\"\r\n", &o));
	ASSERT_EQ_INT(o.sel, IMAP_LSEL_SPECIALUSE);
	imap_list_opts_free(&o);
	ASSERT_OK(list_parse("t1 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n", &o));
	ASSERT_EQ_INT(o.ret, IMAP_LRET_SPECIALUSE);
	imap_list_opts_free(&o);
	static const char *const bad[] = {
	    "A LIST (RECURSIVEMATCH) \"\" %\r\n",
	    "A LIST (REMOTE RECURSIVEMATCH) \"\" %\r\n",
	    "A LIST (BOGUS) \"\" %\r\n",
	    "A LIST \"\"\r\n",
	    "A LIST \"\" () \r\n",
	    "A LIST \"\" % RETURN\r\n",
	    "A LIST \"\" % RETURN (STATUS)\r\n",
	    "A LIST \"\" % RETURN (STATUS ())\r\n",
	    "A LIST \"\" % RETURN (STATUS (BOGUS))\r\n",
	    "A LIST \"\" % RETURN (BOGUS)\r\n",
	    "A LIST \"\" % EXTRA\r\n",
	    "A LIST \"\" % RETURN () EXTRA\r\n",
	    "A LIST \"\" (% (x))\r\n",
	    "A LIST (\"SUBSCRIBED\") \"\" %\r\n",
	    "A LIST \"\" (a b c d e f g h i j k l m n o p q)\r\n", /* > 16 patterns */
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++) {
		if (list_parse(bad[i], &o) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
		imap_list_opts_free(&o);
	}
}

static int status_items(const char *line, unsigned *items)
{
	struct imap_parser *p = parse_bytewise(line);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	int rv = n >= 2 ? imap_status_items_parse(a, 1, items) : MR_EINVAL;
	imap_parser_free(&p);
	return rv;
}

static void test_status_items(void)
{
	unsigned it;
	ASSERT_OK(status_items("A STATUS blurdybloop (UIDNEXT MESSAGES)\r\n", &it));
	ASSERT_EQ_INT(it, IMAP_ST_UIDNEXT | IMAP_ST_MESSAGES);
	ASSERT_OK(status_items("A STATUS x (size appendlimit MAILBOXID HIGHESTMODSEQ)\r\n", &it));
	ASSERT_EQ_INT(it, IMAP_ST_SIZE | IMAP_ST_APPENDLIMIT | IMAP_ST_MAILBOXID |
	                      IMAP_ST_HIGHESTMODSEQ);
	ASSERT_ERR(status_items("A STATUS x ()\r\n", &it), MR_EINVAL);
	ASSERT_ERR(status_items("A STATUS x MESSAGES\r\n", &it), MR_EINVAL);
	ASSERT_ERR(status_items("A STATUS x (MESSAGES BOGUS)\r\n", &it), MR_EINVAL);
	ASSERT_ERR(status_items("A STATUS x (\"MESSAGES\")\r\n", &it), MR_EINVAL);
}

static int create_use(const char *line, const char **use)
{
	struct imap_parser *p = parse_bytewise(line);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	int rv = n >= 2 ? imap_create_params_parse(a, 1, use) : MR_EINVAL;
	imap_parser_free(&p);
	return rv;
}

static void test_create_use(void)
{
	const char *use;
	/* RFC 6154 §5.2 */
	ASSERT_OK(create_use("t1 CREATE \"Important Messages\" (USE (\\Important))\r\n", &use) ==
	                  MR_EPERM
	              ? 0
	              : -1);
	ASSERT_OK(create_use("t1 CREATE MySpecialArchive (USE (\\archive))\r\n", &use));
	ASSERT_EQ_STR(use, "\\Archive");
	ASSERT_OK(create_use("t1 CREATE x (USE ())\r\n", &use));
	ASSERT(use == NULL);
	ASSERT_ERR(create_use("t1 CREATE x (USE (\\Sent \\Trash))\r\n", &use), MR_EPERM);
	ASSERT_ERR(create_use("t1 CREATE x (FOO)\r\n", &use), MR_EPERM);
	ASSERT_ERR(create_use("t1 CREATE x (USE)\r\n", &use), MR_EINVAL);
	ASSERT_ERR(create_use("t1 CREATE x (USE \\Sent)\r\n", &use), MR_EINVAL);
	ASSERT_ERR(create_use("t1 CREATE x (USE (\"\\\\Sent\"))\r\n", &use), MR_EINVAL);
	ASSERT_ERR(create_use("t1 CREATE x USE\r\n", &use), MR_EINVAL);
	ASSERT_EQ_STR(imap_special_use_name("\\JUNK", 5), "\\Junk");
	ASSERT(imap_special_use_name("\\Junkx", 6) == NULL);
}

static int fetch_items(const char *line, struct imap_fetch *f)
{
	struct imap_parser *p = parse_bytewise(line);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	const char *err = NULL;
	int rv = n >= 2 ? imap_fetch_parse(a, 1, false, f, &err) : MR_EINVAL;
	imap_parser_free(&p);
	return rv;
}

static void test_fetch_ext_items(void)
{
	struct imap_fetch f;
	/* RFC 3516 §4.2 / §4.3, RFC 8514 §3, RFC 8474 §5 */
	ASSERT_OK(fetch_items("A FETCH 1 (BINARY[1.2]<0.100> BINARY.SIZE[3] BINARY.PEEK[] SAVEDATE "
	                      "EMAILID THREADID)\r\n",
	                      &f));
	ASSERT_EQ_INT(f.n, 6);
	ASSERT_EQ_INT(f.items[0].kind, FI_BINARY);
	ASSERT_EQ_STR(f.items[0].path, "1.2");
	ASSERT(f.items[0].partial && f.items[0].origin == 0 && f.items[0].count == 100);
	ASSERT_EQ_STR(f.items[0].label, "BINARY[1.2]<0>");
	ASSERT(!f.items[0].peek);
	ASSERT(f.sets_seen);
	ASSERT_EQ_INT(f.items[1].kind, FI_BINARY_SIZE);
	ASSERT_EQ_STR(f.items[1].label, "BINARY.SIZE[3]");
	ASSERT_EQ_INT(f.items[2].kind, FI_BINARY);
	ASSERT(f.items[2].peek);
	ASSERT_EQ_STR(f.items[2].label, "BINARY[]");
	ASSERT_EQ_INT(f.items[3].kind, FI_SAVEDATE);
	ASSERT_EQ_INT(f.items[4].kind, FI_EMAILID);
	ASSERT_EQ_INT(f.items[5].kind, FI_THREADID);
	ASSERT(f.needs_raw);
	imap_fetch_free(&f);
	ASSERT_OK(fetch_items("A FETCH 1 BINARY.PEEK[2]\r\n", &f));
	ASSERT(!f.sets_seen);
	imap_fetch_free(&f);
	static const char *const bad[] = {
	    "A FETCH 1 BINARY[1.HEADER]\r\n",    "A FETCH 1 BINARY[TEXT]\r\n",
	    "A FETCH 1 BINARY.SIZE[1]<0.5>\r\n", "A FETCH 1 BINARY[1]]\r\n",
	    "A FETCH 1 BINARY[0]\r\n",           "A FETCH 1 BINARY[1]<5>\r\n",
	    "A FETCH 1 BINARY.FOO[1]\r\n",       "A FETCH 1 BINARY\r\n",
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++)
		if (fetch_items(bad[i], &f) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
}

/* RFC 3516 §4.2 literal8, fed one byte at a time. */
static void test_literal8(void)
{
	static const struct imap_parser_limits lim = {65536, 65536, 16, 5000};
	struct imap_parser *p = imap_parser_new(&lim);
	static const char in[] = "A APPEND INBOX ~{3}\r\na\0b {2+}\r\nxy\r\n";
	size_t used, literals = 0;
	int rv = 0;
	for (size_t i = 0; i < sizeof in - 1; i++) {
		rv = imap_parser_push(p, (const uint8_t *)in + i, 1, &used);
		if (rv == IMAP_PARSE_LITERAL) {
			uint64_t size;
			bool sync;
			imap_parser_literal(p, &size, &sync);
			ASSERT_EQ_INT(size, literals == 0 ? 3 : 2);
			ASSERT(sync == (literals == 0));
			ASSERT_OK(imap_parser_literal_accept(p));
			literals++;
		} else if (i + 1 < sizeof in - 1) {
			ASSERT_EQ_INT(rv, 0);
		}
	}
	ASSERT_EQ_INT(rv, IMAP_PARSE_DONE);
	ASSERT_EQ_INT(literals, 2);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	ASSERT_EQ_INT(n, 3);
	ASSERT_EQ_INT(a[1].type, IMAP_ARG_LITERAL);
	ASSERT(a[1].binary);
	ASSERT_EQ_INT(a[1].len, 3);
	ASSERT(memcmp(a[1].str, "a\0b", 3) == 0);
	ASSERT(!imap_arg_is_astring(&a[1])); /* only APPEND takes a literal8 */
	ASSERT(!imap_arg_is_string(&a[1]));
	ASSERT(!a[2].binary);
	ASSERT(imap_arg_is_string(&a[2]));
	/* "~" must be followed by "{" */
	ASSERT_ERR(imap_parser_push(p, (const uint8_t *)"B X ~5\r\n", 9, &used), MR_EPROTO);
	imap_parser_free(&p);
}

static void test_search_fold(void)
{
	struct buf b;
	buf_init(&b, 0);
	/* "ÀÉÎÕÜ×Ÿ ĀĹŽ Straße ΣΑ" */
	static const char in[] = "\xc3\x80\xc3\x89\xc3\x8e\xc3\x95\xc3\x9c\xc3\x97\xc5\xb8 "
	                         "\xc4\x80\xc4\xb9\xc5\xbd Stra\xc3\x9f"
	                         "e \xce\xa3\xce\x91\xff";
	imap_search_fold((const uint8_t *)in, sizeof in - 1, &b);
	buf_append(&b, "", 1);
	ASSERT_EQ_STR((const char *)b.p, "\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc\xc3\x97\xc3\xbf "
	                                 "\xc4\x81\xc4\xba\xc5\xbe stra\xc3\x9f"
	                                 "e \xce\xa3\xce\x91\xff");
	buf_free(&b);

	/* decoded, charset-converted text and encoded-word headers, case-folded */
	static const char msg[] = "From: a@example.test\r\n"
	                          "Subject: =?ISO-8859-1?Q?J=F6rg_M=FCller?=\r\n"
	                          "MIME-Version: 1.0\r\n"
	                          "Content-Type: text/plain; charset=iso-8859-1\r\n"
	                          "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	                          "Un caf=E9 cr=E8me, s'il vous pla=EEt\r\n";
	struct imap_search_opts o;
	static const struct {
		const char *q;
		bool hit;
	} cases[] = {
	    {"A SEARCH BODY \"CAF\xc3\x89 CR\xc3\x88ME\"\r\n", true},
	    {"A SEARCH BODY caf=E9\r\n", false}, /* not the encoded form */
	    {"A SEARCH TEXT \"j\xc3\xb6rg\"\r\n", true},
	    {"A SEARCH SUBJECT \"M\xc3\x9cLLER\"\r\n", true},
	    {"A SEARCH SUBJECT \"=?ISO\"\r\n", false},
	    {"A SEARCH BODY \"PLA\xc3\x8eT\"\r\n", true},
	    {"A SEARCH BODY \"plait\"\r\n", false},
	};
	for (size_t i = 0; i < MR_ARRAY_LEN(cases); i++) {
		struct imap_search_key *k = NULL;
		ASSERT_OK(search_ex(cases[i].q, &o, &k));
		struct imap_search_msg m = {.seq = 1,
		                            .uid = 1,
		                            .max_seq = 1,
		                            .max_uid = 1,
		                            .flags = "",
		                            .raw = (const uint8_t *)msg,
		                            .rawlen = sizeof msg - 1};
		if (imap_search_match(k, &m) != cases[i].hit)
			unit_fail(__FILE__, __LINE__, "case %zu: %s", i, cases[i].q);
		imap_search_msg_done(&m);
		imap_search_free(&k);
	}
}

static void test_mutf7(void)
{
	static const struct {
		const char *m7, *u8;
	} ok[] = {
	    {"Entw&APw-rfe", "Entw\xc3\xbcrfe"},
	    /* RFC 3501 §5.1.3 example */
	    {"~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	     "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
	    {"&2D3eAA-x", "\xf0\x9f\x98\x80x"}, /* surrogate pair */
	    {"a&-b", "a&b"},
	    {"INBOX", "INBOX"},
	    {"", ""},
	};
	char out[256];
	for (size_t i = 0; i < MR_ARRAY_LEN(ok); i++) {
		ASSERT_OK(imap_mutf7_to_utf8(ok[i].m7, out, sizeof out));
		ASSERT_EQ_STR(out, ok[i].u8);
		ASSERT_OK(imap_utf8_to_mutf7(ok[i].u8, out, sizeof out));
		ASSERT_EQ_STR(out, ok[i].m7);
	}
	static const char *const bad7[] = {"&Jjo",  "&AGE-", "&U,B-", "a\x01",
	                                   "&2D0-", "&3gA-", "&*-",   "\xc3\xbc"};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad7); i++)
		if (imap_mutf7_to_utf8(bad7[i], out, sizeof out) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted modified UTF-7 %s", bad7[i]);
	static const char *const bad8[] = {"\xc3",         "\xc3\x28", "\xc0\xaf",
	                                   "\xed\xa0\x80", "a\tb",     "\xf8\x88\x80\x80\x80"};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad8); i++)
		if (imap_utf8_to_mutf7(bad8[i], out, sizeof out) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted UTF-8 case %zu", i);
	ASSERT_ERR(imap_utf8_to_mutf7("\xc3\xbc\xc3\xbc", out, 4), MR_ETOOBIG);
	ASSERT_ERR(imap_mutf7_to_utf8("abcdef", out, 4), MR_ETOOBIG);
}

static const struct unit_test tests[] = {
    {"mutf7", test_mutf7},
    {"search_fold", test_search_fold},
    {"fetch_ext_items", test_fetch_ext_items},
    {"literal8", test_literal8},
    {"search_return", test_search_return},
    {"saved_eval", test_saved_eval},
    {"seqset_build", test_seqset_build},
    {"list_parse", test_list_parse},
    {"status_items", test_status_items},
    {"create_use", test_create_use},
    {0},
};
UNIT_MAIN(tests)

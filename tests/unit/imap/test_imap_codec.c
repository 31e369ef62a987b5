/* test_imap_codec.c - the IMAP frontend's pure helpers: FETCH item parsing
 * (imap_fetch_parse.c), the HEADER.FIELDS filter, LIST wildcard matching, flag lists, string
 * quoting and date-time (imap_util.c). */
#include "unit.h"
#include "imap/imap_int.h"
#include "imap/imap_fetch.h"
#include "common/err.h"

static struct imap_parser *parse(const char *line)
{
	static const struct imap_parser_limits lim = {65536, 65536, 16, 5000};
	struct imap_parser *p = imap_parser_new(&lim);
	size_t used;
	ASSERT_EQ_INT(imap_parser_push(p, (const uint8_t *)line, strlen(line), &used),
		      IMAP_PARSE_DONE);
	return p;
}

static int fetch(const char *line, bool uid, struct imap_fetch *f)
{
	struct imap_parser *p = parse(line);
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	const char *err;
	int rv = imap_fetch_parse(a, 1, uid, f, &err);
	/* labels and fields are copies: the parser may go */
	imap_parser_free(&p);
	return rv;
}

static void test_fetch_items(void)
{
	struct imap_fetch f;
	ASSERT_OK(fetch("a FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> "
			"BODY[1.2.MIME] RFC822.SIZE)\r\n",
			true, &f));
	ASSERT_EQ_INT(f.n, 5);
	ASSERT_EQ_INT(f.items[0].kind, FI_UID);
	ASSERT_EQ_INT(f.items[1].kind, FI_FLAGS);
	const struct imap_fitem *it = &f.items[2];
	ASSERT_EQ_INT(it->kind, FI_SECTION);
	ASSERT(it->peek);
	ASSERT_EQ_STR(it->spec, "HEADER.FIELDS");
	ASSERT_EQ_INT(it->nfields, 2);
	ASSERT_EQ_STR(it->fields[0], "from");
	ASSERT_EQ_STR(it->fields[1], "to");
	ASSERT(it->partial);
	ASSERT_EQ_INT(it->origin, 0);
	ASSERT_EQ_INT(it->count, 100);
	ASSERT_EQ_STR(it->label, "BODY[HEADER.FIELDS (FROM TO)]<0>");
	it = &f.items[3];
	ASSERT(!it->peek);
	ASSERT_EQ_STR(it->path, "1.2");
	ASSERT_EQ_STR(it->spec, "MIME");
	ASSERT_EQ_STR(it->label, "BODY[1.2.MIME]");
	ASSERT(f.sets_seen);
	ASSERT(f.needs_raw);
	imap_fetch_free(&f);

	ASSERT_OK(fetch("a FETCH 1 FULL\r\n", false, &f));
	ASSERT_EQ_INT(f.n, 5); /* FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY */
	ASSERT_EQ_INT(f.items[4].kind, FI_BODY);
	ASSERT(!f.sets_seen);
	imap_fetch_free(&f);

	ASSERT_OK(fetch("a FETCH 1 FAST\r\n", false, &f));
	ASSERT_EQ_INT(f.n, 3);
	ASSERT(!f.needs_raw);
	imap_fetch_free(&f);

	ASSERT_OK(fetch("a FETCH 1 (RFC822 RFC822.HEADER BODY[] BODY[TEXT]<5.10>)\r\n", false,
			&f));
	ASSERT_EQ_STR(f.items[0].label, "RFC822");
	ASSERT_EQ_STR(f.items[1].spec, "HEADER");
	ASSERT(f.items[1].peek);
	ASSERT_EQ_STR(f.items[2].label, "BODY[]");
	ASSERT_EQ_STR(f.items[3].label, "BODY[TEXT]<5>");
	ASSERT(f.sets_seen);
	imap_fetch_free(&f);
}

static void test_fetch_modifiers(void)
{
	struct imap_parser *p = parse("a FETCH 1:* (FLAGS) (CHANGEDSINCE 42)\r\n");
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	struct imap_fetch f;
	const char *err;
	ASSERT_OK(imap_fetch_parse(a, 1, false, &f, &err));
	ASSERT_OK(imap_fetch_parse_modifiers(a, 3, &f));
	ASSERT(f.changedsince);
	ASSERT_EQ_INT(f.since, 42);
	ASSERT_EQ_INT(f.items[f.n - 1].kind, FI_MODSEQ);
	imap_fetch_free(&f);
	imap_parser_free(&p);
	static const char *bad[] = {"a FETCH 1 FLAGS (CHANGEDSINCE)\r\n",
				    "a FETCH 1 FLAGS (CHANGEDSINCE 0)\r\n",
				    "a FETCH 1 FLAGS (CHANGEDSINCE x)\r\n",
				    "a FETCH 1 FLAGS (VANISHED 5)\r\n",
				    "a FETCH 1 FLAGS (CHANGEDSINCE 5 X)\r\n"};
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++) {
		p = parse(bad[i]);
		a = imap_parser_args(p, &n);
		ASSERT_OK(imap_fetch_parse(a, 1, false, &f, &err));
		if (imap_fetch_parse_modifiers(a, 2, &f) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
		imap_fetch_free(&f);
		imap_parser_free(&p);
	}
}

static void test_fetch_items_bad(void)
{
	static const char *bad[] = {
		"a FETCH 1 BOGUS\r\n",
		"a FETCH 1 ()\r\n",
		"a FETCH 1 (FLAGS ALL)\r\n",
		"a FETCH 1 BODY[0]\r\n",
		"a FETCH 1 BODY[1.]\r\n",
		"a FETCH 1 BODY[MIME]\r\n",
		"a FETCH 1 BODY[HEADER.FIELDS]\r\n",
		"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
		"a FETCH 1 BODY[TEXT]<1.0>\r\n",
		"a FETCH 1 BODY[TEXT]<x.1>\r\n",
		"a FETCH 1 BODY[TEXT]junk\r\n",
		"a FETCH 1 BODY[1x]\r\n",
		"a FETCH 1 \"FLAGS\"\r\n",
	};
	struct imap_fetch f;
	for (size_t i = 0; i < MR_ARRAY_LEN(bad); i++)
		if (fetch(bad[i], false, &f) != MR_EINVAL)
			unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
}

static void test_header_filter(void)
{
	const char *h = "From: a@b\r\nTo: c@d,\r\n e@f\r\nSubject: hi\r\nX-Other: 1\r\n\r\n";
	char *f1[] = {"to", "subject"};
	struct buf out;
	buf_init(&out, 0);
	imap_fetch_filter_headers((const uint8_t *)h, strlen(h), f1, 2, false, &out);
	ASSERT_EQ_STR((const char *)out.p, "To: c@d,\r\n e@f\r\nSubject: hi\r\n\r\n");
	buf_reset(&out);
	imap_fetch_filter_headers((const uint8_t *)h, strlen(h), f1, 2, true, &out);
	ASSERT_EQ_STR((const char *)out.p, "From: a@b\r\nX-Other: 1\r\n\r\n");
	buf_free(&out);
}

static void test_list_match(void)
{
	ASSERT(imap__list_match("*", "a/b/c"));
	ASSERT(imap__list_match("%", "Sent"));
	ASSERT(!imap__list_match("%", "a/b"));
	ASSERT(imap__list_match("a/%", "a/b"));
	ASSERT(!imap__list_match("a/%", "a/b/c"));
	ASSERT(imap__list_match("a/*", "a/b/c"));
	ASSERT(imap__list_match("inbox", "INBOX"));
	ASSERT(imap__list_match("InBoX/%", "INBOX/x"));
	ASSERT(!imap__list_match("sent", "Sent"));
	ASSERT(imap__list_match("S*t", "Sent"));
	ASSERT(!imap__list_match("", "Sent"));
	/* pathological pattern stays polynomial */
	char pat[601];
	for (int i = 0; i < 600; i++)
		pat[i] = i % 2 ? '%' : '*';
	pat[600] = 0;
	char name[501];
	memset(name, 'a', 500);
	name[500] = 0;
	ASSERT(imap__list_match(pat, name));
}

static void test_flags(void)
{
	struct imap_parser *p = parse("a STORE 1 +FLAGS (\\seen \\FLAGGED foo \\Seen)\r\n");
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	struct buf b, out;
	buf_init(&b, 0);
	buf_init(&out, 0);
	ASSERT_OK(imap__flags_parse(a, 2, &b));
	ASSERT_EQ_STR((const char *)b.p, "\\Seen \\Flagged foo");
	imap__flags_apply("\\Seen bar", (const char *)b.p, '+', &out);
	ASSERT_EQ_STR((const char *)out.p, "\\Seen bar \\Flagged foo");
	imap__flags_apply("\\Seen bar \\Flagged", "\\Seen \\Flagged", '-', &out);
	ASSERT_EQ_STR((const char *)out.p, "bar");
	imap__flags_apply("\\Seen bar", "\\Draft", '=', &out);
	ASSERT_EQ_STR((const char *)out.p, "\\Draft");
	imap_parser_free(&p);
	p = parse("a STORE 1 FLAGS (\\Recent)\r\n");
	a = imap_parser_args(p, &n);
	ASSERT_ERR(imap__flags_parse(a, 2, &b), MR_EINVAL);
	imap_parser_free(&p);
	p = parse("a STORE 1 FLAGS (\"quoted\")\r\n");
	a = imap_parser_args(p, &n);
	ASSERT_ERR(imap__flags_parse(a, 2, &b), MR_EINVAL);
	imap_parser_free(&p);
	buf_free(&b);
	buf_free(&out);
}

static void test_strings_and_dates(void)
{
	struct buf b;
	buf_init(&b, 0);
	imap__put_string(&b, "a \"q\" \\", 7);
	ASSERT_EQ_STR((const char *)b.p, "\"a \\\"q\\\" \\\\\"");
	buf_reset(&b);
	imap__put_string(&b, "x\r\ny", 4);
	ASSERT_EQ_STR((const char *)b.p, "{4}\r\nx\r\ny");
	buf_reset(&b);
	imap__put_nstring(&b, NULL);
	ASSERT_EQ_STR((const char *)b.p, "NIL");
	buf_free(&b);

	int64_t t;
	ASSERT_OK(imap__datetime_parse("17-Jul-1996 02:44:25 -0700", 26, &t));
	ASSERT_EQ_INT(t, 837596665);
	ASSERT_OK(imap__datetime_parse(" 1-Jul-1996 02:44:25 +0000", 26, &t));
	char out[32];
	imap__datetime_format(837596665, out);
	ASSERT_EQ_STR(out, "17-Jul-1996 09:44:25 +0000");
	ASSERT_ERR(imap__datetime_parse("17-Jux-1996 02:44:25 -0700", 26, &t), MR_EINVAL);
	ASSERT_ERR(imap__datetime_parse("17-Jul-1996 25:44:25 -0700", 26, &t), MR_EINVAL);
	ASSERT_ERR(imap__datetime_parse("17-Jul-1996", 11, &t), MR_EINVAL);

	ASSERT(imap__mailbox_ok("Archive/2024", 12));
	ASSERT(!imap__mailbox_ok("", 0));
	ASSERT(!imap__mailbox_ok("a//b", 4));
	ASSERT(!imap__mailbox_ok("a*", 2));
	ASSERT(!imap__mailbox_ok("a\r", 2));
	char mb[] = "iNbOx";
	imap__mailbox_norm(mb);
	ASSERT_EQ_STR(mb, "INBOX");
}

static void test_snapshot(void)
{
	struct imap_snap sn = {0};
	for (uint32_t u = 10; u <= 50; u += 10)
		imap__snap_push(&sn, u, u * 2);
	ASSERT_EQ_INT(imap__snap_max_uid(&sn), 50);
	ASSERT_EQ_INT(imap__snap_find(&sn, 30), 2);
	ASSERT_EQ_INT(imap__snap_find(&sn, 31), SIZE_MAX);
	struct imap_seqset set;
	size_t *idx;
	ASSERT_OK(imap_seqset_parse("2,4:*", 5, &set));
	ASSERT_EQ_INT(imap__snap_select(&sn, &set, false, &idx), 3); /* seq 2, 4, 5 */
	ASSERT_EQ_INT(idx[0], 1);
	ASSERT_EQ_INT(idx[1], 3);
	ASSERT_EQ_INT(idx[2], 4);
	free(idx);
	imap_seqset_free(&set);
	ASSERT_OK(imap_seqset_parse("15:40,99:*", 10, &set));
	ASSERT_EQ_INT(imap__snap_select(&sn, &set, true, &idx), 4); /* uid 20 30 40 50 */
	ASSERT_EQ_INT(idx[0], 1);
	ASSERT_EQ_INT(idx[3], 4);
	free(idx);
	imap_seqset_free(&set);
	struct imap_snap cp;
	imap__snap_copy(&cp, &sn);
	ASSERT_EQ_INT(cp.n, 5);
	ASSERT_EQ_INT(cp.m[4].modseq, 100);
	imap__snap_free(&cp);
	imap__snap_free(&sn);
	ASSERT(sn.m == NULL && sn.n == 0);
}

static const struct unit_test tests[] = {
	{"snapshot", test_snapshot},
	{"fetch_items", test_fetch_items},
	{"fetch_items_bad", test_fetch_items_bad},
	{"fetch_modifiers", test_fetch_modifiers},
	{"header_filter", test_header_filter},
	{"list_match", test_list_match},
	{"flags", test_flags},
	{"strings_and_dates", test_strings_and_dates},
	{0},
};
UNIT_MAIN(tests)

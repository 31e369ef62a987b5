/* test_mime_decode.c - RFC 2047 encoded words, charsets, base64 / quoted-printable bodies,
 * RFC 2231 parameters, and ENVELOPE address lists (groups, comments, routes, quoting,
 * literals for 8-bit), all with exact expected output.
 */
#include "unit.h"
#include "mime/mime.h"
#include "common/err.h"

static char *words(const char *in)
{
	struct buf o;
	buf_init(&o, 4096);
	ASSERT_OK(mime_decode_words(in, strlen(in), &o));
	if (!o.p)
		return strdup("");
	return (char *)o.p;
}

#define CHECK_WORDS(in, want)                                                                      \
	do {                                                                                       \
		char *w_ = words(in);                                                              \
		ASSERT_EQ_STR(w_, want);                                                           \
		free(w_);                                                                          \
	} while (0)

static void test_encoded_words(void)
{
	CHECK_WORDS("=?utf-8?q?caf=C3=A9?= =?utf-8?b?IOKCrA==?= plain =?windows-1252?q?=80uro?=",
	            "café € plain €uro");
	CHECK_WORDS("=?iso-8859-1?Q?Andr=E9_X?=", "André X");
	CHECK_WORDS("=?ISO-8859-1?B?QW5kcuk=?=", "André");
	/* one character split across two words (and folded white space between them) */
	CHECK_WORDS("=?utf-8?q?=C3?=\r\n  =?UTF-8?Q?=A9t=C3=A9?=", "été");
	CHECK_WORDS("=?us-ascii?q?plain?=", "plain");
	CHECK_WORDS("=?utf-8*en?q?hi?=", "hi");              /* RFC 2231 §5 language */
	CHECK_WORDS("=?koi8-r?b?8tXT08vJyg==?=", "Русский"); /* through iconv */
	CHECK_WORDS("=?x-no-such-cs?q?abc?= z", "=?x-no-such-cs?q?abc?= z"); /* left as-is */
	CHECK_WORDS("=?utf-8?q?=FF?=", "\xef\xbf\xbd");                      /* invalid UTF-8 */
	/* not encoded words: left alone, including the spaces around them */
	CHECK_WORDS("=?utf-8?x?abc?= =?utf-8?q?a b?=", "=?utf-8?x?abc?= =?utf-8?q?a b?=");
	CHECK_WORDS("a =?utf-8?q?b?= c", "a b c");
	CHECK_WORDS("no words at all", "no words at all");
	CHECK_WORDS("=?", "=?");
	CHECK_WORDS("", "");
	/* bounded output */
	struct buf o;
	buf_init(&o, 3);
	ASSERT_ERR(mime_decode_words("=?utf-8?q?abcdef?=", 18, &o), MR_ETOOBIG);
	buf_free(&o);
}

static char *body(const char *msg, int *rc_r, size_t max)
{
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)msg, strlen(msg), &root);
	struct buf o;
	buf_init(&o, max);
	*rc_r = mime_decode_body((const uint8_t *)msg, root, &o);
	mime_parser_free(&p);
	if (!o.p)
		return strdup("");
	return (char *)o.p;
}

static void test_decode_body(void)
{
	int rc;
	char *b =
	    body("Content-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8g\r\nd29y bGQ=\r\n", &rc, 0);
	ASSERT_OK(rc);
	ASSERT_EQ_STR(b, "hello world");
	free(b);
	b = body("Content-Transfer-Encoding: Quoted-Printable\r\n\r\n"
	         "caf=C3=A9 soft=\r\nbreak  \r\n=3D=zz=\nend",
	         &rc, 0);
	ASSERT_OK(rc);
	ASSERT_EQ_STR(b, "café softbreak\r\n==zzend");
	free(b);
	b = body("Subject: x\r\n\r\nas is =41\r\n", &rc, 0);
	ASSERT_OK(rc);
	ASSERT_EQ_STR(b, "as is =41\r\n");
	free(b);
	b = body("Subject: x\r\n\r\n0123456789", &rc, 4);
	ASSERT_ERR(rc, MR_ETOOBIG);
	ASSERT_EQ_STR(b, "0123");
	free(b);
	b = body("Content-Transfer-Encoding: base64\r\n\r\nAAAAAAAAAAAAAAAA", &rc, 4);
	ASSERT_ERR(rc, MR_ETOOBIG);
	free(b);
}

static void test_params(void)
{
	struct buf o;
	buf_init(&o, 1000);
	const char *ct = "application/pdf;\r\n name*0*=utf-8''%C3%A9t;\r\n name*1*=%C3%A9;"
	                 " name*2=\".pdf\"; other=\"a \\\"q\\\" b\" ; junk ; x=1";
	ASSERT_EQ_INT(mime_param_decode(ct, strlen(ct), "NAME", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "été.pdf");
	buf_reset(&o);
	ASSERT_EQ_INT(mime_param_decode(ct, strlen(ct), "other", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "a \"q\" b");
	buf_reset(&o);
	ASSERT_EQ_INT(mime_param_decode(ct, strlen(ct), "x", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "1");
	ASSERT_EQ_INT(mime_param_decode(ct, strlen(ct), "missing", &o), 0);
	buf_reset(&o);
	const char *cd = "attachment; filename*=iso-8859-1'fr'caf%E9.pdf; filename=cafe.pdf";
	ASSERT_EQ_INT(mime_param_decode(cd, strlen(cd), "filename", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "café.pdf");
	buf_reset(&o);
	/* plain continuations (no charset) */
	const char *pc = "text/plain; title*0=\"a b\"; title*1=\" c\"";
	ASSERT_EQ_INT(mime_param_decode(pc, strlen(pc), "title", &o), 1);
	ASSERT_EQ_STR((char *)o.p, "a b c");
	buf_free(&o);

	/* BODYSTRUCTURE keeps the merged RFC 2231 form, as Dovecot does */
	const char *m = "Content-Type: text/plain; charset*=us-ascii'en'x; title*0=\"a b\";"
	                " title*1=\" c\"; name*0*=utf-8''%C3%A9; name*1=\"t x\"\r\n\r\nhi\r\n";
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)m, strlen(m), &root);
	buf_init(&o, 0);
	ASSERT_OK(mime_bodystructure((const uint8_t *)m, root, false, &o));
	ASSERT_EQ_STR((char *)o.p, "(\"text\" \"plain\" (\"charset*\" "
	                           "\"us-ascii'en'x\" \"title\" \"a b c\" \"name*\" "
	                           "\"utf-8''%C3%A9t%20x\") NIL NIL \"7bit\" 4 1)");
	buf_free(&o);
	mime_parser_free(&p);
}

static char *envelope(const char *hdr)
{
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)hdr, strlen(hdr), &root);
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(mime_envelope((const uint8_t *)hdr, root, &o));
	mime_parser_free(&p);
	return (char *)o.p;
}

#define CHECK_ENV(hdr, want)                                                                       \
	do {                                                                                       \
		char *e_ = envelope(hdr);                                                          \
		ASSERT_EQ_STR(e_, want);                                                           \
		free(e_);                                                                          \
	} while (0)

static void test_envelope_addresses(void)
{
	CHECK_ENV("From: \"Smith, John\" <john@example.com> (comment)\r\n"
	          "Sender: (only a comment)\r\n"
	          "To: Undisclosed recipients:;, team: a@example.com, B <b@example.com>;\r\n"
	          "Cc: root, <@relay1,@relay2:route@example.com>, c@example.com (Real C)\r\n"
	          "Bcc: John Q. Public <jqp@example.com>\r\n"
	          "Reply-To:\r\n"
	          "In-Reply-To: <x@y>\r\n"
	          "\r\n",
	          "(NIL NIL ((\"Smith, John\" NIL \"john\" \"example.com\")) "
	          "((\"Smith, John\" NIL \"john\" \"example.com\")) "
	          "((\"Smith, John\" NIL \"john\" \"example.com\")) "
	          "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)"
	          "(NIL NIL \"team\" NIL)(NIL NIL \"a\" \"example.com\")"
	          "(\"B\" NIL \"b\" \"example.com\")(NIL NIL NIL NIL)) "
	          "((NIL NIL \"root\" \"\")(NIL \"@relay1,@relay2\" \"route\" \"example.com\")"
	          "(\"Real C\" NIL \"c\" \"example.com\")) "
	          "((\"John Q. Public\" NIL \"jqp\" \"example.com\")) \"<x@y>\" NIL)");
	/* quoting: escapes in quoted strings, encoded words kept raw, 8-bit as literal */
	CHECK_ENV("From: \"A \\\"q\\\" \\\\ b\" <a@b.c>\r\n"
	          "To: =?utf-8?q?J=C3=B6rg?= <j@x.de>, \"odd local\"@x.de\r\n"
	          "Subject: Grüße\r\n"
	          "Message-ID:   <id@x>  \r\n"
	          "\r\n",
	          "(NIL {7}\r\nGrüße ((\"A \\\"q\\\" \\\\ b\" NIL \"a\" \"b.c\")) "
	          "((\"A \\\"q\\\" \\\\ b\" NIL \"a\" \"b.c\")) "
	          "((\"A \\\"q\\\" \\\\ b\" NIL \"a\" \"b.c\")) "
	          "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.de\")"
	          "(NIL NIL \"\\\"odd local\\\"\" \"x.de\")) NIL NIL NIL \"<id@x>\")");
	/* present but empty vs absent; unterminated group; folded header */
	CHECK_ENV("Subject:\r\nDate: Mon,\r\n 1 Jan 2024\r\nTo: grp: a@b\r\n\r\n",
	          "(\"Mon, 1 Jan 2024\" \"\" NIL NIL NIL ((NIL NIL \"grp\" NIL)"
	          "(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL)) NIL NIL NIL NIL)");
	/* junk in address lists degrades, never fails */
	CHECK_ENV("From: <<<>>> ,,, @@@ (unclosed\r\nTo: \"unclosed\r\n\r\n",
	          "(NIL NIL ((NIL NIL \"\" \"\")(\"unclosed\" NIL \"\" \"@@\")) "
	          "((NIL NIL \"\" \"\")(\"unclosed\" NIL \"\" \"@@\")) "
	          "((NIL NIL \"\" \"\")(\"unclosed\" NIL \"\" \"@@\")) "
	          "((NIL NIL \"unclosed\" \"\")) NIL NIL NIL NIL)");
	CHECK_ENV("", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

static void test_bodystructure_text_literal(void)
{
	/* 8-bit parameter values and CR/LF-free quoting in BODYSTRUCTURE */
	const char *m = "Content-Type: text/plain; name=\"Gr\xc3\xbc\xc3\x9f\"\r\n"
	                "Content-Disposition: inline\r\n"
	                "Content-Language: (comment) de , en-GB\r\n"
	                "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\nx";
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)m, strlen(m), &root);
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(mime_bodystructure((const uint8_t *)m, root, true, &o));
	ASSERT_EQ_STR((char *)o.p, "(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"name\" {6}\r\n"
	                           "Grüß) NIL NIL \"7bit\" 1 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
	                           "(\"inline\" NIL) (\"de\" \"en-GB\") NIL)");
	/* bounded output */
	struct buf small;
	buf_init(&small, 10);
	ASSERT_ERR(mime_bodystructure((const uint8_t *)m, root, true, &small), MR_ETOOBIG);
	ASSERT_ERR(mime_envelope((const uint8_t *)m, root, &small), MR_ETOOBIG);
	buf_free(&small);
	buf_free(&o);
	mime_parser_free(&p);
}

static char *text(const char *msg)
{
	struct mime_part *root;
	struct mime_parser *p = mime_parse((const uint8_t *)msg, strlen(msg), &root);
	struct buf o;
	buf_init(&o, 0);
	ASSERT_OK(mime_decode_text((const uint8_t *)msg, root, &o));
	mime_parser_free(&p);
	return o.p ? (char *)o.p : strdup("");
}

static void test_decode_text(void)
{
	char *t = text("Content-Type: text/plain; charset=ISO-8859-1\r\n"
	               "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =80\r\n");
	ASSERT_EQ_STR(t, "caf\xc3\xa9 \xc2\x80\r\n");
	free(t);
	t = text("Content-Type: text/plain; charset=\"windows-1252\"\r\n\r\n\x80\r\n");
	ASSERT_EQ_STR(t, "\xe2\x82\xac\r\n");
	free(t);
	t = text("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
	         "\r\nw6k=\r\n");
	ASSERT_EQ_STR(t, "\xc3\xa9");
	free(t);
	t = text("Subject: no charset\r\n\r\nok \xff\r\n");
	ASSERT_EQ_STR(t, "ok \xef\xbf\xbd\r\n");
	free(t);
	t = text("Content-Type: text/plain; charset=x-none\r\n\r\nraw \xff");
	ASSERT_EQ_STR(t, "raw \xff");
	free(t);
}

static const struct unit_test tests[] = {
    {"decode_text", test_decode_text},
    {"encoded_words", test_encoded_words},
    {"decode_body", test_decode_body},
    {"params", test_params},
    {"envelope_addresses", test_envelope_addresses},
    {"bodystructure_text_literal", test_bodystructure_text_literal},
    {0},
};

UNIT_MAIN(tests)

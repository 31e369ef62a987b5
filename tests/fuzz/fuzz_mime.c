/* fuzz_mime.c - libFuzzer target for the MIME parser and its IMAP renderings. Each input is
 * parsed in one push, byte at a time and in uneven chunks; the three trees must be identical
 * (abort otherwise), offsets must nest inside the input, and every part goes through
 * ENVELOPE, BODY, BODYSTRUCTURE, section lookup and body/word decoding. A second pass with
 * tiny limits exercises the MR_ETOOBIG paths. The corpus replays under ctest.
 */
#include "mime/mime.h"
#include "common/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mime: invariant failed: %s\n", what);
		abort();
	}
}

/* Serialize the tree (iteratively: nesting is attacker-controlled input here). */
static void dump(const struct mime_part *root, struct buf *out, size_t len)
{
	const struct mime_part *p = root;
	while (p) {
		(void)buf_printf(out, "[%zu %zu %zu %zu %zu %s/%s %u]", p->hdr_start, p->hdr_end,
		                 p->body_start, p->body_end, p->body_lines, p->type, p->subtype,
		                 p->nchildren);
		check(p->hdr_start <= p->hdr_end && p->hdr_end <= p->body_start &&
		          p->body_start <= p->body_end && p->body_end <= len,
		      "offsets ordered");
		if (p->parent)
			check(p->hdr_start >= p->parent->body_start &&
			          p->body_end <= p->parent->body_end,
			      "child inside parent body");
		if (p->first_child) {
			p = p->first_child;
			continue;
		}
		while (p && !p->next) {
			p = p->parent;
			(void)buf_puts(out, ")");
		}
		if (p)
			p = p->next;
	}
}

static void exercise(const uint8_t *data, const struct mime_part *root, const struct mime_part *p,
                     const char *path)
{
	struct buf o;
	buf_init(&o, 1 << 20);
	(void)mime_envelope(data, p, &o);
	buf_reset(&o);
	(void)mime_bodystructure(data, p, false, &o);
	buf_reset(&o);
	(void)mime_bodystructure(data, p, true, &o);
	buf_reset(&o);
	(void)mime_decode_body(data, p, &o);
	buf_reset(&o);
	(void)mime_decode_text(data, p, &o);
	buf_reset(&o);
	struct buf h;
	buf_init(&h, 1 << 20);
	if (mime_header_get(data, p->hdr_start, p->hdr_end, "Subject", &h) == 1)
		(void)mime_decode_words((const char *)h.p, h.len, &o);
	buf_reset(&h);
	if (mime_header_get(data, p->hdr_start, p->hdr_end, "Content-Type", &h) == 1)
		(void)mime_param_decode((const char *)h.p, h.len, "name", &o);
	buf_free(&h);
	buf_free(&o);
	static const char *const kinds[] = {"", "HEADER", "TEXT", "MIME"};
	for (size_t k = 0; k < 4; k++) {
		size_t s, e;
		if (mime_section(data, root, path, kinds[k], &s, &e) == 0)
			check(s <= e, "section range");
	}
}

static struct buf parse_dump(const uint8_t *data, size_t size, size_t step,
                             const struct mime_limits *lim, int *rc_r)
{
	struct mime_parser *mp = mime_parser_new(lim);
	int rc = 0;
	for (size_t i = 0; i < size;) {
		size_t n = size - i < step ? size - i : step;
		int r = mime_parser_push(mp, data + i, n);
		if (r)
			rc = r;
		i += n;
		step = step * 7 % 13 + 1; /* uneven chunks */
	}
	struct mime_part *root = mime_parser_finish(mp);
	struct buf d;
	buf_init(&d, 0);
	dump(root, &d, size);
	*rc_r = rc;
	mime_parser_free(&mp);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc1, rc2, rc3;
	struct buf one = parse_dump(data, size, size ? size : 1, NULL, &rc1);
	struct mime_parser *mp = mime_parser_new(NULL);
	for (size_t i = 0; i < size; i++)
		(void)mime_parser_push(mp, data + i, 1);
	struct mime_part *root = mime_parser_finish(mp);
	struct buf bytes;
	buf_init(&bytes, 0);
	dump(root, &bytes, size);
	check(one.len == bytes.len && memcmp(one.p, bytes.p, one.len) == 0,
	      "byte-at-a-time tree == one-push tree");
	struct buf chunks = parse_dump(data, size, 3, NULL, &rc2);
	check(one.len == chunks.len && memcmp(one.p, chunks.p, one.len) == 0,
	      "chunked tree == one-push tree");
	check(rc1 == rc2, "same result code");

	/* every part, numbered as IMAP would (children of multiparts / messages) */
	exercise(data, root, root, "");
	char path[64] = "1";
	exercise(data, root, root, path);
	size_t n = 0;
	for (const struct mime_part *c = root->first_child; c && n < 50; c = c->next, n++) {
		snprintf(path, sizeof(path), "%zu", n + 1);
		exercise(data, root, c, path);
		size_t m = 0;
		for (const struct mime_part *g = c->first_child; g && m < 20; g = g->next, m++) {
			snprintf(path, sizeof(path), "%zu.%zu", n + 1, m + 1);
			exercise(data, root, g, path);
		}
	}
	mime_parser_free(&mp);

	struct mime_limits tiny = {
	    .max_depth = 2, .max_parts = 4, .max_header_line = 40, .max_headers = 3};
	struct buf t1 = parse_dump(data, size, size ? size : 1, &tiny, &rc1);
	struct buf t2 = parse_dump(data, size, 1, &tiny, &rc3);
	check(t1.len == t2.len && memcmp(t1.p, t2.p, t1.len) == 0, "limited trees equal");
	check(rc1 == rc3, "limited result codes equal");
	buf_free(&t1);
	buf_free(&t2);
	buf_free(&one);
	buf_free(&bytes);
	buf_free(&chunks);
	return 0;
}

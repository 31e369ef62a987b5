/* test_imap_compress.c - the COMPRESS=DEFLATE stream filter (RFC 4978) against zlib as the
 * peer: round trips both ways, input fed byte at a time, bounded inflate output per call (a
 * decompression bomb never yields more than the room given), sync-flushed output batches that
 * decode on their own, and corrupt or ended streams rejected. */
#include "unit.h"
#include "imap/imap_int.h"
#include "net/conn.h"
#include "common/buf.h"
#include <zlib.h>

/* the client side: raw deflate (windowBits -15) with Z_SYNC_FLUSH */
static size_t client_deflate(z_stream *z, const void *p, size_t n, uint8_t *out, size_t cap)
{
	z->next_in = (Bytef *)(uintptr_t)p;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	ASSERT_EQ_INT(deflate(z, Z_SYNC_FLUSH), Z_OK);
	ASSERT(z->avail_out > 0);
	return cap - z->avail_out;
}

static void client_init(z_stream *d, z_stream *i)
{
	memset(d, 0, sizeof *d);
	memset(i, 0, sizeof *i);
	ASSERT_EQ_INT(deflateInit2(d, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	ASSERT_EQ_INT(inflateInit2(i, -15), Z_OK);
}

static void test_roundtrip_in_bytewise(void)
{
	const struct conn_filter *f = imap__deflate_filter();
	void *ctx = imap__deflate_new();
	ASSERT(ctx);
	z_stream d, i;
	client_init(&d, &i);
	const char *cmds = "a1 CAPABILITY\r\na2 SELECT INBOX\r\na3 UID FETCH 1:* (FLAGS)\r\n";
	static uint8_t comp[4096];
	size_t cn = client_deflate(&d, cmds, strlen(cmds), comp, sizeof comp);
	struct buf out;
	buf_init(&out, 0);
	size_t fed = 0;
	/* one byte at a time, as a slow network would deliver it */
	for (size_t k = 0; k < cn; k++) {
		long used = f->in(ctx, comp + k, 1, &out, 1 << 20);
		ASSERT(used == 0 || used == 1);
		if (used == 0) { /* not consumed: offer again with the next byte (as conn does) */
			used = f->in(ctx, comp + k, 1, &out, 1 << 20);
			ASSERT_EQ_INT(used, 1);
		}
		fed += (size_t)used;
	}
	ASSERT_EQ_INT(fed, cn);
	ASSERT_EQ_MEM(out.p, out.len, cmds, strlen(cmds));
	/* nothing more pending */
	size_t before = out.len;
	ASSERT_EQ_INT(f->in(ctx, NULL, 0, &out, 1 << 20), 0);
	ASSERT_EQ_INT(out.len, before);
	buf_free(&out);
	deflateEnd(&d);
	inflateEnd(&i);
	f->free(ctx);
}

static void test_bounded_output(void)
{
	const struct conn_filter *f = imap__deflate_filter();
	void *ctx = imap__deflate_new();
	z_stream d, i;
	client_init(&d, &i);
	/* 4 MiB of 'A' compresses to a few KiB: a decompression bomb */
	size_t big = 4u << 20;
	uint8_t *plain = malloc(big);
	memset(plain, 'A', big);
	size_t ccap = 64 * 1024;
	uint8_t *comp = malloc(ccap);
	size_t cn = client_deflate(&d, plain, big, comp, ccap);
	ASSERT(cn < 32 * 1024);
	struct buf out;
	buf_init(&out, 0);
	size_t off = 0, total = 0, calls = 0;
	const size_t room = 1000;
	for (;;) {
		buf_reset(&out);
		long used = f->in(ctx, comp + off, cn - off, &out, room);
		ASSERT(used >= 0);
		ASSERT(out.len <= room); /* never more than the room given */
		for (size_t k = 0; k < out.len; k++)
			ASSERT(out.p[k] == 'A');
		off += (size_t)used;
		total += out.len;
		calls++;
		if (used == 0 && out.len == 0)
			break;
		ASSERT(calls < 10000);
	}
	ASSERT_EQ_INT(off, cn);
	ASSERT_EQ_INT(total, big);
	ASSERT(calls >= big / room);
	buf_free(&out);
	free(plain);
	free(comp);
	deflateEnd(&d);
	inflateEnd(&i);
	f->free(ctx);
}

static void test_output_batches_decode_alone(void)
{
	const struct conn_filter *f = imap__deflate_filter();
	void *ctx = imap__deflate_new();
	z_stream d, i;
	client_init(&d, &i);
	const char *batches[] = {"* OK [CAPABILITY IMAP4rev1] hi\r\n", "a1 OK done\r\n",
				 "+ idling\r\n", "* 3 EXISTS\r\n"};
	struct buf out;
	buf_init(&out, 0);
	for (size_t b = 0; b < 4; b++) {
		buf_reset(&out);
		ASSERT_OK(f->out(ctx, (const uint8_t *)batches[b], strlen(batches[b]), &out));
		ASSERT(out.len > 0);
		/* Z_SYNC_FLUSH ends with the empty stored block 00 00 ff ff */
		ASSERT(out.len >= 4);
		ASSERT_EQ_MEM(out.p + out.len - 4, 4, "\x00\x00\xff\xff", 4);
		uint8_t plain[256];
		i.next_in = out.p;
		i.avail_in = (uInt)out.len;
		i.next_out = plain;
		i.avail_out = sizeof plain;
		ASSERT_EQ_INT(inflate(&i, Z_SYNC_FLUSH), Z_OK);
		ASSERT_EQ_INT(i.avail_in, 0);
		ASSERT_EQ_MEM(plain, sizeof plain - i.avail_out, batches[b], strlen(batches[b]));
	}
	/* a big batch (larger than the filter's chunk) also decodes completely */
	size_t big = 300000;
	uint8_t *src = malloc(big), *plain = malloc(big + 1);
	for (size_t k = 0; k < big; k++)
		src[k] = (uint8_t)("abcdefghij\r\n"[k % 12] ^ (k % 977 == 0));
	buf_reset(&out);
	ASSERT_OK(f->out(ctx, src, big, &out));
	i.next_in = out.p;
	i.avail_in = (uInt)out.len;
	i.next_out = plain;
	i.avail_out = (uInt)big + 1;
	ASSERT_EQ_INT(inflate(&i, Z_SYNC_FLUSH), Z_OK);
	ASSERT_EQ_MEM(plain, big + 1 - i.avail_out, src, big);
	free(src);
	free(plain);
	buf_free(&out);
	deflateEnd(&d);
	inflateEnd(&i);
	f->free(ctx);
}

static void test_corrupt_input(void)
{
	const struct conn_filter *f = imap__deflate_filter();
	void *ctx = imap__deflate_new();
	struct buf out;
	buf_init(&out, 0);
	/* BTYPE 11 (reserved) is invalid in every DEFLATE stream */
	const uint8_t bad[] = {0x07, 0x00, 0x00, 0x00};
	ASSERT(f->in(ctx, bad, sizeof bad, &out, 4096) < 0);
	f->free(ctx);
	/* a plaintext command sent by a client that forgot to compress */
	ctx = imap__deflate_new();
	const char *plain = "a1 NOOP\r\n";
	ASSERT(f->in(ctx, (const uint8_t *)plain, strlen(plain), &out, 4096) < 0);
	f->free(ctx);
	/* a finished stream (BFINAL) is not a session: rejected */
	ctx = imap__deflate_new();
	z_stream d;
	memset(&d, 0, sizeof d);
	ASSERT_EQ_INT(deflateInit2(&d, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	uint8_t comp[256];
	d.next_in = (Bytef *)(uintptr_t)plain;
	d.avail_in = (uInt)strlen(plain);
	d.next_out = comp;
	d.avail_out = sizeof comp;
	ASSERT_EQ_INT(deflate(&d, Z_FINISH), Z_STREAM_END);
	ASSERT(f->in(ctx, comp, sizeof comp - d.avail_out, &out, 4096) < 0);
	deflateEnd(&d);
	f->free(ctx);
	buf_free(&out);
}

static const struct unit_test tests[] = {
	{"roundtrip_in_bytewise", test_roundtrip_in_bytewise},
	{"bounded_output", test_bounded_output},
	{"output_batches_decode_alone", test_output_batches_decode_alone},
	{"corrupt_input", test_corrupt_input},
	{0},
};
UNIT_MAIN(tests)

/* imap_compress.c - the COMPRESS command (RFC 4978, COMPRESS=DEFLATE): after "tag OK DEFLATE
 * active" both directions of the session are one raw DEFLATE stream each (RFC 1951, no zlib or
 * gzip wrapper: windowBits -15). The compression layer is a conn stream filter (conn.h,
 * conn_set_filter), so it sits under the IMAP session and over TLS. Output: every flush batch
 * ends with Z_SYNC_FLUSH (RFC 4978 §4: the client must be able to decode each response as it
 * arrives). Input: inflate writes at most the room the conn gives it per call and leaves the
 * rest of the input queued, so a tiny compressed command cannot expand into unbounded memory
 * (decompression bomb); the conn keeps the queued compressed input bounded too.
 * zlib (Debian zlib1g) does the codec: it is the reference DEFLATE implementation, fuzzed and
 * audited for decades, and streaming inflate with bounded output is exactly its API. */
#include "imap_int.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define Z_CHUNK 16384
/* Level 1: mail text still shrinks 3-5x and the CPU cost stays far below TLS's. */
#define Z_LEVEL 1

struct imap_deflate {
	z_stream in, out;
};

static long deflate_filter_in(void *ctx, const uint8_t *src, size_t n, struct buf *dst,
			      size_t max_out)
{
	struct imap_deflate *z = ctx;
	uint8_t tmp[Z_CHUNK];
	size_t produced = 0;
	if (n > UINT_MAX)
		n = UINT_MAX;
	z->in.next_in = (Bytef *)(uintptr_t)src;
	z->in.avail_in = (uInt)n;
	while (produced < max_out) {
		size_t room = max_out - produced < sizeof tmp ? max_out - produced : sizeof tmp;
		z->in.next_out = tmp;
		z->in.avail_out = (uInt)room;
		int r = inflate(&z->in, Z_SYNC_FLUSH);
		size_t got = room - z->in.avail_out;
		if (got) {
			buf_append(dst, tmp, got);
			produced += got;
		}
		if (r == Z_BUF_ERROR)
			break; /* no progress possible: needs more input */
		if (r != Z_OK)
			return MR_EPROTO; /* corrupt stream, or the peer ended it (Z_STREAM_END) */
		if (z->in.avail_out != 0)
			break; /* all input consumed and nothing left pending */
	}
	return (long)(n - z->in.avail_in);
}

static int deflate_filter_out(void *ctx, const uint8_t *src, size_t n, struct buf *dst)
{
	struct imap_deflate *z = ctx;
	uint8_t tmp[Z_CHUNK];
	do {
		size_t part = n > (1u << 30) ? (1u << 30) : n;
		n -= part;
		z->out.next_in = (Bytef *)(uintptr_t)src;
		z->out.avail_in = (uInt)part;
		src += part;
		/* Z_SYNC_FLUSH only after the last part of the batch */
		int flush = n ? Z_NO_FLUSH : Z_SYNC_FLUSH;
		do {
			z->out.next_out = tmp;
			z->out.avail_out = sizeof tmp;
			int r = deflate(&z->out, flush);
			if (r != Z_OK && r != Z_BUF_ERROR)
				return MR_EIO;
			buf_append(dst, tmp, sizeof tmp - z->out.avail_out);
		} while (z->out.avail_out == 0 || z->out.avail_in != 0);
	} while (n);
	return 0;
}

static void deflate_filter_free(void *ctx)
{
	struct imap_deflate *z = ctx;
	inflateEnd(&z->in);
	deflateEnd(&z->out);
	free(z);
}

static const struct conn_filter deflate_filter = {
	.in = deflate_filter_in,
	.out = deflate_filter_out,
	.free = deflate_filter_free,
};

const struct conn_filter *imap__deflate_filter(void)
{
	return &deflate_filter;
}

void *imap__deflate_new(void)
{
	struct imap_deflate *z = xmalloc(sizeof *z);
	if (inflateInit2(&z->in, -15) != Z_OK) {
		free(z);
		return NULL;
	}
	if (deflateInit2(&z->out, Z_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&z->in);
		free(z);
		return NULL;
	}
	return z;
}

/* RFC 4978 §3: COMPRESS DEFLATE, authenticated or selected state. */
void imap__cmd_compress(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->nargs != 1 || cmd->args[0].type != IMAP_ARG_ATOM) {
		imap__bad(s, cmd->tag, "COMPRESS needs one algorithm");
		return;
	}
	if (mr_strcasecmp(cmd->args[0].str, "DEFLATE") != 0) {
		conn_printf(s->c, "%s NO Unknown compression algorithm\r\n", cmd->tag);
		return;
	}
	if (conn_has_filter(s->c)) {
		conn_printf(s->c, "%s NO [COMPRESSIONACTIVE] DEFLATE already active\r\n", cmd->tag);
		return;
	}
	void *z = imap__deflate_new();
	if (!z) {
		conn_printf(s->c, "%s NO [SERVERBUG] Compression unavailable\r\n", cmd->tag);
		return;
	}
	conn_printf(s->c, "%s OK DEFLATE active\r\n", cmd->tag);
	/* bytes after the command line that the session already took are compressed data */
	size_t left = s->in_len - s->in_off;
	if (conn_set_filter(s->c, &deflate_filter, z, left ? s->in + s->in_off : NULL, left) != 0) {
		deflate_filter_free(z);
		conn_close(s->c);
		return;
	}
	s->in_off = s->in_len;
	log_info(IMAP_COMPONENT, "conn=%llu compress=deflate", (unsigned long long)conn_id(s->c));
}

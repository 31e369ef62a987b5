/* buf.h - length-carrying byte buffer with a hard maximum (style practice 10).
 * The contents are always followed by a NUL byte (not counted in len) for convenience,
 * but wire data must be handled by length. */
#ifndef MR_BUF_H
#define MR_BUF_H
#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct buf {
	uint8_t *p;
	size_t len, cap, max; /* max == 0: unbounded (internal use only) */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Append n bytes; MR_ETOOBIG (and nothing appended) if len+n would exceed max. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) MR_PRINTF(2, 3);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Detach the storage (caller frees with free()); b is reset to empty. */
uint8_t *buf_steal(struct buf *b, size_t *len_r);

#endif

/* util.h - allocation that aborts on OOM (style practice 9), small string helpers. */
#ifndef MR_UTIL_H
#define MR_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define MR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MR_PRINTF(f, a) __attribute__((format(printf, f, a)))

void *xmalloc(size_t n);              /* zero-filled; aborts on OOM */
void *xcalloc(size_t n, size_t sz);   /* zero-filled; aborts on OOM or overflow */
void *xrealloc(void *p, size_t n);    /* aborts on OOM */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) MR_PRINTF(1, 2);
void mr_memzero(void *p, size_t n);   /* wipe secrets (not optimised away) */

/* ASCII case-insensitive compare of n bytes / of NUL strings. */
int mr_strncasecmp(const char *a, const char *b, size_t n);
int mr_strcasecmp(const char *a, const char *b);
/* Parse an unsigned decimal of exactly len bytes; 0 on success, MR_EINVAL on junk/overflow
 * beyond max. Never uses strtoul on unterminated wire data. */
int mr_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out_r);
/* pread / pwrite exactly n bytes at off (EINTR retried, short transfers continued).
 * 0, or MR_EIO (error or end of file; errno tells which error). */
int mr_pread_all(int fd, void *buf, size_t n, uint64_t off);
int mr_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
/* Read the whole file at path (at most max bytes) into a heap buffer with a NUL after the data
 * (*buf_r, *len_r = the data length). 0, MR_ENOTFOUND, MR_ETOOBIG, MR_EIO. */
int mr_read_file(const char *path, size_t max, uint8_t **buf_r, size_t *len_r);
/* Length (1..4) of the well-formed UTF-8 sequence at s within len bytes (RFC 3629 §4: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0 if malformed or cut short. */
size_t mr_utf8_seq(const uint8_t *s, size_t len);
/* Lower-case ASCII in place. */
void mr_lower(char *s);
/* Monotonic milliseconds. */
uint64_t mr_now_ms(void);

#endif

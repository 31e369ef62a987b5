/* imap_mutf7.h - mailbox names: modified UTF-7 (RFC 3501 §5.1.3, the stored form) to and from
 * UTF-8 (RFC 6855 §3, after ENABLE UTF8=ACCEPT). Pure (imap_mutf7.c). */
#ifndef MR_IMAP_MUTF7_H
#define MR_IMAP_MUTF7_H
#include <stddef.h>
#include <stdint.h>

/* NUL-terminated in to NUL-terminated out[cap]. 0, MR_EINVAL (not valid modified UTF-7 /
 * UTF-8, or a control character), MR_ETOOBIG (out too small). */
int imap_mutf7_to_utf8(const char *in, char *out, size_t cap);
int imap_utf8_to_mutf7(const char *in, char *out, size_t cap);

#endif

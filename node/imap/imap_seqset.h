/* imap_seqset.h - IMAP sequence sets (RFC 3501 §9 "sequence-set": "1:4,7,9:*"), used for both
 * message sequence numbers and UIDs. Parsed into a bounded array of ranges; '*' is kept
 * symbolic and resolved against the current largest number when tested. Pure codec. */
#ifndef MR_IMAP_SEQSET_H
#define MR_IMAP_SEQSET_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "common/buf.h"

#define IMAP_SEQ_STAR UINT32_MAX /* "*" */
#define IMAP_SEQSET_MAX_RANGES 4096

struct imap_seqrange {
	uint32_t lo, hi; /* as written (either may be IMAP_SEQ_STAR); normalised when tested */
};

struct imap_seqset {
	struct imap_seqrange *r;
	size_t n;
};

/* Parse s[0..len). 0, or MR_EINVAL (syntax, zero, overflow), MR_ETOOBIG (too many ranges).
 * On success free with imap_seqset_free. */
int imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set_r);
void imap_seqset_free(struct imap_seqset *set);
/* Is n in the set, with '*' standing for `star` (the largest number in use; for an empty
 * mailbox pass 0 and nothing matches a '*'-only range except as RFC 3501 §6.4.8 says)? */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star);
/* Syntax check only: true when s looks like a sequence set (for SEARCH key dispatch). */
bool imap_seqset_valid(const char *s, size_t len);

/* Build a set of ranges from ascending values (consecutive runs merged; duplicates dropped).
 * n == 0 gives the empty set (matches nothing; RFC 5182 "$" after a search with no result).
 * Free with imap_seqset_free. */
void imap_seqset_from_sorted(const uint32_t *v, size_t n, struct imap_seqset *out);
/* Append the set in wire form ("1:3,7,9:*"); nothing for the empty set. */
void imap_seqset_format(const struct imap_seqset *set, struct buf *out);
/* Deep copy (free dst with imap_seqset_free). */
void imap_seqset_copy(struct imap_seqset *dst, const struct imap_seqset *src);

#endif

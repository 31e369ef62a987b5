/* imap_search.h - SEARCH criteria (RFC 3501 §6.4.4): parsing the argument array into a bounded
 * key tree (imap_search_parse.c, pure) and evaluating the tree against one message
 * (imap_search_eval.c, uses the MIME parser for header/body keys). */
#ifndef MR_IMAP_SEARCH_H
#define MR_IMAP_SEARCH_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "imap_parser.h"
#include "imap_seqset.h"

struct mime_parser;
struct mime_part;

#define IMAP_SEARCH_MAX_DEPTH 32
#define IMAP_SEARCH_MAX_KEYS 1000

enum imap_skey {
	SK_ALL,
	SK_NONE, /* RECENT / NEW: this server has no \Recent */
	SK_AND,  /* children */
	SK_OR,   /* two children */
	SK_NOT,  /* one child */
	SK_SEQSET,
	SK_UIDSET,
	SK_FLAG,   /* str = flag ("\Seen", keyword); neg = must be absent */
	SK_HEADER, /* str = field name, str2 = substring ("" matches any message with the field) */
	SK_BODY,   /* str2 = substring */
	SK_TEXT,   /* str2 = substring, header or body */
	SK_BEFORE, /* num = days since 1970-01-01 (internal date, UTC) */
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE, /* Date: header, date part only */
	SK_SENTON,
	SK_SENTSINCE,
	SK_LARGER, /* num = size */
	SK_SMALLER,
	SK_MODSEQ, /* RFC 7162 §3.1.5: num = minimum mod-sequence */
	SK_SAVED,  /* RFC 5182 "$": the UIDs saved by an earlier SEARCH RETURN (SAVE) */
	SK_SAVEDBEFORE, /* RFC 8514 §4: num = days since epoch of the save date (UTC) */
	SK_SAVEDON,
	SK_SAVEDSINCE,
	SK_SAVEDATESUPPORTED, /* RFC 8514 §4: every mailbox here keeps save dates */
	SK_EMAILID,  /* RFC 8474 §6: str = the object id */
	SK_THREADID, /* RFC 8474 §6: no thread ids (THREADID NIL): never matches */
};

/* RFC 4731 §3.1 search-return-opts (ESEARCH) and RFC 5182 SAVE. */
#define IMAP_SRET_MIN 0x01u
#define IMAP_SRET_MAX 0x02u
#define IMAP_SRET_ALL 0x04u
#define IMAP_SRET_COUNT 0x08u
#define IMAP_SRET_SAVE 0x10u

struct imap_search_opts {
	bool esearch;  /* RETURN (...) was given: answer with ESEARCH */
	unsigned ret;  /* IMAP_SRET_* (RETURN () means ALL) */
	bool uses_saved; /* the criteria reference "$" */
};

struct imap_search_key {
	enum imap_skey kind;
	bool neg;
	char *str, *str2;
	int64_t num;
	struct imap_seqset set;
	struct imap_search_key *child, *next;
};

/* Parse args[0..n) (the SEARCH arguments after the command name, optional CHARSET first).
 * 0 and *key_r (free with imap_search_free); MR_EINVAL with *err_r on a syntax error;
 * MR_ENOTFOUND when the CHARSET is not UTF-8 / US-ASCII (reply NO [BADCHARSET]). */
int imap_search_parse(const struct imap_arg *args, size_t n, struct imap_search_key **key_r,
		      const char **err_r);
/* Same, with an optional leading "RETURN (opts)" (RFC 4731 §3.1, RFC 5182 §2.1) parsed into
 * *o (which is always set). */
int imap_search_parse_ex(const struct imap_arg *args, size_t n, struct imap_search_opts *o,
			 struct imap_search_key **key_r, const char **err_r);
/* Parse only the search criteria args[start..n) (no CHARSET / RETURN): for SORT and THREAD,
 * whose charset comes before the criteria. */
int imap_search_parse_keys(const struct imap_arg *args, size_t start, size_t n,
			   struct imap_search_key **key_r, const char **err_r);
/* True when the tree uses key kind k. */
bool imap_search_uses(const struct imap_search_key *key, enum imap_skey k);
void imap_search_free(struct imap_search_key **key);
/* True when the tree uses MODSEQ (the response then carries "(MODSEQ n)"). */
bool imap_search_uses_modseq(const struct imap_search_key *key);
/* True when evaluating needs the message text (header/body/sent-date keys). */
bool imap_search_needs_text(const struct imap_search_key *key);

/* One message as the evaluator sees it. raw may be NULL when !imap_search_needs_text(). */
struct imap_search_msg {
	uint32_t seq, uid;
	uint32_t max_seq, max_uid; /* for '*' */
	const char *flags;         /* space-separated */
	int64_t internaldate;      /* unix seconds */
	uint64_t size;
	uint64_t modseq;
	int64_t savedate;                 /* unix seconds (RFC 8514) */
	const char *emailid;              /* RFC 8474, may be NULL */
	const struct imap_seqset *saved;  /* RFC 5182 "$" (UIDs), may be NULL = empty */
	const uint8_t *raw;
	size_t rawlen;
	/* evaluator's cache (zero-initialise; release with imap_search_msg_done) */
	struct mime_parser *mp;
	struct mime_part *root;
};

bool imap_search_match(const struct imap_search_key *key, struct imap_search_msg *m);
void imap_search_msg_done(struct imap_search_msg *m);
/* Parse the date part of an RFC 5322 Date: value ("Tue, 1 Feb 1994 10:00:00 +0000") into days
 * since the epoch. 0 or MR_EINVAL. */
int imap_parse_rfc5322_day(const char *s, size_t len, int64_t *days_r);

/* Helpers shared with FETCH/APPEND. RFC 3501 date "1-Feb-1994" -> days since epoch. */
int imap_parse_date(const char *s, size_t len, int64_t *days_r);
/* Does the space-separated flag list contain flag (case-insensitive)? */
bool imap_flags_has(const char *flags, const char *flag);
/* Append in (UTF-8) case-folded for SEARCH: ASCII and Latin letters lower-cased. */
struct buf;
void imap_search_fold(const uint8_t *in, size_t len, struct buf *out);
/* Case-insensitive (ASCII) substring search; needle "" always matches. */
bool imap_memcasemem(const uint8_t *hay, size_t hlen, const char *needle, size_t nlen);
/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t imap_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif

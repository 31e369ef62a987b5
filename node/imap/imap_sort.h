/* imap_sort.h - SORT and THREAD (RFC 5256) without storage: sort-criteria parsing, the base
 * subject (§2.1), sent dates and first-address mailboxes, ordering a message array by the
 * criteria, and the two threading algorithms ORDEREDSUBJECT (§3.1) and REFERENCES (§3.2)
 * writing the thread-list response data. imap_sort.c (pure); the command runs in
 * imap_cmd_sort.c. */
#ifndef MR_IMAP_SORT_H
#define MR_IMAP_SORT_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "imap_parser.h"
#include "common/buf.h"

enum imap_sort_key {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
};

#define IMAP_SORT_MAX_KEYS 16

struct imap_sort_crit {
	size_t n;
	enum imap_sort_key key[IMAP_SORT_MAX_KEYS];
	bool reverse[IMAP_SORT_MAX_KEYS];
};

/* One message as SORT / THREAD see it. Strings are malloc'd (free with imap_sort_msg_free). */
struct imap_sort_msg {
	uint32_t seq;    /* sequence number (the final tie-break, RFC 5256 §3) */
	uint32_t num;    /* number to report (sequence number or UID) */
	int64_t arrival; /* internal date */
	int64_t date;    /* sent date (Date: in UTC), internal date when missing/invalid */
	uint64_t size;
	char *from, *to, *cc; /* addr-mailbox of the first address, "" if none */
	char *subject;        /* base subject, case-folded */
	bool reply;           /* the subject had a Re:/Fwd: leader or [fwd:] wrapper */
	char *msgid;          /* Message-ID without <>, NULL if none */
	char **refs;          /* References (else In-Reply-To) ids, oldest first */
	size_t nrefs;
};

/* Parse the sort-criteria list at args[i]: "(" [REVERSE] key *(SP [REVERSE] key) ")".
 * 0 or MR_EINVAL. */
int imap_sort_parse(const struct imap_arg *args, size_t i, struct imap_sort_crit *c);
/* RFC 5256 §2.1 base subject of a decoded (UTF-8) Subject value, case-folded. Returns true
 * when something reply-like (a subj-refwd leader or a "[fwd: ]" wrapper) was removed. */
bool imap_base_subject(const char *s, size_t len, struct buf *out);
/* RFC 5322 §3.3 date-time to UTC seconds. 0 or MR_EINVAL. */
int imap_parse_rfc5322_time(const char *s, size_t len, int64_t *t_r);
/* addr-mailbox (local part) of the first address of an address-list header value. */
void imap_first_mailbox(const char *s, size_t len, struct buf *out);
/* Message ids "<a@b> <c@d>" of a References / In-Reply-To value, in order. Returns the count;
 * *ids_r is malloc'd strings (without <>), at most max. */
size_t imap_msgids(const char *s, size_t len, char ***ids_r, size_t max);

/* Order v[0..n) by the criteria (ties: ascending seq). */
void imap_sort_msgs(struct imap_sort_msg *v, size_t n, const struct imap_sort_crit *c);
/* Thread-list data ("(1 2)(3 (4)(5))") of v[0..n) appended to out. */
void imap_thread_orderedsubject(struct imap_sort_msg *v, size_t n, struct buf *out);
void imap_thread_references(struct imap_sort_msg *v, size_t n, struct buf *out);
void imap_sort_msg_free(struct imap_sort_msg *m);

#endif

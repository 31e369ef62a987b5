/* imap_fetch.h - FETCH data items (RFC 3501 §6.4.5): parsing the item list into a bounded
 * array (imap_fetch_parse.c, pure codec) that imap_cmd_fetch.c executes per message, and the
 * header-field filter used for BODY[HEADER.FIELDS (...)]. */
#ifndef MR_IMAP_FETCH_H
#define MR_IMAP_FETCH_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "imap_parser.h"
#include "common/buf.h"

#define IMAP_FETCH_MAX_ITEMS 64
#define IMAP_FETCH_MAX_FIELDS 64

enum imap_fitem_kind {
	FI_FLAGS,
	FI_UID,
	FI_SIZE,
	FI_INTERNALDATE,
	FI_ENVELOPE,
	FI_BODYSTRUCTURE,
	FI_BODY,    /* non-extended BODYSTRUCTURE */
	FI_SECTION, /* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
	FI_MODSEQ,  /* RFC 7162 §3.1.4 */
	FI_SAVEDATE, /* RFC 8514 §3 */
	FI_EMAILID,  /* RFC 8474 §5.1 */
	FI_THREADID, /* RFC 8474 §5.2: always NIL here */
	FI_BINARY,      /* RFC 3516 §4.2: BINARY[part]<partial>, BINARY.PEEK[...]; path only */
	FI_BINARY_SIZE, /* RFC 3516 §4.3: BINARY.SIZE[part] */
};

struct imap_fitem {
	enum imap_fitem_kind kind;
	bool peek;       /* FI_SECTION: does not set \Seen */
	char path[64];   /* numeric part path "1.2" or "" */
	char spec[24];   /* "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME" */
	char **fields;   /* HEADER.FIELDS names */
	size_t nfields;
	bool partial;
	uint32_t origin, count;
	char label[512]; /* response item name, e.g. "BODY[HEADER.FIELDS (FROM)]<0>" */
};

struct imap_fetch {
	struct imap_fitem items[IMAP_FETCH_MAX_ITEMS];
	size_t n;
	bool needs_raw;  /* some item needs the message bytes */
	bool sets_seen;  /* BODY[...] without PEEK, RFC822, RFC822.TEXT */
	bool changedsince; /* RFC 7162 §3.1.4.1 FETCH modifier */
	uint64_t since;
	bool vanished; /* RFC 7162 §3.2.6 VANISHED modifier (UID FETCH, with CHANGEDSINCE) */
};

/* Parse the FETCH attribute argument at args[i] (an atom, macro or list). 0, or MR_EINVAL with
 * *err_r. uid: add UID (UID FETCH, RFC 3501 §6.4.8). Free with imap_fetch_free. */
int imap_fetch_parse(const struct imap_arg *args, size_t i, bool uid, struct imap_fetch *f,
		     const char **err_r);
/* Parse the optional modifier list "(CHANGEDSINCE n [VANISHED])" at args[i] (RFC 7162 §3.1.4.1,
 * §3.2.6; VANISHED needs CHANGEDSINCE). 0 / MR_EINVAL. */
int imap_fetch_parse_modifiers(const struct imap_arg *args, size_t i, struct imap_fetch *f);
void imap_fetch_free(struct imap_fetch *f);

/* Append the header block hdr[0..len) filtered by field names (keep when listed, or when not
 * listed if `not`), followed by the terminating CRLF (RFC 3501 §6.4.5 HEADER.FIELDS). */
void imap_fetch_filter_headers(const uint8_t *hdr, size_t len, char *const *fields,
			       size_t nfields, bool not, struct buf *out);

#endif

/* mime.h - bounded streaming MIME parser (RFC 5322, RFC 2045/2046, RFC 2047/2231) shared by
 * SMTP (headers while receiving) and IMAP (ENVELOPE, BODYSTRUCTURE, BODY[section], SEARCH).
 *
 * The parser is an incremental state machine: create it with limits, push bytes in any chunking
 * (byte-at-a-time gives the same result), then finish. It never copies the message: the result
 * is a tree of parts holding byte offsets into the message as pushed, so the caller keeps the
 * raw bytes and the tree refers to them. Malformed input never fails the parse (real mail is
 * often broken); only exceeding a limit is an error, and even then a best-effort tree is kept.
 */
#ifndef MR_MIME_H
#define MR_MIME_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "common/buf.h"

struct mime_limits {
	size_t max_depth;       /* nesting of multipart/message parts; default 32 */
	size_t max_parts;       /* total parts; default 10000 */
	size_t max_header_line; /* one (unfolded) header field; default 64 KiB */
	size_t max_headers;     /* fields per header block; default 2000 */
};

struct mime_part {
	/* offsets into the whole message */
	size_t hdr_start, hdr_end;   /* header block, including the blank line */
	size_t body_start, body_end; /* body (for multiparts: preamble..epilogue) */
	size_t body_lines;           /* line count of the body (IMAP "size in text lines") */
	/* Content-Type, lower-cased; defaults "text"/"plain" (or message/rfc822 in digest) */
	char type[64], subtype[64];
	struct mime_part *parent, *first_child, *next; /* children of multiparts and the
							  single child of message/rfc822 */
	unsigned nchildren;
};

struct mime_parser;

/* limits may be NULL for defaults. */
struct mime_parser *mime_parser_new(const struct mime_limits *limits);
/* Push the next chunk (offsets continue from the previous chunk). 0 or MR_ETOOBIG when a
 * limit was exceeded (further pushes are ignored; the tree so far stays usable). */
int mime_parser_push(struct mime_parser *p, const uint8_t *data, size_t len);
/* Finish; returns the root part (owned by the parser) */
struct mime_part *mime_parser_finish(struct mime_parser *p);
void mime_parser_free(struct mime_parser **p);

/* Convenience: parse a whole message in one go. Free with mime_parser_free. */
struct mime_parser *mime_parse(const uint8_t *raw, size_t len, struct mime_part **root_r);

/* Header access on a header block raw[start,end): find the first field `name`
 * (case-insensitive), unfold it, append its raw value (without leading space) to out.
 * Returns 1 found, 0 not found. */
int mime_header_get(const uint8_t *raw, size_t start, size_t end, const char *name,
		    struct buf *out);
/* Count header fields named `name` (e.g. "Received" for loop detection). */
size_t mime_header_count(const uint8_t *raw, size_t start, size_t end, const char *name);

/* IMAP forms (RFC 3501 §7.4.2 / RFC 9051 §7.5.2), appended to out. */
int mime_envelope(const uint8_t *raw, const struct mime_part *part, struct buf *out);
/* extended: BODYSTRUCTURE (with extension data) vs BODY. */
int mime_bodystructure(const uint8_t *raw, const struct mime_part *part, bool extended,
		       struct buf *out);

/* Locate a section spec ("", "1", "1.2", "2.HEADER", "3.TEXT", "1.MIME",
 * "HEADER.FIELDS (A B)" is handled by the caller using the returned header range).
 * On success sets [*start, *end) of the bytes to return and returns 0; MR_ENOTFOUND if the
 * part does not exist (IMAP returns NIL / empty then). kind: "" (whole part), "HEADER",
 * "TEXT", "MIME". part_path is the numeric path ("1.2"), may be "". */
int mime_section(const uint8_t *raw, const struct mime_part *root, const char *part_path,
		 const char *kind, size_t *start, size_t *end);

/* Added: the part a numeric section path ("1.2", "" = root) addresses, by the rules of
 * mime_section; NULL if there is none. The empty part 1 of a multipart without parts is
 * written to *empty and returned. */
const struct mime_part *mime_part_find(const struct mime_part *root, const char *part_path,
				       struct mime_part *empty);

/* RFC 2047 decode a header value into UTF-8 (unknown charsets left as-is), appended to out. */
int mime_decode_words(const char *in, size_t len, struct buf *out);
/* Decode a body part's content (base64 / quoted-printable / identity) into out (bounded by
 * out->max). For SEARCH BODY/TEXT and BINARY[]. */
int mime_decode_body(const uint8_t *raw, const struct mime_part *part, struct buf *out);

/* Added: decoded value of parameter `name` of a structured header value such as a
 * Content-Type or Content-Disposition value (unfolded, e.g. from mime_header_get): RFC 2231
 * continuations merged and name*=charset'lang'%XX decoded to UTF-8; quoted strings unquoted.
 * Appends to out; returns 1 found, 0 absent, MR_ETOOBIG from out. */
int mime_param_decode(const char *value, size_t len, const char *name, struct buf *out);
/* Added: whether part's Content-Transfer-Encoding is one mime_decode_body undoes (absent,
 * 7bit, 8bit, binary, base64, quoted-printable: RFC 2045 §6.1). BINARY[] of a part with
 * any other (x-uuencode, x-foo) must fail with NO [UNKNOWN-CTE] (RFC 3516 §4.3). */
bool mime_cte_known(const uint8_t *raw, const struct mime_part *part);
/* Added: mime_decode_body followed by conversion from the part's Content-Type charset to
 * UTF-8 (invalid bytes become U+FFFD; an unknown charset leaves the bytes as they are), for
 * SEARCH BODY/TEXT with CHARSET UTF-8. Returns 0 or MR_ETOOBIG (out holds what fitted). */
int mime_decode_text(const uint8_t *raw, const struct mime_part *part, struct buf *out);

#endif

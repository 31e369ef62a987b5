/* mime_int.h - declarations shared between the files of the MIME module (not public): the
 * header field iterator, structured header values (Content-Type / Content-Disposition with
 * RFC 2045 parameters and RFC 2231 continuations), charset conversion to UTF-8, and the IMAP
 * string writer used by ENVELOPE and BODYSTRUCTURE.
 */
#ifndef MR_MIME_INT_H
#define MR_MIME_INT_H
#include "mime.h"

/* RFC 2046 §5.1.1 caps boundaries at 70 characters; real mail sometimes exceeds that, so we
 * accept up to 200 and treat longer ones as "no boundary" (the multipart becomes a leaf). */
#define MIME__MAX_BOUNDARY 200
/* Parameters kept per structured header; a 64 KiB header could otherwise hold thousands and
 * RFC 2231 merging is quadratic in their number. */
#define MIME__MAX_PARAMS 64
/* RFC 2231 §3 continuation sections merged per parameter. */
#define MIME__MAX_SECTIONS 100

/* One header field of a block: name [name, name+nlen), raw value [v, vend) (after the colon,
 * still folded, without the final line ending). */
struct mime__field {
	const uint8_t *name;
	size_t nlen;
	const uint8_t *v, *vend;
};

/* Iterate the fields of the header block raw[*pos, end). Returns 1 with f filled and *pos
 * advanced, 0 at the end of the block (blank line or end). Lines that are not fields are
 * skipped. */
int mime__field_next(const uint8_t *raw, size_t *pos, size_t end, struct mime__field *f);
/* Append the unfolded value of f to out (RFC 5322 §2.2.3: remove CRLF only), with leading
 * and trailing white space trimmed. */
int mime__field_value(const struct mime__field *f, struct buf *out);
/* Case-insensitive name match. */
bool mime__field_is(const struct mime__field *f, const char *name);

/* A parameter after RFC 2231 merging: name lower-cased, ending in '*' when the merged value is
 * still in the RFC 2231 extended form charset'lang'%XX (as Dovecot reports it to IMAP). */
struct mime__param {
	char *name;
	char *value;
	size_t vlen;
};

/* A structured header value "token[/token] *(; param)". */
struct mime__cv {
	char value[128]; /* leading token, lower-cased ("text/plain", "attachment"); "" if none */
	struct mime__param params[MIME__MAX_PARAMS];
	size_t nparams;
};

/* Parse a (unfolded) structured value; never fails, junk is skipped. Free with cv_free. */
void mime__cv_parse(const char *v, size_t len, struct mime__cv *cv);
void mime__cv_free(struct mime__cv *cv);
/* Split cv->value "type/subtype" into the two (each < 64 bytes, lower-case). Returns 0 if it
 * is a valid media type, -1 otherwise (RFC 2045 §5.2: treat as text/plain). */
int mime__cv_type(const struct mime__cv *cv, char type[64], char subtype[64]);
/* Look up a merged parameter by exact (lower-case) name, NULL if absent. */
const struct mime__param *mime__cv_param(const struct mime__cv *cv, const char *name);

/* Convert in[0,n) from charset cs (len cslen, may carry an RFC 2231 "*lang" suffix) to
 * UTF-8, appended to out. Invalid bytes become U+FFFD. Returns 0, MR_ENOTFOUND for an
 * unknown charset (nothing appended) or MR_ETOOBIG from out. */
int mime__to_utf8(const char *cs, size_t cslen, const uint8_t *in, size_t n, struct buf *out);

/* IMAP string (RFC 3501 §4.3): quoted with \" \\ escapes, or a literal {n} when the text has
 * CR, LF or 8-bit bytes (NUL bytes, not allowed in either, are dropped). */
int mime__imap_string(struct buf *out, const void *s, size_t len);
/* Same, NIL when s is NULL. */
int mime__imap_nstring(struct buf *out, const void *s, size_t len);

/* ENVELOPE of the header block raw[start, end) (mime_addr.c), for mime_imap.c. */
int mime__envelope_hdr(const uint8_t *raw, size_t start, size_t end, struct buf *out);

#endif

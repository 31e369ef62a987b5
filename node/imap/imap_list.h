/* imap_list.h - argument codecs for LIST-EXTENDED (RFC 5258 §3: selection options, several
 * patterns, return options), LIST-STATUS (RFC 5819 RETURN (STATUS (...))), SPECIAL-USE (RFC
 * 6154 §3: the SPECIAL-USE selection and return options, CREATE ... (USE (...))) and the STATUS
 * item list shared with the STATUS command (RFC 3501 §6.3.10, RFC 7162 HIGHESTMODSEQ, RFC 8438
 * SIZE, RFC 7889 APPENDLIMIT, RFC 8474 MAILBOXID). Pure: no storage, no sockets
 * (imap_list_parse.c). */
#ifndef MR_IMAP_LIST_H
#define MR_IMAP_LIST_H
#include <stddef.h>
#include <stdbool.h>
#include "imap_parser.h"

/* selection options (RFC 5258 §3.1, RFC 6154 §3) */
#define IMAP_LSEL_SUBSCRIBED 0x01u
#define IMAP_LSEL_REMOTE 0x02u
#define IMAP_LSEL_RECURSIVEMATCH 0x04u
#define IMAP_LSEL_SPECIALUSE 0x08u
/* return options (RFC 5258 §3.2, RFC 5819, RFC 6154) */
#define IMAP_LRET_SUBSCRIBED 0x01u
#define IMAP_LRET_CHILDREN 0x02u
#define IMAP_LRET_STATUS 0x04u
#define IMAP_LRET_SPECIALUSE 0x08u

/* STATUS items */
#define IMAP_ST_MESSAGES 0x01u
#define IMAP_ST_UIDNEXT 0x02u
#define IMAP_ST_UIDVALIDITY 0x04u
#define IMAP_ST_UNSEEN 0x08u
#define IMAP_ST_RECENT 0x10u
#define IMAP_ST_HIGHESTMODSEQ 0x20u
#define IMAP_ST_SIZE 0x40u             /* RFC 8438 */
#define IMAP_ST_APPENDLIMIT 0x80u      /* RFC 7889 §4 */
#define IMAP_ST_MAILBOXID 0x100u       /* RFC 8474 §4.2 */
#define IMAP_ST_DELETED 0x200u         /* RFC 9208 §4.3.1: \Deleted messages */
#define IMAP_ST_DELETED_STORAGE 0x400u /* RFC 9208 §4.3.2: KiB EXPUNGE would free */

#define IMAP_LIST_MAX_PATTERNS 16
#define IMAP_LIST_PAT_MAX 1024

struct imap_list_opts {
	bool extended; /* selection or return options or a pattern list were given */
	unsigned sel, ret;
	unsigned status; /* IMAP_ST_* for RETURN (STATUS (...)) */
	size_t npat;
	char *pat[IMAP_LIST_MAX_PATTERNS]; /* reference + pattern, each NUL-terminated */
};

/* Parse the arguments of LIST (after the command name) into *o. 0, or MR_EINVAL with *err_r
 * (a BAD). Free with imap_list_opts_free (also after an error). */
int imap_list_parse(const struct imap_arg *args, size_t n, struct imap_list_opts *o,
                    const char **err_r);
void imap_list_opts_free(struct imap_list_opts *o);

/* Parse a STATUS item list (args[i] must be a non-empty list) into IMAP_ST_* bits. 0 or
 * MR_EINVAL (unknown item, empty list). */
int imap_status_items_parse(const struct imap_arg *args, size_t i, unsigned *items_r);

/* RFC 6154 §2 use-attr names. Canonical spelling of a special-use attribute ("\\sent" ->
 * "\\Sent") or NULL if unknown. */
const char *imap_special_use_name(const char *s, size_t len);

/* CREATE parameters (RFC 4466 §2.2 create-params, RFC 6154 §3 "USE (attr)"): args[i] is the
 * list after the mailbox name. *use_r: the one special-use attribute or NULL. 0, MR_EINVAL
 * (syntax: BAD), MR_EPERM (unknown or several attributes: NO [USEATTR]). */
int imap_create_params_parse(const struct imap_arg *args, size_t i, const char **use_r);

#endif

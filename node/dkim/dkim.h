/* dkim.h - DomainKeys Identified Mail (RFC 6376) signing and verification, with the
 * ed25519-sha256 algorithm of RFC 8463 beside rsa-sha256 (rsa-sha1 is refused, RFC 8301).
 * The module is pure: no sockets, no DNS, no storage. A message is a complete RFC 5322 byte
 * string with CRLF line ends (bare LF is tolerated as a line end). dkim_canon.c holds the
 * simple/relaxed canonicalizations (§3.4) with a streaming body hasher honouring l=;
 * dkim_sig.c the bounded tag=value parser (§3.2), the DKIM-Signature parser (§3.5) and the key
 * record parser (§3.6.1); dkim_sign.c key loading/generation and signing; dkim_verify.c
 * verification of every DKIM-Signature of a message through a caller-supplied key lookup
 * callback (the DNS resolver lives elsewhere), giving one RFC 8601 style result per
 * signature, and the Authentication-Results clauses for them. All functions return 0 or a
 * negative MR_E* code (common/err.h) unless noted.
 */
#ifndef MR_DKIM_H
#define MR_DKIM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/buf.h"

/* Limits (all inputs are attacker-controlled on the MX side). */
#define DKIM_MAX_HEADERS 1000 /* header fields per message; far above real mail */
#define DKIM_MAX_TAGS 64      /* tags in one tag-list; DKIM defines 14 */
#define DKIM_MAX_SIGS 8       /* signatures verified per message (RFC 6376 §6.1: may limit) */
#define DKIM_MAX_HNAMES 64    /* names in h= */
#define DKIM_MAX_DOMAIN 255   /* RFC 1035 name length */
#define DKIM_MAX_KEY 2048     /* decoded p= bytes: a 4096-bit RSA SPKI is 550 */
#define DKIM_MAX_SIGBYTES 512 /* decoded b= bytes: 4096-bit RSA */
#define DKIM_TXT_MAX 4096     /* key record text handed to/by the lookup callback */

enum dkim_alg { DKIM_ALG_NONE = 0, DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };
enum dkim_canon { DKIM_CANON_SIMPLE = 0, DKIM_CANON_RELAXED };
/* RFC 8601 §2.7.1 result names. */
enum dkim_result {
	DKIM_NONE = 0,
	DKIM_PASS,
	DKIM_FAIL,      /* bad signature or body hash, expired, key/identity mismatch */
	DKIM_NEUTRAL,   /* signature we do not evaluate (rsa-sha1, unknown algorithm) */
	DKIM_TEMPERROR, /* key lookup failed temporarily */
	DKIM_PERMERROR, /* malformed signature or key record, no key, revoked key */
};
const char *dkim_result_str(enum dkim_result r); /* "pass", "fail", ... (static) */
const char *dkim_alg_str(enum dkim_alg a);       /* "rsa-sha256", "ed25519-sha256" */

/* ---- message header split (dkim_canon.c) ---- */

/* One header field: msg[off .. off+len) is "Name: value" with its folding, without the final
 * line end; name_len is the length of the name (trailing WSP before ':' excluded). */
struct dkim_field {
	size_t off, len, name_len;
};
/* Split msg into its header fields (at most max) and find the body (after the empty line;
 * len when there is none). MR_ETOOBIG when more than max fields. */
int dkim_split(const uint8_t *msg, size_t len, struct dkim_field *f, size_t max, size_t *n_r,
               size_t *body_off_r);

/* ---- canonicalization (dkim_canon.c, RFC 6376 §3.4) ---- */

/* Append the canonical form of one header field (as delimited by dkim_split; any trailing
 * CRLF in field is ignored) to out, followed by CRLF when crlf is true. MR_ETOOBIG if out is
 * full. */
int dkim_canon_header(enum dkim_canon c, const uint8_t *field, size_t len, bool crlf,
                      struct buf *out);

/* Streaming body canonicalizer + SHA-256. Push the body in any chunking; the result does not
 * depend on it. limit >= 0 hashes only the first limit canonical bytes (l=); -1 = all.
 * capture, when not NULL, receives the canonical bytes (tests). Opaque fields. */
struct dkim_body {
	enum dkim_canon canon;
	int64_t limit;
	uint64_t total, hashed; /* canonical bytes produced / fed to the hash */
	unsigned empty_lines;   /* deferred CRLFs (trailing empty lines are dropped) */
	bool line_content, any_content, cr, wsp;
	void *md; /* EVP_MD_CTX */
	struct buf *capture;
	size_t stage_len;
	uint8_t stage[1024];
};
void dkim_body_init(struct dkim_body *b, enum dkim_canon c, int64_t limit, struct buf *capture);
void dkim_body_update(struct dkim_body *b, const uint8_t *p, size_t n);
/* Finish: hash_r gets SHA-256 of the (limited) canonical body, total_r (may be NULL) the full
 * canonical length. Releases the hash context; b may be re-initialised afterwards. */
int dkim_body_final(struct dkim_body *b, uint8_t hash_r[32], uint64_t *total_r);
/* Release without finishing (error paths). */
void dkim_body_abort(struct dkim_body *b);

/* ---- tag lists, signatures, key records (dkim_sig.c) ---- */

/* One tag=value pair pointing into the parsed text; val has surrounding FWS removed. */
struct dkim_tag {
	const char *name, *val;
	size_t name_len, val_len;
};
/* RFC 6376 §3.2 tag-list. Fills at most max tags. MR_EPROTO on a syntax error or a
 * duplicate tag name (the whole list is then invalid), MR_ETOOBIG on more than max tags. */
int dkim_tags_parse(const char *s, size_t len, struct dkim_tag *tags, size_t max, size_t *n_r);

/* A parsed DKIM-Signature (§3.5). Strings are NUL-terminated copies. */
struct dkim_sig {
	enum dkim_alg alg;
	bool alg_sha1; /* a=rsa-sha1: parsed but not evaluated (RFC 8301) */
	enum dkim_canon ch, cb;
	char d[DKIM_MAX_DOMAIN + 1], s[DKIM_MAX_DOMAIN + 1], i[DKIM_MAX_DOMAIN + 65];
	unsigned nh; /* h= names, lower-cased, in order */
	char h[DKIM_MAX_HNAMES][80];
	uint8_t b[DKIM_MAX_SIGBYTES], bh[64];
	size_t blen, bhlen;
	int64_t l, t, x; /* -1 when absent */
};
/* Parse the value of a DKIM-Signature field (after the colon). Checks every MUST of §3.5 and
 * §6.1.1: v=1, required tags v a b bh d h s, h= containing From, i= within d=, q= listing
 * dns/txt, x >= t. Unknown tags are ignored; an unknown a= parses with alg NONE (rsa-sha1 sets
 * alg_sha1). Returns 0, or MR_EPROTO / MR_ETOOBIG (value over a limit) with *why_r (static
 * text, may be NULL) saying why. */
int dkim_sig_parse(const char *val, size_t len, struct dkim_sig *sig, const char **why_r);

/* A parsed key record (§3.6.1). */
struct dkim_keyrec {
	enum dkim_alg alg; /* from k= (default rsa) */
	bool revoked;      /* empty p= */
	bool testing;      /* t=y */
	bool strict;       /* t=s: i= domain must equal d= */
	uint8_t p[DKIM_MAX_KEY];
	size_t plen;
};
/* Parse key record text. v= if present must be first and DKIM1; k=rsa|ed25519; h= if present
 * must list sha256; s= must contain * or email; p= base64 required (may be empty = revoked).
 * MR_EPROTO with *why_r otherwise. */
int dkim_key_parse(const char *txt, size_t len, struct dkim_keyrec *k, const char **why_r);

/* Base64 decode ignoring FWS (internal, shared). Returns MR_EPROTO / MR_ETOOBIG. */
int dkim__b64dec(const char *s, size_t len, uint8_t *out, size_t cap, size_t *n_r);

/* ---- keys and signing (dkim_sign.c) ---- */

struct dkim_privkey;
/* Load a private key: PEM (RSA in PKCS#1 or PKCS#8, Ed25519 in PKCS#8) or a base64 32-byte
 * Ed25519 seed (dkimpy's format). RSA keys under 1024 bits: MR_EINVAL. */
int dkim_privkey_load(const uint8_t *data, size_t len, struct dkim_privkey **key_r);
void dkim_privkey_free(struct dkim_privkey **key);
enum dkim_alg dkim_privkey_alg(const struct dkim_privkey *key);
/* Append the DNS TXT value to publish: "v=DKIM1; k=rsa; p=BASE64". */
int dkim_privkey_txt(const struct dkim_privkey *key, struct buf *txt_out);
/* Generate a new key (RSA 2048 or Ed25519): PEM PKCS#8 appended to pem_out (a secret: the
 * caller wipes it), the TXT value to txt_out (either may be NULL). */
int dkim_keygen(enum dkim_alg alg, struct buf *pem_out, struct buf *txt_out);

/* The default signed header list: From (oversigned: one more than present), To, Cc, Subject,
 * Date, Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding, Reply-To,
 * In-Reply-To, References; NULL-terminated. */
extern const char *const dkim_default_headers[];

struct dkim_sign_opts {
	const char *domain, *selector; /* d=, s= */
	const char *identity;          /* i= or NULL */
	const struct dkim_privkey *key;
	const char *const *headers; /* NULL-terminated names; NULL = dkim_default_headers */
	enum dkim_canon ch, cb;     /* relaxed/relaxed is what callers want */
	int64_t t;                  /* signing time (t=), -1 = omit */
	int64_t expire;             /* x = t + expire when > 0 and t >= 0 */
	bool body_length;           /* emit l= (the canonical body length); discouraged */
};
/* Sign msg: appends one "DKIM-Signature: ...\r\n" field (folded at 78 columns) to out, to be
 * prepended to the message. Each listed header is signed once per occurrence; From once
 * more. MR_EINVAL when the message has no From, MR_EPROTO on a malformed message, MR_ETOOBIG. */
int dkim_sign(const struct dkim_sign_opts *o, const uint8_t *msg, size_t len, struct buf *out);

/* ---- verification (dkim_verify.c) ---- */

/* Key lookup: fetch the TXT record of "<selector>._domainkey.<domain>" into txt_out (NUL-
 * terminated, at most cap bytes including the NUL; multiple strings concatenated). Returns 0,
 * MR_ENOTFOUND (no record: permerror) or another negative code (temperror). */
typedef int (*dkim_key_fn)(void *ud, const char *selector, const char *domain, char *txt_out,
                           size_t cap);

struct dkim_verdict {
	enum dkim_result result;
	enum dkim_alg alg;
	char d[DKIM_MAX_DOMAIN + 1], s[DKIM_MAX_DOMAIN + 1], i[DKIM_MAX_DOMAIN + 65];
	char b_prefix[16];  /* first 8 chars of b= (RFC 6008 header.b) */
	bool testing;       /* key record t=y */
	const char *reason; /* static text, "" on pass */
};
/* Verify each DKIM-Signature field of msg (top to bottom, at most max, beyond DKIM_MAX_SIGS
 * ignored). now is the current Unix time (x= checks; tests inject it). *n_r = number of
 * verdicts (0: the message is unsigned, result none). Returns 0, or MR_EPROTO/MR_ETOOBIG when
 * the message itself cannot be split; key_fn errors become per-signature verdicts. */
int dkim_verify(const uint8_t *msg, size_t len, dkim_key_fn key_fn, void *ud, int64_t now,
                struct dkim_verdict *v, size_t max, size_t *n_r);

/* Append the RFC 8601 "dkim" resinfo clauses for verdicts v[0..n) to out, separated by
 * "; " (no leading separator): 'dkim=pass header.d=D header.i=@D header.s=S
 * header.a=ALG header.b="12345678"', with reason="..." on anything but pass; n == 0 appends
 * "dkim=none". MR_ETOOBIG when out is full. */
int dkim_ar_append(const struct dkim_verdict *v, size_t n, struct buf *out);

/* Shared by sign and verify: append the canonical selected headers (h= list, bottom-up
 * instance selection per §5.4.2) to out. */
int dkim__canon_selected(enum dkim_canon c, const uint8_t *msg, const struct dkim_field *f,
                         size_t nf, char (*names)[80], unsigned nnames, struct buf *out);

#endif

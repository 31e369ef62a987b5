/* dkim_verify.c - RFC 6376 §6 verification. Each DKIM-Signature field (at most
 * DKIM_MAX_SIGS) is parsed, checked for expiry (x=), its key record fetched through the
 * caller's lookup callback and parsed, the body hashed with the signature's canonicalization
 * and l=, the selected headers plus the signature field with its b= value emptied (§3.7)
 * canonicalized, and the signature checked with OpenSSL (RSA keys of 1024 bits or more,
 * RFC 8301; Ed25519 over the SHA-256 of the header data, RFC 8463). The outcome is one
 * RFC 8601 result per signature with a short static reason. Result mapping: bad syntax, no
 * key, revoked or mismatched key -> permerror; lookup failure -> temperror; unsupported
 * algorithm (rsa-sha1 included) -> neutral; expired, hash or signature mismatch -> fail.
 * dkim_ar_append renders the verdicts as Authentication-Results clauses (RFC 8601, RFC 6008).
 */
#include "dkim.h"
#include "common/err.h"
#include "common/util.h"
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int set(struct dkim_verdict *v, enum dkim_result r, const char *why)
{
	v->result = r;
	v->reason = why;
	return 0;
}

/* Append the signature field with the value of its b= tag deleted (§3.7 step 2). */
static int strip_b(const uint8_t *field, size_t len, struct buf *out)
{
	const uint8_t *colon = memchr(field, ':', len);
	if (!colon)
		return MR_EPROTO;
	size_t voff = (size_t)(colon - field) + 1;
	struct dkim_tag tags[DKIM_MAX_TAGS];
	size_t nt;
	int rv = dkim_tags_parse((const char *)field + voff, len - voff, tags, DKIM_MAX_TAGS, &nt);
	if (rv)
		return rv;
	for (size_t k = 0; k < nt; k++) {
		if (tags[k].name_len != 1 || tags[k].name[0] != 'b')
			continue;
		size_t eq = (size_t)((const uint8_t *)tags[k].name - field) + 1;
		while (eq < len && field[eq] != '=')
			eq++;
		size_t end = (size_t)((const uint8_t *)tags[k].val - field) + tags[k].val_len;
		while (end < len && field[end] != ';')
			end++; /* trailing FWS of the value goes too */
		rv = buf_append(out, field, eq + 1);
		return rv ? rv : buf_append(out, field + end, len - end);
	}
	return MR_EPROTO;
}

static EVP_PKEY *load_pub(const struct dkim_keyrec *k, const char **why)
{
	const uint8_t *p = k->p;
	EVP_PKEY *pk = NULL;
	if (k->alg == DKIM_ALG_ED25519_SHA256) {
		*why = "bad ed25519 key";
		if (k->plen == 32)
			pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->p, 32);
		return pk;
	}
	*why = "bad rsa key";
	pk = d2i_PUBKEY(NULL, &p, (long)k->plen);
	if (!pk) {
		p = k->p; /* a bare PKCS#1 RSAPublicKey, as RFC 6376 §3.6.1 words it */
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)k->plen);
	}
	if (pk && EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	if (pk && EVP_PKEY_get_bits(pk) < 1024) {
		*why = "rsa key shorter than 1024 bits";
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

static bool sig_ok(EVP_PKEY *pk, enum dkim_alg alg, const struct dkim_sig *sig,
                   const struct buf *data)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	int ok;
	if (alg == DKIM_ALG_ED25519_SHA256) {
		uint8_t h[32];
		unsigned int hl = 0;
		ok = EVP_Digest(data->p, data->len, h, &hl, EVP_sha256(), NULL) &&
		     EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) &&
		     EVP_DigestVerify(ctx, sig->b, sig->blen, h, sizeof h) == 1;
	} else {
		ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) &&
		     EVP_DigestVerify(ctx, sig->b, sig->blen, data->p, data->len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	ERR_clear_error(); /* leave no stale error for the TLS code on this thread */
	return ok;
}

/* Body hashes already computed for this message, by (canonicalization, l=): signatures
 * usually share them, and a message with DKIM_MAX_SIGS signatures is hashed at most that
 * many times anyway. */
struct bh_cache {
	enum dkim_canon c;
	int64_t l;
	uint64_t total;
	uint8_t h[32];
};

struct vmsg {
	const uint8_t *msg;
	size_t len, nf, body_off;
	const struct dkim_field *f;
	struct bh_cache cache[DKIM_MAX_SIGS];
	size_t ncache;
};

static int body_hash(struct vmsg *m, enum dkim_canon c, int64_t l, uint8_t h[32], uint64_t *total)
{
	for (size_t k = 0; k < m->ncache; k++)
		if (m->cache[k].c == c && m->cache[k].l == l) {
			memcpy(h, m->cache[k].h, 32);
			*total = m->cache[k].total;
			return 0;
		}
	struct dkim_body body;
	dkim_body_init(&body, c, l, NULL);
	dkim_body_update(&body, m->msg + m->body_off, m->len - m->body_off);
	int rv = dkim_body_final(&body, h, total);
	if (rv == 0 && m->ncache < DKIM_MAX_SIGS) {
		struct bh_cache *e = &m->cache[m->ncache++];
		e->c = c;
		e->l = l;
		e->total = *total;
		memcpy(e->h, h, 32);
	}
	return rv;
}

static int verify_one(struct vmsg *m, const struct dkim_field *sf, dkim_key_fn key_fn, void *ud,
                      int64_t now, struct dkim_sig *sig, struct dkim_keyrec *key, char *txt,
                      struct dkim_verdict *v)
{
	const char *why = "";
	const uint8_t *field = m->msg + sf->off;
	const uint8_t *colon = memchr(field, ':', sf->len);
	size_t voff = (size_t)(colon - field) + 1;
	if (dkim_sig_parse((const char *)field + voff, sf->len - voff, sig, &why) != 0)
		return set(v, DKIM_PERMERROR, why);
	v->alg = sig->alg;
	snprintf(v->d, sizeof v->d, "%s", sig->d);
	snprintf(v->s, sizeof v->s, "%s", sig->s);
	snprintf(v->i, sizeof v->i, "%s", sig->i);
	if (sig->blen >= 6)
		sodium_bin2base64(v->b_prefix, 9, sig->b, 6, sodium_base64_VARIANT_ORIGINAL);
	if (sig->alg_sha1)
		return set(v, DKIM_NEUTRAL, "rsa-sha1 not accepted (RFC 8301)");
	if (sig->alg == DKIM_ALG_NONE)
		return set(v, DKIM_NEUTRAL, "unsupported algorithm");
	if (sig->x >= 0 && now > sig->x)
		return set(v, DKIM_FAIL, "signature expired");

	int rv = key_fn(ud, sig->s, sig->d, txt, DKIM_TXT_MAX);
	if (rv == MR_ENOTFOUND)
		return set(v, DKIM_PERMERROR, "no key record");
	if (rv)
		return set(v, DKIM_TEMPERROR, "key lookup failed");
	txt[DKIM_TXT_MAX - 1] = 0;
	if (dkim_key_parse(txt, strlen(txt), key, &why) != 0)
		return set(v, DKIM_PERMERROR, why);
	v->testing = key->testing;
	if (key->revoked)
		return set(v, DKIM_PERMERROR, "key revoked");
	if (key->alg != sig->alg)
		return set(v, DKIM_PERMERROR, "key type does not match a=");
	if (key->strict) {
		const char *at = strrchr(sig->i, '@');
		if (!at || mr_strcasecmp(at + 1, sig->d) != 0)
			return set(v, DKIM_FAIL, "i= domain differs from d= (key t=s)");
	}

	uint8_t bh[32];
	uint64_t total = 0;
	if (body_hash(m, sig->cb, sig->l, bh, &total) != 0)
		return set(v, DKIM_TEMPERROR, "hash failure");
	if (sig->l >= 0 && total < (uint64_t)sig->l)
		return set(v, DKIM_FAIL, "body shorter than l=");
	if (sig->bhlen != sizeof bh || sodium_memcmp(bh, sig->bh, sizeof bh) != 0)
		return set(v, DKIM_FAIL, "body hash mismatch");

	struct buf data, stripped;
	buf_init(&data, 1 << 20);
	buf_init(&stripped, 64 * 1024);
	rv = dkim__canon_selected(sig->ch, m->msg, m->f, m->nf, sig->h, sig->nh, &data);
	if (rv == 0)
		rv = strip_b(field, sf->len, &stripped);
	if (rv == 0)
		rv = dkim_canon_header(sig->ch, stripped.p, stripped.len, false, &data);
	EVP_PKEY *pk = NULL;
	if (rv)
		set(v, DKIM_PERMERROR, "signed headers too large");
	else if (!(pk = load_pub(key, &why)))
		set(v, DKIM_PERMERROR, why);
	else if (!sig_ok(pk, sig->alg, sig, &data))
		set(v, DKIM_FAIL, "signature did not verify");
	else
		set(v, DKIM_PASS, "");
	ERR_clear_error();
	EVP_PKEY_free(pk);
	buf_free(&data);
	buf_free(&stripped);
	return 0;
}

int dkim_verify(const uint8_t *msg, size_t len, dkim_key_fn key_fn, void *ud, int64_t now,
                struct dkim_verdict *v, size_t max, size_t *n_r)
{
	struct dkim_field *f = xcalloc(DKIM_MAX_HEADERS, sizeof *f);
	struct vmsg m = {.msg = msg, .len = len, .f = f};
	*n_r = 0;
	int rv = dkim_split(msg, len, f, DKIM_MAX_HEADERS, &m.nf, &m.body_off);
	if (rv) {
		free(f);
		return rv;
	}
	/* big per-signature scratch lives on the heap, not the stack */
	struct dkim_sig *sig = xmalloc(sizeof *sig);
	struct dkim_keyrec *key = xmalloc(sizeof *key);
	char *txt = xmalloc(DKIM_TXT_MAX);
	size_t n = 0;
	static const char name[] = "DKIM-Signature";
	for (size_t k = 0; k < m.nf && n < max && n < DKIM_MAX_SIGS; k++) {
		if (f[k].name_len != sizeof name - 1 ||
		    mr_strncasecmp((const char *)msg + f[k].off, name, sizeof name - 1) != 0 ||
		    !memchr(msg + f[k].off, ':', f[k].len))
			continue;
		memset(&v[n], 0, sizeof v[n]);
		memset(txt, 0, DKIM_TXT_MAX);
		(void)verify_one(&m, &f[k], key_fn, ud, now, sig, key, txt, &v[n]);
		n++;
	}
	*n_r = n;
	free(txt);
	free(key);
	free(sig);
	free(f);
	return 0;
}

/* RFC 8601 §2.2 pvalue: quote unless every byte is atext, '@' or '.' */
static int ar_value(struct buf *out, const char *key, const char *val)
{
	bool plain = *val != 0;
	for (const char *c = val; *c && plain; c++)
		plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		        (*c >= '0' && *c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~@.", *c);
	if (plain && strpbrk(val, "/=?"))
		plain = false; /* MIME tspecials in a token */
	if (plain)
		return buf_printf(out, " %s=%s", key, val);
	int rv = buf_printf(out, " %s=\"", key);
	for (const char *c = val; *c && rv == 0; c++)
		rv = *c == '"' || *c == '\\'    ? buf_printf(out, "\\%c", *c)
		     : (unsigned char)*c < 0x20 ? 0
		                                : buf_append(out, c, 1);
	return rv ? rv : buf_puts(out, "\"");
}

int dkim_ar_append(const struct dkim_verdict *v, size_t n, struct buf *out)
{
	if (n == 0)
		return buf_puts(out, "dkim=none");
	int rv = 0;
	for (size_t k = 0; k < n && rv == 0; k++) {
		rv = buf_printf(out, "%sdkim=%s", k ? "; " : "", dkim_result_str(v[k].result));
		if (rv == 0 && v[k].result != DKIM_PASS && v[k].reason && *v[k].reason)
			rv = ar_value(out, "reason", v[k].reason);
		if (rv == 0 && v[k].d[0])
			rv = ar_value(out, "header.d", v[k].d);
		if (rv == 0 && v[k].i[0])
			rv = ar_value(out, "header.i", v[k].i);
		if (rv == 0 && v[k].s[0])
			rv = ar_value(out, "header.s", v[k].s);
		if (rv == 0 && v[k].alg != DKIM_ALG_NONE)
			rv = ar_value(out, "header.a", dkim_alg_str(v[k].alg));
		if (rv == 0 && v[k].b_prefix[0])
			rv = ar_value(out, "header.b", v[k].b_prefix);
	}
	return rv;
}

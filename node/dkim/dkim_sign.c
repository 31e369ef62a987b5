/* dkim_sign.c - DKIM keys and signing. Keys are OpenSSL EVP_PKEYs for both algorithms:
 * rsa-sha256 is RSASSA-PKCS1-v1_5 over the canonical header data (RFC 6376 §3.3.1), and
 * ed25519-sha256 is PureEdDSA over the SHA-256 of that same data (RFC 8463 §3). Key
 * generation writes PKCS#8 PEM and the TXT value to publish. dkim_sign hashes the body
 * (relaxed or simple), picks the headers to sign (each listed header once per occurrence,
 * From once more so a From added later breaks the signature), builds the DKIM-Signature field
 * folded at 78 columns with an empty b=, hashes the selected headers plus that field, and
 * appends the signature.
 */
#include "dkim.h"
#include "common/err.h"
#include "common/util.h"
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <string.h>

struct dkim_privkey {
	enum dkim_alg alg;
	EVP_PKEY *pk;
};

const char *const dkim_default_headers[] = {
    "From",         "To",           "Cc",
    "Subject",      "Date",         "Message-ID",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    "Reply-To",     "In-Reply-To",  "References",
    NULL,
};

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1; /* encrypted PEM: refuse rather than prompt on a terminal */
}

static int adopt(EVP_PKEY *pk, struct dkim_privkey **key_r)
{
	enum dkim_alg alg;
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) >= 1024)
		alg = DKIM_ALG_RSA_SHA256; /* RFC 8301 §3.2: at least 1024 bits */
	else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519)
		alg = DKIM_ALG_ED25519_SHA256;
	else {
		EVP_PKEY_free(pk);
		return MR_EINVAL;
	}
	struct dkim_privkey *k = xcalloc(1, sizeof *k);
	k->alg = alg;
	k->pk = pk;
	*key_r = k;
	return 0;
}

int dkim_privkey_load(const uint8_t *data, size_t len, struct dkim_privkey **key_r)
{
	*key_r = NULL;
	if (len > 65536)
		return MR_ETOOBIG;
	if (len >= 10 && memcmp(data, "-----BEGIN", 10) == 0) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		if (!bio)
			abort();
		EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
		ERR_clear_error(); /* no stale error left for TLS code on this thread */
		return pk ? adopt(pk, key_r) : MR_EINVAL;
	}
	uint8_t seed[64];
	size_t n = 0;
	int rv = dkim__b64dec((const char *)data, len, seed, sizeof seed, &n);
	if (rv == 0 && n != 32)
		rv = MR_EINVAL;
	if (rv == 0) {
		EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
		rv = pk ? adopt(pk, key_r) : MR_EINVAL;
	}
	mr_memzero(seed, sizeof seed);
	ERR_clear_error();
	return rv ? MR_EINVAL : 0;
}

void dkim_privkey_free(struct dkim_privkey **key)
{
	if (!*key)
		return;
	EVP_PKEY_free((*key)->pk);
	free(*key);
	*key = NULL;
}

enum dkim_alg dkim_privkey_alg(const struct dkim_privkey *key)
{
	return key->alg;
}

static int b64_append(struct buf *out, const uint8_t *p, size_t n)
{
	size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = xmalloc(cap);
	sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	int rv = buf_puts(out, s);
	free(s);
	return rv;
}

int dkim_privkey_txt(const struct dkim_privkey *key, struct buf *txt_out)
{
	uint8_t raw[DKIM_MAX_KEY];
	size_t n = sizeof raw;
	if (key->alg == DKIM_ALG_ED25519_SHA256) {
		if (!EVP_PKEY_get_raw_public_key(key->pk, raw, &n))
			return MR_EIO;
	} else {
		int l = i2d_PUBKEY(key->pk, NULL); /* SubjectPublicKeyInfo, as everyone publishes */
		if (l <= 0 || (size_t)l > sizeof raw)
			return MR_ETOOBIG;
		uint8_t *p = raw;
		n = (size_t)i2d_PUBKEY(key->pk, &p);
	}
	int rv = buf_printf(
	    txt_out, "v=DKIM1; k=%s; p=", key->alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa");
	return rv ? rv : b64_append(txt_out, raw, n);
}

int dkim_keygen(enum dkim_alg alg, struct buf *pem_out, struct buf *txt_out)
{
	EVP_PKEY *pk = alg == DKIM_ALG_RSA_SHA256
	                   ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	               : alg == DKIM_ALG_ED25519_SHA256 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	                                                : NULL;
	if (!pk)
		return alg == DKIM_ALG_NONE ? MR_EINVAL : MR_EIO;
	struct dkim_privkey *k = NULL;
	int rv = adopt(pk, &k);
	if (rv)
		return rv;
	if (pem_out) {
		BIO *bio = BIO_new(BIO_s_mem());
		if (!bio)
			abort();
		if (!PEM_write_bio_PrivateKey(bio, k->pk, NULL, NULL, 0, NULL, NULL)) {
			rv = MR_EIO;
		} else {
			char *p = NULL;
			long l = BIO_get_mem_data(bio, &p);
			rv = buf_append(pem_out, p, (size_t)l);
		}
		BIO_free(bio); /* BIO_free of a mem BIO clears its buffer */
	}
	if (rv == 0 && txt_out)
		rv = dkim_privkey_txt(k, txt_out);
	dkim_privkey_free(&k);
	return rv;
}

/* ---- signing ---- */

/* Appends pieces to a header field, folding with CRLF TAB before a piece that would pass
 * column 78 (RFC 5322 §2.1.1). */
struct fold {
	struct buf *b;
	size_t col;
	int rv;
};

static void fold_put(struct fold *f, const char *s, size_t n, bool space)
{
	if (f->rv)
		return;
	if (f->col + n + (space ? 1 : 0) > 78 && f->col > 1) {
		f->rv = buf_append(f->b, "\r\n\t", 3);
		f->col = 1;
	} else if (space) {
		f->rv = f->rv ? f->rv : buf_append(f->b, " ", 1);
		f->col++;
	}
	if (f->rv == 0)
		f->rv = buf_append(f->b, s, n);
	f->col += n;
}

static void fold_str(struct fold *f, const char *s, bool space)
{
	fold_put(f, s, strlen(s), space);
}

/* Base64 of p in pieces that fold (FWS is ignored inside b= and bh=). */
static void fold_b64(struct fold *f, const uint8_t *p, size_t n)
{
	struct buf t;
	buf_init(&t, 0);
	if (b64_append(&t, p, n) == 0) {
		for (size_t o = 0; o < t.len && f->rv == 0;) {
			if (f->col >= 74) {
				f->rv = buf_append(f->b, "\r\n\t", 3);
				f->col = 1;
				continue;
			}
			size_t k = 78 - f->col;
			if (k > t.len - o)
				k = t.len - o;
			f->rv = buf_append(f->b, t.p + o, k);
			f->col += k;
			o += k;
		}
	}
	buf_free(&t);
}

static int count_headers(const uint8_t *msg, const struct dkim_field *f, size_t nf,
                         const char *name)
{
	size_t l = strlen(name);
	int c = 0;
	for (size_t k = 0; k < nf; k++)
		if (f[k].name_len == l &&
		    mr_strncasecmp((const char *)msg + f[k].off, name, l) == 0)
			c++;
	return c;
}

static int do_sign(const struct dkim_privkey *key, const uint8_t *data, size_t len, uint8_t *sig,
                   size_t *siglen)
{
	uint8_t h[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	int ok;
	if (key->alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data */
		unsigned int hl = 0;
		ok = EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL) &&
		     EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pk) &&
		     EVP_DigestSign(ctx, sig, siglen, h, sizeof h);
	} else {
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->pk) &&
		     EVP_DigestSign(ctx, sig, siglen, data, len);
	}
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : MR_EIO;
}

int dkim_sign(const struct dkim_sign_opts *o, const uint8_t *msg, size_t len, struct buf *out)
{
	struct dkim_field *f = xcalloc(DKIM_MAX_HEADERS, sizeof *f);
	char(*names)[80] = xcalloc(DKIM_MAX_HNAMES, sizeof *names);
	struct buf hdr, data;
	buf_init(&hdr, 64 * 1024);
	buf_init(&data, 1 << 20);
	size_t nf, body_off;
	unsigned nn = 0;
	int rv = dkim_split(msg, len, f, DKIM_MAX_HEADERS, &nf, &body_off);
	if (rv)
		goto out;
	rv = MR_EINVAL;
	if (!o->key || !o->domain || !o->selector || count_headers(msg, f, nf, "From") == 0)
		goto out;
	rv = MR_ETOOBIG;
	for (const char *const *h = o->headers ? o->headers : dkim_default_headers; *h; h++) {
		int c = count_headers(msg, f, nf, *h);
		if (mr_strcasecmp(*h, "From") == 0)
			c++; /* oversign */
		if (strlen(*h) >= sizeof names[0] || nn + (unsigned)c > DKIM_MAX_HNAMES)
			goto out;
		for (int k = 0; k < c; k++) {
			snprintf(names[nn], sizeof names[0], "%s", *h);
			mr_lower(names[nn]);
			nn++;
		}
	}

	uint8_t bh[32];
	struct dkim_body body;
	dkim_body_init(&body, o->cb, -1, NULL);
	dkim_body_update(&body, msg + body_off, len - body_off);
	uint64_t blen = 0;
	rv = dkim_body_final(&body, bh, &blen);
	if (rv)
		goto out;

	struct fold fo = {&hdr, 0, 0};
	char tmp[DKIM_MAX_DOMAIN + 128];
	fold_str(&fo, "DKIM-Signature:", false);
	snprintf(tmp, sizeof tmp, "v=1; a=%s;", dkim_alg_str(o->key->alg));
	fold_str(&fo, tmp, true);
	snprintf(tmp, sizeof tmp, "c=%s/%s;", o->ch == DKIM_CANON_RELAXED ? "relaxed" : "simple",
	         o->cb == DKIM_CANON_RELAXED ? "relaxed" : "simple");
	fold_str(&fo, tmp, true);
	snprintf(tmp, sizeof tmp, "d=%s;", o->domain);
	fold_str(&fo, tmp, true);
	snprintf(tmp, sizeof tmp, "s=%s;", o->selector);
	fold_str(&fo, tmp, true);
	if (o->identity) {
		snprintf(tmp, sizeof tmp, "i=%s;", o->identity);
		fold_str(&fo, tmp, true);
	}
	if (o->t >= 0) {
		snprintf(tmp, sizeof tmp, "t=%lld;", (long long)o->t);
		fold_str(&fo, tmp, true);
		if (o->expire > 0) {
			snprintf(tmp, sizeof tmp, "x=%lld;", (long long)(o->t + o->expire));
			fold_str(&fo, tmp, true);
		}
	}
	if (o->body_length) {
		snprintf(tmp, sizeof tmp, "l=%llu;", (unsigned long long)blen);
		fold_str(&fo, tmp, true);
	}
	for (unsigned k = 0; k < nn; k++) {
		snprintf(tmp, sizeof tmp, "%s%s%s", k == 0 ? "h=" : "", names[k],
		         k + 1 == nn ? ";" : ":");
		fold_str(&fo, tmp, k == 0);
	}
	fold_str(&fo, "bh=", true);
	fold_b64(&fo, bh, sizeof bh);
	fold_str(&fo, ";", false);
	fold_str(&fo, "b=", true);
	rv = fo.rv;
	if (rv)
		goto out;

	rv = dkim__canon_selected(o->ch, msg, f, nf, names, nn, &data);
	if (rv == 0)
		rv = dkim_canon_header(o->ch, hdr.p, hdr.len, false, &data);
	if (rv)
		goto out;
	uint8_t sig[DKIM_MAX_SIGBYTES];
	size_t siglen = sizeof sig;
	rv = do_sign(o->key, data.p, data.len, sig, &siglen);
	if (rv)
		goto out;
	fold_b64(&fo, sig, siglen);
	rv = fo.rv ? fo.rv : buf_append(&hdr, "\r\n", 2);
	if (rv == 0)
		rv = buf_append(out, hdr.p, hdr.len);
out:
	buf_free(&hdr);
	buf_free(&data);
	free(names);
	free(f);
	return rv;
}

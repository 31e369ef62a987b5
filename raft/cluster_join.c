/* cluster_join.c - the join token, proof, request and sealed grant (see cluster_join.h); pure
 * codec and crypto over proto/rpc.proto and libsodium, no I/O.
 *
 * Token text: "mrjoin1-" + base64url without padding (sodium URLSAFE_NO_PADDING) of a JoinToken
 * whose `check` field holds 4 bytes of BLAKE2b-256 over the token encoded with check = 0, so a
 * mistyped token is refused locally (MR_EINVAL) instead of failing later as a bad proof. The
 * decoder re-encodes what it parsed and accepts only text identical to its input: no
 * non-canonical base64 or protobuf, no unknown fields, no trailing bytes. Addresses must pass
 * cl_address_parse, the fingerprint must be 64 lower-case hex digits, the id >= 1.
 *
 * Keys: proof = BLAKE2b-256(key = secret, "mailraft join proof v1"); seal key =
 * BLAKE2b-256(key = secret, "mailraft join seal v1"); sealed grant = 24-byte random nonce ||
 * crypto_secretbox_easy(JoinGrant). Every buffer that held the secret, the seal key or the
 * plaintext grant is wiped with sodium_memzero before it is freed. */
#include "raft/cluster_join.h"
#include "common/err.h"
#include "common/util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rpc.pb-c.h"

#define TOKEN_PREFIX "mrjoin1-"
#define TOKEN_PREFIX_LEN (sizeof TOKEN_PREFIX - 1)
#define TOKEN_BIN_MAX 768 /* largest JoinToken: two 255-byte addresses, fpr, secret, ids */
#define PROOF_CONTEXT "mailraft join proof v1"
#define SEAL_CONTEXT "mailraft join seal v1"
#define GRANT_MAX (5u * CL_PKI_PEM_MAX) /* sealed grant bound: four PEMs and the members list */
#define MEMBERS_MAX CL_PKI_PEM_MAX

/* ---- token ---- */

static bool fpr_valid(const char *s)
{
	size_t n = strnlen(s, CL_PKI_FPR_LEN + 1);
	if (n != CL_PKI_FPR_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool address_valid(const char *s)
{
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	return strnlen(s, CL_ADDRESS_MAX + 1) <= CL_ADDRESS_MAX &&
	       cl_address_parse(s, url, host) == 0;
}

static uint32_t token_check(Mr__JoinToken *m, uint8_t *buf)
{
	uint32_t saved = m->check;
	m->check = 0;
	size_t n = mr__join_token__pack(m, buf);
	m->check = saved;
	uint8_t h[crypto_generichash_BYTES];
	crypto_generichash(h, sizeof h, buf, n, NULL, 0);
	sodium_memzero(buf, n);
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
}

size_t cl_join_token_encode(const struct cl_join_token *t, char *out, size_t cap)
{
	if (!t || !out || t->id == 0 || !address_valid(t->peer) || !address_valid(t->address) ||
	    !fpr_valid(t->ca_fpr))
		return 0;
	Mr__JoinToken m = MR__JOIN_TOKEN__INIT;
	m.peer = (char *)t->peer;
	m.id = t->id;
	m.address = (char *)t->address;
	m.ca_fpr = (char *)t->ca_fpr;
	m.secret.data = (uint8_t *)t->secret;
	m.secret.len = CL_JOIN_SECRET;
	uint8_t bin[TOKEN_BIN_MAX];
	if (mr__join_token__get_packed_size(&m) > sizeof bin)
		return 0;
	m.check = token_check(&m, bin);
	size_t n = mr__join_token__pack(&m, bin);
	size_t len = TOKEN_PREFIX_LEN +
	             sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
	size_t rv = 0;
	if (len <= CL_JOIN_TOKEN_MAX && len < cap) {
		memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
		sodium_bin2base64(out + TOKEN_PREFIX_LEN, cap - TOKEN_PREFIX_LEN, bin, n,
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		rv = len;
	}
	sodium_memzero(bin, sizeof bin);
	return rv;
}

int cl_join_token_decode(const char *s, struct cl_join_token *t)
{
	if (!t)
		return MR_EINVAL;
	memset(t, 0, sizeof *t);
	if (!s)
		return MR_EINVAL;
	size_t len = strnlen(s, CL_JOIN_TOKEN_MAX + 1);
	if (len > CL_JOIN_TOKEN_MAX || len <= TOKEN_PREFIX_LEN ||
	    memcmp(s, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return MR_EINVAL;
	uint8_t bin[TOKEN_BIN_MAX];
	size_t n = 0;
	const char *end = NULL;
	Mr__JoinToken *m = NULL;
	int rv = MR_EINVAL;
	if (sodium_base642bin(bin, sizeof bin, s + TOKEN_PREFIX_LEN, len - TOKEN_PREFIX_LEN, NULL,
	                      &n, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    end != s + len)
		goto out;
	m = mr__join_token__unpack(NULL, n, bin);
	if (!m)
		goto out;
	if (m->id != 0 && m->secret.len == CL_JOIN_SECRET && address_valid(m->peer) &&
	    address_valid(m->address) && fpr_valid(m->ca_fpr) && m->check == token_check(m, bin)) {
		t->id = m->id;
		strcpy(t->peer, m->peer); /* lengths checked by address_valid / fpr_valid */
		strcpy(t->address, m->address);
		strcpy(t->ca_fpr, m->ca_fpr);
		memcpy(t->secret, m->secret.data, CL_JOIN_SECRET);
		rv = 0;
	}
	sodium_memzero(m->secret.data, m->secret.len);
	mr__join_token__free_unpacked(m, NULL);
	if (rv == 0) { /* only the encoder's own text is a token */
		char again[CL_JOIN_TOKEN_MAX + 1];
		if (cl_join_token_encode(t, again, sizeof again) != len ||
		    memcmp(again, s, len) != 0)
			rv = MR_EINVAL;
		sodium_memzero(again, sizeof again);
	}
out:
	sodium_memzero(bin, sizeof bin);
	if (rv != 0)
		sodium_memzero(t, sizeof *t);
	return rv;
}

/* ---- proof and request ---- */

void cl_join_proof(const uint8_t secret[CL_JOIN_SECRET], uint8_t proof[CL_JOIN_PROOF])
{
	crypto_generichash(proof, CL_JOIN_PROOF, (const uint8_t *)PROOF_CONTEXT,
	                   sizeof PROOF_CONTEXT - 1, secret, CL_JOIN_SECRET);
}

int cl_join_request_encode(uint64_t id, const uint8_t proof[CL_JOIN_PROOF], uint8_t **buf_r,
                           size_t *len_r)
{
	Mr__JoinRequest m = MR__JOIN_REQUEST__INIT;
	m.id = id;
	m.proof.data = (uint8_t *)proof;
	m.proof.len = CL_JOIN_PROOF;
	size_t n = mr__join_request__get_packed_size(&m);
	uint8_t *buf = xmalloc(n);
	mr__join_request__pack(&m, buf);
	*buf_r = buf;
	*len_r = n;
	return 0;
}

int cl_join_request_decode(const uint8_t *buf, size_t len, uint64_t *id_r,
                           uint8_t proof_r[CL_JOIN_PROOF])
{
	if (!buf || len > 256) /* an id and a 32-byte proof */
		return MR_EPROTO;
	Mr__JoinRequest *m = mr__join_request__unpack(NULL, len, buf);
	if (!m)
		return MR_EPROTO;
	int rv = MR_EPROTO;
	if (m->id != 0 && m->proof.len == CL_JOIN_PROOF) {
		*id_r = m->id;
		memcpy(proof_r, m->proof.data, CL_JOIN_PROOF);
		rv = 0;
	}
	mr__join_request__free_unpacked(m, NULL);
	return rv;
}

/* ---- grant ---- */

static void seal_key(const uint8_t secret[CL_JOIN_SECRET], uint8_t key[crypto_secretbox_KEYBYTES])
{
	crypto_generichash(key, crypto_secretbox_KEYBYTES, (const uint8_t *)SEAL_CONTEXT,
	                   sizeof SEAL_CONTEXT - 1, secret, CL_JOIN_SECRET);
}

static bool pem_valid(const char *s)
{
	size_t n = s ? strnlen(s, CL_PKI_PEM_MAX + 1) : 0;
	return n > 0 && n <= CL_PKI_PEM_MAX;
}

int cl_join_grant_seal(const struct cl_join_grant *g, const uint8_t secret[CL_JOIN_SECRET],
                       uint8_t **buf_r, size_t *len_r)
{
	if (!g || !secret || !buf_r || !len_r || !pem_valid(g->ca_pem) || !pem_valid(g->cert_pem) ||
	    !pem_valid(g->key_pem) ||
	    (g->members && strnlen(g->members, MEMBERS_MAX + 1) > MEMBERS_MAX) ||
	    (g->ca_key_pem && !pem_valid(g->ca_key_pem)))
		return MR_EINVAL;
	if (sodium_init() < 0)
		abort();
	Mr__JoinGrant m = MR__JOIN_GRANT__INIT;
	m.ca_pem = g->ca_pem;
	m.cert_pem = g->cert_pem;
	m.key_pem = g->key_pem;
	m.master_key.data = (uint8_t *)g->master_key;
	m.master_key.len = CL_JOIN_MASTER_KEY;
	m.members = g->members;
	m.ca_key_pem = g->ca_key_pem;
	size_t n = mr__join_grant__get_packed_size(&m);
	uint8_t *plain = xmalloc(n);
	mr__join_grant__pack(&m, plain);
	size_t len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
	uint8_t *out = xmalloc(len);
	uint8_t key[crypto_secretbox_KEYBYTES];
	seal_key(secret, key);
	randombytes_buf(out, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, plain, n, out, key);
	sodium_memzero(key, sizeof key);
	sodium_memzero(plain, n);
	free(plain);
	*buf_r = out;
	*len_r = len;
	return 0;
}

/* Wipe the secret parts of an unpacked grant before protobuf-c frees it. */
static void grant_msg_free(Mr__JoinGrant *m)
{
	if (m->key_pem)
		sodium_memzero(m->key_pem, strlen(m->key_pem));
	if (m->ca_key_pem)
		sodium_memzero(m->ca_key_pem, strlen(m->ca_key_pem));
	if (m->master_key.data)
		sodium_memzero(m->master_key.data, m->master_key.len);
	mr__join_grant__free_unpacked(m, NULL);
}

int cl_join_grant_open(const uint8_t *buf, size_t len, const uint8_t secret[CL_JOIN_SECRET],
                       struct cl_join_grant *g_r)
{
	if (!g_r)
		return MR_EPROTO;
	memset(g_r, 0, sizeof *g_r);
	if (!buf || !secret || len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES ||
	    len > GRANT_MAX)
		return MR_EPROTO;
	size_t n = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	uint8_t *plain = xmalloc(n ? n : 1);
	uint8_t key[crypto_secretbox_KEYBYTES];
	seal_key(secret, key);
	int rv = crypto_secretbox_open_easy(plain, buf + crypto_secretbox_NONCEBYTES,
	                                    len - crypto_secretbox_NONCEBYTES, buf, key) == 0
	             ? 0
	             : MR_EAUTH;
	sodium_memzero(key, sizeof key);
	Mr__JoinGrant *m = rv == 0 ? mr__join_grant__unpack(NULL, n, plain) : NULL;
	if (rv == 0 && !m)
		rv = MR_EPROTO;
	if (rv == 0 && (!pem_valid(m->ca_pem) || !pem_valid(m->cert_pem) ||
	                !pem_valid(m->key_pem) || m->master_key.len != CL_JOIN_MASTER_KEY ||
	                (m->members && strnlen(m->members, MEMBERS_MAX + 1) > MEMBERS_MAX) ||
	                (m->ca_key_pem && !pem_valid(m->ca_key_pem))))
		rv = MR_EPROTO;
	if (rv == 0) {
		g_r->ca_pem = xstrdup(m->ca_pem);
		g_r->cert_pem = xstrdup(m->cert_pem);
		g_r->key_pem = xstrdup(m->key_pem);
		memcpy(g_r->master_key, m->master_key.data, CL_JOIN_MASTER_KEY);
		g_r->members = xstrdup(m->members ? m->members : "");
		g_r->ca_key_pem = m->ca_key_pem ? xstrdup(m->ca_key_pem) : NULL;
	}
	if (m)
		grant_msg_free(m);
	sodium_memzero(plain, n);
	free(plain);
	return rv;
}

void cl_join_grant_free(struct cl_join_grant *g)
{
	if (!g)
		return;
	if (g->key_pem) {
		sodium_memzero(g->key_pem, strlen(g->key_pem));
		free(g->key_pem);
	}
	if (g->ca_key_pem) {
		sodium_memzero(g->ca_key_pem, strlen(g->ca_key_pem));
		free(g->ca_key_pem);
	}
	free(g->ca_pem);
	free(g->cert_pem);
	free(g->members);
	sodium_memzero(g, sizeof *g);
}

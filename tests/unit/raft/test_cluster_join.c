/* test_cluster_join.c - the join codec (raft/cluster_join.h): a token survives encode/decode
 * (IPv4, IPv6 and maximum-length addresses); every single-character corruption, every
 * truncation, an extra character and a wrong prefix are refused with MR_EINVAL, and so are
 * fields the encoder would not produce; the proof is BLAKE2b-256 keyed by the secret over the
 * documented context (checked against libsodium directly) and deterministic; the request
 * codec round-trips and refuses malformed bodies; a grant sealed with the secret opens with it
 * (random nonces: two seals differ), while a flipped byte anywhere (nonce, ciphertext, MAC) or
 * another secret gives MR_EAUTH and an authentic box that does not hold a grant MR_EPROTO. */
#define _GNU_SOURCE /* memmem */
#include "unit.h"
#include "raft/cluster_join.h"
#include "common/err.h"
#include "common/util.h"

#include <sodium.h>

static const char FPR[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void sample(struct cl_join_token *t)
{
	memset(t, 0, sizeof *t);
	snprintf(t->peer, sizeof t->peer, "10.0.0.1:7001");
	t->id = 4;
	snprintf(t->address, sizeof t->address, "node4.example.org:7001");
	memcpy(t->ca_fpr, FPR, sizeof FPR);
	for (int i = 0; i < CL_JOIN_SECRET; i++)
		t->secret[i] = (uint8_t)(i * 7 + 1);
}

static void same_token(const struct cl_join_token *a, const struct cl_join_token *b)
{
	ASSERT_EQ_STR(a->peer, b->peer);
	ASSERT_EQ_INT(a->id, b->id);
	ASSERT_EQ_STR(a->address, b->address);
	ASSERT_EQ_STR(a->ca_fpr, b->ca_fpr);
	ASSERT_EQ_MEM(a->secret, CL_JOIN_SECRET, b->secret, CL_JOIN_SECRET);
}

static void test_token_round_trip(void)
{
	struct cl_join_token t, u;
	char buf[CL_JOIN_TOKEN_MAX + 1];
	sample(&t);
	size_t n = cl_join_token_encode(&t, buf, sizeof buf);
	ASSERT(n > 8 && n == strlen(buf));
	ASSERT(strncmp(buf, "mrjoin1-", 8) == 0);
	for (size_t i = 8; i < n; i++) /* base64url, no padding */
		ASSERT(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
		              buf[i]) != NULL);
	ASSERT_OK(cl_join_token_decode(buf, &u));
	same_token(&t, &u);

	/* IPv6 and the largest id */
	snprintf(t.peer, sizeof t.peer, "[2001:db8::1]:7001");
	snprintf(t.address, sizeof t.address, "[::1]:65535");
	t.id = UINT64_MAX;
	ASSERT(cl_join_token_encode(&t, buf, sizeof buf) > 0);
	ASSERT_OK(cl_join_token_decode(buf, &u));
	same_token(&t, &u);

	/* both addresses at CL_ADDRESS_MAX: still within CL_JOIN_TOKEN_MAX */
	memset(t.peer, 'a', CL_ADDRESS_MAX - 5);
	memcpy(t.peer + CL_ADDRESS_MAX - 5, ":7001", 6);
	memcpy(t.address, t.peer, sizeof t.peer);
	t.address[0] = 'b';
	n = cl_join_token_encode(&t, buf, sizeof buf);
	ASSERT(n > 0 && n <= CL_JOIN_TOKEN_MAX);
	ASSERT_OK(cl_join_token_decode(buf, &u));
	same_token(&t, &u);
	/* a buffer one byte short */
	ASSERT_EQ_INT(cl_join_token_encode(&t, buf, n), 0);
}

static void test_token_encode_refuses_bad_fields(void)
{
	struct cl_join_token t;
	char buf[CL_JOIN_TOKEN_MAX + 1];
	sample(&t);
	t.id = 0;
	ASSERT_EQ_INT(cl_join_token_encode(&t, buf, sizeof buf), 0);
	sample(&t);
	snprintf(t.peer, sizeof t.peer, "nohost");
	ASSERT_EQ_INT(cl_join_token_encode(&t, buf, sizeof buf), 0);
	sample(&t);
	snprintf(t.address, sizeof t.address, "h:0");
	ASSERT_EQ_INT(cl_join_token_encode(&t, buf, sizeof buf), 0);
	sample(&t);
	t.ca_fpr[3] = 'A'; /* upper case: not what cl_pki_fingerprint produces */
	ASSERT_EQ_INT(cl_join_token_encode(&t, buf, sizeof buf), 0);
	sample(&t);
	t.ca_fpr[63] = '\0';
	ASSERT_EQ_INT(cl_join_token_encode(&t, buf, sizeof buf), 0);
	ASSERT_EQ_INT(cl_join_token_encode(NULL, buf, sizeof buf), 0);
}

static void test_token_malformed(void)
{
	struct cl_join_token t, u;
	char good[CL_JOIN_TOKEN_MAX + 1], bad[CL_JOIN_TOKEN_MAX + 2];
	sample(&t);
	size_t n = cl_join_token_encode(&t, good, sizeof good);
	ASSERT(n > 0);
	/* every position, replaced by characters of the alphabet, outside it, and NUL-free
	 * controls: the typo check, the canonical re-encoding or base64 catch each one */
	static const char repl[] = "AgZ09-_/+=. \n~\x01\x80";
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof repl - 1; k++) {
			if (good[i] == repl[k])
				continue;
			memcpy(bad, good, n + 1);
			bad[i] = repl[k];
			memset(&u, 0x55, sizeof u);
			ASSERT_ERR(cl_join_token_decode(bad, &u), MR_EINVAL);
			ASSERT_EQ_INT(u.id, 0); /* nothing half-filled */
		}
	/* every truncation */
	for (size_t cut = 0; cut < n; cut++) {
		memcpy(bad, good, cut);
		bad[cut] = '\0';
		ASSERT_ERR(cl_join_token_decode(bad, &u), MR_EINVAL);
	}
	/* an extra character, a trailing newline */
	memcpy(bad, good, n);
	memcpy(bad + n, "A", 2);
	ASSERT_ERR(cl_join_token_decode(bad, &u), MR_EINVAL);
	memcpy(bad + n, "\n", 2);
	ASSERT_ERR(cl_join_token_decode(bad, &u), MR_EINVAL);
	/* wrong prefixes */
	const char *prefixes[] = {"mrjoin2-", "MRJOIN1-", "mrjoin1_", "xrjoin1-"};
	for (size_t p = 0; p < MR_ARRAY_LEN(prefixes); p++) {
		memcpy(bad, good, n + 1);
		memcpy(bad, prefixes[p], 8);
		ASSERT_ERR(cl_join_token_decode(bad, &u), MR_EINVAL);
	}
	ASSERT_ERR(cl_join_token_decode(good + 8, &u), MR_EINVAL); /* prefix missing */
	ASSERT_ERR(cl_join_token_decode(NULL, &u), MR_EINVAL);
	ASSERT_ERR(cl_join_token_decode("mrjoin1-", &u), MR_EINVAL);
	/* an over-long string is refused without reading past CL_JOIN_TOKEN_MAX + 1 */
	char *longs = xmalloc(4096);
	memcpy(longs, good, n);
	memset(longs + n, 'A', 4096 - n - 1);
	ASSERT_ERR(cl_join_token_decode(longs, &u), MR_EINVAL);
	free(longs);
	/* the good one still decodes */
	ASSERT_OK(cl_join_token_decode(good, &u));
	same_token(&t, &u);
}

/* A token whose protobuf is valid and whose check matches, but whose content the encoder
 * refuses (id 0): built by hand the way the encoder would. */
static void test_token_valid_wire_bad_field(void)
{
	/* JoinToken: peer "a:1", id 0, address "b:2", ca_fpr FPR, secret 32 x 0, check */
	uint8_t bin[256];
	size_t n = 0;
	bin[n++] = 0x0a, bin[n++] = 3, memcpy(bin + n, "a:1", 3), n += 3;
	bin[n++] = 0x10;
	size_t id_at = n;
	bin[n++] = 0;
	bin[n++] = 0x1a, bin[n++] = 3, memcpy(bin + n, "b:2", 3), n += 3;
	bin[n++] = 0x22, bin[n++] = 64, memcpy(bin + n, FPR, 64), n += 64;
	bin[n++] = 0x2a, bin[n++] = 32, memset(bin + n, 0, 32), n += 32;
	bin[n++] = 0x35;
	size_t check_at = n;
	memset(bin + n, 0, 4), n += 4;
	uint8_t h[32];
	crypto_generichash(h, sizeof h, bin, n, NULL, 0);
	memcpy(bin + check_at, h, 4);
	char text[CL_JOIN_TOKEN_MAX + 1] = "mrjoin1-";
	sodium_bin2base64(text + 8, sizeof text - 8, bin, n,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	struct cl_join_token u;
	ASSERT_ERR(cl_join_token_decode(text, &u), MR_EINVAL);
	/* the same bytes with id 1 are a token */
	bin[id_at] = 1;
	memset(bin + check_at, 0, 4);
	crypto_generichash(h, sizeof h, bin, n, NULL, 0);
	memcpy(bin + check_at, h, 4);
	sodium_bin2base64(text + 8, sizeof text - 8, bin, n,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	ASSERT_OK(cl_join_token_decode(text, &u));
	ASSERT_EQ_INT(u.id, 1);
	ASSERT_EQ_STR(u.peer, "a:1");
	ASSERT_EQ_STR(u.address, "b:2");
}

static void test_proof(void)
{
	uint8_t s1[CL_JOIN_SECRET], s2[CL_JOIN_SECRET], p1[CL_JOIN_PROOF], p1b[CL_JOIN_PROOF],
	    p2[CL_JOIN_PROOF], want[CL_JOIN_PROOF];
	for (int i = 0; i < CL_JOIN_SECRET; i++) {
		s1[i] = (uint8_t)i;
		s2[i] = (uint8_t)i;
	}
	s2[31] ^= 1;
	cl_join_proof(s1, p1);
	cl_join_proof(s1, p1b);
	cl_join_proof(s2, p2);
	ASSERT_EQ_MEM(p1, CL_JOIN_PROOF, p1b, CL_JOIN_PROOF);
	ASSERT(memcmp(p1, p2, CL_JOIN_PROOF) != 0);
	ASSERT(memcmp(p1, s1, CL_JOIN_PROOF) != 0); /* never the secret itself */
	static const char ctx[] = "mailraft join proof v1";
	crypto_generichash(want, sizeof want, (const uint8_t *)ctx, sizeof ctx - 1, s1, sizeof s1);
	ASSERT_EQ_MEM(p1, CL_JOIN_PROOF, want, CL_JOIN_PROOF);
}

static void test_request_codec(void)
{
	uint8_t proof[CL_JOIN_PROOF], got[CL_JOIN_PROOF], *buf;
	size_t len;
	uint64_t id = 0;
	for (int i = 0; i < CL_JOIN_PROOF; i++)
		proof[i] = (uint8_t)(0xa0 + i);
	ASSERT_OK(cl_join_request_encode(9, proof, &buf, &len));
	ASSERT_OK(cl_join_request_decode(buf, len, &id, got));
	ASSERT_EQ_INT(id, 9);
	ASSERT_EQ_MEM(got, CL_JOIN_PROOF, proof, CL_JOIN_PROOF);
	for (size_t cut = 0; cut < len; cut++)
		ASSERT_ERR(cl_join_request_decode(buf, cut, &id, got), MR_EPROTO);
	free(buf);
	ASSERT_OK(cl_join_request_encode(0, proof, &buf, &len)); /* id 0 refused on decode */
	ASSERT_ERR(cl_join_request_decode(buf, len, &id, got), MR_EPROTO);
	free(buf);
	const uint8_t short_proof[] = {0x08, 0x01, 0x12, 0x02, 0xaa, 0xbb};
	ASSERT_ERR(cl_join_request_decode(short_proof, sizeof short_proof, &id, got), MR_EPROTO);
	const uint8_t junk[] = {0xff, 0x00, 0x12};
	ASSERT_ERR(cl_join_request_decode(junk, sizeof junk, &id, got), MR_EPROTO);
	ASSERT_ERR(cl_join_request_decode(NULL, 0, &id, got), MR_EPROTO);
}

static void grant_sample(struct cl_join_grant *g)
{
	memset(g, 0, sizeof *g);
	g->ca_pem = (char *)"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
	g->cert_pem = (char *)"-----BEGIN CERTIFICATE-----\nNODE\n-----END CERTIFICATE-----\n";
	g->key_pem = (char *)"-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";
	for (int i = 0; i < CL_JOIN_MASTER_KEY; i++)
		g->master_key[i] = (uint8_t)(255 - i);
	g->members = (char *)"1@10.0.0.1:7001,2@10.0.0.2:7001";
}

static void test_seal_open(void)
{
	struct cl_join_grant g, o, none;
	uint8_t secret[CL_JOIN_SECRET], *box, *box2;
	size_t len, len2;
	randombytes_buf(secret, sizeof secret);
	grant_sample(&g);
	ASSERT_OK(cl_join_grant_seal(&g, secret, &box, &len));
	ASSERT_OK(cl_join_grant_open(box, len, secret, &o));
	ASSERT_EQ_STR(o.ca_pem, g.ca_pem);
	ASSERT_EQ_STR(o.cert_pem, g.cert_pem);
	ASSERT_EQ_STR(o.key_pem, g.key_pem);
	ASSERT_EQ_STR(o.members, g.members);
	ASSERT_EQ_MEM(o.master_key, CL_JOIN_MASTER_KEY, g.master_key, CL_JOIN_MASTER_KEY);
	cl_join_grant_free(&o);
	ASSERT(o.ca_pem == NULL && o.key_pem == NULL && o.master_key[0] == 0);
	cl_join_grant_free(&o); /* again: safe on a zeroed struct */
	/* the key material does not appear in clear */
	ASSERT(memmem(box, len, "KEY", 3) == NULL);
	ASSERT(memmem(box, len, g.master_key, CL_JOIN_MASTER_KEY) == NULL);
	/* a random nonce each time */
	ASSERT_OK(cl_join_grant_seal(&g, secret, &box2, &len2));
	ASSERT_EQ_INT(len2, len);
	ASSERT(memcmp(box, box2, len) != 0);
	free(box2);
	/* no members: opens as "" */
	g.members = NULL;
	ASSERT_OK(cl_join_grant_seal(&g, secret, &box2, &len2));
	ASSERT_OK(cl_join_grant_open(box2, len2, secret, &o));
	ASSERT_EQ_STR(o.members, "");
	cl_join_grant_free(&o);
	free(box2);
	/* incomplete grants are not sealed */
	grant_sample(&g);
	g.key_pem = NULL;
	ASSERT_ERR(cl_join_grant_seal(&g, secret, &box2, &len2), MR_EINVAL);
	grant_sample(&g);
	g.ca_pem = (char *)"";
	ASSERT_ERR(cl_join_grant_seal(&g, secret, &box2, &len2), MR_EINVAL);
	memset(&none, 0, sizeof none);
	cl_join_grant_free(&none);
	free(box);
}

static void test_tampered_and_wrong_secret(void)
{
	struct cl_join_grant g, o;
	uint8_t secret[CL_JOIN_SECRET], other[CL_JOIN_SECRET], *box;
	size_t len;
	randombytes_buf(secret, sizeof secret);
	memcpy(other, secret, sizeof other);
	other[0] ^= 0x80;
	grant_sample(&g);
	ASSERT_OK(cl_join_grant_seal(&g, secret, &box, &len));
	for (size_t i = 0; i < len; i++) { /* nonce, MAC and ciphertext alike */
		box[i] ^= 0x01;
		memset(&o, 0x55, sizeof o);
		ASSERT_ERR(cl_join_grant_open(box, len, secret, &o), MR_EAUTH);
		ASSERT(o.ca_pem == NULL && o.master_key[0] == 0);
		box[i] ^= 0x01;
	}
	ASSERT_ERR(cl_join_grant_open(box, len, other, &o), MR_EAUTH);
	ASSERT_ERR(cl_join_grant_open(box, len - 1, secret, &o), MR_EAUTH);
	ASSERT_ERR(cl_join_grant_open(box, 39, secret, &o), MR_EPROTO); /* shorter than nonce+MAC */
	ASSERT_ERR(cl_join_grant_open(NULL, 0, secret, &o), MR_EPROTO);
	ASSERT_OK(cl_join_grant_open(box, len, secret, &o));
	cl_join_grant_free(&o);
	free(box);

	/* an authentic box under the documented key that does not hold a JoinGrant */
	static const char ctx[] = "mailraft join seal v1";
	uint8_t key[crypto_secretbox_KEYBYTES], junk[] = "not a grant";
	uint8_t sealed[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + sizeof junk];
	crypto_generichash(key, sizeof key, (const uint8_t *)ctx, sizeof ctx - 1, secret,
	                   sizeof secret);
	randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, junk, sizeof junk, sealed, key);
	ASSERT_ERR(cl_join_grant_open(sealed, sizeof sealed, secret, &o), MR_EPROTO);
	ASSERT(o.ca_pem == NULL);
}

static const struct unit_test tests[] = {
    {"token_round_trip", test_token_round_trip},
    {"token_encode_refuses_bad_fields", test_token_encode_refuses_bad_fields},
    {"token_malformed", test_token_malformed},
    {"token_valid_wire_bad_field", test_token_valid_wire_bad_field},
    {"proof", test_proof},
    {"request_codec", test_request_codec},
    {"seal_open", test_seal_open},
    {"tampered_and_wrong_secret", test_tampered_and_wrong_secret},
    {0},
};
UNIT_MAIN(tests)

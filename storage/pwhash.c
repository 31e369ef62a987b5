/* pwhash.c - password hashing: Argon2id (libsodium crypto_pwhash_str, "$argon2id$v=19$..."
 * strings that carry their own parameters, so a cost change applies to new hashes while old
 * ones still verify). Costs: INTERACTIVE (~80 ms, 64 MiB on the reference VM), MODERATE
 * (~600 ms, 256 MiB), MIN for tests only. Call from a worker/actor thread, never the loop.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>

/* Longest password accepted: bounds the hashing work a client can ask for per attempt. */
#define STORE_PW_MAX 1024

int store_pw_hash(struct store *st, const char *pw, char out[STORE_PWHASH_MAX])
{
	unsigned long long ops;
	size_t mem;
	switch (st ? st->pwcost : STORE_PWCOST_INTERACTIVE) {
	case STORE_PWCOST_MIN:
		ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
		mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
		break;
	case STORE_PWCOST_MODERATE:
		ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
		mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
		break;
	case STORE_PWCOST_INTERACTIVE:
	default:
		ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
		mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
		break;
	}
	_Static_assert(crypto_pwhash_argon2id_STRBYTES <= STORE_PWHASH_MAX,
	               "STORE_PWHASH_MAX too small for an Argon2id string");
	size_t len = strlen(pw);
	if (len > STORE_PW_MAX)
		return MR_EINVAL;
	if (crypto_pwhash_argon2id_str(out, pw, len, ops, mem) != 0) {
		log_error(STORE_COMPONENT, "password hashing failed (out of memory?)");
		return MR_ENOMEM;
	}
	return 0;
}

int store_pw_verify(const char *hash, const char *pw)
{
	size_t len = strlen(pw);
	if (!hash || len > STORE_PW_MAX || strnlen(hash, STORE_PWHASH_MAX) >= STORE_PWHASH_MAX)
		return MR_EAUTH;
	/* crypto_pwhash_str_verify picks the algorithm from the string's prefix. */
	return crypto_pwhash_str_verify(hash, pw, len) == 0 ? 0 : MR_EAUTH;
}

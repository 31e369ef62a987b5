/* cluster_join.h - how a new node gets its identity and the master key (issue 3 §6).
 *
 * 1. On any member, `mailraftctl cluster add --id N --address HOST:PORT` makes the daemon
 *    create an invitation: a random 32-byte secret remembered in memory for CL_JOIN_TTL_S
 *    with (id, address), and prints a join token (cl_join_token_encode): the inviting
 *    member's raft address, the new node's id and address, the cluster CA fingerprint and the
 *    secret, as "mrjoin1-" + base64url (no padding) of a protobuf JoinToken (proto/rpc.proto).
 * 2. On the new machine, `mailraftctl cluster join TOKEN` (daemon stopped, empty data dir)
 *    calls CL_RPC_JOIN on the inviting member's RPC address with an anonymous TLS client. The
 *    request carries the id and a PROOF = BLAKE2b-256(key = secret, "mailraft join proof v1"),
 *    never the secret itself. The member looks the invitation up by id, compares the proof in
 *    constant time, issues the node certificate (cl_pki_issue_pem from the CA it holds) and
 *    answers a JoinGrant {ca_pem, cert_pem, key_pem, master_key, members, ca_key_pem} SEALED with
 *    crypto_secretbox_easy under BLAKE2b-256(key = secret, "mailraft join seal v1") (random
 *    nonce prepended). The invitation is consumed. Someone who sees the TLS traffic (the
 *    client does not verify the server before it holds the CA) learns neither the secret nor
 *    the grant; a replayed proof gets nothing (consumed) or only ciphertext.
 * 3. The client opens the grant, checks that the CA's fingerprint is the one in the token and
 *    that the certificate chains to it and names the expected id, then writes the credentials
 *    (cl_pki_write into <data_dir>/cluster/, plus ca.key so that every member can invite)
 *    and the master key (0600), and a "join" marker:
 *    the daemon then starts with an empty raft log in join mode. The inviting member asks the
 *    leader to add the node (CL_RPC_MEMBER) as a spare and then to promote it to voter; libraft
 *    catches it up before the promotion commits.
 * Pure codec and crypto here (no I/O); the daemon and ctl do the I/O. */
#ifndef MR_CLUSTER_JOIN_H
#define MR_CLUSTER_JOIN_H
#include <stddef.h>
#include <stdint.h>

#include "raft/cluster_pki.h"       /* CL_PKI_FPR_LEN */
#include "raft/cluster_transport.h" /* CL_ADDRESS_MAX */

#define CL_JOIN_SECRET 32
#define CL_JOIN_PROOF 32
#define CL_JOIN_TTL_S 3600
#define CL_JOIN_TOKEN_MAX 1024
#define CL_JOIN_MASTER_KEY 32

struct cl_join_token {
	char peer[CL_ADDRESS_MAX + 1];    /* raft address of the inviting member */
	uint64_t id;                      /* the new node's raft id */
	char address[CL_ADDRESS_MAX + 1]; /* the new node's raft address */
	char ca_fpr[CL_PKI_FPR_LEN + 1];  /* hex SHA-256 of the CA certificate */
	uint8_t secret[CL_JOIN_SECRET];
};

/* Token text (NUL-terminated) into out; returns its length or 0 if it does not fit / bad
 * fields. */
size_t cl_join_token_encode(const struct cl_join_token *t, char *out, size_t cap);
/* Parse a token; 0 or MR_EINVAL (bad prefix, base64, protobuf, field). The token carries a
 * 4-byte check (JoinToken.check) and only the exact text the encoder produces is accepted, so
 * a mistyped or truncated token fails here rather than at the inviting member. No surrounding
 * whitespace: callers trim what they read. */
int cl_join_token_decode(const char *s, struct cl_join_token *t);

/* proof = BLAKE2b-256(key = secret, "mailraft join proof v1"). */
void cl_join_proof(const uint8_t secret[CL_JOIN_SECRET], uint8_t proof[CL_JOIN_PROOF]);

/* Request body (proto JoinRequest {id, proof}): malloc'd into *buf_r. 0 or MR_ENOMEM. */
int cl_join_request_encode(uint64_t id, const uint8_t proof[CL_JOIN_PROOF], uint8_t **buf_r,
                           size_t *len_r);
int cl_join_request_decode(const uint8_t *buf, size_t len, uint64_t *id_r,
                           uint8_t proof_r[CL_JOIN_PROOF]); /* 0 or MR_EPROTO */

struct cl_join_grant {
	char *ca_pem, *cert_pem, *key_pem; /* heap, NUL-terminated */
	uint8_t master_key[CL_JOIN_MASTER_KEY];
	char *members; /* "id@address,id@address,..." (informational) */
	char *ca_key_pem; /* NULL or the cluster CA key (secret): lets every member invite */
};

/* Encode and seal a grant under the secret: malloc'd *buf_r. 0 or MR_ENOMEM / MR_EINVAL. */
int cl_join_grant_seal(const struct cl_join_grant *g, const uint8_t secret[CL_JOIN_SECRET],
                       uint8_t **buf_r, size_t *len_r);
/* Open and decode; MR_EAUTH if the seal does not verify, MR_EPROTO if malformed. */
int cl_join_grant_open(const uint8_t *buf, size_t len, const uint8_t secret[CL_JOIN_SECRET],
                       struct cl_join_grant *g_r);
/* Wipe the key material and free the strings (safe on a zeroed struct). */
void cl_join_grant_free(struct cl_join_grant *g);

#endif

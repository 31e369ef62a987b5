/* fuzz_raft.c - libFuzzer target for the raft entry codec (raft/cluster_entry.c) and the
 * snapshot manifest decoder (raft/cluster_fsm_disk.c), the transport hello parser
 * (raft/cluster_hello.c), the member RPC envelope (raft/cluster_rpc_wire.c) and the join codec
 * (raft/cluster_join.c) and the database fetch messages (raft/cluster_fetch_msg.c). The first
 * byte picks the decoder: bit 2 set: sel = byte >> 3; sel 6 and 7 pick FetchRequest and
 * FetchReply, any other sel % 6 picks RpcRequest, RpcReply, join token text, JoinRequest, a
 * sealed grant as received (fixed secret) or a grant plaintext sealed here under the fixed secret
 * (so the grant decoder behind the MAC is reached); else bit 0: manifest, bit 1: hello, neither:
 * entry. An accepted entry must pass the encoder's rules, re-encode, and decode again to the same
 * content (type, token, names, sizes, page numbers and page bytes); a refused one must leave the
 * output zeroed. An accepted manifest must name only valid databases. Accepted envelopes, join
 * requests, fetch messages and tokens re-encode to something that decodes to the same values (a
 * token to the very same text); accepted fetch messages obey cluster_fetch_int.h's rules and
 * refused ones leave the output untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "raft/cluster_entry.h"
#include "raft/cluster_fetch_int.h"
#include "raft/cluster_transport.h"
#include "raft/cluster_fsm_int.h"
#include "raft/cluster_join.h"
#include "raft/cluster_rpc.h"

static void same(const struct cl_entry *a, const struct cl_entry *b)
{
	if (a->type != b->type || a->token != b->token || a->n_sets != b->n_sets)
		abort();
	for (unsigned i = 0; i < a->n_sets; i++) {
		const struct cl_frames *x = &a->sets[i], *y = &b->sets[i];
		if (strcmp(x->db, y->db) != 0 || x->db_size != y->db_size || x->n != y->n ||
		    x->shrink != y->shrink || x->key_file_len != y->key_file_len)
			abort();
		for (uint32_t k = 0; k < x->n; k++)
			if (x->pgno[k] != y->pgno[k] ||
			    memcmp(x->pages[k], y->pages[k], CL_PAGE_SIZE))
				abort();
		if (x->key_file_len && memcmp(x->key_file, y->key_file, x->key_file_len) != 0)
			abort();
	}
}

static void fuzz_entry(const uint8_t *data, size_t size)
{
	struct cl_entry e, again;
	if (cl_entry_decode(data, size, &e) != 0) {
		if (e.priv_ || e.n_sets || e.token)
			abort();
		return;
	}
	if (cl_entry_check(&e) != 0)
		abort();
	for (unsigned i = 0; i < e.n_sets; i++)
		if (!cl_dbname_valid(e.sets[i].db, strlen(e.sets[i].db)))
			abort();
	struct raft_buffer b;
	if (cl_entry_encode(&e, &b) != 0)
		abort();
	if (cl_entry_decode(b.base, b.len, &again) != 0)
		abort();
	same(&e, &again);
	cl_entry_free(&again);
	cl_entry_free(&e);
	raft_free(b.base);
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
	struct cl_manifest_db *dbs;
	size_t n;
	uint64_t index;
	if (cl__fsm_manifest_decode(data, size, &index, &dbs, &n) != 0) {
		if (dbs || n)
			abort();
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!cl_dbname_valid(dbs[i].name, strlen(dbs[i].name)))
			abort();
	free(dbs);
}

/* The transport's connection preamble (raft/cluster_hello.c): fed in chunks of 1..8 bytes, it
 * never consumes past the hello, and an accepted one re-encodes to the same bytes. */
static void fuzz_hello(const uint8_t *data, size_t size)
{
	struct cl_hello h;
	cl_hello_init(&h);
	size_t off = 0, chunk = size ? (size_t)(data[0] % 8) + 1 : 1;
	int rv = 0;
	while (off < size && rv == 0) {
		size_t n = size - off < chunk ? size - off : chunk, used = 0;
		rv = cl_hello_push(&h, data + off, n, &used);
		if (used > n)
			abort();
		off += used;
		if (rv == 0 && used != n)
			abort();
	}
	if (rv == 1) {
		uint8_t again[CL_HELLO_MAX];
		size_t len = cl_hello_encode(h.id, h.address, again);
		if (len != off || memcmp(again, data, len) != 0)
			abort();
	} else if (rv != 0 && rv != MR_EPROTO) {
		abort();
	}
	uint8_t ack[CL_ACK_LEN] = {0};
	memcpy(ack, data, size < CL_ACK_LEN ? size : CL_ACK_LEN);
	(void)cl_ack_check(ack);
}

/* ---- member RPC envelope and join codec ---- */

static void fuzz_rpc_request(const uint8_t *data, size_t size)
{
	struct cl_rpc_msg m, again;
	if (cl_rpc_request_decode(data, size, &m) != 0) {
		if (m.priv_ || m.body || m.len)
			abort();
		return;
	}
	if ((m.body == NULL) != (m.len == 0))
		abort();
	size_t n = cl_rpc_request_size(m.op, m.len);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	cl_rpc_request_pack(m.op, m.body, m.len, buf);
	if (cl_rpc_request_decode(buf, n, &again) != 0 || again.op != m.op || again.len != m.len ||
	    (m.len && memcmp(again.body, m.body, m.len) != 0))
		abort();
	cl_rpc_msg_free(&again);
	cl_rpc_msg_free(&m);
	free(buf);
}

static void fuzz_rpc_reply(const uint8_t *data, size_t size)
{
	struct cl_rpc_msg m, again;
	if (cl_rpc_reply_decode(data, size, &m) != 0) {
		if (m.priv_ || m.body || m.len || m.status)
			abort();
		return;
	}
	if (m.status > 0)
		abort();
	size_t n = cl_rpc_reply_size(m.status, m.len);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	cl_rpc_reply_pack(m.status, m.body, m.len, buf);
	if (cl_rpc_reply_decode(buf, n, &again) != 0 || again.status != m.status ||
	    again.len != m.len || (m.len && memcmp(again.body, m.body, m.len) != 0))
		abort();
	cl_rpc_msg_free(&again);
	cl_rpc_msg_free(&m);
	free(buf);
}

static void fuzz_join_token(const uint8_t *data, size_t size)
{
	char text[2 * CL_JOIN_TOKEN_MAX + 1];
	if (size > sizeof text - 1)
		size = sizeof text - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	struct cl_join_token t;
	if (cl_join_token_decode(text, &t) != 0) {
		if (t.id || t.peer[0] || t.address[0] || t.ca_fpr[0])
			abort();
		return;
	}
	char again[CL_JOIN_TOKEN_MAX + 1];
	size_t n = cl_join_token_encode(&t, again, sizeof again);
	if (t.id == 0 || n == 0 || n != strlen(text) || memcmp(again, text, n) != 0)
		abort();
}

static void fuzz_join_request(const uint8_t *data, size_t size)
{
	uint64_t id = 0, id2 = 0;
	uint8_t proof[CL_JOIN_PROOF], proof2[CL_JOIN_PROOF], *buf;
	size_t len;
	if (cl_join_request_decode(data, size, &id, proof) != 0)
		return;
	if (id == 0 || cl_join_request_encode(id, proof, &buf, &len) != 0)
		abort();
	if (cl_join_request_decode(buf, len, &id2, proof2) != 0 || id2 != id ||
	    memcmp(proof, proof2, CL_JOIN_PROOF) != 0)
		abort();
	free(buf);
}

static const uint8_t fuzz_secret[CL_JOIN_SECRET] = {1, 2, 3, 4, 5, 6, 7, 8};

static void grant_check(const uint8_t *box, size_t len)
{
	struct cl_join_grant g;
	int rv = cl_join_grant_open(box, len, fuzz_secret, &g);
	if (rv != 0) {
		if (g.ca_pem || g.cert_pem || g.key_pem || g.members)
			abort();
		if (rv != MR_EAUTH && rv != MR_EPROTO)
			abort();
		return;
	}
	if (!g.ca_pem[0] || !g.cert_pem[0] || !g.key_pem[0] || !g.members)
		abort();
	cl_join_grant_free(&g);
}

/* The fuzzer's bytes as the plaintext of an authentic box: reaches the JoinGrant decoder. */
static void fuzz_grant_plain(const uint8_t *data, size_t size)
{
	static const char ctx[] = "mailraft join seal v1"; /* cluster_join.h's construction */
	uint8_t key[crypto_secretbox_KEYBYTES];
	if (size > 65536)
		return;
	crypto_generichash(key, sizeof key, (const uint8_t *)ctx, sizeof ctx - 1, fuzz_secret,
	                   sizeof fuzz_secret);
	size_t len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + size;
	uint8_t *box = calloc(1, len);
	if (!box)
		abort();
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, data, size, box, key);
	grant_check(box, len);
	free(box);
}

/* ---- database fetch messages (proto/fetch.proto) ---- */

static void fuzz_fetch_request(const uint8_t *data, size_t size)
{
	struct cl_fetch_req q, again, untouched;
	memset(&q, 0xa5, sizeof q);
	untouched = q;
	if (cl_fetch_req_decode(data, size, &q) != 0) {
		if (memcmp(&q, &untouched, sizeof q) != 0)
			abort();
		return;
	}
	size_t nlen = strnlen(q.db, sizeof q.db);
	if (nlen == sizeof q.db || !cl_dbname_valid(q.db, nlen) ||
	    (q.copy_id == 0 && q.offset != 0) || q.offset >= CL_FETCH_SIZE_MAX)
		abort();
	size_t len;
	uint8_t *buf = cl_fetch_req_encode(&q, &len);
	if (cl_fetch_req_decode(buf, len, &again) != 0 || strcmp(again.db, q.db) != 0 ||
	    again.copy_id != q.copy_id || again.offset != q.offset ||
	    again.min_index != q.min_index)
		abort();
	free(buf);
}

/* The rules of cl_fetch_rep_decode (cluster_fetch_int.h) on an accepted reply. */
static void fetch_reply_check(const struct cl_fetch_rep *r)
{
	if (r->copy_id == 0 || r->size < CL_PAGE_SIZE || r->size % CL_PAGE_SIZE != 0 ||
	    r->size > CL_FETCH_SIZE_MAX || r->offset > r->size)
		abort();
	if ((r->data == NULL) != (r->data_len == 0) || r->data_len > CL_FETCH_CHUNK_MAX ||
	    r->data_len > r->size - r->offset || (r->data_len > 0) != (r->offset < r->size))
		abort();
	if ((r->key == NULL) != (r->key_len == 0) || r->key_len > CL_FETCH_KEY_MAX ||
	    (r->key_len > 0) != (r->offset == 0))
		abort();
}

static void fuzz_fetch_reply(const uint8_t *data, size_t size)
{
	struct cl_fetch_rep r, again, untouched;
	memset(&r, 0xa5, sizeof r);
	untouched = r;
	if (cl_fetch_rep_decode(data, size, &r) != 0) {
		if (memcmp(&r, &untouched, sizeof r) != 0)
			abort();
		return;
	}
	fetch_reply_check(&r);
	size_t len;
	uint8_t *buf = cl_fetch_rep_encode(&r, &len);
	if (cl_fetch_rep_decode(buf, len, &again) != 0)
		abort();
	fetch_reply_check(&again);
	if (again.copy_id != r.copy_id || again.index != r.index || again.size != r.size ||
	    again.offset != r.offset || again.data_len != r.data_len ||
	    again.key_len != r.key_len ||
	    (r.data_len && memcmp(again.data, r.data, r.data_len) != 0) ||
	    (r.key_len && memcmp(again.key, r.key, r.key_len) != 0))
		abort();
	cl_fetch_rep_free(&again);
	cl_fetch_rep_free(&r);
	if (r.m_)
		abort();
	free(buf);
}

static void fuzz_codecs(unsigned sel, const uint8_t *data, size_t size)
{
	/* sel 6 and 7 were aliases of 0 and 1 before the fetch messages; the seeds use 0..5 */
	if (sel == 6 || sel == 7) {
		(sel == 6 ? fuzz_fetch_request : fuzz_fetch_reply)(data, size);
		return;
	}
	switch (sel % 6) {
	case 0:
		fuzz_rpc_request(data, size);
		break;
	case 1:
		fuzz_rpc_reply(data, size);
		break;
	case 2:
		fuzz_join_token(data, size);
		break;
	case 3:
		fuzz_join_request(data, size);
		break;
	case 4:
		grant_check(data, size);
		break;
	default:
		fuzz_grant_plain(data, size);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		log_set_level(LOG_ERROR);
		if (sodium_init() < 0)
			abort();
		init = 1;
	}
	if (size == 0)
		return 0;
	if (data[0] & 4)
		fuzz_codecs(data[0] >> 3, data + 1, size - 1);
	else if (data[0] & 1)
		fuzz_manifest(data + 1, size - 1);
	else if (data[0] & 2)
		fuzz_hello(data + 1, size - 1);
	else
		fuzz_entry(data + 1, size - 1);
	return 0;
}

/* fuzz_raft.c - libFuzzer target for the raft entry codec (raft/cluster_entry.c) and the
 * snapshot manifest decoder (raft/cluster_fsm_disk.c) and the transport hello parser
 * (raft/cluster_hello.c). The first byte picks the decoder (bit 0: manifest, bit 1: hello). An
 * accepted entry must pass the encoder's rules, re-encode, and decode again to the same
 * content (type, token, names, sizes, page numbers and page bytes); a refused one must leave the
 * output zeroed. An accepted manifest must name only valid databases. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>

#include "common/err.h"
#include "common/log.h"
#include "raft/cluster_entry.h"
#include "raft/cluster_transport.h"
#include "raft/cluster_fsm_int.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		log_set_level(LOG_ERROR);
		init = 1;
	}
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_manifest(data + 1, size - 1);
	else if (data[0] & 2)
		fuzz_hello(data + 1, size - 1);
	else
		fuzz_entry(data + 1, size - 1);
	return 0;
}

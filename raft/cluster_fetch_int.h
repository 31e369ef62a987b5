/* cluster_fetch_int.h - private declarations of the fetch module (raft/cluster_fetch*.c): the
 * C view of proto/fetch.proto and its codec (cluster_fetch_msg.c), which validates every field
 * a peer sends before the serving or fetching code (cluster_fetch.c) uses it. */
#ifndef MR_CLUSTER_FETCH_INT_H
#define MR_CLUSTER_FETCH_INT_H
#include <stddef.h>
#include <stdint.h>

#include "raft/cluster_fetch.h"

#define CL_FETCH_COMP "fetch"

struct cl_fetch_req {
	char db[CL_DBNAME_MAX];
	uint64_t copy_id; /* 0: new copy */
	uint64_t offset;
	uint64_t min_index; /* new copy: refuse (MR_EBUSY) if db's applied index is lower */
};

/* A decoded reply; data and key point into the decoder's buffer (valid until
 * cl_fetch_reply_free). */
struct cl_fetch_rep {
	uint64_t copy_id, index, size, offset;
	const uint8_t *data;
	size_t data_len;
	const uint8_t *key;
	size_t key_len;
	void *m_; /* the unpacked message */
};

/* Encode into a malloc'd buffer (*len_r bytes). */
uint8_t *cl_fetch_req_encode(const struct cl_fetch_req *q, size_t *len_r);
uint8_t *cl_fetch_rep_encode(const struct cl_fetch_rep *r, size_t *len_r);
/* Decode and validate: name valid, copy_id 0 only with offset 0, offset < CL_FETCH_SIZE_MAX.
 * 0 or MR_EPROTO. */
int cl_fetch_req_decode(const uint8_t *p, size_t len, struct cl_fetch_req *q_r);
/* Decode and validate: copy_id != 0, size a multiple of CL_PAGE_SIZE and <= CL_FETCH_SIZE_MAX,
 * offset <= size, data 1..CL_FETCH_CHUNK_MAX bytes within size (none only at offset == size),
 * key file 1..CL_FETCH_KEY_MAX bytes present exactly when offset == 0. 0 or MR_EPROTO (nothing
 * to free then). */
int cl_fetch_rep_decode(const uint8_t *p, size_t len, struct cl_fetch_rep *r_r);
void cl_fetch_rep_free(struct cl_fetch_rep *r);

#endif

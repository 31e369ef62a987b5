/* cluster_fetch_msg.c - codec of proto/fetch.proto (FetchRequest / FetchReply) for the database
 * fetch (cluster_fetch.h). Decoding never trusts the peer: protobuf-c bounds the parse by the
 * message length (the RPC layer caps messages at CL_RPC_MAX_MSG), then every field is checked
 * against the rules of cluster_fetch_int.h (name syntax, copy id, offsets and sizes within
 * CL_FETCH_SIZE_MAX, chunk and key file lengths) before anything uses it. */
#include "raft/cluster_fetch_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "fetch.pb-c.h"

uint8_t *cl_fetch_req_encode(const struct cl_fetch_req *q, size_t *len_r)
{
	Mr__FetchRequest m;
	mr__fetch_request__init(&m);
	m.db.data = (uint8_t *)q->db;
	m.db.len = strnlen(q->db, CL_DBNAME_MAX);
	m.has_copy_id = q->copy_id != 0;
	m.copy_id = q->copy_id;
	m.has_offset = true;
	m.offset = q->offset;
	m.has_min_index = q->min_index != 0;
	m.min_index = q->min_index;
	size_t n = mr__fetch_request__get_packed_size(&m);
	uint8_t *buf = xmalloc(n ? n : 1);
	*len_r = mr__fetch_request__pack(&m, buf);
	return buf;
}

uint8_t *cl_fetch_rep_encode(const struct cl_fetch_rep *r, size_t *len_r)
{
	Mr__FetchReply m;
	mr__fetch_reply__init(&m);
	m.copy_id = r->copy_id;
	m.index = r->index;
	m.size = r->size;
	m.offset = r->offset;
	if (r->data_len > 0) {
		m.has_data = true;
		m.data.data = (uint8_t *)r->data;
		m.data.len = r->data_len;
	}
	if (r->key_len > 0) {
		m.has_key_file = true;
		m.key_file.data = (uint8_t *)r->key;
		m.key_file.len = r->key_len;
	}
	size_t n = mr__fetch_reply__get_packed_size(&m);
	uint8_t *buf = xmalloc(n ? n : 1);
	*len_r = mr__fetch_reply__pack(&m, buf);
	return buf;
}

int cl_fetch_req_decode(const uint8_t *p, size_t len, struct cl_fetch_req *q_r)
{
	Mr__FetchRequest *m = mr__fetch_request__unpack(NULL, len, p);
	if (!m)
		return MR_EPROTO;
	int rv = MR_EPROTO;
	uint64_t id = m->has_copy_id ? m->copy_id : 0;
	uint64_t off = m->has_offset ? m->offset : 0;
	if (!cl_dbname_valid((const char *)m->db.data, m->db.len) || (id == 0 && off != 0) ||
	    off >= CL_FETCH_SIZE_MAX)
		goto out;
	memset(q_r, 0, sizeof *q_r);
	memcpy(q_r->db, m->db.data, m->db.len);
	q_r->copy_id = id;
	q_r->offset = off;
	q_r->min_index = m->has_min_index ? m->min_index : 0;
	rv = 0;
out:
	mr__fetch_request__free_unpacked(m, NULL);
	return rv;
}

int cl_fetch_rep_decode(const uint8_t *p, size_t len, struct cl_fetch_rep *r_r)
{
	Mr__FetchReply *m = mr__fetch_reply__unpack(NULL, len, p);
	if (!m)
		return MR_EPROTO;
	size_t dlen = m->has_data ? m->data.len : 0;
	size_t klen = m->has_key_file ? m->key_file.len : 0;
	bool ok = m->copy_id != 0 && m->size >= CL_PAGE_SIZE && m->size % CL_PAGE_SIZE == 0 &&
	          m->size <= CL_FETCH_SIZE_MAX && m->offset <= m->size &&
	          dlen <= CL_FETCH_CHUNK_MAX && dlen <= m->size - m->offset &&
	          (dlen > 0) == (m->offset < m->size) && (klen > 0) == (m->offset == 0) &&
	          klen <= CL_FETCH_KEY_MAX;
	if (!ok) {
		mr__fetch_reply__free_unpacked(m, NULL);
		return MR_EPROTO;
	}
	*r_r = (struct cl_fetch_rep){
	    .copy_id = m->copy_id,
	    .index = m->index,
	    .size = m->size,
	    .offset = m->offset,
	    .data = dlen ? m->data.data : NULL,
	    .data_len = dlen,
	    .key = klen ? m->key_file.data : NULL,
	    .key_len = klen,
	    .m_ = m,
	};
	return 0;
}

void cl_fetch_rep_free(struct cl_fetch_rep *r)
{
	if (r->m_)
		mr__fetch_reply__free_unpacked(r->m_, NULL);
	r->m_ = NULL;
}

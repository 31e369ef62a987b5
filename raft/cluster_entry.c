/* cluster_entry.c - encode/decode of the raft log entry (proto/entry.proto, replication.md
 * §7.3). Encoding builds a protobuf-c message whose byte fields point at the caller's pages (no
 * copy) and packs it into raft_malloc() memory. Decoding bounds the input size before
 * protobuf-c allocates anything, unpacks, then validates every rule (format, type, set count per
 * type, distinct names, name syntax, page size, page numbers, page lengths, database size,
 * key file) so the state machine can trust what it gets. The same rules serve the encoder
 * (cl_entry_check), so a leader cannot put into the log what followers would refuse. */
#include "raft/cluster_entry.h"

#include <raft.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "entry.pb-c.h"

#define COMP "raft"

bool cl_dbname_valid(const char *name, size_t len)
{
	if (len == 0 || len >= CL_DBNAME_MAX || !(name[0] >= 'a' && name[0] <= 'z'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

const char *cl_entry_type_name(enum cl_entry_type t)
{
	static const char *const names[] = {"noop", "frames", "create_db", "delete_db"};
	return (unsigned)t < MR_ARRAY_LEN(names) ? names[t] : "?";
}

/* Rules for one frame set given the entry type; 0 or a static reason. */
static const char *check_set(enum cl_entry_type type, const struct cl_frames *s)
{
	if (!cl_dbname_valid(s->db, strnlen(s->db, CL_DBNAME_MAX)))
		return "bad database name";
	if (s->db_size > CL_DB_MAX_PAGES)
		return "database size out of range";
	if (s->n > CL_ENTRY_MAX_PAGES)
		return "too many pages";
	if (s->n > 0 && (!s->pgno || !s->pages))
		return "missing pages";
	uint32_t max = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->pgno[i] < 1 || s->pgno[i] > CL_DB_MAX_PAGES)
			return "page number out of range";
		if (!s->pages[i])
			return "missing page";
		if (s->pgno[i] > max)
			max = s->pgno[i];
	}
	/* A shrinking transaction may carry pages it wrote before truncating them away. */
	if (max > s->db_size && !(type == CL_ENTRY_FRAMES && s->shrink))
		return "page beyond the database size";
	bool has_key = s->key_file != NULL;
	switch (type) {
	case CL_ENTRY_FRAMES:
		if (s->n == 0 || s->db_size == 0)
			return "frames without pages";
		if (has_key)
			return "key file outside create_db";
		break;
	case CL_ENTRY_CREATE_DB:
		if (!has_key || s->key_file_len == 0 || s->key_file_len > CL_KEYFILE_MAX)
			return "create_db needs a key file";
		if (s->shrink)
			return "shrink outside frames";
		if (s->has_base)
			return "base index outside frames";
		break;
	case CL_ENTRY_DELETE_DB:
		if (s->n != 0 || s->db_size != 0 || has_key || s->shrink || s->has_base)
			return "delete_db carries data";
		break;
	default:
		return "set in a noop";
	}
	return NULL;
}

int cl_entry_check(const struct cl_entry *e)
{
	const char *why = NULL;
	unsigned min_sets, max_sets;
	uint64_t total = 0;

	switch (e->type) {
	case CL_ENTRY_NOOP:
		min_sets = max_sets = 0;
		break;
	case CL_ENTRY_FRAMES:
		min_sets = 1, max_sets = CL_ENTRY_MAX_SETS;
		break;
	case CL_ENTRY_CREATE_DB:
	case CL_ENTRY_DELETE_DB:
		min_sets = max_sets = 1;
		break;
	default:
		why = "unknown type";
		goto bad;
	}
	if (e->n_sets < min_sets || e->n_sets > max_sets) {
		why = "wrong number of frame sets";
		goto bad;
	}
	for (unsigned i = 0; i < e->n_sets; i++) {
		if ((why = check_set(e->type, &e->sets[i])) != NULL)
			goto bad;
		total += e->sets[i].n;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(e->sets[i].db, e->sets[j].db) == 0) {
				why = "database named twice";
				goto bad;
			}
	}
	if (total > CL_ENTRY_MAX_PAGES) {
		why = "too many pages";
		goto bad;
	}
	return 0;
bad:
	log_warn(COMP, "entry rejected type=%s reason=\"%s\"", cl_entry_type_name(e->type), why);
	return MR_EINVAL;
}

int cl_entry_encode(const struct cl_entry *e, struct raft_buffer *buf_r)
{
	Mr__Entry m = MR__ENTRY__INIT;
	Mr__EntryFrames sets[CL_ENTRY_MAX_SETS];
	Mr__EntryFrames *setp[CL_ENTRY_MAX_SETS];
	ProtobufCBinaryData *pages[CL_ENTRY_MAX_SETS] = {0};
	int rv = cl_entry_check(e);
	if (rv != 0)
		return rv;

	m.format = CL_ENTRY_FORMAT;
	m.type = (Mr__EntryType)e->type;
	m.has_token = e->token != 0;
	m.token = e->token;
	m.n_sets = e->n_sets;
	m.sets = e->n_sets ? setp : NULL;
	for (unsigned i = 0; i < e->n_sets; i++) {
		const struct cl_frames *s = &e->sets[i];
		Mr__EntryFrames *f = &sets[i];
		mr__entry_frames__init(f);
		setp[i] = f;
		f->db.data = (uint8_t *)s->db;
		f->db.len = strlen(s->db);
		f->page_size = CL_PAGE_SIZE;
		f->db_size = s->db_size;
		f->n_pgno = s->n;
		f->pgno = (uint32_t *)s->pgno;
		if (s->n) {
			pages[i] = xcalloc(s->n, sizeof(*pages[i]));
			for (uint32_t k = 0; k < s->n; k++) {
				pages[i][k].data = (uint8_t *)s->pages[k];
				pages[i][k].len = CL_PAGE_SIZE;
			}
		}
		f->n_pages = s->n;
		f->pages = pages[i];
		f->has_shrink = s->shrink;
		f->shrink = s->shrink;
		f->has_key_file = s->key_file != NULL;
		f->key_file.data = (uint8_t *)s->key_file;
		f->key_file.len = s->key_file_len;
		f->has_base_index = s->has_base;
		f->base_index = s->base_index;
	}
	/* Pad to a multiple of 8 bytes (entry.proto "pad"): field 6 costs 2 bytes + the pad. */
	static const uint8_t zeros[8];
	size_t len = mr__entry__get_packed_size(&m);
	m.has_pad = 1;
	m.pad.data = (uint8_t *)zeros;
	m.pad.len = (8 - (len + 2) % 8) % 8;
	len = mr__entry__get_packed_size(&m);
	buf_r->base = raft_malloc(len ? len : 1);
	if (!buf_r->base)
		abort(); /* OOM policy: style practice 9 */
	buf_r->len = mr__entry__pack(&m, buf_r->base);
	for (unsigned i = 0; i < e->n_sets; i++)
		free(pages[i]);
	return 0;
}

/* Private part of a decoded entry. */
struct decoded {
	Mr__Entry *m;
	const uint8_t **pages[CL_ENTRY_MAX_SETS];
};

void cl_entry_free(struct cl_entry *e)
{
	struct decoded *d = e->priv_;
	if (!d)
		return;
	for (unsigned i = 0; i < CL_ENTRY_MAX_SETS; i++)
		free(d->pages[i]);
	mr__entry__free_unpacked(d->m, NULL);
	free(d);
	e->priv_ = NULL;
}

/* Copy one unpacked set into s, checking what the C view cannot express. */
static const char *take_set(Mr__EntryFrames *f, struct cl_frames *s, const uint8_t ***pages_r)
{
	if (f->db.len == 0 || f->db.len >= CL_DBNAME_MAX)
		return "bad database name";
	memcpy(s->db, f->db.data, f->db.len);
	s->db[f->db.len] = '\0';
	if (!cl_dbname_valid(s->db, f->db.len))
		return "bad database name";
	if (f->page_size != CL_PAGE_SIZE)
		return "page size differs from the cluster's";
	if (f->n_pgno != f->n_pages)
		return "page numbers and pages differ in count";
	if (f->n_pages > CL_ENTRY_MAX_PAGES)
		return "too many pages";
	s->n = (uint32_t)f->n_pages;
	s->db_size = f->db_size;
	s->shrink = f->has_shrink && f->shrink;
	s->has_base = f->has_base_index;
	s->base_index = f->has_base_index ? f->base_index : 0;
	s->pgno = f->pgno;
	if (s->n) {
		const uint8_t **pages = xcalloc(s->n, sizeof(*pages));
		*pages_r = pages;
		for (uint32_t k = 0; k < s->n; k++) {
			if (f->pages[k].len != CL_PAGE_SIZE)
				return "page of the wrong size";
			pages[k] = f->pages[k].data;
		}
		s->pages = pages;
	}
	if (f->has_key_file) {
		s->key_file = f->key_file.data ? f->key_file.data : (const uint8_t *)"";
		s->key_file_len = f->key_file.len;
	}
	return NULL;
}

int cl_entry_decode(const void *data, size_t len, struct cl_entry *e_r)
{
	const char *why = NULL;
	memset(e_r, 0, sizeof(*e_r));
	if (len == 0 || len > CL_ENTRY_MAX_BYTES) {
		why = "size out of bounds";
		goto bad;
	}
	Mr__Entry *m = mr__entry__unpack(NULL, len, data);
	if (!m) {
		why = "not a protobuf entry";
		goto bad;
	}
	struct decoded *d = xmalloc(sizeof(*d));
	d->m = m;
	e_r->priv_ = d;
	if (m->format != CL_ENTRY_FORMAT) {
		why = "unknown format";
		goto bad_free;
	}
	if (m->has_shard && m->shard != 0) {
		why = "unknown shard";
		goto bad_free;
	}
	if (m->n_sets > CL_ENTRY_MAX_SETS) {
		why = "too many frame sets";
		goto bad_free;
	}
	if (m->has_pad && m->pad.len > 7) {
		why = "bad padding";
		goto bad_free;
	}
	switch (m->type) {
	case MR__ENTRY_TYPE__ENTRY_NOOP:
		e_r->type = CL_ENTRY_NOOP;
		break;
	case MR__ENTRY_TYPE__ENTRY_FRAMES:
		e_r->type = CL_ENTRY_FRAMES;
		break;
	case MR__ENTRY_TYPE__ENTRY_CREATE_DB:
		e_r->type = CL_ENTRY_CREATE_DB;
		break;
	case MR__ENTRY_TYPE__ENTRY_DELETE_DB:
		e_r->type = CL_ENTRY_DELETE_DB;
		break;
	default:
		why = "unknown type";
		goto bad_free;
	}
	e_r->token = m->has_token ? m->token : 0;
	e_r->n_sets = (unsigned)m->n_sets;
	for (unsigned i = 0; i < e_r->n_sets; i++)
		if ((why = take_set(m->sets[i], &e_r->sets[i], &d->pages[i])) != NULL)
			goto bad_free;
	if (cl_entry_check(e_r) != 0) {
		why = "rules";
		goto bad_free;
	}
	return 0;
bad_free:
	cl_entry_free(e_r);
bad:
	log_warn(COMP, "entry decode failed len=%zu reason=\"%s\"", len, why);
	memset(e_r, 0, sizeof(*e_r));
	return MR_EPROTO;
}

/* admin_wire.h - the admin channel's wire codec, shared by the node (node/admin) and
 * mailraftctl (ctl/): 4-byte big-endian length framing with an incremental, bounded reader
 * (the length is checked against the limit before anything is allocated), protobuf-c
 * pack/unpack of CtlRequest/CtlResponse (proto/ctl.proto) with strict decoding, and helpers
 * that build a heap-owned CtlResponse. No sockets, no storage: pure and unit-tested. */
#ifndef MR_ADMIN_WIRE_H
#define MR_ADMIN_WIRE_H
#include <stddef.h>
#include <stdint.h>
#include "common/buf.h"
#include "common/util.h"
#include "ctl.pb-c.h"

/* Bumped on any change of proto/ctl.proto that an older peer could misread. */
#define CTL_VERSION 1u
/* Largest frame payload either side accepts: far above any request (a few short strings) and
 * room for list results of ~10k rows; keeps a hostile or confused peer from making us
 * allocate more. Checked before allocating. */
#define ADMIN_FRAME_MAX (1024u * 1024u)
#define ADMIN_FRAME_HDR 4

/* Incremental frame reader: push bytes, take whole frames. */
struct admin_rd {
	uint8_t hdr[ADMIN_FRAME_HDR];
	size_t hdr_got;
	uint8_t *body; /* allocated once the header is known and within max */
	size_t body_len, body_got;
	size_t max;
	int ready;
};

void admin_rd_init(struct admin_rd *rd, size_t max);
/* Release any partial frame. */
void admin_rd_free(struct admin_rd *rd);
/* Feed n bytes. *used_r gets how many bytes were consumed (bytes after a complete frame are
 * left for the next call). Returns 1 when a frame is complete (take it with admin_rd_take
 * before pushing more), 0 when more bytes are needed, MR_ETOOBIG when the announced length
 * exceeds max (the reader is then unusable: drop the connection). */
int admin_rd_push(struct admin_rd *rd, const uint8_t *p, size_t n, size_t *used_r);
/* Detach the completed frame (caller frees with free(); may be NULL for an empty frame)
 * and reset the reader for the next frame. Only after admin_rd_push returned 1. */
uint8_t *admin_rd_take(struct admin_rd *rd, size_t *len_r);

/* Append header + packed message to out. MR_ETOOBIG if the packed size exceeds
 * ADMIN_FRAME_MAX or out's own limit (nothing appended then). */
int admin_wire_pack(const ProtobufCMessage *msg, struct buf *out);

/* Strict decoders: the whole buffer must be one message with no unknown fields.
 * 0 and *_r set (free with the matching _free), or MR_EPROTO. */
int admin_req_decode(const uint8_t *p, size_t n, Mr__CtlRequest **req_r);
void admin_req_free(Mr__CtlRequest **req);
int admin_resp_decode(const uint8_t *p, size_t n, Mr__CtlResponse **resp_r);
void admin_resp_free_unpacked(Mr__CtlResponse **resp);

/* ---- building a response (every string copied; release with admin_resp_clear) -------- */
void admin_resp_init(Mr__CtlResponse *r);
void admin_resp_clear(Mr__CtlResponse *r);
/* Set the outcome code and error text (replaces earlier text). */
void admin_resp_error(Mr__CtlResponse *r, Mr__CtlCode code, const char *fmt, ...) MR_PRINTF(3, 4);
void admin_resp_message(Mr__CtlResponse *r, const char *fmt, ...) MR_PRINTF(2, 3);
void admin_resp_field(Mr__CtlResponse *r, const char *key, const char *value);
void admin_resp_columns(Mr__CtlResponse *r, size_t n, const char *const *cols);
void admin_resp_row(Mr__CtlResponse *r, size_t n, const char *const *cells);

/* Text for a code ("not found", ...). Never NULL. */
const char *admin_code_str(int code);

#endif

/* admin_wire.c - framing and protobuf-c codec of the admin channel (see admin_wire.h).
 * A frame is a 4-byte big-endian payload length followed by the payload; the length is
 * validated against the reader's maximum before the body buffer is allocated, and bytes are
 * accepted in any split (a byte at a time included). Decoding rejects anything protobuf-c
 * cannot parse and any unknown field, so both sides consume exactly what the schema says. */
#include "admin_wire.h"
#include "common/err.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void admin_rd_init(struct admin_rd *rd, size_t max)
{
	memset(rd, 0, sizeof *rd);
	rd->max = max;
}

void admin_rd_free(struct admin_rd *rd)
{
	free(rd->body);
	rd->body = NULL;
	rd->hdr_got = rd->body_len = rd->body_got = 0;
	rd->ready = 0;
}

int admin_rd_push(struct admin_rd *rd, const uint8_t *p, size_t n, size_t *used_r)
{
	size_t used = 0;
	*used_r = 0;
	if (rd->ready)
		return 1;
	while (rd->hdr_got < ADMIN_FRAME_HDR) {
		if (used == n)
			return 0;
		rd->hdr[rd->hdr_got++] = p[used++];
		*used_r = used;
		if (rd->hdr_got < ADMIN_FRAME_HDR)
			continue;
		size_t len = (size_t)rd->hdr[0] << 24 | (size_t)rd->hdr[1] << 16 |
		             (size_t)rd->hdr[2] << 8 | (size_t)rd->hdr[3];
		if (len > rd->max) /* never trust the wire size: check before allocating */
			return MR_ETOOBIG;
		rd->body_len = len;
		rd->body_got = 0;
		rd->body = len ? xmalloc(len) : NULL;
	}
	size_t want = rd->body_len - rd->body_got;
	size_t take = n - used < want ? n - used : want;
	if (take) {
		memcpy(rd->body + rd->body_got, p + used, take);
		rd->body_got += take;
		used += take;
	}
	*used_r = used;
	if (rd->body_got < rd->body_len)
		return 0;
	rd->ready = 1;
	return 1;
}

uint8_t *admin_rd_take(struct admin_rd *rd, size_t *len_r)
{
	uint8_t *body = rd->body;
	*len_r = rd->ready ? rd->body_len : 0;
	if (!rd->ready)
		return NULL;
	rd->body = NULL;
	rd->hdr_got = rd->body_len = rd->body_got = 0;
	rd->ready = 0;
	return body;
}

int admin_wire_pack(const ProtobufCMessage *msg, struct buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > ADMIN_FRAME_MAX)
		return MR_ETOOBIG;
	if (out->max && out->len + ADMIN_FRAME_HDR + n > out->max)
		return MR_ETOOBIG;
	uint8_t hdr[ADMIN_FRAME_HDR] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
	                                (uint8_t)n};
	uint8_t *tmp = xmalloc(n ? n : 1);
	size_t got = protobuf_c_message_pack(msg, tmp);
	int rv = got == n ? buf_append(out, hdr, sizeof hdr) : MR_EPROTO;
	if (rv == 0)
		rv = buf_append(out, tmp, n);
	free(tmp);
	return rv;
}

/* True when m or any sub-message carries fields the schema does not know. */
static bool has_unknown(const ProtobufCMessage *m)
{
	if (m->n_unknown_fields)
		return true;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr =
			    *(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t j = 0; j < cnt; j++)
				if (arr[j] && has_unknown(arr[j]))
					return true;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
		if (sub && has_unknown(sub))
			return true;
	}
	return false;
}

int admin_req_decode(const uint8_t *p, size_t n, Mr__CtlRequest **req_r)
{
	*req_r = NULL;
	Mr__CtlRequest *req = mr__ctl_request__unpack(NULL, n, p);
	if (!req)
		return MR_EPROTO;
	if (has_unknown(&req->base)) {
		mr__ctl_request__free_unpacked(req, NULL);
		return MR_EPROTO;
	}
	*req_r = req;
	return 0;
}

void admin_req_free(Mr__CtlRequest **req)
{
	if (*req)
		mr__ctl_request__free_unpacked(*req, NULL);
	*req = NULL;
}

int admin_resp_decode(const uint8_t *p, size_t n, Mr__CtlResponse **resp_r)
{
	*resp_r = NULL;
	Mr__CtlResponse *resp = mr__ctl_response__unpack(NULL, n, p);
	if (!resp)
		return MR_EPROTO;
	if (has_unknown(&resp->base)) {
		mr__ctl_response__free_unpacked(resp, NULL);
		return MR_EPROTO;
	}
	for (size_t i = 0; i < resp->n_rows; i++)
		if (resp->n_columns && resp->rows[i]->n_cells != resp->n_columns) {
			mr__ctl_response__free_unpacked(resp, NULL);
			return MR_EPROTO;
		}
	*resp_r = resp;
	return 0;
}

void admin_resp_free_unpacked(Mr__CtlResponse **resp)
{
	if (*resp)
		mr__ctl_response__free_unpacked(*resp, NULL);
	*resp = NULL;
}

/* ---- response builder ------------------------------------------------------------------ */

void admin_resp_init(Mr__CtlResponse *r)
{
	*r = (Mr__CtlResponse)MR__CTL_RESPONSE__INIT;
	r->version = CTL_VERSION;
	r->code = MR__CTL_CODE__CTL_OK;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void admin_resp_clear(Mr__CtlResponse *r)
{
	free(r->error);
	free(r->message);
	for (size_t i = 0; i < r->n_fields; i++) {
		free(r->fields[i]->key);
		free(r->fields[i]->value);
		free(r->fields[i]);
	}
	free(r->fields);
	free_strv(r->columns, r->n_columns);
	for (size_t i = 0; i < r->n_rows; i++) {
		free_strv(r->rows[i]->cells, r->rows[i]->n_cells);
		free(r->rows[i]);
	}
	free(r->rows);
	admin_resp_init(r);
}

__attribute__((format(printf, 1, 0))) static char *vfmt(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return xstrdup("");
	char *s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

void admin_resp_error(Mr__CtlResponse *r, Mr__CtlCode code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->error);
	r->error = vfmt(fmt, ap);
	va_end(ap);
	r->code = code;
}

void admin_resp_message(Mr__CtlResponse *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->message);
	r->message = vfmt(fmt, ap);
	va_end(ap);
}

void admin_resp_field(Mr__CtlResponse *r, const char *key, const char *value)
{
	Mr__CtlField *f = xmalloc(sizeof *f);
	*f = (Mr__CtlField)MR__CTL_FIELD__INIT;
	f->key = xstrdup(key);
	f->value = xstrdup(value ? value : "");
	r->fields = xrealloc(r->fields, (r->n_fields + 1) * sizeof *r->fields);
	r->fields[r->n_fields++] = f;
}

static char **dup_strv(size_t n, const char *const *v)
{
	char **out = xcalloc(n ? n : 1, sizeof *out);
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i] ? v[i] : "");
	return out;
}

void admin_resp_columns(Mr__CtlResponse *r, size_t n, const char *const *cols)
{
	free_strv(r->columns, r->n_columns);
	r->columns = dup_strv(n, cols);
	r->n_columns = n;
}

void admin_resp_row(Mr__CtlResponse *r, size_t n, const char *const *cells)
{
	Mr__CtlRow *row = xmalloc(sizeof *row);
	*row = (Mr__CtlRow)MR__CTL_ROW__INIT;
	row->cells = dup_strv(n, cells);
	row->n_cells = n;
	/* grow geometrically: list results may hold thousands of rows */
	if ((r->n_rows & (r->n_rows - 1)) == 0)
		r->rows = xrealloc(r->rows, (r->n_rows ? r->n_rows * 2 : 1) * sizeof *r->rows);
	r->rows[r->n_rows++] = row;
}

const char *admin_code_str(int code)
{
	static const char *const names[] = {
	    [MR__CTL_CODE__CTL_OK] = "ok",
	    [MR__CTL_CODE__CTL_EINVAL] = "invalid argument",
	    [MR__CTL_CODE__CTL_ENOTFOUND] = "not found",
	    [MR__CTL_CODE__CTL_EEXIST] = "already exists",
	    [MR__CTL_CODE__CTL_EPERM] = "permission denied",
	    [MR__CTL_CODE__CTL_EUNAVAIL] = "not available",
	    [MR__CTL_CODE__CTL_EINTERNAL] = "internal error",
	    [MR__CTL_CODE__CTL_EVERSION] = "protocol version not supported",
	    [MR__CTL_CODE__CTL_EBUSY] = "still in use",
	};
	if (code < 0 || (size_t)code >= MR_ARRAY_LEN(names) || !names[code])
		return "unknown error";
	return names[code];
}

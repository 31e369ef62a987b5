/* cluster_rpc_wire.c - the member RPC's pure parts (see cluster_rpc.h): the RpcRequest /
 * RpcReply envelope codec over proto/rpc.proto, the RPC address rule (raft port + 1), the nng
 * TLS configuration both ends build (TLS 1.2 only and P-256 keys only: nng 1.5.2 runs on
 * mbedTLS 2.28) and the mapping of nng errors to call statuses. Decoders never trust the wire:
 * protobuf-c checks the framing and required fields, and a reply's status must look like an
 * MR_E* code. */
#include "raft/cluster_rpc_int.h"
#include "raft/cluster_pki.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#include "rpc.pb-c.h"

#define STATUS_MIN (-4096) /* lowest status a reply may carry (MR_E* codes are above) */

/* ---- addresses ---- */

int cl_rpc_address(const char *raft_address, char out[CL_ADDRESS_MAX + 1])
{
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (!out || cl_address_parse(raft_address, url, host) != 0)
		return MR_EINVAL;
	const char *colon = strrchr(raft_address, ':');
	uint64_t port = 0;
	if (mr_parse_u64(colon + 1, strlen(colon + 1), 65535, &port) != 0 || port >= 65535)
		return MR_EINVAL;
	int n = snprintf(out, CL_ADDRESS_MAX + 1, "%.*s:%u", (int)(colon - raft_address),
	                 raft_address, (unsigned)port + 1);
	if (n < 0 || n > CL_ADDRESS_MAX)
		return MR_EINVAL;
	return 0;
}

/* ---- envelope ---- */

size_t cl_rpc_request_size(uint32_t op, size_t len)
{
	Mr__RpcRequest m = MR__RPC_REQUEST__INIT;
	m.op = op;
	m.has_body = len > 0;
	m.body.len = len;
	return mr__rpc_request__get_packed_size(&m);
}

size_t cl_rpc_reply_size(int status, size_t len)
{
	Mr__RpcReply m = MR__RPC_REPLY__INIT;
	m.status = status;
	m.has_body = len > 0;
	m.body.len = len;
	return mr__rpc_reply__get_packed_size(&m);
}

void cl_rpc_request_pack(uint32_t op, const void *body, size_t len, uint8_t *out)
{
	Mr__RpcRequest m = MR__RPC_REQUEST__INIT;
	m.op = op;
	m.has_body = len > 0;
	m.body.len = len;
	m.body.data = (uint8_t *)body;
	mr__rpc_request__pack(&m, out);
}

void cl_rpc_reply_pack(int status, const void *body, size_t len, uint8_t *out)
{
	Mr__RpcReply m = MR__RPC_REPLY__INIT;
	m.status = status;
	m.has_body = len > 0;
	m.body.len = len;
	m.body.data = (uint8_t *)body;
	mr__rpc_reply__pack(&m, out);
}

/* The envelope is freed through its descriptor: priv_ points at the unpacked message, whose
 * first member is the ProtobufCMessage base. */
void cl_rpc_msg_free(struct cl_rpc_msg *m)
{
	if (m && m->priv_)
		protobuf_c_message_free_unpacked(m->priv_, NULL);
	if (m)
		memset(m, 0, sizeof *m);
}

int cl_rpc_request_decode(const uint8_t *buf, size_t len, struct cl_rpc_msg *m_r)
{
	memset(m_r, 0, sizeof *m_r);
	if (!buf || len > CL_RPC_MAX_MSG)
		return MR_EPROTO;
	Mr__RpcRequest *m = mr__rpc_request__unpack(NULL, len, buf);
	if (!m)
		return MR_EPROTO;
	m_r->priv_ = m;
	m_r->op = m->op;
	if (m->has_body && m->body.len) {
		m_r->body = m->body.data;
		m_r->len = m->body.len;
	}
	return 0;
}

int cl_rpc_reply_decode(const uint8_t *buf, size_t len, struct cl_rpc_msg *m_r)
{
	memset(m_r, 0, sizeof *m_r);
	if (!buf || len > CL_RPC_MAX_MSG)
		return MR_EPROTO;
	Mr__RpcReply *m = mr__rpc_reply__unpack(NULL, len, buf);
	if (!m)
		return MR_EPROTO;
	if (m->status > 0 || m->status < STATUS_MIN) {
		mr__rpc_reply__free_unpacked(m, NULL);
		return MR_EPROTO;
	}
	m_r->priv_ = m;
	m_r->status = m->status;
	if (m->has_body && m->body.len) {
		m_r->body = m->body.data;
		m_r->len = m->body.len;
	}
	return 0;
}

/* ---- nng glue ---- */

int cl__rpc_tls_config(nng_tls_mode mode, nng_tls_auth_mode auth, const struct cl_pki *pki,
                       const char *server_name, nng_tls_config **cfg_r)
{
	nng_tls_config *cfg = NULL;
	int rv = nng_tls_config_alloc(&cfg, mode);
	if (rv == 0)
		rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_2);
	if (rv == 0 && pki)
		rv = nng_tls_config_ca_chain(cfg, pki->ca_pem, NULL);
	if (rv == 0 && pki)
		rv = nng_tls_config_own_cert(cfg, pki->cert_pem, pki->key_pem, NULL);
	if (rv == 0)
		rv = nng_tls_config_auth_mode(cfg, auth);
	if (rv == 0 && server_name && server_name[0])
		rv = nng_tls_config_server_name(cfg, server_name);
	if (rv != 0) {
		log_error(RPC_COMPONENT, "TLS configuration failed err=\"%s\"", nng_strerror(rv));
		if (cfg)
			nng_tls_config_free(cfg);
		return MR_ETLS;
	}
	*cfg_r = cfg;
	return 0;
}

int cl__rpc_err(int nng_rv)
{
	switch (nng_rv) {
	case 0:
		return 0;
	case NNG_ETIMEDOUT:
		return CL_RPC_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return MR_ECLOSED;
	case NNG_EMSGSIZE:
		return MR_ETOOBIG;
	default:
		return MR_EIO;
	}
}

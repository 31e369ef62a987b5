/* cluster_rpc_int.h - private declarations shared by the member RPC's files: the envelope
 * codec and TLS set-up (cluster_rpc_wire.c), the server (cluster_rpc.c) and the client
 * (cluster_rpc_client.c). Not for other modules. */
#ifndef MR_CLUSTER_RPC_INT_H
#define MR_CLUSTER_RPC_INT_H
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "raft/cluster_rpc.h"

#define RPC_COMPONENT "cluster-rpc"

/* A TLS 1.2 configuration for mode with auth. With pki: trust pki's CA and present its node
 * certificate; without (anonymous client): no certificate, no CA. server_name (client mode,
 * may be NULL) is the name the server's certificate must carry. 0 or MR_ETLS (logged). */
int cl__rpc_tls_config(nng_tls_mode mode, nng_tls_auth_mode auth, const struct cl_pki *pki,
                       const char *server_name, nng_tls_config **cfg_r);

/* An nng error as a call status: timeouts CL_RPC_ETIMEDOUT, closed/cancelled MR_ECLOSED,
 * oversized MR_ETOOBIG, the rest MR_EIO. */
int cl__rpc_err(int nng_rv);

#endif

/* cluster_fetch_rpc.c - the database fetch over the member RPC (raft/cluster_rpc.h): the
 * CL_RPC_FETCH handler (serving side, ud = the struct cl_fetch) and the blocking call the
 * fetching side uses (cl_fetch_config.call). Kept apart from cluster_fetch.c so the fetch logic
 * links and is tested without the RPC layer. */
#include "raft/cluster_fetch.h"

#include "raft/cluster_rpc.h"

void cl_fetch_rpc_reply(void *call, int status, const void *body, size_t len)
{
	cl_rpc_reply(call, status, body, len);
}

void cl_fetch_server_handler(void *ud, struct cl_rpc_call *call, const uint8_t *body, size_t len)
{
	cl_fetch_serve(ud, body, len, cl_fetch_rpc_reply, call);
}

int cl_fetch_rpc_call(void *client, const char *rpc_address, const void *req, size_t len,
                      uint8_t **reply_r, size_t *reply_len_r)
{
	return cl_rpc_call_sync(client, rpc_address, CL_RPC_FETCH, req, len, 0, reply_r,
	                        reply_len_r);
}

/* fuzz_admin.c - the admin channel codec under arbitrary bytes: the first input byte picks a
 * chunk size, the rest is pushed through the bounded frame reader in such chunks, and every
 * complete frame is decoded strictly as a CtlRequest and as a CtlResponse; decoded request
 * strings also go through the address/domain validators the node applies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "node/admin/admin_valid.h"
#include "node/admin/admin_wire.h"

static void check_request(Mr__CtlRequest *req)
{
	char tmp[600];
	const char *s = NULL;
	switch (req->cmd_case) {
	case MR__CTL_REQUEST__CMD_DOMAIN_ADD:
		s = req->domain_add->domain;
		break;
	case MR__CTL_REQUEST__CMD_ACCOUNT_ADD:
		s = req->account_add->address;
		break;
	case MR__CTL_REQUEST__CMD_ALIAS_ADD:
		s = req->alias_add->target;
		break;
	default:
		break;
	}
	if (!s || strlen(s) >= sizeof tmp)
		return;
	strcpy(tmp, s);
	admin_valid_address(tmp, NULL, NULL);
	strcpy(tmp, s);
	admin_valid_domain(tmp, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunk = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	struct admin_rd rd;
	admin_rd_init(&rd, 4096); /* a small limit reaches the oversize path with short inputs */
	size_t off = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk, used;
		int rv = admin_rd_push(&rd, data + off, n, &used);
		if (rv < 0)
			break;
		if (used > n)
			abort();
		off += used;
		if (rv == 1) {
			size_t len;
			uint8_t *body = admin_rd_take(&rd, &len);
			Mr__CtlRequest *req;
			if (admin_req_decode(body, len, &req) == 0) {
				check_request(req);
				admin_req_free(&req);
			}
			Mr__CtlResponse *resp;
			if (admin_resp_decode(body, len, &resp) == 0)
				admin_resp_free_unpacked(&resp);
			free(body);
		}
	}
	admin_rd_free(&rd);
	return 0;
}

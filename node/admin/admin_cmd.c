/* admin_cmd.c - the command table and the one central gate of the admin channel: every
 * decoded request passes admin__dispatch, which checks the protocol version and looks the
 * command up in the table before a handler runs; handlers never re-check. Also the helpers
 * every handler uses: mapping MR_E* to CtlCode, and running store work as a job on an actor
 * with a continuation back on the loop (the loop never blocks on storage). */
#include "admin_int.h"
#include "common/err.h"
#include "common/log.h"
#include "node.h"
#include <stdarg.h>
#include <stdio.h>

static const struct admin_cmd admin_cmds[] = {
    {MR__CTL_REQUEST__CMD_STATUS, "status", admin__cmd_status},
    {MR__CTL_REQUEST__CMD_DOMAIN_ADD, "domain add", admin__cmd_domain_add},
    {MR__CTL_REQUEST__CMD_DOMAIN_LIST, "domain list", admin__cmd_domain_list},
    {MR__CTL_REQUEST__CMD_DOMAIN_RM, "domain rm", admin__cmd_domain_rm},
    {MR__CTL_REQUEST__CMD_DOMAIN_DNS, "domain dns", admin__cmd_domain_dns},
    {MR__CTL_REQUEST__CMD_ACCOUNT_ADD, "account add", admin__cmd_account_add},
    {MR__CTL_REQUEST__CMD_ACCOUNT_LIST, "account list", admin__cmd_account_list},
    {MR__CTL_REQUEST__CMD_ACCOUNT_RM, "account rm", admin__cmd_account_rm},
    {MR__CTL_REQUEST__CMD_ACCOUNT_PASSWD, "account passwd", admin__cmd_account_passwd},
    {MR__CTL_REQUEST__CMD_ALIAS_ADD, "alias add", admin__cmd_alias_add},
    {MR__CTL_REQUEST__CMD_ALIAS_LIST, "alias list", admin__cmd_alias_list},
    {MR__CTL_REQUEST__CMD_ALIAS_RM, "alias rm", admin__cmd_alias_rm},
    {MR__CTL_REQUEST__CMD_CLUSTER_MEMBERS, "cluster members", admin__cmd_cluster_members},
    {MR__CTL_REQUEST__CMD_CLUSTER_ADD, "cluster add", admin__cmd_cluster_add},
    {MR__CTL_REQUEST__CMD_CLUSTER_ASSIGN, "cluster assign", admin__cmd_cluster_assign},
    {MR__CTL_REQUEST__CMD_CLUSTER_REMOVE, "cluster remove", admin__cmd_cluster_remove},
    {MR__CTL_REQUEST__CMD_CLUSTER_TRANSFER, "cluster transfer", admin__cmd_cluster_transfer},
};

void admin__dispatch(struct admin_req *r)
{
	if (r->req->version != CTL_VERSION) {
		admin_resp_error(&r->resp, MR__CTL_CODE__CTL_EVERSION,
		                 "protocol version %u not supported (node speaks %u)",
		                 r->req->version, CTL_VERSION);
		admin__reply(r);
		return;
	}
	for (size_t i = 0; i < MR_ARRAY_LEN(admin_cmds); i++) {
		if (admin_cmds[i].which != r->req->cmd_case)
			continue;
		log_debug("admin", "command name=\"%s\" uid=%u", admin_cmds[i].name,
		          (unsigned)r->peer_uid);
		admin_cmds[i].run(r);
		return;
	}
	admin_resp_error(&r->resp, MR__CTL_CODE__CTL_EUNAVAIL,
	                 "command not implemented by this node");
	admin__reply(r);
}

static Mr__CtlCode code_of(int rv)
{
	switch (rv) {
	case MR_EINVAL:
	case MR_ETOOBIG:
	case MR_EPROTO:
		return MR__CTL_CODE__CTL_EINVAL;
	case MR_ENOTFOUND:
		return MR__CTL_CODE__CTL_ENOTFOUND;
	case MR_EEXIST:
		return MR__CTL_CODE__CTL_EEXIST;
	case MR_EPERM:
	case MR_EAUTH:
		return MR__CTL_CODE__CTL_EPERM;
	case MR_EBUSY:
		return MR__CTL_CODE__CTL_EBUSY;
	case MR_ENOTLEADER:
	case MR_ECLOSED:
		return MR__CTL_CODE__CTL_EUNAVAIL;
	default:
		return MR__CTL_CODE__CTL_EINTERNAL;
	}
}

void admin__fail(struct admin_req *r, int rv, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	admin_resp_error(&r->resp, code_of(rv), "%s", text);
	admin__reply(r);
}

static void job_done(void *arg, int rv)
{
	struct admin_req *r = arg;
	r->cont(r, rv);
}

void admin__job(struct admin_req *r, const char *dbname, int flags, store_job_fn fn,
                admin_cont_fn cont)
{
	r->cont = cont;
	int rv = store_submit(node_get()->store, dbname, flags, fn, job_done, r);
	if (rv != 0)
		cont(r, rv);
}

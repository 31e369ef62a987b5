/* ctl_main.c - mailraftctl: administer a running mailraft node through its admin socket
 * (see mailraftctl.8.md). Parse the command line (ctl_cli.c), answer --help / --version /
 * planned verbs locally, hand the offline verbs (cluster init / join) to
 * ctl_cluster_offline.c, read a password from stdin if asked, find the socket (ctl_conf.c),
 * do one request/response exchange (ctl_client.c) and print the result (ctl_out.c). The exit
 * status follows sysexits(3). */
#include "ctl.h"
#include "node/admin/admin_wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

/* Read one line (the password) from stdin; 0 or an exit status with err set. */
static int read_password(char *pw, size_t cap, char *err, size_t errlen)
{
	if (!fgets(pw, (int)cap, stdin)) {
		if (ferror(stdin)) {
			snprintf(err, errlen, "cannot read standard input");
			return CTL_EX_IOERR;
		}
		snprintf(err, errlen, "no password on standard input");
		return CTL_EX_DATAERR;
	}
	if (!strchr(pw, '\n') && strlen(pw) == cap - 1 && !feof(stdin)) {
		sodium_memzero(pw, cap);
		snprintf(err, errlen, "password longer than %d bytes", CTL_PASSWORD_MAX);
		return CTL_EX_DATAERR;
	}
	if (ctl_password_line(pw) != 0) {
		sodium_memzero(pw, cap);
		snprintf(err, errlen, "empty password or control characters on standard input");
		return CTL_EX_DATAERR;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl_opts o;
	char err[512] = "";
	int status = ctl_parse(argc, argv, &o, err, sizeof err);
	if (status != 0) {
		fprintf(stderr, "mailraftctl: %s\n", err);
		return status;
	}
	switch (o.action) {
	case CTL_ACT_HELP:
		ctl_usage(stdout);
		return CTL_EX_OK;
	case CTL_ACT_VERSION:
		printf("mailraftctl %s (admin protocol %u)\n", MR_VERSION, CTL_VERSION);
		return CTL_EX_OK;
	case CTL_ACT_PLANNED:
		snprintf(err, sizeof err, "%s %s: not implemented yet", o.verb->verb,
		         o.verb->sub ? o.verb->sub : "");
		return ctl_print_error(&o, CTL_EX_UNAVAILABLE, err, stdout, stderr);
	case CTL_ACT_OFFLINE:
		return ctl_offline_run(&o, stdout, stderr);
	case CTL_ACT_RUN:
		break;
	}

	static char pwbuf[CTL_PASSWORD_MAX + 2]; /* + '\n' + NUL */
	if (o.password_stdin) {
		status = read_password(pwbuf, sizeof pwbuf, err, sizeof err);
		if (status != 0)
			return ctl_print_error(&o, status, err, stdout, stderr);
	}
	static struct ctl_call call;
	status = ctl_build(&o, o.password_stdin ? pwbuf : NULL, &call, err, sizeof err);
	sodium_memzero(pwbuf, sizeof pwbuf);
	if (status != 0) {
		fprintf(stderr, "mailraftctl: %s\n", err);
		return status;
	}
	char path[1024];
	if (ctl_socket_path(o.socket, o.config, path, sizeof path, err, sizeof err) != 0) {
		ctl_call_wipe(&call);
		return ctl_print_error(&o, CTL_EX_CONFIG, err, stdout, stderr);
	}
	Mr__CtlResponse *resp;
	status = ctl_roundtrip(path, &call.req, &resp, err, sizeof err);
	if (status != 0) {
		ctl_call_wipe(&call);
		return ctl_print_error(&o, status, err, stdout, stderr);
	}
	status = ctl_print(&o, &call, resp, stdout, stderr);
	admin_resp_free_unpacked(&resp);
	ctl_call_wipe(&call);
	return status;
}

/* ctl.h - mailraftctl's internal interfaces. The program is split so everything but the
 * socket is testable: ctl_cli.c parses argv through the command table into struct ctl_opts
 * and builds the CtlRequest (no I/O), ctl_conf.c finds the admin socket, ctl_json.c writes
 * escaped JSON, ctl_out.c renders a CtlResponse as a table or JSON and maps its code to a
 * sysexits(3) exit status, ctl_client.c talks to the node, ctl_main.c ties them together.
 * The offline cluster verbs (init, join) act on the data directory instead of the socket:
 * ctl_cluster_offline.c (init) and ctl_cluster_join.c (join). */
#ifndef MR_CTL_H
#define MR_CTL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "common/buf.h"
#include "ctl.pb-c.h"

/* sysexits(3) values, spelled out so the mapping is visible in one place. */
#define CTL_EX_OK 0
#define CTL_EX_USAGE 64       /* bad command line */
#define CTL_EX_DATAERR 65     /* invalid address, domain, ... */
#define CTL_EX_NOUSER 67      /* no such account / domain / alias */
#define CTL_EX_UNAVAILABLE 69 /* daemon not running, or verb not implemented yet */
#define CTL_EX_SOFTWARE 70    /* internal error */
#define CTL_EX_IOERR 74       /* reading stdin failed */
#define CTL_EX_PROTOCOL 76    /* the node speaks another protocol version */
#define CTL_EX_CANTCREAT 73   /* already exists */
#define CTL_EX_TEMPFAIL 75    /* offline verb while the daemon runs: stop it first */
#define CTL_EX_NOPERM 77      /* permission denied */
#define CTL_EX_CONFIG 78      /* unreadable config file, socket path too long */

/* Command flags. */
#define CTL_F_PASSWORD 0x1 /* takes --password PW / --password-stdin */
#define CTL_F_GENPW 0x2    /* without a password option, generate one and print it */
#define CTL_F_QUOTA 0x4    /* takes --quota SIZE */
#define CTL_F_PLANNED 0x8  /* belongs to later work: answers "not implemented yet" */
#define CTL_F_ID 0x10      /* takes --id N */
#define CTL_F_ADDRESS 0x20 /* takes --address HOST:PORT */
#define CTL_F_TO 0x40      /* takes --to ID */
#define CTL_F_OFFLINE 0x80 /* acts on the data directory, the daemon stopped (no build) */

struct ctl_opts;
struct ctl_call;

/* One verb of the command table. */
struct ctl_verb {
	const char *verb, *sub; /* sub NULL: a verb without sub-command (status) */
	const char *args;       /* usage of the arguments, for --help */
	const char *help;
	int min_args, max_args;
	unsigned flags;
	/* Fill call->req from the parsed options; 0, or CTL_EX_USAGE with err set. */
	int (*build)(const struct ctl_opts *o, struct ctl_call *call, char *err, size_t errlen);
};

enum ctl_action { CTL_ACT_RUN, CTL_ACT_HELP, CTL_ACT_VERSION, CTL_ACT_PLANNED, CTL_ACT_OFFLINE };

#define CTL_MAX_ARGS 4
#define CTL_PASSWORD_MAX 1024 /* as the node's cap */

struct ctl_opts {
	enum ctl_action action;
	const char *socket, *config;
	bool json;
	const struct ctl_verb *verb;
	const char *verb_name, *sub_name; /* as typed (for planned / error messages) */
	const char *args[CTL_MAX_ARGS];
	int nargs;
	const char *password; /* --password */
	bool password_stdin;
	bool has_quota;
	int64_t quota;
	bool has_id, has_to; /* --id N, --to ID (cluster) */
	uint64_t id, to;
	const char *address; /* --address HOST:PORT (cluster) */
};

/* The request and the storage its sub-messages point into. */
struct ctl_call {
	Mr__CtlRequest req;
	union {
		Mr__CtlStatus status;
		Mr__CtlDomainAdd domain_add;
		Mr__CtlDomainList domain_list;
		Mr__CtlDomainRm domain_rm;
		Mr__CtlDomainDns domain_dns;
		Mr__CtlAccountAdd account_add;
		Mr__CtlAccountList account_list;
		Mr__CtlAccountRm account_rm;
		Mr__CtlAccountPasswd account_passwd;
		Mr__CtlAliasAdd alias_add;
		Mr__CtlAliasList alias_list;
		Mr__CtlAliasRm alias_rm;
		Mr__CtlClusterMembers cluster_members;
		Mr__CtlClusterAdd cluster_add;
		Mr__CtlClusterAssign cluster_assign;
		Mr__CtlClusterRemove cluster_remove;
		Mr__CtlClusterTransfer cluster_transfer;
	} u;
	char password[CTL_PASSWORD_MAX + 1]; /* given, read or generated; wiped by ctl_call_wipe */
	bool generated;                      /* password was generated: print it */
};

/* ---- ctl_cli.c ------------------------------------------------------------------------ */
/* Parse argv (argv[0] is the program) into o. Returns 0 (see o->action), or CTL_EX_USAGE with
 * a message in err. Pointers in o point into argv. */
int ctl_parse(int argc, char **argv, struct ctl_opts *o, char *err, size_t errlen);
/* Build the request for o->verb. The password is taken from o->password, or from pw (already
 * read from stdin by the caller), or generated when the verb has CTL_F_GENPW. */
int ctl_build(const struct ctl_opts *o, const char *pw, struct ctl_call *call, char *err,
              size_t errlen);
void ctl_call_wipe(struct ctl_call *call);
/* A random password of n characters from an unambiguous alphabet (libsodium RNG). */
void ctl_gen_password(char *out, size_t n);
/* Parse "123", "10K", "500M", "10G", "1T" (powers of 1024). 0 or -1. */
int ctl_parse_size(const char *s, int64_t *out_r);
/* Usage text (the table's verbs, planned ones under their own heading). */
void ctl_usage(FILE *f);
/* Strip a trailing "\n" / "\r\n" from a password read from stdin; -1 if empty or if it has
 * other control characters. */
int ctl_password_line(char *s);
/* Parse a cluster node id: decimal 1..2^63-1, nothing else. 0 or -1. */
int ctl_parse_id(const char *s, uint64_t *out_r);

/* ---- ctl_conf.c ----------------------------------------------------------------------- */
/* The keys of the daemon's configuration that mailraftctl needs, after the daemon's rules
 * (file, then MAILRAFT_<KEY> from the environment; defaults as in node/core/config.c). */
struct ctl_conf {
	char data_dir[1024];        /* default ./data */
	char admin_socket[1024];    /* "" = <data_dir>/admin.sock */
	char master_key_file[1024]; /* "" = <data_dir>/master.key */
	char cluster_address[256];  /* "" = single node */
};
/* Read config (NULL: defaults and environment only) into c. 0 or -1 with err. */
int ctl_conf_read(const char *config, struct ctl_conf *c, char *err, size_t errlen);
/* The admin socket: opt (--socket), else $MAILRAFT_ADMIN_SOCKET, else the config file's
 * admin_socket or data_dir (with $MAILRAFT_DATA_DIR winning, as in the daemon), else
 * ./data/admin.sock. 0 or -1 with err (unreadable config, path too long). */
int ctl_socket_path(const char *opt, const char *config, char *out, size_t outlen, char *err,
                    size_t errlen);

/* ---- ctl_cluster_offline.c / ctl_cluster_join.c ---------------------------------------- */
/* Run an offline verb (CTL_ACT_OFFLINE: cluster init | cluster join); returns the exit
 * status, messages printed to out / errf (JSON on out with --json). */
int ctl_offline_run(const struct ctl_opts *o, FILE *out, FILE *errf);

/* ---- ctl_json.c ----------------------------------------------------------------------- */
/* Append s as a JSON string (RFC 8259 §7): quotes, backslash and control characters escaped,
 * invalid UTF-8 replaced by U+FFFD. */
void ctl_json_str(struct buf *out, const char *s);

/* ---- ctl_out.c ------------------------------------------------------------------------ */
/* Exit status for a response code. */
int ctl_exit_code(int code);
/* Render resp (human or JSON) to out/err; returns the exit status. */
int ctl_print(const struct ctl_opts *o, const struct ctl_call *call, const Mr__CtlResponse *resp,
              FILE *out, FILE *errf);
/* Render a local failure (cannot connect, ...) in the chosen format; returns status. */
int ctl_print_error(const struct ctl_opts *o, int status, const char *msg, FILE *out, FILE *errf);

/* ---- ctl_client.c --------------------------------------------------------------------- */
/* Connect to path, send req, wait for the response (*resp_r; free with
 * admin_resp_free_unpacked). 0, or an exit status with err set. */
int ctl_roundtrip(const char *path, const Mr__CtlRequest *req, Mr__CtlResponse **resp_r, char *err,
                  size_t errlen);

#endif

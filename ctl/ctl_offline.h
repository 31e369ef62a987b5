/* ctl_offline.h - shared by the offline cluster verbs (ctl_cluster_offline.c: the checks,
 * file helpers and `cluster init`; ctl_cluster_join.c: `cluster join`). They act on the data
 * directory named by the configuration while mailraftd is stopped: a daemon answering on the
 * admin socket makes them refuse (exit 75), and every file they create is written atomically
 * (tmp + fsync + rename + fsync of the directory), never over an existing one. */
#ifndef MR_CTL_OFFLINE_H
#define MR_CTL_OFFLINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ctl.h"

#define CTL_PATH_MAX 1100 /* data_dir (1023) + "/cluster/" + a file name */

/* What both verbs know once the configuration is read and the daemon found stopped. */
struct ctl_off {
	const struct ctl_opts *o;
	struct ctl_conf conf;
	char sock[1024];                /* the admin socket checked */
	char cluster_dir[CTL_PATH_MAX]; /* <data_dir>/cluster */
	char master_key[CTL_PATH_MAX];  /* master_key_file or <data_dir>/master.key */
	bool chown_to; /* running as root: hand new files to the data dir's owner */
	uid_t uid;
	gid_t gid;
	char err[4096];
};

/* Read the configuration, compute the paths and refuse if the daemon answers on the admin
 * socket. 0 or an exit status with x->err set. */
int ctl_off_prepare(const struct ctl_opts *o, struct ctl_off *x);

/* Create data_dir (0700) if missing, once the verb's checks passed, and note its owner for
 * ctl_off_own. 0 or an exit status with x->err set. */
int ctl_off_datadir(struct ctl_off *x);

/* True if a process accepts connections on the unix socket at path. */
bool ctl_off_socket_live(const char *path);

/* "<dir>/<name>" into out (CTL_PATH_MAX); -1 if too long. */
int ctl_off_path(char *out, const char *dir, const char *name);

/* True if path exists (any type). */
bool ctl_off_exists(const char *path);

/* Write len bytes to path with mode: path.tmp (O_EXCL), fsync, rename, fsync of the
 * directory; MR_EEXIST if path exists, MR_EIO otherwise (errno kept). The new file is given to
 * the data directory's owner when x->chown_to. */
int ctl_off_write(struct ctl_off *x, const char *path, const void *data, size_t len, mode_t mode);

/* Hand path to the data directory's owner when running as root (no-op otherwise). */
void ctl_off_own(struct ctl_off *x, const char *path);

/* The marker file content "ID@ADDRESS\n" into out; its length, or 0 if it does not fit. */
size_t ctl_off_marker(char *out, size_t cap, uint64_t id, const char *address);

/* Print a success (message + fields as key, value pairs; NULL-terminated) the way online
 * verbs print responses (human or --json). Returns 0. */
int ctl_off_ok(const struct ctl_off *x, FILE *out, FILE *errf, const char *message,
               const char *const *kv);

/* Print x->err as a failure with status (human on errf, or JSON on out); returns status. */
int ctl_off_fail(const struct ctl_off *x, int status, FILE *out, FILE *errf);

/* `cluster join` (ctl_cluster_join.c), after ctl_off_prepare. */
int ctl_off_join(struct ctl_off *x, FILE *out, FILE *errf);

#endif

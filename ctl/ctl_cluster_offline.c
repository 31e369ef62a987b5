/* ctl_cluster_offline.c - the offline cluster verbs' common ground (see ctl_offline.h) and
 * `cluster init`: read the configuration (ctl_conf.c), refuse while the daemon answers on the
 * admin socket, then work on the data directory. init turns a stopped node (empty or holding a
 * single node's databases) into the first member of a new cluster: <data_dir>/cluster/ gets a
 * new CA (ca.key 0600, ca.crt) and this node's certificate and key (node.crt, node.key 0600,
 * raft/cluster_pki.h) for the host part of its raft address, and the marker "bootstrap"
 * ("ID@ADDRESS\n"): on its next start mailraftd bootstraps a one-voter configuration and adopts
 * the local databases (node/cluster/cluster.h). A node that already has an identity is refused;
 * a CA left by an init interrupted before the node certificate is reused. */
#define _GNU_SOURCE /* renameat2 */
#include "common/err.h"
#include "common/log.h"
#include "ctl_offline.h"
#include "node/admin/admin_wire.h"
#include "node/cluster/cluster.h"
#include "raft/cluster_pki.h"
#include "raft/cluster_transport.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- common ground ------------------------------------------------------------------ */

bool ctl_off_socket_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return live;
}

int ctl_off_path(char *out, const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	if (a + 1 + b >= CTL_PATH_MAX)
		return -1; /* checked by length: gcc's truncation warning cannot see it */
	memcpy(out, dir, a);
	out[a] = '/';
	memcpy(out + a + 1, name, b + 1);
	return 0;
}

bool ctl_off_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

void ctl_off_own(struct ctl_off *x, const char *path)
{
	if (x->chown_to && lchown(path, x->uid, x->gid) != 0)
		fprintf(stderr, "mailraftctl: warning: cannot hand %s to uid %u: %s\n", path,
		        (unsigned)x->uid, strerror(errno));
}

static int fsync_dir_of(const char *path)
{
	char dir[CTL_PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rv = fsync(fd);
	close(fd);
	return rv;
}

/* rename without replacing: RENAME_NOREPLACE, or (file systems without it) check + rename. */
static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (ctl_off_exists(to)) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

int ctl_off_write(struct ctl_off *x, const char *path, const void *data, size_t len, mode_t mode)
{
	if (ctl_off_exists(path))
		return MR_EEXIST;
	char tmp[CTL_PATH_MAX + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp); /* left by an interrupted run */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return MR_EIO;
	const uint8_t *p = data;
	size_t left = len;
	int rv = fchmod(fd, mode); /* whatever the umask */
	while (rv == 0 && left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rv = -1;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (rv == 0 && x->chown_to)
		rv = fchown(fd, x->uid, x->gid);
	if (rv == 0)
		rv = fsync(fd);
	int e = errno;
	if (close(fd) != 0 && rv == 0) {
		rv = -1;
		e = errno;
	}
	if (rv == 0 && rename_noreplace(tmp, path) != 0) {
		rv = -1;
		e = errno;
	}
	if (rv != 0) {
		unlink(tmp);
		errno = e;
		return e == EEXIST ? MR_EEXIST : MR_EIO;
	}
	fsync_dir_of(path);
	return 0;
}

size_t ctl_off_marker(char *out, size_t cap, uint64_t id, const char *address)
{
	int n = snprintf(out, cap, "%" PRIu64 "@%s\n", id, address);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int ctl_off_ok(const struct ctl_off *x, FILE *out, FILE *errf, const char *message,
               const char *const *kv)
{
	Mr__CtlResponse resp;
	admin_resp_init(&resp);
	admin_resp_message(&resp, "%s", message);
	for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
		admin_resp_field(&resp, kv[i], kv[i + 1]);
	int status = ctl_print(x->o, NULL, &resp, out, errf);
	admin_resp_clear(&resp);
	return status;
}

int ctl_off_fail(const struct ctl_off *x, int status, FILE *out, FILE *errf)
{
	return ctl_print_error(x->o, status, x->err, out, errf);
}

int ctl_off_prepare(const struct ctl_opts *o, struct ctl_off *x)
{
	memset(x, 0, sizeof *x);
	x->o = o;
	if (ctl_conf_read(o->config, &x->conf, x->err, sizeof x->err) != 0)
		return CTL_EX_CONFIG;
	if (ctl_socket_path(o->socket, o->config, x->sock, sizeof x->sock, x->err, sizeof x->err) !=
	    0)
		return CTL_EX_CONFIG;
	if (ctl_off_socket_live(x->sock)) {
		snprintf(x->err, sizeof x->err,
		         "mailraftd is running (it answers on %s): stop it first, this command "
		         "works on its data directory",
		         x->sock);
		return CTL_EX_TEMPFAIL;
	}
	const char *dd = x->conf.data_dir;
	if (ctl_off_path(x->cluster_dir, dd, CLUSTER_DIR) != 0 ||
	    (x->conf.master_key_file[0]
	         ? snprintf(x->master_key, sizeof x->master_key, "%s", x->conf.master_key_file) >=
	               (int)sizeof x->master_key
	         : ctl_off_path(x->master_key, dd, "master.key") != 0)) {
		snprintf(x->err, sizeof x->err, "data_dir or master_key_file path too long");
		return CTL_EX_CONFIG;
	}
	return 0;
}

int ctl_off_datadir(struct ctl_off *x)
{
	const char *dd = x->conf.data_dir;
	if (mkdir(dd, 0700) != 0 && errno != EEXIST) {
		snprintf(x->err, sizeof x->err, "cannot create the data directory %s: %s", dd,
		         strerror(errno));
		return CTL_EX_CANTCREAT;
	}
	struct stat st;
	if (stat(dd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(x->err, sizeof x->err, "%s is not a directory", dd);
		return CTL_EX_CONFIG;
	}
	/* root preparing a node whose daemon runs as another user (mailraftd also chowns the
	 * data directory at start, but not a master_key_file outside it) */
	if (geteuid() == 0 && st.st_uid != 0) {
		x->chown_to = true;
		x->uid = st.st_uid;
		x->gid = st.st_gid;
	}
	return 0;
}

/* ---- init ----------------------------------------------------------------------------- */

/* A node identity or a marker already in cluster_dir: name of the first one found. */
static const char *identity_file(const struct ctl_off *x)
{
	static const char *const names[] = {CL_PKI_NODE_CERT, CL_PKI_NODE_KEY,
	                                    CLUSTER_MARK_BOOTSTRAP, CLUSTER_MARK_JOIN};
	char p[CTL_PATH_MAX];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (ctl_off_path(p, x->cluster_dir, names[i]) == 0 && ctl_off_exists(p))
			return names[i];
	return NULL;
}

/* The raft address: --address, else cluster_address; both given must agree. */
static int init_address(struct ctl_off *x, const char **addr_r)
{
	const char *opt = x->o->address, *cfg = x->conf.cluster_address;
	if (opt && cfg[0] && strcmp(opt, cfg) != 0) {
		snprintf(x->err, sizeof x->err,
		         "--address %s differs from cluster_address = %s in the configuration", opt,
		         cfg);
		return CTL_EX_CONFIG;
	}
	*addr_r = opt ? opt : cfg;
	if (!**addr_r) {
		snprintf(x->err, sizeof x->err,
		         "cluster init needs this node's raft address: --address HOST:PORT, or "
		         "cluster_address in the configuration");
		return CTL_EX_USAGE;
	}
	return 0;
}

/* Hand what init created to the data directory's owner (root preparing a service user). */
static void own_all(struct ctl_off *x)
{
	static const char *const names[] = {CL_PKI_CA_KEY, CL_PKI_CA_CERT, CL_PKI_NODE_CERT,
	                                    CL_PKI_NODE_KEY};
	char p[CTL_PATH_MAX];
	if (!x->chown_to)
		return;
	ctl_off_own(x, x->cluster_dir);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (ctl_off_path(p, x->cluster_dir, names[i]) == 0 && ctl_off_exists(p))
			ctl_off_own(x, p);
}

static int run_init(struct ctl_off *x, FILE *out, FILE *errf)
{
	const char *addr;
	int st = init_address(x, &addr);
	if (st != 0)
		return st;
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (cl_address_parse(addr, url, host) != 0) {
		snprintf(x->err, sizeof x->err,
		         "invalid raft address '%s' (host:port or [v6]:port)", addr);
		return CTL_EX_DATAERR;
	}
	uint64_t id = x->o->has_id ? x->o->id : 1;
	const char *have = identity_file(x);
	if (have) {
		snprintf(
		    x->err, sizeof x->err,
		    "%s/%s exists: this node already has a cluster identity (remove %s to start "
		    "over)",
		    x->cluster_dir, have, x->cluster_dir);
		return CTL_EX_CANTCREAT;
	}
	if ((st = ctl_off_datadir(x)) != 0)
		return st;
	int rv = cl_pki_init_ca(x->cluster_dir);
	if (rv == MR_EEXIST) {
		char p[CTL_PATH_MAX];
		if (ctl_off_path(p, x->cluster_dir, CL_PKI_CA_KEY) != 0 || !ctl_off_exists(p)) {
			snprintf(
			    x->err, sizeof x->err,
			    "%s holds a CA certificate without its key: remove %s to start over",
			    x->cluster_dir, x->cluster_dir);
			return CTL_EX_CANTCREAT;
		}
		rv = 0; /* a CA from an interrupted init: issue from it */
	}
	if (rv == 0)
		rv = cl_pki_issue(x->cluster_dir, id, host, x->cluster_dir);
	if (rv != 0) {
		own_all(x);
		snprintf(x->err, sizeof x->err, "cannot create the cluster credentials in %s: %s",
		         x->cluster_dir, mr_strerror(rv));
		return rv == MR_EEXIST ? CTL_EX_CANTCREAT : CTL_EX_SOFTWARE;
	}
	own_all(x);
	struct cl_pki pki = {0};
	char fpr[CL_PKI_FPR_LEN + 1] = "";
	rv = cl_pki_load(x->cluster_dir, &pki);
	if (rv == 0)
		rv = cl_pki_fingerprint(pki.ca_pem, fpr);
	cl_pki_free(&pki);
	char mark[CTL_PATH_MAX], line[CL_ADDRESS_MAX + 32];
	size_t n = ctl_off_marker(line, sizeof line, id, addr);
	if (rv == 0 && (ctl_off_path(mark, x->cluster_dir, CLUSTER_MARK_BOOTSTRAP) != 0 || n == 0))
		rv = MR_EINVAL;
	if (rv == 0)
		rv = ctl_off_write(x, mark, line, n, 0600);
	if (rv != 0) {
		snprintf(x->err, sizeof x->err, "cannot finish %s: %s", x->cluster_dir,
		         rv == MR_EIO ? strerror(errno) : mr_strerror(rv));
		return CTL_EX_CANTCREAT;
	}
	char msg[2048], ids[24], set_addr[CL_ADDRESS_MAX + 64] = "";
	snprintf(ids, sizeof ids, "%" PRIu64, id);
	if (!x->conf.cluster_address[0])
		snprintf(set_addr, sizeof set_addr,
		         "set `cluster_address = %s` in the configuration, ", addr);
	snprintf(msg, sizeof msg,
	         "cluster initialised: node %s at %s is the first member.\n"
	         "next: %sstart mailraftd (it bootstraps the cluster and keeps its data), then "
	         "invite each new node with `mailraftctl cluster add --id N --address HOST:PORT`.",
	         ids, addr, set_addr);
	const char *kv[] = {"node_id",        ids, "address", addr, "cluster_dir", x->cluster_dir,
	                    "ca_fingerprint", fpr, NULL};
	return ctl_off_ok(x, out, errf, msg, kv);
}

/* ---- entry ---------------------------------------------------------------------------- */

static const struct {
	const char *sub;
	int (*run)(struct ctl_off *x, FILE *out, FILE *errf);
} offline_verbs[] = {
    {"init", run_init},
    {"join", ctl_off_join},
};

int ctl_offline_run(const struct ctl_opts *o, FILE *out, FILE *errf)
{
	static struct ctl_off x; /* large; mailraftctl is single-threaded */
	log_set_level(
	    LOG_WARN); /* the libraries' progress lines are the daemon's style, not ours */
	int st = ctl_off_prepare(o, &x);
	for (size_t i = 0; st == 0 && i < sizeof offline_verbs / sizeof offline_verbs[0]; i++) {
		if (strcmp(o->verb->sub, offline_verbs[i].sub) != 0)
			continue;
		st = offline_verbs[i].run(&x, out, errf);
		return st == 0 ? 0 : ctl_off_fail(&x, st, out, errf);
	}
	if (st == 0) {
		snprintf(x.err, sizeof x.err, "no offline verb %s", o->verb->sub);
		st = CTL_EX_SOFTWARE;
	}
	return ctl_off_fail(&x, st, out, errf);
}

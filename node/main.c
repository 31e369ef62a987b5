/* main.c - mailraftd: load the configuration, open the encrypted store (verifying the master
 * key before anything is written), set up TLS, bind every listener, drop root, then serve on one
 * libuv loop until SIGTERM/SIGINT (graceful) or SIGHUP (reload the certificate). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "node.h"
#include "common/err.h"
#include "common/log.h"
#include "net/listener.h"
#include "net/tls.h"
#include "smtp/smtp.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "admin/admin.h"
#include "cluster/cluster.h"
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a graceful shutdown waits for connections and queued jobs to finish. */
#define SHUTDOWN_GRACE_MS 5000

static struct config cfg;
static struct node node;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t shutdown_timer;
static uint64_t shutdown_started;
static bool stopping;

static void usage(FILE *f)
{
	fprintf(f, "usage: mailraftd [--config FILE] [--check-config] [--version] [--help]\n");
}

static void print_line(void *ud, const char *line)
{
	fprintf(ud, "  %s\n", line);
}

static void on_shutdown_tick(uv_timer_t *t)
{
	if (listener_connections() > 0 && mr_now_ms() - shutdown_started < SHUTDOWN_GRACE_MS)
		return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, NULL);
	cluster_stop(); /* raft node, member RPC, engine: before the store they write into */
	node_stop_services(); /* Redis client: its commands in flight answered, handles closed */
	store_close(&node.store); /* finishes queued jobs, closes its loop handles */
}

static void begin_shutdown(int signum)
{
	if (stopping)
		return;
	stopping = true;
	log_info("node", "signal=%d shutting down", signum);
	listener_shutdown();
	admin_stop();
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
	shutdown_started = mr_now_ms();
	uv_timer_init(node.loop, &shutdown_timer);
	uv_timer_start(&shutdown_timer, on_shutdown_tick, 20, 20);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	if (signum == SIGHUP) {
		char err[512];
		if (tls_reload(err, sizeof err) == 0)
			log_info("tls", "certificate reloaded");
		else
			log_error("tls", "reload failed, keeping the old certificate: %s", err);
		return;
	}
	begin_shutdown(signum);
}

/* The line the tests and operators wait for: every listener bound and, in cluster mode, this
 * node holding the committed directory (cluster_ready). */
static void log_ready(void)
{
	log_info("node", "mailraftd %s ready data_dir=%s mode=%s", MR_VERSION, cfg.data_dir,
		 cluster_enabled(&node) ? "cluster" : "single-node");
}

static uid_t run_uid;
static gid_t run_gid;

static int chown_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return lchown(p, run_uid, run_gid) == 0 ? 0 : -1;
}

/* As root with `user` set: hand the data directory to that user (so it can create databases
 * after the drop), bind, then switch user before the store is opened. */
static int prepare_user(void)
{
	if (geteuid() != 0 || !cfg.user[0])
		return 0;
	struct passwd *pw = getpwnam(cfg.user);
	if (!pw) {
		fprintf(stderr, "mailraftd: user '%s' does not exist\n", cfg.user);
		return MR_ECONFIG;
	}
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	mkdir(cfg.data_dir, 0700);
	if (nftw(cfg.data_dir, chown_cb, 32, FTW_PHYS) != 0) {
		fprintf(stderr, "mailraftd: cannot chown %s to %s: %s\n", cfg.data_dir, cfg.user,
			strerror(errno));
		return MR_EPERM;
	}
	return 0;
}

static int drop_privileges(void)
{
	if (geteuid() != 0 || !cfg.user[0])
		return 0;
	if (setgroups(0, NULL) != 0 || setgid(run_gid) != 0 || setuid(run_uid) != 0) {
		fprintf(stderr, "mailraftd: cannot drop privileges to %s: %s\n", cfg.user,
			strerror(errno));
		return MR_EPERM;
	}
	log_info("node", "running as user=%s uid=%u", cfg.user, (unsigned)run_uid);
	return 0;
}

struct listen_spec {
	const char *addr;
	const struct proto_ops *ops;
	enum conn_tls mode;
};

static int start_listeners(char *err, size_t errlen)
{
	const struct listen_spec specs[] = {
		{cfg.smtp_listen, &smtp_ops, CONN_TLS_STARTTLS},
		{cfg.submission_listen, &smtp_submission_ops, CONN_TLS_STARTTLS},
		{cfg.submissions_listen, &smtp_submission_ops, CONN_TLS_IMPLICIT},
		{cfg.imap_listen, &imap_ops, CONN_TLS_STARTTLS},
		{cfg.imaps_listen, &imap_ops, CONN_TLS_IMPLICIT},
		{cfg.pop3_listen, &pop3_ops, CONN_TLS_STARTTLS},
		{cfg.pop3s_listen, &pop3_ops, CONN_TLS_IMPLICIT},
	};
	listener_set_max_connections(cfg.max_connections);
	for (size_t i = 0; i < MR_ARRAY_LEN(specs); i++) {
		if (!specs[i].addr[0])
			continue;
		int rv = listener_add(node.loop, specs[i].addr, specs[i].ops, specs[i].mode, err,
				      errlen);
		if (rv != 0)
			return rv;
	}
	return 0;
}

static enum store_pwcost pwcost(const char *s)
{
	if (strcmp(s, "min") == 0)
		return STORE_PWCOST_MIN;
	if (strcmp(s, "moderate") == 0)
		return STORE_PWCOST_MODERATE;
	return STORE_PWCOST_INTERACTIVE;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Command-line options: one table, one loop. A handler returns -1 to go on, or an exit code. */
struct cli {
	const char *config_path;
	bool check_only;
};

struct cli_opt {
	const char *name;
	bool takes_arg;
	int (*fn)(struct cli *cli, const char *arg);
};

static int opt_config(struct cli *cli, const char *arg)
{
	cli->config_path = arg;
	return -1;
}

static int opt_check(struct cli *cli, const char *arg)
{
	(void)arg;
	cli->check_only = true;
	return -1;
}

static int opt_version(struct cli *cli, const char *arg)
{
	(void)cli;
	(void)arg;
	printf("mailraftd %s\n", MR_VERSION);
	return 0;
}

static int opt_help(struct cli *cli, const char *arg)
{
	(void)cli;
	(void)arg;
	fprintf(stdout, "usage: mailraftd [--config FILE] [--check-config] [--version] [--help]\n\n"
			"Runs one mailraft node: SMTP MX, IMAP, POP3 and the admin socket for "
			"mailraftctl.\nEvery key may be set in FILE as 'key = value' or in the "
			"environment as\nMAILRAFT_<KEY>. Keys and defaults:\n\n");
	struct config d;
	config_defaults(&d);
	config_dump(&d, print_line, stdout);
	return 0;
}

static const struct cli_opt cli_opts[] = {
	{"--config", true, opt_config},   {"--check-config", false, opt_check},
	{"--version", false, opt_version}, {"--help", false, opt_help},
	{"-h", false, opt_help},
};

/* Returns -1 to run, or the exit code. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	for (int i = 1; i < argc; i++) {
		const struct cli_opt *o = NULL;
		for (size_t k = 0; k < MR_ARRAY_LEN(cli_opts) && !o; k++)
			if (strcmp(argv[i], cli_opts[k].name) == 0)
				o = &cli_opts[k];
		if (!o || (o->takes_arg && i + 1 >= argc)) {
			usage(stderr);
			return 64; /* EX_USAGE */
		}
		int rc = o->fn(cli, o->takes_arg ? argv[++i] : NULL);
		if (rc >= 0)
			return rc;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	int rc = parse_args(argc, argv, &cli);
	if (rc >= 0)
		return rc;
	const char *config_path = cli.config_path;
	bool check_only = cli.check_only;
	char err[1024];
	if (config_load(&cfg, config_path, err, sizeof err) != 0) {
		fprintf(stderr, "mailraftd: %s\n", err);
		return 78; /* EX_CONFIG */
	}
	if (check_only) {
		printf("configuration ok\n");
		return 0;
	}
	enum log_level lvl;
	if (log_parse_level(cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	uv_loop_t *loop = uv_default_loop();
	node.cfg = &cfg;
	node.loop = loop;
	node.hostname = cfg.hostname;

	if (prepare_user() != 0)
		return 1;
	/* bind first (privileged ports), then drop root, then touch data as the user */
	if (start_listeners(err, sizeof err) != 0) {
		fprintf(stderr, "mailraftd: %s\n", err);
		return 1;
	}
	if (drop_privileges() != 0)
		return 1;
	if (cluster_enabled(&node) && cluster_preflight(&node, err, sizeof err) != 0) {
		fprintf(stderr, "mailraftd: %s\n", err);
		return 1;
	}
	struct store_config sc = {
		.data_dir = cfg.data_dir,
		.master_key_file = cfg.master_key_file[0] ? cfg.master_key_file : NULL,
		.actors = cfg.storage_threads,
		.pwcost = pwcost(cfg.password_cost),
		.loop = loop,
		.no_directory = cluster_enabled(&node),
	};
	if (store_open(&sc, &node.store, err, sizeof err) != 0) {
		log_error("node", "cannot open the store: %s", err);
		fprintf(stderr, "mailraftd: %s\n", err);
		return 1;
	}
	char tlsdir[1100];
	snprintf(tlsdir, sizeof tlsdir, "%s/tls", cfg.data_dir);
	node_set(&node);
	if (tls_init(cfg.tls_cert, cfg.tls_key, tlsdir, cfg.hostname, err, sizeof err) != 0) {
		fprintf(stderr, "mailraftd: TLS: %s\n", err);
		goto fail;
	}
	if (cluster_enabled(&node)) {
		node.serving = cluster_ready;
		cluster_on_ready(log_ready);
		if (cluster_start(&node, err, sizeof err) != 0) {
			log_error("node", "cannot start cluster mode: %s", err);
			fprintf(stderr, "mailraftd: %s\n", err);
			goto fail;
		}
	}
	imap_init();
	if (admin_start(err, sizeof err) != 0) {
		fprintf(stderr, "mailraftd: %s\n", err);
		goto fail;
	}
	uv_signal_init(loop, &sig_term);
	uv_signal_init(loop, &sig_int);
	uv_signal_init(loop, &sig_hup);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_hup, on_signal, SIGHUP);
	if (!cluster_enabled(&node))
		log_ready();

	uv_run(loop, UV_RUN_DEFAULT);
	tls_fini();
	rc = uv_loop_close(loop);
	if (rc != 0)
		log_warn("node", "loop closed with live handles: %s", uv_strerror(rc));
	log_info("node", "stopped");
	return 0;
fail:
	listener_shutdown();
	cluster_stop();
	node_stop_services();
	store_close(&node.store);
	uv_run(loop, UV_RUN_DEFAULT); /* let the store's and listeners' handles close */
	return 1;
}

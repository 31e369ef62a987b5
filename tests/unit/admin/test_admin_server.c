/* test_admin_server.c - the admin endpoint end to end on a real loop and a real store in a
 * temporary directory: a client thread speaks the wire protocol through mailraftctl's own
 * parse/build/roundtrip code and checks exit codes and results of every command (domains,
 * accounts with password hashing and database creation/removal, aliases, status), a wrong
 * protocol version, a malformed frame and an oversized frame; the socket's mode is 0600.
 * The ctl sources are compiled in directly (mailraftctl is an executable). */
#include "unit.h"
#include "../../../ctl/ctl_cli.c"
#include "../../../ctl/ctl_client.c"
#include "../../../ctl/ctl_json.c"
#include "../../../ctl/ctl_out.c"
#include "config.h"
#include "node.h"
#include "node/admin/admin.h"
#include "storage/store.h"
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

static struct {
	struct config cfg;
	uv_loop_t loop;
	struct store *st;
	struct node node;
	uv_async_t done;
	char sock[512];
	char fail[1024];
} T;

/* Bounded copy that fails the test rather than truncate a path. */
static void copy_path(char *dst, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	if (la + lb >= cap)
		unit_fail(__FILE__, __LINE__, "path too long: %s%s", a, b ? b : "");
	memcpy(dst, a, la);
	memcpy(dst + la, b ? b : "", lb + 1);
}

#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			int n_ = snprintf(T.fail, sizeof T.fail, "line %d: ", __LINE__);           \
			snprintf(T.fail + n_, sizeof T.fail - (size_t)n_, __VA_ARGS__);            \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

/* Run one mailraftctl command line; *resp_r gets the response (caller frees) or NULL. */
static int ctl(Mr__CtlResponse **resp_r, const char *line)
{
	char copy[512], *argv[16] = {"mailraftctl"};
	int argc = 1;
	snprintf(copy, sizeof copy, "%s", line);
	for (char *save, *t = strtok_r(copy, " ", &save); t && argc < 15;
	     t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	struct ctl_opts o;
	static struct ctl_call call;
	char err[256];
	*resp_r = NULL;
	int st = ctl_parse(argc, argv, &o, err, sizeof err);
	if (st == 0)
		st = ctl_build(&o, NULL, &call, err, sizeof err);
	if (st == 0)
		st = ctl_roundtrip(T.sock, &call.req, resp_r, err, sizeof err);
	if (st == 0)
		st = ctl_exit_code((*resp_r)->code);
	return st;
}

/* Run and check the exit status; the response is freed unless kept. */
static int expect(int want, const char *line, Mr__CtlResponse **keep)
{
	Mr__CtlResponse *r;
	int st = ctl(&r, line);
	if (st != want) {
		snprintf(T.fail, sizeof T.fail, "'%s': exit %d, want %d (%s)", line, st, want,
		         r && r->error ? r->error : "-");
		admin_resp_free_unpacked(&r);
		return -1;
	}
	if (keep)
		*keep = r;
	else
		admin_resp_free_unpacked(&r);
	return 0;
}

static const char *field(const Mr__CtlResponse *r, const char *key)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (strcmp(r->fields[i]->key, key) == 0)
			return r->fields[i]->value;
	return "";
}

static int get_acct_job(struct store_db *db, void *arg)
{
	struct dir_account *a = arg;
	return dir_account_get(db, a->address, a);
}

/* Look an account up directly in the store (store_run: we are not the loop). */
static int lookup(const char *address, struct dir_account *a)
{
	memset(a, 0, sizeof *a);
	snprintf(a->address, sizeof a->address, "%s", address);
	return store_run(T.st, STORE_DIRECTORY, 0, get_acct_job, a);
}

/* Send raw bytes on a fresh connection and read until `frames` whole response frames have
 * arrived or the node closes; returns the bytes read. */
static ssize_t raw_exchange(const void *p, size_t n, int frames, uint8_t *resp, size_t cap)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	copy_path(sa.sun_path, sizeof sa.sun_path, T.sock, NULL);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		return -1;
	write_all(fd, p, n);
	size_t got = 0, next = 0;
	int seen = 0;
	while (frames == 0 || seen < frames) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		ssize_t r = recv(fd, resp + got, cap - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		while (got >= next + 4) { /* count complete frames */
			size_t len = (size_t)resp[next] << 24 | (size_t)resp[next + 1] << 16 |
			             (size_t)resp[next + 2] << 8 | resp[next + 3];
			if (got < next + 4 + len)
				break;
			next += 4 + len;
			seen++;
		}
	}
	close(fd);
	return (ssize_t)got;
}

/* As another uid (fork + setuid), the node must refuse: EACCES on the 0600 socket, and the
 * SO_PEERCRED check when the file mode would let it in. Only root can switch uid.
 * Returns 1: the node answered EPERM; 2: connect was refused with exit 77; else other. */
static int other_uid_status(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(100);
		Mr__CtlResponse *r;
		int st = ctl(&r, "status");
		if (r && r->code == MR__CTL_CODE__CTL_EPERM && st == 77)
			_exit(1);
		_exit(!r && st == 77 ? 2 : 3);
	}
	int ws;
	waitpid(pid, &ws, 0);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static int script(void)
{
	Mr__CtlResponse *r;
	struct stat sb;
	CHECK(stat(T.sock, &sb) == 0 && (sb.st_mode & 0777) == 0600, "socket mode %o",
	      (unsigned)(sb.st_mode & 0777));

	if (expect(0, "status", &r))
		return -1;
	CHECK(strcmp(field(r, "mode"), "single-node") == 0, "mode %s", field(r, "mode"));
	CHECK(strcmp(field(r, "domains"), "0") == 0, "domains %s", field(r, "domains"));
	CHECK(strcmp(field(r, "version"), MR_VERSION) == 0, "version");
	CHECK(strcmp(field(r, "smtp"), "127.0.0.1:2525") == 0, "smtp %s", field(r, "smtp"));
	CHECK(strcmp(field(r, "pop3s"), "off") == 0, "pop3s %s", field(r, "pop3s"));
	admin_resp_free_unpacked(&r);

	/* domains */
	/* cluster verbs on a single node: "not in cluster mode", EX_UNAVAILABLE */
	if (expect(69, "cluster members", &r))
		return -1;
	CHECK(r->error && strstr(r->error, "not in cluster mode"), "members error %s",
	      r->error ? r->error : "-");
	admin_resp_free_unpacked(&r);
	if (expect(69, "cluster promote 2", NULL) || expect(69, "cluster transfer", NULL) ||
	    expect(64, "cluster promote x", NULL))
		return -1;
	if (expect(0, "domain add Example.ORG", &r))
		return -1;
	CHECK(r->message && strcmp(r->message, "domain example.org added") == 0, "msg");
	admin_resp_free_unpacked(&r);
	if (expect(73, "domain add example.org", NULL) ||
	    expect(65, "domain add bad_dom.org", NULL) || expect(0, "domain add other.org", NULL) ||
	    expect(0, "domain list", &r))
		return -1;
	CHECK(r->n_rows == 2 && r->n_columns == 1, "domain rows %zu", r->n_rows);
	admin_resp_free_unpacked(&r);

	/* accounts */
	if (expect(0, "account add Bob@Example.org --password pw1", NULL) ||
	    expect(73, "account add bob@example.org --password x", NULL) ||
	    expect(67, "account add carol@nowhere.org --password x", NULL) ||
	    expect(65, "account add not-an-address --password x", NULL) ||
	    expect(0, "account add carol@other.org --quota 1G", &r))
		return -1;
	admin_resp_free_unpacked(&r);
	struct dir_account a;
	CHECK(lookup("bob@example.org", &a) == 0, "bob not in the directory");
	CHECK(store_exists(T.st, a.dbname), "bob's database %s missing", a.dbname);
	CHECK(store_pw_verify(a.pwhash, "pw1") == 0, "pw1 does not verify");
	char bobdb[STORE_DBNAME_MAX];
	snprintf(bobdb, sizeof bobdb, "%s", a.dbname);
	CHECK(lookup("carol@other.org", &a) == 0 && a.quota == (1LL << 30), "carol quota");

	if (expect(0, "account list", &r))
		return -1;
	CHECK(r->n_rows == 2, "account rows %zu", r->n_rows);
	admin_resp_free_unpacked(&r);
	if (expect(0, "account list example.org", &r))
		return -1;
	CHECK(r->n_rows == 1 && strcmp(r->rows[0]->cells[0], "bob@example.org") == 0, "filter");
	CHECK(r->n_columns == 2 && strcmp(r->rows[0]->cells[1], "10000000000") == 0,
	      "default quota %s", r->n_columns == 2 ? r->rows[0]->cells[1] : "-");
	admin_resp_free_unpacked(&r);
	if (expect(67, "account list nowhere.org", NULL))
		return -1;

	if (expect(0, "account passwd BOB@example.org --password pw2", NULL) ||
	    expect(67, "account passwd nobody@example.org --password x", NULL))
		return -1;
	CHECK(lookup("bob@example.org", &a) == 0 && store_pw_verify(a.pwhash, "pw2") == 0 &&
	          store_pw_verify(a.pwhash, "pw1") != 0,
	      "passwd did not change the hash");

	/* aliases */
	if (expect(0, "alias add info@example.org bob@example.org", NULL) ||
	    expect(0, "alias add info@example.org carol@other.org", NULL) ||
	    expect(73, "alias add info@example.org bob@example.org", NULL) ||
	    expect(67, "alias add info@example.org ghost@example.org", NULL) ||
	    expect(67, "alias add info@nowhere.org bob@example.org", NULL) ||
	    expect(73, "alias add bob@example.org carol@other.org", NULL) ||
	    expect(65, "alias add bob@example.org bob@example.org", NULL) ||
	    expect(0, "alias list", &r))
		return -1;
	CHECK(r->n_rows == 2 && r->n_columns == 2, "alias rows %zu", r->n_rows);
	admin_resp_free_unpacked(&r);

	if (expect(65, "domain rm example.org", NULL) || expect(0, "status", &r))
		return -1;
	CHECK(strcmp(field(r, "accounts"), "2") == 0 && strcmp(field(r, "aliases"), "2") == 0,
	      "counts %s %s", field(r, "accounts"), field(r, "aliases"));
	admin_resp_free_unpacked(&r);

	/* removing an account drops its database and the aliases that pointed at it */
	if (expect(0, "account rm bob@example.org", NULL))
		return -1;
	CHECK(!store_exists(T.st, bobdb), "bob's database still exists");
	CHECK(lookup("bob@example.org", &a) == MR_ENOTFOUND, "bob still in the directory");
	if (expect(67, "account rm bob@example.org", NULL) || expect(0, "alias list", &r))
		return -1;
	CHECK(r->n_rows == 1 && strcmp(r->rows[0]->cells[1], "carol@other.org") == 0,
	      "alias to bob not removed");
	admin_resp_free_unpacked(&r);
	if (expect(0, "alias rm info@example.org", NULL) ||
	    expect(67, "alias rm info@example.org", NULL) ||
	    expect(0, "domain rm example.org", NULL) || expect(67, "domain rm example.org", NULL))
		return -1;

	/* a request of another protocol version */
	Mr__CtlStatus s = MR__CTL_STATUS__INIT;
	Mr__CtlRequest req = MR__CTL_REQUEST__INIT;
	req.version = CTL_VERSION + 1;
	req.cmd_case = MR__CTL_REQUEST__CMD_STATUS;
	req.status = &s;
	char err[256];
	CHECK(ctl_roundtrip(T.sock, &req, &r, err, sizeof err) == 0, "roundtrip: %s", err);
	CHECK(ctl_exit_code(r->code) == 76, "version code %d", r->code);
	admin_resp_free_unpacked(&r);
	/* a request with no command: unknown to the node */
	req.version = CTL_VERSION;
	req.cmd_case = MR__CTL_REQUEST__CMD__NOT_SET;
	CHECK(ctl_roundtrip(T.sock, &req, &r, err, sizeof err) == 0, "roundtrip: %s", err);
	CHECK(ctl_exit_code(r->code) == 69, "unset code %d", r->code);
	admin_resp_free_unpacked(&r);

	/* a malformed frame gets one EINVAL response, then the connection is closed */
	static uint8_t buf[4096];
	const uint8_t junk[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
	ssize_t n = raw_exchange(junk, sizeof junk, 0, buf, sizeof buf);
	CHECK(n > 4, "no answer to a malformed frame");
	CHECK(admin_resp_decode(buf + 4, (size_t)n - 4, &r) == 0, "undecodable answer");
	CHECK(r->code == MR__CTL_CODE__CTL_EINVAL, "malformed code %d", r->code);
	admin_resp_free_unpacked(&r);
	/* an oversized length: the connection is dropped without an answer */
	const uint8_t big[] = {0x7f, 0xff, 0xff, 0xff};
	CHECK(raw_exchange(big, sizeof big, 0, buf, sizeof buf) == 0,
	      "answer to an oversize frame");

	/* two requests pipelined on one connection: two answers, in order */
	struct buf two;
	buf_init(&two, 0);
	Mr__CtlDomainList dl = MR__CTL_DOMAIN_LIST__INIT;
	req.cmd_case = MR__CTL_REQUEST__CMD_DOMAIN_LIST;
	req.domain_list = &dl;
	admin_wire_pack(&req.base, &two);
	req.cmd_case = MR__CTL_REQUEST__CMD_STATUS;
	req.status = &s;
	admin_wire_pack(&req.base, &two);
	n = raw_exchange(two.p, two.len, 2, buf, sizeof buf);
	buf_free(&two);
	struct admin_rd rd;
	admin_rd_init(&rd, ADMIN_FRAME_MAX);
	size_t used, len, off = 0;
	CHECK(admin_rd_push(&rd, buf, (size_t)n, &used) == 1, "first answer");
	uint8_t *body = admin_rd_take(&rd, &len);
	CHECK(admin_resp_decode(body, len, &r) == 0 && r->n_columns == 1, "first is the list");
	admin_resp_free_unpacked(&r);
	free(body);
	off = used;
	CHECK(admin_rd_push(&rd, buf + off, (size_t)n - off, &used) == 1, "second answer");
	body = admin_rd_take(&rd, &len);
	CHECK(admin_resp_decode(body, len, &r) == 0 && r->n_fields > 5, "second is status");
	admin_resp_free_unpacked(&r);
	free(body);
	admin_rd_free(&rd);

	if (geteuid() == 0) {
		int st = other_uid_status();
		CHECK(st == 2, "other uid on the 0600 socket: %d", st);
		CHECK(chmod(unit_tmpdir(), 0711) == 0 && chmod(T.cfg.data_dir, 0711) == 0 &&
		          chmod(T.sock, 0666) == 0,
		      "chmod");
		st = other_uid_status();
		CHECK(st == 1, "other uid past the file mode: %d (SO_PEERCRED not checked)", st);
	}
	return 0;
}

static void *client(void *arg)
{
	script();
	uv_async_send(&T.done);
	return NULL;
}

static void on_done(uv_async_t *a)
{
	admin_stop();
	store_close(&T.st);
	uv_close((uv_handle_t *)a, NULL);
}

static void test_end_to_end(void)
{
	char err[512] = "";
	config_defaults(&T.cfg);
	snprintf(T.cfg.data_dir, sizeof T.cfg.data_dir, "%s/data", unit_tmpdir());
	snprintf(T.cfg.smtp_listen, sizeof T.cfg.smtp_listen, "127.0.0.1:2525");
	T.cfg.pop3s_listen[0] = 0;
	copy_path(T.sock, sizeof T.sock, T.cfg.data_dir, "/admin.sock");
	ASSERT_OK(uv_loop_init(&T.loop));
	struct store_config sc = {
	    .data_dir = T.cfg.data_dir, .actors = 2, .pwcost = STORE_PWCOST_MIN, .loop = &T.loop};
	if (store_open(&sc, &T.st, err, sizeof err) != 0)
		unit_fail(__FILE__, __LINE__, "store_open: %s", err);
	T.node = (struct node){.cfg = &T.cfg, .loop = &T.loop, .store = T.st, .hostname = T.cfg.hostname};
	node_set(&T.node);
	if (admin_start(err, sizeof err) != 0)
		unit_fail(__FILE__, __LINE__, "admin_start: %s", err);
	ASSERT_OK(uv_async_init(&T.loop, &T.done, on_done));
	pthread_t th;
	ASSERT_OK(pthread_create(&th, NULL, client, NULL));
	uv_run(&T.loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	ASSERT_OK(uv_loop_close(&T.loop));
	if (T.fail[0])
		unit_fail(__FILE__, __LINE__, "%s", T.fail);
	/* admin_stop removed the socket file */
	struct stat sb;
	ASSERT(stat(T.sock, &sb) != 0);
}

/* A stale socket file from a crashed daemon is replaced; a non-socket file is refused. */
static void test_stale_socket(void)
{
	char err[512] = "";
	config_defaults(&T.cfg);
	snprintf(T.cfg.data_dir, sizeof T.cfg.data_dir, "%s", unit_tmpdir());
	snprintf(T.cfg.admin_socket, sizeof T.cfg.admin_socket, "%s/stale.sock", unit_tmpdir());
	ASSERT_OK(uv_loop_init(&T.loop));
	T.node = (struct node){.cfg = &T.cfg, .loop = &T.loop, .hostname = T.cfg.hostname};
	node_set(&T.node);
	/* leave a bound, unlistened socket file behind */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	copy_path(sa.sun_path, sizeof sa.sun_path, T.cfg.admin_socket, NULL);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof sa));
	close(fd);
	if (admin_start(err, sizeof err) != 0)
		unit_fail(__FILE__, __LINE__, "admin_start over a stale socket: %s", err);
	admin_stop();
	uv_run(&T.loop, UV_RUN_DEFAULT);
	/* a regular file where the socket should be */
	FILE *f = fopen(T.cfg.admin_socket, "w");
	fclose(f);
	ASSERT(admin_start(err, sizeof err) != 0);
	ASSERT(strstr(err, "not a socket") != NULL);
	ASSERT_OK(uv_loop_close(&T.loop));
}

static const struct unit_test tests[] = {
    {"end_to_end", test_end_to_end},
    {"stale_socket", test_stale_socket},
    {0},
};
UNIT_MAIN(tests)

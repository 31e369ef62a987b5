/* test_config.c - the configuration file: defaults, overrides, environment, errors by line. */
#include "unit.h"
#include "config.h"
#include "common/err.h"
#include <stdlib.h>

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), name);
	FILE *f = fopen(path, "w");
	ASSERT(f != NULL);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	struct config c;
	config_defaults(&c);
	ASSERT_EQ_STR(c.hostname, "localhost");
	ASSERT_EQ_STR(c.data_dir, "./data");
	ASSERT_EQ_STR(c.smtp_listen, "0.0.0.0:25");
	ASSERT_EQ_INT(c.max_message_size, 52428800);
	ASSERT_EQ_INT(c.max_recipients, 50);
	ASSERT_EQ_INT(c.imap_idle_timeout, 1800);
	ASSERT_EQ_STR(c.password_cost, "interactive");
	ASSERT(!c.plaintext_auth);
}

static void test_file_values(void)
{
	const char *p = write_file("a.conf", "# comment\n\n"
					     "hostname = mx.example.test\n"
					     "data_dir = \"/var/lib/mr\"\n"
					     "smtp_listen =\n"
					     "max_recipients=7\n"
					     "plaintext_auth = yes\n"
					     "password_cost = min\n");
	struct config c;
	char err[256] = "";
	ASSERT_OK(config_load(&c, p, err, sizeof err));
	ASSERT_EQ_STR(c.hostname, "mx.example.test");
	ASSERT_EQ_STR(c.data_dir, "/var/lib/mr");
	ASSERT_EQ_STR(c.smtp_listen, "");
	ASSERT_EQ_INT(c.max_recipients, 7);
	ASSERT(c.plaintext_auth);
	ASSERT_EQ_STR(c.password_cost, "min");
	ASSERT_EQ_STR(c.imaps_listen, "0.0.0.0:993"); /* untouched keys keep defaults */
}

static void test_env_overrides_file(void)
{
	const char *p = write_file("b.conf", "hostname = fromfile\n");
	setenv("MAILRAFT_HOSTNAME", "fromenv", 1);
	setenv("MAILRAFT_MAX_RECIPIENTS", "3", 1);
	struct config c;
	char err[256] = "";
	ASSERT_OK(config_load(&c, p, err, sizeof err));
	ASSERT_EQ_STR(c.hostname, "fromenv");
	ASSERT_EQ_INT(c.max_recipients, 3);
	setenv("MAILRAFT_MAX_RECIPIENTS", "lots", 1);
	ASSERT_ERR(config_load(&c, p, err, sizeof err), MR_ECONFIG);
	ASSERT(strstr(err, "MAILRAFT_MAX_RECIPIENTS") != NULL);
}

static void expect_error(const char *text, const char *needle)
{
	const char *p = write_file("bad.conf", text);
	struct config c;
	char err[512] = "";
	ASSERT_ERR(config_load(&c, p, err, sizeof err), MR_ECONFIG);
	if (!strstr(err, needle))
		unit_fail(__FILE__, __LINE__, "error '%s' lacks '%s'", err, needle);
}

static void test_errors_name_the_line(void)
{
	expect_error("hostname = a\nbogus_key = 1\n", "bad.conf:2: unknown key 'bogus_key'");
	expect_error("\n\nno equals sign\n", "bad.conf:3: expected 'key = value'");
	expect_error("max_recipients = 0\n", "bad.conf:1: bad value '0' for max_recipients");
	expect_error("max_recipients = 12abc\n", "bad.conf:1:");
	expect_error("max_message_size = 99999999999999999999999\n", "bad.conf:1:");
	expect_error("plaintext_auth = maybe\n", "true or false");
	expect_error("log_level = loud\n", "one of: debug info warn error");
	expect_error("data_dir =\n", "data_dir must not be empty");
	struct config c;
	char err[256];
	ASSERT_ERR(config_load(&c, "/nonexistent/x.conf", err, sizeof err), MR_ECONFIG);
	ASSERT(strstr(err, "cannot open") != NULL);
}

static void collect(void *ud, const char *line)
{
	int *n = ud;
	if (strstr(line, "=") && strstr(line, "#"))
		(*n)++;
}

static void test_dump_lists_every_key(void)
{
	struct config c;
	config_defaults(&c);
	int n = 0;
	config_dump(&c, collect, &n);
	ASSERT(n >= 20);
}

static const struct unit_test tests[] = {
	{"defaults", test_defaults},
	{"file values", test_file_values},
	{"env overrides file", test_env_overrides_file},
	{"errors name the line", test_errors_name_the_line},
	{"dump lists every key", test_dump_lists_every_key},
	{0},
};
UNIT_MAIN(tests)

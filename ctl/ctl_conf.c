/* ctl_conf.c - the few configuration keys mailraftctl needs (admin_socket, data_dir,
 * master_key_file, cluster_address), read with the daemon's format ("key = value", '#'
 * comment lines, optional double quotes) and its rule that MAILRAFT_<KEY> in the environment
 * wins over the file; and where the admin socket is, decided the way the daemon decides it:
 * --socket, else $MAILRAFT_ADMIN_SOCKET, else the config's admin_socket, else
 * <data_dir>/admin.sock (data_dir defaulting to ./data). */
#include "ctl.h"
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_CONF_LINE 4096 /* the daemon's own line limit (node/core/config.c) */

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static int set(char *dst, size_t cap, const char *v, const char *what, char *err, size_t errlen)
{
	if (strlen(v) >= cap) {
		snprintf(err, errlen, "%s too long", what);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

/* The keys read, where they go and the daemon's environment override for each. */
static const struct {
	const char *key, *env;
	size_t off, cap;
} conf_keys[] = {
    {"admin_socket", "MAILRAFT_ADMIN_SOCKET", offsetof(struct ctl_conf, admin_socket),
     sizeof((struct ctl_conf *)0)->admin_socket},
    {"data_dir", "MAILRAFT_DATA_DIR", offsetof(struct ctl_conf, data_dir),
     sizeof((struct ctl_conf *)0)->data_dir},
    {"master_key_file", "MAILRAFT_MASTER_KEY_FILE", offsetof(struct ctl_conf, master_key_file),
     sizeof((struct ctl_conf *)0)->master_key_file},
    {"cluster_address", "MAILRAFT_CLUSTER_ADDRESS", offsetof(struct ctl_conf, cluster_address),
     sizeof((struct ctl_conf *)0)->cluster_address},
};

static int set_key(struct ctl_conf *c, const char *k, const char *v, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof conf_keys / sizeof conf_keys[0]; i++)
		if (strcmp(k, conf_keys[i].key) == 0)
			return set((char *)c + conf_keys[i].off, conf_keys[i].cap, v, k, err,
			           errlen);
	return 0; /* other keys are the daemon's business */
}

/* Read the keys of conf_keys from path. */
static int read_config(const char *path, struct ctl_conf *c, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open", path);
		return -1;
	}
	char line[CTL_CONF_LINE];
	unsigned lineno = 0;
	int rv = 0;
	while (rv == 0 && fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			rv = -1;
			break;
		}
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			continue; /* malformed: the daemon reports it */
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		size_t vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v[vl - 1] = 0;
			v++;
		}
		rv = set_key(c, k, v, err, errlen);
	}
	fclose(f);
	return rv;
}

int ctl_conf_read(const char *config, struct ctl_conf *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	strcpy(c->data_dir, "./data");
	if (config && read_config(config, c, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < sizeof conf_keys / sizeof conf_keys[0]; i++) {
		const char *env = getenv(conf_keys[i].env);
		if (env && set((char *)c + conf_keys[i].off, conf_keys[i].cap, env,
		               conf_keys[i].env, err, errlen) != 0)
			return -1;
	}
	if (!c->data_dir[0]) {
		snprintf(err, errlen, "%s: data_dir must not be empty", config ? config : "config");
		return -1;
	}
	return 0;
}

/* strlen(s) (what snprintf would return), copying s into out when it fits (checked by the
 * caller through the length; plain copies keep gcc's truncation warnings quiet). */
static int put_str(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s);
	if (n < outlen)
		memcpy(out, s, n + 1);
	return n > INT_MAX ? INT_MAX : (int)n;
}

int ctl_socket_path(const char *opt, const char *config, char *out, size_t outlen, char *err,
                    size_t errlen)
{
	static struct ctl_conf c; /* large; mailraftctl is single-threaded */
	const char *env;
	int n;
	if (opt) {
		n = put_str(out, outlen, opt);
	} else if ((env = getenv("MAILRAFT_ADMIN_SOCKET")) && *env) {
		n = put_str(out, outlen, env);
	} else {
		if (ctl_conf_read(config, &c, err, errlen) != 0)
			return -1;
		n = c.admin_socket[0] ? put_str(out, outlen, c.admin_socket)
		                      : snprintf(out, outlen, "%s/admin.sock", c.data_dir);
	}
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "admin socket path longer than %zu bytes", outlen - 1);
		return -1;
	}
	return 0;
}

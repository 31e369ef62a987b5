/* ctl_conf.c - where the admin socket is, decided the way the daemon decides it: --socket,
 * else $MAILRAFT_ADMIN_SOCKET, else the config file (only the admin_socket and data_dir keys
 * are read, with the daemon's format: "key = value", '#' comment lines, optional double
 * quotes, and MAILRAFT_<KEY> in the environment winning over the file), else the default
 * data_dir ./data. An empty admin_socket means <data_dir>/admin.sock. */
#include "ctl.h"
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

/* Read admin_socket and data_dir from path (other keys are the daemon's business). */
static int read_config(const char *path, char *sock, char *dir, size_t cap, char *err,
                       size_t errlen)
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
			continue; /* the daemon reports malformed lines; we only look for two keys
			           */
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		size_t vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v[vl - 1] = 0;
			v++;
		}
		if (strcmp(k, "admin_socket") == 0)
			rv = set(sock, cap, v, "admin_socket", err, errlen);
		else if (strcmp(k, "data_dir") == 0)
			rv = set(dir, cap, v, "data_dir", err, errlen);
	}
	fclose(f);
	return rv;
}

int ctl_socket_path(const char *opt, const char *config, char *out, size_t outlen, char *err,
                    size_t errlen)
{
	char sock[1024] = "", dir[1024] = "./data";
	const char *env;
	if (opt) {
		if (set(sock, sizeof sock, opt, "--socket", err, errlen) != 0)
			return -1;
	} else if ((env = getenv("MAILRAFT_ADMIN_SOCKET")) && *env) {
		if (set(sock, sizeof sock, env, "MAILRAFT_ADMIN_SOCKET", err, errlen) != 0)
			return -1;
	} else {
		if (config && read_config(config, sock, dir, sizeof sock, err, errlen) != 0)
			return -1;
		if ((env = getenv("MAILRAFT_DATA_DIR")) && *env &&
		    set(dir, sizeof dir, env, "MAILRAFT_DATA_DIR", err, errlen) != 0)
			return -1;
	}
	int n = sock[0] ? snprintf(out, outlen, "%s", sock)
	                : snprintf(out, outlen, "%s/admin.sock", dir);
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "admin socket path longer than %zu bytes", outlen - 1);
		return -1;
	}
	return 0;
}

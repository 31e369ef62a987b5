/* config.c - the configuration file, driven by one table of keys (name, type, default, help).
 * Format: "key = value" per line, '#' starts a comment line, blank lines ignored, values may be
 * wrapped in double quotes. Each key may be overridden by MAILRAFT_<KEY> in the environment
 * (applied after the file). Errors name the file and line. */
#include "config.h"
#include "common/err.h"
#include "common/util.h"
#include "core/redis.h"
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ctype { C_STR, C_U64, C_UINT, C_BOOL, C_ENUM };

struct ckey {
	const char *name;
	enum ctype type;
	size_t off, size;
	const char *def;
	const char *help;
	uint64_t min, max;       /* numbers */
	const char *const *enums; /* C_ENUM: allowed values, NULL-terminated */
};

static const char *const pw_costs[] = {"interactive", "moderate", "min", NULL};
static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

#define S(f) C_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define U64(f) C_U64, offsetof(struct config, f), sizeof(uint64_t)
#define UINT(f) C_UINT, offsetof(struct config, f), sizeof(unsigned)
#define BOOL(f) C_BOOL, offsetof(struct config, f), sizeof(bool)
#define ENUM(f) C_ENUM, offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const struct ckey keys[] = {
	{"hostname", S(hostname), "localhost", "name in SMTP greetings and Received headers", 0, 0, NULL},
	{"data_dir", S(data_dir), "./data", "databases, keys, generated certificate (created 0700)", 0, 0, NULL},
	{"master_key_file", S(master_key_file), "", "master key; empty = <data_dir>/master.key", 0, 0, NULL},
	{"admin_socket", S(admin_socket), "", "mailraftctl socket; empty = <data_dir>/admin.sock", 0, 0, NULL},
	{"tls_cert", S(tls_cert), "", "PEM certificate chain; empty = self-signed in <data_dir>/tls/", 0, 0, NULL},
	{"tls_key", S(tls_key), "", "PEM private key (with tls_cert)", 0, 0, NULL},
	{"user", S(user), "", "when started as root, drop to this user after binding", 0, 0, NULL},
	{"log_level", ENUM(log_level), "info", "debug | info | warn | error", 0, 0, levels},
	{"smtp_listen", S(smtp_listen), "0.0.0.0:25", "SMTP MX (STARTTLS); empty = off", 0, 0, NULL},
	{"submission_listen", S(submission_listen), "0.0.0.0:587", "SMTP submission (STARTTLS, AUTH after TLS); empty = off", 0, 0, NULL},
	{"submissions_listen", S(submissions_listen), "0.0.0.0:465", "SMTP submission over implicit TLS; empty = off", 0, 0, NULL},
	{"smtp_rate_connections_per_ip", UINT(smtp_rate_connections_per_ip), "0", "SMTP connections per client IP per minute, MX and submission (0 = no limit)", 0, 1000000, NULL},
	{"smtp_rate_messages_per_ip", UINT(smtp_rate_messages_per_ip), "0", "messages per client IP per hour on the MX (0 = no limit)", 0, 100000000, NULL},
	{"smtp_rate_messages_per_sender_domain", UINT(smtp_rate_messages_per_sender_domain), "0", "messages per envelope sender domain per hour on the MX (0 = no limit)", 0, 100000000, NULL},
	{"submission_rate_messages_per_user", UINT(submission_rate_messages_per_user), "0", "messages per authenticated user per hour on submission (0 = no limit)", 0, 100000000, NULL},
	{"postmaster_address", S(postmaster_address), "", "where mail to postmaster@ a local domain (and <Postmaster>) goes when that domain has no postmaster account or alias (RFC 5321 4.5.1); empty = refused like any unknown user", 0, 0, NULL},
	{"submission_copy_to_sent", BOOL(submission_copy_to_sent), "false", "store a copy of each submitted message in the sender's Sent folder (for clients that do not save sent mail)", 0, 0, NULL},
	{"imap_listen", S(imap_listen), "0.0.0.0:143", "IMAP (STARTTLS); empty = off", 0, 0, NULL},
	{"imaps_listen", S(imaps_listen), "0.0.0.0:993", "IMAP over implicit TLS; empty = off", 0, 0, NULL},
	{"pop3_listen", S(pop3_listen), "0.0.0.0:110", "POP3 (STLS); empty = off", 0, 0, NULL},
	{"pop3s_listen", S(pop3s_listen), "0.0.0.0:995", "POP3 over implicit TLS; empty = off", 0, 0, NULL},
	{"max_message_size", U64(max_message_size), "52428800", "bytes (SMTP SIZE, IMAP APPENDLIMIT)", 1024, 1ULL << 31, NULL},
	{"max_recipients", UINT(max_recipients), "50", "recipients per SMTP transaction", 1, 10000, NULL},
	{"storage_threads", UINT(storage_threads), "4", "mailbox actor threads", 1, 64, NULL},
	{"password_cost", ENUM(password_cost), "interactive", "Argon2id cost: interactive | moderate | min (tests only)", 0, 0, pw_costs},
	{"imap_idle_timeout", UINT(imap_idle_timeout), "1800", "seconds (RFC 9051 §5.4: at least 30 min)", 60, 86400, NULL},
	{"smtp_timeout", UINT(smtp_timeout), "300", "seconds (RFC 5321 §4.5.3.2)", 10, 3600, NULL},
	{"pop3_timeout", UINT(pop3_timeout), "600", "seconds (RFC 1939 §3: at least 10 min)", 60, 86400, NULL},
	{"max_connections", UINT(max_connections), "20000", "simultaneous client connections", 1, 1000000, NULL},
	{"plaintext_auth", BOOL(plaintext_auth), "false", "allow passwords over unencrypted connections", 0, 0, NULL},
	{"cluster_address", S(cluster_address), "", "this node's raft address host:port (member RPC on port+1); empty = single node", 0, 0, NULL},
	{"cluster_bind", S(cluster_bind), "", "address to listen on for raft (RPC on port+1); empty = cluster_address", 0, 0, NULL},
	{"cluster_election_timeout", UINT(cluster_election_timeout), "800", "ms without a leader before an election (failover takes 1-2x this)", 200, 60000, NULL},
	{"cluster_snapshot_entries", UINT(cluster_snapshot_entries), "1024", "raft entries between snapshots (also one every 64 MiB of entries)", 16, 1000000, NULL},
	{"redis_address", S(redis_address), "", "Redis host:port for login-failure counters shared by all nodes; empty = per node in memory", 0, 0, NULL},
	{"redis_password", S(redis_password), "", "Redis AUTH password; empty = none", 0, 0, NULL},
	{"redis_db", UINT(redis_db), "0", "Redis database number (SELECT)", 0, 1000, NULL},
	{"redis_secret", S(redis_secret), "", "secret keying the hashed Redis key names (the same on every node); empty = derived from the master key (shared in a cluster)", 0, 0, NULL},
	{"dns_resolver", S(dns_resolver), "", "DNS server ip[:port] to send every query to; empty = the servers of /etc/resolv.conf", 0, 0, NULL},
	{"dns_dnssec", S(dns_dnssec), "", "DNSSEC trust-anchor file (DS or DNSKEY records, e.g. /usr/share/dns/root.key); empty = no validation (no DANE)", 0, 0, NULL},
};

static int set_value(struct config *cfg, const struct ckey *k, const char *v, char *why,
		     size_t whylen)
{
	char *field = (char *)cfg + k->off;
	uint64_t n;
	switch (k->type) {
	case C_STR:
		if (strlen(v) >= k->size) {
			snprintf(why, whylen, "value too long for %s (max %zu)", k->name, k->size - 1);
			return MR_ECONFIG;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case C_ENUM:
		for (const char *const *e = k->enums; *e; e++)
			if (strcmp(*e, v) == 0) {
				memcpy(field, v, strlen(v) + 1);
				return 0;
			}
		snprintf(why, whylen, "bad value '%s' for %s (one of:", v, k->name);
		for (const char *const *e = k->enums; *e; e++) {
			size_t l = strlen(why);
			snprintf(why + l, whylen - l, " %s", *e);
		}
		strncat(why, ")", whylen - strlen(why) - 1);
		return MR_ECONFIG;
	case C_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
			*(bool *)field = true;
		else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
			*(bool *)field = false;
		else {
			snprintf(why, whylen, "bad value '%s' for %s (true or false)", v, k->name);
			return MR_ECONFIG;
		}
		return 0;
	case C_U64:
	case C_UINT:
		if (mr_parse_u64(v, strlen(v), k->max, &n) != 0 || n < k->min) {
			snprintf(why, whylen, "bad value '%s' for %s (a number from %llu to %llu)", v,
				 k->name, (unsigned long long)k->min, (unsigned long long)k->max);
			return MR_ECONFIG;
		}
		if (k->type == C_U64)
			*(uint64_t *)field = n;
		else
			*(unsigned *)field = (unsigned)n;
		return 0;
	}
	return MR_ECONFIG;
}

static const struct ckey *find_key(const char *name)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

void config_defaults(struct config *cfg)
{
	char why[256];
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < MR_ARRAY_LEN(keys); i++)
		if (set_value(cfg, &keys[i], keys[i].def, why, sizeof why) != 0)
			abort(); /* a bad built-in default is a programming error */
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

static int load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open", path);
		return MR_ECONFIG;
	}
	char line[4096], why[512];
	unsigned lineno = 0;
	int rv = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			rv = MR_ECONFIG;
			break;
		}
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
			rv = MR_ECONFIG;
			break;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		size_t vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v[vl - 1] = 0;
			v++;
		}
		const struct ckey *key = find_key(k);
		if (!key) {
			snprintf(err, errlen, "%s:%u: unknown key '%s'", path, lineno, k);
			rv = MR_ECONFIG;
			break;
		}
		if (set_value(cfg, key, v, why, sizeof why) != 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			rv = MR_ECONFIG;
			break;
		}
	}
	fclose(f);
	return rv;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	config_defaults(cfg);
	if (path && load_file(cfg, path, err, errlen) != 0)
		return MR_ECONFIG;
	char why[512];
	for (size_t i = 0; i < MR_ARRAY_LEN(keys); i++) {
		char env[96] = "MAILRAFT_";
		size_t l = strlen(env);
		for (const char *p = keys[i].name; *p && l + 1 < sizeof env; p++)
			env[l++] = (char)toupper((unsigned char)*p);
		env[l] = 0;
		const char *v = getenv(env);
		if (v && set_value(cfg, &keys[i], v, why, sizeof why) != 0) {
			snprintf(err, errlen, "environment %s: %s", env, why);
			return MR_ECONFIG;
		}
	}
	char host[256];
	uint16_t port;
	if (cfg->redis_address[0] &&
	    redis_parse_address(cfg->redis_address, host, sizeof host, &port) != 0) {
		snprintf(err, errlen, "%s: bad redis_address '%s' (host:port)", path ? path : "config",
			 cfg->redis_address);
		return MR_ECONFIG;
	}
	if (!cfg->data_dir[0]) {
		snprintf(err, errlen, "%s: data_dir must not be empty", path ? path : "config");
		return MR_ECONFIG;
	}
	return 0;
}

void config_dump(const struct config *cfg, void (*out)(void *ud, const char *line), void *ud)
{
	char line[1400];
	for (size_t i = 0; i < MR_ARRAY_LEN(keys); i++) {
		const struct ckey *k = &keys[i];
		const char *field = (const char *)cfg + k->off;
		char val[1100];
		switch (k->type) {
		case C_STR:
		case C_ENUM:
			snprintf(val, sizeof val, "%s", field);
			break;
		case C_BOOL:
			snprintf(val, sizeof val, "%s", *(const bool *)field ? "true" : "false");
			break;
		case C_U64:
			snprintf(val, sizeof val, "%llu",
				 (unsigned long long)*(const uint64_t *)field);
			break;
		case C_UINT:
			snprintf(val, sizeof val, "%u", *(const unsigned *)field);
			break;
		}
		snprintf(line, sizeof line, "%-18s = %-22s # %s", k->name, val, k->help);
		out(ud, line);
	}
}

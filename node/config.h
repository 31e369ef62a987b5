/* config.h - the configuration file: "key = value" lines, '#' comments. Every key has a
 * default; each may be overridden by the environment variable MAILRAFT_<KEY> (upper-case).
 * Unknown keys and bad values are errors that name the file and line. */
#ifndef MR_CONFIG_H
#define MR_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define CONFIG_MAX_LISTEN 8

struct config {
	char hostname[256];       /* SMTP greeting / Received */
	char data_dir[1024];
	char master_key_file[1024]; /* "" -> <data_dir>/master.key */
	char admin_socket[1024];  /* "" -> <data_dir>/admin.sock */
	char tls_cert[1024];      /* "" -> self-signed generated in <data_dir>/tls/ */
	char tls_key[1024];
	char user[64];            /* drop to this user after binding when started as root */
	char log_level[16];
	/* listeners: "addr:port" or "" (off) */
	char smtp_listen[128];    /* MX, STARTTLS offered */
	char submission_listen[128];  /* submission (RFC 6409), STARTTLS, AUTH after TLS */
	char submissions_listen[128]; /* submission over implicit TLS (RFC 8314) */
	bool submission_copy_to_sent; /* keep a \Seen copy of submitted mail in the sender's \Sent */
	char postmaster_address[320];  /* RFC 5321 §4.5.1 fallback for postmaster@<local domain> */
	/* rate limits (core/ratelimit.h), 0 = none */
	unsigned smtp_rate_connections_per_ip;         /* per minute */
	unsigned smtp_rate_messages_per_ip;            /* per hour, MX */
	unsigned smtp_rate_messages_per_sender_domain; /* per hour, MX */
	unsigned submission_rate_messages_per_user;    /* per hour */
	char imap_listen[128];    /* STARTTLS, LOGINDISABLED before TLS */
	char imaps_listen[128];   /* implicit TLS */
	char pop3_listen[128];    /* STLS */
	char pop3s_listen[128];   /* implicit TLS */
	uint64_t max_message_size;  /* bytes; SMTP SIZE, IMAP APPEND limit */
	unsigned max_recipients;
	unsigned storage_threads;
	char password_cost[16];     /* interactive | moderate | min */
	unsigned imap_idle_timeout; /* seconds; RFC 9051 §5.4: at least 30 minutes */
	unsigned smtp_timeout;      /* seconds; RFC 5321 §4.5.3.2 */
	unsigned pop3_timeout;      /* seconds; RFC 1939: at least 10 minutes */
	unsigned max_connections;   /* total client connections */
	bool plaintext_auth;        /* allow LOGIN/USER/PASS without TLS (default false) */
	/* cluster (issue 3): "" = single node; else this node's raft address "host:port"
	 * (the member RPC listens on port + 1); credentials in <data_dir>/cluster/ */
	char cluster_address[256];
	char cluster_bind[256];     /* "" = cluster_address; e.g. 0.0.0.0:7001 in containers */
	unsigned cluster_election_timeout; /* ms; a dead leader is replaced after 1-2x this */
	unsigned cluster_snapshot_entries; /* raft log entries between snapshots */
	/* Redis (optional, core/redis.h): counters shared by the nodes; "" = per node in memory */
	char redis_address[256];    /* host:port */
	char redis_password[256];   /* AUTH; "" = none */
	unsigned redis_db;          /* SELECT */
	char redis_secret[256];     /* keys the hashed Redis key names; "" = from the master key */
	/* DNS (node/dns/dns.h; not used by any frontend yet) */
	char dns_resolver[128];     /* forwarder "ip[:port]"; "" = the servers of /etc/resolv.conf */
	char dns_dnssec[1024];      /* DNSSEC trust-anchor file (DS/DNSKEY); "" = no validation */
};

/* Defaults for every key. */
void config_defaults(struct config *cfg);
/* Read path (may be NULL: defaults + environment). err gets "FILE:LINE: message". */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* Print every key with its current value (for --help and the docs). */
void config_dump(const struct config *cfg, void (*out)(void *ud, const char *line), void *ud);

#endif

#!/bin/sh
# deps.sh - installs what tests/bench/run.py needs (Debian 12, run as root; idempotent).
#   postfix        -> smtp-source, the SMTP/LMTP load generator (no daemon is configured:
#                     debconf is preseeded to "No configuration", and policy-rc.d may stop
#                     any service start; the benchmarks start their own servers by PID)
#   dovecot-*      -> the reference server (LMTP for ingest, IMAP/IMAPS for memory)
#   openssl        -> the reference server's self-signed test certificate
#   python3        -> /usr/bin/python3 runs the benchmarks (stdlib only)
set -eu
PKGS="postfix dovecot-core dovecot-imapd dovecot-lmtpd openssl python3"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: must run as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
if ! apt-get install -y --no-install-recommends $PKGS; then
	apt-get update
	apt-get install -y --no-install-recommends $PKGS
fi
command -v smtp-source >/dev/null 2>&1 || [ -x /usr/sbin/smtp-source ]
[ -x /usr/lib/dovecot/lmtp ]
echo "deps.sh: benchmark dependencies installed"

#!/bin/sh
# deps.sh - installs what tests/bench/run.py needs (Debian 12; root or sudo; idempotent,
# and apt is only called when something is missing).
#   postfix        -> smtp-source, the SMTP/LMTP load generator. Installing it configures no
#                     mail system: debconf is preseeded to "No configuration" (policy-rc.d
#                     may also stop any service start); the benchmarks start their own servers.
#   dovecot-*      -> the reference server (LMTP for ingest, IMAP/IMAPS for memory)
#   openssl        -> the reference server's self-signed test certificate
#   python3        -> /usr/bin/python3 runs the benchmarks (stdlib only)
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS="postfix dovecot-core dovecot-imapd dovecot-lmtpd openssl python3"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
		$SUDO apt-get update -qq
		# shellcheck disable=SC2086
		$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
	fi
fi
[ -x /usr/sbin/smtp-source ] || { echo "deps.sh: smtp-source missing after install" >&2; exit 1; }
[ -x /usr/lib/dovecot/lmtp ] || { echo "deps.sh: Dovecot LMTP missing after install" >&2; exit 1; }

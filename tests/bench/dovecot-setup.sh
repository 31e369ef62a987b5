#!/bin/sh
# dovecot-setup.sh - prepares a private Dovecot instance for tests/bench/run.py.
# usage: dovecot-setup.sh BASE_DIR LMTP_PORT IMAP_PORT IMAPS_PORT [NUSERS]
# Creates BASE_DIR/{dovecot.conf,users,ssl,home,run,state,log}; users user1..userN and
# "test", all with password "pass". Adapted from the team's reference setup (clients.md §2.1).
# Must run as root (Dovecot's master drops privileges itself); starts nothing.
set -eu
BASE=$1; LMTP=$2; IMAP=$3; IMAPS=$4; N=${5:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$BASE"/run "$BASE"/state "$BASE"/log "$BASE"/ssl "$BASE"/home
chmod 755 "$BASE"
sed -e "s|@BASE@|$BASE|g" -e "s|@LMTP_PORT@|$LMTP|g" -e "s|@IMAP_PORT@|$IMAP|g" \
    -e "s|@IMAPS_PORT@|$IMAPS|g" "$HERE/dovecot.conf.in" > "$BASE/dovecot.conf"
: > "$BASE/users"
echo "test:{PLAIN}pass::::::" >> "$BASE/users"
i=1; while [ "$i" -le "$N" ]; do echo "user$i:{PLAIN}pass::::::" >> "$BASE/users"; i=$((i+1)); done
chmod 640 "$BASE/users"; chgrp dovecot "$BASE/users"
[ -f "$BASE/ssl/key.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
   -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,DNS:mail.test,IP:127.0.0.1" \
   -keyout "$BASE/ssl/key.pem" -out "$BASE/ssl/cert.pem" 2>/dev/null
chown nobody:nogroup "$BASE/home"

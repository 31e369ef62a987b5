#!/bin/sh
# quickstart.sh - from a fresh Debian 12 checkout: install build dependencies, build, create a
# single node with safe defaults (self-signed TLS, the local test domain mail.test, one account
# whose password is printed), start it in the background and say how to use it.
# Run again: rebuilds, restarts the node, keeps the data. Stop: kill "$(cat run/mailraftd.pid)".
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN="$ROOT/run"
DOMAIN="${MAILRAFT_DOMAIN:-mail.test}"
ACCOUNT="admin@$DOMAIN"

sh self-hosting/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DWERROR=ON >/dev/null
cmake --build build-release -j"$(nproc)" >/dev/null
D="$ROOT/build-release/node/mailraftd"
CTL="$ROOT/build-release/ctl/mailraftctl"

mkdir -p "$RUN"
chmod 700 "$RUN"
if [ ! -f "$RUN/mailraft.conf" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		SMTP=25; IMAP=143; IMAPS=993; POP3=110; POP3S=995; SUBM=587; SUBMS=465
		# the checkout may sit where the unprivileged user cannot enter (/root, mktemp -d):
		# as root the data lives in /var/lib/mailraft instead
		DATA=/var/lib/mailraft
		id mailraft >/dev/null 2>&1 || useradd --system --home-dir "$DATA" --shell /usr/sbin/nologin mailraft
		mkdir -p "$DATA"
		chmod 700 "$DATA"
		chown mailraft: "$DATA"
		USER_LINE="user = mailraft"
	else
		DATA="$RUN/data"
		SMTP=2525; IMAP=1143; IMAPS=1993; POP3=1110; POP3S=1995; SUBM=2587; SUBMS=2465
		USER_LINE="# user = mailraft   (only used when started as root)"
	fi
	cat > "$RUN/mailraft.conf" <<CONF
# mailraft single node, written by self-hosting/quickstart.sh. See deploy/mailraft.conf.
hostname = localhost
data_dir = $DATA
smtp_listen = 127.0.0.1:$SMTP
imap_listen = 127.0.0.1:$IMAP
imaps_listen = 127.0.0.1:$IMAPS
pop3_listen = 127.0.0.1:$POP3
pop3s_listen = 127.0.0.1:$POP3S
submission_listen = 127.0.0.1:$SUBM
submissions_listen = 127.0.0.1:$SUBMS
$USER_LINE
CONF
fi
if [ -f "$RUN/mailraftd.pid" ] && kill -0 "$(cat "$RUN/mailraftd.pid")" 2>/dev/null; then
	kill "$(cat "$RUN/mailraftd.pid")"
	for _ in $(seq 50); do kill -0 "$(cat "$RUN/mailraftd.pid")" 2>/dev/null || break; sleep 0.1; done
fi
: > "$RUN/mailraftd.log"
nohup "$D" --config "$RUN/mailraft.conf" >>"$RUN/mailraftd.log" 2>&1 &
echo $! > "$RUN/mailraftd.pid"
for _ in $(seq 100); do
	grep -q " ready " "$RUN/mailraftd.log" && break
	kill -0 "$(cat "$RUN/mailraftd.pid")" 2>/dev/null || { cat "$RUN/mailraftd.log"; exit 1; }
	sleep 0.1
done
grep -q " ready " "$RUN/mailraftd.log" || { cat "$RUN/mailraftd.log"; exit 1; }
DATA=$(sed -n 's/^data_dir = //p' "$RUN/mailraft.conf")
SOCK="$DATA/admin.sock"
if ! "$CTL" --socket "$SOCK" domain list | grep -q "$DOMAIN"; then
	"$CTL" --socket "$SOCK" domain add "$DOMAIN" >/dev/null
fi
if [ ! -f "$RUN/admin-password" ]; then
	PW=$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | head -c 16)
	# a data directory kept from an earlier checkout may already hold the account
	"$CTL" --socket "$SOCK" account add "$ACCOUNT" --password "$PW" >/dev/null 2>&1 ||
		"$CTL" --socket "$SOCK" account passwd "$ACCOUNT" --password "$PW" >/dev/null
	(umask 077; echo "$PW" > "$RUN/admin-password")
	# RFC 5321 §4.5.1: postmaster must be deliverable
	"$CTL" --socket "$SOCK" alias add "postmaster@$DOMAIN" "$ACCOUNT" >/dev/null 2>&1 || true
fi
PW=$(cat "$RUN/admin-password")
SMTP=$(sed -n 's/^smtp_listen = .*:\([0-9]*\)$/\1/p' "$RUN/mailraft.conf")
IMAPS=$(sed -n 's/^imaps_listen = .*:\([0-9]*\)$/\1/p' "$RUN/mailraft.conf")
POP3S=$(sed -n 's/^pop3s_listen = .*:\([0-9]*\)$/\1/p' "$RUN/mailraft.conf")
SUBMS=$(sed -n 's/^submissions_listen = .*:\([0-9]*\)$/\1/p' "$RUN/mailraft.conf")
SUBMS=${SUBMS:-465}
cat <<MSG

mailraft is running (pid $(cat "$RUN/mailraftd.pid"), log $RUN/mailraftd.log).
  account:   $ACCOUNT
  password:  $PW
  SMTP MX:   127.0.0.1:$SMTP    IMAPS: 127.0.0.1:$IMAPS    POP3S: 127.0.0.1:$POP3S
  submission (implicit TLS, AUTH): 127.0.0.1:$SUBMS

Try it:
  swaks --to $ACCOUNT --server 127.0.0.1:$SMTP
  swaks --to $ACCOUNT --from $ACCOUNT --server 127.0.0.1:$SUBMS --tlsc --auth PLAIN --auth-user $ACCOUNT --auth-password $PW
  curl -k imaps://127.0.0.1:$IMAPS/INBOX -u $ACCOUNT:$PW
  curl -k "imaps://127.0.0.1:$IMAPS/INBOX;UID=1" -u $ACCOUNT:$PW
  curl -k pop3s://127.0.0.1:$POP3S/1 -u $ACCOUNT:$PW
  $CTL --socket $SOCK status
Stop:  kill \$(cat $RUN/mailraftd.pid)
MSG

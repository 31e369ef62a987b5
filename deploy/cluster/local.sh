#!/bin/sh
# local.sh - a three-node mailraft cluster on one host, from the configs next to this script:
# node1 is initialised (`mailraftctl cluster init`) and started, a domain and an account are
# created, node2 and node3 are invited (`cluster add`), join (`cluster join TOKEN`) and start.
# Usage: sh deploy/cluster/local.sh [BUILD_DIR (default build-release)] [BASE_DIR (default
# run/cluster)]. Data, configs and logs go to BASE_DIR; stop with `sh local.sh stop`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "${1:-}" = stop ]; then
	base=${2:-$root/run/cluster}
	for i in 1 2 3; do
		[ -f "$base/node$i.pid" ] && kill "$(cat "$base/node$i.pid")" 2>/dev/null || true
	done
	exit 0
fi
build=${1:-$root/build-release}
base=${2:-$root/run/cluster}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
ctl=$build/ctl/mailraftctl
daemon=$build/node/mailraftd
[ -x "$daemon" ] && [ -x "$ctl" ] || { echo "build first: cmake -S . -B build-release && cmake --build build-release" >&2; exit 1; }
mkdir -p "$base"
cd "$base"
[ -e cluster-data ] && { echo "$base/cluster-data exists: remove it for a fresh cluster" >&2; exit 1; }
mkdir -p cluster-data
for i in 1 2 3; do sed "s|^data_dir = ./|data_dir = $base/|" "$here/node$i.conf" >"node$i.conf"; done

start() { # start node $1 and wait for its "ready" log line
	"$daemon" --config "node$1.conf" >>"node$1.log" 2>&1 &
	echo $! >"node$1.pid"
	n=0
	until grep -q "mailraftd .* ready data_dir" "node$1.log" 2>/dev/null; do
		n=$((n + 1))
		[ $n -gt 300 ] && { echo "node$1 not ready; see $base/node$1.log" >&2; exit 1; }
		kill -0 "$(cat "node$1.pid")" 2>/dev/null || { tail "node$1.log" >&2; exit 1; }
		sleep 0.1
	done
}

"$ctl" --config node1.conf cluster init >/dev/null
start 1
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$ctl" --config node1.conf domain add mail.test >/dev/null
"$ctl" --config node1.conf account add admin@mail.test --password "$password" >/dev/null
for i in 2 3; do
	addr=$(sed -n 's/^cluster_address = //p' "node$i.conf")
	token=$("$ctl" --config node1.conf --json cluster add --id "$i" --address "$addr" |
		sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	"$ctl" --config "node$i.conf" cluster join "$token" >/dev/null
	start "$i"
done
# the joiners become voters once caught up
n=0
until [ "$("$ctl" --config node1.conf --json cluster members | grep -o '"voter"' | wc -l)" -ge 3 ]; do
	n=$((n + 1))
	[ $n -gt 300 ] && { echo "nodes 2 and 3 did not become voters" >&2; break; }
	sleep 0.1
done
"$ctl" --config node1.conf cluster members
echo
echo "account: admin@mail.test  password: $password"
for i in 1 2 3; do
	echo "node$i: smtp $(sed -n 's/^smtp_listen = //p' "node$i.conf")  imaps $(sed -n 's/^imaps_listen = //p' "node$i.conf")  ctl: $ctl --config $base/node$i.conf"
done
echo "stop: sh $here/local.sh stop $base"

#!/bin/sh
# deps.sh - install what mailraft needs to build (Debian 12). Pass --test to add what the test
# suite and benchmarks use. Needs root (or sudo).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
BUILD_PKGS="build-essential cmake pkg-config libssl-dev openssl libsqlcipher-dev libsodium-dev \
libhiredis-dev libraft-dev libuv1-dev libnng-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev \
libunbound-dev libevent-dev"
TEST_PKGS="clang libclang-rt-14-dev python3 swaks curl redis-server sqlcipher isync offlineimap3 interimap \
nsd ldnsutils python3-dkim python3-nacl"
PKGS="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && PKGS="$PKGS $TEST_PKGS"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq $missing >/dev/null
fi
if dpkg-query -W -f='${Status}' libsqlite3-dev 2>/dev/null | grep -q "install ok installed"; then
	echo "note: libsqlite3-dev is installed; mailraft never links it (SQLCipher only)."
fi

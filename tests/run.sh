#!/bin/sh
# run.sh - install what the tests need, build with -Werror and ASan+UBSan, run every test
# (unit, fuzz-corpus replay, integration against the real daemon, benchmarks at tiny size).
# Ends with one line "N passed, N failed". Exit status 0 only if everything passed.
set -eu
cd "$(dirname "$0")/.."
sh self-hosting/deps.sh --test
sh tests/bench/deps.sh
# the optimised build must be warning-free too (it is what quickstart.sh builds)
cmake -S . -B build-release -DWERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$(nproc)"
# clang too, with the libFuzzer targets (catches what gcc does not warn about)
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFUZZ=ON -DWERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)"
B=build-test
cmake -S . -B "$B" -DWERROR=ON -DENABLE_SANITIZERS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$B" -j"$(nproc)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
set +e
(cd "$B" && ctest -j2 --output-on-failure --timeout 900) > "$B/ctest.log" 2>&1
rc=$?
set -e
cat "$B/ctest.log"
total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$B/ctest.log")
failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$B/ctest.log")
total=${total:-0}
failed=${failed:-0}
if [ "$total" -eq 0 ]; then
	echo "no tests ran"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "$((total - failed)) passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]

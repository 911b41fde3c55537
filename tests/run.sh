#!/usr/bin/env bash
# The test command: installs what is needed, builds, and runs every test twice, once in a
# normal build and once under AddressSanitizer + UndefinedBehaviorSanitizer; then the clang
# builds of docs/reliability.md: the libFuzzer targets' smoke and the ThreadSanitizer stress
# tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/install-deps.sh
jobs="${ASTCD_JOBS:-2}"
# Paths relative to the checkout in ccache's keys, so that clones in other directories (CI's)
# reuse each other's objects.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
# With -g, ccache also hashes the working directory (debug info names it), so without this no
# clone would ever hit another's objects; their debug info may name the other clone's path.
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DASTCD_BUILD_TESTS=ON -DASTCD_BUILD_BENCH=ON -DASTCD_SANITIZE=OFF \
  -DASTCD_WERROR=ON
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DASTCD_BUILD_TESTS=ON \
  -DASTCD_BUILD_BENCH=ON -DASTCD_SANITIZE=ON -DASTCD_WERROR=ON
cmake --build build-asan -j"$jobs"
echo "== tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== build (clang-14: libFuzzer targets with ASan + UBSan)"
CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DASTCD_FUZZ=ON -DASTCD_BUILD_TESTS=OFF \
  -DASTCD_BUILD_BENCH=OFF -DASTCD_WERROR=ON
cmake --build build-fuzz --target astcd_fuzz -j"$jobs"
echo "== fuzz smoke (tests/fuzz/campaign.sh runs the long campaigns)"
ctest --test-dir build-fuzz --output-on-failure -j"$jobs"

echo "== build (clang-14, ThreadSanitizer, -Wthread-safety -Werror)"
# Only core, the server library and the stress tests labelled tsan (docs/reliability.md,
# section 2); clang's thread-safety analysis runs on every file it compiles.
CXX=clang++-14 cmake -S . -B build-tsan -G Ninja -DASTCD_TSAN=ON -DASTCD_WERROR=ON \
  -DASTCD_BUILD_TESTS=ON
cmake --build build-tsan -j"$jobs"
echo "== stress tests under ThreadSanitizer"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" -L tsan

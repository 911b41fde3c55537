#!/usr/bin/env bash
# Long fuzzing campaigns (docs/reliability.md, section 1): builds the libFuzzer targets with
# clang-14 (build-fuzz/), then runs each target for a number of executions on a working copy
# of its corpus, and prints one summary line per target: executions, executions/s, coverage
# (libFuzzer's `cov` edges and `ft` features) and whether it found anything.
#
# usage: tests/fuzz/campaign.sh [--runs N] [--seconds S] [--jobs J] [--max-len L]
#                               [--sanitizers LIST] [TARGET...]
#   --runs N   executions per target (default 10000000)
#   --sanitizers LIST  address,undefined (default; build-fuzz/) or e.g. undefined (faster,
#              without ASan's checks), built in build-fuzz-undefined/
#   --seconds S  stop each target after S seconds, whichever comes first (default: no limit)
#   --jobs J   targets fuzzed at once (default 1)
#   TARGET     tokenize detokenize decode_walk run requests (default: all)
# Findings (crash-*, leak-*, timeout-*) are written to build-fuzz/campaign/TARGET/; fix each
# with a regression test and add its reproducer to tests/fuzz/corpus/TARGET/. New corpus
# entries stay in build-fuzz/campaign/TARGET/corpus (merge the useful ones with -merge=1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs=10000000 seconds=0 jobs=1 max_len=1024 sanitizers=address,undefined targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --max-len) max_len="$2"; shift 2 ;;
    --sanitizers) sanitizers="$2"; shift 2 ;;
    -h|--help) sed -n 2,18p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(tokenize detokenize decode_walk run requests)

build="$root/build-fuzz"
[ "$sanitizers" = address,undefined ] || build="$root/build-fuzz-${sanitizers//,/-}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}" CCACHE_NOHASHDIR=1
CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DASTCD_FUZZ=ON -DASTCD_BUILD_TESTS=OFF \
  -DASTCD_BUILD_BENCH=OFF -DASTCD_FUZZ_SANITIZERS="$sanitizers" >/dev/null
cmake --build "$build" --target astcd_fuzz -j"${ASTCD_JOBS:-2}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

campaign() {
  # One working corpus per target, whichever sanitizers run it.
  local target="$1" dir="$root/build-fuzz/campaign/$1"
  mkdir -p "$dir/corpus"
  local dict=()
  [ -f "$root/tests/fuzz/dict/$target.dict" ] && dict=(-dict="$root/tests/fuzz/dict/$target.dict")
  local start=$SECONDS status=0
  (cd "$dir" && "$build/tests/fuzz/${target}_fuzz" -runs="$runs" -max_total_time="$seconds" \
     -max_len="$max_len" \
     -print_final_stats=1 "${dict[@]}" corpus "$root/tests/fuzz/corpus/$target" \
     >"$dir/log" 2>&1) || status=$?
  local secs=$((SECONDS - start))
  local done_runs cov ft
  done_runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$dir/log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' "$dir/log" | tail -1 | grep -o '[0-9]*' || echo "?")
  local findings
  findings=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  printf '%-12s runs=%s seconds=%s execs/s=%s cov=%s ft=%s findings=%s exit=%s\n' "$target" \
    "$done_runs" "$secs" "$( [ "$secs" -gt 0 ] && [ "$done_runs" != "?" ] && echo $((done_runs / secs)) || echo "?")" \
    "$cov" "$ft" "$findings" "$status"
}

running=0
for target in "${targets[@]}"; do
  campaign "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

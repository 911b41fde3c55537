#!/usr/bin/env bash
# One command, one report: builds astcd in Release mode, runs every benchmark side by side, and
# writes docs/benchmarks.md (with its latency plot, docs/benchmarks-latency.svg).
#
#   bash bench/run_all.sh                 # the full run (about 15 minutes on 2 cores)
#   bash bench/run_all.sh --smoke --build DIR --out FILE.md
#                                         # tiny sizes over an existing build (what CI runs)
#
# Nothing here asserts a timing; a benchmark that fails to run fails the command.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
smoke=""
build="$root/build-bench"
out="$root/docs/benchmarks.md"
plot=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke="--smoke" ;;
    --build) build="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "run_all.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
py=/usr/bin/python3

if [ -z "$smoke" ]; then
  bash "$root/deploy/install-deps.sh"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASTCD_BUILD_TESTS=OFF \
    -DASTCD_BUILD_BENCH=ON -DASTCD_SANITIZE=OFF
  cmake --build "$build" -j"${ASTCD_JOBS:-2}"
  plot="$root/docs/benchmarks-latency.svg"
else
  plot="$(dirname "$out")/benchmarks-latency.svg"
fi
results="$build/bench-results"
rm -rf "$results" && mkdir -p "$results"

echo "== engine micro-benchmarks"
if [ -n "$smoke" ]; then
  "$build/bench/engine_bench" --benchmark_min_time=0.01 --benchmark_format=json \
    --benchmark_out="$results/engine.json" > /dev/null
else
  "$build/bench/engine_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=json --benchmark_out="$results/engine.json" > /dev/null
fi
echo "== 1. engine step versus XGrammar"
$py "$root/bench/xgrammar/run.py" --build "$build" --out "$results/xgrammar.json" $smoke
echo "== 2-4. sampling throughput, the network step, memory per session"
$py "$root/bench/rpc/run.py" --build "$build" --out "$results" $smoke
echo "== 5-6. Tokenize and Run versus CPython"
$py "$root/bench/cpython/run.py" --build "$build" --out-tokenize "$results/tokenize.json" \
  --out-run "$results/run.json" $smoke
echo "== 7. the constraint in a real model's decoding step"
# torch and the astcd_client package: the README's venv line, in the build tree.
venv="$build/bench-venv"
$py -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q --no-build-isolation "$root/client/python"
"$venv/bin/python" "$root/bench/model/model_step_bench.py" --build "$build" \
  --out "$results/model_step.json" --rpc-step "$results/rpc_step.json" $smoke
echo "== 8. memory budgets: the memory flags' real cost"
$py "$root/bench/memory/run.py" --server "$build/server/astcd-server" --stubs "$build/proto/python" \
  --out "$results" $smoke
echo "== 9. dataset yield: what the shape controls buy"
$py "$root/bench/dataset/run.py" --build "$build" --out "$results" $smoke
echo "== 10. the CLI as a data pipeline"
$py "$root/bench/cli/run.py" --astcd "$build/cli/astcd" --out "$results" $smoke
echo "== report"
$py "$root/bench/report.py" --results "$results" --out "$out" --plot "$plot" $smoke

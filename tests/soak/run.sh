#!/bin/bash
# The long soak (issue #14, item 3): soak.py for M minutes against a built astcd-server, then
# an SVG of RSS and live sessions over time (gnuplot), for docs/reliability.md.
#
# usage: tests/soak/run.sh --minutes M [--server PATH] [--stubs DIR] [--out DIR]
#                          [--svg FILE] [--clients K] [--plot-only]
#
# Defaults: the server and the Python stubs of build/, the figures in build/soak-<M>min/, the
# plot in docs/reliability-soak-rss.svg. Exits with soak.py's status (the plot is drawn either
# way: a failed soak's plot is what one wants to look at). --plot-only redraws the plot from
# the samples.csv already in --out.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MINUTES="" SERVER="$ROOT/build/server/astcd-server" STUBS="$ROOT/build/proto/python"
OUT="" SVG="$ROOT/docs/reliability-soak-rss.svg" CLIENTS=12 PLOT_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --server) SERVER=$2; shift 2 ;;
    --stubs) STUBS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --svg) SVG=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --plot-only) PLOT_ONLY=1; shift ;;
    *) echo "usage: $0 --minutes M [--server PATH] [--stubs DIR] [--out DIR] [--svg FILE]" \
            "[--clients K] [--plot-only]" >&2; exit 2 ;;
  esac
done
[ -n "$MINUTES" ] || { echo "run.sh: --minutes is required" >&2; exit 2; }
OUT=${OUT:-$ROOT/build/soak-${MINUTES}min}
mkdir -p "$OUT"

status=0
if [ "$PLOT_ONLY" = 0 ]; then
  [ -x "$SERVER" ] || { echo "run.sh: no server at $SERVER (build it first)" >&2; exit 2; }
  /usr/bin/python3 "$ROOT/tests/soak/soak.py" "$SERVER" "$STUBS" \
    --seconds "$((MINUTES * 60))" --clients "$CLIENTS" --out "$OUT" || status=$?
fi

# RSS (MiB, left axis) over live sessions (right axis, grey, drawn first so RSS stays on top)
# against minutes, one point a second. Dashed lines: the end of warm-up (the first third,
# soak.py's reference for drift) and the end of the load; the points after it are the TTL
# eviction, then shutdown.
gnuplot <<EOF
set terminal svg size 900,420 dynamic font "sans,11"
set output "$SVG"
set datafile separator ","
set key top left
set xlabel "minutes"
set ylabel "server RSS (MiB)"
set y2label "live sessions"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
set grid
set title "astcd-server under the soak: ${MINUTES} min, ${CLIENTS} clients"
set xrange [0:$MINUTES * 1.03]
set key opaque
set arrow from $MINUTES / 3.0, graph 0 to $MINUTES / 3.0, graph 1 nohead dashtype 2
set label "end of warm-up" at $MINUTES / 3.0, graph 0.06 offset 0.5,0
set arrow from $MINUTES, graph 0 to $MINUTES, graph 1 nohead dashtype 2
plot "$OUT/samples.csv" every ::1 using (\$1/60):3 axes x1y2 with lines lc rgb "#bbbbbb" title "live sessions", \
     "$OUT/samples.csv" every ::1 using (\$1/60):(\$2/1048576) axes x1y1 with lines lw 2 lc rgb "#7020a0" title "RSS"
EOF
echo "run.sh: figures in $OUT, plot in $SVG"
exit $status

"""The soak's verdicts, as pure functions of its measurements (no I/O, no gRPC), so that
analysis_test.py can show on synthetic series that each check passes a flat run and fails a
drifting one.

The thresholds, and why (docs/reliability.md, section 3, says the same):

- Windows. Latency is summarised per window of about a minute (the issue's "per minute"); a
  short run is cut into at least 6 windows of at least 10 s, so that the 60 s CI run still has
  a trend to look at.
- Warm-up is the first third of the windows. The server's memory grows while glibc's arenas,
  the session maps and the engine cache reach the size this load needs, and gRPC starts its
  threads; what is a leak is growth after that.
- RSS drift is judged like a latency trend (below), on the median RSS of each window after
  warm-up (samples one a second), with L = 1 + the issue's 5%: it fails when the robust line
  rises by more than 5% AND the second half's median exceeds the first half's by
  (1 + 3L) / (3 + L), 2.47%. RSS wanders by a MiB or two either way within seconds: calls and
  decoded-ahead Decode chunks in flight, glibc's heap lifted by a large buffer and given back
  by a later malloc_trim. A check of two points (the top of one window against the median of
  the last) read that wander as drift often enough to fail a 60 s run now and then (+5.3% in
  CI, from a step in the last window); the line ignores a window that stepped, and a leak,
  which grows with the calls in every window, trips both. Unlike latency, RSS is never
  excused by a busier machine. A short run (the 60 s one: 4 windows after warm-up) is judged
  with L = 1.20: the heap is still warming up there (the 30-minute run's RSS rises for ten
  minutes, then stays flat), and the same server's 60 s runs on a loaded machine gave lines
  from -3% to +10%. At 1.20 it still fails a leak of about 50 bytes a call; the 5% is the
  30-minute run's.
- Latency trend. A shared machine (other builds, other tests under ctest -j) moves latency
  by 2x or more for a while, so no single window may decide. A trend fails only when BOTH
  (1) a robust line through the post-warm-up windows rises by more than the limit L from its
  first window to its last, AND (2) the median of the second half of those windows exceeds
  the median of the first half by (1 + 3L) / (3 + L), which is what a straight rise by L
  gives (1.22 for L = 1.5, 1.4 for L = 2). The line is Siegel's repeated median: each
  window's median slope to the others, then the median of those; it ignores up to half of
  the windows being outliers, so a loaded window at the end (where a least-squares or even a
  Theil-Sen line has the most leverage) cannot tilt it. A leak that slows calls rises
  steadily and trips both; a burst of load in a few windows trips at most (2). Limits: 1.5x
  for p50, 2x for p99 (a tail is noisier).
- A tail alone, in a short run. The 60 s run judges four 10 s windows, whose p99 comes from
  a few hundred calls each and moves by 2x or more between windows of one steady run; four
  such values line up as a rise often enough (about one ordering in eight) to fail a healthy
  run. So with fewer than 8 windows after warm-up, a p99 trend that neither p50 nor CPU per
  call shares is reported as INCONCLUSIVE, not failed: what slows every call (a leak, a
  growing map) moves p50 and CPU per call too, and the 30-minute run judges the tail alone.
"""
import math

RSS_DRIFT_LIMIT = 0.05
RSS_DRIFT_LIMIT_SHORT = 0.20  # with fewer than MIN_WINDOWS_FOR_A_TAIL windows (module docstring)
P50_TREND_LIMIT = 1.5
P99_TREND_LIMIT = 2.0
MIN_WINDOWS_FOR_A_TAIL = 8


def window_plan(total_s):
    """(number of windows, window length in s): about a minute each, at least 6 windows of at
    least 10 s, tiling the run exactly."""
    target = min(60.0, max(10.0, total_s / 6.0))
    n = max(1, round(total_s / target))
    return n, total_s / n


def warmup_windows(n_windows):
    """The windows that are warm-up: the first third (at least one, leaving at least two)."""
    return max(1, min(n_windows // 3, n_windows - 2))


def median(xs):
    s = sorted(xs)
    if not s:
        return float("nan")
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def percentile(xs, q):
    """Nearest-rank percentile (q in (0, 1]): a value that was observed, never interpolated."""
    s = sorted(xs)
    if not s:
        return float("nan")
    return s[max(0, math.ceil(q * len(s)) - 1)]


def histogram_quantile(buckets, q):
    """Prometheus's histogram_quantile: buckets is [(upper bound, cumulative count)] sorted by
    bound, +inf last; linear within the bucket the rank falls in; the largest finite bound
    when it falls in +inf; nan without counts."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for upper, cum in buckets:
        if cum >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / max(cum - below, 1e-12)
        lower, below = upper, cum
    return lower


def histogram_delta(later, earlier):
    """The buckets of the calls between two cumulative snapshots."""
    before = dict(earlier)
    return [(le, cum - before.get(le, 0.0)) for le, cum in later]


def repeated_median(ys):
    """(slope, intercept) of Siegel's repeated-median line through (i, ys[i])."""
    n = len(ys)
    if n < 2:
        return 0.0, median(ys)
    slope = median([median([(ys[j] - ys[i]) / (j - i) for j in range(n) if j != i])
                    for i in range(n)])
    return slope, median([y - slope * i for i, y in enumerate(ys)])


def ratio(a, b):
    return a / b if b > 0 else float("inf")


def trend(series, limit):
    """The trend verdict of per-window values after warm-up (module docstring)."""
    n = len(series)
    slope, intercept = repeated_median(series)
    line = ratio(intercept + slope * (n - 1), intercept)
    half = n // 2
    halves = ratio(median(series[n - half:]), median(series[:half])) if half else 1.0
    halves_limit = (1 + 3 * limit) / (3 + limit)
    return {"line_ratio": line, "halves_ratio": halves, "limit": limit,
            "halves_limit": halves_limit, "windows": n,
            "ok": not (line > limit and halves > halves_limit)}


def tail_alone_inconclusive(p99, p50, cpu_per_call):
    """Whether a failed p99 verdict is too thin to fail the run: fewer than
    MIN_WINDOWS_FOR_A_TAIL windows, and neither p50 nor CPU per call trends (module docstring)."""
    return (not p99["ok"] and p99["windows"] < MIN_WINDOWS_FOR_A_TAIL and p50["ok"]
            and cpu_per_call["ok"])


def rss_drift(rss_by_window, warmup):
    """The RSS verdict: rss_by_window[w] is the list of RSS samples taken in window w."""
    medians = [median(window) for window in rss_by_window[warmup:]]
    short = len(medians) < MIN_WINDOWS_FOR_A_TAIL
    verdict = trend(medians, 1 + (RSS_DRIFT_LIMIT_SHORT if short else RSS_DRIFT_LIMIT))
    verdict.update(drift=verdict["line_ratio"] - 1, first_median_bytes=medians[0],
                   last_median_bytes=medians[-1])
    return verdict


def latency_trends(p50s, p99s, warmup):
    """The p50 and p99 verdicts from per-window percentiles (all windows, warm-up included)."""
    return {"p50": trend(p50s[warmup:], P50_TREND_LIMIT),
            "p99": trend(p99s[warmup:], P99_TREND_LIMIT)}

#!/usr/bin/python3
"""The soak's checks can fail: each verdict of analysis.py on synthetic series, flat, noisy and
drifting. A soak whose checks always pass proves nothing; this runs in CTest (soak_checks)
in a fraction of a second, so it runs even where the soak itself does not (ASan builds).

usage: analysis_test.py
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analysis as A  # noqa: E402

failures = []


def expect(name, got, want):
    print(f"{'ok  ' if got == want else 'FAIL'} {name}: {got} (want {want})")
    if got != want:
        failures.append(name)


def noisy(n, level, rng, spread=0.15):
    return [level * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def test_plans():
    expect("60 s: 6 windows of 10 s", A.window_plan(60), (6, 10.0))
    expect("30 min: 30 windows of 60 s", A.window_plan(1800), (30, 60.0))
    expect("100 s: 6 windows", A.window_plan(100)[0], 6)
    expect("warm-up of 6 windows", A.warmup_windows(6), 2)
    expect("warm-up of 30 windows", A.warmup_windows(30), 10)
    expect("warm-up leaves two windows", A.warmup_windows(3), 1)
    expect("p99 of 1..100", A.percentile(range(1, 101), 0.99), 99)
    expect("p50 of 1..100", A.percentile(range(1, 101), 0.5), 50)
    inf = float("inf")
    h = [(0.001, 10.0), (0.002, 90.0), (0.005, 100.0), (inf, 100.0)]
    expect("histogram p50", round(A.histogram_quantile(h, 0.5), 6), 0.0015)
    expect("histogram p99", round(A.histogram_quantile(h, 0.99), 6), 0.0047)
    expect("histogram p99 in +inf", A.histogram_quantile([(0.1, 1.0), (inf, 100.0)], 0.99), 0.1)
    expect("histogram delta", A.histogram_delta(h, [(0.001, 5.0), (0.002, 5.0), (0.005, 5.0),
                                                    (inf, 5.0)])[1], (0.002, 85.0))


def test_rss(rng):
    flat = [noisy(20, 100e6, rng, 0.01) for _ in range(30)]
    expect("flat RSS passes", A.rss_drift(flat, 10)["ok"], True)
    burst = [list(w) for w in flat]
    burst[-1][:10] = [160e6] * 10  # a hostile call's burst: half of the last window
    burst[10][10:] = [104e6] * 10  # a heap step inside the first window after warm-up
    expect("a burst in the last window passes", A.rss_drift(burst, 10)["ok"], True)
    saw = [[100e6 + 2.5e6 * ((20 * w + i) % 8) for i in range(20)] for w in range(30)]
    expect("a sawtooth (the heap, then malloc_trim) passes", A.rss_drift(saw, 10)["ok"], True)
    leak = [noisy(20, 100e6 * (1 + 0.004 * w), rng, 0.01) for w in range(30)]
    expect("a leak of 0.4% a window fails", A.rss_drift(leak, 10)["ok"], False)
    shrink = [noisy(20, 100e6 * (1 - 0.004 * w), rng, 0.01) for w in range(30)]
    expect("shrinking RSS passes", A.rss_drift(shrink, 10)["ok"], True)
    # The 60 s run: 6 windows of 10 samples, warm-up 2. These medians (MiB) are a CI run's
    # whose last window stepped up by 1.5 MiB, which a two-point check failed at +5.3%.
    step = [noisy(10, m * 2**20, rng, 0.02) for m in (24.2, 24.9, 25.6, 25.6, 25.9, 27.4)]
    expect("60 s: a step in the last window passes", A.rss_drift(step, 2)["ok"], True)
    # Heap warm-up in a steady 60 s run on a loaded machine (session 11: +10% line).
    warm = [noisy(10, m * 2**20, rng, 0.02) for m in (25.5, 25.1, 25.2, 26.3, 27.1, 27.3)]
    expect("60 s: the heap's warm-up passes", A.rss_drift(warm, 2)["ok"], True)
    leak60 = [noisy(10, 25 * 2**20 * (1 + 0.08 * w), rng, 0.02) for w in range(6)]
    expect("60 s: a leak of 8% a window fails", A.rss_drift(leak60, 2)["ok"], False)
    long_warm = [noisy(20, 100e6 * (1 + 0.1 * w / 19), rng, 0.01) for w in range(30)]
    expect("30 min: a 10% rise after warm-up fails", A.rss_drift(long_warm, 10)["ok"], False)


def test_latency(rng):
    flat = noisy(30, 1.0, rng)
    expect("flat latency passes", A.trend(flat[10:], 1.5)["ok"], True)
    spiky = list(flat)
    spiky[25], spiky[29] = 4.0, 3.5  # two windows under someone else's build, the last one too
    expect("two loaded windows pass", A.trend(spiky[10:], 1.5)["ok"], True)
    rising = [1.0 + 0.06 * w for w in range(30)]  # 2.2x over the 20 post-warm-up windows
    expect("a steady rise fails", A.trend(noisy_scale(rising, rng)[10:], 1.5)["ok"], False)
    step = [1.0] * 20 + [2.0] * 10  # latency doubles half way after warm-up and stays there
    expect("a lasting step fails", A.trend(step[10:], 1.5)["ok"], False)
    short = [1.0, 1.1, 0.9, 1.0]  # the 60 s run's four post-warm-up windows
    expect("short flat passes", A.trend(short, 1.5)["ok"], True)
    expect("short one loaded window passes p99", A.trend([1.0, 1.0, 1.0, 3.0], 2.0)["ok"], True)
    expect("short doubling fails", A.trend([1.0, 1.4, 1.9, 2.6], 1.5)["ok"], False)
    both = A.latency_trends([1.0] * 6, [5.0] * 5 + [20.0], 2)
    expect("latency_trends: flat p50", both["p50"]["ok"], True)
    # A steady 60 s run's four p99 values (ms, one CI run's, in their worst order) rise alone.
    flat_p50, flat_cpu = A.trend([1.0, 1.1, 0.9, 1.0], 1.5), A.trend([50, 52, 49, 51], 1.5)
    tail = A.trend([0.099, 0.12, 0.2, 0.225], 2.0)
    expect("short: the p99 values line up as a trend", tail["ok"], False)
    expect("short: a tail alone is inconclusive",
           A.tail_alone_inconclusive(tail, flat_p50, flat_cpu), True)
    rising_p50 = A.trend([1.0, 1.4, 1.9, 2.6], 1.5)
    expect("short: a tail with p50 is not",
           A.tail_alone_inconclusive(tail, rising_p50, flat_cpu), False)
    expect("short: a tail with CPU per call is not",
           A.tail_alone_inconclusive(tail, flat_p50, A.trend([50, 70, 95, 130], 1.5)), False)
    long_tail = A.trend([0.1 + 0.01 * w for w in range(20)], 2.0)
    expect("long: a tail alone fails", long_tail["ok"] or
           A.tail_alone_inconclusive(long_tail, A.trend([1.0] * 20, 1.5),
                                     A.trend([50] * 20, 1.5)), False)


def noisy_scale(series, rng):
    return [v * (1 + rng.uniform(-0.1, 0.1)) for v in series]


def main():
    rng = random.Random(7)
    test_plans()
    test_rss(rng)
    test_latency(rng)
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("all checks behave")
    return 0


if __name__ == "__main__":
    sys.exit(main())

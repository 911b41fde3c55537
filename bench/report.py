#!/usr/bin/python3
"""Renders the benchmark results of one run into docs/benchmarks.md (and its latency plot).

usage: report.py --results DIR --out FILE.md [--plot FILE.svg] [--smoke]

DIR holds one JSON file per benchmark in the shared format
  {"name", "title", "tables": [{"caption", "columns", "rows"}], "ratios": [{"what", "value",
   "target", "met"}], "notes": [markdown...], "plot": {"title", "xlabel", "ylabel",
   "series": [{"label", "points": [[x, y], ...]}]}}
plus engine.json, Google Benchmark's own JSON output of bench/engine_bench.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

# The order of the report, and what a missing result means.
SECTIONS = [
    ("xgrammar", "1. Engine step versus XGrammar"),
    ("throughput", "2. Sampling throughput"),
    ("rpc_step", "3. The network step versus the null RPC"),
    ("memory", "4. Memory per session"),
    ("tokenize", "5. Tokenize versus CPython's ast.parse"),
    ("run", "6. Run versus CPython"),
    ("model_step", "7. The constraint in a real model's decoding step"),
    ("memory_budgets", "8. Memory budgets"),
    ("dataset", "9. Dataset yield: what the shape controls buy"),
    ("cli", "10. The CLI as a data pipeline"),
]


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    commit = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
                                timeout=10).stdout.strip() or commit
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        compiler = subprocess.run(["c++", "--version"], capture_output=True, text=True,
                                  timeout=10).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        compiler = "unknown compiler"
    return {"compiler": compiler, "nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "load": " ".join(load), "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def fmt(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(t):
    out = []
    if t.get("caption"):
        out.append(f"*{t['caption']}*\n")
    cols = t["columns"]
    out.append("| " + " | ".join(cols) + " |")
    out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|")
    for row in t["rows"]:
        out.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(out) + "\n"


def engine_section(path):
    """The micro-benchmarks' medians, from Google Benchmark's JSON."""
    with open(path) as f:
        data = json.load(f)
    rows = []
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        ns_token = b.get("ns/token")
        ips = b.get("items_per_second")
        rows.append([name, b.get("cpu_time", 0.0), ns_token if ns_token else "—",
                     f"{ips / 1e6:.1f} M" if ips else "—"])
    return table({"caption": "bench/engine_bench, single-threaded; medians; CPU time per "
                             "iteration (see engine-profile.md for what each one times)",
                  "columns": ["benchmark", "ns per iteration", "ns per token", "tokens/s"],
                  "rows": rows})


def plot(results, svg):
    """Draws every result's "plot" with gnuplot into one SVG; returns the SVG's name or None."""
    plots = [r["plot"] for r in results.values() if r.get("plot")]
    if not plots or shutil.which("gnuplot") is None:
        return None
    p = plots[0]
    data_dir = os.path.dirname(os.path.abspath(svg))
    script = [f'set terminal svg size 800,480 dynamic background "white"',
              f'set output "{svg}"', f'set title "{p["title"]}"',
              f'set xlabel "{p["xlabel"]}"', f'set ylabel "{p["ylabel"]}"',
              "set logscale x 2", "set key top left", "set grid"]
    plot_cmds = []
    for i, s in enumerate(p["series"]):
        dat = os.path.join(data_dir, f".plot{i}.dat")
        with open(dat, "w") as f:
            for x, y in s["points"]:
                f.write(f"{x} {y}\n")
        plot_cmds.append(f'"{dat}" using 1:2 with linespoints title "{s["label"]}"')
    script.append("plot " + ", ".join(plot_cmds))
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True, timeout=60)
    for i in range(len(p["series"])):
        os.remove(os.path.join(data_dir, f".plot{i}.dat"))
    return os.path.basename(svg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--plot")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--strict", action="store_true",
                    help="fail unless every benchmark's result is there (and the plot drawn)")
    args = ap.parse_args()

    results = {}
    for name, _ in SECTIONS:
        path = os.path.join(args.results, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                results[name] = json.load(f)
    m = machine()
    svg = plot(results, args.plot) if args.plot else None

    out = ["# Benchmarks", ""]
    out.append("Generated by `bash bench/run_all.sh` (bench/report.py) from one run; do not edit "
               "by hand. Every comparison below ran side by side in that run, and is read as a "
               "ratio: these machines are shared and noisy, so absolute figures move from run to "
               "run while the ratios hold better. No test asserts any of these numbers.")
    out.append("")
    if args.smoke:
        out.append("**Smoke run:** tiny sizes, to check that everything builds and runs. The "
                   "numbers mean nothing.\n")
    out.append(f"- Date: {m['date']}; commit `{m['commit']}`")
    out.append(f"- Machine: `nproc` = {m['nproc']}, CPU `{m['cpu']}`, Linux {m['kernel']}, "
               f"load average at the end {m['load']}")
    out.append(f"- Build: CMake Release (`-O3 -DNDEBUG`), {m['compiler']}")
    out.append("")
    out.append("## Targets")
    out.append("")
    out.append("| benchmark | ratio | measured | target | met |")
    out.append("|---|---|---:|---|---|")
    for name, heading in SECTIONS:
        r = results.get(name)
        if r is None:
            out.append(f"| {heading} | — | not run | | no |")
            continue
        for ratio in r.get("ratios", []):
            out.append(f"| {heading} | {ratio['what']} | {fmt(float(ratio['value']))} | "
                       f"{ratio['target']} | {'yes' if ratio['met'] else '**no**'} |")
    out.append("")
    for name, heading in SECTIONS:
        out.append(f"## {heading}")
        out.append("")
        r = results.get(name)
        if r is None:
            out.append("Not run in this report.\n")
            continue
        if r.get("title") and r["title"] not in heading:
            out.append(f"*{r['title']}*\n")
        for t in r.get("tables", []):
            out.append(table(t))
        if name == "rpc_step" and svg:
            out.append(f"![{r['plot']['title']}]({svg})\n")
        for note in r.get("notes", []):
            out.append(note.strip() + "\n")
    engine = os.path.join(args.results, "engine.json")
    if os.path.exists(engine):
        out.append("## The engine's micro-benchmarks")
        out.append("")
        out.append(engine_section(engine))
        out.append("[engine-profile.md](engine-profile.md) explains each benchmark and keeps the "
                   "profile that shaped the engine.\n")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(out).rstrip() + "\n")
    missing = [n for n, _ in SECTIONS if n not in results]
    if not os.path.exists(engine):
        missing.append("engine")
    print(f"report: wrote {args.out}" + (f"; missing: {', '.join(missing)}" if missing else ""))
    if args.strict and (missing or (args.plot and not svg)):
        print("report: --strict: " + ("missing results" if missing else "no plot drawn"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The CPython side of the Tokenize and Run benchmarks (bench/cpython/run.py drives it).

It speaks the same line protocol as bench/tokenize_bench and bench/run_bench: one JSON line
"ready" after loading (and warming up / checking), then per stdin line a JSON command
{"cmd": "time", "subset": ..., "min_seconds": S} answered by a JSON "timing" line. Whole passes
run until S seconds of this thread's CPU time have passed (at least one); "seconds" is that CPU
time and "wall_seconds" the wall time. The garbage collector stays on, as in any
CPython program.

  worker.py tokenize --sources FILE
      Times ast.parse over the sources (bytes, as read from FILE; the same bytes Tokenize
      gets). Subsets: "all", and any defined with {"cmd": "define", "name": N, "indices": [...]}.
  worker.py run --programs FILE --outcomes FILE
      Each program's source is compiled and exec'd once; its function is then called on each
      tuple. Before anything is timed, every outcome astcd reported (FILE from run_bench) is
      checked against CPython's: the same value of the same type (int, bool or None), or
      ZeroDivisionError. astcd's overflow and step_limit outcomes are not CPython outcomes and
      are neither checked nor timed. Subsets: "calls" (the compiled functions, called on the
      timed tuples) and "compile_calls" (compile + exec of each source, then its calls).
"""
import argparse
import ast
import json
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from sources import read_sources  # noqa: E402

TIMED = ("ok", "zero_division")


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def serve(passes_for):
    """Answers time commands; passes_for(subset) -> (one_pass, extra fields)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("cmd") == "define":
            passes_for.define(cmd["name"], cmd["indices"])
            reply({"event": "defined", "name": cmd["name"]})
            continue
        one_pass, fields = passes_for(cmd["subset"])
        min_seconds = float(cmd.get("min_seconds", 0))
        # CPU time of this thread (CLOCK_THREAD_CPUTIME_ID, as the C++ side), and wall time.
        clock, wall_clock = time.thread_time, time.perf_counter
        passes = 0
        start, wall_start = clock(), wall_clock()
        while True:
            one_pass()
            passes += 1
            seconds = clock() - start
            if seconds >= min_seconds:
                break
        wall = wall_clock() - wall_start
        reply(dict(event="timing", subset=cmd["subset"], passes=passes, seconds=seconds,
                   wall_seconds=wall, **fields))


class TokenizeSide:
    def __init__(self, path):
        self.sources = read_sources(path)
        self.subsets = {"all": list(range(len(self.sources)))}

    def define(self, name, indices):
        self.subsets[name] = list(indices)

    def __call__(self, subset):
        texts = [self.sources[i].source for i in self.subsets[subset]]
        parse = ast.parse

        def one_pass():
            for text in texts:
                parse(text)

        return one_pass, {"functions": len(texts), "bytes": sum(len(t) for t in texts)}


def typed(v):
    return (type(v).__name__, v)


class RunSide:
    def __init__(self, programs_path, outcomes_path):
        with open(programs_path) as f:
            self.programs = [json.loads(line) for line in f if line.strip()]
        with open(outcomes_path) as f:
            outcomes = [json.loads(line) for line in f if line.strip()]
        if len(outcomes) != len(self.programs):
            raise SystemExit(f"worker: {len(self.programs)} programs, {len(outcomes)} outcomes")
        self.checked = self.agree = 0
        self.excluded = {}
        self.disagreements = []
        self.timed = []  # (source, function, [tuples])
        for i, (prog, out) in enumerate(zip(self.programs, outcomes)):
            namespace = {}
            exec(compile(prog["source"], "<astcd>", "exec"), namespace)
            fn = namespace["func"]
            tuples = []
            for args, status, value in zip(prog["args"], out["status"], out["value"]):
                if status not in TIMED and status != "invalid_program":
                    self.excluded[status] = self.excluded.get(status, 0) + 1
                    continue
                try:
                    theirs = ("ok", fn(*args))
                except ZeroDivisionError:
                    theirs = ("zero_division", None)
                except (NameError, UnboundLocalError):
                    theirs = ("invalid_program", None)
                self.checked += 1
                ours = (status, value if status == "ok" else None)
                if (ours[0], typed(ours[1])) == (theirs[0], typed(theirs[1])):
                    self.agree += 1
                elif len(self.disagreements) < 20:
                    self.disagreements.append(
                        f"program {i} args {args}: astcd {status} {value!r}, CPython "
                        f"{theirs[0]} {theirs[1]!r}\n{prog['source']}")
                if status in TIMED:
                    tuples.append(tuple(args))
            if tuples:
                self.timed.append((prog["source"], fn, tuples))

    def ready(self):
        return {"event": "ready", "programs": len(self.programs),
                "timed_programs": len(self.timed),
                "timed_calls": sum(len(t) for _, _, t in self.timed),
                "checked": self.checked, "agree": self.agree, "excluded": self.excluded,
                "disagreements": self.disagreements}

    def __call__(self, subset):
        timed = self.timed
        fields = {"calls": sum(len(t) for _, _, t in timed), "programs": len(timed)}
        if subset == "calls":
            pairs = [(fn, tuples) for _, fn, tuples in timed]

            def one_pass():
                for fn, tuples in pairs:
                    for args in tuples:
                        try:
                            fn(*args)
                        except ZeroDivisionError:
                            pass

            return one_pass, fields
        if subset == "compile_calls":
            pairs = [(source, tuples) for source, _, tuples in timed]

            def one_pass():
                for source, tuples in pairs:
                    namespace = {}
                    exec(compile(source, "<astcd>", "exec"), namespace)
                    fn = namespace["func"]
                    for args in tuples:
                        try:
                            fn(*args)
                        except ZeroDivisionError:
                            pass

            return one_pass, fields
        raise SystemExit(f"worker: bad subset {subset!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("tokenize")
    t.add_argument("--sources", required=True)
    r = sub.add_parser("run")
    r.add_argument("--programs", required=True)
    r.add_argument("--outcomes", required=True)
    args = ap.parse_args()
    if args.mode == "tokenize":
        side = TokenizeSide(args.sources)
        side("all")[0]()  # warm-up
        reply({"event": "ready", "functions": len(side.sources),
               "bytes": sum(len(s.source) for s in side.sources),
               "python": sys.version.split()[0], "executable": sys.executable})
    else:
        side = RunSide(args.programs, args.outcomes)
        side("calls")[0]()  # warm-up
        reply(dict(side.ready(), python=sys.version.split()[0], executable=sys.executable))
    serve(side)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""astcd_client.display (docs/visualize.md) against a live astcd-server.

usage: python_display_test.py ASTCD_SERVER_BINARY ASTCD_CLI_BINARY  (with astcd_client installed)

Decodes programs of every root with trace=True on the real server, then checks what display
makes of them against the server itself, call by call: each frame's source is Detokenize
(partial) of that prefix, asked separately; each frame's `complete` is whether Detokenize
without partial accepts the prefix and whether a session made from it is complete; num_legal
is the trace's count. dump_json's document has exactly the documented keys and types. The GIF
(Pillow reads it back) has one image per frame, the asked durations, one size, holes in grey
only while there are holes, new text highlighted, and its source
area changes where the source changes. show() and animate() print every frame's source: as
plain text off a terminal, and on a pseudo-terminal coloured (show) or redrawn in place, one
screen per frame (animate). Without Pillow, save_gif's ImportError names python3-pil. The
runnable Python examples of docs/visualize.md run against the same server.
"""
import io
import json
import os
import pty
import re
import subprocess
import sys
import tempfile
import termios
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
from server_process import AstcdServer  # noqa: E402

from astcd_client import Client, display  # noqa: E402

SERVER = sys.argv[1]
CLI = sys.argv[2]
DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                   "visualize.md")
failures = []
checked = 0

FRAME_KEYS = ["step", "token", "name", "num_legal", "source", "complete"]


def check(cond, what):
    global checked
    checked += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def check_frames(client, result, start, arity=None, config=None, label=""):
    fl = display.frames(result, client, start=start, arity=arity, config=config)
    tokens = result["tokens"]
    trace = result.get("trace") or []
    names = [t["name"] for t in client.vocabulary(config)["tokens"]]
    check(len(fl) == len(tokens) + 1, f"{label}: {len(fl)} frames for {len(tokens)} tokens")
    offset = len(tokens) - len(trace)
    sessions = client.init_states([{"start": start, "arity": arity, "prefix_tokens": tokens[:k]}
                                   for k in range(len(tokens) + 1)], config=config)
    for k, f in enumerate(fl):
        check(list(f) == FRAME_KEYS, f"{label}: frame {k} keys {list(f)}")
        # One Detokenize call per prefix, independent of display's batched one.
        [partial] = client.detokenize([tokens[:k]], config=config, start=start, partial=True,
                                      arity=arity)
        [whole] = client.detokenize([tokens[:k]], config=config, start=start, arity=arity)
        check(partial["ok"] and f["source"] == partial["source"],
              f"{label}: frame {k} source {f['source']!r} != Detokenize {partial}")
        check(f["complete"] == whole["ok"],
              f"{label}: frame {k} complete={f['complete']}, Detokenize(partial=False) ok="
              f"{whole['ok']}")
        check(f["complete"] == sessions[k].complete,
              f"{label}: frame {k} complete={f['complete']}, session {sessions[k]}")
        check(f["step"] == k, f"{label}: frame {k} step {f['step']}")
        if k == 0:
            check(f["token"] is None and f["name"] is None and f["num_legal"] is None,
                  f"{label}: frame 0 {f}")
            continue
        check(f["token"] == tokens[k - 1] and f["name"] == names[tokens[k - 1]],
              f"{label}: frame {k} token {f['token']} {f['name']}")
        want = trace[k - 1 - offset][1] if k - 1 >= offset else None
        check(f["num_legal"] == want, f"{label}: frame {k} num_legal {f['num_legal']} != {want}")
    client.release(sessions)
    check(fl[-1]["complete"] == result["complete"], f"{label}: last frame vs result complete")
    return fl


# save_gif's palette, read from the module: the test finds each kind of pixel by its colour.
HOLE_GREY, NEW_BG, RULE = display._HOLE, display._NEW_BG, display._CAPTION  # noqa: SLF001


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def on_tty(fn):
    """Runs fn(file) with file writing to a pseudo-terminal; returns what it wrote."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # no \n -> \r\n on the way out
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    chunks = []
    reader = threading.Thread(target=lambda: _drain(master, chunks), daemon=True)
    reader.start()
    with os.fdopen(slave, "w", encoding="utf-8") as f:
        fn(f)
    reader.join(timeout=30)  # a safety stop: the reader ends when the slave closes
    os.close(master)
    return b"".join(chunks).decode("utf-8")


def _drain(fd, chunks):
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the slave side is closed
            return
        if not data:
            return
        chunks.append(data)


def check_tty(client, result, start):
    fl = display.frames(result, client, start=start)
    plain = display.render_text(fl)
    old_term = os.environ.get("TERM")
    os.environ["TERM"] = "xterm"
    try:
        shown = on_tty(lambda f: display.show(result, client=client, start=start, file=f))
        played = on_tty(lambda f: display.animate(result, client=client, start=start,
                                                  delay=0, file=f))
    finally:
        if old_term is None:
            del os.environ["TERM"]
        else:
            os.environ["TERM"] = old_term
    check("\x1b[" in shown and ANSI.sub("", shown) == plain,
          "show() on a terminal: coloured, and the plain text without the colours")
    check("\x1b[2m<" in shown, "show() on a terminal dims the holes")
    check(played.count("\x1b[H\x1b[J") == len(fl),
          f"animate() on a terminal: {played.count(chr(27) + '[H')} redraws for {len(fl)} frames")
    screens = [ANSI.sub("", p) for p in played.split("\x1b[H\x1b[J")[1:]]
    check(len(screens) == len(fl) and all(f["source"].rstrip("\n") in scr
                                          for f, scr in zip(fl, screens)),
          "animate() on a terminal: each redraw holds its frame's source")


def source_region(im):
    """The image below the caption's rule (a row mostly of the rule's grey)."""
    rgb = im.convert("RGB")
    w, h = rgb.size
    px = rgb.load()
    for y in range(h):
        if sum(px[x, y] == RULE for x in range(w)) > w // 2:
            return rgb.crop((0, y + 1, w, h))
    raise AssertionError("no caption rule in a GIF frame")


def check_gif(client, result, start, label):
    from PIL import Image
    n = len(result["tokens"]) + 1
    delays = [0.1 * (1 + k % 3) for k in range(n)]
    delays[-1] = 2.0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "decode.gif")
        fl = display.save_gif(result, path, client=client, start=start, delay=delays)
        im = Image.open(path)
        check(im.format == "GIF", f"{label}: format {im.format}")
        check(im.n_frames == n, f"{label}: GIF n_frames {im.n_frames} != {n}")
        durations, regions, sizes = [], [], set()
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info.get("duration"))
            sizes.add(im.size)
            region = source_region(im)
            colours = {c for _, c in region.getcolors(1 << 16)}
            regions.append((region.tobytes(), HOLE_GREY in colours, NEW_BG in colours))
        check(durations == [int(round(x * 1000)) for x in delays],
              f"{label}: durations {durations}")
        check(len(sizes) == 1, f"{label}: frame sizes {sizes}")
        for k, f in enumerate(fl):
            pixels, grey, highlighted = regions[k]
            check(grey == (display.HOLE.search(f["source"]) is not None),
                  f"{label}: GIF frame {k}: holes {not f['complete']} but grey {grey}")
            if k == 0:
                continue
            same = f["source"] == fl[k - 1]["source"]
            if not same:
                check(pixels != regions[k - 1][0],
                      f"{label}: GIF frames {k - 1},{k}: sources differ, images do not")
            # New text is highlighted: a token that only fills in or adds text marks some;
            # one that changes nothing (end of an empty tail, <eos>) marks none.
            check(not same or not highlighted,
                  f"{label}: GIF frame {k}: nothing new but a highlight")
            if f["name"] not in ("end", "<eos>") and not same:
                check(highlighted, f"{label}: GIF frame {k} ({f['name']}): no highlight")
        # The default delay: 0.5 s each. A binary file works as well as a path.
        buf = io.BytesIO()
        display.save_gif(result, buf, client=client, start=start)
        buf.seek(0)
        im = Image.open(buf)
        ds = []
        for k in range(im.n_frames):
            im.seek(k)
            ds.append(im.info.get("duration"))
        check(ds == [500] * n, f"{label}: default durations {ds}")


def check_same_json_as_cli(client, result, start, arity, config):
    """One JSON frames document, described once: dump_json writes the bytes `astcd show --json`
    writes for the same tokens, start, arity, config and budget (decode's default max_len)."""
    sio = io.StringIO()
    display.dump_json(result, sio, client=client, start=start, arity=arity, config=config)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "frames.json")
        args = [CLI, "show", "--start", start, "--max-len", "128", "--json", out]
        if arity is not None:
            args += ["--arity", str(arity)]
        if config is not None:
            args += ["--config", json.dumps(config)]
        p = subprocess.run(args, input=json.dumps({"tokens": result["tokens"]}) + "\n",
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, f"{start}: astcd show: {p.stderr}")
        cli = open(out, encoding="utf-8").read() if p.returncode == 0 else ""
    check(cli == sio.getvalue(), f"{start}: astcd show --json wrote\n{cli}\ndump_json wrote\n"
          f"{sio.getvalue()}")


def main():
    with AstcdServer(SERVER) as server, Client(server.address) as client:
        cases = [("function", None, None, 3), ("module", None, None, 5), ("block", 2, None, 7),
                 ("expr", 1, {"arities": [1, 2]}, 11),
                 ("function", None, {"allow_loops": True, "max_expr_depth": 3}, 13)]
        results = {}
        for start, arity, config, seed in cases:
            batch = list(client.decode(init_requests=[{"start": start, "arity": arity}],
                                       config=config, n=3, seed=seed, trace=True,
                                       sampler="weighted"))
            check(len(batch) == 3, f"{start}: decode gave {len(batch)} results")
            for i, r in enumerate(batch):
                check(len(r["trace"]) == len(r["tokens"]), f"{start}: trace length")
                check_frames(client, r, start, arity, config, f"{start} seed {seed} #{i}")
            results[(start, seed)] = batch
            for r in batch:
                check_same_json_as_cli(client, r, start, arity, config)
            # A batch and an index pick the same result.
            check(display.frames(batch, client, start=start, arity=arity, config=config,
                                 index=2)
                  == display.frames(batch[2], client, start=start, arity=arity, config=config),
                  f"{start}: frames(batch, index=2) != frames(batch[2])")

        fn = results[("function", 3)]
        # A continued session: the prefix tokens have no trace, so no num_legal.
        [s] = client.init_states([{"start": "function", "prefix_tokens": fn[0]["tokens"][:4]}])
        [cont] = list(client.decode(sessions=[s], seed=2, trace=True))
        check(len(cont["trace"]) == len(cont["tokens"]) - 4, "continued: trace of new tokens")
        fl = check_frames(client, cont, "function", label="continued session")
        check([f["num_legal"] for f in fl[1:5]] == [None] * 4, "continued: prefix num_legal")
        client.release([s])
        # No trace at all; a bare token list.
        bare = dict(fn[1], trace=[])
        check_frames(client, bare, "function", label="no trace")
        check(display.frames(fn[1]["tokens"], client, start="function")
              == display.frames(bare, client, start="function"), "a bare token list")
        # stop_at=complete: no <eos>, last frame complete.
        [early] = list(client.decode(init_requests=[{"start": "module"}], seed=8, trace=True,
                                     stop_at="complete"))
        check(early["tokens"][-1] != client.vocabulary()["eos_id"], "stop_at complete: no eos")
        check_frames(client, early, "module", label="stop_at complete")
        # A trace that does not match the tokens is refused.
        try:
            display.frames(dict(fn[0], trace=[(999, 1)]), client, start="function")
            check(False, "a mismatched trace was accepted")
        except ValueError:
            pass

        # dump_json: the documented document, to a path and to a file.
        with tempfile.TemporaryDirectory() as d:
            for (start, seed), batch in results.items():
                arity = {"block": 2, "expr": 1}.get(start)
                config = {"arities": [1, 2]} if start == "expr" else (
                    {"allow_loops": True, "max_expr_depth": 3} if seed == 13 else None)
                path = os.path.join(d, f"{start}{seed}.json")
                display.dump_json(batch, path, client=client, start=start, arity=arity,
                                  config=config, index=1)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                check(text.endswith("}\n") and text.count("\n") == 1,
                      f"{start}: dump_json is one line")
                doc = json.loads(text)
                check(list(doc) == ["version", "start", "arity", "tokens", "frames"],
                      f"{start}: document keys {list(doc)}")
                check(doc["version"] == 1 and doc["start"] == start and doc["arity"] == arity,
                      f"{start}: header {doc['version'], doc['start'], doc['arity']}")
                check(doc["tokens"] == batch[1]["tokens"], f"{start}: tokens")
                check(doc["frames"] == display.frames(batch[1], client, start=start,
                                                       arity=arity, config=config),
                      f"{start}: frames differ from frames()")
                for f in doc["frames"]:
                    check(isinstance(f["step"], int)
                          and (f["token"] is None or isinstance(f["token"], int))
                          and (f["name"] is None or isinstance(f["name"], str))
                          and (f["num_legal"] is None or isinstance(f["num_legal"], int))
                          and isinstance(f["source"], str) and isinstance(f["complete"], bool),
                          f"{start}: frame types {f}")
            sio = io.StringIO()
            doc = display.dump_json(fn[0], sio, client=client, start="function")
            check(json.loads(sio.getvalue()) == doc, "dump_json to a file object")
            first = doc["frames"][0]
            check(first == {"step": 0, "token": None, "name": None, "num_legal": None,
                            "source": "<def>\n", "complete": False}, f"frame 0: {first}")

        # show() and animate() off a terminal: every frame's source in the text.
        for (start, seed), batch in results.items():
            arity = {"block": 2, "expr": 1}.get(start)
            config = {"arities": [1, 2]} if start == "expr" else (
                {"allow_loops": True, "max_expr_depth": 3} if seed == 13 else None)
            fl = display.frames(batch[0], client, start=start, arity=arity, config=config)
            out = io.StringIO()
            text = display.show(batch, 0, client=client, start=start, arity=arity,
                                config=config, file=out)
            check(out.getvalue() == text, f"{start}: show() printed what it returned")
            check("\x1b" not in text, f"{start}: no escapes off a terminal")
            pos = 0
            for f in fl:
                i = text.find(f["source"], pos)
                check(i >= 0, f"{start}: show() lacks frame {f['step']}'s source in order")
                pos = max(pos, i)
                check(f"step {f['step']}/{len(fl) - 1}" in text,
                      f"{start}: show() lacks step {f['step']}")
            out = io.StringIO()
            display.animate(batch, client=client, start=start, arity=arity, config=config,
                            delay=0, file=out)
            check(all(f["source"] in out.getvalue() for f in fl),
                  f"{start}: animate() off a terminal lacks a frame")

        # On a terminal (a real pseudo-terminal): show() colours, animate() redraws in place.
        check_tty(client, results[("function", 3)][1], "function")

        check_gif(client, results[("function", 3)][0], "function", "function gif")
        check_gif(client, results[("module", 5)][2], "module", "module gif")

        # docs/visualize.md's JSON document is what dump_json writes for the result it names.
        [r] = list(client.decode(init_requests=[{"start": "function"}], seed=3, trace=True))
        # A FUNCTION root has no arity of its own (def/k gives it): the document says null.
        check(display.document(r, client, start="function", arity=2)["arity"] is None,
              "a FUNCTION document with arity=2 records an arity")
        sio = io.StringIO()
        display.dump_json(r, sio, client=client, start="function")
        docs_json = re.findall(r"```json\n(.*?)```", open(DOC, encoding="utf-8").read(), re.S)
        check(sio.getvalue() in docs_json,
              f"docs/visualize.md's JSON {docs_json} != dump_json's {sio.getvalue()!r}")

        # docs/visualize.md's runnable examples, with the real address.
        examples = re.findall(r"```python\n(# example: runnable\n.*?)```",
                              open(DOC, encoding="utf-8").read(), re.S)
        check(examples, "docs/visualize.md has a runnable example")
        for i, code in enumerate(examples):
            p = subprocess.run([sys.executable, "-c",
                                code.replace("127.0.0.1:50051", server.address)],
                               capture_output=True, text=True, timeout=300)
            check(p.returncode == 0, f"docs/visualize.md example {i}: {p.stderr[-2000:]}")

    # Without Pillow: an ImportError that names Debian's package.
    code = ("import sys; sys.modules['PIL'] = None\n"
            "from astcd_client import display\n"
            "try:\n    display.save_gif([1], '/dev/null', client=None)\n"
            "except ImportError as e:\n    print('ImportError', e)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    check(p.stdout.startswith("ImportError") and "python3-pil" in p.stdout,
          f"no Pillow: {p.stdout!r} {p.stderr[-500:]!r}")

    print(f"{checked - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

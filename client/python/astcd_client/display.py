"""Watch a program being decoded, token by token (docs/visualize.md).

    results = list(client.decode(init_requests=[{"start": "function"}], seed=4, trace=True))
    display.show(results, client=client, start="function")       # every step, as text
    display.animate(results, client=client, start="function")    # in place (terminal, Jupyter)
    display.save_gif(results[0], "decode.gif", client=client, start="function")   # Pillow
    display.dump_json(results[0], "decode.json", client=client, start="function")

Each function takes a batch (the list `Client.decode(..., trace=True)` yields, pick one with
`index`) or one result: a dict with `tokens` and, optionally, `trace` (the (token, num_legal)
pairs of the new tokens, or dicts {token, num_legal}). A bare list of token ids is a result
without a trace.

Nothing here knows the language. The partial sources come from the server's own renderer: one
`client.detokenize([every prefix], partial=True, ...)` call per result, so a program needs a
server whose `--max-batch` is at least its length + 1 (the default, 1024, covers the default
`max_len`). Token names come from `client.vocabulary(config)`.

Frame k is the state after k tokens (frame 0: none yet). `token`/`name` are the k-th token;
`num_legal` is how many tokens were legal when it was chosen (the trace's count; None for
frame 0, for tokens before the trace, e.g. a session's prefix, and when there is no trace);
`complete` says whether the prefix is a whole program. It is derived from the partial source:
a prefix is a whole program exactly when its partial rendering has no hole (`<def>`, `<stmt>`,
`<expr>` or `<name>`, the markers Detokenize documents), which is when Detokenize without
`partial` accepts it and when the decoder's session reports `complete`.

`dump_json` writes `{"version": 1, "start", "arity", "tokens", "frames"}`, the same document
`astcd show/animate --json` writes. `save_gif` needs Pillow (Debian's python3-pil), imported
only when called.
"""
from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
import time
from typing import IO, TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from ._optional import require

if TYPE_CHECKING:
    from .client import Client

__all__ = ["HOLE", "JSON_VERSION", "animate", "document", "dump_json", "frames", "render_text",
           "save_gif", "show"]

JSON_VERSION = 1
# The open holes of a partial source, as Detokenize prints them (core's HoleName): only to grey
# them; whether a prefix is complete is the server's word.
HOLE = re.compile(r"<(?:def|stmt|expr|name)>")
# Debian's DejaVu Sans Mono (fonts-dejavu-core); PIL's built-in font when it is not there.
_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
               "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")

Result = Union[Dict[str, Any], Sequence[int]]
Batch = Union[Result, Sequence[Dict[str, Any]]]
PathOrFile = Union[str, "os.PathLike[str]", IO[str]]


# -- the frames -------------------------------------------------------------------------------

def _pick(batch_or_result: Any, index: int) -> Any:
    """One result from a batch (a list of result dicts) or the result itself."""
    if isinstance(batch_or_result, dict):
        return batch_or_result
    items = list(batch_or_result)
    if items and isinstance(items[0], dict):
        return items[index]
    return items  # a bare token list


def _tokens_and_trace(result: Any) -> Tuple[List[int], Optional[List[Tuple[int, int]]]]:
    if isinstance(result, dict):
        if "tokens" not in result:
            raise ValueError("a result needs its 'tokens'")
        tokens = [int(t) for t in result["tokens"]]
        raw = result.get("trace")
    else:
        tokens = [int(t) for t in result]
        raw = None
    if not raw:
        return tokens, None
    trace = []
    for step in raw:
        if isinstance(step, dict):
            trace.append((int(step["token"]), int(step["num_legal"])))
        else:
            token, num_legal = step
            trace.append((int(token), int(num_legal)))
    if len(trace) > len(tokens):
        raise ValueError(f"a trace of {len(trace)} steps for {len(tokens)} tokens")
    # The trace covers the new tokens, the last ones (a continued session's prefix has none).
    offset = len(tokens) - len(trace)
    if [t for t, _ in trace] != tokens[offset:]:
        raise ValueError("the trace's tokens are not the result's last tokens")
    return tokens, trace


def _start_name(client: "Client", start: Union[str, int]) -> str:
    """The root's lower-case name, from the proto's Start enum (what the CLI writes)."""
    pb2 = client.protocol.pb2
    return pb2.Start.Name(client.protocol.start(start))[len("START_"):].lower()


def frames(result: Any, client: "Client", *, config: Any = None,
           start: Union[str, int] = "module", arity: Optional[int] = None,
           index: int = 0) -> List[Dict[str, Any]]:
    """The frames of one result (or of batch[index]): one dict per prefix, frame k after k
    tokens, {step, token, name, num_legal, source, complete} (see the module's docstring).
    Makes two Detokenize calls (partial, for the sources; whole, for `complete`) and, once per
    config, one GetVocabulary call."""
    tokens, trace = _tokens_and_trace(_pick(result, index))
    start = _start_name(client, start)
    names = [t["name"] for t in client.vocabulary(config)["tokens"]]
    prefixes = [tokens[:k] for k in range(len(tokens) + 1)]
    rendered = client.detokenize(prefixes, config=config, start=start, partial=True, arity=arity)
    # A prefix is a whole program exactly when Detokenize takes it without `partial`.
    whole = client.detokenize(prefixes, config=config, start=start, partial=False, arity=arity)
    offset = len(tokens) - len(trace) if trace is not None else len(tokens)
    out: List[Dict[str, Any]] = []
    for k, r in enumerate(rendered):
        if not r["ok"]:
            raise ValueError(f"the server does not accept the first {k} tokens as a {start} "
                             f"prefix: {r['error']} (position {r['position']})")
        token = tokens[k - 1] if k > 0 else None
        num_legal = (trace[k - 1 - offset][1]
                     if trace is not None and k > 0 and k - 1 >= offset else None)
        out.append({"step": k, "token": token,
                    "name": names[token] if token is not None and 0 <= token < len(names)
                    else None,
                    "num_legal": num_legal, "source": r["source"],
                    "complete": whole[k]["ok"]})
    return out


def document(result: Any, client: "Client", *, config: Any = None,
             start: Union[str, int] = "module", arity: Optional[int] = None,
             index: int = 0) -> Dict[str, Any]:
    """What dump_json writes: {"version": 1, "start", "arity", "tokens", "frames"}."""
    picked = _pick(result, index)
    tokens, _ = _tokens_and_trace(picked)
    name = _start_name(client, start)
    # MODULE and FUNCTION roots have no arity (a def/k token gives each function's), and the
    # server ignores one; the CLI refuses it.
    rooted = name in ("block", "expr") and arity is not None
    return {"version": JSON_VERSION, "start": name,
            "arity": int(arity) if rooted else None, "tokens": tokens,
            "frames": frames(picked, client, config=config, start=start, arity=arity)}


def dump_json(result: Any, path_or_file: PathOrFile, *, client: "Client", config: Any = None,
              start: Union[str, int] = "module", arity: Optional[int] = None,
              index: int = 0) -> Dict[str, Any]:
    """Writes document(...) as one line of JSON, spaced as json.dumps spaces it (and a newline),
    to a path or an open text file; returns the document."""
    doc = document(result, client, config=config, start=start, arity=arity, index=index)
    # json.dumps's default spacing: `astcd show --json` writes these same bytes.
    text = json.dumps(doc) + "\n"
    if hasattr(path_or_file, "write"):
        path_or_file.write(text)  # type: ignore[union-attr]
    else:
        with open(path_or_file, "w", encoding="utf-8") as f:  # type: ignore[arg-type]
            f.write(text)
    return doc


# -- text ---------------------------------------------------------------------------------------

def _caption(f: Dict[str, Any], total: int) -> str:
    if f["token"] is None:
        head = f"step 0/{total}: no token yet"
    else:
        head = f"step {f['step']}/{total}: {f['name']} (id {f['token']})"
        if f["num_legal"] is not None:
            head += f", 1 of {f['num_legal']} legal"
    return head + (", complete" if f["complete"] else "")


_PIECE = re.compile(HOLE.pattern + r"|\w+|\s+|.", re.S)


def _new_spans(before: str, after: str) -> List[Tuple[int, int]]:
    """The character ranges of `after` that are not in `before` (what this step wrote), by a
    diff of words, holes and single symbols (so a hole filled with `a` is new text, not an `a`
    kept from `<name>`)."""
    a = _PIECE.findall(before)
    b = _PIECE.findall(after)
    starts = [0]
    for piece in b:
        starts.append(starts[-1] + len(piece))
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [(starts[j1], starts[j2]) for op, _, _, j1, j2 in sm.get_opcodes()
            if op in ("insert", "replace")]


def _styled(source: str, previous: str, color: bool) -> str:
    if not color:
        return source
    new = [False] * len(source)
    for a, b in _new_spans(previous, source):
        for i in range(a, b):
            new[i] = True
    holes = [False] * len(source)
    for m in HOLE.finditer(source):
        for i in range(m.start(), m.end()):
            holes[i] = True
    out, state = [], None
    for i, ch in enumerate(source):
        s = "\x1b[2m" if holes[i] else ("\x1b[1;32m" if new[i] else "")
        if s != state:
            out.append("\x1b[0m" + s)
            state = s
        out.append(ch)
    out.append("\x1b[0m")
    return "".join(out)


def render_text(frame_list: Sequence[Dict[str, Any]], color: bool = False) -> str:
    """Every frame as text: its caption, then its source (holes dim and new text bold green
    with color)."""
    total = len(frame_list) - 1
    parts, previous = [], ""
    for f in frame_list:
        parts.append(f"-- {_caption(f, total)}\n{_styled(f['source'], previous, color)}")
        if not f["source"].endswith("\n"):
            parts.append("\n")
        previous = f["source"]
    return "".join(parts)


def _is_tty(file: Any) -> bool:
    try:
        return bool(file.isatty()) and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


def show(batch_or_result: Any, index: int = 0, *, client: "Client", config: Any = None,
         start: Union[str, int] = "module", arity: Optional[int] = None,
         file: Optional[IO[str]] = None) -> str:
    """Prints every frame of one result (batch[index]) to `file` (stdout), colored on a
    terminal; returns the plain text."""
    out = file if file is not None else sys.stdout
    fl = frames(batch_or_result, client, config=config, start=start, arity=arity, index=index)
    out.write(render_text(fl, color=_is_tty(out)))
    out.flush()
    return render_text(fl)


def _ipython_display() -> Any:
    """IPython.display when running inside an IPython kernel or shell, else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        if ipython.get_ipython() is None:  # type: ignore[attr-defined]
            return None
        import IPython.display as d
        return d
    except Exception:
        return None


def _html(f: Dict[str, Any], total: int, previous: str) -> str:
    import html
    src = f["source"]
    spans = _new_spans(previous, src)
    cls = [""] * len(src)
    for a, b in spans:
        for i in range(a, b):
            cls[i] = "n"
    for m in HOLE.finditer(src):
        for i in range(m.start(), m.end()):
            cls[i] = "h"
    style = {"": "", "n": "background:#fff3b0", "h": "color:#999"}
    out, i = [], 0
    while i < len(src):
        j = i
        while j < len(src) and cls[j] == cls[i]:
            j += 1
        text = html.escape(src[i:j])
        out.append(f'<span style="{style[cls[i]]}">{text}</span>' if cls[i] else text)
        i = j
    return (f"<div><div style=\"font-family:sans-serif\">{html.escape(_caption(f, total))}"
            f"</div><pre>{''.join(out)}</pre></div>")


def animate(batch_or_result: Any, index: int = 0, *, client: "Client", config: Any = None,
            start: Union[str, int] = "module", arity: Optional[int] = None,
            delay: float = 0.5, file: Optional[IO[str]] = None) -> List[Dict[str, Any]]:
    """Plays the frames of one result: inside IPython/Jupyter one display updated in place,
    on a terminal the screen redrawn in place every `delay` seconds, and otherwise (a pipe, a
    file) every frame as plain text without waiting. Returns the frames."""
    fl = frames(batch_or_result, client, config=config, start=start, arity=arity, index=index)
    total = len(fl) - 1
    out = file if file is not None else sys.stdout
    ipd = _ipython_display() if file is None else None
    if ipd is not None:
        handle = ipd.display(ipd.HTML(_html(fl[0], total, "")), display_id=True)
        previous = fl[0]["source"]
        for f in fl[1:]:
            time.sleep(delay)
            handle.update(ipd.HTML(_html(f, total, previous)))
            previous = f["source"]
        return fl
    if not _is_tty(out):
        out.write(render_text(fl))
        out.flush()
        return fl
    previous = ""
    for k, f in enumerate(fl):
        if k:
            time.sleep(delay)
        # Home, then clear to the end of the screen: the frame replaces the last one.
        out.write("\x1b[H\x1b[J" + f"-- {_caption(f, total)}\n"
                  + _styled(f["source"], previous, True) + "\n")
        out.flush()
        previous = f["source"]
    return fl


# -- GIF ----------------------------------------------------------------------------------------

# The hole grey is a little blue, so anti-aliased black text never rounds to it.
_BG, _FG, _HOLE, _NEW_BG, _CAPTION = ((255, 255, 255), (20, 20, 20), (150, 150, 172),
                                      (255, 236, 140), (30, 70, 160))


def _palette(Image: Any) -> Any:  # noqa: N803
    """A "P" image holding the GIF's palette: each ink blended over each background in 8 steps
    (text is anti-aliased), the pure colours included."""
    colours: List[Tuple[int, int, int]] = []
    for back in (_BG, _NEW_BG):
        for ink in (_FG, _HOLE, _CAPTION):
            for k in range(9):
                c = tuple(round(i + (b - i) * k / 8) for i, b in zip(ink, back))
                if c not in colours:
                    colours.append(c)  # type: ignore[arg-type]
    flat = [v for c in colours for v in c]
    flat += [0] * (768 - len(flat))
    pal = Image.new("P", (1, 1))
    pal.putpalette(flat)
    return pal


def _font(size: int) -> Any:
    require("PIL", "astcd_client.display.save_gif")
    from PIL import ImageFont
    for path in _FONT_PATHS:
        if os.path.exists(path):
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    return ImageFont.load_default()


def save_gif(result: Any, path: Union[str, "os.PathLike[str]", IO[bytes]], *,
             client: "Client",
             config: Any = None, start: Union[str, int] = "module", arity: Optional[int] = None,
             index: int = 0, delay: Union[float, Sequence[float]] = 0.5,
             font_size: int = 14) -> List[Dict[str, Any]]:
    """Writes an animated GIF of one result (batch[index]) to a path or a binary file: one
    image per frame, all one size, the source in a monospace font with holes grey and the text
    new in this frame highlighted, and a caption with the step, the token and how many tokens
    were legal. `delay` is the seconds each frame shows, one number or one per frame (a GIF
    keeps hundredths). Needs Pillow (Debian's python3-pil). Returns the frames."""
    require("PIL", "astcd_client.display.save_gif")
    from PIL import Image, ImageDraw

    fl = frames(result, client, config=config, start=start, arity=arity, index=index)
    total = len(fl) - 1
    delays = ([float(delay)] * len(fl) if isinstance(delay, (int, float))
              else [float(d) for d in delay])
    if len(delays) != len(fl):
        raise ValueError(f"{len(delays)} delays for {len(fl)} frames")
    font = _font(font_size)
    box = font.getbbox("M")
    cw = max(1, math.ceil(font.getlength("M")) if hasattr(font, "getlength") else box[2])
    lh = int((box[3] - box[1]) * 1.0) + max(4, font_size // 3)
    captions = [_caption(f, total) for f in fl]
    lines = [f["source"].rstrip("\n").split("\n") for f in fl]
    cols = max([len(c) for c in captions] + [len(line) for ls in lines for line in ls] + [20])
    rows = max(len(ls) for ls in lines) + 2  # the caption and a gap
    pad = 10
    width, height = cols * cw + 2 * pad, rows * lh + 2 * pad
    bg, fg, hole, new_bg, cap = _BG, _FG, _HOLE, _NEW_BG, _CAPTION
    palette = _palette(Image)
    images = []
    previous = ""
    for f, caption in zip(fl, captions):
        src = f["source"]
        new = [False] * len(src)
        for a, b in _new_spans(previous, src):
            for i in range(a, b):
                new[i] = src[i] != "\n"
        holes = [False] * len(src)
        for m in HOLE.finditer(src):
            for i in range(m.start(), m.end()):
                holes[i] = True
        im = Image.new("RGB", (width, height), bg)
        draw = ImageDraw.Draw(im)
        for i, ch in enumerate(caption):  # one cell a character, as the source below
            draw.text((pad + i * cw, pad), ch, font=font, fill=cap)
        draw.line((pad, pad + lh + lh // 3, width - pad, pad + lh + lh // 3), fill=cap)
        x, y = 0, 2
        for i, ch in enumerate(src):
            if ch == "\n":
                x, y = 0, y + 1
                continue
            px, py = pad + x * cw, pad + y * lh
            if new[i]:
                draw.rectangle((px, py, px + cw - 1, py + lh - 1), fill=new_bg)
            if ch != " ":
                draw.text((px, py), ch, font=font, fill=hole if holes[i] else fg)
            x += 1
        # One fixed palette (the colours and the anti-aliasing ramps between them), so every
        # frame keeps the exact colours: no per-frame quantizing.
        images.append(im.quantize(palette=palette, dither=Image.Dither.NONE))
        previous = src
    durations = [max(10, int(round(d * 100)) * 10) for d in delays]  # whole hundredths, in ms
    target: Any = path if hasattr(path, "write") else os.fspath(path)  # type: ignore[arg-type]
    images[0].save(target, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, disposal=1, optimize=False)
    return fl

"""astcd_client.torch against a plain Python-loop reference, then against real server masks.

    python3 torch_test.py ASTCD_SERVER_BINARY

Needs astcd_client importable (pip-installed, or client/python on PYTHONPATH), torch and numpy.
One line per check; exit status 1 if any fails.
"""
from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # server_process, integration_util
from integration_util import Checks, MeteredServer  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import astcd_client  # noqa: E402
from astcd_client.torch import (  # noqa: E402
    allocate_token_bitmask, apply_token_bitmask_, bitmask_to_bool)
from astcd_client._optional import OptionalDependencyError  # noqa: E402

C = Checks()
GEN = torch.Generator().manual_seed(1234)
NEG_INF = float("-inf")


def random_words(rows: int, words: int) -> torch.Tensor:
    return torch.randint(-2**31, 2**31, (rows, words), generator=GEN, dtype=torch.int64).to(
        torch.int32)


def reference(logits: torch.Tensor, words: torch.Tensor, vocab_size=None, indices=None):
    """The operation spelled out one row and one token at a time."""
    out = logits.clone()
    rows, nwords = words.shape
    vocab = 32 * nwords if vocab_size is None else vocab_size
    wl = words.tolist()
    for j in range(rows):
        r = j if indices is None else int(indices[j])
        for t in range(out.shape[1]):
            legal = t < vocab and (wl[j][t // 32] & 0xFFFFFFFF) >> (t % 32) & 1
            if not legal:
                out[r, t] = NEG_INF
    return out


def case(name: str, batch: int, width: int, vocab: int, dtype=torch.float32, form="tensor",
         vocab_arg="given", indices=None) -> None:
    """Random logits and a random mask; apply_token_bitmask_ must equal the reference."""
    words_per_row = (vocab + 31) // 32
    rows = batch if indices is None else len(indices)
    words = random_words(rows, words_per_row)
    logits = torch.randn(batch, width, generator=GEN).to(dtype)
    vs = vocab if vocab_arg == "given" else None
    expected = reference(logits, words, vs, indices)
    mask = {"tensor": words, "numpy": words.numpy(), "bytes": words.numpy().astype("<i4").tobytes(),
            "numpy_readonly": np.frombuffer(words.numpy().astype("<i4").tobytes(), "<i4").reshape(
                rows, words_per_row)}[form]
    got = logits.clone()
    apply_token_bitmask_(got, mask, vocab_size=vs, indices=indices)
    C.check(name, got.dtype == dtype and torch.equal(got, expected),
            f"{int((got != expected).sum())} entries differ")


def shapes_and_dtypes() -> None:
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        d = str(dtype).split(".")[1]
        case(f"{d}: B=4 V=57 V'=57", 4, 57, 57, dtype)
        case(f"{d}: B=1 V=57 V'=100 (wider model vocab masked)", 1, 100, 57, dtype)
        case(f"{d}: B=3 V=64 V'=64 (whole words)", 3, 64, 64, dtype)
        case(f"{d}: B=5 V=33 V'=40 indices", 5, 40, 33, dtype, indices=[4, 0, 2])
    case("B=2 V=57 V'=70, vocab_size defaults to 32*words", 2, 70, 57, vocab_arg="default")
    case("B=2 V=57 V'=50 (model narrower than 32*words)", 2, 50, 57, vocab_arg="default")
    case("B=1 V=1 V'=3", 1, 3, 1)
    case("B=6 V=100 V'=128 bytes", 6, 128, 100, form="bytes")
    case("B=6 V=100 V'=128 numpy", 6, 128, 100, form="numpy")
    case("B=3 V=57 V'=57 read-only numpy (the client's as_='numpy')", 3, 57, 57,
         form="numpy_readonly")
    case("bytes with indices", 7, 60, 57, form="bytes", indices=[6, 1])
    case("indices as a tensor", 4, 57, 57, indices=torch.tensor([3, 1]))
    case("indices as numpy", 4, 57, 57, indices=np.array([2]))
    case("empty indices leave logits alone", 3, 57, 57, indices=[])


def other_forms() -> None:
    # A 1-D logits row and a 1-D mask row, masked through the view.
    words = random_words(1, 2)
    row = torch.randn(57, generator=GEN)
    expected = reference(row.unsqueeze(0), words, 57)[0]
    apply_token_bitmask_(row, words[0], vocab_size=57)
    C.check("1-D logits and 1-D bitmask", torch.equal(row, expected))
    # A non-contiguous logits view is masked in place.
    base = torch.randn(3, 120, generator=GEN)
    view = base[:, ::2]
    words = random_words(3, 2)
    expected = reference(view, words, 57)
    apply_token_bitmask_(view, words, vocab_size=57)
    C.check("non-contiguous logits view", torch.equal(base[:, ::2], expected)
            and torch.equal(view, expected))
    view2 = torch.randn(5, 57, generator=GEN)
    sub = view2[1:4]
    words = random_words(2, 2)
    expected = reference(sub, words, 57, [2, 0])
    apply_token_bitmask_(sub, words, vocab_size=57, indices=[2, 0])
    C.check("indices into a row-sliced view", torch.equal(view2[1:4], expected))
    # bitmask_to_bool and allocate_token_bitmask.
    words = random_words(4, 2)
    b = bitmask_to_bool(words, 57)
    ref = [[bool((w & 0xFFFFFFFF) >> (t % 32) & 1) for t in range(57) for w in [r[t // 32]]]
           for r in words.tolist()]
    C.check("bitmask_to_bool matches the bits", b.dtype == torch.bool and b.tolist() == ref)
    full = allocate_token_bitmask(3, 57)
    C.check("allocate_token_bitmask: [3, 2] int32, all legal",
            full.shape == (3, 2) and full.dtype == torch.int32
            and bool(bitmask_to_bool(full, 57).all()))
    x = torch.randn(3, 60, generator=GEN)
    y = x.clone()
    apply_token_bitmask_(y, full, vocab_size=57)
    C.check("a full mask changes only columns >= vocab_size",
            torch.equal(y[:, :57], x[:, :57]) and bool(torch.isinf(y[:, 57:]).all()))
    if torch.cuda.is_available():
        case("CUDA logits", 4, 57, 57)  # the mask moves to the logits' device
    else:
        print("skip CUDA (no GPU here)")


def errors() -> None:
    lg = torch.zeros(2, 57)
    w = random_words(2, 2)
    C.raises("int64 bitmask is a TypeError", TypeError,
             lambda: apply_token_bitmask_(lg, w.to(torch.int64)), "bitmask")
    C.raises("numpy int64 bitmask is a TypeError", TypeError,
             lambda: apply_token_bitmask_(lg, w.numpy().astype(np.int64)), "bitmask")
    C.raises("a list bitmask is a TypeError", TypeError,
             lambda: apply_token_bitmask_(lg, [[1, 2], [3, 4]]), "bitmask")
    C.raises("integer logits are a TypeError", TypeError,
             lambda: apply_token_bitmask_(torch.zeros(2, 57, dtype=torch.int64), w), "logits")
    C.raises("numpy logits are a TypeError", TypeError,
             lambda: apply_token_bitmask_(np.zeros((2, 57)), w), "logits")
    C.raises("3-D logits are a ValueError", ValueError,
             lambda: apply_token_bitmask_(torch.zeros(2, 1, 57), w), "logits")
    C.raises("row count mismatch is a ValueError", ValueError,
             lambda: apply_token_bitmask_(torch.zeros(3, 57), w), "rows")
    C.raises("bytes not whole rows is a ValueError", ValueError,
             lambda: apply_token_bitmask_(lg, b"\x00" * 6), "bitmask")
    C.raises("vocab_size over 32*words is a ValueError", ValueError,
             lambda: apply_token_bitmask_(lg, w, vocab_size=65), "vocab_size")
    C.raises("vocab_size 0 is a ValueError", ValueError,
             lambda: apply_token_bitmask_(lg, w, vocab_size=0), "vocab_size")
    C.raises("duplicate indices are a ValueError", ValueError,
             lambda: apply_token_bitmask_(torch.zeros(4, 57), w, indices=[1, 1]), "unique")
    C.raises("indices out of range are a ValueError", ValueError,
             lambda: apply_token_bitmask_(torch.zeros(4, 57), w, indices=[0, 4]), "indices")
    C.raises("negative indices are a ValueError", ValueError,
             lambda: apply_token_bitmask_(torch.zeros(4, 57), w, indices=[-1, 0]), "indices")
    C.raises("indices length != mask rows is a ValueError", ValueError,
             lambda: apply_token_bitmask_(torch.zeros(4, 57), w, indices=[0, 1, 2]), "indices")
    C.raises("float indices are a TypeError", TypeError,
             lambda: apply_token_bitmask_(torch.zeros(4, 57), w, indices=[0.0, 1.0]), "indices")
    before = torch.zeros(4, 57)
    try:
        apply_token_bitmask_(before, w, indices=[0, 9])
    except ValueError:
        pass
    C.check("a refused call leaves logits unchanged", bool((before == 0).all()))


def lazy_imports() -> None:
    """Without torch (or numpy) the module still imports, and a call names the Debian package."""
    for module, package, call in (
            ("torch", "python3-torch",
             "astcd_client.torch.apply_token_bitmask_(None, b'')"),
            ("numpy", "python3-numpy", "astcd_client._optional.require('numpy')")):
        code = (f"import sys; sys.modules[{module!r}] = None\n"
                "import astcd_client, astcd_client.torch, astcd_client._optional\n"
                f"try:\n    {call}\n"
                "except astcd_client._optional.OptionalDependencyError as e:\n"
                "    assert isinstance(e, ImportError); print('MSG', e)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        C.check(f"without {module}: OptionalDependencyError naming {package}",
                r.returncode == 0 and "MSG" in r.stdout and package in r.stdout,
                r.stdout + r.stderr)
    C.check("OptionalDependencyError is an ImportError",
            issubclass(OptionalDependencyError, ImportError))


def server_masks(binary: str) -> None:
    """Masks from a real server in every form mask the logits as the bool form does."""
    with MeteredServer(binary) as server:
        client = astcd_client.Client(server.address)
        try:
            vocab = client.vocabulary()
            v = vocab["vocab_size"]
            reqs = [{"start": s, "max_len": 32} for s in ("function", "module", "expr", "block")]
            sessions = client.init_states(reqs)
            logits = torch.randn(len(reqs), v + 9, generator=GEN)
            legal = client.legal_masks(sessions, as_="torch_bool")
            expected = logits.clone()
            expected[:, :v].masked_fill_(~legal, NEG_INF)
            expected[:, v:] = NEG_INF
            for form in ("bytes", "numpy", "torch"):
                got = logits.clone()
                apply_token_bitmask_(got, client.legal_masks(sessions, as_=form), vocab_size=v)
                C.check(f"server masks as_={form!r} mask like as_='torch_bool'",
                        torch.equal(got, expected))
            C.check("bitmask_to_bool of server masks == as_='torch_bool'",
                    torch.equal(bitmask_to_bool(client.legal_masks(sessions, as_="torch"), v),
                                legal))
            client.release(sessions)
        finally:
            client.close()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: torch_test.py ASTCD_SERVER_BINARY")
    C.run("shapes and dtypes", shapes_and_dtypes)
    C.run("other forms", other_forms)
    C.run("errors", errors)
    C.run("lazy imports", lazy_imports)
    C.run("server masks", lambda: server_masks(sys.argv[1]))
    C.exit()


if __name__ == "__main__":
    main()

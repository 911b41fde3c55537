"""Shared pieces of the Python integration tests (torch_test, transformers_test, vllm_test).

- Checks: prints one line per check and remembers failures; .exit() sets the exit status.
- MeteredServer: the real astcd-server (server_process.AstcdServer) with its Prometheus
  endpoint on, so a test can count the RPCs the server actually received.
- TinyLM: a real (untrained, seeded) torch model over astcd's token ids: Embedding + GRU +
  Linear, whose output vocabulary may be wider than astcd's.
"""
from __future__ import annotations

import re
import sys
import traceback
import urllib.request
from typing import Callable, List, Optional

from server_process import AstcdServer

_METRICS = re.compile(r"astcd-server metrics on (\S+:\d+)")


class Checks:
    def __init__(self) -> None:
        self.failures: List[str] = []
        self.count = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.count += 1
        print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else f": {detail}"),
              flush=True)
        if not ok:
            self.failures.append(name)
        return ok

    def raises(self, name: str, exc: type, fn: Callable[[], object],
               contains: str = "") -> bool:
        """fn() must raise exc whose message contains `contains`."""
        try:
            fn()
        except exc as e:
            return self.check(name, contains in str(e), f"message {str(e)!r} lacks {contains!r}")
        except Exception as e:  # the wrong exception is a failure, with what it was
            return self.check(name, False, f"raised {type(e).__name__}: {e}")
        return self.check(name, False, f"did not raise {exc.__name__}")

    def run(self, name: str, fn: Callable[[], None]) -> None:
        """Runs a group of checks; an unexpected exception fails the group."""
        try:
            fn()
        except Exception:
            traceback.print_exc()
            self.check(f"{name} (raised)", False)

    def exit(self) -> None:
        if self.count == 0:
            self.failures.append("no checks ran")
        print(f"{self.count - len(self.failures)}/{self.count} checks passed"
              + (f"; failed: {', '.join(self.failures)}" if self.failures else ""))
        sys.exit(1 if self.failures else 0)


class MeteredServer(AstcdServer):
    """AstcdServer with --metrics-listen on a free port; rpc_count(method) reads
    grpc_server_started_total for that method from /metrics."""

    def __init__(self, binary: str, *flags: str) -> None:
        super().__init__(binary, "--metrics-listen=127.0.0.1:0", *flags)  # the last one wins
        self.metrics_address = ""

    def start(self) -> "MeteredServer":
        super().start()
        # The server prints its metrics address on the line after the listening one.
        line = self.proc.stdout.readline()
        m = _METRICS.search(line)
        if not m:
            self.stop()
            raise RuntimeError(f"no metrics address from the server: {line!r}")
        self.metrics_address = m.group(1)
        return self

    def metric(self, name: str, labels: str = "") -> float:
        """The sum of a metric's samples whose labels include `labels` (e.g.
        'grpc_method="Advance"'); 0 when there are none."""
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=30) as r:
            text = r.read().decode()
        pat = re.compile(r"^" + re.escape(name) + r"(\{[^}]*\})?\s+(\S+)$", re.M)
        return sum(float(m.group(2)) for m in pat.finditer(text)
                   if labels in (m.group(1) or ""))

    def rpc_count(self, method: str) -> int:
        """RPCs of a method the server has started (grpc_server_started_total)."""
        return int(self.metric("grpc_server_started_total", f'grpc_method="{method}"'))


def tiny_lm(vocab_in: int, vocab_out: int, seed: int = 0, hidden: int = 32):
    """A seeded, untrained Embedding + GRU + Linear language model (real torch forward passes).
    forward(ids [B, L], state) -> (logits [B, vocab_out] for the last position, state)."""
    import torch

    class TinyLM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(vocab_in, hidden)
            self.gru = torch.nn.GRU(hidden, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, vocab_out)

        def forward(self, ids: "torch.Tensor", state: Optional["torch.Tensor"] = None):
            out, state = self.gru(self.embed(ids), state)
            return self.head(out[:, -1, :]), state

    torch.manual_seed(seed)
    model = TinyLM()
    model.eval()
    return model

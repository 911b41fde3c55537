"""Starts the real astcd-server binary on a free loopback port for a Python test.

    with AstcdServer(binary) as server:
        client = astcd_client.Client(server.address)

The server prints "astcd-server listening on HOST:PORT" once it serves; that line is the only
thing read from its stdout. port=0 picks a free port; kill() is a crash (SIGKILL), and a new
AstcdServer(binary, port=old.port) takes over the address. On exit the server gets SIGTERM (then SIGKILL after 20 s), and its
exit status is kept in .returncode.
"""
from __future__ import annotations

import re
import select
import subprocess
import time
from typing import List, Optional

_LISTENING = re.compile(r"astcd-server listening on (\S+:\d+)")


class AstcdServer:
    def __init__(self, binary: str, *flags: str, port: int = 0,
                 startup_timeout: float = 60.0) -> None:
        self.binary = binary
        self.flags: List[str] = [f"--listen=127.0.0.1:{port}", "--metrics-listen=", *flags]
        self.startup_timeout = startup_timeout
        self.proc: Optional[subprocess.Popen] = None
        self.address = ""
        self.returncode: Optional[int] = None

    def start(self) -> "AstcdServer":
        self.proc = subprocess.Popen([self.binary, *self.flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + self.startup_timeout  # a safety stop, not a timing check
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                m = _LISTENING.search(line)
                if m:
                    self.address = m.group(1)
                    return self
                if not line:
                    break
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"{self.binary} did not start (exit status {self.returncode})")

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def kill(self) -> None:
        """SIGKILL: the server loses every session at once, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.returncode = self.proc.returncode
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self.proc = None

    def __enter__(self) -> "AstcdServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A process's memory and CPU time from /proc, for the tests' resource ceilings (never wall-clock
time). Shared by the server tests that bound what a request may cost."""
import os

TICK = os.sysconf("SC_CLK_TCK")


def memory(pid):
    """{"VmRSS": bytes, "VmHWM": bytes}: resident now, and its high-water mark."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def cpu_seconds(pid):
    """User plus system CPU time so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime

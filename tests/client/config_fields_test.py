#!/usr/bin/env python3
"""The Python client's DecodeConfig fields are the C++ table's (core/config.h).

astcd_client takes config keys from the proto descriptor of its generated stubs; the CLI takes
them from ASTCD_DECODE_CONFIG. Both lists must be the same, in the same order; the CLI names
its keys when it refuses an unknown one.

usage: config_fields_test.py ASTCD_BINARY   (in the venv that has astcd_client)
"""
import json
import re
import subprocess
import sys

from astcd_client import load_stubs


def vocab(binary, config):
    return subprocess.run([binary, "vocab", "--config", json.dumps(config)],
                          capture_output=True, text=True, timeout=60)


def main():
    binary = sys.argv[1]
    python_fields = [f.name for f in load_stubs().astcd_pb2.DecodeConfig.DESCRIPTOR.fields]
    refused = vocab(binary, {"no_such_field": 1})
    known = re.search(r"\(known: ([a-z_, ]+)\)", refused.stderr)
    failures = []
    if refused.returncode != 2 or known is None:
        failures.append(f"an unknown key was not refused with the known keys: {refused.stderr}")
    elif known.group(1).split(", ") != python_fields:
        failures.append(f"C++ fields {known.group(1)} != the Python client's {python_fields}")
    for f in failures:
        print("FAIL", f)
    print(f"{len(python_fields)} fields, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

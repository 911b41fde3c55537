#!/usr/bin/env python3
"""The Python package installs the README's way, offline, and works outside the source tree.

usage: package_test.py SOURCE_ROOT WORK_DIR

Copies client/python and proto/ into WORK_DIR (so the source tree stays clean), runs the
README's venv + pip line there exactly as written, then checks from / with no PYTHONPATH:
astcd_client and its generated stubs import from the venv; nothing is imported from a build
tree; py.typed ships; the public API is annotated; a missing numpy or torch is an ImportError
that names its Debian package. The venv it leaves (WORK_DIR/venv) is the one every other
Python test runs in (the CTest fixture astcd_venv).
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from integration_util import Checks  # noqa: E402

ROOT, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
C = Checks()
check = C.check




def readme_install_line():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        lines = [l.strip() for l in f if "pip install --no-build-isolation ./client/python" in l]
    check("the README has one install line", len(lines) == 1, lines)
    return lines[0].strip("`")


def copy_sources():
    shutil.rmtree(WORK, ignore_errors=True)
    ignore = shutil.ignore_patterns("build", "*.egg-info", "_proto", "__pycache__")
    shutil.copytree(os.path.join(ROOT, "client", "python"),
                    os.path.join(WORK, "client", "python"), ignore=ignore)
    shutil.copytree(os.path.join(ROOT, "proto"), os.path.join(WORK, "proto"))


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PIP_NO_INDEX"] = "1"  # offline: anything pip would fetch is a failure
    return env


def venv_python(code):
    return subprocess.run([os.path.join(WORK, "venv", "bin", "python"), "-c", code], cwd="/",
                          env=clean_env(), capture_output=True, text=True)


INSPECT = r'''
import inspect, os, sys
import astcd_client, astcd_client.aio, astcd_client.torch
from astcd_client.integrations import transformers, vllm
stubs = astcd_client.load_stubs()
print("package", os.path.dirname(astcd_client.__file__))
print("stubs", stubs.astcd_pb2.__file__)
print("typed", os.path.exists(os.path.join(os.path.dirname(astcd_client.__file__), "py.typed")))
import astcd_client.display, astcd_client.playground
print("static", sorted(os.listdir(astcd_client.playground.STATIC_DIR)))
print("toplevel", [m for m in ("astcd", "google.rpc") if m in sys.modules])
print("heavy", [m for m in ("torch", "numpy", "transformers", "vllm", "PIL")
                if m in sys.modules])
missing = []
for owner in (astcd_client.Client, astcd_client.StepStream, astcd_client.aio.Client,
              astcd_client.aio.StepStream, astcd_client.display):
    for name, fn in inspect.getmembers(owner, inspect.isfunction):
        if inspect.ismodule(owner) and name not in owner.__all__:
            continue
        if name.startswith("_") and name != "__init__":
            continue
        sig = inspect.signature(fn)
        if name != "__init__" and sig.return_annotation is inspect.Signature.empty:
            missing.append(f"{getattr(owner, '__module__', '')}.{owner.__name__}.{name} -> ?")
        missing += [f"{owner.__name__}.{name}({p})" for p in sig.parameters
                    if p != "self" and sig.parameters[p].annotation is inspect.Parameter.empty]
print("unannotated", missing)
'''

BLOCKED = r'''
import sys
sys.modules[{module!r}] = None  # as if the Debian package were not installed
import astcd_client
try:
    {call}
    print("no error")
except ImportError as e:
    print("ImportError", e)
'''


def main():
    line = readme_install_line()
    check("the install line makes ./venv with Debian's Python",
          line.startswith("/usr/bin/python3 -m venv --system-site-packages venv"), line)
    copy_sources()
    p = subprocess.run(["bash", "-c", line], cwd=WORK, env=clean_env(), capture_output=True,
                       text=True)
    check("pip install offline", p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:])
    if p.returncode:
        return
    out = venv_python(INSPECT)
    check("imports from /", out.returncode == 0, out.stderr[-2000:])
    if out.returncode:
        return
    info = dict(l.split(" ", 1) for l in out.stdout.splitlines())
    out = subprocess.run([os.path.join(WORK, "venv", "bin", "python"), "-m",
                          "astcd_client.playground", "--help"], cwd="/", env=clean_env(),
                         capture_output=True, text=True)
    check("python -m astcd_client.playground --help", out.returncode == 0
          and "--server" in out.stdout, out.stdout[-500:] + out.stderr[-500:])
    venv = os.path.join(WORK, "venv")
    check("astcd_client comes from the venv", info["package"].startswith(venv), info["package"])
    check("the stubs ship inside the package",
          info["stubs"].startswith(os.path.join(info["package"], "_proto")), info["stubs"])
    check("py.typed ships", info["typed"] == "True")
    check("the playground's page ships", info["static"] == "['app.css', 'app.js', 'index.html']",
          info["static"])
    check("no top-level astcd or google.rpc modules", info["toplevel"] == "[]", info["toplevel"])
    check("importing needs no torch, numpy, transformers, vllm or Pillow", info["heavy"] == "[]",
          info["heavy"])
    check("the public API is annotated", info["unannotated"] == "[]", info["unannotated"])
    for module, package, call in (
            ("torch", "python3-torch", 'astcd_client.masks_from_bytes(b"\\0" * 4, 1, 1, "torch")'),
            ("torch", "python3-torch",
             "import astcd_client.torch as t; t.apply_token_bitmask_([[0.0]], b'\\1\\0\\0\\0')"),
            ("numpy", "python3-numpy", 'astcd_client.masks_from_bytes(b"\\0" * 4, 1, 1, "numpy")'),
            ("PIL", "python3-pil", "astcd_client.display.save_gif([1], '/dev/null', client=None)")):
        out = venv_python(BLOCKED.format(module=module, call=call))
        said = out.stdout.strip()
        check(f"no {module}: the error names {package} ({call[:40]}...)",
              said.startswith("ImportError") and package in said, said + out.stderr[-500:])


main()
C.exit()

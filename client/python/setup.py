"""Builds astcd-client with its gRPC stubs generated from proto/ (pyproject.toml has the rest).

The stubs are made at build time by Debian's protoc and grpc_python_plugin and ship inside the
package as astcd_client._proto, so nothing at run time needs a build tree or PYTHONPATH.
protoc writes absolute imports (`from astcd.v1 import ...`); they are rewritten to point into
astcd_client._proto, so the package never puts top-level `astcd` or `google.rpc` modules on
sys.path where they could clash with another copy.
"""
import os
import re
import shutil
import subprocess

from setuptools import Command, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = ("astcd/v1/astcd.proto", "google/rpc/status.proto", "google/rpc/error_details.proto")
PACKAGE = "astcd_client._proto"
_ABSOLUTE_IMPORT = re.compile(r"^from (astcd\.v1|google\.rpc) import ", re.M)


def proto_dir():
    """$ASTCD_PROTO_DIR, else the repository's proto/ (client/python/../../proto)."""
    d = os.environ.get("ASTCD_PROTO_DIR") or os.path.join(HERE, "..", "..", "proto")
    if not os.path.isfile(os.path.join(d, PROTOS[0])):
        raise SystemExit(f"astcd-client: no {PROTOS[0]} under {d!r}; build from the astcd "
                         "repository or set ASTCD_PROTO_DIR to its proto/ directory")
    return os.path.abspath(d)


def tool(name, package):
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"astcd-client: {name} not found; install the Debian package {package}")
    return path


def generate_stubs(out_root):
    """Writes astcd_client/_proto/** under out_root (a build_lib directory)."""
    out = os.path.join(out_root, *PACKAGE.split("."))
    os.makedirs(out, exist_ok=True)
    subprocess.run([tool("protoc", "protobuf-compiler"), f"-I{proto_dir()}",
                    f"--python_out={out}", f"--grpc_python_out={out}",
                    "--plugin=protoc-gen-grpc_python="
                    + tool("grpc_python_plugin", "protobuf-compiler-grpc"), *PROTOS],
                   check=True)
    for dirpath, _, files in os.walk(out):
        init = os.path.join(dirpath, "__init__.py")
        if not os.path.exists(init):
            open(init, "w").close()
        for name in files:
            if name.endswith("_pb2.py") or name.endswith("_pb2_grpc.py"):
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(_ABSOLUTE_IMPORT.sub(rf"from {PACKAGE}.\1 import ", text))


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate_stubs(self.build_lib)


class StubsInPlace(Command):
    """`python3 setup.py stubs`: writes astcd_client/_proto next to the sources (git ignores
    it), so a source checkout on PYTHONPATH imports like an installed package."""
    user_options = []

    def initialize_options(self):
        pass

    def finalize_options(self):
        pass

    def run(self):
        generate_stubs(HERE)


setup(cmdclass={"build_py": BuildWithStubs, "stubs": StubsInPlace})

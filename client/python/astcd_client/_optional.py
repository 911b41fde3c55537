"""Lazy imports of the optional dependencies (torch, numpy, Pillow), with an error that says what to
install instead of a bare ImportError.

    torch = require("torch")            # the module, or OptionalDependencyError
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Dict, Optional

__all__ = ["OptionalDependencyError", "require", "DEBIAN_PACKAGES"]

# The Debian 12 package that provides each optional module (deploy/packages.txt names them).
DEBIAN_PACKAGES: Dict[str, str] = {
    "torch": "python3-torch",
    "numpy": "python3-numpy",
    "PIL": "python3-pil",  # Pillow: astcd_client.display.save_gif
}
# The pip distribution, where it is not the module's name.
PIP_NAMES: Dict[str, str] = {"PIL": "Pillow"}


class OptionalDependencyError(ImportError):
    """An optional dependency is missing. A subclass of ImportError, so `except ImportError`
    still catches it; .module names the module and .package the Debian package to install."""

    def __init__(self, module: str, purpose: Optional[str] = None,
                 cause: Optional[BaseException] = None) -> None:
        self.module = module
        self.package = DEBIAN_PACKAGES.get(module, f"python3-{module}")
        what = f" for {purpose}" if purpose else ""
        detail = f" ({cause})" if cause is not None else ""
        super().__init__(
            f"astcd_client needs the Python module {module!r}{what}, which is not importable"
            f"{detail}. Install Debian's {self.package} (apt-get install {self.package}) or "
            f"`pip install {PIP_NAMES.get(module, module)}` in your environment.", name=module)


def require(module: str, purpose: Optional[str] = None) -> ModuleType:
    """Imports `module` ("torch", "numpy" or "PIL") and returns it; raises OptionalDependencyError
    naming the Debian package when it cannot be imported. `purpose` goes into the message."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise OptionalDependencyError(module, purpose, e) from e

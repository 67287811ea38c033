"""Let ``import torchvision`` work when its C++ ops library cannot load (CPU-only builds).

The viewer uses only ``torchvision.models.densenet`` (pure Python). torchvision's
``_meta_registrations`` registers fake kernels for its C++ ops (nms, roi_align...) at import
and fails when the ops library is absent, e.g. a CUDA torchvision wheel next to a CPU torch
(the only combination on a build machine without a CPU torchvision wheel). This skips that
one module when, and only when, ``torchvision.extension`` reports no ops. Installed as a
PyInstaller runtime hook by ichviewer.spec and as a ``.pth`` import in the CPU build venv
by packaging/cpu_env.sh; a matching torchvision CPU wheel never needs it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

_TARGET = "torchvision._meta_registrations"


class _SkipModule(importlib.abc.Loader):
    def create_module(self, spec):  # noqa: ANN001, ANN201
        return None

    def exec_module(self, module) -> None:  # noqa: ANN001
        module.__doc__ = "skipped: torchvision C++ ops are not available in this build"


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
        if name != _TARGET:
            return None
        ext = sys.modules.get("torchvision.extension")
        if ext is None or ext._has_ops():
            return None  # normal import
        return importlib.machinery.ModuleSpec(name, _SkipModule())


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())

"""pylibcudf and cupy, imported at their first attribute access, never when a module is imported.

This is the one place gpu-exec's cuDF code gets its array module (cupy) from: ``cp`` for the
device-buffer views, ``array_module()`` for the namespace the shared partition hash runs on.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["array_module", "cp", "plc"]


class _LazyModule:
    """A module imported at its first attribute access: ``import gpu_exec.cudf.kernels`` must
    work where pylibcudf cannot load (no libcudf, no GPU), and the kernels only run on a GPU.

    The cuDF modules import ``plc`` / ``cp`` from here at run time and the real modules under
    ``TYPE_CHECKING``, so mypy checks every call against pylibcudf's own stubs.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


plc = _LazyModule("pylibcudf")
cp = _LazyModule("cupy")


def array_module() -> Any:
    """The array namespace of device buffers (cupy), as ``fallback_cpu.partition_hash`` takes it."""
    return importlib.import_module(cp._name)

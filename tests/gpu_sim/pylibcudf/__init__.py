"""A simulator of pylibcudf 26.10, for running gpu-exec's cuDF kernels on a machine without a GPU.

With ``tests/gpu_sim`` first on ``sys.path``, ``import pylibcudf`` (and ``rmm``, ``cupy``) give
these modules instead of the real ones. They implement, on pyarrow and numpy, every pylibcudf
call gpu-exec makes, with libcudf's semantics rather than Arrow's (decimal scales, null policies,
join sentinels, null ordering), stricter than libcudf where in doubt (it raises where libcudf would
silently produce garbage), with the orders libcudf leaves unspecified scrambled, and with device
memory accounted against the current ``rmm`` resource. It proves the kernels' logic against a model
of pylibcudf, not cuDF itself: only a run on a real GPU does that.
"""

from __future__ import annotations

import importlib
from typing import Any

from pylibcudf.column import Column
from pylibcudf.gpumemoryview import gpumemoryview
from pylibcudf.scalar import Scalar
from pylibcudf.table import Table
from pylibcudf.types import DataType, TypeId

__version__ = "26.10.0+simulated"
SIMULATED = True

__all__ = ["Column", "Table", "Scalar", "DataType", "TypeId", "gpumemoryview", "__version__"]

_SUBMODULES = {
    "aggregation", "binaryop", "column_factories", "concatenate", "contiguous_split", "copying",
    "datetime", "filling", "groupby", "interop", "io", "join", "null_mask", "partitioning", "reduce",
    "replace", "round", "search", "sorting", "stream_compaction", "strings", "transform", "types", "unary",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"pylibcudf.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"the pylibcudf simulator has no attribute {name!r} (gpu-exec does not call it)")

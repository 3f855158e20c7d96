"""Scalar functions written in Python (``Session.register_udf``), as the plan carries them.

DataFusion plans a call of one like any function (it is registered there with its argument and
return types); the translator turns the call into a ``UdfCall``, which keeps the function itself,
so that an executor that receives the plan can run it (Dask ships it with cloudpickle). The
function takes one ``pyarrow.Array`` per argument, for a batch of rows, and returns an Array of its
return type with as many values (gpu_exec.engine.udf runs it and checks that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa

from planner.expr import Expr, format_expr

__all__ = ["PythonUdf", "UdfCall"]


@dataclass(frozen=True, eq=False)
class PythonUdf:
    """One registered function: its SQL name, the Python callable, its declared types.
    Compared by identity: two registrations are two functions."""

    name: str
    func: Callable[..., Any]
    arg_types: tuple[pa.DataType, ...]
    return_type: pa.DataType


@dataclass(frozen=True, slots=True, repr=False)
class UdfCall(Expr):
    """A call of ``udf`` with ``args``; ``dtype`` is its return type."""

    udf: PythonUdf
    args: tuple[Expr, ...]
    dtype: pa.DataType

    def __repr__(self) -> str:
        return f"{self.udf.name}({', '.join(format_expr(a) for a in self.args)})"

"""Simulated ``pylibcudf.strings.find`` (models pylibcudf 26.10, ``find.pyx``; libcudf
``cpp/src/strings/search/find.cu``).

Literal (not regex) searches. ``find(input, target, start=0, stop=-1)`` → INT32 0-based
*character* index of the first occurrence in characters [start, stop) (stop < 0: to the end), -1
when absent; an empty target is found at ``start`` when ``start <= length``. A Scalar target
must be a valid STRING (RuntimeError); ``start`` must be >= 0 and, when ``stop`` > 0, <= stop. A
Column target is per row (``stop`` is not passed to libcudf then) and the result is NULL where
either side is NULL. ``starts_with/ends_with/contains`` → BOOL8 (an empty target matches).
"""

from __future__ import annotations

from typing import Any

from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.strings._common import row_targets, strings, typed_column
from pylibcudf.types import DataType, TypeId

__all__ = ["contains", "ends_with", "find", "rfind", "starts_with"]

_INT32 = DataType(TypeId.INT32)
_BOOL8 = DataType(TypeId.BOOL8)


def _find_one(s: str, target: str, start: int, stop: int) -> int:
    if s == "" and start > 0:
        return -1
    if stop >= 0 and start > stop:
        return -1
    if target == "":
        return start if start <= len(s) else -1
    end = len(s) if stop < 0 else min(stop, len(s))
    return s.find(target, start, end)


def find(input: Column, target: Column | Scalar, start: int = 0, stop: int = -1,
         stream: Any = None, mr: Any = None) -> Column:
    rows = strings(input)
    start, stop = int(start), int(stop)
    if start < 0:
        raise RuntimeError("Parameter start must be positive integer or zero.")
    if isinstance(target, Scalar):
        if not (stop <= 0 or start <= stop):
            raise RuntimeError("Parameter start must be less than stop.")
        targets = row_targets(target, len(rows))
    elif isinstance(target, Column):
        targets = row_targets(target, len(rows))
        stop = -1  # the Column overload of libcudf's find has no stop
    else:
        raise ValueError(f"Invalid target {target}")  # noqa: TRY004 — pylibcudf find.pyx raises ValueError
    out = [None if s is None or t is None else _find_one(s, t, start, stop) for s, t in zip(rows, targets)]
    return typed_column(out, _INT32)


def rfind(input: Column, target: Scalar, start: int = 0, stop: int = -1, stream: Any = None,
          mr: Any = None) -> Column:
    raise NotImplementedError("rfind is not modelled by the simulator (gpu-exec does not call it)")


def _match(input: Any, target: Any, test: Any) -> Column:
    rows = strings(input)
    if not isinstance(target, (Scalar, Column)):
        raise ValueError(f"Invalid target {target}")  # noqa: TRY004 — pylibcudf find.pyx raises ValueError
    targets = row_targets(target, len(rows))
    return typed_column([None if s is None or t is None else bool(test(s, t)) for s, t in zip(rows, targets)], _BOOL8)


def contains(input: Column, target: Column | Scalar, stream: Any = None, mr: Any = None) -> Column:
    return _match(input, target, lambda s, t: t in s)


def starts_with(input: Column, target: Column | Scalar, stream: Any = None, mr: Any = None) -> Column:
    return _match(input, target, str.startswith)


def ends_with(input: Column, target: Column | Scalar, stream: Any = None, mr: Any = None) -> Column:
    return _match(input, target, str.endswith)

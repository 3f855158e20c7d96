"""Simulated ``pylibcudf.strings.replace`` (models pylibcudf 26.10; libcudf
``cpp/src/strings/replace/replace.cu``): ``replace(input, target, repl, maxrepl=-1)`` replaces
literal (not regex) occurrences of ``target``, left to right and non-overlapping, at most
``maxrepl`` per row (-1: all). ``target`` must be a valid non-empty string and ``repl`` valid
(RuntimeError). NULL rows stay NULL."""

from __future__ import annotations

from typing import Any

from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.strings._common import STRING, map_strings, string_scalar

__all__ = ["replace", "replace_multiple", "replace_slice"]


def replace(input: Column, target: Scalar, repl: Scalar, maxrepl: int = -1,
            stream: Any = None, mr: Any = None) -> Column:
    new = string_scalar(repl, "repl")
    old = string_scalar(target, "target")
    if old == "":
        raise RuntimeError("Parameter target must not be empty string.")
    count = int(maxrepl)
    return map_strings(input, lambda s: s.replace(old, new, count if count >= 0 else -1), STRING)  # type: ignore[arg-type]


def replace_multiple(input: Column, target: Column, repl: Column, maxrepl: int = -1,
                     stream: Any = None, mr: Any = None) -> Column:
    raise NotImplementedError("replace_multiple is not modelled by the simulator (gpu-exec does not call it)")


def replace_slice(input: Column, repl: Scalar | None = None, start: int = 0, stop: int = -1,
                  stream: Any = None, mr: Any = None) -> Column:
    raise NotImplementedError("replace_slice is not modelled by the simulator (gpu-exec does not call it)")

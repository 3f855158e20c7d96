"""Simulated ``pylibcudf.strings.strip`` (models pylibcudf 26.10, ``strip.pyx``; libcudf
``cpp/include/cudf/strings/detail/strip.cuh``): ``strip(input, side=BOTH, to_strip=None)``
removes, from the chosen ends, every character that is in the *set* ``to_strip``.
``to_strip=None`` becomes an empty string, which libcudf reads as "whitespace" = every code
point <= U+0020 (space, tab, newline, other ASCII controls). An invalid scalar raises
RuntimeError. NULL rows stay NULL."""

from __future__ import annotations

from typing import Any

from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.strings._common import STRING, map_strings, string_scalar
from pylibcudf.strings.side_type import SideType

__all__ = ["strip"]


def strip(input: Column, side: SideType = SideType.BOTH, to_strip: Scalar | None = None,
          stream: Any = None, mr: Any = None) -> Column:
    if isinstance(side, bool) or not isinstance(side, int):
        raise TypeError(f"side must be a SideType, not {type(side).__name__}")
    side = SideType(int(side))
    chars = "" if to_strip is None else string_scalar(to_strip, "to_strip")
    if chars:
        def is_strip(c: str) -> bool:
            return c in chars  # type: ignore[operator]
    else:
        def is_strip(c: str) -> bool:
            return ord(c) <= 0x20

    def fn(s: str) -> str:
        begin, end = 0, len(s)
        if side in (SideType.LEFT, SideType.BOTH):
            while begin < end and is_strip(s[begin]):
                begin += 1
        if side in (SideType.RIGHT, SideType.BOTH):
            while end > begin and is_strip(s[end - 1]):
                end -= 1
        return s[begin:end]

    return map_strings(input, fn, STRING)

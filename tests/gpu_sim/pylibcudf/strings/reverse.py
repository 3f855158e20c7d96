"""Simulated ``pylibcudf.strings.reverse`` (models pylibcudf 26.10): the UTF-8 characters (code points,
not grapheme clusters) of each row in reverse order; NULL rows stay NULL."""

from __future__ import annotations

from typing import Any

from pylibcudf.column import Column
from pylibcudf.strings._common import STRING, map_strings

__all__ = ["reverse"]


def reverse(input: Column, stream: Any = None, mr: Any = None) -> Column:
    return map_strings(input, lambda s: s[::-1], STRING)

"""Simulated ``pylibcudf.strings.attributes`` (models pylibcudf 26.10): per-row lengths as INT32
(``size_type``): ``count_characters`` counts UTF-8 code points, ``count_bytes`` bytes; NULL rows
stay NULL."""

from __future__ import annotations

from typing import Any

from pylibcudf.column import Column
from pylibcudf.strings._common import map_strings
from pylibcudf.types import DataType, TypeId

__all__ = ["code_points", "count_bytes", "count_characters"]

_INT32 = DataType(TypeId.INT32)


def count_characters(source_strings: Column, stream: Any = None, mr: Any = None) -> Column:
    return map_strings(source_strings, len, _INT32)


def count_bytes(source_strings: Column, stream: Any = None, mr: Any = None) -> Column:
    return map_strings(source_strings, lambda s: len(s.encode("utf-8")), _INT32)


def code_points(source_strings: Column, stream: Any = None, mr: Any = None) -> Column:
    raise NotImplementedError("code_points is not modelled by the simulator (gpu-exec does not call it)")

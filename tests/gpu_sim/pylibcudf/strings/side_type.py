"""Simulated ``pylibcudf.strings.side_type`` (models pylibcudf 26.10): ``cudf::strings::side_type``."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["SideType"]


class SideType(IntEnum):
    LEFT = 0
    RIGHT = 1
    BOTH = 2

"""Simulated ``pylibcudf.strings.regex_flags`` (models pylibcudf 26.10): the flags pylibcudf
exposes, with libcudf's bit values (``cpp/include/cudf/strings/regex/flags.hpp``)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["RegexFlags"]


class RegexFlags(IntEnum):
    DEFAULT = 0
    IGNORECASE = 2
    MULTILINE = 8
    DOTALL = 16

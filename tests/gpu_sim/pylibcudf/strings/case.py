"""Simulated ``pylibcudf.strings.case`` (models pylibcudf 26.10; libcudf ``cpp/src/strings/case.cu``).

Unicode-aware case mapping, character by character, including libcudf's multi-character special
cases (``to_upper('ß') == 'SS'``, ``to_lower('İ') == 'i̇'``). libcudf's tables cover the Basic
Multilingual Plane only: code points from U+10000 up are left unchanged, and there is no
context-sensitive rule (a final capital sigma lowers to 'σ', never 'ς')."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pylibcudf.column import Column
from pylibcudf.strings._common import STRING, map_strings

__all__ = ["swapcase", "to_lower", "to_upper"]


@lru_cache(maxsize=4096)
def _upper_char(c: str) -> str:
    return c.upper() if ord(c) < 0x10000 else c


@lru_cache(maxsize=4096)
def _lower_char(c: str) -> str:
    return c.lower() if ord(c) < 0x10000 else c


def _upper(s: str) -> str:
    return s.upper() if s.isascii() else "".join(_upper_char(c) for c in s)


def _lower(s: str) -> str:
    return s.lower() if s.isascii() else "".join(_lower_char(c) for c in s)


def to_upper(input: Column, stream: Any = None, mr: Any = None) -> Column:
    return map_strings(input, _upper, STRING)


def to_lower(input: Column, stream: Any = None, mr: Any = None) -> Column:
    return map_strings(input, _lower, STRING)


def swapcase(input: Column, stream: Any = None, mr: Any = None) -> Column:
    return map_strings(input, lambda s: "".join(
        _lower_char(c) if c.isupper() else _upper_char(c) if c.islower() else c for c in s), STRING)

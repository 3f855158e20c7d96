"""Simulated ``pylibcudf.strings.contains`` (models pylibcudf 26.10, ``contains.pyx``; libcudf
``cpp/src/strings/like.cu``, ``cpp/src/strings/contains.cu``).

- ``like(input, pattern, escape_character=None)``: SQL LIKE with ``%`` (any run of characters) and
  ``_`` (one character) only; there is **no default escape** (None means none). With an escape
  character, escape + any character matches that character literally, and an escape at the very
  end of the pattern matches itself. The whole string must match. BOOL8, NULL rows stay NULL.
- ``contains_re`` (a match anywhere), ``matches_re`` (a match at the start), ``count_re``
  (non-overlapping matches, INT32) with a ``RegexProgram``.
"""

from __future__ import annotations

import re
from typing import Any

from pylibcudf.column import Column
from pylibcudf.strings._common import map_strings
from pylibcudf.strings.regex_program import RegexProgram
from pylibcudf.types import DataType, TypeId

__all__ = ["contains_re", "count_re", "like", "matches_re"]

_BOOL8 = DataType(TypeId.BOOL8)


def _like_regex(pattern: str, escape: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape:
            literal = pattern[i + 1] if i + 1 < len(pattern) else c
            parts.append(re.escape(literal))
            i += 2
            continue
        parts.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def like(input: Column, pattern: str, escape_character: str | None = None,
         stream: Any = None, mr: Any = None) -> Column:
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str, not {type(pattern).__name__} (pylibcudf 26.10 takes no "
                        "per-row patterns here)")
    if escape_character is not None and not isinstance(escape_character, str):
        raise TypeError("escape_character must be a str or None")
    escape = escape_character or ""
    if len(escape.encode("utf-8")) > 1:
        raise NotImplementedError("a multi-byte escape character is not modelled (libcudf reads its first byte)")
    program = _like_regex(pattern, escape)
    return map_strings(input, lambda s: program.fullmatch(s) is not None, _BOOL8)


def _program(prog: Any) -> re.Pattern[str]:
    if not isinstance(prog, RegexProgram):
        raise TypeError(f"prog must be a RegexProgram, not {type(prog).__name__}")
    return prog._compiled


def contains_re(input: Column, prog: RegexProgram, stream: Any = None, mr: Any = None) -> Column:
    compiled = _program(prog)
    return map_strings(input, lambda s: compiled.search(s) is not None, _BOOL8)


def matches_re(input: Column, prog: RegexProgram, stream: Any = None, mr: Any = None) -> Column:
    compiled = _program(prog)
    return map_strings(input, lambda s: compiled.match(s) is not None, _BOOL8)


def count_re(input: Column, prog: RegexProgram, stream: Any = None, mr: Any = None) -> Column:
    compiled = _program(prog)
    return map_strings(input, lambda s: sum(1 for _ in compiled.finditer(s)), DataType(TypeId.INT32))

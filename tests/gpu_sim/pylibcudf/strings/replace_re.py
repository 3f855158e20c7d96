"""Simulated ``pylibcudf.strings.replace_re`` (models pylibcudf 26.10, ``replace_re.pyx``; libcudf
``cpp/src/strings/replace/replace_re.cu``, ``backref_re.cu``).

- ``replace_re(input, pattern, replacement, max_replace_count=-1)``: each of the first
  ``max_replace_count`` matches (-1: all) replaced by the STRING scalar ``replacement`` taken
  literally (a NULL scalar raises, as libcudf requires a valid one). NULL rows stay NULL.
- ``replace_with_backrefs(input, prog, replacement)``: every match replaced by ``replacement``
  (a str) in which ``\\N`` and ``${N}`` (N up to 99) insert capture group N and ``${0}`` the whole
  match; a group the pattern lacks raises (libcudf's ``invalid capture group`` check).

Only the pattern shapes gpu-exec sends are modelled faithfully: patterns that cannot match the
empty string (where Python's and libcudf's handling of empty matches would matter).
"""

from __future__ import annotations

import re
from typing import Any

from pylibcudf.column import Column
from pylibcudf.strings._common import STRING, map_strings, string_scalar
from pylibcudf.strings.contains import _program

__all__ = ["replace_re", "replace_with_backrefs"]

_BACKREF = re.compile(r"\\([0-9]{1,2})|\$\{([0-9]{1,2})\}")


def replace_re(input: Column, pattern: Any, replacement: Any, max_replace_count: int = -1,
               stream: Any = None, mr: Any = None) -> Column:
    compiled = _program(pattern)
    text = string_scalar(replacement, "replacement")
    assert text is not None
    if isinstance(max_replace_count, bool) or not isinstance(max_replace_count, int):
        raise TypeError("max_replace_count must be an int")
    count = 0 if max_replace_count < 0 else max_replace_count
    if max_replace_count == 0:
        return map_strings(input, lambda s: s, STRING)
    return map_strings(input, lambda s: compiled.sub(lambda _: text, s, count=count), STRING)


def replace_with_backrefs(input: Column, prog: Any, replacement: str, stream: Any = None, mr: Any = None) -> Column:
    compiled = _program(prog)
    if not isinstance(replacement, str):
        raise TypeError(f"replacement must be a str, not {type(replacement).__name__}")
    pieces: list[str | int] = []
    position = 0
    for m in _BACKREF.finditer(replacement):
        pieces.append(replacement[position:m.start()])
        group = int(m.group(1) or m.group(2))
        if group > compiled.groups:
            raise RuntimeError(f"Group index numbers must be less than the number of groups: {group}")
        pieces.append(group)
        position = m.end()
    pieces.append(replacement[position:])

    def expand(m: re.Match[str]) -> str:
        return "".join(m.group(p) or "" if isinstance(p, int) else p for p in pieces)

    return map_strings(input, lambda s: compiled.sub(expand, s), STRING)

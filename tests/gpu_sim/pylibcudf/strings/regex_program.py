"""Simulated ``pylibcudf.strings.regex_program`` (models pylibcudf 26.10): ``RegexProgram.create``
compiles a pattern with ``RegexFlags``. libcudf's regex dialect is close to Python's ``re`` for
the constructs gpu-exec uses (classes, anchors — ``$`` also matches before a final newline, as
libcudf documents —, quantifiers, groups). A pattern that does not compile raises RuntimeError, as libcudf's
``invalid regex pattern`` logic_error surfaces in pylibcudf."""

from __future__ import annotations

import re
import warnings
from typing import Any

from pylibcudf.strings.regex_flags import RegexFlags

__all__ = ["RegexProgram"]


class RegexProgram:
    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self) -> None:
        raise ValueError("Do not instantiate RegexProgram directly, use create")

    @staticmethod
    def create(pattern: str, flags: Any) -> RegexProgram:
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be a str, not {type(pattern).__name__}")
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise TypeError(f"flags must be RegexFlags, not {type(flags).__name__}")
        value = int(flags)
        known = RegexFlags.IGNORECASE | RegexFlags.MULTILINE | RegexFlags.DOTALL
        if value & ~known:
            raise NotImplementedError(f"regex flags {value:#x} are not modelled by the simulator")
        py_flags = 0
        if value & RegexFlags.IGNORECASE:
            py_flags |= re.IGNORECASE
        if value & RegexFlags.MULTILINE:
            py_flags |= re.MULTILINE
        if value & RegexFlags.DOTALL:
            py_flags |= re.DOTALL
        if re.search(r"(?<!\\)\(\?(?!:)", pattern):
            # libcudf has groups and non-capturing groups only: no lookaround, named groups or
            # inline flags (its parser rejects '(?' before anything but ':').
            raise RuntimeError(f"invalid regex pattern {pattern!r}: only (?: groups are supported")
        try:
            with warnings.catch_warnings():
                # A '[' inside a class is a literal for libcudf (and, for now, Python).
                warnings.simplefilter("ignore", FutureWarning)
                compiled = re.compile(pattern, py_flags)
        except re.error as exc:
            raise RuntimeError(f"invalid regex pattern {pattern!r}: {exc}") from None
        program = object.__new__(RegexProgram)
        program._pattern, program._flags, program._compiled = pattern, value, compiled
        return program

    def pattern(self) -> str:
        return self._pattern

    def flags(self) -> int:
        return self._flags

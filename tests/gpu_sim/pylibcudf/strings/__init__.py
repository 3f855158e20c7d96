"""Simulated ``pylibcudf.strings`` (models pylibcudf 26.10): the string submodules gpu-exec calls,
and ``SideType`` re-exported from ``side_type`` as the real package does."""

from __future__ import annotations

from pylibcudf.strings import (
    attributes,
    case,
    combine,
    contains,
    convert,
    find,
    regex_flags,
    regex_program,
    repeat,
    replace,
    replace_re,
    reverse,
    side_type,
    slice,
    strip,
)
from pylibcudf.strings.side_type import SideType

__all__ = ["SideType", "attributes", "case", "combine", "contains", "convert", "find", "regex_flags",
           "regex_program", "repeat", "replace", "replace_re", "reverse", "side_type", "slice", "strip"]

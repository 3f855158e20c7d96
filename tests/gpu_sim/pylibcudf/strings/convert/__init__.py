"""Simulated ``pylibcudf.strings.convert`` (models pylibcudf 26.10): the converters gpu-exec calls."""

from __future__ import annotations

from pylibcudf.strings.convert import (
    convert_booleans,
    convert_datetime,
    convert_fixed_point,
    convert_integers,
)

__all__ = ["convert_booleans", "convert_datetime", "convert_fixed_point", "convert_integers"]

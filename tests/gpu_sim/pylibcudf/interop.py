"""Simulated ``pylibcudf.interop`` (models 26.10): only ``ColumnMetadata`` — conversions are the
``from_arrow`` / ``to_arrow`` methods of Table, Column, Scalar and DataType."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ColumnMetadata"]


@dataclass
class ColumnMetadata:
    name: str = ""
    timezone: str = ""
    precision: int | None = None
    children_meta: list[ColumnMetadata] = field(default_factory=list)

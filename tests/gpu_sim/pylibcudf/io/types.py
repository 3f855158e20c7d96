"""Simulated ``pylibcudf.io.types`` (pylibcudf 26.10): sources and sinks (file paths and byte
buffers; a missing file is a FileNotFoundError at construction, as ``types.pyx``), the compression
and statistics enums, ``TableInputMetadata`` / ``ColumnInMetadata`` (writer names, nullability,
decimal precision) and ``TableWithMetadata`` (a read table and its column names)."""

from __future__ import annotations

import errno
import io
import os
from enum import IntEnum
from typing import Any, Sequence

from pylibcudf.table import Table

__all__ = ["CompressionType", "StatisticsFreq", "DictionaryPolicy", "SourceInfo", "SinkInfo",
           "TableInputMetadata", "ColumnInMetadata", "TableWithMetadata"]


class CompressionType(IntEnum):
    NONE = 0
    AUTO = 1
    SNAPPY = 2
    GZIP = 3
    BZIP2 = 4
    BROTLI = 5
    ZIP = 6
    XZ = 7
    ZLIB = 8
    LZ4 = 9
    LZO = 10
    ZSTD = 11


class StatisticsFreq(IntEnum):
    STATISTICS_NONE = 0
    STATISTICS_ROWGROUP = 1
    STATISTICS_PAGE = 2
    STATISTICS_COLUMN = 3


class DictionaryPolicy(IntEnum):
    NEVER = 0
    ADAPTIVE = 1
    ALWAYS = 2


class SourceInfo:
    """Where a reader reads: file paths (each must exist) or in-memory bytes / BytesIO."""

    def __init__(self, sources: Sequence[Any]) -> None:
        sources = list(sources)
        if sources and isinstance(sources[0], (str, os.PathLike)):
            for src in sources:
                if not isinstance(src, (str, os.PathLike)):
                    raise ValueError("All sources must be of the same type!")
                if not os.path.isfile(src):
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), src)
            self._sources: list[Any] = [os.fspath(s) for s in sources]
        elif sources and isinstance(sources[0], (bytes, io.BytesIO)):
            kind = type(sources[0])
            if not all(isinstance(s, kind) for s in sources):
                raise ValueError("All sources must be of the same type!")
            self._sources = [io.BytesIO(s) if isinstance(s, bytes) else io.BytesIO(s.getvalue()) for s in sources]
        elif sources:
            raise NotImplementedError(f"the simulator reads paths and bytes, not {type(sources[0]).__name__}")
        else:
            self._sources = []


class SinkInfo:
    """Where a writer writes: file paths or BytesIO buffers."""

    def __init__(self, sinks: Sequence[Any]) -> None:
        sinks = list(sinks)
        if not sinks:
            raise ValueError("Need to pass at least one sink")
        if not (all(isinstance(s, (str, os.PathLike)) for s in sinks) or all(isinstance(s, io.BytesIO) for s in sinks)):
            raise ValueError("All sinks must be of the same type (paths or BytesIO, in the simulator)")
        self._sinks: list[Any] = [os.fspath(s) if isinstance(s, (str, os.PathLike)) else s for s in sinks]


class ColumnInMetadata:
    """Writer options of one column; the setters return ``self`` for chaining."""

    def __init__(self, num_children: int = 0) -> None:
        self._name = ""
        self._nullable: bool | None = None
        self._precision: int | None = None
        self._children = [ColumnInMetadata() for _ in range(num_children)]

    def set_name(self, name: str) -> ColumnInMetadata:
        self._name = str(name)
        return self

    def set_nullability(self, nullable: bool) -> ColumnInMetadata:
        self._nullable = bool(nullable)
        return self

    def set_decimal_precision(self, precision: int) -> ColumnInMetadata:
        self._precision = int(precision)
        return self

    def child(self, i: int) -> ColumnInMetadata:
        return self._children[i]

    def get_name(self) -> str:
        return self._name


class TableInputMetadata:
    def __init__(self, table: Table) -> None:
        if not isinstance(table, Table):
            raise TypeError(f"TableInputMetadata takes a Table, not {type(table).__name__}")
        self.column_metadata = [ColumnInMetadata() for _ in table.columns()]


class TableWithMetadata:
    """A table read by an IO reader (``tbl``) and its column names."""

    def __init__(self, tbl: Table, column_names: list[Any], num_rows_per_source: list[int] | None = None) -> None:
        self.tbl = tbl
        self._names = [n if isinstance(n, str) else n[0] for n in column_names]
        self._num_rows_per_source = list(num_rows_per_source or [])

    @property
    def columns(self) -> tuple[Any, ...]:
        return tuple(self.tbl.columns())

    def column_names(self, include_children: bool = False) -> list[Any]:
        if include_children:
            return [(name, []) for name in self._names]
        return list(self._names)

    @property
    def child_names(self) -> dict[str, dict[str, Any]]:
        return {name: {} for name in self._names}

    @property
    def num_rows_per_source(self) -> list[int]:
        return list(self._num_rows_per_source)

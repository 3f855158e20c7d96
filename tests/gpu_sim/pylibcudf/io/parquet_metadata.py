"""Simulated ``pylibcudf.io.parquet_metadata`` (pylibcudf 26.10): ``read_parquet_footers`` →
one ``FileMetaData`` per source (row counts per row group, the footer's row count, the writer),
read with pyarrow from the files' footers."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from pylibcudf.io.types import SourceInfo

__all__ = ["FileMetaData", "RowGroup", "read_parquet_footers"]


class RowGroup:
    def __init__(self, meta: Any) -> None:
        self._meta = meta

    @property
    def num_rows(self) -> int:
        return int(self._meta.num_rows)

    @property
    def total_byte_size(self) -> int:
        return int(self._meta.total_byte_size)


class FileMetaData:
    """A Parquet footer."""

    def __init__(self) -> None:
        raise TypeError("FileMetaData comes from read_parquet_footers")

    @classmethod
    def _of(cls, meta: Any) -> FileMetaData:
        footer = object.__new__(cls)
        footer._meta = meta
        return footer

    @property
    def version(self) -> int:
        return 2 if str(self._meta.format_version).startswith("2") else 1

    @property
    def num_rows(self) -> int:
        return int(self._meta.num_rows)

    @property
    def created_by(self) -> str:
        return str(self._meta.created_by)

    @property
    def row_groups(self) -> list[RowGroup]:
        return [RowGroup(self._meta.row_group(i)) for i in range(self._meta.num_row_groups)]

    @property
    def row_group_num_rows(self) -> list[int]:
        return [int(self._meta.row_group(i).num_rows) for i in range(self._meta.num_row_groups)]


def read_parquet_footers(src_info: SourceInfo) -> list[FileMetaData]:
    if not isinstance(src_info, SourceInfo):
        raise TypeError(f"read_parquet_footers takes a SourceInfo, not {type(src_info).__name__}")
    footers = []
    for source in src_info._sources:
        if hasattr(source, "seek"):
            source.seek(0)
        try:
            footers.append(FileMetaData._of(pq.ParquetFile(source).metadata))
        except Exception as exc:  # pyarrow's ArrowInvalid etc.: libcudf raises a logic_error
            raise RuntimeError(f"cannot read the Parquet footer: {exc}") from exc
    return footers

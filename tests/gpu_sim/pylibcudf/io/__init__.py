"""Simulated ``pylibcudf.io`` (pylibcudf 26.10): Parquet reading and writing (``parquet``,
``parquet_metadata``) on pyarrow, with libcudf's types and options; ``SourceInfo``/``SinkInfo``
and the option types in ``types``. Other formats (CSV, JSON, ORC, Avro) are not modelled: gpu-exec
reads and writes them on the host."""

from __future__ import annotations

from pylibcudf.io import parquet, parquet_metadata, types
from pylibcudf.io.parquet_metadata import FileMetaData
from pylibcudf.io.types import SinkInfo, SourceInfo, TableWithMetadata

__all__ = ["FileMetaData", "SinkInfo", "SourceInfo", "TableWithMetadata", "parquet", "parquet_metadata", "types"]

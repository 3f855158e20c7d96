"""write_file: a backend's table written as Parquet or CSV reads back with the same columns and values."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from planner.ir import FileFormat

TABLE = pa.table({
    "id": pa.array([1, 2, None, 4], pa.int64()),
    "small": pa.array([1, -2, 3, None], pa.int32()),
    "name": pa.array(["a", None, "ccc", "d,e"], pa.string()),
    "price": pa.array([Decimal("1.25"), Decimal("-3.50"), None, Decimal("1234567.89")], pa.decimal128(12, 2)),
    "ratio": pa.array([0.5, None, -1.25, 3.0], pa.float64()),
    "flag": pa.array([True, False, None, True], pa.bool_()),
    "day": pa.array([datetime.date(2024, 1, 1), None, datetime.date(1999, 12, 31), datetime.date(2000, 2, 29)],
                    pa.date32()),
})


@pytest.mark.parametrize("file_format", [
    FileFormat("parquet"),
    FileFormat("parquet", compression="zstd", row_group_size=2),
    FileFormat("parquet", compression="none"),
], ids=["default", "zstd-row-groups", "uncompressed"])
def test_write_parquet_reads_back_exactly(kernels: Any, tmp_path: Path, file_format: FileFormat) -> None:
    path = tmp_path / "t.parquet"
    kernels.write_file(kernels.from_arrow(TABLE), TABLE.schema, str(path), file_format)
    written = pq.read_table(path)
    assert written.schema.remove_metadata() == TABLE.schema
    assert written.to_pylist() == TABLE.to_pylist()
    if file_format.row_group_size is not None:
        assert pq.ParquetFile(path).metadata.num_row_groups == 2
    if file_format.compression == "zstd":
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_write_empty_parquet_keeps_the_schema(kernels: Any, tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    kernels.write_file(kernels.empty(TABLE.schema), TABLE.schema, str(path), FileFormat("parquet"))
    written = pq.read_table(path)
    assert written.num_rows == 0 and written.schema.remove_metadata() == TABLE.schema


@pytest.mark.parametrize(("has_header", "delimiter"), [(True, ","), (False, "|")])
def test_write_csv_reads_back_with_the_types(kernels: Any, tmp_path: Path, has_header: bool, delimiter: str) -> None:
    path = tmp_path / "t.csv"
    kernels.write_file(kernels.from_arrow(TABLE), TABLE.schema, str(path),
                       FileFormat("csv", has_header=has_header, delimiter=delimiter))
    read = pacsv.ReadOptions(column_names=None if has_header else TABLE.schema.names)
    convert = pacsv.ConvertOptions(column_types=TABLE.schema, strings_can_be_null=True)
    written = pacsv.read_csv(path, read_options=read, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                             convert_options=convert)
    assert written.column_names == TABLE.column_names
    assert written.to_pylist() == TABLE.to_pylist()

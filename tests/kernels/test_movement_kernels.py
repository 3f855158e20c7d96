"""I/O and movement kernels: read_parquet, to/from Arrow, make_table, concat, slice, literals."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import CatalogError
from planner.expr import Literal

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("name", pa.string()),
        pa.field("price", pa.decimal128(15, 2)),
        pa.field("day", pa.date32()),
    ]
)


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    n = 1000
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "name": pa.array([None if i % 10 == 0 else f"n{i % 13}" for i in range(n)]).dictionary_encode(),
            "price": pa.array([Decimal(i) / 4 for i in range(n)], pa.decimal128(15, 2)),
            "day": pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 300) for i in range(n)]),
            "extra": pa.array([1.5] * n),
        }
    )
    path = tmp_path_factory.mktemp("pq") / "t.parquet"
    pq.write_table(table, path, row_group_size=250)
    return str(path)


def test_read_parquet_row_groups_in_column_order_with_the_planned_types(
    kernels: Any, io: Any, parquet_file: str
) -> None:
    schema = pa.schema([SCHEMA.field("price"), SCHEMA.field("name"), SCHEMA.field("id")])
    t = kernels.read_parquet(parquet_file, ["price", "name", "id"], [3, 1], schema)
    rows = io.rows(t, schema)
    assert len(rows) == 500
    assert [r[2] for r in rows] == list(range(750, 1000)) + list(range(250, 500))
    assert rows[0] == (Decimal("187.50"), None, 750)
    assert rows[1][1] == "n10"  # 751 % 13


def test_read_parquet_all_row_groups_and_no_columns(kernels: Any, io: Any, parquet_file: str) -> None:
    t = kernels.read_parquet(parquet_file, ["day"], None, pa.schema([SCHEMA.field("day")]))
    assert kernels.num_rows(t) == 1000
    empty_schema = pa.schema([])
    t = kernels.read_parquet(parquet_file, [], [0, 2], empty_schema)
    assert kernels.num_rows(t) == 500  # COUNT(*) reads no column but needs the row count


@pytest.mark.parametrize(
    "content", [b"not a parquet file at all", b"PAR1" + b"\0" * 64 + b"PAR1"], ids=["garbage", "corrupt"]
)
def test_read_parquet_of_a_bad_file_raises_catalog_error_naming_it(
    kernels: Any, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match="bad.parquet"):
        kernels.read_parquet(str(path), ["id"], None, pa.schema([SCHEMA.field("id")]))


def test_read_parquet_of_a_missing_file_raises_catalog_error(kernels: Any, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="gone.parquet"):
        kernels.read_parquet(str(tmp_path / "gone.parquet"), ["id"], None, pa.schema([SCHEMA.field("id")]))


def sample() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, None], pa.int64()),
            "name": pa.array(["a", None, "c"]),
            "price": pa.array([Decimal("1.50"), None, Decimal("-2.25")], pa.decimal128(15, 2)),
            "day": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1969, 12, 31)]),
        },
        schema=SCHEMA,
    )


def test_arrow_round_trip_keeps_values_types_and_names(kernels: Any) -> None:
    t = sample()
    back = kernels.to_arrow(kernels.from_arrow(t), SCHEMA)
    assert back.schema == SCHEMA
    assert back.to_pylist() == t.to_pylist()


def test_to_arrow_names_columns_by_the_schema(kernels: Any) -> None:
    renamed = pa.schema([pa.field(f"c{i}", f.type) for i, f in enumerate(SCHEMA)])
    back = kernels.to_arrow(kernels.from_arrow(sample()), renamed)
    assert back.schema == renamed


def test_column_and_make_table(kernels: Any, io: Any) -> None:
    t = kernels.from_arrow(sample())
    assert kernels.num_rows(t) == 3
    picked = kernels.make_table(
        [kernels.column(t, 2), kernels.column(t, 0)],
        pa.schema([SCHEMA.field("price"), SCHEMA.field("id")]),
        3,
    )
    assert io.rows(picked, pa.schema([SCHEMA.field("price"), SCHEMA.field("id")])) == [
        (Decimal("1.50"), 1),
        (None, 2),
        (Decimal("-2.25"), None),
    ]


def test_make_table_without_columns_keeps_its_row_count(kernels: Any, io: Any) -> None:
    t = kernels.make_table([], pa.schema([]), 5)
    assert kernels.num_rows(t) == 5
    assert kernels.num_rows(kernels.slice(t, 1, 3)) == 3
    assert kernels.num_rows(kernels.concat([t, t], pa.schema([]))) == 10


def test_concat_slice_empty(kernels: Any, io: Any) -> None:
    t = kernels.from_arrow(sample())
    both = kernels.concat([t, kernels.slice(t, 1, 2)], SCHEMA)
    assert [r[0] for r in io.rows(both, SCHEMA)] == [1, 2, None, 2, None]
    assert kernels.num_rows(kernels.concat([], SCHEMA)) == 0
    assert io.rows(kernels.concat([], SCHEMA), SCHEMA) == []
    empty = kernels.empty(SCHEMA)
    assert kernels.num_rows(empty) == 0
    assert kernels.to_arrow(empty, SCHEMA).schema == SCHEMA
    assert kernels.num_rows(kernels.slice(t, 3, 0)) == 0


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (7, pa.int32()),
        (None, pa.int64()),
        ("x", pa.string()),
        (None, pa.string()),
        (Decimal("1.5"), pa.decimal128(10, 2)),
        (datetime.date(2024, 1, 31), pa.date32()),
        (True, pa.bool_()),
        (2.5, pa.float64()),
    ],
)
def test_literal_column(kernels: Any, io: Any, value: Any, dtype: pa.DataType) -> None:
    col = kernels.literal_column(Literal(value, dtype), 3)
    expected = Decimal("1.50") if isinstance(value, Decimal) else value
    assert io.values(col, dtype) == [expected] * 3
    assert io.values(kernels.literal_column(Literal(value, dtype), 0), dtype) == []

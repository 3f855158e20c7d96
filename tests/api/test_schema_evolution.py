"""A table whose later Parquet files added columns reads as DataFusion reads it: the columns of
all its files, NULL in the rows of files without them; pruning and declared schemas still work."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import CatalogError


@pytest.fixture(scope="module")
def evolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Three files of one table: the second adds ``c``, the third lacks ``b`` and has ``c`` first."""
    root = Path(tmp_path_factory.mktemp("evolution")) / "events"
    root.mkdir()
    pq.write_table(pa.table({"a": pa.array(range(0, 300), pa.int64()), "b": [f"x{i % 7}" for i in range(300)]}),
                   root / "part-0.parquet", row_group_size=100)
    pq.write_table(pa.table({"a": pa.array(range(300, 500), pa.int64()), "b": ["y"] * 200,
                             "c": pa.array([i / 4 for i in range(200)])}), root / "part-1.parquet", row_group_size=100)
    pq.write_table(pa.table({"c": pa.array([9.5, None, 7.25]), "a": pa.array([500, 501, 502], pa.int64())}),
                   root / "part-2.parquet")
    return {"events": str(root)}


@pytest.mark.parametrize("sql", [
    "select * from events order by a",
    "select count(*), count(b), count(c), sum(c) from events",
    "select b, count(*) as n, max(c) from events group by b",
    "select a, c from events where c > 40 order by a",
    "select a from events where b is null order by a",
    "select a, b from events where a between 290 and 310 order by a",
])
def test_files_with_added_columns_read_as_datafusion_reads_them(
        sql: str, evolved: dict[str, str], assert_matches_datafusion: Callable[..., Any]) -> None:
    assert_matches_datafusion(sql, evolved, partitions=2)


def test_a_declared_schema_picks_columns_some_files_lack(evolved: dict[str, str],
                                                        connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests()
    session.register_parquet("picked", evolved["events"], schema=pa.schema([("c", pa.float64()), ("a", pa.int64())]))
    rows = session.sql("select c, a from picked where a >= 499 order by a").to_arrow().to_pylist()
    assert rows == [{"c": 49.75, "a": 499}, {"c": 9.5, "a": 500}, {"c": None, "a": 501}, {"c": 7.25, "a": 502}]
    assert session.sql("select count(*) as n from picked where c is null").to_arrow().to_pylist() == [{"n": 301}]


def test_a_column_whose_type_differs_between_files_is_refused(tmp_path: Path,
                                                             connect_for_tests: Callable[..., Any]) -> None:
    pq.write_table(pa.table({"a": pa.array([1], pa.int64())}), tmp_path / "part-0.parquet")
    pq.write_table(pa.table({"a": ["one"]}), tmp_path / "part-1.parquet")
    with pytest.raises(CatalogError, match="column 'a' is string in .* but int64 .* needs one type"):
        connect_for_tests().register_parquet("mixed", str(tmp_path))

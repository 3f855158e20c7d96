"""INSERT INTO a table of Parquet files in a directory: new files beside the old ones, the rows
as DataFusion would have them; what cannot be inserted into is refused before anything is written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import SQLError, UnsupportedSQLError


@pytest.fixture()
def session(tmp_path: Path, connect_for_tests: Callable[..., Any]) -> Any:
    (tmp_path / "t").mkdir()
    pq.write_table(pa.table({"a": pa.array([1, 2], pa.int64()), "b": ["x", "y"]}), tmp_path / "t" / "part-0.parquet")
    pq.write_table(pa.table({"a": pa.array([7], pa.int64()), "b": ["w"]}), tmp_path / "single.parquet")
    s = connect_for_tests(warehouse=str(tmp_path / "warehouse"))
    s.sql(f"create external table t stored as parquet location '{tmp_path / 't'}'")
    s.sql(f"create external table single stored as parquet location '{tmp_path / 'single.parquet'}'")
    return s


def _rows(session: Any, sql: str) -> list[dict[str, Any]]:
    return session.sql(sql).to_arrow().to_pylist()


def test_insert_values_and_select_add_files_and_rows(session: Any, tmp_path: Path) -> None:
    assert _rows(session, "insert into t values (3, 'z'), (4, null)") == [{"count": 2}]
    assert _rows(session, "insert into t select a + 10, upper(b) from t where a > 1") == [{"count": 3}]
    assert _rows(session, "select a, b from t order by a") == [
        {"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}, {"a": 4, "b": None},
        {"a": 12, "b": "Y"}, {"a": 13, "b": "Z"}, {"a": 14, "b": None}]
    files = sorted(os.listdir(tmp_path / "t"))
    assert "part-0.parquet" in files and len(files) >= 3  # the old file kept, new ones beside it
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no staging left behind


def test_insert_into_a_table_made_by_create_table_as(session: Any) -> None:
    session.sql("create table squares as select a, a * a as sq from t")
    assert _rows(session, "insert into squares (a, sq) values (5, 25)") == [{"count": 1}]
    assert _rows(session, "select sum(sq) as s from squares") == [{"s": 1 + 4 + 25}]


def test_what_cannot_be_inserted_is_refused_before_writing(session: Any, tmp_path: Path) -> None:
    before = sorted(os.listdir(tmp_path / "t"))
    with pytest.raises(UnsupportedSQLError, match="only tables of Parquet files in a directory"):
        session.sql("insert into single values (8, 'v')")
    with pytest.raises(SQLError, match="Cannot cast string 'q'"):
        session.sql("insert into t values ('q', 'r')")
    with pytest.raises(UnsupportedSQLError, match="Delete.*no UPDATE or DELETE"):
        session.sql("delete from t where a = 1")
    assert sorted(os.listdir(tmp_path / "t")) == before
    assert _rows(session, "select count(*) as n from t") == [{"n": 2}]

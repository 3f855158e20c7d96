"""User errors: each raises the right GpuExecError naming its cause, and the session survives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import CatalogError, GpuExecError, SQLError

GOOD_QUERY = "select count(*) as n from items"


def assert_still_answers(session: Any) -> None:
    """The session that just raised still runs a good query."""
    result = session.sql(GOOD_QUERY).to_arrow()
    assert result.column("n").to_pylist() == [1000]


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELEC id FROM items", "SELEC"),  # misspelt keyword
        ("select id fromm items", "items"),  # unexpected token
        ("select id from items where", "EOF"),  # statement cut short
    ],
    ids=["keyword", "token", "truncated"],
)
def test_malformed_sql_raises_sql_error_naming_the_problem(
    sample_session: Any, sql: str, named: str
) -> None:
    with pytest.raises(SQLError) as caught:
        sample_session.sql(sql).to_arrow()
    assert named.lower() in str(caught.value).lower()
    assert_still_answers(sample_session)


def test_unknown_table_names_the_table(sample_session: Any) -> None:
    with pytest.raises((CatalogError, SQLError)) as caught:
        sample_session.sql("select * from no_such_table").to_arrow()
    assert "no_such_table" in str(caught.value)
    assert_still_answers(sample_session)


def test_unknown_column_names_the_column(sample_session: Any) -> None:
    with pytest.raises(SQLError) as caught:
        sample_session.sql("select no_such_column from items").to_arrow()
    assert "no_such_column" in str(caught.value)
    assert_still_answers(sample_session)


@pytest.mark.parametrize(
    ("register", "name"),
    [("register_parquet", "missing.parquet"), ("register_parquet", "missing_dir"),
     ("register_csv", "missing.csv")],
)
def test_registering_a_missing_path_names_it(
    sample_session: Any, tmp_path: Path, register: str, name: str
) -> None:
    path = tmp_path / name
    with pytest.raises(CatalogError) as caught:
        getattr(sample_session, register)("t", str(path))
    assert str(path) in str(caught.value)
    assert_still_answers(sample_session)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a parquet file\n" * 100)


def _truncated(path: Path) -> None:
    _write_real_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the footer (and its magic bytes) is gone


def _corrupt_pages(path: Path) -> None:
    # The footer is intact, so the file registers; its first pages are overwritten, so reading
    # the data fails ("Deserializing page header failed") and the error must come at query time.
    _write_real_parquet(path)
    data = bytearray(path.read_bytes())
    for i in range(4, 2004):
        data[i] = (i * 7919) % 256
    path.write_bytes(bytes(data))


def _write_real_parquet(path: Path) -> None:
    n = 10_000
    pq.write_table(pa.table({"a": list(range(n)), "s": [f"v{i}" for i in range(n)]}), path)


@pytest.mark.parametrize("corrupt", [_garbage, _truncated, _corrupt_pages],
                         ids=["garbage", "truncated", "corrupt-pages"])
def test_corrupt_parquet_raises_catalog_error_naming_the_file(
    sample_session: Any, tmp_path: Path, corrupt: Callable[[Path], None]
) -> None:
    path = tmp_path / "x.parquet"
    corrupt(path)
    with pytest.raises(CatalogError) as caught:
        # at registration, or else when the query reads the file
        sample_session.register_parquet("x", str(path))
        sample_session.sql("select sum(a), max(s) from x").to_arrow()
    assert "x.parquet" in str(caught.value)
    assert_still_answers(sample_session)


def test_errors_are_gpu_exec_errors_exported_by_the_package() -> None:
    import gpu_exec

    for name in ("SQLError", "CatalogError", "UnsupportedSQLError", "ExecutionError"):
        assert issubclass(getattr(gpu_exec, name), GpuExecError)

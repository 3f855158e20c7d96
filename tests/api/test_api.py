"""The public Python API: connect, register, sql, results, explain, views, partitions."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any, Callable

import pyarrow as pa
import pytest

from planner.errors import CatalogError, SQLError

# Every operator line of explain() ends with where it runs.
PLACEMENT_LINE = re.compile(r" @(gpu|cpu)(: \S.*)?$")

QUERY = """
select grp, count(*) as n, sum(price) as total, avg(qty) as mean_qty, min(day) as first_day
from items where id % 3 <> 0 group by grp order by grp
"""


def test_sql_to_arrow_returns_typed_values(sample_session: Any) -> None:
    result = sample_session.sql(
        "select id, grp, price, qty, day from items where id in (1, 50) order by id"
    ).to_arrow()
    assert isinstance(result, pa.Table)
    assert result.column_names == ["id", "grp", "price", "qty", "day"]
    assert result.schema.field("grp").type == pa.string()
    assert result.schema.field("price").type == pa.decimal128(12, 2)
    assert result.to_pylist() == [
        {"id": 1, "grp": "g1", "price": Decimal("0.25"), "qty": 0.5,
         "day": datetime.date(2024, 1, 2)},
        {"id": 50, "grp": "g1", "price": Decimal("12.50"), "qty": None,
         "day": datetime.date(2024, 2, 20)},
    ]


def test_schema_is_known_before_running(sample_session: Any) -> None:
    df = sample_session.sql(QUERY)
    assert isinstance(df.schema, pa.Schema)
    assert df.schema.names == ["grp", "n", "total", "mean_qty", "first_day"]
    assert df.to_arrow().schema.names == df.schema.names
    assert [f.type for f in df.to_arrow().schema] == [f.type for f in df.schema]


def test_to_pandas(sample_session: Any) -> None:
    frame = sample_session.sql(QUERY).to_pandas()
    assert list(frame.columns) == ["grp", "n", "total", "mean_qty", "first_day"]
    assert frame["grp"].tolist() == [f"g{i}" for i in range(7)]
    assert int(frame["n"].sum()) == 666  # ids 0..999 not divisible by 3


def test_register_csv(sample_session: Any) -> None:
    result = sample_session.sql(
        "select count(*) as n, max(grp) as g from items_csv where qty is null"
    ).to_arrow()
    assert result.to_pylist() == [{"n": 20, "g": "g6"}]


def test_register_a_directory_of_parquet_files(
    tmp_path: Any, sample_tables: dict[str, str], connect_for_tests: Callable[..., Any]
) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(sample_tables["items"])
    folder = tmp_path / "items_dir"
    folder.mkdir()
    pq.write_table(table.slice(0, 400), folder / "part-0.parquet")
    pq.write_table(table.slice(400), folder / "part-1.parquet")
    session = connect_for_tests(2)
    try:
        session.register_parquet("items", str(folder))
        result = session.sql("select count(*) as n, sum(id) as s from items").to_arrow()
        assert result.to_pylist() == [{"n": 1000, "s": 499500}]
    finally:
        session.close()


def test_register_parquet_files_by_glob(tmp_path: Any, sample_tables: dict[str, str],
                                        connect_for_tests: Callable[..., Any]) -> None:
    import pyarrow.parquet as pq

    from planner.errors import CatalogError

    table = pq.read_table(sample_tables["items"])
    (tmp_path / "2024").mkdir()
    pq.write_table(table.slice(0, 300), tmp_path / "2024" / "part-0.parquet")
    pq.write_table(table.slice(300, 300), tmp_path / "part-1.parquet")
    pq.write_table(table.slice(600), tmp_path / "other.parquet")
    session = connect_for_tests(2)
    try:
        session.register_parquet("parts", str(tmp_path / "part-*.parquet"))
        assert session.sql("select count(*) as n from parts").to_arrow().to_pylist() == [{"n": 300}]
        session.register_parquet("all_parts", str(tmp_path / "**" / "part-*.parquet"))
        result = session.sql("select count(*) as n, sum(id) as s from all_parts").to_arrow()
        assert result.to_pylist() == [{"n": 600, "s": sum(range(600))}]
        with pytest.raises(CatalogError, match="no file matches"):
            session.register_parquet("none", str(tmp_path / "nothing-*.parquet"))
    finally:
        session.close()


def test_explain_marks_every_operator_with_its_device(sample_session: Any) -> None:
    df = sample_session.sql(QUERY)
    for device in (None, "cpu", "gpu"):  # the session's own device (the test device), then each
        plan = df.explain() if device is None else df.explain(device=device)
        lines = [line for line in plan.splitlines() if line.strip()]
        assert lines, "explain() returned no operator lines"
        for line in lines:
            assert PLACEMENT_LINE.search(line), f"no ' @gpu' / ' @cpu[: reason]' at the end of {line!r}"
    # Placed for the CPU, no operator is on the GPU.
    assert not any(line.endswith(" @gpu") for line in df.explain(device="cpu").splitlines())


def test_create_and_drop_view(sample_session: Any) -> None:
    created = sample_session.sql("create view cheap as select id, grp from items where price < 1")
    assert created.to_arrow().num_rows == 0
    result = sample_session.sql("select count(*) as n from cheap").to_arrow()
    assert result.to_pylist() == [{"n": 44}]  # id % 97 in 0..3, for ids 0..999
    assert sample_session.sql("drop view cheap").to_arrow().num_rows == 0
    with pytest.raises((CatalogError, SQLError), match="cheap"):
        sample_session.sql("select * from cheap").to_arrow()


@pytest.mark.parametrize("partitions", [1, 4])
def test_partitions_give_the_same_answer_as_datafusion(
    partitions: int,
    sample_tables: dict[str, str],
    assert_matches_datafusion: Callable[..., pa.Table],
) -> None:
    assert_matches_datafusion(QUERY, sample_tables, partitions=partitions)


def test_partitions_1_and_4_agree(sample_tables: dict[str, str],
                                  connect_for_tests: Callable[..., Any]) -> None:
    from gpu_exec.testing.compare import compare_tables

    sql = ("select a.grp, count(*) as pairs, sum(b.qty) as qty from items a join items b "
           "on a.id = b.id + 1 group by a.grp")
    results = []
    for partitions in (1, 4):
        session = connect_for_tests(partitions, sample_tables)
        try:
            results.append(session.sql(sql).to_arrow())
        finally:
            session.close()
    assert results[0].num_rows == 7
    assert compare_tables(results[1], results[0], ordered=False) == []

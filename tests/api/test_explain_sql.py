"""EXPLAIN [ANALYZE] [VERBOSE] as SQL: plans as result rows (plan_type, plan), with the metrics of
a run for ANALYZE — pruned row groups, bytes read, dynamic filters, per-operator rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import UnsupportedSQLError


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fact table sorted by its key in 10 row groups of 100 rows, and a small dimension."""
    root = Path(tmp_path_factory.mktemp("explain"))
    fact = pa.table({"k": pa.array(range(1000), pa.int64()), "v": pa.array([i % 7 for i in range(1000)], pa.int64())})
    pq.write_table(fact, root / "fact.parquet", row_group_size=100)
    dim = pa.table({"dk": pa.array([110, 120, 130], pa.int64()), "name": ["a", "b", "c"]})
    pq.write_table(dim, root / "dim.parquet")
    return {"fact": str(root / "fact.parquet"), "dim": str(root / "dim.parquet")}


@pytest.fixture()
def session(tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> Any:
    return connect_for_tests(tables=tables)


def _plans(session: Any, sql: str) -> dict[str, str]:
    table = session.sql(sql).to_arrow()
    assert table.schema.names == ["plan_type", "plan"]
    return dict(zip(table.column("plan_type").to_pylist(), table.column("plan").to_pylist()))


def test_explain_answers_the_logical_and_physical_plans(session: Any) -> None:
    query = "select v, count(*) from fact where k < 250 group by v"
    plans = _plans(session, f"EXPLAIN {query}")
    assert list(plans) == ["logical_plan", "physical_plan"]
    assert plans["physical_plan"] == session.sql(query).explain()
    assert "Aggregate: groupBy=[[fact.v]]" in plans["logical_plan"]


def test_explain_verbose_adds_the_initial_plan_and_the_gpu_placement(session: Any) -> None:
    plans = _plans(session, "explain verbose select count(*) from fact")
    assert "initial_logical_plan" in plans and "logical_plan" in plans and "physical_plan" in plans
    if session.device.name != "gpu":
        assert "@gpu" in plans["physical_plan on a GPU"]


def test_explain_analyze_shows_pruned_row_groups_rows_and_the_query(session: Any) -> None:
    plans = _plans(session, "explain analyze select count(*) from fact where k >= 900")
    text = plans["Plan with Metrics"]
    # Statistics rule out 9 of the 10 row groups; the 100 rows of the last are read.
    assert "TableScan: fact" in text
    assert "-- rows=100 row_groups=1/10 read (9 pruned)" in text
    assert "query: " in text and ", 1 rows," in text
    assert "Aggregate: time=" in text


def test_explain_analyze_lists_a_joins_dynamic_filter(session: Any) -> None:
    text = _plans(session, "explain analyze select v, name from fact join dim on k = dk")["Plan with Metrics"]
    assert "dynamic filters" in text
    assert "fact: " in text.split("dynamic filters", 1)[1]
    # The build keys 110..130 reach one row group of the fact table.
    assert "row_groups=1/10 read (9 pruned)" in text
    assert ", 3 rows," in text


def test_explain_of_an_unsupported_query_is_refused_at_plan_time(session: Any) -> None:
    with pytest.raises(UnsupportedSQLError):
        session.sql("explain select approx_distinct(name) from dim")


def test_explain_analyze_runs_only_when_asked_and_can_be_prepared(session: Any) -> None:
    df = session.sql("explain analyze select count(*) from fact")
    assert df.metrics == {}  # planned, not run
    assert df.to_arrow().column("plan_type").to_pylist() == ["Plan with Metrics"]
    assert df.metrics  # the run's metrics, as DataFrame.metrics has them
    prepared = session.prepare("explain select * from dim")
    assert prepared.dataset_schema.names == ["plan_type", "plan"]

"""Python scalar UDFs: from SQL and DataFrames, checked against DataFusion running the same
function; placed on the CPU on a GPU session; errors name the UDF; CASE guards them."""

from __future__ import annotations

from typing import Any, Callable

import datafusion
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from planner.errors import ExecutionError


def _with_tax(price: pa.Array, tax: pa.Array) -> pa.Array:
    return pc.multiply(pc.cast(price, pa.float64()), pc.add(pc.cast(tax, pa.float64()), 1.0))


def _exclaim(names: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(pc.utf8_upper(names), pa.scalar("!"), "")


_UDFS = [("with_tax", _with_tax, [pa.decimal128(15, 2), pa.decimal128(15, 2)], pa.float64()),
         ("exclaim", _exclaim, [pa.string()], pa.string())]

_QUERIES = [
    "select l_returnflag, sum(with_tax(l_extendedprice, l_tax)) as s, count(*) as n from lineitem "
    "where with_tax(l_extendedprice, l_tax) > 50000 group by l_returnflag",
    "select exclaim(n_name) as shouted, n_regionkey from nation where exclaim(n_name) like 'A%'",
    "select r_name, count(*) from nation join region on n_regionkey = r_regionkey "
    "group by r_name having max(exclaim(n_name)) > 'K'",
]


@pytest.fixture()
def session(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> Any:
    # fallback: on a GPU session the UDFs' operators run on the CPU (the placement test checks why).
    s = connect_for_tests(tables={t: tpch_data[t] for t in ("lineitem", "nation", "region")}, fallback="silent")
    for name, func, args, ret in _UDFS:
        s.register_udf(name, func, args, ret)
    return s


@pytest.mark.parametrize("sql", _QUERIES)
def test_udfs_in_sql_match_datafusion_running_them(sql: str, session: Any, tpch_data: dict[str, str],
                                                  assert_matches_datafusion: Callable[..., Any]) -> None:
    reference = datafusion.SessionContext()
    for name, func, args, ret in _UDFS:
        reference.register_udf(datafusion.udf(func, args, ret, "immutable", name=name))
    for table in ("lineitem", "nation", "region"):
        reference.register_parquet(table, tpch_data[table])
    expected = reference.sql(sql).to_arrow_table()
    actual = session.sql(sql).to_arrow()
    from gpu_exec.testing.compare import compare_tables

    assert not compare_tables(actual, expected, False)


def test_a_udf_in_dataframe_expressions_and_its_placement(session: Any) -> None:
    from gpu_exec import col

    shout = session.register_udf("shout", _exclaim, [pa.string()], pa.string())
    rows = session.table("region").select(shout(col("r_name")).alias("x")).sort(col("x")).to_arrow().to_pylist()
    assert rows[0] == {"x": "AFRICA!"}
    plan = session.sql("select shout(r_name) from region").explain(device="gpu")
    assert "@cpu: Python UDF shout() runs on the CPU" in plan


def test_udf_errors_name_the_udf_and_the_session_keeps_serving(session: Any) -> None:
    session.register_udf("boom", lambda x: pc.divide(x, pa.scalar(0)), [pa.int64()], pa.int64())
    session.register_udf("short", lambda x: pa.array([1], pa.int64()), [pa.int64()], pa.int64())
    session.register_udf("wrong", lambda x: pa.array(["a"] * len(x)), [pa.int64()], pa.int64())
    with pytest.raises(ExecutionError, match=r"Python UDF boom\(\) on a batch of 25 rows raised ArrowInvalid"):
        session.sql("select boom(n_nationkey) from nation").to_arrow()
    with pytest.raises(ExecutionError, match=r"short\(\) .* returned 1 values; it must return one per row"):
        session.sql("select short(n_nationkey) from nation").to_arrow()
    with pytest.raises(ExecutionError, match=r"wrong\(\) .* returned string, which is not its declared return type"):
        session.sql("select wrong(n_nationkey) from nation").to_arrow()
    # A CASE evaluates the UDF only on the rows that reach it, as DataFusion does.
    guarded = session.sql("select case when n_nationkey > 100 then boom(n_nationkey) else -1 end as v from nation")
    assert set(guarded.to_arrow().column("v").to_pylist()) == {-1}
    assert session.sql("select count(*) as n from nation").to_arrow().to_pylist() == [{"n": 25}]


def test_remote_sessions_refuse_udfs() -> None:
    from gpu_exec.api.remote import RemoteSession
    from planner.errors import GpuExecError

    with pytest.raises(GpuExecError, match="does not run code sent by clients"):
        RemoteSession.register_udf(object.__new__(RemoteSession), "f", len)

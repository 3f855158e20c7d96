"""The DataFrame API: sources, every relational and terminal method, views, and error messages.

Results are compared with the same query in SQL on the same session (the SQL path is itself checked
against DataFusion by the differential tests).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_exec
from gpu_exec import col, lit
from gpu_exec import functions as f
from gpu_exec.testing.compare import compare_tables
from planner.errors import CatalogError, SQLError


@pytest.fixture
def s(sample_tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> Iterator[Any]:
    session = connect_for_tests(tables=sample_tables)
    yield session
    session.close()


def assert_same(actual: pa.Table, expected: pa.Table, ordered: bool = False) -> None:
    differences = compare_tables(actual, expected, ordered)
    assert not differences, "\n".join(differences)


def assert_like_sql(s: Any, df: Any, sql: str, ordered: bool = False) -> None:
    assert_same(df.to_arrow(), s.sql(sql).to_arrow(), ordered)


# ---- sources ------------------------------------------------------------------------------------
def test_package_reexports_datafusion_expressions() -> None:
    import datafusion
    import datafusion.functions

    assert gpu_exec.col is datafusion.col and gpu_exec.lit is datafusion.lit
    assert gpu_exec.functions.sum is datafusion.functions.sum
    assert {"sum", "avg", "count", "when", "date_part", "substring", "cast", "like"} <= set(gpu_exec.functions.__all__)


def test_table_and_sql_give_the_same_kind_of_dataframe(s: Any) -> None:
    from gpu_exec.api.dataframe import DataFrame

    assert isinstance(s.table("items"), DataFrame) and isinstance(s.sql("select 1"), DataFrame)
    assert_like_sql(s, s.table("items"), "select * from items")


def test_relational_methods_chain_after_sql(s: Any) -> None:
    df = s.sql("select id, grp from items where id < 100").filter(col("grp") == lit("g1")).select("id")
    assert_like_sql(s, df, "select id from items where id < 100 and grp = 'g1'")


def test_read_parquet_and_read_csv(s: Any, sample_tables: dict[str, str]) -> None:
    assert s.read_parquet(sample_tables["items"]).count() == 1000
    csv = s.read_csv(sample_tables["items_csv"])
    assert "price" not in csv.schema.names
    assert_like_sql(s, csv.filter(col("id") < lit(5)).select("id", "grp"), "select id, grp from items where id < 5")


def test_from_pandas_round_trip(s: Any) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [0.5, 1.5, None]})
    back = s.from_pandas(frame).to_pandas()
    pd.testing.assert_frame_equal(back, frame)


def test_from_arrow_round_trip_and_files_removed_on_close(
    sample_tables: dict[str, str], connect_for_tests: Callable[..., Any]
) -> None:
    table = pq.read_table(sample_tables["items"])
    session = connect_for_tests()
    df = session.from_arrow(table)
    assert_same(df.to_arrow(), table, ordered=True)
    assert session.from_arrow(table.to_batches()[0]).count() == table.to_batches()[0].num_rows
    folder = session._temp_dir
    assert folder is not None and os.path.isdir(folder)
    session.close()
    assert not os.path.exists(folder)


def test_from_arrow_joins_a_registered_table(s: Any) -> None:
    names = s.from_arrow(pa.table({"g": ["g1", "g2"], "label": ["one", "two"]}))
    df = s.table("items").join(names, left_on="grp", right_on="g").aggregate([col("label")], [f.count_star().alias("n")])
    assert sorted(df.to_pylist(), key=lambda r: r["label"]) == [
        {"label": "one", "n": 143}, {"label": "two", "n": 143}]


# ---- relational methods -------------------------------------------------------------------------
def test_select_with_expressions_and_names(s: Any) -> None:
    df = s.table("items").select("id", (col("qty") * lit(2)).alias("q2"), f.upper(col("grp")).alias("g"))
    assert_like_sql(s, df, "select id, qty * 2 as q2, upper(grp) as g from items")
    assert_like_sql(s, s.table("items").select_columns("id", "grp"), "select id, grp from items")


def test_filter_several_predicates(s: Any) -> None:
    df = s.table("items").filter(col("id") > lit(10), col("qty").is_null())
    assert_like_sql(s, df, "select * from items where id > 10 and qty is null")


def test_with_column_and_renamed(s: Any) -> None:
    df = (s.table("items").with_column("year", f.date_part("year", col("day")))
          .with_columns(half=col("id") / lit(2)).with_column_renamed("grp", "group_name"))
    assert df.schema.names == ["id", "group_name", "price", "qty", "day", "year", "half"]
    assert_like_sql(s, df, "select id, grp as group_name, price, qty, day, date_part('year', day) as year,"
                           " id / 2 as half from items")


def test_aggregate_and_sort(s: Any) -> None:
    df = (s.table("items")
          .aggregate([col("grp")], [f.sum(col("price")).alias("total"), f.avg(col("qty")).alias("mean"),
                                    f.count(col("qty")).alias("n"), f.count(col("id"), distinct=True).alias("ids"),
                                    f.min(col("day")).alias("first"), f.max(col("day")).alias("last")])
          .sort(col("total").sort(ascending=False), "grp"))
    assert_like_sql(s, df, "select grp, sum(price) as total, avg(qty) as mean, count(qty) as n, count(distinct id)"
                           " as ids, min(day) as first, max(day) as last from items group by grp"
                           " order by total desc, grp", ordered=True)
    whole = s.table("items").aggregate([], [f.sum(col("id")).alias("s")])
    assert whole.to_pylist() == [{"s": sum(range(1000))}]


def test_limit_with_offset(s: Any) -> None:
    df = s.table("items").sort(col("id")).limit(5, offset=10)
    assert [r["id"] for r in df.to_pylist()] == list(range(10, 15))


@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti"])
def test_join_kinds(s: Any, how: str) -> None:
    left = s.table("items").filter(col("id") < lit(20)).select("id", "grp")
    right = s.table("items").filter(col("id") > lit(10)).select(col("id").alias("rid"), col("qty"))
    df = left.join(right, left_on="id", right_on="rid", how=how)
    kind = {"semi": "left semi", "anti": "left anti"}.get(how, how)
    select = "l.id, l.grp" if how in ("semi", "anti") else "l.id, l.grp, r.rid, r.qty"
    assert_like_sql(s, df, f"select {select} from (select id, grp from items where id < 20) l {kind} join"
                           " (select id as rid, qty from items where id > 10) r on l.id = r.rid")


def test_join_on_a_shared_column_name(s: Any) -> None:
    labels = s.from_arrow(pa.table({"grp": [f"g{i}" for i in range(7)], "n": list(range(7))}))
    df = s.table("items").join(labels, on="grp").select("id", "grp", "n")
    assert df.count() == 1000 and df.schema.names == ["id", "grp", "n"]  # one `grp`: the keys coalesce


def test_join_on_expressions(s: Any) -> None:
    right = s.table("items").select(col("id").alias("rid"), col("grp").alias("rgrp"))
    df = s.table("items").join_on(right, col("id") == col("rid"), col("grp") == col("rgrp")).select("id")
    assert df.count() == 1000


def test_union_distinct_drop(s: Any) -> None:
    a = s.table("items").select("grp")
    assert a.union(a).count() == 2000
    assert a.union(a, distinct=True).count() == 7
    assert a.union_distinct(a).count() == 7
    assert a.distinct().count() == 7
    assert s.table("items").drop("price", "qty").schema.names == ["id", "grp", "day"]


def test_intersect_and_except(s: Any) -> None:
    small = s.table("items").filter(col("id") < lit(10)).select("id")
    odd = s.table("items").filter(col("id") % lit(2) == lit(1)).select("id")
    assert sorted(r["id"] for r in small.intersect(odd).to_pylist()) == [1, 3, 5, 7, 9]
    assert sorted(r["id"] for r in small.except_all(odd).to_pylist()) == [0, 2, 4, 6, 8]


def test_window(s: Any) -> None:
    df = s.table("items").window(
        f.row_number(partition_by=[col("grp")], order_by=[col("id")]).alias("rn")
    ).select("id", "grp", "rn")
    assert_like_sql(s, df, "select id, grp, row_number() over (partition by grp order by id) as rn from items")


# ---- terminal methods ---------------------------------------------------------------------------
def test_terminal_methods(s: Any) -> None:
    df = s.table("items").filter(col("id") < lit(3)).select("id", "grp").sort(col("id"))
    expected = [{"id": 0, "grp": "g0"}, {"id": 1, "grp": "g1"}, {"id": 2, "grp": "g2"}]
    assert df.to_pylist() == expected
    assert df.to_pydict() == {"id": [0, 1, 2], "grp": ["g0", "g1", "g2"]}
    assert df.to_pandas()["grp"].tolist() == ["g0", "g1", "g2"]
    assert pa.Table.from_batches(df.collect()).to_pylist() == expected
    assert pa.Table.from_batches(list(df.execute_stream())).to_pylist() == expected
    assert df.count() == 3
    assert df.head(2).num_rows == 2
    assert df.columns() == ["id", "grp"]


def test_show_prints_a_table(s: Any, capsys: pytest.CaptureFixture[str]) -> None:
    s.table("items").sort(col("id")).select("id", "grp").show(2)
    out = capsys.readouterr().out
    assert "grp" in out and "g1" in out and "g2" not in out


def test_repr_html(s: Any) -> None:
    text = s.table("items").select("id", "grp").filter(col("id") < lit(2))._repr_html_()
    assert text.startswith("<table>") and "<th>grp</th>" in text and "<td>g1</td>" in text
    assert repr(s.table("items").select("id")) == "DataFrame[id: int64]"


def test_write_parquet_and_csv_read_back(s: Any, tmp_path: Any) -> None:
    df = s.table("items").filter(col("id") % lit(3) == lit(0))
    expected = df.to_arrow()
    df.write_parquet(tmp_path / "out.parquet")
    assert_same(pq.read_table(tmp_path / "out.parquet"), expected, ordered=True)
    df.select("id", "grp").write_csv(tmp_path / "out.csv")
    assert_same(s.read_csv(tmp_path / "out.csv").to_arrow(), expected.select(["id", "grp"]))


def test_explain_and_placement(s: Any) -> None:
    df = s.table("items").aggregate([col("grp")], [f.sum(col("id")).alias("n")])
    assert "Aggregate" in df.explain() and "TableScan: items" in df.explain()  # the session's device
    assert "@cpu" in df.explain(device="cpu")
    assert "@" in df.explain(device="gpu")
    assert df.placement() is not None


def test_metrics_after_running(s: Any) -> None:
    df = s.table("items").filter(col("id") < lit(5))
    assert df.metrics == {}
    df.to_arrow()
    assert df.metrics


def test_sql_view(s: Any) -> None:
    top = s.table("items").aggregate([col("grp")], [f.sum(col("id")).alias("total")])
    assert top.sql_view("totals") is top
    assert_same(s.sql("select grp, total from totals where total > 0").to_arrow(), top.to_arrow())
    assert_like_sql(s, s.table("totals").select("grp"), "select distinct grp from items")
    s.table("items").limit(1).create_view("totals")  # replaces the view
    assert s.sql("select count(*) as n from totals").to_pylist() == [{"n": 1}]


def test_dataframe_plans_only_when_needed(s: Any) -> None:
    df = s.table("items").filter(col("id") > lit(1))
    assert "logical_plan" not in vars(df)
    df.schema
    assert "logical_plan" in vars(df)


# ---- errors -------------------------------------------------------------------------------------
def test_unknown_column_names_the_step_and_the_columns(s: Any) -> None:
    with pytest.raises(SQLError) as caught:
        s.table("items").select(col("nope"))
    message = str(caught.value)
    assert message.startswith("DataFrame.select(nope): ")
    assert "nope" in message and "items.grp" in message and "items.price" in message


def test_errors_of_other_methods(s: Any) -> None:
    items = s.table("items")
    with pytest.raises(SQLError, match=r"^DataFrame.filter\(missing > Int64\(1\)\): .*missing"):
        items.filter(col("missing") > lit(1))
    with pytest.raises(SQLError, match=r"^DataFrame.sort\(nope\): "):
        items.sort(col("nope"))
    with pytest.raises(SQLError, match=r"^DataFrame.join\(.*\): "):
        items.join(items.select("id"), left_on="nope", right_on="id")
    with pytest.raises(SQLError, match=r"^DataFrame.aggregate\("):
        items.aggregate([col("grp")], [f.sum(col("nope"))])


def test_unknown_table(s: Any) -> None:
    with pytest.raises(CatalogError, match=r"unknown table 'nope' \(registered: items, items_csv\)"):
        s.table("nope")


def test_join_needs_a_dataframe_of_the_same_session(
    s: Any, sample_tables: dict[str, str], connect_for_tests: Callable[..., Any]
) -> None:
    other = connect_for_tests(tables=sample_tables)
    try:
        with pytest.raises(SQLError, match="same session"):
            s.table("items").join(other.table("items"), on="id")
    finally:
        other.close()


def test_methods_on_a_view_statement_result(s: Any) -> None:
    empty = s.sql("create view v as select id from items")
    assert empty.to_arrow().num_rows == 0
    with pytest.raises(SQLError, match="CREATE/DROP VIEW"):
        empty.select("id")
    s.sql("drop view v")


def test_dataframe_runs_on_a_cluster(sample_tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests(tables=sample_tables, workers=2, progress="off")
    try:
        df = session.table("items").aggregate([col("grp")], [f.count_star().alias("n")])
        assert_like_sql(session, df, "select grp, count(*) as n from items group by grp")
        assert df.job_summary is not None
        assert session.from_pandas(pd.DataFrame({"a": [1, 2, 3]})).count() == 3
    finally:
        session.close()

"""Substrait in and out (gpu_exec.api.substrait): plans from DataFusion's producer, from pyarrow's
Acero as a second consumer, and plans written by hand as an independent producer.

The `substrait` PyPI package's builders are not used: it needs protobuf < 7 (the project pins
protobuf 7 for its own generated messages), so the hand-built plans below are Substrait's JSON
form, read by DataFusion's ``Plan.from_json`` and encoded as the protobuf a producer sends.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion.substrait import Plan, Serde

from gpu_exec.api.sql_scripts import run_on_gpu_exec, split_statements
from gpu_exec.api.substrait import SUBSTRAIT_MAX_VERSION
from gpu_exec.testing.compare import compare_tables, query_is_ordered
from gpu_exec.testing.tpch import QUERY_NUMBERS, query_sql
from planner.errors import CatalogError, SQLError, UnsupportedSQLError


@pytest.fixture(scope="module")
def tpch_session(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> Iterator[Any]:
    session = connect_for_tests(tables=tpch_data)
    yield session
    session.close()


def main_query(number: int) -> tuple[list[str], str, list[str]]:
    """A TPC-H query as (statements before, the query, statements after): q15 creates a view,
    queries it and drops it; DataFusion's producer inlines the view, so its plan stands alone."""
    statements = split_statements(query_sql(number))
    index = max(i for i, s in enumerate(statements) if s.lstrip().lower().startswith(("select", "with")))
    return statements[:index], statements[index], statements[index + 1:]


def substrait_of(ctx: Any, sql: str) -> bytes:
    return bytes(Serde.serialize_bytes(sql, ctx))


@pytest.mark.parametrize("number", QUERY_NUMBERS)
def test_tpch_substrait_plan_matches_sql(number: int, tpch_session: Any) -> None:
    before, query, after = main_query(number)
    expected = run_on_gpu_exec(tpch_session, query_sql(number)).table
    for statement in before:
        tpch_session.sql(statement)
    try:
        plan = substrait_of(tpch_session.state.planner, query)
        actual = tpch_session.sql_substrait(plan).to_arrow()
    finally:
        for statement in after:
            tpch_session.sql(statement)
    assert compare_tables(actual, expected, ordered=query_is_ordered(query)) == []


@pytest.mark.parametrize("number", [1, 3, 9, 13, 18, 21])
def test_to_substrait_round_trips(number: int, tpch_session: Any) -> None:
    _, query, _ = main_query(number)
    frame = tpch_session.sql(query)
    again = tpch_session.sql_substrait(frame.to_substrait())
    assert again.schema.names == frame.schema.names
    assert compare_tables(again.to_arrow(), frame.to_arrow(), ordered=query_is_ordered(query)) == []


def test_dataframe_api_to_substrait(tpch_session: Any) -> None:
    from gpu_exec import col, lit
    from gpu_exec import functions as f

    frame = (tpch_session.table("lineitem").filter(col("l_quantity") > lit(45))
             .aggregate([col("l_returnflag")], [f.sum(col("l_extendedprice")).alias("revenue")])
             .sort(col("l_returnflag")))
    plan = frame.to_substrait()
    assert json.loads(Serde.deserialize_bytes(plan).to_json())["relations"]
    assert compare_tables(tpch_session.sql_substrait(plan).to_arrow(), frame.to_arrow(), ordered=True) == []


def test_producer_writes_the_newest_version_taken(tpch_session: Any) -> None:
    plan = json.loads(Serde.deserialize_bytes(tpch_session.sql("select 1 as one").to_substrait()).to_json())
    version = plan["version"]
    written = f"{version.get('majorNumber', 0)}.{version.get('minorNumber', 0)}.{version.get('patchNumber', 0)}"
    assert written == SUBSTRAIT_MAX_VERSION


# Acero reads DataFusion's plans of filters, projections and sorts over integers and floats:
# not limits (Acero returns no rows for DataFusion's fetch), aggregates (DataFusion leaves the
# aggregation phase unspecified, Acero takes only INITIAL_TO_RESULT), tables with strings
# (DataFusion declares them string views, which Acero's filter kernel lacks) nor decimal
# arithmetic (Acero widens the precision differently). So its queries read a table of numbers.
ACERO_QUERIES = [
    "select id, x from points where g = 3",
    "select id, x * 2 + id as y from points where x > 250.5 and id < 900",
    "select id, g from points where g <> 1 order by id desc",
]


@pytest.fixture(scope="module")
def points(tpch_session: Any, tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    table = pa.table({"id": pa.array(range(1000), pa.int64()),
                      "x": pa.array([i * 0.75 for i in range(1000)], pa.float64()),
                      "g": pa.array([i % 7 for i in range(1000)], pa.int64())})
    path = tmp_path_factory.mktemp("points") / "points.parquet"
    pq.write_table(table, path)
    tpch_session.register_parquet("points", path)
    return table


@pytest.mark.parametrize("query", ACERO_QUERIES)
def test_to_substrait_runs_on_acero(query: str, tpch_session: Any, points: pa.Table) -> None:
    import pyarrow.substrait as ps

    frame = tpch_session.sql(query)

    def named_table(names: list[str], schema: pa.Schema) -> pa.Table:
        assert names == ["points"]
        return points

    acero = ps.run_query(pa.py_buffer(frame.to_substrait()), table_provider=named_table).read_all()
    assert compare_tables(acero, frame.to_arrow(), ordered=query_is_ordered(query)) == []


# ---- plans built by hand ------------------------------------------------------------------------
NATION_SCHEMA = {
    "names": ["n_nationkey", "n_name", "n_regionkey", "n_comment"],
    "struct": {"types": [{"i64": {"nullability": "NULLABILITY_REQUIRED"}},
                         {"string": {"nullability": "NULLABILITY_REQUIRED"}},
                         {"i64": {"nullability": "NULLABILITY_REQUIRED"}},
                         {"string": {"nullability": "NULLABILITY_REQUIRED"}}],
               "nullability": "NULLABILITY_REQUIRED"},
}


def field(index: int) -> dict[str, Any]:
    return {"selection": {"directReference": {"structField": {"field": index}}, "rootReference": {}}}


def read(table: str = "nation") -> dict[str, Any]:
    return {"read": {"baseSchema": NATION_SCHEMA, "namedTable": {"names": [table]}}}


def hand_plan(rel: dict[str, Any], names: list[str], functions: list[str] = (), **version: Any) -> bytes:
    """A Substrait plan: one root relation, functions declared in the comparison and aggregate
    extensions by the Substrait URNs."""
    urns = [{"extensionUrnAnchor": 1, "urn": "extension:io.substrait:functions_comparison"},
            {"extensionUrnAnchor": 2, "urn": "extension:io.substrait:functions_aggregate_generic"}]
    extensions = [{"extensionFunction": {"extensionUrnReference": 2 if name.startswith("count") else 1,
                                         "functionAnchor": i + 1, "name": name}}
                  for i, name in enumerate(functions)]
    plan: dict[str, Any] = {"extensionUrns": urns, "extensions": extensions,
                            "relations": [{"root": {"input": rel, "names": names}}]}
    if version:
        plan["version"] = version
    return bytes(Plan.from_json(json.dumps(plan)).encode())


def project(rel: dict[str, Any], fields: list[int], width: int) -> dict[str, Any]:
    mapping = list(range(width, width + len(fields)))
    return {"project": {"common": {"emit": {"outputMapping": mapping}}, "input": rel,
                        "expressions": [field(i) for i in fields]}}


def less_than(index: int, value: int, anchor: int = 1) -> dict[str, Any]:
    return {"scalarFunction": {"functionReference": anchor, "arguments": [
        {"value": field(index)}, {"value": {"literal": {"i64": str(value)}}}],
        "outputType": {"bool": {"nullability": "NULLABILITY_REQUIRED"}}}}


def test_hand_built_projection(tpch_session: Any) -> None:
    plan = hand_plan(project(read(), [1, 2], 4), ["name", "region"],
                     majorNumber=0, minorNumber=70, producer="hand")
    expected = tpch_session.sql("select n_name as name, n_regionkey as region from nation").to_arrow()
    assert compare_tables(tpch_session.sql_substrait(plan).to_arrow(), expected, ordered=False) == []


def test_hand_built_filter(tpch_session: Any) -> None:
    filtered = {"filter": {"input": read(), "condition": less_than(0, 5)}}
    plan = hand_plan(project(filtered, [0, 1], 4), ["n_nationkey", "n_name"], ["lt:i64_i64"])
    expected = tpch_session.sql("select n_nationkey, n_name from nation where n_nationkey < 5").to_arrow()
    assert compare_tables(tpch_session.sql_substrait(plan).to_arrow(), expected, ordered=False) == []


def test_hand_built_aggregate(tpch_session: Any) -> None:
    count = {"functionReference": 1, "phase": "AGGREGATION_PHASE_INITIAL_TO_RESULT",
             "invocation": "AGGREGATION_INVOCATION_ALL",
             "outputType": {"i64": {"nullability": "NULLABILITY_REQUIRED"}}}
    aggregate = {"aggregate": {"input": read(), "groupings": [{"groupingExpressions": [field(2)]}],
                               "measures": [{"measure": count}]}}
    plan = hand_plan(aggregate, ["region", "nations"], ["count"])
    expected = tpch_session.sql("select n_regionkey as region, count(*) as nations from nation "
                                "group by n_regionkey").to_arrow()
    assert compare_tables(tpch_session.sql_substrait(plan).to_arrow(), expected, ordered=False,
                          check_names=False) == []


# ---- errors -------------------------------------------------------------------------------------
def test_bytes_that_are_not_a_plan(tpch_session: Any) -> None:
    with pytest.raises(SQLError, match="not a Substrait plan"):
        tpch_session.sql_substrait(b"\xff\xffnot a plan")
    with pytest.raises(SQLError, match="serialized Substrait plan"):
        tpch_session.sql_substrait("select 1")


def test_empty_plan(tpch_session: Any) -> None:
    with pytest.raises(UnsupportedSQLError, match="relation trees"):
        tpch_session.sql_substrait(b"")


def test_unknown_table(tpch_session: Any) -> None:
    with pytest.raises(CatalogError, match=r"unknown table 'planets' \(registered: .*lineitem"):
        tpch_session.sql_substrait(hand_plan(project(read("planets"), [1], 4), ["n_name"]))


def test_unknown_function(tpch_session: Any) -> None:
    filtered = {"filter": {"input": read(), "condition": less_than(0, 5)}}
    plan = hand_plan(project(filtered, [1], 4), ["n_name"], ["frobnicate:i64_i64"])
    with pytest.raises(UnsupportedSQLError, match="frobnicate"):
        tpch_session.sql_substrait(plan)


def test_plan_of_a_newer_substrait(tpch_session: Any) -> None:
    plan = hand_plan(project(read(), [1], 4), ["n_name"], majorNumber=0, minorNumber=999, producer="future")
    with pytest.raises(UnsupportedSQLError, match=f"Substrait 0.999.0 plan .*to {SUBSTRAIT_MAX_VERSION}"):
        tpch_session.sql_substrait(plan)


def test_statement_result_has_no_plan(tpch_session: Any) -> None:
    with pytest.raises(SQLError, match="result of a statement"):
        tpch_session.sql("show tables").to_substrait()


def test_session_still_plans_after_errors(tpch_session: Any) -> None:
    with pytest.raises(SQLError):
        tpch_session.sql_substrait(b"\x00garbage")
    plan = tpch_session.sql("select count(*) as n from region").to_substrait()
    assert tpch_session.sql_substrait(plan).to_arrow().column("n").to_pylist() == [5]

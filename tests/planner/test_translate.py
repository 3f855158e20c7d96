"""planner.translate: DataFusion's optimized plans become positional, typed IR, or are refused."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path
from typing import Any, Iterator

import datafusion
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner import expr as ex
from planner import ir
from planner.catalog import Catalog, normalize_schema
from planner.errors import SQLError, UnsupportedSQLError
from gpu_exec.testing.tpch import query_sql
from planner.translate import translate

TPCH_TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
B = ex.BinaryOperator
W = ex.WindowFrame


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


class Planner:
    """A DataFusion session and a gpu-exec catalog holding the same tables."""

    def __init__(self, config: datafusion.SessionConfig | None = None) -> None:
        self.ctx = datafusion.SessionContext(config) if config else datafusion.SessionContext()
        self.catalog = Catalog()

    def register(self, name: str, path: Path) -> None:
        self.catalog.register_parquet(name, path)
        self.ctx.register_parquet(name, str(path))

    def plan(self, sql: str, optimized: bool = True) -> datafusion.LogicalPlan:
        df = self.ctx.sql(sql)
        return df.optimized_logical_plan() if optimized else df.logical_plan()

    def translate(self, sql: str, optimized: bool = True) -> ir.PlanNode:
        root = translate(self.plan(sql, optimized), self.ctx, self.catalog)
        check_plan(root)
        return root

    def result_schema(self, sql: str) -> pa.Schema:
        return normalize_schema(self.ctx.sql(sql).schema())


def assert_translation_raises(
    planner: Planner, sql: str, *reason_substrings: str, optimized: bool = True
) -> list[str]:
    """Translating ``sql`` is refused, and every substring is found among the reasons given."""
    with pytest.raises(UnsupportedSQLError) as info:
        translate(planner.plan(sql, optimized), planner.ctx, planner.catalog)
    reasons = info.value.reasons
    for wanted in reason_substrings:
        assert any(wanted in r for r in reasons), f"{wanted!r} not among the reasons {reasons}"
    return reasons


def sub_expressions(item: Any) -> Iterator[ex.Expr]:
    """Every expression node inside an Expr, SortKey, AggregateCall or WindowCall."""
    if isinstance(item, ex.SortKey):
        roots: list[Any] = [item.expr]
    elif isinstance(item, (ex.AggregateCall, ex.WindowCall)):
        roots = list(item.children())
    else:
        roots = [item]
    for root in roots:
        yield from ex.walk(root)


def expression_inputs(node: ir.PlanNode) -> list[tuple[Any, pa.Schema]]:
    """Each expression of ``node`` with the schema its column positions index."""
    if isinstance(node, ir.TableScan):
        return [(f, node.schema) for f in node.filters]
    if isinstance(node, ir.Projection):
        return [(e, node.input.schema) for e in node.exprs]
    if isinstance(node, ir.Filter):
        return [(node.predicate, node.input.schema)]
    if isinstance(node, ir.Aggregate):
        return [(e, node.input.schema) for e in (*node.group_by, *node.aggregates)]
    if isinstance(node, ir.Sort):
        return [(k, node.input.schema) for k in node.keys]
    if isinstance(node, ir.Window):
        return [(w, node.input.schema) for w in node.windows]
    if isinstance(node, ir.Join):
        both = pa.schema(list(node.left.schema) + list(node.right.schema))
        return (
            [(k, node.left.schema) for k in node.left_keys]
            + [(k, node.right.schema) for k in node.right_keys]
            + ([(node.filter, both)] if node.filter is not None else [])
        )
    if isinstance(node, ir.Values):
        return [(cell, node.schema) for row in node.rows for cell in row]
    return []


def is_view_string(t: pa.DataType) -> bool:
    return pa.types.is_string_view(t) or pa.types.is_large_string(t)


def check_plan(root: ir.PlanNode) -> None:
    """Invariants of every translated plan: positional references in range and typed like the
    column they read, strings normalized, and each node's expression types equal to the output
    types DataFusion planned (subquery plans included)."""
    for node in ir.walk_plan(root):
        assert not any(is_view_string(f.type) for f in node.schema), node
        for item, schema in expression_inputs(node):
            for e in sub_expressions(item):
                assert not is_view_string(e.dtype), e
                if isinstance(e, ex.ColumnRef):
                    assert 0 <= e.index < len(schema), f"{e} out of range in {type(node).__name__}"
                    assert e.dtype == schema.field(e.index).type, f"{e} typed {e.dtype}, column {schema.field(e.index)}"
                if isinstance(e, ex.ScalarSubquery):
                    assert len(e.plan.schema) == 1 and e.dtype == e.plan.schema.field(0).type
                    check_plan(e.plan)
        check_output_types(node)


def check_output_types(node: ir.PlanNode) -> None:
    types = node.schema.types
    if isinstance(node, ir.Projection):
        assert [e.dtype for e in node.exprs] == types
    elif isinstance(node, ir.Filter):
        assert node.predicate.dtype == pa.bool_() and node.schema.types == node.input.schema.types
    elif isinstance(node, ir.Aggregate):
        assert [e.dtype for e in node.group_by] + [a.dtype for a in node.aggregates] == types
    elif isinstance(node, ir.Window):
        assert node.input.schema.types + [w.dtype for w in node.windows] == types
    elif isinstance(node, (ir.Sort, ir.Limit)):
        assert types == node.input.schema.types
    elif isinstance(node, ir.Union):
        assert all(child.schema.types == types for child in node.inputs)
    elif isinstance(node, ir.Join):
        assert [k.dtype for k in node.left_keys] == [k.dtype for k in node.right_keys]
        if node.filter is not None:
            assert node.filter.dtype == pa.bool_()
    elif isinstance(node, ir.Values):
        assert all([c.dtype for c in row] == types for row in node.rows)


def nodes_of(root: ir.PlanNode, kind: type) -> list[Any]:
    """Nodes of ``kind`` in the plan, scalar subquery plans included."""
    found = []
    for node in ir.walk_plan(root):
        if isinstance(node, kind):
            found.append(node)
        for item, _ in expression_inputs(node):
            for e in sub_expressions(item):
                if isinstance(e, ex.ScalarSubquery):
                    found += nodes_of(e.plan, kind)
    return found


def all_expressions(root: ir.PlanNode) -> list[ex.Expr]:
    out = []
    for node in ir.walk_plan(root):
        for item, _ in expression_inputs(node):
            for e in sub_expressions(item):
                out.append(e)
                if isinstance(e, ex.ScalarSubquery):
                    out += all_expressions(e.plan)
    return out


def one(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small Parquet tables: nullable columns (t, u), non-nullable ones (nn, nn2), dates and
    decimals (d)."""
    out = tmp_path_factory.mktemp("tiny")
    pq.write_table(
        pa.table(
            {
                "x": pa.array([1, 2, None], pa.int64()),
                "z": pa.array([1.0, 2.0, 3.0]),
                "s": pa.array(["a", "b", None]),
            }
        ),
        out / "t.parquet",
    )
    u = pa.table({"y": pa.array([1, None], pa.int64()), "w": pa.array([5, 6], pa.int32())})
    pq.write_table(u, out / "u.parquet")
    required = pa.schema([pa.field("k", pa.int64(), False), pa.field("v", pa.float64(), False)])
    pq.write_table(pa.table({"k": [1, 2], "v": [1.0, 2.0]}, schema=required), out / "nn.parquet")
    pq.write_table(
        pa.table({"k2": [1]}, schema=pa.schema([pa.field("k2", pa.int64(), False)])), out / "nn2.parquet"
    )
    pq.write_table(
        pa.table(
            {
                "d": pa.array([datetime.date(2020, 1, 31)]),
                "price": pa.array([decimal.Decimal("1.25")], pa.decimal128(15, 2)),
                "ts": pa.array([datetime.datetime(2020, 1, 1, 10)], pa.timestamp("us")),
                "name": pa.array(["Ab"]),
            }
        ),
        out / "d.parquet",
    )
    return out


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> Planner:
    planner = Planner()
    for name in ("t", "u", "nn", "nn2", "d"):
        planner.register(name, tiny_dir / f"{name}.parquet")
    return planner


@pytest.fixture(scope="session")
def tpch(tpch_data: dict[str, str]) -> Planner:
    """The 8 TPC-H tables (SF 0.1, generated once into the cache by the ``tpch_data`` fixture)."""
    planner = Planner()
    for name in TPCH_TABLES:
        planner.register(name, Path(tpch_data[name]))
    return planner


def tpch_translate(tpch: Planner, number: int) -> tuple[ir.PlanNode, pa.Schema]:
    """The IR of TPC-H query ``number`` and DataFusion's result schema. Q15's view is created
    before, and dropped after."""
    statements = [s for s in query_sql(number).split(";") if s.strip()]
    ddl = [s for s in statements if s.strip().lower().startswith(("create", "drop"))]
    (query,) = [s for s in statements if s not in ddl]
    for statement in ddl:
        if statement.strip().lower().startswith("create"):
            tpch.ctx.sql(statement).collect()
    try:
        plan = tpch.plan(query)
        return translate(plan, tpch.ctx, tpch.catalog), tpch.result_schema(query)
    finally:
        for statement in ddl:
            if statement.strip().lower().startswith("drop"):
                tpch.ctx.sql(statement).collect()


# ---------------------------------------------------------------------------------------------
# TPC-H
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", range(1, 23), ids=lambda n: f"q{n:02d}")
def test_tpch_query_translates_with_datafusion_result_schema(tpch: Planner, number: int) -> None:
    root, want = tpch_translate(tpch, number)
    assert root.schema.names == want.names
    assert root.schema.types == want.types
    check_plan(root)


def test_tpch_q01_aggregates_are_typed_by_datafusion(tpch: Planner) -> None:
    root, _ = tpch_translate(tpch, 1)
    agg = one(nodes_of(root, ir.Aggregate))
    F = ex.AggregateFunction
    assert [a.func for a in agg.aggregates] == [F.SUM] * 4 + [F.AVG] * 3 + [F.COUNT]
    assert agg.aggregates[0].dtype == pa.decimal128(25, 2)
    assert agg.aggregates[4].dtype == pa.decimal128(19, 6)
    count = agg.aggregates[-1]
    assert count.dtype == pa.int64() and count.args == (ex.Literal(1, pa.int64()),)  # COUNT(*)
    one_literal = [e for e in all_expressions(root) if isinstance(e, ex.Literal) and e.dtype == pa.decimal128(20, 0)]
    assert one_literal and all(lit.value == decimal.Decimal(1) for lit in one_literal)
    shipdate = one(nodes_of(root, ir.Filter)).predicate
    assert shipdate.right == ex.Literal(datetime.date(1998, 9, 2), pa.date32())


def test_tpch_q15_view_and_scalar_subquery(tpch: Planner) -> None:
    root, _ = tpch_translate(tpch, 15)
    subquery = one([e for e in all_expressions(root) if isinstance(e, ex.ScalarSubquery)])
    assert subquery.dtype == pa.decimal128(38, 4)
    assert isinstance(subquery.plan, ir.Aggregate)
    assert subquery.plan.aggregates[0].func is ex.AggregateFunction.MAX
    literals = [e for e in all_expressions(subquery.plan) if isinstance(e, ex.Literal)]
    assert ex.Literal(decimal.Decimal(1), pa.decimal128(20, 0)) in literals
    hash(root)  # the executor keys subquery results by expression: the IR must be hashable


def test_tpch_q21_self_join_filters_index_left_then_right(tpch: Planner) -> None:
    root, _ = tpch_translate(tpch, 21)
    joins = {j.how: j for j in nodes_of(root, ir.Join) if j.filter is not None}
    assert set(joins) == {ir.JoinType.LEFT_SEMI, ir.JoinType.LEFT_ANTI}
    for join in joins.values():
        # __correlated_sq.l_suppkey != l1.l_suppkey: one reference on each side of the boundary.
        refs = [e for e in ex.walk(join.filter) if isinstance(e, ex.ColumnRef)]
        boundary = len(join.left.schema)
        assert sorted(r.index >= boundary for r in refs) == [False, True]
        assert {r.name for r in refs} == {"l_suppkey"}
        assert not join.null_aware  # EXISTS / NOT EXISTS


def test_tpch_q22_substr_in_list_and_subquery(tpch: Planner) -> None:
    root, _ = tpch_translate(tpch, 22)
    exprs = all_expressions(root)
    in_list = next(e for e in exprs if isinstance(e, ex.InList))
    assert isinstance(in_list.operand, ex.ScalarFunction) and in_list.operand.name == "substr"
    assert len(in_list.values) == 7
    assert all(v.dtype == pa.string() == in_list.operand.dtype for v in in_list.values)
    subquery = next(e for e in exprs if isinstance(e, ex.ScalarSubquery))
    assert subquery.dtype == pa.decimal128(19, 6)
    anti = one([j for j in nodes_of(root, ir.Join) if j.how is ir.JoinType.LEFT_ANTI])
    assert not anti.null_aware


@pytest.mark.parametrize("number", [7, 8, 9])
def test_tpch_extract_year_is_date_part_year(tpch: Planner, number: int) -> None:
    root, _ = tpch_translate(tpch, number)
    calls = [e for e in all_expressions(root) if isinstance(e, ex.ScalarFunction)]
    date_parts = [c for c in calls if c.name == "date_part"]
    assert date_parts and all(c.args[0] == ex.Literal("year", pa.string()) for c in date_parts)


def test_translation_is_deterministic(tpch: Planner) -> None:
    first, _ = tpch_translate(tpch, 11)
    second, _ = tpch_translate(tpch, 11)
    assert first == second


# ---------------------------------------------------------------------------------------------
# Plan nodes
# ---------------------------------------------------------------------------------------------


def test_table_scan_columns_pushed_filters_and_fetch(tiny: Planner) -> None:
    root = tiny.translate("select x, s from t where z > 1.5 limit 2")
    scan = one(nodes_of(root, ir.TableScan))
    assert scan.source is tiny.catalog.get("t")
    assert scan.columns == ("x", "z", "s")
    assert scan.schema.field("s").type == pa.string()  # Utf8View normalized
    (pushed,) = scan.filters
    assert pushed == ex.BinaryOp(B.GT, ex.ColumnRef(1, "z", pa.float64()), ex.Literal(1.5, pa.float64()), pa.bool_())
    assert scan.fetch is None or scan.fetch >= 2


def test_count_star_scans_no_columns(tiny: Planner) -> None:
    root = tiny.translate("select count(*) from t")
    assert one(nodes_of(root, ir.TableScan)).columns == ()


def test_sort_keys_and_fetch(tiny: Planner) -> None:
    root = tiny.translate("select x, z from t order by z desc, x nulls first limit 5")
    sort = one(nodes_of(root, ir.Sort))
    assert sort.fetch == 5
    assert [(k.expr.name, k.ascending, k.nulls_first) for k in sort.keys] == [("z", False, True), ("x", True, True)]


def test_limit_offset(tiny: Planner) -> None:
    root = tiny.translate("select * from t limit 3 offset 2")
    assert isinstance(root, ir.Limit) and (root.skip, root.fetch) == (2, 3)


def test_select_without_from_is_one_row_relation(tiny: Planner) -> None:
    root = tiny.translate("select 1 as a, 'x' as b")
    assert isinstance(root, ir.Projection) and root.input == ir.EmptyRelation(True, pa.schema([]))
    assert root.exprs == (ex.Literal(1, pa.int64()), ex.Literal("x", pa.string()))


def test_contradiction_is_empty_relation(tiny: Planner) -> None:
    root = tiny.translate("select x from t where 1 = 0")
    assert isinstance(root, ir.EmptyRelation) and not root.produce_one_row
    assert root.schema.names == ["x"]


def test_values_rows_are_typed_literals(tiny: Planner) -> None:
    root = tiny.translate("select * from (values (1, 'a'), (2, null)) as v(a, b)")
    values = one(nodes_of(root, ir.Values))
    assert values.rows == (
        (ex.Literal(1, pa.int64()), ex.Literal("a", pa.string())),
        (ex.Literal(2, pa.int64()), ex.Literal(None, pa.string())),
    )


def test_union_all_gets_datafusion_casts(tiny: Planner) -> None:
    root = tiny.translate("select x from t union all select w from u")
    assert isinstance(root, ir.Union) and len(root.inputs) == 2
    assert all(child.schema.types == [pa.int64()] for child in root.inputs)
    casts = [e for e in all_expressions(root) if isinstance(e, ex.Cast)]
    assert casts and casts[0].dtype == pa.int64() and casts[0].operand.dtype == pa.int32()


def test_union_distinct_is_aggregate_without_aggregates(tiny: Planner) -> None:
    root = tiny.translate("select x from t union select y from u")
    assert isinstance(root, ir.Aggregate) and root.aggregates == ()
    assert isinstance(root.input, ir.Union)
    assert root.group_by == (ex.ColumnRef(0, "x", pa.int64()),)


def test_union_inputs_are_cast_to_the_union_types(tiny: Planner) -> None:
    # Before the analyzer runs, DataFusion has not cast the Int32 input yet: translate does.
    root = tiny.translate("select x from t union all select w from u", optimized=False)
    assert isinstance(root, ir.Union)
    cast_input = root.inputs[1]
    assert isinstance(cast_input, ir.Projection) and cast_input.schema.types == [pa.int64()]
    assert cast_input.exprs == (ex.Cast(ex.ColumnRef(0, "w", pa.int32()), pa.int64()),)


def test_distinct_on_node_is_refused(tiny: Planner) -> None:
    assert_translation_raises(tiny, "select distinct on (x) x, z from t", "DISTINCT ON", optimized=False)


def test_limit_must_be_a_constant(tiny: Planner) -> None:
    assert_translation_raises(tiny, "select * from t limit 1 + 1", "LIMIT must be", optimized=False)


def test_distinct_node_groups_by_every_column(tiny: Planner) -> None:
    # The optimizer turns DISTINCT into an Aggregate itself; the unoptimized plan keeps the node.
    root = tiny.translate("select distinct x, s from t", optimized=False)
    assert isinstance(root, ir.Aggregate) and root.aggregates == ()
    assert root.group_by == (ex.ColumnRef(0, "x", pa.int64()), ex.ColumnRef(1, "s", pa.string()))
    assert root.schema == root.input.schema


def test_subquery_alias_is_transparent(tiny: Planner) -> None:
    root = tiny.translate("select a.x, b.z from t a join t b on a.x = b.x where a.z < b.z")
    join = one(nodes_of(root, ir.Join))
    assert isinstance(join.left, ir.TableScan) and isinstance(join.right, ir.TableScan)
    refs = sorted((e.index, e.name) for e in ex.walk(join.filter) if isinstance(e, ex.ColumnRef))
    width = len(join.left.schema)
    assert refs == [(1, "z"), (width + 1, "z")]


def test_aggregate_filter_distinct_and_types(tiny: Planner) -> None:
    root = tiny.translate("select s, sum(z) filter (where x > 1), count(distinct x), avg(x) from t group by s")
    agg = one(nodes_of(root, ir.Aggregate))
    assert agg.group_by == (ex.ColumnRef(2, "s", pa.string()),)
    total, distinct, mean = agg.aggregates
    assert total.func is ex.AggregateFunction.SUM and total.args == (ex.ColumnRef(1, "z", pa.float64()),)
    x_gt_1 = ex.BinaryOp(B.GT, ex.ColumnRef(0, "x", pa.int64()), ex.Literal(1, pa.int64()), pa.bool_())
    assert total.filter == x_gt_1
    assert distinct.distinct and distinct.filter is None and distinct.dtype == pa.int64()
    assert mean.func is ex.AggregateFunction.AVG and mean.dtype == pa.float64()


def test_global_aggregate_has_no_group_by(tiny: Planner) -> None:
    root = tiny.translate("select max(s) from t")
    agg = one(nodes_of(root, ir.Aggregate))
    assert agg.group_by == () and agg.aggregates[0].dtype == pa.string()


@pytest.mark.parametrize(
    ("call", "func", "frame"),
    [
        ("row_number() over (partition by s order by z)", ex.WindowFunction.ROW_NUMBER, W.RANGE_TO_CURRENT),
        ("rank() over (order by z)", ex.WindowFunction.RANK, W.RANGE_TO_CURRENT),
        ("dense_rank() over (order by z desc)", ex.WindowFunction.DENSE_RANK, W.RANGE_TO_CURRENT),
        ("sum(x) over (partition by s)", ex.WindowFunction.SUM, W.WHOLE_PARTITION),
        ("sum(x) over ()", ex.WindowFunction.SUM, W.WHOLE_PARTITION),
        ("avg(z) over (order by x)", ex.WindowFunction.AVG, W.RANGE_TO_CURRENT),
        (
            "count(*) over (order by z rows between unbounded preceding and current row)",
            ex.WindowFunction.COUNT,
            W.ROWS_TO_CURRENT,
        ),
        (
            "min(x) over (order by z range between unbounded preceding and unbounded following)",
            ex.WindowFunction.MIN,
            W.WHOLE_PARTITION,
        ),
        (
            "max(x) over (order by z range between unbounded preceding and current row)",
            ex.WindowFunction.MAX,
            W.RANGE_TO_CURRENT,
        ),
        ("lag(x, 2, 0) over (order by z rows between 1 preceding and 1 following)", ex.WindowFunction.LAG,
         W.RANGE_TO_CURRENT),  # the frame of lag/lead is ignored
        ("ntile(3) over (partition by s)", ex.WindowFunction.NTILE, W.WHOLE_PARTITION),
        ("first_value(x) over (order by z rows between 2 preceding and 1 following)", ex.WindowFunction.FIRST_VALUE,
         W("ROWS", -2, 1)),
        ("last_value(x) over (order by z range between current row and unbounded following)",
         ex.WindowFunction.LAST_VALUE, W("RANGE", 0, None)),
        # DataFusion orders by a constant here: every row a peer of every other, as SQL has it.
        ("nth_value(x, 2) over (partition by s range between current row and current row)",
         ex.WindowFunction.NTH_VALUE, W("RANGE", 0, 0)),
        ("cume_dist() over (order by z desc)", ex.WindowFunction.CUME_DIST, W.RANGE_TO_CURRENT),
        ("sum(x) over (order by z rows between 1 preceding and 1 following)", ex.WindowFunction.SUM, W("ROWS", -1, 1)),
        ("count(x) over (order by z range between current row and unbounded following)", ex.WindowFunction.COUNT,
         W("RANGE", 0, None)),
        ("sum(x) over (order by z groups between unbounded preceding and current row)", ex.WindowFunction.SUM,
         W("GROUPS", None, 0)),
        ("first_value(x) over (order by z groups between 2 preceding and 1 following)", ex.WindowFunction.FIRST_VALUE,
         W("GROUPS", -2, 1)),
    ],
)
def test_window_functions_and_frames(tiny: Planner, call: str, func: ex.WindowFunction, frame: ex.WindowFrame) -> None:
    sql = f"select x, {call} as r from t"
    root = tiny.translate(sql)
    window = one(nodes_of(root, ir.Window))
    (w,) = window.windows
    assert (w.func, w.frame) == (func, frame)
    assert w.dtype == tiny.result_schema(sql).field("r").type
    columns = window.input.schema
    if "partition by s" in call:
        assert w.partition_by == (ex.ColumnRef(columns.get_field_index("s"), "s", pa.string()),)
    if "order by z desc" in call:
        z = ex.ColumnRef(columns.get_field_index("z"), "z", pa.float64())
        assert w.order_by == (ex.SortKey(z, ascending=False, nulls_first=True),)


# ---------------------------------------------------------------------------------------------
# Joins
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "how", "width"),
    [
        ("select * from t join u on x = y", ir.JoinType.INNER, 5),
        ("select * from t left join u on x = y", ir.JoinType.LEFT, 5),
        ("select * from t right join u on x = y", ir.JoinType.RIGHT, 5),
        ("select * from t full join u on x = y", ir.JoinType.FULL, 5),
        ("select * from t where exists (select 1 from u where y = x)", ir.JoinType.LEFT_SEMI, 3),
        ("select * from t where not exists (select 1 from u where y = x)", ir.JoinType.LEFT_ANTI, 3),
        ("select * from t where x in (select y from u)", ir.JoinType.LEFT_SEMI, 3),
    ],
)
def test_join_types_keys_and_schema(tiny: Planner, sql: str, how: ir.JoinType, width: int) -> None:
    root = tiny.translate(sql)
    join = one(nodes_of(root, ir.Join))
    assert join.how is how and len(join.schema) == width
    assert join.left_keys == (ex.ColumnRef(0, "x", pa.int64()),)
    assert join.right_keys == (ex.ColumnRef(join.right.schema.get_field_index("y"), "y", pa.int64()),)
    assert not join.nulls_equal and not join.null_aware
    if how in (ir.JoinType.LEFT, ir.JoinType.FULL):
        assert join.schema.field("y").nullable


def test_join_residual_filter_and_key_expression(tiny: Planner) -> None:
    root = tiny.translate("select * from t join u on x + 1 = y and z > w")
    join = one(nodes_of(root, ir.Join))
    x_plus_1 = ex.BinaryOp(B.ADD, ex.ColumnRef(0, "x", pa.int64()), ex.Literal(1, pa.int64()), pa.int64())
    assert join.left_keys == (x_plus_1,)
    cast = next(e for e in ex.walk(join.filter) if isinstance(e, ex.Cast))
    assert cast.operand == ex.ColumnRef(4, "w", pa.int32()) and cast.dtype == pa.float64()


def test_cross_join(tiny: Planner) -> None:
    root = tiny.translate("select * from t, u")
    assert isinstance(root, ir.CrossJoin) and root.schema.names == ["x", "z", "s", "y", "w"]


def test_inner_join_without_keys_keeps_its_filter(tiny: Planner) -> None:
    root = tiny.translate("select * from t cross join u where x > y")
    join = one(nodes_of(root, ir.Join))
    assert join.left_keys == join.right_keys == ()
    y, x = ex.ColumnRef(3, "y", pa.int64()), ex.ColumnRef(0, "x", pa.int64())
    assert join.filter == ex.BinaryOp(B.LT, y, x, pa.bool_())


@pytest.mark.parametrize(("op", "how"), [("intersect", ir.JoinType.LEFT_SEMI), ("except", ir.JoinType.LEFT_ANTI)])
def test_set_operations_join_with_nulls_equal(tiny: Planner, op: str, how: ir.JoinType) -> None:
    root = tiny.translate(f"select x from t {op} select y from u")
    join = one(nodes_of(root, ir.Join))
    assert join.how is how and join.nulls_equal and not join.null_aware


def test_not_in_subquery_is_null_aware_anti_join(tiny: Planner) -> None:
    root = tiny.translate("select * from t where x not in (select y from u)")
    join = one(nodes_of(root, ir.Join))
    assert join.how is ir.JoinType.LEFT_ANTI and join.null_aware and not join.nulls_equal


def test_not_exists_is_plain_anti_join(tiny: Planner) -> None:
    root = tiny.translate("select * from t where not exists (select 1 from u where y = x)")
    join = one(nodes_of(root, ir.Join))
    assert join.how is ir.JoinType.LEFT_ANTI and not join.null_aware


def test_in_subquery_under_or_is_mark_join(tiny: Planner) -> None:
    # The mark is read only under OR: a NULL mark filters like FALSE, so NULL handling is moot.
    root = tiny.translate("select * from t where x in (select y from u) or z > 1")
    join = one(nodes_of(root, ir.Join))
    assert join.how is ir.JoinType.LEFT_MARK and not join.null_aware
    assert join.schema.names[-1] == "mark" and join.schema.field("mark").type == pa.bool_()
    predicate = one(nodes_of(root, ir.Filter)).predicate
    assert predicate.left == ex.ColumnRef(3, "mark", pa.bool_())


def test_negated_mark_on_non_nullable_keys_is_accepted(tiny: Planner) -> None:
    root = tiny.translate("select * from nn where k not in (select k2 from nn2) or v > 1")
    join = one(nodes_of(root, ir.Join))
    assert join.how is ir.JoinType.LEFT_MARK and not join.null_aware


@pytest.mark.parametrize(
    "sql",
    [
        "select * from t where x not in (select y from u) or z > 1",
        "select * from t where not exists (select 1 from u where y = x) or z > 1",
    ],
)
def test_negated_mark_on_nullable_keys_is_refused(tiny: Planner, sql: str) -> None:
    # DataFusion gives both queries the same plan, yet NULLs make them differ (datafusion#8241).
    assert_translation_raises(tiny, sql, "mark join")


@pytest.mark.parametrize(
    "sql", ["select * from t where x = any (select y from u)", "select * from t where x > all (select y from u)"]
)
def test_any_all_mark_joins_whose_conditions_cannot_be_null(tiny: Planner, sql: str) -> None:
    # DataFusion spells out ANY/ALL's three-valued logic with marks over "(x op y) IS TRUE/NULL"
    # conditions, which are never NULL: those marks are two-valued whatever their origin.
    root = tiny.translate(sql)
    marks = [j for j in nodes_of(root, ir.Join) if j.how is ir.JoinType.LEFT_MARK]
    assert marks and all(not j.null_aware and j.filter is not None for j in marks)
    assert all(isinstance(j.filter, ex.UnaryOp) for j in marks)


def test_correlated_not_in_on_two_keys_is_refused(tiny: Planner) -> None:
    assert_translation_raises(
        tiny, "select x from t where x not in (select y from u where u.w = t.z)", "more than one key"
    )


def test_correlated_scalar_subquery_becomes_a_join(tiny: Planner) -> None:
    root = tiny.translate("select x, (select max(y) from u where u.w = t.x) as m from t")
    assert not [e for e in all_expressions(root) if isinstance(e, ex.ScalarSubquery)]
    assert one(nodes_of(root, ir.Join)).how is ir.JoinType.LEFT


def test_uncorrelated_scalar_subquery(tiny: Planner) -> None:
    root = tiny.translate("select x * (select max(y) from u) + z * (select avg(w) from u) as v from t")
    subqueries = [e for e in all_expressions(root) if isinstance(e, ex.ScalarSubquery)]
    assert sorted(str(s.dtype) for s in subqueries) == ["double", "int64"]
    assert root.schema.field("v").type == pa.float64()


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------


def projected(planner: Planner, select_list: str, table: str) -> tuple[ex.Expr, ...]:
    root = planner.translate(f"select {select_list} from {table}")
    assert isinstance(root, ir.Projection)
    return root.exprs


def test_literals_keep_datafusion_types(tiny: Planner) -> None:
    exprs = projected(
        tiny,
        "d + interval '3' month, price > 0.05, price * 2, cast(null as int) as n, true, 1.5, "
        "timestamp '2020-01-01 10:00:00', interval '1 day 2 hours'",
        "d",
    )
    shifted, compared, scaled, null, true, float_, timestamp, interval = exprs
    assert shifted.right == ex.Literal((3, 0, 0), pa.month_day_nano_interval()) and shifted.dtype == pa.date32()
    assert compared.right == ex.Literal(decimal.Decimal("0.05"), pa.decimal128(15, 2))
    assert str(compared.right.value) == "0.05"
    assert scaled.right == ex.Literal(decimal.Decimal(2), pa.decimal128(20, 0)) and scaled.dtype == pa.decimal128(36, 2)
    assert null == ex.Literal(None, pa.int32())
    assert true == ex.Literal(True, pa.bool_()) and float_ == ex.Literal(1.5, pa.float64())
    assert timestamp == ex.Literal(datetime.datetime(2020, 1, 1, 10), pa.timestamp("ns"))
    assert type(timestamp.value) is datetime.datetime
    assert interval == ex.Literal((0, 1, 2 * 3600 * 10**9), pa.month_day_nano_interval())


def test_like_ilike_escape(tiny: Planner) -> None:
    like, ilike, not_like = projected(tiny, "s like 'a%', s ilike 'B%', s not like 'c!%' escape '!'", "t")
    assert like == ex.Like(ex.ColumnRef(0, "s", pa.string()), "a%", False, False, None)
    assert ilike.case_insensitive and ilike.pattern == "B%"
    assert not_like.negated and not_like.escape == "!" and not not_like.case_insensitive


def test_in_list_of_constants_and_of_columns(tiny: Planner) -> None:
    constants, columns = projected(tiny, "x in (1, 2, 3, 4, 5, 6), x not in (y, 3)", "t, u")
    assert isinstance(constants, ex.InList) and not constants.negated
    assert [v.value for v in constants.values] == [1, 2, 3, 4, 5, 6]
    assert all(v.dtype == constants.operand.dtype == pa.int64() for v in constants.values)
    # A non-constant list is an AND of != (NOT IN) over the items.
    assert isinstance(columns, ex.BinaryOp) and columns.op is B.AND
    assert {c.op for c in (columns.left, columns.right)} == {B.NOT_EQ}


def test_in_list_handler_expands_non_constant_items(tiny: Planner) -> None:
    # The optimizer expands short lists itself; the unoptimized plan reaches the InList handler.
    root = tiny.translate("select x in (y, 3) from t, u", optimized=False)
    expr = root.exprs[0]
    assert expr == ex.BinaryOp(
        B.OR,
        ex.BinaryOp(B.EQ, ex.ColumnRef(0, "x", pa.int64()), ex.ColumnRef(3, "y", pa.int64()), pa.bool_()),
        ex.BinaryOp(B.EQ, ex.ColumnRef(0, "x", pa.int64()), ex.Literal(3, pa.int64()), pa.bool_()),
        pa.bool_(),
    )


def test_between_becomes_comparisons(tiny: Planner) -> None:
    root = tiny.translate("select x between 1 and 3, x not between 1 and 2 from t", optimized=False)
    between, not_between = root.exprs
    x = ex.ColumnRef(0, "x", pa.int64())
    one_, two, three = (ex.Literal(v, pa.int64()) for v in (1, 2, 3))
    bool_ = pa.bool_()
    assert between == ex.BinaryOp(
        B.AND, ex.BinaryOp(B.GT_EQ, x, one_, bool_), ex.BinaryOp(B.LT_EQ, x, three, bool_), bool_
    )
    assert not_between == ex.BinaryOp(
        B.OR, ex.BinaryOp(B.LT, x, one_, bool_), ex.BinaryOp(B.GT, x, two, bool_), bool_
    )


def test_case_simple_form_becomes_searched(tiny: Planner) -> None:
    (case,) = projected(tiny, "case x when 1 then 'one' when 2 then 'two' end", "t")
    assert isinstance(case, ex.Case) and case.otherwise is None and case.dtype == pa.string()
    assert [c.op for c, _ in case.whens] == [B.EQ, B.EQ]
    assert [c.right.value for c, _ in case.whens] == [1, 2]
    assert [v.value for _, v in case.whens] == ["one", "two"]


def test_casts_and_try_casts(tiny: Planner) -> None:
    cast, try_cast = projected(tiny, "cast(z as int), try_cast(s as bigint)", "t")
    assert cast == ex.Cast(ex.ColumnRef(0, "z", pa.float64()), pa.int32(), safe=False)
    assert try_cast.safe and try_cast.dtype == pa.int64()


def test_unary_operators(tiny: Planner) -> None:
    # Unoptimized: DataFusion's simplifier would turn NOT (z > 1) into z <= 1.
    sql = "select -x, not (z > 1), s is null, (z > 1) is true, (z > 1) is not false from t"
    root = tiny.translate(sql, optimized=False)
    exprs = root.exprs
    assert [e.op for e in exprs] == [
        ex.UnaryOperator.NEGATE,
        ex.UnaryOperator.NOT,
        ex.UnaryOperator.IS_NULL,
        ex.UnaryOperator.IS_TRUE,
        ex.UnaryOperator.IS_NOT_FALSE,
    ]
    assert exprs[0].dtype == pa.int64() and all(e.dtype == pa.bool_() for e in exprs[1:])


def test_string_concat_and_distinct_from(tiny: Planner) -> None:
    concat, distinct = projected(tiny, "s || 'x', x is distinct from y", "t, u")
    assert concat.op is B.STRING_CONCAT and concat.dtype == pa.string()
    assert distinct.op is B.IS_DISTINCT_FROM and distinct.dtype == pa.bool_()


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ("substring(name, 1, 2)", "substr"),
        ("substr(name, 2)", "substr"),
        ("upper(name)", "upper"),
        ("lower(name)", "lower"),
        ("length(name)", "character_length"),
        ("char_length(name)", "character_length"),
        ("octet_length(name)", "octet_length"),
        ("trim(name)", "trim"),
        ("btrim(name, 'x')", "trim"),
        ("ltrim(name)", "ltrim"),
        ("rtrim(name)", "rtrim"),
        ("concat(name, 'x', price)", "concat"),
        ("ends_with(name, 'b')", "ends_with"),
        ("strpos(name, 'b')", "strpos"),
        ("replace(name, 'A', 'a')", "replace"),
        ("abs(price)", "abs"),
        ("round(price, 1)", "round"),
        ("floor(price)", "floor"),
        ("ceil(price)", "ceil"),
        ("nullif(name, 'x')", "nullif"),
        ("extract(month from d)", "date_part"),
        ("date_part('DOW', d)", "date_part"),
        ("date_trunc('MONTH', d)", "date_trunc"),
    ],
)
def test_scalar_functions_get_canonical_names_and_datafusion_types(tiny: Planner, call: str, name: str) -> None:
    sql = f"select {call} as r from d"
    root = tiny.translate(sql)
    calls = [e for e in all_expressions(root) if isinstance(e, ex.ScalarFunction)]
    assert [c.name for c in calls] == [name]
    assert calls[0].dtype == tiny.result_schema(sql).field("r").type
    if name in ("date_part", "date_trunc"):
        unit = calls[0].args[0]
        assert isinstance(unit, ex.Literal) and unit.value == unit.value.lower()


def test_arithmetic_types_come_from_datafusion(tiny: Planner) -> None:
    sql = "select price * price as a, price / 3 as b, x / 2 as c, x % 2 as e, price + z as f from d, t"
    root = tiny.translate(sql)
    want = tiny.result_schema(sql)
    assert [e.dtype for e in root.exprs] == want.types
    assert want.field("a").type == pa.decimal128(31, 4)


# ---------------------------------------------------------------------------------------------
# Refusals: every reason, all at once
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("select approx_median(z) from t", "approx_median"),
        ("select approx_distinct(z) from t group by s", "approx_distinct"),
        ("select corr(distinct z, x) from t", "DISTINCT in the two-argument aggregate corr"),
        ("select array_agg(x) from t", "array_agg"),
        ("select sum(x) over (order by x range between 1 preceding and 1 following) from t", "window frame"),
        ("select lead(x, 2) ignore nulls over (order by z) from t", "IGNORE NULLS reading 2 rows ahead"),
        ("select first_value(x) over (order by z range between 1 preceding and current row) from t", "window frame"),
        ("select lag(x, x) over (order by z) from t", "must be a constant"),
        ("select count(distinct x) over (partition by s) from t", "DISTINCT in a window"),
        ("select regexp_replace(s, '\\d', 'b') from t", "regexp_replace() is not supported: \\d is Unicode-aware"),
        ("select * from t where regexp_like(s, '[[:alpha:]]')", "the operator ~"),  # becomes s ~ '...'
        ("select regexp_match(s, 'a') from t", "list"),
        ("select s similar to 'a%' from t", "SIMILAR TO"),
        ("select x in (select y from u) from t", "IN subquery"),
        ("select exists (select 1 from u where y = x) from t", "EXISTS subquery"),
        ("select * from t where x > (select max(y) from u where u.w > t.z)", "correlated"),
        ("select * from t where x = $1", "$1"),
        ("select first_value(x) from t", "first_value() without ORDER BY"),
        ("select last_value(x order by z) ignore nulls from t", "IGNORE NULLS"),
        (
            "with recursive r(n) as (select 1 union all select a.n + 1 from r a join r b on a.n = b.n) select * from r",
            "referenced more than once",
        ),
        ("select unnest(make_array(1, 2))", "Unnest"),
        ("select time '10:00:00'", "unsupported constant"),
        ("select date_part('epoch', d) from d", "date_part needs one of the units"),
    ],
)
def test_unsupported_sql_is_refused_with_its_reason(tiny: Planner, sql: str, reason: str) -> None:
    assert_translation_raises(tiny, sql, reason)


def test_every_reason_is_listed_at_once(tiny: Planner) -> None:
    reasons = assert_translation_raises(
        tiny,
        "select approx_median(z), regexp_replace(s, 'a', s) from t group by s",
        "approx_median",
        "regexp_replace",
    )
    assert len(reasons) == 2


def test_regex_operators_are_regexp_like_calls(tiny: Planner) -> None:
    sql = "select s ~ 'a+', s ~* 'a+', s !~ 'a+', s !~* 'a+' from t"
    exprs = one(nodes_of(tiny.translate(sql), ir.Projection)).exprs
    flags = []
    for e, negated in zip(exprs, (False, False, True, True)):
        if negated:
            assert isinstance(e, ex.UnaryOp) and e.op is ex.UnaryOperator.NOT
            e = e.operand
        assert isinstance(e, ex.ScalarFunction) and e.name == "regexp_like" and e.args[1] == ex.Literal("a+", pa.string())
        flags.append(e.args[2].value)
    assert flags == ["", "i", "", "i"]


def test_window_parameters_are_folded(tiny: Planner) -> None:
    sql = ("select lag(x, 2, 1.5) ignore nulls over (order by z) a, lead(x) over (order by z) b, "
           "nth_value(x, null) over (order by z) c, lag(x, null) over (order by z) d from t")
    a, b, c, d = one(nodes_of(tiny.translate(sql), ir.Window)).windows
    x = a.args[0]
    assert a.args[1:] == (ex.Literal(2, pa.int64()), ex.Cast(ex.Literal(1.5, pa.float64()), x.dtype)) and a.ignore_nulls
    assert b.args[1:] == (ex.Literal(1, pa.int64()),) and not b.ignore_nulls
    assert ex.window_parameter(c) is None and ex.window_parameter(d) == 0  # a NULL offset is 0


def test_reasons_are_collected_across_nodes_and_subqueries(tiny: Planner) -> None:
    sql = (
        "select lead(x, 3) ignore nulls over (order by z), s similar to 'a' from t "
        "where z > (select approx_median(w) from u) group by x, z, s"
    )
    reasons = assert_translation_raises(tiny, sql, "lead", "SIMILAR TO", "approx_median")
    assert len(reasons) == 3
    with pytest.raises(UnsupportedSQLError, match=r"3 reason\(s\)"):
        translate(tiny.plan(sql), tiny.ctx, tiny.catalog)


def test_information_schema_is_refused(tiny_dir: Path) -> None:
    planner = Planner(datafusion.SessionConfig().with_information_schema(True))
    planner.register("t", tiny_dir / "t.parquet")
    assert_translation_raises(planner, "select table_name from information_schema.tables", "information_schema")


def test_table_unknown_to_the_catalog_is_refused(tiny_dir: Path) -> None:
    planner = Planner()
    planner.register("t", tiny_dir / "t.parquet")
    planner.ctx.register_parquet("only_in_datafusion", str(tiny_dir / "u.parquet"))
    assert_translation_raises(planner, "select * from t, only_in_datafusion", "'only_in_datafusion' is not registered")


def test_catalog_out_of_sync_with_datafusion_is_an_sql_error(tiny_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": pa.array([1], pa.int32())}), other)
    planner = Planner()
    planner.catalog.register_parquet("t", other)
    planner.ctx.register_parquet("t", str(tiny_dir / "t.parquet"))
    with pytest.raises(SQLError, match="register the table again") as info:
        translate(planner.plan("select x from t"), planner.ctx, planner.catalog)
    assert not isinstance(info.value, UnsupportedSQLError)

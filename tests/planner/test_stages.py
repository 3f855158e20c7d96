"""Stage cutting (planner.stages): golden text of the stage plans of TPC-H queries, and the rules
that pin a stage fragment to one task's partition.

The golden plans use a fixed scan split count (``scan_splits=2``), so they depend only on the
plans (DataFusion's, and the broadcast decisions from TPC-H's row counts), not on how the Parquet
files were written. A change in the expected text is a change in how queries are distributed:
read the diff before updating it.
"""

from __future__ import annotations

from typing import Callable

import pyarrow as pa
import pytest

from gpu_exec.testing.tpch import query_sql
from planner.expr import ColumnRef
from planner.ir import Exchange, ExchangeKind, Join, JoinType, TableScan, TableSource, Union, Values
from planner.stages import (
    ExchangeRead,
    ExchangeWrite,
    ScanSplit,
    cut_stages,
    output_partitions,
    render_plan_fragment,
    render_stages,
    task_plan,
)


def _two_splits(scan: TableScan) -> int:
    return 2


def _stage_text(sql: str, tables: dict[str, str], connect_for_tests: Callable[..., object], **options: object) -> str:
    session = connect_for_tests(partitions=4, tables=tables, **options)
    try:
        plan = session.sql(sql).physical_plan  # type: ignore[attr-defined]
    finally:
        session.close()  # type: ignore[attr-defined]
    return render_stages(cut_stages(plan, _two_splits))


Q1 = """\
Stage 1 (map): tasks=2
  ExchangeWrite(hash): partitions=4 keys=[l_returnflag#0, l_linestatus#1]
    Aggregate(partial): group_by=[l_returnflag#5, l_linestatus#6] aggregates=[sum(l_quantity#1), sum(l_extendedprice#2), sum(__common_expr_1#0), sum((__common_expr_1#0 * (1 + l_tax#4))), avg(l_quantity#1), avg(l_extendedprice#2), avg(l_discount#3), count(1)]
      Projection: (l_extendedprice#1 * (1 - l_discount#2)) AS __common_expr_1, l_quantity#0 AS l_quantity, l_extendedprice#1 AS l_extendedprice, l_discount#2 AS l_discount, l_tax#3 AS l_tax, l_returnflag#4 AS l_returnflag, l_linestatus#5 AS l_linestatus
        Filter: (l_shipdate#6 <= 1998-09-02)
          TableScan: lineitem [l_quantity, l_extendedprice, l_discount, l_tax, l_returnflag, l_linestatus, l_shipdate] filters=[(l_shipdate#6 <= 1998-09-02)]
Stage 2 (map): tasks=4 inputs=[1]
  ExchangeWrite(single): partitions=1
    Sort: [l_returnflag#0 ASC NULLS LAST, l_linestatus#1 ASC NULLS LAST]
      Projection: l_returnflag#0 AS l_returnflag, l_linestatus#1 AS l_linestatus, sum(lineitem.l_quantity)#2 AS sum_qty, sum(lineitem.l_extendedprice)#3 AS sum_base_price, sum(lineitem.l_extendedprice * Int64(1) - lineitem.l_discount)#4 AS sum_disc_price, sum(lineitem.l_extendedprice * Int64(1) - lineitem.l_discount * Int64(1) + lineitem.l_tax)#5 AS sum_charge, avg(lineitem.l_quantity)#6 AS avg_qty, avg(lineitem.l_extendedprice)#7 AS avg_price, avg(lineitem.l_discount)#8 AS avg_disc, count(Int64(1))#9 AS count_order
        Aggregate(final): group_by=[l_returnflag#0, l_linestatus#1] aggregates=[sum(l_quantity#1), sum(l_extendedprice#2), sum(__common_expr_1#0), sum((__common_expr_1#0 * (1 + l_tax#4))), avg(l_quantity#1), avg(l_extendedprice#2), avg(l_discount#3), count(1)]
          ExchangeRead(hash): stage=1
Stage 3 (final): tasks=1 inputs=[2]
  Sort: [l_returnflag#0 ASC NULLS LAST, l_linestatus#1 ASC NULLS LAST]
    ExchangeRead(single): stage=2
"""


Q3 = """\
Stage 1 (map): tasks=2
  ExchangeWrite(broadcast): partitions=4
    Projection: c_custkey#0 AS c_custkey
      Filter: (c_mktsegment#1 = 'BUILDING')
        TableScan: customer [c_custkey, c_mktsegment] filters=[(c_mktsegment#1 = 'BUILDING')]
Stage 2 (map): tasks=2 inputs=[1]
  ExchangeWrite(broadcast): partitions=4
    Projection: o_orderkey#1 AS o_orderkey, o_orderdate#3 AS o_orderdate, o_shippriority#4 AS o_shippriority
      Join(inner): on=[c_custkey#0 = o_custkey#1]
        ExchangeRead(broadcast): stage=1
        Filter: (o_orderdate#2 < 1995-03-15)
          TableScan: orders [o_orderkey, o_custkey, o_orderdate, o_shippriority] filters=[(o_orderdate#2 < 1995-03-15)]
Stage 3 (map): tasks=2 inputs=[2]
  ExchangeWrite(hash): partitions=4 keys=[l_orderkey#0, o_orderdate#1, o_shippriority#2]
    Aggregate(partial): group_by=[l_orderkey#2, o_orderdate#0, o_shippriority#1] aggregates=[sum((l_extendedprice#3 * (1 - l_discount#4)))]
      Projection: o_orderdate#1 AS o_orderdate, o_shippriority#2 AS o_shippriority, l_orderkey#3 AS l_orderkey, l_extendedprice#4 AS l_extendedprice, l_discount#5 AS l_discount
        Join(inner): on=[o_orderkey#0 = l_orderkey#0]
          ExchangeRead(broadcast): stage=2
          Projection: l_orderkey#0 AS l_orderkey, l_extendedprice#1 AS l_extendedprice, l_discount#2 AS l_discount
            Filter: (l_shipdate#3 > 1995-03-15)
              TableScan: lineitem [l_orderkey, l_extendedprice, l_discount, l_shipdate] filters=[(l_shipdate#3 > 1995-03-15)]
Stage 4 (map): tasks=4 inputs=[3]
  ExchangeWrite(single): partitions=1
    Sort: [revenue#1 DESC NULLS FIRST, o_orderdate#2 ASC NULLS LAST] fetch=10
      Projection: l_orderkey#0 AS l_orderkey, sum(lineitem.l_extendedprice * Int64(1) - lineitem.l_discount)#3 AS revenue, o_orderdate#1 AS o_orderdate, o_shippriority#2 AS o_shippriority
        Aggregate(final): group_by=[l_orderkey#0, o_orderdate#1, o_shippriority#2] aggregates=[sum((l_extendedprice#3 * (1 - l_discount#4)))]
          ExchangeRead(hash): stage=3
Stage 5 (final): tasks=1 inputs=[4]
  Sort: [revenue#1 DESC NULLS FIRST, o_orderdate#2 ASC NULLS LAST] fetch=10
    ExchangeRead(single): stage=4
"""


Q13 = """\
Stage 1 (map): tasks=2
  ExchangeWrite(broadcast): partitions=4
    Projection: o_orderkey#0 AS o_orderkey, o_custkey#1 AS o_custkey
      Filter: o_comment#2 NOT LIKE '%special%requests%'
        TableScan: orders [o_orderkey, o_custkey, o_comment] filters=[o_comment#2 NOT LIKE '%special%requests%']
Stage 2 (map): tasks=2 inputs=[1]
  ExchangeWrite(hash): partitions=4 keys=[c_custkey#0]
    Aggregate(partial): group_by=[c_custkey#0] aggregates=[count(o_orderkey#1)]
      Projection: c_custkey#0 AS c_custkey, o_orderkey#1 AS o_orderkey
        Join(left): on=[c_custkey#0 = o_custkey#1]
          TableScan: customer [c_custkey]
          ExchangeRead(broadcast): stage=1
Stage 3 (map): tasks=4 inputs=[2]
  ExchangeWrite(hash): partitions=4 keys=[c_count#0]
    Aggregate(partial): group_by=[c_count#0] aggregates=[count(1)]
      Projection: count(orders.o_orderkey)#1 AS c_count
        Aggregate(final): group_by=[c_custkey#0] aggregates=[count(o_orderkey#1)]
          ExchangeRead(hash): stage=2
Stage 4 (map): tasks=4 inputs=[3]
  ExchangeWrite(single): partitions=1
    Sort: [custdist#1 DESC NULLS FIRST, c_count#0 DESC NULLS FIRST]
      Projection: c_count#0 AS c_count, count(Int64(1))#1 AS custdist
        Aggregate(final): group_by=[c_count#0] aggregates=[count(1)]
          ExchangeRead(hash): stage=3
Stage 5 (final): tasks=1 inputs=[4]
  Sort: [custdist#1 DESC NULLS FIRST, c_count#0 DESC NULLS FIRST]
    ExchangeRead(single): stage=4
"""


Q5 = """\
Stage 1 (map): tasks=2
  ExchangeWrite(hash): partitions=4 keys=[c_custkey#0]
    TableScan: customer [c_custkey, c_nationkey]
Stage 2 (map): tasks=2
  ExchangeWrite(hash): partitions=4 keys=[o_custkey#1]
    Projection: o_orderkey#0 AS o_orderkey, o_custkey#1 AS o_custkey
      Filter: ((o_orderdate#2 >= 1994-01-01) AND (o_orderdate#2 < 1995-01-01))
        TableScan: orders [o_orderkey, o_custkey, o_orderdate] filters=[(o_orderdate#2 >= 1994-01-01), (o_orderdate#2 < 1995-01-01)]
Stage 3 (map): tasks=4 inputs=[1, 2]
  ExchangeWrite(hash): partitions=4 keys=[o_orderkey#1]
    Projection: c_nationkey#1 AS c_nationkey, o_orderkey#2 AS o_orderkey
      Join(inner): on=[c_custkey#0 = o_custkey#1]
        ExchangeRead(hash): stage=1
        ExchangeRead(hash): stage=2
Stage 4 (map): tasks=2
  ExchangeWrite(hash): partitions=4 keys=[l_orderkey#0]
    TableScan: lineitem [l_orderkey, l_suppkey, l_extendedprice, l_discount]
Stage 5 (map): tasks=4 inputs=[3, 4]
  ExchangeWrite(hash): partitions=4 keys=[l_suppkey#1, c_nationkey#0]
    Projection: c_nationkey#0 AS c_nationkey, l_suppkey#3 AS l_suppkey, l_extendedprice#4 AS l_extendedprice, l_discount#5 AS l_discount
      Join(inner): on=[o_orderkey#1 = l_orderkey#0]
        ExchangeRead(hash): stage=3
        ExchangeRead(hash): stage=4
Stage 6 (map): tasks=2
  ExchangeWrite(hash): partitions=4 keys=[s_suppkey#0, s_nationkey#1]
    TableScan: supplier [s_suppkey, s_nationkey]
Stage 7 (map): tasks=4 inputs=[5, 6]
  ExchangeWrite(hash): partitions=4 keys=[s_nationkey#2]
    Projection: l_extendedprice#2 AS l_extendedprice, l_discount#3 AS l_discount, s_nationkey#5 AS s_nationkey
      Join(inner): on=[l_suppkey#1 = s_suppkey#0, c_nationkey#0 = s_nationkey#1]
        ExchangeRead(hash): stage=5
        ExchangeRead(hash): stage=6
Stage 8 (map): tasks=2
  ExchangeWrite(hash): partitions=4 keys=[n_nationkey#0]
    TableScan: nation [n_nationkey, n_name, n_regionkey]
Stage 9 (map): tasks=4 inputs=[7, 8]
  ExchangeWrite(hash): partitions=4 keys=[n_regionkey#3]
    Projection: l_extendedprice#0 AS l_extendedprice, l_discount#1 AS l_discount, n_name#4 AS n_name, n_regionkey#5 AS n_regionkey
      Join(inner): on=[s_nationkey#2 = n_nationkey#0]
        ExchangeRead(hash): stage=7
        ExchangeRead(hash): stage=8
Stage 10 (map): tasks=2
  ExchangeWrite(hash): partitions=4 keys=[r_regionkey#0]
    Projection: r_regionkey#0 AS r_regionkey
      Filter: (r_name#1 = 'ASIA')
        TableScan: region [r_regionkey, r_name] filters=[(r_name#1 = 'ASIA')]
Stage 11 (map): tasks=4 inputs=[9, 10]
  ExchangeWrite(hash): partitions=4 keys=[n_name#0]
    Aggregate(partial): group_by=[n_name#2] aggregates=[sum((l_extendedprice#0 * (1 - l_discount#1)))]
      Projection: l_extendedprice#0 AS l_extendedprice, l_discount#1 AS l_discount, n_name#2 AS n_name
        Join(inner): on=[n_regionkey#3 = r_regionkey#0]
          ExchangeRead(hash): stage=9
          ExchangeRead(hash): stage=10
Stage 12 (map): tasks=4 inputs=[11]
  ExchangeWrite(single): partitions=1
    Sort: [revenue#1 DESC NULLS FIRST]
      Projection: n_name#0 AS n_name, sum(lineitem.l_extendedprice * Int64(1) - lineitem.l_discount)#1 AS revenue
        Aggregate(final): group_by=[n_name#0] aggregates=[sum((l_extendedprice#0 * (1 - l_discount#1)))]
          ExchangeRead(hash): stage=11
Stage 13 (final): tasks=1 inputs=[12]
  Sort: [revenue#1 DESC NULLS FIRST]
    ExchangeRead(single): stage=12
"""


@pytest.mark.parametrize(
    ("number", "options", "expected"),
    [(1, {}, Q1), (3, {}, Q3), (13, {}, Q13), (5, {"broadcast_rows": 0}, Q5)],
    ids=["q01", "q03-broadcast-joins", "q13-left-join", "q05-hash-joins"],
)
def test_tpch_stage_plans(number: int, options: dict[str, object], expected: str, tpch_data: dict[str, str],
                          connect_for_tests: Callable[..., object]) -> None:
    assert _stage_text(query_sql(number), tpch_data, connect_for_tests, **options) + "\n" == expected


# ---- the rules, on small hand-made plans -----------------------------------------------------

_SCHEMA = pa.schema([("k", pa.int64())])
_KEY = (ColumnRef(0, "k", pa.int64()),)


def _scan(name: str) -> TableScan:
    return TableScan(TableSource(name, "parquet", (f"/data/{name}.parquet",), _SCHEMA), ("k",), (), None, _SCHEMA)


def _hash(node: object, partitions: int = 4) -> Exchange:
    return Exchange(node, ExchangeKind.HASH, _KEY, partitions, _SCHEMA)  # type: ignore[arg-type]


def _join(left: object, right: object) -> Join:
    return Join(left, right, JoinType.INNER, _KEY, _KEY, None, False, False,  # type: ignore[arg-type]
                pa.schema([("k", pa.int64()), ("k", pa.int64())]))


def test_cutting_is_pure_and_deterministic() -> None:
    plan = _join(_hash(_scan("a")), _hash(_scan("b")))
    first, second = cut_stages(plan, _two_splits), cut_stages(plan, _two_splits)
    assert first == second
    assert [s.id for s in first.stages] == [1, 2, 3]
    assert [s.inputs for s in first.stages] == [(), (), (1, 2)]
    assert first.final.is_final and not first.stage(1).is_final
    assert [c.id for c in first.consumers(1)] == [3]
    assert plan == _join(_hash(_scan("a")), _hash(_scan("b")))  # the input plan is untouched


def test_identical_exchanges_become_one_stage_read_twice() -> None:
    plan = _join(_hash(_scan("a")), _hash(_scan("a")))  # a self join
    stages = cut_stages(plan, _two_splits)
    assert len(stages.stages) == 2
    final = stages.final.root
    assert final.children() == (ExchangeRead(1, ExchangeKind.HASH, 4, _SCHEMA),) * 2


def test_task_count_is_the_fragment_partition_count() -> None:
    broadcast = Exchange(_scan("small"), ExchangeKind.BROADCAST, (), 4, _SCHEMA)
    plan = Exchange(_join(_scan("big"), broadcast), ExchangeKind.SINGLE, (), 1, _SCHEMA)
    stages = cut_stages(plan, lambda scan: 3 if scan.source.name == "big" else 1)
    assert [s.tasks for s in stages.stages] == [1, 3, 1]  # broadcast map, join (big's splits), merge


def test_task_plan_pins_scans_and_reads() -> None:
    broadcast = Exchange(_scan("small"), ExchangeKind.BROADCAST, (), 4, _SCHEMA)
    plan = _hash(_join(_scan("big"), broadcast))
    stage = cut_stages(plan, _two_splits).stage(2)
    pinned = task_plan(stage, 1, _two_splits)
    assert isinstance(pinned, ExchangeWrite)
    join = pinned.input
    assert join.children() == (ScanSplit(_scan("big"), 1, _SCHEMA),
                               ExchangeRead(1, ExchangeKind.BROADCAST, 4, _SCHEMA, partition=0))
    assert "\n".join(render_plan_fragment(pinned)) == """\
ExchangeWrite(hash): partitions=4 keys=[k#0]
  Join(inner): on=[k#0 = k#0]
    TableScan: big [k] split=1
    ExchangeRead(broadcast): stage=1 partition=0"""
    with pytest.raises(ValueError, match="has 2 tasks"):
        task_plan(stage, 2, _two_splits)


def test_task_plan_of_a_union_keeps_the_input_that_holds_the_partition() -> None:
    values = Values(((),), pa.schema([]))
    union = Union((_scan("a"), _hash(_scan("b")), values), _SCHEMA)
    stages = cut_stages(union, _two_splits)
    final = stages.final
    assert final.tasks == output_partitions(final.root, _two_splits) == 2 + 4 + 1
    assert task_plan(final, 1, _two_splits) == Union((ScanSplit(_scan("a"), 1, _SCHEMA),), _SCHEMA)
    assert task_plan(final, 5, _two_splits) == Union(
        (ExchangeRead(1, ExchangeKind.HASH, 4, _SCHEMA, partition=3),), _SCHEMA)
    assert task_plan(final, 6, _two_splits) == Union((values,), _SCHEMA)

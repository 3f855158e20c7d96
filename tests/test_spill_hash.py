"""Grace-hash spilling of the hash aggregate and the hash join's build side: over a memory limit
far smaller than their data (``MEMORY_LIMIT``), with small batches, every aggregate and join type
spills (the metrics say so) and still answers as DataFusion does; a single group that cannot fit
fails with ResourceError naming the operator and the limit."""

from __future__ import annotations

from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.errors import ResourceError

BATCH_ROWS = 32
N = 3000


def _big() -> pa.Table:
    return pa.table({
        "id": pa.array(range(N), pa.int64()),
        "k": pa.array([None if i % 97 == 0 else (i * 7) % 1009 for i in range(N)], pa.int32()),
        "s": pa.array([None if i % 89 == 0 else f"s{(i * 13) % 401}" for i in range(N)]),
        "x": pa.array([None if i % 31 == 0 else (i % 113) * 0.5 - 3 for i in range(N)], pa.float64()),
        "g": pa.array([i % 3 for i in range(N)], pa.int32()),
    })


def _other() -> pa.Table:
    """A join partner as big as ``big``: keys that match (several times), miss, and are NULL."""
    m = 2500
    return pa.table({
        "k": pa.array([None if i % 53 == 0 else (i * 11) % 1500 for i in range(m)], pa.int32()),
        "v": pa.array([f"v{i % 211}" for i in range(m)]),
        "w": pa.array([i * 3 for i in range(m)], pa.int64()),
    })


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("spill_hash")
    paths = {}
    # Keys only (more rows than ``big``, repeating), what a semi / anti join builds from; ``nk``
    # holds one NULL.
    m = 8000
    keys = pa.table({"k": pa.array([None if i % 401 == 0 else (i * 5) % 1700 for i in range(m)], pa.int32())})
    nk = pa.table({"k": pa.array([None if i == 700 else i for i in range(0, 2 * m, 2)], pa.int32())})
    for name, table in (("big", _big()), ("other", _other()), ("keys", keys), ("nk", nk)):
        path = root / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=500)
        paths[name] = str(path)
    return paths


def _run(sql: str, tables: dict[str, str], connect_for_tests: Callable[..., Any], **options: Any) -> tuple[pa.Table, dict]:
    from gpu_exec.api.sql_scripts import datafusion_context, run_on_datafusion
    from gpu_exec.testing.compare import compare_tables, query_is_ordered

    with connect_for_tests(tables=tables, batch_rows=BATCH_ROWS, **options) as session:
        df = session.sql(sql)
        actual = df.to_arrow()
        metrics = dict(df.metrics)
    expected = run_on_datafusion(datafusion_context(tables), sql).table
    differences = compare_tables(actual, expected, query_is_ordered(sql))
    assert not differences, f"gpu-exec and DataFusion differ\nSQL:\n{sql}\n" + "\n".join(differences)
    return actual, metrics


# The limits are meant to leave the exchanges room for what they repartition (the partial
# aggregates' states, both sides of a join; see ``_run_spilling``; past it they spill too, which
# tests/test_spill_exchange.py covers), and the breakers spill past their share of it (a quarter
# of the limit split among the partitions). Hash joins only (broadcast_rows=0): a
# broadcast build side is the exchange's to hold.
LAYOUTS = {
    "1-partition": {"partitions": 1, "broadcast_rows": 0},
    "3-partitions": {"partitions": 3, "broadcast_rows": 0},
}
AGGREGATE_LIMITS = {"1-partition": 96 * 1024, "3-partitions": 160 * 1024}
JOIN_LIMIT = 96 * 1024

AGGREGATES = [
    "select k, count(*), sum(x), avg(x), min(s), max(id) from big group by k",
    "select s, k, count(x), sum(id) from big group by s, k",
    "select id % 2999 as m, s, count(*) as c, max(x) from big group by 1, 2 having count(*) >= 1",
    "select k, count(distinct s), sum(distinct g), count(*) from big group by k",
    "select s, count(distinct k), count(distinct g) from big group by s",
]


def _run_spilling(sql: str, tables: dict[str, str], connect_for_tests: Callable[..., Any], base: int,
                  **options: Any) -> tuple[pa.Table, dict]:
    """``_run`` under the smallest of a few limits from ``base`` up under which the exchanges
    have room for what they hold (that varies with the device: a GPU's exchange pieces may count
    more bytes than the CPU's). The breakers above them must spill."""
    for factor in (1, 1.5, 2, 3, 4):
        try:
            return _run(sql, tables, connect_for_tests, memory_limit=int(base * factor), **options)
        except ResourceError as exc:
            if exc.consumer not in ("Exchange", "AdaptiveBroadcast"):
                raise
    pytest.fail(f"the exchanges of {sql!r} never fit")


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("sql", AGGREGATES)
def test_aggregates_spill_and_match_datafusion(sql: str, layout: str, tables: dict[str, str],
                                               connect_for_tests: Callable[..., Any],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if LAYOUTS[layout]["partitions"] > 1:
        # Over 3 partitions the partial states all pass through an exchange, which holds them:
        # a limit that leaves it room (on a GPU its pieces count more bytes) can leave the
        # aggregates' shares above what they hold. A smaller share has them spill all the same.
        from gpu_exec.engine.operators import grace

        monkeypatch.setattr(grace, "share", lambda ctx: ctx.memory.effective_limit // (16 * ctx.partitions))
    _, metrics = _run_spilling(sql, tables, connect_for_tests, AGGREGATE_LIMITS[layout], **LAYOUTS[layout])
    assert metrics["Aggregate"].spilled_bytes > 0


JOINS = [
    "select b.id, o.v from big b join other o on b.k = o.k",
    "select b.id, o.v from big b join other o on b.k = o.k and b.id > o.w",
    "select b.id, o.w from big b left join other o on b.k = o.k",
    "select b.id, o.w from big b right join other o on b.k = o.k",
    "select b.id, o.w from big b full join other o on b.k = o.k",
    "select b.id, o.w from big b full join other o on b.k = o.k and b.id < o.w",
    "select id from big b where exists (select 1 from keys o where o.k = b.k)",
    "select id from big b where not exists (select 1 from keys o where o.k = b.k)",
    "select id from big b where not exists (select 1 from other o where o.k = b.k and o.w > b.id)",
    "select id from big where k in (select k from keys)",
    "select b.id, o.w from big b join other o on b.k is not distinct from o.k",
]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("sql", JOINS)
def test_joins_spill_and_match_datafusion(sql: str, layout: str, tables: dict[str, str],
                                          connect_for_tests: Callable[..., Any]) -> None:
    _, metrics = _run_spilling(sql, tables, connect_for_tests, JOIN_LIMIT, **LAYOUTS[layout])
    assert metrics["Join"].spilled_bytes > 0


def test_a_full_join_spills_unmatched_build_rows_of_every_partition(
        tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    # Build rows that no probe row matches (keys past big's, NULL keys) come out of each spilled
    # partition, once.
    sql = "select o.k, o.w, b.id from big b full join other o on b.k = o.k where b.id is null"
    actual, metrics = _run_spilling(sql, tables, connect_for_tests, JOIN_LIMIT, **LAYOUTS["1-partition"])
    assert metrics["Join"].spilled_bytes > 0 and actual.num_rows > 0


# Null-aware joins (NOT IN, IN as a value) are planned with a broadcast build side, which the
# exchange holds: run them here with the build side streamed instead, so that it spills, and check
# that a NULL key anywhere on the build side still decides every spilled partition's answer.
NULL_AWARE = [
    "select id from big where k not in (select k from nk)",
    "select id from big where k not in (select k from nk where k is not null)",
    "select id from big where k not in (select k from nk where k > 5000)",
    "select id from big where k in (select k from nk) or id < 5",
    "select id from big where k in (select k from nk where k is not null) or id < 5",
]


def _unbroadcast(node: Any) -> Any:
    import dataclasses

    from planner.ir import Exchange, ExchangeKind, Join, PlanNode

    if isinstance(node, Join) and node.null_aware and isinstance(node.right, Exchange) \
            and node.right.kind is ExchangeKind.BROADCAST:
        node = dataclasses.replace(node, right=node.right.input)
    changes = {f.name: _unbroadcast(getattr(node, f.name)) for f in dataclasses.fields(node)
               if isinstance(getattr(node, f.name), PlanNode)}
    return dataclasses.replace(node, **changes) if changes else node


@pytest.mark.parametrize("sql", NULL_AWARE)
def test_null_aware_joins_spill_and_keep_the_build_sides_nulls(sql: str, tables: dict[str, str],
                                                              connect_for_tests: Callable[..., Any]) -> None:
    from gpu_exec.api.sql_scripts import datafusion_context, run_on_datafusion
    from gpu_exec.engine.driver import run_plan
    from gpu_exec.testing.compare import compare_tables

    with connect_for_tests(tables=tables, batch_rows=BATCH_ROWS, partitions=1, memory_limit=64 * 1024) as session:
        df = session.sql(sql)
        plan = _unbroadcast(df.physical_plan)
        assert plan != df.physical_plan
        ctx = df._context()
        try:
            actual = run_plan(plan, ctx)
        finally:
            ctx.close()
        ctx.memory_metrics()
    assert ctx.metrics["Join"].spilled_bytes > 0
    expected = run_on_datafusion(datafusion_context(tables), sql).table
    differences = compare_tables(actual, expected, False)
    assert not differences, "\n".join(differences)


def test_a_group_bigger_than_the_limit_fails_naming_the_aggregate(tables: dict[str, str],
                                                                   connect_for_tests: Callable[..., Any]) -> None:
    # DISTINCT aggregates keep their input rows: one group's rows cannot be split by key, and do
    # not fit.
    sql = "select g2, count(distinct s), sum(distinct x) from (select 1 as g2, s, x from big) t group by g2"
    limit = 32 * 1024
    with connect_for_tests(tables=tables, batch_rows=BATCH_ROWS, partitions=1, memory_limit=limit) as session:
        with pytest.raises(ResourceError) as caught:
            session.sql(sql).to_arrow()
        assert caught.value.consumer == "Aggregate" and caught.value.limit == limit
        message = str(caught.value)
        assert "Aggregate" in message and "memory_limit" in message and "32.0 KiB" in message
        assert session.memory_pool.current == 0
        # Many groups under the same limit: spilled, and answered.
        df = session.sql("select id % 1000 as m, count(distinct s), sum(distinct x) from big group by 1")
        assert df.to_arrow().num_rows == 1000
        assert df.metrics["Aggregate"].spilled_bytes > 0


@pytest.mark.parametrize("sql", [
    "select s, k, count(x), sum(id) from big group by s, k",
    "select k, count(distinct s), sum(distinct g), count(*) from big group by k",
    "select b.id, o.w from big b full join other o on b.k = o.k and b.id < o.w",
    "select id from big b where not exists (select 1 from keys o where o.k = b.k)",
])
def test_a_spilled_partition_still_too_big_is_split_again(sql: str, tables: dict[str, str],
                                                          connect_for_tests: Callable[..., Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Two files a split, and a share of a sixteenth of the limit: a level-0 file holds half the
    # rows, more than the share; it is split again (another salt) until its files fit.
    from gpu_exec.engine.operators import grace

    splits: list[int] = []
    below = grace.HashFiles.below

    def counted(self: Any) -> Any:
        splits.append(self.level + 1)
        return below(self)

    monkeypatch.setattr(grace, "FANOUT", 2)
    monkeypatch.setattr(grace, "share", lambda ctx: ctx.memory.effective_limit // 16)
    monkeypatch.setattr(grace.HashFiles, "below", counted)
    _, metrics = _run_spilling(sql, tables, connect_for_tests, JOIN_LIMIT, **LAYOUTS["1-partition"])
    assert splits and max(splits) >= 1
    assert sum(m.spilled_bytes for m in metrics.values()) > 0

"""Reading only what a query needs: row groups skipped by their statistics (a scan's filters) and
by a hash join's build keys (dynamic filters), with the same answers as DataFusion, and the
metrics that show what was skipped.

``fact`` is clustered: each of its 20 row groups holds one value of ``dk`` (and a narrow range of
``day``, ``s``, ``ts``), so selective filters on those columns rule most row groups out. The
differential tests run every query in three layouts; the metric tests pin a layout where the
answer to "was it pruned" does not depend on timing (a broadcast build side is whole as soon as
it is collected; one partition has one build side).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

N = 2000
GROUP = 100
GROUPS = N // GROUP


def _fact() -> pa.Table:
    return pa.table({
        "id": pa.array(range(N), pa.int64()),
        # One key per row group, a NULL now and then.
        "dk": pa.array([None if i % 97 == 0 else i // GROUP for i in range(N)], pa.int32()),
        "ck": pa.array([i % 50 for i in range(N)], pa.int32()),
        "day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i // 20) for i in range(N)]),
        "s": pa.array([None if i % 89 == 0 else f"s{i // GROUP:03d}" for i in range(N)]),
        "ts": pa.array([dt.datetime(2021, 1, 1) + dt.timedelta(hours=i) for i in range(N)], pa.timestamp("us")),
        "amount": pa.array([Decimal(i) / 4 for i in range(N)], pa.decimal128(12, 2)),
        "x": pa.array([float("nan") if i % 301 == 0 else (i % 13) * 0.5 for i in range(N)], pa.float64()),
    })


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("pruning")
    dims = {
        # dk 3 and 15 named "x"; a NULL key; keys that match no fact row.
        "dim": pa.table({
            "dk": pa.array([3, 15, 4, None, 40, 7], pa.int32()),
            "name": ["x", "x", "y", "x", "x", "z"],
            "s": ["s003", "s015", "s004", None, "s999", "s007"],
        }),
        "dimn": pa.table({"dk": pa.array([5, None], pa.int32()), "tag": ["five", "null"]}),
        "cust": pa.table({"ck": pa.array(range(50), pa.int32()), "seg": [f"seg{i % 5}" for i in range(50)]}),
        "days": pa.table({"day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(100)]),
                          "holiday": [i in (10, 11, 12) for i in range(100)]}),
        "empty": pa.table({"dk": pa.array([], pa.int32()), "name": pa.array([], pa.string())}),
        # A build side too big to summarize on the host: its range comes from an aggregate.
        "big": pa.table({"id": pa.array(range(0, 140_000, 2), pa.int64()),
                         "s": pa.array([f"s{(i * 7) % 20:03d}" for i in range(70_000)])}),
    }
    paths = {}
    pq.write_table(_fact(), root / "fact.parquet", row_group_size=GROUP)
    paths["fact"] = str(root / "fact.parquet")
    # The same data without statistics: nothing can be pruned, everything must still match.
    pq.write_table(_fact(), root / "nostats.parquet", row_group_size=GROUP, write_statistics=False)
    paths["nostats"] = str(root / "nostats.parquet")
    for name, table in dims.items():
        pq.write_table(table, root / f"{name}.parquet")
        paths[name] = str(root / f"{name}.parquet")
    return paths


STATIC = [
    "select count(*), sum(amount) from fact where day >= date '2020-02-01' and day < date '2020-02-11'",
    "select id, s from fact where s = 's005'",
    "select id from fact where s in ('s001', 's017', 'zzz')",
    "select id from fact where s > 's018' or s is null",
    "select count(*) from fact where ts > timestamp '2021-03-20 00:00:00'",
    "select count(*) from fact where amount >= 450.25 and amount < 460",
    "select id from fact where dk is null",
    "select count(*) from fact where dk is not null and dk < 3",
    "select id from fact where dk = 3 or dk = 15",
    "select count(*) from fact where dk not in (1, 2)",
    "select count(*) from fact where dk > 100",  # prunes everything
    "select count(*) from fact where dk between 3 and 4 and ck = 7",
    "select count(*) from fact where cast(dk as bigint) = 5",
    "select count(*) from fact where x > 5.5",  # a float column: NaN is above every number
    "select count(*) from fact where 7 > dk",
    "select count(*) from nostats where dk = 3",
]

JOINS = [
    # inner, with a selective dimension
    "select f.id, d.name from fact f join dim d on f.dk = d.dk where d.name = 'x'",
    "select count(*), sum(f.amount) from fact f join dim d on f.dk = d.dk",
    # inner on two keys, on strings, on dates
    "select f.id from fact f join dim d on f.dk = d.dk and f.s = d.s",
    "select f.id, d.name from fact f join dim d on f.s = d.s",
    "select count(*) from fact f join days d on f.day = d.day where d.holiday",
    # decimals and timestamps as keys (the build side another scan of the fact table)
    "select f.id, a.id from fact f join (select id, amount from fact where id < 30) a on f.amount = a.amount",
    "select f.id from fact f join (select ts from fact where id between 1500 and 1520) t on f.ts = t.ts",
    # outer: the probe side keeps its unmatched rows
    "select f.id, d.name from fact f left join dim d on f.dk = d.dk and d.name = 'x'",
    "select f.id, d.name from fact f right join dim d on f.dk = d.dk",
    "select f.id, d.name from dim d right join fact f on f.dk = d.dk",
    "select f.id, d.name from fact f full join dim d on f.dk = d.dk",
    # semi, anti, mark
    "select id from fact where dk in (select dk from dim where name = 'x')",
    "select id from fact f where exists (select 1 from dim d where d.dk = f.dk and d.name <> 'z')",
    "select id from fact where dk not in (select dk from dim where dk is not null)",
    "select id from fact where dk not in (select dk from dim)",
    "select id from fact f where not exists (select 1 from dim d where d.dk = f.dk)",
    "select id from fact where dk in (select dk from dim) or id < 5",
    "select d.name from dim d where exists (select 1 from fact f where f.dk = d.dk)",
    # NULL keys: never equal, or equal (IS NOT DISTINCT FROM)
    "select f.id, n.tag from fact f join dimn n on f.dk = n.dk",
    "select f.id, n.tag from fact f join dimn n on f.dk is not distinct from n.dk",
    "select f.id from fact f where exists (select 1 from dimn n where n.dk is not distinct from f.dk)",
    # empty build sides
    "select f.id from fact f join empty e on f.dk = e.dk",
    "select f.id from fact f join dim d on f.dk = d.dk where d.name = 'nothing'",
    "select id from fact where dk in (select dk from empty)",
    "select f.id, e.name from fact f left join empty e on f.dk = e.dk",
    # big build sides (summarized by an aggregate on their device)
    "select count(*) from fact where s in (select s from big where id > 100000)",
    "select count(*), sum(f.amount) from fact f join big b on f.id = b.id",
    "select count(*) from fact f join big b on f.id = b.id where b.id >= 1000",
    # a star: three dimensions, filters on each
    ("select c.seg, d.name, count(*) as n, sum(f.amount) as total from fact f "
     "join dim d on f.dk = d.dk join cust c on f.ck = c.ck join days y on f.day = y.day "
     "where d.name = 'x' and c.seg in ('seg1', 'seg2') and not y.holiday group by c.seg, d.name"),
    # the probe side through a projection and a filter
    "select t.i, d.name from (select id + 1 as i, dk from fact where ck < 40) t join dim d on t.dk = d.dk",
    # a self join: the same table on both sides
    "select a.id, b.id from fact a join fact b on a.id = b.id where b.dk = 4",
]

LAYOUTS = {
    "1-partition": {"partitions": 1},
    "3-partitions": {"partitions": 3},
    "3-partitions-hash-joins": {"partitions": 3, "broadcast_rows": 0},
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("sql", STATIC + JOINS)
def test_pruned_scans_match_datafusion(sql: str, layout: str, tables: dict[str, str],
                                       assert_matches_datafusion: Callable[..., Any]) -> None:
    assert_matches_datafusion(sql, tables, batch_rows=64, **LAYOUTS[layout])


def _scan(df: Any, table: str) -> Any:
    return df.metrics[f"TableScan:{table}"]


@pytest.mark.parametrize("sql, kept", [
    ("select count(*) from fact where day >= date '2020-02-01' and day < date '2020-02-11'", 3),
    ("select id from fact where s = 's005'", 1),
    ("select id from fact where s in ('s001', 's017', 'zzz')", 2),
    ("select count(*) from fact where dk > 100", 0),
    ("select count(*) from fact where dk between 3 and 4 and ck = 7", 2),
    ("select count(*) from fact where cast(dk as bigint) = 5", 1),
    ("select count(*) from fact where ts > timestamp '2021-03-20 00:00:00'", 2),
    ("select count(*) from fact where amount >= 450.25 and amount < 460", 1),
    ("select count(*) from fact where x > 5.5", GROUPS),
    ("select count(*) from nostats where dk = 3", GROUPS),
])
def test_static_filters_prune_row_groups(sql: str, kept: int, tables: dict[str, str],
                                         connect_for_tests: Callable[..., Any]) -> None:
    with connect_for_tests(partitions=3, tables=tables) as s:
        df = s.sql(sql)
        df.to_arrow()
        scan = _scan(df, sql.split(" from ")[1].split()[0])
        assert scan.row_groups == GROUPS
        assert scan.row_groups - scan.row_groups_pruned == kept
        assert df.metrics["TableScan"].row_groups_pruned >= scan.row_groups_pruned
        if kept:
            assert 0 < scan.bytes_scanned
        else:
            assert scan.bytes_scanned == 0 and scan.rows == 0


def _fact_groups_read(s: Any, sql: str) -> tuple[int, int]:
    df = s.sql(sql)
    df.to_arrow()
    scan = _scan(df, "fact")
    return scan.row_groups - scan.row_groups_pruned, scan.rows


@pytest.mark.parametrize("partitions", [1, 3])
def test_a_join_build_side_prunes_the_probe_scan(partitions: int, tables: dict[str, str],
                                                 connect_for_tests: Callable[..., Any]) -> None:
    with connect_for_tests(partitions=partitions, tables=tables) as s:
        # dk 3 and 15 are named "x": two row groups of fact, and only their rows with those keys.
        read, rows = _fact_groups_read(s, "select f.id from fact f join dim d on f.dk = d.dk where d.name = 'x'")
        assert read == 2 and rows == 2 * GROUP - 2  # two NULL keys in those groups (i % 97 == 0)
        # LEFT SEMI (IN subquery), and the same through a projection and a filter.
        assert _fact_groups_read(s, "select id from fact where dk in (select dk from dim where name = 'x')")[0] == 2
        assert _fact_groups_read(s, "select t.i from (select id + 1 as i, dk from fact where ck < 40) t "
                                    "join dim d on t.dk = d.dk where d.name = 'x'")[0] == 2
        # Strings and dates as keys.
        assert _fact_groups_read(s, "select f.id from fact f join dim d on f.s = d.s where d.name = 'y'")[0] == 1
        assert _fact_groups_read(s, "select f.id from fact f join days d on f.day = d.day where d.holiday")[0] == 1
        # Decimals and timestamps as keys. Both scans of fact count under its name: one row group
        # read by the build side's scan (its own filter), one by the probe side's.
        assert _fact_groups_read(s, "select f.id, a.id from fact f join (select id, amount from fact "
                                    "where id < 30) a on f.amount = a.amount")[0] == 2
        assert _fact_groups_read(s, "select f.id from fact f join (select ts from fact "
                                    "where id between 1500 and 1520) t on f.ts = t.ts")[0] == 2
        # A build side of more rows than are summarized on the host: its range, from an aggregate.
        assert _fact_groups_read(s, "select count(*) from fact f join big b on f.id = b.id "
                                    "where b.id >= 1000")[0] == GROUPS // 2
        # An empty build side: nothing of the probe side is read.
        assert _fact_groups_read(s, "select f.id from fact f join empty e on f.dk = e.dk") == (0, 0)
        # The star: each dimension's filter reaches the fact scan.
        star = ("select count(*) from fact f join dim d on f.dk = d.dk join days y on f.day = y.day "
                "where d.name = 'x' and y.day < date '2020-01-20'")
        assert _fact_groups_read(s, star)[0] == 1  # dk 3 (days 15..19) only


@pytest.mark.parametrize("sql", [
    "select f.id, d.name from fact f left join dim d on f.dk = d.dk and d.name = 'x'",
    "select f.id, d.name from fact f full join dim d on f.dk = d.dk",
    "select f.id, d.name from dim d right join fact f on f.dk = d.dk",
    "select id from fact where dk not in (select dk from dim where dk is not null)",
    "select id from fact f where not exists (select 1 from dim d where d.dk = f.dk)",
    "select id from fact where dk in (select dk from dim) or id < 5",
])
def test_preserved_probe_sides_are_never_filtered(sql: str, tables: dict[str, str],
                                                   connect_for_tests: Callable[..., Any]) -> None:
    with connect_for_tests(partitions=1, tables=tables) as s:
        assert _fact_groups_read(s, sql) == (GROUPS, N)


def test_null_keys_follow_the_join(tables: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    nulls = sum(1 for i in range(N) if i % 97 == 0)
    with connect_for_tests(partitions=1, tables=tables) as s:
        # = : a NULL never matches, so only dk 5's rows are read.
        read, rows = _fact_groups_read(s, "select f.id from fact f join dimn n on f.dk = n.dk")
        assert read == 1 and rows == GROUP - sum(1 for i in range(500, 600) if i % 97 == 0)
        # IS NOT DISTINCT FROM: the NULL build key matches the NULL probe keys, wherever they are.
        df = s.sql("select f.id from fact f join dimn n on f.dk is not distinct from n.dk")
        out = df.to_arrow()
        assert out.num_rows == GROUP - 1 + nulls
        assert _scan(df, "fact").rows == out.num_rows


def test_hash_joins_stay_correct_without_dynamic_filters(tables: dict[str, str],
                                                         connect_for_tests: Callable[..., Any]) -> None:
    # Both sides repartitioned: the probe side is read by its exchange before any build side is
    # known, so nothing is pruned (and nothing may be).
    with connect_for_tests(partitions=3, tables=tables, broadcast_rows=0) as s:
        read, rows = _fact_groups_read(s, "select f.id from fact f join dim d on f.dk = d.dk where d.name = 'x'")
        assert (read, rows) == (GROUPS, N)


def test_pruning_unit_types() -> None:
    """may_match on each type's statistics: bounds, NULLs, missing statistics."""
    from gpu_exec.engine.pruning import ColumnStats, may_match
    from planner.expr import (
        BinaryOp,
        BinaryOperator,
        Cast,
        ColumnRef,
        InList,
        Literal,
        UnaryOp,
        UnaryOperator,
    )

    def check(dtype: pa.DataType, lo: Any, hi: Any, nulls: int | None, expr: Callable[[ColumnRef], Any],
              rows: int = 10) -> bool:
        schema = pa.schema([("c", dtype)])
        stats = ColumnStats(None if lo is None else pa.scalar(lo, dtype), None if hi is None else pa.scalar(hi, dtype),
                            nulls, rows)
        return may_match(expr(ColumnRef(0, "c", dtype)), lambda i: stats, schema)

    def cmp(op: BinaryOperator, value: Any, dtype: pa.DataType) -> Callable[[ColumnRef], Any]:
        return lambda c: BinaryOp(op, c, Literal(value, dtype), pa.bool_())

    EQ, LT, GT, NE = BinaryOperator.EQ, BinaryOperator.LT, BinaryOperator.GT, BinaryOperator.NOT_EQ
    dec = pa.decimal128(10, 2)
    assert not check(dec, Decimal("1.00"), Decimal("2.00"), 0, cmp(GT, Decimal("2.00"), dec))
    assert check(dec, Decimal("1.00"), Decimal("2.01"), 0, cmp(GT, Decimal("2.00"), dec))
    assert not check(pa.string(), "b", "d", 0, cmp(EQ, "a", pa.string()))
    assert check(pa.string(), "b", "d", 0, cmp(EQ, "bz", pa.string()))
    ts = pa.timestamp("us")
    t0 = dt.datetime(2020, 1, 1)
    assert not check(ts, t0, t0 + dt.timedelta(days=1), 0, cmp(LT, t0, ts))
    assert check(ts, t0, t0, 0, cmp(EQ, t0, ts))
    assert not check(pa.date32(), dt.date(2020, 1, 1), dt.date(2020, 1, 5), 0,
                     cmp(GT, dt.date(2020, 1, 5), pa.date32()))
    # NULL literal: nothing compares TRUE; all-NULL chunks: no comparison is TRUE.
    assert not check(pa.int32(), 1, 5, 0, cmp(EQ, None, pa.int32()))
    assert not check(pa.int32(), None, None, 10, cmp(EQ, 1, pa.int32()))
    # Missing statistics keep the row group.
    assert check(pa.int32(), None, None, None, cmp(EQ, 100, pa.int32()))
    assert check(pa.int32(), None, None, None, lambda c: UnaryOp(UnaryOperator.IS_NULL, c, pa.bool_()))
    assert not check(pa.int32(), 1, 5, 0, lambda c: UnaryOp(UnaryOperator.IS_NULL, c, pa.bool_()))
    assert not check(pa.int32(), None, None, 10, lambda c: UnaryOp(UnaryOperator.IS_NOT_NULL, c, pa.bool_()))
    # != and NOT IN rule out a chunk of one value only; NOT IN with a NULL is never TRUE.
    assert not check(pa.int32(), 3, 3, 0, cmp(NE, 3, pa.int32()))
    assert check(pa.int32(), 3, 4, 0, cmp(NE, 3, pa.int32()))
    lits = (Literal(3, pa.int32()), Literal(None, pa.int32()))
    assert not check(pa.int32(), 1, 9, 0, lambda c: InList(c, lits, True))
    assert not check(pa.int32(), 4, 9, 0, lambda c: InList(c, lits, False))
    # A float column is never pruned (NaN is not in its statistics); an int cast to float is.
    assert check(pa.float64(), 1.0, 2.0, 0, cmp(GT, 5.0, pa.float64()))
    assert not check(pa.int32(), 1, 2, 0, lambda c: BinaryOp(GT, Cast(c, pa.float64()), Literal(5.0, pa.float64()),
                                                              pa.bool_()))
    # A cast that does not keep order (to a string) is not used.
    assert check(pa.int32(), 1, 2, 0, lambda c: BinaryOp(EQ, Cast(c, pa.string()), Literal("9", pa.string()),
                                                         pa.bool_()))
    # AND / OR
    both = lambda c: BinaryOp(BinaryOperator.AND, cmp(GT, 0, pa.int32())(c), cmp(GT, 10, pa.int32())(c), pa.bool_())
    either = lambda c: BinaryOp(BinaryOperator.OR, cmp(GT, 10, pa.int32())(c), cmp(LT, 2, pa.int32())(c), pa.bool_())
    assert not check(pa.int32(), 1, 5, 0, both)
    assert check(pa.int32(), 1, 5, 0, either)


def test_a_range_every_row_passes_is_not_applied_to_rows() -> None:
    from gpu_exec.engine.pruning import ColumnStats, must_match
    from planner.expr import BinaryOp, BinaryOperator, ColumnRef, Literal

    schema = pa.schema([("c", pa.int32())])
    c = ColumnRef(0, "c", pa.int32())
    between = BinaryOp(BinaryOperator.AND, BinaryOp(BinaryOperator.GT_EQ, c, Literal(0, pa.int32()), pa.bool_()),
                       BinaryOp(BinaryOperator.LT_EQ, c, Literal(100, pa.int32()), pa.bool_()), pa.bool_())

    def stats(lo: int, hi: int, nulls: int) -> Callable[[int], ColumnStats]:
        return lambda i: ColumnStats(pa.scalar(lo, pa.int32()), pa.scalar(hi, pa.int32()), nulls, 10)

    assert must_match(between, stats(5, 100, 0), schema)
    assert not must_match(between, stats(5, 101, 0), schema)
    assert not must_match(between, stats(5, 10, 1), schema)  # a NULL fails the range


def test_distributed_scans_prune_and_report(tables: dict[str, str],
                                            assert_matches_datafusion: Callable[..., Any]) -> None:
    """On a cluster: each task's scan split skips row groups by its filters and by the build keys
    of the joins it feeds, and the counts come back with the tasks' reports."""
    import gpu_exec

    s = gpu_exec.connect(device="cpu", workers=2, worker_threads=1, partitions=3, progress="off", fallback="raise")
    try:
        for name in ("fact", "dim"):
            s.register_parquet(name, tables[name])
        subset = {"fact": tables["fact"], "dim": tables["dim"]}
        df = s.sql("select count(*) from fact where dk = 3")
        assert df.to_arrow().column(0)[0].as_py() == GROUP - 1
        scan = df.metrics["TableScan:fact"]
        assert (scan.row_groups, scan.row_groups_pruned) == (GROUPS, GROUPS - 1)
        assert scan.bytes_scanned > 0
        # A broadcast build side is whole in every task: the probe stage's splits get its keys.
        join = "select f.id, d.name from fact f join dim d on f.dk = d.dk where d.name = 'x'"
        assert_matches_datafusion(join, subset, session=s)
        df = s.sql(join)
        assert df.to_arrow().num_rows == 2 * GROUP - 2
        scan = df.metrics["TableScan:fact"]
        assert (scan.row_groups, scan.row_groups_pruned) == (GROUPS, GROUPS - 2)
        for sql in ["select f.id, d.name from fact f left join dim d on f.dk = d.dk",
                    "select id from fact f where not exists (select 1 from dim d where d.dk = f.dk)",
                    "select id from fact where dk in (select dk from dim where name = 'x')",
                    "select a.id, b.id from fact a join fact b on a.id = b.id where b.dk = 4"]:
            assert_matches_datafusion(sql, subset, session=s)
    finally:
        s.close()

"""Relational kernels: filter, gather, join gather maps, cross join, index_mask, distinct."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

I64 = pa.int64()


def test_filter_keeps_valid_true_rows_only(kernels: Any, io: Any) -> None:
    t = pa.table({"v": [1, 2, 3, 4]})
    mask = io.column([True, None, False, True], pa.bool_())
    assert io.rows(kernels.filter(io.table(t), mask), t.schema) == [(1,), (4,)]


def test_filter_empty(kernels: Any, io: Any) -> None:
    t = pa.table({"v": pa.array([], I64)})
    assert io.rows(kernels.filter(io.table(t), io.column([], pa.bool_())), t.schema) == []


def test_gather_null_index_gives_null_row(kernels: Any, io: Any) -> None:
    t = pa.table({"v": [10, 20, 30], "s": ["a", "b", None]})
    out = kernels.gather(io.table(t), io.column([2, None, 0, 0], I64))
    assert io.rows(out, t.schema) == [(30, None), (None, None), (10, "a"), (10, "a")]
    assert io.rows(kernels.gather(io.table(t), io.column([], I64)), t.schema) == []


def _key_tables(left: list[Any], right: list[Any], dtype: pa.DataType) -> tuple[pa.Table, pa.Table]:
    lt = pa.table({"k": pa.array(left, dtype), "i": pa.array(range(len(left)), I64)})
    rt = pa.table({"k": pa.array(right, dtype), "i": pa.array(range(len(right)), I64)})
    return lt, rt


def _pairs(io: Any, lmap: Any, rmap: Any) -> list[tuple[Any, Any]]:
    left = io.values(lmap, I64)
    right = io.values(rmap, I64) if rmap is not None else [None] * len(left)
    return sorted(zip(left, right), key=lambda p: (p[0] is None, p[0] or 0, p[1] is None, p[1] or 0))


_SQL = {
    "inner": "SELECT l.i AS a, r.i AS b FROM l JOIN r ON {on}",
    "left": "SELECT l.i AS a, r.i AS b FROM l LEFT JOIN r ON {on}",
    "full": "SELECT l.i AS a, r.i AS b FROM l FULL JOIN r ON {on}",
    "left_semi": "SELECT l.i AS a, NULL AS b FROM l WHERE EXISTS (SELECT 1 FROM r WHERE {on})",
    "left_anti": "SELECT l.i AS a, NULL AS b FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE {on})",
}

KEY_CASES = {
    "int64": ([1, 2, 2, None, 5, 7], [2, 2, None, 5, 9], I64),
    "string": (["a", "b", None, "", "é"], ["", "b", "b", None, "é", "z"], pa.string()),
    "decimal": (
        [Decimal("1.10"), None, Decimal("2.00")],
        [Decimal("2.00"), Decimal("1.10"), None, Decimal("1.10")],
        pa.decimal128(12, 2),
    ),
    "date": ([datetime.date(2024, 1, 1), None], [None, datetime.date(2024, 1, 1)], pa.date32()),
    "empty-right": ([1, None], [], I64),
    "empty-left": ([], [1, None], I64),
}


@pytest.mark.parametrize("how", list(_SQL))
@pytest.mark.parametrize("case", list(KEY_CASES))
@pytest.mark.parametrize("nulls_equal", [False, True], ids=["eq", "not-distinct"])
def test_join_maps_match_datafusion(
    kernels: Any, io: Any, oracle: Any, how: str, case: str, nulls_equal: bool
) -> None:
    left, right, dtype = KEY_CASES[case]
    lt, rt = _key_tables(left, right, dtype)
    on = "l.k IS NOT DISTINCT FROM r.k" if nulls_equal else "l.k = r.k"
    expected = oracle.query(_SQL[how].format(on=on), l=lt, r=rt)
    want = sorted(
        zip(expected.column(0).to_pylist(), expected.column(1).to_pylist()),
        key=lambda p: (p[0] is None, p[0] or 0, p[1] is None, p[1] or 0),
    )
    lmap, rmap = kernels.join(io.table(lt.select(["k"])), io.table(rt.select(["k"])), how, nulls_equal)
    if how in ("left_semi", "left_anti"):
        assert rmap is None
    assert _pairs(io, lmap, rmap) == want


def test_join_on_several_keys(kernels: Any, io: Any) -> None:
    lt = pa.table({"a": [1, 1, 2, None], "b": ["x", "y", "x", "x"]})
    rt = pa.table({"a": [1, 2, 2, None], "b": ["y", "x", "x", "x"]})
    lmap, rmap = kernels.join(io.table(lt), io.table(rt), "inner", False)
    assert _pairs(io, lmap, rmap) == [(1, 0), (2, 1), (2, 2)]
    lmap, rmap = kernels.join(io.table(lt), io.table(rt), "inner", True)
    assert _pairs(io, lmap, rmap) == [(1, 0), (2, 1), (2, 2), (3, 3)]
    lmap, rmap = kernels.join(io.table(lt), io.table(rt), "full", False)
    assert _pairs(io, lmap, rmap) == [(0, None), (1, 0), (2, 1), (2, 2), (3, None), (None, 3)]


def test_join_maps_gather_no_match_as_null_rows(kernels: Any, io: Any) -> None:
    lt = pa.table({"k": [1, 3]})
    rt = pa.table({"k": [1, 2], "v": ["one", "two"]})
    lmap, rmap = kernels.join(io.table(lt), io.table(rt.select(["k"])), "left", False)
    pairs = dict(zip(io.values(lmap, I64), io.values(rmap, I64)))
    assert pairs == {0: 0, 1: None}
    gathered = kernels.gather(io.table(rt), rmap)
    rows = dict(zip(io.values(lmap, I64), io.rows(gathered, rt.schema)))
    assert rows == {0: (1, "one"), 1: (None, None)}


def test_join_larger_random_inputs_match_datafusion(kernels: Any, io: Any, oracle: Any) -> None:
    rng = random.Random(7)
    left = [rng.choice([None, *range(200)]) for _ in range(3000)]
    right = [rng.choice([None, *range(250)]) for _ in range(2000)]
    lt, rt = _key_tables(left, right, I64)
    for how in ("inner", "left", "full", "left_anti"):
        expected = oracle.query(_SQL[how].format(on="l.k = r.k"), l=lt, r=rt)
        want = sorted(
            zip(expected.column(0).to_pylist(), expected.column(1).to_pylist()),
            key=lambda p: (p[0] is None, p[0] or 0, p[1] is None, p[1] or 0),
        )
        lmap, rmap = kernels.join(io.table(lt.select(["k"])), io.table(rt.select(["k"])), how, False)
        assert _pairs(io, lmap, rmap) == want, how


def test_cross_join(kernels: Any, io: Any) -> None:
    lt = pa.table({"a": [1, 2]})
    rt = pa.table({"b": ["x", None, "z"]})
    schema = pa.schema([pa.field("a", I64), pa.field("b", pa.string())])
    out = kernels.cross_join(io.table(lt), io.table(rt), schema)
    assert sorted(io.rows(out, schema), key=str) == sorted(
        [(a, b) for a in (1, 2) for b in ("x", None, "z")], key=str
    )
    empty = kernels.cross_join(io.table(lt), io.table(rt.slice(0, 0)), schema)
    assert io.rows(empty, schema) == []


def test_index_mask(kernels: Any, io: Any) -> None:
    mask = kernels.index_mask(5, io.column([3, None, 0, 3], I64))
    assert io.values(mask, pa.bool_()) == [True, False, False, True, False]
    assert io.values(kernels.index_mask(2, io.column([], I64)), pa.bool_()) == [False, False]


def test_distinct_treats_nulls_as_equal(kernels: Any, io: Any) -> None:
    t = pa.table({"a": [1, 1, None, None, 2], "b": ["x", "x", None, None, None]})
    out = io.rows(kernels.distinct(io.table(t)), t.schema)
    assert sorted(out, key=str) == sorted([(1, "x"), (None, None), (2, None)], key=str)
    assert io.rows(kernels.distinct(io.table(t.slice(0, 0))), t.schema) == []

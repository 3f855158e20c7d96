"""sort_indices: stable, per-key direction and absolute NULL placement, NaN above numbers."""

from __future__ import annotations

import datetime
import itertools
import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

I64 = pa.int64()


def _order(kernels: Any, io: Any, t: pa.Table, keys: list[tuple[int, bool, bool]]) -> list[int]:
    return io.values(kernels.sort_indices(io.table(t), keys), I64)


COLUMNS = {
    "int": pa.array([3, None, 1, 3, None, 2, 1], I64),
    "float": pa.array([1.5, float("nan"), None, -0.5, 1.5, float("inf"), -float("inf")]),
    "string": pa.array(["b", None, "a", "", "B", "é", "b"]),
    "decimal": pa.array(
        [Decimal("1.10"), None, Decimal("-1.00"), Decimal("1.10"), Decimal("0.00"), None, Decimal("9")],
        pa.decimal128(10, 2),
    ),
    "date": pa.array([datetime.date(2024, 1, d) if d else None for d in (3, 1, None, 2, 1, None, 5)]),
}


@pytest.mark.parametrize("column", list(COLUMNS))
@pytest.mark.parametrize(
    ("ascending", "nulls_first"),
    list(itertools.product([True, False], [True, False])),
    ids=["asc-nulls-first", "asc-nulls-last", "desc-nulls-first", "desc-nulls-last"],
)
def test_single_key_order_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, column: str, ascending: bool, nulls_first: bool
) -> None:
    values = COLUMNS[column]
    t = pa.table({"v": values, "i": pa.array(range(len(values)), I64)})
    direction = ("ASC" if ascending else "DESC") + (" NULLS FIRST" if nulls_first else " NULLS LAST")
    # i breaks ties: the kernel is stable, DataFusion's sort need not be.
    expected = oracle.query(f"SELECT i FROM t ORDER BY v {direction}, i", t=t).column(0).to_pylist()
    assert _order(kernels, io, t, [(0, ascending, nulls_first)]) == expected


def test_sort_is_stable(kernels: Any, io: Any) -> None:
    t = pa.table({"k": pa.array([2, 1, 2, 1, None, None, 2], I64)})
    assert _order(kernels, io, t, [(0, True, False)]) == [1, 3, 0, 2, 6, 4, 5]
    assert _order(kernels, io, t, [(0, False, True)]) == [4, 5, 0, 2, 6, 1, 3]


def test_several_keys_each_with_its_own_null_placement(kernels: Any, io: Any, oracle: Any) -> None:
    rng = random.Random(11)
    n = 500
    t = pa.table(
        {
            "a": pa.array([rng.choice([None, 1, 2, 3]) for _ in range(n)], I64),
            "b": pa.array([rng.choice([None, "x", "y"]) for _ in range(n)]),
            "c": pa.array([rng.choice([None, 0.5, -1.0, float("nan")]) for _ in range(n)]),
            "i": pa.array(range(n), I64),
        }
    )
    for spec in itertools.product([True, False], repeat=6):
        a_asc, a_nf, b_asc, b_nf, c_asc, c_nf = spec

        def clause(name: str, asc: bool, nf: bool) -> str:
            return f"{name} {'ASC' if asc else 'DESC'} NULLS {'FIRST' if nf else 'LAST'}"

        sql = (
            f"SELECT i FROM t ORDER BY {clause('a', a_asc, a_nf)}, {clause('b', b_asc, b_nf)}, "
            f"{clause('c', c_asc, c_nf)}, i"
        )
        expected = oracle.query(sql, t=t).column(0).to_pylist()
        keys = [(0, a_asc, a_nf), (1, b_asc, b_nf), (2, c_asc, c_nf)]
        assert _order(kernels, io, t, keys) == expected, sql


def test_no_keys_and_empty_tables(kernels: Any, io: Any) -> None:
    t = pa.table({"v": [3, 1, 2]})
    assert _order(kernels, io, t, []) == [0, 1, 2]
    assert _order(kernels, io, t.slice(0, 0), [(0, True, True)]) == []


def test_sort_indices_gather_into_order(kernels: Any, io: Any) -> None:
    t = pa.table({"v": ["b", None, "a"]})
    order = kernels.sort_indices(io.table(t), [(0, True, True)])
    assert io.rows(kernels.gather(io.table(t), order), t.schema) == [(None,), ("a",), ("b",)]

"""window: ranking and running/whole-partition aggregates in input row order, against DataFusion."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from planner.expr import ColumnRef, SortKey, WindowCall, WindowFrame, WindowFunction

I64 = pa.int64()


def _table(n: int = 200, seed: int = 5) -> pa.Table:
    rng = random.Random(seed)
    return pa.table(
        {
            "p": pa.array([rng.choice([None, "a", "b", "c"]) for _ in range(n)]),
            "o": pa.array([rng.choice([None, 1, 2, 3, 4]) for _ in range(n)], I64),
            "v": pa.array([rng.choice([None, *range(-5, 20)]) for _ in range(n)], I64),
            "d": pa.array(
                [rng.choice([None, Decimal(rng.randint(-999, 999)) / 100]) for _ in range(n)],
                pa.decimal128(10, 2),
            ),
            "f": pa.array(
                [rng.choice([None, rng.uniform(-1e6, 1e6), rng.uniform(-1e-3, 1e-3)]) for _ in range(n)]
            ),
            "s": pa.array([rng.choice([None, "x", "yy", "é", ""]) for _ in range(n)]),
            "i": pa.array(range(n), I64),
        }
    )


COLS = {name: idx for idx, name in enumerate(["p", "o", "v", "d", "f", "s", "i"])}

FRAMES = {
    WindowFrame.WHOLE_PARTITION: "",
    WindowFrame.RANGE_TO_CURRENT: "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
    WindowFrame.ROWS_TO_CURRENT: "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
}


def _run(
    kernels: Any,
    io: Any,
    oracle: Any,
    values_match: Any,
    t: pa.Table,
    func: WindowFunction,
    arg: str | None,
    partition: list[str],
    order: list[tuple[str, bool, bool]],
    frame: WindowFrame,
) -> None:
    sql_arg = arg or ""
    over = []
    if partition:
        over.append("PARTITION BY " + ", ".join(partition))
    if order:
        over.append(
            "ORDER BY "
            + ", ".join(
                f"{c} {'ASC' if a else 'DESC'} NULLS {'FIRST' if nf else 'LAST'}" for c, a, nf in order
            )
        )
    if frame is not WindowFrame.WHOLE_PARTITION or order:
        over.append(FRAMES[frame])
    sql = f"SELECT {func.value}({sql_arg}) OVER ({' '.join(over)}) AS w FROM t ORDER BY i"
    expected = oracle.query(sql, t=t)
    dtype = expected.schema.field(0).type
    call = WindowCall(
        func=func,
        args=(ColumnRef(COLS[arg], arg, t.schema.field(arg).type),) if arg else (),
        partition_by=tuple(ColumnRef(COLS[p], p, t.schema.field(p).type) for p in partition),
        order_by=tuple(SortKey(ColumnRef(COLS[c], c, t.schema.field(c).type), a, nf) for c, a, nf in order),
        frame=frame,
        dtype=dtype,
        name="w",
    )
    out = kernels.window(
        io.table(t),
        call,
        COLS[arg] if arg else None,
        [COLS[p] for p in partition],
        [(COLS[c], a, nf) for c, a, nf in order],
    )
    actual = io.values(out, dtype)
    want = expected.column(0).to_pylist()
    # Float sums may add in another order than DataFusion's: 1e-9 relative.
    assert values_match(actual, want, rel=1e-9), f"{sql}\n  actual:   {actual}\n  expected: {want}"


RANKING = [WindowFunction.ROW_NUMBER, WindowFunction.RANK, WindowFunction.DENSE_RANK]


@pytest.mark.parametrize("func", RANKING, ids=lambda f: f.value)
@pytest.mark.parametrize(
    "order",
    [
        [("o", True, False), ("i", True, False)],  # a total order: row_number is deterministic
        [("o", False, True), ("i", False, False)],
    ],
)
def test_ranking_functions_match_datafusion(
    kernels: Any,
    io: Any,
    oracle: Any,
    values_match: Any,
    func: WindowFunction,
    order: list[tuple[str, bool, bool]],
) -> None:
    _run(kernels, io, oracle, values_match, _table(), func, None, ["p"], order, WindowFrame.RANGE_TO_CURRENT)


@pytest.mark.parametrize("func", [WindowFunction.RANK, WindowFunction.DENSE_RANK], ids=lambda f: f.value)
@pytest.mark.parametrize("nulls_first", [True, False])
def test_rank_ties_and_null_peers(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, nulls_first: bool
) -> None:
    _run(
        kernels,
        io,
        oracle,
        values_match,
        _table(),
        func,
        None,
        ["p"],
        [("o", True, nulls_first)],
        WindowFrame.RANGE_TO_CURRENT,
    )
    _run(
        kernels,
        io,
        oracle,
        values_match,
        _table(),
        func,
        None,
        [],
        [("o", False, nulls_first), ("s", True, True)],
        WindowFrame.RANGE_TO_CURRENT,
    )


AGGREGATES = [
    WindowFunction.SUM,
    WindowFunction.AVG,
    WindowFunction.MIN,
    WindowFunction.MAX,
    WindowFunction.COUNT,
]


@pytest.mark.parametrize("func", AGGREGATES, ids=lambda f: f.value)
@pytest.mark.parametrize("arg", ["v", "d", "f"])
@pytest.mark.parametrize("frame", list(FRAMES), ids=lambda f: f.name.lower())
def test_aggregates_over_each_frame_match_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, arg: str, frame: WindowFrame
) -> None:
    if frame is WindowFrame.WHOLE_PARTITION:
        order: list[tuple[str, bool, bool]] = []
    elif frame is WindowFrame.ROWS_TO_CURRENT:
        order = [("o", True, False), ("i", True, False)]  # ROWS needs a total order to be deterministic
    else:
        order = [("o", True, False)]  # peers share the running value
    _run(kernels, io, oracle, values_match, _table(), func, arg, ["p"], order, frame)


@pytest.mark.parametrize(
    "func", [WindowFunction.MIN, WindowFunction.MAX, WindowFunction.COUNT], ids=lambda f: f.value
)
def test_min_max_count_of_strings(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction
) -> None:
    _run(
        kernels,
        io,
        oracle,
        values_match,
        _table(),
        func,
        "s",
        ["p"],
        [("o", False, True)],
        WindowFrame.RANGE_TO_CURRENT,
    )


def test_window_without_partition_and_empty_input(
    kernels: Any, io: Any, oracle: Any, values_match: Any
) -> None:
    _run(
        kernels,
        io,
        oracle,
        values_match,
        _table(),
        WindowFunction.SUM,
        "v",
        [],
        [],
        WindowFrame.WHOLE_PARTITION,
    )
    _run(
        kernels,
        io,
        oracle,
        values_match,
        _table(),
        WindowFunction.SUM,
        "d",
        [],
        [("o", True, True)],
        WindowFrame.RANGE_TO_CURRENT,
    )
    _run(
        kernels,
        io,
        oracle,
        values_match,
        _table(0),
        WindowFunction.ROW_NUMBER,
        None,
        ["p"],
        [("o", True, True)],
        WindowFrame.RANGE_TO_CURRENT,
    )
    _run(
        kernels,
        io,
        oracle,
        values_match,
        _table(0),
        WindowFunction.SUM,
        "d",
        ["p"],
        [],
        WindowFrame.WHOLE_PARTITION,
    )


def test_running_float_sums_keep_small_partitions_precise(kernels: Any, io: Any) -> None:
    # Prefix sums over the whole column minus the partition start would lose the tiny partition.
    t = pa.table({"p": pa.array([0, 0, 1, 1], I64), "v": pa.array([1e16, -1e16, 1e-3, 2e-3])})
    call = WindowCall(WindowFunction.SUM, (), (), (), WindowFrame.ROWS_TO_CURRENT, pa.float64(), "w")
    out = io.values(kernels.window(io.table(t), call, 1, [0], []), pa.float64())
    assert out[2:] == pytest.approx([1e-3, 3e-3], rel=1e-12)

"""window: ranking and running/whole-partition aggregates in input row order, against DataFusion."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from planner.expr import ColumnRef, Literal, SortKey, WindowCall, WindowFrame, WindowFunction

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


# ---- lag/lead, first/last/nth_value, ntile, percent_rank, cume_dist -------------------------------

TOTAL = [("o", True, False), ("i", True, False)]  # a total order: ROWS frames and ntile are deterministic


def _run_call(
    kernels: Any,
    io: Any,
    oracle: Any,
    values_match: Any,
    t: pa.Table,
    func: WindowFunction,
    arg: str | None,
    params: tuple[Any, ...],
    partition: list[str],
    order: list[tuple[str, bool, bool]],
    frame: WindowFrame | None = None,
    ignore_nulls: bool = False,
) -> None:
    """``func(arg, *params)`` through the kernel (arguments laid out as the Window operator does:
    constant parameters as int64 literals in the call, a lag/lead default as a column of the
    value's type) against DataFusion's answer."""
    over = []
    if partition:
        over.append("PARTITION BY " + ", ".join(partition))
    if order:
        over.append(
            "ORDER BY "
            + ", ".join(f"{c} {'ASC' if a else 'DESC'} NULLS {'FIRST' if nf else 'LAST'}" for c, a, nf in order)
        )
    if frame is not None:
        over.append(frame.sql())
    sql_args = ", ".join([*([arg] if arg else []), *(repr(p) if isinstance(p, str) else str(p) for p in params)])
    nulls = " IGNORE NULLS" if ignore_nulls else ""
    sql = f"SELECT {func.value}({sql_args}){nulls} OVER ({' '.join(over)}) AS w FROM t ORDER BY i"
    expected = oracle.query(sql, t=t)
    dtype = expected.schema.field(0).type
    value = (ColumnRef(COLS[arg], arg, t.schema.field(arg).type),) if arg else ()
    ints = tuple(Literal(p, I64) for p in params[:1])
    default_index = None
    table = t
    if func in (WindowFunction.LAG, WindowFunction.LEAD):
        ints = ints or (Literal(1, I64),)
        if len(params) > 1:  # the default: a column of the value's type
            kind = t.schema.field(arg).type
            table = t.append_column("default", pa.array([params[1]] * t.num_rows, kind))
            default_index = table.num_columns - 1
            ints += (ColumnRef(default_index, "default", kind),)
    call = WindowCall(
        func=func,
        args=value + ints,
        partition_by=tuple(ColumnRef(COLS[p], p, t.schema.field(p).type) for p in partition),
        order_by=tuple(SortKey(ColumnRef(COLS[c], c, t.schema.field(c).type), a, nf) for c, a, nf in order),
        frame=frame or (WindowFrame.RANGE_TO_CURRENT if order else WindowFrame.WHOLE_PARTITION),
        dtype=dtype,
        name="w",
        ignore_nulls=ignore_nulls,
    )
    out = kernels.window(
        io.table(table),
        call,
        COLS[arg] if arg else None,
        [COLS[p] for p in partition],
        [(COLS[c], a, nf) for c, a, nf in order],
        default=default_index,
    )
    actual = io.values(out, dtype)
    want = expected.column(0).to_pylist()
    # Float sums over sliding frames add in another order than DataFusion (which subtracts the
    # rows leaving the frame): 1e-9 relative.
    assert values_match(actual, want, rel=1e-9), f"{sql}\n  actual:   {actual}\n  expected: {want}"


def _lag_lead_cases() -> list[Any]:
    """(func, params, ignore_nulls); 300 is beyond every partition (the default, or NULL), a
    negative offset reads the other way. Not lead IGNORE NULLS past one row ahead: refused at
    translate time (DataFusion 55's answer there is not SQL's)."""
    cases = []
    for func in (WindowFunction.LAG, WindowFunction.LEAD):
        for params in [(), (2,), (0,), (-1,), (300,), (1, 7), (3, -5), (-2, 99)]:
            for ignore in (False, True):
                ahead = (params[0] if params else 1) * (1 if func is WindowFunction.LEAD else -1)
                if not (ignore and ahead > 1):
                    name = f"{func.value}-{'-'.join(map(str, params)) or 'default'}-{'ignore' if ignore else 'respect'}"
                    cases.append(pytest.param(func, params, ignore, id=name))
    return cases


@pytest.mark.parametrize("func,params,ignore_nulls", _lag_lead_cases())
def test_lag_lead_offsets_defaults_and_ignore_nulls(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, params: tuple[int, ...],
    ignore_nulls: bool,
) -> None:
    _run_call(kernels, io, oracle, values_match, _table(), func, "v", params, ["p"], TOTAL, None, ignore_nulls)


@pytest.mark.parametrize("arg,default", [("s", "zz"), ("d", Decimal("1.25")), ("f", 0.5)])
def test_lag_lead_of_other_types(
    kernels: Any, io: Any, oracle: Any, values_match: Any, arg: str, default: Any
) -> None:
    t = _table()
    for func in (WindowFunction.LAG, WindowFunction.LEAD):
        _run_call(kernels, io, oracle, values_match, t, func, arg, (2, default), ["p"], TOTAL)
        _run_call(kernels, io, oracle, values_match, t, func, arg, (1, default), [], TOTAL, None, True)


ROW_FRAMES = [
    WindowFrame("ROWS", -1, 1),
    WindowFrame("ROWS", 1, 3),
    WindowFrame("ROWS", -3, -1),
    WindowFrame("ROWS", 0, None),
    WindowFrame("ROWS", None, -2),
    WindowFrame("ROWS", 2, None),
    WindowFrame.ROWS_TO_CURRENT,
    WindowFrame.WHOLE_PARTITION,
]


@pytest.mark.parametrize(
    "func,params",
    [(WindowFunction.FIRST_VALUE, ()), (WindowFunction.LAST_VALUE, ()), (WindowFunction.NTH_VALUE, (2,)),
     (WindowFunction.NTH_VALUE, (-2,)), (WindowFunction.NTH_VALUE, (0,))],
    ids=["first", "last", "nth2", "nth-2", "nth0"],
)
@pytest.mark.parametrize("frame", ROW_FRAMES, ids=lambda f: f.sql().replace(" ", "_"))
@pytest.mark.parametrize("ignore_nulls", [False, True], ids=["respect", "ignore"])
def test_value_functions_over_rows_frames(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, params: tuple[int, ...],
    frame: WindowFrame, ignore_nulls: bool,
) -> None:
    _run_call(kernels, io, oracle, values_match, _table(), func, "v", params, ["p"], TOTAL, frame, ignore_nulls)


RANGE_FRAMES = [
    WindowFrame.RANGE_TO_CURRENT,
    WindowFrame("RANGE", 0, None),
    WindowFrame("RANGE", 0, 0),
]


@pytest.mark.parametrize(
    "func,params",
    [(WindowFunction.FIRST_VALUE, ()), (WindowFunction.LAST_VALUE, ()), (WindowFunction.NTH_VALUE, (3,))],
    ids=["first", "last", "nth3"],
)
@pytest.mark.parametrize("frame", RANGE_FRAMES, ids=lambda f: f.sql().replace(" ", "_"))
@pytest.mark.parametrize("order", [[("o", True, False)], [("o", False, True)]], ids=["asc", "desc"])
def test_value_functions_over_peers(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, params: tuple[int, ...],
    frame: WindowFrame, order: list[tuple[str, bool, bool]],
) -> None:
    # RANGE frames end (or start) at the current row's last (first) peer. The value is the order
    # key itself, the same for every peer: DataFusion's order among tied rows is its own.
    _run_call(kernels, io, oracle, values_match, _table(), func, "o", params, ["p"], order, frame)
    _run_call(kernels, io, oracle, values_match, _table(), func, "o", params, ["p"], order, frame, True)


@pytest.mark.parametrize("n", [1, 3, 7, 1000])
def test_ntile(kernels: Any, io: Any, oracle: Any, values_match: Any, n: int) -> None:
    # 1000: more buckets than any partition has rows (each row its own bucket).
    _run_call(kernels, io, oracle, values_match, _table(), WindowFunction.NTILE, None, (n,), ["p"], TOTAL)
    _run_call(kernels, io, oracle, values_match, _table(), WindowFunction.NTILE, None, (n,), [], TOTAL)


@pytest.mark.parametrize("func", [WindowFunction.PERCENT_RANK, WindowFunction.CUME_DIST], ids=lambda f: f.value)
@pytest.mark.parametrize(
    "partition,order",
    [(["p"], [("o", True, False)]), (["p"], [("o", False, True), ("s", True, True)]), (["p"], []), ([], [("o", True, True)])],
    ids=["asc", "desc-two-keys", "no-order", "no-partition"],
)
def test_percent_rank_and_cume_dist_ties_and_nulls(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, partition: list[str],
    order: list[tuple[str, bool, bool]],
) -> None:
    _run_call(kernels, io, oracle, values_match, _table(), func, None, (), partition, order)


@pytest.mark.parametrize(
    "func,arg,params",
    [(WindowFunction.LAG, "v", (1, 0)), (WindowFunction.LEAD, "s", ()), (WindowFunction.FIRST_VALUE, "v", ()),
     (WindowFunction.NTH_VALUE, "d", (2,)), (WindowFunction.NTILE, None, (4,)),
     (WindowFunction.PERCENT_RANK, None, ()), (WindowFunction.CUME_DIST, None, ())],
    ids=lambda x: x.value if isinstance(x, WindowFunction) else None,
)
def test_window_functions_of_one_row_and_no_rows(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, arg: str | None,
    params: tuple[Any, ...],
) -> None:
    for rows in (0, 1):
        _run_call(kernels, io, oracle, values_match, _table(rows), func, arg, params, ["p"], TOTAL)


@pytest.mark.parametrize("func", AGGREGATES, ids=lambda f: f.value)
@pytest.mark.parametrize("arg", ["v", "d", "f", "s"])
@pytest.mark.parametrize(
    "frame",
    [WindowFrame("ROWS", -2, 1), WindowFrame("ROWS", 1, 3), WindowFrame("ROWS", -4, -1), WindowFrame("ROWS", 0, None),
     WindowFrame("ROWS", None, -1), WindowFrame("ROWS", None, 2), WindowFrame("ROWS", -30, 30)],
    ids=lambda f: f.sql().replace(" ", "_"),
)
def test_aggregates_over_rows_frames(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, arg: str, frame: WindowFrame
) -> None:
    # Frames that slide (a bounded start), that end before the row or start after it (empty at a
    # partition's edge: NULL, or 0 for COUNT), and one wider than most partitions.
    if arg == "s" and func in (WindowFunction.SUM, WindowFunction.AVG):
        return  # no SUM of strings
    _run_call(kernels, io, oracle, values_match, _table(), func, arg, (), ["p"], TOTAL, frame)


@pytest.mark.parametrize("func", AGGREGATES, ids=lambda f: f.value)
@pytest.mark.parametrize("frame", [WindowFrame("RANGE", 0, None), WindowFrame("RANGE", 0, 0)], ids=["to-end", "peers"])
def test_aggregates_over_range_frames_from_the_current_row(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, frame: WindowFrame
) -> None:
    # The frame starts at the current row's first peer: the peers share the value.
    for arg in ("v", "d"):
        _run_call(kernels, io, oracle, values_match, _table(), func, arg, (), ["p"], [("o", False, True)], frame)


GROUP_FRAMES = [
    WindowFrame("GROUPS", -1, 0),
    WindowFrame("GROUPS", 1, 2),
    WindowFrame("GROUPS", -2, -1),
    WindowFrame("GROUPS", 0, None),
    WindowFrame("GROUPS", None, 1),
]


@pytest.mark.parametrize("func", AGGREGATES, ids=lambda f: f.value)
@pytest.mark.parametrize("frame", GROUP_FRAMES, ids=lambda f: f.sql().replace(" ", "_"))
def test_aggregates_over_groups_frames(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, frame: WindowFrame
) -> None:
    # GROUPS offsets count peer groups (NULL keys one group); a frame holds whole groups, so the
    # answer does not depend on the order among peers.
    for arg, order in (("v", [("o", True, False)]), ("d", [("o", False, True)])):
        _run_call(kernels, io, oracle, values_match, _table(), func, arg, (), ["p"], order, frame)


@pytest.mark.parametrize(
    "func,params",
    [(WindowFunction.FIRST_VALUE, ()), (WindowFunction.LAST_VALUE, ()), (WindowFunction.NTH_VALUE, (2,))],
    ids=["first", "last", "nth2"],
)
@pytest.mark.parametrize("frame", GROUP_FRAMES, ids=lambda f: f.sql().replace(" ", "_"))
def test_value_functions_over_groups_frames(
    kernels: Any, io: Any, oracle: Any, values_match: Any, func: WindowFunction, params: tuple[int, ...],
    frame: WindowFrame,
) -> None:
    # The value read is the order key: the same for every row of a group, whatever DataFusion's
    # order among peers.
    for ignore in (False, True):
        _run_call(kernels, io, oracle, values_match, _table(), func, "o", params, ["p"], [("o", True, True)], frame, ignore)

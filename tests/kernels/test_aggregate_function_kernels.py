"""The kernels behind the statistical, boolean, bitwise and string aggregates: bool_and/bool_or as
MIN/MAX of booleans, bit_and/bit_or/bit_xor and string_agg (CPU), and the moment states of
var/covar/corr (gpu_exec.engine.operators.moments) built and merged through each backend's kernels."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from gpu_exec.engine.operators import moments
from planner.expr import AggregateCall, AggregateFunction, ColumnRef

I64 = pa.int64()
F64 = pa.float64()
KEYS = ["x", None, "y", "x", None, "y", "x", "z"]


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def _expected_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return list(zip(*(c.to_pylist() for c in table.columns)))


def test_bool_and_or_are_min_and_max_of_booleans(kernels: Any, io: Any, oracle: Any) -> None:
    t = pa.table({"k": KEYS, "b": [True, None, False, True, None, True, False, None]})
    expected = oracle.query("SELECT k, bool_and(b) AS a, bool_or(b) AS o FROM t GROUP BY k", t=t)
    out = kernels.group_by(io.table(t), [0], [(1, "min", pa.bool_()), (1, "max", pa.bool_())])
    assert _sorted(io.rows(out, expected.schema)) == _sorted(_expected_rows(expected))
    whole = oracle.query("SELECT bool_and(b) AS a, bool_or(b) AS o FROM t", t=t)
    out = kernels.group_by(io.table(t), [], [(1, "min", pa.bool_()), (1, "max", pa.bool_())])
    assert io.rows(out, whole.schema) == _expected_rows(whole)
    empty = t.slice(0, 0)
    out = kernels.group_by(io.table(empty), [], [(1, "min", pa.bool_()), (1, "max", pa.bool_())])
    assert io.rows(out, whole.schema) == [(None, None)]


def _assert_cpu_only(kernels: Any, io: Any, func: str, dtype: pa.DataType) -> None:
    """Placement runs ``func`` on the CPU (the capability table says why); the GPU kernels must
    refuse it rather than answer something, so no session can reach a kernel that is not there."""
    from gpu_exec.cudf.capabilities import CPU_ONLY_AGGREGATES
    from planner.errors import ExecutionError
    from planner.expr import AggregateFunction

    assert AggregateFunction(func) in CPU_ONLY_AGGREGATES
    t = pa.table({"k": KEYS, "v": pa.array([None] * len(KEYS), dtype)})
    # The GPU kernels' errors come wrapped ("GPU kernel group_by: ValueError: ...").
    with pytest.raises(ExecutionError, match="unknown aggregate function"):
        kernels.group_by(io.table(t), [0], [(1, func, dtype)])


@pytest.mark.parametrize("dtype", [pa.int32(), pa.int64(), pa.uint8(), pa.int8()])
def test_bitwise_aggregates_match_datafusion(kernels: Any, io: Any, oracle: Any, dtype: pa.DataType) -> None:
    if kernels.name == "gpu":
        _assert_cpu_only(kernels, io, "bit_and", dtype)
        return
    signed = pa.types.is_signed_integer(dtype)
    values = [6, None, -1 if signed else 255, 3, None, 12, 5, None]
    t = pa.table({"k": KEYS, "v": pa.array(values, dtype)})
    sql = "SELECT k, bit_and(v) AS a, bit_or(v) AS o, bit_xor(v) AS x FROM t GROUP BY k"
    expected = oracle.query(sql, t=t)
    specs = [(1, f, dtype) for f in ("bit_and", "bit_or", "bit_xor")]
    out = kernels.group_by(io.table(t), [0], specs)
    assert _sorted(io.rows(out, expected.schema)) == _sorted(_expected_rows(expected))
    whole = oracle.query("SELECT bit_and(v) AS a, bit_or(v) AS o, bit_xor(v) AS x FROM t", t=t)
    assert io.rows(kernels.group_by(io.table(t), [], specs), whole.schema) == _expected_rows(whole)
    assert io.rows(kernels.group_by(io.table(t.slice(0, 0)), [], specs), whole.schema) == [(None, None, None)]


def test_string_agg_concatenates_the_non_null_strings_in_row_order(kernels: Any, io: Any) -> None:
    if kernels.name == "gpu":
        _assert_cpu_only(kernels, io, "string_agg", pa.string())
        return
    t = pa.table({"k": KEYS, "v": [",b", ",x", None, ",a", None, ",é", ",", None]})
    spec = [(1, "string_agg", pa.string())]
    out = kernels.group_by(io.table(t), [0], spec)
    got = dict(io.rows(out, pa.schema([("k", pa.string()), ("v", pa.string())])))
    assert got == {"x": ",b,a,", None: ",x", "y": ",é", "z": None}
    assert io.rows(kernels.group_by(io.table(t), [], spec), pa.schema([("v", pa.string())])) == [(",b,x,a,é,",)]
    assert io.rows(kernels.group_by(io.table(t.slice(0, 0)), [], spec), pa.schema([("v", pa.string())])) == [(None,)]


def _states(kernels: Any, io: Any, call: AggregateCall, table: pa.Table) -> dict[Any, tuple[Any, ...]]:
    """key → the moment states of ``call`` over ``table`` (k, a[, b]), through the kernels."""
    ctx = SimpleNamespace(kernels=kernels)
    device = io.table(table)
    n = kernels.num_rows(device)
    key = kernels.column(device, 0)
    values = [kernels.column(device, i) for i in range(1, table.num_columns)]
    if len(values) == 2:  # rows where either argument is NULL take no part, as moments.arguments does
        valid = pa.compute.and_(table.column(1).is_valid(), table.column(2).is_valid())
        table = pa.table({c: pa.compute.if_else(valid, table.column(c), None) if c != "k" else table.column(c)
                          for c in table.column_names})
        device = io.table(table)
        values = [kernels.column(device, i) for i in range(1, table.num_columns)]
    key_field = pa.field("k", table.schema.field(0).type)
    fields = [key_field] + [pa.field(f"v{i}", F64) for i in range(len(values))]
    inputs = kernels.make_table([key, *values], pa.schema(fields), n)
    specs = moments.first_phase_specs(list(range(1, 1 + len(values))))
    grouped = kernels.group_by(inputs, [0], specs)
    counted = [kernels.column(grouped, 1 + i) for i in range(len(specs))]
    states = moments.first_phase_states(call, counted, values, [key], [kernels.column(grouped, 0)], [key_field], ctx)
    fields = [key_field] + [pa.field(f"s{i}", I64 if i == 0 else F64) for i in range(len(states))]
    rows = io.rows(kernels.make_table([kernels.column(grouped, 0), *states], pa.schema(fields), 0), pa.schema(fields))
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize("arity", [1, 2])
def test_merged_moment_states_equal_the_states_of_the_whole(kernels: Any, io: Any, values_match: Any,
                                                            arity: int) -> None:
    # Chan's merge of the states of three slices (scrambled into one table of states) gives the
    # states computed over all rows at once: counts, sums, M2 and the co-moment C.
    rng = random.Random(7)
    n = 300
    data = {"k": [rng.choice([None, "a", "b", "c", "d"]) for _ in range(n)]}
    data["a"] = [rng.choice([None, rng.uniform(-5, 5) + 1000]) for _ in range(n)]
    if arity == 2:
        data["b"] = [rng.choice([None, rng.uniform(0, 3)]) for _ in range(n)]
    whole = pa.table(data)
    func = AggregateFunction.VAR_POP if arity == 1 else AggregateFunction.CORR
    args = tuple(ColumnRef(i, c, F64) for i, c in enumerate(whole.column_names[1:]))
    call = AggregateCall(func, args, False, None, F64, "m")
    expected = _states(kernels, io, call, whole)
    pieces = [_states(kernels, io, call, whole.slice(lo, hi - lo)) for lo, hi in ((0, 70), (70, 220), (220, n))]
    rows = [(key, *states) for piece in pieces for key, states in piece.items()]
    rng.shuffle(rows)
    width = len(rows[0]) - 1
    fields = [pa.field("k", pa.string())] + [pa.field(f"s{i}", I64 if i == 0 else F64) for i in range(width)]
    table = pa.table({f.name: pa.array([r[i] for r in rows], f.type) for i, f in enumerate(fields)})
    device = io.table(table)
    k = kernels
    state_cols = [k.column(device, 1 + i) for i in range(width)]
    specs = moments.merge_specs(list(range(1, 1 + width)))
    grouped = k.group_by(device, [0], specs)
    summed = [k.column(grouped, 1 + i) for i in range(width)]
    (merged,) = moments.merged_states([(call, state_cols, summed)], [k.column(device, 0)], [k.column(grouped, 0)],
                                      [fields[0]], SimpleNamespace(kernels=k))
    out = io.rows(k.make_table([k.column(grouped, 0), *merged], pa.schema(fields), 0), pa.schema(fields))
    got = {r[0]: r[1:] for r in out}
    assert got.keys() == expected.keys()
    for key in expected:
        assert values_match(list(got[key]), list(expected[key]), rel=1e-9), key

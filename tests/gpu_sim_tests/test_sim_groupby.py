"""The simulated pylibcudf.groupby / aggregation / reduce: libcudf's null policy, result types,
group order and strictness."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import pylibcudf as plc

agg = plc.aggregation
NP = plc.types.NullPolicy


def col(values: list, t: pa.DataType | None = None) -> plc.Column:
    return plc.Column.from_arrow(pa.array(values, t))


def rows(keys: plc.Table, result: plc.Table) -> list[tuple]:
    cols = [c.to_arrow().to_pylist() for c in keys.columns() + result.columns()]
    return sorted(zip(*cols), key=lambda r: tuple((v is None, v) for v in r))


def test_default_null_handling_drops_null_keys_and_include_keeps_them() -> None:
    k, v = col([1, None, 1, 2]), col([10, 20, 30, None])
    request = [plc.groupby.GroupByRequest(v, [agg.sum(), agg.count()])]
    keys, res = plc.groupby.GroupBy(plc.Table([k])).aggregate(request)
    assert rows(keys, res[0]) == [(1, 40, 2), (2, None, 0)]
    keys, res = plc.groupby.GroupBy(plc.Table([k]), null_handling=NP.INCLUDE).aggregate(
        [plc.groupby.GroupByRequest(v, [agg.sum(), agg.count()])])
    assert rows(keys, res[0]) == [(1, 40, 2), (2, None, 0), (None, 20, 1)]


def test_result_types_follow_libcudf() -> None:
    k = plc.Table([col([1, 1, 2])])
    cases = [
        (col([1, 2, 3], pa.int32()), agg.sum(), plc.TypeId.INT64),
        (col([1, 2, 3], pa.uint64()), agg.sum(), plc.TypeId.INT64),
        (col([1.0, 2.0, 3.0], pa.float32()), agg.sum(), plc.TypeId.FLOAT32),
        (col([1, 2, 3], pa.int16()), agg.mean(), plc.TypeId.FLOAT64),
        (col([1, 2, 3], pa.int8()), agg.count(), plc.TypeId.INT32),
        (col([1, 2, 3], pa.int8()), agg.nunique(), plc.TypeId.INT32),
        (col(["a", "b", "c"]), agg.max(), plc.TypeId.STRING),
    ]
    for values, a, tid in cases:
        _, res = plc.groupby.GroupBy(k).aggregate([plc.groupby.GroupByRequest(values, [a])])
        assert res[0].columns()[0].type().id() == tid, (values.type(), a)


def test_decimal_sum_keeps_scale_and_mean_truncates() -> None:
    t = pa.decimal128(10, 2)
    values = col([Decimal("1.00"), Decimal("0.01"), Decimal("-5.00"), Decimal("2.00")], t)
    keys, res = plc.groupby.GroupBy(plc.Table([col([1, 1, 2, 2])])).aggregate(
        [plc.groupby.GroupByRequest(values, [agg.sum(), agg.mean()])])
    assert res[0].columns()[0].type() == plc.DataType(plc.TypeId.DECIMAL128, -2)
    assert rows(keys, res[0]) == [(1, Decimal("1.01"), Decimal("0.50")), (2, Decimal("-3.00"), Decimal("-1.50"))]


def test_decimal64_sum_overflow_raises() -> None:
    big = Decimal("9999999999999999.99")  # unscaled ~1e18: ten of them pass 2**63 (libcudf wraps)
    with pytest.raises(OverflowError):
        plc.groupby.GroupBy(plc.Table([col([1] * 10)])).aggregate(
            [plc.groupby.GroupByRequest(col([big] * 10, pa.decimal64(18, 2)), [agg.sum()])])
    # nine fit the 64-bit width (libcudf's bound is the storage, not 18 digits)
    _, res = plc.groupby.GroupBy(plc.Table([col([1] * 9)])).aggregate(
        [plc.groupby.GroupByRequest(col([big] * 9, pa.decimal64(18, 2)), [agg.sum()])])
    assert res[0].columns()[0].type() == plc.DataType(plc.TypeId.DECIMAL64, -2)


def test_group_order_is_scrambled_but_sorted_keys_keep_it() -> None:
    keys = col(list(range(40)))
    seen = set()
    for _ in range(5):
        out, _ = plc.groupby.GroupBy(plc.Table([keys])).aggregate([plc.groupby.GroupByRequest(keys, [agg.min()])])
        seen.add(tuple(out.columns()[0].to_arrow().to_pylist()))
    assert tuple(range(40)) not in seen or len(seen) > 1
    out, _ = plc.groupby.GroupBy(plc.Table([keys]), keys_are_sorted=plc.types.Sorted.YES).aggregate(
        [plc.groupby.GroupByRequest(keys, [agg.min()])])
    assert out.columns()[0].to_arrow().to_pylist() == list(range(40))


def test_sorted_flag_on_unsorted_keys_raises() -> None:
    with pytest.raises(RuntimeError, match="not sorted"):
        plc.groupby.GroupBy(plc.Table([col([2, 1])]), keys_are_sorted=plc.types.Sorted.YES).aggregate(
            [plc.groupby.GroupByRequest(col([1, 2]), [agg.sum()])])


def test_invalid_combinations_raise() -> None:
    g = plc.groupby.GroupBy(plc.Table([col([1, 2])]))
    with pytest.raises(RuntimeError):
        g.aggregate([plc.groupby.GroupByRequest(col(["a", "b"]), [agg.sum()])])
    with pytest.raises(NotImplementedError):  # ANY is a reduce-only aggregation
        g.aggregate([plc.groupby.GroupByRequest(col([True, False]), [agg.any()])])
    with pytest.raises(RuntimeError, match="NaN"):
        g.aggregate([plc.groupby.GroupByRequest(col([float("nan"), 1.0]), [agg.max()])])
    with pytest.raises(RuntimeError, match="Size mismatch"):
        g.aggregate([plc.groupby.GroupByRequest(col([1]), [agg.sum()])])


def test_count_default_is_exclude() -> None:
    assert agg.count().kind() == agg.Kind.COUNT_VALID
    assert agg.count(NP.INCLUDE).kind() == agg.Kind.COUNT_ALL


def test_scan_masks_null_rows_and_replace_nulls_fills_within_groups() -> None:
    k = plc.Table([col([1, 1, 1, 2, 2])])
    g = plc.groupby.GroupBy(k, null_handling=NP.INCLUDE, keys_are_sorted=plc.types.Sorted.YES)
    _, res = g.scan([plc.groupby.GroupByRequest(col([1, None, 3, 5, None], pa.int32()), [agg.sum(), agg.max()])])
    total, top = res[0].columns()
    assert total.type().id() == plc.TypeId.INT64
    assert total.to_arrow().to_pylist() == [1, None, 4, 5, None]
    assert top.to_arrow().to_pylist() == [1, None, 3, 5, None]
    _, filled = g.replace_nulls(plc.Table([top]), [plc.replace.ReplacePolicy.PRECEDING])
    assert filled.columns()[0].to_arrow().to_pylist() == [1, 1, 3, 5, 5]


def test_reduce_checks_and_empty_results() -> None:
    r, A = plc.reduce.reduce, agg
    i64, f64 = plc.DataType(plc.TypeId.INT64), plc.DataType(plc.TypeId.FLOAT64)
    assert r(col([1, 2, None], pa.int32()), A.sum(), i64).to_py() == 3
    assert r(col([1, 2], pa.int32()), A.mean(), f64).to_py() == 1.5
    with pytest.raises(RuntimeError):
        r(col([1, 2], pa.int32()), A.min(), i64)  # MIN needs the input type
    with pytest.raises(RuntimeError):
        r(col([1, 2], pa.int32()), A.mean(), i64)  # MEAN needs a float output
    with pytest.raises(ValueError):
        r(col(["a"]), A.sum(), i64)
    empty = col([None, None], pa.int64())
    assert not r(empty, A.sum(), i64).is_valid()
    assert not r(empty, A.max(), i64).is_valid()
    assert r(empty, A.any(), plc.DataType(plc.TypeId.BOOL8)).to_py() is False
    assert r(empty, A.all(), plc.DataType(plc.TypeId.BOOL8)).to_py() is True


def test_column_scan_keeps_type_and_skips_nulls() -> None:
    out = plc.reduce.scan(col([2**31 - 1, None, 1], pa.int32()), agg.sum(), plc.reduce.ScanType.INCLUSIVE)
    assert out.type().id() == plc.TypeId.INT32
    assert out.to_arrow().to_pylist() == [2**31 - 1, None, -(2**31)]  # wraps as on the device
    out = plc.reduce.scan(col([3, None, 1, 5]), agg.min(), plc.reduce.ScanType.INCLUSIVE)
    assert out.to_arrow().to_pylist() == [3, None, 1, 1]


@pytest.mark.parametrize("seed", [1, 20261204])
def test_code_that_assumes_an_order_of_groups_gets_a_wrong_answer(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scrambling's proof: libcudf's hash group-by promises no order of groups, so code that
    pairs the aggregates with the keys it expects (sorted, or in order of first appearance) instead
    of with the keys the group-by returned gets a wrong answer here — deterministically, for a
    fixed seed — while code that uses the returned keys is right."""
    from pylibcudf import _sim

    monkeypatch.setattr(_sim, "_rng", __import__("random").Random(seed))
    raw = [7, 3, 9, 3, 1, 7, 5, 9, 2, 8, 6, 4, 0, 5] * 3
    keys = col(raw)
    values = col([10 * k + 1 for k in raw])
    out_keys, results = plc.groupby.GroupBy(plc.Table([keys])).aggregate(
        [plc.groupby.GroupByRequest(values, [agg.sum()])])
    sums = results[0].columns()[0].to_arrow().to_pylist()
    expected = {k: raw.count(k) * (10 * k + 1) for k in set(raw)}
    # Right: the i-th aggregate belongs to the i-th returned key.
    assert dict(zip(out_keys.columns()[0].to_arrow().to_pylist(), sums)) == expected
    # Wrong: assuming key order, or first-appearance order (what a sort- or scan-based CPU
    # group-by happens to give).
    assert dict(zip(sorted(set(raw)), sums)) != expected
    assert dict(zip(dict.fromkeys(raw), sums)) != expected

"""The simulated pylibcudf.sorting and stream_compaction: NullOrder relative to ascending, NaN
order, stability, retention masks and distinct."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import pylibcudf as plc

O, N = plc.types.Order, plc.types.NullOrder
SC = plc.stream_compaction


def col(values: list, t: pa.DataType | None = None) -> plc.Column:
    return plc.Column.from_arrow(pa.array(values, t))


def order(values: list, o: plc.types.Order, n: plc.types.NullOrder) -> list[int]:
    out = plc.sorting.stable_sorted_order(plc.Table([col(values)]), [o], [n])
    assert out.type().id() == plc.TypeId.INT32
    return out.to_arrow().to_pylist()


def test_null_order_is_relative_to_ascending() -> None:
    v = [2, None, 1]
    assert order(v, O.ASCENDING, N.BEFORE) == [1, 2, 0]  # ASC NULLS FIRST
    assert order(v, O.ASCENDING, N.AFTER) == [2, 0, 1]  # ASC NULLS LAST
    assert order(v, O.DESCENDING, N.AFTER) == [1, 0, 2]  # DESC NULLS FIRST
    assert order(v, O.DESCENDING, N.BEFORE) == [0, 2, 1]  # DESC NULLS LAST


def test_nan_sorts_above_infinity_and_zeros_tie() -> None:
    v = [float("nan"), float("inf"), -0.0, 0.0, float("-inf")]
    assert order(v, O.ASCENDING, N.AFTER) == [4, 2, 3, 1, 0]


def test_strings_sort_by_utf8_bytes() -> None:
    assert order(["é", "z", "Z", "a"], O.ASCENDING, N.AFTER) == [2, 3, 1, 0]


def test_unstable_sort_scrambles_ties_and_stable_keeps_them() -> None:
    v = [1] * 30
    assert order(v, O.ASCENDING, N.AFTER) == list(range(30))
    seen = {tuple(plc.sorting.sorted_order(plc.Table([col(v)]), [O.ASCENDING], [N.AFTER]).to_arrow().to_pylist())
            for _ in range(3)}
    assert seen != {tuple(range(30))}


def test_mismatched_order_lists_raise() -> None:
    with pytest.raises(RuntimeError):
        plc.sorting.sorted_order(plc.Table([col([1]), col([2])]), [O.ASCENDING], [])


def test_rank_methods() -> None:
    v = col([30, 10, None, 10])
    def rank(method: plc.aggregation.RankMethod, policy: plc.types.NullPolicy = plc.types.NullPolicy.EXCLUDE) -> list:
        return plc.sorting.rank(v, method, O.ASCENDING, policy, N.AFTER, False).to_arrow().to_pylist()
    RM = plc.aggregation.RankMethod
    assert rank(RM.FIRST) == [3, 1, None, 2]
    assert rank(RM.MIN) == [3, 1, None, 1]
    assert rank(RM.MAX) == [3, 2, None, 2]
    assert rank(RM.DENSE) == [2, 1, None, 1]
    assert rank(RM.DENSE, plc.types.NullPolicy.INCLUDE) == [2, 1, 3, 1]
    avg = plc.sorting.rank(v, RM.AVERAGE, O.ASCENDING, plc.types.NullPolicy.EXCLUDE, N.AFTER, False)
    assert avg.type().id() == plc.TypeId.FLOAT64 and avg.to_arrow().to_pylist() == [3.0, 1.5, None, 1.5]


def test_retention_mask_keeps_valid_true_rows_and_wants_bool8() -> None:
    t = plc.Table([col([1, 2, 3, 4])])
    kept = SC.apply_retention_mask(t, col([True, None, False, True]))
    assert kept.columns()[0].to_arrow().to_pylist() == [1, 4]
    dropped = SC.apply_deletion_mask(t, col([True, None, False, True]))
    assert dropped.columns()[0].to_arrow().to_pylist() == [2, 3]
    with pytest.raises(RuntimeError):
        SC.apply_retention_mask(t, col([1, 0, 1, 1], pa.int8()))
    with pytest.raises(RuntimeError):
        SC.apply_retention_mask(t, col([True]))


def test_distinct_keep_options_and_equalities() -> None:
    K = SC.DuplicateKeepOption
    t = plc.Table([col([1, None, 1, None, float("nan"), float("nan")], pa.float64()), col(list(range(6)))])

    def kept(keep: SC.DuplicateKeepOption, nulls: plc.types.NullEquality = plc.types.NullEquality.EQUAL,
             nans: plc.types.NanEquality = plc.types.NanEquality.ALL_EQUAL) -> list[int]:
        out = SC.stable_distinct(t, [0], keep, nulls, nans)
        return out.columns()[1].to_arrow().to_pylist()
    assert kept(K.KEEP_FIRST) == [0, 1, 4]
    assert kept(K.KEEP_LAST) == [2, 3, 5]
    assert kept(K.KEEP_NONE) == []
    assert kept(K.KEEP_FIRST, plc.types.NullEquality.UNEQUAL) == [0, 1, 3, 4]
    assert kept(K.KEEP_FIRST, nans=plc.types.NanEquality.UNEQUAL) == [0, 1, 4, 5]
    any_rows = SC.distinct(t, [0], K.KEEP_ANY, plc.types.NullEquality.EQUAL, plc.types.NanEquality.ALL_EQUAL)
    assert any_rows.num_rows() == 3

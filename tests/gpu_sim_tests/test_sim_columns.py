"""The simulated pylibcudf.copying, concatenate, filling, null_mask, transform, replace, search and
column_factories: libcudf's bounds and type checks, NULL rules, zero-copy slices, and raising
where libcudf's behaviour is undefined."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import pylibcudf as plc  # noqa: E402

T, D = plc.TypeId, plc.DataType
NULLIFY, DONT_CHECK = plc.copying.OutOfBoundsPolicy.NULLIFY, plc.copying.OutOfBoundsPolicy.DONT_CHECK


def col(values: list, t: pa.DataType | None = None) -> plc.Column:
    return plc.Column.from_arrow(pa.array(values, t))


def values(c: plc.Column) -> list:
    return c.to_arrow().to_pylist()


TABLE = plc.Table([col([10, 20, None, 40]), col(["a", None, "c", "d"])])


def test_gather_wraps_negative_indices_and_nullifies_out_of_bounds() -> None:
    out = plc.copying.gather(TABLE, col([-1, 0, 7, -5], pa.int32()), NULLIFY)
    assert [values(c) for c in out.columns()] == [[40, 10, None, None], ["d", "a", None, None]]


def test_gather_out_of_bounds_with_dont_check_raises_and_a_null_map_is_refused() -> None:
    with pytest.raises(RuntimeError, match="simulated"):
        plc.copying.gather(TABLE, col([4], pa.int32()), DONT_CHECK)
    with pytest.raises(ValueError):
        plc.copying.gather(TABLE, col([0, None], pa.int32()), NULLIFY)


def test_scatter_checks_types_and_refuses_repeated_or_out_of_range_indices() -> None:
    target = plc.Table([col([0, 0, 0], pa.int64())])
    out = plc.copying.scatter(plc.Table([col([7, None], pa.int64())]), col([2, -3], pa.int32()), target)
    assert values(out.columns()[0]) == [None, 0, 7]
    with pytest.raises(TypeError):
        plc.copying.scatter([plc.Scalar.from_py(1, D(T.INT32))], col([0], pa.int32()), target)
    with pytest.raises(RuntimeError, match="simulated"):
        plc.copying.scatter([plc.Scalar.from_py(1, D(T.INT64))], col([1, 1], pa.int32()), target)
    with pytest.raises(RuntimeError, match="simulated"):
        plc.copying.scatter([plc.Scalar.from_py(1, D(T.INT64))], col([3], pa.int32()), target)


def test_slice_and_split_are_views_with_bounds_checks() -> None:
    c = col(["x", "yy", None, "zzz"])
    piece = plc.copying.slice(c, [1, 3])[0]
    assert piece.offset() == 1 and piece.null_count() == 1 and values(piece) == ["yy", None]
    assert piece.data().ptr == c.data().ptr
    parts = plc.copying.split(TABLE, [1, 3])
    assert [p.num_rows() for p in parts] == [1, 2, 1]
    with pytest.raises(ValueError):
        plc.copying.slice(c, [1])
    with pytest.raises(IndexError):
        plc.copying.slice(c, [0, 5])
    with pytest.raises(ValueError):
        plc.copying.slice(c, [3, 1])


def test_copy_if_else_takes_rhs_on_a_null_condition_and_wants_identical_types() -> None:
    mask = col([True, None, False])
    out = plc.copying.copy_if_else(col([1, 2, 3]), plc.Scalar.from_py(0), mask)
    assert values(out) == [1, 0, 0]
    with pytest.raises(TypeError):
        plc.copying.copy_if_else(col([1, 2, 3]), col([1, 2, 3], pa.int32()), mask)
    d2, d3 = col([Decimal("1.00")], pa.decimal128(5, 2)), col([Decimal("1.000")], pa.decimal128(5, 3))
    with pytest.raises(TypeError):
        plc.copying.copy_if_else(d2, d3, col([True]))
    with pytest.raises(TypeError):
        plc.copying.copy_if_else(col([1]), col([2]), col([1], pa.int8()))


def test_get_element_shift_reverse_empty_like() -> None:
    c = col([1, 2, None])
    assert plc.copying.get_element(c, 2).to_py() is None
    with pytest.raises(IndexError):
        plc.copying.get_element(c, 3)
    assert values(plc.copying.shift(c, 1, plc.Scalar.from_py(9))) == [9, 1, 2]
    assert values(plc.copying.shift(c, -1, plc.Scalar.from_py(None, D(T.INT64)))) == [2, None, None]
    with pytest.raises(TypeError):
        plc.copying.shift(c, 1, plc.Scalar.from_py(9, D(T.INT32)))
    assert values(plc.copying.reverse(c)) == [None, 2, 1]
    assert plc.copying.empty_like(c).size() == 0


def test_concatenate_needs_identical_types() -> None:
    assert values(plc.concatenate.concatenate([col([1]), col([None, 2])])) == [1, None, 2]
    with pytest.raises(TypeError):
        plc.concatenate.concatenate([col([1]), col([1], pa.int32())])
    with pytest.raises(ValueError):
        plc.concatenate.concatenate([])
    with pytest.raises(ValueError):
        plc.concatenate.concatenate([TABLE, plc.Table([col([1])])])


def test_sequence_and_repeat() -> None:
    one = plc.Scalar.from_py(1, D(T.INT32))
    assert values(plc.filling.sequence(3, plc.Scalar.from_py(5, D(T.INT32)), one)) == [5, 6, 7]
    with pytest.raises(TypeError):
        plc.filling.sequence(3, plc.Scalar.from_py(5), one)
    repeated = plc.filling.repeat(plc.Table([col(["a", "b"])]), 2)
    assert values(repeated.columns()[0]) == ["a", "a", "b", "b"]
    by_count = plc.filling.repeat(plc.Table([col(["a", "b"])]), col([0, 3], pa.int32()))
    assert values(by_count.columns()[0]) == ["b", "b", "b"]


def test_bitmask_and_is_a_device_buffer_from_row_zero() -> None:
    a, b = col([1, None, 3, 4]), col([None, 2, 3, 4])
    piece = plc.copying.slice(a, [1, 4])[0]
    mask, nulls = plc.null_mask.bitmask_and([piece, plc.copying.slice(b, [1, 4])[0]])
    assert nulls == 1
    fresh = col([7, 8, 9])
    assert values(fresh.with_mask(mask, nulls)) == [None, 8, 9]
    empty, zero = plc.null_mask.bitmask_and([col([1, 2])])
    assert zero == 0 and empty.size == 0


def test_bools_to_mask_and_nans_to_nulls() -> None:
    mask, nulls = plc.transform.bools_to_mask(col([True, False, None]))
    assert nulls == 2 and values(col([1, 2, 3]).with_mask(mask, nulls)) == [1, None, None]
    with pytest.raises(RuntimeError):
        plc.transform.bools_to_mask(col([1]))
    assert values(plc.transform.column_nans_to_nulls(col([1.0, float("nan"), None]))) == [1.0, None, None]
    with pytest.raises(ValueError):
        plc.transform.column_nans_to_nulls(col([1]))


def test_replace_nulls_normalize_and_clamp() -> None:
    c = col([None, 1, None, 3, None])
    assert values(plc.replace.replace_nulls(c, plc.Scalar.from_py(0))) == [0, 1, 0, 3, 0]
    assert values(plc.replace.replace_nulls(c, plc.replace.ReplacePolicy.PRECEDING)) == [None, 1, 1, 3, 3]
    assert values(plc.replace.replace_nulls(c, plc.replace.ReplacePolicy.FOLLOWING)) == [1, 1, 3, 3, None]
    with pytest.raises(TypeError):
        plc.replace.replace_nulls(c, plc.Scalar.from_py(0, D(T.INT32)))
    normalized = values(plc.replace.normalize_nans_and_zeros(col([-0.0, float("nan"), 2.0])))
    assert str(normalized[0]) == "0.0" and normalized[1] != normalized[1]
    clamped = plc.replace.clamp(col([-5, 5, None, 50]), plc.Scalar.from_py(0), plc.Scalar.from_py(10))
    assert values(clamped) == [0, 5, None, 10]


def test_contains_wants_identical_types_and_keeps_null_needles_null() -> None:
    hay = col([1.0, float("nan"), None, -0.0])
    found = plc.search.contains(hay, col([float("nan"), 0.0, None, 5.0]))
    assert values(found) == [True, True, None, False]
    with pytest.raises(RuntimeError):
        plc.search.contains(col([1], pa.int32()), col([1]))


def test_make_empty_column() -> None:
    assert plc.column_factories.make_empty_column(T.STRING).type() == D(T.STRING)
    assert plc.column_factories.make_empty_column(D(T.DECIMAL128, -2)).size() == 0
    with pytest.raises(TypeError):
        plc.column_factories.make_empty_column("int64")

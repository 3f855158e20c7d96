"""The simulated pylibcudf.join and partitioning: JoinNoMatch sentinels, NULL key equality,
strict key types, scrambled maps and partition offsets."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import pylibcudf as plc

NO_MATCH = -(2**31)
EQ, UNEQ = plc.types.NullEquality.EQUAL, plc.types.NullEquality.UNEQUAL


def col(values: list, t: pa.DataType | None = None) -> plc.Column:
    return plc.Column.from_arrow(pa.array(values, t))


def pairs(maps: tuple[plc.Column, plc.Column]) -> list[tuple[int, int]]:
    left, right = (m.to_arrow().to_pylist() for m in maps)
    assert maps[0].type().id() == maps[1].type().id() == plc.TypeId.INT32
    return sorted(zip(left, right))


LEFT = plc.Table([col([1, None, 2, 3])])
RIGHT = plc.Table([col([2, None, 2, 5])])


def test_inner_left_full_with_sentinels() -> None:
    assert pairs(plc.join.inner_join(LEFT, RIGHT, UNEQ)) == [(2, 0), (2, 2)]
    assert pairs(plc.join.inner_join(LEFT, RIGHT, EQ)) == [(1, 1), (2, 0), (2, 2)]
    assert pairs(plc.join.left_join(LEFT, RIGHT, UNEQ)) == [(0, NO_MATCH), (1, NO_MATCH), (2, 0), (2, 2),
                                                            (3, NO_MATCH)]
    full = pairs(plc.join.full_join(LEFT, RIGHT, UNEQ))
    assert full == [(NO_MATCH, 1), (NO_MATCH, 3), (0, NO_MATCH), (1, NO_MATCH), (2, 0), (2, 2), (3, NO_MATCH)]


def test_semi_and_anti() -> None:
    assert sorted(plc.join.left_semi_join(LEFT, RIGHT, UNEQ).to_arrow().to_pylist()) == [2]
    assert sorted(plc.join.left_anti_join(LEFT, RIGHT, UNEQ).to_arrow().to_pylist()) == [0, 1, 3]
    assert sorted(plc.join.left_anti_join(LEFT, RIGHT, EQ).to_arrow().to_pylist()) == [0, 3]


def test_key_types_must_match_exactly() -> None:
    with pytest.raises(TypeError):
        plc.join.inner_join(plc.Table([col([1], pa.int32())]), plc.Table([col([1], pa.int64())]), EQ)
    with pytest.raises(TypeError):
        plc.join.inner_join(plc.Table([col([1], pa.decimal128(5, 1))]), plc.Table([col([1], pa.decimal128(5, 2))]), EQ)
    with pytest.raises(ValueError):
        plc.join.inner_join(LEFT, plc.Table([col([1]), col([2])]), EQ)


def test_map_order_is_scrambled() -> None:
    keys = plc.Table([col(list(range(50)))])
    left, _ = plc.join.inner_join(keys, keys, EQ)
    assert sorted(left.to_arrow().to_pylist()) == list(range(50))
    assert left.to_arrow().to_pylist() != list(range(50))


def test_cross_join_repeats_left_and_tiles_right() -> None:
    out = plc.join.cross_join(plc.Table([col([1, 2])]), plc.Table([col(["a", "b", "c"])]))
    assert [c.to_arrow().to_pylist() for c in out.columns()] == [[1, 1, 1, 2, 2, 2], list("abcabc")]


def test_partition_offsets_and_strict_map() -> None:
    t = plc.Table([col([10, 11, 12, 13, 14])])
    out, offsets = plc.partitioning.partition(t, col([2, 0, 2, 1, 0], pa.int32()), 4)
    assert offsets == [0, 2, 3, 5, 5]
    values = out.columns()[0].to_arrow().to_pylist()
    assert sorted(values[0:2]) == [11, 14] and values[2:3] == [13] and sorted(values[3:5]) == [10, 12]
    with pytest.raises(IndexError):
        plc.partitioning.partition(t, col([0, 1, 2, 3, 4], pa.int32()), 4)
    with pytest.raises(RuntimeError):
        plc.partitioning.partition(t, col([0, None, 0, 0, 0], pa.int32()), 4)
    with pytest.raises(RuntimeError):
        plc.partitioning.partition(t, col([True, False, True, True, True]), 4)

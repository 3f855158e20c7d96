"""Partition ids: identical for equal values whatever the physical type, deterministic, spread
evenly, and defined for NULLs, strings, decimals and floats; hash_partition routes by them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import fallback_cpu.partition_hash as ph
from fallback_cpu.partition_hash import ColumnBuffers, arrow_column_buffers, partition_ids


def ids(*arrays: pa.Array | pa.ChunkedArray, n: int = 64) -> list[int]:
    return partition_ids(np, [arrow_column_buffers(a) for a in arrays], n).tolist()


def test_int32_and_int64_keys_of_equal_value_hash_equal() -> None:
    values = [0, 1, -1, 7, 2**31 - 1, -(2**31), None]
    assert ids(pa.array(values, pa.int32())) == ids(pa.array(values, pa.int64()))
    assert ids(pa.array(values[:-3], pa.int8())) == ids(pa.array(values[:-3], pa.int64()))


def test_dates_and_bools_hash_as_their_integer_values() -> None:
    assert ids(pa.array([0, 18262, None], pa.date32())) == ids(pa.array([0, 18262, None], pa.int64()))
    assert ids(pa.array([True, False, None])) == ids(pa.array([1, 0, None], pa.int64()))


def test_partition_ids_are_deterministic_and_in_range() -> None:
    keys = pa.array(np.arange(10_000, dtype=np.int64))
    first = ids(keys, n=13)
    assert first == ids(keys, n=13)
    assert min(first) >= 0 and max(first) < 13
    out = partition_ids(np, [arrow_column_buffers(keys)], 13)
    assert out.dtype in (np.int32, np.int64)


def test_partition_ids_are_pinned() -> None:
    # Shuffle data written by one build is read by another: the ids are a format. Changing the
    # hash must be deliberate (update these numbers and say so in the change).
    assert ids(pa.array([1, 2, 3, None], pa.int64()), n=1000) == [646, 321, 586, 947]
    assert ids(pa.array(["a", "", "TPC-H", None]), n=1000) == [16, 215, 666, 947]


@pytest.mark.parametrize(
    "keys",
    [
        pa.array(np.arange(100_000, dtype=np.int64)),
        pa.array(np.arange(100_000, dtype=np.int64) * 1024),  # low bits all zero
        pa.array([f"customer#{i:09d}" for i in range(100_000)]),
        pa.array([Decimal(i) / 100 for i in range(100_000)], pa.decimal128(15, 2)),
        pa.array(np.arange(100_000, dtype=np.float64) / 7),
    ],
    ids=["ints", "multiples-of-1024", "strings", "decimals", "floats"],
)
def test_keys_spread_evenly(keys: pa.Array) -> None:
    counts = np.bincount(ids(keys, n=16), minlength=16)
    expected = len(keys) / 16
    assert counts.min() > 0.9 * expected and counts.max() < 1.1 * expected, counts


def test_all_nulls_go_to_one_partition_whatever_the_type() -> None:
    nulls = {
        t: ids(pa.nulls(3, t), n=97) for t in (pa.int64(), pa.string(), pa.float64(), pa.decimal128(10, 2))
    }
    assert len({tuple(v) for v in nulls.values()}) == 1
    assert len(set(next(iter(nulls.values())))) == 1


def test_null_differs_from_zero_and_empty_string() -> None:
    assert (
        ids(pa.array([None, 0], pa.int64()), n=1 << 30)[0]
        != ids(pa.array([None, 0], pa.int64()), n=1 << 30)[1]
    )
    assert len(set(ids(pa.array([None, ""]), n=1 << 30))) == 2


def test_strings_hash_their_bytes_whatever_the_layout() -> None:
    values = ["", "a", "ab", "ba", "héllo", "a\x00", "a" * 100, None]
    whole = ids(pa.array(values))
    assert ids(pa.array(values, pa.large_string())) == whole
    assert ids(pa.array(values, pa.string_view())) == whole
    assert ids(pa.chunked_array([pa.array(values[:3]), pa.array(values[3:])])) == whole
    # A slice has a non-zero offset into the same buffers.
    assert ids(pa.array(["zz"] + values).slice(1)) == whole
    assert len(set(ids(pa.array(values[:-1]), n=1 << 30))) == len(values) - 1


def test_both_string_strategies_compute_the_same_sums() -> None:
    arr = pa.array(["", "x", "hello", "a longer string with spaces", None, "héllo wörld"] * 50)
    col = arrow_column_buffers(arr)
    offsets = col.offsets.astype(np.int64)
    lengths = offsets[1:] - offsets[:-1]
    packed = col.data[offsets[0] : offsets[-1]]
    weights = ph._position_weights(np, int(lengths.max()))
    begins = offsets[:-1] - offsets[0]
    by_position = ph._string_sums_by_position(np, packed, begins, lengths, weights)
    by_prefix = ph._string_sums_by_prefix(np, packed, begins, lengths, weights)
    assert (by_position == by_prefix).all()


def test_decimals_hash_the_unscaled_value_whatever_the_precision() -> None:
    values = [Decimal("1.50"), Decimal("-0.01"), None, Decimal("12345678901234567890123456.78")]
    assert ids(pa.array(values, pa.decimal128(38, 2))) == ids(pa.array(values, pa.decimal128(30, 2)))
    small = [Decimal("1.50"), Decimal("-0.01"), None]
    assert ids(pa.array(small, pa.decimal64(10, 2))) == ids(pa.array(small, pa.decimal128(10, 2)))
    # Values that differ only in the high 64 bits still hash differently.
    assert len(set(ids(pa.array([Decimal(1), Decimal(1 + 2**64)], pa.decimal128(38, 0)), n=1 << 30))) == 2


def test_floats_fold_negative_zero_and_nan() -> None:
    out = ids(pa.array([0.0, -0.0, float("nan"), -float("nan")]), n=1 << 30)
    assert out[0] == out[1] and out[2] == out[3]
    assert ids(pa.array([1.5], pa.float32())) == ids(pa.array([1.5], pa.float64()))


def test_columns_combine_in_order() -> None:
    a, b = pa.array([1, 2], pa.int64()), pa.array([2, 1], pa.int64())
    assert ids(a, b, n=1 << 30)[0] != ids(a, b, n=1 << 30)[1]
    assert ids(a, b) == ids(pa.array([1, 2], pa.int32()), pa.array([2, 1], pa.int16()))


def test_column_buffers_are_neutral_descriptions() -> None:
    # A backend can describe its columns by hand (as the GPU side does from device buffers).
    by_hand = ColumnBuffers(
        "int", np.array([1, 2, 3], dtype=np.int64), validity=np.array([True, True, False])
    )
    assert partition_ids(np, [by_hand], 64).tolist() == ids(pa.array([1, 2, None], pa.int64()))
    with pytest.raises(ValueError):
        ColumnBuffers("complex", np.zeros(1))
    with pytest.raises(ValueError):
        partition_ids(np, [], 4)
    with pytest.raises(ValueError):
        partition_ids(np, [by_hand], 0)


def test_empty_input_gives_no_ids() -> None:
    assert ids(pa.array([], pa.int64())) == []
    assert ids(pa.array([], pa.string())) == []


def _partition_of_each_key(kernels: Any, io: Any, table: pa.Table, n: int) -> dict[Any, int]:
    pieces = kernels.hash_partition(io.table(table), [0], n)
    assert len(pieces) == n
    where: dict[Any, int] = {}
    for p, piece in enumerate(pieces):
        for key, *_rest in io.rows(piece, table.schema):
            assert where.setdefault(key, p) == p, f"key {key} in partitions {where[key]} and {p}"
    return where


def test_hash_partition_splits_rows_by_partition_ids(kernels: Any, io: Any) -> None:
    keys = pa.array([i % 37 if i % 11 else None for i in range(1000)], pa.int64())
    table = pa.table({"k": keys, "v": pa.array(range(1000), pa.int64())})
    pieces = kernels.hash_partition(io.table(table), [0], 8)
    rows = [r for piece in pieces for r in io.rows(piece, table.schema)]
    assert sorted(rows, key=lambda r: r[1]) == list(zip(keys.to_pylist(), range(1000)))
    expected = ids(keys, n=8)
    for p, piece in enumerate(pieces):
        for _key, v in io.rows(piece, table.schema):
            assert expected[v] == p


def test_hash_partition_sends_int32_and_int64_keys_alike(kernels: Any, io: Any) -> None:
    values = list(range(-50, 50)) + [None]
    narrow = _partition_of_each_key(kernels, io, pa.table({"k": pa.array(values, pa.int32())}), 7)
    wide = _partition_of_each_key(kernels, io, pa.table({"k": pa.array(values, pa.int64())}), 7)
    assert narrow == wide


def test_hash_partition_on_several_keys_and_empty_tables(kernels: Any, io: Any) -> None:
    table = pa.table(
        {
            "a": ["x", "y", None, "x"],
            "b": pa.array([Decimal("1.5"), None, Decimal(0), Decimal("1.5")], pa.decimal128(10, 2)),
        }
    )
    pieces = kernels.hash_partition(io.table(table), [0, 1], 5)
    sizes = [kernels.num_rows(p) for p in pieces]
    assert sum(sizes) == 4
    together = [i for i, p in enumerate(pieces) if ("x", Decimal("1.50")) in io.rows(p, table.schema)]
    assert (
        len(together) == 1 and io.rows(pieces[together[0]], table.schema).count(("x", Decimal("1.50"))) == 2
    )
    empty = kernels.hash_partition(io.table(table.slice(0, 0)), [0, 1], 3)
    assert [kernels.num_rows(p) for p in empty] == [0, 0, 0]

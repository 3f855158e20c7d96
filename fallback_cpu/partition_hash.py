"""Backend-identical partition ids: one seeded hash over Arrow-layout buffers, numpy or cupy.

The two sides of a join may be partitioned on different devices (one side's filter fell back to
the CPU), so a key must land in the same partition whichever backend hashed it: partition ids are
identical on both backends, for every key type. pyarrow has no scalar hash kernel and cuDF's
murmur3 is not reproducible bit for bit on the host, so the hash is written once here against the
array API: ``xp`` is ``numpy`` on the CPU and ``cupy`` on the GPU, and only methods/functions the
two share are used (``astype``, ``view``, ``cumsum``, ``where``, ``repeat``, integer operators,
which wrap modulo 2**64 on uint64 in both).

Each backend describes a key column with a :class:`ColumnBuffers` built from its own memory (see
:func:`arrow_column_buffers` for Arrow; the cuDF kernels build theirs from device buffers). What
is hashed is the *value*, never the physical layout:

- ints, dates, timestamps, bools: the value as an int64 (int32 7 and int64 7 hash equal);
- floats: as float64 with -0.0 folded into 0.0 and every NaN into one NaN;
- decimals: the 128-bit unscaled value (the two 64-bit words);
- strings: their UTF-8 bytes, each byte weighted by a position-dependent odd constant and summed
  per row with a cumulative sum over the offsets (no loop over rows), then mixed with the length;
- NULL: a fixed value, whatever the column type.

Columns are combined like a hash combiner (mix the running hash, add the column's hash), then the
splitmix64 finaliser spreads the bits before ``% num_partitions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ColumnBuffers", "partition_ids", "arrow_column_buffers", "HASH_SEED"]

# Changing any of these constants changes every partition id: shuffle files written by one build
# would be read wrongly by another. Treat them as a format version.
HASH_SEED = 0x5EED_6E0E_C5A1_7B01
_NULL_HASH = 0x0DDB_A11C_0FFE_E5E7
_GOLDEN = 0x9E37_79B9_7F4A_7C15  # 2**64 / phi, the splitmix64 increment
_MIX1 = 0xBF58_476D_1CE4_E5B9
_MIX2 = 0x94D0_49BB_1331_11EB
_STRING_SALT = 0x2545_F491_4F6C_DD1D
_DECIMAL_SALT = 0x7FB5_D329_728E_A185
_COMBINE_MUL = 0xFF51_AFD7_ED55_8CCD

_KINDS = frozenset({"int", "float", "decimal128", "string", "bool"})


@dataclass(frozen=True)
class ColumnBuffers:
    """A backend-neutral view of one key column, in Arrow layout.

    Parameters
    ----------
    kind
        "int" (any integer, date, timestamp or duration), "bool", "float", "decimal128" or
        "string".
    data
        "int"/"bool": an integer or bool array of the n values (any width; read as int64).
        "float": a float32/float64 array of the n values. "decimal128": an int64/uint64 array
        of 2n words, little-endian (low word, high word) per value. "string": the uint8 array
        of UTF-8 bytes the offsets index into.
    offsets
        "string" only: the n + 1 int32/int64 offsets into ``data``.
    validity
        A bool array of n entries (True = valid), or None when the column has no NULLs. Values
        under a False entry are ignored, whatever they hold.
    """

    kind: str
    data: Any
    offsets: Any = None
    validity: Any = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown ColumnBuffers kind {self.kind!r}; one of {sorted(_KINDS)}")
        if self.kind == "string" and self.offsets is None:
            raise ValueError("a string ColumnBuffers needs offsets")

    def __len__(self) -> int:
        if self.kind == "string":
            return int(self.offsets.shape[0]) - 1
        if self.kind == "decimal128":
            return int(self.data.shape[0]) // 2
        return int(self.data.shape[0])


def _u64(xp: Any, value: int) -> Any:
    return xp.uint64(value & 0xFFFF_FFFF_FFFF_FFFF)


def _mix(xp: Any, z: Any) -> Any:
    """splitmix64's finaliser: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> _u64(xp, 30))) * _u64(xp, _MIX1)
    z = (z ^ (z >> _u64(xp, 27))) * _u64(xp, _MIX2)
    return z ^ (z >> _u64(xp, 31))


def _as_u64(xp: Any, values: Any) -> Any:
    """Integers (any width, signed or not) and bools as uint64 bit patterns of their int64 value."""
    if values.dtype == xp.bool_:
        values = values.astype(xp.int64)
    return values.astype(xp.int64).astype(xp.uint64)


def _hash_ints(xp: Any, col: ColumnBuffers) -> Any:
    return _mix(xp, _as_u64(xp, col.data) + _u64(xp, _GOLDEN))


def _hash_floats(xp: Any, col: ColumnBuffers) -> Any:
    x = col.data.astype(xp.float64)
    # SQL equality: -0.0 = 0.0, and GROUP BY / join treat all NaNs as one value.
    x = xp.where(x == 0.0, xp.float64(0.0), x)
    x = xp.where(x != x, xp.float64(np.nan), x)
    bits = x.view(xp.uint64)
    return _mix(xp, bits + _u64(xp, _GOLDEN))


def _hash_decimals(xp: Any, col: ColumnBuffers) -> Any:
    words = col.data.astype(xp.int64).astype(xp.uint64)
    low, high = words[0::2], words[1::2]
    return _mix(xp, low ^ _mix(xp, high + _u64(xp, _DECIMAL_SALT)))


def _position_weights(xp: Any, max_len: int) -> Any:
    """An odd 64-bit weight per byte position: changing one byte always changes the sum mod 2**64."""
    positions = xp.arange(max_len, dtype=xp.uint64)
    return _mix(xp, positions * _u64(xp, _GOLDEN) + _u64(xp, _STRING_SALT)) | _u64(xp, 1)


def _string_sums_by_prefix(xp: Any, packed: Any, begins: Any, lengths: Any, weights: Any) -> Any:
    """sum((byte + 1) * weights[position]) per row in O(total bytes), for long strings."""
    total = int(packed.shape[0])
    # Position of each byte inside its row, without a loop over rows: a cumulative sum of "jumps"
    # placed at the start of every non-empty row gives each byte its row's start.
    nonempty = begins[lengths > 0]
    jumps = xp.zeros(total, dtype=xp.int64)
    jumps[nonempty] = nonempty - xp.concatenate([xp.zeros(1, dtype=xp.int64), nonempty[:-1]])
    position = xp.arange(total, dtype=xp.int64) - xp.cumsum(jumps)
    terms = (packed.astype(xp.uint64) + _u64(xp, 1)) * weights[position]
    # uint64 cumsum wraps, so "prefix at row end - prefix at row start" is the exact segmented sum
    # modulo 2**64.
    prefix = xp.concatenate([xp.zeros(1, dtype=xp.uint64), xp.cumsum(terms, dtype=xp.uint64)])
    return prefix[begins + lengths] - prefix[begins]


def _string_sums_by_position(xp: Any, packed: Any, begins: Any, lengths: Any, weights: Any) -> Any:
    """The same sums in O(rows * longest string), one pass per byte position: faster for the short
    strings keys usually are."""
    sums = xp.zeros(int(begins.shape[0]), dtype=xp.uint64)
    last = int(packed.shape[0]) - 1
    for p in range(int(weights.shape[0])):
        in_row = lengths > p
        byte = packed[xp.minimum(begins + p, last)].astype(xp.uint64)
        sums += xp.where(in_row, (byte + _u64(xp, 1)) * weights[p], _u64(xp, 0))
    return sums


def _hash_strings(xp: Any, col: ColumnBuffers) -> Any:
    offsets = col.offsets.astype(xp.int64)
    n = int(offsets.shape[0]) - 1
    lengths = offsets[1:] - offsets[:-1]
    first, last = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
    total = last - first
    if total == 0:
        sums = xp.zeros(n, dtype=xp.uint64)
    else:
        # Arrow layout: row r's bytes are data[offsets[r]:offsets[r+1]] and consecutive rows are
        # adjacent, so data[first:last] is every row's bytes back to back.
        packed = col.data[first:last]
        begins = offsets[:-1] - first
        max_len = int(lengths.max())
        weights = _position_weights(xp, max_len)
        # Both strategies compute the identical sum; pick the cheaper (~4 array passes per byte
        # for the prefix sums against ~1 per row and position).
        by_position = max_len * n <= 4 * total
        strategy = _string_sums_by_position if by_position else _string_sums_by_prefix
        sums = strategy(xp, packed, begins, lengths, weights)
    return _mix(xp, sums ^ _mix(xp, lengths.astype(xp.uint64) + _u64(xp, _STRING_SALT)))


_HASHERS = {
    "int": _hash_ints,
    "bool": _hash_ints,
    "float": _hash_floats,
    "decimal128": _hash_decimals,
    "string": _hash_strings,
}


def column_hashes(xp: Any, col: ColumnBuffers) -> Any:
    """uint64 hash of every row of one column (NULL rows hash to a fixed value)."""
    h = _HASHERS[col.kind](xp, col)
    if col.validity is not None:
        h = xp.where(col.validity.astype(xp.bool_), h, _u64(xp, _NULL_HASH))
    return h


def partition_ids(xp: Any, key_columns: Sequence[ColumnBuffers], num_partitions: int) -> Any:
    """The partition of every row: a seeded hash of the key columns modulo ``num_partitions``.

    Parameters
    ----------
    xp
        The array namespace the buffers live in: ``numpy`` or ``cupy``.
    key_columns
        One :class:`ColumnBuffers` per key column, all of the same length.
    num_partitions
        Number of partitions, >= 1.

    Returns
    -------
    An int32 array (on ``xp``'s device) of values in ``[0, num_partitions)``.
    """
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be >= 1, got {num_partitions}")
    if not key_columns:
        raise ValueError("partition_ids needs at least one key column")
    n = len(key_columns[0])
    if any(len(c) != n for c in key_columns):
        raise ValueError("key columns have different lengths")
    h = xp.full(n, HASH_SEED, dtype=xp.uint64)
    for col in key_columns:
        # Order-sensitive combine: (a, b) and (b, a) land in different partitions.
        h = _mix(xp, h * _u64(xp, _COMBINE_MUL) + column_hashes(xp, col))
    return (h % _u64(xp, num_partitions)).astype(xp.int32)


# ---- the CPU side: Arrow arrays as ColumnBuffers ----------------------------------------------


def arrow_column_buffers(arr: pa.Array | pa.ChunkedArray) -> ColumnBuffers:
    """Describe an Arrow column for :func:`partition_ids` with numpy views of its buffers.

    Integers, dates, timestamps and durations become "int"; bools "bool"; floats "float";
    decimal32/64/128 "decimal128" (narrow decimals widened, so equal values hash equal); strings
    (utf8, large_utf8, utf8_view) and binaries "string"; dictionaries are decoded first.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    t = arr.type
    if pa.types.is_dictionary(t):
        return arrow_column_buffers(pc.cast(arr, t.value_type))
    validity = None
    if arr.null_count:
        validity = arr.is_valid().to_numpy(zero_copy_only=False)
    n = len(arr)
    if pa.types.is_null(t):
        return ColumnBuffers("int", np.zeros(n, dtype=np.int64), None, np.zeros(n, dtype=bool))
    if pa.types.is_boolean(t):
        values = pc.fill_null(arr, False).to_numpy(zero_copy_only=False)
        return ColumnBuffers("bool", values, None, validity)
    if (
        pa.types.is_integer(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_duration(t)
        or pa.types.is_time(t)
    ):
        width = t.bit_width // 8
        dtype = np.dtype(f"{'u' if pa.types.is_unsigned_integer(t) else 'i'}{width}")
        values = np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset : arr.offset + n]
        return ColumnBuffers("int", values, None, validity)
    if pa.types.is_floating(t):
        float_dtype = np.dtype(f"f{t.bit_width // 8}")
        values = np.frombuffer(arr.buffers()[1], dtype=float_dtype)[arr.offset : arr.offset + n]
        return ColumnBuffers("float", values, None, validity)
    if pa.types.is_decimal(t):
        if t.bit_width == 256:
            raise TypeError("decimal256 keys cannot be hashed (cuDF has no decimal256)")
        if t.bit_width != 128:
            arr = pc.cast(arr, pa.decimal128(38, t.scale))
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64)
        return ColumnBuffers("decimal128", words[2 * arr.offset : 2 * (arr.offset + n)], None, validity)
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        return arrow_column_buffers(pc.cast(arr, pa.string() if pa.types.is_string_view(t) else pa.binary()))
    if (
        pa.types.is_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_string(t)
        or pa.types.is_large_binary(t)
    ):
        large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32)
        offsets = offsets[arr.offset : arr.offset + n + 1]
        data_buf = arr.buffers()[2]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        return ColumnBuffers("string", data, offsets, validity)
    raise TypeError(f"cannot hash a key column of type {t}")

"""Fixed-width values of simulated columns as numpy arrays, and C++'s conversions between them.

Shared by the simulated ``unary``, ``binaryop``, ``round``, ``replace`` and ``copying`` modules
(pylibcudf 26.10). Decimals are read as numpy object arrays of Python ints (the unscaled values),
so 128-bit arithmetic is exact; timestamps and durations as their integer tick counts. Writing
a decimal that does not fit its width raises OverflowError where libcudf would wrap silently; a
float that C++ cannot convert to an integer (NaN, ±inf, out of range: undefined behaviour in
``static_cast``) raises RuntimeError.
"""

from __future__ import annotations

from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from pylibcudf import _sim
from pylibcudf.gpumemoryview import gpumemoryview
from pylibcudf.types import DataType, TypeId
from rmm._allocation import DeviceAllocation

if TYPE_CHECKING:
    from pylibcudf.column import Column
    from pylibcudf.scalar import Scalar

__all__ = ["valid_flags", "values", "device", "mask_of", "make_column", "operand", "kind",
           "static_cast", "to_fixed", "from_fixed", "rescale", "tdiv", "tmod", "NANOS_PER_TICK",
           "convert_ticks", "decimal_bounds", "unscaled", "UB"]

UB = "(simulated: libcudf would give undefined results here)"
_EXACT = Context(prec=2000)  # every float and 128-bit value exactly
_MASK64 = (1 << 64) - 1
_DECIMAL_BITS = {TypeId.DECIMAL32: 32, TypeId.DECIMAL64: 64, TypeId.DECIMAL128: 128}
NANOS_PER_TICK = {
    TypeId.TIMESTAMP_DAYS: 86_400 * 10**9, TypeId.TIMESTAMP_SECONDS: 10**9,
    TypeId.TIMESTAMP_MILLISECONDS: 10**6, TypeId.TIMESTAMP_MICROSECONDS: 10**3,
    TypeId.TIMESTAMP_NANOSECONDS: 1,
    TypeId.DURATION_DAYS: 86_400 * 10**9, TypeId.DURATION_SECONDS: 10**9,
    TypeId.DURATION_MILLISECONDS: 10**6, TypeId.DURATION_MICROSECONDS: 10**3,
    TypeId.DURATION_NANOSECONDS: 1,
}


def kind(dtype: DataType) -> str:
    """bool, int, float, decimal, timestamp, duration, string or other."""
    tid = dtype.id()
    if tid == TypeId.BOOL8:
        return "bool"
    if tid in _sim.INTEGER_IDS:
        return "int"
    if tid in _sim.FLOAT_IDS:
        return "float"
    if tid in _sim.DECIMAL_IDS:
        return "decimal"
    if tid in _sim.TIMESTAMP_IDS:
        return "timestamp"
    if tid in _sim.DURATION_IDS:
        return "duration"
    if tid == TypeId.STRING:
        return "string"
    return "other"


def as_int64(ints: np.ndarray) -> np.ndarray | None:
    """Object ints as int64 when they all fit, else None."""
    try:
        return ints.astype(np.int64)
    except OverflowError:
        return None


def check_decimal_width(ints: np.ndarray, tid: TypeId, what: str = "") -> None:
    """OverflowError when an unscaled value does not fit the decimal width ``tid`` (libcudf wraps)."""
    lo, hi = decimal_bounds(tid)
    small = as_int64(ints)
    if small is not None:
        if tid != TypeId.DECIMAL32 or not len(small) or (small.min() >= lo and small.max() <= hi):
            return
    elif not len(ints) or (min(ints) >= lo and max(ints) <= hi):
        return
    bad = next(v for v in ints if v < lo or v > hi)
    raise OverflowError(f"{what}unscaled value {bad} does not fit {tid.name} (simulated: libcudf would wrap "
                        f"around silently)")


def decimal_bounds(tid: TypeId) -> tuple[int, int]:
    bits = _DECIMAL_BITS[tid]
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


# ---- reading ------------------------------------------------------------------------------------


def valid_flags(col: Column) -> np.ndarray:
    """One bool per row, True where valid (a fresh array)."""
    flags = _sim._valid_flags(col)
    return np.ones(col.size(), dtype=bool) if flags is None else flags.copy()


def values(col: Column) -> np.ndarray:
    """The rows' stored values (a fresh array): bools as bool, decimals as object ints (unscaled),
    timestamps/durations as tick counts, other fixed-width types in their storage dtype. Values
    under NULL rows are whatever the buffer holds."""
    dtype, n, off = col.type(), col.size(), col.offset()
    tid = dtype.id()
    if kind(dtype) in ("string", "other"):
        raise TypeError(f"{dtype} is not a fixed-width type")
    if n == 0:
        return np.zeros(0, dtype=object if tid in _sim.DECIMAL_IDS else
                        bool if tid == TypeId.BOOL8 else _sim.storage_dtype(dtype))
    data = col.data().host()
    if tid == TypeId.DECIMAL128:
        words = np.frombuffer(data, dtype="<u8")[2 * off:2 * (off + n)]
        low, high = words[0::2], words[1::2].view(np.int64)
        signed_low = low.view(np.int64)
        if (high == (signed_low >> 63)).all():  # every value fits 64 bits
            return signed_low.astype(object)
        return high.astype(object) * (1 << 64) + low.astype(object)
    raw = np.frombuffer(data, dtype=_sim.storage_dtype(dtype))[off:off + n].copy()
    if tid == TypeId.BOOL8:
        return raw != 0
    if tid in _sim.DECIMAL_IDS:
        return raw.astype(object)
    return raw


def operand(x: Column | Scalar, n: int | None = None) -> tuple[DataType, np.ndarray, np.ndarray]:
    """(type, values, valid flags) of a column, or of a scalar broadcast to ``n`` rows."""
    from pylibcudf.column import Column

    if isinstance(x, Column):
        return x.type(), values(x), valid_flags(x)
    one = Column.from_scalar(x, 1)
    size = 1 if n is None else n
    vals = values(one)
    return x.type(), np.repeat(vals, size), np.repeat(valid_flags(one), size)


# ---- writing ------------------------------------------------------------------------------------


def device(data: np.ndarray) -> gpumemoryview:
    """Host bytes copied into a new simulated device allocation."""
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    return gpumemoryview(DeviceAllocation(raw.copy()))


def mask_of(valid: np.ndarray | None) -> tuple[gpumemoryview | None, int]:
    """A libcudf null mask (padded to 64 bytes) for per-row validity, and its null count; no mask
    when every row is valid."""
    if valid is None:
        return None, 0
    null_count = int(len(valid) - np.count_nonzero(valid))
    if null_count == 0:
        return None, 0
    packed = np.packbits(np.asarray(valid, dtype=bool), bitorder="little")
    return device(np.concatenate([packed, np.zeros((-len(packed)) % 64, np.uint8)])), null_count


def make_column(dtype: DataType, vals: np.ndarray, valid: np.ndarray | None = None) -> Column:
    """A new fixed-width column of ``dtype`` holding ``vals`` (in the form ``values`` reads)."""
    from pylibcudf.column import Column

    tid = dtype.id()
    n = len(vals)
    if valid is not None and len(valid) != n:
        raise AssertionError("values and validity differ in length")
    mask, null_count = mask_of(valid)
    if tid in _sim.DECIMAL_IDS:
        ints = np.asarray(vals, dtype=object)
        if valid is not None:
            ints = np.where(np.asarray(valid, dtype=bool), ints, 0)
        check_decimal_width(ints, tid)
        small = as_int64(ints)
        if small is not None:  # the fast path: every value fits 64 bits
            if tid == TypeId.DECIMAL128:
                words = np.empty(2 * n, dtype=np.int64)
                words[0::2], words[1::2] = small, np.where(small < 0, -1, 0)
                data = words
            else:
                data = small.astype(_sim.storage_dtype(dtype))
        elif tid == TypeId.DECIMAL128:
            words = np.empty(2 * n, dtype=np.uint64)
            words[0::2] = (ints & _MASK64).astype(np.uint64) if n else words[0::2]
            words[1::2] = ((ints >> 64) & _MASK64).astype(np.uint64) if n else words[1::2]
            data = words
        else:
            data = ints.astype(_sim.storage_dtype(dtype)) if n else np.zeros(0, _sim.storage_dtype(dtype))
    elif tid == TypeId.BOOL8:
        data = np.asarray(vals, dtype=bool).astype(np.uint8)
    else:
        data = np.asarray(vals).astype(_sim.storage_dtype(dtype), copy=False)
    return Column(dtype, n, device(data) if n else None, mask, null_count, 0, [])


# ---- C++ conversions ----------------------------------------------------------------------------


def tdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C++ integer division (truncation toward zero) of ints (numpy ints or object ints)."""
    q = a // b
    fix = (q < 0) & (q * b != a)
    return np.where(fix, q + 1, q)


def tmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C++ ``%``: the remainder has the sign of the dividend."""
    return a - tdiv(a, b) * b


def convert_ticks(counts: np.ndarray, from_tid: TypeId, to_tid: TypeId) -> np.ndarray:
    """Tick counts in another unit: exact to a finer unit, floored to a coarser one (libcudf's
    ``cuda::std::chrono::floor``); int64 arithmetic wraps as on the device."""
    a, b = NANOS_PER_TICK[from_tid], NANOS_PER_TICK[to_tid]
    counts = counts.astype(np.int64)
    with np.errstate(over="ignore"):
        if a >= b:
            return counts * np.int64(a // b)
        return counts // np.int64(b // a)


def _float_to_int_checked(x: np.ndarray, valid: np.ndarray, target: Any) -> np.ndarray:
    info = np.iinfo(target)
    live = x[valid]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(live) | (np.trunc(live) < float(info.min)) | (np.trunc(live) >= float(info.max) + 1.0)
    if bad.any():
        raise RuntimeError(f"cannot convert {live[bad][0]!r} to {np.dtype(target).name} {UB}")
    with np.errstate(invalid="ignore"):
        return np.where(valid, np.trunc(np.nan_to_num(x)), 0).astype(target)


def static_cast(vals: np.ndarray, valid: np.ndarray, from_kind: str, to: DataType) -> np.ndarray:
    """C++ ``static_cast`` of bool/int/float values (numpy) to an arithmetic or chrono-count type:
    ints wrap, floats truncate toward zero, anything to bool is ``!= 0``."""
    tid = to.id()
    if tid == TypeId.BOOL8:
        return vals != 0
    target = _sim.storage_dtype(to)
    if from_kind == "float" and np.issubdtype(target, np.integer):
        return _float_to_int_checked(vals, valid, target)
    with np.errstate(over="ignore", invalid="ignore"):
        return vals.astype(target)


def to_fixed(vals: np.ndarray, valid: np.ndarray, from_kind: str, scale: int) -> np.ndarray:
    """Numbers as unscaled decimal ints at libcudf ``scale``: ints (and bools) shifted exactly up,
    or truncated toward zero down; floats truncated toward zero after a half-ulp nudge, as
    ``convert_floating_to_fixed`` (NaN/inf must be screened by the caller)."""
    if from_kind in ("int", "bool"):
        ints = vals.astype(np.int64).astype(object) if vals.dtype != np.uint64 else vals.astype(object)
        return rescale(ints, 0, scale)
    out = np.zeros(len(vals), dtype=object)
    for i in np.flatnonzero(valid):
        f = float(vals[i])
        if not np.isfinite(f):
            raise RuntimeError(f"cannot convert {f} to a decimal {UB}")
        exact = Decimal(f)
        if f != int(f):  # libcudf adds half an ulp to non-integers before truncating
            nudge = _EXACT.divide(Decimal(np.spacing(abs(f)).item()), 2)
            exact = _EXACT.add(exact, nudge if f > 0 else -nudge)
        out[i] = unscaled(exact, scale)
    return out


def unscaled(value: Decimal, scale: int) -> int:
    """The unscaled integer of ``value`` at libcudf ``scale``, exactly (truncated toward zero when
    ``value`` has more fractional digits than the scale keeps)."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value} has no unscaled value")
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exponent - scale
    magnitude = coefficient * 10**shift if shift >= 0 else coefficient // 10**-shift
    return -magnitude if sign else magnitude


def from_fixed(ints: np.ndarray, scale: int, valid: np.ndarray, to: DataType) -> np.ndarray:
    """Unscaled decimal ints at ``scale`` converted to an arithmetic type: floats correctly
    rounded, ints truncated toward zero then wrapped, bool ``!= 0`` after truncation."""
    tid = to.id()
    safe = np.where(valid, ints, 0)
    if tid in _sim.FLOAT_IDS:
        if scale >= 0:
            as_float = np.array([float(v * 10**scale) for v in safe], dtype=np.float64)
        else:
            divisor = 10**-scale
            as_float = np.array([v / divisor for v in safe], dtype=np.float64)
        return as_float.astype(_sim.storage_dtype(to))
    whole = rescale(safe, scale, 0)
    if tid == TypeId.BOOL8:
        return np.array([v != 0 for v in whole], dtype=bool)
    target = np.dtype(_sim.storage_dtype(to))
    bits = target.itemsize * 8
    wrapped = [v & ((1 << bits) - 1) for v in whole]
    if np.issubdtype(target, np.signedinteger):
        wrapped = [v - (1 << bits) if v >= 1 << (bits - 1) else v for v in wrapped]
    return np.array(wrapped, dtype=object).astype(target) if len(wrapped) else np.zeros(0, target)


def rescale(ints: np.ndarray, from_scale: int, to_scale: int) -> np.ndarray:
    """Unscaled ints moved from one libcudf scale to another: exact when the scale decreases
    (more fractional digits), truncated toward zero when it increases (``fixed_point::rescaled``)."""
    if to_scale == from_scale:
        return ints
    if to_scale < from_scale:
        return ints * (10 ** (from_scale - to_scale))
    return tdiv(ints, np.full(len(ints), 10 ** (to_scale - from_scale), dtype=object))

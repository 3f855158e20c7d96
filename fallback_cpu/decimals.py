"""Decimals as unscaled integers (int64, or Python ints past it) and exact decimal arithmetic."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.columns import _numpy_values, _valid_mask
from planner.errors import ExecutionError
from planner.expr import BinaryOperator

_INT64_SAFE = 1 << 62  # |v| below this: int64 products/sums of two such values are checked first


def _abs_max(values: np.ndarray) -> int:
    if len(values) == 0:
        return 0
    return int(max(abs(int(values.max())), abs(int(values.min()))))


def _unscaled(arr: pa.Array) -> np.ndarray:
    """Unscaled integers of a decimal array, NULL slots 0: int64 if all fit, else Python ints."""
    t = arr.type
    n = len(arr)
    if t.bit_width == 256:
        # Rare (DataFusion plans decimal128): go through Python.
        return np.array([0 if v is None else int(v.scaleb(t.scale)) for v in arr.to_pylist()], dtype=object)
    if t.bit_width != 128:
        arr = arr.cast(pa.decimal128(38, t.scale))
    buf = arr.buffers()[1]
    if buf is None or n == 0:
        return np.zeros(n, dtype=np.int64)
    words = np.frombuffer(buf, dtype=np.int64)[2 * arr.offset : 2 * (arr.offset + n)].reshape(n, 2)
    low, high = words[:, 0], words[:, 1]
    if arr.null_count:
        valid = _valid_mask(arr)
        low, high = np.where(valid, low, 0), np.where(valid, high, 0)
    if np.array_equal(high, low >> 63) and _abs_max(low) < _INT64_SAFE:
        return np.array(low, dtype=np.int64)
    return low.astype(np.uint64).astype(object) + (high.astype(object) << 64)


def _to_object(values: np.ndarray) -> np.ndarray:
    return values if values.dtype == object else values.astype(object)


def _fits(bound: int) -> bool:
    return bound < _INT64_SAFE


def _mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Exact product, promoting to Python ints when int64 could overflow."""
    bound_b = abs(b) if isinstance(b, int) else _abs_max(b)
    both_int64 = a.dtype != object and (isinstance(b, int) or b.dtype != object)
    if both_int64 and _fits(bound_b) and _fits(_abs_max(a) * bound_b):
        return a * b
    return _to_object(a) * (b if isinstance(b, int) else _to_object(b))


def _add(a: np.ndarray, b: np.ndarray, sign: int = 1) -> np.ndarray:
    if a.dtype != object and b.dtype != object and _fits(_abs_max(a) + _abs_max(b)):
        return a + b if sign > 0 else a - b
    return _to_object(a) + _to_object(b) if sign > 0 else _to_object(a) - _to_object(b)


def _rescale_up(values: np.ndarray, k: int) -> np.ndarray:
    return values if k == 0 else _mul(values, 10**k)


def _int_divide(a: np.ndarray, b: np.ndarray | int, rounding: str) -> np.ndarray:
    """a / b for integer arrays (b != 0 where it matters), rounded "trunc" (toward zero),
    "half_away" (half away from zero), "floor" or "ceil"; exact for Python ints too."""
    if a.dtype != object and (
        isinstance(b, int) and not _fits(abs(b)) or not isinstance(b, int) and b.dtype == object
    ):
        a = a.astype(object)  # numpy can't mix int64 with a Python int beyond int64
    abs_a = np.abs(a)
    abs_b = abs(b) if isinstance(b, int) else np.abs(b)
    q = abs_a // abs_b
    r = abs_a - q * abs_b
    negative = (a < 0) != (b < 0) if not isinstance(b, int) else ((a < 0) if b > 0 else (a >= 0))
    if rounding == "half_away":
        q = q + (2 * r >= abs_b).astype(np.int64)
    q = np.where(negative, -q, q)
    inexact = r != 0
    if rounding == "floor":
        q = q - (negative & inexact).astype(np.int64)
    elif rounding == "ceil":
        q = q + (~negative & inexact).astype(np.int64)
    if q.dtype == object or a.dtype == object:
        return np.asarray(q, dtype=object)
    return q.astype(np.int64)


def _rescale(values: np.ndarray, from_scale: int, to_scale: int, rounding: str) -> np.ndarray:
    if to_scale >= from_scale:
        return _rescale_up(values, to_scale - from_scale)
    return _int_divide(values, 10 ** (from_scale - to_scale), rounding)


def _decimal_array(
    values: np.ndarray, valid: np.ndarray, t: pa.DataType, *, safe: bool, what: str
) -> pa.Array:
    """A decimal array of type ``t`` from unscaled integers; values beyond the precision raise
    ExecutionError (as DataFusion does) or, when ``safe``, become NULL."""
    n = len(values)
    limit = 10**t.precision
    if values.dtype == object or limit <= _INT64_SAFE:
        too_big = valid & np.asarray((values >= limit) | (values <= -limit), dtype=bool)
        if too_big.any():
            if not safe:
                bad = values[np.nonzero(too_big)[0][0]]
                shown = Decimal(int(bad)).scaleb(-t.scale)
                raise ExecutionError(f"{what}: {shown} is too large to store in a {t}")
            valid = valid & ~too_big
    words = np.empty((n, 2), dtype=np.int64)
    if values.dtype == object:
        filled = np.where(valid, values, 0)
        words[:, 0] = (filled & 0xFFFF_FFFF_FFFF_FFFF).astype(np.uint64).view(np.int64)
        words[:, 1] = (filled >> 64).astype(np.int64)
    else:
        filled = np.where(valid, values, 0).astype(np.int64)
        words[:, 0] = filled
        words[:, 1] = filled >> 63
    storage = pa.decimal128(t.precision, t.scale) if t.bit_width != 128 else t
    validity = None
    null_count = int(n - valid.sum())
    if null_count:
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    out = pa.Array.from_buffers(storage, n, [validity, pa.py_buffer(words)], null_count=null_count)
    return out if storage == t else out.cast(t)


class _Dec:
    """A decimal (or integer, scale 0) operand as unscaled integers + validity + scale."""

    __slots__ = ("values", "valid", "scale")

    def __init__(self, values: np.ndarray, valid: np.ndarray, scale: int) -> None:
        self.values, self.valid, self.scale = values, valid, scale

    @classmethod
    def of(cls, arr: pa.Array) -> _Dec:
        t = arr.type
        valid = _valid_mask(arr)
        if pa.types.is_decimal(t):
            return cls(_unscaled(arr), valid, t.scale)
        if pa.types.is_integer(t):
            values = _numpy_values(arr)
            if pa.types.is_uint64(t) and len(values) and int(values.max()) >= _INT64_SAFE:
                return cls(values.astype(object), valid, 0)
            return cls(values.astype(np.int64), valid, 0)
        raise ExecutionError(f"expected a decimal or integer column, got {t}")

    def at_scale(self, scale: int) -> np.ndarray:
        return _rescale_up(self.values, scale - self.scale)


_ARROW_EXACT = {BinaryOperator.ADD: pc.add_checked, BinaryOperator.SUBTRACT: pc.subtract_checked,
                BinaryOperator.MULTIPLY: pc.multiply_checked}


def _exact_arrow_decimal(op: BinaryOperator, a: pa.Array, b: pa.Array, t: pa.DataType) -> pa.Array | None:
    """Arrow's own kernel when it is exact for the planned type, else None.

    Arrow's decimal + - * are exact, with result scale max(s1, s2) / s1 + s2 like DataFusion's;
    when that scale is at most the planned one, widening to the planned type is exact too. This
    skips the unscaled-integer path for the common case (TPC-H's price * (1 - discount)), which
    is several times slower."""
    kernel = _ARROW_EXACT.get(op)
    if kernel is None or not (pa.types.is_decimal128(a.type) and pa.types.is_decimal128(b.type)):
        return None
    try:
        result = kernel(a, b)
        if result.type.scale > t.scale:
            return None  # would need rounding: the exact path rounds half away from zero
        return result if result.type == t else result.cast(t)  # safe cast: overflow raises
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # precision beyond 38, or overflow: the exact path reports it properly


def _decimal_arithmetic(op: BinaryOperator, a: pa.Array, b: pa.Array, t: pa.DataType) -> pa.Array:
    """Exact decimal arithmetic on unscaled integers, result of the planned type ``t``.

    DataFusion types: + - → scale max(s1, s2); * → s1 + s2; / → a planned scale F, the quotient
    truncated toward zero (10.00 / 3.00 = 3.333333 as decimal(16, 6)); % → max(s1, s2).
    """
    fast = _exact_arrow_decimal(op, a, b, t)
    if fast is not None:
        return fast
    x, y = _Dec.of(a), _Dec.of(b)
    valid = x.valid & y.valid
    out_scale = t.scale
    what = f"decimal {op.value}"
    if op in (BinaryOperator.ADD, BinaryOperator.SUBTRACT):
        common = max(x.scale, y.scale, out_scale)
        total = _add(x.at_scale(common), y.at_scale(common), 1 if op is BinaryOperator.ADD else -1)
        values = _rescale(total, common, out_scale, "half_away")
    elif op is BinaryOperator.MULTIPLY:
        values = _rescale(_mul(x.values, y.values), x.scale + y.scale, out_scale, "half_away")
    else:
        divisor_zero = valid & np.asarray(y.values == 0, dtype=bool)
        if divisor_zero.any():
            raise ExecutionError("Divide by zero")
        safe_divisor = np.where(valid, y.values, 1)
        if safe_divisor.dtype != object and y.values.dtype == object:
            safe_divisor = safe_divisor.astype(object)
        if op is BinaryOperator.DIVIDE:
            # x/10^sx ÷ y/10^sy at scale F = trunc(x · 10^(F + sy - sx) / y).
            shift = out_scale + y.scale - x.scale
            if shift >= 0:
                values = _int_divide(_rescale_up(x.values, shift), safe_divisor, "trunc")
            else:
                values = _int_divide(x.values, _mul(np.asarray(safe_divisor), 10 ** (-shift)), "trunc")
        else:
            common = max(x.scale, y.scale)
            dividend = x.at_scale(common)
            divisor = _rescale_up(np.asarray(safe_divisor), common - y.scale)
            quotient = _int_divide(dividend, divisor, "trunc")
            remainder = _add(dividend, _mul(quotient, divisor), -1)
            values = _rescale(remainder, common, out_scale, "half_away")
    return _decimal_array(values, valid, t, safe=False, what=what)

"""The Kernels protocol on Arrow: pyarrow.compute, acero and numpy — the CPU backend.

Tables are ``pa.Table``. Columns are ``pa.Array``: every kernel returns a contiguous array, and
accepts a ``pa.ChunkedArray`` as well (a table read from Parquet is chunked; ``column`` hands out
a zero-copy chunk when there is one, and combines chunks otherwise). An Operand is a Column or a
``planner.expr.Literal``, which is broadcast to the row count.

DataFusion 55 is the oracle. Where pyarrow's own kernel answers differently, the kernel here
computes DataFusion's answer instead; each such place says which behaviour forced it. The biggest
one: decimal arithmetic, casts and rounding run on the *unscaled integers* (numpy int64 when every
value fits, Python ints in an object array otherwise), never on pyarrow's decimal kernels, whose
result scales and rounding differ from DataFusion's (PYLIBCUDF.md §10 has the same problem on the
GPU side).
"""

from __future__ import annotations

import contextlib
import enum
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fallback_cpu.partition_hash import arrow_column_buffers, partition_ids
from planner.errors import CatalogError, ExecutionError
from planner.expr import BinaryOperator, Literal, UnaryOperator, WindowFrame, WindowFunction

if TYPE_CHECKING:
    from planner.expr import WindowCall
    from planner.ir import FileFormat

__all__ = ["ArrowKernels"]

Operand = Any  # pa.Array | pa.ChunkedArray | Literal

_NANOS_PER_DAY = 86_400 * 10**9
_INT64_SAFE = 1 << 62  # |v| below this: int64 products/sums of two such values are checked first
_UNIT_NANOS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


# =============================================================================================
# Small helpers: columns, literals, errors
# =============================================================================================


def _array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (zero-copy for a single chunk: combine_chunks always copies)."""
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        if col.num_chunks == 0:
            return pa.array([], type=col.type)
        return col.combine_chunks()
    return col


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_temporal_point(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


def _operand_type(x: Operand) -> pa.DataType:
    return x.dtype if isinstance(x, Literal) else x.type


def _literal_scalar(lit: Literal, to_type: pa.DataType | None = None) -> pa.Scalar:
    """A Literal as a pyarrow scalar of its own type (or ``to_type``)."""
    t = lit.dtype if to_type is None else to_type
    value = lit.value
    if value is None:
        return pa.scalar(None, type=t)
    if pa.types.is_interval(lit.dtype):
        return pa.scalar(tuple(value), type=pa.month_day_nano_interval())
    if pa.types.is_decimal(lit.dtype):
        value = Decimal(value).quantize(Decimal(1).scaleb(-lit.dtype.scale), rounding=ROUND_HALF_UP)
    scalar = pa.scalar(value, type=lit.dtype)
    return scalar if t == lit.dtype else _cast_array(pa.repeat(scalar, 1), t, safe=False)[0]


def _column_of(x: Operand, num_rows: int) -> pa.Array:
    """An Operand as an array of ``num_rows`` (Literals broadcast)."""
    if isinstance(x, Literal):
        scalar = _literal_scalar(x)
        if not scalar.is_valid:
            return pa.nulls(num_rows, type=x.dtype)
        return pa.repeat(scalar, num_rows)
    return _array(x)


def _arg(x: Operand) -> pa.Array | pa.Scalar:
    """An Operand for a pyarrow.compute call: arrays stay arrays, Literals become scalars."""
    return _literal_scalar(x) if isinstance(x, Literal) else _array(x)


def _as_column(value: pa.Array | pa.ChunkedArray | pa.Scalar, num_rows: int) -> pa.Array:
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, num_rows) if value.is_valid else pa.nulls(num_rows, type=value.type)
    return _array(value)


def _valid_mask(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _numpy_values(arr: pa.Array, fill: Any = 0) -> np.ndarray:
    """The values of a primitive array as numpy (NULL slots filled with ``fill``)."""
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(fill, type=arr.type))
    return arr.to_numpy(zero_copy_only=False)


def _from_numpy(values: np.ndarray, valid: np.ndarray | None, t: pa.DataType) -> pa.Array:
    mask = None if valid is None or valid.all() else ~valid
    return pa.array(values, type=t, mask=mask)


@contextlib.contextmanager
def _data_errors(what: str) -> Iterator[None]:
    """pyarrow's data errors (overflow, unparsable values) as ExecutionError naming the kernel."""
    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError) as exc:
        raise ExecutionError(f"{what}: {exc}") from exc


# =============================================================================================
# Decimals as unscaled integers
# =============================================================================================


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


# =============================================================================================
# CAST
# =============================================================================================

# arrow-rs's string → bool table (arrow-cast `cast_utf8_to_boolean`), compared lower-cased.
_TRUE_STRINGS = ["t", "tr", "tru", "true", "y", "yes", "on", "1"]
_FALSE_STRINGS = ["f", "fa", "fal", "fals", "false", "n", "no", "off", "0"]
_INT_PATTERN = r"^[+-]?[0-9]+$"
_FLOAT_PATTERN = r"(?i)^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)$"
_DECIMAL_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
_TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?)?Z?$"


def _cast_failure(what: str, arr: pa.Array, bad: np.ndarray, to_type: pa.DataType) -> ExecutionError:
    first = arr[int(np.nonzero(bad)[0][0])].as_py()
    return ExecutionError(f"{what}: cannot cast {first!r} of type {arr.type} to {to_type}")


def _null_where(arr: pa.Array, invalid: np.ndarray) -> pa.Array:
    """``arr`` with the rows flagged in ``invalid`` set to NULL."""
    if not invalid.any():
        return arr
    return pc.if_else(pa.array(invalid), pa.scalar(None, type=arr.type), arr)


def _reject(arr: pa.Array, bad: np.ndarray, to_type: pa.DataType, safe: bool) -> pa.Array:
    """``arr`` (still of its own type) with the rows that do not convert to ``to_type`` set to
    NULL for TRY_CAST; for CAST they are an error."""
    if bad.any() and not safe:
        raise _cast_failure("CAST", arr, bad, to_type)
    return _null_where(arr, bad)


def _format_float(value: float, is_float32: bool) -> str:
    """A float as arrow-rs writes it (shortest round-trip digits in ryu's layout): 1.0, 1e20,
    1e-7, 1500000000000000.0, NaN, inf. pyarrow writes 1, 1e+20 instead. ryu switches to
    scientific notation past 10^16 / below 10^-5 for f64, past 10^13 / below 10^-6 for f32."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    x = np.float32(value) if is_float32 else np.float64(value)
    text = np.format_float_scientific(x, unique=True, trim="-", exp_digits=1)
    sign = "-" if text.startswith("-") else ""
    mantissa, exponent = text.lstrip("-").split("e")
    digits = mantissa.replace(".", "")
    if digits.strip("0") == "":
        return sign + "0.0"
    digits = digits.rstrip("0") or "0"
    length = len(digits)
    kk = int(exponent) + 1  # value = 0.digits × 10**kk
    k = kk - length
    widest, smallest = (13, -6) if is_float32 else (16, -5)
    if 0 <= k and kk <= widest:
        body = digits + "0" * k + ".0"
    elif 0 < kk <= widest:
        body = digits[:kk] + "." + digits[kk:]
    elif smallest < kk <= 0:
        body = "0." + "0" * (-kk) + digits
    elif length == 1:
        body = f"{digits}e{kk - 1}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + body


def _timestamp_to_string(arr: pa.Array) -> pa.Array:
    """arrow-rs's timestamp text: %Y-%m-%dT%H:%M:%S plus .3/.6/.9 fraction digits when non-zero."""
    unit = arr.type.unit
    seconds = pc.floor_temporal(arr, unit="second")
    text = pc.strftime(seconds.cast(pa.timestamp("s", arr.type.tz), safe=False), format="%Y-%m-%dT%H:%M:%S")
    nanos = (_numpy_values(arr).astype(np.int64) - _numpy_values(seconds).astype(np.int64)) * _UNIT_NANOS[
        unit
    ]
    fractions = []
    for ns in nanos.tolist():
        if ns == 0:
            fractions.append("")
        elif ns % 1_000_000 == 0:
            fractions.append(f".{ns // 1_000_000:03d}")
        elif ns % 1_000 == 0:
            fractions.append(f".{ns // 1_000:06d}")
        else:
            fractions.append(f".{ns:09d}")
    return pc.binary_join_element_wise(text, pa.array(fractions, pa.string()), "")


def _cast_to_string(arr: pa.Array, to_type: pa.DataType) -> pa.Array:
    t = arr.type
    if pa.types.is_floating(t):
        is32 = t.bit_width <= 32
        values = [None if v is None else _format_float(v, is32) for v in arr.to_pylist()]
        return pa.array(values, type=pa.string()).cast(to_type)
    if pa.types.is_timestamp(t):
        return _timestamp_to_string(arr).cast(to_type)
    # ints, bools ("true"/"false"), dates (%Y-%m-%d) and decimals ("-0.05", "0.00") are written
    # by pyarrow exactly as arrow-rs writes them.
    return arr.cast(to_type)


def _parse_valid(trimmed: pa.Array, pattern: str) -> np.ndarray:
    """Rows that are non-NULL and do not match ``pattern``."""
    matches = pc.match_substring_regex(trimmed, pattern)
    return np.asarray(pc.fill_null(pc.invert(matches), False).to_numpy(zero_copy_only=False), dtype=bool)


def _string_to_int(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    # arrow-rs accepts surrounding whitespace and a leading '+', nothing else ('1e2', '12.5' fail).
    trimmed = pc.utf8_trim_whitespace(arr)
    bad = _parse_valid(trimmed, _INT_PATTERN)
    digits = pc.utf8_length(pc.utf8_ltrim(pc.utf8_ltrim(trimmed, "+-"), "0"))
    bad |= np.asarray(pc.fill_null(pc.greater(digits, 38), False).to_numpy(zero_copy_only=False), bool)
    if bad.any() and not safe:
        raise _cast_failure("CAST", arr, bad, to_type)
    cleaned = _null_where(pc.utf8_ltrim(trimmed, "+"), bad)
    wide = cleaned.cast(pa.decimal128(38, 0))
    return _cast_array(wide, to_type, safe)


def _string_to_float(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(arr)
    bad = _parse_valid(trimmed, _FLOAT_PATTERN)
    return _reject(trimmed, bad, to_type, safe).cast(to_type)


def _string_to_decimal(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    # arrow-rs rounds extra fraction digits half away from zero ('1.555' → 1.56) and rejects
    # exponents; pyarrow refuses to round. Parsed in Python: string → decimal casts are rare.
    scale = to_type.scale
    quantum = Decimal(1).scaleb(-scale)
    values, valid = [], []
    for text in arr.to_pylist():
        number = None
        if text is not None and re.match(_DECIMAL_PATTERN, text.strip()):
            try:
                number = Decimal(text.strip()).quantize(quantum, rounding=ROUND_HALF_UP)
            except InvalidOperation:
                number = None
        if text is not None and number is None and not safe:
            raise ExecutionError(f"CAST: cannot cast {text!r} to {to_type}")
        values.append(0 if number is None else int(number.scaleb(scale)))
        valid.append(number is not None)
    return _decimal_array(
        np.array(values, dtype=object), np.array(valid, dtype=bool), to_type, safe=safe, what="CAST"
    )


def _string_to_date(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    # arrow-rs parse_date: YYYY-M[M]-D[D] or YYYYMMDD; anything longer than 10 characters is
    # parsed as a timestamp and its date kept. No surrounding whitespace.
    parts = pc.extract_regex(arr, r"^(?P<y>[0-9]{4})-?(?P<m>[0-9]{1,2})-?(?P<d>[0-9]{1,2})$")
    y = pc.struct_field(parts, "y")
    m = pc.struct_field(parts, "m")
    d = pc.struct_field(parts, "d")
    dashed = pc.match_substring_regex(arr, r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$")
    compact = pc.match_substring_regex(arr, r"^[0-9]{8}$")
    shaped = pc.fill_null(pc.or_(dashed, compact), False)
    ok = np.asarray(shaped.to_numpy(zero_copy_only=False), dtype=bool)
    years = np.asarray(pc.fill_null(y.cast(pa.int64(), safe=False), 1970).to_numpy(zero_copy_only=False))
    months = np.asarray(pc.fill_null(m.cast(pa.int64(), safe=False), 1).to_numpy(zero_copy_only=False))
    days = np.asarray(pc.fill_null(d.cast(pa.int64(), safe=False), 1).to_numpy(zero_copy_only=False))
    in_range = (months >= 1) & (months <= 12) & (days >= 1)
    ok &= in_range
    first = (np.where(ok, years, 1970) - 1970) * 12 + np.where(ok, months, 1) - 1
    first_day = first.astype("datetime64[M]").astype("datetime64[D]")
    month_len = ((first + 1).astype("datetime64[M]").astype("datetime64[D]") - first_day).astype(np.int64)
    ok &= days <= month_len
    values = first_day.astype(np.int64) + np.where(ok, days, 1) - 1
    out = pa.array(values.astype(np.int32), type=pa.date32(), mask=~ok)
    long_text = np.asarray(
        pc.fill_null(pc.greater(pc.utf8_length(arr), 10), False).to_numpy(zero_copy_only=False), bool
    )
    if long_text.any():
        stamps = _string_to_timestamp(arr, pa.timestamp("ns"), safe=True)
        as_dates = pc.cast(stamps, pa.date32(), safe=False)
        out = pc.if_else(pa.array(long_text), as_dates, out)
    bad = _valid_mask(arr) & ~_valid_mask(out)
    if bad.any() and not safe:
        raise _cast_failure("CAST", arr, bad, to_type)
    return out.cast(to_type)


def _string_to_timestamp(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    # arrow-rs string_to_datetime: a date, optionally a T/space and HH:MM:SS[.fraction], an
    # optional Z; no surrounding whitespace, no HH:MM alone ('2020-01-02 10:00' fails).
    bad = _parse_valid(arr, _TIMESTAMP_PATTERN)
    cleaned = pc.utf8_rtrim(_reject(arr, bad, to_type, safe), "Z")
    try:
        return cleaned.cast(to_type)
    except pa.ArrowInvalid as exc:
        if not safe:
            raise ExecutionError(f"CAST: {exc}") from exc
        return _cast_each(cleaned, to_type)


def _string_to_bool(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    key = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    is_true = pc.is_in(key, value_set=pa.array(_TRUE_STRINGS))
    is_false = pc.is_in(key, value_set=pa.array(_FALSE_STRINGS))
    known = pc.or_(is_true, is_false)
    bad = _valid_mask(arr) & ~np.asarray(pc.fill_null(known, False).to_numpy(zero_copy_only=False), bool)
    if bad.any() and not safe:
        raise _cast_failure("CAST", arr, bad, to_type)
    return pc.if_else(known, is_true, pa.scalar(None, pa.bool_())).cast(to_type)


def _int_bounds(t: pa.DataType) -> tuple[int, int]:
    info = np.iinfo(t.to_pandas_dtype())
    return int(info.min), int(info.max)


def _ints_to_int(
    values: np.ndarray, valid: np.ndarray, to_type: pa.DataType, safe: bool, source: pa.Array
) -> pa.Array:
    """Integer values (int64 or Python ints) into an integer type, out-of-range → error/NULL."""
    lo, hi = _int_bounds(to_type)
    out_of_range = valid & np.asarray((values < lo) | (values > hi), dtype=bool)
    if out_of_range.any():
        if not safe:
            bad = values[np.nonzero(out_of_range)[0][0]]
            raise ExecutionError(f"CAST: value {bad} of type {source.type} is out of range for {to_type}")
        valid = valid & ~out_of_range
    filled = np.where(valid, values, 0)
    dtype = to_type.to_pandas_dtype()
    return _from_numpy(np.asarray(filled).astype(dtype), valid, to_type)


def _float_to_int(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    # DataFusion truncates toward zero; NaN, ±inf and out-of-range values fail
    # ("Can't cast value 3000000000.0 to type Int32"), TRY_CAST gives NULL.
    x = _numpy_values(arr, 0.0).astype(np.float64)
    valid = _valid_mask(arr)
    lo, hi = _int_bounds(to_type)
    truncated = np.trunc(x)
    # float(hi) may round up to 2**63 for int64: compare against the exact bound's float.
    bad = valid & (~np.isfinite(x) | (truncated < float(lo)) | (truncated >= float(hi) + 1.0))
    if bad.any():
        if not safe:
            raise ExecutionError(f"CAST: can't cast value {x[np.nonzero(bad)[0][0]]} to type {to_type}")
        valid = valid & ~bad
    truncated = np.where(valid, truncated, 0.0)
    return _from_numpy(truncated.astype(to_type.to_pandas_dtype()), valid, to_type)


def _round_half_away(y: np.ndarray) -> np.ndarray:
    """Rust's f64::round (half away from zero), exactly: trunc, then the exact fraction."""
    whole = np.trunc(y)
    frac = y - whole
    return whole + np.where(np.abs(frac) >= 0.5, np.sign(y), 0.0)


def _float_to_decimal(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    # arrow-rs: (x * 10^scale).round() in f64, half away from zero (cast(2.5 AS DECIMAL(10,0)) = 3,
    # cast(1.005 AS DECIMAL(10,2)) = 1.00 because 1.005 * 100 = 100.49999999999999).
    x = _numpy_values(arr, 0.0).astype(np.float64)
    valid = _valid_mask(arr)
    scaled = _round_half_away(x * (10.0**to_type.scale))
    bad = valid & ~np.isfinite(scaled)
    if bad.any():
        if not safe:
            raise ExecutionError(f"CAST: cannot cast {x[np.nonzero(bad)[0][0]]} to {to_type}")
        valid = valid & ~bad
    scaled = np.where(valid, scaled, 0.0)
    if np.abs(scaled).max(initial=0.0) < 2.0**62:
        values = scaled.astype(np.int64)
    else:
        values = np.array([int(v) for v in scaled.tolist()], dtype=object)
    return _decimal_array(values, valid, to_type, safe=safe, what="CAST")


def _decimal_to_float(arr: pa.Array, to_type: pa.DataType) -> pa.Array:
    # arrow-rs: unscaled as f64 / 10^scale.
    values = _unscaled(arr)
    as_float = values.astype(np.float64) if values.dtype != object else np.array([float(v) for v in values])
    out = as_float / (10.0**arr.type.scale)
    return _from_numpy(out, _valid_mask(arr), pa.float64()).cast(to_type)


def _cast_array(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    """CAST one array with DataFusion's semantics; ``safe`` is TRY_CAST (NULL on failure)."""
    t = arr.type
    if t == to_type:
        return arr
    if pa.types.is_null(t):
        return pa.nulls(len(arr), type=to_type)
    if pa.types.is_dictionary(t):
        return _cast_array(arr.dictionary_decode(), to_type, safe)
    if _is_string(to_type):
        return _cast_to_string(arr, to_type)
    if _is_string(t):
        if not pa.types.is_string(t):
            arr = arr.cast(pa.string())
        if pa.types.is_integer(to_type):
            return _string_to_int(arr, to_type, safe)
        if pa.types.is_floating(to_type):
            return _string_to_float(arr, to_type, safe)
        if pa.types.is_decimal(to_type):
            return _string_to_decimal(arr, to_type, safe)
        if pa.types.is_date32(to_type):
            return _string_to_date(arr, to_type, safe)
        if pa.types.is_timestamp(to_type):
            return _string_to_timestamp(arr, to_type, safe)
        if pa.types.is_boolean(to_type):
            return _string_to_bool(arr, to_type, safe)
    if pa.types.is_decimal(to_type):
        if pa.types.is_decimal(t) or pa.types.is_integer(t):
            # Fewer fraction digits round half away from zero (CAST(-1.25 AS DECIMAL(10,1)) = -1.3).
            dec = _Dec.of(arr)
            values = _rescale(dec.values, dec.scale, to_type.scale, "half_away")
            return _decimal_array(values, dec.valid, to_type, safe=safe, what="CAST")
        if pa.types.is_floating(t):
            return _float_to_decimal(arr, to_type, safe)
        if pa.types.is_boolean(t):
            return _cast_array(arr.cast(pa.int64()), to_type, safe)
    if pa.types.is_integer(to_type):
        if pa.types.is_decimal(t):
            # Truncates toward zero (CAST(-2.99 AS INT) = -2), then range-checks.
            dec = _Dec.of(arr)
            return _ints_to_int(
                _int_divide(dec.values, 10**dec.scale, "trunc"), dec.valid, to_type, safe, arr
            )
        if pa.types.is_floating(t):
            return _float_to_int(arr, to_type, safe)
        if pa.types.is_integer(t):
            values = _numpy_values(arr)
            if pa.types.is_uint64(t):
                values = values.astype(object)
            return _ints_to_int(values, _valid_mask(arr), to_type, safe, arr)
    if pa.types.is_floating(to_type):
        if pa.types.is_decimal(t):
            return _decimal_to_float(arr, to_type)
        # int64 → float64 may round (pyarrow's safe cast refuses): DataFusion just converts.
        return arr.cast(to_type, safe=False)
    if pa.types.is_date32(to_type) and pa.types.is_timestamp(t):
        return arr.cast(to_type, safe=False)  # floors to the day (1969-12-31 23:00 → 1969-12-31)
    if pa.types.is_timestamp(to_type) and pa.types.is_date32(t):
        # pyarrow's unsafe cast wraps around for dates beyond the unit's range (year 1 in ns).
        per_day = _NANOS_PER_DAY // _UNIT_NANOS[to_type.unit]
        days = _numpy_values(arr).astype(np.int64)
        bad = _valid_mask(arr) & (np.abs(days) > (2**63 - 1) // per_day)
        return _reject(arr, bad, to_type, safe).cast(to_type)
    try:
        return arr.cast(to_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        if not safe:
            raise ExecutionError(f"CAST from {t} to {to_type}: {exc}") from exc
    return _cast_each(arr, to_type)


def _cast_each(arr: pa.Array, to_type: pa.DataType) -> pa.Array:
    """TRY_CAST the slow way, value by value, when pyarrow refused the whole array."""
    values = []
    for i in range(len(arr)):
        try:
            values.append(arr.slice(i, 1).cast(to_type)[0])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values.append(pa.scalar(None, to_type))
    return pa.array([v.as_py() for v in values], type=to_type)


# =============================================================================================
# Binary arithmetic
# =============================================================================================

_COMPARE = {
    BinaryOperator.EQ: pc.equal,
    BinaryOperator.NOT_EQ: pc.not_equal,
    BinaryOperator.LT: pc.less,
    BinaryOperator.LT_EQ: pc.less_equal,
    BinaryOperator.GT: pc.greater,
    BinaryOperator.GT_EQ: pc.greater_equal,
}


def _operand_has_nan(x: pa.Array | pa.Scalar) -> bool:
    if not pa.types.is_floating(x.type):
        return False
    if isinstance(x, pa.Scalar):
        return x.is_valid and x.as_py() != x.as_py()
    return bool(pc.any(pc.is_nan(x)).as_py())


def _compare_with_nan(op: BinaryOperator, a: pa.Array, b: pa.Array) -> pa.Array:
    """Float comparison as DataFusion does it: NaN equals NaN and is greater than every number
    (IEEE, and pyarrow, answer false to every comparison with a NaN)."""
    a_nan, b_nan = pc.is_nan(a), pc.is_nan(b)
    some_nan = pc.fill_null(pc.or_(a_nan, b_nan), False)
    # Where a NaN is involved the answer depends only on which sides are NaN (NaN is the top).
    by_nan = _COMPARE[op](a_nan.cast(pa.int8()), b_nan.cast(pa.int8()))
    return pc.if_else(some_nan, by_nan, _COMPARE[op](a, b))


def _has_zero(divisor: pa.Array) -> bool:
    return bool(pc.any(pc.equal(divisor, pa.scalar(0, divisor.type))).as_py() or False)


def _integer_arithmetic(op: BinaryOperator, a: pa.Array, b: pa.Array, t: pa.DataType) -> pa.Array:
    a, b = a.cast(t, safe=False), b.cast(t, safe=False)
    if op is BinaryOperator.ADD:
        return pc.add(a, b)  # wraps on overflow, as DataFusion's default
    if op is BinaryOperator.SUBTRACT:
        return pc.subtract(a, b)
    if op is BinaryOperator.MULTIPLY:
        return pc.multiply(a, b)
    if _has_zero(b):
        raise ExecutionError("Divide by zero")
    if pa.types.is_signed_integer(t):
        lo, _ = _int_bounds(t)
        overflow = pc.and_(pc.equal(a, pa.scalar(lo, t)), pc.equal(b, pa.scalar(-1, t)))
        if pc.any(overflow).as_py():
            raise ExecutionError(f"Arithmetic overflow: {lo} {op.value} -1")
    if op is BinaryOperator.DIVIDE:
        return pc.divide(a, b)  # C++ integer division: truncates toward zero, like SQL
    # pyarrow has no modulo kernel; np.fmod keeps the dividend's sign (SQL, C).
    valid = _valid_mask(a) & _valid_mask(b)
    x, y = _numpy_values(a), _numpy_values(b, 1)
    return _from_numpy(np.fmod(x, np.where(valid, y, 1)), valid, t)


def _float_arithmetic(op: BinaryOperator, a: pa.Array, b: pa.Array, t: pa.DataType) -> pa.Array:
    a, b = _cast_array(a, t, safe=False), _cast_array(b, t, safe=False)
    if op is BinaryOperator.ADD:
        return pc.add(a, b)
    if op is BinaryOperator.SUBTRACT:
        return pc.subtract(a, b)
    if op is BinaryOperator.MULTIPLY:
        return pc.multiply(a, b)
    if op is BinaryOperator.DIVIDE:
        return pc.divide(a, b)  # x/0.0 → ±inf, 0/0 → NaN (IEEE, as DataFusion)
    valid = _valid_mask(a) & _valid_mask(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _from_numpy(np.fmod(_numpy_values(a, 0.0), _numpy_values(b, 1.0)), valid, t)


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


def _interval_parts(lit: Literal) -> tuple[int, int, int]:
    months, days, nanos = lit.value
    return int(months), int(days), int(nanos)


def _shift_months(days: np.ndarray, months: int) -> np.ndarray:
    """Days since the epoch moved by ``months``, the day clamped to the month's end (Jan 31 + 1
    month = Feb 29 in 2020), as arrow-rs shift_months."""
    if months == 0:
        return days
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.timedelta64(months, "M")
    first = target.astype("datetime64[D]")
    month_len = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - first).astype(np.int64)
    return (first.astype(np.int64) + np.minimum(day_of_month, month_len - 1)).astype(np.int64)


def _trunc_div(value: int, by: int) -> int:
    q = abs(value) // by
    return -q if value < 0 else q


def _add_interval(points: pa.Array, parts: tuple[int, int, int], sign: int) -> pa.Array:
    """date/timestamp ± MonthDayNano, in DataFusion's order: months, then days, then nanos.

    For a DATE the nanoseconds count only as whole days, truncated toward zero (chrono's
    NaiveDate + Duration): DATE '1970-01-01' - INTERVAL '1 hour' stays 1970-01-01."""
    months, days, nanos = (sign * p for p in parts)
    t = points.type
    valid = _valid_mask(points)
    if pa.types.is_date32(t):
        values = _numpy_values(points).astype(np.int64)
        values = _shift_months(values, months) + days + _trunc_div(nanos, _NANOS_PER_DAY)
        return _from_numpy(values.astype(np.int32), valid, t)
    if pa.types.is_timestamp(t):
        per_ns = _UNIT_NANOS[t.unit]
        per_day = _NANOS_PER_DAY // per_ns
        values = _numpy_values(points).astype(np.int64)
        day = np.floor_divide(values, per_day)
        time_of_day = values - day * per_day
        values = (_shift_months(day, months) + days) * per_day + time_of_day
        # nanos at full precision, then floored back to the unit (chrono → timestamp_micros etc.)
        values = np.floor_divide(values * per_ns + nanos, per_ns) if per_ns > 1 else values + nanos
        return _from_numpy(values, valid, t)
    raise ExecutionError(f"cannot add an interval to {t}")


def _temporal_arithmetic(
    op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, num_rows: int
) -> pa.Array:
    lt, rt = _operand_type(left), _operand_type(right)
    if pa.types.is_interval(rt) or pa.types.is_interval(lt):
        if pa.types.is_interval(lt):
            if op is not BinaryOperator.ADD:
                raise ExecutionError("only interval + date/timestamp is defined")
            left, right = right, left
        if not isinstance(right, Literal):
            raise ExecutionError("interval operands must be literals")
        if right.value is None:
            return pa.nulls(num_rows, type=t)
        sign = 1 if op is BinaryOperator.ADD else -1
        shifted = _add_interval(_column_of(left, num_rows), _interval_parts(right), sign)
        return _cast_array(shifted, t, safe=False)
    a, b = _column_of(left, num_rows), _column_of(right, num_rows)
    if pa.types.is_date32(lt) and pa.types.is_date32(rt) and op is BinaryOperator.SUBTRACT:
        # date - date → days as Int64 (DataFusion 55)
        diff = pc.subtract(a.cast(pa.int32()).cast(pa.int64()), b.cast(pa.int32()).cast(pa.int64()))
        return _cast_array(diff, t, safe=False)
    with _data_errors(f"{lt} {op.value} {rt}"):
        return pc.cast(pc.subtract(a, b) if op is BinaryOperator.SUBTRACT else pc.add(a, b), t)


# =============================================================================================
# Strings
# =============================================================================================


class _Wildcard(enum.Enum):
    ANY = "%"  # any run of characters
    ONE = "_"  # exactly one character


def _like_tokens(pattern: str, escape: str | None) -> list[str | _Wildcard]:
    """A LIKE pattern as literal runs and wildcards. ``escape`` + any character is that character;
    a trailing escape is a literal escape character (DataFusion: 'ab\\' LIKE 'ab\\' is true)."""
    tokens: list[str | _Wildcard] = []
    literal: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape is not None and c == escape and i + 1 < len(pattern):
            literal.append(pattern[i + 1])
            i += 2
            continue
        if c in "%_":
            if literal:
                tokens.append("".join(literal))
                literal = []
            wildcard = _Wildcard(c)
            if not (wildcard is _Wildcard.ANY and tokens and tokens[-1] is _Wildcard.ANY):
                tokens.append(wildcard)
        else:
            literal.append(c)
        i += 1
    if literal:
        tokens.append("".join(literal))
    return tokens


def _re2_escape(text: str) -> str:
    """``text`` as a literal in an RE2 pattern (only RE2's metacharacters are escaped)."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def _like_regex(tokens: list[str | _Wildcard]) -> str:
    parts = [".*" if t is _Wildcard.ANY else "." if t is _Wildcard.ONE else _re2_escape(t) for t in tokens]
    # (?s): % and _ match newlines too, as arrow-rs' LIKE does.
    return "(?s)^" + "".join(parts) + "$"


def _like(arr: pa.Array, pattern: str, escape: str | None, case_insensitive: bool) -> pa.Array:
    ic = case_insensitive
    tokens = _like_tokens(pattern, escape)
    literals = [t for t in tokens if isinstance(t, str)]
    # Fast paths for 'abc', 'abc%', '%abc', '%abc%' (most LIKEs, TPC-H's included): substring
    # kernels instead of a regex.
    if len(literals) == 1 and _Wildcard.ONE not in tokens:
        lit = literals[0]
        any_ = _Wildcard.ANY
        if tokens == [any_, lit, any_]:
            return pc.match_substring(arr, lit, ignore_case=ic)
        if tokens == [lit, any_]:
            return pc.starts_with(arr, lit, ignore_case=ic)
        if tokens == [any_, lit]:
            return pc.ends_with(arr, lit, ignore_case=ic)
        if tokens == [lit] and not ic:
            return pc.equal(arr, lit)
    return pc.match_substring_regex(arr, _like_regex(tokens), ignore_case=ic)


def _per_row(fn: Callable[..., Any], columns: Sequence[pa.Array], out_type: pa.DataType) -> pa.Array:
    """Apply a Python function row by row (NULL in → NULL out): for the rare argument shapes the
    vectorised kernels do not take (per-row patterns, non-ASCII text)."""
    rows = zip(*(c.to_pylist() for c in columns))
    values = [None if any(v is None for v in row) else fn(*row) for row in rows]
    return pa.array(values, type=out_type)


def _patch_rows(result: pa.Array, rows: np.ndarray, fn: Callable[[int], Any]) -> pa.Array:
    """``result`` with the listed rows replaced by ``fn(row)``."""
    if len(rows) == 0:
        return result
    mask = np.zeros(len(result), dtype=bool)
    mask[rows] = True
    replacements = pa.array([fn(int(i)) for i in rows], type=result.type)
    return pc.replace_with_mask(result, pa.array(mask), replacements)


def _non_ascii_rows(arr: pa.Array) -> np.ndarray:
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), True)
    return np.nonzero(~np.asarray(ascii_.to_numpy(zero_copy_only=False), dtype=bool))[0]


def _change_case(arr: pa.Array, upper: bool) -> pa.Array:
    # Arrow's utf8_upper maps per code point ('ß' → 'ẞ'); DataFusion uses Rust's full Unicode
    # mapping ('ß' → 'SS'), which Python's str.upper/lower share. ASCII rows stay vectorised.
    result = pc.utf8_upper(arr) if upper else pc.utf8_lower(arr)

    def convert(i: int) -> str:
        text = arr[i].as_py()
        return text.upper() if upper else text.lower()

    return _patch_rows(result, _non_ascii_rows(arr), convert)


def _substr(s: pa.Array, start: Operand, length: Operand | None, num_rows: int) -> pa.Array:
    """DataFusion substr: 1-based characters [start, start + length); start <= 0 eats into the
    length; a negative length is an error; any NULL argument gives NULL."""

    def bounds(p: int, n: int | None) -> tuple[int, int | None]:
        if n is not None and n < 0:
            raise ExecutionError(f"substr: negative count not allowed: {n}")
        begin = max(p - 1, 0)
        return begin, None if n is None else max(p - 1 + n, begin)

    literal_args = isinstance(start, Literal) and (length is None or isinstance(length, Literal))
    if literal_args:
        p = start.value
        n = None if length is None else length.value
        if p is None or (length is not None and n is None):
            return pa.nulls(num_rows, type=pa.string())
        begin, end = bounds(int(p), None if n is None else int(n))
        if end is None:
            return pc.utf8_slice_codeunits(s, begin)
        return pc.utf8_slice_codeunits(s, begin, end)

    def one(text: str, p: int, n: int | None = None) -> str:
        begin, end = bounds(p, n)
        return text[begin:end]

    cols = [s, _column_of(start, num_rows)] + ([] if length is None else [_column_of(length, num_rows)])
    return _per_row(one, cols, pa.string())


def _strpos(s: pa.Array, sub: Operand, num_rows: int) -> pa.Array:
    if isinstance(sub, Literal):
        if sub.value is None:
            return pa.nulls(num_rows, pa.int32())
        # find_substring counts bytes; DataFusion counts characters: redo non-ASCII rows.
        found = pc.add(pc.find_substring(s, sub.value), 1).cast(pa.int32())
        needle = sub.value
        return _patch_rows(found, _non_ascii_rows(s), lambda i: s[i].as_py().find(needle) + 1)
    return _per_row(lambda text, x: text.find(x) + 1, [s, _column_of(sub, num_rows)], pa.int32())


def _replace(s: pa.Array, old: Operand, new: Operand, num_rows: int) -> pa.Array:
    def one(text: str, a: str, b: str) -> str:
        # DataFusion 55 returns the string unchanged for an empty search string (Rust's
        # str::replace would insert between characters; pyarrow's kernel never returns).
        return text if a == "" else text.replace(a, b)

    if isinstance(old, Literal) and isinstance(new, Literal):
        if old.value is None or new.value is None:
            return pa.nulls(num_rows, pa.string())
        if old.value == "":
            return s
        return pc.replace_substring(s, old.value, new.value)
    return _per_row(one, [s, _column_of(old, num_rows), _column_of(new, num_rows)], pa.string())


def _trim(s: pa.Array, chars: Operand | None, side: str, num_rows: int) -> pa.Array:
    # SQL trim strips spaces only by default (not tabs/newlines): DataFusion btrim(s) = btrim(s, ' ').
    kernel = {"both": pc.utf8_trim, "left": pc.utf8_ltrim, "right": pc.utf8_rtrim}[side]
    if chars is None or isinstance(chars, Literal):
        value = " " if chars is None else chars.value
        if value is None:
            return pa.nulls(num_rows, pa.string())
        return kernel(s, value)
    py = {"both": str.strip, "left": str.lstrip, "right": str.rstrip}[side]
    return _per_row(py, [s, _column_of(chars, num_rows)], pa.string())


def _affix(s: pa.Array, affix: Operand, start: bool, num_rows: int) -> pa.Array:
    if isinstance(affix, Literal):
        if affix.value is None:
            return pa.nulls(num_rows, pa.bool_())
        return pc.starts_with(s, affix.value) if start else pc.ends_with(s, affix.value)
    fn = str.startswith if start else str.endswith
    return _per_row(fn, [s, _column_of(affix, num_rows)], pa.bool_())


# =============================================================================================
# Numeric functions
# =============================================================================================


def _round(x: pa.Array, digits: int, t: pa.DataType) -> pa.Array:
    """round(x, d) half away from zero (pc.round's default is half to even)."""
    xt = x.type
    if pa.types.is_floating(xt):
        # DataFusion: (x * 10^d).round() / 10^d in the input's float type, so round(0.285, 2)
        # = 0.28 because 0.285 * 100 = 28.499999999999996.
        dtype = np.dtype(np.float32 if xt.bit_width == 32 else np.float64)
        values: np.ndarray = _numpy_values(x, 0.0).astype(dtype)
        factor = np.power(np.array(10.0, dtype=dtype), np.array(digits, dtype=dtype))
        rounded = (_round_half_away(values * factor) / factor).astype(dtype)
        return _cast_array(_from_numpy(rounded, _valid_mask(x), xt), t, safe=False)
    if pa.types.is_integer(xt) or pa.types.is_decimal(xt):
        dec = _Dec.of(x)
        if digits >= dec.scale:
            values, scale = dec.values, dec.scale
        else:
            values = _int_divide(dec.values, 10 ** (dec.scale - digits), "half_away")
            scale = digits
            if digits < 0:
                values, scale = _rescale_up(values, -digits), 0
        if pa.types.is_integer(t):
            return _ints_to_int(_rescale(values, scale, 0, "trunc"), dec.valid, t, False, x)
        if pa.types.is_decimal(t):
            return _decimal_array(
                _rescale(values, scale, t.scale, "half_away"), dec.valid, t, safe=False, what="round"
            )
        out = _decimal_array(values, dec.valid, pa.decimal128(38, max(scale, 0)), safe=False, what="round")
        return _cast_array(out, t, safe=False)
    raise ExecutionError(f"round is not defined for {xt}")


def _floor_ceil(x: pa.Array, t: pa.DataType, floor: bool) -> pa.Array:
    if pa.types.is_decimal(x.type):
        # Decimals keep their type: floor(-1.55) = -2.00 as decimal(10, 2).
        dec = _Dec.of(x)
        unit = 10**dec.scale
        values = _mul(_int_divide(dec.values, unit, "floor" if floor else "ceil"), unit)
        return _cast_array(_decimal_array(values, dec.valid, x.type, safe=False, what="floor"), t, safe=False)
    as_float = _cast_array(x, t, safe=False) if pa.types.is_floating(t) else x
    if pa.types.is_integer(as_float.type):
        return _cast_array(as_float, t, safe=False)
    return _cast_array(pc.floor(as_float) if floor else pc.ceil(as_float), t, safe=False)


def _abs(x: pa.Array, t: pa.DataType) -> pa.Array:
    if pa.types.is_decimal(x.type):
        dec = _Dec.of(x)
        return _cast_array(
            _decimal_array(np.abs(dec.values), dec.valid, x.type, safe=False, what="abs"), t, False
        )
    with _data_errors("abs"):
        # abs(i64::MIN) overflows: DataFusion errors, so the checked kernel.
        return _cast_array(pc.abs_checked(x), t, safe=False)


_DATE_PARTS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "year": pc.year,
    "quarter": pc.quarter,
    "month": pc.month,
    "week": pc.iso_week,
    "day": pc.day,
    "doy": pc.day_of_year,
    # DataFusion's dow is Sunday = 0 … Saturday = 6 (pyarrow's default is Monday = 0).
    "dow": lambda a: pc.day_of_week(a, count_from_zero=True, week_start=7),
    "hour": pc.hour,
    "minute": pc.minute,
    "second": pc.second,  # whole seconds: DataFusion 55 returns Int32 and drops the fraction
}


def _date_part(part: str, d: pa.Array, t: pa.DataType) -> pa.Array:
    part = part.lower()
    if part not in _DATE_PARTS:
        raise ExecutionError(f"date_part: unsupported part {part!r}")
    if pa.types.is_date(d.type) and part in ("hour", "minute", "second"):
        d = d.cast(pa.timestamp("s"))
    return _DATE_PARTS[part](d).cast(t)


def _date_trunc(part: str, d: pa.Array, t: pa.DataType) -> pa.Array:
    unit = part.lower()
    if unit not in ("year", "quarter", "month", "week", "day", "hour", "minute", "second"):
        raise ExecutionError(f"date_trunc: unsupported part {part!r}")
    # DataFusion truncates weeks to Monday.
    truncated = pc.floor_temporal(d, unit=unit, week_starts_monday=True)
    return truncated.cast(t)


# =============================================================================================
# Windows (numpy over the sorted rows)
# =============================================================================================


def _change_flags(columns: Sequence[pa.Array], n: int) -> np.ndarray:
    """flags[i]: row i differs from row i-1 in some column (NULLs equal each other, NaNs too);
    flags[0] is True."""
    flags = np.zeros(n, dtype=bool)
    if n:
        flags[0] = True
    for col in columns:
        if n < 2:
            break
        a, b = col.slice(1), col.slice(0, n - 1)
        differ = pc.fill_null(pc.not_equal(a, b), True)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        if pa.types.is_floating(col.type):
            both_nan = pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False)
            both_null = pc.or_(both_null, both_nan)
        differ = pc.and_(differ, pc.invert(both_null))
        flags[1:] |= np.asarray(differ.to_numpy(zero_copy_only=False), dtype=bool)
    return flags


def _group_starts(flags: np.ndarray) -> np.ndarray:
    """For every row, the index of the first row of its group (groups start where flags)."""
    idx = np.arange(len(flags))
    return np.maximum.accumulate(np.where(flags, idx, 0)) if len(flags) else idx


def _group_ends(flags: np.ndarray) -> np.ndarray:
    """For every row, the index of the last row of its group."""
    n = len(flags)
    if n == 0:
        return np.arange(0)
    last = np.zeros(n, dtype=bool)
    last[:-1] = flags[1:]
    last[-1] = True
    idx = np.where(last, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


def _segmented_prefix(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Inclusive running sum restarting at each segment, exact for integers (int64 wraps like
    DataFusion; Python ints are exact): total prefix minus the prefix before the segment."""
    prefix = np.cumsum(values)
    before = np.concatenate([np.zeros(1, dtype=prefix.dtype), prefix[:-1]])
    return prefix - before[starts]


def _segmented_scan(values: np.ndarray, starts: np.ndarray, op: Callable[[Any, Any], Any]) -> np.ndarray:
    """Inclusive scan with an associative ``op`` restarting at each segment: Hillis-Steele
    doubling, log2(longest segment) vectorised passes. Used for float sums (subtracting float
    prefixes loses the small partitions' precision) and min/max."""
    out = values.copy()
    n = len(out)
    if n == 0:
        return out
    idx = np.arange(n)
    longest = int((idx - starts).max()) + 1
    shift = 1
    while shift < longest:
        rows = np.nonzero(idx - shift >= starts)[0]
        out[rows] = op(out[rows], out[rows - shift])
        shift *= 2
    return out


# =============================================================================================
# Group-by
# =============================================================================================


def _filler(t: pa.DataType) -> pa.Scalar:
    """A fixed non-NULL value of type ``t`` (what a NULL key is replaced by for nulls_equal)."""
    if _is_string(t):
        return pa.scalar("", type=t)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.scalar(b"", type=t)
    if pa.types.is_boolean(t):
        return pa.scalar(False)
    return pa.scalar(0, type=t)  # numbers, decimals, dates and timestamps (the epoch)


def _fast_sort_key(col: pa.Array) -> pa.Array:
    """A column that sorts like ``col``: decimals as their int64 unscaled values when they fit
    (pyarrow sorts decimal128 several times slower than int64; one scale, so same order)."""
    if pa.types.is_decimal(col.type) and col.type.bit_width == 128:
        values = _unscaled(col)
        if values.dtype != object:
            return _from_numpy(values, _valid_mask(col), pa.int64())
    return col


def _has_nan(col: pa.Array | pa.ChunkedArray) -> bool:
    return pa.types.is_floating(col.type) and bool(pc.any(pc.is_nan(col)).as_py())


def _group_key(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A key column as DataFusion groups it: -0.0 and 0.0 are one group (pyarrow hashes the bits
    and splits them; adding 0.0 turns -0.0 into 0.0). NaNs already group together."""
    if pa.types.is_floating(col.type):
        return pc.add(col, pa.scalar(0.0, col.type))
    return col


def _join_side(keys: pa.Table, prefix: str, nulls_equal: bool) -> tuple[pa.Table, list[str]]:
    """One side of an acero join: the key columns (named ``{prefix}0``...) and the row number
    (``{prefix}_row``), and the key names to join on. acero never matches NULL keys, which is
    SQL ``=``; for ``nulls_equal`` (IS NOT DISTINCT FROM) every key becomes two: the value with
    NULL replaced by a fixed filler, and an is-NULL flag, so two rows match exactly when both
    keys are NULL or both are equal."""
    columns, names = [], []
    for j, col in enumerate(keys.columns):
        col = _array(_group_key(col))  # -0.0 joins 0.0
        if nulls_equal:
            filled = pc.fill_null(col, _filler(col.type)) if col.null_count else col
            columns += [filled, pc.is_null(col)]
            names += [f"{prefix}{j}", f"{prefix}{j}_isnull"]
        else:
            columns.append(col)
            names.append(f"{prefix}{j}")
    row_numbers = pa.array(np.arange(keys.num_rows, dtype=np.int64))
    table = pa.Table.from_arrays(columns + [row_numbers], names=names + [f"{prefix}_row"])
    return table, names


def _sum_input_type(t: pa.DataType) -> pa.DataType:
    """What SUM accumulates in: int64/uint64/float64/decimal128(38, s) (DataFusion's SUM of
    decimal(p, s) is decimal(p + 10, s): never accumulate at the input's width). Arrow's hash_sum
    of any decimal128 already accumulates in 128 bits and returns precision 38: no cast needed."""
    if pa.types.is_decimal128(t):
        return t
    if pa.types.is_decimal(t):
        return pa.decimal128(38, t.scale)
    if pa.types.is_unsigned_integer(t):
        return pa.uint64()
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    return t


def _aggregate_plan(func: str) -> tuple[str, Any]:
    if func == "sum":
        return "sum", pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
    if func in ("min", "max"):
        return func, pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
    if func == "count":
        return "count", pc.CountOptions(mode="only_valid")
    if func == "count_all":
        return "count", pc.CountOptions(mode="all")
    if func == "any_value":
        # "any value of the group": MIN is such a value, and a deterministic one, so the CPU and
        # GPU backends agree row for row.
        return "min", pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
    raise ValueError(f"unknown aggregate function {func!r}")


# =============================================================================================
# The kernels
# =============================================================================================


class ArrowKernels:
    """The Kernels protocol (gpu_exec.engine.kernels) on pyarrow.compute, acero and numpy.

    Parameters
    ----------
    use_threads
        Let pyarrow use its thread pool (acero joins, group-by, sorts).
    """

    name = "cpu"

    def __init__(self, use_threads: bool = True) -> None:
        self.use_threads = use_threads

    # ---- I/O and movement -------------------------------------------------------------------

    def read_parquet(
        self, path: str, columns: Sequence[str], row_groups: Sequence[int] | None, schema: pa.Schema
    ) -> pa.Table:
        try:
            pf = pq.ParquetFile(path)
            if row_groups is None:
                table = pf.read(columns=list(columns), use_threads=self.use_threads)
            else:
                table = pf.read_row_groups(
                    list(row_groups), columns=list(columns), use_threads=self.use_threads
                )
            read = [table.column(name) for name in columns]
        except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
            raise CatalogError(f"cannot read Parquet file {path!r}: {exc}") from exc
        if not read:
            return self.make_table([], schema, table.num_rows)
        # Parquet strings arrive as string_view (or dictionary-encoded), decimals at the file's
        # width: cast to the planned types.
        arrays = [col if col.type == f.type else col.cast(f.type) for col, f in zip(read, schema)]
        return pa.Table.from_arrays(arrays, schema=schema)

    def write_file(self, table: pa.Table, schema: pa.Schema, path: str, file_format: FileFormat) -> None:
        data = self.to_arrow(table, schema)
        try:
            if file_format.kind == "csv":
                options = pacsv.WriteOptions(include_header=file_format.has_header, delimiter=file_format.delimiter)
                pacsv.write_csv(data, path, write_options=options)
            else:
                pq.write_table(data, path, compression=file_format.compression or "snappy",
                               compression_level=file_format.compression_level,
                               row_group_size=file_format.row_group_size)
        except (OSError, pa.ArrowException) as exc:
            raise ExecutionError(f"cannot write {file_format.kind} file {path!r}: {exc}") from exc

    def from_arrow(self, table: pa.Table) -> pa.Table:
        return table

    def to_arrow(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        if table.schema == schema:
            return table
        if table.num_columns != len(schema):
            raise ValueError(f"table has {table.num_columns} columns, schema {len(schema)}")
        if not len(schema):
            return self.make_table([], schema, table.num_rows)
        arrays = [c if c.type == f.type else c.cast(f.type) for c, f in zip(table.columns, schema)]
        return pa.Table.from_arrays(arrays, schema=schema)

    def num_rows(self, table: pa.Table) -> int:
        return table.num_rows

    def length(self, column: pa.Array | pa.ChunkedArray) -> int:
        return len(column)

    def column(self, table: pa.Table, index: int) -> pa.Array:
        return _array(table.column(index))

    def make_table(self, columns: Sequence[pa.Array], schema: pa.Schema, num_rows: int) -> pa.Table:
        if not columns:
            # A zero-column table still has rows (COUNT(*) over a projection of nothing).
            # (Table.cast would reset the row count to 0 here.)
            return pa.table({"_": pa.nulls(num_rows)}).drop_columns(["_"])
        return pa.Table.from_arrays([_array(c) for c in columns], schema=schema)

    def concat(self, tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
        if not tables:
            return schema.empty_table()
        if not len(schema):
            return self.make_table([], schema, sum(t.num_rows for t in tables))
        return pa.concat_tables([self.to_arrow(t, schema) for t in tables])

    def slice(self, table: pa.Table, offset: int, length: int) -> pa.Table:
        return table.slice(offset, length)

    def empty(self, schema: pa.Schema) -> pa.Table:
        return schema.empty_table()

    def literal_column(self, value: Literal, num_rows: int) -> pa.Array:
        return _column_of(value, num_rows)

    # ---- relational -------------------------------------------------------------------------

    def filter(self, table: pa.Table, mask: pa.Array) -> pa.Table:
        return table.filter(_array(mask))  # NULL drops the row (null_selection_behavior="drop")

    def gather(self, table: pa.Table, indices: pa.Array) -> pa.Table:
        return table.take(_array(indices))  # a NULL index gives an all-NULL row

    def join(
        self, left_keys: pa.Table, right_keys: pa.Table, how: str, nulls_equal: bool
    ) -> tuple[pa.Array, pa.Array | None]:
        acero_how = {
            "inner": "inner",
            "left": "left outer",
            "full": "full outer",
            "left_semi": "left semi",
            "left_anti": "left anti",
        }.get(how)
        if acero_how is None:
            raise ValueError(f"unknown join type {how!r}")
        left, left_names = _join_side(left_keys, "l", nulls_equal)
        right, right_names = _join_side(right_keys, "r", nulls_equal)
        joined = left.join(
            right,
            keys=left_names,
            right_keys=right_names,
            join_type=acero_how,
            use_threads=self.use_threads,
            coalesce_keys=False,
        )
        left_map = _array(joined.column("l_row"))
        if how in ("left_semi", "left_anti"):
            # acero's output order varies with its threads; sorted, the map keeps the left rows
            # in their input order, the same on every run.
            return pa.array(np.sort(left_map.to_numpy()), type=pa.int64()), None
        return left_map.cast(pa.int64()), _array(joined.column("r_row")).cast(pa.int64())

    def cross_join(self, left: pa.Table, right: pa.Table, schema: pa.Schema) -> pa.Table:
        nl, nr = left.num_rows, right.num_rows
        left_rows = pa.array(np.repeat(np.arange(nl, dtype=np.int64), nr))
        right_rows = pa.array(np.tile(np.arange(nr, dtype=np.int64), nl))
        columns = list(left.take(left_rows).columns) + list(right.take(right_rows).columns)
        return self.make_table(columns, schema, nl * nr)

    def index_mask(self, num_rows: int, indices: pa.Array) -> pa.Array:
        idx = _array(indices)
        if idx.null_count:
            idx = idx.drop_null()
        mask = np.zeros(num_rows, dtype=bool)
        mask[idx.to_numpy(zero_copy_only=False).astype(np.int64)] = True
        return pa.array(mask)

    def group_by(
        self, table: pa.Table, keys: Sequence[int], aggs: Sequence[tuple[int | None, str, pa.DataType]]
    ) -> pa.Table:
        n = table.num_rows
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for j, k in enumerate(keys):
            columns[f"k{j}"] = _group_key(table.column(k))
        requests = []
        nan_flags: dict[int, str] = {}  # agg index → name of its "any NaN in the group" result
        for i, (index, func, _out_type) in enumerate(aggs):
            source = table.column(index) if index is not None else pa.nulls(n, pa.int8())
            if func == "sum":
                source = source.cast(_sum_input_type(source.type))
            kernel, options = _aggregate_plan(func)
            columns[f"v{i}"] = source
            requests.append((f"v{i}", kernel, options))
            if func == "max" and _has_nan(source):
                # pyarrow's MAX skips NaN; DataFusion orders NaN above every number, so a group
                # holding a NaN has MAX NaN.
                columns[f"nan{i}"] = pc.is_nan(source)
                requests.append((f"nan{i}", "any", pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)))
                nan_flags[i] = f"nan{i}_any"
        if not columns:
            columns["_"] = pa.nulls(n, pa.int8())
        grouped = (
            pa.table(columns)
            .group_by([f"k{j}" for j in range(len(keys))], use_threads=self.use_threads)
            .aggregate(requests)
        )
        out_columns, names = [], []
        for j, k in enumerate(keys):
            out_columns.append(_array(grouped.column(f"k{j}")))
            names.append(table.schema.field(k).name)
        for i, (_index, func, out_type) in enumerate(aggs):
            kernel, _ = _aggregate_plan(func)
            result = _array(grouped.column(f"v{i}_{kernel}"))
            if i in nan_flags:
                has_nan = pc.fill_null(_array(grouped.column(nan_flags[i])), False)
                result = pc.if_else(has_nan, pa.scalar(float("nan"), result.type), result)
            with _data_errors(f"{func} aggregate"):
                out_columns.append(_cast_array(result, out_type, safe=False))
            names.append(f"{func}_{i}")
        fields = [pa.field(nm, c.type) for nm, c in zip(names, out_columns)]
        return self.make_table(out_columns, pa.schema(fields), grouped.num_rows)

    def distinct(self, table: pa.Table) -> pa.Table:
        if table.num_columns == 0:
            return table.slice(0, min(1, table.num_rows))
        names = [f"c{i}" for i in range(table.num_columns)]
        keys = pa.Table.from_arrays([_group_key(c) for c in table.columns], names=names)
        grouped = keys.group_by(names, use_threads=self.use_threads).aggregate([]).select(names)
        return pa.Table.from_arrays(grouped.columns, schema=table.schema)

    def sort_indices(self, table: pa.Table, keys: Sequence[tuple[int, bool, bool]]) -> pa.Array:
        n = table.num_rows
        if not keys or n == 0:
            return pa.array(np.arange(n, dtype=np.int64))
        columns, sort_keys = [], []
        for j, (index, ascending, nulls_first) in enumerate(keys):
            col = _array(table.column(index))
            order = "ascending" if ascending else "descending"
            if col.null_count:
                # pyarrow's null placement is one setting for the call; SQL's is per key and
                # absolute. An is-valid flag key in front puts this key's NULLs where asked
                # (false < true), whatever the direction.
                columns.append(pc.is_valid(col))
                sort_keys.append((f"v{j}", "ascending" if nulls_first else "descending"))
            if pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
                # DataFusion orders NaN above every number (DESC puts it first); pyarrow puts
                # NaN at the end in both directions.
                columns.append(pc.fill_null(pc.is_nan(col), False))
                sort_keys.append((f"n{j}", order))
            columns.append(_fast_sort_key(col))
            sort_keys.append((f"k{j}", order))
        names = [name for name, _ in sort_keys]
        order_table = pa.Table.from_arrays(columns, names=names)
        return pc.sort_indices(order_table, sort_keys=sort_keys).cast(pa.int64())  # stable

    def hash_partition(self, table: pa.Table, keys: Sequence[int], num_partitions: int) -> list[pa.Table]:
        if not keys:
            return [table] + [table.slice(0, 0) for _ in range(num_partitions - 1)]
        ids = partition_ids(np, [arrow_column_buffers(table.column(k)) for k in keys], num_partitions)
        # One take into partition order (stable: rows keep their order inside a partition), then
        # zero-copy slices.
        order = np.argsort(ids, kind="stable")
        counts = np.bincount(ids, minlength=num_partitions)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        ordered = table.take(pa.array(order))
        return [ordered.slice(int(offsets[p]), int(counts[p])) for p in range(num_partitions)]

    def window(
        self,
        table: pa.Table,
        call: WindowCall,
        arg: int | None,
        partition_by: Sequence[int],
        order_by: Sequence[tuple[int, bool, bool]],
    ) -> pa.Array:
        n = table.num_rows
        sort_spec = [(p, True, True) for p in partition_by] + list(order_by)
        order = _numpy_values(self.sort_indices(table, sort_spec)).astype(np.int64)
        take = pa.array(order)
        partition_cols = [_array(table.column(p)).take(take) for p in partition_by]
        order_cols = [_array(table.column(i)).take(take) for i, _, _ in order_by]
        part_flags = _change_flags(partition_cols, n)
        peer_flags = part_flags | _change_flags(order_cols, n)
        part_start = _group_starts(part_flags)
        func = call.func
        if func is WindowFunction.ROW_NUMBER:
            values = np.arange(n) - part_start + 1
            result = _from_numpy(values.astype(np.uint64), None, pa.uint64())
        elif func is WindowFunction.RANK:
            values = _group_starts(peer_flags) - part_start + 1
            result = _from_numpy(values.astype(np.uint64), None, pa.uint64())
        elif func is WindowFunction.DENSE_RANK:
            peer_count = np.cumsum(peer_flags)
            values = peer_count - peer_count[part_start] + 1
            result = _from_numpy(values.astype(np.uint64), None, pa.uint64())
        else:
            source = _array(table.column(arg)).take(take) if arg is not None else pa.nulls(n, pa.int8())
            frame_end = {
                WindowFrame.WHOLE_PARTITION: _group_ends(part_flags),
                WindowFrame.RANGE_TO_CURRENT: _group_ends(peer_flags),
                WindowFrame.ROWS_TO_CURRENT: np.arange(n),
            }[call.frame]
            result = self._window_aggregate(func, source, arg is None, part_start, frame_end, call.dtype)
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n, dtype=np.int64)
        with _data_errors(f"window {func.value}"):
            return _cast_array(result.take(pa.array(inverse)), call.dtype, safe=False)

    def _window_aggregate(
        self,
        func: WindowFunction,
        source: pa.Array,
        count_rows: bool,
        part_start: np.ndarray,
        frame_end: np.ndarray,
        out_type: pa.DataType,
    ) -> pa.Array:
        """A running aggregate from the partition start to ``frame_end`` of every sorted row."""
        valid = np.ones(len(source), bool) if count_rows else _valid_mask(source)
        counts = _segmented_prefix(valid.astype(np.int64), part_start)[frame_end]
        if func is WindowFunction.COUNT:
            return pa.array(counts, type=pa.int64())
        has_value = counts > 0
        if func in (WindowFunction.MIN, WindowFunction.MAX):
            # Dense codes of the values (strings, dates, decimals alike): a min/max over int64
            # codes, then the value back through any row that holds that code.
            codes = _numpy_values(pc.rank(source, sort_keys="ascending", tiebreaker="dense")).astype(np.int64)
            if func is WindowFunction.MIN:
                scanned = _segmented_scan(
                    np.where(valid, codes, np.iinfo(np.int64).max), part_start, np.minimum
                )
            else:
                scanned = _segmented_scan(np.where(valid, codes, -1), part_start, np.maximum)
            representative = np.zeros(int(codes.max(initial=0)) + 1, dtype=np.int64)
            representative[codes] = np.arange(len(codes))
            picked = representative[np.clip(scanned[frame_end], 0, len(representative) - 1)]
            return source.take(pa.array(picked, mask=~has_value))
        t = source.type
        if pa.types.is_decimal(t) or pa.types.is_integer(t):
            dec = _Dec.of(source)
            totals = _segmented_prefix(np.where(valid, dec.values, 0), part_start)[frame_end]
            scale = dec.scale
            if func is WindowFunction.SUM:
                if pa.types.is_decimal(out_type):
                    return _decimal_array(
                        _rescale(totals, scale, out_type.scale, "half_away"),
                        has_value,
                        out_type,
                        safe=False,
                        what="window sum",
                    )
                sum_type = _sum_input_type(t)
                if totals.dtype == object:  # int64 wrap-around, as DataFusion's integer SUM
                    totals = np.array([((v + 2**63) % 2**64) - 2**63 for v in totals], dtype=np.int64)
                return _from_numpy(totals.astype(sum_type.to_pandas_dtype()), has_value, sum_type)
            if pa.types.is_decimal(out_type):  # AVG(decimal): truncated at the planned scale
                safe_counts = np.where(has_value, counts, 1)
                quotient = _int_divide(_rescale_up(totals, out_type.scale - scale), safe_counts, "trunc")
                return _decimal_array(quotient, has_value, out_type, safe=False, what="window avg")
            as_float = (
                totals.astype(np.float64) if totals.dtype != object else np.array([float(v) for v in totals])
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                return _from_numpy(as_float / np.where(has_value, counts, 1), has_value, pa.float64())
        values = np.where(valid, _numpy_values(source.cast(pa.float64()), 0.0), 0.0)
        totals = _segmented_scan(values, part_start, np.add)[frame_end]
        if func is WindowFunction.SUM:
            return _from_numpy(totals, has_value, pa.float64())
        with np.errstate(invalid="ignore", divide="ignore"):
            return _from_numpy(totals / np.where(has_value, counts, 1), has_value, pa.float64())

    # ---- expressions ------------------------------------------------------------------------

    def binary(
        self, op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
    ) -> pa.Array:
        if op is BinaryOperator.AND:
            return _as_column(pc.and_kleene(_arg(left), _arg(right)), num_rows).cast(out_type)
        if op is BinaryOperator.OR:
            return _as_column(pc.or_kleene(_arg(left), _arg(right)), num_rows).cast(out_type)
        if op is BinaryOperator.STRING_CONCAT:
            a = _cast_array(_column_of(left, num_rows), pa.string(), safe=False)
            b = _cast_array(_column_of(right, num_rows), pa.string(), safe=False)
            return pc.binary_join_element_wise(a, b, "", null_handling="emit_null").cast(out_type)
        if op in _COMPARE:
            a, b = _arg(left), _arg(right)
            with _data_errors(f"comparison {op.value}"):
                if _operand_has_nan(a) or _operand_has_nan(b):
                    return _compare_with_nan(op, _as_column(a, num_rows), _as_column(b, num_rows)).cast(
                        out_type
                    )
                return _as_column(_COMPARE[op](a, b), num_rows).cast(out_type)
        if op in (BinaryOperator.IS_DISTINCT_FROM, BinaryOperator.IS_NOT_DISTINCT_FROM):
            a, b = _column_of(left, num_rows), _column_of(right, num_rows)
            both_null = pc.and_(pc.is_null(a), pc.is_null(b))
            # SQL equality (NaN = NaN in DataFusion); one side NULL → not the same.
            same = pc.fill_null(self.binary(BinaryOperator.EQ, a, b, pa.bool_(), num_rows), both_null)
            return (pc.invert(same) if op is BinaryOperator.IS_DISTINCT_FROM else same).cast(out_type)
        return self._arithmetic(op, left, right, out_type, num_rows)

    def _arithmetic(
        self, op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
    ) -> pa.Array:
        lt, rt = _operand_type(left), _operand_type(right)
        if (
            _is_temporal_point(lt)
            or _is_temporal_point(rt)
            or pa.types.is_interval(lt)
            or pa.types.is_interval(rt)
        ):
            return _temporal_arithmetic(op, left, right, out_type, num_rows)
        a, b = _column_of(left, num_rows), _column_of(right, num_rows)
        if pa.types.is_null(a.type) or pa.types.is_null(b.type):
            return pa.nulls(num_rows, out_type)
        if pa.types.is_decimal(out_type):
            return _decimal_arithmetic(op, a, b, out_type)
        if pa.types.is_floating(out_type):
            return _float_arithmetic(op, a, b, out_type)
        if pa.types.is_integer(out_type):
            return _integer_arithmetic(op, a, b, out_type)
        raise ExecutionError(f"arithmetic {lt} {op.value} {rt} → {out_type} is not supported")

    def unary(self, op: UnaryOperator, operand: pa.Array, out_type: pa.DataType) -> pa.Array:
        x = _array(operand)
        if op is UnaryOperator.NOT:
            return pc.invert(x).cast(out_type)  # NOT NULL is NULL
        if op is UnaryOperator.NEGATE:
            if pa.types.is_decimal(x.type):
                dec = _Dec.of(x)
                negated = _decimal_array(-dec.values, dec.valid, x.type, safe=False, what="negate")
                return _cast_array(negated, out_type, safe=False)
            return _cast_array(pc.negate(x), out_type, safe=False)  # wraps, as DataFusion
        if op is UnaryOperator.IS_NULL:
            return pc.is_null(x)
        if op is UnaryOperator.IS_NOT_NULL:
            return pc.is_valid(x)
        is_true = pc.fill_null(x, False)
        is_false = pc.fill_null(pc.invert(x), False)
        return {
            UnaryOperator.IS_TRUE: is_true,
            UnaryOperator.IS_FALSE: is_false,
            UnaryOperator.IS_NOT_TRUE: pc.invert(is_true),
            UnaryOperator.IS_NOT_FALSE: pc.invert(is_false),
        }[op]

    def cast(self, operand: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
        return _cast_array(_array(operand), to_type, safe)

    def if_else(
        self, cond: pa.Array, then: Operand, otherwise: Operand, out_type: pa.DataType, num_rows: int
    ) -> pa.Array:
        c = pc.fill_null(_column_of(cond, num_rows), False)  # pc.if_else gives NULL for NULL
        branches = []
        for x in (then, otherwise):
            if isinstance(x, Literal):
                branches.append(_literal_scalar(x, out_type))
            else:
                branches.append(_cast_array(_array(x), out_type, safe=False))
        return _as_column(pc.if_else(c, branches[0], branches[1]), num_rows)

    def is_in(self, operand: pa.Array, values: Sequence[Literal]) -> pa.Array:
        x = _array(operand)
        present = [_literal_scalar(v, x.type) for v in values if v.value is not None]
        list_has_null = len(present) < len(values)
        value_set = pa.array([s.as_py() for s in present], type=x.type)
        found = pc.is_in(x, value_set=value_set, skip_nulls=True)
        null = pa.scalar(None, pa.bool_())
        found = pc.if_else(pc.is_null(x), null, found)  # NULL IN (...) is NULL
        if list_has_null:
            found = pc.if_else(found, True, null)  # no match against a list with NULL: NULL
        return found

    def like(self, operand: pa.Array, pattern: str, escape: str | None, case_insensitive: bool) -> pa.Array:
        x = _array(operand)
        if not pa.types.is_string(x.type):
            x = x.cast(pa.string())
        return _like(x, pattern, "\\" if escape is None else escape, case_insensitive)

    def scalar_function(
        self, name: str, args: Sequence[Operand], out_type: pa.DataType, num_rows: int
    ) -> pa.Array:
        handler = getattr(self, f"_fn_{name}", None)
        if handler is None:
            raise ExecutionError(f"scalar function {name!r} is not implemented")
        result = handler(list(args), out_type, num_rows)
        with _data_errors(name):
            return _cast_array(_as_column(result, num_rows), out_type, safe=False)

    def average(self, total: pa.Array, count: pa.Array, out_type: pa.DataType) -> pa.Array:
        s, c = _array(total), _array(count)
        counts = _numpy_values(c).astype(np.int64)
        has_value = _valid_mask(s) & _valid_mask(c) & (counts != 0)
        safe_counts = np.where(has_value, counts, 1)
        if pa.types.is_decimal(out_type):
            # DataFusion's decimal AVG: the sum rescaled to the result scale, divided by the
            # count, truncated toward zero (avg(1, 2, 2) = 1.666666, not 1.666667).
            dec = _Dec.of(s)
            quotient = _int_divide(_rescale_up(dec.values, out_type.scale - dec.scale), safe_counts, "trunc")
            return _decimal_array(quotient, has_value, out_type, safe=False, what="avg")
        sums = _numpy_values(_cast_array(s, pa.float64(), safe=False), 0.0)
        return _from_numpy(sums / safe_counts, has_value, pa.float64()).cast(out_type)

    # ---- scalar functions (one method per name in planner.expr.SCALAR_FUNCTIONS) -------------

    @staticmethod
    def _strings(x: Operand, num_rows: int) -> pa.Array:
        return _cast_array(_column_of(x, num_rows), pa.string(), safe=False)

    def _fn_substr(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _substr(self._strings(args[0], n), args[1], args[2] if len(args) > 2 else None, n)

    def _fn_upper(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _change_case(self._strings(args[0], n), upper=True)

    def _fn_lower(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _change_case(self._strings(args[0], n), upper=False)

    def _fn_character_length(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return pc.utf8_length(self._strings(args[0], n))

    def _fn_octet_length(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return pc.binary_length(self._strings(args[0], n))

    def _fn_trim(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _trim(self._strings(args[0], n), args[1] if len(args) > 1 else None, "both", n)

    def _fn_ltrim(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _trim(self._strings(args[0], n), args[1] if len(args) > 1 else None, "left", n)

    def _fn_rtrim(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _trim(self._strings(args[0], n), args[1] if len(args) > 1 else None, "right", n)

    def _fn_concat(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        # concat() skips NULL arguments (concat('a', NULL, 'b') = 'ab', concat(NULL) = '').
        parts = [self._strings(a, n) for a in args if not (isinstance(a, Literal) and a.value is None)]
        if not parts:
            return pa.repeat(pa.scalar("", pa.string()), n)
        return pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")

    def _fn_starts_with(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _affix(self._strings(args[0], n), args[1], True, n)

    def _fn_ends_with(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _affix(self._strings(args[0], n), args[1], False, n)

    def _fn_strpos(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _strpos(self._strings(args[0], n), args[1], n)

    def _fn_replace(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _replace(self._strings(args[0], n), args[1], args[2], n)

    def _fn_abs(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _abs(_column_of(args[0], n), out_type)

    def _fn_round(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        x = _column_of(args[0], n)
        if len(args) < 2:
            return _round(x, 0, out_type)
        digits = args[1]
        if isinstance(digits, Literal):
            if digits.value is None:
                return pa.nulls(n, out_type)
            return _round(x, int(digits.value), out_type)
        # Per-row digits: round once per distinct value.
        d = _array(digits)
        result = pa.nulls(n, out_type)
        for value in pc.unique(d.drop_null()).to_pylist():
            rows = pc.equal(d, value)
            result = pc.if_else(pc.fill_null(rows, False), _round(x, int(value), out_type), result)
        return result

    def _fn_floor(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _floor_ceil(_column_of(args[0], n), out_type, floor=True)

    def _fn_ceil(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        return _floor_ceil(_column_of(args[0], n), out_type, floor=False)

    def _fn_coalesce(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        values = [
            _literal_scalar(a, out_type)
            if isinstance(a, Literal)
            else _cast_array(_array(a), out_type, safe=False)
            for a in args
        ]
        return pc.coalesce(*values)

    def _fn_nullif(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        a = _column_of(args[0], n)
        same = pc.fill_null(self.binary(BinaryOperator.EQ, a, args[1], pa.bool_(), n), False)  # NaN = NaN
        return pc.if_else(same, pa.scalar(None, a.type), a)

    def _fn_date_part(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        part = args[0]
        if not isinstance(part, Literal) or not isinstance(part.value, str):
            raise ExecutionError("date_part: the first argument must be a string literal")
        return _date_part(part.value, _column_of(args[1], n), out_type)

    def _fn_date_trunc(self, args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        part = args[0]
        if not isinstance(part, Literal) or not isinstance(part.value, str):
            raise ExecutionError("date_trunc: the first argument must be a string literal")
        return _date_trunc(part.value, _column_of(args[1], n), out_type)

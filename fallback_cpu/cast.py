"""CAST and TRY_CAST with DataFusion's (arrow-rs's) rules, array by array."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.columns import _from_numpy, _numpy_values, _valid_mask
from fallback_cpu.decimals import _Dec, _decimal_array, _int_divide, _rescale, _unscaled
from fallback_cpu.types import NANOS_PER_DAY, NUMBER_WHITESPACE, UNIT_NANOS, int_bounds, is_string
from planner.errors import ExecutionError

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
    nanos = (_numpy_values(arr).astype(np.int64) - _numpy_values(seconds).astype(np.int64)) * UNIT_NANOS[
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
    trimmed = pc.utf8_trim(arr, NUMBER_WHITESPACE)
    bad = _parse_valid(trimmed, _INT_PATTERN)
    digits = pc.utf8_length(pc.utf8_ltrim(pc.utf8_ltrim(trimmed, "+-"), "0"))
    bad |= np.asarray(pc.fill_null(pc.greater(digits, 38), False).to_numpy(zero_copy_only=False), bool)
    if bad.any() and not safe:
        raise _cast_failure("CAST", arr, bad, to_type)
    cleaned = _null_where(pc.utf8_ltrim(trimmed, "+"), bad)
    wide = cleaned.cast(pa.decimal128(38, 0))
    return _cast_array(wide, to_type, safe)


def _string_to_float(arr: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
    trimmed = pc.utf8_trim(arr, NUMBER_WHITESPACE)
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


def _ints_to_int(
    values: np.ndarray, valid: np.ndarray, to_type: pa.DataType, safe: bool, source: pa.Array
) -> pa.Array:
    """Integer values (int64 or Python ints) into an integer type, out-of-range → error/NULL."""
    lo, hi = int_bounds(to_type)
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
    lo, hi = int_bounds(to_type)
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
    if is_string(to_type):
        return _cast_to_string(arr, to_type)
    if is_string(t):
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
        per_day = NANOS_PER_DAY // UNIT_NANOS[to_type.unit]
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

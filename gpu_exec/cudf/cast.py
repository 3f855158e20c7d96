"""CAST and TRY_CAST on the device with DataFusion's rules (the CPU backend's, fallback_cpu.cast)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pyarrow as pa

from fallback_cpu.types import NANOS_PER_DAY, NUMBER_WHITESPACE, UNIT_NANOS, int_bounds, is_string
from gpu_exec.cudf.columns import (
    CudfColumn,
    _all_null,
    _and,
    _binop,
    _compare,
    _decimal_scalar,
    _is_nan,
    _literal_scalar,
    _not,
    _null_scalar,
    _or,
    _reinterpret,
    _reject,
    _scalar,
)
from gpu_exec.cudf.decimals import _check_precision, _exceeds, _rescale_decimal
from gpu_exec.cudf.host import _host_cast
from gpu_exec.cudf.types import (
    _INT32_MAX,
    _bool8,
    _decimal,
    _device_type,
    _digits,
    _dtype,
    _float64,
    _frac,
    _int32,
    _int64,
)
from planner.expr import Literal

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def _cast(col: CudfColumn, to_type: pa.DataType, safe: bool) -> CudfColumn:
    """CAST with DataFusion's semantics (the CPU backend's ``_cast_array`` rules)."""
    t = col.type
    if t == to_type:
        return col
    n = len(col)
    if pa.types.is_null(t):
        return _all_null(to_type, n)
    if is_string(t) and is_string(to_type):
        return CudfColumn(col.data, to_type)
    if pa.types.is_dictionary(t) or pa.types.is_dictionary(to_type):
        # On the device a dictionary column is its decoded values (see _prepare_for_upload).
        value_type = to_type.value_type if pa.types.is_dictionary(to_type) else to_type
        return CudfColumn(
            _cast(
                CudfColumn(col.data, t.value_type if pa.types.is_dictionary(t) else t), value_type, safe
            ).data,
            to_type,
        )
    if is_string(to_type):
        return _to_string(col, to_type, safe)
    if is_string(t):
        if pa.types.is_integer(to_type):
            return CudfColumn(_string_to_int(col, to_type, safe), to_type)
        # host round-trip: arrow-rs's string → float/decimal/date/timestamp/bool parsers accept
        # exact shapes (rounding extra decimal digits, 'inf'/'nan' spellings, YYYYMMDD dates,
        # t/yes/on booleans) that cuDF's converters don't reproduce.
        return _host_cast(col, to_type, safe)
    if pa.types.is_boolean(t) and (pa.types.is_decimal(to_type) or pa.types.is_integer(to_type)):
        as_int = CudfColumn(plc.unary.cast(col.data, _int64()), pa.int64())
        return _cast(as_int, to_type, safe)
    if pa.types.is_decimal(to_type):
        if pa.types.is_decimal(t):
            return CudfColumn(_decimal_to_decimal(col.data, _digits(t), to_type, safe), to_type)
        if pa.types.is_integer(t):
            unscaled = plc.unary.cast(col.data, _decimal(0))
            return CudfColumn(_decimal_to_decimal(unscaled, _digits(t), to_type, safe), to_type)
        if pa.types.is_floating(t):
            return CudfColumn(_float_to_decimal(col, to_type, safe), to_type)
    if pa.types.is_integer(to_type):
        if pa.types.is_decimal(t):
            # Truncates toward zero (a libcudf cast to fewer digits truncates), then the
            # range check at scale 0.
            whole = plc.unary.cast(col.data, _decimal(0))
            lo, hi = int_bounds(to_type)
            Op = plc.binaryop.BinaryOperator
            bad = _or(
                _compare(whole, _decimal_scalar(lo, 0), Op.LESS),
                _compare(whole, _decimal_scalar(hi, 0), Op.GREATER),
            )
            whole = _reject(
                whole, bad, safe, lambda v: f"CAST: value {v} of type {t} is out of range for {to_type}"
            )
            return CudfColumn(plc.unary.cast(whole, _device_type(to_type)), to_type)
        if pa.types.is_floating(t):
            return CudfColumn(_float_to_int(col, to_type, safe), to_type)
        if pa.types.is_integer(t):
            return CudfColumn(_int_to_int(col, to_type, safe), to_type)
    if pa.types.is_floating(to_type) and (
        pa.types.is_decimal(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    ):
        return CudfColumn(plc.unary.cast(col.data, _device_type(to_type)), to_type)
    if pa.types.is_boolean(to_type) and (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return CudfColumn(plc.unary.cast(col.data, _bool8()), to_type)  # non-zero is true
    if pa.types.is_date32(to_type) and pa.types.is_timestamp(t):
        # A timestamp → days cast floors (1969-12-31 23:00 → 1969-12-31), as DataFusion.
        return CudfColumn(plc.unary.cast(col.data, _device_type(to_type)), to_type)
    if pa.types.is_timestamp(to_type) and pa.types.is_date32(t):
        per_day = NANOS_PER_DAY // UNIT_NANOS[to_type.unit]
        limit = (2**63 - 1) // per_day
        data = col.data
        if limit < _INT32_MAX:  # only nanoseconds can't hold every date32
            days = plc.unary.bit_cast(data, _int32())
            Op = plc.binaryop.BinaryOperator
            bad = _or(
                _compare(days, _scalar(limit, _int32()), Op.GREATER),
                _compare(days, _scalar(-limit, _int32()), Op.LESS),
            )
            data = _reject(data, bad, safe, lambda v: f"CAST: {v} is out of range for {to_type}")
        return CudfColumn(plc.unary.cast(data, _device_type(to_type)), to_type)
    if _device_type(t) == _device_type(to_type) and not pa.types.is_decimal(to_type):
        return CudfColumn(col.data, to_type)  # only the label differs (e.g. a timezone)
    # host round-trip: the remaining casts (timestamp unit changes, durations, times) follow
    # pyarrow's checked conversions on the CPU; libcudf's casts would truncate silently.
    return _host_cast(col, to_type, safe)


def _decimal_to_decimal(col: plc.Column, digits: int, to_type: pa.DataType, safe: bool) -> plc.Column:
    """``col`` (DECIMAL128, at most ``digits`` digits) cast to decimal ``to_type``."""
    frac, to_frac = _frac(col), int(to_type.scale)
    room = int(to_type.precision) - to_frac
    if to_frac >= frac:
        # Check before scaling up, so an out-of-range value can't wrap around 128 bits first.
        if digits - frac > room:
            col = _reject(
                col, _exceeds(col, room), safe, lambda v: f"CAST: {v} is too large to store in a {to_type}"
            )
        return _rescale_decimal(col, to_frac)
    rounded = _rescale_decimal(col, to_frac)
    if digits - frac >= room:  # rounding can carry into one more digit (9.96 → 10.0)
        rounded = _check_precision(rounded, to_type, safe, "CAST")
    return rounded


def _int_to_int(col: CudfColumn, to_type: pa.DataType, safe: bool) -> plc.Column:
    src = col.data.type()
    slo, shi = int_bounds(col.type)
    lo, hi = int_bounds(to_type)
    checks = []
    if lo > slo:
        checks.append(_compare(col.data, _scalar(lo, src), plc.binaryop.BinaryOperator.LESS))
    if hi < shi:
        checks.append(_compare(col.data, _scalar(hi, src), plc.binaryop.BinaryOperator.GREATER))
    bad = functools.reduce(_or, checks) if checks else None
    data = _reject(
        col.data, bad, safe, lambda v: f"CAST: value {v} of type {col.type} is out of range for {to_type}"
    )
    return plc.unary.cast(data, _device_type(to_type))


def _float_to_int(col: CudfColumn, to_type: pa.DataType, safe: bool) -> plc.Column:
    # DataFusion truncates toward zero; NaN, ±inf and values whose truncation is out of range
    # fail. trunc(x) < lo  ⟺  x <= lo - 1 (exactly representable below 2**53; for int64 the
    # float spacing makes x < lo the same test).
    x = plc.unary.cast(col.data, _float64())
    lo, hi = int_bounds(to_type)
    Op = plc.binaryop.BinaryOperator
    below = float(lo) - 1.0
    if below == float(lo):
        bad_low = _compare(x, _scalar(float(lo), _float64()), Op.LESS)
    else:
        bad_low = _compare(x, _scalar(below, _float64()), Op.LESS_EQUAL)
    bad_high = _compare(x, _scalar(float(hi) + 1.0, _float64()), Op.GREATER_EQUAL)
    bad = _or(_or(_is_nan(x), bad_low), bad_high)
    x = _reject(x, bad, safe, lambda v: f"CAST: can't cast value {v} to type {to_type}")
    return plc.unary.cast(x, _device_type(to_type))  # float → int truncates toward zero (NOTES.md, 'Casts')


def _float_to_decimal(col: CudfColumn, to_type: pa.DataType, safe: bool) -> plc.Column:
    # arrow-rs: (x * 10^scale).round() in f64, half away from zero, then the precision check.
    # libcudf's float → decimal cast truncates (NOTES.md, 'Decimal scales'), so round first and
    # cast an integer-valued float: the unscaled values, read back at the planned scale.
    Op = plc.binaryop.BinaryOperator
    frac = int(to_type.scale)
    x = plc.unary.cast(col.data, _float64())
    scaled = _binop(x, _scalar(10.0**frac, _float64()), Op.MUL, _float64())
    scaled = plc.round.round(scaled, 0, plc.round.RoundingMethod.HALF_UP)
    limit = float(10 ** int(to_type.precision))
    too_big = _or(
        _compare(scaled, _scalar(limit, _float64()), Op.GREATER_EQUAL),
        _compare(scaled, _scalar(-limit, _float64()), Op.LESS_EQUAL),
    )
    bad = _or(_is_nan(scaled), too_big)
    scaled = _reject(scaled, bad, safe, lambda v: f"CAST: cannot cast {v} to {to_type}")
    unscaled = plc.unary.cast(scaled, _decimal(0))
    return _reinterpret(unscaled, _decimal(frac))


def _string_to_int(col: CudfColumn, to_type: pa.DataType, safe: bool) -> plc.Column:
    # arrow-rs accepts surrounding whitespace and one leading sign, digits only ('1e2', '12.5'
    # fail); cuDF's to_integers yields garbage for such strings, so validate first (NOTES.md, 'Casts').
    # The whitespace arrow-rs skips (strip(None) would also remove control characters).
    trimmed = plc.strings.strip.strip(col.data, plc.strings.SideType.BOTH,
                                      _scalar(NUMBER_WHITESPACE, _dtype(plc.TypeId.STRING)))
    program = plc.strings.regex_program.RegexProgram.create(
        r"^[+-]?[0-9]+$", plc.strings.regex_flags.RegexFlags.DEFAULT
    )
    shaped = plc.strings.contains.matches_re(trimmed, program)
    unsigned = plc.strings.strip.strip(
        trimmed, plc.strings.SideType.LEFT, _scalar("+", _dtype(plc.TypeId.STRING))
    )
    fits = plc.strings.convert.convert_integers.is_integer(unsigned, _device_type(to_type))
    bad = _not(_and(shaped, fits))
    cleaned = _reject(
        unsigned, bad, safe, lambda v: f"CAST: cannot cast {v!r} of type {col.type} to {to_type}"
    )
    return plc.strings.convert.convert_integers.to_integers(cleaned, _device_type(to_type))


def _to_string(col: CudfColumn, to_type: pa.DataType, safe: bool) -> CudfColumn:
    t = col.type
    string = _dtype(plc.TypeId.STRING)
    if pa.types.is_integer(t):
        return CudfColumn(plc.strings.convert.convert_integers.from_integers(col.data), to_type)
    if pa.types.is_boolean(t):
        out = plc.strings.convert.convert_booleans.from_booleans(
            col.data, _scalar("true", string), _scalar("false", string)
        )
        return CudfColumn(out, to_type)
    if pa.types.is_date32(t):
        names = plc.column_factories.make_empty_column(plc.TypeId.STRING)
        out = plc.strings.convert.convert_datetime.from_timestamps(col.data, "%Y-%m-%d", names)
        return CudfColumn(out, to_type)
    if pa.types.is_decimal(t):
        # Every fractional digit of the scale is written ('-0.05', '0.00'), as arrow-rs does.
        return CudfColumn(plc.strings.convert.convert_fixed_point.from_fixed_point(col.data), to_type)
    # host round-trip: arrow-rs writes floats in ryu's shortest form ('1e20', '1.0') and
    # timestamps with 0/3/6/9 fraction digits chosen per value; cuDF's formatters differ.
    return _host_cast(col, to_type, safe)


def _literal_as(lit: Literal, t: pa.DataType) -> plc.Scalar:
    """A literal as a scalar of type ``t`` (CAST semantics when the types differ)."""
    scalar = _literal_scalar(lit)
    if lit.dtype == t or (_device_type(lit.dtype) == _device_type(t) and not pa.types.is_decimal(t)):
        return scalar
    if lit.value is None:
        return _null_scalar(_device_type(t))
    column = CudfColumn(plc.Column.from_scalar(scalar, 1), lit.dtype)
    return _cast(column, t, safe=False).data.to_scalar()

"""DECIMAL128 arithmetic at DataFusion's scales, with the precision checks libcudf lacks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import pyarrow as pa

from fallback_cpu.types import operand_type
from gpu_exec.cudf.columns import (
    CudfColumn,
    Operand,
    _binop,
    _broadcast_device,
    _cast_scalar,
    _check_no_zero_divisor,
    _compare,
    _decimal_scalar,
    _max_abs,
    _null_scalar,
    _or,
    _quantize,
    _reject,
)
from gpu_exec.cudf.host import _cpu_kernels, _host_operand, _upload_array
from gpu_exec.cudf.types import _DECIMAL_CONTEXT, _MAX_DIGITS, _decimal, _digits, _frac
from planner.errors import ExecutionError
from planner.expr import BinaryOperator, Literal

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def _exceeds(col: plc.Column, int_digits: int) -> plc.Column | None:
    """BOOL8 ``|x| >= 10**int_digits`` for a DECIMAL128 column, or None when no value of the
    column can be that large."""
    frac = _frac(col)
    if int_digits + frac > _MAX_DIGITS or int_digits < -frac:
        return None
    bound = Decimal(10) ** int_digits
    high = _compare(col, _decimal_scalar(bound, frac), plc.binaryop.BinaryOperator.GREATER_EQUAL)
    low = _compare(col, _decimal_scalar(-bound, frac), plc.binaryop.BinaryOperator.LESS_EQUAL)
    return _or(high, low)


def _check_precision(col: plc.Column, t: pa.DataType, safe: bool, what: str) -> plc.Column:
    """A DECIMAL128 column at ``t``'s scale, its values beyond ``t``'s precision rejected (libcudf
    has no precision and wraps silently: NOTES.md, 'Decimal scales')."""
    bad = _exceeds(col, int(t.precision) - int(t.scale))
    return _reject(col, bad, safe, lambda v: f"{what}: {v} is too large to store in a {t}")


def _rescale_decimal(col: plc.Column, to_frac: int) -> plc.Column:
    """A DECIMAL128 column at ``to_frac`` fractional digits: more digits are exact, fewer round
    half away from zero (DataFusion; a libcudf cast would truncate: NOTES.md, 'Decimal scales')."""
    frac = _frac(col)
    if to_frac < frac:
        col = plc.round.round(col, to_frac, plc.round.RoundingMethod.HALF_UP)
    if col.type() != _decimal(to_frac):
        col = plc.unary.cast(col, _decimal(to_frac))
    return col


@dataclass(frozen=True, slots=True)
class _DecimalOperand:
    """A decimal (or integer, read as a scale-0 decimal) operand of decimal arithmetic."""

    value: plc.Column | plc.Scalar  # DECIMAL128
    frac: int  # fractional digits
    digits: int  # most digits of the unscaled value (precision)

    @classmethod
    def of(cls, x: Operand) -> _DecimalOperand:
        t = operand_type(x)
        if not (pa.types.is_decimal(t) or pa.types.is_integer(t)):
            raise ExecutionError(f"expected a decimal or integer operand, got {t}")
        frac = int(t.scale) if pa.types.is_decimal(t) else 0
        if isinstance(x, Literal):
            if x.value is None:
                return cls(_null_scalar(_decimal(frac)), frac, 1)
            value = _quantize(x.value, frac)
            unscaled = abs(int(value.scaleb(frac, context=_DECIMAL_CONTEXT)))
            return cls(plc.Scalar.from_py(value), frac, max(len(str(unscaled)), 1))
        data = x.data if pa.types.is_decimal(t) else plc.unary.cast(x.data, _decimal(0))
        return cls(data, frac, _digits(t))

    def at(self, frac: int) -> plc.Column | plc.Scalar:
        """The value at ``frac`` fractional digits (more: exact; fewer: truncated)."""
        if frac == self.frac:
            return self.value
        if isinstance(self.value, plc.Scalar):
            return _cast_scalar(self.value, _decimal(frac))
        return plc.unary.cast(self.value, _decimal(frac))

    def actual_digits(self) -> int:
        """Digits the values really have (a column's largest magnitude), for overflow checks
        when the types alone allow more than DECIMAL128 holds."""
        if isinstance(self.value, plc.Scalar):
            return self.digits
        top = _max_abs(self.value) * 10.0**self.frac
        return min(self.digits, len(str(int(top))) + 1)  # + 1: float rounding margin


def _decimal_plan(
    op: BinaryOperator, x: _DecimalOperand, y: _DecimalOperand, out_frac: int
) -> tuple[int, int]:
    """(most digits of any 128-bit intermediate, most integer digits of the result) of
    ``x op y`` computed as _decimal_arithmetic does."""
    if op in (BinaryOperator.ADD, BinaryOperator.SUBTRACT):
        common = max(x.frac, y.frac)
        aligned = max(x.digits + common - x.frac, y.digits + common - y.frac) + 1
        return aligned + max(out_frac - common, 0), max(x.digits - x.frac, y.digits - y.frac) + 1
    if op is BinaryOperator.MULTIPLY:
        natural = x.frac + y.frac
        return x.digits + y.digits + max(out_frac - natural, 0), (x.digits - x.frac) + (y.digits - y.frac) + 1
    if op is BinaryOperator.DIVIDE:
        shift = out_frac + y.frac - x.frac
        return x.digits + max(shift, 0), (x.digits - x.frac) + y.frac  # |y| >= 10^-fy
    common = max(x.frac, y.frac)
    aligned = max(x.digits + common - x.frac, y.digits + common - y.frac)
    return aligned, min(x.digits - x.frac, y.digits - y.frac)


def _decimal_compute(op: BinaryOperator, x: _DecimalOperand, y: _DecimalOperand, out_frac: int) -> plc.Column:
    """``x op y`` at ``out_frac`` fractional digits (libcudf's result scales: NOTES.md, 'Decimal scales')."""
    Op = plc.binaryop.BinaryOperator
    if op in (BinaryOperator.ADD, BinaryOperator.SUBTRACT):
        natural = max(x.frac, y.frac)  # libcudf: min of the (negative) scales
        result = _binop(x.value, y.value, Op.ADD if op is BinaryOperator.ADD else Op.SUB, _decimal(natural))
        return _rescale_decimal(result, out_frac)
    if op is BinaryOperator.MULTIPLY:
        result = _binop(x.value, y.value, Op.MUL, _decimal(x.frac + y.frac))
        return _rescale_decimal(result, out_frac)
    _check_no_zero_divisor(y.value)
    if op is BinaryOperator.DIVIDE:
        # libcudf keeps only fx - fy fractional digits: pre-scale the dividend so the
        # quotient lands on the planned scale, truncated toward zero like arrow-rs.
        # (trunc(trunc(a / 10^k) / b) = trunc(a / (10^k b)) when the dividend loses digits.)
        dividend = x.at(out_frac + y.frac)
        return _binop(dividend, y.value, Op.DIV, _decimal(out_frac))
    # MODULO: a - trunc(a / b) * b at the common scale, then the result scale.
    common = max(x.frac, y.frac)
    a, b = x.at(common), y.at(common)
    quotient = _binop(a, b, Op.DIV, _decimal(0))
    remainder = _binop(a, _binop(quotient, b, Op.MUL, _decimal(common)), Op.SUB, _decimal(common))
    return _rescale_decimal(remainder, out_frac)


def _decimal_arithmetic(
    op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, n: int
) -> CudfColumn:
    """Decimal arithmetic of the planned type ``t`` (the CPU's exact-integer rules).

    + - → scale max(s1, s2); * → s1 + s2; / → the planned scale, truncated; % → max(s1, s2);
    then rounded half away from zero to the planned scale and checked against its precision.
    """
    x, y = _DecimalOperand.of(left), _DecimalOperand.of(right)
    out_frac = int(t.scale)
    widest, int_digits = _decimal_plan(op, x, y, out_frac)
    if widest > _MAX_DIGITS:
        x = _DecimalOperand(x.value, x.frac, x.actual_digits())
        y = _DecimalOperand(y.value, y.frac, y.actual_digits())
        widest, int_digits = _decimal_plan(op, x, y, out_frac)
    if widest > _MAX_DIGITS:
        # host round-trip: an intermediate would pass 128 bits (arrow-rs divides in 256 bits,
        # the CPU in Python integers); libcudf would wrap around silently.
        host = _cpu_kernels().binary(op, _host_operand(left), _host_operand(right), t, n)
        return _upload_array(host)
    result = _decimal_compute(op, x, y, out_frac)
    if result.size() != n:
        result = _broadcast_device(result.to_scalar(), n)
    if int_digits > int(t.precision) - out_frac:
        result = _check_precision(result, t, False, f"decimal {op.value}")
    return CudfColumn(result, t)

"""Math functions and the conditionals beyond coalesce/nullif (planner.functions), on libcudf.

Floats are computed in the result type (Float32 stays Float32, as DataFusion computes f32 math in
f32); integer and decimal arguments are cast to it first. libcudf's transcendental operators are
the CUDA math library's, whose documented error is a few units in the last place: they may differ
from DataFusion's (Rust's libm) in the last bits, as two CPUs' libms may. gcd, lcm and factorial
have no libcudf kernel and run on the CPU (capabilities.CPU_ONLY_FUNCTIONS).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from gpu_exec.cudf.cast import _cast, _literal_as
from gpu_exec.cudf.columns import (
    CudfColumn,
    Operand,
    _any_true,
    _binop,
    _broadcast,
    _column_of,
    _compare,
    _decimal_scalar,
    _float_nan_flags,
    _null_where,
    _or,
    _scalar,
    _with_nulls_of,
)
from gpu_exec.cudf.types import _bool8, _decimal, _float64, _frac, _is_float
from planner.errors import ExecutionError
from planner.expr import Literal

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def _float_arg(x: Operand, t: pa.DataType, n: int) -> plc.Column:
    """An argument on the device in the float result type ``t``."""
    return _cast(_column_of(x, n), t, safe=False).data


def _zero(dtype: plc.DataType) -> plc.Scalar:
    return _scalar(0.0, dtype)


def _wide(x: plc.Column) -> plc.Column:
    """A Float32 column as Float64: the CUDA float functions (sinf, expf, ...) are up to a few
    ulps off, while the Float64 result rounded once to Float32 is the correctly rounded value
    that Rust's f32 libm calls return."""
    return plc.unary.cast(x, _float64()) if x.type().id() == plc.TypeId.FLOAT32 else x


def _narrow(x: plc.Column, t: pa.DataType) -> CudfColumn:
    return _cast(CudfColumn(x, pa.float64()), t, safe=False) if pa.types.is_float32(t) else CudfColumn(x, t)


def _unary(
    op_name: str,
) -> Callable[[list[Operand], pa.DataType, int], CudfColumn]:
    def kernel(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
        x = _wide(_float_arg(args[0], t, n))
        return _narrow(plc.unary.unary_operation(x, plc.unary.UnaryOperator[op_name]), t)

    return kernel


def _fn_sqrt(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x = _float_arg(args[0], t, n)
    if _any_true(_compare(x, _zero(x.type()), plc.binaryop.BinaryOperator.LESS)):
        raise ExecutionError("sqrt: cannot take square root of a negative number")
    return CudfColumn(plc.unary.unary_operation(x, plc.unary.UnaryOperator.SQRT), t)


def _ln(x: plc.Column) -> plc.Column:
    return plc.unary.unary_operation(x, plc.unary.UnaryOperator.LOG)


def _fn_log(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    if len(args) == 1:
        return _fixed_log(10.0)(args, t, n)
    # Rust's x.log(base) is ln(x) / ln(base), each ln rounded to the argument's type first.
    base = _float_arg(args[0], t, n)
    x = _float_arg(args[1], t, n)
    ln_x, ln_base = _narrow(_ln(_wide(x)), t).data, _narrow(_ln(_wide(base)), t).data
    return CudfColumn(_binop(ln_x, ln_base, plc.binaryop.BinaryOperator.DIV, x.type()), t)


def _fixed_log(base: float) -> Callable[[list[Operand], pa.DataType, int], CudfColumn]:
    # libcudf has no log10 / log2: LOG_BASE (ln(x) / ln(base)) in Float64, within an ulp of them.
    def kernel(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
        x = _wide(_float_arg(args[0], t, n))
        return _narrow(_binop(x, _scalar(base, x.type()), plc.binaryop.BinaryOperator.LOG_BASE, x.type()), t)

    return kernel


def _fn_power(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    base = _float_arg(args[0], t, n)
    exponent = _float_arg(args[1], t, n)
    zero = _zero(base.type())
    bad = plc.binaryop.binary_operation(
        _compare(base, zero, Op.EQUAL), _compare(exponent, zero, Op.LESS), Op.LOGICAL_AND, _bool8()
    )
    if _any_true(bad):
        raise ExecutionError("power: zero raised to a negative power is undefined")
    return CudfColumn(_binop(base, exponent, Op.POW, base.type()), t)


def _fn_atan2(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    y, x = _wide(_float_arg(args[0], t, n)), _wide(_float_arg(args[1], t, n))
    return _narrow(_binop(y, x, plc.binaryop.BinaryOperator.ATAN2, y.type()), t)


def _fn_cot(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    # DataFusion: 1 / tan(x), the division in the argument's type after a rounded tan.
    x = _float_arg(args[0], t, n)
    tan = _narrow(plc.unary.unary_operation(_wide(x), plc.unary.UnaryOperator.TAN), t).data
    return CudfColumn(_binop(_scalar(1.0, x.type()), tan, plc.binaryop.BinaryOperator.DIV, x.type()), t)


def _times(factor32: float, factor64: float) -> Callable[[list[Operand], pa.DataType, int], CudfColumn]:
    def kernel(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
        x = _float_arg(args[0], t, n)
        factor = factor32 if pa.types.is_float32(t) else factor64
        return CudfColumn(_binop(x, _scalar(factor, x.type()), plc.binaryop.BinaryOperator.MUL, x.type()), t)

    return kernel


# Rust's to_degrees / to_radians constants, each rounded in the value's own type.
_fn_degrees = _times(float(np.float32(57.2957795130823208767981548141051703)), 180.0 / math.pi)
_fn_radians = _times(float(np.float32(math.pi) / np.float32(180.0)), math.pi / 180.0)


def _fn_signum(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    x = _float_arg(args[0], t, n)
    dtype = x.type()
    zero = _zero(dtype)
    # ±0 → +0, positive → 1, negative → -1; NaN and NULL keep x (NULL comparisons pick x).
    out = plc.copying.copy_if_else(_scalar(1.0, dtype), x, _compare(x, zero, Op.GREATER))
    out = plc.copying.copy_if_else(_scalar(-1.0, dtype), out, _compare(x, zero, Op.LESS))
    return CudfColumn(plc.copying.copy_if_else(zero, out, _compare(x, zero, Op.EQUAL)), t)


def _fn_pi(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _cast(_broadcast(Literal(math.pi, pa.float64()), n), t, safe=False)


def _trunc_float(x: plc.Column) -> plc.Column:
    # No TRUNC operator in libcudf: CEIL below zero, FLOOR elsewhere (NaN and ±0 unchanged).
    U = plc.unary.UnaryOperator
    below = _compare(x, _zero(x.type()), plc.binaryop.BinaryOperator.LESS)
    return plc.copying.copy_if_else(
        plc.unary.unary_operation(x, U.CEIL), plc.unary.unary_operation(x, U.FLOOR), below
    )


def _fn_trunc(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    source = _column_of(args[0], n)
    digits_arg = args[1] if len(args) > 1 else Literal(0, pa.int64())
    if not isinstance(digits_arg, Literal):  # capabilities places a column of digits on the CPU
        raise ExecutionError("trunc: the GPU kernel takes the number of digits as a constant")
    if digits_arg.value is None:
        return _cast(_broadcast(Literal(None, t), n), t, safe=False)
    digits = int(digits_arg.value)
    if pa.types.is_decimal(source.type):
        # A cast to fewer fractional digits truncates toward zero (fixed_point::rescaled); back
        # to the input's scale after. Negative digits are a positive libcudf scale.
        if digits >= _frac(source.data):
            return _cast(source, t, safe=False)
        cut = plc.unary.cast(source.data, _decimal(digits))
        back = plc.unary.cast(cut, source.data.type())
        return _cast(CudfColumn(back, source.type), t, safe=False)
    x = _float_arg(source, t, n)
    if digits == 0:
        return CudfColumn(_trunc_float(x), t)
    # DataFusion: (x * 10^d).trunc() / 10^d, 10^d in the value's type (Rust's powi).
    factor = float(np.float32(10.0) ** np.float32(digits)) if pa.types.is_float32(t) else 10.0**digits
    f = _scalar(factor, x.type())
    scaled = _trunc_float(_binop(x, f, Op.MUL, x.type()))
    return CudfColumn(_binop(scaled, f, Op.DIV, x.type()), t)


def _fn_isnan(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x = _column_of(args[0], n)
    if _is_float(x.data.type()):
        flags = plc.unary.is_nan(x.data)
    else:
        flags = _compare(x.data, x.data, plc.binaryop.BinaryOperator.NOT_EQUAL)  # never true
    return CudfColumn(_with_nulls_of(flags, [x.data]), pa.bool_())


def _fn_iszero(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x = _column_of(args[0], n)
    dtype = x.data.type()
    if pa.types.is_decimal(x.type):
        zero = _decimal_scalar(0, _frac(x.data))
    elif _is_float(dtype):
        zero = _zero(dtype)
    else:
        zero = _scalar(0, dtype)
    return CudfColumn(_compare(x.data, zero, plc.binaryop.BinaryOperator.EQUAL), pa.bool_())


def _fn_nanvl(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x, y = _float_arg(args[0], t, n), _float_arg(args[1], t, n)
    return CudfColumn(plc.copying.copy_if_else(y, x, _float_nan_flags(x)), t)


def _typed(x: Operand, t: pa.DataType, n: int) -> plc.Column:
    if isinstance(x, Literal):
        return plc.Column.from_scalar(_literal_as(x, t), n) if n else _cast(_column_of(x, n), t, safe=False).data
    return _cast(x, t, safe=False).data


def _fn_nvl(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    a = _typed(args[0], t, n)
    if not a.null_count():
        return CudfColumn(a, t)
    return CudfColumn(plc.replace.replace_nulls(a, _typed(args[1], t, n)), t)


def _fn_nvl2(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    present = plc.unary.is_valid(_column_of(args[0], n).data)
    return CudfColumn(plc.copying.copy_if_else(_typed(args[1], t, n), _typed(args[2], t, n), present), t)


def _extreme(args: list[Operand], t: pa.DataType, n: int, greatest: bool) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    values = [_typed(a, t, n) for a in args]
    floating = _is_float(values[0].type())
    nan_rows: plc.Column | None = None
    if floating:
        # NULL_MAX/NULL_MIN compare with '>' / '<', which NaN defeats: fold without the NaNs,
        # then put NaN back where DataFusion has it (it orders NaN above every number).
        flags = [_float_nan_flags(v) for v in values]
        values = [_null_where(v, f) for v, f in zip(values, flags)]
        nan_rows = flags[0]
        for f in flags[1:]:
            nan_rows = _or(nan_rows, f)
    acc = values[0]
    for v in values[1:]:
        acc = _binop(acc, v, Op.NULL_MAX if greatest else Op.NULL_MIN, acc.type())
    if nan_rows is not None:
        nan = _scalar(float("nan"), acc.type())
        # greatest: NaN wherever one argument is; least: only where nothing else is left.
        where = nan_rows if greatest else plc.binaryop.binary_operation(
            nan_rows, plc.unary.is_null(acc), Op.LOGICAL_AND, _bool8()
        )
        acc = plc.copying.copy_if_else(nan, acc, where)
    return CudfColumn(acc, t)


def _fn_greatest(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _extreme(args, t, n, greatest=True)


def _fn_least(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _extreme(args, t, n, greatest=False)


_ScalarFunction = Callable[[list[Operand], pa.DataType, int], CudfColumn]

NUMERIC_FUNCTION_KERNELS: dict[str, _ScalarFunction] = {
    "sqrt": _fn_sqrt,
    "cbrt": _unary("CBRT"),
    "exp": _unary("EXP"),
    "ln": _unary("LOG"),
    "log": _fn_log,
    "log10": _fixed_log(10.0),
    "log2": _fixed_log(2.0),
    "power": _fn_power,
    "sin": _unary("SIN"),
    "cos": _unary("COS"),
    "tan": _unary("TAN"),
    "cot": _fn_cot,
    "asin": _unary("ARCSIN"),
    "acos": _unary("ARCCOS"),
    "atan": _unary("ARCTAN"),
    "atan2": _fn_atan2,
    "sinh": _unary("SINH"),
    "cosh": _unary("COSH"),
    "tanh": _unary("TANH"),
    "asinh": _unary("ARCSINH"),
    "acosh": _unary("ARCCOSH"),
    "atanh": _unary("ARCTANH"),
    "degrees": _fn_degrees,
    "radians": _fn_radians,
    "trunc": _fn_trunc,
    "signum": _fn_signum,
    "pi": _fn_pi,
    "isnan": _fn_isnan,
    "iszero": _fn_iszero,
    "nanvl": _fn_nanvl,
    "nvl": _fn_nvl,
    "nvl2": _fn_nvl2,
    "greatest": _fn_greatest,
    "least": _fn_least,
}

"""Math functions and the conditionals beyond coalesce/nullif (planner.functions), on Arrow/numpy.

Floats are computed in the result type (Float32 stays Float32, as DataFusion computes f32 math in
f32); integer and decimal arguments are cast to it first. Transcendental functions come from
numpy's libm-equivalents: they may differ from DataFusion's (Rust's libm) in the last bit or two.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.cast import _cast_array
from fallback_cpu.columns import (
    Operand,
    _array,
    _column_of,
    _from_numpy,
    _literal_scalar,
    _numpy_values,
    _valid_mask,
)
from fallback_cpu.decimals import _Dec, _decimal_array, _int_divide, _mul
from planner.errors import ExecutionError
from planner.expr import Literal

_I64_MAX = 2**63 - 1


def _np_float(t: pa.DataType) -> type[np.floating]:
    return np.float32 if pa.types.is_float32(t) else np.float64


def _floats(x: Operand, t: pa.DataType, n: int) -> tuple[np.ndarray, np.ndarray]:
    """An argument as numpy values of the float result type ``t`` and its validity."""
    arr = _cast_array(_column_of(x, n), t, safe=False)
    return _numpy_values(arr, 0.0).astype(_np_float(t)), _valid_mask(arr)


def _float_result(values: np.ndarray, valid: np.ndarray, t: pa.DataType) -> pa.Array:
    return _from_numpy(values.astype(_np_float(t)), valid, t)


def _unary(
    fn: Callable[[np.ndarray], np.ndarray], wide: bool = True
) -> Callable[[list[Operand], pa.DataType, int], pa.Array]:
    """A one-argument kernel. ``wide``: a Float32 argument is computed in Float64 and rounded once
    to Float32, which gives the correctly rounded result that Rust's f32 libm calls (glibc's sinf,
    expf, ...) return; numpy's own float32 loops can be an ulp off. Not wide: the arithmetic Rust
    does in f32 itself (to_degrees, trunc, signum), done in Float32 here too."""

    def kernel(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
        values, valid = _floats(args[0], t, n)
        with np.errstate(all="ignore"):
            return _float_result(fn(values.astype(np.float64) if wide else values), valid, t)

    return kernel


def _degrees(v: np.ndarray) -> np.ndarray:
    # Rust's to_degrees: f64 multiplies by 180 / pi (rounded once), f32 by 57.29578f32.
    if v.dtype == np.float32:
        return v * np.float32(57.2957795130823208767981548141051703)
    return v * (180.0 / np.pi)


def _radians(v: np.ndarray) -> np.ndarray:
    # Rust's to_radians: pi / 180 computed in the value's own type.
    if v.dtype == np.float32:
        return v * (np.float32(np.pi) / np.float32(180.0))
    return v * (np.pi / 180.0)


def _signum(v: np.ndarray) -> np.ndarray:
    # DataFusion: 0 for ±0 (a positive zero), else Rust's signum (NaN stays NaN).
    return np.where(v == 0, np.zeros_like(v), np.sign(v))


def _fn_cot(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    # DataFusion: 1 / tan(x), the division in the argument's type after a rounded tan.
    values, valid = _floats(args[0], t, n)
    with np.errstate(all="ignore"):
        tan = np.tan(values.astype(np.float64)).astype(values.dtype)
        return _float_result(values.dtype.type(1.0) / tan, valid, t)


def _fn_sqrt(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    values, valid = _floats(args[0], t, n)
    if np.any(valid & (values < 0)):
        raise ExecutionError("sqrt: cannot take square root of a negative number")
    with np.errstate(all="ignore"):
        return _float_result(np.sqrt(values), valid, t)


def _fn_log(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    with np.errstate(all="ignore"):
        if len(args) == 1:
            values, valid = _floats(args[0], t, n)
            return _float_result(np.log10(values.astype(np.float64)), valid, t)
        # Rust's x.log(base): ln(x) / ln(base), so log(1, x) = ±inf and log(0, x) = -0.0.
        base, base_valid = _floats(args[0], t, n)
        values, valid = _floats(args[1], t, n)
        # In Float32, Rust rounds each ln to f32 before dividing.
        ln_x = np.log(values.astype(np.float64)).astype(values.dtype)
        ln_base = np.log(base.astype(np.float64)).astype(values.dtype)
        return _float_result(ln_x / ln_base, valid & base_valid, t)


def _fn_power(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    base, base_valid = _floats(args[0], t, n)
    exponent, exp_valid = _floats(args[1], t, n)
    valid = base_valid & exp_valid
    if np.any(valid & (base == 0) & (exponent < 0)):
        raise ExecutionError("power: zero raised to a negative power is undefined")
    with np.errstate(all="ignore"):
        return _float_result(np.power(base, exponent), valid, t)


def _fn_atan2(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    y, y_valid = _floats(args[0], t, n)
    x, x_valid = _floats(args[1], t, n)
    with np.errstate(all="ignore"):
        return _float_result(np.arctan2(y.astype(np.float64), x.astype(np.float64)), y_valid & x_valid, t)


def _fn_pi(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    return _cast_array(pa.array(np.full(n, np.pi)), t, safe=False)


def _digits(args: list[Operand], n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """trunc's digits as (values, validity) per row, or None for trunc(x)."""
    if len(args) < 2:
        return None
    d = _cast_array(_column_of(args[1], n), pa.int64(), safe=False)
    return _numpy_values(d, 0).astype(np.int64), _valid_mask(d)


def _fn_trunc(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    x = _column_of(args[0], n)
    digits = _digits(args, n)
    if pa.types.is_decimal(x.type):
        # Decimals keep their type: trunc(-1.75, 1) = -1.70; digits at or beyond the scale
        # change nothing, negative digits zero the tens, hundreds, ...
        dec = _Dec.of(x)
        d = digits[0] if digits is not None else np.zeros(n, np.int64)
        valid = dec.valid & (digits[1] if digits is not None else True)
        shift = np.maximum(dec.scale - d, 0)
        out = np.array(dec.values, dtype=object)
        for k in np.unique(shift):
            if k == 0:
                continue
            rows = shift == k
            unit = 10 ** int(k)
            out[rows] = _mul(_int_divide(np.array(dec.values, dtype=object)[rows], unit, "trunc"), unit)
        return _cast_array(_decimal_array(out, valid, x.type, safe=False, what="trunc"), t, safe=False)
    values, valid = _floats(x, t, n)
    if digits is None:
        return _float_result(np.trunc(values), valid, t)
    # DataFusion: (x * 10^d).trunc() / 10^d with 10^d in the value's type (Rust's powi).
    d, d_valid = digits
    factor = np.power(values.dtype.type(10.0), d.astype(values.dtype))
    with np.errstate(all="ignore"):
        out = np.where(d == 0, np.trunc(values), np.trunc(values * factor) / factor)
    return _float_result(out, valid & d_valid, t)


def _ints(x: Operand, n: int) -> tuple[np.ndarray, np.ndarray]:
    arr = _cast_array(_column_of(x, n), pa.int64(), safe=False)
    return _numpy_values(arr, 0).astype(np.int64), _valid_mask(arr)


def _unsigned_abs(v: np.ndarray) -> np.ndarray:
    # |i64::MIN| = 2^63 does not fit an int64: take magnitudes as uint64 (two's complement).
    u = v.view(np.uint64)
    return np.where(v < 0, np.uint64(0) - u, u)


def _gcd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclid's algorithm, vectorized over uint64 magnitudes."""
    a, b = a.copy(), b.copy()
    while np.any(b):
        nz = b != 0
        r = np.zeros_like(a)
        r[nz] = a[nz] % b[nz]
        a = np.where(nz, b, a)
        b = np.where(nz, r, np.uint64(0))
    return a


def _fn_gcd(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    a, a_valid = _ints(args[0], n)
    b, b_valid = _ints(args[1], n)
    valid = a_valid & b_valid
    g = _gcd(_unsigned_abs(a), _unsigned_abs(b))
    bad = valid & (g > np.uint64(_I64_MAX))
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ExecutionError(f"gcd: Signed integer overflow in GCD({a[i]}, {b[i]})")
    return _cast_array(_from_numpy(g.astype(np.int64), valid, pa.int64()), t, safe=False)


def _fn_lcm(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    a, a_valid = _ints(args[0], n)
    b, b_valid = _ints(args[1], n)
    valid = a_valid & b_valid
    ua, ub = _unsigned_abs(a), _unsigned_abs(b)
    g = _gcd(ua, ub)
    zero = (ua == 0) | (ub == 0)
    q = np.where(zero, np.uint64(0), ua // np.where(g == 0, np.uint64(1), g))
    # q * ub must stay within Int64: q <= I64_MAX // ub, checked before multiplying.
    limit = np.uint64(_I64_MAX) // np.where(ub == 0, np.uint64(1), ub)
    bad = valid & ~zero & (q > limit)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ExecutionError(f"lcm: Signed integer overflow in LCM({a[i]}, {b[i]})")
    out = np.where(zero | bad, np.uint64(0), q * ub)
    return _cast_array(_from_numpy(out.astype(np.int64), valid, pa.int64()), t, safe=False)


_FACTORIALS = np.array([1, *np.cumprod(np.arange(1, 21, dtype=np.int64))], dtype=np.int64)


def _fn_factorial(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    x, valid = _ints(args[0], n)
    if np.any(valid & (x < 0)):
        raise ExecutionError("factorial: factorial of a negative number is undefined")
    big = valid & (x > 20)
    if np.any(big):
        raise ExecutionError(f"factorial: Overflow happened on FACTORIAL({x[int(np.argmax(big))]})")
    out = _FACTORIALS[np.where(valid, x, 0)]
    return _cast_array(_from_numpy(out, valid, pa.int64()), t, safe=False)


def _fn_isnan(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    x = _column_of(args[0], n)
    if pa.types.is_floating(x.type):
        return pc.is_nan(x)  # NULL stays NULL
    return pc.if_else(pc.is_null(x), pa.scalar(None, pa.bool_()), False)


def _fn_iszero(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    x = _column_of(args[0], n)
    return pc.equal(x, pa.scalar(0, x.type) if not pa.types.is_decimal(x.type) else
                    _cast_array(pa.array([0], pa.int64()), x.type, safe=False)[0])


def _fn_nanvl(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    x = _cast_array(_column_of(args[0], n), t, safe=False)
    y = _cast_array(_column_of(args[1], n), t, safe=False)
    nan = pc.fill_null(pc.is_nan(x), False)
    return pc.if_else(nan, y, x)


def _typed(x: Operand, t: pa.DataType, n: int) -> pa.Array:
    if isinstance(x, Literal):
        scalar = _literal_scalar(x, t)
        return pa.repeat(scalar, n) if scalar.is_valid else pa.nulls(n, t)
    return _cast_array(_array(x), t, safe=False)


def _fn_nvl(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    return pc.coalesce(_typed(args[0], t, n), _typed(args[1], t, n))


def _fn_nvl2(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    present = pc.is_valid(_column_of(args[0], n))
    return pc.if_else(present, _typed(args[1], t, n), _typed(args[2], t, n))


def _extreme(args: list[Operand], t: pa.DataType, n: int, greatest: bool) -> pa.Array:
    values = [_typed(a, t, n) for a in args]
    out = (pc.max_element_wise if greatest else pc.min_element_wise)(*values, skip_nulls=True)
    if greatest and pa.types.is_floating(t):
        # Arrow skips NaN unless every value is NaN; DataFusion orders NaN above every number.
        nan_rows = np.zeros(n, dtype=bool)
        for v in values:
            nan_rows |= np.asarray(pc.fill_null(pc.is_nan(v), False).to_numpy(zero_copy_only=False), bool)
        out = pc.if_else(pa.array(nan_rows), pa.scalar(float("nan"), t), out)
    return _cast_array(_array(out), t, safe=False)


def _fn_greatest(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    return _extreme(args, t, n, greatest=True)


def _fn_least(args: list[Operand], t: pa.DataType, n: int) -> pa.Array:
    return _extreme(args, t, n, greatest=False)


_ScalarFunction = Callable[[list[Operand], pa.DataType, int], pa.Array]

NUMERIC_FUNCTION_KERNELS: dict[str, _ScalarFunction] = {
    "sqrt": _fn_sqrt,
    "cbrt": _unary(np.cbrt),
    "exp": _unary(np.exp),
    "ln": _unary(np.log),
    "log": _fn_log,
    "log10": _unary(np.log10),
    "log2": _unary(np.log2),
    "power": _fn_power,
    "sin": _unary(np.sin),
    "cos": _unary(np.cos),
    "tan": _unary(np.tan),
    "cot": _fn_cot,
    "asin": _unary(np.arcsin),
    "acos": _unary(np.arccos),
    "atan": _unary(np.arctan),
    "atan2": _fn_atan2,
    "sinh": _unary(np.sinh),
    "cosh": _unary(np.cosh),
    "tanh": _unary(np.tanh),
    "asinh": _unary(np.arcsinh),
    "acosh": _unary(np.arccosh),
    "atanh": _unary(np.arctanh),
    "degrees": _unary(_degrees, wide=False),
    "radians": _unary(_radians, wide=False),
    "trunc": _fn_trunc,
    "signum": _unary(_signum, wide=False),
    "pi": _fn_pi,
    "gcd": _fn_gcd,
    "lcm": _fn_lcm,
    "factorial": _fn_factorial,
    "isnan": _fn_isnan,
    "iszero": _fn_iszero,
    "nanvl": _fn_nanvl,
    "nvl": _fn_nvl,
    "nvl2": _fn_nvl2,
    "greatest": _fn_greatest,
    "least": _fn_least,
}

"""Device tables and columns, literals, and the small pylibcudf helpers every kernel uses."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import pyarrow as pa

from fallback_cpu.types import int_bounds, is_string, is_temporal_point
from gpu_exec.cudf.types import (
    _DECIMAL_CONTEXT,
    _bool8,
    _device_type,
    _float64,
    _frac,
    _int32,
    _int64,
    _is_float,
)
from planner.errors import ExecutionError
from planner.expr import Literal

if TYPE_CHECKING:
    from typing import ParamSpec

    import pylibcudf as plc

    _P = ParamSpec("_P")
else:
    from gpu_exec.cudf.lazy import plc


_R = TypeVar("_R")
Operand = Any  # CudfColumn | planner.expr.Literal


@dataclass(frozen=True, slots=True)
class CudfColumn:
    """A device column and the Arrow type it stands for."""

    data: plc.Column
    type: pa.DataType

    def __len__(self) -> int:
        return self.data.size()


@dataclass(frozen=True, slots=True)
class CudfTable:
    """A device table and the Arrow schema it stands for (names, precisions, timezones)."""

    table: plc.Table
    schema: pa.Schema

    def column(self, index: int) -> CudfColumn:
        return CudfColumn(self.table.columns()[index], self.schema.field(index).type)


def _kernel(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Re-raise a pylibcudf failure as ExecutionError naming the kernel (NOTES.md, 'Errors').

    MemoryError (an RMM out-of-memory) propagates untouched: the task layer spills or fails the
    task. A sticky CUDA error also arrives as RuntimeError; it is reported, never retried here.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except MemoryError:
            raise
        except (TypeError, ValueError, RuntimeError, IndexError, OverflowError, NotImplementedError) as exc:
            raise ExecutionError(f"GPU kernel {fn.__name__}: {type(exc).__name__}: {exc}") from exc

    return wrapper


def _scalar(value: Any, dtype: plc.DataType) -> plc.Scalar:
    return plc.Scalar.from_py(value, dtype)


def _null_scalar(dtype: plc.DataType) -> plc.Scalar:
    return plc.Scalar.from_py(None, dtype)


def _iota(n: int, dtype: plc.DataType | None = None) -> plc.Column:
    dtype = _int32() if dtype is None else dtype
    if n == 0:
        return plc.column_factories.make_empty_column(dtype)
    return plc.filling.sequence(n, _scalar(0, dtype), _scalar(1, dtype))


def _binop(
    lhs: plc.Column | plc.Scalar,
    rhs: plc.Column | plc.Scalar,
    op: plc.binaryop.BinaryOperator,
    out: plc.DataType,
) -> plc.Column:
    return plc.binaryop.binary_operation(lhs, rhs, op, out)


def _compare(
    lhs: plc.Column | plc.Scalar, rhs: plc.Column | plc.Scalar, op: plc.binaryop.BinaryOperator
) -> plc.Column:
    return _binop(lhs, rhs, op, _bool8())


def _or(a: plc.Column, b: plc.Column) -> plc.Column:
    """SQL OR (Kleene: NOTES.md, 'Three-valued logic')."""
    return _compare(a, b, plc.binaryop.BinaryOperator.NULL_LOGICAL_OR)


def _and(a: plc.Column, b: plc.Column) -> plc.Column:
    return _compare(a, b, plc.binaryop.BinaryOperator.NULL_LOGICAL_AND)


def _not(a: plc.Column) -> plc.Column:
    return plc.unary.unary_operation(a, plc.unary.UnaryOperator.NOT)


def _libcudf_op(name: str) -> plc.binaryop.BinaryOperator:
    return plc.binaryop.BinaryOperator[name]


def _int_op(a: plc.Column | plc.Scalar, b: plc.Column | plc.Scalar, name: str) -> plc.Column:
    return _binop(a, b, _libcudf_op(name), _int32())


def _any_true(mask: plc.Column) -> bool:
    """Is some valid row of a BOOL8 column true? (NULLs are skipped, as SQL's ANY.)"""
    if mask.size() == 0 or mask.null_count() == mask.size():
        return False
    found = plc.reduce.reduce(mask, plc.aggregation.any(), _bool8())
    return bool(found.is_valid() and found.to_py())


def _count_true(mask: plc.Column) -> int:
    if mask.size() == 0:
        return 0
    total = plc.reduce.reduce(mask, plc.aggregation.sum(), _int64())
    value = total.to_py() if total.is_valid() else 0
    return int(value or 0)


def _null_where(col: plc.Column, mask: plc.Column) -> plc.Column:
    """``col`` with NULL where ``mask`` is true (a NULL mask row keeps the value)."""
    return plc.copying.copy_if_else(_null_scalar(col.type()), col, mask)


def _keep_where(col: plc.Column, mask: plc.Column) -> plc.Column:
    """``col`` where ``mask`` is valid and true, NULL elsewhere."""
    return plc.copying.copy_if_else(col, _null_scalar(col.type()), mask)


def _with_nulls_of(result: plc.Column, sources: Sequence[plc.Column]) -> plc.Column:
    """``result`` (a fresh kernel output, offset 0) made NULL wherever a source row is NULL."""
    nullable = [s for s in sources if s.null_count()]
    if not nullable:
        return result
    mask, null_count = plc.null_mask.bitmask_and([result, *nullable])
    return result.with_mask(mask, null_count)


def _reinterpret(col: plc.Column, dtype: plc.DataType) -> plc.Column:
    """The same buffers read as another type of the same width (timestamps as integers, an
    integer-valued DECIMAL128 as its unscaled values at another scale), zero copy."""
    return plc.Column(dtype, col.size(), col.data(), col.null_mask(), col.null_count(), col.offset(), [])


def _first_where(col: plc.Column, mask: plc.Column) -> Any:
    """The first value of ``col`` where ``mask`` is true (for error messages)."""
    rows = plc.stream_compaction.apply_retention_mask(plc.Table([col]), mask)
    return plc.copying.get_element(rows.columns()[0], 0).to_py()


def _reject(col: plc.Column, bad: plc.Column | None, safe: bool, message: Callable[[Any], str]) -> plc.Column:
    """``col`` with the rows flagged ``bad`` set to NULL (TRY_CAST), or an ExecutionError naming
    the first such value (CAST)."""
    if bad is None or not _any_true(bad):
        return col
    if not safe:
        raise ExecutionError(message(_first_where(col, bad)))
    return _null_where(col, bad)


def _is_nan(col: plc.Column) -> plc.Column:
    """BOOL8 NaN flags, NULL where ``col`` is NULL."""
    return _with_nulls_of(plc.unary.is_nan(col), [col])


def _has_nan(col: plc.Column) -> bool:
    return _is_float(col.type()) and _any_true(_is_nan(col))


def _float_nan_flags(col: plc.Column) -> plc.Column:
    """BOOL8 NaN flags with NULL rows false."""
    return plc.replace.replace_nulls(plc.unary.is_nan(col), _scalar(False, _bool8()))


def _fill_false(mask: plc.Column) -> plc.Column:
    if not mask.null_count():
        return mask
    return plc.replace.replace_nulls(mask, _scalar(False, _bool8()))


def _cast_scalar(s: plc.Scalar, dtype: plc.DataType) -> plc.Scalar:
    if s.type() == dtype:
        return s
    return plc.unary.cast(plc.Column.from_scalar(s, 1), dtype).to_scalar()


def _max_abs(col: plc.Column) -> float:
    """max |x| of a numeric or decimal column, as a float (0.0 when empty or all NULL)."""
    if col.size() == 0 or col.null_count() == col.size():
        return 0.0
    magnitude = plc.unary.unary_operation(plc.unary.cast(col, _float64()), plc.unary.UnaryOperator.ABS)
    top = plc.reduce.reduce(magnitude, plc.aggregation.max(), _float64())
    value = top.to_py() if top.is_valid() else 0.0
    return float(value or 0.0)


def _quantize(value: Any, frac: int) -> Decimal:
    """A Decimal with exactly ``frac`` fractional digits, rounded half away from zero."""
    return Decimal(value).quantize(Decimal(1).scaleb(-frac), rounding=ROUND_HALF_UP, context=_DECIMAL_CONTEXT)


def _decimal_scalar(value: Any, frac: int) -> plc.Scalar:
    # from_py(Decimal) ignores any dtype and takes the scale from the exponent (cudf #20589).
    return plc.Scalar.from_py(_quantize(value, frac))


def _wrap_int(value: int, t: pa.DataType) -> int:
    """``value`` wrapped into integer type ``t`` (DataFusion's unchecked integer cast)."""
    lo, hi = int_bounds(t)
    span = hi - lo + 1
    return (int(value) - lo) % span + lo


def _check_no_zero_divisor(divisor: plc.Column | plc.Scalar) -> None:
    """libcudf's integer ÷ 0 and % 0 return garbage silently (NOTES.md, 'Integer division'): raise
    as DataFusion."""
    zero = (
        _scalar(0, divisor.type())
        if divisor.type().id() != plc.TypeId.DECIMAL128
        else _decimal_scalar(0, _frac(divisor))
    )
    if isinstance(divisor, plc.Scalar):
        if divisor.is_valid() and divisor.to_py() == 0:
            raise ExecutionError("Divide by zero error")
        return
    if _any_true(_compare(divisor, zero, plc.binaryop.BinaryOperator.EQUAL)):
        raise ExecutionError("Divide by zero error")


def _literal_scalar(lit: Literal) -> plc.Scalar:
    """A Literal as a pylibcudf scalar of its own type (always pass the dtype: NOTES.md, 'Scalars')."""
    t = lit.dtype
    value = lit.value
    if pa.types.is_interval(t):
        raise ExecutionError("an interval literal is only valid in date/timestamp arithmetic")
    dtype = _device_type(t)
    if value is None:
        return _null_scalar(dtype)
    if pa.types.is_decimal(t):
        return _decimal_scalar(value, t.scale)
    if is_temporal_point(t):
        # from_py goes through float seconds (inexact for ns); Arrow's scalar is the exact count.
        plain = pa.timestamp(t.unit) if pa.types.is_timestamp(t) else t
        return plc.Scalar.from_arrow(pa.scalar(value, type=plain))
    if pa.types.is_boolean(t):
        return _scalar(bool(value), dtype)
    if pa.types.is_floating(t):
        return _scalar(float(value), dtype)
    if pa.types.is_integer(t):
        return _scalar(int(value), dtype)
    if is_string(t):
        return _scalar(str(value), dtype)
    return plc.Scalar.from_arrow(pa.scalar(value, type=t))


def _broadcast(lit: Literal, n: int) -> CudfColumn:
    """``n`` copies of a literal (an all-NULL column for a NULL literal)."""
    scalar = _literal_scalar(lit)
    if n == 0:
        return CudfColumn(plc.column_factories.make_empty_column(scalar.type()), lit.dtype)
    return CudfColumn(plc.Column.from_scalar(scalar, n), lit.dtype)


def _column_of(x: Operand, n: int) -> CudfColumn:
    return _broadcast(x, n) if isinstance(x, Literal) else x


def _all_null(t: pa.DataType, n: int) -> CudfColumn:
    return _broadcast(Literal(None, t), n)


def _device_operand(x: Operand) -> plc.Column | plc.Scalar:
    return _literal_scalar(x) if isinstance(x, Literal) else x.data


def _broadcast_device(x: plc.Column | plc.Scalar, n: int) -> plc.Column:
    return plc.Column.from_scalar(x, n) if isinstance(x, plc.Scalar) else x


def _sized(col: plc.Column, n: int) -> plc.Column:
    return col if col.size() == n else _broadcast_device(col.to_scalar(), n)

"""The Kernels protocol on cuDF (pylibcudf, cupy for the partition hash): the GPU backend.

Representation (pylibcudf carries neither names nor Arrow's precision/timezone: PYLIBCUDF.md §1,
trap 14). A table is a :class:`CudfTable`, a ``plc.Table`` beside the ``pa.Schema`` it stands for;
a column is a :class:`CudfColumn`, a ``plc.Column`` beside its Arrow type. On the device:

- every decimal is DECIMAL128 with libcudf scale = -(Arrow scale) (§10: compute in DECIMAL128,
  whatever the planned width; the precision lives in the Arrow type and goes back to Arrow through
  ``ColumnMetadata(precision=)``);
- every string type (utf8, large_utf8, utf8_view) is STRING, date32 is TIMESTAMP_DAYS, a ``null``
  column is an all-NULL INT8, timestamps drop their timezone (kept in the Arrow type);
- index columns (join maps, sort permutations) are INT64, as on the CPU; a join's no-match is a
  NULL index (the JoinNoMatch sentinels are turned into NULLs right after the join) and
  :meth:`CudfKernels.gather` gathers NULL indices as NULL rows through
  ``OutOfBoundsPolicy.NULLIFY`` (§5, trap 4).

Semantics are DataFusion's, as the CPU backend (``fallback_cpu.arrow_kernels``) computes them;
each place where libcudf answers differently says which section of PYLIBCUDF.md forced the fix.
Where pylibcudf has no way to compute DataFusion's answer, the kernel downloads its inputs, runs
the CPU kernel and uploads the result; every such place is marked ``# host round-trip: <why>``.

pylibcudf and cupy are imported on first use, never when this module is imported: the module
imports (and type-checks) on machines without a GPU.
"""

from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import numpy as np
import pyarrow as pa

from fallback_cpu.partition_hash import ColumnBuffers, partition_ids
from planner.errors import CatalogError, ExecutionError
from planner.expr import BinaryOperator, Literal, UnaryOperator, WindowFrame, WindowFunction

if TYPE_CHECKING:
    from typing import ParamSpec

    import cupy as cp
    import pylibcudf as plc

    from fallback_cpu.arrow_kernels import ArrowKernels
    from planner.expr import WindowCall
    from planner.ir import FileFormat

    _P = ParamSpec("_P")

__all__ = ["CudfKernels", "CudfTable", "CudfColumn"]

_R = TypeVar("_R")


class _LazyModule:
    """A module imported at its first attribute access: ``import gpu_exec.cudf.kernels`` must
    work where pylibcudf cannot load (no libcudf, no GPU), and the kernels only run on a GPU."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


if not TYPE_CHECKING:
    plc = _LazyModule("pylibcudf")
    cp = _LazyModule("cupy")

Operand = Any  # CudfColumn | planner.expr.Literal

_MAX_DIGITS = 38  # DECIMAL128 holds every 38-digit value (and a little more: 2**127 ~ 1.7e38)
_DECIMAL_CONTEXT = Context(prec=100)  # quantizing 38-digit literals needs more than the default 28
_NANOS_PER_DAY = 86_400 * 10**9
_UNIT_NANOS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_INT32_MAX = 2**31 - 1
_JOIN_NO_MATCH = -(2**31)  # libcudf's JoinNoMatch sentinel (cpp/include/cudf/join/join.hpp)
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}  # decimal digits of the widest value of an integer type


# =============================================================================================
# Tables and columns
# =============================================================================================


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
    """Re-raise a pylibcudf failure as ExecutionError naming the kernel (PYLIBCUDF.md §16).

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


# =============================================================================================
# Types
# =============================================================================================


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_temporal_point(t: pa.DataType) -> bool:
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def _dtype(type_id: plc.TypeId, scale: int = 0) -> plc.DataType:
    return plc.DataType(type_id, scale)


def _bool8() -> plc.DataType:
    return _dtype(plc.TypeId.BOOL8)


def _int32() -> plc.DataType:
    return _dtype(plc.TypeId.INT32)


def _int64() -> plc.DataType:
    return _dtype(plc.TypeId.INT64)


def _float64() -> plc.DataType:
    return _dtype(plc.TypeId.FLOAT64)


def _decimal(frac: int) -> plc.DataType:
    """DECIMAL128 with ``frac`` fractional digits: libcudf's scale is the negated Arrow scale
    (PYLIBCUDF.md §10, trap 1)."""
    return _dtype(plc.TypeId.DECIMAL128, -frac)


def _device_type(t: pa.DataType) -> plc.DataType:
    """The pylibcudf type that holds an Arrow type on the device (see the module docstring)."""
    if pa.types.is_decimal(t):
        if t.precision > _MAX_DIGITS:
            raise ExecutionError(f"{t} has more digits than the GPU's DECIMAL128 holds")
        return _decimal(t.scale)
    if _is_string(t):
        return _dtype(plc.TypeId.STRING)
    if pa.types.is_dictionary(t):
        return _device_type(t.value_type)
    if pa.types.is_null(t):
        return _dtype(plc.TypeId.INT8)
    if pa.types.is_date32(t):
        return _dtype(plc.TypeId.TIMESTAMP_DAYS)
    if pa.types.is_date64(t):
        return _dtype(plc.TypeId.TIMESTAMP_MILLISECONDS)
    if pa.types.is_timestamp(t):
        return plc.DataType.from_arrow(pa.timestamp(t.unit))  # the timezone stays in the label
    if pa.types.is_interval(t):
        raise ExecutionError(f"{t} columns are not supported on the GPU (intervals are literals only)")
    return plc.DataType.from_arrow(t)


def _arrow_label(dtype: plc.DataType) -> pa.DataType:
    """The Arrow type a raw kernel result stands for (decimals at full precision)."""
    tid = dtype.id()
    if tid in (plc.TypeId.DECIMAL32, plc.TypeId.DECIMAL64, plc.TypeId.DECIMAL128):
        return pa.decimal128(_MAX_DIGITS, max(-dtype.scale(), 0))
    if tid == plc.TypeId.STRING:
        return pa.string()
    if tid == plc.TypeId.TIMESTAMP_DAYS:
        return pa.date32()
    return dtype.to_arrow()


def _frac(col: plc.Column | plc.Scalar) -> int:
    """Fractional digits of a DECIMAL128 column or scalar."""
    return -col.type().scale()


def _digits(t: pa.DataType) -> int:
    """Most decimal digits an unscaled value of ``t`` (decimal or integer) can have."""
    if pa.types.is_decimal(t):
        return int(t.precision)
    if pa.types.is_boolean(t):
        return 1
    if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        return 20
    return _INT_DIGITS[t.bit_width]


def _int_bounds(t: pa.DataType) -> tuple[int, int]:
    info = np.iinfo(t.to_pandas_dtype())
    return int(info.min), int(info.max)


def _operand_type(x: Operand) -> pa.DataType:
    return x.dtype if isinstance(x, Literal) else x.type


# =============================================================================================
# Small pylibcudf helpers
# =============================================================================================


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
    """SQL OR (three-valued, trap 5)."""
    return _compare(a, b, plc.binaryop.BinaryOperator.NULL_LOGICAL_OR)


def _and(a: plc.Column, b: plc.Column) -> plc.Column:
    return _compare(a, b, plc.binaryop.BinaryOperator.NULL_LOGICAL_AND)


def _not(a: plc.Column) -> plc.Column:
    return plc.unary.unary_operation(a, plc.unary.UnaryOperator.NOT)


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


def _is_nan(col: plc.Column) -> plc.Column:
    """BOOL8 NaN flags, NULL where ``col`` is NULL."""
    return _with_nulls_of(plc.unary.is_nan(col), [col])


def _has_nan(col: plc.Column) -> bool:
    return _is_float(col.type()) and _any_true(_is_nan(col))


def _is_float(dtype: plc.DataType) -> bool:
    return dtype.id() in (plc.TypeId.FLOAT32, plc.TypeId.FLOAT64)


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
    # from_py(Decimal) ignores any dtype and takes the scale from the exponent (§2, cudf #20589).
    return plc.Scalar.from_py(_quantize(value, frac))


def _wrap_int(value: int, t: pa.DataType) -> int:
    """``value`` wrapped into integer type ``t`` (DataFusion's unchecked integer cast)."""
    lo, hi = _int_bounds(t)
    span = hi - lo + 1
    return (int(value) - lo) % span + lo


# =============================================================================================
# Literals
# =============================================================================================


def _literal_scalar(lit: Literal) -> plc.Scalar:
    """A Literal as a pylibcudf scalar of its own type (always pass the dtype: trap 10)."""
    t = lit.dtype
    value = lit.value
    if pa.types.is_interval(t):
        raise ExecutionError("an interval literal is only valid in date/timestamp arithmetic")
    dtype = _device_type(t)
    if value is None:
        return _null_scalar(dtype)
    if pa.types.is_decimal(t):
        return _decimal_scalar(value, t.scale)
    if _is_temporal_point(t):
        # from_py goes through float seconds (inexact for ns); Arrow's scalar is the exact count.
        plain = pa.timestamp(t.unit) if pa.types.is_timestamp(t) else t
        return plc.Scalar.from_arrow(pa.scalar(value, type=plain))
    if pa.types.is_boolean(t):
        return _scalar(bool(value), dtype)
    if pa.types.is_floating(t):
        return _scalar(float(value), dtype)
    if pa.types.is_integer(t):
        return _scalar(int(value), dtype)
    if _is_string(t):
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


# =============================================================================================
# Host round-trips (through the CPU kernels)
# =============================================================================================


@functools.cache
def _arrow_kernels() -> ArrowKernels:
    from fallback_cpu.arrow_kernels import ArrowKernels

    return ArrowKernels()


def _column_metadata(field: pa.Field) -> plc.interop.ColumnMetadata:
    t = field.type
    if pa.types.is_decimal(t):
        return plc.interop.ColumnMetadata(name=field.name, precision=int(t.precision))
    if pa.types.is_timestamp(t) and t.tz is not None:
        return plc.interop.ColumnMetadata(name=field.name, timezone=str(t.tz))
    return plc.interop.ColumnMetadata(name=field.name)


def _download(table: plc.Table, schema: pa.Schema) -> pa.Table:
    """A device table as Arrow with exactly ``schema`` (§1: metadata carries names, precision
    and timezone; decimals must be DECIMAL128 to come back as decimal128)."""
    n = table.num_rows()
    if not len(schema):
        return pa.table({"_": pa.nulls(n)}).drop_columns(["_"])
    columns = []
    for col, field in zip(table.columns(), schema):
        t = field.type
        if pa.types.is_decimal(t) and col.type() != _decimal(t.scale):
            col = plc.unary.cast(col, _decimal(t.scale))
        columns.append(col)
    raw = plc.Table(columns).to_arrow(metadata=[_column_metadata(f) for f in schema])
    host = raw if isinstance(raw, pa.Table) else pa.table(raw)
    arrays = []
    for column, field in zip(host.columns, schema):
        t = field.type
        if pa.types.is_null(t):
            arrays.append(pa.nulls(n))
        elif column.type != t:
            # strings come back as utf8 (large_utf8 past 2 GiB), decimals as decimal128, dates
            # as date32: the planned type may be utf8_view, decimal64, date64 or a dictionary.
            arrays.append(column.cast(t))
        else:
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


def _host_array(col: CudfColumn) -> pa.Array:
    schema = pa.schema([pa.field("c", col.type)])
    return _download(plc.Table([col.data]), schema).column(0).combine_chunks()


def _host_operand(x: Operand) -> Any:
    return x if isinstance(x, Literal) else _host_array(x)


def _upload_array(arr: pa.Array | pa.ChunkedArray) -> CudfColumn:
    table = _upload(pa.table({"c": arr}))
    return table.column(0)


def _prepare_for_upload(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.DataType]:
    """An Arrow column in a shape pylibcudf takes, and the type it then stands for (§1: decode
    dictionaries, no null type, no date64, decimals widened to decimal128)."""
    t = column.type
    if pa.types.is_dictionary(t):
        return _prepare_for_upload(column.cast(t.value_type))
    if pa.types.is_null(t):
        return pa.chunked_array([pa.nulls(len(column), pa.int8())]), t
    if pa.types.is_date64(t):
        return column.cast(pa.timestamp("ms")), t
    if pa.types.is_decimal(t) and t.bit_width != 128:
        if t.precision > _MAX_DIGITS:
            raise ExecutionError(f"{t} has more digits than the GPU's DECIMAL128 holds")
        return column.cast(pa.decimal128(t.precision, t.scale)), t
    return column, t


def _upload(table: pa.Table) -> CudfTable:
    n = table.num_rows
    if not table.num_columns:
        return CudfTable(plc.Table([], num_rows=n), table.schema)
    arrays, fields = [], []
    for column, field in zip(table.columns, table.schema):
        prepared, t = _prepare_for_upload(column)
        arrays.append(prepared)
        fields.append(pa.field(field.name, t, field.nullable))
    schema = pa.schema(fields)
    if n == 0:
        return _empty(schema)
    device = plc.Table.from_arrow(pa.Table.from_arrays(arrays, names=[f.name for f in fields]))
    return CudfTable(device, schema)


def _parquet_compression(name: str | None) -> plc.io.types.CompressionType:
    """pyarrow's compression name → libcudf's; the names are those of
    ``gpu_exec.cudf.capabilities.GPU_PARQUET_COMPRESSIONS`` (others are placed on the CPU)."""
    kinds = {
        "snappy": plc.io.types.CompressionType.SNAPPY,
        "zstd": plc.io.types.CompressionType.ZSTD,
        "lz4": plc.io.types.CompressionType.LZ4,
        "none": plc.io.types.CompressionType.NONE,
    }
    return kinds[name or "snappy"]


def _empty(schema: pa.Schema) -> CudfTable:
    columns = [plc.column_factories.make_empty_column(_device_type(f.type)) for f in schema]
    return CudfTable(plc.Table(columns, num_rows=0), schema)


def _host_cast(col: CudfColumn, to_type: pa.DataType, safe: bool) -> CudfColumn:
    # host round-trip: the caller names the DataFusion cast rule libcudf has no kernel for.
    return _upload_array(_arrow_kernels().cast(_host_array(col), to_type, safe))


def _host_scalar_function(name: str, args: Sequence[Operand], out_type: pa.DataType, n: int) -> CudfColumn:
    # host round-trip: the caller names the argument shape libcudf has no kernel for.
    host_args = [_host_operand(a) for a in args]
    return _upload_array(_arrow_kernels().scalar_function(name, host_args, out_type, n))


# =============================================================================================
# CAST
# =============================================================================================


def _reject(col: plc.Column, bad: plc.Column | None, safe: bool, message: Callable[[Any], str]) -> plc.Column:
    """``col`` with the rows flagged ``bad`` set to NULL (TRY_CAST), or an ExecutionError naming
    the first such value (CAST)."""
    if bad is None or not _any_true(bad):
        return col
    if not safe:
        raise ExecutionError(message(_first_where(col, bad)))
    return _null_where(col, bad)


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
    has no precision and wraps silently: §10)."""
    bad = _exceeds(col, int(t.precision) - int(t.scale))
    return _reject(col, bad, safe, lambda v: f"{what}: {v} is too large to store in a {t}")


def _rescale_decimal(col: plc.Column, to_frac: int) -> plc.Column:
    """A DECIMAL128 column at ``to_frac`` fractional digits: more digits are exact, fewer round
    half away from zero (DataFusion; a libcudf cast would truncate: §10)."""
    frac = _frac(col)
    if to_frac < frac:
        col = plc.round.round(col, to_frac, plc.round.RoundingMethod.HALF_UP)
    if col.type() != _decimal(to_frac):
        col = plc.unary.cast(col, _decimal(to_frac))
    return col


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
    slo, shi = _int_bounds(col.type)
    lo, hi = _int_bounds(to_type)
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
    lo, hi = _int_bounds(to_type)
    Op = plc.binaryop.BinaryOperator
    below = float(lo) - 1.0
    if below == float(lo):
        bad_low = _compare(x, _scalar(float(lo), _float64()), Op.LESS)
    else:
        bad_low = _compare(x, _scalar(below, _float64()), Op.LESS_EQUAL)
    bad_high = _compare(x, _scalar(float(hi) + 1.0, _float64()), Op.GREATER_EQUAL)
    bad = _or(_or(_is_nan(x), bad_low), bad_high)
    x = _reject(x, bad, safe, lambda v: f"CAST: can't cast value {v} to type {to_type}")
    return plc.unary.cast(x, _device_type(to_type))  # float → int truncates toward zero (§9)


def _float_to_decimal(col: CudfColumn, to_type: pa.DataType, safe: bool) -> plc.Column:
    # arrow-rs: (x * 10^scale).round() in f64, half away from zero, then the precision check.
    # libcudf's float → decimal cast truncates (§10), so round first and cast an integer-valued
    # float: the unscaled values, read back at the planned scale.
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
    # fail); cuDF's to_integers yields garbage for such strings, so validate first (§9).
    trimmed = plc.strings.strip.strip(col.data, plc.strings.SideType.BOTH, None)
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


def _cast(col: CudfColumn, to_type: pa.DataType, safe: bool) -> CudfColumn:
    """CAST with DataFusion's semantics (the CPU backend's ``_cast_array`` rules)."""
    t = col.type
    if t == to_type:
        return col
    n = len(col)
    if pa.types.is_null(t):
        return _all_null(to_type, n)
    if _is_string(t) and _is_string(to_type):
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
    if _is_string(to_type):
        return _to_string(col, to_type, safe)
    if _is_string(t):
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
            # Truncates toward zero (a libcudf cast to fewer digits truncates: §10), then the
            # range check at scale 0.
            whole = plc.unary.cast(col.data, _decimal(0))
            lo, hi = _int_bounds(to_type)
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
        # A timestamp → days cast floors (1969-12-31 23:00 → 1969-12-31), as DataFusion (§9).
        return CudfColumn(plc.unary.cast(col.data, _device_type(to_type)), to_type)
    if pa.types.is_timestamp(to_type) and pa.types.is_date32(t):
        per_day = _NANOS_PER_DAY // _UNIT_NANOS[to_type.unit]
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


# =============================================================================================
# Binary arithmetic
# =============================================================================================

_COMPARE_OPS = {
    BinaryOperator.EQ: "EQUAL",
    BinaryOperator.NOT_EQ: "NOT_EQUAL",
    BinaryOperator.LT: "LESS",
    BinaryOperator.LT_EQ: "LESS_EQUAL",
    BinaryOperator.GT: "GREATER",
    BinaryOperator.GT_EQ: "GREATER_EQUAL",
}
_ARITHMETIC_OPS = {
    BinaryOperator.ADD: "ADD",
    BinaryOperator.SUBTRACT: "SUB",
    BinaryOperator.MULTIPLY: "MUL",
    BinaryOperator.DIVIDE: "DIV",  # integer DIV with an integer output truncates toward zero (§9)
    BinaryOperator.MODULO: "MOD",  # C++ %: the dividend's sign, as SQL; fmod for floats
}


def _libcudf_op(name: str) -> plc.binaryop.BinaryOperator:
    return plc.binaryop.BinaryOperator[name]


def _device_operand(x: Operand) -> plc.Column | plc.Scalar:
    return _literal_scalar(x) if isinstance(x, Literal) else x.data


def _comparable(
    left: Operand, right: Operand, n: int
) -> tuple[plc.Column | plc.Scalar, plc.Column | plc.Scalar]:
    """Operands of a comparison with types libcudf compares correctly: a decimal against an
    integer compares as decimals, a decimal against a float as floats (§5, §9: libcudf's
    decimal-vs-float comparison gives wrong answers)."""
    lt, rt = _operand_type(left), _operand_type(right)
    a, b = _device_operand(left), _device_operand(right)

    def as_type(x: plc.Column | plc.Scalar, dtype: plc.DataType) -> plc.Column | plc.Scalar:
        if x.type() == dtype:
            return x
        return _cast_scalar(x, dtype) if isinstance(x, plc.Scalar) else plc.unary.cast(x, dtype)

    if pa.types.is_decimal(lt) != pa.types.is_decimal(rt):
        other = rt if pa.types.is_decimal(lt) else lt
        if pa.types.is_floating(other):
            a, b = as_type(a, _float64()), as_type(b, _float64())
        elif pa.types.is_integer(other):
            a = as_type(a, _decimal(0)) if pa.types.is_integer(lt) else a
            b = as_type(b, _decimal(0)) if pa.types.is_integer(rt) else b
    return a, b


def _broadcast_device(x: plc.Column | plc.Scalar, n: int) -> plc.Column:
    return plc.Column.from_scalar(x, n) if isinstance(x, plc.Scalar) else x


def _operand_has_nan(x: plc.Column | plc.Scalar) -> bool:
    if not _is_float(x.type()):
        return False
    if isinstance(x, plc.Scalar):
        value = x.to_py() if x.is_valid() else None
        return isinstance(value, float) and math.isnan(value)
    return _has_nan(x)


def _compare_with_nan(op: BinaryOperator, a: plc.Column, b: plc.Column) -> plc.Column:
    """A float comparison as DataFusion does it: NaN equals NaN and is above every number (IEEE,
    and libcudf's binary ops, answer false to every comparison with a NaN)."""
    a_nan, b_nan = _is_nan(a), _is_nan(b)
    # Where a NaN is involved the answer depends only on which sides are NaN (NaN is the top).
    by_nan = _compare(
        plc.unary.cast(a_nan, _dtype(plc.TypeId.INT8)),
        plc.unary.cast(b_nan, _dtype(plc.TypeId.INT8)),
        _libcudf_op(_COMPARE_OPS[op]),
    )
    # LOGICAL_OR (not Kleene) is NULL when either side is: those rows take the plain comparison,
    # which is NULL there too.
    some_nan = _compare(a_nan, b_nan, plc.binaryop.BinaryOperator.LOGICAL_OR)
    plain = _compare(a, b, _libcudf_op(_COMPARE_OPS[op]))
    return plc.copying.copy_if_else(by_nan, plain, some_nan)


def _comparison(op: BinaryOperator, left: Operand, right: Operand, n: int) -> plc.Column:
    a, b = _comparable(left, right, n)
    if _operand_has_nan(a) or _operand_has_nan(b):
        return _compare_with_nan(op, _broadcast_device(a, n), _broadcast_device(b, n))
    result = _compare(a, b, _libcudf_op(_COMPARE_OPS[op]))
    return result if result.size() == n else _broadcast_device(result.to_scalar(), n)


def _not_distinct(left: Operand, right: Operand, n: int) -> plc.Column:
    """IS NOT DISTINCT FROM: NULL equals NULL, never NULL; NaN equals NaN (DataFusion)."""
    a, b = _comparable(left, right, n)
    a, b = _broadcast_device(a, n), _broadcast_device(b, n)
    same = _compare(a, b, plc.binaryop.BinaryOperator.NULL_EQUALS)
    if _operand_has_nan(a) and _operand_has_nan(b):
        both_nan = _compare(_float_nan_flags(a), _float_nan_flags(b), plc.binaryop.BinaryOperator.LOGICAL_AND)
        same = _compare(same, both_nan, plc.binaryop.BinaryOperator.LOGICAL_OR)
    return same


def _check_no_zero_divisor(divisor: plc.Column | plc.Scalar) -> None:
    """libcudf's integer ÷ 0 and % 0 return garbage silently (§9, trap 6): raise as DataFusion."""
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


def _integer_operand(x: Operand, t: pa.DataType) -> plc.Column | plc.Scalar:
    """An integer operand in type ``t``, wrapped like DataFusion's unchecked integer cast."""
    dtype = _device_type(t)
    if isinstance(x, Literal):
        if x.value is None:
            return _null_scalar(dtype)
        return _scalar(_wrap_int(int(x.value), t), dtype)
    return x.data if x.data.type() == dtype else plc.unary.cast(x.data, dtype)


def _integer_arithmetic(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType) -> plc.Column:
    a, b = _integer_operand(left, t), _integer_operand(right, t)
    dtype = _device_type(t)
    if op in (BinaryOperator.DIVIDE, BinaryOperator.MODULO):
        _check_no_zero_divisor(b)
        if pa.types.is_signed_integer(t) and _min_over_minus_one(a, b, t):
            # MIN / -1 overflows: undefined behaviour in C++, garbage on the GPU.
            raise ExecutionError(f"Arithmetic overflow: {_int_bounds(t)[0]} {op.value} -1")
    return _binop(a, b, _libcudf_op(_ARITHMETIC_OPS[op]), dtype)


def _min_over_minus_one(a: plc.Column | plc.Scalar, b: plc.Column | plc.Scalar, t: pa.DataType) -> bool:
    """Does some row divide the type's smallest value by -1?"""
    lo, _ = _int_bounds(t)
    Op = plc.binaryop.BinaryOperator

    def flags(x: plc.Column | plc.Scalar, value: int) -> plc.Column | bool:
        if isinstance(x, plc.Scalar):
            return bool(x.is_valid() and x.to_py() == value)
        return _compare(x, _scalar(value, x.type()), Op.EQUAL)

    is_min, minus_one = flags(a, lo), flags(b, -1)
    if isinstance(is_min, bool):
        return is_min and (minus_one if isinstance(minus_one, bool) else _any_true(minus_one))
    if isinstance(minus_one, bool):
        return minus_one and _any_true(is_min)
    return _any_true(_and(is_min, minus_one))


def _float_operand(x: Operand, t: pa.DataType) -> plc.Column | plc.Scalar:
    if isinstance(x, Literal):
        dtype = _device_type(t)
        return _null_scalar(dtype) if x.value is None else _scalar(float(x.value), dtype)
    return _cast(x, t, safe=False).data


def _float_arithmetic(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType) -> plc.Column:
    # IEEE on the GPU, as DataFusion: x/0.0 → ±inf, 0/0 → NaN, % is fmod.
    a, b = _float_operand(left, t), _float_operand(right, t)
    return _binop(a, b, _libcudf_op(_ARITHMETIC_OPS[op]), _device_type(t))


@dataclass(frozen=True, slots=True)
class _DecimalOperand:
    """A decimal (or integer, read as a scale-0 decimal) operand of decimal arithmetic."""

    value: plc.Column | plc.Scalar  # DECIMAL128
    frac: int  # fractional digits
    digits: int  # most digits of the unscaled value (precision)

    @classmethod
    def of(cls, x: Operand) -> _DecimalOperand:
        t = _operand_type(x)
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
    """``x op y`` at ``out_frac`` fractional digits (PYLIBCUDF.md §10 scale rules)."""
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
        # libcudf keeps only fx - fy fractional digits (trap 7): pre-scale the dividend so the
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
        # the CPU in Python integers); libcudf would wrap around silently (§10).
        host = _arrow_kernels().binary(op, _host_operand(left), _host_operand(right), t, n)
        return _upload_array(host)
    result = _decimal_compute(op, x, y, out_frac)
    if result.size() != n:
        result = _broadcast_device(result.to_scalar(), n)
    if int_digits > int(t.precision) - out_frac:
        result = _check_precision(result, t, False, f"decimal {op.value}")
    return CudfColumn(result, t)


def _interval_parts(lit: Literal) -> tuple[int, int, int]:
    months, days, nanos = lit.value
    return int(months), int(days), int(nanos)


def _trunc_div(value: int, by: int) -> int:
    q = abs(value) // by
    return -q if value < 0 else q


def _add_interval(points: CudfColumn, parts: tuple[int, int, int], sign: int) -> plc.Column:
    """date/timestamp ± MonthDayNano in DataFusion's order: months (day clamped to the month's
    end, time of day kept: add_calendrical_months, §12), then days, then nanoseconds (for a DATE
    only whole days, truncated toward zero; for a timestamp floored to its unit)."""
    months, days, nanos = (sign * p for p in parts)
    t = points.type
    data = points.data
    if months:
        data = plc.datetime.add_calendrical_months(data, _scalar(months, _int32()))
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_date32(t):
        shift = days + _trunc_div(nanos, _NANOS_PER_DAY)
        if shift:
            data = _binop(data, _scalar(shift, _dtype(plc.TypeId.DURATION_DAYS)), Op.ADD, data.type())
        return data
    if pa.types.is_timestamp(t):
        per_ns = _UNIT_NANOS[t.unit]
        # t is a whole number of units, so floor((t·per + days·day + nanos) / per) = t + that.
        shift = (days * _NANOS_PER_DAY + nanos) // per_ns
        if shift:
            duration = plc.DataType.from_arrow(pa.duration(t.unit))
            data = _binop(data, _scalar(shift, duration), Op.ADD, data.type())
        return data
    raise ExecutionError(f"cannot add an interval to {t}")


def _temporal_arithmetic(
    op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, n: int
) -> CudfColumn:
    lt, rt = _operand_type(left), _operand_type(right)
    if pa.types.is_interval(rt) or pa.types.is_interval(lt):
        if pa.types.is_interval(lt):
            if op is not BinaryOperator.ADD:
                raise ExecutionError("only interval + date/timestamp is defined")
            left, right = right, left
        if not isinstance(right, Literal):
            raise ExecutionError("interval operands must be literals")
        if right.value is None:
            return _all_null(t, n)
        sign = 1 if op is BinaryOperator.ADD else -1
        shifted = _add_interval(_column_of(left, n), _interval_parts(right), sign)
        return _cast(CudfColumn(shifted, _operand_type(left)), t, safe=False)
    a, b = _column_of(left, n), _column_of(right, n)
    if pa.types.is_date32(lt) and pa.types.is_date32(rt) and op is BinaryOperator.SUBTRACT:
        # date - date → days as Int64 (DataFusion 55): the int32 day counts, subtracted in int64.
        days_a, days_b = plc.unary.bit_cast(a.data, _int32()), plc.unary.bit_cast(b.data, _int32())
        diff = _binop(days_a, days_b, plc.binaryop.BinaryOperator.SUB, _int64())
        return _cast(CudfColumn(diff, pa.int64()), t, safe=False)
    if pa.types.is_duration(t) or pa.types.is_timestamp(t):
        name = "SUB" if op is BinaryOperator.SUBTRACT else "ADD"
        return CudfColumn(_binop(a.data, b.data, _libcudf_op(name), _device_type(t)), t)
    # host round-trip: other date/time arithmetic shapes follow pyarrow's kernels on the CPU.
    host = _arrow_kernels().binary(op, _host_array(a), _host_array(b), t, n)
    return _upload_array(host)


def _strings_of(x: Operand, n: int) -> plc.Column:
    col = _column_of(x, n)
    return _cast(col, pa.string(), safe=False).data


# =============================================================================================
# Strings and scalar functions
# =============================================================================================


def _like_pattern(pattern: str, escape: str) -> str:
    """``pattern`` with a trailing lone escape character doubled: DataFusion reads it as a
    literal escape character ('ab\\' LIKE 'ab\\' is true)."""
    i = 0
    while i < len(pattern):
        if pattern[i] == escape:
            if i + 1 == len(pattern):
                return pattern + escape
            i += 2
        else:
            i += 1
    return pattern


_DATETIME_COMPONENTS = {
    "year": "YEAR",
    "month": "MONTH",
    "day": "DAY",
    "hour": "HOUR",
    "minute": "MINUTE",
    "second": "SECOND",  # whole seconds: DataFusion 55 returns Int32 and drops the fraction
}


def _component(d: plc.Column, name: str) -> plc.Column:
    """A datetime component as INT32 (libcudf extracts INT16: §12)."""
    part = plc.datetime.extract_datetime_component(d, plc.datetime.DatetimeComponent[name])
    return plc.unary.cast(part, _int32())


def _int_op(a: plc.Column | plc.Scalar, b: plc.Column | plc.Scalar, name: str) -> plc.Column:
    return _binop(a, b, _libcudf_op(name), _int32())


def _iso_weekday(d: plc.Column) -> plc.Column:
    """ISO day of week, Monday = 1 … Sunday = 7 (libcudf's WEEKDAY is ISO: §12)."""
    return _component(d, "WEEKDAY")


def _weeks_in_year(year: plc.Column) -> plc.Column:
    """52 or 53: a year has 53 ISO weeks when it starts on a Thursday, or is a leap year
    starting on a Wednesday — i.e. p(y) = 4 or p(y - 1) = 3 with
    p(y) = (y + y/4 - y/100 + y/400) mod 7."""

    def p(y: plc.Column) -> plc.Column:
        total = _int_op(y, _int_op(y, _scalar(4, _int32()), "DIV"), "ADD")
        total = _int_op(total, _int_op(y, _scalar(100, _int32()), "DIV"), "SUB")
        total = _int_op(total, _int_op(y, _scalar(400, _int32()), "DIV"), "ADD")
        return _int_op(total, _scalar(7, _int32()), "PYMOD")

    Op = plc.binaryop.BinaryOperator
    previous = _int_op(year, _scalar(1, _int32()), "SUB")
    long_year = _or(
        _compare(p(year), _scalar(4, _int32()), Op.EQUAL),
        _compare(p(previous), _scalar(3, _int32()), Op.EQUAL),
    )
    return plc.copying.copy_if_else(_scalar(53, _int32()), _scalar(52, _int32()), long_year)


def _iso_week(d: plc.Column) -> plc.Column:
    """ISO 8601 week number; libcudf has no kernel for it, so the textbook arithmetic:
    w = (doy - weekday + 10) / 7; w = 0 is the previous year's last week, w beyond the year's
    weeks is week 1."""
    Op = plc.binaryop.BinaryOperator
    doy = plc.unary.cast(plc.datetime.day_of_year(d), _int32())
    year = _component(d, "YEAR")
    w = _int_op(
        _int_op(_int_op(doy, _iso_weekday(d), "SUB"), _scalar(10, _int32()), "ADD"),
        _scalar(7, _int32()),
        "DIV",
    )
    # Both tests look at the raw w (a replaced 53 must not count as beyond this year's weeks).
    before = _compare(w, _scalar(1, _int32()), Op.LESS)
    beyond = _compare(w, _weeks_in_year(year), Op.GREATER)
    previous_weeks = _weeks_in_year(_int_op(year, _scalar(1, _int32()), "SUB"))
    w = plc.copying.copy_if_else(_scalar(1, _int32()), w, beyond)
    return plc.copying.copy_if_else(previous_weeks, w, before)


def _date_part(part: str, d: CudfColumn) -> plc.Column:
    part = part.lower()
    data = d.data
    if pa.types.is_date(d.type) and part in ("hour", "minute", "second"):
        data = plc.unary.cast(data, _dtype(plc.TypeId.TIMESTAMP_SECONDS))
    if part in _DATETIME_COMPONENTS:
        return _component(data, _DATETIME_COMPONENTS[part])
    if part == "quarter":
        return plc.unary.cast(plc.datetime.extract_quarter(data), _int32())
    if part == "doy":
        return plc.unary.cast(plc.datetime.day_of_year(data), _int32())
    if part == "dow":
        # DataFusion: Sunday = 0 … Saturday = 6; ISO Sunday is 7 → iso % 7.
        return _int_op(_iso_weekday(data), _scalar(7, _int32()), "MOD")
    if part == "week":
        return _iso_week(data)
    raise ExecutionError(f"date_part: unsupported part {part!r}")


def _minus_days(days: plc.Column, count: plc.Column) -> plc.Column:
    """TIMESTAMP_DAYS minus an INT32 day count."""
    duration = plc.unary.bit_cast(count, _dtype(plc.TypeId.DURATION_DAYS))
    return _binop(days, duration, plc.binaryop.BinaryOperator.SUB, days.type())


def _date_trunc(part: str, d: CudfColumn, t: pa.DataType) -> CudfColumn:
    unit = part.lower()
    frequencies = {"day": "DAY", "hour": "HOUR", "minute": "MINUTE", "second": "SECOND"}
    if unit in frequencies:
        if pa.types.is_date(d.type):
            truncated = d.data  # a date is already whole days
        else:
            truncated = plc.datetime.floor_datetimes(
                d.data, plc.datetime.RoundingFrequency[frequencies[unit]]
            )
        return _cast(CudfColumn(truncated, d.type), t, safe=False)
    if unit not in ("week", "month", "quarter", "year"):
        raise ExecutionError(f"date_trunc: unsupported part {part!r}")
    days = plc.unary.cast(d.data, _dtype(plc.TypeId.TIMESTAMP_DAYS))  # floors timestamps to the day
    one = _scalar(1, _int32())
    if unit == "week":  # DataFusion truncates weeks to Monday
        start = _minus_days(days, _int_op(_iso_weekday(days), one, "SUB"))
    else:
        # the first of the month: d - (day - 1) days (§12), then whole months back.
        start = _minus_days(days, _int_op(_component(days, "DAY"), one, "SUB"))
        if unit != "month":
            month0 = _int_op(_component(days, "MONTH"), one, "SUB")
            back = month0 if unit == "year" else _int_op(month0, _scalar(3, _int32()), "MOD")
            start = plc.datetime.add_calendrical_months(start, _int_op(_scalar(0, _int32()), back, "SUB"))
    return _cast(CudfColumn(start, pa.date32()), t, safe=False)


def _round_column(x: CudfColumn, digits: int, t: pa.DataType) -> CudfColumn:
    """round(x, d) half away from zero (DataFusion)."""
    xt = x.type
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_floating(xt):
        # DataFusion: (x * 10^d).round() / 10^d in the input's float type, so round(0.285, 2)
        # = 0.28 because 0.285 * 100 = 28.499999999999996. The same three steps here.
        dtype = x.data.type()
        factor = _scalar(
            float(np.float32(10.0) ** np.float32(digits)) if xt.bit_width == 32 else 10.0**digits, dtype
        )
        scaled = _binop(x.data, factor, Op.MUL, dtype)
        rounded = plc.round.round(scaled, 0, plc.round.RoundingMethod.HALF_UP)
        return _cast(CudfColumn(_binop(rounded, factor, Op.DIV, dtype), xt), t, safe=False)
    if pa.types.is_integer(xt):
        if digits >= 0:
            return _cast(x, t, safe=False)
        rounded = plc.round.round(x.data, digits, plc.round.RoundingMethod.HALF_UP)
        return _cast(CudfColumn(rounded, xt), t, safe=False)
    if pa.types.is_decimal(xt):
        if digits >= xt.scale:
            return _cast(x, t, safe=False)
        # libcudf's fixed-point round gives scale -digits (a positive libcudf scale for d < 0:
        # multiples of 10^-d); the cast below puts it on the planned scale exactly.
        rounded = plc.round.round(x.data, digits, plc.round.RoundingMethod.HALF_UP)
        label = pa.decimal128(_MAX_DIGITS, max(digits, 0))
        if digits < 0:
            rounded = plc.unary.cast(rounded, _decimal(0))
        return _cast(CudfColumn(rounded, label), t, safe=False)
    raise ExecutionError(f"round is not defined for {xt}")


def _floor_ceil(x: CudfColumn, t: pa.DataType, floor: bool) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_decimal(x.type):
        # Decimals keep their type: floor(-1.55) = -2.00. The scale-0 cast truncates toward zero;
        # step down (floor) or up (ceil) where that moved the wrong way.
        whole = plc.unary.cast(x.data, _decimal(0))
        if floor:
            wrong, step = _compare(x.data, whole, Op.LESS), Op.SUB
        else:
            wrong, step = _compare(x.data, whole, Op.GREATER), Op.ADD
        stepped = _binop(whole, _decimal_scalar(1, 0), step, _decimal(0))
        whole = plc.copying.copy_if_else(stepped, whole, wrong)
        back = plc.unary.cast(whole, x.data.type())
        return _cast(CudfColumn(back, x.type), t, safe=False)
    if pa.types.is_integer(x.type):
        return _cast(x, t, safe=False)
    as_float = _cast(x, t, safe=False) if pa.types.is_floating(t) else x
    op = plc.unary.UnaryOperator.FLOOR if floor else plc.unary.UnaryOperator.CEIL
    return _cast(CudfColumn(plc.unary.unary_operation(as_float.data, op), as_float.type), t, safe=False)


def _abs(x: CudfColumn, t: pa.DataType) -> CudfColumn:
    Op = plc.binaryop.BinaryOperator
    if pa.types.is_decimal(x.type):
        negated = _binop(_decimal_scalar(0, _frac(x.data)), x.data, Op.SUB, x.data.type())
        negative = _compare(x.data, _decimal_scalar(0, _frac(x.data)), Op.LESS)
        return _cast(CudfColumn(plc.copying.copy_if_else(negated, x.data, negative), x.type), t, safe=False)
    if pa.types.is_signed_integer(x.type):
        lo, _ = _int_bounds(x.type)
        if _any_true(_compare(x.data, _scalar(lo, x.data.type()), Op.EQUAL)):
            # abs(i64::MIN) overflows: DataFusion errors.
            raise ExecutionError(f"abs: overflow taking the absolute value of {lo}")
    return _cast(
        CudfColumn(plc.unary.unary_operation(x.data, plc.unary.UnaryOperator.ABS), x.type), t, safe=False
    )


# =============================================================================================
# Windows: change flags and segmented scans over the sorted rows (mirrors the CPU backend)
# =============================================================================================


def _change_flags(columns: Sequence[plc.Column], n: int) -> plc.Column:
    """flags[i]: row i differs from row i-1 in some column (NULLs equal each other, NaNs too);
    flags[0] is true. Rows 1..n-1 are compared with rows 0..n-2 through zero-copy slices."""
    Op = plc.binaryop.BinaryOperator
    first = plc.Column.from_scalar(_scalar(True, _bool8()), 1)
    if n < 2 or not columns:
        rest = plc.Column.from_scalar(_scalar(False, _bool8()), n - 1) if n > 1 else None
        return first if rest is None else plc.concatenate.concatenate([first, rest])
    differ: plc.Column | None = None
    for col in columns:
        current, previous = plc.copying.slice(col, [1, n, 0, n - 1])
        same = _compare(current, previous, Op.NULL_EQUALS)  # NULL = NULL here, never NULL
        if _is_float(col.type()):
            both_nan = _compare(_float_nan_flags(current), _float_nan_flags(previous), Op.LOGICAL_AND)
            same = _compare(same, both_nan, Op.LOGICAL_OR)
        changed = _not(same)
        differ = changed if differ is None else _compare(differ, changed, Op.LOGICAL_OR)
    assert differ is not None
    return plc.concatenate.concatenate([first, differ])


def _group_starts(flags: plc.Column, n: int) -> plc.Column:
    """For every row, the index of the first row of its group (groups start where flags)."""
    marked = plc.copying.copy_if_else(_iota(n), _scalar(0, _int32()), flags)
    return plc.reduce.scan(marked, plc.aggregation.max(), plc.reduce.ScanType.INCLUSIVE)


def _group_ends(flags: plc.Column, n: int) -> plc.Column:
    """For every row, the index of the last row of its group."""
    last = plc.copying.shift(flags, -1, _scalar(True, _bool8()))
    marked = plc.copying.copy_if_else(_iota(n), _scalar(n, _int32()), last)
    reversed_min = plc.reduce.scan(
        plc.copying.reverse(marked), plc.aggregation.min(), plc.reduce.ScanType.INCLUSIVE
    )
    return plc.copying.reverse(reversed_min)


def _segments(part_flags: plc.Column) -> plc.groupby.GroupBy:
    """A GroupBy over the sorted partitions, keyed by a dense partition number (one non-null
    INT32 key: no NULL or NaN key semantics to get wrong)."""
    number = plc.reduce.scan(
        plc.unary.cast(part_flags, _int32()), plc.aggregation.sum(), plc.reduce.ScanType.INCLUSIVE
    )
    return plc.groupby.GroupBy(
        plc.Table([number]),
        null_handling=plc.types.NullPolicy.INCLUDE,
        keys_are_sorted=plc.types.Sorted.YES,
        column_order=[plc.types.Order.ASCENDING],
        null_precedence=[plc.types.NullOrder.AFTER],
    )


def _segmented_scan(
    groups: plc.groupby.GroupBy, values: plc.Column, agg: plc.aggregation.Aggregation
) -> plc.Column:
    _, results = groups.scan([plc.groupby.GroupByRequest(values, [agg])])
    return results[0].columns()[0]


def _gather_column(col: plc.Column, indices: plc.Column) -> plc.Column:
    return plc.copying.gather(plc.Table([col]), indices, plc.copying.OutOfBoundsPolicy.NULLIFY).columns()[0]


def _sum_type(t: pa.DataType) -> pa.DataType:
    """What SUM accumulates in (as the CPU: DataFusion's SUM(decimal(p, s)) is decimal(p+10, s),
    never accumulate at the input's width; SUM(float32) is float64: trap 8, §6)."""
    if pa.types.is_decimal(t):
        return pa.decimal128(_MAX_DIGITS, t.scale)
    if pa.types.is_unsigned_integer(t):
        return pa.uint64()
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    return t


def _average(
    total: CudfColumn, count: plc.Column, has_value: plc.Column, out_type: pa.DataType
) -> CudfColumn:
    """SUM / COUNT for rows where ``has_value``: decimals rescaled to the planned scale, divided
    by the count and truncated (DataFusion's decimal AVG, §6); float division otherwise."""
    Op = plc.binaryop.BinaryOperator
    counts = plc.copying.copy_if_else(plc.unary.cast(count, _int64()), _scalar(1, _int64()), has_value)
    if pa.types.is_decimal(out_type):
        out_frac = int(out_type.scale)
        operand = _DecimalOperand.of(total)
        if operand.digits + max(out_frac - operand.frac, 0) > _MAX_DIGITS:
            operand = _DecimalOperand(operand.value, operand.frac, operand.actual_digits())
        if operand.digits + max(out_frac - operand.frac, 0) > _MAX_DIGITS:
            # host round-trip: the rescaled sum would pass 128 bits (the CPU divides exactly).
            host_total = _host_array(total)
            host_count = _host_array(CudfColumn(_keep_where(counts, has_value), pa.int64()))
            return _upload_array(_arrow_kernels().average(host_total, host_count, out_type))
        scaled = operand.at(out_frac)
        quotient = _binop(scaled, plc.unary.cast(counts, _decimal(0)), Op.DIV, _decimal(out_frac))
        quotient = _keep_where(quotient, has_value)
        if operand.digits - operand.frac > int(out_type.precision) - out_frac:  # |avg| <= |sum|
            quotient = _check_precision(quotient, out_type, False, "avg")
        return CudfColumn(quotient, out_type)
    sums = _cast(total, pa.float64(), safe=False).data
    quotient = _binop(sums, plc.unary.cast(counts, _float64()), Op.DIV, _float64())
    return _cast(CudfColumn(_keep_where(quotient, has_value), pa.float64()), out_type, safe=False)


# =============================================================================================
# Partition hash buffers
# =============================================================================================


def _device_array(buffer: Any, dtype: Any, begin: int, end: int | None) -> Any:
    """Elements [begin, end) of a device buffer (any Span: ``ptr`` and ``size`` in bytes) viewed
    as ``dtype``: a cupy view that keeps ``buffer`` alive, no copy."""
    if buffer is None or buffer.size == 0:
        return cp.zeros(0, dtype=dtype)
    memory = cp.cuda.UnownedMemory(buffer.ptr, buffer.size, buffer)
    raw = cp.ndarray((buffer.size,), dtype=cp.uint8, memptr=cp.cuda.MemoryPointer(memory, 0))
    itemsize = cp.dtype(dtype).itemsize
    return raw[: buffer.size // itemsize * itemsize].view(dtype)[begin:end]


def _device_column_buffers(col: plc.Column) -> ColumnBuffers:
    """Describe a device column for ``partition_ids`` in the Arrow layout it shares with the
    CPU: the same values, the same hash (DESIGN.md: partition ids identical on both backends)."""
    n, offset = col.size(), col.offset()
    tid = col.type().id()
    validity = None
    if col.null_count():
        # is_valid accounts for the column's offset; its BOOL8 bytes are the validity flags.
        flags = plc.unary.is_valid(col)
        validity = _device_array(flags.data(), cp.uint8, 0, n).astype(cp.bool_)
    if tid == plc.TypeId.STRING:
        if n == 0 or col.num_children() == 0:
            return ColumnBuffers(
                "string", cp.zeros(0, dtype=cp.uint8), cp.zeros(n + 1, dtype=cp.int32), validity
            )
        offsets_col = col.child(0)
        width = cp.int64 if offsets_col.type().id() == plc.TypeId.INT64 else cp.int32
        offsets = _device_array(offsets_col.data(), width, offset, offset + n + 1)
        chars = _device_array(col.data(), cp.uint8, 0, None)
        return ColumnBuffers("string", chars, offsets, validity)
    if tid == plc.TypeId.DECIMAL128:
        return ColumnBuffers(
            "decimal128", _device_array(col.data(), cp.int64, 2 * offset, 2 * (offset + n)), None, validity
        )
    if tid in (plc.TypeId.DECIMAL32, plc.TypeId.DECIMAL64):
        return _device_column_buffers(plc.unary.cast(col, _dtype(plc.TypeId.DECIMAL128, col.type().scale())))
    if tid in (plc.TypeId.FLOAT32, plc.TypeId.FLOAT64):
        dtype = cp.float32 if tid == plc.TypeId.FLOAT32 else cp.float64
        return ColumnBuffers("float", _device_array(col.data(), dtype, offset, offset + n), None, validity)
    if tid == plc.TypeId.BOOL8:
        return ColumnBuffers("bool", _device_array(col.data(), cp.uint8, offset, offset + n), None, validity)
    width = plc.types.size_of(col.type())
    signed = tid not in (plc.TypeId.UINT8, plc.TypeId.UINT16, plc.TypeId.UINT32, plc.TypeId.UINT64)
    dtype = cp.dtype(f"{'i' if signed else 'u'}{width}")
    # ints, timestamps, durations (and the INT8 of a null-typed column): the integer values.
    return ColumnBuffers("int", _device_array(col.data(), dtype, offset, offset + n), None, validity)


# =============================================================================================
# The kernels
# =============================================================================================


def _null_order(ascending: bool, nulls_first: bool) -> plc.types.NullOrder:
    """libcudf's NullOrder is relative to the ascending order and DESCENDING flips it (§7,
    trap 3): DESC NULLS FIRST is (DESCENDING, AFTER)."""
    return plc.types.NullOrder.AFTER if (not ascending) == nulls_first else plc.types.NullOrder.BEFORE


def _normalized_key(col: plc.Column) -> plc.Column:
    """A key column as DataFusion groups and joins it: -0.0 is 0.0 and every NaN one NaN."""
    if _is_float(col.type()):
        return plc.replace.normalize_nans_and_zeros(col)
    return col


def _nullify_no_match(gather_map: plc.Column) -> plc.Column:
    """A join gather map with libcudf's JoinNoMatch sentinels turned into NULLs (the protocol's
    no-match), as INT64 like the CPU's maps."""
    matched = _compare(
        gather_map, _scalar(_JOIN_NO_MATCH, gather_map.type()), plc.binaryop.BinaryOperator.NOT_EQUAL
    )
    mask, null_count = plc.transform.bools_to_mask(matched)
    with_nulls = gather_map.with_mask(mask, null_count) if null_count else gather_map
    return plc.unary.cast(with_nulls, _int64())


class CudfKernels:
    """The Kernels protocol (gpu_exec.engine.kernels) on pylibcudf: the GPU backend.

    Tables are :class:`CudfTable`, columns :class:`CudfColumn`. The current RMM memory resource
    and the default stream are used (PYLIBCUDF.md §15: the worker sets the resource up once).
    """

    name = "gpu"

    # ---- I/O and movement -------------------------------------------------------------------

    @_kernel
    def read_parquet(
        self, path: str, columns: Sequence[str], row_groups: Sequence[int] | None, schema: pa.Schema
    ) -> CudfTable:
        if row_groups is not None and not row_groups:
            return _empty(schema)
        try:
            if not columns:
                # COUNT(*) reads no column but needs the row count: the footer has it.
                footer = plc.io.parquet_metadata.read_parquet_footers(plc.io.SourceInfo([path]))[0]
                per_group = footer.row_group_num_rows
                n = sum(per_group) if row_groups is None else sum(per_group[i] for i in row_groups)
                return CudfTable(plc.Table([], num_rows=n), schema)
            wanted = list(dict.fromkeys(columns))
            groups = None if row_groups is None else list(row_groups)
            ordered = groups is None or groups == sorted(groups)
            options = (
                plc.io.parquet.ParquetReaderOptions.builder(plc.io.SourceInfo([path]))
                .decimal_width(plc.TypeId.DECIMAL128)  # else DECIMAL32/64 by physical type (§3)
                .use_pandas_metadata(False)
                .build()
            )
            options.set_column_names(wanted)
            if groups is not None:
                options.set_row_groups([sorted(groups)])
            read = plc.io.parquet.read_parquet(options)
            table = read.tbl
            if not ordered and groups is not None:
                table = self._row_groups_in_order(path, table, sorted(groups), groups)
        except (OSError, RuntimeError, ValueError, IndexError, OverflowError) as exc:
            raise CatalogError(f"cannot read Parquet file {path!r}: {exc}") from exc
        # Columns come back in file order: pick them by name (§3), then cast to the plan.
        by_name = {name: i for i, name in reversed(list(enumerate(read.column_names())))}
        out = []
        for name, field in zip(columns, schema):
            col = table.columns()[by_name[name]]
            target = _device_type(field.type)
            out.append(col if col.type() == target else plc.unary.cast(col, target))
        return CudfTable(plc.Table(out), schema)

    @staticmethod
    def _row_groups_in_order(
        path: str, table: plc.Table, read_order: list[int], wanted: list[int]
    ) -> plc.Table:
        """Rows of row groups read in ascending order, put in the asked order."""
        footer = plc.io.parquet_metadata.read_parquet_footers(plc.io.SourceInfo([path]))[0]
        sizes = footer.row_group_num_rows
        starts, position = {}, 0
        for g in read_order:
            starts[g] = position
            position += sizes[g]
        bounds = [b for g in wanted for b in (starts[g], starts[g] + sizes[g])]
        return plc.concatenate.concatenate(plc.copying.slice(table, bounds))

    @_kernel
    def write_file(self, table: CudfTable, schema: pa.Schema, path: str, file_format: FileFormat) -> None:
        if file_format.kind != "parquet":
            # host round-trip: libcudf's CSV writer formats floats, decimals and dates its own way;
            # pyarrow writes them as the CPU backend (and DataFusion) do.
            _arrow_kernels().write_file(self.to_arrow(table, schema), schema, path, file_format)
            return
        # Names and decimal precisions are not in the device table (§1); the Arrow schema stored
        # in the file gives back the planned types (date32, decimal128(p, s), string).
        device = table.table
        metadata = plc.io.types.TableInputMetadata(device)
        for column, field in zip(metadata.column_metadata, schema):
            # Nullability from the plan, as pyarrow writes it: left to libcudf it follows each
            # partition's null mask, and files of one table would disagree on their schema.
            column.set_name(field.name).set_nullability(field.nullable)
            if pa.types.is_decimal(field.type):
                column.set_decimal_precision(int(field.type.precision))
        builder = (
            plc.io.parquet.ParquetWriterOptions.builder(plc.io.SinkInfo([path]), device)
            .metadata(metadata)
            .compression(_parquet_compression(file_format.compression))
            .write_arrow_schema(True)
        )
        if file_format.row_group_size is not None:
            builder = builder.row_group_size_rows(file_format.row_group_size)
        plc.io.parquet.write_parquet(builder.build())

    @_kernel
    def from_arrow(self, table: pa.Table) -> CudfTable:
        return _upload(table)

    @_kernel
    def to_arrow(self, table: CudfTable, schema: pa.Schema) -> pa.Table:
        if table.table.num_columns() != len(schema):
            raise ValueError(f"table has {table.table.num_columns()} columns, schema {len(schema)}")
        return _download(table.table, schema)

    def num_rows(self, table: CudfTable) -> int:
        return table.table.num_rows()

    def length(self, column: CudfColumn) -> int:
        return len(column)

    def column(self, table: CudfTable, index: int) -> CudfColumn:
        return table.column(index)

    @_kernel
    def make_table(self, columns: Sequence[CudfColumn], schema: pa.Schema, num_rows: int) -> CudfTable:
        if not columns:
            return CudfTable(plc.Table([], num_rows=num_rows), schema)
        if len(columns) != len(schema):
            raise ValueError(f"{len(columns)} columns for a schema of {len(schema)}")
        device = []
        for col, field in zip(columns, schema):
            target = _device_type(field.type)
            device.append(col.data if col.data.type() == target else _cast(col, field.type, safe=False).data)
        return CudfTable(plc.Table(device), schema)

    @_kernel
    def concat(self, tables: Sequence[CudfTable], schema: pa.Schema) -> CudfTable:
        if not tables:
            return _empty(schema)
        if not len(schema):
            return CudfTable(plc.Table([], num_rows=sum(t.table.num_rows() for t in tables)), schema)
        # Types must match exactly, decimal scales included (§4): conform each piece first.
        pieces = [
            self.make_table([t.column(i) for i in range(len(schema))], schema, t.table.num_rows()).table
            for t in tables
        ]
        if len(pieces) == 1:
            return CudfTable(pieces[0], schema)
        return CudfTable(plc.concatenate.concatenate(pieces), schema)

    @_kernel
    def slice(self, table: CudfTable, offset: int, length: int) -> CudfTable:
        n = table.table.num_rows()
        begin = min(max(offset, 0), n)
        end = min(begin + max(length, 0), n)
        if not table.table.num_columns():
            return CudfTable(plc.Table([], num_rows=end - begin), table.schema)
        return CudfTable(plc.copying.slice(table.table, [begin, end])[0], table.schema)

    @_kernel
    def empty(self, schema: pa.Schema) -> CudfTable:
        return _empty(schema)

    @_kernel
    def literal_column(self, value: Literal, num_rows: int) -> CudfColumn:
        return _broadcast(value, num_rows)

    # ---- relational -------------------------------------------------------------------------

    @_kernel
    def filter(self, table: CudfTable, mask: CudfColumn) -> CudfTable:
        if not table.table.num_columns():
            return CudfTable(plc.Table([], num_rows=_count_true(mask.data)), table.schema)
        # Keeps rows where the mask is valid and true: NULL drops the row, as SQL WHERE (§4).
        return CudfTable(plc.stream_compaction.apply_retention_mask(table.table, mask.data), table.schema)

    @_kernel
    def gather(self, table: CudfTable, indices: CudfColumn) -> CudfTable:
        if not table.table.num_columns():
            return CudfTable(plc.Table([], num_rows=len(indices)), table.schema)
        gather_map = indices.data
        if gather_map.null_count():
            # A NULL index (a join's no-match) becomes an out-of-range index, which NULLIFY
            # gathers as an all-NULL row (a gather map itself may hold no NULLs: §4).
            fill = _scalar(table.table.num_rows(), gather_map.type())
            gather_map = plc.replace.replace_nulls(gather_map, fill)
        # NULLIFY everywhere: DONT_CHECK with a bad index is undefined behaviour that can kill
        # the CUDA context (trap 4); the bounds check is cheap next to that.
        gathered = plc.copying.gather(table.table, gather_map, plc.copying.OutOfBoundsPolicy.NULLIFY)
        return CudfTable(gathered, table.schema)

    @_kernel
    def join(
        self, left_keys: CudfTable, right_keys: CudfTable, how: str, nulls_equal: bool
    ) -> tuple[CudfColumn, CudfColumn | None]:
        if how not in ("inner", "left", "full", "left_semi", "left_anti"):
            raise ValueError(f"unknown join type {how!r}")
        nl, nr = left_keys.table.num_rows(), right_keys.table.num_rows()
        if nl == 0 or nr == 0:
            return self._join_with_an_empty_side(how, nl, nr)
        # SQL '=' never matches NULL keys; IS NOT DISTINCT FROM does (§5).
        equality = plc.types.NullEquality.EQUAL if nulls_equal else plc.types.NullEquality.UNEQUAL
        left = plc.Table([_normalized_key(c) for c in left_keys.table.columns()])
        right = plc.Table([_normalized_key(c) for c in right_keys.table.columns()])
        if how in ("left_semi", "left_anti"):
            join = plc.join.left_semi_join if how == "left_semi" else plc.join.left_anti_join
            left_map = join(left, right, equality)
            # Sorted, the map keeps the left rows in their input order (as the CPU's).
            ordered = plc.sorting.sort(
                plc.Table([left_map]), [plc.types.Order.ASCENDING], [plc.types.NullOrder.AFTER]
            ).columns()[0]
            return CudfColumn(plc.unary.cast(ordered, _int64()), pa.int64()), None
        joiner = {"inner": plc.join.inner_join, "left": plc.join.left_join, "full": plc.join.full_join}[how]
        left_map, right_map = joiner(left, right, equality)
        # Unmatched rows hold JoinNoMatch (INT32_MIN): the protocol wants NULL indices (trap 4).
        lmap = _nullify_no_match(left_map) if how == "full" else plc.unary.cast(left_map, _int64())
        rmap = _nullify_no_match(right_map) if how != "inner" else plc.unary.cast(right_map, _int64())
        return CudfColumn(lmap, pa.int64()), CudfColumn(rmap, pa.int64())

    @staticmethod
    def _join_with_an_empty_side(how: str, nl: int, nr: int) -> tuple[CudfColumn, CudfColumn | None]:
        """Maps of a join where one side has no rows, built directly (no hash table over nothing)."""
        none = CudfColumn(plc.column_factories.make_empty_column(plc.TypeId.INT64), pa.int64())
        every_left = CudfColumn(_iota(nl, _int64()), pa.int64())
        if how in ("left_semi", "left_anti"):
            return (every_left if how == "left_anti" and nr == 0 else none), None
        if how == "inner" or (how == "left" and nl == 0):
            return none, none
        if how == "left" or nr == 0:  # left, or full with an empty right: every left row, unmatched
            return every_left, _all_null(pa.int64(), nl)
        return _all_null(pa.int64(), nr), CudfColumn(_iota(nr, _int64()), pa.int64())  # full, empty left

    @_kernel
    def cross_join(self, left: CudfTable, right: CudfTable, schema: pa.Schema) -> CudfTable:
        nl, nr = left.table.num_rows(), right.table.num_rows()
        if nl == 0 or nr == 0:
            return _empty(schema) if len(schema) else CudfTable(plc.Table([], num_rows=0), schema)
        if left.table.num_columns() and right.table.num_columns():
            return CudfTable(plc.join.cross_join(left.table, right.table), schema)
        # A side without columns (COUNT(*) inputs): gather each side by the pair indices.
        left_rows = CudfColumn(
            plc.filling.repeat(plc.Table([_iota(nl, _int64())]), nr).columns()[0], pa.int64()
        )
        right_rows = CudfColumn(
            _binop(
                _iota(nl * nr, _int64()), _scalar(nr, _int64()), plc.binaryop.BinaryOperator.MOD, _int64()
            ),
            pa.int64(),
        )
        lt, rt = self.gather(left, left_rows), self.gather(right, right_rows)
        columns = [lt.column(i) for i in range(len(left.schema))] + [
            rt.column(i) for i in range(len(right.schema))
        ]
        return self.make_table(columns, schema, nl * nr)

    @_kernel
    def index_mask(self, num_rows: int, indices: CudfColumn) -> CudfColumn:
        mask = (
            plc.Column.from_scalar(_scalar(False, _bool8()), num_rows)
            if num_rows
            else plc.column_factories.make_empty_column(plc.TypeId.BOOL8)
        )
        idx = indices.data
        if idx.null_count():
            idx = plc.stream_compaction.apply_retention_mask(
                plc.Table([idx]), plc.unary.is_valid(idx)
            ).columns()[0]
        if idx.size() == 0:
            return CudfColumn(mask, pa.bool_())
        marked = plc.copying.scatter([_scalar(True, _bool8())], idx, plc.Table([mask]))
        return CudfColumn(marked.columns()[0], pa.bool_())

    @_kernel
    def group_by(
        self, table: CudfTable, keys: Sequence[int], aggs: Sequence[tuple[int | None, str, pa.DataType]]
    ) -> CudfTable:
        if not keys:
            return self._aggregate_all(table, aggs)
        key_columns = [_normalized_key(table.table.columns()[k]) for k in keys]
        # NULL is a group of its own (§6, trap 2): INCLUDE, never the EXCLUDE default.
        groups = plc.groupby.GroupBy(plc.Table(key_columns), null_handling=plc.types.NullPolicy.INCLUDE)
        plans = []
        for index, func, _out_type in aggs:
            if index is None:
                # COUNT(*) (the protocol's None input) counts rows of any column: the first key's.
                plans.append(_AggregatePlan.make("count_all", CudfColumn(key_columns[0], pa.null())))
            else:
                plans.append(_AggregatePlan.make(func, table.column(index)))
        keys_out, results = groups.aggregate([r for plan in plans for r in plan.requests])
        columns = [CudfColumn(c, table.schema.field(k).type) for c, k in zip(keys_out.columns(), keys)]
        names = [table.schema.field(k).name for k in keys]
        position = 0
        for i, (plan, (_, func, out_type)) in enumerate(zip(plans, aggs)):
            value = plan.finish(results[position : position + len(plan.requests)])
            position += len(plan.requests)
            columns.append(_cast(value, out_type, safe=False))
            names.append(f"{func}_{i}")
        schema = pa.schema([pa.field(nm, c.type) for nm, c in zip(names, columns)])
        return CudfTable(plc.Table([c.data for c in columns]), schema)

    def _aggregate_all(
        self, table: CudfTable, aggs: Sequence[tuple[int | None, str, pa.DataType]]
    ) -> CudfTable:
        """No keys: one row, even for an empty input (reductions, §6)."""
        n = table.table.num_rows()
        columns, fields = [], []
        for i, (index, func, out_type) in enumerate(aggs):
            if index is None or func == "count_all":  # COUNT(*): the protocol's None input
                value = CudfColumn(plc.Column.from_scalar(_scalar(n, _int64()), 1), pa.int64())
            elif func == "count":
                valid = n - table.table.columns()[index].null_count()  # on the host (§6)
                value = CudfColumn(plc.Column.from_scalar(_scalar(valid, _int64()), 1), pa.int64())
            else:
                value = _reduce(func, table.column(index))
            columns.append(_cast(value, out_type, safe=False))
            fields.append(pa.field(f"{func}_{i}", out_type))
        return CudfTable(plc.Table([c.data for c in columns], num_rows=1), pa.schema(fields))

    @_kernel
    def distinct(self, table: CudfTable) -> CudfTable:
        n = table.table.num_rows()
        if not table.table.num_columns():
            return CudfTable(plc.Table([], num_rows=min(1, n)), table.schema)
        keys = plc.Table([_normalized_key(c) for c in table.table.columns()])
        unique = plc.stream_compaction.distinct(
            keys,
            list(range(keys.num_columns())),
            plc.stream_compaction.DuplicateKeepOption.KEEP_ANY,
            plc.types.NullEquality.EQUAL,  # SQL DISTINCT: NULLs are equal (§4)
            plc.types.NanEquality.ALL_EQUAL,
        )
        return CudfTable(unique, table.schema)

    @_kernel
    def sort_indices(self, table: CudfTable, keys: Sequence[tuple[int, bool, bool]]) -> CudfColumn:
        n = table.table.num_rows()
        if not keys or n == 0:
            return CudfColumn(_iota(n, _int64()), pa.int64())
        order = _sort_order(table, keys)
        return CudfColumn(plc.unary.cast(order, _int64()), pa.int64())

    @_kernel
    def hash_partition(self, table: CudfTable, keys: Sequence[int], num_partitions: int) -> list[CudfTable]:
        if not keys:
            return [table] + [self.slice(table, 0, 0) for _ in range(num_partitions - 1)]
        # The shared array-API hash over the columns' Arrow-layout device buffers (cupy): the
        # same partition as the CPU backend for every key (cuDF's murmur3 would differ: §8).
        buffers = [_device_column_buffers(table.table.columns()[k]) for k in keys]
        ids = partition_ids(cp, buffers, num_partitions)
        partition_map = plc.Column.from_cuda_array_interface(ids)
        ordered, offsets = plc.partitioning.partition(table.table, partition_map, num_partitions)
        # 26.10 returns num_partitions + 1 offsets (older releases num_partitions): the inner
        # boundaries are offsets[1:num_partitions] either way.
        pieces = plc.copying.split(ordered, list(offsets[1:num_partitions]))
        return [CudfTable(p, table.schema) for p in pieces]

    @_kernel
    def window(
        self,
        table: CudfTable,
        call: WindowCall,
        arg: int | None,
        partition_by: Sequence[int],
        order_by: Sequence[tuple[int, bool, bool]],
    ) -> CudfColumn:
        n = table.table.num_rows()
        if n == 0:
            return _all_null(call.dtype, 0)
        sort_spec = [(p, True, True) for p in partition_by] + list(order_by)
        order = _sort_order(table, sort_spec) if sort_spec else _iota(n)
        columns = table.table.columns()
        part_cols = [_gather_column(columns[p], order) for p in partition_by]
        order_cols = [_gather_column(columns[i], order) for i, _, _ in order_by]
        part_flags = _change_flags(part_cols, n)
        peer_flags = _or(part_flags, _change_flags(order_cols, n)) if order_cols else part_flags
        part_start = _group_starts(part_flags, n)
        func = call.func
        one = _scalar(1, _int32())
        if func is WindowFunction.ROW_NUMBER:
            ranks = _int_op(_int_op(_iota(n), part_start, "SUB"), one, "ADD")
            result = CudfColumn(plc.unary.cast(ranks, _dtype(plc.TypeId.UINT64)), pa.uint64())
        elif func is WindowFunction.RANK:
            ranks = _int_op(_int_op(_group_starts(peer_flags, n), part_start, "SUB"), one, "ADD")
            result = CudfColumn(plc.unary.cast(ranks, _dtype(plc.TypeId.UINT64)), pa.uint64())
        elif func is WindowFunction.DENSE_RANK:
            peers = plc.reduce.scan(
                plc.unary.cast(peer_flags, _int32()), plc.aggregation.sum(), plc.reduce.ScanType.INCLUSIVE
            )
            ranks = _int_op(_int_op(peers, _gather_column(peers, part_start), "SUB"), one, "ADD")
            result = CudfColumn(plc.unary.cast(ranks, _dtype(plc.TypeId.UINT64)), pa.uint64())
        else:
            if arg is not None:
                source = CudfColumn(_gather_column(columns[arg], order), table.schema.field(arg).type)
            else:
                source = _all_null(pa.int8(), n)
            frame_end = {
                WindowFrame.WHOLE_PARTITION: lambda: _group_ends(part_flags, n),
                WindowFrame.RANGE_TO_CURRENT: lambda: _group_ends(peer_flags, n),
                WindowFrame.ROWS_TO_CURRENT: lambda: _iota(n),
            }[call.frame]()
            result = _window_aggregate(
                func, source, arg is None, _segments(part_flags), frame_end, call.dtype
            )
        # Back to the input row order: sorted row i came from input row order[i] (§14 scatter).
        target = plc.Table([plc.Column.all_null_like(result.data, n)])
        unsorted = plc.copying.scatter(plc.Table([result.data]), order, target).columns()[0]
        return _cast(CudfColumn(unsorted, result.type), call.dtype, safe=False)

    # ---- expressions ------------------------------------------------------------------------

    @_kernel
    def binary(
        self, op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
    ) -> CudfColumn:
        n = num_rows
        if isinstance(left, Literal) and isinstance(right, Literal):
            left = _broadcast(left, n)
        lt, rt = _operand_type(left), _operand_type(right)
        if op in (BinaryOperator.AND, BinaryOperator.OR):
            a, b = _bool_operand(left), _bool_operand(right)
            name = "NULL_LOGICAL_AND" if op is BinaryOperator.AND else "NULL_LOGICAL_OR"  # Kleene (trap 5)
            return CudfColumn(_sized(_compare(a, b, _libcudf_op(name)), n), out_type)
        if op is BinaryOperator.STRING_CONCAT:
            pieces = plc.Table([_strings_of(left, n), _strings_of(right, n)])
            # narep=None: any NULL operand gives NULL, as || (§11).
            joined = plc.strings.combine.concatenate(pieces, _scalar("", _dtype(plc.TypeId.STRING)))
            return _cast(CudfColumn(joined, pa.string()), out_type, safe=False)
        if op in (BinaryOperator.IS_DISTINCT_FROM, BinaryOperator.IS_NOT_DISTINCT_FROM):
            if pa.types.is_null(lt) or pa.types.is_null(rt):
                other = right if pa.types.is_null(lt) else left
                same = plc.unary.is_null(_column_of(other, n).data)
            else:
                same = _not_distinct(left, right, n)
            return CudfColumn(same if op is BinaryOperator.IS_NOT_DISTINCT_FROM else _not(same), out_type)
        if pa.types.is_null(lt) or pa.types.is_null(rt):
            return _all_null(out_type, n)
        if op in _COMPARE_OPS:
            return CudfColumn(_comparison(op, left, right, n), out_type)
        return _arithmetic(op, left, right, out_type, n)

    @_kernel
    def unary(self, op: UnaryOperator, operand: CudfColumn, out_type: pa.DataType) -> CudfColumn:
        x = operand
        if op is UnaryOperator.NOT:
            return CudfColumn(_not(x.data), out_type)  # NOT NULL is NULL
        if op is UnaryOperator.NEGATE:
            if pa.types.is_decimal(x.type):
                zero = _decimal_scalar(0, _frac(x.data))
                negated = _binop(zero, x.data, plc.binaryop.BinaryOperator.SUB, x.data.type())
                return _cast(CudfColumn(negated, x.type), out_type, safe=False)
            negated = plc.unary.unary_operation(x.data, plc.unary.UnaryOperator.NEGATE)  # wraps
            return _cast(CudfColumn(negated, x.type), out_type, safe=False)
        if op is UnaryOperator.IS_NULL:
            return CudfColumn(plc.unary.is_null(x.data), out_type)
        if op is UnaryOperator.IS_NOT_NULL:
            return CudfColumn(plc.unary.is_valid(x.data), out_type)
        is_true = _fill_false(x.data)
        if op is UnaryOperator.IS_TRUE:
            return CudfColumn(is_true, out_type)
        if op is UnaryOperator.IS_NOT_TRUE:
            return CudfColumn(_not(is_true), out_type)
        is_false = _fill_false(_not(x.data))
        if op is UnaryOperator.IS_FALSE:
            return CudfColumn(is_false, out_type)
        if op is UnaryOperator.IS_NOT_FALSE:
            return CudfColumn(_not(is_false), out_type)
        raise ExecutionError(f"unknown unary operator {op}")

    @_kernel
    def cast(self, operand: CudfColumn, to_type: pa.DataType, safe: bool) -> CudfColumn:
        return _cast(operand, to_type, safe)

    @_kernel
    def if_else(
        self, cond: CudfColumn, then: Operand, otherwise: Operand, out_type: pa.DataType, num_rows: int
    ) -> CudfColumn:
        # copy_if_else takes the ELSE branch for a NULL condition, as SQL CASE (§13); both
        # branches must have exactly the same type (trap 15).
        mask = _column_of(cond, num_rows).data
        branches: list[plc.Column | plc.Scalar] = []
        for x in (then, otherwise):
            if isinstance(x, Literal):
                branches.append(_literal_as(x, out_type))
            else:
                branches.append(_cast(x, out_type, safe=False).data)
        return CudfColumn(plc.copying.copy_if_else(branches[0], branches[1], mask), out_type)

    @_kernel
    def is_in(self, operand: CudfColumn, values: Sequence[Literal]) -> CudfColumn:
        x = operand
        n = len(x)
        present = [v for v in values if v.value is not None]
        list_has_null = len(present) < len(values)
        if not present:
            # Only NULLs in the list: nothing is ever found, so every row is NULL.
            return _all_null(pa.bool_(), n)
        # The list as a small device column of the operand's type (types must match: §13).
        haystack = plc.Column.from_scalar(_literal_as(present[0], x.type), 1)
        if len(present) > 1:
            rest = [plc.Column.from_scalar(_literal_as(v, x.type), 1) for v in present[1:]]
            haystack = plc.concatenate.concatenate([haystack, *rest])
        # contains keeps the needles' NULLs: NULL IN (...) is NULL.
        found = plc.search.contains(haystack, x.data)
        if _is_float(x.data.type()) and any(
            isinstance(v.value, float) and math.isnan(v.value) for v in present
        ):
            found = _or(found, _is_nan(x.data))  # DataFusion: NaN IN (NaN) is true
        if list_has_null:
            # No match against a list holding NULL is NULL: true stays, the rest becomes NULL.
            found = plc.copying.copy_if_else(found, _null_scalar(_bool8()), found)
        return CudfColumn(found, pa.bool_())

    @_kernel
    def like(
        self, operand: CudfColumn, pattern: str, escape: str | None, case_insensitive: bool
    ) -> CudfColumn:
        x = _cast(operand, pa.string(), safe=False).data
        # libcudf has no default escape; DataFusion's is backslash (§11, trap 11).
        escape_char = "\\" if escape is None else escape
        pattern = _like_pattern(pattern, escape_char)
        if case_insensitive:  # ILIKE: both sides lower-cased (§11)
            x = plc.strings.case.to_lower(x)
            pattern = pattern.lower()
        return CudfColumn(plc.strings.contains.like(x, pattern, escape_char), pa.bool_())

    @_kernel
    def scalar_function(
        self, name: str, args: Sequence[Operand], out_type: pa.DataType, num_rows: int
    ) -> CudfColumn:
        handler = _SCALAR_FUNCTIONS.get(name)
        if handler is None:
            raise ExecutionError(f"scalar function {name!r} is not implemented")
        result = handler(list(args), out_type, num_rows)
        return _cast(result, out_type, safe=False)

    @_kernel
    def average(self, total: CudfColumn, count: CudfColumn, out_type: pa.DataType) -> CudfColumn:
        nonzero = _compare(
            plc.unary.cast(count.data, _int64()), _scalar(0, _int64()), plc.binaryop.BinaryOperator.NOT_EQUAL
        )
        has_value = _fill_false(_and(nonzero, plc.unary.is_valid(total.data)))
        return _average(total, count.data, has_value, out_type)


# =============================================================================================
# Kernel bodies too long to sit in the class
# =============================================================================================


def _sized(col: plc.Column, n: int) -> plc.Column:
    return col if col.size() == n else _broadcast_device(col.to_scalar(), n)


def _bool_operand(x: Operand) -> plc.Column | plc.Scalar:
    if isinstance(x, Literal):
        return _null_scalar(_bool8()) if x.value is None else _scalar(bool(x.value), _bool8())
    return x.data if x.data.type() == _bool8() else plc.unary.cast(x.data, _bool8())


def _literal_as(lit: Literal, t: pa.DataType) -> plc.Scalar:
    """A literal as a scalar of type ``t`` (CAST semantics when the types differ)."""
    scalar = _literal_scalar(lit)
    if lit.dtype == t or (_device_type(lit.dtype) == _device_type(t) and not pa.types.is_decimal(t)):
        return scalar
    if lit.value is None:
        return _null_scalar(_device_type(t))
    column = CudfColumn(plc.Column.from_scalar(scalar, 1), lit.dtype)
    return _cast(column, t, safe=False).data.to_scalar()


def _arithmetic(op: BinaryOperator, left: Operand, right: Operand, t: pa.DataType, n: int) -> CudfColumn:
    lt, rt = _operand_type(left), _operand_type(right)
    if (
        _is_temporal_point(lt)
        or _is_temporal_point(rt)
        or pa.types.is_interval(lt)
        or pa.types.is_interval(rt)
    ):
        return _temporal_arithmetic(op, left, right, t, n)
    if pa.types.is_decimal(t):
        return _decimal_arithmetic(op, left, right, t, n)
    if pa.types.is_floating(t):
        return CudfColumn(_sized(_float_arithmetic(op, left, right, t), n), t)
    if pa.types.is_integer(t):
        return CudfColumn(_sized(_integer_arithmetic(op, left, right, t), n), t)
    raise ExecutionError(f"arithmetic {lt} {op.value} {rt} → {t} is not supported")


def _sort_order(table: CudfTable, keys: Sequence[tuple[int, bool, bool]]) -> plc.Column:
    """A stable INT32 permutation ordering ``table`` by SQL sort keys (NaN above every number and
    -0.0 tied with 0.0 by libcudf's comparator, as DataFusion: §7)."""
    columns = table.table.columns()
    key_table = plc.Table([columns[i] for i, _, _ in keys])
    orders = [plc.types.Order.ASCENDING if asc else plc.types.Order.DESCENDING for _, asc, _ in keys]
    nulls = [_null_order(asc, nulls_first) for _, asc, nulls_first in keys]
    return plc.sorting.stable_sorted_order(key_table, orders, nulls)


@dataclass(frozen=True, slots=True)
class _AggregatePlan:
    """One group-by aggregate: the libcudf requests that compute it, and how their results
    become the CPU backend's answer."""

    func: str
    requests: list[plc.groupby.GroupByRequest]
    label: pa.DataType  # Arrow type of the (first) result
    nan_fix: bool = False  # float MIN/MAX over values holding NaN; a NaN-count request follows

    @classmethod
    def make(cls, func: str, source: CudfColumn) -> _AggregatePlan:
        agg = plc.aggregation
        request = plc.groupby.GroupByRequest
        if func == "count":
            # COUNT(x) counts valid rows; always pass the policy (stub and runtime defaults differ: §0).
            return cls(func, [request(source.data, [agg.count(plc.types.NullPolicy.EXCLUDE)])], pa.int32())
        if func == "count_all":
            return cls(func, [request(source.data, [agg.count(plc.types.NullPolicy.INCLUDE)])], pa.int32())
        if func == "sum":
            sum_type = _sum_type(source.type)
            values = _cast(source, sum_type, safe=False).data
            return cls(func, [request(values, [agg.sum()])], sum_type)
        if func in ("min", "max", "any_value"):
            # "any value of the group": MIN is one, and deterministic, as on the CPU.
            kind = agg.max() if func == "max" else agg.min()
            if _has_nan(source.data):
                # libcudf's MIN/MAX over NaN are unspecified; DataFusion orders NaN above every
                # number: MAX is NaN when the group holds one, MIN skips NaN unless all are NaN.
                values = plc.transform.column_nans_to_nulls(source.data)
                nan_flags = plc.unary.cast(_float_nan_flags(source.data), _int32())
                requests = [request(values, [kind]), request(nan_flags, [agg.sum()])]
                return cls(func, requests, source.type, nan_fix=True)
            return cls(func, [request(source.data, [kind])], source.type)
        raise ValueError(f"unknown aggregate function {func!r}")

    def finish(self, results: Sequence[plc.Table]) -> CudfColumn:
        value = results[0].columns()[0]
        if self.nan_fix:
            has_nan = _compare(
                results[1].columns()[0], _scalar(0, _int64()), plc.binaryop.BinaryOperator.GREATER
            )
            if self.func != "max":
                has_nan = _and(has_nan, plc.unary.is_null(value))
            value = plc.copying.copy_if_else(_scalar(float("nan"), value.type()), value, has_nan)
        return CudfColumn(value, self.label)


def _reduce(func: str, source: CudfColumn) -> CudfColumn:
    """A global SUM/MIN/MAX/any_value as a one-row column (an empty or all-NULL input gives
    NULL, §6)."""
    agg = plc.aggregation
    if func == "sum":
        sum_type = _sum_type(source.type)
        values = _cast(source, sum_type, safe=False).data if source.type != sum_type else source.data
        total = plc.reduce.reduce(values, agg.sum(), _device_type(sum_type))
        return CudfColumn(plc.Column.from_scalar(total, 1), sum_type)
    if func not in ("min", "max", "any_value"):
        raise ValueError(f"unknown aggregate function {func!r}")
    kind = agg.max() if func == "max" else agg.min()
    data = source.data
    has_nan = _has_nan(data)
    if has_nan:
        data = plc.transform.column_nans_to_nulls(data)  # NaN handled below, as for group_by
    value = plc.Column.from_scalar(plc.reduce.reduce(data, kind, data.type()), 1)
    if has_nan and (func == "max" or value.null_count()):
        value = plc.Column.from_scalar(_scalar(float("nan"), data.type()), 1)
    return CudfColumn(value, source.type)


def _window_aggregate(
    func: WindowFunction,
    source: CudfColumn,
    count_rows: bool,
    groups: plc.groupby.GroupBy,
    frame_end: plc.Column,
    out_type: pa.DataType,
) -> CudfColumn:
    """A running aggregate from the partition start to ``frame_end`` of every sorted row."""
    Op = plc.binaryop.BinaryOperator
    n = len(source)
    ones = plc.Column.from_scalar(_scalar(1, _int64()), n)
    valid = ones if count_rows else plc.unary.cast(plc.unary.is_valid(source.data), _int64())
    counts = _gather_column(_segmented_scan(groups, valid, plc.aggregation.sum()), frame_end)
    if func is WindowFunction.COUNT:
        return CudfColumn(counts, pa.int64())
    has_value = _compare(counts, _scalar(0, _int64()), Op.GREATER)
    if func in (WindowFunction.MIN, WindowFunction.MAX):
        return _window_min_max(func, source, groups, frame_end, has_value)
    t = source.type
    sum_type = _sum_type(t)
    values = _cast(source, sum_type, safe=False).data
    # NULLs add nothing; a scan masks NULL input rows (§14), so fill them with zero first.
    zero = (
        _decimal_scalar(0, int(sum_type.scale))
        if pa.types.is_decimal(sum_type)
        else _scalar(0, values.type())
    )
    values = plc.replace.replace_nulls(values, zero)
    running = _segmented_scan(groups, values, plc.aggregation.sum())
    if running.type() != values.type():  # keep the accumulation type, whatever the scan's width
        running = plc.unary.cast(running, values.type())
    totals = _gather_column(running, frame_end)
    if func is WindowFunction.SUM:
        if pa.types.is_decimal(out_type):
            rescaled = _rescale_decimal(totals, int(out_type.scale))
            return CudfColumn(
                _check_precision(_keep_where(rescaled, has_value), out_type, False, "window sum"), out_type
            )
        return CudfColumn(_keep_where(totals, has_value), sum_type)
    return _average(CudfColumn(totals, sum_type), counts, has_value, out_type)


def _window_min_max(
    func: WindowFunction,
    source: CudfColumn,
    groups: plc.groupby.GroupBy,
    frame_end: plc.Column,
    has_value: plc.Column,
) -> CudfColumn:
    """Running MIN/MAX of any orderable type through dense codes of the values: a scan over
    INT32 codes, then the value back from the sorted distinct values (the CPU does the same)."""
    data = source.data
    codes = plc.sorting.rank(
        data,
        plc.aggregation.RankMethod.DENSE,
        plc.types.Order.ASCENDING,
        plc.types.NullPolicy.EXCLUDE,  # NULL values get a NULL code
        plc.types.NullOrder.AFTER,
        False,
    )
    codes = plc.unary.cast(codes, _int32())
    kind = plc.aggregation.min() if func is WindowFunction.MIN else plc.aggregation.max()
    running = _segmented_scan(groups, codes, kind)
    # A scan is NULL at NULL input rows (§14): carry the running value forward in each partition.
    _, filled = groups.replace_nulls(plc.Table([running]), [plc.replace.ReplacePolicy.PRECEDING])
    at_end = _gather_column(filled.columns()[0], frame_end)
    values = plc.stream_compaction.apply_retention_mask(plc.Table([data]), plc.unary.is_valid(data))
    distinct = plc.stream_compaction.distinct(
        values,
        [0],
        plc.stream_compaction.DuplicateKeepOption.KEEP_ANY,
        plc.types.NullEquality.EQUAL,
        plc.types.NanEquality.ALL_EQUAL,
    )
    ordered = plc.sorting.sort(distinct, [plc.types.Order.ASCENDING], [plc.types.NullOrder.AFTER])
    position = _binop(at_end, _scalar(1, _int32()), plc.binaryop.BinaryOperator.SUB, _int32())
    position = _keep_where(position, has_value)
    fill = _scalar(ordered.num_rows(), _int32())  # out of range → NULL under NULLIFY
    picked = plc.copying.gather(
        ordered, plc.replace.replace_nulls(position, fill), plc.copying.OutOfBoundsPolicy.NULLIFY
    )
    return CudfColumn(picked.columns()[0], source.type)


# ---- scalar functions (one per name in planner.expr.SCALAR_FUNCTIONS) ------------------------

_ScalarFunction = Callable[[list[Operand], pa.DataType, int], CudfColumn]


def _string_literal(x: Operand) -> str | None:
    return x.value if isinstance(x, Literal) else None


def _fn_substr(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    s = _strings_of(args[0], n)
    start, length = args[1], args[2] if len(args) > 2 else None
    if isinstance(start, Literal) and (length is None or isinstance(length, Literal)):
        if start.value is None or (length is not None and length.value is None):
            return _all_null(pa.string(), n)
        p = int(start.value)
        count = None if length is None else int(length.value)
        if count is not None and count < 0:
            raise ExecutionError(f"substr: negative count not allowed: {count}")
        # 1-based; a start <= 0 eats into the length. slice_strings reads INT32 scalars and counts
        # negatives from the end (§11): clamp to [0, 2^31 - 1] first.
        begin = min(max(p - 1, 0), _INT32_MAX)
        end = _INT32_MAX if count is None else min(max(p - 1 + count, begin), _INT32_MAX)
        out = plc.strings.slice.slice_strings(s, _scalar(begin, _int32()), _scalar(end, _int32()))
        return CudfColumn(out, pa.string())
    # Per-row start/length: the same bounds computed on the device.
    Op = plc.binaryop.BinaryOperator
    one, zero = _scalar(1, _int64()), _scalar(0, _int64())
    p_col = _cast(_column_of(start, n), pa.int64(), safe=False).data
    sources = [s, p_col]
    begin_col = _binop(_binop(p_col, one, Op.SUB, _int64()), zero, Op.NULL_MAX, _int64())
    if length is None:
        end_col = plc.Column.from_scalar(_scalar(_INT32_MAX, _int64()), n)
    else:
        count_col = _cast(_column_of(length, n), pa.int64(), safe=False).data
        negative = _compare(count_col, zero, Op.LESS)
        if _any_true(negative):
            raise ExecutionError(f"substr: negative count not allowed: {_first_where(count_col, negative)}")
        sources.append(count_col)
        stop = _binop(_binop(p_col, one, Op.SUB, _int64()), count_col, Op.ADD, _int64())
        end_col = _binop(stop, begin_col, Op.NULL_MAX, _int64())

    def bound(c: plc.Column) -> plc.Column:
        # Positions are INT32 and negatives count from the end (§11): clamp first. NULL rows
        # get any bound; their result is NULL below.
        filled = plc.replace.replace_nulls(c, zero)
        return plc.unary.cast(plc.replace.clamp(filled, zero, _scalar(_INT32_MAX, _int64())), _int32())

    out = plc.strings.slice.slice_strings(s, bound(begin_col), bound(end_col))
    return CudfColumn(_with_nulls_of(out, sources), pa.string())


def _fn_upper(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return CudfColumn(plc.strings.case.to_upper(_strings_of(args[0], n)), pa.string())  # full Unicode mapping


def _fn_lower(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return CudfColumn(plc.strings.case.to_lower(_strings_of(args[0], n)), pa.string())


def _fn_character_length(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return CudfColumn(plc.strings.attributes.count_characters(_strings_of(args[0], n)), pa.int32())


def _fn_octet_length(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return CudfColumn(plc.strings.attributes.count_bytes(_strings_of(args[0], n)), pa.int32())


def _trim(args: list[Operand], t: pa.DataType, n: int, side: plc.strings.SideType, name: str) -> CudfColumn:
    s = _strings_of(args[0], n)
    chars = args[1] if len(args) > 1 else Literal(" ", pa.string())
    if not isinstance(chars, Literal):
        # host round-trip: libcudf strips one set of characters for the whole column, not a
        # set per row.
        return _host_scalar_function(name, args, t, n)
    if chars.value is None:
        return _all_null(pa.string(), n)
    if chars.value == "":
        return CudfColumn(s, pa.string())  # strip(None or "") would strip whitespace instead
    # SQL trim strips spaces only: pass the set, never None (all whitespace: §11, trap 11).
    return CudfColumn(
        plc.strings.strip.strip(s, side, _scalar(str(chars.value), _dtype(plc.TypeId.STRING))), pa.string()
    )


def _fn_trim(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _trim(args, t, n, plc.strings.SideType.BOTH, "trim")


def _fn_ltrim(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _trim(args, t, n, plc.strings.SideType.LEFT, "ltrim")


def _fn_rtrim(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _trim(args, t, n, plc.strings.SideType.RIGHT, "rtrim")


def _fn_concat(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    # concat() skips NULL arguments: narep "" (§11); concat(NULL) is ''.
    empty = _scalar("", _dtype(plc.TypeId.STRING))
    parts = [_strings_of(a, n) for a in args if not (isinstance(a, Literal) and a.value is None)]
    if not parts:
        return _broadcast(Literal("", pa.string()), n)
    if len(parts) == 1:
        return CudfColumn(plc.replace.replace_nulls(parts[0], empty), pa.string())
    joined = plc.strings.combine.concatenate(plc.Table(parts), empty, narep=empty)
    return CudfColumn(joined, pa.string())


def _affix(args: list[Operand], n: int, start: bool) -> CudfColumn:
    s = _strings_of(args[0], n)
    affix = args[1]
    if isinstance(affix, Literal) and affix.value is None:
        return _all_null(pa.bool_(), n)
    target: plc.Column | plc.Scalar = (
        _literal_scalar(affix) if isinstance(affix, Literal) else _strings_of(affix, n)
    )
    fn = plc.strings.find.starts_with if start else plc.strings.find.ends_with
    return CudfColumn(fn(s, target), pa.bool_())


def _fn_starts_with(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _affix(args, n, True)


def _fn_ends_with(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _affix(args, n, False)


def _fn_strpos(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    s = _strings_of(args[0], n)
    sub = args[1]
    if isinstance(sub, Literal) and sub.value is None:
        return _all_null(pa.int32(), n)
    target: plc.Column | plc.Scalar = (
        _literal_scalar(sub) if isinstance(sub, Literal) else _strings_of(sub, n)
    )
    # find: 0-based character index, -1 when absent (§11) → strpos: 1-based, 0 when absent.
    found = plc.strings.find.find(s, target)
    position = _binop(found, _scalar(1, _int32()), plc.binaryop.BinaryOperator.ADD, _int32())
    return CudfColumn(position, pa.int32())


def _fn_replace(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    s = _strings_of(args[0], n)
    old, new = args[1], args[2]
    if not (isinstance(old, Literal) and isinstance(new, Literal)):
        # host round-trip: libcudf replaces one target/replacement pair per column, not per row.
        return _host_scalar_function("replace", args, t, n)
    if old.value is None or new.value is None:
        return _all_null(pa.string(), n)
    if old.value == "":
        return CudfColumn(s, pa.string())  # DataFusion 55 leaves the string unchanged (§11)
    string = _dtype(plc.TypeId.STRING)
    out = plc.strings.replace.replace(s, _scalar(str(old.value), string), _scalar(str(new.value), string))
    return CudfColumn(out, pa.string())


def _fn_abs(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _abs(_column_of(args[0], n), t)


def _fn_round(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    x = _column_of(args[0], n)
    if len(args) < 2:
        return _round_column(x, 0, t)
    digits = args[1]
    if isinstance(digits, Literal):
        if digits.value is None:
            return _all_null(t, n)
        return _round_column(x, int(digits.value), t)
    # Per-row digits: round once per distinct value (a handful), picking rows with copy_if_else.
    d = _cast(digits, pa.int64(), safe=False).data
    distinct = plc.stream_compaction.distinct(
        plc.Table([d]),
        [0],
        plc.stream_compaction.DuplicateKeepOption.KEEP_ANY,
        plc.types.NullEquality.EQUAL,
        plc.types.NanEquality.ALL_EQUAL,
    )
    result = _all_null(t, n).data
    for value in distinct.columns()[0].to_pylist():
        if value is None:
            continue
        rows = _compare(d, _scalar(int(value), _int64()), plc.binaryop.BinaryOperator.EQUAL)
        result = plc.copying.copy_if_else(_round_column(x, int(value), t).data, result, rows)
    return CudfColumn(result, t)


def _fn_floor(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _floor_ceil(_column_of(args[0], n), t, floor=True)


def _fn_ceil(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _floor_ceil(_column_of(args[0], n), t, floor=False)


def _fn_coalesce(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    # replace_nulls folded left to right, every argument in the result type first (§13).
    first = args[0]
    result = _broadcast(Literal(first.value, first.dtype), n) if isinstance(first, Literal) else first
    acc = _cast(result, t, safe=False).data
    for x in args[1:]:
        if not acc.null_count():
            break
        replacement: plc.Column | plc.Scalar = (
            _literal_as(x, t) if isinstance(x, Literal) else _cast(x, t, safe=False).data
        )
        acc = plc.replace.replace_nulls(acc, replacement)
    return CudfColumn(acc, t)


def _fn_nullif(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    a = _column_of(args[0], n)
    same = _comparison(BinaryOperator.EQ, a, args[1], n)
    return CudfColumn(_null_where(a.data, same), a.type)  # a NULL comparison keeps a


def _part_name(x: Operand, fn: str) -> str:
    if not isinstance(x, Literal) or not isinstance(x.value, str):
        raise ExecutionError(f"{fn}: the first argument must be a string literal")
    return x.value


def _fn_date_part(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    part = _part_name(args[0], "date_part")
    return CudfColumn(_date_part(part, _column_of(args[1], n)), pa.int32())


def _fn_date_trunc(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    part = _part_name(args[0], "date_trunc")
    return _date_trunc(part, _column_of(args[1], n), t)


_SCALAR_FUNCTIONS: dict[str, _ScalarFunction] = {
    "substr": _fn_substr,
    "upper": _fn_upper,
    "lower": _fn_lower,
    "character_length": _fn_character_length,
    "octet_length": _fn_octet_length,
    "trim": _fn_trim,
    "ltrim": _fn_ltrim,
    "rtrim": _fn_rtrim,
    "concat": _fn_concat,
    "starts_with": _fn_starts_with,
    "ends_with": _fn_ends_with,
    "strpos": _fn_strpos,
    "replace": _fn_replace,
    "abs": _fn_abs,
    "round": _fn_round,
    "floor": _fn_floor,
    "ceil": _fn_ceil,
    "coalesce": _fn_coalesce,
    "nullif": _fn_nullif,
    "date_part": _fn_date_part,
    "date_trunc": _fn_date_trunc,
}

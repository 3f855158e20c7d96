"""Simulated ``pylibcudf.reduce`` (models pylibcudf 26.10, ``reduce.pyx``; libcudf
``cpp/src/reductions/reductions.cpp``, ``simple.cuh``, ``compound.cuh``, ``scan/``).

Behaviour modelled:

- ``reduce(col, agg, data_type)`` returns a Scalar of ``data_type`` with libcudf's checks:
  SUM/PRODUCT of numbers to any numeric output (computed in the input type when the output is
  that type, else in int64/double, then converted), of decimals only to the input's own type;
  MIN/MAX need ``data_type`` equal to the input type (any orderable type, strings included);
  ANY/ALL need BOOL8; MEAN/VARIANCE/STD need a floating output and an arithmetic input (not
  decimal). Failed checks raise RuntimeError (``CUDF_EXPECTS``/``CUDF_FAIL``); an operator the
  input type does not support raises ValueError (``std::invalid_argument``).
- An empty or all-NULL column gives an invalid (NULL) scalar, except ANY → false and ALL → true.
  (libcudf skips its type checks in that case; the simulator checks them anyway.)
- ``scan(col, agg, ScanType)``: SUM/MIN/MAX/PRODUCT keep the input type (integer sums wrap as
  on the device), COUNT gives INT32; NULL rows are skipped and stay NULL in the result
  (pylibcudf passes ``null_policy::EXCLUDE``).
- MIN/MAX over values holding NaN are order-dependent on the device: the simulator raises.
"""

from __future__ import annotations

import decimal
from enum import IntEnum
from typing import Any

import numpy as np
import pyarrow as pa

from pylibcudf import _fixed_width, _sim
from pylibcudf.aggregation import Aggregation, Kind
from pylibcudf.column import Column
from pylibcudf.groupby import (
    _check_no_nan,
    _numbers,
    _numeric_column,
    _unscaled,
    aggregate_groups,
)
from pylibcudf.scalar import Scalar
from pylibcudf.sorting import _valid_flags, column_codes, row_group_ids
from pylibcudf.types import DataType, NanPolicy, NullPolicy, TypeId

__all__ = ["ScanType", "distinct_count", "is_valid_reduce_aggregation", "minmax", "reduce", "scan", "unique_count"]

_NUMERIC = _sim.INTEGER_IDS | _sim.FLOAT_IDS | {TypeId.BOOL8}


class ScanType(IntEnum):
    INCLUSIVE = 0
    EXCLUSIVE = 1


def _scalar_of_column(col: Column) -> Scalar:
    value = _sim.column_to_arrow(col)[0]
    return Scalar._of(value.as_py() if value.is_valid else None, col.type())


def _convert(value: Any, source: DataType, out: DataType) -> Any:
    """libcudf's ``static_cast`` of an int64/double result to a numeric output type."""
    if value is None:
        return None
    tid = out.id()
    if tid == TypeId.BOOL8:
        return bool(value)
    if tid in _sim.FLOAT_IDS:
        return float(np.asarray(value).astype(_sim.storage_dtype(out)))
    with np.errstate(over="ignore", invalid="ignore"):
        return int(np.asarray(value).astype(_sim.storage_dtype(out)))


def _valid_reduce(source: DataType, kind: Kind) -> bool:
    tid = source.id()
    if kind in (Kind.SUM, Kind.PRODUCT, Kind.SUM_OF_SQUARES):
        return tid in _NUMERIC or tid in _sim.DECIMAL_IDS
    if kind in (Kind.MIN, Kind.MAX):
        return tid not in (TypeId.EMPTY, TypeId.LIST, TypeId.STRUCT)
    if kind in (Kind.ANY, Kind.ALL, Kind.MEAN, Kind.VARIANCE, Kind.STD):
        return tid in _NUMERIC
    return False


def reduce(col: Column, agg: Aggregation, data_type: DataType, init: Scalar | None = None,
           stream: Any = None, mr: Any = None) -> Scalar:
    if not isinstance(col, Column) or not isinstance(agg, Aggregation) or not isinstance(data_type, DataType):
        raise TypeError("reduce takes a Column, an Aggregation and a DataType")
    agg._require("reduce")
    if init is not None:
        raise NotImplementedError("reduce with an initial value is not modelled by the simulator")
    source, kind = col.type(), agg.kind()
    if source.id() == TypeId.DICTIONARY32:
        raise NotImplementedError("dictionary reductions are not modelled by the simulator")
    if kind not in (Kind.SUM, Kind.PRODUCT, Kind.MIN, Kind.MAX, Kind.ANY, Kind.ALL, Kind.MEAN, Kind.VARIANCE,
                    Kind.STD):
        raise NotImplementedError(f"reduce {kind.name} is not modelled by the simulator (gpu-exec does not call it)")
    if not _valid_reduce(source, kind):
        raise ValueError(f"Reduction operator not supported for this type: {kind.name} of {source}")
    tid, out = source.id(), data_type.id()
    if kind in (Kind.MIN, Kind.MAX) and data_type != source:
        raise RuntimeError(f"{kind.name.lower()}() operation requires matching output type ({source} vs {data_type})")
    if kind in (Kind.ANY, Kind.ALL) and out != TypeId.BOOL8:
        raise RuntimeError(f"{kind.name.lower()}() operation can be applied with output type `bool8` only")
    if kind in (Kind.MEAN, Kind.VARIANCE, Kind.STD) and out not in _sim.FLOAT_IDS:
        raise RuntimeError(f"Unsupported output data type {data_type} for {kind.name} (a floating type is needed)")
    if kind in (Kind.SUM, Kind.PRODUCT):
        if tid in _sim.DECIMAL_IDS and data_type != source:
            raise RuntimeError("Output type must be same as input column type.")
        if tid not in _sim.DECIMAL_IDS and out not in _NUMERIC:
            raise RuntimeError(f"input data type is not convertible to output data type ({source} to {data_type})")
    n = col.size()
    if n == col.null_count():
        if kind in (Kind.ANY, Kind.ALL):
            return Scalar._of(kind == Kind.ALL, data_type)
        return Scalar._of(None, data_type)
    gids = np.zeros(n, dtype=np.int64)
    if kind in (Kind.MIN, Kind.MAX):
        return _scalar_of_column(aggregate_groups(col, gids, 1, agg))
    arr = _sim.column_to_arrow(col)
    valid = _valid_flags(arr)
    if kind in (Kind.ANY, Kind.ALL):
        x = _numbers(arr, source)[valid]
        truth = x != 0
        return Scalar._of(bool(truth.any() if kind == Kind.ANY else truth.all()), data_type)
    if kind in (Kind.MEAN, Kind.VARIANCE, Kind.STD):
        value = _scalar_of_column(aggregate_groups(col, gids, 1, agg))._value
        return Scalar._of(_convert(value, source, data_type), data_type)
    # SUM / PRODUCT
    if tid in _sim.DECIMAL_IDS:
        if kind == Kind.PRODUCT:
            raise NotImplementedError("decimal PRODUCT reductions are not modelled by the simulator")
        from pylibcudf.groupby import _exact_group_sums

        rows = np.flatnonzero(_fixed_width.valid_flags(col))
        total = int(_exact_group_sums(_fixed_width.values(col), rows, np.zeros(col.size(), np.int64), 1)[0])
        lo, hi = _fixed_width.decimal_bounds(tid)
        if not lo <= total <= hi:
            raise OverflowError(f"SUM does not fit {source} (simulated: libcudf would wrap silently)")
        return Scalar._of(decimal.Decimal(total).scaleb(source.scale()), data_type)
    if data_type == source:
        acc = _sim.storage_dtype(source) if tid != TypeId.BOOL8 else np.int64
    else:
        acc = np.int64 if tid in _sim.INTEGER_IDS or tid == TypeId.BOOL8 else np.float64
    x = _numbers(arr, source).astype(acc)[valid]
    with np.errstate(over="ignore"):
        total = np.multiply.reduce(x, dtype=acc) if kind == Kind.PRODUCT else np.add.reduce(x, dtype=acc)
    return Scalar._of(_convert(total.item(), source, data_type), data_type)


def scan(col: Column, agg: Aggregation, inclusive: ScanType, stream: Any = None, mr: Any = None) -> Column:
    if not isinstance(col, Column) or not isinstance(agg, Aggregation):
        raise TypeError("scan takes a Column and an Aggregation")
    agg._require("scan")
    kind, source = agg.kind(), col.type()
    tid = source.id()
    scan_type = ScanType(int(inclusive))
    if kind not in (Kind.SUM, Kind.MIN, Kind.MAX, Kind.PRODUCT, Kind.COUNT_VALID, Kind.COUNT_ALL):
        raise NotImplementedError(f"scan {kind.name} is not modelled by the simulator (gpu-exec does not call it)")
    if scan_type == ScanType.EXCLUSIVE:
        raise NotImplementedError("exclusive scans are not modelled by the simulator (gpu-exec does not call them)")
    n = col.size()
    arr = _sim.column_to_arrow(col)
    valid = _valid_flags(arr)
    mask = None if valid.all() else ~valid
    if kind in (Kind.COUNT_VALID, Kind.COUNT_ALL):
        ones = valid.astype(np.int64) if kind == Kind.COUNT_VALID else np.ones(n, np.int64)
        return _numeric_column(np.cumsum(ones), None if mask is None else valid, DataType(TypeId.INT32))
    if kind in (Kind.MIN, Kind.MAX):
        if tid in (TypeId.EMPTY, TypeId.LIST, TypeId.DICTIONARY32):
            raise RuntimeError("Unsupported type for inclusive scan operation")
        _check_no_nan(arr, kind, np.flatnonzero(valid))
        codes, _ = column_codes(col)
        key = np.where(valid, codes if kind == Kind.MIN else -codes, np.iinfo(np.int64).max)
        running = np.minimum.accumulate(key) if n else key
        # the first row where each running extreme was reached
        rows = np.arange(n)
        improved = np.r_[True, running[1:] < running[:-1]] if n else np.zeros(0, bool)
        row_of = np.maximum.accumulate(np.where(improved, rows, 0)) if n else rows
        picked = arr.take(pa.array(row_of.astype(np.int64), pa.int64(), mask=mask))
        return _sim.column_from_arrow(picked, source)
    if kind == Kind.SUM and not (tid in _NUMERIC or tid in _sim.DURATION_IDS or tid in _sim.DECIMAL_IDS):
        raise RuntimeError(f"Unsupported type for inclusive scan operation: SUM of {source}")
    if kind == Kind.PRODUCT and tid not in _NUMERIC:
        raise RuntimeError(f"Unsupported type for inclusive scan operation: PRODUCT of {source}")
    if tid in _sim.DECIMAL_IDS:
        from pylibcudf.groupby import _decimal_column

        running_total, values = 0, []
        for v in _unscaled(col):
            if v is not None:
                running_total += v
            values.append(running_total if v is not None else None)
        return _decimal_column(values, source)
    storage = _sim.storage_dtype(source)
    x = np.where(valid, _numbers(arr, source), 1 if kind == Kind.PRODUCT else 0).astype(storage)
    with np.errstate(over="ignore"):
        out = np.cumprod(x, dtype=storage) if kind == Kind.PRODUCT else np.cumsum(x, dtype=storage)
    if tid == TypeId.BOOL8:
        out = out != 0
    return _numeric_column(out, None if mask is None else valid, source)


def minmax(col: Column, stream: Any = None, mr: Any = None) -> tuple[Scalar, Scalar]:
    from pylibcudf import aggregation

    return reduce(col, aggregation.min(), col.type()), reduce(col, aggregation.max(), col.type())


def is_valid_reduce_aggregation(source: DataType, agg: Aggregation) -> bool:
    return _valid_reduce(source, agg.kind())


def distinct_count(source: Column, null_handling: NullPolicy, nan_handling: NanPolicy, stream: Any = None) -> int:
    """Distinct values; NULLs count once when INCLUDE; NaN as NULL when NAN_IS_NULL."""
    arr = _sim.column_to_arrow(source)
    valid = _valid_flags(arr)
    nan = np.zeros(len(arr), bool)
    if pa.types.is_floating(arr.type) and NanPolicy(int(nan_handling)) == NanPolicy.NAN_IS_NULL:
        from pylibcudf.groupby import _nan_flags

        nan = _nan_flags(arr)
    codes, _ = column_codes(source)
    count = len(np.unique(codes[valid & ~nan]))
    if NullPolicy(int(null_handling)) == NullPolicy.INCLUDE and (~valid | nan).any():
        count += 1
    return count


def unique_count(source: Column, null_handling: NullPolicy, nan_handling: NanPolicy, stream: Any = None) -> int:
    """Runs of consecutive equal values (NULLs/NaNs handled as in ``distinct_count``)."""
    ids = row_group_ids([source])
    if not len(ids):
        return 0
    arr = _sim.column_to_arrow(source)
    valid = _valid_flags(arr)
    keep = valid if NullPolicy(int(null_handling)) == NullPolicy.EXCLUDE else np.ones(len(ids), bool)
    ids = ids[keep]
    return int(np.count_nonzero(np.r_[True, ids[1:] != ids[:-1]])) if len(ids) else 0

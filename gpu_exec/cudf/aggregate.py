"""Group-by aggregates, reductions and AVG on the device (libcudf groupby and reduce)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from fallback_cpu.types import sum_type_of
from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import (
    CudfColumn,
    CudfTable,
    _and,
    _binop,
    _compare,
    _fill_false,
    _float_nan_flags,
    _has_nan,
    _keep_where,
    _scalar,
)
from gpu_exec.cudf.decimals import _check_precision, _DecimalOperand
from gpu_exec.cudf.host import _cpu_kernels, _host_array, _upload_array
from gpu_exec.cudf.relational import _normalized_key
from gpu_exec.cudf.types import (
    _MAX_DIGITS,
    _decimal,
    _device_type,
    _float64,
    _int32,
    _int64,
)

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def group_by(
    table: CudfTable, keys: Sequence[int], aggs: Sequence[tuple[int | None, str, pa.DataType]]
) -> CudfTable:
    if not keys:
        return _aggregate_all(table, aggs)
    key_columns = [_normalized_key(table.table.columns()[k]) for k in keys]
    # NULL is a group of its own (NOTES.md, 'NULL group keys'): INCLUDE, never the EXCLUDE default.
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
    table: CudfTable, aggs: Sequence[tuple[int | None, str, pa.DataType]]
) -> CudfTable:
    """No keys: one row, even for an empty input (NOTES.md, 'Reductions')."""
    n = table.table.num_rows()
    columns, fields = [], []
    for i, (index, func, out_type) in enumerate(aggs):
        if index is None or func == "count_all":  # COUNT(*): the protocol's None input
            value = CudfColumn(plc.Column.from_scalar(_scalar(n, _int64()), 1), pa.int64())
        elif func == "count":
            valid = n - table.table.columns()[index].null_count()  # from the null count, no kernel
            value = CudfColumn(plc.Column.from_scalar(_scalar(valid, _int64()), 1), pa.int64())
        else:
            value = _reduce(func, table.column(index))
        columns.append(_cast(value, out_type, safe=False))
        fields.append(pa.field(f"{func}_{i}", out_type))
    return CudfTable(plc.Table([c.data for c in columns], num_rows=1), pa.schema(fields))


def average(total: CudfColumn, count: CudfColumn, out_type: pa.DataType) -> CudfColumn:
    nonzero = _compare(
        plc.unary.cast(count.data, _int64()), _scalar(0, _int64()), plc.binaryop.BinaryOperator.NOT_EQUAL
    )
    has_value = _fill_false(_and(nonzero, plc.unary.is_valid(total.data)))
    return _average(total, count.data, has_value, out_type)


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
            # COUNT(x) counts valid rows; always pass the policy (stub and runtime defaults differ:
            # NOTES.md, 'Stubs').
            return cls(func, [request(source.data, [agg.count(plc.types.NullPolicy.EXCLUDE)])], pa.int32())
        if func == "count_all":
            return cls(func, [request(source.data, [agg.count(plc.types.NullPolicy.INCLUDE)])], pa.int32())
        if func == "sum":
            sum_type = sum_type_of(source.type)
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
        if value.type() != _device_type(self.label):
            # libcudf's own result type (SUM of any integer is INT64, even of UINT64 values):
            # converted to the planned one, so the label describes the data.
            value = plc.unary.cast(value, _device_type(self.label))
        return CudfColumn(value, self.label)


def _reduce(func: str, source: CudfColumn) -> CudfColumn:
    """A global SUM/MIN/MAX/any_value as a one-row column (an empty or all-NULL input gives
    NULL: NOTES.md, 'Reductions')."""
    agg = plc.aggregation
    if func == "sum":
        sum_type = sum_type_of(source.type)
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


def _average(
    total: CudfColumn, count: plc.Column, has_value: plc.Column, out_type: pa.DataType
) -> CudfColumn:
    """SUM / COUNT for rows where ``has_value``: decimals rescaled to the planned scale, divided
    by the count and truncated (DataFusion's decimal AVG); float division otherwise."""
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
            return _upload_array(_cpu_kernels().average(host_total, host_count, out_type))
        scaled = operand.at(out_frac)
        quotient = _binop(scaled, plc.unary.cast(counts, _decimal(0)), Op.DIV, _decimal(out_frac))
        quotient = _keep_where(quotient, has_value)
        if operand.digits - operand.frac > int(out_type.precision) - out_frac:  # |avg| <= |sum|
            quotient = _check_precision(quotient, out_type, False, "avg")
        return CudfColumn(quotient, out_type)
    sums = _cast(total, pa.float64(), safe=False).data
    quotient = _binop(sums, plc.unary.cast(counts, _float64()), Op.DIV, _float64())
    return _cast(CudfColumn(_keep_where(quotient, has_value), pa.float64()), out_type, safe=False)

"""The Kernels protocol on cuDF (pylibcudf, cupy for the partition hash): the GPU backend.

Representation (pylibcudf carries neither names nor Arrow's precision or timezone: NOTES.md,
'Metadata'). A table is a :class:`CudfTable`, a ``plc.Table`` beside the ``pa.Schema`` it stands
for; a column is a :class:`CudfColumn`, a ``plc.Column`` beside its Arrow type. On the device:

- every decimal is DECIMAL128 with libcudf scale = -(Arrow scale), whatever the planned width
  (NOTES.md, 'Decimal scales'); the precision lives in the Arrow type and goes back to Arrow
  through ``ColumnMetadata(precision=)``;
- every string type (utf8, large_utf8, utf8_view) is STRING, date32 is TIMESTAMP_DAYS, a ``null``
  column is an all-NULL INT8, timestamps drop their timezone (kept in the Arrow type);
- index columns (join maps, sort permutations) are INT64, as on the CPU; a join's no-match is a
  NULL index (the JoinNoMatch sentinels are turned into NULLs right after the join) and
  :meth:`CudfKernels.gather` gathers NULL indices as NULL rows through
  ``OutOfBoundsPolicy.NULLIFY`` (NOTES.md, 'Gather maps' and 'Join gather maps').

Semantics are DataFusion's, as the CPU backend (``fallback_cpu.kernels``) computes them; each
place where libcudf answers differently says why, or names the section of gpu_exec/cudf/NOTES.md
that does. Where pylibcudf has no way to compute DataFusion's answer, the kernel downloads its
inputs, runs the CPU kernel and uploads the result; every such place is marked
``# host round-trip: <why>``.

The class only delegates: each family of kernels has its module, with the same name as its CPU
twin in ``fallback_cpu`` (cast, arithmetic, strings, temporal, functions, aggregate, window,
relational, io), over ``types``, ``columns`` and ``host``. pylibcudf and cupy are imported on
first use (``gpu_exec.cudf.lazy``), never when these modules are imported: they import (and
type-check) on machines without a GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from gpu_exec.cudf import (
    aggregate,
    arithmetic,
    functions,
    io,
    relational,
    strings,
    window,
)
from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import CudfColumn, CudfTable, Operand, _broadcast, _kernel
from gpu_exec.cudf.host import _empty, _upload

if TYPE_CHECKING:
    from planner.expr import BinaryOperator, Literal, UnaryOperator, WindowCall
    from planner.ir import FileFormat

__all__ = ["CudfKernels", "CudfTable", "CudfColumn"]


class CudfKernels:
    """The Kernels protocol (gpu_exec.engine.kernels) on pylibcudf: the GPU backend.

    Tables are :class:`CudfTable`, columns :class:`CudfColumn`. The current RMM memory resource
    and the default stream are used: the worker sets the resource up once (NOTES.md,
    'Memory resource').
    """

    name = "gpu"
    default_batch_rows = 4_194_304

    # ---- I/O and movement (gpu_exec.cudf.io, gpu_exec.cudf.host) ----------------------------

    @_kernel
    def read_parquet(
        self, path: str, columns: Sequence[str], row_groups: Sequence[int] | None, schema: pa.Schema
    ) -> CudfTable:
        return io.read_parquet(path, columns, row_groups, schema)

    @_kernel
    def write_file(self, table: CudfTable, schema: pa.Schema, path: str, file_format: FileFormat) -> None:
        io.write_file(table, schema, path, file_format)

    @_kernel
    def from_arrow(self, table: pa.Table) -> CudfTable:
        return _upload(table)

    @_kernel
    def to_arrow(self, table: CudfTable, schema: pa.Schema) -> pa.Table:
        return io.to_arrow(table, schema)

    def num_rows(self, table: CudfTable) -> int:
        return table.table.num_rows()

    def nbytes(self, table: CudfTable) -> int:
        # Data, null masks and children of every column (as gpu_exec.cudf.wire.device_nbytes).
        return sum(column.device_buffer_size() for column in table.table.columns())

    def length(self, column: CudfColumn) -> int:
        return len(column)

    def column(self, table: CudfTable, index: int) -> CudfColumn:
        return table.column(index)

    @_kernel
    def make_table(self, columns: Sequence[CudfColumn], schema: pa.Schema, num_rows: int) -> CudfTable:
        return io.make_table(columns, schema, num_rows)

    @_kernel
    def concat(self, tables: Sequence[CudfTable], schema: pa.Schema) -> CudfTable:
        return io.concat(tables, schema)

    @_kernel
    def slice(self, table: CudfTable, offset: int, length: int) -> CudfTable:
        return io.slice_table(table, offset, length)

    @_kernel
    def empty(self, schema: pa.Schema) -> CudfTable:
        return _empty(schema)

    @_kernel
    def literal_column(self, value: Literal, num_rows: int) -> CudfColumn:
        return _broadcast(value, num_rows)

    # ---- relational (gpu_exec.cudf.relational, .aggregate, .window) --------------------------

    @_kernel
    def filter(self, table: CudfTable, mask: CudfColumn) -> CudfTable:
        return relational.filter(table, mask)

    @_kernel
    def gather(self, table: CudfTable, indices: CudfColumn) -> CudfTable:
        return relational.gather(table, indices)

    @_kernel
    def join(
        self, left_keys: CudfTable, right_keys: CudfTable, how: str, nulls_equal: bool
    ) -> tuple[CudfColumn, CudfColumn | None]:
        return relational.join(left_keys, right_keys, how, nulls_equal)

    @_kernel
    def cross_join(self, left: CudfTable, right: CudfTable, schema: pa.Schema) -> CudfTable:
        return relational.cross_join(left, right, schema)

    @_kernel
    def index_mask(self, num_rows: int, indices: CudfColumn) -> CudfColumn:
        return relational.index_mask(num_rows, indices)

    @_kernel
    def group_by(
        self, table: CudfTable, keys: Sequence[int], aggs: Sequence[tuple[int | None, str, pa.DataType]]
    ) -> CudfTable:
        return aggregate.group_by(table, keys, aggs)

    @_kernel
    def distinct(self, table: CudfTable) -> CudfTable:
        return relational.distinct(table)

    @_kernel
    def sort_indices(self, table: CudfTable, keys: Sequence[tuple[int, bool, bool]]) -> CudfColumn:
        return relational.sort_indices(table, keys)

    @_kernel
    def hash_partition(self, table: CudfTable, keys: Sequence[int], num_partitions: int) -> list[CudfTable]:
        return relational.hash_partition(table, keys, num_partitions)

    @_kernel
    def window(
        self,
        table: CudfTable,
        call: WindowCall,
        arg: int | None,
        partition_by: Sequence[int],
        order_by: Sequence[tuple[int, bool, bool]],
        default: int | None = None,
    ) -> CudfColumn:
        return window.window(table, call, arg, partition_by, order_by, default)

    # ---- expressions (gpu_exec.cudf.arithmetic, .cast, .strings, .functions, .aggregate) ------

    @_kernel
    def binary(
        self, op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
    ) -> CudfColumn:
        return arithmetic.binary(op, left, right, out_type, num_rows)

    @_kernel
    def unary(self, op: UnaryOperator, operand: CudfColumn, out_type: pa.DataType) -> CudfColumn:
        return arithmetic.unary(op, operand, out_type)

    @_kernel
    def cast(self, operand: CudfColumn, to_type: pa.DataType, safe: bool) -> CudfColumn:
        return _cast(operand, to_type, safe)

    @_kernel
    def if_else(
        self, cond: CudfColumn, then: Operand, otherwise: Operand, out_type: pa.DataType, num_rows: int
    ) -> CudfColumn:
        return functions.if_else(cond, then, otherwise, out_type, num_rows)

    @_kernel
    def is_in(self, operand: CudfColumn, values: Sequence[Literal]) -> CudfColumn:
        return functions.is_in(operand, values)

    @_kernel
    def like(
        self, operand: CudfColumn, pattern: str, escape: str | None, case_insensitive: bool
    ) -> CudfColumn:
        return strings.like(operand, pattern, escape, case_insensitive)

    @_kernel
    def scalar_function(
        self, name: str, args: Sequence[Operand], out_type: pa.DataType, num_rows: int
    ) -> CudfColumn:
        return functions.scalar_function(name, args, out_type, num_rows)

    @_kernel
    def average(self, total: CudfColumn, count: CudfColumn, out_type: pa.DataType) -> CudfColumn:
        return aggregate.average(total, count, out_type)

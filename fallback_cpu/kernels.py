"""The Kernels protocol on Arrow: pyarrow.compute, acero and numpy — the CPU backend.

Tables are ``pa.Table``. Columns are ``pa.Array``: every kernel returns a contiguous array, and
accepts a ``pa.ChunkedArray`` as well (a table read from Parquet is chunked; ``column`` hands out
a zero-copy chunk when there is one, and combines chunks otherwise). An Operand is a Column or a
``planner.expr.Literal``, which is broadcast to the row count.

DataFusion 55 is the oracle. Where pyarrow's own kernel answers differently, the kernel computes
DataFusion's answer instead; each such place says which behaviour forced it. The biggest one:
decimal arithmetic, casts and rounding run on the *unscaled integers* (``fallback_cpu.decimals``:
numpy int64 when every value fits, Python ints in an object array otherwise), never on pyarrow's
decimal kernels, whose result scales and rounding differ from DataFusion's (libcudf's differ too,
see gpu_exec/cudf/NOTES.md, 'Decimal scales').

The class only delegates: each family of kernels has its module, with the same name as its cuDF
twin in ``gpu_exec.cudf`` (cast, arithmetic, strings, temporal, functions, aggregate, window,
relational, io; shared type rules in ``fallback_cpu.types``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

from fallback_cpu import (
    aggregate,
    arithmetic,
    functions,
    io,
    relational,
    strings,
    window,
)
from fallback_cpu.cast import _cast_array
from fallback_cpu.columns import Operand, _array, _column_of, make_table

if TYPE_CHECKING:
    from planner.expr import BinaryOperator, Literal, UnaryOperator, WindowCall
    from planner.ir import FileFormat

__all__ = ["ArrowKernels"]


class ArrowKernels:
    """The Kernels protocol (gpu_exec.engine.kernels) on pyarrow.compute, acero and numpy.

    Parameters
    ----------
    use_threads
        Let pyarrow use its thread pool (acero joins, group-by, sorts).
    """

    name = "cpu"
    default_batch_rows = 131_072

    def __init__(self, use_threads: bool = True) -> None:
        self.use_threads = use_threads

    # ---- I/O and movement (fallback_cpu.io, fallback_cpu.columns) ---------------------------

    def read_parquet(
        self, path: str, columns: Sequence[str], row_groups: Sequence[int] | None, schema: pa.Schema
    ) -> pa.Table:
        return io.read_parquet(path, columns, row_groups, schema, self.use_threads)

    def write_file(self, table: pa.Table, schema: pa.Schema, path: str, file_format: FileFormat) -> None:
        io.write_file(table, schema, path, file_format)

    def from_arrow(self, table: pa.Table) -> pa.Table:
        return table

    def to_arrow(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        return io.to_arrow(table, schema)

    def num_rows(self, table: pa.Table) -> int:
        return table.num_rows

    def nbytes(self, table: pa.Table) -> int:
        return int(table.nbytes)

    def length(self, column: pa.Array | pa.ChunkedArray) -> int:
        return len(column)

    def column(self, table: pa.Table, index: int) -> pa.Array:
        return _array(table.column(index))

    def make_table(self, columns: Sequence[pa.Array], schema: pa.Schema, num_rows: int) -> pa.Table:
        return make_table(columns, schema, num_rows)

    def concat(self, tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
        return io.concat(tables, schema)

    def slice(self, table: pa.Table, offset: int, length: int) -> pa.Table:
        return table.slice(offset, length)

    def empty(self, schema: pa.Schema) -> pa.Table:
        return schema.empty_table()

    def literal_column(self, value: Literal, num_rows: int) -> pa.Array:
        return _column_of(value, num_rows)

    # ---- relational (fallback_cpu.relational, .aggregate, .window) ---------------------------

    def filter(self, table: pa.Table, mask: pa.Array) -> pa.Table:
        return relational.filter(table, mask)

    def gather(self, table: pa.Table, indices: pa.Array) -> pa.Table:
        return relational.gather(table, indices)

    def join(
        self, left_keys: pa.Table, right_keys: pa.Table, how: str, nulls_equal: bool
    ) -> tuple[pa.Array, pa.Array | None]:
        return relational.join(left_keys, right_keys, how, nulls_equal, self.use_threads)

    def cross_join(self, left: pa.Table, right: pa.Table, schema: pa.Schema) -> pa.Table:
        return relational.cross_join(left, right, schema)

    def index_mask(self, num_rows: int, indices: pa.Array) -> pa.Array:
        return relational.index_mask(num_rows, indices)

    def group_by(
        self, table: pa.Table, keys: Sequence[int], aggs: Sequence[tuple[int | None, str, pa.DataType]]
    ) -> pa.Table:
        return aggregate.group_by(table, keys, aggs, self.use_threads)

    def distinct(self, table: pa.Table) -> pa.Table:
        return relational.distinct(table, self.use_threads)

    def sort_indices(self, table: pa.Table, keys: Sequence[tuple[int, bool, bool]]) -> pa.Array:
        return relational.sort_indices(table, keys)

    def hash_partition(self, table: pa.Table, keys: Sequence[int], num_partitions: int) -> list[pa.Table]:
        return relational.hash_partition(table, keys, num_partitions)

    def window(
        self,
        table: pa.Table,
        call: WindowCall,
        arg: int | None,
        partition_by: Sequence[int],
        order_by: Sequence[tuple[int, bool, bool]],
        default: int | None = None,
    ) -> pa.Array:
        return window.window(table, call, arg, partition_by, order_by, default)

    # ---- expressions (fallback_cpu.arithmetic, .cast, .strings, .functions, .aggregate) -------

    def binary(
        self, op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType, num_rows: int
    ) -> pa.Array:
        return arithmetic.binary(op, left, right, out_type, num_rows)

    def unary(self, op: UnaryOperator, operand: pa.Array, out_type: pa.DataType) -> pa.Array:
        return arithmetic.unary(op, operand, out_type)

    def cast(self, operand: pa.Array, to_type: pa.DataType, safe: bool) -> pa.Array:
        return _cast_array(_array(operand), to_type, safe)

    def if_else(
        self, cond: pa.Array, then: Operand, otherwise: Operand, out_type: pa.DataType, num_rows: int
    ) -> pa.Array:
        return functions.if_else(cond, then, otherwise, out_type, num_rows)

    def is_in(self, operand: pa.Array, values: Sequence[Literal]) -> pa.Array:
        return functions.is_in(operand, values)

    def like(self, operand: pa.Array, pattern: str, escape: str | None, case_insensitive: bool) -> pa.Array:
        return strings.like(operand, pattern, escape, case_insensitive)

    def scalar_function(
        self, name: str, args: Sequence[Operand], out_type: pa.DataType, num_rows: int
    ) -> pa.Array:
        return functions.scalar_function(name, args, out_type, num_rows)

    def average(self, total: pa.Array, count: pa.Array, out_type: pa.DataType) -> pa.Array:
        return aggregate.average(total, count, out_type)

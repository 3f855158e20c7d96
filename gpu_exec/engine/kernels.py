"""The Kernels protocol: the primitives every operator is written against, once for all backends.

Two implementations: ``fallback_cpu.kernels.ArrowKernels`` (pyarrow.compute / acero, the CPU
everywhere) and ``gpu_exec.cudf.kernels.CudfKernels`` (pylibcudf). Operators never look inside a
Table or Column: they are opaque backend objects (an Arrow table / array on CPU, a pylibcudf
table / column on GPU). Granularity follows pylibcudf, so a GPU kernel is a few library calls.

Contract for every kernel that takes an ``out_type``: the result has exactly that Arrow type
(decimal precision and scale included) and DataFusion's semantics (see planner.expr). Kernels never
guess a type. Errors in data (division by zero, a failing CAST) raise ``ExecutionError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa

    from planner.expr import BinaryOperator, Literal, UnaryOperator, WindowCall
    from planner.ir import FileFormat

__all__ = ["Table", "Column", "Operand", "SortSpec", "AggSpec", "Kernels", "KERNEL_METHODS"]

Table = Any  # backend table (pa.Table on CPU)
Column = Any  # backend column (pa.Array / pa.ChunkedArray on CPU)
Operand = Any  # a backend Column or a planner.expr.Literal (scalar broadcast to the row count)

# (column index, ascending, nulls_first) — nulls_first is absolute, as in SQL
SortSpec = tuple[int, bool, bool]
# (input column index or None for COUNT(*), function, out_type); function is one of
# "sum", "min", "max", "count" (non-NULL values), "count_all" (rows), "any_value", and on the CPU
# "bit_and", "bit_or", "bit_xor" (of integers) and "string_agg" (the non-NULL strings concatenated
# in row order) (gpu_exec.cudf.capabilities.CPU_ONLY_AGGREGATES)
AggSpec = tuple["int | None", str, "pa.DataType"]


@runtime_checkable
class Kernels(Protocol):
    """Primitives of one backend. ``name`` is "cpu" or "gpu".

    ``default_batch_rows``: the most rows per batch a scan yields on this backend unless the
    session says otherwise (``batch_rows``): big enough that a kernel call's fixed cost is small
    against its work (a few launches on a GPU, the interpreter on the CPU), small enough that a
    batch and what operators derive from it stay a small share of the memory limit."""

    name: str
    default_batch_rows: int

    # ---- I/O and movement -------------------------------------------------------------------
    def read_parquet(
        self, path: str, columns: Sequence[str], row_groups: Sequence[int] | None, schema: pa.Schema
    ) -> Table:
        """Read ``columns`` (in that order) of the given row groups (None = all) of one file and
        cast them to ``schema`` (strings to pa.string(), decimals to the planned width)."""
        ...

    def from_arrow(self, table: pa.Table) -> Table:
        """Upload an Arrow table (strings already pa.string())."""
        ...

    def to_arrow(self, table: Table, schema: pa.Schema) -> pa.Table:
        """Download as an Arrow table with exactly ``schema`` (names and types)."""
        ...

    def num_rows(self, table: Table) -> int: ...

    def nbytes(self, table: Table) -> int:
        """Bytes ``table`` holds in this backend's memory (Arrow's count of its buffers on the CPU,
        the device bytes of its columns on the GPU): what the memory pool accounts for it."""
        ...

    def length(self, column: Column) -> int:
        """Number of values in ``column``."""
        ...

    def column(self, table: Table, index: int) -> Column: ...

    def make_table(self, columns: Sequence[Column], schema: pa.Schema, num_rows: int) -> Table:
        """A table of ``columns`` named by ``schema`` (``num_rows`` for zero columns)."""
        ...

    def concat(self, tables: Sequence[Table], schema: pa.Schema) -> Table:
        """Rows of all tables, in order; zero tables gives an empty table of ``schema``."""
        ...

    def slice(self, table: Table, offset: int, length: int) -> Table: ...

    def empty(self, schema: pa.Schema) -> Table: ...

    def write_file(self, table: Table, schema: pa.Schema, path: str, file_format: FileFormat) -> None:
        """Write ``table`` (named and typed by ``schema``) as a new file at ``path``, Parquet or
        CSV as ``file_format`` says; reading the file back gives ``schema``'s columns and values
        (Parquet: exactly ``schema``, its Arrow schema stored in the file)."""
        ...

    def literal_column(self, value: Literal, num_rows: int) -> Column:
        """``num_rows`` copies of a literal (NULL literal → all-null column of its type)."""
        ...

    # ---- relational -------------------------------------------------------------------------
    def filter(self, table: Table, mask: Column) -> Table:
        """Keep rows where ``mask`` is valid and true (NULL drops the row, as SQL WHERE)."""
        ...

    def gather(self, table: Table, indices: Column) -> Table:
        """Rows at ``indices``; a null index (a join's no-match) gives an all-null row."""
        ...

    def join(
        self, left_keys: Table, right_keys: Table, how: str, nulls_equal: bool
    ) -> tuple[Column, Column | None]:
        """Equi-join gather maps. ``how``: "inner", "left", "full" → (left_map, right_map) where a
        no-match entry is a null index; "left_semi", "left_anti" → (left_map, None). Keys have
        identical types on both sides. Row order of the result is unspecified."""
        ...

    def cross_join(self, left: Table, right: Table, schema: pa.Schema) -> Table: ...

    def index_mask(self, num_rows: int, indices: Column) -> Column:
        """Boolean column of ``num_rows``: true at each (non-null) position in ``indices``."""
        ...

    def group_by(self, table: Table, keys: Sequence[int], aggs: Sequence[AggSpec]) -> Table:
        """One row per distinct key combination (NULL is a key value of its own; no keys = one row,
        even for empty input): the key columns, then one column per ``aggs`` entry of its
        ``out_type``. SUM/MIN/MAX of nothing but NULLs is NULL; counts are 0."""
        ...

    def distinct(self, table: Table) -> Table:
        """Distinct rows (NULLs equal)."""
        ...

    def sort_indices(self, table: Table, keys: Sequence[SortSpec]) -> Column:
        """A stable permutation that orders ``table`` by ``keys``."""
        ...

    def hash_partition(self, table: Table, keys: Sequence[int], num_partitions: int) -> list[Table]:
        """Split rows by ``fallback_cpu.partition_hash.partition_ids`` of the key columns: both
        backends must send a key to the same partition (the two sides of a join may run on
        different devices)."""
        ...

    def window(self, table: Table, call: WindowCall, arg: int | None,
               partition_by: Sequence[int], order_by: Sequence[SortSpec],
               default: int | None = None) -> Column:
        """One window function over ``table`` (arguments already evaluated into columns), in the
        table's row order, result of ``call.dtype``; ``call.frame`` is the frame. ``arg`` is the
        value column; ``default`` lag/lead's default (of the value's type), None for NULL; the
        constant parameters are in ``call`` (planner.expr.window_parameter)."""
        ...

    # ---- expressions ------------------------------------------------------------------------
    def binary(self, op: BinaryOperator, left: Operand, right: Operand, out_type: pa.DataType,
               num_rows: int) -> Column:
        """SQL ``left op right`` (AND/OR three-valued; decimal/interval rules of planner.expr)."""
        ...

    def unary(self, op: UnaryOperator, operand: Column, out_type: pa.DataType) -> Column: ...

    def cast(self, operand: Column, to_type: pa.DataType, safe: bool) -> Column:
        """CAST with DataFusion's semantics; ``safe`` (TRY_CAST) gives NULL instead of an error."""
        ...

    def if_else(self, cond: Column, then: Operand, otherwise: Operand, out_type: pa.DataType,
                num_rows: int) -> Column:
        """``then`` where ``cond`` is TRUE, else ``otherwise`` (a NULL condition takes ``otherwise``)."""
        ...

    def is_in(self, operand: Column, values: Sequence[Literal]) -> Column:
        """SQL IN list: NULL operand → NULL; no match with a NULL in the list → NULL."""
        ...

    def like(self, operand: Column, pattern: str, escape: str | None, case_insensitive: bool) -> Column: ...

    def scalar_function(self, name: str, args: Sequence[Operand], out_type: pa.DataType,
                        num_rows: int) -> Column:
        """One of ``planner.functions.SCALAR_FUNCTIONS`` with DataFusion's semantics."""
        ...

    def average(self, total: Column, count: Column, out_type: pa.DataType) -> Column:
        """AVG from a SUM and a COUNT column: float division, or for decimals the sum rescaled to
        ``out_type``'s scale and divided by the count, truncated (DataFusion); count 0 → NULL."""
        ...


KERNEL_METHODS: frozenset[str] = frozenset(
    name for name in vars(Kernels) if not name.startswith("_") and callable(vars(Kernels)[name])
)

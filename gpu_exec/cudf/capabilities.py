"""The cuDF kernels' capability table: what the GPU backend runs with DataFusion's semantics.

Pure Python, no cuDF import, so a CPU-only machine can plan "as if GPU" (EXPLAIN and CI). Every
entry names why an operator must stay on the CPU: what libcudf cannot hold or take (the pylibcudf
facts are in gpu_exec/cudf/NOTES.md, sections named), or where its answer differs from DataFusion's.
"""

from __future__ import annotations

import pyarrow as pa

from planner.expr import Cast, Expr, Literal, ScalarFunction
from planner.ir import FileWrite, PlanNode

__all__ = ["CudfCapabilities", "GPU_PARQUET_COMPRESSIONS", "GPU_FUNCTIONS"]

# Parquet codecs (pyarrow's names) the cuDF kernels' writer maps to libcudf's CompressionType.
GPU_PARQUET_COMPRESSIONS = frozenset({"snappy", "zstd", "lz4", "none"})

# Every function of planner.functions that the cuDF kernels run → the positions of the arguments
# libcudf takes only as scalars (patterns, positions: NOTES.md, 'Strings'), () when any argument
# may be a column. A function missing here is placed on the CPU; tests/planner/test_function_table.py
# requires an entry for each function of the table.
GPU_FUNCTIONS: dict[str, tuple[int, ...]] = {
    "substr": (1, 2), "upper": (), "lower": (), "character_length": (), "octet_length": (),
    "trim": (1,), "ltrim": (1,), "rtrim": (1,), "concat": (), "starts_with": (), "ends_with": (),
    "strpos": (), "replace": (1, 2), "abs": (), "round": (), "floor": (), "ceil": (), "coalesce": (),
    "nullif": (), "date_part": (), "date_trunc": (),
}


class CudfCapabilities:
    """Capabilities of ``gpu_exec.cudf.kernels.CudfKernels`` (see planner.placement)."""

    device = "gpu"

    def node_reason(self, node: PlanNode) -> str | None:
        # Every IR operator has a GPU implementation over the Kernels protocol; a file write also
        # needs every input column on the device and a codec libcudf's writer has.
        if isinstance(node, FileWrite):
            return self._write_reason(node)
        return None

    def _write_reason(self, node: FileWrite) -> str | None:
        f = node.file_format
        if f.kind == "parquet":
            if f.compression_level is not None:
                return "libcudf's Parquet writer takes no compression level"
            if (f.compression or "snappy") not in GPU_PARQUET_COMPRESSIONS:
                return f"libcudf's Parquet writer has no {f.compression} codec"
        for field in node.input.schema:
            reason = self.type_reason(field.type)
            if reason:
                return f"column {field.name!r}: {reason}"
        return None

    def type_reason(self, dtype: pa.DataType) -> str | None:
        # The Arrow types libcudf can hold (NOTES.md, 'Metadata').
        if pa.types.is_decimal(dtype):
            return "decimal256 has no libcudf type" if dtype.bit_width == 256 else None
        if pa.types.is_timestamp(dtype) and dtype.tz is not None:
            return "libcudf timestamps carry no time zone"
        if (
            pa.types.is_integer(dtype)
            or pa.types.is_floating(dtype)
            or pa.types.is_boolean(dtype)
            or pa.types.is_string(dtype)
            or pa.types.is_date32(dtype)
            or pa.types.is_timestamp(dtype)
            or pa.types.is_duration(dtype)
            or pa.types.is_interval(dtype)  # literals of date ± interval only (expression_reason)
        ):
            return None
        return f"type {dtype} has no libcudf counterpart"

    def expression_reason(self, expr: Expr) -> str | None:
        if pa.types.is_interval(expr.dtype) and not isinstance(expr, Literal):
            # libcudf has no interval type: only literals, folded into date/timestamp arithmetic.
            return "interval values other than constants are not representable in libcudf"
        if isinstance(expr, ScalarFunction):
            return self._function_reason(expr)
        if isinstance(expr, Cast):
            source = expr.operand.dtype
            if pa.types.is_floating(source) and pa.types.is_string(expr.dtype):
                return "CAST(float AS string): libcudf formats floats differently from DataFusion"
        return None

    def _function_reason(self, call: ScalarFunction) -> str | None:
        if call.name not in GPU_FUNCTIONS:
            return f"no GPU kernel for {call.name}()"
        for position in GPU_FUNCTIONS[call.name]:
            if position < len(call.args) and not isinstance(call.args[position], Literal):
                return f"{call.name}() with a non-constant argument {position + 1}: libcudf takes it as a scalar"
        if call.name == "replace":
            search = call.args[1]
            if isinstance(search, Literal) and search.value == "":
                # libcudf's replace of an empty target differs from DataFusion's (NOTES.md, 'Strings').
                return "replace() with an empty search string: libcudf and DataFusion disagree on it"
        return None

"""The cuDF kernels' capability table: what the GPU backend runs with DataFusion's semantics.

Pure Python, no cuDF import, so a CPU-only machine can plan "as if GPU" (EXPLAIN and CI). Every
entry names why an operator must stay on the CPU: what libcudf cannot hold or take (the pylibcudf
facts are in gpu_exec/cudf/NOTES.md, sections named), or where its answer differs from DataFusion's.
"""

from __future__ import annotations

import pyarrow as pa

from planner.expr import AggregateFunction, Cast, Expr, Literal, ScalarFunction
from planner.ir import Aggregate, FileWrite, PlanNode
from planner.regex import parse_regex, replacement_parts
from planner.udf import UdfCall

__all__ = ["CPU_ONLY_AGGREGATES", "CPU_ONLY_FUNCTIONS", "GPU_FUNCTIONS", "GPU_PARQUET_COMPRESSIONS", "CudfCapabilities"]

# Parquet codecs (pyarrow's names) the cuDF kernels' writer maps to libcudf's CompressionType.
GPU_PARQUET_COMPRESSIONS = frozenset({"snappy", "zstd", "lz4", "none"})

# Every function of planner.functions that the cuDF kernels run → the positions of the arguments
# libcudf takes only as scalars (patterns, positions: NOTES.md, 'Strings'), () when any argument
# may be a column. A function missing here is placed on the CPU; tests/planner/test_function_table.py
# requires each function of the table here or in CPU_ONLY_FUNCTIONS.
GPU_FUNCTIONS: dict[str, tuple[int, ...]] = {
    "substr": (1, 2), "upper": (), "lower": (), "character_length": (), "octet_length": (),
    "trim": (1,), "ltrim": (1,), "rtrim": (1,), "concat": (), "starts_with": (), "ends_with": (),
    "strpos": (), "replace": (1, 2), "abs": (), "round": (), "floor": (), "ceil": (), "coalesce": (),
    "nullif": (), "date_part": (), "date_trunc": (),
    "sqrt": (), "cbrt": (), "exp": (), "ln": (), "log": (), "log10": (), "log2": (), "power": (),
    "sin": (), "cos": (), "tan": (), "cot": (), "asin": (), "acos": (), "atan": (), "atan2": (),
    "sinh": (), "cosh": (), "tanh": (), "asinh": (), "acosh": (), "atanh": (), "degrees": (),
    "radians": (), "trunc": (1,), "signum": (), "pi": (), "isnan": (), "iszero": (), "nanvl": (),
    "nvl": (), "nvl2": (), "greatest": (), "least": (), "repeat": (), "reverse": (), "bit_length": (),
    "contains": (), "regexp_like": (), "regexp_replace": (), "regexp_count": (2,),
    "to_timestamp": (), "to_timestamp_seconds": (), "to_timestamp_millis": (), "to_timestamp_micros": (),
    "to_timestamp_nanos": (), "to_unixtime": (), "from_unixtime": (), "to_date": (),
}

# The functions of planner.functions the cuDF kernels do not run, each with the reason; placement
# puts a call of one on the CPU. Every function of the table is in exactly one of the two maps.
CPU_ONLY_FUNCTIONS: dict[str, str] = {
    "gcd": "libcudf has no gcd kernel (Euclid's loop has no columnar form in libcudf)",
    "lcm": "libcudf has no lcm kernel (it needs gcd)",
    "factorial": "libcudf has no factorial kernel",
    "left": "no GPU kernel yet (a negative count needs per-row slice bounds)",
    "right": "no GPU kernel yet (a negative count needs per-row slice bounds)",
    "lpad": "libcudf's pad takes a single fill character and never shortens a string",
    "rpad": "libcudf's pad takes a single fill character and never shortens a string",
    "ascii": "no GPU kernel yet",
    "chr": "no GPU kernel yet (libcudf builds no strings from code points)",
    "to_hex": "no GPU kernel yet (libcudf's integers_to_hex pads to whole bytes and upper-cases)",
    "concat_ws": "no GPU kernel yet (libcudf's separator concatenation joins NULLs as narep)",
    "split_part": "no GPU kernel yet",
    "initcap": "libcudf's capitalize/title differ from DataFusion's word rule and full case mapping",
    "translate": "no GPU kernel yet (libcudf's translate takes a fixed character table, not per-row "
                 "deletions)",
    "levenshtein": "no GPU kernel yet",
    "md5": "no GPU kernel yet",
    "substr_index": "no GPU kernel yet",
    "find_in_set": "no GPU kernel yet",
    "overlay": "no GPU kernel yet",
    "encode": "no GPU kernel yet",
    "make_date": "no GPU kernel yet (calendar validation per row)",
    "date_bin": "no GPU kernel yet (floored division of nanoseconds from the origin)",
}


# Aggregate functions the cuDF kernels do not run, each with the reason; an Aggregate computing
# one is placed on the CPU.
_NO_BITWISE = ("pylibcudf 26.10's typed stubs declare no bitwise aggregation (every cuDF call is "
               "checked against them: tests/test_gpu_static.py)")
CPU_ONLY_AGGREGATES: dict[AggregateFunction, str] = {
    AggregateFunction.BIT_AND: _NO_BITWISE,
    AggregateFunction.BIT_OR: _NO_BITWISE,
    AggregateFunction.BIT_XOR: _NO_BITWISE,
    AggregateFunction.STRING_AGG: "no GPU kernel yet (libcudf's collect_list and join_list_elements "
                                  "would give it; the cuDF kernels hold no list columns)",
}


class CudfCapabilities:
    """Capabilities of ``gpu_exec.cudf.kernels.CudfKernels`` (see planner.placement)."""

    device = "gpu"

    def node_reason(self, node: PlanNode) -> str | None:
        # Every IR operator has a GPU implementation over the Kernels protocol; a file write also
        # needs every input column on the device and a codec libcudf's writer has; an aggregate,
        # functions the cuDF kernels run.
        if isinstance(node, FileWrite):
            return self._write_reason(node)
        if isinstance(node, Aggregate):
            for call in node.aggregates:
                if call.func in CPU_ONLY_AGGREGATES:
                    return f"{call.func.value}() runs on the CPU: {CPU_ONLY_AGGREGATES[call.func]}"
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
        if isinstance(expr, UdfCall):
            return f"Python UDF {expr.udf.name}() runs on the CPU, over Arrow arrays"
        if isinstance(expr, Cast):
            source = expr.operand.dtype
            if pa.types.is_floating(source) and pa.types.is_string(expr.dtype):
                return "CAST(float AS string): libcudf formats floats differently from DataFusion"
        return None

    def _function_reason(self, call: ScalarFunction) -> str | None:
        if call.name in CPU_ONLY_FUNCTIONS:
            return f"{call.name}() runs on the CPU: {CPU_ONLY_FUNCTIONS[call.name]}"
        if call.name not in GPU_FUNCTIONS:
            return f"no GPU kernel for {call.name}()"
        if call.name in ("greatest", "least") and not _numeric(call.dtype):
            # The GPU kernel folds NULL_MAX/NULL_MIN with DataFusion's NaN order over numbers only.
            return f"{call.name}() of {call.dtype} runs on the CPU (the GPU kernel takes numbers)"
        for position in GPU_FUNCTIONS[call.name]:
            if position < len(call.args) and not isinstance(call.args[position], Literal):
                return f"{call.name}() with a non-constant argument {position + 1}: libcudf takes it as a scalar"
        if call.name == "replace":
            search = call.args[1]
            if isinstance(search, Literal) and search.value == "":
                # libcudf's replace of an empty target differs from DataFusion's (NOTES.md, 'Strings').
                return "replace() with an empty search string: libcudf and DataFusion disagree on it"
        if call.name.startswith("regexp_"):
            return _regex_reason(call)
        return None


def _regex_reason(call: ScalarFunction) -> str | None:
    """Where libcudf's regex engine would answer differently from DataFusion's (translation has
    checked the pattern against planner/regex.py's subset; these are constants)."""
    flags_at = 2 if call.name == "regexp_like" else 3
    flags = call.args[flags_at] if flags_at < len(call.args) else None
    text = flags.value if isinstance(flags, Literal) and isinstance(flags.value, str) else ""
    if "i" in text:
        return (f"{call.name}() with the i flag (or ~*) runs on the CPU: libcudf's case-insensitive "
                "matching is not Rust's Unicode case folding")
    if "m" in text:
        return (f"{call.name}() with the m flag runs on the CPU: libcudf's line anchors around a final "
                "line break are not documented to match Rust's")
    pattern = call.args[1]
    if not isinstance(pattern, Literal) or not isinstance(pattern.value, str):
        return None
    if parse_regex(pattern.value).nullable:
        # libcudf leaves empty patterns undefined and does not document where empty matches fall.
        return (f"{call.name}() of a pattern that can match the empty string runs on the CPU: "
                "libcudf's empty matches are not documented to be Rust's")
    replacement = call.args[2] if call.name == "regexp_replace" else None
    if isinstance(replacement, Literal) and isinstance(replacement.value, str):
        parts = replacement_parts(replacement.value)
        if any(isinstance(p, int) for p in parts):
            if "g" not in text:
                return ("regexp_replace() of the first match with group references runs on the CPU: "
                        "libcudf's replace_with_backrefs replaces every match")
            if any(p in ("$", "\\", "{", "}") for p in parts):
                return ("regexp_replace() with group references and '$', '{' or '}' in the replacement "
                        "runs on the CPU: libcudf's backreference syntax reads them")
    return None


def _numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype))

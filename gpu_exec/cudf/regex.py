"""regexp_like (and the ~ operators), regexp_replace and regexp_count on libcudf's regex engine.

Translation lets through constant patterns in planner/regex.py's subset; capabilities place on
the CPU what libcudf treats differently (the i and m flags, empty matches, first-match
replacement with group references). Each pattern is re-emitted from its parsed form for libcudf
(``$`` as ``\\Z``: planner.regex.Regex.text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import CudfColumn, Operand, _all_null, _column_of, _scalar
from gpu_exec.cudf.types import _INT32_MAX, _dtype, _int32
from planner.errors import ExecutionError
from planner.expr import Literal
from planner.regex import parse_regex, replacement_parts

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc

__all__ = ["REGEX_KERNELS"]


def _strings(x: Operand, n: int) -> plc.Column:
    return _cast(_column_of(x, n), pa.string(), safe=False).data


def _constant(args: list[Operand], position: int) -> str | None:
    arg = args[position]
    if not isinstance(arg, Literal):
        raise ExecutionError("internal error: a regular expression argument must be a constant")
    value = arg.value
    return value if isinstance(value, str) else None


def _program(pattern: str, flags: str) -> tuple[plc.strings.regex_program.RegexProgram, int]:
    regex = parse_regex(pattern)
    Flags = plc.strings.regex_flags.RegexFlags
    if set(flags) - {"s", "g"}:
        # capabilities keep 'i' and 'm' on the CPU (libcudf's case folding and line anchors)
        raise ExecutionError(f"internal error: regular expression flags {flags!r} on the GPU")
    program = plc.strings.regex_program.RegexProgram.create(
        regex.text("cudf"), Flags.DOTALL if "s" in flags else Flags.DEFAULT)
    return program, regex.groups


def _fn_regexp_like(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    s = _strings(args[0], n)
    pattern = _constant(args, 1)
    flags = (_constant(args, 2) if len(args) > 2 else None) or ""  # NULL flags: none (DataFusion)
    if pattern is None:
        return _all_null(pa.bool_(), n)
    return CudfColumn(plc.strings.contains.contains_re(s, _program(pattern, flags)[0]), pa.bool_())


def _fn_regexp_replace(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    s = _strings(args[0], n)
    pattern, replacement = _constant(args, 1), _constant(args, 2)
    flags = _constant(args, 3) if len(args) > 3 else ""
    if pattern is None or replacement is None or flags is None:
        return _all_null(pa.string(), n)
    program, groups = _program(pattern, flags)
    parts = replacement_parts(replacement)
    if all(isinstance(p, str) for p in parts):
        text = "".join(str(p) for p in parts)
        out = plc.strings.replace_re.replace_re(
            s, program, _scalar(text, _dtype(plc.TypeId.STRING)), -1 if "g" in flags else 1)
        return CudfColumn(out, pa.string())
    if "g" not in flags:
        raise ExecutionError("internal error: a first-match replacement with groups on the GPU")
    # Groups as ${N}; one the pattern lacks inserts '' (Rust). capabilities keep literal '$' and
    # '\' out of these replacements (libcudf's backreference syntax reads them).
    text = "".join(f"${{{p}}}" if isinstance(p, int) and p <= groups else "" if isinstance(p, int) else p
                   for p in parts)
    return CudfColumn(plc.strings.replace_re.replace_with_backrefs(s, program, text), pa.string())


def _fn_regexp_count(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    s = _strings(args[0], n)
    pattern = _constant(args, 1)
    flags = _constant(args, 3) if len(args) > 3 else ""
    start = args[2] if len(args) > 2 else Literal(1, pa.int64())
    if not isinstance(start, Literal):
        raise ExecutionError("internal error: a per-row regexp_count start on the GPU")
    if pattern is None or flags is None or start.value is None:
        return _all_null(pa.int64(), n)
    first = int(start.value)
    if first < 1:
        # DataFusion checks the start of the rows with a string only (a NULL string's count is NULL).
        if s.null_count() < s.size():
            raise ExecutionError("regexp_count() requires start to be 1 based")
        return _all_null(pa.int64(), n)
    if first > 1:
        # DataFusion counts in the string from the start-th character on ('^' would match there).
        begin = _scalar(min(first - 1, _INT32_MAX), _int32())
        s = plc.strings.slice.slice_strings(s, begin, _scalar(_INT32_MAX, _int32()))
    counted = plc.strings.contains.count_re(s, _program(pattern, flags)[0])
    return _cast(CudfColumn(counted, pa.int32()), pa.int64(), safe=False)


REGEX_KERNELS: dict[str, Callable[[list[Operand], pa.DataType, int], CudfColumn]] = {
    "regexp_like": _fn_regexp_like,
    "regexp_replace": _fn_regexp_replace,
    "regexp_count": _fn_regexp_count,
}

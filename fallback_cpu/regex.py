"""regexp_like (and the ~ operators), regexp_replace and regexp_count on Arrow's RE2 kernels.

Translation only lets through constant patterns in the subset of planner/regex.py, where RE2 and
DataFusion's Rust regex agree; each pattern is re-emitted from its parsed form for RE2 and given
the flags as RE2's inline ``(?flags)``, as DataFusion does for Rust.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.cast import _cast_array
from fallback_cpu.columns import Operand, _column_of
from planner.errors import ExecutionError
from planner.expr import Literal
from planner.regex import parse_regex, replacement_parts

__all__ = ["REGEX_KERNELS"]


def _strings(x: Operand, n: int) -> pa.Array:
    return _cast_array(_column_of(x, n), pa.string(), safe=False)


def _constant(args: list[Operand], position: int, what: str) -> str | None:
    arg = args[position]
    if not isinstance(arg, Literal):
        raise ExecutionError(f"internal error: a regular expression {what} must be a constant")
    return arg.value  # type: ignore[no-any-return]


def _re2(pattern: str, flags: str) -> tuple[str, int]:
    regex = parse_regex(pattern)
    text = regex.text("re2")
    flags = flags.replace("g", "")
    return (f"(?{flags}){text}" if flags else text), regex.groups


def _fn_regexp_like(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    s = _strings(args[0], n)
    pattern = _constant(args, 1, "pattern")
    # DataFusion's regexp_like reads NULL flags as none (regexp_replace/count give NULL).
    flags = (_constant(args, 2, "flags") if len(args) > 2 else None) or ""
    if pattern is None:
        return pa.nulls(n, pa.bool_())
    return pc.match_substring_regex(s, _re2(pattern, flags)[0])


def _rewrite(replacement: str, groups: int) -> str:
    """The replacement as an RE2 rewrite: groups as \\N (a group the pattern lacks inserts '', as
    in Rust), literal backslashes doubled."""
    out = []
    for part in replacement_parts(replacement):
        if isinstance(part, int):
            out.append(f"\\{part}" if part <= groups else "")
        else:
            out.append(part.replace("\\", "\\\\"))
    return "".join(out)


def _fn_regexp_replace(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    s = _strings(args[0], n)
    pattern, replacement = _constant(args, 1, "pattern"), _constant(args, 2, "replacement")
    flags = _constant(args, 3, "flags") if len(args) > 3 else ""
    if pattern is None or replacement is None or flags is None:
        return pa.nulls(n, pa.string())
    text, groups = _re2(pattern, flags)
    return pc.replace_substring_regex(s, pattern=text, replacement=_rewrite(replacement, groups),
                                      max_replacements=None if "g" in flags else 1)


def _fn_regexp_count(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    s = _strings(args[0], n)
    pattern = _constant(args, 1, "pattern")
    flags = _constant(args, 3, "flags") if len(args) > 3 else ""
    if pattern is None or flags is None:
        return pa.nulls(n, pa.int64())
    text = _re2(pattern, flags)[0]
    if len(args) < 3:
        return _cast_array(pc.count_substring_regex(s, text), pa.int64(), safe=False)
    start = _cast_array(_column_of(args[2], n), pa.int64(), safe=False)
    # DataFusion checks the start of the rows with a string only (a NULL string's count is NULL).
    if pc.any(pc.and_(pc.is_valid(s), pc.less(start, 1))).as_py():
        raise ExecutionError("regexp_count() requires start to be 1 based")
    starts = [v for v in pc.unique(start.drop_null()).to_pylist() if v >= 1]
    # DataFusion counts in the string from the start-th character on (so '^' matches there): one
    # slice and count per distinct start, rows picked by their start.
    result = pa.nulls(n, pa.int64())
    for value in starts:
        rows = pc.fill_null(pc.equal(start, value), False)
        counted = pc.count_substring_regex(pc.utf8_slice_codeunits(s, value - 1), text)
        result = pc.if_else(rows, _cast_array(counted, pa.int64(), safe=False), result)
    return result


REGEX_KERNELS: dict[str, Callable[[list[Operand], pa.DataType, int], pa.Array]] = {
    "regexp_like": _fn_regexp_like,
    "regexp_replace": _fn_regexp_replace,
    "regexp_count": _fn_regexp_count,
}

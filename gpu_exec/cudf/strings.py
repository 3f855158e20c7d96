"""LIKE and the string functions on the device (pylibcudf.strings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from gpu_exec.cudf.cast import _cast
from gpu_exec.cudf.columns import (
    CudfColumn,
    Operand,
    _all_null,
    _any_true,
    _binop,
    _broadcast,
    _column_of,
    _compare,
    _first_where,
    _literal_scalar,
    _scalar,
    _with_nulls_of,
)
from gpu_exec.cudf.host import _host_scalar_function
from gpu_exec.cudf.types import _INT32_MAX, _dtype, _int32, _int64
from planner.errors import ExecutionError
from planner.expr import Literal

if TYPE_CHECKING:
    import pylibcudf as plc
else:
    from gpu_exec.cudf.lazy import plc


def like(
    operand: CudfColumn, pattern: str, escape: str | None, case_insensitive: bool
) -> CudfColumn:
    x = _cast(operand, pa.string(), safe=False).data
    # libcudf has no default escape; DataFusion's is backslash (NOTES.md, 'Strings').
    escape_char = "\\" if escape is None else escape
    if case_insensitive:  # ILIKE: both sides lower-cased (NOTES.md, 'Strings')
        x = plc.strings.case.to_lower(x)
        # Lower-case the pattern's characters but not its escape character (an 'X' escape must
        # stay 'X'): each escaped pair keeps its escape, the escaped character is lowered too.
        pattern = escape_char.join(part.lower() for part in pattern.split(escape_char))
    pattern = _like_pattern(pattern, escape_char)
    return CudfColumn(plc.strings.contains.like(x, pattern, escape_char), pa.bool_())


def _strings_of(x: Operand, n: int) -> plc.Column:
    col = _column_of(x, n)
    return _cast(col, pa.string(), safe=False).data


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
        # negatives from the end: clamp to [0, 2^31 - 1] first.
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
        # Positions are INT32 and negatives count from the end: clamp first. NULL rows
        # get any bound; their result is NULL below.
        filled = plc.replace.replace_nulls(c, zero)
        return plc.unary.cast(plc.replace.clamp(filled, zero, _scalar(_INT32_MAX, _int64())), _int32())

    out = plc.strings.slice.slice_strings(s, bound(begin_col), bound(end_col))
    return CudfColumn(_with_nulls_of(out, sources), pa.string())


# libcudf maps case one character at a time and only below U+10000: DataFusion (Rust) also maps
# characters beyond, and lower-cases a word-final 'Σ' to 'ς'. Strings holding such characters
# take the host round-trip (NOTES.md, 'Strings').
_BEYOND_BMP = "\U00010000-\U0010ffff"


def _case_mapped(args: list[Operand], t: pa.DataType, n: int, name: str, unsafe: str) -> CudfColumn:
    strings = _strings_of(args[0], n)
    program = plc.strings.regex_program.RegexProgram.create(f"[{unsafe}]", plc.strings.regex_flags.RegexFlags.DEFAULT)
    if _any_true(plc.strings.contains.contains_re(strings, program)):
        return _host_scalar_function(name, args, t, n)
    mapped = plc.strings.case.to_upper(strings) if name == "upper" else plc.strings.case.to_lower(strings)
    return CudfColumn(mapped, pa.string())


def _fn_upper(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _case_mapped(args, t, n, "upper", _BEYOND_BMP)


def _fn_lower(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    return _case_mapped(args, t, n, "lower", "\u03a3" + _BEYOND_BMP)


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
    # SQL trim strips spaces only: pass the set, never None (None strips all whitespace).
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
    # concat() skips NULL arguments: narep ""; concat(NULL) is ''.
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
    # find: 0-based character index, -1 when absent → strpos: 1-based, 0 when absent.
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
        return CudfColumn(s, pa.string())  # DataFusion 55 leaves the string unchanged (NOTES.md, 'Strings')
    string = _dtype(plc.TypeId.STRING)
    out = plc.strings.replace.replace(s, _scalar(str(old.value), string), _scalar(str(new.value), string))
    return CudfColumn(out, pa.string())


def _fn_repeat(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    # libcudf gives '' for a count <= 0, as DataFusion, and NULL for a NULL count.
    s = _strings_of(args[0], n)
    times = args[1]
    if isinstance(times, Literal):
        if times.value is None:
            return _all_null(pa.string(), n)
        # Counts beyond size_type overflow libcudf's output size unless every string is empty.
        count = min(int(times.value), _INT32_MAX)
        return CudfColumn(plc.strings.repeat.repeat_strings(s, count), pa.string())
    counts = _cast(times, pa.int32(), safe=False).data  # libcudf takes size_type counts
    return CudfColumn(plc.strings.repeat.repeat_strings(s, counts), pa.string())


def _fn_reverse(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    # libcudf reverses UTF-8 characters (code points), as Rust's chars().rev().
    return CudfColumn(plc.strings.reverse.reverse(_strings_of(args[0], n)), pa.string())


def _fn_bit_length(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    octets = plc.strings.attributes.count_bytes(_strings_of(args[0], n))
    eight = plc.Scalar.from_py(8, octets.type())
    return CudfColumn(
        plc.binaryop.binary_operation(octets, eight, plc.binaryop.BinaryOperator.MUL, octets.type()), pa.int32()
    )


def _fn_contains(args: list[Operand], t: pa.DataType, n: int) -> CudfColumn:
    # A literal substring search ('' is in every string, as in DataFusion).
    s = _strings_of(args[0], n)
    sub = args[1]
    if isinstance(sub, Literal) and sub.value is None:
        return _all_null(pa.bool_(), n)
    target: plc.Column | plc.Scalar = _literal_scalar(sub) if isinstance(sub, Literal) else _strings_of(sub, n)
    return CudfColumn(plc.strings.find.contains(s, target), pa.bool_())


MORE_STRING_KERNELS = {
    "repeat": _fn_repeat, "reverse": _fn_reverse, "bit_length": _fn_bit_length, "contains": _fn_contains,
}

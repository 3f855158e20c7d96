"""LIKE and the string functions (substr, upper, trim, concat, strpos, replace...)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fallback_cpu.cast import _cast_array
from fallback_cpu.columns import Operand, _array, _column_of
from planner.errors import ExecutionError
from planner.expr import Literal


def like(operand: pa.Array, pattern: str, escape: str | None, case_insensitive: bool) -> pa.Array:
    x = _array(operand)
    if not pa.types.is_string(x.type):
        x = x.cast(pa.string())
    return _like(x, pattern, "\\" if escape is None else escape, case_insensitive)


class _Wildcard(enum.Enum):
    ANY = "%"  # any run of characters
    ONE = "_"  # exactly one character


def _like_tokens(pattern: str, escape: str | None) -> list[str | _Wildcard]:
    """A LIKE pattern as literal runs and wildcards. ``escape`` + any character is that character;
    a trailing escape is a literal escape character (DataFusion: 'ab\\' LIKE 'ab\\' is true)."""
    tokens: list[str | _Wildcard] = []
    literal: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape is not None and c == escape and i + 1 < len(pattern):
            literal.append(pattern[i + 1])
            i += 2
            continue
        if c in "%_":
            if literal:
                tokens.append("".join(literal))
                literal = []
            wildcard = _Wildcard(c)
            if not (wildcard is _Wildcard.ANY and tokens and tokens[-1] is _Wildcard.ANY):
                tokens.append(wildcard)
        else:
            literal.append(c)
        i += 1
    if literal:
        tokens.append("".join(literal))
    return tokens


def _re2_escape(text: str) -> str:
    """``text`` as a literal in an RE2 pattern (only RE2's metacharacters are escaped)."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def _like_regex(tokens: list[str | _Wildcard]) -> str:
    parts = [".*" if t is _Wildcard.ANY else "." if t is _Wildcard.ONE else _re2_escape(t) for t in tokens]
    # (?s): % and _ match newlines too, as arrow-rs' LIKE does.
    return "(?s)^" + "".join(parts) + "$"


def _like(arr: pa.Array, pattern: str, escape: str | None, case_insensitive: bool) -> pa.Array:
    ic = case_insensitive
    tokens = _like_tokens(pattern, escape)
    literals = [t for t in tokens if isinstance(t, str)]
    # Fast paths for 'abc', 'abc%', '%abc', '%abc%' (most LIKEs, TPC-H's included): substring
    # kernels instead of a regex.
    if len(literals) == 1 and _Wildcard.ONE not in tokens:
        lit = literals[0]
        any_ = _Wildcard.ANY
        if tokens == [any_, lit, any_]:
            return pc.match_substring(arr, lit, ignore_case=ic)
        if tokens == [lit, any_]:
            return pc.starts_with(arr, lit, ignore_case=ic)
        if tokens == [any_, lit]:
            return pc.ends_with(arr, lit, ignore_case=ic)
        if tokens == [lit] and not ic:
            return pc.equal(arr, lit)
    return pc.match_substring_regex(arr, _like_regex(tokens), ignore_case=ic)


def _per_row(fn: Callable[..., Any], columns: Sequence[pa.Array], out_type: pa.DataType) -> pa.Array:
    """Apply a Python function row by row (NULL in → NULL out): for the rare argument shapes the
    vectorised kernels do not take (per-row patterns, non-ASCII text)."""
    rows = zip(*(c.to_pylist() for c in columns))
    values = [None if any(v is None for v in row) else fn(*row) for row in rows]
    return pa.array(values, type=out_type)


def _patch_rows(result: pa.Array, rows: np.ndarray, fn: Callable[[int], Any]) -> pa.Array:
    """``result`` with the listed rows replaced by ``fn(row)``."""
    if len(rows) == 0:
        return result
    mask = np.zeros(len(result), dtype=bool)
    mask[rows] = True
    replacements = pa.array([fn(int(i)) for i in rows], type=result.type)
    return pc.replace_with_mask(result, pa.array(mask), replacements)


def _non_ascii_rows(arr: pa.Array) -> np.ndarray:
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), True)
    return np.nonzero(~np.asarray(ascii_.to_numpy(zero_copy_only=False), dtype=bool))[0]


def _change_case(arr: pa.Array, upper: bool) -> pa.Array:
    # Arrow's utf8_upper maps per code point ('ß' → 'ẞ'); DataFusion uses Rust's full Unicode
    # mapping ('ß' → 'SS'), which Python's str.upper/lower share. ASCII rows stay vectorised.
    result = pc.utf8_upper(arr) if upper else pc.utf8_lower(arr)

    def convert(i: int) -> str:
        text = arr[i].as_py()
        return text.upper() if upper else text.lower()

    return _patch_rows(result, _non_ascii_rows(arr), convert)


def _substr(s: pa.Array, start: Operand, length: Operand | None, num_rows: int) -> pa.Array:
    """DataFusion substr: 1-based characters [start, start + length); start <= 0 eats into the
    length; a negative length is an error; any NULL argument gives NULL."""

    def bounds(p: int, n: int | None) -> tuple[int, int | None]:
        if n is not None and n < 0:
            raise ExecutionError(f"substr: negative count not allowed: {n}")
        begin = max(p - 1, 0)
        return begin, None if n is None else max(p - 1 + n, begin)

    literal_args = isinstance(start, Literal) and (length is None or isinstance(length, Literal))
    if literal_args:
        p = start.value
        n = None if length is None else length.value
        if p is None or (length is not None and n is None):
            return pa.nulls(num_rows, type=pa.string())
        begin, end = bounds(int(p), None if n is None else int(n))
        if end is None:
            return pc.utf8_slice_codeunits(s, begin)
        return pc.utf8_slice_codeunits(s, begin, end)

    def one(text: str, p: int, n: int | None = None) -> str:
        begin, end = bounds(p, n)
        return text[begin:end]

    cols = [s, _column_of(start, num_rows)] + ([] if length is None else [_column_of(length, num_rows)])
    return _per_row(one, cols, pa.string())


def _strpos(s: pa.Array, sub: Operand, num_rows: int) -> pa.Array:
    if isinstance(sub, Literal):
        if sub.value is None:
            return pa.nulls(num_rows, pa.int32())
        # find_substring counts bytes; DataFusion counts characters: redo non-ASCII rows.
        found = pc.add(pc.find_substring(s, sub.value), 1).cast(pa.int32())
        needle = sub.value
        return _patch_rows(found, _non_ascii_rows(s), lambda i: s[i].as_py().find(needle) + 1)
    return _per_row(lambda text, x: text.find(x) + 1, [s, _column_of(sub, num_rows)], pa.int32())


def _replace(s: pa.Array, old: Operand, new: Operand, num_rows: int) -> pa.Array:
    def one(text: str, a: str, b: str) -> str:
        # DataFusion 55 returns the string unchanged for an empty search string (Rust's
        # str::replace would insert between characters; pyarrow's kernel never returns).
        return text if a == "" else text.replace(a, b)

    if isinstance(old, Literal) and isinstance(new, Literal):
        if old.value is None or new.value is None:
            return pa.nulls(num_rows, pa.string())
        if old.value == "":
            return s
        return pc.replace_substring(s, old.value, new.value)
    return _per_row(one, [s, _column_of(old, num_rows), _column_of(new, num_rows)], pa.string())


def _trim(s: pa.Array, chars: Operand | None, side: str, num_rows: int) -> pa.Array:
    # SQL trim strips spaces only by default (not tabs/newlines): DataFusion btrim(s) = btrim(s, ' ').
    kernel = {"both": pc.utf8_trim, "left": pc.utf8_ltrim, "right": pc.utf8_rtrim}[side]
    if chars is None or isinstance(chars, Literal):
        value = " " if chars is None else chars.value
        if value is None:
            return pa.nulls(num_rows, pa.string())
        return kernel(s, value)
    py = {"both": str.strip, "left": str.lstrip, "right": str.rstrip}[side]
    return _per_row(py, [s, _column_of(chars, num_rows)], pa.string())


def _affix(s: pa.Array, affix: Operand, start: bool, num_rows: int) -> pa.Array:
    if isinstance(affix, Literal):
        if affix.value is None:
            return pa.nulls(num_rows, pa.bool_())
        return pc.starts_with(s, affix.value) if start else pc.ends_with(s, affix.value)
    fn = str.startswith if start else str.endswith
    return _per_row(fn, [s, _column_of(affix, num_rows)], pa.bool_())


def _strings(x: Operand, num_rows: int) -> pa.Array:
    return _cast_array(_column_of(x, num_rows), pa.string(), safe=False)


def _fn_substr(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _substr(_strings(args[0], n), args[1], args[2] if len(args) > 2 else None, n)


def _fn_upper(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _change_case(_strings(args[0], n), upper=True)


def _fn_lower(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _change_case(_strings(args[0], n), upper=False)


def _fn_character_length(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return pc.utf8_length(_strings(args[0], n))


def _fn_octet_length(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return pc.binary_length(_strings(args[0], n))


def _fn_trim(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _trim(_strings(args[0], n), args[1] if len(args) > 1 else None, "both", n)


def _fn_ltrim(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _trim(_strings(args[0], n), args[1] if len(args) > 1 else None, "left", n)


def _fn_rtrim(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _trim(_strings(args[0], n), args[1] if len(args) > 1 else None, "right", n)


def _fn_concat(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    # concat() skips NULL arguments (concat('a', NULL, 'b') = 'ab', concat(NULL) = '').
    parts = [_strings(a, n) for a in args if not (isinstance(a, Literal) and a.value is None)]
    if not parts:
        return pa.repeat(pa.scalar("", pa.string()), n)
    return pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")


def _fn_starts_with(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _affix(_strings(args[0], n), args[1], True, n)


def _fn_ends_with(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _affix(_strings(args[0], n), args[1], False, n)


def _fn_strpos(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _strpos(_strings(args[0], n), args[1], n)


def _fn_replace(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _replace(_strings(args[0], n), args[1], args[2], n)


# ---- more string functions (DataFusion's semantics; counts and positions in characters) ---------


def _ints_of(x: Operand, num_rows: int) -> pa.Array:
    return _cast_array(_column_of(x, num_rows), pa.int64(), safe=False)


def _fn_repeat(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    # A count <= 0 gives '' (pyarrow refuses negative counts).
    times = pc.max_element_wise(_ints_of(args[1], n), pa.scalar(0, pa.int64()), skip_nulls=False)
    return pc.binary_repeat(_strings(args[0], n), times)


def _fn_reverse(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return pc.utf8_reverse(_strings(args[0], n))  # by code point, as Rust's chars().rev()


def _left(s: str, k: int) -> str:
    # left(s, -k): all but the last k characters.
    return s[:k] if k >= 0 else s[: max(len(s) + k, 0)]


def _right(s: str, k: int) -> str:
    # right(s, -k): all but the first k characters.
    if k >= 0:
        return s[len(s) - k:] if k < len(s) else s
    return s[-k:]


def _fn_left(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_left, [_strings(args[0], n), _ints_of(args[1], n)], pa.string())


def _fn_right(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_right, [_strings(args[0], n), _ints_of(args[1], n)], pa.string())


def _pad(s: str, k: int, fill: str, left: bool) -> str:
    """lpad/rpad to ``k`` characters: longer strings are cut to k, an empty fill only cuts."""
    if k <= 0:
        return ""
    if len(s) >= k:
        return s[:k]
    if not fill:
        return s
    width = k - len(s)
    padding = (fill * (width // len(fill) + 1))[:width]
    return padding + s if left else s + padding


def _fn_pad(left: bool) -> Callable[[list[Operand], pa.DataType, int], pa.Array]:
    def kernel(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
        fill = _strings(args[2], n) if len(args) > 2 else _strings(Literal(" ", pa.string()), n)
        return _per_row(lambda s, k, f: _pad(s, k, f, left), [_strings(args[0], n), _ints_of(args[1], n), fill],
                        pa.string())

    return kernel


def _fn_ascii(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(lambda s: ord(s[0]) if s else 0, [_strings(args[0], n)], pa.int32())


def _chr(code: int) -> str:
    if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise ExecutionError(f"chr: invalid Unicode scalar value: {code}")
    return chr(code)


def _fn_chr(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_chr, [_ints_of(args[0], n)], pa.string())


def _fn_to_hex(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    # Negative values as their 64-bit two's complement (to_hex(-1) = 'ffffffffffffffff').
    return _per_row(lambda v: format(v & 0xFFFFFFFFFFFFFFFF, "x"), [_ints_of(args[0], n)], pa.string())


def _fn_bit_length(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return pc.multiply(pc.binary_length(_strings(args[0], n)), pa.scalar(8, pa.int32()))


def _fn_concat_ws(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    # A NULL separator gives NULL; NULL arguments are skipped (not joined as empty strings), so
    # a row of NULL arguments is ''. Row by row: pyarrow 26's binary_join_element_wise with
    # null_handling="skip" drops such rows from its output instead.
    sep = _strings(args[0], n).to_pylist()
    parts = [_strings(a, n).to_pylist() for a in args[1:]]
    rows = [None if sep[i] is None else sep[i].join(p[i] for p in parts if p[i] is not None) for i in range(n)]
    return pa.array(rows, pa.string())


def _split_part(s: str, delimiter: str, k: int) -> str:
    if k == 0:
        raise ExecutionError("split_part: field position must not be zero")
    parts = s.split(delimiter) if delimiter else [s]  # an empty delimiter: one part, the string
    index = k - 1 if k > 0 else len(parts) + k
    return parts[index] if 0 <= index < len(parts) else ""


def _fn_split_part(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_split_part, [_strings(args[0], n), _strings(args[1], n), _ints_of(args[2], n)], pa.string())


def _initcap(s: str) -> str:
    # DataFusion: upper-case a character after a non-alphanumeric one (or at the start), lower-case
    # the rest, one character at a time (ß → SS).
    out = []
    previous_alphanumeric = False
    for c in s:
        out.append(c.lower() if previous_alphanumeric else c.upper())
        previous_alphanumeric = c.isalnum()
    return "".join(out)


def _fn_initcap(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_initcap, [_strings(args[0], n)], pa.string())


def _translate(s: str, source: str, target: str) -> str:
    # The first occurrence of a character in ``source`` decides; characters beyond ``target``'s
    # length are deleted.
    mapping: dict[str, str | None] = {}
    for i, c in enumerate(source):
        mapping.setdefault(c, target[i] if i < len(target) else None)
    return "".join(m for m in (mapping.get(c, c) for c in s) if m is not None)


def _fn_translate(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_translate, [_strings(a, n) for a in args[:3]], pa.string())


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _fn_levenshtein(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_levenshtein, [_strings(args[0], n), _strings(args[1], n)], pa.int32())


def _fn_md5(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    import hashlib

    return _per_row(lambda s: hashlib.md5(s.encode("utf-8")).hexdigest(), [_strings(args[0], n)], pa.string())


def _fn_contains(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    s, sub = _strings(args[0], n), args[1]
    if isinstance(sub, Literal):
        if sub.value is None:
            return pa.nulls(n, pa.bool_())
        return pc.match_substring(s, sub.value)  # literal, not a pattern
    return _per_row(lambda a, b: b in a, [s, _strings(sub, n)], pa.bool_())


def _substr_index(s: str, delimiter: str, count: int) -> str:
    # Before the count-th delimiter (count < 0: after the -count-th from the end); '' for a count
    # of 0 or an empty delimiter; the whole string when there are fewer delimiters.
    if count == 0 or not delimiter:
        return ""
    parts = s.split(delimiter)
    if abs(count) >= len(parts):
        return s
    return delimiter.join(parts[:count]) if count > 0 else delimiter.join(parts[count:])


def _fn_substr_index(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_substr_index, [_strings(args[0], n), _strings(args[1], n), _ints_of(args[2], n)],
                    pa.string())


def _find_in_set(item: str, items: str) -> int:
    # The 1-based position of item in the comma-separated list, 0 when absent.
    fields = items.split(",")
    return fields.index(item) + 1 if item in fields else 0


def _fn_find_in_set(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    return _per_row(_find_in_set, [_strings(args[0], n), _strings(args[1], n)], pa.int32())


def _overlay(s: str, placing: str, start: int, count: int | None) -> str:
    # s with `count` characters (default: placing's length) from `start` (1-based) replaced by
    # placing; a negative count keeps characters before the start too (DataFusion).
    if start < 1:
        raise ExecutionError(f"overlay start position must be at least 1: {start}")
    length = len(placing) if count is None else count
    return s[: start - 1] + placing + s[max(start - 1 + length, 0):]


def _fn_overlay(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    columns = [_strings(args[0], n), _strings(args[1], n), _ints_of(args[2], n)]
    if len(args) > 3:
        columns.append(_ints_of(args[3], n))
        return _per_row(_overlay, columns, pa.string())
    return _per_row(lambda a, b, c: _overlay(a, b, c, None), columns, pa.string())


def _encode(s: str, encoding: str) -> str:
    import base64

    data = s.encode("utf-8")
    if encoding == "hex":
        return data.hex()
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii").rstrip("=")  # DataFusion's base64 has no padding
    if encoding == "base64pad":
        return base64.b64encode(data).decode("ascii")
    raise ExecutionError(f"encode: there is no built-in encoding named {encoding!r}")


def _fn_encode(args: list[Operand], out_type: pa.DataType, n: int) -> pa.Array:
    encoding = _strings(args[1], n)
    return _per_row(lambda a, e: _encode(a, e.lower()), [_strings(args[0], n), encoding], pa.string())


MORE_STRING_KERNELS: dict[str, Callable[[list[Operand], pa.DataType, int], pa.Array]] = {
    "substr_index": _fn_substr_index,
    "find_in_set": _fn_find_in_set,
    "overlay": _fn_overlay,
    "encode": _fn_encode,
    "contains": _fn_contains,
    "repeat": _fn_repeat,
    "reverse": _fn_reverse,
    "left": _fn_left,
    "right": _fn_right,
    "lpad": _fn_pad(left=True),
    "rpad": _fn_pad(left=False),
    "ascii": _fn_ascii,
    "chr": _fn_chr,
    "to_hex": _fn_to_hex,
    "bit_length": _fn_bit_length,
    "concat_ws": _fn_concat_ws,
    "split_part": _fn_split_part,
    "initcap": _fn_initcap,
    "translate": _fn_translate,
    "levenshtein": _fn_levenshtein,
    "md5": _fn_md5,
}

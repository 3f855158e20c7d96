"""The one table of SQL scalar functions gpu-exec runs: name, DataFusion's spellings, arguments,
result and semantics. Translation, both kernel backends and the GPU capability table read it.

Adding a function: an entry here, its implementation in ``fallback_cpu/functions.py`` (or the
family module it belongs to: numeric, strings, temporal) and either a cuDF kernel in
``gpu_exec/cudf/functions.py`` (or its family module) with an entry in ``GPU_FUNCTIONS`` of
``gpu_exec/cudf/capabilities.py``, or an entry in its ``CPU_ONLY_FUNCTIONS`` saying why the GPU
does not run it; then its kernel-conformance cases in ``tests/kernels/test_functions_kernels.py``.
``tests/planner/test_function_table.py`` fails, on any machine, when one of them is missing. The result type of every call is DataFusion's (translate reads it from
the plan); ``returns`` only documents it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DATE_PART_ALIASES",
    "DATE_PART_UNITS",
    "DATE_TRUNC_UNITS",
    "FUNCTION_ALIASES",
    "PLAN_TIME_FUNCTIONS",
    "SCALAR_FUNCTIONS",
    "ScalarFunctionSpec",
    "canonical_function",
    "refusal_reason",
]


@dataclass(frozen=True, slots=True)
class ScalarFunctionSpec:
    """One scalar function as the IR names it.

    Attributes
    ----------
    name
        The canonical name kernels dispatch on.
    aliases
        Other names DataFusion gives the same function (``length`` for ``character_length``).
    min_args, max_args
        How many arguments a call has (``max_args`` None: any number).
    returns
        The result type, as DataFusion types it.
    semantics
        What it computes, with DataFusion's rules where SQL dialects differ.
    units
        For date_part / date_trunc: the units accepted (a constant first argument).
    can_fail
        Whether some argument values make DataFusion raise (abs of the smallest integer, a
        negative substr length): such calls inside CASE branches and AND/OR right-hand sides are
        evaluated only on the rows that reach them (gpu_exec.engine.expressions).
    string_args
        False where gpu-exec does not parse a string argument (DataFusion's chrono formats):
        translation refuses such calls.
    """

    name: str
    min_args: int
    max_args: int | None
    returns: str
    semantics: str
    aliases: tuple[str, ...] = ()
    units: frozenset[str] | None = None
    can_fail: bool = False
    string_args: bool = True


DATE_PART_UNITS = frozenset({"year", "quarter", "month", "week", "day", "doy", "dow", "isodow", "hour", "minute",
                             "second", "millisecond", "microsecond"})
DATE_TRUNC_UNITS = frozenset({"year", "quarter", "month", "week", "day", "hour", "minute", "second"})
# Other spellings of the units DataFusion accepts; translate writes the canonical unit into the
# IR, so kernels only ever see the units above.
DATE_PART_ALIASES: dict[str, str] = {
    "years": "year", "months": "month", "weeks": "week", "days": "day", "hours": "hour",
    "minutes": "minute", "seconds": "second", "dayofweek": "dow", "dayofyear": "doy",
    "milliseconds": "millisecond", "microseconds": "microsecond",
}

_TABLE = (
    # strings
    ScalarFunctionSpec("substr", 2, 3, "Utf8", "substr(s, start[, length]): 1-based, in characters; "
                       "a start <= 0 eats into the length", aliases=("substring",), can_fail=True),
    ScalarFunctionSpec("upper", 1, 1, "Utf8", "upper(s), Unicode-aware ('ß' → 'SS')"),
    ScalarFunctionSpec("lower", 1, 1, "Utf8", "lower(s), Unicode-aware"),
    ScalarFunctionSpec("character_length", 1, 1, "Int32", "number of characters",
                       aliases=("char_length", "length")),
    ScalarFunctionSpec("octet_length", 1, 1, "Int32", "number of bytes"),
    ScalarFunctionSpec("trim", 1, 2, "Utf8", "btrim(s[, chars]): strip chars (default ' ') from both ends",
                       aliases=("btrim",)),
    ScalarFunctionSpec("ltrim", 1, 2, "Utf8", "ltrim(s[, chars]): strip from the start"),
    ScalarFunctionSpec("rtrim", 1, 2, "Utf8", "rtrim(s[, chars]): strip from the end"),
    ScalarFunctionSpec("concat", 1, None, "Utf8", "concat(a, b, ...): NULL arguments are skipped"),
    ScalarFunctionSpec("starts_with", 2, 2, "Boolean", "starts_with(s, prefix)"),
    ScalarFunctionSpec("ends_with", 2, 2, "Boolean", "ends_with(s, suffix)"),
    ScalarFunctionSpec("strpos", 2, 2, "Int32", "strpos(s, sub): 1-based character position, 0 if absent",
                       aliases=("instr", "position")),
    ScalarFunctionSpec("replace", 3, 3, "Utf8", "replace(s, from, to): every occurrence, literal"),
    ScalarFunctionSpec("substr_index", 3, 3, "Utf8", "substr_index(s, delimiter, n): before the n-th "
                       "delimiter (n < 0: after the -n-th from the end); '' for n = 0 or an empty "
                       "delimiter", aliases=("substring_index",)),
    ScalarFunctionSpec("find_in_set", 2, 2, "Int32", "find_in_set(s, list): 1-based position of s in "
                       "the comma-separated list, 0 when absent"),
    ScalarFunctionSpec("overlay", 3, 4, "Utf8", "overlay(s PLACING t FROM p [FOR n]): n characters "
                       "(default t's length) from p replaced by t; p < 1 is an error", can_fail=True),
    ScalarFunctionSpec("encode", 2, 2, "Utf8", "encode(s, 'hex' | 'base64' | 'base64pad') of the UTF-8 "
                       "bytes (base64 without padding)"),
    ScalarFunctionSpec("contains", 2, 2, "Boolean", "contains(s, sub): sub occurs in s (literally)"),
    ScalarFunctionSpec("repeat", 2, 2, "Utf8", "repeat(s, n): s n times; n <= 0 gives ''"),
    ScalarFunctionSpec("reverse", 1, 1, "Utf8", "the characters (code points) in reverse order"),
    ScalarFunctionSpec("left", 2, 2, "Utf8", "left(s, n): the first n characters; n < 0: all but the "
                       "last -n"),
    ScalarFunctionSpec("right", 2, 2, "Utf8", "right(s, n): the last n characters; n < 0: all but the "
                       "first -n"),
    ScalarFunctionSpec("lpad", 2, 3, "Utf8", "lpad(s, n[, fill]): fill (default ' ') repeated on the left "
                       "up to n characters; a longer s is cut to n; an empty fill only cuts"),
    ScalarFunctionSpec("rpad", 2, 3, "Utf8", "rpad(s, n[, fill]): as lpad, on the right"),
    ScalarFunctionSpec("ascii", 1, 1, "Int32", "the code point of the first character (0 for '')"),
    ScalarFunctionSpec("chr", 1, 1, "Utf8", "the character of a code point; an error for a surrogate, "
                       "a negative value or one beyond U+10FFFF", can_fail=True),
    ScalarFunctionSpec("to_hex", 1, 1, "Utf8", "lower-case hexadecimal; a negative value as its 64-bit "
                       "two's complement"),
    ScalarFunctionSpec("bit_length", 1, 1, "Int32", "8 × the number of bytes"),
    ScalarFunctionSpec("concat_ws", 2, None, "Utf8", "concat_ws(sep, a, ...): the non-NULL arguments "
                       "joined by sep; NULL when sep is NULL"),
    ScalarFunctionSpec("split_part", 3, 3, "Utf8", "split_part(s, delimiter, n): the n-th field (n < 0: "
                       "from the end), '' beyond the fields; n = 0 is an error; an empty delimiter "
                       "gives one field", can_fail=True),
    ScalarFunctionSpec("initcap", 1, 1, "Utf8", "upper-case the first character of each alphanumeric "
                       "run, lower-case the rest"),
    ScalarFunctionSpec("translate", 3, 3, "Utf8", "translate(s, from, to): each character of from "
                       "becomes the one at its position in to, or is deleted beyond to's length"),
    ScalarFunctionSpec("levenshtein", 2, 2, "Int32", "edit distance in characters"),
    ScalarFunctionSpec("md5", 1, 1, "Utf8", "the MD5 digest of the UTF-8 bytes, 32 lower-case hex digits"),
    # regular expressions (constant patterns in the subset of planner/regex.py; also s ~ p,
    # s ~* p, s !~ p, s !~* p)
    ScalarFunctionSpec("regexp_like", 2, 3, "Boolean", "regexp_like(s, pattern[, flags]): a match "
                       "anywhere; flags i, m, s (NULL flags: none)"),
    ScalarFunctionSpec("regexp_replace", 3, 4, "Utf8", "regexp_replace(s, pattern, replacement[, flags]): "
                       "the first match (every one with flag 'g') replaced; \\N / ${N} insert group N; "
                       "NULL flags give NULL"),
    ScalarFunctionSpec("regexp_count", 2, 4, "Int64", "regexp_count(s, pattern[, start[, flags]]): "
                       "non-overlapping matches in s from character start (1-based; ^ matches there); "
                       "start < 1 is an error", can_fail=True),
    # numbers
    ScalarFunctionSpec("abs", 1, 1, "the argument's type", "abs(x)", can_fail=True),
    ScalarFunctionSpec("round", 1, 2, "the argument's type (Float64 for integers)",
                       "round(x[, digits]): half away from zero", can_fail=True),
    ScalarFunctionSpec("floor", 1, 1, "the argument's type (Float64 for integers)", "floor(x)", can_fail=True),
    ScalarFunctionSpec("ceil", 1, 1, "the argument's type (Float64 for integers)", "ceil(x)", can_fail=True),
    # math (float results are DataFusion's type: Float32 in, Float32 out; integers and decimals
    # come in as Float64 unless noted)
    ScalarFunctionSpec("sqrt", 1, 1, "Float64 (Float32 for Float32)", "sqrt(x); a negative x is an "
                       "error (DataFusion 55), sqrt(-0.0) = -0.0, sqrt(NaN) = NaN", can_fail=True),
    ScalarFunctionSpec("cbrt", 1, 1, "Float64 (Float32 for Float32)", "cube root; cbrt(-8) = -2"),
    ScalarFunctionSpec("exp", 1, 1, "Float64 (Float32 for Float32)", "e^x (inf on overflow)"),
    ScalarFunctionSpec("ln", 1, 1, "Float64 (Float32 for Float32)", "natural log; ln(0) = -inf, "
                       "ln(x < 0) = NaN"),
    ScalarFunctionSpec("log", 1, 2, "Float64 (Float32 for Float32)", "log(x) is log10(x); log(base, x) = "
                       "ln(x) / ln(base) (log(1, x) = inf, a negative base or x = NaN)"),
    ScalarFunctionSpec("log10", 1, 1, "Float64 (Float32 for Float32)", "base-10 log"),
    ScalarFunctionSpec("log2", 1, 1, "Float64 (Float32 for Float32)", "base-2 log"),
    ScalarFunctionSpec("power", 2, 2, "Float64", "power(base, exponent) in Float64; 0 to a negative "
                       "power is an error, a negative base to a fractional power NaN", aliases=("pow",),
                       can_fail=True),
    ScalarFunctionSpec("sin", 1, 1, "Float64 (Float32 for Float32)", "sine (radians)"),
    ScalarFunctionSpec("cos", 1, 1, "Float64 (Float32 for Float32)", "cosine"),
    ScalarFunctionSpec("tan", 1, 1, "Float64 (Float32 for Float32)", "tangent"),
    ScalarFunctionSpec("cot", 1, 1, "Float64 (Float32 for Float32)", "1 / tan(x); cot(0) = inf"),
    ScalarFunctionSpec("asin", 1, 1, "Float64 (Float32 for Float32)", "arc sine; NaN outside [-1, 1]"),
    ScalarFunctionSpec("acos", 1, 1, "Float64 (Float32 for Float32)", "arc cosine; NaN outside [-1, 1]"),
    ScalarFunctionSpec("atan", 1, 1, "Float64 (Float32 for Float32)", "arc tangent"),
    ScalarFunctionSpec("atan2", 2, 2, "Float64 (Float32 for Float32)", "atan2(y, x), the quadrant's angle"),
    ScalarFunctionSpec("sinh", 1, 1, "Float64 (Float32 for Float32)", "hyperbolic sine"),
    ScalarFunctionSpec("cosh", 1, 1, "Float64 (Float32 for Float32)", "hyperbolic cosine"),
    ScalarFunctionSpec("tanh", 1, 1, "Float64 (Float32 for Float32)", "hyperbolic tangent"),
    ScalarFunctionSpec("asinh", 1, 1, "Float64 (Float32 for Float32)", "inverse hyperbolic sine"),
    ScalarFunctionSpec("acosh", 1, 1, "Float64 (Float32 for Float32)", "inverse hyperbolic cosine; NaN "
                       "below 1"),
    ScalarFunctionSpec("atanh", 1, 1, "Float64 (Float32 for Float32)", "inverse hyperbolic tangent; "
                       "±inf at ±1, NaN beyond"),
    ScalarFunctionSpec("degrees", 1, 1, "Float64 (Float32 for Float32)", "radians to degrees: x * (180 / pi)"),
    ScalarFunctionSpec("radians", 1, 1, "Float64 (Float32 for Float32)", "degrees to radians: x * (pi / 180)"),
    ScalarFunctionSpec("trunc", 1, 2, "the argument's type (Float64 for integers)", "trunc(x[, digits]): "
                       "toward zero at 'digits' decimal places (negative: tens, hundreds, ...); floats "
                       "as (x * 10^d).trunc() / 10^d"),
    ScalarFunctionSpec("signum", 1, 1, "Float64 (Float32 for Float32)", "-1, 0 or 1 (signum(-0.0) = 0, "
                       "signum(NaN) = NaN)"),
    ScalarFunctionSpec("pi", 0, 0, "Float64", "pi()"),
    ScalarFunctionSpec("gcd", 2, 2, "Int64", "greatest common divisor of |a| and |b| (gcd(0, 0) = 0); an "
                       "error when it is 2^63", can_fail=True),
    ScalarFunctionSpec("lcm", 2, 2, "Int64", "least common multiple of |a| and |b| (0 when either is 0); "
                       "an error beyond Int64", can_fail=True),
    ScalarFunctionSpec("factorial", 1, 1, "Int64", "x!; 0! = 1, an error for x < 0 and x > 20",
                       can_fail=True),
    ScalarFunctionSpec("isnan", 1, 1, "Boolean", "x is NaN (false for integers and decimals)"),
    ScalarFunctionSpec("iszero", 1, 1, "Boolean", "x = 0 (true for -0.0, false for NaN)"),
    ScalarFunctionSpec("nanvl", 2, 2, "Float64 (Float32 for Float32)", "nanvl(x, y): y when x is NaN, "
                       "else x (NULL x stays NULL)"),
    # conditionals (more)
    ScalarFunctionSpec("nvl", 2, 2, "the arguments' common type", "nvl(a, b): a unless it is NULL, "
                       "then b", aliases=("ifnull",)),
    ScalarFunctionSpec("nvl2", 3, 3, "the arguments' common type", "nvl2(a, b, c): b when a is not "
                       "NULL, else c"),
    ScalarFunctionSpec("greatest", 1, None, "the arguments' common type", "the largest non-NULL "
                       "argument (NULL when all are); NaN is larger than any number"),
    ScalarFunctionSpec("least", 1, None, "the arguments' common type", "the smallest non-NULL "
                       "argument (NULL when all are); NaN is larger than any number"),
    # conditionals
    ScalarFunctionSpec("coalesce", 1, None, "the arguments' common type", "the first non-NULL argument"),
    ScalarFunctionSpec("nullif", 2, 2, "the first argument's type", "nullif(a, b): NULL when a = b, else a"),
    # dates
    ScalarFunctionSpec("date_part", 2, 2, "Int32", "date_part(unit, d) / EXTRACT(unit FROM d); the unit "
                       "is a constant", aliases=("datepart",), units=DATE_PART_UNITS),
    ScalarFunctionSpec("to_timestamp", 1, 1, "Timestamp(ns)", "to_timestamp(x): x seconds since the "
                       "epoch (an integer, or a float with a fraction, truncated to ns), or a timestamp "
                       "in another unit", string_args=False, can_fail=True),
    ScalarFunctionSpec("to_timestamp_seconds", 1, 1, "Timestamp(s)", "an integer count of seconds, or a "
                       "timestamp truncated to seconds", string_args=False, can_fail=True),
    ScalarFunctionSpec("to_timestamp_millis", 1, 1, "Timestamp(ms)", "an integer count of milliseconds, "
                       "or a timestamp truncated to them", string_args=False, can_fail=True),
    ScalarFunctionSpec("to_timestamp_micros", 1, 1, "Timestamp(us)", "an integer count of microseconds, "
                       "or a timestamp truncated to them", string_args=False, can_fail=True),
    ScalarFunctionSpec("to_timestamp_nanos", 1, 1, "Timestamp(ns)", "an integer count of nanoseconds, "
                       "or a timestamp", string_args=False, can_fail=True),
    ScalarFunctionSpec("to_unixtime", 1, 1, "Int64", "whole seconds since the epoch (truncated toward "
                       "zero) of a timestamp or date; an integer as it is", string_args=False),
    ScalarFunctionSpec("from_unixtime", 1, 1, "Timestamp(s)", "from_unixtime(seconds)"),
    ScalarFunctionSpec("to_date", 1, 1, "Date32", "a date; a timestamp's date; an integer as days since "
                       "the epoch", string_args=False, can_fail=True),
    ScalarFunctionSpec("make_date", 3, 3, "Date32", "make_date(year, month, day); an error for a month "
                       "or day out of range or a day the month lacks", can_fail=True),
    ScalarFunctionSpec("date_bin", 2, 3, "the timestamp's type", "date_bin(stride, ts[, origin]): the "
                       "start of ts's bin of a constant stride (days/hours/...: not months) from origin "
                       "(default the epoch), bins before the origin floored", can_fail=True),
    ScalarFunctionSpec("date_trunc", 2, 2, "the argument's type", "date_trunc(unit, d): the start of its "
                       "year/quarter/month/ISO week/day; the unit is a constant", aliases=("datetrunc",),
                       units=DATE_TRUNC_UNITS, can_fail=True),
)

SCALAR_FUNCTIONS: dict[str, ScalarFunctionSpec] = {spec.name: spec for spec in _TABLE}
# Every name DataFusion may give a function → its canonical name.
FUNCTION_ALIASES: dict[str, str] = {alias: spec.name for spec in _TABLE for alias in (spec.name, *spec.aliases)}


def canonical_function(name: str) -> ScalarFunctionSpec | None:
    """The function DataFusion calls ``name`` (any case), or None when gpu-exec does not run it."""
    canonical = FUNCTION_ALIASES.get(name.lower())
    return SCALAR_FUNCTIONS[canonical] if canonical is not None else None


# Functions DataFusion evaluates once while planning (the statement's clock): they reach gpu-exec
# as constants, so they run without a kernel. current_time is not here: its Time64 constant has
# no gpu-exec type.
PLAN_TIME_FUNCTIONS = frozenset({"now", "current_timestamp", "current_date", "today"})

# Why a DataFusion function that is not in the table is refused, by family (first match wins);
# translation reports it with the call. (prefixes, names, reason)
_REFUSALS: tuple[tuple[tuple[str, ...], frozenset[str], str], ...] = (
    (("array_", "list_", "arrays_"), frozenset({
        "make_array", "make_list", "cardinality", "flatten", "element_at", "empty", "range",
        "generate_series", "string_to_array", "string_to_list", "cosine_distance", "dot_product",
        "inner_product"}), "gpu-exec has no list (array) type"),
    (("map",), frozenset(), "gpu-exec has no map type"),
    ((), frozenset({"struct", "named_struct", "row", "get_field", "union_extract", "union_tag"}),
     "gpu-exec has no struct or union type"),
    (("arrow_",), frozenset({"with_metadata", "cast_to_type", "try_cast_to_type"}),
     "Arrow type and field-metadata functions are not translated"),
    ((), frozenset({"rand", "random", "uuid"}),
     "a value drawn per row would differ between the backends and partitions"),
    ((), frozenset({"input_file_name", "file_row_index"}), "scan metadata functions are not supported"),
    ((), frozenset({"current_time", "make_time", "to_time", "to_local_time"}),
     "gpu-exec has no time-of-day type and no time zones"),
    ((), frozenset({"regexp_match"}), "regular expressions returning a list (gpu-exec has no list type)"),
    (("regexp_",), frozenset(), "this regular expression function is not implemented yet"),
    ((), frozenset({"sha224", "sha256", "sha384", "sha512", "digest", "decode"}),
     "SHA-2 digests and binary encodings are not implemented yet (gpu-exec has no binary type)"),
)


def refusal_reason(name: str) -> str:
    """Why gpu-exec does not run DataFusion's function ``name`` (one that is not in the table)."""
    lowered = name.lower()
    for prefixes, names, reason in _REFUSALS:
        if lowered in names or any(lowered.startswith(p) for p in prefixes):
            return reason
    return "not implemented in gpu-exec yet"

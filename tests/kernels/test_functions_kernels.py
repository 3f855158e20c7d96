"""if_else, is_in, like and every scalar function of planner.functions.SCALAR_FUNCTIONS, against
DataFusion (CASE, IN, LIKE/ILIKE and the same function calls)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from gpu_exec.cudf.capabilities import CPU_ONLY_FUNCTIONS
from planner.errors import ExecutionError
from planner.expr import Literal
from planner.functions import SCALAR_FUNCTIONS

I64 = pa.int64()
STR = pa.string()


def _col(io: Any, t: pa.Table, name: str) -> Any:
    return io.column(t.column(name).combine_chunks())


def _args(io: Any, t: pa.Table, args: list[str | Literal]) -> list[Any]:
    return [a if isinstance(a, Literal) else _col(io, t, a) for a in args]


# ---- if_else --------------------------------------------------------------------------------

COND = pa.table(
    {
        "c": pa.array([True, False, None, True, None]),
        "a": pa.array([1, 2, 3, None, 5], I64),
        "b": pa.array([10, None, 30, 40, 50], I64),
        "d": pa.array(
            [Decimal("1.5"), None, Decimal(-2), Decimal(0), Decimal("9.99")], pa.decimal128(10, 2)
        ),
    }
)


def test_if_else_null_condition_takes_otherwise(kernels: Any, io: Any, oracle: Any) -> None:
    expected, dtype = oracle.eval("CASE WHEN c THEN a ELSE b END", COND)
    out = kernels.if_else(_col(io, COND, "c"), _col(io, COND, "a"), _col(io, COND, "b"), dtype, 5)
    assert io.values(out, dtype) == expected == [1, None, 30, None, 50]


def test_if_else_with_literal_branches(kernels: Any, io: Any, oracle: Any) -> None:
    expected, dtype = oracle.eval("CASE WHEN c THEN d ELSE CAST(0.5 AS DECIMAL(10, 2)) END", COND)
    out = kernels.if_else(
        _col(io, COND, "c"), _col(io, COND, "d"), Literal(Decimal("0.5"), pa.decimal128(10, 2)), dtype, 5
    )
    assert io.values(out, dtype) == expected
    expected, dtype = oracle.eval("CASE WHEN c THEN 'yes' END", COND)
    out = kernels.if_else(_col(io, COND, "c"), Literal("yes", STR), Literal(None, STR), dtype, 5)
    assert io.values(out, dtype) == expected == ["yes", None, None, "yes", None]


# ---- is_in ------------------------------------------------------------------------------------

IN_TABLE = pa.table(
    {
        "i": pa.array([1, 3, None, 2], I64),
        "s": pa.array(["a", "z", None, "é"]),
        "d": pa.array([Decimal("1.10"), Decimal(2), None, Decimal("3.33")], pa.decimal128(10, 2)),
        "f": pa.array([float("nan"), 1.0, None, 2.0]),
    }
)


@pytest.mark.parametrize(
    ("col", "values", "sql_values"),
    [
        ("i", [Literal(1, I64), Literal(2, I64)], "1, 2"),
        ("i", [Literal(1, I64), Literal(None, I64)], "1, NULL"),
        ("i", [Literal(None, I64)], "NULL"),
        ("s", [Literal("a", STR), Literal("é", STR)], "'a', 'é'"),
        ("s", [Literal("a", STR), Literal(None, STR)], "'a', NULL"),
        (
            "d",
            [Literal(Decimal("1.1"), pa.decimal128(10, 2)), Literal(Decimal("3.33"), pa.decimal128(10, 2))],
            "CAST(1.1 AS DECIMAL(10, 2)), CAST(3.33 AS DECIMAL(10, 2))",
        ),
        (
            "f",
            [Literal(float("nan"), pa.float64()), Literal(2.0, pa.float64())],
            "CAST('NaN' AS DOUBLE), 2.0",
        ),
    ],
    ids=str,
)
def test_is_in_follows_sql_null_rules(
    kernels: Any, io: Any, oracle: Any, col: str, values: list[Literal], sql_values: str
) -> None:
    for negated in (False, True):
        sql = f"{col} {'NOT ' if negated else ''}IN ({sql_values})"
        expected, _ = oracle.eval(sql, IN_TABLE)
        found = kernels.is_in(_col(io, IN_TABLE, col), values)
        out = io.values(found, pa.bool_())
        if negated:
            out = [None if v is None else not v for v in out]
        assert out == expected, sql


# ---- like -------------------------------------------------------------------------------------

LIKE_TABLE = pa.table(
    {
        "s": pa.array(
            [
                "a%c",
                "abc",
                "a\\c",
                None,
                "ab\\",
                "äb",
                "ÄB",
                "PROMO BRUSHED",
                "xPROMO",
                "",
                "a\nc",
                "forest green",
                "special requests and more requests",
                "a_c",
                "%",
                "a.c",
                "f(x) = [y]*2",
                "forest  green",
            ]
        )
    }
)

LIKE_PATTERNS = [
    "a\\%%",
    "a_c",
    "a\\\\c",
    "a\\c",
    "ab\\",
    "A%",
    "ä%",
    "PROMO%",
    "%green",
    "%special%requests%",
    "%",
    "",
    "_",
    "a%",
    "%c",
    "%a%",
    "a\\_c",
    "abc",
    "a.c",
    "forest _reen",
    "%(x)%[y]*_",
    "f(x)%",
    "%%c",
    "_%_",
]


@pytest.mark.parametrize("pattern", LIKE_PATTERNS)
@pytest.mark.parametrize("case_insensitive", [False, True], ids=["like", "ilike"])
def test_like_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, pattern: str, case_insensitive: bool
) -> None:
    # Backslash is the default escape; a trailing backslash is literal; % and _ match newlines.
    quoted = pattern.replace("'", "''")
    sql = f"s {'ILIKE' if case_insensitive else 'LIKE'} '{quoted}'"
    expected, _ = oracle.eval(sql, LIKE_TABLE)
    out = io.values(kernels.like(_col(io, LIKE_TABLE, "s"), pattern, None, case_insensitive), pa.bool_())
    assert out == expected, f"{sql}: {list(zip(LIKE_TABLE['s'].to_pylist(), out, expected))}"


def test_like_with_another_escape_character(kernels: Any, io: Any) -> None:
    # DataFusion 55 refuses ESCAPE other than backslash; the kernel takes any (the SQL standard).
    out = kernels.like(_col(io, LIKE_TABLE, "s"), "a!%%", "!", False)
    assert [s for s, m in zip(LIKE_TABLE["s"].to_pylist(), io.values(out, pa.bool_())) if m] == ["a%c"]
    out = kernels.like(_col(io, LIKE_TABLE, "s"), "a\\%", "!", False)  # backslash is ordinary here
    assert [s for s, m in zip(LIKE_TABLE["s"].to_pylist(), io.values(out, pa.bool_())) if m] == ["a\\c"]



def test_ilike_keeps_an_upper_case_escape_character(kernels: Any, io: Any) -> None:
    # ILIKE lower-cases the pattern; an escape 'X' must stay the escape, not become 'x'.
    t = pa.table({"s": ["a%", "ab", "A%", "ax%"]})
    out = io.values(kernels.like(_col(io, t, "s"), "aX%", "X", True), pa.bool_())
    assert out == [True, False, True, False]

# ---- scalar functions -------------------------------------------------------------------------

FN = pa.table(
    {
        "s": pa.array(["hello", " \t ab  ", None, "héllo", "", "straße", "ÄB Σσ", "xxaxx"]),
        "sub": pa.array(["l", "b", "x", "l", "", "ß", "σ", "a"]),
        "n": pa.array([2, -1, 3, 0, 1, None, 4, 10], I64),
        "len": pa.array([2, 0, 3, 4, None, 5, 1, 10], I64),
        "i": pa.array([-15, 7, None, 25, -25, 0, 15, 5], pa.int32()),
        "f": pa.array([2.25, -2.25, 0.285, 1.005, None, 25.0, -0.5, 2.5]),
        "f32": pa.array([2.5, -2.5, 0.125, None, 1.5, 3.0, -0.0, 7.25], pa.float32()),
        "d": pa.array(
            [
                Decimal("-2.345"),
                Decimal("2.355"),
                Decimal(15),
                None,
                Decimal("-1.55"),
                Decimal("0.5"),
                Decimal("-0.5"),
                Decimal("999.999"),
            ],
            pa.decimal128(10, 3),
        ),
        "day": pa.array(
            [
                datetime.date(2020, 5, 17),
                datetime.date(2020, 3, 1),
                datetime.date(2020, 1, 1),
                None,
                datetime.date(2021, 1, 3),
                datetime.date(1969, 12, 31),
                datetime.date(2024, 12, 30),
                datetime.date(2020, 12, 31),
            ]
        ),
        "ts": pa.array(
            [
                datetime.datetime(2020, 5, 17, 13, 14, 15, 750000),
                None,
                datetime.datetime(1969, 12, 31, 23, 59, 59),
                datetime.datetime(2020, 1, 1),
                datetime.datetime(2021, 1, 3, 1),
                datetime.datetime(2020, 2, 29, 12),
                datetime.datetime(2024, 12, 30, 6),
                datetime.datetime(2000, 1, 1),
            ],
            pa.timestamp("ns"),
        ),
        "a": pa.array([1, None, None, 4, None, 6, 7, None], I64),
        "b": pa.array([None, 2, None, 4, 5, None, 0, None], I64),
        # math: signed zeros, NaN, infinities and out-of-domain values
        "x": pa.array([0.5, -0.0, float("nan"), None, -1.5, 3.0, float("-inf"), 1.0]),
        "y": pa.array([2.0, -1.0, 0.0, 1.5, None, float("nan"), 3.0, -0.5]),
        "pos": pa.array([0.0, -0.0, float("nan"), None, 2.0, 1e-300, float("inf"), 16.0]),
        "g1": pa.array([12, -4, 0, None, 7, -(2**61) - 3, 0, 18], I64),
        "g2": pa.array([18, 6, 0, 5, None, 3, 5, -12], I64),
        "fa": pa.array([0, 1, 5, None, 20, 10, 2, 3], I64),
        "cp": pa.array([65, 233, 0, None, 128512, 10, 32, 0x10FFFF], I64),
        "mo": pa.array([1, 2, 12, None, 6, 7, 2, 11], I64),
    }
)

# (function, kernel args, the same call in SQL)
FUNCTION_CASES: list[tuple[str, list[Any], str]] = (
    [
        ("substr", ["s", Literal(2, I64), Literal(3, I64)], "substr(s, 2, 3)"),
        ("substr", ["s", Literal(0, I64), Literal(3, I64)], "substr(s, 0, 3)"),
        ("substr", ["s", Literal(-1, I64), Literal(3, I64)], "substr(s, -1, 3)"),
        ("substr", ["s", Literal(3, I64)], "substr(s, 3)"),
        ("substr", ["s", Literal(-5, I64)], "substr(s, -5)"),
        ("substr", ["s", Literal(10, I64), Literal(2, I64)], "substr(s, 10, 2)"),
        ("substr", ["s", Literal(2, I64), Literal(0, I64)], "substr(s, 2, 0)"),
        ("substr", ["s", "n", Literal(2, I64)], "substr(s, n, 2)"),
        ("substr", ["s", Literal(-1, I64), "len"], "substr(s, -1, len)"),
        ("upper", ["s"], "upper(s)"),
        ("lower", ["s"], "lower(s)"),
        ("character_length", ["s"], "character_length(s)"),
        ("octet_length", ["s"], "octet_length(s)"),
        ("trim", ["s"], "trim(s)"),
        ("ltrim", ["s"], "ltrim(s)"),
        ("rtrim", ["s"], "rtrim(s)"),
        ("trim", ["s", Literal("x ", STR)], "btrim(s, 'x ')"),
        ("ltrim", ["s", Literal("hx", STR)], "ltrim(s, 'hx')"),
        ("rtrim", ["s", "sub"], "rtrim(s, sub)"),
        ("concat", ["s", Literal(None, STR), "sub"], "concat(s, NULL, sub)"),
        (
            "concat",
            [Literal(None, STR), Literal(None, STR)],
            "concat(CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR))",
        ),
        ("concat", ["s", Literal("!", STR)], "concat(s, '!')"),
        ("starts_with", ["s", Literal("he", STR)], "starts_with(s, 'he')"),
        ("ends_with", ["s", Literal("lo", STR)], "ends_with(s, 'lo')"),
        ("starts_with", ["s", "sub"], "starts_with(s, sub)"),
        ("strpos", ["s", Literal("l", STR)], "strpos(s, 'l')"),
        ("strpos", ["s", Literal("", STR)], "strpos(s, '')"),
        ("strpos", ["s", "sub"], "strpos(s, sub)"),
        ("replace", ["s", Literal("l", STR), Literal("L", STR)], "replace(s, 'l', 'L')"),
        ("replace", ["s", Literal("", STR), Literal("X", STR)], "replace(s, '', 'X')"),
        ("replace", ["s", "sub", Literal("_", STR)], "replace(s, sub, '_')"),
        ("abs", ["i"], "abs(i)"),
        ("abs", ["f"], "abs(f)"),
        ("abs", ["d"], "abs(d)"),
        ("round", ["f"], "round(f)"),
        ("round", ["f", Literal(1, I64)], "round(f, 1)"),
        ("round", ["f", Literal(2, I64)], "round(f, 2)"),
        ("round", ["f", Literal(-1, I64)], "round(f, -1)"),
        ("round", ["f32"], "round(f32)"),
        ("round", ["i"], "round(i)"),
        ("round", ["i", Literal(-1, I64)], "round(i, -1)"),
        ("round", ["d"], "round(d)"),
        ("round", ["d", Literal(2, I64)], "round(d, 2)"),
        ("round", ["d", Literal(-1, I64)], "round(d, -1)"),
        ("round", ["d", Literal(5, I64)], "round(d, 5)"),
        ("floor", ["f"], "floor(f)"),
        ("ceil", ["f"], "ceil(f)"),
        ("floor", ["i"], "floor(i)"),
        ("floor", ["d"], "floor(d)"),
        ("ceil", ["d"], "ceil(d)"),
        ("coalesce", ["a", "b"], "coalesce(a, b)"),
        ("coalesce", ["a", "b", Literal(-1, I64)], "coalesce(a, b, -1)"),
        ("nullif", ["a", Literal(4, I64)], "nullif(a, 4)"),
        ("nullif", ["b", "a"], "nullif(b, a)"),
    ]
    + [
        ("date_part", [Literal(part, STR), col], f"date_part('{part}', {col})")
        for part in ("year", "quarter", "month", "week", "day", "doy", "dow", "isodow", "hour", "minute", "second",
                     "millisecond", "microsecond")
        for col in ("day", "ts")
    ]
    + [
        ("date_trunc", [Literal(part, STR), col], f"date_trunc('{part}', {col})")
        for part in ("year", "quarter", "month", "week", "day", "hour", "minute", "second")
        for col in ("day", "ts")
    ]
    + [
        (fn, [col], f"{fn}({col})")
        for fn in ("cbrt", "exp", "ln", "log10", "log2", "sin", "cos", "tan", "cot", "asin", "acos",
                   "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "degrees", "radians",
                   "signum", "isnan", "iszero")
        for col in ("x", "i", "d", "f32")
    ]
    + [
        ("sqrt", ["pos"], "sqrt(pos)"),
        ("sqrt", ["fa"], "sqrt(fa)"),
        ("log", ["x"], "log(x)"),
        ("log", ["d"], "log(d)"),
        ("log", [Literal(2.0, pa.float64()), "x"], "log(2.0, x)"),
        ("log", ["y", "pos"], "log(y, pos)"),
        ("power", ["y", "x"], "power(y, x)"),
        ("power", ["x", Literal(2.0, pa.float64())], "power(x, 2.0)"),
        ("power", ["x", Literal(0.5, pa.float64())], "power(x, 0.5)"),
        ("atan2", ["x", "y"], "atan2(x, y)"),
        ("atan2", ["f32", "f32"], "atan2(f32, f32)"),
        ("trunc", ["x"], "trunc(x)"),
        ("trunc", ["f"], "trunc(f)"),
        ("trunc", ["f", Literal(1, I64)], "trunc(f, 1)"),
        ("trunc", ["f", Literal(-1, I64)], "trunc(f, -1)"),
        ("trunc", ["f32", Literal(1, I64)], "trunc(f32, 1)"),
        ("trunc", ["d"], "trunc(d)"),
        ("trunc", ["d", Literal(2, I64)], "trunc(d, 2)"),
        ("trunc", ["d", Literal(-1, I64)], "trunc(d, -1)"),
        ("trunc", ["d", Literal(5, I64)], "trunc(d, 5)"),
        ("pi", [], "pi()"),
        ("gcd", ["g1", "g2"], "gcd(g1, g2)"),
        ("gcd", ["g1", Literal(0, I64)], "gcd(g1, 0)"),
        ("lcm", ["g1", "g2"], "lcm(g1, g2)"),
        ("factorial", ["fa"], "factorial(fa)"),
        ("nanvl", ["x", "y"], "nanvl(x, y)"),
        ("nanvl", ["y", Literal(-7.0, pa.float64())], "nanvl(y, -7.0)"),
        ("nvl", ["a", "b"], "nvl(a, b)"),
        ("nvl", ["s", Literal("?", STR)], "ifnull(s, '?')"),
        ("nvl2", ["a", "b", Literal(-1, I64)], "nvl2(a, b, -1)"),
        ("greatest", ["x", "y"], "greatest(x, y)"),
        ("greatest", ["a", "b", Literal(3, I64)], "greatest(a, b, 3)"),
        ("greatest", ["s", "sub"], "greatest(s, sub)"),
        ("least", ["x", "y"], "least(x, y)"),
        ("least", ["a", "b"], "least(a, b)"),
        ("least", ["d", Literal(Decimal("0.5"), pa.decimal128(10, 3))], "least(d, CAST(0.5 AS DECIMAL(10, 3)))"),
        # strings
        ("repeat", ["s", Literal(2, I64)], "repeat(s, 2)"),
        ("repeat", ["s", "n"], "repeat(s, n)"),
        ("repeat", ["s", Literal(0, I64)], "repeat(s, 0)"),
        ("reverse", ["s"], "reverse(s)"),
        ("contains", ["s", Literal("l", STR)], "contains(s, 'l')"),
        ("contains", ["s", Literal("", STR)], "contains(s, '')"),
        ("contains", ["s", "sub"], "contains(s, sub)"),
        ("bit_length", ["s"], "bit_length(s)"),
        ("left", ["s", "n"], "left(s, n)"),
        ("left", ["s", Literal(-2, I64)], "left(s, -2)"),
        ("right", ["s", "n"], "right(s, n)"),
        ("right", ["s", Literal(3, I64)], "right(s, 3)"),
        ("lpad", ["s", Literal(7, I64)], "lpad(s, 7)"),
        ("lpad", ["s", "len", Literal("xé", STR)], "lpad(s, len, 'xé')"),
        ("rpad", ["s", Literal(8, I64), "sub"], "rpad(s, 8, sub)"),
        ("ascii", ["s"], "ascii(s)"),
        ("chr", ["cp"], "chr(cp)"),
        ("to_hex", ["g1"], "to_hex(g1)"),
        ("to_hex", ["i"], "to_hex(i)"),
        ("concat_ws", [Literal("-", STR), "s", Literal(None, STR), "sub"], "concat_ws('-', s, NULL, sub)"),
        ("concat_ws", ["sub", "s", "s"], "concat_ws(sub, s, s)"),
        ("split_part", ["s", Literal("l", STR), Literal(2, I64)], "split_part(s, 'l', 2)"),
        ("split_part", ["s", "sub", Literal(-1, I64)], "split_part(s, sub, -1)"),
        ("initcap", ["s"], "initcap(s)"),
        ("translate", ["s", Literal("lé ", STR), Literal("L_", STR)], "translate(s, 'lé ', 'L_')"),
        ("levenshtein", ["s", "sub"], "levenshtein(s, sub)"),
        ("levenshtein", ["s", Literal("hallo", STR)], "levenshtein(s, 'hallo')"),
        ("md5", ["s"], "md5(s)"),
        ("regexp_like", ["s", Literal("l+o$", STR)], "regexp_like(s, 'l+o$')"),
        ("regexp_like", ["s", Literal("^[a-zé]+$", STR), Literal("s", STR)], "regexp_like(s, '^[a-zé]+$', 's')"),
        ("regexp_replace", ["s", Literal("(l)", STR), Literal("<\\1>", STR), Literal("g", STR)],
         "regexp_replace(s, '(l)', '<\\1>', 'g')"),
        ("regexp_replace", ["s", Literal("[xß]", STR), Literal("_", STR)], "regexp_replace(s, '[xß]', '_')"),
        ("regexp_count", ["s", Literal("x|l", STR)], "regexp_count(s, 'x|l')"),
        ("regexp_count", ["s", Literal("x", STR), Literal(3, I64), Literal("", STR)], "regexp_count(s, 'x', 3, '')"),
        ("substr_index", ["s", Literal("l", STR), "n"], "substr_index(s, 'l', n)"),
        ("substr_index", ["s", "sub", Literal(-1, I64)], "substring_index(s, sub, -1)"),
        ("find_in_set", ["sub", Literal("a,l,,σ", STR)], "find_in_set(sub, 'a,l,,σ')"),
        ("find_in_set", ["sub", "s"], "find_in_set(sub, s)"),
        ("overlay", ["s", Literal("XY", STR), Literal(2, I64)], "overlay(s placing 'XY' from 2)"),
        ("overlay", ["s", "sub", Literal(3, I64), "n"], "overlay(s placing sub from 3 for n)"),
        ("encode", ["s", Literal("hex", STR)], "encode(s, 'hex')"),
        ("encode", ["s", Literal("base64", STR)], "encode(s, 'base64')"),
        ("encode", ["s", Literal("base64pad", STR)], "encode(s, 'base64pad')"),
        # dates and timestamps
        ("to_timestamp", ["fa"], "to_timestamp(fa)"),
        ("to_timestamp", ["i"], "to_timestamp(i)"),
        ("to_timestamp", ["f"], "to_timestamp(f)"),
        ("to_timestamp", ["ts"], "to_timestamp(ts)"),
        ("to_timestamp_seconds", ["ts"], "to_timestamp_seconds(ts)"),
        ("to_timestamp_seconds", ["i"], "to_timestamp_seconds(i)"),
        ("to_timestamp_millis", ["i"], "to_timestamp_millis(i)"),
        ("to_timestamp_millis", ["ts"], "to_timestamp_millis(ts)"),
        ("to_timestamp_micros", ["fa"], "to_timestamp_micros(fa)"),
        ("to_timestamp_nanos", ["i"], "to_timestamp_nanos(i)"),
        ("to_unixtime", ["ts"], "to_unixtime(ts)"),
        ("to_unixtime", ["day"], "to_unixtime(day)"),
        ("to_unixtime", ["i"], "to_unixtime(i)"),
        ("from_unixtime", ["fa"], "from_unixtime(fa)"),
        ("to_date", ["day"], "to_date(day)"),
        ("to_date", ["i"], "to_date(i)"),
        ("to_date", ["ts"], "to_date(ts)"),
        ("make_date", [Literal(2024, I64), "mo", Literal(29, I64)], "make_date(2024, mo, 29)"),
        ("make_date", ["mo", Literal(3, I64), "mo"], "make_date(mo, 3, mo)"),
        (
            "date_bin",
            [Literal((0, 0, 900 * 10**9), pa.month_day_nano_interval()), "ts"],
            "date_bin(interval '15 minutes', ts)",
        ),
        (
            "date_bin",
            [
                Literal((0, 1, 0), pa.month_day_nano_interval()),
                "ts",
                Literal(datetime.datetime(2000, 1, 1, 6), pa.timestamp("ns")),
            ],
            "date_bin(interval '1 day', ts, timestamp '2000-01-01 06:00:00')",
        ),
    ]
)


@pytest.mark.parametrize(("name", "args", "sql"), FUNCTION_CASES, ids=[c[2] for c in FUNCTION_CASES])
def test_scalar_function_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, values_match: Any, name: str, args: list[Any], sql: str
) -> None:
    if name in CPU_ONLY_FUNCTIONS and type(kernels).__module__.startswith("gpu_exec.cudf"):
        # Placement runs it on the CPU (the capability table's reason); the GPU kernels must not
        # claim it, or a session could send it to a kernel that does not exist.
        from gpu_exec.cudf.functions import SCALAR_FUNCTION_KERNELS

        assert name not in SCALAR_FUNCTION_KERNELS, f"{name} is CPU-only yet has a GPU kernel"
        return
    expected, dtype = oracle.eval(sql, FN)
    out = io.values(kernels.scalar_function(name, _args(io, FN, args), dtype, FN.num_rows), dtype)
    # Float32 math may differ from Rust's f32 libm in the last bit (about 1e-7 relative).
    rel = 1e-6 if pa.types.is_float32(dtype) else 1e-12
    assert values_match(out, expected, rel), f"{sql}\n  actual:   {out}\n  expected: {expected}"


def test_every_scalar_function_is_covered() -> None:
    assert {case[0] for case in FUNCTION_CASES} == set(SCALAR_FUNCTIONS)


def test_pinned_function_semantics(kernels: Any, io: Any) -> None:
    """The traps, spelled out (each also checked against DataFusion above)."""

    def call(name: str, args: list[Any], dtype: pa.DataType) -> list[Any]:
        return io.values(kernels.scalar_function(name, args, dtype, 3), dtype)

    words = io.column([" \tx ", "ß", None], STR)
    assert call("trim", [words], STR) == ["\tx", "ß", None]  # spaces only
    assert call("upper", [words], STR) == [" \tX ", "SS", None]  # full Unicode mapping
    assert call("concat", [words, Literal(None, STR), Literal("!", STR)], STR) == [" \tx !", "ß!", "!"]
    halves = io.column([2.5, -2.5, 0.5], pa.float64())
    assert call("round", [halves], pa.float64()) == [3.0, -3.0, 1.0]  # half away from zero
    days = io.column(
        [datetime.date(2024, 6, 2), datetime.date(2024, 6, 3), datetime.date(2024, 6, 8)], pa.date32()
    )
    assert call("date_part", [Literal("dow", STR), days], pa.int32()) == [0, 1, 6]  # Sunday = 0
    assert call("strpos", [io.column(["héllo", "abc", None], STR), Literal("l", STR)], pa.int32()) == [
        3,
        0,
        None,
    ]


def test_substr_with_negative_length_raises(kernels: Any, io: Any, oracle: Any) -> None:
    with pytest.raises(Exception, match="negative"):
        oracle.eval("substr(s, 1, -1)", FN)
    with pytest.raises(ExecutionError, match="negative"):
        kernels.scalar_function(
            "substr", [_col(io, FN, "s"), Literal(1, I64), Literal(-1, I64)], STR, FN.num_rows
        )


def test_abs_of_the_smallest_integer_raises(kernels: Any, io: Any) -> None:
    with pytest.raises(ExecutionError):
        kernels.scalar_function("abs", [io.column([-(2**63)], I64)], I64, 1)


@pytest.mark.parametrize("name", ["upper", "lower"])
def test_case_mapping_beyond_one_character_matches_datafusion(
    kernels: Any, io: Any, oracle: Any, name: str
) -> None:
    # A word-final sigma and characters beyond U+FFFF, which libcudf maps differently.
    t = pa.table({"s": ["ΣΑΣ Σ", "𐐀x𐐨", "straße", "abc", None]})
    expected, dtype = oracle.eval(f"{name}(s)", t)
    out = io.values(kernels.scalar_function(name, [_col(io, t, "s")], pa.string(), t.num_rows), pa.string())
    assert out == expected

"""The one table of SQL scalar functions gpu-exec runs: name, DataFusion's spellings, arguments,
result and semantics. Translation, both kernel backends and the GPU capability table read it.

Adding a function: an entry here, its implementation in ``fallback_cpu/functions.py`` (or the
family module it belongs to) and in ``gpu_exec/cudf/functions.py``, its capability entry in
``gpu_exec/cudf/capabilities.py`` (``GPU_FUNCTION_CHECKS``) and its kernel-conformance cases in
``tests/kernels/test_functions_kernels.py``. ``tests/planner/test_function_table.py`` fails, on any machine,
when one of them is missing. The result type of every call is DataFusion's (translate reads it from
the plan); ``returns`` only documents it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScalarFunctionSpec", "SCALAR_FUNCTIONS", "FUNCTION_ALIASES", "DATE_PART_UNITS",
           "DATE_TRUNC_UNITS", "DATE_PART_ALIASES", "canonical_function"]


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
    """

    name: str
    min_args: int
    max_args: int | None
    returns: str
    semantics: str
    aliases: tuple[str, ...] = ()
    units: frozenset[str] | None = None
    can_fail: bool = False


DATE_PART_UNITS = frozenset({"year", "quarter", "month", "week", "day", "doy", "dow", "hour", "minute", "second"})
DATE_TRUNC_UNITS = frozenset({"year", "quarter", "month", "week", "day"})
# Other spellings of the units DataFusion accepts; translate writes the canonical unit into the
# IR, so kernels only ever see the units above.
DATE_PART_ALIASES: dict[str, str] = {
    "years": "year", "months": "month", "weeks": "week", "days": "day", "hours": "hour",
    "minutes": "minute", "seconds": "second", "dayofweek": "dow", "dayofyear": "doy",
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
                       aliases=("instr",)),
    ScalarFunctionSpec("replace", 3, 3, "Utf8", "replace(s, from, to): every occurrence, literal"),
    # numbers
    ScalarFunctionSpec("abs", 1, 1, "the argument's type", "abs(x)", can_fail=True),
    ScalarFunctionSpec("round", 1, 2, "the argument's type (Float64 for integers)",
                       "round(x[, digits]): half away from zero", can_fail=True),
    ScalarFunctionSpec("floor", 1, 1, "the argument's type (Float64 for integers)", "floor(x)", can_fail=True),
    ScalarFunctionSpec("ceil", 1, 1, "the argument's type (Float64 for integers)", "ceil(x)", can_fail=True),
    # conditionals
    ScalarFunctionSpec("coalesce", 1, None, "the arguments' common type", "the first non-NULL argument"),
    ScalarFunctionSpec("nullif", 2, 2, "the first argument's type", "nullif(a, b): NULL when a = b, else a"),
    # dates
    ScalarFunctionSpec("date_part", 2, 2, "Int32", "date_part(unit, d) / EXTRACT(unit FROM d); the unit "
                       "is a constant", aliases=("datepart",), units=DATE_PART_UNITS),
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

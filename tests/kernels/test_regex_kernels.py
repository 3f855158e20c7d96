"""The regexp kernels beyond the per-function cases of test_functions_kernels.py: flags, NULL
arguments and the calls a GPU session places on the CPU, against DataFusion. On the cuDF kernels
a CPU-placed call is asserted refused by the capabilities (with its reason) instead of run."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from gpu_exec.cudf.capabilities import CudfCapabilities
from planner.expr import ColumnRef, Literal, ScalarFunction

STR = pa.string()
T = pa.table({"s": pa.array(["Hello", "a\nb\n", None, "", "k\u212a", "aaa", "HeLLo hello"])})

# (function, constant arguments after s, DataFusion SQL, GPU refusal reason or None)
CASES: list[tuple[str, list[Any], str, str | None]] = [
    ("regexp_like", ["hello", "i"], "regexp_like(s, 'hello', 'i')", "case-insensitive"),
    ("regexp_like", ["K", "i"], "regexp_like(s, 'K', 'i')", "case-insensitive"),
    ("regexp_like", ["^b$", "m"], "regexp_like(s, '^b$', 'm')", "line anchors"),
    ("regexp_like", ["b$", None], "regexp_like(s, 'b$', NULL)", None),
    ("regexp_like", ["a.b", "s"], "regexp_like(s, 'a.b', 's')", None),
    ("regexp_like", [None], "regexp_like(s, NULL)", None),
    ("regexp_like", ["x*"], "regexp_like(s, 'x*')", "empty string"),
    ("regexp_replace", ["a*", "-", "g"], "regexp_replace(s, 'a*', '-', 'g')", "empty string"),
    ("regexp_replace", ["(l+)", "[\\1]"], "regexp_replace(s, '(l+)', '[\\1]')", "every match"),
    ("regexp_replace", ["(l+)", "$${1}", "g"], "regexp_replace(s, '(l+)', '$${1}', 'g')", None),
    ("regexp_replace", ["(l+)", "$$\\1", "g"], "regexp_replace(s, '(l+)', '$$\\1', 'g')", "backreference syntax"),
    ("regexp_replace", ["l", "L", "gi"], "regexp_replace(s, 'l', 'L', 'gi')", "case-insensitive"),
    ("regexp_replace", ["a", "-", None], "regexp_replace(s, 'a', '-', NULL)", None),
    ("regexp_replace", ["(a)(a)", "\\2\\1\\3", "g"], "regexp_replace(s, '(a)(a)', '\\2\\1\\3', 'g')", None),
    ("regexp_count", ["a", 2, ""], "regexp_count(s, 'a', 2, '')", None),
    ("regexp_count", ["L", 1, "i"], "regexp_count(s, 'L', 1, 'i')", "case-insensitive"),
    ("regexp_count", ["b$", 1, "m"], "regexp_count(s, 'b$', 1, 'm')", "line anchors"),
    ("regexp_count", ["a", None], "regexp_count(s, 'a', NULL)", None),
]


def _literal(value: Any) -> Literal:
    return Literal(value, pa.int64() if isinstance(value, int) else STR)


@pytest.mark.parametrize(("name", "args", "sql", "gpu_reason"), CASES, ids=[c[2] for c in CASES])
def test_regex_kernel_matches_datafusion(kernels: Any, io: Any, oracle: Any, name: str, args: list[Any],
                                         sql: str, gpu_reason: str | None) -> None:
    expected, dtype = oracle.eval(sql, T)
    literals = [_literal(a) for a in args]
    if gpu_reason is not None and type(kernels).__module__.startswith("gpu_exec.cudf"):
        call = ScalarFunction(name, (ColumnRef(0, "s", STR), *literals), dtype)
        reason = CudfCapabilities().expression_reason(call)
        assert reason is not None and gpu_reason in reason, reason
        return
    column = io.column(T.column("s").combine_chunks())
    out = io.values(kernels.scalar_function(name, [column, *literals], dtype, T.num_rows), dtype)
    assert out == expected, f"{sql}\n  actual:   {out}\n  expected: {expected}"


def test_regexp_count_checks_the_start_of_rows_with_a_string(kernels: Any, io: Any, oracle: Any) -> None:
    from planner.errors import ExecutionError

    nulls = pa.table({"s": pa.array([None, None], STR)})
    expected, dtype = oracle.eval("regexp_count(s, 'a', 0)", nulls)
    column = io.column(nulls.column("s").combine_chunks())
    out = kernels.scalar_function("regexp_count", [column, _literal("a"), _literal(0)], dtype, 2)
    assert io.values(out, dtype) == expected == [None, None]
    column = io.column(T.column("s").combine_chunks())
    with pytest.raises(ExecutionError, match="requires start to be 1 based"):
        kernels.scalar_function("regexp_count", [column, _literal("a"), _literal(0)], dtype, T.num_rows)


def test_gpu_capabilities_take_the_plain_calls() -> None:
    s = ColumnRef(0, "s", STR)
    for call in (
        ScalarFunction("regexp_like", (s, _literal("a+b"), _literal("s")), pa.bool_()),
        ScalarFunction("regexp_replace", (s, _literal("(a)"), _literal("\\1\\1"), _literal("g")), STR),
        ScalarFunction("regexp_count", (s, _literal("a"), _literal(3)), pa.int64()),
    ):
        assert CudfCapabilities().expression_reason(call) is None, call
    per_row = ScalarFunction("regexp_count", (s, _literal("a"), ColumnRef(1, "n", pa.int64())), pa.int64())
    assert "non-constant argument 3" in (CudfCapabilities().expression_reason(per_row) or "")

"""Every function DataFusion 55 lists in information_schema.routines, against what gpu-exec runs:
a scalar function is in planner/functions.py (or evaluated by DataFusion while planning) or is
refused with a reason; aggregate and window functions are the ones translation accepts. The counts
are printed (pytest -s) and are the ones README.md's "SQL functions" paragraph states."""

from __future__ import annotations

import datafusion
import pytest

from planner.functions import FUNCTION_ALIASES, PLAN_TIME_FUNCTIONS, refusal_reason
from planner.translate.calls import _AGGREGATE_FUNCTIONS, _WINDOW_FUNCTIONS

# DataFusion 55 (pinned): how many names information_schema.routines lists of each kind.
DATAFUSION_TOTALS = {"SCALAR": 261, "AGGREGATE": 46, "WINDOW": 11}


def _routines() -> dict[str, set[str]]:
    ctx = datafusion.SessionContext(datafusion.SessionConfig().with_information_schema(True))
    rows = ctx.sql("select routine_name, function_type from information_schema.routines").to_arrow_table()
    kinds: dict[str, set[str]] = {}
    for row in rows.to_pylist():
        kinds.setdefault(row["function_type"], set()).add(row["routine_name"])
    return kinds


@pytest.fixture(scope="module")
def routines() -> dict[str, set[str]]:
    return _routines()


def _coverage(routines: dict[str, set[str]]) -> dict[str, tuple[set[str], set[str]]]:
    """kind → (names gpu-exec runs, names it refuses)."""
    scalar = routines["SCALAR"]
    runs_scalar = {n for n in scalar if n in FUNCTION_ALIASES or n in PLAN_TIME_FUNCTIONS}
    aggregates = routines["AGGREGATE"]
    runs_aggregate = {n for n in aggregates if n in _AGGREGATE_FUNCTIONS}
    windows = routines["WINDOW"]
    # Aggregates in OVER clauses are aggregates; the window kind counts the window-only functions.
    runs_window = {n for n in windows if n in _WINDOW_FUNCTIONS}
    return {
        "SCALAR": (runs_scalar, scalar - runs_scalar),
        "AGGREGATE": (runs_aggregate, aggregates - runs_aggregate),
        "WINDOW": (runs_window, windows - runs_window),
    }


def test_datafusion_lists_the_pinned_totals(routines: dict[str, set[str]]) -> None:
    assert {kind: len(routines.get(kind, ())) for kind in DATAFUSION_TOTALS} == DATAFUSION_TOTALS


def test_every_scalar_function_runs_or_is_refused_with_a_reason(routines: dict[str, set[str]]) -> None:
    runs, refused = _coverage(routines)["SCALAR"]
    assert set(FUNCTION_ALIASES) <= routines["SCALAR"], "the table names a function DataFusion lacks"
    assert runs | refused == routines["SCALAR"] and not runs & refused
    for name in refused:
        assert refusal_reason(name), name
    # The families with a specific reason, spot-checked.
    assert "list" in refusal_reason("array_append")
    assert "list" in refusal_reason("regexp_match")
    assert refusal_reason("to_char") == "not implemented in gpu-exec yet"


def test_function_counts(routines: dict[str, set[str]]) -> None:
    coverage = _coverage(routines)
    line = ", ".join(f"{len(coverage[k][0])} of {DATAFUSION_TOTALS[k]} {k.lower()}" for k in DATAFUSION_TOTALS)
    print(f"\nSQL functions gpu-exec runs: {line}")
    for kind, (runs, refused) in coverage.items():
        print(f"  {kind.lower()} refused ({len(refused)}): {', '.join(sorted(refused))}")
    runs_scalar = coverage["SCALAR"][0]
    assert {"sqrt", "power", "pow", "greatest", "ifnull", "now", "current_date"} <= runs_scalar
    runs_aggregate, refused_aggregate = coverage["AGGREGATE"]
    assert {"var", "var_population", "stddev", "covar", "corr", "regr_r2", "median", "bool_and", "bit_xor",
            "first_value", "nth_value", "any_value", "quantile_cont", "string_agg"} <= runs_aggregate
    assert {"approx_distinct", "approx_median", "array_agg"} <= refused_aggregate
    # README.md's "SQL functions" paragraph states the scalar and aggregate counts: they must stay
    # true.
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"{len(runs_scalar)} of {DATAFUSION_TOTALS['SCALAR']} scalar" in readme, line
    # Every window function DataFusion lists runs (README.md states the window count too).
    runs_window, refused_window = coverage["WINDOW"]
    assert not refused_window, refused_window
    assert f"{len(runs_window)} of {DATAFUSION_TOTALS['WINDOW']} window" in readme, line
    assert f"{len(runs_aggregate)} of {DATAFUSION_TOTALS['AGGREGATE']} aggregate" in readme, line


@pytest.mark.parametrize("name", sorted(PLAN_TIME_FUNCTIONS))
def test_plan_time_functions_run(name: str, connect_for_tests) -> None:
    # DataFusion folds them to constants; gpu-exec then runs the query without a kernel.
    import datetime

    call = name if name in ("current_date", "current_timestamp") else f"{name}()"
    session = connect_for_tests(1)
    try:
        before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        value = session.sql(f"select {call} as v").to_arrow().column("v")[0].as_py()
        after = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    finally:
        session.close()
    if isinstance(value, datetime.datetime):
        # The planning clock, between the two readings (to the second: no timing assumption).
        assert before - datetime.timedelta(seconds=1) <= value <= after + datetime.timedelta(seconds=1)
    else:
        assert before.date() <= value <= after.date()


def test_unsupported_function_is_refused_with_its_reason(assert_translation_raises, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"s": ["a", "b"]}), path)
    assert_translation_raises("select s, uuid() from s", {"s": str(path)}, "drawn per row")

"""Regular expressions in SQL against DataFusion: regexp_like and the ~ / ~* / !~ / !~* operators,
regexp_replace and regexp_count, with flags, NULLs, non-ASCII text and line breaks. Patterns outside
planner/regex.py's subset, and the pattern shapes libcudf treats differently, are refused with
their reason (on the GPU: placed on the CPU, asserted through the capabilities)."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def regex_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("regex")
    r = pa.table(
        {
            "id": pa.array(range(1, 12), pa.int64()),
            "s": pa.array(["hello world", "Héllo-Wörld", None, "", "ab-cd-ef", "straße ÄB", "x\ny\n",
                           "aaa bbb aaa", "k\u212a K", "[a](b){c}.*$^|\\", "ſtraſſe ς ẞ Ω"]),
            "n": pa.array([1, 2, 3, None, 4, 1, 2, 5, 1, 3, 2], pa.int64()),
        }
    )
    path = root / "r.parquet"
    pq.write_table(r, path, row_group_size=4)
    return {"r": str(path)}


def _session(tables: dict[str, str]):
    """A session on the test device that lets CPU-only calls leave the GPU."""
    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables

    session = gpu_exec.connect(device=os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu"), partitions=2,
                               fallback="silent")
    register_tables(session, tables)
    return session


# Calls the GPU runs (a GPU session with fallback="raise" proves they stay there).
GPU_QUERIES = [
    "select id, regexp_like(s, 'o'), regexp_like(s, '^[a-h]+ '), regexp_like(s, 'l{2}'), s ~ 'a+', s !~ 'a+' from r",
    "select id from r where s ~ '(ab|cd)-' or regexp_like(s, 'ö')",
    "select id, regexp_like(s, 'x.y'), regexp_like(s, 'x.y', 's'), regexp_like(s, 'y$'), regexp_like(s, '^x') from r",
    "select id, regexp_like(s, '\\[a\\]\\(b\\)\\{c\\}\\.\\*\\$\\^\\|\\\\'), regexp_like(s, '[\\[\\]]'), "
    "regexp_like(s, '[^a-z ]'), regexp_like(s, 'ß|Ä') from r",
    "select id, regexp_replace(s, 'o', '0'), regexp_replace(s, 'o', '0', 'g'), regexp_replace(s, '[aeiou]+', '') from r",
    "select id, regexp_replace(s, '(a+) (b+)', '\\2-\\1', 'g'), regexp_replace(s, '(l+)', '<${1}>', 'g'), "
    "regexp_replace(s, 'a', 'x$$y') from r",
    "select id, regexp_count(s, 'a'), regexp_count(s, '[ab]+'), regexp_count(s, 'a', 3), regexp_count(s, 'a$', 9), "
    "regexp_count(s, 'l.', 1, 's') from r",
    "select id, regexp_like(s, 'a.*?b'), regexp_replace(s, 'a.*?b', '_', 'g'), regexp_replace(s, 'a{2,}', '_', 'g') from r",
]

# Calls a GPU session places on the CPU (capabilities say why); on the CPU all of them run.
QUERIES = [
    "select id, regexp_like(s, 'HELLO', 'i'), s ~* 'wörld', s !~* 'ÄB', regexp_like(s, 'k', 'i') from r",
    "select id, s ~* 'STRASSE', s ~* 'σ', s ~* 'ß', s ~* 'ω', regexp_replace(s, 's', '_', 'gi') from r",
    "select id, regexp_like(s, ''), regexp_like(s, 'z*'), regexp_like(s, '^$') from r",
    "select id, regexp_like(s, '^y$', 'm'), regexp_count(s, '.$', 1, 'm'), regexp_count(s, 'A', 1, 'i') from r",
    "select id, regexp_replace(s, '(o)', '[\\1]'), regexp_replace(s, 'x*', '-', 'g'), regexp_replace(s, 'b*', '-', 'g') from r",
    "select id, regexp_replace(s, 'A', '-', 'gi'), regexp_replace(s, '(a)', '\\3'), regexp_count(s, 'a', n) from r",
    "select id, regexp_like(s, 'o', NULL), regexp_replace(s, 'o', 'x', NULL), regexp_count(s, 'o', NULL), "
    "regexp_like(s, NULL), regexp_replace(s, NULL, 'x'), regexp_replace(s, 'o', NULL) from r",
]


@pytest.mark.parametrize("sql", GPU_QUERIES)
def test_regex_on_the_device_matches_datafusion(sql: str, regex_tables: dict[str, str], assert_matches_datafusion) -> None:
    assert_matches_datafusion(sql, regex_tables, partitions=2)


@pytest.mark.parametrize("sql", QUERIES)
def test_regex_matches_datafusion(sql: str, regex_tables: dict[str, str], assert_matches_datafusion) -> None:
    session = _session(regex_tables)
    try:
        assert_matches_datafusion(sql, regex_tables, session=session)
    finally:
        session.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("select regexp_like(s, '\\d') from r", "Unicode-aware"),
        ("select s ~ '\\w+' from r", "the operator ~"),
        ("select regexp_like(s, '(?i)a') from r", "inline flags"),
        ("select regexp_like(s, '[[:alpha:]]') from r", "nests a class"),
        ("select regexp_like(s, '[a-z&&[^x]]') from r", "set operation"),
        ("select regexp_like(s, '[]a]') from r", "escape a literal ']'"),
        ("select regexp_like(s, 'a**') from r", "after a quantifier"),
        ("select regexp_like(s, '(?<x>a)') from r", "named groups"),
        ("select regexp_like(s, '[a-]') from r", "escape it as"),
        ("select regexp_like(s, s) from r", "constant pattern"),
        ("select s ~ s from r", "constant pattern"),
        ("select regexp_like(s, 'a', 'x') from r", "flag(s) 'x' not supported"),
        ("select regexp_replace(s, 'a', s) from r", "constant replacement"),
        ("select regexp_replace(s, 'a', '$1x') from r", "the replacement"),
        ("select regexp_replace(s, 'a', '\\12') from r", "the replacement"),
        ("select regexp_count(s, 'a*') from r", "empty string"),
        ("select regexp_replace(s, 'a', 'b', '') from r", "empty flags"),
        ("select regexp_count(s, '^a', 2) from r", "matches '^' again"),
        ("select regexp_match(s, 'a') from r", "list"),
        ("select regexp_instr(s, 'a') from r", "not implemented yet"),
    ],
)
def test_unsupported_regex_is_refused_with_its_reason(sql: str, reason: str, regex_tables: dict[str, str],
                                                     assert_translation_raises) -> None:
    assert_translation_raises(sql, regex_tables, reason)


def test_regexp_count_start_below_one_errors_as_in_datafusion(regex_tables: dict[str, str]) -> None:
    import datafusion

    from planner.errors import ExecutionError

    sql = "select regexp_count(s, 'a', n - 1) from r"
    ctx = datafusion.SessionContext()
    ctx.register_parquet("r", regex_tables["r"])
    with pytest.raises(Exception, match="requires start to be 1 based"):
        ctx.sql(sql).to_arrow_table()
    session = _session(regex_tables)
    try:
        with pytest.raises(ExecutionError, match="requires start to be 1 based"):
            session.sql(sql).to_arrow()
    finally:
        session.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("select id, s ~* 'a+b' from r", "regexp_like() with the i flag (or ~*) runs on the CPU"),
        ("select id, regexp_count(s, 'a$', 1, 'm') from r", "with the m flag runs on the CPU"),
        ("select id, regexp_replace(s, 'x*', '-', 'g') from r", "can match the empty string"),
        ("select id, regexp_replace(s, '(a)', '\\1') from r", "replace_with_backrefs replaces every match"),
        ("select id, regexp_count(s, 'a', n) from r", "non-constant argument 3"),
    ],
)
def test_gpu_placement_of_what_libcudf_answers_differently(sql: str, reason: str, regex_tables: dict[str, str]) -> None:
    import gpu_exec

    session = gpu_exec.connect(device="cpu", partitions=2)
    try:
        session.register_parquet("r", regex_tables["r"])
        lines = session.sql(sql).explain(device="gpu").splitlines()
        fallback = [line for line in lines if "@cpu" in line]
        assert len(fallback) == 1 and reason in fallback[0], lines
        gpu = session.sql("select id, s ~ 'a+b', regexp_replace(s, '(a)', '\\1\\1', 'g') from r").explain(device="gpu")
        assert "@cpu" not in gpu, gpu
    finally:
        session.close()

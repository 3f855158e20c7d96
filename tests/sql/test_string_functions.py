"""The string functions beyond substr/trim/concat in SQL, against DataFusion: NULLs, empty strings,
non-ASCII text, negative counts. Those without a GPU kernel (capabilities.CPU_ONLY_FUNCTIONS) run
on the CPU of a GPU session."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def string_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("strings")
    w = pa.table(
        {
            "id": pa.array(range(1, 9), pa.int64()),
            "s": pa.array(["hello world", "héllo-wörld", None, "", "ab-cd-ef", "straße ÄB", "x", "e\u0301x 😀"]),
            "sep": pa.array(["-", " ", ",", None, "-", "ß", "", "😀"]),
            "n": pa.array([2, -1, 0, 3, None, 10, -5, 1], pa.int64()),
            "c": pa.array([65, 233, 0, None, 128512, 10, 32, 1114111], pa.int64()),
        }
    )
    path = root / "w.parquet"
    pq.write_table(w, path, row_group_size=3)
    return {"w": str(path)}


def _session(tables: dict[str, str]):
    """A session on the test device that lets CPU-only functions leave the GPU (the shared
    fixtures raise on any fallback)."""
    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables

    session = gpu_exec.connect(device=os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu"), partitions=2,
                               fallback="silent")
    register_tables(session, tables)
    return session


# On the GPU where a GPU session runs them (fallback="raise" proves it).
GPU_QUERIES = [
    "select id, repeat(s, 2), repeat(s, n), reverse(s), bit_length(s), octet_length(s) from w",
    "select id from w where reverse(s) like 'd%' or bit_length(s) > 80",
    "select id, contains(s, 'l'), contains(s, sep), contains(s, ''), position('l' in s), instr(s, sep) from w",
]

QUERIES = [
    "select id, left(s, n), right(s, n), left(s, 3), right(s, -2) from w",
    "select id, lpad(s, 8), rpad(s, 8), lpad(s, 12, 'xé'), rpad(s, 4, sep), lpad(s, abs(n), '') from w",
    "select id, ascii(s), chr(c), to_hex(c), to_hex(n), to_hex(-c) from w",
    "select id, concat_ws('-', s, NULL, sep), concat_ws(sep, s, s, id) from w",
    "select id, split_part(s, '-', 2), split_part(s, sep, -1), split_part(s, '', 1), split_part(s, 'l', 3) from w",
    "select id, initcap(s), initcap(upper(s)), translate(s, 'lé-', 'L_'), translate(s, '', 'x') from w",
    "select id, levenshtein(s, 'hello'), levenshtein(s, sep), md5(s), md5('') from w",
    ("select id, substr_index(s, '-', n), substring_index(s, sep, -1), find_in_set(sep, 'a,-, ,ß'), "
     "overlay(s placing 'XY' from 2), overlay(s placing sep from 3 for n), encode(s, 'hex'), "
     "encode(s, 'base64'), encode(s, 'base64pad') from w"),
    "select id, upper(left(s, 1)) || lower(substr(s, 2)), length(lpad(s, 5)) from w where ascii(s) > 100",
]


@pytest.mark.parametrize("sql", GPU_QUERIES)
def test_string_function_on_the_device_matches_datafusion(
    sql: str, string_tables: dict[str, str], assert_matches_datafusion
) -> None:
    assert_matches_datafusion(sql, string_tables, partitions=2)


@pytest.mark.parametrize("sql", QUERIES)
def test_string_function_matches_datafusion(sql: str, string_tables: dict[str, str], assert_matches_datafusion) -> None:
    session = _session(string_tables)
    try:
        assert_matches_datafusion(sql, string_tables, session=session)
    finally:
        session.close()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select split_part(s, '-', 0) from w", "field position must not be zero"),
        ("select chr(c + 1) from w", "invalid Unicode scalar value"),
    ],
)
def test_string_function_errors_as_in_datafusion(sql: str, message: str, string_tables: dict[str, str]) -> None:
    import datafusion

    from planner.errors import ExecutionError

    ctx = datafusion.SessionContext()
    ctx.register_parquet("w", string_tables["w"])
    with pytest.raises(Exception, match=message):
        ctx.sql(sql).to_arrow_table()
    session = _session(string_tables)
    try:
        with pytest.raises(ExecutionError, match=message):
            session.sql(sql).to_arrow()
    finally:
        session.close()

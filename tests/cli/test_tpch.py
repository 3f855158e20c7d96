"""The 22 TPC-H queries: at SF 0.1 against DataFusion (1 and 4 partitions, with and without
broadcast joins), at SF1 against the official answers (slow)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from gpu_exec.testing.tpch import QUERY_NUMBERS, query_sql


def _query_id(number: int) -> str:
    return f"q{number:02d}"


LAYOUTS = {
    "partitions=1": {"partitions": 1},
    "partitions=4": {"partitions": 4},  # small join sides broadcast
    "partitions=4-hash-joins": {"partitions": 4, "broadcast_rows": 0},  # every join repartitioned
}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def tpch_session(
    request: pytest.FixtureRequest,
    tpch_data: dict[str, str],
    connect_for_tests: Callable[..., object],
) -> Iterator[object]:
    """One session per layout, shared by the 22 queries (q15 drops its view again)."""
    session = connect_for_tests(tables=tpch_data, **LAYOUTS[request.param])
    yield session
    session.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("number", QUERY_NUMBERS, ids=_query_id)
def test_tpch_sf01_matches_datafusion(
    number: int,
    tpch_session: object,
    tpch_data: dict[str, str],
    assert_matches_datafusion: Callable[..., object],
) -> None:
    assert_matches_datafusion(query_sql(number), tpch_data, session=tpch_session)


@pytest.fixture(scope="module")
def sf1_session(
    tpch_answers: Path,
    tpch_sf1_data: dict[str, str],
    connect_for_tests: Callable[..., object],
) -> Iterator[object]:
    session = connect_for_tests(tables=tpch_sf1_data)
    yield session
    session.close()  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("number", QUERY_NUMBERS, ids=_query_id)
def test_tpch_sf1_matches_official_answers(
    number: int, sf1_session: object, tpch_answers: Path
) -> None:
    from gpu_exec.testing.compare import compare_with_answer
    from gpu_exec.api.sql_scripts import run_on_gpu_exec

    answer = tpch_answers / f"q{number:02d}.out"
    result = run_on_gpu_exec(sf1_session, query_sql(number)).table
    differences = compare_with_answer(result, answer)
    assert not differences, f"q{number:02d} differs from {answer}:\n  " + "\n  ".join(differences)

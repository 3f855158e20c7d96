"""The ``gpu-exec`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_exec.testing.tpch import parse_placement, parse_query_numbers, placement_summary


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m gpu_exec.cli.main ARGS`` with a wide terminal, so rich does not wrap the tables."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "gpu_exec.cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_sql_prints_the_rows(sample_tables: dict[str, str]) -> None:
    done = run_cli("sql", "select grp, count(*) as n from items group by grp order by grp",
                   "--table", f"items={sample_tables['items']}", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "g0" in done.stdout and "g6" in done.stdout and "143" in done.stdout
    assert "7 rows" in done.stdout


def test_sql_reads_csv_and_limits_printed_rows(sample_tables: dict[str, str]) -> None:
    done = run_cli("sql", "select id from items_csv order by id", "-t",
                   f"items_csv={sample_tables['items_csv']}", "--max-rows", "3")
    assert done.returncode == 0, done.stderr
    assert "1000 rows" in done.stdout and "first 3 shown" in done.stdout
    rows = [line.strip("│ ") for line in done.stdout.splitlines() if line.startswith("│")]
    assert rows == ["0", "1", "2"]


def test_bad_sql_exits_1_with_one_line_on_stderr(sample_tables: dict[str, str]) -> None:
    done = run_cli("sql", "selec grp from items", "--table", f"items={sample_tables['items']}")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "SQLError" in done.stderr and "selec" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_table_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.parquet"
    done = run_cli("sql", "select 1", "--table", f"t={missing}")
    assert done.returncode == 1
    assert str(missing) in done.stderr and "Traceback" not in done.stderr


def test_debug_shows_the_traceback() -> None:
    done = run_cli("sql", "selec 1", "--debug")
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_bad_table_option_is_a_usage_error() -> None:
    done = run_cli("sql", "select 1", "--table", "no-equals-sign")
    assert done.returncode == 2 and "NAME=PATH" in done.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "gpu-exec"
    if not script.exists():
        pytest.skip(f"no console script at {script}: the package is not pip-installed here")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "tpch" in done.stdout


def test_tpch_command_runs_and_checks_queries(tpch_data: dict[str, str]) -> None:
    data = Path(tpch_data["lineitem"]).parent
    done = run_cli("tpch", "--sf", "0.1", "--data", str(data), "--queries", "1,6,15",
                   "--device", "cpu", "--check")
    assert done.returncode == 0, done.stderr
    for name in ("q01", "q06", "q15", "total"):
        assert name in done.stdout
    assert "3/3 ok" in done.stdout
    assert "cpu " in done.stdout  # the operators column: "cpu N/N"


def test_tpch_rejects_a_query_number_outside_1_to_22() -> None:
    done = run_cli("tpch", "--queries", "1,23")
    assert done.returncode == 2 and "23" in done.stderr


def test_parse_query_numbers() -> None:
    assert parse_query_numbers("1,5,15") == [1, 5, 15]
    assert parse_query_numbers("3-5, 22") == [3, 4, 5, 22]
    with pytest.raises(ValueError):
        parse_query_numbers("0")


def test_placement_summary_from_explain_text() -> None:
    all_cpu = "Sort @cpu\n  Scan lineitem @cpu\n"
    assert placement_summary(all_cpu) == "cpu 2/2"
    mixed = ("Sort @gpu\n  Project @cpu: regexp_like is not supported on the GPU\n"
             "    Filter @cpu: regexp_like is not supported on the GPU\n      Scan @gpu\n")
    assert placement_summary(mixed) == "gpu 2, cpu 2 (regexp_like is not supported on the GPU)"
    assert placement_summary("Scan @gpu") == "gpu 1/1"
    total = parse_placement(all_cpu) + parse_placement(mixed)
    assert (total.gpu, total.cpu) == (2, 4)

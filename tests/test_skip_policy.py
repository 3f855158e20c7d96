"""The skip policy (gpu_exec/testing/skip_policy.py) itself: a run with an unexplained skip or an
xfail citing no bug fails, an allowed skip passes, and every run lists its skips by reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_pytest(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """pytest with only the policy plugin, in a directory of its own, over one test file."""
    (tmp_path / "test_sample.py").write_text("import pytest\n\n" + body)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "gpu_exec.testing.skip_policy", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def test_an_unexplained_skip_fails_the_run(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "def test_a():\n    pytest.skip('the data was not there')\n\n"
                                "def test_b():\n    assert True\n")
    assert done.returncode == 1, done.stdout
    assert "skip reason not in the allowed list" in done.stdout
    assert "'the data was not there'" in done.stdout
    assert "1 passed, 1 skipped" in done.stdout


def test_an_allowed_skip_passes_and_is_counted(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "@pytest.mark.parametrize('i', range(3))\n"
                                "def test_a(i):\n    pytest.skip('no GPU on this machine')\n")
    assert done.returncode == 0, done.stdout
    assert "skipped tests by reason" in done.stdout
    assert "     3  no GPU on this machine" in done.stdout


def test_an_xfail_must_cite_the_bug_behind_it(tmp_path: Path) -> None:
    uncited = run_pytest(tmp_path, "@pytest.mark.xfail(reason='flaky')\ndef test_a():\n    assert False\n")
    assert uncited.returncode == 1 and "xfail without the issue or upstream bug" in uncited.stdout
    cited = run_pytest(tmp_path, "@pytest.mark.xfail(reason='wrong answer: apache/datafusion#8241')\n"
                                 "def test_a():\n    assert False\n")
    assert cited.returncode == 0, cited.stdout

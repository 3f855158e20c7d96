"""The cuDF kernels are type-checked against pylibcudf's own stubs, and the check bites.

No CI machine has a GPU, so this is what proves, on every run, that each pylibcudf call in
gpu_exec/cudf/kernels.py names a real function with arguments of the right types (DESIGN.md:
"mypy --strict checks every call's name, arguments and result types against the real cuDF API").
The stubs come from pylibcudf-cu12 / rmm-cu12 installed with --no-deps (the Makefile does it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KERNELS = REPO / "gpu_exec" / "cudf" / "kernels.py"

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("pylibcudf") is None or importlib.util.find_spec("rmm") is None,
        reason="pylibcudf/rmm stubs not installed: pip install --no-deps 'pylibcudf-cu12==26.10.*' "
        "'rmm-cu12==26.10.*' (the Makefile's setup does)",
    ),
    pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (dev extra)"),
]


def _mypy(
    *args: str, cwd: Path, cache: Path, mypy_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if mypy_path is not None:
        env["MYPYPATH"] = str(mypy_path)
    command = [sys.executable, "-m", "mypy", "--no-color-output", "--cache-dir", str(cache), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One cache for both runs: the second reuses the analysed stubs and project modules.
    return tmp_path_factory.mktemp("mypy-cache")


def test_mypy_strict_passes_on_the_repo_config(cache: Path) -> None:
    # Exactly what a developer runs: `mypy` in the repo root ([tool.mypy] in pyproject.toml).
    result = _mypy(cwd=REPO, cache=cache)
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}\n{result.stderr}"
    assert "gpu_exec/cudf/" in (REPO / "pyproject.toml").read_text(), (
        "the mypy config must name the cuDF kernels"
    )


# Two deliberate mistakes, each a real pylibcudf call gone wrong in a way that would only show
# up on a GPU: a misspelled function, and a wrong argument type (our column wrapper where
# pylibcudf wants its own Column).
MISTAKES = [
    (
        "plc.stream_compaction.apply_retention_mask(table.table, mask.data)",
        "plc.stream_compaction.apply_retention_masks(table.table, mask.data)",
        r'Module has no attribute "apply_retention_masks"',
    ),
    (
        "plc.strings.contains.like(x, pattern, escape_char)",
        "plc.strings.contains.like(CudfColumn(x, pa.string()), pattern, escape_char)",
        r'Argument 1 to "like" has incompatible type "CudfColumn"; expected "Column"',
    ),
]


def test_mypy_catches_wrong_pylibcudf_calls(tmp_path: Path, cache: Path) -> None:
    source = KERNELS.read_text()
    broken = source
    lines = {}
    for correct, wrong, _ in MISTAKES:
        assert broken.count(correct) == 1, f"the call to break is no longer in cudf_kernels.py: {correct}"
        broken = broken.replace(correct, wrong)
        lines[wrong] = broken[: broken.index(wrong)].count("\n") + 1
    # The broken copy is checked as a module of its own beside the real project (MYPYPATH), with
    # the repo's configuration: strict, pylibcudf's stubs, the same overrides.
    copy = tmp_path / "broken_cudf_kernels.py"
    copy.write_text(broken)
    result = _mypy(
        "--config-file", str(REPO / "pyproject.toml"), str(copy), cwd=tmp_path, cache=cache, mypy_path=REPO
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"mypy should have failed:\n{output}"
    for _, wrong, message in MISTAKES:
        line = lines[wrong]
        assert re.search(rf"broken_cudf_kernels\.py:{line}: error: {message}", output), (
            f"expected {message!r} at line {line}:\n{output}"
        )
    # Only the injected mistakes: the rest of the copy is as clean as the original.
    assert len(re.findall(r": error:", output)) == len(MISTAKES), output

"""The cuDF kernels are type-checked against pylibcudf's own stubs, and the check bites.

No CI machine has a GPU, so this is what proves, on every run, that each pylibcudf call in the
modules of gpu_exec/cudf/ names a real function with arguments of the right types: mypy --strict
checks every call's name, arguments and result types against the real cuDF API, so a wrong call
fails here instead of on the first GPU run. The stubs come from pylibcudf-cu12 / rmm-cu12
installed with --no-deps (the Makefile does it).
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
CUDF = REPO / "gpu_exec" / "cudf"

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
# pylibcudf wants its own Column). Each names the module of gpu_exec/cudf/ that holds the call.
MISTAKES = [
    (
        "relational.py",
        "plc.stream_compaction.apply_retention_mask(table.table, mask.data)",
        "plc.stream_compaction.apply_retention_masks(table.table, mask.data)",
        r'Module has no attribute "apply_retention_masks"',
    ),
    (
        "strings.py",
        "plc.strings.contains.like(x, pattern, escape_char)",
        "plc.strings.contains.like(CudfColumn(x, pa.string()), pattern, escape_char)",
        r'Argument 1 to "like" has incompatible type "CudfColumn"; expected "Column"',
    ),
]


def test_mypy_catches_wrong_pylibcudf_calls(tmp_path: Path, cache: Path) -> None:
    broken: dict[str, str] = {}
    lines = {}
    for module, correct, wrong, _ in MISTAKES:
        source = broken.get(module, (CUDF / module).read_text())
        assert source.count(correct) == 1, f"the call to break is gone from gpu_exec/cudf/{module}: {correct}"
        broken[module] = source.replace(correct, wrong)
        lines[wrong] = broken[module][: broken[module].index(wrong)].count("\n") + 1
    # Each broken copy is checked as a module of its own beside the real project (MYPYPATH: its
    # imports of sibling modules, gpu_exec.cudf.columns and the rest, resolve to the real ones),
    # with the repo's configuration: strict, pylibcudf's stubs, the same overrides.
    copies = []
    for module, text in broken.items():
        copy = tmp_path / f"broken_{module}"
        copy.write_text(text)
        copies.append(str(copy))
    result = _mypy(
        "--config-file", str(REPO / "pyproject.toml"), *copies, cwd=tmp_path, cache=cache, mypy_path=REPO
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"mypy should have failed:\n{output}"
    for module, _, wrong, message in MISTAKES:
        line = lines[wrong]
        assert re.search(rf"broken_{re.escape(module)}:{line}: error: {message}", output), (
            f"expected {message!r} at broken_{module}:{line}:\n{output}"
        )
    # Only the injected mistakes: the rest of each copy is as clean as the original.
    assert len(re.findall(r": error:", output)) == len(MISTAKES), output

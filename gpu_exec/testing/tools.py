"""The project's command-line tools (console scripts such as ``tpchgen-cli``), found beside the
running interpreter first: ``make`` and CI run ``.venv/bin/python`` without ``.venv/bin`` on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["find_tool"]


def find_tool(name: str, install: str) -> str:
    """The path of the executable ``name``: beside ``sys.executable`` (the virtualenv's scripts),
    else on PATH; FileNotFoundError saying how to ``install`` it otherwise."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found beside {sys.executable} or on PATH: install it "
                                f"with `{install}`")
    return found

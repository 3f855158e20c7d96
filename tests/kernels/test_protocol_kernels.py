"""Every backend implements the whole Kernels protocol, by name and signature."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fallback_cpu.kernels import ArrowKernels
from gpu_exec.engine.kernels import KERNEL_METHODS, Kernels

# The GPU backend imports on any machine (pylibcudf and cupy load at its first kernel call), so
# its shape is checked here too, without a GPU.
from gpu_exec.cudf.kernels import CudfKernels

BACKENDS = [ArrowKernels, CudfKernels]


def _public_methods(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))}


def test_arrow_kernels_implement_every_protocol_method() -> None:
    missing = sorted(name for name in KERNEL_METHODS if not callable(getattr(ArrowKernels, name, None)))
    assert not missing, f"ArrowKernels lacks {missing}"


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__)
def test_backend_has_exactly_the_protocol_methods(backend: type) -> None:
    # Nothing missing, and no public extra that operators could come to rely on.
    assert _public_methods(backend) == set(KERNEL_METHODS), (
        f"missing {sorted(set(KERNEL_METHODS) - _public_methods(backend))}, "
        f"extra {sorted(_public_methods(backend) - set(KERNEL_METHODS))}"
    )


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__)
def test_backend_signatures_match_the_protocol(backend: type) -> None:
    for name in sorted(KERNEL_METHODS):
        expected = list(inspect.signature(getattr(Kernels, name)).parameters)
        actual = list(inspect.signature(getattr(backend, name)).parameters)
        assert actual == expected, (
            f"{backend.__name__}.{name}{tuple(actual)} != protocol {name}{tuple(expected)}"
        )


def test_every_backend_is_a_kernels_with_its_name(kernels: Any) -> None:
    assert isinstance(kernels, Kernels)
    assert kernels.name in ("cpu", "gpu")


def test_backend_names() -> None:
    assert ArrowKernels().name == "cpu"
    assert CudfKernels().name == "gpu"
    assert isinstance(CudfKernels(), Kernels)


def test_cudf_kernels_import_loads_neither_pylibcudf_nor_cupy() -> None:
    # A fresh interpreter: importing the module (and making the kernels object) must not touch
    # the GPU libraries, which fail to load on a machine without a GPU.
    code = (
        "import sys; from gpu_exec.cudf.kernels import CudfKernels; CudfKernels(); "
        "loaded = [m for m in ('pylibcudf', 'cupy', 'rmm') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=repo)

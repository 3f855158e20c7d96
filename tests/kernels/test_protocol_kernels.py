"""Every backend implements the whole Kernels protocol, by name and signature."""

from __future__ import annotations

import inspect
from typing import Any

from fallback_cpu.arrow_kernels import ArrowKernels
from gpu_exec.kernels import KERNEL_METHODS, Kernels


def test_arrow_kernels_implement_every_protocol_method() -> None:
    missing = sorted(name for name in KERNEL_METHODS if not callable(getattr(ArrowKernels, name, None)))
    assert not missing, f"ArrowKernels lacks {missing}"


def test_arrow_kernels_signatures_match_the_protocol() -> None:
    for name in sorted(KERNEL_METHODS):
        expected = list(inspect.signature(getattr(Kernels, name)).parameters)
        actual = list(inspect.signature(getattr(ArrowKernels, name)).parameters)
        assert actual == expected, f"{name}{tuple(actual)} != protocol {name}{tuple(expected)}"


def test_every_backend_is_a_kernels_with_its_name(kernels: Any) -> None:
    assert isinstance(kernels, Kernels)
    assert kernels.name in ("cpu", "gpu")


def test_arrow_kernels_is_the_cpu_backend() -> None:
    assert ArrowKernels().name == "cpu"

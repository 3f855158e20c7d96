"""GPU discovery without touching CUDA, and the choice of kernels for a session."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from typing import TYPE_CHECKING

from planner.errors import GpuExecError

if TYPE_CHECKING:
    from gpu_exec.cudf.memory import GpuMemoryConfig

__all__ = ["DeviceChoice", "visible_gpu_count", "gpu_names", "gpu_description", "choose_device", "make_kernels"]


@lru_cache(maxsize=1)
def visible_gpu_count() -> int:
    """NVIDIA GPUs this process may use, found from the driver's files or ``nvidia-smi``; never
    initialises CUDA (importing cuDF on a machine without a GPU works, but device calls fail)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "NoDevFiles"):
        return 0
    found = 0
    if os.path.isdir("/proc/driver/nvidia/gpus"):
        found = len(os.listdir("/proc/driver/nvidia/gpus"))
    elif shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
            found = sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            found = 0
    if visible is not None and found:
        found = min(found, len([v for v in visible.split(",") if v.strip()]))
    return found


def _gpu_unavailable_reason() -> str | None:
    """Why the GPU kernels can't run here, or None when they can."""
    if visible_gpu_count() == 0:
        return "no GPU found (no NVIDIA driver devices visible to this process)"
    if importlib.util.find_spec("pylibcudf") is None:
        return "pylibcudf is not installed (pip install 'gpu-exec[gpu]')"
    if importlib.util.find_spec("gpu_exec.cudf.kernels") is None:
        return "this build of gpu-exec has no cuDF kernels yet"
    return None


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """The device a session runs on, and why it is not the GPU when it is not. ``description``
    names what reports should say the session ran on (for the GPU: the GPU's name and the
    pylibcudf release, e.g. "gpu: NVIDIA H100 80GB HBM3, pylibcudf 26.10.02")."""

    name: str  # "cpu" | "gpu"
    reason: str | None = None
    description: str = ""

    def label(self) -> str:
        """``description``, else ``name``."""
        return self.description or self.name


@lru_cache(maxsize=1)
def gpu_names() -> tuple[str, ...]:
    """The names of the GPUs the driver (or ``nvidia-smi -L``) lists, without touching CUDA."""
    names: list[str] = []
    if os.path.isdir("/proc/driver/nvidia/gpus"):
        for gpu in sorted(os.listdir("/proc/driver/nvidia/gpus")):
            try:
                with open(os.path.join("/proc/driver/nvidia/gpus", gpu, "information")) as info:
                    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("Model:")), "")
            except OSError:
                model = ""
            names.append(model or "NVIDIA GPU")
    elif shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ()
        for line in out.stdout.splitlines():
            if line.startswith("GPU "):
                # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"
                names.append(line.split(":", 1)[1].rsplit("(UUID", 1)[0].strip())
    return tuple(names)


def gpu_description() -> str:
    """What the GPU backend runs on: the first GPU's name and the pylibcudf that is imported."""
    try:
        import pylibcudf

        version = str(getattr(pylibcudf, "__version__", "unknown version"))
    except Exception as exc:  # noqa: BLE001 — any import failure: report it, don't fail the session
        version = f"not importable ({type(exc).__name__})"
    names = gpu_names()
    return f"gpu: {names[0] if names else 'unknown GPU'}, pylibcudf {version}"


def choose_device(requested: str) -> DeviceChoice:
    """Resolve ``connect(device=...)``: "auto" takes the GPU when usable, "gpu" insists on it."""
    if requested not in ("auto", "cpu", "gpu"):
        raise GpuExecError(f"device must be 'auto', 'cpu' or 'gpu', not {requested!r}")
    if requested == "cpu":
        return DeviceChoice("cpu")
    reason = _gpu_unavailable_reason()
    if reason is None:
        return DeviceChoice("gpu", description=gpu_description())
    if requested == "gpu":
        raise GpuExecError(f"device='gpu' was asked for, but {reason}; use device='auto' to fall back to the CPU")
    return DeviceChoice("cpu", reason)


def make_kernels(device: DeviceChoice, memory: GpuMemoryConfig | None = None):  # -> Kernels
    """The kernels of ``device``; for the GPU, the process's RMM memory resource is set up first
    (once per process, ``memory`` or the default async resource; gpu_exec.cudf.memory)."""
    if device.name == "gpu":
        from gpu_exec.cudf.kernels import CudfKernels
        from gpu_exec.cudf.memory import GpuMemoryConfig, setup_gpu_memory

        setup_gpu_memory(memory or GpuMemoryConfig())
        return CudfKernels()
    from fallback_cpu.kernels import ArrowKernels

    return ArrowKernels()

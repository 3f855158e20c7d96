"""The one table of scalar functions (planner/functions.py) against everything that must follow it:
DataFusion's names, both backends' implementations and the GPU capability table. CPU only: the cuDF
modules import without pylibcudf (it is loaded at the first kernel call)."""

from __future__ import annotations

import datafusion

from fallback_cpu.functions import SCALAR_FUNCTION_KERNELS as ARROW_FUNCTIONS
from gpu_exec.cudf.capabilities import CPU_ONLY_FUNCTIONS, GPU_FUNCTIONS
from gpu_exec.cudf.functions import SCALAR_FUNCTION_KERNELS as CUDF_FUNCTIONS
from planner.functions import FUNCTION_ALIASES, SCALAR_FUNCTIONS, canonical_function


def test_every_function_has_an_arrow_kernel() -> None:
    assert set(SCALAR_FUNCTIONS) - set(ARROW_FUNCTIONS) == set()
    assert set(ARROW_FUNCTIONS) - set(SCALAR_FUNCTIONS) == set(), "a kernel for a function the table lacks"


def test_every_gpu_function_has_a_cudf_kernel() -> None:
    assert set(GPU_FUNCTIONS) - set(CUDF_FUNCTIONS) == set()
    assert set(CUDF_FUNCTIONS) - set(GPU_FUNCTIONS) == set(), "a kernel the capability table does not list"


def test_every_function_has_a_gpu_capability_entry() -> None:
    # Each function either runs on the GPU (GPU_FUNCTIONS) or is CPU-only with a reason.
    assert set(SCALAR_FUNCTIONS) - set(GPU_FUNCTIONS) - set(CPU_ONLY_FUNCTIONS) == set()
    assert set(GPU_FUNCTIONS) & set(CPU_ONLY_FUNCTIONS) == set()
    assert set(GPU_FUNCTIONS) | set(CPU_ONLY_FUNCTIONS) <= set(SCALAR_FUNCTIONS)
    assert all(reason for reason in CPU_ONLY_FUNCTIONS.values())
    for name, positions in GPU_FUNCTIONS.items():
        spec = SCALAR_FUNCTIONS[name]
        most = spec.max_args if spec.max_args is not None else max(positions, default=0) + 1
        assert all(0 <= p < most for p in positions), f"{name}: argument positions {positions}"


def test_every_name_is_one_datafusion_knows() -> None:
    ctx = datafusion.SessionContext(datafusion.SessionConfig().with_information_schema(True))
    routines = {row["routine_name"] for row in
                ctx.sql("select routine_name from information_schema.routines").to_arrow_table().to_pylist()}
    assert set(FUNCTION_ALIASES) - routines == set()


def test_aliases_resolve_to_one_function() -> None:
    assert canonical_function("LENGTH") is SCALAR_FUNCTIONS["character_length"]
    assert canonical_function("substring") is SCALAR_FUNCTIONS["substr"]
    assert canonical_function("no_such_function") is None
    names = [a for spec in SCALAR_FUNCTIONS.values() for a in (spec.name, *spec.aliases)]
    assert len(names) == len(set(names)), "an alias is claimed by two functions"

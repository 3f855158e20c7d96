# Two user-facing targets: `make tpch` (the main job) and `make test`. Both first set up .venv.
.PHONY: tpch test

VENV := .venv
# python3.11 when installed, else python3 (the project needs Python >= 3.11)
PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3)

tpch: $(VENV)/.installed
	$(VENV)/bin/gpu-exec tpch --sf 0.1

# The suite on the CPU, then its GPU cases on the pylibcudf simulator (tests/gpu_sim): the kernel
# suite, the differential SQL, planner, API and cluster tests and TPC-H with device="gpu".
SIM_TESTS := tests/kernels tests/sql tests/gpu_sim_tests tests/planner tests/test_gpu_memory.py \
	tests/api tests/cluster tests/cli/test_tpch.py tests/test_streaming.py tests/test_memory_pool.py \
	tests/test_spill.py tests/test_spill_sort.py tests/test_spill_hash.py tests/test_pruning.py \
	tests/test_spill_exchange.py
# TPC-H q9 and q18 under a 16 MiB limit take minutes on the simulator; the CPU run has them, and
# q3 and q5 take the same spilling path on the simulator.
SIM_DESELECT := --deselect 'tests/test_spill_exchange.py::test_tpch_under_a_small_limit[9]' \
	--deselect 'tests/test_spill_exchange.py::test_tpch_under_a_small_limit[18]'

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest
	GPU_EXEC_TEST_DEVICE=sim $(VENV)/bin/python -m pytest $(SIM_TESTS) $(SIM_DESELECT)

# The shared setup: create the virtualenv if missing, install the project with its dev extra.
# Re-run when pyproject.toml changes. Then pylibcudf's and rmm's typed stubs (~8 MB of wheels, no
# CUDA libraries with --no-deps) for the mypy check of the cuDF kernels (tests/test_gpu_static.py);
# they import only on a GPU machine.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(VENV)/bin/python -m pip install --quiet --no-deps 'pylibcudf-cu12==26.10.*' 'rmm-cu12==26.10.*'
	touch $@

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

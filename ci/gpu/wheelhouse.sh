#!/usr/bin/env bash
# Download every wheel a GPU run needs into one directory, on a machine with PyPI, for a GPU node
# without it (air-gapped HPC sites): the project's own wheel, its dependencies and the `dev` extra,
# and the RAPIDS builds for CUDA 12 or 13 (`gpu` / `gpu-cu13` extra), for one Python version on
# x86_64 Linux. Then, on the GPU node: ci/gpu/run --wheelhouse DIR.
#   usage: ci/gpu/wheelhouse.sh DIR [--cuda 12|13] [--python 3.12]
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { echo "usage: ci/gpu/wheelhouse.sh DIR [--cuda 12|13] [--python 3.12]" >&2; exit 2; }
[ $# -ge 1 ] || usage
DIR=$1; shift
CUDA=12
PY=3.12
while [ $# -gt 0 ]; do
    case "$1" in
        --cuda) CUDA=${2:?}; shift 2 ;;
        --python) PY=${2:?}; shift 2 ;;
        *) usage ;;
    esac
done
case "$CUDA" in 12) EXTRA=gpu ;; 13) EXTRA=gpu-cu13 ;; *) echo "--cuda must be 12 or 13" >&2; exit 2 ;; esac
ABI=cp${PY/./}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
mkdir -p "$DIR"

# The project itself, as a wheel (pip download cannot take a source tree with --only-binary).
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$DIR" .
WHEEL=$(ls -t "$DIR"/gpu_exec-*.whl | head -n 1)

# Everything it needs, as binary wheels for the target interpreter and platform. Each manylinux tag
# the RAPIDS and PyPI wheels use is accepted; pure-Python wheels match any platform.
"$PYTHON" -m pip download --dest "$DIR" --only-binary=:all: \
    --implementation cp --python-version "$PY" --abi "$ABI" --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform linux_x86_64 \
    "$WHEEL[dev,$EXTRA]"

echo "wheelhouse $DIR: $(ls "$DIR" | wc -l) wheels, $(du -sh "$DIR" | cut -f1) (CUDA $CUDA, Python $PY)"

#!/usr/bin/env bash
# Run the project's Python toolkit with Debian's interpreter (the one that has torch 1.13).
# The repository root goes on PYTHONPATH so `-m adm.xxx` works from any working directory.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-2}"
export ADM_TORCH_THREADS="${ADM_TORCH_THREADS:-2}"
exec /usr/bin/python3 "$@"

#!/usr/bin/env bash
# The GPU check, one run on a machine with a CUDA GPU (about 5 minutes on an H100):
# CUDA vs numba CPU on the same seeds, the benchmark of mixing/bench_cuda.py, and the
# tests that need real hardware. Writes bench_cuda.json and bench_cuda.log to $OUT
# (default: ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" NUMBA_ENABLE_CUDASIM=0
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader
python3 -c "import sys, numba, numpy; print('python', sys.version.split()[0], 'numba', numba.__version__, 'numpy', numpy.__version__)"
timeout 420 python3 -m mixing.bench --device cuda --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.log"
timeout 120 python3 -m pytest -q -m gpu tests/test_cuda.py -p no:cacheprovider 2>&1 | tail -4

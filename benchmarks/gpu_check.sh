#!/usr/bin/env bash
# The GPU check, one run on a machine with a CUDA GPU (about 8 minutes on an H100):
# CUDA vs numba CPU on the same seeds, the benchmark of benchmarks/cuda_bench.py (every
# layout side by side, the float32 error, the d = 128 sweep) and the tests that need real
# hardware. Writes bench_cuda.json and bench_cuda.log to $OUT (default: ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" NUMBA_ENABLE_CUDASIM=0
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader
python3 -c "import sys, numba, numpy; print('python', sys.version.split()[0], 'numba', numba.__version__, 'numpy', numpy.__version__)"
timeout 480 python3 benchmarks/engine_bench.py --device cuda --max-sweep 60 --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.log"
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py -m gpu 2>&1 | tail -2
timeout 60 python3 -m pytest -q -p no:cacheprovider "tests/test_learn.py::test_imported_generators_cuda_matches_cpu" 2>&1 | tail -2

#!/usr/bin/env bash
# The GPU check, one run on a machine with a CUDA GPU (about 5 minutes on an H100):
# CUDA vs numba CPU on the same seeds, the benchmark of benchmarks/cuda_bench.py, the tests
# that need real hardware, and two launch-shape variants. Writes bench_cuda.json and
# bench_cuda.log to $OUT (default: ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" NUMBA_ENABLE_CUDASIM=0
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader
python3 -c "import sys, numba, numpy; print('python', sys.version.split()[0], 'numba', numba.__version__, 'numpy', numpy.__version__)"
timeout 300 python3 benchmarks/engine_bench.py --device cuda --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.log"
timeout 60 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py -m gpu 2>&1 | tail -2
timeout 60 python3 -m pytest -q -p no:cacheprovider "tests/test_learn.py::test_imported_generators_cuda_matches_cpu" 2>&1 | tail -2
for v in "4 96" "2 0"; do
  set -- $v
  MIXING_CUDA_WPB=$1 MIXING_CUDA_MAXREG=$2 timeout 60 python3 benchmarks/cuda_variants.py 2>&1 | tail -1 | tee -a "$OUT/bench_cuda.log"
done

"""``python benchmarks/engine_bench.py``: speed and memory of the retrieval kernels, measured in one run.

1. numba kernel vs the NumPy reference on the same work (table-driven Householder
   retrieval, d = 64, same seed, same trials): time, reflections per second, ratio, and the
   fraction of this machine's FP64 peak. Flops are counted as 4d per reflection step (the
   dot product w.u and the update u - beta (w.u) w); the peak is
   cores x clock x FP64 flops per cycle (32 with AVX-512, 16 with AVX2+FMA, 4 otherwise,
   assuming two FMA units per core), read from /proc/cpuinfo.
2. A full retrieval sweep to L = 2^20 at d = 64 with 64 trials, for i.i.d. and
   table-driven Householder generators (wall time, all threads).
3. Peak resident memory of one retrieval run at L = 2^14 and at L = 2^20, each in a fresh
   process: it must not grow with L.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numba
import numpy as np

from mixing import mechanisms as M
from mixing import measures as ms
from mixing.errors import ParameterError
from mixing.task import Task


def fp64_peak():
    """(flops per second, how it was computed) for this machine's FP64 peak."""
    ghz, flags, model = None, "", "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz") and ghz is None:
                    ghz = float(line.split(":")[1]) / 1000
                elif line.startswith("flags") and not flags:
                    flags = line
                elif line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ghz = ghz or 2.0
    per_cycle = 32 if "avx512f" in flags else 16 if ("avx2" in flags and "fma" in flags) else 4
    cores = os.cpu_count() or 1
    return cores * ghz * 1e9 * per_cycle, f"{cores} cores x {ghz:.2f} GHz x {per_cycle} flop/cycle ({model})"


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def kernel_vs_reference(L_ref: int, trials: int, L_cpu: int, trials_cpu: int):
    """Reflections per second of both on the same task; the reference on a small instance
    (it builds d x d matrices, so it is slow), numba on that instance (for the difference)
    and on a larger one (for the rate, so set-up costs do not dominate)."""
    mech = M.make("householder", 64, vocab=1024)
    task = Task()
    ms.per_trial_retrieval(mech, task, [8, 16], 0, 2)                       # compile
    t_ref = _time(lambda: ms.per_trial_retrieval(mech, task, [16, L_ref], 0, trials, device="reference"))
    a = ms.per_trial_retrieval(mech, task, [16, L_ref], 0, trials)
    b = ms.per_trial_retrieval(mech, task, [16, L_ref], 0, trials, device="reference")
    t_cpu = _time(lambda: ms.per_trial_retrieval(mech, task, [16, L_cpu], 0, trials_cpu))
    ref_rate = trials * L_ref / t_ref
    rate = trials_cpu * L_cpu / t_cpu
    peak, how = fp64_peak()
    return dict(t_ref=t_ref, t_cpu=t_cpu, ratio=rate / ref_rate, max_diff=float(np.abs(a - b).max()),
                refl_per_s=rate, ref_refl_per_s=ref_rate, peak_fraction=rate * 4 * 64 / peak,
                peak=peak, peak_how=how)


def long_sweep(L: int, trials: int, vocab: int):
    mech = M.make("householder", 64, vocab=vocab)
    lengths = [2 ** k for k in range(4, int(np.log2(L)) + 1)]
    ms.per_trial_retrieval(mech, Task(), [8, 16], 0, 2)                     # compile
    t = _time(lambda: ms.retrieval(mech, Task(), lengths, trials, seed=0))
    return t


def _rss_child(L: int) -> int:
    code = ("import resource; from mixing import mechanisms as M, measures as ms; from mixing.task import Task;"
            f"m = M.make('householder', 64); ms.per_trial_retrieval(m, Task(), [16, 1024, {L}], 0, 8);"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/engine_bench.py", description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
                                 epilog="\n".join(__doc__.strip().splitlines()[2:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not the targets)")
    ap.add_argument("--device", default="cpu",
                    help="cpu (default: numba vs the NumPy reference) or cuda (the GPU check and benchmark: "
                         "CUDA vs numba CPU on this machine, see benchmarks/cuda_bench.py)")
    ap.add_argument("--max-sweep", type=float, default=120.0, metavar="S",
                    help="cuda: run the L=2^24 sweep only if its estimate is under S seconds (default 120)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")
    args = ap.parse_args(argv)
    try:
        ms.check_device(args.device)
    except ParameterError as exc:
        print(f"engine_bench: error: {exc}", file=sys.stderr)
        return 2
    if args.device == "cuda":
        import cuda_bench as bench_cuda

        res = bench_cuda.run(args.quick, args.max_sweep)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(res, fh, indent=2)
        return 0
    L_ref, trials_ref = (512, 2) if args.quick else (2048, 4)
    L_long, trials_long = (2 ** 16, 16) if args.quick else (2 ** 20, 64)
    print(f"threads: {numba.get_num_threads()}   numba {numba.__version__}   numpy {np.__version__}")
    L_cpu, trials_cpu = (2 ** 14, 16) if args.quick else (2 ** 16, 64)
    r = kernel_vs_reference(L_ref, trials_ref, L_cpu, trials_cpu)
    print(f"[1] table-driven Householder retrieval, d=64, V=1024: NumPy reference on {trials_ref} trials x "
          f"L={L_ref}, numba on {trials_cpu} x {L_cpu}")
    print(f"    reference {r['ref_refl_per_s']:.3g} reflections/s   numba {r['refl_per_s']:.3g} reflections/s   "
          f"ratio {r['ratio']:.0f}x   max|diff| on the same trials {r['max_diff']:.1e}")
    print(f"    FP64 peak {r['peak'] / 1e9:.0f} GFLOP/s = {r['peak_how']}; at 4d flop/reflection the kernel "
          f"reaches {100 * r['peak_fraction']:.2f}% of it")
    res = {"kernel_vs_reference": r}
    for vocab, label in ((0, "i.i.d. directions"), (1024, "table V=1024")):
        t = long_sweep(L_long, trials_long, vocab)
        print(f"[2] retrieval sweep to L={L_long} (all powers of two), d=64, {trials_long} trials, "
              f"Householder {label}: {t:.1f} s ({trials_long * L_long / t:.3g} steps/s)")
        res[f"sweep_{label}"] = t
    small, big = _rss_child(2 ** 14), _rss_child(L_long)
    print(f"[3] peak RSS, one retrieval run (8 trials): L=2^14 {small / 1024:.0f} MiB, "
          f"L={L_long} {big / 1024:.0f} MiB (ratio {big / small:.2f})")
    res["rss_kib"] = {"small": small, "big": big}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

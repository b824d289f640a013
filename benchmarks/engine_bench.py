"""``python benchmarks/engine_bench.py``: speed and memory of the CPU engine, measured in one run.

1. The engine against two fair peers on the same work (``numpy_peer.py``: the retrieval
   task vectorised over trials with einsum and NumPy's own generator, a Python loop over
   positions; ``torch_peer.py``: the same in float64 torch tensors on torch's CPU threads),
   for a per-token Householder table (d = 64, V = 1024) and for i.i.d. directions; each
   agrees with the engine in distribution (the largest |z| over metrics and lengths is
   printed) and the time ratios are measured side by side.
2. The engine against the plain NumPy reference (d x d matrices at every lag: the cost of
   clarity, not a peer), on the same trials: ratio and the largest difference.
3. Retrieval sweeps to L = 2^20 (all powers of two), d = 64, 64 trials: i.i.d. directions
   (the reduced-state walk, and ``sampler=full``), the V = 1024 table; and i.i.d. at d = 1024.
4. Time against L (2^10 .. 2^22) and against d (16 .. 1024) for each kernel family, with the
   fitted exponent of a power law, and peak resident memory against L (fresh processes).
5. The trial-batched Householder kernel (``kernels/lanes.py``, used by 1-4) against the
   per-trial kernel it replaced, on one core and on all: the same bits, the ratio of times;
   and the same at d = 8, where the reflection is negligible: what the draws, the alias
   lookup and the softmax of a step cost alone.

Targets are printed beside the numbers; every ratio comes from one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numba
import numpy as np

from mixing.cli import Parser, check_output_file
from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.errors import ParameterError
from mixing.engine.task import Task


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


def machine() -> dict:
    """Where and when a run was made (kept beside its numbers)."""
    import platform
    from datetime import date

    _, how = fp64_peak()  # "C cores x G GHz x F flop/cycle (model)"
    m = re.match(r"(\d+) cores x ([\d.]+) GHz x \d+ flop/cycle \((.*)\)", how)
    cpu = f"{m.group(3)}, {m.group(1)} cores at {m.group(2)} GHz" if m else how
    out = {
        "date": date.today().isoformat(),
        "cpu": cpu,
        "threads": numba.get_num_threads(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
    }
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


def _timed(fn):
    """(seconds, result) of one call."""
    t = time.perf_counter()
    res = fn()
    return time.perf_counter() - t, res


def _time(fn):
    return _timed(fn)[0]


def _best(fn, repeat=3):
    """(shortest of ``repeat`` calls, the last result): for runs of tens of milliseconds,
    where one call can catch a scheduling stall of the same size."""
    runs = [_timed(fn) for _ in range(repeat)]
    return min(t for t, _ in runs), runs[-1][1]


def kernel_vs_reference(L_ref: int, trials: int):
    """Reflections per second of the reference and the engine on the same small instance
    (the reference builds d x d matrices, so it is slow)."""
    mech = M.make("householder", 64, vocab=1024)
    task = Task()
    ms.per_trial_retrieval(mech, task, [8, 16], 0, 2)  # compile
    t_ref, b = _timed(lambda: ms.per_trial_retrieval(mech, task, [16, L_ref], 0, trials, device="reference"))
    a = ms.per_trial_retrieval(mech, task, [16, L_ref], 0, trials)
    return dict(t_ref=t_ref, ref_refl_per_s=trials * L_ref / t_ref, max_diff=float(np.abs(a - b).max()))


def zmax(a, b, floor: float = 0.0):
    """The largest |difference of means| / standard error over every metric and length of two
    per-trial tables (points whose standard error is at most ``floor`` left out)."""
    se = np.sqrt(a.var(axis=0, ddof=1) / a.shape[0] + b.var(axis=0, ddof=1) / b.shape[0])
    ok = se > floor
    return float(np.max(np.abs(a.mean(axis=0) - b.mean(axis=0))[ok] / se[ok]))


def against_peer(L: int, trials: int):
    """The engine, the NumPy peer and the PyTorch peer (where torch is installed) on the same
    work, each the best of three calls (the engine's, which last milliseconds, of five after a
    warm-up); rates, ratios and agreement."""
    import numpy_peer

    try:
        import torch_peer
    except ImportError:
        torch_peer = None

    task, lengths = Task(), [2**k for k in range(4, int(np.log2(L)) + 1)]
    out = {}
    for label, kw in (("table V=1024", dict(vocab=1024)), ("i.i.d. directions", {})):
        mech = M.make("householder", 64, **kw)
        spec = mech.spec(0)
        ms.per_trial_retrieval(mech, task, [8, 16], 0, 2)  # compile
        # a call of 5-10 ms: its first few calls ran up to 2x slower (measured), so the best of
        # five after one of the same size
        ms.per_trial_retrieval(mech, task, lengths, 0, trials)
        t_eng, rows = _best(lambda: ms.per_trial_retrieval(mech, task, lengths, 0, trials), repeat=5)
        table = (spec.table, np.full(1024, 1 / 1024)) if kw else (None, None)
        extra = {} if kw else {"d": 64}

        def peer():
            return numpy_peer.retrieval(*table, spec.betas, task, lengths, trials, 1, **extra)

        t_peer, prow = _best(peer)
        out[label] = dict(
            engine_steps_per_s=trials * L / t_eng,
            peer_steps_per_s=trials * L / t_peer,
            ratio=t_peer / t_eng,
            zmax=zmax(rows, prow),
        )
        try:
            import torch
        except ImportError:
            continue

        def torch_run():
            return torch_peer.retrieval(*table, spec.betas, task, lengths, trials, 1, **extra)

        torch_run()  # torch's first call builds its thread pool
        t_torch, trow = _best(torch_run)
        out[label].update(
            torch_steps_per_s=trials * L / t_torch,
            torch_ratio=t_torch / t_eng,
            torch_zmax=zmax(rows, trow),
            torch_threads=torch.get_num_threads(),
        )
    return out


def long_sweep(L: int, trials: int, d: int = 64, **kw):
    mech = M.make("householder", d, **kw)
    lengths = [2**k for k in range(4, int(np.log2(L)) + 1)]
    ms.per_trial_retrieval(mech, Task(), [8, 16], 0, 2)  # compile
    return _time(lambda: ms.retrieval(mech, Task(), lengths, trials, seed=0))


KERNELS = (
    ("householder i.i.d. (reduced)", "householder", {}),
    ("householder table V=1024", "householder", dict(vocab=1024)),
    ("so2 gaussian i.i.d.", "so2", dict(law="gaussian", sigma=0.5)),
)


def _fit(xs, ts):
    """Exponent of a power law t ~ x^k fitted to (xs, ts) in log-log."""
    return float(np.polyfit(np.log(xs), np.log(ts), 1)[0])


def scaling(Ls, L_fit_from, ds, L_d, trials):
    res = {}
    for label, name, kw in KERNELS:
        mech = M.make(name, 64, **kw)
        ms.per_trial_retrieval(mech, Task(), [8, 16], 0, 2)
        tL = [_time(lambda: ms.per_trial_retrieval(mech, Task(), [L], 0, trials)) for L in Ls]
        sel = [i for i, L in enumerate(Ls) if L >= L_fit_from]
        td = []
        for d in ds:
            m = M.make(name, d, **kw)
            ms.per_trial_retrieval(m, Task(), [8, 16], 0, 2)
            td.append(_time(lambda: ms.per_trial_retrieval(m, Task(), [L_d], 0, trials)))
        res[label] = dict(
            L=list(Ls),
            t_L=tL,
            exponent_L=_fit([Ls[i] for i in sel], [tL[i] for i in sel]),
            d=list(ds),
            t_d=td,
            exponent_d=_fit(ds, td),
        )
    return res


def lanes_vs_trial(L: int, trials: int, repeat: int = 3):
    """Steps/s of the lane kernel and of the per-trial kernel (``cpu.retrieval(lanes=False)``)
    on the same trials, one thread and all threads, alternated ``repeat`` times (medians); the
    rows must be bit-identical."""
    from mixing.engine.kernels import cpu

    lengths = np.array([2**k for k in range(4, int(np.log2(L)) + 1)])
    res = {}
    threads = numba.get_num_threads()
    cases = (
        ("table V=1024", 64, dict(vocab=1024)),
        ("i.i.d., reduced", 64, {}),
        # the draws, the alias lookup and the softmax of a step with a negligible reflection:
        # what a step costs without the 64-dimensional dot product and update
        ("table V=1024, d=8", 8, dict(vocab=1024)),
    )
    for label, d, kw in cases:
        spec = M.make("householder", d, **kw).spec(0)
        row = {}
        for nt in (1, threads):
            numba.set_num_threads(nt)
            times = {True: [], False: []}
            outs = {}
            for _ in range(repeat):
                for use in (True, False):
                    out = np.zeros((trials, len(lengths), 4))
                    t0 = time.perf_counter()
                    cpu.retrieval(spec, Task(), lengths, 0, 0, out, lanes=use)
                    times[use].append(time.perf_counter() - t0)
                    outs[use] = out
            if not np.array_equal(outs[True], outs[False]):
                raise AssertionError(f"lane kernel and per-trial kernel differ ({label})")
            key = "one_thread" if nt == 1 else f"{nt}_threads"
            row[key] = dict(
                lanes_steps_per_s=trials * L / float(np.median(times[True])),
                trial_steps_per_s=trials * L / float(np.median(times[False])),
                ratio=float(np.median(times[False]) / np.median(times[True])),
            )
        numba.set_num_threads(threads)
        res[label] = row
    return res


def _rss_child(L: int) -> int:
    code = (
        "import resource; from mixing import mechanisms as M, measures as ms; from mixing.engine.task import Task;"
        f"m = M.make('householder', 64); ms.per_trial_retrieval(m, Task(), [16, 1024, {L}], 0, 8);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = Parser(
        prog="python benchmarks/engine_bench.py",
        description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
        epilog="\n".join(__doc__.strip().splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not the targets)")
    ap.add_argument(
        "--device",
        default="cpu",
        help="cpu (default: numba vs the NumPy reference) or cuda (the GPU check and benchmark: "
        "CUDA vs numba CPU on this machine, see benchmarks/cuda_bench.py)",
    )
    ap.add_argument(
        "--max-sweep",
        type=float,
        default=120.0,
        metavar="S",
        help="cuda: run the L=2^24 sweep only if its estimate is under S seconds (default 120)",
    )
    ap.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")
    args = ap.parse_args(argv)
    try:
        ms.check_device(args.device)
        if args.json:
            check_output_file(args.json, "--json")
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
    q = args.quick
    print(f"threads: {numba.get_num_threads()}   numba {numba.__version__}   numpy {np.__version__}")
    res = {"machine": machine(), "quick": bool(q)}
    L_peer, T_peer = (2**10, 16) if q else (2**12, 64)
    peer = against_peer(L_peer, T_peer)
    res["peer"] = peer
    print(
        f"[1] engine vs vectorised NumPy and PyTorch peers, same work: retrieval, d=64, {T_peer} trials, "
        f"L=2^4..{L_peer}"
    )
    for label, r in peer.items():
        print(
            f"    {label:18s} engine {r['engine_steps_per_s']:.3g} steps/s   NumPy peer {r['peer_steps_per_s']:.3g} "
            f"steps/s   ratio {r['ratio']:.1f}x (target >= 30x)   agreement: max |z| {r['zmax']:.2f}"
        )
        if "torch_ratio" in r:
            print(
                f"    {'':18s} PyTorch peer ({r['torch_threads']} threads) {r['torch_steps_per_s']:.3g} steps/s   "
                f"ratio {r['torch_ratio']:.1f}x (target >= 3x)   agreement: max |z| {r['torch_zmax']:.2f}"
            )
    L_ref, trials_ref = (512, 2) if q else (2048, 4)
    r = kernel_vs_reference(L_ref, trials_ref)
    eng = peer["table V=1024"]["engine_steps_per_s"]
    peak, how = fp64_peak()
    r.update(
        refl_per_s=eng, ratio=eng / r["ref_refl_per_s"], peak=peak, peak_how=how, peak_fraction=eng * 4 * 64 / peak
    )
    res["kernel_vs_reference"] = r
    print(
        f"[2] the same table kernel vs the NumPy reference (explicit d x d matrices, the cost of clarity): "
        f"reference {r['ref_refl_per_s']:.3g} reflections/s, ratio {r['ratio']:.0f}x, max|diff| on the same trials "
        f"{r['max_diff']:.1e}; {100 * r['peak_fraction']:.2f}% of FP64 peak ({peak / 1e9:.0f} GFLOP/s = {how}) "
        f"at 4d flop/reflection (target: 2.5e7 reflections/s)"
    )
    L_long, trials_long = (2**16, 16) if q else (2**20, 64)
    sweeps = {}
    for label, d, kw in (
        ("i.i.d., reduced", 64, {}),
        ("i.i.d., sampler=full", 64, dict(sampler="full")),
        ("table V=1024", 64, dict(vocab=1024)),
        ("i.i.d., reduced, d=1024", 1024, {}),
    ):
        t = long_sweep(L_long, trials_long, d, **kw)
        sweeps[label] = t
        print(
            f"[3] retrieval sweep to L={L_long}, {trials_long} trials, Householder {label:24s} d={d:5d}: {t:6.2f} s "
            f"({trials_long * L_long / t:.3g} steps/s)"
        )
    print(
        f"    i.i.d. at d=1024 / d=64: {sweeps['i.i.d., reduced, d=1024'] / sweeps['i.i.d., reduced']:.2f} "
        "(target <= 2); d=64 target <= 2 s"
    )
    res["sweeps"] = sweeps
    Ls = [2**k for k in range(10, (17 if q else 23), 2)]
    ds = [16, 64, 256] if q else [16, 64, 256, 1024]
    sc = scaling(Ls, 2**14 if not q else 2**12, ds, 2**12 if q else 2**14, 8)
    res["scaling"] = sc
    print(
        f"[4] time against L (8 trials, exponent fitted from L = 2^14; target 0.95-1.05) and against d "
        f"(L = {2**12 if q else 2**14}):"
    )
    for label, v in sc.items():
        tl = "  ".join(f"{t:.3g}" for t in v["t_L"])
        td = "  ".join(f"{t:.3g}" for t in v["t_d"])
        print(
            f"    {label:30s} L {Ls[0]}..{Ls[-1]}: {tl} s (exponent {v['exponent_L']:.3f});  "
            f"d {ds[0]}..{ds[-1]}: {td} s (exponent {v['exponent_d']:.2f})"
        )
    mem_L = [2**14, 2**18] if q else [2**14, 2**18, 2**22]
    rss = [_rss_child(L) for L in mem_L]
    res["rss_kib"] = dict(zip(map(str, mem_L), rss))
    print(
        "    peak RSS of one retrieval run (8 trials): "
        + ", ".join(f"L={L} {m / 1024:.0f} MiB" for L, m in zip(mem_L, rss))
        + f" (ratio last/first {rss[-1] / rss[0]:.2f})"
    )
    L_lanes, T_lanes = (2**12, 32) if q else (2**16, 64)
    lv = lanes_vs_trial(L_lanes, T_lanes)
    res["lanes"] = lv
    print(
        f"[5] trial-batched kernel vs the per-trial kernel (bit-identical rows), d=64 unless said, {T_lanes} trials, "
        f"L=2^4..{L_lanes} (target: 4x the per-trial steps/s per core):"
    )
    for label, row in lv.items():
        for key, r in row.items():
            print(
                f"    {label:18s} {key.replace('_', ' '):10s} lanes {r['lanes_steps_per_s']:.3g} steps/s   "
                f"per-trial {r['trial_steps_per_s']:.3g} steps/s   ratio {r['ratio']:.2f}x"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

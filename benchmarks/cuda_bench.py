"""``python benchmarks/engine_bench.py --device cuda``: the GPU check and benchmark, in one run.

[0] the card, its FP64 peak = multiprocessors x clock x FP64 FMA units per multiprocessor
    x 2 (64 units on compute capability 9.x, 32 on 8.0/7.x, else 2);
[1] correctness: CUDA against the numba CPU kernel on the same seeds (walks and retrieval
    of every mechanism family, i.i.d. and table generators, with value transport and
    far-mass control), largest absolute difference;
[2] the same work on both: table-driven Householder retrieval, d = 64, V = 1024: steps
    (reflections) per second, the ratio, and the fraction of the FP64 peak at 4d flops
    per reflection (the dot product w.u and the update u - beta (w.u) w; the kernels
    compute in float64);
[3] precision over 10^6 steps: CUDA vs CPU on the same trials at L = 2^20;
[4] a retrieval sweep to L = 2^24 at d = 128 with 4096 trials (table Householder),
    timed at L = 2^20 first under the default layout and under the fastest float64 layout
    of [5], and run in full (fastest layout) only when the estimate is under
    ``--max-sweep`` seconds;
[5] every layout (lanes per trial, table in shared memory, float32) on the same work, side
    by side (``cuda_layouts.py``);
[6] the float32 path's error against float64;
[7] i.i.d. Householder retrieval: the reduced-state kernel (one trial per thread) swept to
    L = 2^20 at d = 64 and d = 1024, and against the full d-dimensional walk
    (``sampler=full``, the warp kernel) on the same work at d = 64.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.task import Task

FP64_UNITS = {9: 64, 8: 32, 7: 32}


def _time(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def card():
    from numba import cuda

    from mixing.engine.kernels import cuda as _k  # noqa: F401 - before numba.cuda (numpy 2.5 alias)

    dev = cuda.get_current_device()
    cc = dev.compute_capability
    sms = dev.MULTIPROCESSOR_COUNT
    ghz = dev.CLOCK_RATE / 1e6
    units = 2 if cc in ((8, 6), (8, 9)) else FP64_UNITS.get(cc[0], 2)
    peak = sms * ghz * 1e9 * units * 2
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    how = f"{sms} SMs x {ghz:.2f} GHz x {units} FP64 FMA/clock x 2"
    return dict(name=name, cc=f"{cc[0]}.{cc[1]}", peak=peak, how=how)


CHECKS = [
    ("householder", {"vocab": 1024}),
    ("householder", {"beta": 1.5}),
    ("householder", {"beta": 1.2, "rotate_values": 1}),
    ("householder", {"vocab": 256, "rotate_values": 1, "forget": 0.05}),
    ("so2", {"law": "gaussian", "sigma": 0.5}),
    ("so2", {"law": "vonmises", "vocab": 512, "rotate_values": 1}),
    ("rope", {}),
    ("alibi", {"rotate_values": 1}),
    ("nope", {}),
]


def correctness(d=64, trials=64, lengths=(64, 512, 4096), lags=256):
    task = Task(p=0.05)
    worst = 0.0
    lines = []
    for name, params in CHECKS:
        mech = M.make(name, d, **params)
        a = ms.per_trial_retrieval(mech, task, list(lengths), 11, trials)
        b = ms.per_trial_retrieval(mech, task, list(lengths), 11, trials, device="cuda")
        w1 = ms.per_trial_walk(mech, lags, 11, trials, c=0.5)
        w2 = ms.per_trial_walk(mech, lags, 11, trials, c=0.5, device="cuda")
        diff = max(float(np.abs(a - b).max()), float(np.abs(w1 - w2).max()))
        worst = max(worst, diff)
        lines.append(f"    {name:12s} {str(params):58s} max|diff| {diff:.1e}")
    return worst, lines


def same_work(trials, L, vocab=1024, d=64):
    mech = M.make("householder", d, vocab=vocab)
    task = Task()
    lengths = [16, L]
    ms.per_trial_retrieval(mech, task, [8, 16], 0, 2)
    ms.per_trial_retrieval(mech, task, [8, 16], 0, 2, device="cuda")
    t_cpu = _time(lambda: ms.per_trial_retrieval(mech, task, lengths, 0, trials))
    t_gpu = _time(lambda: ms.per_trial_retrieval(mech, task, lengths, 0, trials, device="cuda"), repeat=3)
    return t_cpu, t_gpu, trials * L


def precision(L=2**20, trials=8):
    out = {}
    for name, params in (
        ("householder", {"vocab": 1024}),
        ("so2", {"law": "gaussian", "sigma": 0.3, "rotate_values": 1}),
    ):
        mech = M.make(name, 64, **params)
        lengths = [2**k for k in range(6, 21)]
        a = ms.per_trial_retrieval(mech, Task(), lengths, 5, trials)
        b = ms.per_trial_retrieval(mech, Task(), lengths, 5, trials, device="cuda")
        rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-300)
        out[name] = (float(np.abs(a - b).max()), float(np.nanmax(rel)))
    return out


def sweep(max_seconds, d=128, trials=4096, L=2**24, lay=None, short=2**20):
    from mixing.engine.kernels.cuda import layout

    with layout.use(lay or layout.Layout()):
        mech = M.make("householder", d, vocab=1024)
        ms.per_trial_retrieval(mech, Task(), [8, 16], 0, 2, device="cuda")
        k_short, k_full = int(np.log2(short)), int(np.log2(L))
        t_short = _time(
            lambda: ms.retrieval(mech, Task(), [2**k for k in range(4, k_short + 1)], trials, device="cuda")
        )
        est = t_short * L / short
        t_full = None
        if est <= max_seconds:
            t_full = _time(
                lambda: ms.retrieval(mech, Task(), [2**k for k in range(4, k_full + 1)], trials, device="cuda")
            )
    return t_short, est, t_full


def iid(trials=4096, L=2**20, L_full=2**16):
    """(sweep seconds at d = 64 and 1024; steps/s of the reduced and the full kernel at d = 64)."""
    lengths = [2**k for k in range(4, int(np.log2(L)) + 1)]
    sweeps = {}
    for d in (64, 1024):
        mech = M.make("householder", d)
        ms.per_trial_retrieval(mech, Task(), [8, 16], 0, 2, device="cuda")
        sweeps[d] = _time(lambda: ms.retrieval(mech, Task(), lengths, trials, device="cuda"))
    rates = {}
    for sampler in ("auto", "full"):
        mech = M.make("householder", 64, sampler=sampler)
        ms.per_trial_retrieval(mech, Task(), [8, 16], 0, 2, device="cuda")
        t = _time(lambda: ms.per_trial_retrieval(mech, Task(), [16, L_full], 0, trials, device="cuda"))
        rates[sampler] = trials * L_full / t
    return sweeps, rates


def run(quick=False, max_sweep=120.0) -> dict:
    from numba import cuda

    from mixing.engine.kernels import cuda as _k  # noqa: F401

    c = card()
    print(
        f"[0] {c['name']} (cc {c['cc']}), FP64 peak {c['peak'] / 1e12:.1f} TFLOP/s = {c['how']}; "
        f"numba {numba.__version__}, numba-cuda {getattr(cuda, '__version__', '?')}, numpy {np.__version__}, "
        f"CPU threads {numba.get_num_threads()}"
    )
    res = {"card": c}
    t = time.perf_counter()
    worst, lines = correctness(trials=8 if quick else 64, lengths=(64, 512) if quick else (64, 512, 4096))
    print(
        f"[1] CUDA vs numba CPU, same seeds, d=64: worst max|diff| {worst:.1e} "
        f"({time.perf_counter() - t:.0f} s incl. compilation)"
    )
    print("\n".join(lines))
    res["correctness_max_diff"] = worst
    trials, L = (1024, 2**12) if quick else (4096, 2**15)
    t_cpu, t_gpu, steps = same_work(trials, L)
    r_cpu, r_gpu = steps / t_cpu, steps / t_gpu
    frac = r_gpu * 4 * 64 / c["peak"]
    print(
        f"[2] table Householder retrieval d=64 V=1024, {trials} trials x L={L}: CPU {r_cpu:.3g} steps/s "
        f"({t_cpu:.2f} s), CUDA {r_gpu:.3g} steps/s ({t_gpu:.3f} s), ratio {r_gpu / r_cpu:.1f}x, "
        f"{100 * frac:.2f}% of FP64 peak"
    )
    from mixing.engine.kernels import cuda as K

    kern = K.kernels(64, False)["retrieval"]
    regs, local = kern.get_regs_per_thread(), kern.get_local_mem_per_thread()
    print(f"    kernel: {K.WPB} warps/block, registers/thread {regs}, local memory bytes/thread {local}")
    res.update(cpu_steps_per_s=r_cpu, cuda_steps_per_s=r_gpu, ratio=r_gpu / r_cpu, peak_fraction=frac)
    if not quick:
        prec = precision()
        for name, (ab, rel) in prec.items():
            print(
                f"[3] {name}: CUDA vs CPU over 2^20 steps, 8 trials, all metrics: max|diff| {ab:.1e}, "
                f"max relative {rel:.1e}"
            )
        res["precision"] = prec
        import cuda_layouts

        from mixing.engine.kernels.cuda import layout

        res.update(cuda_layouts.run())
        f64 = [r for r in res["layouts_v1024"] if "float32" not in r["layout"]]
        best = max(f64, key=lambda r: r["steps_per_s"])["layout"]
        t_default, est_default, _ = sweep(0.0)
        t_short, est, t_full = sweep(max_sweep, lay=layout.Layout.parse(best))
        full = f"{t_full:.1f} s" if t_full is not None else f"not run (estimate {est:.0f} s > {max_sweep:.0f} s)"
        print(
            f"[4] sweep d=128, 4096 trials, table Householder: to L=2^20 {t_default:.2f} s (default layout), "
            f"{t_short:.2f} s ({best}); to L=2^24 with {best}: {full}"
        )
        res["sweep"] = dict(t_2_20_default=t_default, layout=best, t_2_20=t_short, estimate_2_24=est, t_2_24=t_full)
        sweeps, rates = iid()
        print(
            f"[7] i.i.d. Householder retrieval, 4096 trials, reduced-state kernel: sweep to L=2^20 "
            f"{sweeps[64]:.2f} s at d=64, {sweeps[1024]:.2f} s at d=1024; d=64, L=2^16: reduced "
            f"{rates['auto']:.3g} steps/s, full walk (sampler=full) {rates['full']:.3g} steps/s, "
            f"{rates['auto'] / rates['full']:.1f}x"
        )
        res["iid"] = dict(
            sweep_d64=sweeps[64],
            sweep_d1024=sweeps[1024],
            reduced_steps_per_s=rates["auto"],
            full_steps_per_s=rates["full"],
        )
    return res

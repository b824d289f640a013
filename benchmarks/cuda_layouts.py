"""CUDA layouts side by side (``mixing.engine.kernels.cuda.layout``): the same table-driven
Householder retrieval under every layout, timed in one process on one card, and the error
of the float32 path against float64.

Called by ``benchmarks/cuda_bench.py`` (sections [5] and [6]); ``python
benchmarks/cuda_layouts.py`` runs them alone. Under the simulator it runs at toy sizes
(``--toy``), a check that the script works, not a measurement.
"""

from __future__ import annotations

import numpy as np
from cuda_bench import _time

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.kernels import cuda as K
from mixing.engine.kernels.contract import METRICS
from mixing.engine.kernels.cuda import layout
from mixing.engine.task import Task

#: layouts timed on a table that does not fit shared memory (V = 1024 at d = 64)
BIG = [f"lanes={g},precision={p}" for p in ("float64", "float32") for g in (32, 16, 8, 4)]
#: layouts timed on a table that fits (V = 64 at d = 64, 32 KiB in float64)
SMALL = [f"lanes={g},table={t}" for g in (32, 16, 8) for t in ("global", "shared")] + [
    f"lanes={g},table=shared,precision=float32" for g in (32, 16, 8)
]


def time_layouts(d, vocab, trials, L, names, repeat=3, seed=0):
    """Rows (layout, steps/s, speed-up over the first layout, registers, table rows in shared
    memory, max|diff| of the per-trial rows against the first layout on the same seeds)."""
    mech = M.make("householder", d, vocab=vocab)
    task = Task()
    lengths = [16, L]
    rows = []
    first = None
    for name in names:
        lay = layout.Layout.parse(name)
        with layout.use(lay):
            ms.per_trial_retrieval(mech, task, [8, 16], seed, 2, device="cuda")  # compile
            out = {}

            def run():
                out["rows"] = ms.per_trial_retrieval(mech, task, lengths, seed, trials, device="cuda")

            t = _time(run, repeat)
            shared = K.shared_rows(mech.spec(seed), lay)
            kern = K.kernels(d, False, lay, shared)["retrieval"]
        regs = kern.get_regs_per_thread() if not K.SIM else {}
        regs = max(regs.values()) if isinstance(regs, dict) and regs else regs
        rate = trials * L / t
        if first is None:
            first = (rate, out["rows"])
        rows.append(
            dict(
                layout=name,
                steps_per_s=rate,
                speedup=rate / first[0],
                registers=regs,
                shared_rows=shared,
                max_diff=float(np.abs(out["rows"] - first[1]).max()),
            )
        )
    return rows


def float32_error(d=64, vocab=1024, trials=8, L=2**20, lanes=32, seed=5, wide=256, wide_L=2**14):
    """The float32 path against float64 on the same trials: per metric, the largest absolute
    and relative per-trial difference over the lengths 2^6 .. L; and over ``wide`` trials at
    ``wide_L``, the difference of the means in units of its standard error (paired)."""
    mech = M.make("householder", d, vocab=vocab)
    task = Task()
    lengths = [2**k for k in range(6, int(np.log2(L)) + 1)]
    with layout.use(layout.Layout(lanes=lanes)):
        a = ms.per_trial_retrieval(mech, task, lengths, seed, trials, device="cuda")
        wa = ms.per_trial_retrieval(mech, task, [wide_L], seed, wide, device="cuda")
    with layout.use(layout.Layout(lanes=lanes, precision="float32")):
        b = ms.per_trial_retrieval(mech, task, lengths, seed, trials, device="cuda")
        wb = ms.per_trial_retrieval(mech, task, [wide_L], seed, wide, device="cuda")
    res = {}
    for m, metric in enumerate(METRICS):
        x, y = a[..., m], b[..., m]
        rel = np.abs(y - x) / np.maximum(np.abs(x), 1e-300)
        diff = (wb - wa)[:, 0, m]
        se = diff.std(ddof=1) / np.sqrt(wide) if wide > 1 else np.nan
        z = float(diff.mean() / se) if se > 0 else 0.0
        res[metric] = dict(
            max_abs=float(np.abs(y - x).max()),
            max_rel=float(rel.max()),
            mean_shift_z=z,
            mean_shift=float(diff.mean()),
            mean=float(wa[:, 0, m].mean()),
        )
    return res


def report(big, small, err, sizes):
    lines = []
    for title, rows in ((sizes["big"], big), (sizes["small"], small)):
        lines.append(f"[5] layouts, table Householder retrieval {title}:")
        for r in rows:
            where = f"shared {r['shared_rows']} rows" if r["shared_rows"] else "global table"
            lines.append(
                f"    {r['layout']:40s} {r['steps_per_s']:.3g} steps/s  {r['speedup']:.2f}x  "
                f"regs {r['registers']}  {where}  max|diff| vs first {r['max_diff']:.1e}"
            )
    lines.append(f"[6] float32 vs float64 on the same trials ({sizes['err']}):")
    for metric, e in err.items():
        lines.append(
            f"    {metric:13s} max|diff| {e['max_abs']:.1e}  max rel {e['max_rel']:.1e}  "
            f"mean shift {e['mean_shift']:.1e} of {e['mean']:.3g} ({e['mean_shift_z']:+.2f} SE)"
        )
    return lines


def run(toy=False):
    if toy:  # the simulator: does the script work, at sizes that mean nothing
        big = time_layouts(8, 6, 2, 8, BIG[:2] + BIG[4:5], repeat=1)
        small = time_layouts(8, 4, 2, 8, SMALL[:2] + SMALL[-1:], repeat=1)
        err = float32_error(d=8, vocab=6, trials=2, L=2**6, lanes=8, wide=4, wide_L=16)
        sizes = dict(big="TOY d=8 V=6, 2 trials x 8 steps", small="TOY d=8 V=4", err="TOY sizes")
    else:
        big = time_layouts(64, 1024, 4096, 2**15, BIG)
        small = time_layouts(64, 64, 4096, 2**15, SMALL)
        err = float32_error()
        sizes = dict(
            big="d=64 V=1024 (fits no layout's shared memory), 4096 trials x 2^15 steps",
            small="d=64 V=64 (32 KiB in float64), 4096 trials x 2^15 steps",
            err="d=64 V=1024, 8 trials, lengths 2^6..2^20; means over 256 trials at 2^14, paired",
        )
    print("\n".join(report(big, small, err, sizes)), flush=True)
    return dict(layouts_v1024=big, layouts_v64=small, float32_error=err)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--toy", action="store_true", help="toy sizes (for the simulator)")
    run(ap.parse_args().toy)

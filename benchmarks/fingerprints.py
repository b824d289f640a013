"""Per-trial fingerprints: a SHA-256 of the raw per-trial rows of every mechanism and measure.

A refactor that must not change numbers is checked by running this before and after and
comparing the two JSON files (``--compare OLD.json``). Sizes are small, so the CUDA
simulator finishes too:

    python benchmarks/fingerprints.py --device cpu --out /tmp/cpu.json
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/fingerprints.py --device cuda --out /tmp/cuda.json
    python benchmarks/fingerprints.py --device cpu --compare /tmp/cpu.json

The committed files (``benchmarks/fingerprints/``) hold the CPU kernels' and the simulated
CUDA kernels' fingerprints, which are the same on both x86 machines measured so far (a 2-core
AMD EPYC and a 2-core Intel Xeon), and the NumPy reference's, which are not: its committed
file is from the EPYC, and on the Xeon every case differs from it, before any change. Most
likely this is because the reference's matrix and vector products go through NumPy's
OpenBLAS, built with ``DYNAMIC_ARCH`` (kernels, and so the order of additions, chosen for the
CPU at run time). There, compare the reference against a file written by the previous
commit on the same machine (``git worktree add``, ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = ROOT / "figures" / "output"

# (label, mechanism, d, parameters): every family, law, table option, gate and value rotation
CASES = [
    ("nope", "nope", 8, {}),
    ("rope", "rope", 8, {}),
    ("rope-forget", "rope", 8, {"forget": 0.1}),
    ("alibi", "alibi", 8, {}),
    ("alibi-values", "alibi", 8, {"rotate_values": 1}),
    *[
        (f"so2-{law}", "so2", 8, {"law": law})
        for law in ("constant", "gaussian", "uniform", "vonmises", "wrapped_cauchy", "two_point", "gaussian_rel")
    ],
    ("so2-zero", "so2", 8, {"center": "zero"}),
    ("so2-table", "so2", 8, {"vocab": 16}),
    ("so2-zipf", "so2", 8, {"vocab": 16, "tokens": "zipf"}),
    ("so2-values", "so2", 8, {"rotate_values": 1}),
    ("so2-fla-gate", "so2", 8, {"forget": 0.2, "forget_scale": "inv_sqrt_d"}),
    ("so2-file", "so2", 8, {"generators": str(GENERATORS / "learned-so2.npz")}),
    ("householder", "householder", 8, {}),
    ("householder-full", "householder", 8, {"sampler": "full"}),
    ("householder-beta1", "householder", 8, {"beta": 1.0}),
    ("householder-table", "householder", 8, {"vocab": 16}),
    ("householder-values", "householder", 8, {"rotate_values": 1}),
    ("householder-forget", "householder", 8, {"forget": 0.1}),
    ("householder-file", "householder", 8, {"generators": str(GENERATORS / "learned-householder.npz")}),
]
TRIALS = 6
LAGS = 24
LENGTHS = [16, 48, 96]


def digest(rows: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.float64).tobytes()).hexdigest()[:16]


def fingerprints(device: str, only=None) -> dict:
    from mixing.engine import measures as ms
    from mixing.engine import mechanisms as M
    from mixing.engine.task import Task

    task = Task(window=8)
    out = {}
    for label, name, d, params in CASES:
        if only is not None and label not in only:
            continue
        if params.get("generators") and not Path(params["generators"]).exists():
            continue
        if params.get("generators"):
            d = int(np.load(params["generators"])["d"]) if "d" in np.load(params["generators"]) else d
        try:
            mech = M.make(name, d, **params)
        except Exception as exc:  # a generators file of another width
            out[label] = f"skipped: {exc}"
            continue
        walk = ms.per_trial_walk(mech, LAGS, seed=3, trials=TRIALS, c=0.5, device=device)
        ret = ms.per_trial_retrieval(mech, task, LENGTHS, seed=3, trials=TRIALS, device=device)
        out[label] = {"walk": digest(walk), "retrieval": digest(ret)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--device", default="cpu", choices=("cpu", "reference", "cuda"))
    ap.add_argument("--out", type=Path, help="write the fingerprints as JSON")
    ap.add_argument("--compare", type=Path, help="compare with an earlier JSON; exit 1 on any difference")
    ap.add_argument("--cases", help="comma-separated labels (default: every one)")
    args = ap.parse_args(argv)
    fp = fingerprints(args.device, args.cases.split(",") if args.cases else None)
    text = json.dumps(fp, indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    if args.compare:
        old = json.loads(args.compare.read_text())
        keys = set(fp) if args.cases else set(old) | set(fp)
        diff = sorted(k for k in keys if old.get(k) != fp.get(k))
        print(f"{len(fp)} cases on {args.device}: " + ("identical" if not diff else f"DIFFER: {', '.join(diff)}"))
        if diff and args.device == "reference":
            print(
                "note: the NumPy reference's fingerprints depend on the CPU (OpenBLAS picks its kernels at run "
                "time): compare against a file written by the previous commit on this machine (see --help)"
            )
        return 1 if diff else 0
    if not args.out:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

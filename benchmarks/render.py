"""``python benchmarks/render.py [--check]``: the measured numbers in README.md and BENCHMARKS.md,
written from the benchmark results in ``benchmarks/results/``.

Each generated block sits between ``<!-- begin generated: NAME -->`` and
``<!-- end generated: NAME -->`` and is rewritten whole; everything outside the markers is left
alone. The blocks and their sources:

- README.md ``quickstart``: the Quick start commands with their times
  (``times.json``, from ``python benchmarks/times.py --suite --json benchmarks/results/times.json``);
- README.md ``sweep-times``: the L = 2^20 sweeps (``cpu.json``, from
  ``python benchmarks/engine_bench.py --json benchmarks/results/cpu.json``);
- BENCHMARKS.md ``cpu-engine``: the CPU engine's table (``cpu.json``);
- docs/guide.md ``lm-run-times`` and ``lm-default-times``: what the committed transformer studies
  cost, from their own manifests (``figures/output/lm-run/manifest.json``,
  ``figures/output/lm-default/manifest.json``: each model's wall times and peak memory, written
  as it finished).

``--check`` writes nothing and exits 1 when a file differs from what its results give (the
test suite runs it).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def _s(x: float) -> str:
    """Seconds as the docs write them: whole seconds from 10 s, one decimal below."""
    return f"{x:.0f} s" if x >= 10 else f"{x:.1f} s"


def _minutes(x: float) -> str:
    m, s = divmod(round(x), 60)
    return f"{m} min {s:02d} s"


def _machine(m: dict) -> str:
    return f"{m['cpu']}, {m['threads']} threads, {m['date']}"


def _size(mb: int) -> str:
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"


def quickstart(times: dict) -> str:
    c, w = times["cold_s"], times["warm_s"]
    inst = times.get("install", {})
    light, dev = _install_cost(inst, "light"), _install_cost(inst, "dev")
    suite = f"suite {_minutes(times['suite_s'])}" if "suite_s" in times else ""
    sm = times.get("suite_machine")
    if suite and sm and (sm["cpu"], sm["date"]) != (times["machine"]["cpu"], times["machine"]["date"]):
        suite += f" on {_machine(sm)}"  # timed on another machine or day than the commands
    lines = [
        (
            "pip install -e . && python -m mixing.sweep",
            f"the main job alone: no torch, no CUDA ({light}sweep {_s(c['sweep'])})",
        ),
        ('pip install -e ".[dev]" && python -m pytest', f"everything, to run the test suite ({dev}{suite})"),
        ("python -m proofs --quick", f"every bound derived and checked ({_s(c['proofs'])})"),
        ("python -m figures --quick --out /tmp/figs", f"every figure of the study, small sizes ({_s(c['figures'])})"),
        (
            "mkdir -p runs && python -m mixing.learned --mechanism so2 --out runs/so2.npz",
            f"train token-dependent rotations ({_s(c['learned'])})",
        ),
        ("python -m mixing.lm run --quick --out runs/lm", f"tiny transformers, every mechanism ({_s(c['lm'])})"),
    ]
    width = max(len(cmd) for cmd, _ in lines if len(cmd) < 60) + 1
    body = "\n".join(f"{cmd.ljust(width)}  # {note}" for cmd, note in lines)
    return (
        f"```bash\n{body}\n```\n\n"
        f"Times are wall times of a first run (`python benchmarks/times.py`: {_machine(times['machine'])}), numba "
        "compiling its kernels and the imports included; numba caches the kernels, so a second run of the sweep, "
        f"`proofs`, `figures`, `mixing.learned` and `mixing.lm run --quick` takes {_s(w['sweep'])}, {_s(w['proofs'])}, "
        f"{_s(w['figures'])}, {_s(w['learned'])} and {_s(w['lm'])}." + _install_note(inst, times.get("install_machine"))
    )


def _install_cost(inst: dict, name: str) -> str:
    """``install 25 s, 634 MB; `` for the install ``name`` where it was timed, else nothing."""
    return f"install {_s(inst[name]['seconds'])}, {_size(inst[name]['mb'])}; " if name in inst else ""


def _install_note(inst: dict, machine: dict | None = None) -> str:
    """Where the install sizes come from (and on which machine, where recorded), and the
    CPU-only torch that shrinks the dev install."""
    if "dev" not in inst:
        return ""
    d = inst["dev"]
    where = f": {_machine(machine)}" if machine else ""
    text = (
        f" Installs are timed in fresh virtual environments from a fresh clone, pip's cache off "
        f"(`python benchmarks/times.py --install`{where}). The dev extra pulls torch {d['torch']} with "
        f"{d['nvidia_wheels']} CUDA wheels ({_size(d['mb'])})"
    )
    cpu = inst.get("dev_cpu_torch")
    if cpu:
        text += (
            f"; a CPU-only torch installed first (here torch {cpu['torch']}; elsewhere "
            "`pip install torch --index-url https://download.pytorch.org/whl/cpu`) brings it to "
            f"{_size(cpu['mb'])} in {_s(cpu['seconds'])}"
        )
    return text + "."


def sweep_times(cpu: dict) -> str:
    sw = cpu["sweeps"]
    return (
        "On the benchmark machine a retrieval sweep to L = 2^20 (d = 64, 64 trials) takes "
        f"{sw['i.i.d., reduced']:.2f} s with i.i.d. Householder directions and {sw['table V=1024']:.2f} s with a "
        f"1024-token table, kernels only, imports and compiles left out (`python benchmarks/engine_bench.py`: "
        f"{_machine(cpu['machine'])}; [BENCHMARKS.md](BENCHMARKS.md) has every measured number)."
    )


def cpu_engine(cpu: dict) -> str:
    p, k, sw, sc = cpu["peer"], cpu["kernel_vs_reference"], cpu["sweeps"], cpu["scaling"]
    rss = cpu["rss_kib"]
    m = cpu["machine"]
    rows = []
    for label in ("table V=1024", "i.i.d. directions"):
        r = p[label]
        rows.append(
            (
                f"engine vs the vectorised NumPy peer, retrieval, d = 64, {label}",
                f"engine {r['engine_steps_per_s']:.3g} vs peer {r['peer_steps_per_s']:.3g} steps/s: "
                f"**{r['ratio']:.1f}x** "
                f"(agreement: largest \\|z\\| {r['zmax']:.2f})",
                "30x: " + ("met" if r["ratio"] >= 30 else "not met"),
            )
        )
        if "torch_ratio" in r:
            rows.append(
                (
                    f"engine vs the PyTorch peer ({r['torch_threads']} threads), {label}",
                    f"PyTorch peer {r['torch_steps_per_s']:.3g} steps/s: engine **{r['torch_ratio']:.1f}x** "
                    f"(agreement: largest \\|z\\| {r['torch_zmax']:.2f})",
                    "3x: " + ("met" if r["torch_ratio"] >= 3 else "not met"),
                )
            )
    rows.append(
        (
            "table kernel vs the NumPy reference (explicit d x d matrices: the cost of clarity)",
            f"{k['ratio']:.0f}x, max difference {k['max_diff']:.1e} on the same trials",
            "-",
        )
    )
    iid, table, big = sw["i.i.d., reduced"], sw["table V=1024"], sw["i.i.d., reduced, d=1024"]
    steps = 64 * 2**20
    rows += [
        (
            "retrieval sweep to L = 2^20, d = 64, 64 trials, i.i.d. directions (reduced-state walk)",
            f"{iid:.2f} s ({steps / iid:.3g} steps/s)",
            "1 s: " + ("met" if iid <= 1 else "not met"),
        ),
        ("the same with `sampler=full` (all d coordinates)", f"{sw['i.i.d., sampler=full']:.2f} s", "-"),
        (
            "the same with a V = 1024 table",
            f"{table:.2f} s ({steps / table:.3g} steps/s)",
            "2.5e7 steps/s: " + ("met" if steps / table >= 2.5e7 else "not met"),
        ),
        (
            "i.i.d. at d = 1024",
            f"{big:.2f} s: {big / iid:.2f}x the d = 64 time",
            "<= 2x: " + ("met" if big / iid <= 2 else "not met"),
        ),
        (
            "time against L (8 trials), exponent fitted from 2^14",
            ", ".join(f"{lab} {v['exponent_L']:.3f}" for lab, v in sc.items()),
            "0.95-1.05: " + ("met" if all(0.95 <= v["exponent_L"] <= 1.05 for v in sc.values()) else "not met"),
        ),
        (
            "time against d (exponent)",
            ", ".join(f"{lab} {v['exponent_d']:.2f}" for lab, v in sc.items()),
            "-",
        ),
        (
            "peak RSS of one run (8 trials), L = " + ", ".join(f"2^{int(L).bit_length() - 1}" for L in rss),
            ", ".join(f"{v / 1024:.0f}" for v in rss.values()) + " MiB",
            "flat: " + ("met" if max(rss.values()) <= 1.1 * min(rss.values()) else "not met"),
        ),
    ]
    for label, row in cpu.get("lanes", {}).items():
        one = row["one_thread"]
        many = next((v for key, v in row.items() if key != "one_thread"), None)
        rows.append(
            (
                f"trial-batched kernel vs the per-trial kernel (bit-identical rows), {label}",
                f"one core: {one['lanes_steps_per_s']:.3g} vs {one['trial_steps_per_s']:.3g} steps/s, "
                f"**{one['ratio']:.2f}x**"
                + (
                    f"; {m['threads']} threads: {many['lanes_steps_per_s']:.3g} vs {many['trial_steps_per_s']:.3g}, "
                    f"{many['ratio']:.2f}x"
                    if many
                    else ""
                ),
                "-" if "d=8" in label else "4x per core: " + ("met" if one["ratio"] >= 4 else "not met"),
            )
        )
    head = (
        f"`python benchmarks/engine_bench.py --json benchmarks/results/cpu.json` ({_machine(m)}; numba {m['numba']}, "
        f"numpy {m['numpy']}{', torch ' + m['torch'] if 'torch' in m else ''}; one run, every ratio from that run"
        + ("; --quick sizes, not the targets'" if cpu.get("quick") else "")
        + "):"
    )
    table_md = "\n".join(
        ["| what | measured | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    )
    return f"{head}\n\n{table_md}"


def _span(x: float) -> str:
    """A duration as the guide writes it: seconds below 2 min, then minutes."""
    return f"{x:.0f} s" if x < 120 else f"{x / 60:.0f} min"


def _range(xs: list) -> str:
    lo, hi = _span(min(xs)), _span(max(xs))
    if lo == hi:
        return lo
    if lo.split()[-1] == hi.split()[-1]:
        return f"{lo.split()[0]}-{hi}"
    return f"{lo} to {hi}"


def study_times(manifest: dict) -> str:
    """One sentence on what a committed ``mixing.lm`` study cost, from its manifest's models."""
    models = manifest["models"]
    path = [v for k, v in models.items() if k.startswith("path")]
    rest = [v for k, v in models.items() if not k.startswith("path")]
    train = sum(v["train_wall_s"] for v in models.values()) / 3600
    ev = sum(v["eval_wall_s"] for v in models.values()) / 3600
    rss = max(v["peak_rss_mb"] for v in models.values())
    threads = sorted({v.get("threads") for v in models.values() if v.get("threads")})
    trained = _range([v["train_wall_s"] for v in rest or path])
    if rest and path:
        trained += f" (PaTH's {_range([v['train_wall_s'] for v in path])})"
    evaluated = _range([v["eval_wall_s"] for v in models.values()])
    th = f"{threads[0]} thread{'s' if threads[0] > 1 else ''}" if len(threads) == 1 else "one or more threads"
    return (
        f"{len(models)} models; a model trained in {trained} on {th} and was evaluated in {evaluated}; "
        "summed over the models, "
        f"{train:.1f} h of training and {ev:.1f} h of evaluation; peak RSS {rss / 1000:.1f} GB a process "
        "(from the study's `manifest.json`)."
    )


#: (file, block) -> (results file, writer)
BLOCKS = {
    ("README.md", "quickstart"): ("times.json", quickstart),
    ("README.md", "sweep-times"): ("cpu.json", sweep_times),
    ("BENCHMARKS.md", "cpu-engine"): ("cpu.json", cpu_engine),
    ("docs/guide.md", "lm-run-times"): ("figures/output/lm-run/manifest.json", study_times),
    ("docs/guide.md", "lm-default-times"): ("figures/output/lm-default/manifest.json", study_times),
}


def _pattern(name: str) -> re.Pattern:
    return re.compile(
        rf"(<!-- begin generated: {re.escape(name)} -->\n)(.*?)(\n<!-- end generated: {re.escape(name)} -->)", re.S
    )


def rendered(root: Path = ROOT, results: Path = RESULTS) -> dict[str, str]:
    """File name -> its text with every generated block rewritten from ``results``."""
    out = {}
    for (fname, block), (source, writer) in BLOCKS.items():
        text = out.get(fname) or (root / fname).read_text()
        pat = _pattern(block)
        if not pat.search(text):
            raise ValueError(f"{fname}: no generated block {block!r} (markers <!-- begin generated: {block} -->)")
        # a source with a folder is a committed study's file, under the project root
        data = json.loads(((root if "/" in source else results) / source).read_text())
        body = writer(data)
        out[fname] = pat.sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
    return out


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from mixing.cli import Parser

    ap = Parser(prog="python benchmarks/render.py", description=__doc__.strip().splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a file differs from what its results give")
    args = ap.parse_args(argv)
    try:
        texts = rendered()
    except (OSError, KeyError, ValueError) as exc:
        print(f"render: error: {exc}", file=sys.stderr)
        return 2
    stale = [f for f, t in texts.items() if (ROOT / f).read_text() != t]
    if args.check:
        for f in stale:
            print(f"render: {f} is out of date; run python benchmarks/render.py", file=sys.stderr)
        return 1 if stale else 0
    for f in stale:
        (ROOT / f).write_text(texts[f])
        print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

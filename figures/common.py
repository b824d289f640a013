"""Shared style, the data cache and the writers (PNG, PDF, CSV and a manifest)."""

from __future__ import annotations

import csv
import hashlib
import json
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import mixing  # noqa: E402
from mixing.engine.files import replacing  # noqa: E402,F401
from mixing.plotting import (  # noqa: E402,F401
    STYLE,
    atomic_write,
    band,
    estimate_rows,
    finite_log,
    interval_line,
    on_top,
    row,
    save_figure,
    select,
    style,
    theory,
)

COLUMNS = ("panel", "series", "kind", "x", "y", "stderr")
SEED = 20260626

#: one colour per mechanism, the same in every figure
COLOR = {
    "nope": "0.45",
    "rope": "#1f77b4",
    "so2": "#ff7f0e",
    "householder": "#2ca02c",
    "alibi": "#d62728",
    "so2+forget": "#9467bd",
    "theory": "black",
}


def measures(runner=None):
    """The engine's measures with their trials run by ``runner`` (``mixing.sweep.executors.runner``;
    None: in this process). The numbers do not depend on it."""
    from types import SimpleNamespace

    from mixing.engine import measures as ms

    def per_trial_retrieval(mech, task, lengths, seed, trials):
        return ms.rows("retrieval", mech, lengths, seed, trials, task=task, force_size=True, runner=runner)

    return SimpleNamespace(
        coherence=partial(ms.coherence, runner=runner),
        second_moment=partial(ms.second_moment, runner=runner),
        retrieval=partial(ms.retrieval, runner=runner),
        per_trial_retrieval=per_trial_retrieval,
    )


def given(mech=None, task=None, **extra) -> dict:
    """What a series was computed with, as its rows' parameter columns (named as in a sweep's
    ``results.csv``): the mechanism's name, ``d`` and every resolved parameter, defaults
    included, then the task's fields, then ``extra`` (e.g. ``baseline`` for a ratio)."""
    out = {"mechanism": mech.name, "d": mech.d, **dict(mech.params)} if mech is not None else {}
    if task is not None:
        out.update(vars(task))
    out.update(extra)
    return out


# ---------------------------------------------------------------------------------------
# cache and output


def manifest(name, spec):
    """What a figure's data depend on: its spec and the engine that computed it (the digest of
    ``mixing/engine/``, the key of the kernel cache too), so an engine change recomputes."""
    from mixing.engine._jit import DIGEST

    return {"figure": name, "spec": spec, "engine": DIGEST, "mixing": mixing.__version__}


def restamp(out: Path, name: str, man: dict) -> bool:
    """Mark the saved data of ``name`` in ``out`` as computed by this engine (``man``), without
    recomputing; False when there is none. Only for a change that leaves every per-trial row
    identical, as ``benchmarks/fingerprints.py --compare`` shows."""
    mpath = out / f"{name}.json"
    if not (mpath.exists() and (out / f"{name}.csv").exists()):
        return False
    old = json.loads(mpath.read_text())
    if old.get("figure") != name or old.get("spec") != json.loads(json.dumps(man["spec"], sort_keys=True)):
        return False
    atomic_write(mpath, lambda p: p.write_text(json.dumps(_record(man), indent=2)))
    return True


def _record(man: dict) -> dict:
    """What NAME.json holds: the shared manifest header (``mixing.sweep.results.provenance``),
    then what the data depend on (``man``) and its key, which hashes ``man`` alone."""
    import sys

    from mixing.sweep.results import provenance

    head = provenance("figures", sys.argv)
    head["end"] = head["start"]
    return {**head, **man, "key": _key(man)}


def _key(man):
    return hashlib.sha256(json.dumps(man, sort_keys=True).encode()).hexdigest()[:16]


def load_cached(out: Path, name: str, man: dict):
    """Rows of ``OUT/NAME.csv`` if ``OUT/NAME.json`` records the same manifest, else None."""
    mpath, cpath = out / f"{name}.json", out / f"{name}.csv"
    if not (mpath.exists() and cpath.exists()):
        return None
    try:
        old = json.loads(mpath.read_text())
    except (OSError, ValueError):
        return None
    if old.get("key") != _key(man):
        return None
    with open(cpath, newline="") as fh:
        rows = []
        for r in csv.DictReader(fh):
            got = {k: (r[k] if k in ("panel", "series", "kind") else float(r[k])) for k in COLUMNS}
            got.update({k: v for k, v in r.items() if k not in COLUMNS and v != ""})  # parameter columns
            rows.append(got)
    return rows


def parameter_columns(rows) -> list[str]:
    """The columns a figure's CSV adds after ``COLUMNS``: every other key of its rows (the
    parameters a series was computed with, e.g. ``mechanism``, ``scale``): ``mechanism`` and
    ``d``, then the engine's mechanism parameters, then the rest, each group in first-seen order."""
    from mixing.engine.mechanisms import PARAMS

    mech = {p.name for table in PARAMS.values() for p in table}
    keys = dict.fromkeys(k for r in rows for k in r if k not in COLUMNS)
    return sorted(keys, key=lambda k: {"mechanism": 0, "d": 1}.get(k, 2 if k in mech else 3))


def save_data(out: Path, name: str, man: dict, rows):
    """``NAME.csv`` (the rows: ``COLUMNS``, then the parameter columns, empty where a row has
    none) and ``NAME.json`` (what the data depend on)."""
    columns = list(COLUMNS) + parameter_columns(rows)

    def write_csv(p):
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, restval="")
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in r.items()})

    atomic_write(out / f"{name}.csv", write_csv)
    atomic_write(out / f"{name}.json", lambda p: p.write_text(json.dumps(_record(man), indent=2)))

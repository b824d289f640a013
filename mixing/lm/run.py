"""A study: train every mechanism at several seeds, evaluate beyond the context, tabulate.

Folder layout (every piece written atomically; rerunning the same command resumes):

  DIR/models/<mechanism>/seed<k>/checkpoint.pt    the trained model
  DIR/models/<mechanism>/seed<k>/eval.csv         its evaluation rows
  DIR/results.csv     per-seed rows (stderr over windows) and rows with seed "all"
                      (mean over seeds, stderr over seeds)
  DIR/manifest.json   argv, settings, versions, corpus fingerprint, seeds, wall times
  DIR/lm.png, lm.pdf  the figure
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ParameterError
from . import data as data_mod
from .evaluate import coherence, evaluate
from .model import Config, label, parse_mechanism
from .train import TrainConfig, load_model, train

ALL = ("nope", "rope", "alibi", "so2-random:abs=0.3", "so2-random:rel=0.5", "so2-learned", "so2-learned-v",
       "so2-learned-forget", "path", "path-forget")
COLUMNS = ("mechanism", "scale", "seed", "seeds", "train_context", "eval_length", "metric", "layer", "head", "x",
           "value", "stderr", "layers", "width", "heads", "steps", "batch")


@dataclass
class Study:
    mechanisms: tuple = ALL
    seeds: int = 3
    model: dict = field(default_factory=lambda: {"layers": 4, "width": 128, "heads": 4})
    train: TrainConfig = field(default_factory=TrainConfig)
    multiples: tuple = (1, 2, 4, 8, 16)
    windows: int = 8
    coherence_lags: int = 512

    @property
    def lengths(self):
        return [self.train.context * k for k in self.multiples]


def quick() -> Study:
    """A tiny model and 60 steps for every mechanism: the smoke test of the whole pipeline."""
    return Study(seeds=1, model={"layers": 1, "width": 32, "heads": 2},
                 train=TrainConfig(context=32, batch=8, steps=60, lr=3e-3, min_lr=3e-4, warmup=5, checkpoint_every=20,
                                   val_windows=8),
                 multiples=(1, 2, 4, 16), windows=2, coherence_lags=64)


def _write_csv(path: Path, rows, columns=COLUMNS):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, path)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _atomic_json(path: Path, obj):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean over seeds and its standard error, per (mechanism, eval_length, metric, layer, head, x)."""
    groups: dict = {}
    for r in rows:
        key = tuple(r[k] for k in ("mechanism", "scale", "train_context", "eval_length", "metric", "layer", "head", "x"))
        groups.setdefault(key, []).append(r)
    out = []
    for key, rs in groups.items():
        v = np.array([float(r["value"]) for r in rs], dtype=float)
        if key[4] == "window" and not np.all(np.isfinite(v)):
            v = np.array([np.nan])       # a window beyond the measured lags in any seed stays unknown
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else float("nan")
        se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
        out.append({**rs[0], "seed": "all", "seeds": int(v.size), "value": mean, "stderr": se})
    return out


def run(study: Study, out: str | Path, corpus=None, argv=None, progress=print) -> list[dict]:
    """Train and evaluate every (mechanism, seed) of ``study`` in ``out``; returns the result rows."""
    out = Path(out)
    labels = [label(*parse_mechanism(m)) for m in study.mechanisms]
    if not labels:
        raise ParameterError("--mechanisms: the list is empty")
    study.train.validate()
    for lab in labels:
        Config(*parse_mechanism(lab), **study.model).validate()
    corpus = corpus if corpus is not None else data_mod.load()
    data_mod.check_length(corpus, "test", max(study.lengths), what="--lengths")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"--out: cannot create {out}: {exc.strerror}") from None
    started = time.time()
    manifest = {"argv": argv if argv is not None else sys.argv, "mixing": __version__, "started": started,
                "python": platform.python_version(), "torch": _torch_version(), "numpy": np.__version__,
                "corpus": corpus.fingerprint, "mechanisms": labels, "seeds": list(range(study.seeds)),
                "model": study.model, "train": asdict(study.train), "lengths": study.lengths,
                "windows": study.windows, "coherence_lags": study.coherence_lags, "models": {}}
    rows = []
    for lab in labels:
        name, scale = parse_mechanism(lab)
        for seed in range(study.seeds):
            cfg = Config(mechanism=name, scale=scale, seed=seed, **study.model)
            folder = out / "models" / lab.replace(":", "_").replace("=", "") / f"seed{seed}"
            evp = folder / "eval.csv"
            common = {"mechanism": name, "scale": scale, "seed": seed, "seeds": 1,
                      "train_context": study.train.context, **study.model,
                      "steps": study.train.steps, "batch": study.train.batch}
            t0 = time.perf_counter()
            if evp.exists():             # finished earlier: its rows are all that is needed
                mrows = read_csv(evp)
                rows += mrows
                if (folder / "timing.json").exists():
                    manifest["models"][f"{lab}/seed{seed}"] = json.loads((folder / "timing.json").read_text())
                continue
            ck = train(cfg, study.train, corpus, folder,
                       progress=_bar(f"{lab} seed {seed}", progress) if progress else None)
            t_train = ck["wall"]
            model = load_model(folder, study.train.device)
            mrows = evaluate(model, corpus, study.lengths, study.train.context, study.windows,
                             device=study.train.device)
            mrows += coherence(model, corpus, study.coherence_lags)
            mrows.append({"eval_length": study.train.context, "metric": "val_bpb", "layer": "", "head": "",
                          "x": "", "value": ck["val_bpb"], "stderr": ck["val_bpb_se"]})
            shift = _angle_shift(model)
            if shift is not None:
                mrows.append({"eval_length": "", "metric": "angle_shift", "layer": "", "head": "", "x": "",
                              "value": shift, "stderr": float("nan")})
            _write_csv(evp, [{**common, **r} for r in mrows])
            rows += read_csv(evp)               # the same types whether computed now or resumed
            timing = {"train_wall_s": round(t_train, 1), "total_wall_s": round(time.perf_counter() - t0, 1),
                      "val_bpb": ck.get("val_bpb")}
            manifest["models"][f"{lab}/seed{seed}"] = timing
            _atomic_json(folder / "timing.json", timing)
            if progress:
                progress(f"{lab} seed {seed}: val {ck['val_bpb']:.3f} bits/byte, trained in {t_train:.0f} s")
    rows = rows + aggregate(rows)
    _write_csv(out / "results.csv", rows)
    manifest["ended"] = time.time()
    _atomic_json(out / "manifest.json", manifest)
    return rows


def _angle_shift(model) -> float | None:
    """RMS change of the learned angle tables from their start, in radians (None if not learned)."""
    import torch

    diffs = [(a.angles - a.angles0).detach().double().flatten() for a in model.attentions() if hasattr(a, "angles0")]
    if not diffs:
        return None
    return float(torch.cat(diffs).pow(2).mean().sqrt())


def _torch_version():
    import torch

    return torch.__version__


def _bar(label, progress):
    """A progress callback that prints a line every 10% of the steps (or a tqdm bar on a terminal)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = {}

        def cb(step, total, loss):
            if "b" not in bar:
                bar["b"] = tqdm(total=total, initial=step - 1, desc=label, unit="step", leave=False)
            bar["b"].update(1)
            bar["b"].set_postfix(bits=f"{loss:.3f}")
            if step == total:
                bar["b"].close()
        return cb

    def cb(step, total, loss):
        if step == total or step % max(1, total // 10) == 0:
            progress(f"{label}: step {step}/{total}, {loss:.3f} bits/byte")
    return cb

"""A study: train every mechanism at several seeds, evaluate beyond the context, tabulate.

Folder layout (every piece written atomically; rerunning the same command resumes, model by
model, and a folder holding another study's settings is refused):

  DIR/models/<mechanism>/seed<k>/checkpoint.pt    training state (resumable; not kept in git)
  DIR/models/<mechanism>/seed<k>/model.pt         the trained weights and settings (small;
                                                  ``torch.load(weights_only=True)``)
  DIR/models/<mechanism>/seed<k>/bits.npz         full-context and sliding-window bits per
                                                  test window and position bucket
  DIR/models/<mechanism>/seed<k>/eval.csv         its other evaluation rows (written last:
                                                  a model with eval.csv is finished)
  DIR/results.csv     per-seed rows (stderr over windows) and rows with seed "all" (mean over
                      seeds; for the bits, the interval over seeds and windows)
  DIR/manifest.json   argv, settings, versions, corpus fingerprint, seeds, wall times, peak RSS
  DIR/lm.png, lm.pdf  the figure

Models run in ``jobs`` worker processes, each with one torch thread (a model's numbers do not
depend on how many run at once).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mixing.cli import has_bar, progress_bar
from mixing.engine.errors import ParameterError
from mixing.engine.stats import mean_se
from mixing.sweep.locks import held
from mixing.sweep.results import now, provenance

from . import data as data_mod
from . import passkey as passkey_mod
from .data import Corpus
from .evaluate import coherence, evaluate
from .model import LM, Config, label, parse_mechanism
from .store import atomic_json, atomic_npz, folder_name, read_csv, write_csv  # noqa: F401
from .train import TrainConfig, _atomic_save, check_size, load_model, train

ALL = (
    "nope",
    "rope",
    "alibi",
    "fox",
    "so2-random:abs=0.3",
    "so2-random:rel=0.5",
    "so2-learned",
    "so2-learned-v",
    "so2-learned-forget",
    "path",
    "path-forget",
    "path-forget:gate=fla",
)
COLUMNS = (
    "mechanism",
    "scale",
    "gate",
    "rope_base",
    "seed",
    "seeds",
    "train_context",
    "eval_length",
    "metric",
    "layer",
    "head",
    "x",
    "value",
    "stderr",
    "lo",
    "hi",
    "dof",
    "layers",
    "width",
    "heads",
    "steps",
    "batch",
)


@dataclass
class Study:
    mechanisms: tuple = ALL
    seeds: int = 5
    model: dict = field(default_factory=lambda: {"layers": 4, "width": 128, "heads": 4})
    train: TrainConfig = field(default_factory=TrainConfig)
    multiples: tuple = (2, 4, 8, 16, 32)
    windows: int = 64
    probe_windows: int = 8
    coherence_lags: int = 512
    #: seeds for some mechanisms instead of ``seeds`` (label -> count): more where an effect needs
    #: them to resolve, fewer where a study has not finished them yet
    label_seeds: dict = field(default_factory=dict)

    def seeds_of(self, lab: str) -> int:
        return int(self.label_seeds.get(lab, self.seeds))

    @property
    def length(self) -> int:
        """The one evaluation length: every multiple's bucket lies inside it."""
        return self.train.context * max(self.multiples)

    @property
    def lengths(self) -> list[int]:
        return [self.train.context * k for k in self.multiples]

    def spec(self) -> dict:
        """Every setting a model's numbers depend on (a folder holds one spec)."""
        return {
            "model": dict(self.model),
            "train": self.train.to_dict(),
            "length": self.length,
            "windows": self.windows,
            "probe_windows": self.probe_windows,
            "coherence_lags": self.coherence_lags,
        }


def passkey_ks(study: Study) -> list[float]:
    """The passkey distances (multiples of T) a study's windows hold: ``passkey.DISTANCES`` up
    to the longest multiple less one (the key needs T bytes of text before it)."""
    return [k for k in passkey_mod.DISTANCES if k <= max(study.multiples) - 1]


def quick() -> Study:
    """A tiny model and 60 steps for every mechanism: the smoke test of the whole pipeline."""
    return Study(
        seeds=1,
        model={"layers": 1, "width": 32, "heads": 2},
        train=TrainConfig(
            context=32, batch=8, steps=60, lr=3e-3, min_lr=3e-4, warmup=5, checkpoint_every=20, val_windows=8
        ),
        multiples=(2, 4, 16),
        windows=4,
        probe_windows=2,
        coherence_lags=64,
    )


def _write_csv(path: Path, rows: Iterable[dict], columns: Sequence[str] = COLUMNS) -> None:
    write_csv(path, rows, columns)


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean over seeds and its standard error, per (mechanism, eval_length, metric, layer, head, x)."""
    groups: dict = {}
    for r in rows:
        key = tuple(
            r.get(k, "")
            for k in (
                "mechanism",
                "scale",
                "gate",
                "rope_base",
                "train_context",
                "eval_length",
                "metric",
                "layer",
                "head",
                "x",
            )
        )
        groups.setdefault(key, []).append(r)
    out = []
    for key, rs in groups.items():
        v = np.array([float(r["value"]) for r in rs], dtype=float)
        if key[6] == "window" and not np.all(np.isfinite(v)):
            v = np.array([np.nan])  # a window beyond the measured lags in any seed stays unknown
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if v.size else float("nan")
        se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
        out.append({**rs[0], "seed": "all", "seeds": int(v.size), "value": mean, "stderr": se})
    return out


def save_weights(ck: dict, path: Path) -> None:
    """The small file kept with a study: the weights and settings, no optimiser state."""
    keep = {
        k: ck[k]
        for k in (
            "format",
            "mixing",
            "torch",
            "config",
            "train",
            "model",
            "step",
            "corpus",
            "wall",
            "done",
            "val_bpb",
            "val_bpb_se",
        )
    }
    keep["log"] = []
    _atomic_save(keep, path)


_CORPUS: dict = {}


def _worker_init(corpus_path: str | None) -> None:
    import torch

    torch.set_num_threads(1)
    _CORPUS["c"] = data_mod.load(corpus_path)


def run_model(
    study: Study,
    lab: str,
    seed: int,
    folder: Path,
    corpus: Corpus | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train (or resume) and evaluate one model into ``folder``; returns its timing."""
    import torch

    corpus = corpus if corpus is not None else _CORPUS["c"]
    torch.set_num_threads(1)
    cfg = Config(**parse_mechanism(lab), seed=seed, **study.model)
    t0 = time.perf_counter()
    ck = train(cfg, study.train, corpus, folder, progress=_bar(f"{lab} seed {seed}", progress) if progress else None)
    save_weights(ck, folder / "model.pt")
    t1 = time.perf_counter()
    model = load_model(folder, study.train.device)
    rows, arrays = evaluate(
        model, corpus, study.length, study.train.context, study.windows, study.probe_windows, device=study.train.device
    )
    rows += coherence(model, corpus, study.coherence_lags)
    rows.append(
        {
            "eval_length": study.train.context,
            "metric": "val_bpb",
            "layer": "",
            "head": "",
            "x": "",
            "value": ck["val_bpb"],
            "stderr": ck["val_bpb_se"],
        }
    )
    shift = _angle_shift(model)
    if shift is not None:
        rows.append(
            {
                "eval_length": "",
                "metric": "angle_shift",
                "layer": "",
                "head": "",
                "x": "",
                "value": shift,
                "stderr": float("nan"),
            }
        )
    atomic_npz(folder / "bits.npz", arrays)
    if study.train.passkey:
        win, starts = data_mod.file_windows(corpus, "test", study.length, study.windows)
        got = passkey_mod.accuracy(model, win, study.train.context, passkey_ks(study), study.train.device)
        atomic_npz(folder / "passkey.npz", {**got, "starts": starts, "context": study.train.context})
        for k, a, b in zip(got["ks"], got["acc"], got["bits"]):
            for metric, v in (("passkey_acc", a), ("passkey_bits", b)):
                m, se = mean_se(v)
                rows.append(
                    {
                        "eval_length": study.length,
                        "metric": metric,
                        "layer": "",
                        "head": "",
                        "x": float(k),
                        "value": m,
                        "stderr": se,
                    }
                )
    common = {
        "mechanism": cfg.mechanism,
        "scale": cfg.scale,
        "gate": cfg.gate,
        "rope_base": cfg.rope_base,
        "seed": seed,
        "seeds": 1,
        "train_context": study.train.context,
        **study.model,
        "steps": study.train.steps,
        "batch": study.train.batch,
    }
    timing = {
        "train_wall_s": round(ck["wall"], 1),
        "eval_wall_s": round(time.perf_counter() - t1, 1),
        "val_bpb": ck.get("val_bpb"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": torch.get_num_threads(),
    }
    atomic_json(folder / "timing.json", timing)
    _write_csv(folder / "eval.csv", [{**common, **r} for r in rows])
    timing["total_wall_s"] = round(time.perf_counter() - t0, 1)
    return timing


def _job(args: tuple) -> tuple[str, int, dict]:
    study, lab, seed, folder = args
    return lab, seed, run_model(study, lab, seed, folder)


def check_labels(mechanisms: Iterable[str]) -> list[str]:
    labels = [label(**parse_mechanism(m)) for m in mechanisms]
    if not labels:
        raise ParameterError("--mechanisms: the list is empty")
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ParameterError(f"--mechanisms: {', '.join(dup)} given more than once")
    return labels


def run(
    study: Study,
    out: str | Path,
    corpus: Corpus | None = None,
    argv: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = print,
    jobs: int = 1,
) -> list[dict]:
    """Train and evaluate every (mechanism, seed) of ``study`` in ``out``; returns the result rows.

    ``out`` is locked for the whole run (a second study on it stops with one line)."""
    out = Path(out)
    labels, corpus = validate(study, corpus)
    with held(out, "study"):
        return _run(study, out, corpus, labels, argv, progress, jobs)


def validate(study: Study, corpus: Corpus | None = None) -> tuple[list[str], Corpus]:
    """Check every setting of ``study`` against ``corpus`` (default: the stdlib source) before
    any work or any file; returns the labels and the corpus."""
    labels = check_labels(study.mechanisms)
    study.train.validate()
    for lab in labels:
        check_size(Config(**parse_mechanism(lab), **study.model).validate(), study.train)
    corpus = corpus if corpus is not None else data_mod.load()
    data_mod.check_length(corpus, "test", study.length, what="--multiples")
    data_mod.file_windows(corpus, "test", study.length, study.windows)  # enough distinct files, or one line
    if study.train.passkey:
        passkey_mod.check_corpus(corpus)
    return labels, corpus


def _run(
    study: Study,
    out: Path,
    corpus: Corpus,
    labels: list[str],
    argv: Sequence[str] | None,
    progress: Callable[[str], None] | None,
    jobs: int,
) -> list[dict]:
    spec_path = out / "study.json"
    if spec_path.exists():
        old = json.loads(spec_path.read_text())
        if old != json.loads(json.dumps(study.spec(), default=str)):
            raise ParameterError(
                f"--out: {out} holds a study with other settings (see {spec_path}); choose another folder"
            )
    atomic_json(spec_path, study.spec())
    manifest = {
        **provenance("mixing.lm", argv if argv is not None else sys.argv, {"torch": _torch_version()}),
        "corpus": corpus.fingerprint,
        "mechanisms": labels,
        "seeds": list(range(study.seeds)),
        "label_seeds": dict(study.label_seeds),
        **study.spec(),
        "multiples": list(study.multiples),
        "jobs": jobs,
        "models": {},
    }
    todo = []
    for lab in labels:
        for seed in range(study.seeds_of(lab)):
            folder = out / "models" / folder_name(lab) / f"seed{seed}"
            if (folder / "eval.csv").exists():
                continue
            todo.append((study, lab, seed, folder))
    if jobs > 1 and len(todo) > 1:
        src = corpus.fingerprint.get("source")
        path = None if src == "python-stdlib" else src
        import multiprocessing as mp

        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init, initargs=(path,)
        ) as pool:
            futures = [pool.submit(_job, t) for t in todo]
            for k, fut in enumerate(as_completed(futures), 1):
                lab, seed, timing = fut.result()
                if progress:
                    progress(
                        f"[{k}/{len(todo)}] {lab} seed {seed}: val {timing['val_bpb']:.3f} bits/byte, trained in "
                        f"{timing['train_wall_s']:.0f} s, evaluated in {timing['eval_wall_s']:.0f} s"
                    )
    else:
        for k, (_, lab, seed, folder) in enumerate(todo, 1):
            timing = run_model(study, lab, seed, folder, corpus, progress)
            if progress:
                progress(
                    f"[{k}/{len(todo)}] {lab} seed {seed}: val {timing['val_bpb']:.3f} bits/byte, trained in "
                    f"{timing['train_wall_s']:.0f} s, evaluated in {timing['eval_wall_s']:.0f} s"
                )
    rows = collect(out, labels, {lab: study.seeds_of(lab) for lab in labels}, manifest)
    manifest["end"] = now()
    atomic_json(out / "manifest.json", manifest)
    return rows


def collect(out: Path, labels: Iterable[str], seeds: dict, manifest: dict | None = None) -> list[dict]:
    """The rows of every finished model (``seeds``: label -> count), their aggregates, and the
    bits rows (``results.csv``)."""
    from .report import bits_rows

    rows = []
    for lab in labels:
        for seed in range(seeds[lab]):
            folder = out / "models" / folder_name(lab) / f"seed{seed}"
            rows += read_csv(folder / "eval.csv")
            if manifest is not None and (folder / "timing.json").exists():
                manifest["models"][f"{lab}/seed{seed}"] = json.loads((folder / "timing.json").read_text())
    rows = rows + aggregate(rows) + bits_rows(out, labels, seeds)
    _write_csv(out / "results.csv", rows)
    return rows


def _angle_shift(model: LM) -> float | None:
    """RMS change of the learned angle tables from their start, in radians (None if not learned)."""
    import torch

    diffs = [(a.angles - a.angles0).detach().double().flatten() for a in model.attentions() if hasattr(a, "angles0")]
    if not diffs:
        return None
    return float(torch.cat(diffs).pow(2).mean().sqrt())


def _torch_version() -> str:
    import torch

    return torch.__version__


def _bar(label: str, progress: Callable[[str], None]) -> Callable[[int, int, float], None]:
    """A progress callback that prints a line every 10% of the steps (or a bar on a terminal)."""
    if has_bar():
        bar = {}

        def cb(step: int, total: int, loss: float) -> None:
            if "b" not in bar:
                bar["b"] = progress_bar(total, label, initial=step - 1, leave=False)
            bar["b"].update(1)
            bar["b"].set_postfix(bits=f"{loss:.3f}")
            if step == total:
                bar["b"].close()

        return cb

    def cb(step: int, total: int, loss: float) -> None:
        if step == total or step % max(1, total // 10) == 0:
            progress(f"{label}: step {step}/{total}, {loss:.3f} bits/byte")

    return cb

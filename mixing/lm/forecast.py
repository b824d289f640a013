"""A forecast of far mass and of the stopping length from measurements at lengths up to 2T.

docs/theory.md, section 7, states the forecast and its assumptions; in short:

1. **Measure** (lengths up to 2T only). For every head, the *odds profile* on windows of 2T
   bytes: at each lag n < 2T, the mean over windows and queries of ``e^{s_{i,i-n}}`` relative
   to the query's near sum ``sum_{m <= W} e^{s_{i,i-m}}`` (``model.lag_profile``; the scores
   carry the head's bias, ALiBi's or the forget gate's). W = T/2 is the far-mass window of the
   study (``evaluate``). Summed over the lags in (W, i] it is the far odds of query i.
2. **Extrapolate** beyond 2T with the theory's assumption: past the mixing window the
   transported scores are stationary in distribution, so a far source's expected odds do not
   depend on its lag, ``rho(n) = c`` (rotations and Householder products alone). A head with
   a bias multiplies them by its expected bias, which a straight line in n fits for ALiBi
   (``-m n``) and, as a random walk with drift, for a forget gate: ``log rho(n) = a + b n``,
   fitted on the lags [T, 2T). ``c`` is the mean of the profile over [T, 2T).
3. **Far mass** at query i is forecast as ``O_i / (1 + O_i)`` with ``O_i = sum_{W < n <= i}
   rho(n)`` (the ratio of expectations: Jensen's inequality makes it an upper estimate of the
   mean of the ratio when O_i varies across windows), averaged over the queries of each
   multiple's bucket [kT/2, kT).
4. **Stopping length.** The excess is tied to the far mass gained beyond the training
   context: ``excess(k) = alpha (F(k) - F(1))``, with alpha fitted per model at k = 2 (the one
   multiple inside 2T); the predicted ``L_stop`` is the first multiple whose predicted excess
   lies above TAU at 95% over seeds (the study's own rule, ``stats.classify``).

Everything a forecast uses is measured at lengths <= 2T; everything it is compared with
(far mass and excess at 4x-32x) is measured beyond, on the same test windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from mixing.engine.forecast import ENGINE_TRIALS, FORECAST_VERSION  # cached files of another version: recomputed
from mixing.engine.stats import Interval, classify, t_interval

from .data import Corpus
from .model import LM


def has_bias(model: LM) -> bool:
    cfg = model.cfg
    return cfg.mechanism == "alibi" or bool(cfg.gate)


@torch.no_grad()
def profiles(model: LM, windows: np.ndarray, W: int, first_query: int, device: str = "cpu") -> np.ndarray:
    """The odds profile of every head [layers, H, n] on ``windows`` [N, n + 1] (mean over them),
    over the queries ``i >= max(n, first_query)``."""
    model.eval()
    atts = model.attentions()
    for att in atts:
        att.probe = {"window": W, "profile": int(first_query)}
    try:
        out = []
        for w in torch.from_numpy(windows).split(1):
            model(w[:, :-1].to(device))
            out.append(np.stack([a.probe_out["profile"].cpu().numpy() for a in atts]))
    finally:
        for att in atts:
            att.probe, att.probe_out = None, None
    return np.nanmean(np.stack(out), axis=0)


def extend(profile: np.ndarray, context: int, length: int, biased: bool) -> np.ndarray:
    """The odds profile [length] of one head: measured below 2T, the stationary (or, with a bias,
    log-linear) fit on [T, 2T) beyond."""
    n_meas = profile.shape[-1]
    lags = np.arange(length, dtype=np.float64)
    tail_n = np.arange(context, n_meas)
    tail = profile[context:n_meas]
    ok = np.isfinite(tail) & (tail > 0)
    if biased and ok.sum() >= 2:
        b, a = np.polyfit(tail_n[ok], np.log(tail[ok]), 1)
        fit = np.exp(a + b * lags)
    else:
        fit = np.full(length, float(np.nanmean(tail)) if ok.any() else 0.0)
    out = fit.copy()
    out[:n_meas] = np.where(np.isfinite(profile[:length]), profile[:length], fit[:n_meas])
    return out


def far_by_multiple(rho: np.ndarray, W: int, context: int, ks: Sequence[int]) -> dict[int, float]:
    """Forecast far mass, the mean over the queries [kT/2, kT) of O_i / (1 + O_i), for k = 1 and ``ks``."""
    odds = np.cumsum(np.where(np.arange(rho.shape[-1]) > W, rho, 0.0))
    far = odds / (1 + odds)
    return {k: float(far[k * context // 2 : k * context].mean()) for k in (1, *ks)}


def forecast_model(model: LM, windows: np.ndarray, context: int, ks: Sequence[int], device: str = "cpu") -> np.ndarray:
    """Forecast far mass [layers, H, 1 + len(ks)] (k = 1 first) from the first 2T bytes of ``windows``."""
    W = context // 2
    # the queries past the training context, where the forecast is needed (positions [T, 2T))
    prof = profiles(model, np.ascontiguousarray(windows[:, : 2 * context + 1]), W, context, device)
    length = context * max(ks)
    biased = has_bias(model)
    out = np.empty(prof.shape[:2] + (1 + len(ks),))
    for li in range(prof.shape[0]):
        for h in range(prof.shape[1]):
            f = far_by_multiple(extend(prof[li, h], context, length, biased), W, context, ks)
            out[li, h] = [f[k] for k in (1, *ks)]
    return out


def predicted_excess(excess2: np.ndarray, far: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Per seed, the predicted excess [seeds, len(ks)]: ``alpha (F(k) - F(1))`` with F the
    head-mean forecast far mass [seeds, 1 + len(ks)] and alpha fitted at k = 2 (``excess2``
    [seeds], measured)."""
    ks = list(ks)
    gain = far[:, 1:] - far[:, :1]
    g2 = gain[:, ks.index(2)]
    alpha = excess2 / np.where(np.abs(g2) > 1e-12, g2, np.inf)  # no far-mass gain at 2x: no tie
    return alpha[:, None] * gain


def predicted_stop(pred: np.ndarray, ks: Sequence[int], tau: float) -> float:
    """The first multiple whose predicted excess is above ``tau`` at 95% over seeds (inf if none)."""
    for j, k in enumerate(ks):
        if classify(t_interval(pred[:, j]), tau) == "above":
            return float(k)
    return math.inf


def error_interval(forecast: np.ndarray, measured: np.ndarray) -> Interval:
    """Forecast minus measured (per seed, head means), with a t interval over seeds."""
    return t_interval(np.asarray(forecast) - np.asarray(measured))


def one_model(
    model: LM, corpus: Corpus, context: int, ks: Sequence[int], windows: int = 8, device: str = "cpu"
) -> dict:
    """The forecast of one trained model from windows of 2T bytes alone: far mass per head and
    multiple, and the predicted excess and L_stop, their intervals over the ``windows`` test
    windows (one model: no seed variance)."""
    from . import data as data_mod
    from .evaluate import bucket_means, position_bits, sliding_bits
    from .report import TAU

    ks = sorted(set(int(k) for k in ks) | {2})
    win, _ = data_mod.file_windows(corpus, "test", 2 * context, windows)
    far = forecast_model(model, win, context, ks, device)  # [layers, H, 1 + len(ks)]
    edges = [(context, 2 * context)]
    full = bucket_means(position_bits(model, win, device), edges)[:, 0]
    slide = bucket_means(sliding_bits(model, win, context, device=device), edges)[:, 0]
    excess2 = full - slide  # [windows], measured at 2x
    mean = far.reshape(-1, far.shape[-1]).mean(0)
    pred = predicted_excess(excess2, np.broadcast_to(mean, (excess2.size, mean.size)), ks)  # [windows, len(ks)]
    return {
        "context": context,
        "ks": ks,
        "far": far,
        "far_mean": mean[1:],
        "excess2": t_interval(excess2),
        "predicted_excess": [t_interval(pred[:, j]) for j in range(len(ks))],
        "L_stop_predicted": predicted_stop(pred, ks, TAU),
        "biased": has_bias(model),
    }


# -- a whole study ------------------------------------------------------------------------


def _measured_far(folder: Path, ks: Sequence[int]) -> np.ndarray:
    """A model's measured far mass, head mean, at each of ``ks`` (its eval.csv)."""
    from .store import read_csv

    rows = [r for r in read_csv(folder / "eval.csv") if r["metric"] == "far_mass"]
    return np.array([np.mean([float(r["value"]) for r in rows if int(float(r["x"])) == k]) for k in ks])


def model_forecast(
    folder: Path, corpus: Corpus, study_length: int, context: int, ks: Sequence[int], probe_windows: int = 8
) -> np.ndarray:
    """Forecast far mass of the model in ``folder`` [layers, H, 1 + len(ks)], cached in
    ``folder/forecast.npz`` (recomputed when the settings differ)."""
    from pathlib import Path

    from . import data as data_mod
    from .store import atomic_npz as _atomic_npz
    from .train import load_model

    folder = Path(folder)
    cache = folder / "forecast.npz"
    key = np.array([FORECAST_VERSION, study_length, context, probe_windows, *ks], dtype=np.int64)
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if np.array_equal(z["key"], key):
                return z["far"]
    win, _ = data_mod.file_windows(corpus, "test", study_length, max(probe_windows, 1))
    far = forecast_model(load_model(folder), win[:probe_windows], context, ks)
    _atomic_npz(cache, {"key": key, "far": far})
    return far


def engine_check(
    folder: Path, corpus: Corpus, context: int, ks: Sequence[int], trials: int = ENGINE_TRIALS, seed: int = 0
) -> np.ndarray | None:
    """The engine forecast (``mixing.engine.forecast.from_file``) on the generators of every head of the
    model in ``folder``, exported along the test split: the relative error of the forecast odds
    [layers, H, len(ks > 2), 3] (value, lo, hi; 95% over trials), or None for a mechanism with
    no token-dependent generators. Cached in ``folder/engine-forecast.npz``."""
    import tempfile
    from pathlib import Path

    from mixing.engine.forecast import from_file

    from .export import export
    from .model import HOUSEHOLDER, SO2
    from .store import atomic_npz as _atomic_npz
    from .train import load_model

    folder = Path(folder)
    big = [int(k) for k in ks if int(k) > 2]
    cache = folder / "engine-forecast.npz"
    key = np.array([FORECAST_VERSION, context, trials, seed, *big], dtype=np.int64)
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if np.array_equal(z["key"], key):
                return z["error"] if z["error"].size else None
    model = load_model(folder)
    cfg = model.cfg
    if cfg.mechanism in SO2 or cfg.mechanism in HOUSEHOLDER:
        err = np.empty((cfg.layers, cfg.heads, len(big), 3))
        with tempfile.TemporaryDirectory() as tmp:
            for li in range(cfg.layers):
                for h in range(cfg.heads):
                    path = Path(tmp) / f"{li}.{h}.npz"
                    export(model, corpus, li, h, path, length=context * max(big), train_length=context)
                    r = from_file(path, context, big, trials, seed)
                    err[li, h] = [[e.value, e.lo, e.hi] for e in r["relative_error"]]
    else:
        err = np.empty((0,))
    _atomic_npz(cache, {"key": key, "error": err})
    return err if err.size else None


def study_rows(
    folder: str | Path,
    corpus: Corpus | None = None,
    progress: Callable[[str], None] | None = None,
    engine: bool = False,
) -> list[dict]:
    """Per mechanism of a finished study: forecast and measured far mass at every multiple
    (head means; the forecast error with its t interval over seeds), and the predicted and
    measured stopping lengths."""
    from pathlib import Path

    from . import data as data_mod
    from .report import TAU, Study
    from .store import folder_name

    st = Study(Path(folder))
    corpus = corpus if corpus is not None else data_mod.load()
    ks = list(st.ks)
    pw = int(st.manifest.get("probe_windows", 8))
    length = st.context * max(ks)
    rows = []
    for lab in st.labels:
        b = st.bits[lab]
        fc, ms = [], []
        for seed in range(b.seeds):
            mf = Path(folder) / "models" / folder_name(lab) / f"seed{seed}"
            far = model_forecast(mf, corpus, length, st.context, ks, pw)
            fc.append(far.reshape(-1, far.shape[-1]).mean(0))
            ms.append(_measured_far(mf, ks))
            if progress:
                progress(f"{lab} seed {seed}")
        fc, ms = np.array(fc), np.array(ms)
        pred = predicted_excess(b.excess(2).mean(1), fc, ks)
        stop, _ = st.stop(lab)
        eng = None
        if engine:
            e = engine_check(Path(folder) / "models" / folder_name(lab) / "seed0", corpus, st.context, ks)
            if e is not None:
                flat = e.reshape(-1, *e.shape[2:])  # [heads, K, 3]
                held = np.all((flat[:, :, 1] <= 0) & (flat[:, :, 2] >= 0), axis=1)
                eng = {
                    "error": [t_interval(flat[:, j, 0]) for j in range(flat.shape[1])],
                    "holds": int(held.sum()),
                    "heads": int(flat.shape[0]),
                }
            if progress:
                progress(f"{lab} engine")
        rows.append(
            {
                "mechanism": lab,
                "ks": ks,
                "forecast": fc[:, 1:].mean(0),
                "measured": ms.mean(0),
                "engine": eng,
                "error": [error_interval(fc[:, 1 + j], ms[:, j]) for j in range(len(ks))],
                "predicted_excess": [t_interval(pred[:, j]) for j in range(len(ks))],
                "L_stop_predicted": predicted_stop(pred, ks, TAU),
                "L_stop": stop,
                "seeds": b.seeds,
            }
        )
    return rows


def _engine_cell(eng: dict | None) -> str:
    """The engine check of a mechanism: the relative odds error at the largest multiple, its t
    interval over heads, and in how many heads the forecast holds at every multiple."""
    if not eng:
        return "(no generators)"
    return f"{eng['error'][-1].text()}; {eng['holds']}/{eng['heads']}"


def table(rows: list[dict]) -> str:
    """The forecast table (Markdown) of ``study_rows``."""
    if not rows:
        return "(no finished models)"
    ks = rows[0]["ks"]
    kmax = max(ks)
    engine = any(r.get("engine") for r in rows)
    head = (
        ["mechanism"]
        + [f"far {k}x: forecast / measured (error [95%])" for k in ks if k > 2]
        + ["L_stop predicted", "L_stop measured"]
        + ([f"engine, same generators: odds error {kmax}x (95% over heads); heads where F1 holds"] if engine else [])
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = []
        for j, k in enumerate(ks):
            if k <= 2:
                continue
            cells.append(f"{r['forecast'][j]:.3f} / {r['measured'][j]:.3f} ({r['error'][j].text()})")
        stop = lambda x: f"{x:g}x" if math.isfinite(x) else f"> {kmax}x"  # noqa: E731
        eng = r.get("engine")
        tail = f" | {_engine_cell(eng)} |" if engine else " |"
        lines.append(
            f"| {r['mechanism']} | "
            + " | ".join(cells)
            + f" | {stop(r['L_stop_predicted'])} | {stop(r['L_stop'])}"
            + tail
        )
    return "\n".join(lines)

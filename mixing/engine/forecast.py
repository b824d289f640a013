"""The stationary-tail forecast of far odds from short lengths, in the stylized engine.

docs/theory.md, section 7: past the mixing window the transported scores are stationary in
distribution, so each far source adds the same expected odds ``c`` to a query's far odds
``O(L) = sum_{W < n <= L} e^{s_n} / R`` (``R``: the weight of everything else, the near set
and the target, which extending the context does not change). Measured at two short lengths
T and 2T (T > W), ``c = (O(2T) - O(T)) / T`` and

    O(L) = O(2T) + c (L - 2T)          for every L > 2T,

which proofs/forecast.py derives from the definitions (a sum of equal terms) and
``proofs.verify.check_forecast`` checks against the engine. In the engine every trial walks
outwards from one query, so its near set and target are the same at every length and its
odds are additive in the lags: the forecast is made per trial from that trial's rows at T
and 2T, and compared, trial by trial, with the same trial's odds at each longer length.
A head with a bias (ALiBi's ``-m n``, a forget gate) breaks the assumption: its far terms
shrink with the lag, and the stationary forecast over-predicts (tested).

``mixing.lm.forecast`` applies the same assumption inside trained transformers, where the
terms are measured lag by lag (the odds profile). :func:`from_file` runs the engine forecast on
the generators a trained head exported (``python -m mixing.lm export``): the same transport,
with the stylized task's random keys in place of the text's, so that a forecast that fails in
the model but holds here points at the scores (content, layers) rather than at the transport.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from . import measures
from .errors import ParameterError
from .mechanisms import Mechanism
from .stats import Interval, t_interval
from .task import Task

#: the version of the forecast (``mixing.lm.forecast`` too): bumped whenever it changes, so that
#: cached forecasts and figure data of another version are recomputed
FORECAST_VERSION = 2
#: engine trials per exported head in a study's engine check (``mixing.lm.forecast.engine_check``)
ENGINE_TRIALS = 128


def odds(far_mass: ArrayLike) -> np.ndarray:
    """Far odds A_F / (1 - A_F) of far-mass values (inf where A_F = 1)."""
    f = np.asarray(far_mass, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return f / (1.0 - f)


def stationary_odds(o_short: ArrayLike, o_long: ArrayLike, gap: int, L: ArrayLike, long: int) -> np.ndarray:
    """``O(L) = O(long) + (L - long) (O(long) - O(short)) / gap``: the odds at ``L`` from the odds at
    ``short = long - gap`` and ``long`` (broadcasting over trials and lengths)."""
    o_short, o_long = np.asarray(o_short, dtype=np.float64), np.asarray(o_long, dtype=np.float64)
    c = (o_long - o_short) / gap
    return o_long[..., None] + (np.asarray(L, dtype=np.float64) - long) * c[..., None]


def engine(mech: Mechanism, task: Task, T: int, lengths: ArrayLike, trials: int, seed: int = 0) -> dict:
    """Forecast the mean far odds at ``lengths`` (all > 2T) from each trial's rows at T and 2T,
    and measure them on the same trials. Returns the forecast and measured mean odds and far
    mass per length, and the forecast error ``forecast - measured`` of the mean odds with its
    t interval over trials (paired)."""
    lengths = [int(L) for L in lengths]
    if T <= task.window:
        raise ParameterError(f"T: the short lengths must lie past the window (T > {task.window}), got {T}")
    if min(lengths) <= 2 * T:
        raise ParameterError(f"lengths: forecast lengths must exceed 2T = {2 * T}, got {min(lengths)}")
    xs = sorted({T, 2 * T, *lengths})
    rows = measures.per_trial_retrieval(mech, task, xs, seed, trials)  # [trials, K, 4]
    far = rows[:, :, 1]
    o = odds(far)
    col = {x: i for i, x in enumerate(xs)}
    fc = stationary_odds(o[:, col[T]], o[:, col[2 * T]], T, lengths, 2 * T)  # [trials, len(lengths)]
    meas = np.stack([o[:, col[L]] for L in lengths], axis=1)
    err = [t_interval(fc[:, j] - meas[:, j]) for j in range(len(lengths))]
    return {
        "lengths": lengths,
        "forecast_odds": fc.mean(0),
        "measured_odds": meas.mean(0),
        "forecast_far": np.mean(fc / (1 + fc), axis=0),
        "measured_far": far[:, [col[L] for L in lengths]].mean(0),
        "error": err,
        "relative_error": [
            Interval(e.value / m, e.se / m, e.dof, e.lo / m, e.hi / m) for e, m in zip(err, meas.mean(0))
        ],
    }


def from_file(
    path: str | os.PathLike,
    context: int | None = None,
    ks: Sequence[int] = (4, 8, 16, 32),
    trials: int = 512,
    seed: int = 0,
    B: float | None = None,
) -> dict:
    """The engine forecast on a generators file of kind ``sequence`` (one generator per lag),
    at the study's setting: trained at ``context`` T (default: the file's ``train_length``),
    far set past W = T/2, odds forecast from T and 2T to each ``k T`` (k > 2) and measured
    there. Refuses lengths past the file's rows, which the engine would cycle."""
    from . import generators as gen_mod
    from . import mechanisms
    from .task import Task

    data = gen_mod.read(path)
    meta = {
        k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v)
        for k, v in data.items()
        if k not in ("angles", "directions", "betas")
    }
    if "angles" in data:
        name, rows, d = "so2", data["angles"].shape[0], 2 * data["angles"].shape[-1]
    elif "directions" in data:
        name, rows, d = "householder", data["directions"].shape[0], data["directions"].shape[-1]
    else:
        raise ParameterError(f"{path}: holds neither angles nor directions")
    if str(meta.get("kind", "table")) != "sequence":
        raise ParameterError(
            f"{path}: a forecast needs generators of kind sequence (one per lag, from "
            f"python -m mixing.lm export), not a table"
        )
    T = int(context) if context else int(meta.get("train_length", -1))
    if T < 2:
        raise ParameterError(f"{path}: no train_length in the file; give the training context")
    ks = sorted({int(k) for k in ks if int(k) > 2})
    if not ks:
        raise ParameterError("ks: give at least one multiple above 2 (the forecast is made from T and 2T)")
    if max(ks) * T > rows:
        raise ParameterError(
            f"{path}: {rows} rows reach {rows // T}x of T = {T}; a forecast to {max(ks)}x needs "
            f"{max(ks) * T} (export with --length {max(ks) * T}); the engine would cycle the rows"
        )
    mech = mechanisms.make(name, d, generators=str(path))
    task = Task(window=T // 2, **({} if B is None else {"B": float(B)}))
    r = engine(mech, task, T, [k * T for k in ks], trials, seed)
    verdicts = [
        "holds" if e.lo <= 0 <= e.hi else ("over-predicts" if e.lo > 0 else "under-predicts") for e in r["error"]
    ]
    return {
        "file": str(path),
        "mechanism": name,
        "d": d,
        "rows": rows,
        "context": T,
        "ks": ks,
        "window": T // 2,
        "B": task.B,
        "trials": trials,
        "seed": seed,
        "verdicts": verdicts,
        "source": {k: meta[k] for k in ("mechanism", "layer", "head", "seed") if k in meta},
        **r,
    }

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
terms are measured lag by lag (the odds profile).
"""

from __future__ import annotations

import numpy as np

from . import measures

#: the version of the forecast (``mixing.lm.forecast`` too): bumped whenever it changes, so that
#: cached forecasts and figure data of another version are recomputed
FORECAST_VERSION = 2
from .errors import ParameterError
from .stats import Interval, t_interval


def odds(far_mass) -> np.ndarray:
    """Far odds A_F / (1 - A_F) of far-mass values (inf where A_F = 1)."""
    f = np.asarray(far_mass, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return f / (1.0 - f)


def stationary_odds(o_short, o_long, gap: int, L, long: int) -> np.ndarray:
    """``O(L) = O(long) + (L - long) (O(long) - O(short)) / gap``: the odds at ``L`` from the odds at
    ``short = long - gap`` and ``long`` (broadcasting over trials and lengths)."""
    o_short, o_long = np.asarray(o_short, dtype=np.float64), np.asarray(o_long, dtype=np.float64)
    c = (o_long - o_short) / gap
    return o_long[..., None] + (np.asarray(L, dtype=np.float64) - long) * c[..., None]


def engine(mech, task, T: int, lengths, trials: int, seed: int = 0) -> dict:
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
    rows = measures.per_trial_retrieval(mech, task, xs, seed, trials)      # [trials, K, 4]
    far = rows[:, :, 1]
    o = odds(far)
    col = {x: i for i, x in enumerate(xs)}
    fc = stationary_odds(o[:, col[T]], o[:, col[2 * T]], T, lengths, 2 * T)   # [trials, len(lengths)]
    meas = np.stack([o[:, col[L]] for L in lengths], axis=1)
    err = [t_interval(fc[:, j] - meas[:, j]) for j in range(len(lengths))]
    return {"lengths": lengths, "forecast_odds": fc.mean(0), "measured_odds": meas.mean(0),
            "forecast_far": np.mean(fc / (1 + fc), axis=0), "measured_far": far[:, [col[L] for L in lengths]].mean(0),
            "error": err, "relative_error": [Interval(e.value / m, e.se / m, e.dof, e.lo / m, e.hi / m)
                                             for e, m in zip(err, meas.mean(0))]}

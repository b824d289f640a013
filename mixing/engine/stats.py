"""Intervals and verdict rules shared by every report: written once, used everywhere.

- ``mean_se``: a sample mean and its standard error.
- ``t_interval``: a Student t interval with stated degrees of freedom.
- ``crossed``: the mean of a linear combination of (seed x window) tables that share their
  windows (every model of a study is scored on the same held-out windows) and have seeds of
  their own, with a variance that counts both sources: seeds and windows. The variance
  comes from the two-way random-effects analysis of variance of each table, the degrees of
  freedom from Satterthwaite's approximation (docs/theory.md, "Trained models: intervals").
- ``pigeonhole``: the bootstrap for such tables: seeds resampled per table, windows resampled
  once and shared by all tables (Owen's pigeonhole bootstrap for crossed designs).
- ``classify``: the verdict of an interval against a threshold, the one rule every table uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _st

#: the confidence level of every interval in the reports
LEVEL = 0.95


def mean_se(x: ArrayLike, one: float = float("nan"), finite_only: bool = True) -> tuple[float, float]:
    """Mean and standard error (ddof = 1) of a sample, of its finite values unless
    ``finite_only`` is False: NaN for an empty one, s.e. ``one`` for a single value (NaN unless
    the caller says otherwise)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if finite_only:
        x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), float(one)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def mean_se_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (ddof = 1) over the first axis, element by element (s.e. 0 with a
    single row): the reduction of per-trial rows."""
    rows = np.asarray(rows)
    mean = rows.mean(axis=0)
    if rows.shape[0] < 2:
        return mean, np.zeros_like(mean)
    return mean, rows.std(axis=0, ddof=1) / math.sqrt(rows.shape[0])


def t_quantile(dof: float, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``dof`` degrees of freedom (the normal
    one at infinite ``dof``, e.g. a Satterthwaite combination of zero variances; NaN for none)."""
    return float(_st.t.ppf(0.5 + level / 2, dof)) if dof > 0 else float("nan")


@dataclass(frozen=True)
class Interval:
    """An estimate with its standard error, degrees of freedom and ``LEVEL`` interval."""

    value: float
    se: float
    dof: float
    lo: float
    hi: float

    @classmethod
    def t(cls, value: float, se: float, dof: float, level: float = LEVEL) -> Interval:
        q = t_quantile(dof, level)
        half = q * se if math.isfinite(se) else float("nan")
        return cls(float(value), float(se), float(dof), float(value - half), float(value + half))

    def within(self, lo: float, hi: float) -> Interval:
        """The interval cut to the range ``[lo, hi]`` the quantity cannot leave (a proportion:
        [0, 1]). Cutting keeps every true value the interval covered, so its coverage stays."""
        return Interval(self.value, self.se, self.dof, max(self.lo, lo), min(self.hi, hi))

    def text(self, nd: int = 3, sign: bool = True) -> str:
        f = f"{{:{'+' if sign else ''}.{nd}f}}".format
        if not math.isfinite(self.value):
            return "-"
        if not math.isfinite(self.lo):
            return f(self.value)
        return f"{f(self.value)} [{f(self.lo)}, {f(self.hi)}]"


def t_interval(x: ArrayLike, level: float = LEVEL) -> Interval:
    """The t interval of the mean of an i.i.d. sample (n - 1 degrees of freedom)."""
    m, se = mean_se(x)
    n = int(np.isfinite(np.asarray(x, dtype=np.float64)).sum())
    return Interval.t(m, se, n - 1, level)


def anova2(x: np.ndarray) -> tuple[float, float, float]:
    """Mean squares (seeds, windows, residual) of a two-way table without replication."""
    x = np.asarray(x, dtype=np.float64)
    S, W = x.shape
    grand = x.mean()
    rows, cols = x.mean(1), x.mean(0)
    ms_s = W * ((rows - grand) ** 2).sum() / (S - 1) if S > 1 else float("nan")
    ms_w = S * ((cols - grand) ** 2).sum() / (W - 1) if W > 1 else float("nan")
    resid = x - rows[:, None] - cols[None, :] + grand
    ms_e = (resid**2).sum() / ((S - 1) * (W - 1)) if S > 1 and W > 1 else float("nan")
    return float(ms_s), float(ms_w), float(ms_e)


def crossed(tables: Sequence[np.ndarray], weights: Sequence[float] | None = None, level: float = LEVEL) -> Interval:
    """``sum_m c_m mean(X_m)`` for tables ``X_m`` [seeds_m, windows] sharing their windows.

    The estimate is the mean of the per-window contrast ``d_w = sum_m c_m mean_s X_m[s, w]``.
    Its variance has a seed part, ``sum_m c_m^2 MS_seed,m / (S_m W)`` (each table's seed means
    vary by their seed effects and by the seed-by-window noise), and a window part, the
    variance of the window effects of the contrast, ``var_w(d) / W - sum_m c_m^2 MS_resid,m /
    (S_m W)``, floored at 0 (windows shared by the tables cancel in a difference). Degrees of
    freedom by Satterthwaite over the mean squares used. With one seed in any table the seed
    part cannot be estimated and the interval is NaN.
    """
    tables = [np.asarray(t, dtype=np.float64) for t in tables]
    weights = [1.0] * len(tables) if weights is None else list(weights)
    W = tables[0].shape[1]
    if any(t.shape[1] != W for t in tables):
        raise ValueError("crossed: every table must have the same windows")
    d = sum(c * t.mean(0) for c, t in zip(weights, tables))
    value = float(d.mean())
    if W < 2 or any(t.shape[0] < 2 for t in tables):
        return Interval(value, float("nan"), float("nan"), float("nan"), float("nan"))
    seed_terms, resid_terms = [], []
    for c, t in zip(weights, tables):
        S = t.shape[0]
        ms_s, _, ms_e = anova2(t)
        seed_terms.append((c * c * ms_s / (S * W), S - 1))
        resid_terms.append((c * c * ms_e / (S * W), (S - 1) * (W - 1)))
    window_total = (float(d.var(ddof=1)) / W, W - 1)
    window_part = window_total[0] - sum(v for v, _ in resid_terms)
    terms = list(seed_terms)
    if window_part > 0:
        terms += [window_total] + [(-v, df) for v, df in resid_terms]
    var = sum(v for v, _ in terms)
    denom = sum(v * v / df for v, df in terms)
    dof = var * var / denom if denom > 0 else float("inf")
    # never fewer than the fewest of any mean square used (Satterthwaite can go below it when a
    # difference of mean squares nearly cancels)
    dof = max(dof, min(df for _, df in terms))
    return Interval.t(value, math.sqrt(max(var, 0.0)), dof, level)


def pigeonhole(rng: np.random.Generator, seeds: Sequence[int], windows: int) -> tuple[list[np.ndarray], np.ndarray]:
    """One pigeonhole resample: seed indices per table (``seeds``: their counts) and one shared
    set of window indices."""
    return [rng.integers(0, S, size=S) for S in seeds], rng.integers(0, windows, size=windows)


def classify(
    iv: Interval, threshold: float = 0.0, above: str = "above", below: str = "below", unresolved: str = "unresolved"
) -> str:
    """The verdict rule: ``below`` when the interval lies wholly under ``threshold``, ``above``
    when wholly over it, else ``unresolved`` (also when the interval is unknown)."""
    if not (math.isfinite(iv.lo) and math.isfinite(iv.hi)):
        return unresolved
    if iv.hi < threshold:
        return below
    if iv.lo > threshold:
        return above
    return unresolved


def welch(a: ArrayLike, b: ArrayLike, level: float = LEVEL) -> Interval:
    """mean(b) - mean(a) of two independent samples (e.g. the seeds of two studies), with the
    Welch-Satterthwaite degrees of freedom."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return Interval(
            float(b.mean() - a.mean()) if a.size and b.size else float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
        )
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else float(a.size + b.size - 2)
    return Interval.t(float(b.mean() - a.mean()), se, dof, level)


def independence(iv: Interval, proportional: float) -> str:
    """The verdict rule for "a quantity does not depend on a setting", on the interval of the
    log ratio of the quantity between two values of the setting whose own log ratio is
    ``proportional``: ``holds`` when the interval contains 0 and lies wholly below
    ``proportional`` (no dependence, and growth in proportion excluded), ``contradicted`` when it
    excludes 0, else ``unresolved``."""
    if not (math.isfinite(iv.lo) and math.isfinite(iv.hi)):
        return "unresolved"
    if iv.lo > 0 or iv.hi < 0:
        return "contradicted"
    if iv.hi < proportional:
        return "holds"
    return "unresolved"


def seeds_needed(iv: Interval, seeds: int, level: float = LEVEL) -> float:
    """Seeds for the interval of an effect of this size to exclude 0, if the standard error
    shrinks as 1/sqrt(seeds) (seed effects and the seed-by-window noise dominate); inf for a
    zero effect."""
    if not (math.isfinite(iv.se) and math.isfinite(iv.value)) or iv.value == 0:
        return float("inf")
    z = float(_st.norm.ppf(0.5 + level / 2))
    return float(max(2, math.ceil(seeds * (z * iv.se / abs(iv.value)) ** 2)))

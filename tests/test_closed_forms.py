"""Monte Carlo estimates against the closed forms of docs/theory.md, section 4.

An equality passes when |estimate - prediction| <= 4 standard errors.
"""

import numpy as np
import pytest

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M

LAGS = np.array([1, 2, 3, 5, 8, 13, 21, 34])


def _check(est, metric, pred):
    mean = est.mean[metric][LAGS - 1]
    se = est.stderr[metric][LAGS - 1]
    z = np.abs(mean - pred) / se
    assert np.all(z <= 4), f"z-scores {np.round(z, 2)}; estimate {mean}; prediction {pred}"


@pytest.mark.parametrize("sampler", ["auto", "full"])  # auto: the reduced-state walk
@pytest.mark.parametrize("d,beta", [(8, 2.0), (5, 0.7), (16, 1.9)])
def test_householder_coherence(d, beta, sampler):
    est = ms.coherence(M.make("householder", d, beta=beta, sampler=sampler), 34, 100_000, seed=1)
    _check(est, "coherence", (1 - beta / d) ** LAGS)


@pytest.mark.parametrize("sampler", ["auto", "full"])
@pytest.mark.parametrize("d,beta,c", [(6, 2.0, 0.5), (6, 1.2, 1.0), (9, 2.0, 0.0)])
def test_householder_second_moment_recurrence(d, beta, c, sampler):
    lam = 1 - 2 * beta / d + 2 * beta**2 / (d * (d + 2))
    g = beta**2 / (d * (d + 2))
    a, b, pred = 1.0, 0.0, []
    for _ in range(LAGS.max()):
        a, b = lam * a, lam * b + g * (a + d * b)
        pred.append(a * c * c + b)
    est = ms.second_moment(M.make("householder", d, beta=beta, sampler=sampler), 34, 100_000, seed=2, c=c)
    _check(est, "second_moment", np.array(pred)[LAGS - 1])


@pytest.mark.parametrize("sigma", [0.2, 0.6])
def test_so2_gaussian_coherence(sigma):
    est = ms.coherence(M.make("so2", 6, law="gaussian", sigma=sigma, center="zero"), 34, 3000, seed=3)
    _check(est, "coherence", np.exp(-LAGS * sigma**2 / 2))


@pytest.mark.parametrize("law,par,char", [("uniform", 1.3, np.sin(1.3) / 1.3), ("wrapped_cauchy", 0.2, np.exp(-0.2))])
def test_so2_other_laws_coherence(law, par, char):
    pname = {"uniform": "a", "wrapped_cauchy": "gamma"}[law]
    mech = M.make("so2", 4, law=law, center="zero", **{pname: par})
    est = ms.coherence(mech, 34, 3000, seed=4)
    _check(est, "coherence", char**LAGS)


def test_rope_coherence_is_exact():
    d, base = 8, 10000.0
    est = ms.coherence(M.make("rope", d, base=base), 300, 5, seed=0)
    theta = base ** (-2.0 * np.arange(d // 2) / d)
    n = np.arange(1, 301)
    exact = (2.0 / d) * np.cos(np.outer(n, theta)).sum(axis=1)
    np.testing.assert_allclose(est.mean["coherence"], exact, rtol=0, atol=1e-12)
    assert np.all(est.stderr["coherence"] < 1e-12)


@pytest.mark.parametrize(
    "name,params",
    [
        ("householder", {"vocab": 6, "beta": 2.0}),
        ("so2", {"vocab": 5, "law": "gaussian", "sigma": 0.9, "tokens": "zipf"}),
    ],
)
def test_table_coherence_is_trace_of_mean_generator_power(name, params):
    mech = M.make(name, 6, **params)
    eg = mech.spec(7).mean_generator
    pred = np.array([np.trace(np.linalg.matrix_power(eg, n)) / 6 for n in LAGS])
    _check(ms.coherence(mech, 34, 4000, seed=7), "coherence", pred)


def test_relative_gaussian_law_coherence():
    """gaussian_rel: block m's angle theta_m (1 + s z), so
    E tr(P_n)/d = mean_m e^{-n (s theta_m)^2 / 2} cos(n theta_m)."""
    import numpy as np

    from mixing.engine import measures as ms
    from mixing.engine import mechanisms as M

    s, d = 0.5, 16
    est = ms.coherence(M.make("so2", d, law="gaussian_rel", rel_sigma=s), 30, 2000, seed=2)
    theta = 10000.0 ** (-2 * np.arange(d // 2) / d)
    n = np.arange(1, 31)
    pred = (np.exp(-np.outer(n, (s * theta) ** 2) / 2) * np.cos(np.outer(n, theta))).mean(1)
    assert np.all(np.abs(est.mean["coherence"] - pred) <= 4 * est.stderr["coherence"] + 1e-12)

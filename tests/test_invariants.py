"""Invariants that hold for every realisation (property-based)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.kernels import reference
from mixing.engine.task import Task

seeds = st.integers(0, 2**31 - 1)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(2, 9), seed=seeds, vocab=st.sampled_from([0, 3]))
def test_householder_product_orthogonal_at_beta_2(d, seed, vocab):
    spec = M.make("householder", d, beta=2.0, vocab=vocab).spec(seed)
    for P in reference.paths(spec, seed, 0, 12):
        np.testing.assert_allclose(P @ P.T, np.eye(d), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(2, 9), seed=seeds, beta=st.floats(0.01, 1.99))
def test_householder_product_non_expansive(d, seed, beta):
    spec = M.make("householder", d, beta=beta).spec(seed)
    norms = [np.linalg.norm(P, 2) for P in reference.paths(spec, seed, 0, 12)]
    assert max(norms) <= 1 + 1e-12
    assert min(norms) > 0


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(["so2", "rope", "householder", "nope", "alibi"]),
    h=st.integers(1, 4),
    seed=seeds,
    B=st.floats(0.1, 30),
    p=st.floats(0, 0.9),
    kappa=st.floats(0, 1),
)
def test_score_minus_bias_bounded_by_B(name, h, seed, B, p, kappa):
    params = {"beta": 1.3} if name == "householder" else {}
    mech = M.make(name, 2 * h, forget=0.1, **params)
    tr = reference.trial_scores(mech.spec(seed), Task(B=B, p=p, kappa=kappa), 40, seed, 0)
    assert np.all(np.abs(tr["scores"] - tr["bias"]) <= B * (1 + 1e-12))


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(["so2", "householder", "alibi"]), seed=seeds, B=st.floats(0.5, 12))
def test_attention_weights_sum_to_one(name, seed, B):
    # window = delta = 1: the near set is the target alone, so a* + A_F is the total weight
    rows = ms.per_trial_retrieval(M.make(name, 6), Task(B=B, delta=1, window=1, p=0.3), [1, 7, 50, 333], seed, 4)
    np.testing.assert_allclose(rows[:, :, 0] + rows[:, :, 1], 1.0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=seeds, m1=st.floats(0, 0.5), dm=st.floats(0.01, 0.5), B=st.floats(1, 10))
def test_far_mass_decreases_as_alibi_slope_grows(seed, m1, dm, B):
    task = Task(B=B, window=8, p=0.2)
    lo = ms.per_trial_retrieval(M.make("alibi", 8, m=m1), task, [20, 200], seed, 8)
    hi = ms.per_trial_retrieval(M.make("alibi", 8, m=m1 + dm), task, [20, 200], seed, 8)
    assert np.all(hi[:, :, 1] <= lo[:, :, 1] * (1 + 1e-12))


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(["so2", "rope", "householder", "nope"]), seed=seeds, B=st.floats(0.5, 6), p=st.floats(0, 0.5)
)
def test_near_weight_below_bound_B5(name, seed, B, p):
    W, lengths = 4, np.array([5, 30, 400, 2000])
    rows = ms.per_trial_retrieval(M.make(name, 6), Task(B=B, window=W, p=p), lengths, seed, 6)
    F = lengths - W
    bound = np.exp(B) / (np.exp(B) + F * np.exp(-B))
    assert np.all(rows[:, :, 0] <= bound * (1 + 1e-12))


@pytest.mark.parametrize(
    "law, pname, values",
    [
        ("vonmises", "concentration", [1e-9, 1e-3, 1.0, 1e5, 1e7, 1e17, 1e300]),
        ("gaussian", "sigma", [0.0, 1e-9, 1e3]),
        ("wrapped_cauchy", "gamma", [1e-9, 1e3]),
        ("uniform", "a", [1e-9, 1e3]),
    ],
)
def test_angle_laws_at_extreme_parameters(law, pname, values):
    """Every law samples at tiny and huge parameters (no hang, no error) with the coherence
    E cos(phi) of its characteristic factor (one step, 4 standard errors)."""
    from mixing.engine import laws

    for par in values:
        mech = M.make("so2", 8, law=law, center="zero", **{pname: par})
        est = ms.coherence(mech, 1, 400, seed=3)
        mean, se = est.mean["coherence"][0], est.stderr["coherence"][0]
        expected = laws.char(laws.LAWS[law].code, par)
        assert math.isfinite(mean) and abs(mean - expected) <= 4 * se + 1e-9, (law, par, mean, expected)

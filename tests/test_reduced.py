"""The exact reduced-state Householder walk, the alias-table token draw and the fixed-order dot."""

import math

import numpy as np
import pytest

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.kernels import contract, cpu, draws
from mixing.engine.task import Task


def test_reduced_applies_only_where_it_is_exact():
    spec = lambda name="householder", d=8, **kw: M.make(name, d, **kw).spec(0)  # noqa: E731
    assert contract.reduced(spec(), "walk") and contract.reduced(spec(), "retrieval")
    assert contract.reduced(spec(rotate_values=1), "walk")
    assert not contract.reduced(spec(rotate_values=1), "retrieval")  # transport needs P_n
    assert not contract.reduced(spec(d=3), "walk")  # d >= 4
    assert not contract.reduced(spec(sampler="full"), "walk")
    assert not contract.reduced(spec(vocab=16), "walk")  # a table is not isotropic
    assert not contract.reduced(spec("so2"), "walk")
    assert "sampler" not in dict(M.make("householder", 8, vocab=4).params)


@pytest.mark.parametrize("d,beta", [(4, 2.0), (32, 0.6), (512, 2.0)])
def test_reduced_walk_against_the_closed_form_at_every_lag(d, beta):
    n = 40
    est = ms.coherence(M.make("householder", d, beta=beta), n, 20_000, seed=3)
    pred = (1 - beta / d) ** np.arange(1, n + 1)
    z = np.abs(est.mean["coherence"] - pred) / np.maximum(est.stderr["coherence"], 1e-300)
    assert z.max() <= 4.5, (z.max(), d, beta)


def _two_sample(a, b):
    """Largest |mean_a - mean_b| / combined s.e. over the metrics and lengths of per-trial rows."""
    se = np.sqrt(a.var(axis=0, ddof=1) / a.shape[0] + b.var(axis=0, ddof=1) / b.shape[0])
    return float(np.max(np.abs(a.mean(axis=0) - b.mean(axis=0)) / np.maximum(se, 1e-300)))


@pytest.mark.parametrize(
    "d,beta,task",
    [(6, 2.0, Task(B=4.0, p=0.1, window=8)), (64, 1.0, Task(B=8.0, delta=3, p=0.05, kappa=0.7, window=16))],
)
def test_reduced_retrieval_agrees_with_the_full_walk_in_law(d, beta, task):
    lengths = [8, 40, 300]
    a = ms.per_trial_retrieval(M.make("householder", d, beta=beta), task, lengths, 11, 1500)
    b = ms.per_trial_retrieval(M.make("householder", d, beta=beta, sampler="full"), task, lengths, 12, 1500)
    assert _two_sample(a, b) <= 4.5


def test_reduced_walk_second_moment_agrees_with_the_full_walk():
    a = ms.per_trial_walk(M.make("householder", 16, beta=1.5), 30, 5, 4000, c=0.4)
    b = ms.per_trial_walk(M.make("householder", 16, beta=1.5, sampler="full"), 30, 6, 4000, c=0.4)
    assert _two_sample(a, b) <= 4.5


def test_sphere_head_is_the_head_of_a_uniform_unit_vector():
    """The coordinates are those of a uniform unit vector: E w_i^2 = 1/d, E w_i^4 = 3/(d(d+2)), and
    the rest has the complementary norm."""
    from mixing.engine import rng

    d, k, n = 7, 3, 40_000
    dd, c = rng.gamma_consts(0.5 * (d - k))
    w = np.empty(k)
    heads = np.empty((n, k))
    rest = np.empty(n)
    for i in range(n):
        rest[i] = draws.sphere_head(np.uint64(rng.pos_key(np.uint64(9), i, 0)), d, k, w, dd, c)
        heads[i] = w
    np.testing.assert_allclose((heads**2).sum(axis=1) + rest, 1.0, rtol=1e-12)
    for m, pred in (((heads**2).mean(), 1 / d), ((heads**4).mean(), 3 / (d * (d + 2)))):
        se = (heads**2).std() / math.sqrt(heads.size) if pred == 1 / d else (heads**4).std() / math.sqrt(heads.size)
        assert abs(m - pred) <= 4.5 * se


@pytest.mark.parametrize("law", ["uniform", "zipf", "spiky"])
def test_alias_table_is_the_token_law(law):
    V = 37
    pi = {"uniform": np.ones(V), "zipf": 1 / np.arange(1, V + 1), "spiky": np.r_[100.0, np.full(V - 1, 0.01)]}[law]
    pi = pi / pi.sum()
    table = M.alias_table(pi)
    implied = table[:, 0].copy()
    np.add.at(implied, table[:, 1].astype(int), 1 - table[:, 0])
    np.testing.assert_allclose(implied / V, pi, rtol=1e-12, atol=1e-15)
    from mixing.engine import rng

    n = 200_000
    toks = np.array([draws.alias_token(np.uint64(rng.pos_key(np.uint64(3), i, 0)), table) for i in range(n)])
    counts = np.bincount(toks, minlength=V)
    chi2 = float(((counts - n * pi) ** 2 / (n * pi)).sum())
    assert chi2 < V + 6 * math.sqrt(2 * V), chi2  # V - 1 degrees of freedom


@pytest.mark.parametrize("n", [1, 3, 4, 7, 64, 65])
def test_fixed_order_dot(n):
    x, y = np.random.default_rng(n).normal(size=(2, n))
    assert abs(cpu.dot(x, y) - float(x @ y)) <= 1e-13 * (1 + np.abs(x * y).sum())

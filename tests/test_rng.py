"""The counter-based RNG: compiled and plain twins agree bit for bit; the laws are right."""

import math

import numpy as np
import pytest
from scipy import stats

from mixing.engine import laws, rng
from mixing.engine._jit import njit


@njit
def _normals(key, n):
    out = np.empty(n)
    for j in range(n):
        out[j] = rng.normal(key, j)
    return out


@njit
def _many(kind, seed, n, par):
    out = np.empty(n)
    tk = rng.trial_key(seed, 0)
    for j in range(n):
        key = rng.pos_key(tk, j, 1)
        if kind == 0:
            out[j] = rng.gamma(key, par)
        elif kind == 1:
            out[j] = rng.sphere_coord(key, int(par))
        else:
            out[j] = laws.vonmises(key, par)
    return out


def test_twins_bit_identical():
    key = np.uint64(rng.pos_key(np.uint64(rng.trial_key(3, 5)), 7, 0))
    a = _normals(key, 5000)
    assert np.array_equal(a, rng.normals_np(key, 5000))
    assert np.array_equal(a[:300], [rng.plain.normal(key, j) for j in range(300)])
    tk = np.uint64(rng.trial_key(11, 2))
    for j in range(50):
        k = np.uint64(rng.pos_key(tk, j, 1))
        assert rng.gamma(k, 2.5) == rng.plain.gamma(k, 2.5)
        assert rng.sphere_coord(k, 9) == rng.plain.sphere_coord(k, 9)
        assert laws.vonmises(k, 3.0) == laws.plain.vonmises(k, 3.0)


def test_keys_differ_by_trial_position_stream():
    u = np.uint64
    tk = u(rng.trial_key(0, 0))
    keys = {rng.pos_key(tk, pos, s) for pos in range(200) for s in range(8)}
    keys |= {rng.pos_key(u(rng.trial_key(0, 1)), pos, 0) for pos in range(200)}
    keys |= {rng.pos_key(u(rng.trial_key(1, 0)), pos, 0) for pos in range(200)}
    assert len(keys) == 200 * 8 + 400


def test_normal_law():
    x = _normals(np.uint64(rng.pos_key(np.uint64(rng.trial_key(1, 0)), 0, 0)), 200_000)
    assert stats.kstest(x, "norm").pvalue > 1e-4
    # the tail (beyond the ziggurat's r = 3.654) has the right mass
    tail = np.mean(np.abs(x) > rng.ZIG_R)
    p = 2 * stats.norm.sf(rng.ZIG_R)
    assert abs(tail - p) < 5 * math.sqrt(p / x.size)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.5, 31.5])
def test_gamma_law(alpha):
    x = _many(0, 2, 50_000, alpha)
    assert stats.kstest(x, stats.gamma(alpha).cdf).pvalue > 1e-4


@pytest.mark.parametrize("d", [2, 3, 8, 64])
def test_sphere_coordinate_law(d):
    x = _many(1, 3, 50_000, d)
    # x^2 ~ Beta(1/2, (d-1)/2), symmetric sign
    assert stats.kstest(x * x, stats.beta(0.5, (d - 1) / 2).cdf).pvalue > 1e-4
    assert abs(np.mean(x > 0) - 0.5) < 5 * 0.5 / math.sqrt(x.size)


@pytest.mark.parametrize("kappa", [0.3, 4.0, 50.0])
def test_vonmises_law(kappa):
    x = _many(2, 4, 50_000, kappa)
    assert stats.kstest(x, stats.vonmises(kappa).cdf).pvalue > 1e-4

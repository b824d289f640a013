"""Intervals and the verdict rule (mixing.engine.stats): coverage at the nominal rate on synthetic
(seed x window) tables whose true mean is known, and the rule on intervals built by hand."""

import math

import numpy as np
import pytest

from mixing.engine.stats import Interval, classify, crossed, pigeonhole, seeds_needed, t_interval


def _tables(rng, S, W, seed_sd, window_sd, noise_sd, mean=0.1):
    shared = rng.normal(0, window_sd, W)  # window effects, shared by both tables
    a = mean + rng.normal(0, seed_sd, (S, 1)) + shared + rng.normal(0, noise_sd, (S, W))
    b = (
        rng.normal(0, seed_sd, (S, 1))
        + 0.7 * shared
        + rng.normal(0, 0.5 * window_sd, W)
        + rng.normal(0, noise_sd, (S, W))
    )
    return a, b


@pytest.mark.parametrize("sds", [(0.05, 0.2, 0.05), (0.0, 0.2, 0.05), (0.1, 0.0, 0.02), (0.02, 0.3, 0.1)])
def test_crossed_interval_covers_a_known_mean_at_its_nominal_rate(sds):
    rng = np.random.default_rng(7)
    reps, hit_one, hit_diff = 1000, 0, 0
    for _ in range(reps):
        a, b = _tables(rng, 5, 64, *sds)
        one, diff = crossed([a]), crossed([a, b], [1, -1])
        hit_one += one.lo < 0.1 < one.hi
        hit_diff += diff.lo < 0.1 < diff.hi
    # 95% nominal; binomial s.d. over 1000 repetitions is 0.007: 3.5 s.d. either side
    for rate in (hit_one / reps, hit_diff / reps):
        assert 0.925 < rate < 0.975, rate


def test_crossed_counts_the_window_variance_that_seeds_alone_miss():
    """Seeds scored on the same windows: a t interval over seed means ignores the window
    effects and undercovers; the crossed one does not."""
    rng = np.random.default_rng(3)
    naive = full = 0
    for _ in range(600):
        a, _ = _tables(rng, 5, 16, 0.01, 0.3, 0.02)
        m = t_interval(a.mean(1))
        naive += m.lo < 0.1 < m.hi
        iv = crossed([a])
        full += iv.lo < 0.1 < iv.hi
    assert naive / 600 < 0.6 and full / 600 > 0.92


def test_one_seed_gives_no_interval():
    iv = crossed([np.ones((1, 8))])
    assert iv.value == 1.0 and math.isnan(iv.lo) and classify(iv, 0.5) == "unresolved"


def test_classify_is_the_one_rule():
    assert classify(Interval(0.0, 0.1, 10, -0.2, 0.04), 0.05) == "below"
    assert classify(Interval(0.2, 0.1, 10, 0.06, 0.3), 0.05) == "above"
    assert classify(Interval(0.05, 0.1, 10, 0.0, 0.1), 0.05) == "unresolved"
    assert classify(Interval(1.0, 0.1, 10, 0.5, 1.5), 0.0, above="reproduced") == "reproduced"


def test_seeds_needed_scales_with_the_square_of_the_ratio():
    iv = Interval(0.01, 0.01, 20, -0.01, 0.03)
    assert seeds_needed(iv, 5) == math.ceil(5 * (1.959963984540054 * 0.01 / 0.01) ** 2)
    assert seeds_needed(Interval(0.0, 0.01, 20, -0.02, 0.02), 5) == math.inf


def test_pigeonhole_shares_the_windows():
    rng = np.random.default_rng(0)
    (s1, s2), w = pigeonhole(rng, [3, 7], 11)
    assert s1.shape == (3,) and s2.shape == (7,) and w.shape == (11,)
    assert s1.max() < 3 and s2.max() < 7 and w.max() < 11


def test_welch_matches_scipy():
    from scipy import stats as st

    from mixing.engine.stats import welch

    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 5), rng.normal(1, 3, 4)
    iv = welch(a, b)
    ref = st.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert iv.value == pytest.approx(b.mean() - a.mean())
    assert (iv.lo, iv.hi) == pytest.approx((ci.low, ci.high))
    assert iv.dof == pytest.approx(ref.df)


@pytest.mark.parametrize(
    "lo,hi,verdict",
    [
        (-0.1, 0.2, "holds"),
        (-0.1, 0.8, "unresolved"),
        (0.1, 0.3, "contradicted"),
        (-0.5, -0.2, "contradicted"),
        (float("nan"), 1, "unresolved"),
    ],
)
def test_independence_rule(lo, hi, verdict):
    from mixing.engine.stats import Interval, independence

    assert independence(Interval(0.0, 0.1, 4, lo, hi), proportional=0.69) == verdict


def test_an_interval_cut_to_its_range_keeps_its_estimate_and_coverage():
    from mixing.engine.stats import Interval

    iv = Interval.t(0.97, 0.05, 2.0)
    assert iv.hi > 1
    cut = iv.within(0.0, 1.0)
    assert (cut.value, cut.se, cut.dof, cut.lo, cut.hi) == (iv.value, iv.se, iv.dof, iv.lo, 1.0)
    # every value in [0, 1] the interval covered, the cut one covers
    for v in np.linspace(0, 1, 101):
        assert (iv.lo <= v <= iv.hi) == (cut.lo <= v <= cut.hi)


def test_a_table_without_variation_gets_its_point_as_the_interval():
    """Every seed and window at 1.0 (a model that always copies): the Satterthwaite degrees of
    freedom are infinite and the interval is the point, so the rule reads it (not as unresolved)."""
    from mixing.engine.stats import classify, crossed, t_quantile

    iv = crossed([np.ones((3, 64))])
    assert (iv.lo, iv.value, iv.hi) == (1.0, 1.0, 1.0)
    assert classify(iv, 1 / 26) == "above"
    assert t_quantile(float("inf")) == pytest.approx(1.959964, abs=1e-6)
    assert math.isnan(t_quantile(float("nan"))) and math.isnan(t_quantile(0))

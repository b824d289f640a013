"""The forecast from short lengths (mixing.forecast, mixing.lm.forecast): in the engine, where
stationarity past the window holds for i.i.d. products and fails for ALiBi and RoPE, and on
profiles whose forecast is known in closed form."""

import math

import numpy as np
import pytest

from mixing import forecast as fo
from mixing import mechanisms as M
from mixing.task import Task

TASK = Task(B=4.0, window=16)


@pytest.mark.parametrize("name,kw", [("so2", dict(law="gaussian", sigma=1.0)), ("householder", dict(beta=2.0))])
def test_iid_products_are_forecast_from_short_lengths(name, kw):
    """Odds at 8x and 32x of T = 32, forecast from each trial's odds at T and 2T, match the
    engine's within the paired 95% interval (the i.i.d. products mix within a few lags)."""
    r = fo.engine(M.make(name, 16, **kw), TASK, 32, [256, 1024], 1500, seed=1)
    for e, m in zip(r["error"], r["measured_odds"]):
        assert e.lo <= 0 <= e.hi, (name, e.text())
        assert e.hi - e.lo < 0.1 * m                       # and the interval is informative
    assert np.all(r["measured_far"][1:] > r["measured_far"][:-1])   # far mass still grows: a real test


@pytest.mark.parametrize("name,kw", [("alibi", dict(m=0.05)), ("rope", {})])
def test_the_stationary_forecast_fails_where_stationarity_does(name, kw):
    """ALiBi's far terms shrink with the lag and RoPE never mixes: the forecast over-predicts."""
    r = fo.engine(M.make(name, 16, **kw), TASK, 32, [1024], 1500, seed=1)
    assert r["error"][0].lo > 0, r["error"][0].text()


def test_engine_forecast_refuses_lengths_inside_the_short_range():
    from mixing.errors import ParameterError

    with pytest.raises(ParameterError, match="lengths"):
        fo.engine(M.make("so2", 8), TASK, 32, [64], 10)
    with pytest.raises(ParameterError, match="T"):
        fo.engine(M.make("so2", 8), TASK, 16, [256], 10)


def test_stationary_odds_is_linear_in_the_length():
    o = fo.stationary_odds([1.0, 2.0], [3.0, 2.0], 10, [20, 40], 20)
    assert np.allclose(o, [[3.0, 7.0], [2.0, 2.0]])


torch = pytest.importorskip("torch")
from mixing.lm import forecast as lf  # noqa: E402


def test_profile_forecast_has_the_closed_form_of_a_constant_tail():
    """A profile c beyond W: the odds at query i are c (i - W), the far mass their odds form."""
    T, W, c = 16, 8, 0.05
    prof = np.full(2 * T, c)
    rho = lf.extend(prof, T, 32 * T, biased=False)
    assert np.allclose(rho, c)
    far = lf.far_by_multiple(rho, W, T, [2, 4, 32])
    for k in (1, 2, 4, 32):
        i = np.arange(k * T // 2, k * T)
        o = c * np.maximum(i - W, 0)
        assert far[k] == pytest.approx(np.mean(o / (1 + o)))


def test_biased_profile_is_extended_log_linearly():
    T = 16
    n = np.arange(2 * T)
    prof = np.exp(-1.0 - 0.1 * n)
    rho = lf.extend(prof, T, 8 * T, biased=True)
    assert np.allclose(rho, np.exp(-1.0 - 0.1 * np.arange(8 * T)))
    flat = lf.extend(prof, T, 8 * T, biased=False)        # the stationary tail: the mean over [T, 2T)
    assert np.allclose(flat[2 * T:], prof[T:].mean())


def test_predicted_stop_uses_the_studys_rule():
    ks = [2, 4, 8]
    pred = np.array([[0.01, 0.04, 0.2], [0.02, 0.06, 0.3], [0.015, 0.05, 0.25]])
    assert lf.predicted_stop(pred, ks, 0.05) == 8
    assert math.isinf(lf.predicted_stop(pred * 0.1, ks, 0.05))
    far = np.array([[0.1, 0.2, 0.3, 0.5]] * 3)             # k = 1, 2, 4, 8
    out = lf.predicted_excess(np.array([0.1, 0.1, 0.1]), far, ks)
    assert np.allclose(out[0], [0.1, 0.2, 0.4])            # alpha = 0.1 / (0.2 - 0.1)


def test_profile_of_a_model_sums_to_its_far_odds():
    """Counting only the last query (first = T - 1), the lag profile summed past W is that
    query's far odds, far mass / (1 - far mass), exactly."""
    from mixing.lm.model import LM, Config, parse_mechanism

    for mech in ("so2-learned", "path-forget", "alibi"):
        m = LM(Config(**parse_mechanism(mech), layers=1, width=16, heads=2, seed=0)).double().eval()
        w = np.random.default_rng(0).integers(0, 256, size=(1, 65))
        W = 8
        prof = lf.profiles(m, w, W, 63)                     # [1, H, 64]
        att = m.attentions()[0]
        att.probe = {"window": W}
        with torch.no_grad():
            m(torch.from_numpy(w[:, :-1]))
        far = att.probe_out["far_mass"].numpy()[:, 63]
        att.probe, att.probe_out = None, None
        assert np.allclose(prof[0, :, W + 1:].sum(-1), far / (1 - far), rtol=1e-6), mech
        assert np.allclose(prof[0, :, :W + 1].sum(-1), 1.0)  # the near set's odds against itself

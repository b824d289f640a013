"""The forecast from short lengths (mixing.engine.forecast, mixing.lm.forecast): in the engine, where
stationarity past the window holds for i.i.d. products and fails for ALiBi and RoPE, and on
profiles whose forecast is known in closed form."""

import math

import numpy as np
import pytest

from mixing.engine import forecast as fo
from mixing.engine import mechanisms as M
from mixing.engine.task import Task

TASK = Task(B=4.0, window=16)


@pytest.mark.parametrize("name,kw", [("so2", dict(law="gaussian", sigma=1.0)), ("householder", dict(beta=2.0))])
def test_iid_products_are_forecast_from_short_lengths(name, kw):
    """Odds at 8x and 32x of T = 32, forecast from each trial's odds at T and 2T, match the
    engine's within the paired 95% interval (the i.i.d. products mix within a few lags)."""
    r = fo.engine(M.make(name, 16, **kw), TASK, 32, [256, 1024], 1500, seed=1)
    for e, m in zip(r["error"], r["measured_odds"]):
        assert e.lo <= 0 <= e.hi, (name, e.text())
        assert e.hi - e.lo < 0.1 * m  # and the interval is informative
    assert np.all(r["measured_far"][1:] > r["measured_far"][:-1])  # far mass still grows: a real test


@pytest.mark.parametrize("name,kw", [("alibi", dict(m=0.05)), ("rope", {})])
def test_the_stationary_forecast_fails_where_stationarity_does(name, kw):
    """ALiBi's far terms shrink with the lag and RoPE never mixes: the forecast over-predicts."""
    r = fo.engine(M.make(name, 16, **kw), TASK, 32, [1024], 1500, seed=1)
    assert r["error"][0].lo > 0, r["error"][0].text()


def test_engine_forecast_refuses_lengths_inside_the_short_range():
    from mixing.engine.errors import ParameterError

    with pytest.raises(ParameterError, match="lengths"):
        fo.engine(M.make("so2", 8), TASK, 32, [64], 10)
    with pytest.raises(ParameterError, match="T"):
        fo.engine(M.make("so2", 8), TASK, 16, [256], 10)


def _sequence(tmp_path, angles, name="seq.npz", **meta):
    from mixing.engine import generators as gen

    path = tmp_path / name
    gen.save(str(path), "sequence", "so2", {"angles": np.asarray(angles, dtype=np.float64)}, **meta)
    return path


def test_forecast_from_a_sequence_file_holds_where_it_mixes_and_fails_where_it_does_not(tmp_path):
    """One generator per lag, as python -m mixing.lm export writes: i.i.d. Gaussian angles
    (sigma = 1) mix within a few lags, so the stationary tail holds at 4x-16x of T = 32;
    constant RoPE frequencies never mix, and it over-predicts (as for the i.i.d. RoPE test)."""
    rng = np.random.default_rng(3)
    iid = _sequence(tmp_path, rng.normal(0, 1.0, (512, 8)), "iid.npz", train_length=32, layer=1, head=0)
    r = fo.from_file(iid, ks=(4, 8, 16), trials=1500, seed=2)
    assert r["context"] == 32 and r["window"] == 16 and r["d"] == 16 and r["source"] == {"layer": 1, "head": 0}
    assert r["verdicts"] == ["holds"] * 3, [e.text() for e in r["relative_error"]]
    assert np.all(np.diff(r["measured_far"]) > 0)
    freqs = 10000.0 ** (-np.arange(8) / 8)
    rope = _sequence(tmp_path, np.broadcast_to(freqs, (512, 8)), "rope.npz", train_length=32)
    r = fo.from_file(rope, ks=(16,), trials=1500, seed=2)
    assert r["verdicts"] == ["over-predicts"], r["relative_error"][0].text()


def test_forecast_from_a_file_refuses_what_it_cannot_forecast(tmp_path):
    from mixing.engine import generators as gen
    from mixing.engine.errors import ParameterError

    short = _sequence(tmp_path, np.zeros((256, 4)), "short.npz", train_length=32)
    with pytest.raises(ParameterError, match="--length 1024"):  # 32x of 32 needs 1024 rows; no cycling
        fo.from_file(short, ks=(32,), trials=4)
    with pytest.raises(ParameterError, match="train_length"):
        fo.from_file(_sequence(tmp_path, np.zeros((256, 4)), "nometa.npz"), trials=4)
    assert fo.from_file(_sequence(tmp_path, np.zeros((256, 4)), "ctx.npz"), 16, ks=(8,), trials=4)["context"] == 16
    with pytest.raises(ParameterError, match="above 2"):
        fo.from_file(short, ks=(2,), trials=4)
    table = tmp_path / "table.npz"
    gen.save(str(table), "table", "so2", {"angles": np.zeros((64, 4))}, train_length=8)
    with pytest.raises(ParameterError, match="kind sequence"):
        fo.from_file(table, trials=4)


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
    flat = lf.extend(prof, T, 8 * T, biased=False)  # the stationary tail: the mean over [T, 2T)
    assert np.allclose(flat[2 * T :], prof[T:].mean())


def test_predicted_stop_uses_the_studys_rule():
    ks = [2, 4, 8]
    pred = np.array([[0.01, 0.04, 0.2], [0.02, 0.06, 0.3], [0.015, 0.05, 0.25]])
    assert lf.predicted_stop(pred, ks, 0.05) == 8
    assert math.isinf(lf.predicted_stop(pred * 0.1, ks, 0.05))
    far = np.array([[0.1, 0.2, 0.3, 0.5]] * 3)  # k = 1, 2, 4, 8
    out = lf.predicted_excess(np.array([0.1, 0.1, 0.1]), far, ks)
    assert np.allclose(out[0], [0.1, 0.2, 0.4])  # alpha = 0.1 / (0.2 - 0.1)


def test_profile_of_a_model_sums_to_its_far_odds():
    """Counting only the last query (first = T - 1), the lag profile summed past W is that
    query's far odds, far mass / (1 - far mass), exactly."""
    from mixing.lm.model import LM, Config, parse_mechanism

    for mech in ("so2-learned", "path-forget", "alibi"):
        m = LM(Config(**parse_mechanism(mech), layers=1, width=16, heads=2, seed=0)).double().eval()
        w = np.random.default_rng(0).integers(0, 256, size=(1, 65))
        W = 8
        prof = lf.profiles(m, w, W, 63)  # [1, H, 64]
        att = m.attentions()[0]
        att.probe = {"window": W}
        with torch.no_grad():
            m(torch.from_numpy(w[:, :-1]))
        far = att.probe_out["far_mass"].numpy()[:, 63]
        att.probe, att.probe_out = None, None
        assert np.allclose(prof[0, :, W + 1 :].sum(-1), far / (1 - far), rtol=1e-6), mech
        assert np.allclose(prof[0, :, : W + 1].sum(-1), 1.0)  # the near set's odds against itself


def test_forecast_command_on_exported_generators_beside_the_model(tmp_path):
    """export, then forecast --generators --checkpoint: the engine check and the model's own
    forecast for the same head, in the JSON it writes."""
    import json

    from mixing.lm.__main__ import main

    ck = tmp_path / "m"
    assert (
        main(
            [
                "train",
                "--mechanism",
                "so2-learned",
                "--layers",
                "1",
                "--width",
                "16",
                "--heads",
                "2",
                "--context",
                "16",
                "--steps",
                "3",
                "--batch",
                "2",
                "--out",
                str(ck),
            ]
        )
        == 0
    )
    npz = tmp_path / "head.npz"
    assert main(["export", "--checkpoint", str(ck), "--head", "1", "--length", "256", "--out", str(npz)]) == 0
    out = tmp_path / "fc"
    assert (
        main(
            [
                "forecast",
                "--generators",
                str(npz),
                "--checkpoint",
                str(ck),
                "--multiples",
                "4,16",
                "--trials",
                "64",
                "--windows",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    got = json.loads((out / "forecast.json").read_text())
    assert got["context"] == 16 and got["ks"] == [4, 16] and got["source"]["head"] == 1
    assert len(got["engine_relative_error"]) == 2 and len(got["model_forecast_far"]) == 2
    assert all(0 <= v <= 1 for v in got["model_forecast_far"] + got["engine_measured_far"])

"""The passkey retrieval task (mixing.lm.passkey): the pair is planted where it says, the test
windows put the key where asked, and the accuracy reads the right positions (an oracle that
copies scores 1, one that guesses scores chance); a quick study reports it."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mixing.lm import passkey as pk  # noqa: E402


def _pairs(row):
    marks = np.flatnonzero(row == pk.MARK)
    assert marks.size == 2
    a, b = marks
    return a, b, row[a + 1 : a + 1 + pk.VALUE], row[b + 1 : b + 1 + pk.VALUE]


def test_plant_writes_one_pair_inside_the_context_and_masks_the_copied_letters():
    rng = np.random.default_rng(0)
    batch = rng.integers(32, 127, size=(400, 65))
    out, mask = pk.plant(batch, 0.5, seed=3, step=7)
    again, mask2 = pk.plant(batch, 0.5, seed=3, step=7)
    assert np.array_equal(out, again) and np.array_equal(mask, mask2)  # resumable
    assert not np.array_equal(out, pk.plant(batch, 0.5, seed=3, step=8)[0])
    planted = [i for i in range(len(out)) if np.any(out[i] == pk.MARK)]
    assert 150 < len(planted) < 250  # about half
    for i in planted:
        a, b, v1, v2 = _pairs(out[i])
        assert np.array_equal(v1, v2) and np.all((v1 >= 97) & (v1 <= 122))
        assert pk.VALUE + 2 <= b - a <= 64 - pk.VALUE - 2 and b + pk.VALUE < 65
        assert np.array_equal(np.flatnonzero(mask[i]), np.arange(b, b + pk.VALUE))  # predicts b+1 .. b+V
    for i in set(range(len(out))) - set(planted):
        assert np.array_equal(out[i], batch[i]) and not mask[i].any()
    same, none = pk.plant(batch, 0.0, 0, 0)
    assert np.array_equal(same, batch) and not none.any()


def test_query_windows_put_the_key_k_contexts_back():
    w = np.random.default_rng(1).integers(32, 127, size=(3, 1025))
    for k in (0.5, 2, 8):
        out, q = pk.query_windows(w, 64, k)
        assert out.shape[1] == q + pk.VALUE + 1
        for row in out:
            a, b, v1, v2 = _pairs(row)
            assert b == q and b - a == int(k * 64) and np.array_equal(v1, v2)
        assert np.array_equal(out, pk.query_windows(w, 64, k)[0])  # the same bytes for every model
    from mixing.engine.errors import ParameterError

    with pytest.raises(ParameterError, match="needs windows"):
        pk.query_windows(w, 64, 16)


class _Copier(torch.nn.Module):
    """Predicts, after the last marker, the bytes after the first one (a perfect copy)."""

    def forward(self, tokens):
        B, n = tokens.shape
        logits = torch.zeros(B, n, 256)
        for i in range(B):
            marks = (tokens[i] == pk.MARK).nonzero().flatten().tolist()
            if len(marks) >= 2:
                a, b = marks[0], marks[-1]
                for p in range(b, min(n, b + pk.VALUE)):
                    logits[i, p, tokens[i, a + 1 + p - b]] = 50.0
        return logits


class _Guesser(torch.nn.Module):
    def forward(self, tokens):
        logits = torch.zeros(*tokens.shape, 256)
        logits[..., 97] = 1.0
        return logits


def test_accuracy_reads_the_value_positions():
    w = np.random.default_rng(2).integers(32, 127, size=(40, 1025))
    got = pk.accuracy(_Copier(), w, 32, (0.5, 4))
    assert np.all(got["acc"] == 1.0) and np.all(got["bits"] < 1e-6)
    guess = pk.accuracy(_Guesser(), w, 32, (0.5, 4))
    assert abs(guess["acc"].mean() - pk.CHANCE) < 0.03  # 'a' right about 1 time in 26
    z = 255 + np.e  # one logit of 1, 255 of 0
    hit = guess["acc"]
    assert np.allclose(guess["bits"], (1 - hit) * np.log2(z) + hit * np.log2(z / np.e))


def test_a_quick_study_with_passkeys_reports_retrieval(tmp_path):
    from mixing.lm.__main__ import main
    from mixing.lm.report import verdict_table

    out = tmp_path / "q"
    assert main(["run", "--quick", "--mechanisms", "rope,alibi", "--passkey", "0.5", "--out", str(out)]) == 0
    assert (out / "models" / "rope" / "seed0" / "passkey.npz").exists()
    text = verdict_table(out)
    assert "Passkey retrieval" in text and "key 0.5 T back" in text and "key 8 T back" in text
    assert "Routes to the key" in text and "mass on the letter to copy, 0.125 T" in text
    assert (out / "models" / "rope" / "seed0" / "routes.npz").exists()


def test_plant_keeps_pairs_within_the_largest_distance_asked():
    batch = np.random.default_rng(4).integers(32, 127, size=(300, 65))
    out, _ = pk.plant(batch, 1.0, seed=1, step=2, max_distance=12)
    dist = [b - a for a, b, *_ in map(_pairs, out)]
    assert min(dist) >= pk.VALUE + 2 and max(dist) == 12  # 300 draws from 8..12 reach the top
    from mixing.engine.errors import ParameterError
    from mixing.lm.train import TrainConfig

    assert "passkey_max" not in TrainConfig(context=64, passkey=0.5).to_dict()  # older runs compare equal
    assert TrainConfig(context=64, passkey=0.5, passkey_max=16).validate().to_dict()["passkey_max"] == 16
    for bad in (4, 57):
        with pytest.raises(ParameterError, match="--passkey-max"):
            TrainConfig(context=64, passkey=0.5, passkey_max=bad).validate()


class _Rows:
    """An attention layer's recorded rows, as ``Attention`` leaves them under a rows probe."""

    def __init__(self, rows, bias=None, mechanism="path-forget"):
        self.probe_out = {"rows": rows, "bias_rows": bias}
        self.cfg = type("C", (), {"mechanism": mechanism})()


def test_route_stats_read_the_span_the_letter_to_copy_and_the_gate():
    n, key, prefix = 20, 5, 40
    copy = torch.zeros(1, 2, pk.VALUE, prefix, dtype=torch.float64)
    for j in range(pk.VALUE):
        copy[0, 0, j, key + 1 + j] = 1.0  # head 0: an induction head, on the letter to copy
        copy[0, 1, j, key + j] = 1.0  # head 1: on the span, one byte early
    bias = torch.zeros(1, 2, pk.VALUE, prefix)
    bias[0, :, 0, key] = torch.tensor([-3.0, -7.0])
    got = pk._route_stats(_Rows(copy, bias), key)
    assert np.allclose(got["span"], [[1.0, 1.0]]) and np.allclose(got["target"], [[1.0, 0.0]])
    assert np.allclose(got["gate"], [[-3.0, -7.0]])
    assert np.isnan(pk._route_stats(_Rows(copy, bias, "alibi"), key)["gate"]).all()  # a slope, not a gate
    assert np.isnan(pk._route_stats(_Rows(copy, None, "rope"), key)["gate"]).all()
    assert n > key  # the key lies inside the prefix


def test_routes_of_a_trained_model_are_masses_and_gates_where_a_gate_is():
    from mixing.lm.model import LM, Config

    w = np.random.default_rng(5).integers(32, 127, size=(6, 200))
    for mech, gated in (("path-forget", True), ("so2-random", False)):
        model = LM(Config(mechanism=mech, layers=2, width=32, heads=2, scale="abs=0.3" if not gated else "", seed=0))
        r = pk.routes(model, w, 32, (0.25, 2))
        assert r["span"].shape == (2, 6, 2, 2)
        assert np.all((r["target"] >= 0) & (r["target"] <= r["span"] + 1e-12) & (r["span"] <= 1 + 1e-12))
        assert np.isfinite(r["gate"]).all() == gated and (not gated or np.all(r["gate"] <= 0))
        assert all(a.probe is None for a in model.attentions())  # the probes are taken off

"""The same-window degradation measure, the stopping length and the study files
(mixing.lm.evaluate, mixing.lm.report, mixing.lm.run): cases whose answer is known."""

import math
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mixing.lm import data  # noqa: E402
from mixing.lm import evaluate as ev
from mixing.lm.model import LM, Config, parse_mechanism  # noqa: E402
from mixing.lm.report import TAU, Bits, stop_length  # noqa: E402
from mixing.lm.run import save_weights  # noqa: E402
from mixing.lm.train import TrainConfig, load_model, read_checkpoint, train  # noqa: E402


def model(mechanism, layers=2, width=16, heads=2, seed=0):
    m = LM(Config(**parse_mechanism(mechanism), layers=layers, width=width, heads=heads, seed=seed)).double()
    g = torch.Generator().manual_seed(seed + 11)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m.eval()


def windows(n, length, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, length + 1))


@pytest.mark.parametrize("mechanism", ["rope", "so2-learned", "path-forget", "alibi"])
def test_sliding_equals_full_within_the_training_context(mechanism):
    m, T = model(mechanism), 16
    w = windows(3, 5 * T + 3)
    full, slide = ev.position_bits(m, w), ev.sliding_bits(m, w, T, stride=4)
    assert np.allclose(full[:, :T], slide[:, :T], atol=1e-12, rtol=0)
    assert np.all(np.isfinite(slide)) and np.abs(full[:, T:] - slide[:, T:]).max() > 1e-6  # and differ beyond it


def test_sliding_equals_full_where_context_cannot_matter():
    """ALiBi with huge slopes attends to the query alone: the loss at every position is
    independent of the context, so the excess is 0 everywhere."""
    m = model("alibi", layers=2)
    for att in m.attentions():
        att.slopes.fill_(200.0)
    w = windows(2, 90)
    full, slide = ev.position_bits(m, w), ev.sliding_bits(m, w, 16)
    assert np.abs(full - slide).max() < 1e-10


def test_fused_evaluation_equals_the_model():
    m = model("so2-learned-forget:gate=fla")
    w = windows(2, 40)
    from mixing.lm.train import loss_bits

    with torch.no_grad():
        plain = loss_bits(m, torch.from_numpy(w)).numpy()
    assert np.allclose(ev.position_bits(m, w), plain, atol=1e-10, rtol=0)


@pytest.mark.parametrize("length,context,stride", [(100, 16, 4), (64, 16, 16), (17, 16, 3), (10, 16, 4)])
def test_sliding_windows_score_every_position_once_with_enough_context(length, context, stride):
    seen = np.zeros(length, dtype=int)
    for a, first, end in ev.sliding_starts(length, min(context, length), stride):
        assert end - a <= context and first >= a
        seen[first:end] += 1
        for i in range(max(first, context), end):
            assert context - stride + 1 <= i - a + 1 <= context  # visible context of a scored byte
    assert np.all(seen == 1)


def test_file_windows_come_from_distinct_files(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    rng = np.random.default_rng(0)
    for k in range(400):
        (root / f"f{k:03d}.txt").write_bytes(bytes(rng.integers(97, 123, size=int(rng.integers(50, 400)))))
    c = data.load(root)
    w, starts = data.file_windows(c, "test", 40, 5)
    spans = c.files["test"]
    owner = [int(np.nonzero((spans[:, 0] <= s) & (s + 41 <= spans[:, 1]))[0][0]) for s in starts]
    assert len(set(owner)) == 5 and w.shape == (5, 41)
    assert np.array_equal(w[0], c.test[starts[0] : starts[0] + 41])
    assert np.array_equal(starts, data.file_windows(c, "test", 40, 5)[1])  # the same for every model
    from mixing.engine.errors import ParameterError

    with pytest.raises(ParameterError, match="distinct"):
        data.file_windows(c, "test", 40, 10_000)


def _bits(curve, seeds=5, windows=64, noise=0.002, seed=0, context=8):
    """A synthetic study of one mechanism whose mean excess at 2x, 4x, ... is ``curve``."""
    rng = np.random.default_rng(seed)
    ks = [2**e for e in range(1, len(curve) + 1)]
    edges = [(0, context // 2), (context // 2, context)] + [(k * context // 2, k * context) for k in ks]
    sliding = 2.0 + rng.normal(0, 0.3, (1, windows, len(edges))) + np.zeros((seeds, 1, 1))
    full = sliding.copy()
    for j, e in enumerate(curve):
        full[:, :, j + 2] += e + rng.normal(0, noise, (seeds, windows)) + rng.normal(0, noise, (seeds, 1))
    return Bits(full, sliding, edges, context, np.arange(windows))


def test_stop_length_on_a_synthetic_curve():
    b = _bits([0.0, 0.01, 0.03, 0.07, 0.2])
    assert b.multiples() == [2, 4, 8, 16, 32]
    stop, cross = stop_length(b)
    assert stop == 16
    # the mean curve crosses TAU = 0.05 between 8x (0.03) and 16x (0.07): log-linear, at 8 * 2^(0.5)
    assert cross.value == pytest.approx(8 * 2 ** ((TAU - 0.03) / 0.04), rel=0.05)
    assert 8 < cross.lo <= cross.value <= cross.hi < 16
    never, cross = stop_length(_bits([0.0, 0.0, 0.01, 0.0, 0.01]))
    assert never == math.inf and cross.value == math.inf
    first, _ = stop_length(_bits([0.3, 0.4, 0.5, 0.6, 0.7]))
    assert first == 2


def test_checkpoint_round_trip_and_safe_load(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    rng = np.random.default_rng(1)
    for k in range(30):
        (root / f"f{k:02d}.py").write_bytes(bytes(rng.integers(32, 127, size=300)))
    c = data.load(root)
    cfg = Config(**parse_mechanism("so2-learned:zero"), layers=1, width=16, heads=2)
    tc = TrainConfig(context=16, batch=4, steps=3, warmup=1, checkpoint_every=3, val_windows=2)
    ck = train(cfg, tc, c, tmp_path / "m")
    small = tmp_path / "kept"
    small.mkdir()
    save_weights(ck, small / "model.pt")
    a, b = load_model(tmp_path / "m"), load_model(small / "model.pt")
    x = torch.randint(0, 256, (2, 20))
    assert torch.equal(a(x), b(x)) and b.cfg.scale == "zero"
    assert (small / "model.pt").stat().st_size < (tmp_path / "m" / "checkpoint.pt").stat().st_size

    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "evil"
    bad.mkdir()
    with open(bad / "checkpoint.pt", "wb") as fh:
        pickle.dump({"format": 1, "payload": Evil()}, fh)
    from mixing.engine.errors import ParameterError

    with pytest.raises(ParameterError, match="not a readable"):
        read_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path):
    from mixing.engine.errors import ParameterError
    from mixing.sweep.locks import take

    root = tmp_path / "c"
    root.mkdir()
    for k in range(30):
        (root / f"f{k:02d}.py").write_bytes(b"x = 1\n" * 40)
    fh = take(tmp_path / "m", "training run")
    try:
        cfg = Config(mechanism="nope", layers=1, width=8, heads=2)
        with pytest.raises(ParameterError, match="in use by another training run"):
            train(cfg, TrainConfig(context=8, steps=1), data.load(root), tmp_path / "m")
    finally:
        fh.close()


def _fake_study(context, windows_by_label):
    """A Study stand-in with only window rows: label -> per seed, per head windows."""
    from mixing.lm.report import Study

    st = Study.__new__(Study)
    st.context, st.labels, st.rows = context, list(windows_by_label), []
    for lab, seeds in windows_by_label.items():
        for s, heads in enumerate(seeds):
            for h, w in enumerate(heads):
                st.rows.append(
                    {
                        "mechanism": lab,
                        "scale": "",
                        "gate": "",
                        "rope_base": "10000",
                        "seed": str(s),
                        "metric": "window",
                        "layer": "0",
                        "head": str(h),
                        "x": "",
                        "value": str(w),
                    }
                )
    return st


def test_c3_verdicts_on_known_windows():
    """A window that does not move with T holds; one that doubles with T is contradicted; a
    head without a window counts as beyond every lag (the median decides)."""
    from mixing.lm.contexts import c3_rows, model_windows

    fixed = [[10, 11, 12], [9, 10, 11], [11, 12, 13]]
    lo = _fake_study(32, {"path": fixed, "so2-learned": fixed, "rope": [[math.nan] * 3] * 3})
    hi = _fake_study(
        64,
        {
            "path": [[10, 12, 11], [11, 10, 9], [12, 11, 13]],
            "so2-learned": [[2 * w for w in s] for s in fixed],
            "rope": [[math.nan] * 3] * 3,
        },
    )
    assert model_windows(lo, "path") == [11, 10, 12]
    assert model_windows(_fake_study(8, {"x": [[3, math.nan, math.nan]]}), "x") == [math.inf]
    rows = {r["mechanism"]: r for r in c3_rows([hi, lo])}  # any order: sorted by context
    assert rows["path"]["verdict"] == "holds"
    assert rows["path"]["log_ratio"].lo < 0 < rows["path"]["log_ratio"].hi
    assert rows["so2-learned"]["verdict"] == "contradicted"
    assert rows["so2-learned"]["ratio"][0] == pytest.approx(2.0)
    assert rows["rope"]["verdict"] == "no finite window"


def _sized(curves, context=8, starts=None, seed=0):
    """A Study stand-in of synthetic excess curves (label -> curve), stopping by the report's rule."""
    from mixing.lm.report import Study

    st = Study.__new__(Study)
    st.bits = {lab: _bits(c, context=context, seed=seed + i) for i, (lab, c) in enumerate(curves.items())}
    if starts is not None:
        for b in st.bits.values():
            b.starts = starts
    st.labels, st.context, st.manifest = list(curves), context, {}
    st.ks = next(iter(st.bits.values())).multiples()
    st.stop = lambda lab: stop_length(st.bits[lab])
    return st


def test_scale_compares_stopping_lengths_and_excess_on_the_same_windows():
    from mixing.engine.errors import ParameterError
    from mixing.lm.scale import compare

    slow, fast = [0.0, 0.01, 0.03, 0.07, 0.2], [0.0, 0.06, 0.12, 0.25, 0.5]
    small = _sized({"same": slow, "worse": slow})
    large = _sized({"same": slow, "worse": fast}, seed=10)
    rows = {r["mechanism"]: r for r in compare(small, large)}
    assert rows["same"]["verdict"] == "stays put" and rows["same"]["stop"] == ("16x", "16x")
    assert all(w == "not resolved" for w in rows["same"]["words"])  # the same curve, other noise
    assert rows["worse"]["verdict"] == "moves" and rows["worse"]["stop"] == ("16x", "4x")
    assert rows["worse"]["words"][0] == "not resolved" and rows["worse"]["words"][1:] == ["larger degrades more"] * 4
    assert rows["worse"]["diff"][4].value == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ParameterError, match="other contexts"):
        compare(small, _sized({"same": slow}, context=16))
    with pytest.raises(ParameterError, match="other test windows"):
        compare(small, _sized({"same": slow}, starts=np.arange(64) + 1))

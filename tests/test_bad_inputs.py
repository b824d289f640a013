"""A table of bad inputs: each stops with one line naming the parameter and exit status 2
(the command line), or one ParameterError naming it (the API), never a traceback."""

import numpy as np
import pytest

from mixing.engine import mechanisms as M
from mixing.engine.errors import ParameterError
from mixing.engine.task import Task
from mixing.sweep import main


def _files(tmp):
    """Bad generators files and config files, written once per test."""
    f = {}
    (tmp / "empty.npz").write_bytes(b"")
    (tmp / "text.npz").write_text("hello")
    np.savez(tmp / "ok.npz", angles=np.zeros((4, 4)))
    (tmp / "trunc.npz").write_bytes((tmp / "ok.npz").read_bytes()[:100])
    np.savez(tmp / "complex.npz", angles=np.ones((4, 4)) * (1 + 1j))
    np.savez(tmp / "bool.npz", angles=np.ones((4, 4), dtype=bool))
    np.savez(tmp / "str.npz", angles=np.array([["a"] * 4] * 4))
    np.savez(tmp / "inf.npz", angles=np.full((4, 4), np.inf))
    np.save(tmp / "single.npy", np.zeros((4, 4)))
    for name, text in {
        "param.toml": "param = 3\n",
        "mech.toml": "mechanism = 5\n",
        "empty.toml": "mechanism = []\n",
        "repeat.toml": "[param]\nbeta = [1, 1]\n",
        "unknown.toml": "trails = 4\n",
        "syntax.toml": "mechanism = [\n",
        "measure.toml": "measure = 3\n",
    }.items():
        (tmp / name).write_text(text)
    (tmp / "latin1.toml").write_bytes(b"trials = 4\n# \xe9\xff\n")
    return f


SWEEP = [
    (["--mechanism", "householder", "--param", "beta=1", "--param", "beta=2"], "beta"),
    (["--mechanism", "householder", "--param", "beta=1,1"], "beta"),
    (["--mechanism", "so2", "--param", "law=uniform", "--param", "sigma=0.3"], "sigma"),
    (["--mechanism", "so2", "--param", "center=zero", "--param", "base=100"], "base"),
    (["--mechanism", "so2", "--param", "tokens=zipf"], "tokens"),
    (["--mechanism", "householder", "--param", "vocab=8", "--param", "sampler=full"], "sampler"),
    (["--mechanism", "nope", "--param", "forget_scale=inv_sqrt_d"], "forget_scale"),
    (["--mechanism", "nope", "--param", "xi=1e160"], "xi"),
    (["--mechanism", "nope", "--param", "B=1e101"], "B"),
    (["--mechanism", "alibi", "--param", "m=nan"], "m"),
    (["--mechanism", "so2", "--param", "sigma=inf"], "sigma"),
    (["--lengths", "1e19"], "lengths"),
    (["--lengths", "2^41"], "lengths"),
    (["--lengths", "2^4:2^3"], "lengths"),
    (["--lengths", ""], "lengths"),
    (["--lags", "0", "--measure", "coherence"], "lags"),
    (["--d", "1"], "d"),
    (["--d", "2^50"], "d"),
    (["--seed", "-1"], "seed"),
    (["--seed", "18446744073709551616"], "seed"),
    (["--seed", "1.5"], "seed"),
    (["--resume"], "--resume"),
    (["--device", "tpu"], "device"),
    (["--mechanism", "so2", "--param", "generators={tmp}/empty.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/text.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/trunc.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/complex.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/bool.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/str.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/inf.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/single.npy"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/missing.npz"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}"], "generators"),
    (["--mechanism", "so2", "--param", "generators={tmp}/ok.npz", "--d", "16"], "generators"),
    (["--config", "{tmp}/param.toml"], "--config"),
    (["--config", "{tmp}/mech.toml"], "--config"),
    (["--config", "{tmp}/empty.toml"], "--config"),
    (["--config", "{tmp}/repeat.toml"], "beta"),
    (["--config", "{tmp}/unknown.toml"], "--config"),
    (["--config", "{tmp}/syntax.toml"], "--config"),
    (["--config", "{tmp}/measure.toml"], "--config"),
    (["--config", "{tmp}/latin1.toml"], "--config"),
    (["--out", "{tmp}/ok.npz"], "--out"),
    (["--out", "{tmp}/ok.npz/sub"], "--out"),
]


@pytest.mark.parametrize("argv,name", SWEEP, ids=[f"{i}-{c[1]}" for i, c in enumerate(SWEEP)])
def test_sweep_bad_input_is_one_line(argv, name, tmp_path, capsys):
    _files(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    rc = main([*argv, "--lengths", "16", "--trials", "2"] if "--lengths" not in argv else argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert name in err, err
    assert not (tmp_path / "run" / "results.csv").exists()


API = [
    (lambda: M.make("so2", 8, law="uniform", sigma=0.3), "sigma"),
    (lambda: M.make("so2", 8, center="zero", base=100), "base"),
    (lambda: M.make("householder", 8, vocab=4, sampler="full"), "sampler"),
    (lambda: M.make("nope", 8, forget_scale="inv_sqrt_d"), "forget_scale"),
    (lambda: M.make("householder", 8, beta=3), "beta"),
    (lambda: M.make("householder", 1), "d"),
    (lambda: M.make("so2", 7), "d"),
    (lambda: M.make("alibi", 8, m=1e200), "m"),
    (lambda: Task(B=-1), "B"),
    (lambda: Task(window=0), "window"),
    (lambda: Task(delta=1.5), "delta"),
    (lambda: Task(xi=1e200), "xi"),
    (lambda: Task(p="x"), "p"),
    (lambda: Task(kappa=2.0), "kappa"),
    (lambda: Task(mu=float("nan")), "mu"),
    (lambda: Task.make(B="abc"), "B"),
]


@pytest.mark.parametrize("call,name", API, ids=[f"{i}-{c[1]}" for i, c in enumerate(API)])
def test_api_validates_like_the_command_line(call, name):
    with pytest.raises(ParameterError, match=name):
        call()


def test_a_grid_may_give_a_law_parameter_some_of_its_points_use(tmp_path):
    """sigma with law=uniform,gaussian is a sweep over two laws, not a mistake."""
    assert (
        main(
            [
                "--mechanism",
                "so2",
                "--param",
                "law=uniform,gaussian",
                "--param",
                "sigma=0.3",
                "--lengths",
                "16",
                "--trials",
                "2",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    rows = (tmp_path / "o" / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 4


def _cli(module):
    import importlib

    return importlib.import_module(module).main


OTHER_CLIS = [
    ("mixing.learned.train", ["--bogus"], "python -m mixing.learned"),
    ("mixing.learned.train", ["--mechanism", "so2", "--out", "{tmp}/missing/x.npz"], "--out"),
    ("mixing.learned.train", ["--mechanism", "so2", "--out", "{tmp}"], "--out"),
    ("mixing.learned.train", ["--mechanism", "so2", "--train-length", "0", "--out", "{tmp}/x.npz"], "train-length"),
    ("mixing.learned.train", ["--mechanism", "so2", "--B", "1e300", "--out", "{tmp}/x.npz"], "B"),
    ("mixing.learned.train", ["--mechanism", "so2", "--lr", "nan", "--out", "{tmp}/x.npz"], "lr"),
    ("proofs.__main__", ["--bogus"], "python -m proofs"),
    ("mixing.sweep", ["--trials", "4", "--trials", "2", "--out", "{tmp}/s"], "given more than once"),
    (
        "mixing.lm.__main__",
        ["train", "--mechanism", "rope", "--seed", "1", "--seed", "2", "--out", "{tmp}/m"],
        "given more than once",
    ),
    ("mixing.lm.__main__", ["run", "--quick", "--mechanisms", "nope,nope", "--out", "{tmp}/r"], "more than once"),
    ("proofs.__main__", ["--report", "{tmp}/missing/r.md"], "--report"),
    ("proofs.__main__", ["eval", "--bogus"], "python -m proofs eval"),
    ("proofs.__main__", ["eval", "householder-second-moment", "d=1", "beta=2", "n=3", "c=0.5"], "d >= 2"),
    ("proofs.__main__", ["eval", "so2-coherence", "law=constant", "n=3", "c=0.5"], "c"),
    ("figures.__main__", ["--bogus"], "python -m figures"),
    ("figures.__main__", ["nonesuch"], "nonesuch"),
    ("figures.results", ["--bogus"], "python -m figures.results"),
    ("figures.results", ["--data", "{tmp}/missing"], "figures.results"),
]


@pytest.mark.parametrize("module,argv,needle", OTHER_CLIS, ids=[f"{c[0]}-{i}" for i, c in enumerate(OTHER_CLIS)])
def test_other_command_lines_fail_in_one_line_before_any_work(module, argv, needle, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        rc = _cli(module)(argv)
    except SystemExit as exc:
        rc = exc.code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert "step" not in captured.out  # nothing trained or simulated first


def test_a_diverging_loss_names_the_learning_rate(monkeypatch, tmp_path, capsys):
    """Fault injection: a NaN loss stops training with one line naming lr, and writes nothing."""
    from mixing.learned import train

    real = train.loss_and_grad

    def poisoned(model, *args, **kw):
        loss, grads = real(model, *args, **kw)
        return float("nan"), grads

    monkeypatch.setattr(train, "loss_and_grad", poisoned)
    rc = train.main(["--mechanism", "so2", "--d", "8", "--steps", "3", "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "lr" in err[-1] and "nan" in err[-1]
    assert not (tmp_path / "x.npz").exists()

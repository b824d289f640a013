"""Hostile input at every entry point (with tests/test_bad_inputs.py, the table the toolkit's
reliability is checked by): each case below must stop before any work with exit status 2 and
exactly one line on stderr that names the culprit, never a traceback, a hang or a silent
acceptance; then an argv fuzzer per command line, and the fault tests (full disk, a kill -9
of a training run, a malicious checkpoint).

``{tmp}`` in a case is a folder of prepared bad files (see :func:`hostile_files`).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.errors import ParameterError
from mixing.engine.task import Task

ROOT = Path(__file__).resolve().parents[1]


def hostile_files(tmp: Path) -> Path:
    """Bad files an attacker or a careless user hands the tools."""
    (tmp / "garbage.csv").write_text("a,b\n1,2,3\n\x00\x01")
    (tmp / "rep").mkdir()
    (tmp / "rep" / "results.csv").write_text("x,y\n1,2\n")
    (tmp / "rep_bad_manifest").mkdir()
    (tmp / "rep_bad_manifest" / "results.csv").write_text("mechanism,seed\nrope,0\n")
    (tmp / "rep_bad_manifest" / "manifest.json").write_text("[1, 2]")
    (tmp / "empty.txt").write_text("")
    (tmp / "user").mkdir()
    (tmp / "user" / "results.csv").write_text("the user's own table\n")
    (tmp / "garbage").mkdir()
    (tmp / "garbage" / "checkpoint.pt").write_bytes(b"garbage")
    for name, text in {"m_notjson": "{", "m_list": "[]", "m_nogrid": '{"grid": 3}'}.items():
        d = tmp / name
        (d / "points").mkdir(parents=True)
        (d / "manifest.json").write_text(text)
    (tmp / "m_missing" / "points").mkdir(parents=True)
    (tmp / "big.toml").write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    (tmp / "lengths.toml").write_text("measure = 'coherence'\nlengths = '16'\n")
    return tmp


SWEEP = "mixing.sweep"
PROOFS = "proofs.__main__"
LEARNED = "mixing.learned.train"
LM = "mixing.lm.__main__"
FIG = "figures.__main__"
RESULTS = "figures.results"

CASES = [
    # the sweep: sizes, lists, options the measure ignores, config files, resumes of broken folders
    (SWEEP, "--config /dev/zero", "--config"),
    (SWEEP, "--config {tmp}/big.toml", "--config"),
    (SWEEP, "--config {tmp}/lengths.toml", "lengths"),
    (SWEEP, "--mechanism householder --param vocab=2e7", "vocab"),
    (SWEEP, "--lengths 16,,", "lengths"),
    (SWEEP, "--lengths ,16", "lengths"),
    (SWEEP, "--d 8,,16", "d"),
    (SWEEP, "--lags 4 --measure retrieval", "lags"),
    (SWEEP, "--lags 4", "lags"),
    (SWEEP, "--lengths 16 --measure coherence", "lengths"),
    (SWEEP, "--lengths 16 --measure second-moment", "lengths"),
    (SWEEP, "--out {tmp}/user --lengths 16", "--out"),
    (SWEEP, "--out {tmp}/m_notjson --resume", "--resume"),
    (SWEEP, "--out {tmp}/m_list --resume", "--resume"),
    (SWEEP, "--out {tmp}/m_nogrid --resume", "--resume"),
    (SWEEP, "--out {tmp}/m_missing --resume", "--resume"),
    (SWEEP, "--trials 0", "trials"),
    (SWEEP, "--trials -1", "trials"),
    (SWEEP, "--trials 1e30", "trials"),
    (SWEEP, "--trials abc", "trials"),
    (SWEEP, "--executor bogus", "--executor"),
    (SWEEP, "--mechanism bogus", "mechanism"),
    (SWEEP, "--measure bogus", "measure"),
    (SWEEP, "--lengths -16", "lengths"),
    (SWEEP, "--lengths 16.5", "lengths"),
    (SWEEP, "--lengths nan", "lengths"),
    (SWEEP, "--lengths inf", "lengths"),
    (SWEEP, "--lengths 2^99", "lengths"),
    (SWEEP, "--out /dev/null --lengths 16", "--out"),
    (SWEEP, "--out {tmp}/garbage.csv/sub --lengths 16", "--out"),
    (SWEEP, "--d 0", "d"),
    (SWEEP, "--d nan", "d"),
    (SWEEP, "--d 7 --mechanism so2", "d"),
    (SWEEP, "--mechanism householder --param beta=", "--param"),
    (SWEEP, "--param =1", "--param"),
    (SWEEP, "--mechanism householder --param beta", "--param"),
    (SWEEP, "--mechanism householder --param beta=1,1", "beta"),
    (SWEEP, "--mechanism householder --param beta=-1", "beta"),
    (SWEEP, "--mechanism householder --param beta=2.5", "beta"),
    (SWEEP, "--mechanism householder --param beta=true", "beta"),
    (SWEEP, "--mechanism rope --param base=1", "base"),
    (SWEEP, "--mechanism so2 --param law=bogus", "law"),
    (SWEEP, "--mechanism so2 --param vocab=-3", "vocab"),
    (SWEEP, "--param p=2", "p"),
    (SWEEP, "--param B=nan", "B"),
    (SWEEP, "--param bogus=1", "bogus"),
    (SWEEP, "--measure coherence --lags 2^40", "--trials"),
    (SWEEP, "--chunk 0", "unrecognized"),
    (SWEEP, "--seed nan", "seed"),
    (SWEEP, "--seed 0x10", "seed"),
    (SWEEP, "--show bogus", "show"),
    (SWEEP, "--workers 2", "--workers"),
    (SWEEP, "--resume --lengths 16", "--resume"),
    # proofs
    (PROOFS, "--quick --seed -1", "--seed"),
    (PROOFS, "--quick --seed 18446744073709551616", "--seed"),
    (PROOFS, "--quick --seed nan", "--seed"),
    (PROOFS, "--report {tmp}/garbage.csv/r.md --quick", "--report"),
    (PROOFS, "--report {tmp} --quick", "--report"),
    (PROOFS, "eval so2-coherence law=gaussian sigma=0.3 n=1e95", "n"),
    (PROOFS, "eval so2-coherence law=gaussian sigma=1e308 n=3", "sigma"),
    (PROOFS, "eval so2-coherence law=gaussian n=3", "sigma"),
    (PROOFS, "eval so2-coherence law=bogus n=3", "law"),
    (PROOFS, "eval so2-coherence law=gaussian sigma=-1 n=3", "sigma"),
    (PROOFS, "eval householder-coherence d=1e95 beta=2 n=3", "d"),
    (PROOFS, "eval householder-coherence d=1 beta=2 n=3", "d"),
    (PROOFS, "eval householder-coherence d=4.5 beta=2 n=3", "d"),
    (PROOFS, "eval householder-coherence d=4 beta=3 n=3", "beta"),
    (PROOFS, "eval householder-coherence d=4 beta=0 n=3", "beta"),
    (PROOFS, "eval householder-coherence d=4 beta=nan n=3", "beta"),
    (PROOFS, "eval householder-second-moment d=1 beta=2 n=3 c=1", "d"),
    (PROOFS, "eval householder-second-moment d=4 d=4 beta=2 n=3 c=1", "more than once"),
    (PROOFS, "eval householder-second-moment d=x beta=2 n=3 c=1", "d"),
    (PROOFS, "eval householder-second-moment d=4 beta=2 n=3", "c"),
    (PROOFS, "eval householder-second-moment d=4 beta=2 n=-3 c=1", "n"),
    (PROOFS, "eval householder-second-moment d=4 beta=2 n=3 c=1 zz=2", "zz"),
    (PROOFS, "eval householder-second-moment d=4 beta=2 n=3 c=nan", "c"),
    (PROOFS, "eval householder-second-moment d=4 beta=2 n=3 c=2", "c"),
    (PROOFS, "eval householder-second-moment d=4 beta=2 n=3 c=", "key=value"),
    (PROOFS, "eval householder-second-moment =4", "key=value"),
    (PROOFS, "eval", "name a formula"),
    (PROOFS, "eval nonesuch d=4", "nonesuch"),
    (PROOFS, "--bogus", "--bogus"),
    # mixing.learned
    (LEARNED, "--mechanism so2 --seed -1 --out {tmp}/l.npz", "seed"),
    (LEARNED, "--mechanism so2 --seed 18446744073709551615 --out {tmp}/l.npz", "seed"),
    (LEARNED, "--mechanism so2 --vocab 1000000000 --out {tmp}/l.npz", "vocab"),
    (LEARNED, "--mechanism so2 --vocab 1 --out {tmp}/l.npz", "vocab"),
    (LEARNED, "--mechanism so2 --out /dev/null", "--out"),
    (LEARNED, "--mechanism so2 --out {tmp}/model", "--out"),
    (LEARNED, "--mechanism so2 --out ''", "--out"),
    (LEARNED, "--mechanism so2 --out {tmp}/garbage.csv/l.npz", "--out"),
    (LEARNED, "--mechanism bogus --out {tmp}/l.npz", "mechanism"),
    (LEARNED, "--mechanism so2 --d 0 --out {tmp}/l.npz", "d"),
    (LEARNED, "--mechanism so2 --d 7 --out {tmp}/l.npz", "d"),
    (LEARNED, "--mechanism so2 --steps -1 --out {tmp}/l.npz", "steps"),
    (LEARNED, "--mechanism so2 --batch 0 --out {tmp}/l.npz", "batch"),
    (LEARNED, "--mechanism so2 --steps 100000000 --out {tmp}/l.npz", "steps"),
    (LEARNED, "--mechanism so2 --lr inf --out {tmp}/l.npz", "lr"),
    (LEARNED, "--mechanism so2 --sigma abs=-1 --out {tmp}/l.npz", "sigma"),
    (LEARNED, "--mechanism so2 --sigma xyz --out {tmp}/l.npz", "sigma"),
    (LEARNED, "--mechanism so2 --tokens bogus --out {tmp}/l.npz", "tokens"),
    (LEARNED, "--mechanism so2 --cap 0 --out {tmp}/l.npz", "cap"),
    (LEARNED, "--mechanism so2 --B -1 --out {tmp}/l.npz", "B"),
    (LEARNED, "--mechanism so2 --d abc --out {tmp}/l.npz", "--d"),
    # mixing.lm
    (LM, "", "name a command"),
    (LM, "bogus", "COMMAND"),
    (LM, "train --mechanism rope --seed -1 --out {tmp}/t", "--seed"),
    (LM, "train --mechanism rope --seed 1e3 --out {tmp}/t", "--seed"),
    (LM, "train --mechanism rope --width 1000000 --out {tmp}/t", "--width"),
    (LM, "train --mechanism rope --context 100000 --batch 1000 --out {tmp}/t", "--context"),
    (LM, "train --mechanism rope --steps 100000000 --out {tmp}/t", "--steps"),
    (LM, "train --mechanism rope --context 0 --out {tmp}/t", "--context"),
    (LM, "train --mechanism rope --context 1e9 --out {tmp}/t", "--context"),
    (LM, "train --mechanism rope --steps 0 --out {tmp}/t", "--steps"),
    (LM, "train --mechanism rope --batch 0 --out {tmp}/t", "--batch"),
    (LM, "train --mechanism rope --lr nan --out {tmp}/t", "--lr"),
    (LM, "train --mechanism rope --lr -1 --out {tmp}/t", "--lr"),
    (LM, "train --mechanism rope --angle-lr inf --out {tmp}/t", "--angle-lr"),
    (LM, "train --mechanism rope --width 0 --out {tmp}/t", "--width"),
    (LM, "train --mechanism rope --width 63 --out {tmp}/t", "--width"),
    (LM, "train --mechanism rope --heads 0 --out {tmp}/t", "--heads"),
    (LM, "train --mechanism rope --layers 0 --out {tmp}/t", "--layers"),
    (LM, "train --mechanism bogus --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism so2-random:abs=-1 --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism so2-random:abs=nan --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism rope:base=0 --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism rope:base=inf --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism rope:gate=fox --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism so2-learned:abs=1:rel=1 --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism path-forget:gate=bogus --out {tmp}/t", "--mechanism"),
    (LM, "train --mechanism rope --device tpu --out {tmp}/t", "--device"),
    (LM, "train --mechanism rope --corpus {tmp}/missing --out {tmp}/t", "--corpus"),
    (LM, "train --mechanism rope --corpus {tmp}/empty.txt --out {tmp}/t", "--corpus"),
    (LM, "train --mechanism rope --out {tmp}/t --out {tmp}/u", "more than once"),
    (LM, "eval --checkpoint {tmp}/missing --out {tmp}/e", "--checkpoint"),
    (LM, "eval --checkpoint {tmp}/garbage --out {tmp}/e", "--checkpoint"),
    (LM, "eval --checkpoint {tmp}/evil --out {tmp}/e", "--checkpoint"),
    (LM, "eval --checkpoint {tmp}/evil --multiple 0 --out {tmp}/e", "--multiple"),
    (LM, "eval --checkpoint {tmp}/evil --windows 0 --out {tmp}/e", "--windows"),
    (LM, "eval --checkpoint {tmp}/evil --device tpu --out {tmp}/e", "--device"),
    (LM, "export --checkpoint {tmp}/missing --out {tmp}/x.npz", "--checkpoint"),
    (LM, "export --checkpoint {tmp}/evil --out {tmp}/x.npz", "--checkpoint"),
    (LM, "export --checkpoint {tmp}/garbage --out {tmp}/x.npz", "--checkpoint"),
    (LM, "export --checkpoint {tmp}/evil --layer -1 --out {tmp}/x.npz", "--layer"),
    (LM, "export --checkpoint {tmp}/evil --head -2 --out {tmp}/x.npz", "--head"),
    (LM, "export --checkpoint {tmp}/evil --length 0 --out {tmp}/x.npz", "--length"),
    (LM, "report {tmp}/missing", "dir"),
    (LM, "report {tmp}/rep", "dir"),
    (LM, "report {tmp}/rep_bad_manifest", "dir"),
    (LM, "report {tmp}/garbage.csv", "dir"),
    (LM, "forecast", "--checkpoint"),
    (LM, "forecast --study {tmp}/rep", "dir"),
    (LM, "forecast --study {tmp}/missing", "dir"),
    (LM, "forecast --checkpoint {tmp}/evil", "--checkpoint"),
    (LM, "forecast --checkpoint {tmp}/garbage --multiples 3", "--multiples"),
    (LM, "forecast --checkpoint {tmp}/evil --windows 0", "--windows"),
    (LM, "forecast --checkpoint {tmp}/evil --study {tmp}/rep", "not allowed"),
    (LM, "forecast --generators {tmp}/missing.npz", "no such file"),
    (LM, "forecast --study {tmp}/rep --generators {tmp}/missing.npz", "not used with --study"),
    (LM, "forecast --generators {tmp}/missing.npz --trials 0", "--trials"),
    (LM, "contexts {tmp}/rep", "dirs"),
    (LM, "contexts {tmp}/missing {tmp}/rep", "dir"),
    (LM, "run --seeds 0 --out {tmp}/r", "--seeds"),
    (LM, "run --multiples 0 --out {tmp}/r", "--multiples"),
    (LM, "run --multiples 3 --out {tmp}/r", "--multiples"),
    (LM, "run --multiples 2,, --out {tmp}/r", "--multiples"),
    (LM, "run --jobs 0 --out {tmp}/r", "--jobs"),
    (LM, "run --windows 0 --out {tmp}/r", "--windows"),
    (LM, "run --windows 100000 --out {tmp}/r", "--windows"),
    (LM, "run --mechanisms '' --out {tmp}/r", "--mechanisms"),
    (LM, "run --mechanisms bogus --out {tmp}/r", "--mechanism"),
    (LM, "run --quick --mechanisms rope,rope:base=10000 --out {tmp}/r", "more than once"),
    # figures
    (FIG, "coherence --quick --out {tmp}/garbage.csv", "--out"),
    (FIG, "coherence --quick --out {tmp}/garbage.csv/sub", "--out"),
    (FIG, "bogus", "bogus"),
    (FIG, "coherence --generators {tmp}/x.npz", "--generators"),
    (FIG, "--executor ray", "--executor"),
    (FIG, "coherence --quick --scheduler tcp://127.0.0.1:1 --executor dask", "--scheduler"),
    (RESULTS, "--data {tmp}/rep", "figures.results"),
    (RESULTS, "--data {tmp}/garbage.csv", "figures.results"),
]


def _argv(text: str, tmp: Path) -> list[str]:
    out = []
    for a in text.split():
        a = a.replace("{tmp}", str(tmp))
        out.append("" if a == "''" else a)
    return out


def _call(module, argv):
    try:
        return importlib.import_module(module).main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = hostile_files(tmp_path_factory.mktemp("hostile"))
    torch = pytest.importorskip("torch")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp}/PWNED",))

    (tmp / "evil").mkdir()
    torch.save({"format": 3, "x": Evil()}, tmp / "evil" / "checkpoint.pt")
    yield tmp
    assert not (tmp / "PWNED").exists(), "a checkpoint's pickled payload ran"


#: the function each command line hands its validated work to: stubbed in these tests, so that an
#: argv that passes validation runs nothing (a case here that reaches it fails at once)
WORK = {
    SWEEP: [("mixing.sweep.command", "_run")],
    PROOFS: [("proofs.verify", "run")],
    LEARNED: [("mixing.learned.train", "train")],
    LM: [("mixing.lm.run", "_run"), ("mixing.lm.train", "train")],
    FIG: [("figures.__main__", "render")],
    RESULTS: [],
}


class Accepted(Exception):
    """Raised by a stubbed work function: the argv passed validation."""

    @staticmethod
    def raise_(*a, **k):
        raise Accepted


def stub_work(monkeypatch, module):
    for mod, name in WORK[module]:
        monkeypatch.setattr(importlib.import_module(mod), name, Accepted.raise_)


@pytest.mark.parametrize("module,argv,needle", CASES, ids=[f"{c[0].split('.')[0]}-{i}" for i, c in enumerate(CASES)])
def test_hostile_command_line_is_one_line(module, argv, needle, hostile, capsys, monkeypatch):
    monkeypatch.chdir(hostile)
    stub_work(monkeypatch, module)
    args = _argv(argv, hostile)
    if module == SWEEP and "--out" not in args:
        args += ["--out", str(hostile / "sweep-out")]
    if module == SWEEP and "--trials" not in args:
        args += ["--trials", "2"]
    rc = _call(module, args)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2, f"rc={rc}: {err[-500:]}"
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert not (hostile / "sweep-out" / "results.csv").exists()
    assert not (hostile / "PWNED").exists()


API = [
    (lambda: ms.retrieval(M.make("rope", 8), Task(), [2**62], 1), "trials/lengths"),
    (lambda: ms.retrieval(M.make("rope", 8), Task(), [16], 2**40), "trials/lengths"),
    (lambda: ms.coherence(M.make("rope", 8), 2**41, 2), "trials/lengths"),
    (lambda: ms.second_moment(M.make("householder", 64), 2**30, 2**20), "trials/lengths"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, seed=-1), "seed"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, seed=float("nan")), "seed"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, seed=float("inf")), "seed"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, seed=2**64), "seed"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, seed=1.5), "seed"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, seed="0"), "seed"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, seed=True), "seed"),
    (lambda: ms.retrieval(M.make("rope", 8), Task(), [16], 2, seed=-5), "seed"),
    (lambda: ms.coherence("rope", 4, 2), "mech"),
    (lambda: ms.retrieval("rope", Task(), [16], 2), "mech"),
    (lambda: ms.retrieval(M.make("rope", 8), "task", [16], 2), "task"),
    (lambda: ms.retrieval(M.make("rope", 8), Task(), "16", 2), "lengths"),
    (lambda: ms.retrieval(M.make("rope", 8), Task(), [16.5], 2), "lengths"),
    (lambda: ms.retrieval(M.make("rope", 8), Task(), [], 2), "lengths"),
    (lambda: ms.retrieval(M.make("rope", 8), Task(delta=20), [16], 2), "delta"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 0), "trials"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2.0), "trials"),
    (lambda: ms.coherence(M.make("rope", 8), 0, 2), "lags"),
    (lambda: ms.coherence(M.make("rope", 8), True, 2), "lags"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, device="tpu"), "device"),
    (lambda: ms.coherence(M.make("rope", 8), 4, 2, device=3), "device"),
    (lambda: ms.second_moment(M.make("rope", 8), 4, 2, c=float("nan")), "c"),
    (lambda: ms.second_moment(M.make("rope", 8), 4, 2, c="x"), "c"),
    (lambda: ms.second_moment(M.make("rope", 8), 4, 2, c=1.5), "c"),
    (lambda: M.make("householder", 8, beta=True), "beta"),
    (lambda: M.make("householder", 8, beta="x"), "beta"),
    (lambda: M.make("householder", 8, beta=float("nan")), "beta"),
    (lambda: M.make(5, 8), "mechanism"),
    (lambda: M.make("rope", 8.5), "d"),
    (lambda: M.make("rope", "8"), "d"),
    (lambda: M.make("rope", -2), "d"),
    (lambda: M.make("so2", 8, vocab=10**12), "vocab"),
    (lambda: M.make("so2", 8, vocab=1.5), "vocab"),
    (lambda: M.make("so2", 8, bogus=1), "bogus"),
    (lambda: Task(B=True), "B"),
    (lambda: Task(B=float("inf")), "B"),
    (lambda: Task(p=-0.1), "p"),
    (lambda: Task(delta=0), "delta"),
]


@pytest.mark.parametrize("call,name", API, ids=[f"api-{i}-{c[1]}" for i, c in enumerate(API)])
def test_hostile_api_call_is_one_parameter_error(call, name):
    t = time.perf_counter()
    with pytest.raises(ParameterError, match=name):
        call()
    assert time.perf_counter() - t < 10  # refused before any work


def test_lm_api_loads_no_pickle(hostile):
    pytest.importorskip("torch")
    from mixing import lm

    with pytest.raises(ParameterError, match="not a readable"):
        lm.load(hostile / "evil")
    assert not (hostile / "PWNED").exists()


def test_a_generators_file_with_a_pickle_is_refused(tmp_path):
    """np.load(allow_pickle=False): an object array is refused, its payload never runs."""
    np.save(tmp_path / "x.npy", np.array([object()], dtype=object), allow_pickle=True)
    with open(tmp_path / "evil.npz", "wb") as fh:
        import zipfile

        with zipfile.ZipFile(fh, "w") as z:
            z.write(tmp_path / "x.npy", "angles.npy")
    with pytest.raises(ParameterError, match="generators"):
        M.make("so2", 8, generators=str(tmp_path / "evil.npz"))


# -- faults: a full disk, a kill -9 in the middle of training ------------------------------------


class Disk:
    """A small tmpfs (64 KiB) that can be grown, as when space comes back."""

    def __init__(self, path: Path):
        self.path = path

    def grow(self, size="16m"):
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True, capture_output=True)


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (skipped where mounting is not allowed)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if (
        sys.platform != "linux"
        or os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode
    ):
        pytest.skip("cannot mount a small tmpfs here")
    yield Disk(mnt)
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _temps(folder: Path):
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name]


def _one_line(capsys, needle):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0], err
    return err[0]


SWEEP_ARGV = [
    "--mechanism",
    "so2",
    "--mechanism",
    "rope",
    "--mechanism",
    "nope",
    "--lengths",
    "2^4:2^14",
    "--trials",
    "2",
    "--d",
    "8,16,32,64,128,256,512",
]


def test_full_disk_sweep_keeps_its_points_and_resumes_to_the_same_numbers(full_disk, capsys, tmp_path):
    from mixing import sweep

    out = full_disk.path / "s"
    assert sweep.main([*SWEEP_ARGV, "--out", str(out)]) == 1
    _one_line(capsys, "No space left on device")
    assert (out / "manifest.json").exists() and _temps(out) == []
    manifest = json.loads((out / "manifest.json").read_text())  # readable, not half-written
    assert len(manifest["grid"]) == 3 * 7
    full_disk.grow()
    assert sweep.main([*SWEEP_ARGV, "--out", str(out), "--resume"]) == 0
    assert sweep.main([*SWEEP_ARGV, "--out", str(tmp_path / "fresh")]) == 0
    capsys.readouterr()
    assert (out / "results.csv").read_bytes() == (tmp_path / "fresh" / "results.csv").read_bytes()


def test_full_disk_figures_and_learned_stop_in_one_line_and_leave_nothing_half_written(full_disk, capsys):
    from figures import __main__ as fig
    from mixing.learned import train as learned

    f = full_disk.path / "f"
    assert fig.main(["coherence", "--quick", "--out", str(f)]) == 1
    _one_line(capsys, "No space left on device")
    assert _temps(full_disk.path) == [] and not (f / "coherence.png").exists()
    x = full_disk.path / "x.npz"
    assert (
        learned.main(
            [
                "--mechanism",
                "householder",
                "--d",
                "64",
                "--vocab",
                "200",
                "--steps",
                "2",
                "--log-every",
                "0",
                "--out",
                str(x),
            ]
        )
        == 1
    )
    assert "No space left on device" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not x.exists() and _temps(full_disk.path) == []
    full_disk.grow()
    assert fig.main(["coherence", "--quick", "--out", str(f)]) == 0
    assert (f / "coherence.png").exists() and (f / "coherence.csv").exists()


def test_full_disk_training_is_one_line_and_resumes(full_disk, capsys, tmp_path):
    pytest.importorskip("torch")
    from mixing.lm.__main__ import main
    from mixing.lm.train import read_checkpoint

    argv = ["train", "--mechanism", "rope", "--steps", "4", "--layers", "1", "--width", "32", "--context", "16"]
    out = full_disk.path / "t"
    assert main([*argv, "--out", str(out)]) == 1
    _one_line(capsys, "No space left on device")
    assert not (out / "checkpoint.pt").exists() and _temps(full_disk.path) == []
    full_disk.grow()
    assert main([*argv, "--out", str(out)]) == 0
    assert main([*argv, "--out", str(tmp_path / "fresh")]) == 0
    a, b = read_checkpoint(out), read_checkpoint(tmp_path / "fresh")
    assert a["log"] == b["log"]


def test_kill_9_of_training_then_resume_gives_the_uninterrupted_weights(tmp_path):
    torch = pytest.importorskip("torch")
    argv = [
        sys.executable,
        "-m",
        "mixing.lm",
        "train",
        "--mechanism",
        "so2-learned",
        "--steps",
        "40",
        "--layers",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
        "--context",
        "16",
        "--batch",
        "4",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    whole = subprocess.run(
        [*argv, "--out", str(tmp_path / "whole")], env=env, capture_output=True, text=True, timeout=300
    )
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*argv, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    from mixing.lm.train import read_checkpoint

    deadline = time.monotonic() + 240
    step = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if (killed / "checkpoint.pt").exists():
            try:
                step = read_checkpoint(killed)["step"]
            except ParameterError:
                step = 0  # caught between the write and the rename: retry
            if step >= 10:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = read_checkpoint(killed)["step"]
    assert 10 <= at_kill < 40
    resumed = subprocess.run([*argv, "--out", str(killed)], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from step {at_kill} of 40" in resumed.stdout, resumed.stdout[:500]
    a, b = read_checkpoint(tmp_path / "whole"), read_checkpoint(killed)
    assert a["step"] == b["step"] == 40 and a["log"] == b["log"]
    for key, val in a["model"].items():
        assert torch.equal(val, b["model"][key]), key


def test_an_oversized_generators_file_is_refused_before_reading(tmp_path, monkeypatch):
    """A zip whose members declare more than MAX_BYTES is refused from its directory alone."""
    from mixing.engine import params

    np.savez(tmp_path / "g.npz", angles=np.zeros((64, 4)))
    monkeypatch.setattr(params, "MAX_BYTES", 1000)
    with pytest.raises(ParameterError, match="GiB"):
        M.make("so2", 8, generators=str(tmp_path / "g.npz"))


def test_an_oversized_checkpoint_is_refused_before_loading(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from mixing.engine import params
    from mixing.lm.train import read_checkpoint

    (tmp_path / "checkpoint.pt").write_bytes(b"x" * 2000)
    monkeypatch.setattr(params, "MAX_BYTES", 1000)
    with pytest.raises(ParameterError, match="larger than"):
        read_checkpoint(tmp_path)

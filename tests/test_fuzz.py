"""An argv fuzzer for every command line: whatever the words, a command either validates (and
hands its work to a stub here, so nothing is simulated or trained) or exits 2 with one line;
never a traceback, never a hang."""

from __future__ import annotations

import contextlib
import io

import pytest
from test_hostile import FIG, LEARNED, LM, PROOFS, SWEEP, WORK, Accepted, _call, hostile_files, stub_work

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALUES = [
    "0",
    "-1",
    "1",
    "2",
    "16",
    "2^4",
    "1e3",
    "1.5",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "2^99",
    "",
    ",",
    "16,,",
    "x",
    "abs=0.3",
    "rel=-1",
    "rope",
    "so2",
    "path",
    "householder",
    "retrieval",
    "coherence",
    "beta=2",
    "beta=",
    "=1",
    "vocab=1e12",
    "B=-1",
    "/dev/null",
    "/dev/zero",
    "{tmp}/garbage.csv",
    "{tmp}",
    "\x00",
    "é",
]
OPTIONS = {
    SWEEP: [
        "--mechanism",
        "--measure",
        "--d",
        "--lags",
        "--lengths",
        "--trials",
        "--seed",
        "--param",
        "--config",
        "--device",
        "--show",
        "--executor",
        "--workers",
        "--resume",
        "--force-size",
    ],
    PROOFS: [
        "--quick",
        "--seed",
        "--report",
        "eval",
        "householder-coherence",
        "so2-coherence",
        "d=4",
        "n=3",
        "beta=2",
        "law=gaussian",
        "sigma=0.3",
        "c=0.5",
    ],
    LEARNED: [
        "--mechanism",
        "--train-length",
        "--d",
        "--vocab",
        "--tokens",
        "--B",
        "--cap",
        "--steps",
        "--batch",
        "--sigma",
        "--lr",
        "--seed",
        "--log-every",
    ],
    LM: [
        "train",
        "eval",
        "export",
        "report",
        "run",
        "--mechanism",
        "--mechanisms",
        "--seed",
        "--seeds",
        "--layers",
        "--width",
        "--heads",
        "--context",
        "--steps",
        "--batch",
        "--lr",
        "--angle-lr",
        "--device",
        "--multiples",
        "--windows",
        "--jobs",
        "--checkpoint",
        "--multiple",
        "--layer",
        "--head",
        "--length",
        "--quick",
    ],
    FIG: ["coherence", "window", "--quick", "--force", "--executor", "--generators", "bogus"],
}


@pytest.mark.parametrize("module", list(OPTIONS))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_fuzzed_argv_is_valid_or_one_line(module, data, hostile_once, monkeypatch_once):
    words = data.draw(st.lists(st.one_of(st.sampled_from(OPTIONS[module]), st.sampled_from(VALUES)), max_size=6))
    if module == SWEEP:
        words += ["--out", str(hostile_once / f"fuzz-{data.draw(st.integers(0, 10**9))}")]
    argv = [w.replace("{tmp}", str(hostile_once)) for w in words]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = _call(module, argv)
        except Accepted:
            rc = 0
    lines = err.getvalue().strip().splitlines()
    assert "Traceback" not in err.getvalue(), (argv, err.getvalue()[-800:])
    if rc == 0:
        return
    assert rc == 2, (argv, rc, lines[-3:])
    assert len(lines) == 1 or (len(lines) >= 1 and lines[0].startswith("usage:") and len(lines) <= 2), (argv, lines)


@pytest.fixture(scope="module")
def hostile_once(tmp_path_factory):
    return hostile_files(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def monkeypatch_once():
    mp = pytest.MonkeyPatch()
    for module in WORK:
        stub_work(mp, module)
    yield mp
    mp.undo()

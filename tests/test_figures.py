"""Every figure renders in --quick mode, with its data beside it, and a rerun reuses the data."""

import csv

import matplotlib.image as mpimg
import numpy as np
import pytest

from figures import NAMES
from figures import __main__ as cli


@pytest.fixture(scope="module")
def quick_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    assert cli.main(["--quick", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", NAMES)
def test_figure_renders_with_data(name, quick_dir):
    png = quick_dir / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert np.ptp(img[..., :3]) > 0.5  # not a blank canvas
    assert (quick_dir / f"{name}.pdf").stat().st_size > 1000
    with open(quick_dir / f"{name}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    from figures.common import COLUMNS

    assert rows and list(rows[0])[: len(COLUMNS)] == list(COLUMNS)  # then the parameter columns, if any
    if name in ("lm", "forecast", "passkey"):  # the trained-model figures name each series' mechanism
        assert {"mechanism", "scale", "gate", "rope_base"} <= set(rows[0])
    else:  # the engine's figures: what each measured row was computed with, the label aside
        params = [k for k in rows[0] if k not in COLUMNS]
        assert "d" in params and (name == "score-gap" or "mechanism" in params), params
        assert all(r["d"] for r in rows if r["kind"] != "theory"), name
    _series_told_apart_by_their_parameters(rows)
    kinds = {r["kind"] for r in rows}
    assert "measured" in kinds or "censored-above" in kinds
    assert all(np.isfinite(float(r["y"])) for r in rows)


def _series_told_apart_by_their_parameters(rows):
    """No two series of one panel share a measured row's parameters: the columns say what the
    ``series`` label says."""
    from figures.common import COLUMNS

    owner = {}
    for r in rows:
        if r["kind"] == "theory":
            continue
        key = (r["panel"], r["kind"], r["x"], *(v for k, v in r.items() if k not in COLUMNS))
        assert owner.setdefault(key, r["series"]) == r["series"], (key, owner[key], r["series"])


def test_rerun_reuses_saved_data(quick_dir, capsys):
    assert cli.main(["window", "--quick", "--out", str(quick_dir)]) == 0
    assert "redrawn from saved data" in capsys.readouterr().out
    # a different size (full) does not match the quick manifest
    from figures import common, window

    man = common.manifest("window", {"quick": False, **window.spec(False)})
    assert common.load_cached(quick_dir, "window", man) is None


def test_theory_is_overlaid_where_a_bound_exists(quick_dir):
    for name in ("coherence", "score-gap", "lower-bound", "values", "window", "horizon"):
        with open(quick_dir / f"{name}.csv", newline="") as fh:
            assert any(r["kind"] == "theory" for r in csv.DictReader(fh)), name


@pytest.mark.parametrize("argv,word", [(["nosuch"], "nosuch"), (["--out", "/proc/nope/x"], "--out")])
def test_bad_input_one_line_exit_2(argv, word, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err


def test_learned_with_the_readers_files(tmp_path, capsys):
    from mixing.learned import train as learn

    model = learn.init("so2", 16, 16, seed=3)
    learn.train(model, 64, 5, 16, 0.05, 3, progress=False)
    path = tmp_path / "mine.npz"
    learn.save(model, path)
    committed = cli.DEFAULT_OUT / "learned.png"
    before = committed.read_bytes()
    out = tmp_path / "own"
    assert cli.main(["learned", "--generators", str(path), "--out", str(out)]) == 0
    assert committed.read_bytes() == before  # the committed figure is untouched
    assert (out / "learned-own.png").read_bytes()[:4] == b"\x89PNG"
    with open(out / "learned-own.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    mine = [r for r in rows if r["kind"] == "own"]
    assert {r["panel"] for r in mine} >= {"near_weight", "retention"} and "mine.npz" in mine[0]["series"]
    assert any(r["series"] == "RoPE" for r in rows)  # beside the baselines
    capsys.readouterr()
    assert cli.main(["window", "--generators", str(path), "--out", str(out)]) == 2
    assert cli.main(["learned", "--generators", str(path), "--out", str(cli.DEFAULT_OUT)]) == 2
    assert cli.main(["learned", "--generators", str(tmp_path / "none.npz"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("figures: error:") for line in err)


def test_default_output_is_outside_the_package_and_reuses_the_committed_data(tmp_path, monkeypatch, capsys):
    committed = cli.COMMITTED / "window.png"
    before = committed.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["window"]) == 0
    assert "redrawn from saved data" in capsys.readouterr().out  # no simulation: the committed data
    assert (tmp_path / "runs" / "figures" / "window.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "runs" / "figures" / "window.csv").read_bytes() == (cli.COMMITTED / "window.csv").read_bytes()
    assert committed.read_bytes() == before


def test_results_doc_is_what_the_committed_data_give(tmp_path):
    """docs/results.md is generated from figures/output/ (no number typed by hand) and current."""
    from figures import results

    assert results.main(["--check"]) == 0, "run python -m figures.results"
    text = results.render()
    for name, _, _ in results.SECTIONS:
        assert f"../figures/output/{name}.png" in text
    # the check fails on a stale file
    stale = tmp_path / "results.md"
    stale.write_text(text.replace("±", "+-", 1))
    assert results.main(["--check", "--out", str(stale)]) == 1


def test_curves_drawn_on_top_of_each_other_are_found():
    """figures.common.on_top names the earlier curve a later one covers (within 1%), so that
    the figure draws it apart and says so; curves that differ anywhere are left alone."""
    import numpy as np

    from figures.common import on_top

    a = np.array([1.0, 0.5, 0.25])
    got = on_top({"alibi": a, "rope": a * 2, "gate": a * 1.005, "gate2": a * 1.002, "other": a + [0, 0, 0.1]})
    assert got == {"gate": "alibi", "gate2": "alibi"}
    assert on_top({"x": np.zeros(3), "y": np.zeros(3)}) == {"y": "x"}
    assert on_top({"x": np.zeros(3), "y": np.zeros(4)}) == {}


def test_restamp_marks_saved_data_current_only_for_the_same_spec(tmp_path):
    from figures import common

    rows = [common.row("p", "s", "measured", 1.0, 2.0, 0.1)]
    old = {"figure": "x", "spec": {"a": (1, 2)}, "engine": "0" * 16, "mixing": "0.1.0"}
    common.save_data(tmp_path, "x", old, rows)
    new = {**old, "engine": "f" * 16}
    assert common.load_cached(tmp_path, "x", new) is None  # another engine: recompute
    assert not common.restamp(tmp_path, "x", {**new, "spec": {"a": (1, 3)}})
    assert common.restamp(tmp_path, "x", new)
    assert common.load_cached(tmp_path, "x", new) == rows
    assert not common.restamp(tmp_path, "y", new)  # nothing saved


def test_figure_data_carry_the_shared_manifest_header(tmp_path):
    import json

    from figures import common
    from mixing.engine._jit import DIGEST

    man = common.manifest("x", {"a": 1})
    common.save_data(tmp_path, "x", man, [common.row("p", "s", "measured", 1.0, 2.0)])
    rec = json.loads((tmp_path / "x.json").read_text())
    head = ["schema", "schema_version", "argv", "versions", "git_commit", "engine", "start", "end"]
    assert list(rec)[: len(head)] == head and rec["schema"] == "figures" and rec["engine"] == DIGEST
    # the header is provenance: the cache key hashes what the data depend on, not when they were made
    assert common.load_cached(tmp_path, "x", man) is not None


def test_figure_csvs_carry_the_parameters_of_each_series(tmp_path):
    """Rows with parameters (``mechanism``, ``scale``, ...) get them as columns after the six
    fixed ones, empty where a row has none, and read back as they were written."""
    import csv

    from figures import common

    man = common.manifest("x", {"n": 1})
    rows = [
        {**common.row("p", "so2-random:abs=0.3", "measured", 1.0, 2.0), "mechanism": "so2-random", "scale": "abs=0.3"},
        common.row("p", "tau", "theory", 0.0, 0.05),
    ]
    common.save_data(tmp_path, "x", man, rows)
    with open(tmp_path / "x.csv", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0]) == [*common.COLUMNS, "mechanism", "scale"]
    assert got[0]["scale"] == "abs=0.3" and got[1]["mechanism"] == "" and got[1]["series"] == "tau"
    assert common.load_cached(tmp_path, "x", man) == rows


def test_lm_figure_rows_name_the_mechanism_of_each_series():
    pytest.importorskip("torch")
    from figures.common import row
    from mixing.lm.plots import with_mechanism

    got = with_mechanism([row("a", "so2-learned:abs=0", "measured", 1, 2), row("a", "tau", "theory", 0, 1)])
    assert got[0]["mechanism"] == "so2-learned" and got[0]["scale"] == "abs=0" and got[0]["rope_base"] == "10000"
    assert "mechanism" not in got[1]  # not a mechanism label: no parameter columns

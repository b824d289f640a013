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
    assert np.ptp(img[..., :3]) > 0.5                     # not a blank canvas
    assert (quick_dir / f"{name}.pdf").stat().st_size > 1000
    with open(quick_dir / f"{name}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"panel", "series", "kind", "x", "y", "stderr"}
    kinds = {r["kind"] for r in rows}
    assert "measured" in kinds or "censored-above" in kinds
    assert all(np.isfinite(float(r["y"])) for r in rows)


def test_rerun_reuses_saved_data(quick_dir, capsys):
    assert cli.main(["window", "--quick", "--out", str(quick_dir)]) == 0
    assert "redrawn from saved data" in capsys.readouterr().out
    # a different size (full) does not match the quick manifest
    from figures import common
    from figures import window

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

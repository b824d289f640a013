"""The helpers every part shares: the entry-point wrapper, the parser, the progress bar, the
mean and standard error, the named laws and kernel arguments."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mixing.cli import Parser, guarded, progress_bar
from mixing.engine import laws
from mixing.engine.errors import ParameterError
from mixing.engine.kernels.contract import GENERATOR_FIELDS, generator_args, with_arg
from mixing.engine.stats import mean_se, mean_se_rows


@pytest.mark.parametrize(
    "exc, status, text",
    [
        (ParameterError("--x: bad"), 2, "prog: error: --x: bad"),
        (FloatingPointError("overflow"), 1, "prog: error: overflow"),
        (OSError(28, "No space left on device", "out.csv"), 1, "prog: error: No space left on device (out.csv)"),
        (KeyboardInterrupt(), 130, "prog: stopped; rerun"),
    ],
)
def test_guarded_turns_errors_into_one_line_and_a_status(exc, status, text, capsys):
    def work():
        raise exc

    assert guarded("prog", work, interrupted="stopped; rerun") == status
    err = capsys.readouterr().err
    assert err == text + "\n"


def test_guarded_passes_the_status_through_and_names_a_fallback_file(capsys):
    assert guarded("prog", lambda: 0) == 0
    assert guarded("prog", lambda: 3) == 3

    def full():
        raise OSError(28, "No space left on device")

    assert guarded("prog", full, where="x.png") == 1
    assert capsys.readouterr().err.endswith("(x.png)\n")


def test_parser_raises_or_exits_on_a_usage_error():
    ap = Parser(prog="p", raise_errors=True)
    ap.add_argument("--n", type=int)
    with pytest.raises(ParameterError, match="invalid int"):
        ap.parse_args(["--n", "x"])
    with pytest.raises(ParameterError, match="given more than once"):
        ap.parse_args(["--n", "1", "--n", "2"])
    plain = Parser(prog="p")
    plain.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as exit_:
        plain.parse_args(["--n", "x"])
    assert exit_.value.code == 2


def test_progress_bar_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    bar = progress_bar(10, "x")
    bar.update(3)
    bar.set_postfix(loss="1.0")
    bar.close()
    assert type(bar).__name__ == "_Silent"


def test_mean_se_conventions():
    x = np.array([1.0, 2.0, 4.0, np.nan])
    m, se = mean_se(x)
    assert m == pytest.approx(7 / 3) and se == pytest.approx(np.std([1, 2, 4], ddof=1) / np.sqrt(3))
    assert np.isnan(mean_se(x, finite_only=False)[0])
    assert mean_se([5.0], one=0.0) == (5.0, 0.0) and np.isnan(mean_se([5.0])[1])
    rows = np.arange(12.0).reshape(4, 3) ** 2
    mean, se = mean_se_rows(rows)
    assert np.allclose(mean, rows.mean(0)) and np.allclose(se, rows.std(0, ddof=1) / 2)
    assert np.all(mean_se_rows(rows[:1])[1] == 0)


def test_laws_are_named():
    info = laws.LAWS["gaussian"]
    assert (info.code, info.param, info.default) == (laws.GAUSSIAN, "sigma", 0.5)
    assert laws.LAWS["constant"].param is None


def test_kernel_arguments_are_named():
    from mixing.engine import mechanisms as M

    spec = M.make("householder", 8, vocab=4).spec(0)
    args = generator_args(spec)
    assert len(args) == len(GENERATOR_FIELDS)
    i = GENERATOR_FIELDS.index("table")
    assert args[i].shape == (4, 8)
    swapped = with_arg(args, "table", args[i].astype(np.float32))
    assert swapped[i].dtype == np.float32 and swapped[:i] == args[:i] and len(swapped) == len(args)


def test_one_table_printer_aligns_and_fits():
    from mixing.cli import TABLE_WIDTH, columns_that_fit, pm, table

    text = table([["a long label", "1", "22"], ["b", "333", "4"]], header=["name", "x", "y"])
    lines = text.splitlines()
    assert lines[1].startswith("------------") and len({len(line) for line in lines}) == 1
    assert lines[2].endswith(" 1  22") and lines[3].endswith("333   4")
    assert table([["a", "b"]], header=["h", "k"], markdown=True).splitlines()[1] == "|---|---|"
    assert 40 + columns_that_fit(40, 11) * 13 <= TABLE_WIDTH < 40 + (columns_that_fit(40, 11) + 1) * 13
    # the standard error decides the digits; tiny or huge values go scientific
    assert pm(0.44721, 0.0842) == "0.447±0.084" and pm(12.3456, 1.2) == "12.3±1.2"
    assert pm(2.5e-5, 1e-6) == "2.500e-05±1.0e-06" and pm(0.5, 0.0) == "0.5000" and pm(float("nan"), 1) == "-"

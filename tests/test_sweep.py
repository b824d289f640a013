"""The sweep CLI: results contract, bad input, resume after SIGKILL."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mixing.sweep import main, parse_lengths

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "mixing.sweep", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_retrieval_sweep_writes_results_contract(tmp_path):
    out = tmp_path / "o"
    rc = main(
        [
            "--mechanism",
            "so2",
            "--mechanism",
            "householder",
            "--d",
            "6,8",
            "--lengths",
            "2^3:2^6",
            "--param",
            "beta=1,2",
            "--param",
            "B=4",
            "--trials",
            "5",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    rows = read(out / "results.csv")
    assert list(rows[0])[:9] == ["mechanism", "measure", "x_name", "x", "value", "stderr", "trials", "seed", "d"]
    assert {"beta", "B"} <= set(rows[0])
    # so2: 2 d; householder: 2 d x 2 beta -> 6 points x 4 metrics x 4 lengths
    assert len(rows) == 6 * 4 * 4
    assert {r["measure"] for r in rows} == {"near_weight", "far_mass", "retention", "far_residual"}
    assert {r["beta"] for r in rows if r["mechanism"] == "so2"} == {""}
    # every resolved parameter is a column, defaults included: so2's law and spread, the task's window
    so2 = [r for r in rows if r["mechanism"] == "so2"]
    assert {(r["law"], r["sigma"], r["window"], r["B"]) for r in so2} == {("gaussian", "0.5", "64", "4.0")}
    man = json.loads((out / "manifest.json").read_text())
    assert all(p["status"] == "done" for p in man["grid"]) and len(man["grid"]) == 6
    for key in ("argv", "versions", "git_commit", "device", "start", "end", "seed"):
        assert key in man
    # the header every manifest of the project opens with, in the same order
    from mixing.sweep.results import SCHEMA_VERSION

    head = ["schema", "schema_version", "argv", "versions", "git_commit", "engine", "start", "end"]
    assert list(man)[: len(head)] == head and man["schema"] == "mixing.sweep"
    assert man["schema_version"] == SCHEMA_VERSION and man["end"] >= man["start"]
    # every grid point records the task it ran, defaults included (its id hashes what was given)
    assert all(
        g["resolved_measure_params"]["window"] == 64 and g["resolved_measure_params"]["B"] == 4.0 for g in man["grid"]
    )


def test_walk_measures_and_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'mechanism = ["so2"]\nmeasure = "second-moment"\nd = [4]\nlags = 7\ntrials = 3\n'
        '[param]\nc = [0.0, 0.5]\nlaw = "uniform"\n'
    )
    assert main(["--config", str(cfg), "--out", str(tmp_path / "o")]) == 0
    rows = read(tmp_path / "o" / "results.csv")
    assert len(rows) == 2 * 7 and {r["measure"] for r in rows} == {"second_moment"}
    assert {r["c"] for r in rows} == {"0.0", "0.5"} and rows[0]["x_name"] == "lag"


def test_parse_lengths():
    assert parse_lengths("2^2:2^4") == [4, 8, 16]
    assert parse_lengths("5,17,3") == [5, 17, 3]


BAD = [
    (["--mechanism", "so2", "--d", "7"], "d"),
    (["--mechanism", "rope", "--d", "5"], "d"),
    (["--mechanism", "householder", "--param", "beta=2.5"], "beta"),
    (["--mechanism", "householder", "--param", "beta=0"], "beta"),
    (["--lengths", "0,16"], "lengths"),
    (["--lengths", "16,2.5"], "lengths"),
    (["--lengths", "-4"], "lengths"),
    (["--trials", "0"], "trials"),
    (["--trials", "1.5"], "trials"),
    (["--mechanism", "rotary"], "mechanism"),
    (["--measure", "entropy"], "measure"),
    (["--param", "bogus=1"], "bogus"),
    (["--param", "sigma"], "--param"),
    (["--param", "sigma=1,"], "--param"),
    (["--mechanism", "so2", "--param", "sigma=abc"], "sigma"),
    (["--config", "/nonexistent/x.toml"], "--config"),
    (["--mechanism", "so2", "--param", "law=levy"], "law"),
    (["--param", "delta=100", "--lengths", "16,32"], "delta"),
    (["--frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize("args,name", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_input_one_line_exit_2(args, name, tmp_path, capsys):
    rc = main([*args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert name in err, err


def test_bad_config_content(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("mechanism = [\n")
    assert main(["--config", str(cfg)]) == 2
    assert "--config" in capsys.readouterr().err


def test_bad_input_in_subprocess_has_no_traceback(tmp_path):
    res = run_cli("--mechanism", "so2", "--d", "7", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_existing_out_needs_resume(tmp_path, capsys):
    args = ["--mechanism", "nope", "--d", "4", "--lengths", "4,8", "--trials", "2", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert (
        main(
            [
                "--mechanism",
                "nope",
                "--d",
                "6",
                "--lengths",
                "4,8",
                "--trials",
                "2",
                "--out",
                str(tmp_path / "o"),
                "--resume",
            ]
        )
        == 2
    )


def test_resume_after_sigkill_gives_identical_results(tmp_path):
    args = [
        "--mechanism",
        "householder",
        "--d",
        "16",
        "--lengths",
        "2^4:2^14",
        "--trials",
        "48",
        "--param",
        "beta=0.25,0.5,0.75,1,1.25,1.5,1.75,2",
        "--seed",
        "9",
    ]
    ref = tmp_path / "ref"
    assert run_cli(*args, "--out", str(ref)).returncode == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mixing.sweep", *args, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list((out / "points").glob("*.csv")) if (out / "points").exists() else []
        if done:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list((out / "points").glob("*.csv")))
    assert 0 < n_done < 8, f"kill landed after {n_done} of 8 points"
    res = run_cli(*args, "--out", str(out), "--resume")
    assert res.returncode == 0, res.stderr
    assert (out / "results.csv").read_text() == (ref / "results.csv").read_text()
    assert not list(out.rglob("*.tmp"))


def test_show_chooses_the_summary_metrics(tmp_path, capsys):
    out = tmp_path / "s"
    assert (
        main(
            [
                "--mechanism",
                "so2",
                "--d",
                "8",
                "--lengths",
                "8,32",
                "--trials",
                "4",
                "--show",
                "retention,far_mass",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "retention (L ->)" in text and "far_mass (L ->)" in text and "near_weight (L ->)" not in text
    assert (
        main(["--mechanism", "so2", "--d", "8", "--lengths", "8", "--trials", "2", "--out", str(tmp_path / "d")]) == 0
    )
    assert "near_weight (L ->)" in capsys.readouterr().out  # the default: the measure's own metric
    rc = main(
        [
            "--mechanism",
            "so2",
            "--d",
            "8",
            "--lengths",
            "8",
            "--trials",
            "2",
            "--show",
            "coherence",
            "--out",
            str(tmp_path / "bad"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--show" in err and "near_weight" in err


def test_generators_file_parts_not_used_are_named(tmp_path, capsys):
    import numpy as np

    from mixing.engine import generators

    path = tmp_path / "g.npz"
    angles = np.random.default_rng(0).normal(size=(5, 4))
    generators.save(
        str(path), "table", "so2", {"angles": angles}, kappa=np.full(5, 0.9), block_weights=np.full(4, 0.8), B=8.0
    )
    out = tmp_path / "o"
    assert (
        main(
            [
                "--mechanism",
                "so2",
                "--param",
                f"generators={path}",
                "--lengths",
                "8",
                "--trials",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    err = [line for line in capsys.readouterr().err.splitlines() if "not used" in line]
    assert len(err) == 1 and "kappa" in err[0] and "block_weights" in err[0]
    man = json.loads((out / "manifest.json").read_text())
    assert set(man["generators_ignored"]) == {str(path)}
    # a file with the generators alone: nothing to report
    plain = tmp_path / "p.npz"
    generators.save(str(plain), "table", "so2", {"angles": angles})
    assert (
        main(
            [
                "--mechanism",
                "so2",
                "--param",
                f"generators={plain}",
                "--lengths",
                "8",
                "--trials",
                "2",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    assert "not used" not in capsys.readouterr().err


def test_a_folder_in_use_is_refused_and_default_folders_never_collide(tmp_path, capsys, monkeypatch):
    from mixing.sweep.results import Store, unique_dir

    out = tmp_path / "busy"
    holder = Store(out)
    holder.lock()  # another sweep holds the folder
    try:
        rc = main(["--mechanism", "nope", "--lengths", "8", "--trials", "2", "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and "in use by another sweep (pid" in err
        assert not (out / "manifest.json").exists()
    finally:
        holder.unlock()
    assert main(["--mechanism", "nope", "--lengths", "8", "--trials", "2", "--out", str(out)]) == 0
    # two default folders made in the same second are distinct, each created exclusively
    a, b = unique_dir(tmp_path / "runs", "20260101-000000"), unique_dir(tmp_path / "runs", "20260101-000000")
    assert a != b and a.is_dir() and b.is_dir()
    monkeypatch.chdir(tmp_path)
    assert main(["--mechanism", "nope", "--lengths", "8", "--trials", "2"]) == 0
    assert main(["--mechanism", "nope", "--lengths", "8", "--trials", "2"]) == 0
    made = [p for p in (tmp_path / "runs").iterdir() if (p / "results.csv").exists()]
    assert len(made) == 2


def test_resume_recomputes_points_that_do_not_prove_themselves(tmp_path, capsys):
    out = tmp_path / "c"
    argv = [
        "--mechanism",
        "so2",
        "--mechanism",
        "householder",
        "--param",
        "beta=1,2",
        "--d",
        "8",
        "--lengths",
        "8,32",
        "--trials",
        "6",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    full = (out / "results.csv").read_bytes()
    files = sorted((out / "points").iterdir())
    assert len(files) == 3
    files[0].write_text(files[0].read_text()[:-40])  # truncated
    files[1].write_text(files[1].read_text().replace("0.", "0.9", 1))  # a value altered
    files[2].write_text("")  # emptied
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "recomputing" in line]
    assert len(err) == 3 and any("empty" in e for e in err) and sum("checksum mismatch" in e for e in err) == 2
    assert (out / "results.csv").read_bytes() == full
    man = json.loads((out / "manifest.json").read_text())
    assert len(man["checksums"]) == 3


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--lengths", "1e19"], "exceeds the largest supported value"),
        (["--lengths", "1e15"], "exceeds the largest supported value"),
        (["--lengths", "2^30:2^40"], "add --force-size"),
        (["--d", "100000", "--lengths", "8"], "GiB at its peak"),
        (["--trials", "1e13", "--lengths", "8"], "exceeds the largest supported value"),
    ],
)
def test_absurd_sizes_are_refused_with_the_estimate(tmp_path, capsys, argv, needle):
    rc = main(["--mechanism", "householder", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "o").exists()


def test_force_size_lets_a_large_sweep_through_validation():
    from mixing.sweep import build_parser, resolve

    args = build_parser().parse_args(["--mechanism", "householder", "--lengths", "2^30:2^40", "--force-size"])
    assert len(resolve(args)["points"]) == 1


def test_counts_accept_powers_of_two_and_mixed_length_lists():
    from mixing.engine.errors import ParameterError
    from mixing.sweep.grid import _int, parse_lengths

    assert parse_lengths("2^20") == [2**20]
    assert parse_lengths("2^10,2^12,5000") == [1024, 4096, 5000]
    assert parse_lengths("2^4:2^6,100") == [16, 32, 64, 100]
    assert _int("lags", "2^8") == 256 and _int("trials", "1e3") == 1000
    for bad in ("2^41", "2^4:2^3", "1:5", "", "2^99999", "1e19", "abc", "2^"):
        with pytest.raises(ParameterError, match="lengths"):
            parse_lengths(bad)


def test_ctrl_c_stops_a_long_trial_within_seconds(tmp_path):
    """One trial of 2^30 steps is a single kernel call of about a minute: SIGINT must stop it
    within a few seconds (the kernel polls a stop flag), keep the finished point, and exit 130."""
    out = tmp_path / "long"
    argv = [
        sys.executable,
        "-m",
        "mixing.sweep",
        "--mechanism",
        "nope",
        "--measure",
        "retrieval",
        "--lengths",
        "16,2^30",
        "--trials",
        "1",
        "--d",
        "4",
        "--out",
        str(out),
    ]
    first = subprocess.run(
        argv[:5]
        + [
            "--mechanism",
            "alibi",
            "--param",
            "m=1e-9",
            "--lengths",
            "16",
            "--trials",
            "1",
            "--d",
            "4",
            "--out",
            str(tmp_path / "warm"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # compile the kernels first
    assert first.returncode == 0, first.stderr
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "manifest.json").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # inside the long kernel call by now
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.time() - sent < 5.0, "Ctrl-C took too long"
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err


def test_ctrl_c_stops_a_first_call_while_its_kernel_compiles(tmp_path):
    """With an empty kernel cache the first call compiles for 10-20 s: SIGINT during that
    compilation must still stop the sweep within seconds, and exit 130 (the compilation cannot
    see the stop flag, so the main thread stops waiting for it after ``cpu.GRACE``)."""
    out = tmp_path / "cold"
    argv = [sys.executable, "-m", "mixing.sweep", "--mechanism", "nope", "--measure", "retrieval"]
    argv += ["--lengths", "16", "--trials", "1", "--d", "4", "--out", str(out)]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while not (out / "manifest.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # compiling by now: a cold compile takes far longer than a second
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert time.time() - sent < 5.0, "Ctrl-C waited for the compilation"
    assert proc.returncode == 130, err
    assert "Traceback" not in err


@pytest.mark.parametrize("given", ["64,16", "16,16,64"])
def test_lengths_in_any_order_label_every_row_right(given, tmp_path, capsys):
    """Each row of a multi-length sweep equals the row of a run at that length alone."""

    def rows(lengths, name):
        out = tmp_path / name
        assert main(["--mechanism", "rope", "--lengths", lengths, "--trials", "8", "--out", str(out)]) == 0
        return {r["x"]: r["value"] for r in csv.DictReader(open(out / "results.csv")) if r["measure"] == "near_weight"}

    both = rows(given, "both")
    assert "sorted and without repeats: 16,64" in capsys.readouterr().err
    assert both["16"] == rows("16", "a")["16"] and both["64"] == rows("64", "b")["64"]


def test_a_folder_of_other_files_is_never_written_into(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.csv").write_text("my data\n")
    assert main(["--mechanism", "rope", "--lengths", "16", "--trials", "4", "--out", str(mine)]) == 2
    assert "holds files but no sweep" in capsys.readouterr().err
    assert (mine / "results.csv").read_text() == "my data\n"
    assert main(["--mechanism", "rope", "--lengths", "16", "--trials", "4", "--out", ""]) == 2


def test_resume_removes_only_its_own_temporary_files(tmp_path):
    out = tmp_path / "s"
    argv = ["--mechanism", "rope", "--lengths", "16", "--trials", "4", "--out", str(out)]
    assert main(argv) == 0
    (out / "notes").mkdir()
    (out / "notes" / "draft.tmp").write_text("mine")
    (out / "results.csv.abc.tmp").write_text("left by a killed write")
    assert main(argv + ["--resume"]) == 0
    assert (out / "notes" / "draft.tmp").read_text() == "mine"
    assert not (out / "results.csv.abc.tmp").exists()
    assert json.loads((out / "manifest.json").read_text())["removed_partial"] == ["results.csv.abc.tmp"]


def test_a_sequence_file_shorter_than_the_lengths_is_cycled_and_says_so(tmp_path, capsys):
    """One generator per lag (python -m mixing.lm export): lengths past its rows reuse the rows
    cyclically; the sweep says so once and records it in the manifest, and not when the file
    is long enough."""
    import numpy as np

    from mixing.engine import generators as gen

    path = tmp_path / "seq.npz"
    gen.save(str(path), "sequence", "so2", {"angles": np.full((32, 4), 0.3)})
    assert (
        main(
            [
                "--mechanism",
                "so2",
                "--param",
                f"generators={path}",
                "--lengths",
                "16,64",
                "--trials",
                "2",
                "--out",
                str(tmp_path / "long"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert err.count("reuse them cyclically") == 1 and "mod 32" in err
    assert json.loads((tmp_path / "long" / "manifest.json").read_text())["generators_cycled"] == {str(path): 32}
    assert (
        main(
            [
                "--mechanism",
                "so2",
                "--param",
                f"generators={path}",
                "--lengths",
                "16,32",
                "--trials",
                "2",
                "--out",
                str(tmp_path / "short"),
            ]
        )
        == 0
    )
    assert "cyclically" not in capsys.readouterr().err
    assert json.loads((tmp_path / "short" / "manifest.json").read_text())["generators_cycled"] == {}


def test_plot_draws_every_metric_and_load_types_the_table(tmp_path, capsys):
    """--plot writes OUT/plot.png beside results.csv; python -m mixing.plot redraws it (or some
    metrics, elsewhere) and says in one line what it cannot draw; results.load gives the table
    with numbers as numbers and the manifest."""
    from mixing.sweep import plot as plot_mod
    from mixing.sweep import results

    out = tmp_path / "s"
    assert (
        main(
            [
                "--mechanism",
                "so2",
                "--mechanism",
                "rope",
                "--param",
                "sigma=0.3,0.6",
                "--d",
                "8",
                "--lengths",
                "8,32",
                "--trials",
                "4",
                "--out",
                str(out),
                "--plot",
            ]
        )
        == 0
    )
    assert "figure:" in capsys.readouterr().out
    png = (out / "plot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    other = tmp_path / "near.png"
    assert plot_mod.main([str(out), "--metrics", "near_weight", "--out", str(other)]) == 0
    assert other.stat().st_size > 5_000
    assert plot_mod.main([str(out), "--metrics", "nope"]) == 2
    assert "not in" in capsys.readouterr().err
    assert plot_mod.main([str(tmp_path)]) == 2
    assert "no results.csv" in capsys.readouterr().err
    labels = {plot_mod.point_label(r, ["sigma"]) for r in results.read_csv(out / "results.csv")}
    assert labels == {"so2 sigma=0.3", "so2 sigma=0.6", "rope"}
    # the figure's lines are named by what varies within a mechanism, not by the defaults that
    # results.csv records beside it (so2's law and base, rope's base)
    fig = plot_mod.draw(results.read_csv(out / "results.csv"))
    legend = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert legend == {"so2 sigma=0.3", "so2 sigma=0.6", "rope"}
    pd = pytest.importorskip("pandas")
    df = results.load(out)
    assert isinstance(df, pd.DataFrame) and len(df) == 3 * 4 * 2
    assert df["x"].dtype.kind == "i" and df["value"].dtype.kind == "f"
    assert df.attrs["manifest"]["trials"] == 4
    from mixing.engine.errors import ParameterError

    with pytest.raises(ParameterError, match="no results.csv"):
        results.load(tmp_path)
    # as an xarray Dataset: every row of the table at its coordinates, "n/a" where a
    # mechanism lacks the parameter (rope has no sigma)
    pytest.importorskip("xarray")
    ds = results.load_dataset(out)
    assert dict(ds.sizes) == {"measure": 4, "mechanism": 2, "sigma": 3, "x": 2}
    assert ds.attrs["trials"] == 4 and int(np.isfinite(ds["value"].values).sum()) == len(df)
    for r in df.itertuples():
        sigma = "n/a" if r.mechanism == "rope" else r.sigma
        at = ds.sel(measure=r.measure, mechanism=r.mechanism, sigma=sigma, x=r.x)
        assert at["value"].item() == r.value and at["stderr"].item() == r.stderr


def test_a_config_sets_every_run_option(tmp_path, capsys, monkeypatch):
    from mixing.sweep import executors

    small = 'mechanism = "householder"\nd = 8\nlengths = "16,32"\ntrials = 4\n'
    cfg = tmp_path / "c.toml"
    cfg.write_text(small + "plot = true\nforce-size = true\n")
    assert main(["--config", str(cfg), "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "plot.png").exists()
    cfg.write_text(small + 'executor = "local"\nworkers = 2\n')
    assert main(["--config", str(cfg), "--out", str(tmp_path / "b")]) == 2
    assert "--workers: only used with --executor dask" in capsys.readouterr().err
    cfg.write_text(small + 'executor = "bogus"\n')
    assert main(["--config", str(cfg), "--out", str(tmp_path / "c")]) == 2
    assert "--executor: unknown 'bogus'" in capsys.readouterr().err
    cfg.write_text(small + "plot = 1\n")
    assert main(["--config", str(cfg), "--out", str(tmp_path / "d")]) == 2
    assert "plot must be true or false" in capsys.readouterr().err
    # the executor named in the file is the one that runs, and the command line wins over it
    made = []
    monkeypatch.setattr(executors, "make", lambda name, *a: made.append(name) or executors.LocalExecutor())
    cfg.write_text(small + 'executor = "dask"\n')
    assert main(["--config", str(cfg), "--out", str(tmp_path / "e")]) == 0
    assert main(["--config", str(cfg), "--out", str(tmp_path / "f"), "--executor", "local"]) == 0
    assert made == ["dask", "local"]

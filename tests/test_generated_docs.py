"""The measured numbers in README.md and BENCHMARKS.md are written from the committed benchmark
results (``benchmarks/render.py``), so a changed number in either file without a new run fails,
and so does a block that a new run would write differently."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _render():
    spec = importlib.util.spec_from_file_location("render", ROOT / "benchmarks" / "render.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_docs_hold_what_the_committed_results_give():
    render = _render()
    for fname, text in render.rendered().items():
        assert (ROOT / fname).read_text() == text, f"{fname}: run python benchmarks/render.py"


MACHINE = {"date": "2026-01-01", "cpu": "2 cores x 2.00 GHz", "threads": 2, "numba": "0", "numpy": "0"}


def _fake(tmp_path, times, cpu):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "times.json").write_text(json.dumps(times))
    (tmp_path / "results" / "cpu.json").write_text(json.dumps(cpu))
    for study, train in (("lm-run", (44.0, 250.0)), ("lm-default", (553.0, 1655.0))):
        folder = tmp_path / "figures" / "output" / study
        folder.mkdir(parents=True)
        models = {
            "rope/seed0": {"train_wall_s": train[0], "eval_wall_s": 14.0, "peak_rss_mb": 900, "threads": 1},
            "path/seed0": {"train_wall_s": train[1], "eval_wall_s": 600.0, "peak_rss_mb": 1800, "threads": 1},
        }
        (folder / "manifest.json").write_text(json.dumps({"models": models}))
    (tmp_path / "docs").mkdir()
    for fname, blocks in (
        ("README.md", ("quickstart", "sweep-times")),
        ("BENCHMARKS.md", ("cpu-engine",)),
        ("docs/guide.md", ("lm-run-times", "lm-default-times")),
    ):
        body = "".join(
            f"before\n<!-- begin generated: {b} -->\nOLD-TEXT\n<!-- end generated: {b} -->\nafter\n" for b in blocks
        )
        (tmp_path / fname).write_text(body)
    return tmp_path


def test_blocks_are_rewritten_from_the_numbers_and_nothing_else():
    render = _render()
    times = {
        "machine": MACHINE,
        "cold_s": {"sweep": 23.6, "proofs": 11.2, "figures": 53.0, "learned": 2.04, "lm": 18.9},
        "warm_s": {"sweep": 3.1, "proofs": 6.0, "figures": 22.4, "learned": 1.5, "lm": 12.0},
        "suite_s": 391.0,
        "install": {
            "light": {"seconds": 18.0, "mb": 633, "torch": None, "nvidia_wheels": 0},
            "dev": {"seconds": 72.0, "mb": 6205, "torch": "2.14.1", "nvidia_wheels": 15},
            "dev_cpu_torch": {"seconds": 39.0, "mb": 1671, "torch": "2.13.0+cpu", "nvidia_wheels": 0},
        },
    }
    sc = {"exponent_L": 1.0, "exponent_d": 0.3}
    cpu = {
        "machine": MACHINE,
        "peer": {
            "table V=1024": {"engine_steps_per_s": 1e7, "peer_steps_per_s": 1e6, "ratio": 10.0, "zmax": 1.2},
            "i.i.d. directions": {"engine_steps_per_s": 3e7, "peer_steps_per_s": 6e5, "ratio": 50.0, "zmax": 0.9},
        },
        "kernel_vs_reference": {"ratio": 870.0, "max_diff": 2e-15},
        "sweeps": {
            "i.i.d., reduced": 2.2,
            "i.i.d., sampler=full": 8.0,
            "table V=1024": 3.3,
            "i.i.d., reduced, d=1024": 2.4,
        },
        "scaling": {"householder": sc},
        "rss_kib": {"16384": 247808, "262144": 247808},
        "lanes": {
            "table V=1024": {
                "one_thread": {"lanes_steps_per_s": 2e7, "trial_steps_per_s": 1.25e7, "ratio": 1.6},
                "2_threads": {"lanes_steps_per_s": 3e7, "trial_steps_per_s": 2e7, "ratio": 1.5},
            }
        },
    }
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        root = _fake(Path(d), times, cpu)
        out = render.rendered(root, root / "results")
    readme, bench, guide = out["README.md"], out["BENCHMARKS.md"], out["docs/guide.md"]
    assert readme.startswith("before\n") and readme.endswith("after\n") and "OLD-TEXT" not in readme
    assert "sweep 24 s)" in readme and "(11 s)" in readme and "(53 s)" in readme and "(2.0 s)" in readme
    assert "(install 18 s, 633 MB; sweep 24 s)" in readme and "(install 72 s, 6.2 GB; suite 6 min 31 s)" in readme
    assert "torch 2.14.1 with 15 CUDA wheels (6.2 GB)" in readme and "brings it to 1.7 GB in 39 s" in readme
    assert "takes 3.1 s, 6.0 s, 22 s, 1.5 s and 12 s" in readme
    assert "takes 2.20 s with i.i.d." in readme and "3.30 s with a" in readme
    assert "**10.0x**" in bench and "30x: not met" in bench and "**50.0x**" in bench and "30x: met" in bench
    assert "2.2 s" not in bench and "2.20 s (3.05e+07 steps/s)" in bench and "1 s: not met" in bench
    assert "1.09x the d = 64 time" in bench and "flat: met" in bench and "2^14, 2^18" in bench
    assert "**1.60x**" in bench and "2 threads: 3e+07 vs 2e+07, 1.50x" in bench and "4x per core: not met" in bench
    assert "2 models; a model trained in 44 s (PaTH's 4 min) on 1 thread" in guide
    assert "was evaluated in 14 s to 10 min" in guide and "peak RSS 1.8 GB a process" in guide
    assert "a model trained in 9 min (PaTH's 28 min)" in guide


def test_a_missing_block_is_one_clear_error(tmp_path):
    render = _render()
    root = _fake(tmp_path, {}, {})
    (root / "README.md").write_text("no markers here\n")
    with pytest.raises(ValueError, match="no generated block 'quickstart'"):
        render.rendered(root, root / "results")

"""``python benchmarks/times.py``: the wall time of every command the README's Quick start runs.

Each command runs in a fresh process, twice: first with an empty numba cache (``NUMBA_CACHE_DIR``
set to a new folder, so every kernel compiles, as on a first run), then again with that cache
filled. Outputs go to a temporary folder. ``--suite`` times the test suite instead
(``python -m pytest -q``), once. ``--install`` times the README's two installs in fresh virtual
environments made from a fresh clone of the committed tree (``pip install -e .`` and
``pip install -e ".[dev]"``, and the latter again after a CPU-only torch, ``--cpu-torch``), with
the size of each environment. The numbers are merged into the ``--json`` file
(``benchmarks/results/times.json``), from which ``python benchmarks/render.py`` writes the times
quoted in README.md; the suite checks that README.md holds what that file gives, so time the
commands, render, then time the suite and render again. The machine should be idle: the times are
of the commands, imports and compiles included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mixing.cli import Parser

ROOT = Path(__file__).resolve().parent.parent
#: name -> the command (``{tmp}`` is the run's temporary folder), as the README's Quick start has it
COMMANDS = {
    "sweep": "python -m mixing.sweep --out {tmp}/sweep",
    "proofs": "python -m proofs --quick",
    "figures": "python -m figures --quick --out {tmp}/figs",
    "learned": "python -m mixing.learned --mechanism so2 --out {tmp}/so2.npz",
    "lm": "python -m mixing.lm run --quick --out {tmp}/lm",
}
SUITE = "python -m pytest -q -p no:cacheprovider"


def timed(command: str, env: dict, cwd: Path) -> float:
    """Wall seconds of one command in a fresh process (it must succeed: else its output's tail
    is printed and the run stops)."""
    t = time.perf_counter()
    proc = subprocess.run(command.split(), cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write((proc.stdout + proc.stderr)[-4000:])
        raise SystemExit(f"times: {command!r} failed with status {proc.returncode}")
    return time.perf_counter() - t


def machine() -> dict:
    """The machine record of ``engine_bench`` (CPU, threads, versions, date)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from engine_bench import machine as record

    return record()


def run(names, suite: bool, progress=print) -> dict:
    """Cold and warm seconds of each command in ``names``, or the suite's (``suite``)."""
    out = {"machine": machine(), "cold_s": {}, "warm_s": {}}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba-cache"), "PYTHONPATH": str(ROOT)}
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        if suite:
            out = {"suite_s": timed(SUITE, env, ROOT), "suite_machine": machine()}
            progress(f"suite        : {out['suite_s']:6.1f} s")
            return out
        for name in names:
            for kind in ("cold_s", "warm_s"):
                work = Path(tempfile.mkdtemp(dir=tmp))
                out[kind][name] = timed(COMMANDS[name].format(tmp=work), env, ROOT)
                progress(f"{name:8s} {kind[:4]}: {out[kind][name]:6.1f} s")
    return out


#: name -> (what is installed first, or None; the project's install spec)
INSTALLS = {"light": (None, "."), "dev": (None, ".[dev]"), "dev_cpu_torch": ("{cpu_torch}", ".[dev]")}


def _mb(path: Path) -> int:
    """Disk usage of ``path`` in MB (``du -sm``)."""
    return int(subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def installs(cpu_torch: str, progress=print) -> dict:
    """Wall seconds and size of each install of ``INSTALLS`` in a fresh venv (pip's cache off),
    with the machine they were timed on (``install_machine``: the commands may be timed on
    another)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        for name, (first, spec) in INSTALLS.items():
            venv = Path(tmp) / name
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-cache-dir"]
            first = first.format(cpu_torch=cpu_torch) if first else None
            t = time.perf_counter()
            if first:
                subprocess.run(pip + first.split(), cwd=repo, check=True, capture_output=True)
            subprocess.run(pip + ["-e", spec], cwd=repo, check=True, capture_output=True)
            wall = time.perf_counter() - t
            listing = subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "list"], capture_output=True, text=True, check=True
            ).stdout
            torch = next((line.split()[1] for line in listing.splitlines() if line.split()[:1] == ["torch"]), None)
            cuda_wheels = sum(line.startswith("nvidia-") for line in listing.splitlines())
            out[name] = dict(
                command=(f"pip install {first} && " if first else "") + f'pip install -e "{spec}"',
                seconds=wall,
                mb=_mb(venv),
                torch=torch,
                nvidia_wheels=cuda_wheels,
            )
            progress(
                f"install {name:14s}: {wall:6.1f} s, {out[name]['mb']} MB, torch {torch}, {cuda_wheels} nvidia wheels"
            )
    return {"install": out, "install_machine": machine()}


def merged(path: Path, new: dict) -> dict:
    """The numbers of ``path`` (when it exists) updated with ``new``, command by command."""
    old = json.loads(path.read_text()) if path.exists() else {}
    for key in ("cold_s", "warm_s"):
        if key in new:
            new[key] = {**old.get(key, {}), **new[key]}
    return {**old, **new}


def main(argv=None) -> int:
    ap = Parser(prog="python benchmarks/times.py", description=__doc__.strip().splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated commands to time (default all: {','.join(COMMANDS)})")
    ap.add_argument("--suite", action="store_true", help="time the test suite instead (several minutes)")
    ap.add_argument("--install", action="store_true", help="time the README's installs in fresh venvs instead")
    ap.add_argument(
        "--cpu-torch",
        default="torch==2.13.0",
        metavar="SPEC",
        help="with --install: the CPU-only torch installed before the dev extra (default torch==2.13.0, the CPU "
        "build on the benchmark machine's wheel mirror; elsewhere e.g. "
        "'torch --index-url https://download.pytorch.org/whl/cpu')",
    )
    ap.add_argument("--json", metavar="FILE", help="merge the numbers into FILE (e.g. benchmarks/results/times.json)")
    args = ap.parse_args(argv)
    names = list(COMMANDS) if not args.only else [n.strip() for n in args.only.split(",")]
    bad = [n for n in names if n not in COMMANDS]
    if bad:
        ap.error(f"--only: unknown command {bad[0]!r} (choose from {', '.join(COMMANDS)})")
    res = installs(args.cpu_torch) if args.install else run(names, args.suite)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged(path, res), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

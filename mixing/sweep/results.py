"""The results table, the manifest and the resumable store of a sweep.

Layout of a sweep directory ``OUT``:

- ``OUT/points/<id>.csv``: the rows of one finished grid point, written atomically
  (temporary file + rename), its SHA-256 recorded in the manifest (``checksums``);
- ``OUT/results.csv``: every finished point's rows in grid order, rewritten atomically
  after each point; tidy long format (see ``COLUMNS``);
- ``OUT/manifest.json``: argv, resolved grid, seed, versions, git commit, device, start and
  end time and the status of every grid point.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mixing.engine.errors import ParameterError
from mixing.engine.files import write_text

if TYPE_CHECKING:  # optional: the results extra
    import pandas
    import xarray

COLUMNS = ["mechanism", "measure", "x_name", "x", "value", "stderr", "trials", "seed"]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (``mixing.engine.files``),
    creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def point_id(point: dict) -> str:
    """A stable identifier of a grid point (its canonical JSON, hashed)."""
    text = json.dumps(point, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def rows_to_csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _fmt(row.get(k))) for k in columns})
    return buf.getvalue()


def _fmt(v: object) -> object:
    if isinstance(v, float):
        return repr(v)
    return v


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def unique_dir(parent: Path, stem: str) -> Path:
    """Create ``parent/stem-<pid>-<n>`` exclusively (never a folder another run made) and return it."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = parent / f"{stem}-{os.getpid()}-{n}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise OSError(f"no free folder name under {parent}")


def sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


#: the largest manifest a resume reads (a grid of a million points is about 500 MiB)
MAX_MANIFEST = 1 << 30


class Store:
    """A sweep directory: finished points, the assembled table and the manifest.

    A running sweep holds an advisory lock on ``OUT/.lock`` (``lock``); only the holder
    cleans temporary files. Each finished point's SHA-256 is recorded in the manifest
    (``checksums``), and a resumed sweep trusts only points whose file still matches.
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.points = self.out / "points"
        self._lock = None
        self.checksums: dict = {}

    def lock(self) -> None:
        """Take the folder's lock, or raise OSError naming the process that holds it."""
        from .locks import take

        self._lock = take(self.out, "sweep")

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def verified(self, pid: str) -> bool:
        """The point's file exists and matches the checksum recorded when it was written."""
        want = self.checksums.get(pid)
        return want is not None and sha256_file(self.points / f"{pid}.csv") == want

    def check_points(self, pids: list[str]) -> list[tuple[str, str]]:
        """Remove every point file that does not prove itself; return (pid, why) for each."""
        bad = []
        for pid in pids:
            path = self.points / f"{pid}.csv"
            if not path.exists():
                continue
            if self.verified(pid):
                continue
            why = (
                "no checksum was recorded for it"
                if pid not in self.checksums
                else "it is empty"
                if path.stat().st_size == 0
                else "it is truncated or altered (checksum mismatch)"
            )
            path.unlink()
            self.checksums.pop(pid, None)
            bad.append((pid, why))
        return bad

    def exists(self) -> bool:
        return (self.out / "manifest.json").exists() or self.points.exists()

    def clean_partial(self) -> list[str]:
        """Remove the temporary files a killed write of this sweep left (``atomic_write``'s, next
        to the sweep's own files and points; nothing else in the folder); return their paths
        relative to the folder (the resume lists them in the manifest)."""
        own = ("results.csv.", "manifest.json.")
        stale = [p for p in self.out.glob("*.tmp") if p.name.startswith(own)]
        stale += [p for p in self.points.glob("*.tmp")] if self.points.is_dir() else []
        for path in stale:
            path.unlink()
        return [str(p.relative_to(self.out)) for p in stale]

    def manifest(self) -> dict:
        """The sweep's manifest; a missing, unreadable or malformed one is a ParameterError."""
        path = self.out / "manifest.json"
        try:
            if path.stat().st_size > MAX_MANIFEST:
                raise ParameterError(
                    f"--resume: {path} is larger than {MAX_MANIFEST >> 20} MiB; not a sweep's manifest"
                )
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ParameterError(
                f"--resume: {self.out} has points/ but no manifest.json; it cannot be resumed "
                "(start the sweep in a new folder)"
            ) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ParameterError(f"--resume: {path} is not a readable sweep manifest ({exc})") from None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("grid"), list)
            or not all(isinstance(p, dict) and "id" in p for p in data["grid"])
        ):
            raise ParameterError(f"--resume: {path} is not a sweep manifest (no grid of points)")
        return data

    def write_manifest(self, manifest: dict) -> None:
        atomic_write(self.out / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")

    def done(self, pid: str) -> bool:
        return self.verified(pid)

    def write_point(self, pid: str, rows: list[dict], columns: list[str]) -> None:
        text = rows_to_csv(rows, columns)
        atomic_write(self.points / f"{pid}.csv", text)
        self.checksums[pid] = hashlib.sha256(text.encode()).hexdigest()

    def assemble(self, pids: list[str], columns: list[str]) -> int:
        """Rewrite results.csv from the finished points, in grid order; return its row count."""
        rows = []
        for pid in pids:
            if self.done(pid):
                rows.extend(read_csv(self.points / f"{pid}.csv"))
        atomic_write(self.out / "results.csv", rows_to_csv(rows, columns))
        return len(rows)


def load(run_dir: str | os.PathLike) -> pandas.DataFrame:
    """The results table of a finished (or partly finished) run folder, a sweep's or a
    ``mixing.lm`` study's, as a pandas DataFrame (pandas: ``pip install -e ".[results]"``): one
    row per CSV row, numbers as numbers, the run's manifest in ``.attrs["manifest"]``."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError('mixing.sweep.results.load needs pandas: pip install -e ".[results]"') from None
    run_dir = Path(run_dir)
    path = run_dir / "results.csv"
    if not path.is_file():
        raise ParameterError(f"{run_dir}: no results.csv (a sweep's --out folder or a mixing.lm study)")
    df = pd.read_csv(path, keep_default_na=False, na_values=["", "nan"], low_memory=False)
    man = run_dir / "manifest.json"
    df.attrs["manifest"] = json.loads(man.read_text()) if man.is_file() else {}
    return df


def varying_within_mechanism(rows: list[dict], columns: list[str]) -> list[str]:
    """The ``columns`` that take more than one value among the rows of some one mechanism: what a
    sweep varied (its swept parameters, d), not the defaults results.csv records beside them,
    which differ only between mechanisms."""
    by_mech: dict = {}
    for r in rows:
        by_mech.setdefault(r["mechanism"], []).append(r)
    return [c for c in columns if any(len({r.get(c, "") for r in rs}) > 1 for rs in by_mech.values())]


def load_dataset(run_dir: str | os.PathLike) -> xarray.Dataset:
    """A sweep's results as an ``xarray.Dataset`` (xarray: ``pip install -e ".[results]"``):
    ``value`` and ``stderr`` over the dimensions ``measure`` and ``x``, ``mechanism``, and every
    column that varies within a mechanism (``d``, each swept ``--param``; "n/a" where a mechanism
    does not have it), NaN where a combination is not in the grid. The columns constant over the
    table (``trials``, ``seed``, ...) and the manifest (as JSON) are attributes; a parameter fixed
    per mechanism (its default) is in results.csv and ``load``, not a dimension."""
    try:
        import xarray  # noqa: F401
    except ImportError:
        raise ImportError('mixing.sweep.results.load_dataset needs xarray: pip install -e ".[results]"') from None
    df = load(run_dir)
    if not {"measure", "x", "value", "stderr"} <= set(df.columns):
        raise ParameterError(f"{run_dir}: not a sweep's results.csv (load() reads a mixing.lm study as a table)")
    grid = [c for c in df.columns if c not in ("measure", "x_name", "x", "value", "stderr")]
    # a dimension per column that varies within a mechanism, and the mechanism itself
    swept = varying_within_mechanism(read_csv(Path(run_dir) / "results.csv"), [c for c in grid if c != "mechanism"])
    varying = (["mechanism"] if df["mechanism"].nunique() > 1 else []) + swept
    constant = {c: df[c].iloc[0] for c in grid if df[c].nunique(dropna=False) == 1 and len(df)}
    table = df.copy()
    for c in varying:  # a parameter a mechanism does not have: its own label, not a NaN index
        if table[c].isna().any():
            table[c] = table[c].astype(object).where(table[c].notna(), "n/a")
    ds = table.set_index(["measure", *varying, "x"])[["value", "stderr"]].to_xarray()
    ds.attrs.update({k: (v.item() if hasattr(v, "item") else v) for k, v in constant.items()})
    ds.attrs["x_name"] = ", ".join(sorted(set(df["x_name"])))
    ds.attrs["manifest"] = json.dumps(df.attrs["manifest"])
    return ds


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: the version of the manifest schema shared by the sweep, mixing.lm and the figures
SCHEMA_VERSION = 1


def provenance(schema: str, argv: list, extra_versions: dict | None = None) -> dict:
    """The fields every manifest of the project opens with, under the same names (docs/guide.md,
    "Results format"): what wrote it (``schema``: "mixing.sweep", "mixing.lm" or "figures", and
    ``schema_version``), the command, the package versions, the commit, the engine's digest (the
    key of the kernel cache) and when it started (``end`` is set when it finishes)."""
    from mixing.engine._jit import DIGEST

    return {
        "schema": schema,
        "schema_version": SCHEMA_VERSION,
        "argv": [str(a) for a in argv],
        "versions": {**versions(), **(extra_versions or {})},
        "git_commit": git_commit(),
        "engine": DIGEST,
        "start": now(),
        "end": None,
    }


def versions() -> dict:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in ("mixing", "numpy", "scipy", "numba", "llvmlite", "sympy", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
    ).stdout.strip()
    return res.stdout.strip() + ("-dirty" if dirty else "")


def device_info(device: str) -> dict:
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "device": device,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "platform": platform.platform(),
    }
    if device == "cuda":
        from mixing.engine.kernels.cuda import layout

        info["cuda_layout"] = str(layout.current())
    return info

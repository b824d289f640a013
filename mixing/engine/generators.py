"""Learned or imported generators in a ``.npz`` file, validated.

Two kinds, each for the SO(2) or the Householder family:

- ``table`` (written by ``python -m mixing.learned``): one generator per token type;
  ``angles`` (V, d/2) for SO(2), or ``directions`` (V, d) unit rows and ``betas`` (V,) in
  (0, 2] for Householder. Tokens are drawn by the mechanism's ``tokens`` law.
- ``sequence`` (exported from a model): one generator per position, the same arrays with
  L rows; the generator at lag n is row (n - 1) mod L.

Optional metadata: ``mechanism``, ``kind``, ``d``, ``V``, ``B``, ``train_length``, ``seed``,
``final_loss`` and the learned ``kappa`` and ``block_weights``. A file without ``kind`` is a
table. Every check fails with one line naming the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np

from .errors import ParameterError

#: a file path as the functions here take it
PathLike = str | os.PathLike

UNIT_TOL = 1e-6


@dataclass(frozen=True)
class Generators:
    kind: str  # "table" or "sequence"
    angles: np.ndarray | None = None  # SO(2): (rows, d/2)
    directions: np.ndarray | None = None  # Householder: (rows, d)
    betas: np.ndarray | None = None  # Householder: (rows,)
    meta: dict = field(default_factory=dict)


_CACHE: dict = {}


def _fail(path: PathLike, msg: str) -> NoReturn:
    raise ParameterError(f"generators: {os.path.basename(str(path))}: {msg}")


def _finite(path: PathLike, name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        _fail(path, f"{name} has a non-finite entry at {tuple(int(i) for i in bad)}")


def validate(path: PathLike, data: dict, family: str, d: int) -> Generators:
    """Check the arrays of a generators file against a family ('so2' | 'householder') and d."""
    kind = str(data.get("kind", "table"))
    if kind not in ("table", "sequence"):
        _fail(path, f"kind must be 'table' or 'sequence', got {kind!r}")
    meta = {
        k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v)
        for k, v in data.items()
        if k not in ("angles", "directions", "betas")
    }
    if family == "so2":
        if "angles" not in data:
            _fail(path, "an SO(2) file needs an 'angles' array (rows x d/2)")
        a = _real(path, "angles", data["angles"])
        if a.ndim != 2 or a.shape[0] < 1:
            _fail(path, f"angles must be a 2-D array (rows x d/2), got shape {a.shape}")
        if a.shape[1] != d // 2:
            _fail(path, f"angles have {a.shape[1]} columns but d = {d} needs d/2 = {d // 2}")
        _finite(path, "angles", a)
        return Generators(kind, angles=np.ascontiguousarray(a), meta=meta)
    if "directions" not in data or "betas" not in data:
        _fail(path, "a Householder file needs 'directions' (rows x d) and 'betas' (rows)")
    w = _real(path, "directions", data["directions"])
    b = _real(path, "betas", data["betas"])
    if w.ndim != 2 or w.shape[0] < 1:
        _fail(path, f"directions must be a 2-D array (rows x d), got shape {w.shape}")
    if w.shape[1] != d:
        _fail(path, f"directions have {w.shape[1]} columns but d = {d}")
    if b.ndim != 1 or b.shape[0] != w.shape[0]:
        _fail(path, f"betas must be a vector of {w.shape[0]} entries (one per direction), got shape {b.shape}")
    _finite(path, "directions", w)
    _finite(path, "betas", b)
    norms = np.linalg.norm(w, axis=1)
    if np.any(np.abs(norms - 1.0) > UNIT_TOL):
        i = int(np.argmax(np.abs(norms - 1.0)))
        _fail(path, f"direction {i} has norm {norms[i]:.6g}, not 1 (normalise the rows)")
    if np.any((b <= 0) | (b > 2)):
        i = int(np.argmax((b <= 0) | (b > 2)))
        _fail(path, f"beta {i} = {b[i]:.6g} is outside (0, 2]")
    return Generators(kind, directions=np.ascontiguousarray(w), betas=np.ascontiguousarray(b), meta=meta)


def read(path: PathLike) -> dict:
    import zipfile

    from .params import MAX_BYTES

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                size = sum(i.file_size for i in z.infolist())
            if size > MAX_BYTES:
                _fail(path, f"its arrays would take {size / 2**30:.3g} GiB (at most {MAX_BYTES >> 30} GiB)")
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                _fail(path, "not an .npz archive (a single array; save with np.savez)")
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        _fail(path, "no such file")
    except IsADirectoryError:
        _fail(path, "is a folder, not an .npz file")
    except ParameterError:
        raise
    except Exception as exc:  # noqa: BLE001 - empty, truncated, not a zip, pickled: one line each
        _fail(
            path,
            f"not a readable .npz file ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'empty'})",
        )


def _real(path: PathLike, name: str, arr: object) -> np.ndarray:
    """``arr`` as float64, refusing complex, boolean and non-numeric dtypes."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iuf":
        _fail(path, f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def load(path: PathLike, mech: object) -> Generators:
    """The validated generators of ``path`` for mechanism ``mech`` (cached per file version)."""
    family = "so2" if mech.family == 0 else "householder"
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    key = (os.path.abspath(str(path)), stamp, family, mech.d)
    if key not in _CACHE:
        _CACHE[key] = validate(path, read(path), family, mech.d)
    return _CACHE[key]


def save(path: PathLike, kind: str, family: str, arrays: dict, **meta: object) -> None:
    """Write a generators file (validated first, so what is written can be read back)."""
    d = arrays["angles"].shape[1] * 2 if family == "so2" else arrays["directions"].shape[1]
    validate(path, {**arrays, "kind": kind}, family, d)
    from .files import replacing

    with replacing(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, kind=kind, **arrays, **{k: np.asarray(v) for k, v in meta.items()})


#: learned arrays of a ``mixing.learned`` file that belong to the recall task, not to the generators
RECALL_ONLY = {
    "kappa": "kappa (per-type key scales: the engine's keys have no types; its random keys take one "
    "scale, --param kappa)",
    "block_weights": "block_weights (the recall query's learned block weights: the engine's query is a fixed "
    "unit vector)",
    "B": "B (the file's logit scale: the engine uses the task's B, --param B)",
}


def ignored_parts(path: PathLike, measure: str = "retrieval") -> list[str]:
    """What a generators file holds besides the generators, which the engine's measures do not use.

    Every generator array (angles; directions and betas) is used by every measure; the
    learned key scales, query block weights and logit scale of the recall task are not.
    """
    try:
        keys = set(read(path))
    except ParameterError:
        return []
    return [text for key, text in RECALL_ONLY.items() if key in keys and (key != "B" or measure == "retrieval")]

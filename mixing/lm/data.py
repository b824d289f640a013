"""Byte-level text corpora with a deterministic split by file, and batches drawn from them.

The default corpus is the source of the running Python's standard library (every ``*.py``
file under ``sysconfig.get_paths()["stdlib"]`` outside ``site-packages``): real code that
exists offline on every machine. ``--corpus PATH`` takes a text file or a directory of
files instead.

Split: a file goes to ``train``, ``val`` or ``test`` by the SHA-256 of its relative path
(bucket ``h mod 100``: below 90 train, below 95 val, else test), so the split does not
depend on the order of a directory listing or on which other files exist. A single file is
split by position instead (the first 90% of its bytes train, the next 5% val, the rest
test). Each split is the concatenation of its files in sorted path order, every file
followed by a NUL byte.

Every random window derives from ``(seed, step)`` alone, so a resumed training run sees
the batches an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mixing.engine.errors import ParameterError

SPLITS = ("train", "val", "test")
#: bucket edges of the split by path hash (out of 100)
EDGES = (90, 95)
SEPARATOR = b"\x00"


def default_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _bucket(rel: str) -> str:
    h = int.from_bytes(hashlib.sha256(rel.encode("utf-8", "surrogateescape")).digest()[:8], "little") % 100
    return "train" if h < EDGES[0] else "val" if h < EDGES[1] else "test"


@dataclass
class Corpus:
    """The three splits as uint8 arrays, the fingerprint of what they came from, and where each
    file of a split starts and ends in it (``files[split]``: an int64 array [n, 2] of [start,
    end) offsets, the separator excluded; a single-file corpus has one span per split)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    fingerprint: dict
    files: dict = field(default_factory=dict)

    def split(self, name: str) -> np.ndarray:
        return getattr(self, name)


def _files(root: Path, default: bool) -> list[Path]:
    if default:
        return sorted(
            p
            for p in root.rglob("*.py")
            if p.is_file() and "site-packages" not in p.relative_to(root).parts and "__pycache__" not in p.parts
        )
    return sorted(
        p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(root).parts)
    )


def load(path: str | Path | None = None) -> Corpus:
    """Read a corpus (default: the standard library's source) and split it."""
    default = path is None
    root = default_root() if default else Path(path)
    if not root.exists():
        raise ParameterError(f"--corpus: {root} does not exist")
    digest = hashlib.sha256()
    parts = {s: [] for s in SPLITS}
    if root.is_file():
        try:
            data = root.read_bytes()
        except OSError as exc:
            raise ParameterError(f"--corpus: cannot read {root}: {exc.strerror}") from None
        n = len(data)
        a, b = n * EDGES[0] // 100, n * EDGES[1] // 100
        parts = {"train": [data[:a]], "val": [data[a:b]], "test": [data[b:]]}
        digest.update(data)
        count, total = 1, n
    else:
        files = _files(root, default)
        count, total = 0, 0
        for p in files:
            rel = p.relative_to(root).as_posix()
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if not data:
                continue
            parts[_bucket(rel)].append(data + SEPARATOR)
            digest.update(rel.encode("utf-8", "surrogateescape") + SEPARATOR + hashlib.sha256(data).digest())
            count += 1
            total += len(data)
    if total == 0:
        raise ParameterError(f"--corpus: {root} holds no text (no non-empty files)")
    arrays = {s: np.frombuffer(b"".join(parts[s]), dtype=np.uint8) for s in SPLITS}
    spans = {}
    for s in SPLITS:
        sizes = np.array([len(b) for b in parts[s]], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        ends = starts + sizes - (0 if root.is_file() else len(SEPARATOR))
        spans[s] = np.stack([starts, ends], axis=1) if sizes.size else np.zeros((0, 2), dtype=np.int64)
    fp = {
        "source": "python-stdlib" if default else str(root.resolve()),
        "files": count,
        "bytes": total,
        "sha256": digest.hexdigest(),
        "python": sys.version.split()[0],
        **{f"{s}_bytes": int(arrays[s].size) for s in SPLITS},
    }
    return Corpus(fingerprint=fp, files=spans, **arrays)


def check_length(corpus: Corpus, split: str, length: int, what: str = "--context") -> None:
    n = corpus.split(split).size
    if n < length + 1:
        raise ParameterError(
            f"{what}: {length} needs at least {length + 1} bytes of {split} text, "
            f"the corpus has {n} (use a larger corpus or a shorter length)"
        )


def _rng(seed: int, step: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, step, salt])


def batch(data: np.ndarray, batch_size: int, length: int, seed: int, step: int) -> np.ndarray:
    """``batch_size`` random windows of ``length + 1`` bytes (inputs and next-byte targets)."""
    starts = _rng(seed, step).integers(0, data.size - length, size=batch_size)
    return np.stack([data[s : s + length + 1] for s in starts]).astype(np.int64)


def eval_windows(data: np.ndarray, length: int, count: int) -> np.ndarray:
    """``count`` windows of ``length + 1`` bytes at evenly spaced starts (the same for every model)."""
    if data.size < length + 1:
        raise ParameterError(
            f"--lengths: {length} needs at least {length + 1} bytes of test text, the corpus has {data.size}"
        )
    last = data.size - length - 1
    starts = np.linspace(0, last, num=count).astype(np.int64) if count > 1 else np.array([0])
    return np.stack([data[s : s + length + 1] for s in starts]).astype(np.int64)


def long_files(corpus: Corpus, split: str, length: int) -> int:
    """How many files of ``split`` hold a window of ``length + 1`` bytes."""
    spans = corpus.files.get(split)
    return 0 if spans is None else int(np.sum((spans[:, 1] - spans[:, 0]) >= length + 1))


def file_windows(corpus: Corpus, split: str, length: int, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` windows of ``length + 1`` bytes, each from a different file of ``split``.

    The files are those long enough for a window, taken in a fixed order that derives from
    ``seed`` alone (so every model of a study sees the same windows); each window starts at an
    offset drawn uniformly inside its file. Returns the windows [count, length + 1] and their
    start offsets in the split. Fewer long-enough files than ``count`` is an error naming both
    numbers (a window shared between two files, or two windows from one file, would make the
    windows dependent).
    """
    spans = corpus.files.get(split)
    if spans is None or len(spans) == 0:
        raise ParameterError(f"corpus: no file boundaries recorded for the {split} split")
    data = corpus.split(split)
    long = spans[(spans[:, 1] - spans[:, 0]) >= length + 1]
    if len(long) < count:
        raise ParameterError(
            f"--windows: {count} windows of {length + 1} bytes from distinct {split} files need "
            f"{count} such files; the corpus has {len(long)} (fewer windows or a shorter length)"
        )
    rng = np.random.default_rng([seed, length, 0x5EED])
    chosen = np.sort(rng.permutation(len(long))[:count])
    starts = np.array([rng.integers(a, b - length) for a, b in long[chosen]], dtype=np.int64)
    return np.stack([data[s : s + length + 1] for s in starts]).astype(np.int64), starts

"""A study folder's files: model folder names, CSV tables and atomic JSON/NPZ writes (shared by
``run``, ``report`` and ``forecast``, which otherwise do not import each other both ways)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from mixing.engine.files import replacing, write_text


def folder_name(lab: str) -> str:
    """The folder of a mechanism label under ``models/`` (no ':' or '=')."""
    return lab.replace(":", "_").replace("=", "")


def write_csv(path: Path, rows: Iterable[dict], columns: Sequence[str]) -> None:
    with replacing(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in r.items()})


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def atomic_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, default=str))


def atomic_npz(path: Path, arrays: dict) -> None:
    with replacing(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, **arrays)

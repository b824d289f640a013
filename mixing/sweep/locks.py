"""Advisory folder locks: one writer per output folder (sweeps, trained models, studies).

``take(folder, what)`` locks ``folder/.lock`` with ``flock`` (released when the process ends,
however it ends) and writes the holder's pid into it; a second process gets an OSError that
names the holder. ``held`` is the same as a context manager raising ``ParameterError``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from mixing.engine.errors import ParameterError


def take(folder: Path, what: str = "process") -> IO:
    """Lock ``folder`` (created if needed); returns the open lock file (close it to release)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / ".lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise OSError(f"{folder} is in use by another {what} ({holder})") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    return fh


@contextlib.contextmanager
def held(folder: Path, what: str, option: str = "--out") -> Iterator[None]:
    """Hold ``folder``'s lock (the folder created if needed) for the ``with`` block."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"{option}: cannot create {folder}: {exc.strerror}") from None
    try:
        fh = take(folder, what)
    except OSError as exc:
        raise ParameterError(f"{option}: {exc}") from None
    try:
        yield
    finally:
        fh.close()

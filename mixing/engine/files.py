"""Writing a file so that no reader, and no later run, ever takes half of one for the whole.

Every writer of the toolkit (sweep points and manifests, figure data and images, trained
models, study tables, generators files) goes through :func:`replacing`: the content goes to a
temporary file in the same folder, is flushed to disk, and is renamed over the target in one
step. If anything fails first (a full disk, a read-only folder, Ctrl-C, a kill between the
write and the rename) the target keeps its old content, or stays absent, and the temporary
file is removed (a killed process cannot remove it; the sweep's resume does).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """``with replacing(path) as tmp:`` write ``tmp``; on leaving the block it replaces ``path``.

    The temporary name is ``<name>.<random><suffix>`` beside ``path`` (pass a suffix such as
    ``".tmp.npz"`` to writers that insist on an extension); it gets the permissions any file
    the user makes gets (``0o666 & ~umask``, not mkstemp's 0600).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (newlines as given) to ``path`` through :func:`replacing`."""
    with replacing(path) as tmp, open(tmp, "w", newline="") as fh:
        fh.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)

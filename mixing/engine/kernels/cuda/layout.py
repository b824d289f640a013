"""How the CUDA kernels lay a trial out on the GPU: lanes per trial, where the table lives,
and the precision of the Householder direction arithmetic.

- ``lanes`` (32, 16, 8 or 4): the lanes that carry one trial. 32 is one trial per warp;
  16 puts two trials on a warp, and so on. Fewer lanes per trial means fewer shuffle levels
  per dot product (log2 lanes) and more coordinates per lane. All warp kernels follow it;
  the reduced-state Householder kernels (``reduced.py``) put one trial on a thread under
  every layout.
- ``table`` (``global`` or ``shared``): with ``shared`` the Householder retrieval kernel
  copies a token table into shared memory once per block when it fits (48 KiB of static
  shared memory a block, less the kernel's own), else it reads it from global memory.
- ``precision`` (``float64`` or ``float32``): with ``float32`` the Householder retrieval
  kernel keeps the table, the transported query, the step's direction and their dot
  products in float32; scores, softmax sums, value vectors and every random draw stay
  float64. Its error against float64 is measured by ``benchmarks/cuda_bench.py``.

The default, ``lanes=32,table=global,precision=float64``, is the layout of every earlier
measurement. A layout changes the order of the sums, so per-trial rows of two layouts
differ by rounding (float64: about 1e-15); one layout gives the same bits whatever the
launch shape. ``MIXING_CUDA_LAYOUT`` sets it for a process, e.g.
``MIXING_CUDA_LAYOUT=lanes=16,table=shared``; :func:`use` sets it for a block of code. A
sweep records the layout in its manifest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

from ...errors import ParameterError

VARIABLE = "MIXING_CUDA_LAYOUT"
LANES = (32, 16, 8, 4)
TABLES = ("global", "shared")
PRECISIONS = ("float64", "float32")
#: static shared memory of one block (the CUDA limit without opting in to more)
SHARED_BYTES = 48 * 1024


@dataclasses.dataclass(frozen=True)
class Layout:
    lanes: int = 32
    table: str = "global"
    precision: str = "float64"

    def __post_init__(self) -> None:
        if self.lanes not in LANES:
            raise ParameterError(f"{VARIABLE}: lanes must be one of {', '.join(map(str, LANES))}, got {self.lanes}")
        if self.table not in TABLES:
            raise ParameterError(f"{VARIABLE}: table must be one of {', '.join(TABLES)}, got {self.table!r}")
        if self.precision not in PRECISIONS:
            raise ParameterError(
                f"{VARIABLE}: precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )

    def __str__(self) -> str:
        return f"lanes={self.lanes},table={self.table},precision={self.precision}"

    @classmethod
    def parse(cls, text: str) -> Layout:
        """``"lanes=16,table=shared,precision=float32"``; omitted fields keep their default."""
        fields = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in ("lanes", "table", "precision"):
                raise ParameterError(
                    f"{VARIABLE}: expected lanes=N, table=global|shared or precision=float64|float32, got {part!r}"
                )
            if name in fields:
                raise ParameterError(f"{VARIABLE}: {name} given twice")
            if name == "lanes":
                try:
                    fields[name] = int(value)
                except ValueError:
                    raise ParameterError(f"{VARIABLE}: lanes must be an integer, got {value!r}") from None
            else:
                fields[name] = value.strip()
        return cls(**fields)


_OVERRIDE: list = []


def current() -> Layout:
    """The layout in force: the innermost :func:`use`, else ``MIXING_CUDA_LAYOUT``, else the default."""
    if _OVERRIDE:
        return _OVERRIDE[-1]
    return Layout.parse(os.environ.get(VARIABLE, ""))


@contextlib.contextmanager
def use(layout: Layout | str) -> Iterator[Layout]:
    """Run the CUDA kernels of the block with ``layout`` (a :class:`Layout` or its text)."""
    if isinstance(layout, str):
        layout = Layout.parse(layout)
    _OVERRIDE.append(layout)
    try:
        yield layout
    finally:
        _OVERRIDE.pop()


def group_mask(lane_in_warp: int, lanes: int) -> int:
    """The 32-bit shuffle mask of the group of ``lanes`` lanes that holds ``lane_in_warp``
    (the device code computes the same expression)."""
    return ((1 << lanes) - 1) << ((lane_in_warp // lanes) * lanes)

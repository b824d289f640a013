"""The stylized retrieval task of docs/theory.md, section 3, and the measure parameters."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ParameterError
from .params import MAX_MAGNITUDE, Param


def _unit_interval_open(v: float) -> str | None:
    return None if 0 <= v < 1 else "must lie in [0, 1)"


def _kappa(v: float) -> str | None:
    return None if 0 <= v <= 1 else "must lie in [0, 1]"


def _c(v: float) -> str | None:
    return None if -1 <= v <= 1 else "must lie in [-1, 1]"


TASK_PARAMS = [
    Param(
        "B",
        "float",
        8.0,
        "logit scale |q||k|/sqrt(d): score = B qhat^T P khat + bias (0: uniform weights)",
        check=lambda v: None if v >= 0 else "must be >= 0",
        limit=MAX_MAGNITUDE,
    ),
    Param(
        "delta",
        "int",
        1,
        "lag of the target source (inside the window)",
        check=lambda v: None if v >= 1 else "must be >= 1",
    ),
    Param(
        "p",
        "float",
        0.01,
        "probability that a non-target source is a lookalike (same key as the target)",
        check=_unit_interval_open,
    ),
    Param("kappa", "float", 1.0, "scale of the other (random) keys, the per-token suppression", check=_kappa),
    Param(
        "mu",
        "float",
        1.0,
        "norm of the common value mean mu",
        check=lambda v: None if v >= 0 else "must be >= 0",
        limit=MAX_MAGNITUDE,
    ),
    Param(
        "xi",
        "float",
        1.0,
        "value noise scale: E|xi|^2 = xi^2",
        check=lambda v: None if v >= 0 else "must be >= 0",
        limit=MAX_MAGNITUDE,
    ),
    Param(
        "window", "int", 64, "lags n > window form the far set F", check=lambda v: None if v >= 1 else "must be >= 1"
    ),
]
MOMENT_PARAMS = [
    Param("c", "float", 1.0, "second-moment: qhat . khat = c", check=_c),
]


@dataclass(frozen=True)
class Task:
    B: float = 8.0
    delta: int = 1
    p: float = 0.01
    kappa: float = 1.0
    mu: float = 1.0
    xi: float = 1.0
    window: int = 64

    def __post_init__(self) -> None:
        """``Task(...)`` validates like ``Task.make`` and the command line."""
        for p in TASK_PARAMS:
            value = getattr(self, p.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(f"{p.name}: expected a number, got {value!r}")
            if p.kind == "int" and float(value) != int(value):
                raise ParameterError(f"{p.name}: expected an integer, got {value!r}")
            p.parse(value)

    @classmethod
    def make(cls, **params: object) -> Task:
        table = {p.name: p for p in TASK_PARAMS}
        out = {}
        for key, value in params.items():
            if key not in table:
                raise ParameterError(f"{key}: not a retrieval-task parameter ({', '.join(table)})")
            out[key] = table[key].parse(value)
        return cls(**out)

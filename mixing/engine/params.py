"""Declared parameters: a name, a type, a default, a one-line doc and a range check.

Mechanisms (``mixing.engine.mechanisms``), the retrieval task (``mixing.engine.task``) and the measures
declare their parameters with :class:`Param`, so the command line, TOML files and the
Python API parse and validate them the same way, with one-line errors naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError

#: the largest size of a scale parameter (logit scale, value scales, biases): norms and
#: squared weights of larger values overflow float64 (xi = 1e160 gave an infinite far residual)
MAX_MAGNITUDE = 1e100


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float", "int", "choice"
    default: object
    doc: str
    choices: tuple = ()
    check: object = None  # callable(value) -> error text or None
    limit: float | None = None  # largest allowed size (MAX_MAGNITUDE for scales that get squared)

    def parse(self, text: object) -> object:
        """Parse a command-line string (or a TOML value) into this parameter's type."""
        if self.kind == "path":
            return str(text)
        if self.kind == "choice":
            value = str(text)
            if value not in self.choices:
                raise ParameterError(f"{self.name}: {value!r} is not one of {', '.join(self.choices)}")
            return value
        if isinstance(text, bool):
            raise ParameterError(
                f"{self.name}: expected a{'n integer' if self.kind == 'int' else ' number'}, got {text!r}"
            )
        try:
            if self.kind == "int":
                f = float(text)
                if not f.is_integer():
                    raise ValueError
                value = int(f)
            else:
                value = float(text)
        except (TypeError, ValueError):
            raise ParameterError(
                f"{self.name}: expected a{'n integer' if self.kind == 'int' else ' number'}, got {text!r}"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"{self.name}: must be finite, got {text!r}")
        if self.limit is not None and abs(value) > self.limit:
            raise ParameterError(
                f"{self.name}: {text!r} is too large (at most {self.limit:g} in size: "
                "squares of larger values overflow the arithmetic)"
            )
        if self.check is not None:
            msg = self.check(value)
            if msg:
                raise ParameterError(f"{self.name}: {msg}, got {text!r}")
        return value


#: above these estimates of a run's work a run is refused (the sweep's --force-size overrides)
MAX_STEPS = 1e13  # about a day of one core at 1e8 cheap steps a second
MAX_BYTES = 8 * 2**30  # 8 GiB

#: seeds are unsigned 64-bit keys (``mixing.engine.rng``)
MAX_SEED = 2**64


def check_seed(seed: object, name: str = "seed", room: int = 0) -> int:
    """A seed: an integer (not a bool, not a float) in [0, 2^64 - room)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParameterError(f"{name}: expected an integer in [0, 2^64), got {seed!r}")
    if not 0 <= int(seed) < MAX_SEED - room:
        raise ParameterError(f"{name}: must lie in [0, 2^64{f' - {room}' if room else ''}), got {seed}")
    return int(seed)


def check_positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def check_nonneg(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def check_beta(v: float) -> str | None:
    return None if 0 < v <= 2 else "must lie in (0, 2]"


def check_base(v: float) -> str | None:
    return None if v > 1 else "must be > 1"


def check_flag(v: float) -> str | None:
    return None if v in (0, 1) else "must be 0 or 1"


def parse_spread(text: str, bare: str | None = None) -> tuple[str, float] | None:
    """An SO(2) table's spread ``abs=S`` or ``rel=S`` (S a finite number >= 0) as (kind, S), or
    None when it is not one; a bare number is read as ``bare`` when that is given. Each caller
    words its own error."""
    t = str(text).strip()
    if "=" in t:
        kind, _, value = t.partition("=")
    elif bare is not None:
        kind, value = bare, t
    else:
        return None
    try:
        v = float(value)
    except ValueError:
        return None
    if kind not in ("abs", "rel") or not (math.isfinite(v) and v >= 0):
        return None
    return kind, v

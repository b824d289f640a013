"""Declared parameters: a name, a type, a default, a one-line doc and a range check.

Mechanisms (``mixing.mechanisms``), the retrieval task (``mixing.task``) and the measures
declare their parameters with :class:`Param`, so the command line, TOML files and the
Python API parse and validate them the same way, with one-line errors naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ParameterError


@dataclass(frozen=True)
class Param:
    name: str
    kind: str                 # "float", "int", "choice"
    default: object
    doc: str
    choices: tuple = ()
    check: object = None      # callable(value) -> error text or None

    def parse(self, text):
        """Parse a command-line string (or a TOML value) into this parameter's type."""
        if self.kind == "path":
            return str(text)
        if self.kind == "choice":
            value = str(text)
            if value not in self.choices:
                raise ParameterError(
                    f"{self.name}: {value!r} is not one of {', '.join(self.choices)}")
            return value
        try:
            if self.kind == "int":
                f = float(text)
                if not f.is_integer():
                    raise ValueError
                value = int(f)
            else:
                value = float(text)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name}: expected a{'n integer' if self.kind == 'int' else ' number'}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"{self.name}: must be finite, got {text!r}")
        if self.check is not None:
            msg = self.check(value)
            if msg:
                raise ParameterError(f"{self.name}: {msg}, got {text!r}")
        return value


def check_positive(v):
    return None if v > 0 else "must be > 0"


def check_nonneg(v):
    return None if v >= 0 else "must be >= 0"


def check_beta(v):
    return None if 0 < v <= 2 else "must lie in (0, 2]"


def check_base(v):
    return None if v > 1 else "must be > 1"


def check_flag(v):
    return None if v in (0, 1) else "must be 0 or 1"

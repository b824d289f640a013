"""What every derivation module shares: the formula registry and the verdict rules.

A :class:`Formula` is one derived result: its sympy expression (for the report), a numeric
function made from that expression with ``lambdify`` (for the tests, the figures and the
verifier) and the names of its parameters (for ``python -m proofs eval``).

A :class:`Check` compares one prediction with one measurement of the engine:
- ``kind="eq"``: passes when ``|predicted - measured| <= 4 stderr + floor`` (the floor covers
  round-off where the standard error is zero, e.g. a deterministic mechanism);
- ``kind="le"``: the claim ``measured <= predicted`` (an upper bound) passes when it holds;
  its slack ``predicted - measured`` is reported. ``kind="ge"`` is the mirror image;
- ``kind="in"``: an integer prediction (a window) must lie in the interval the measurement
  allows at 4 standard errors;
- ``kind="approx"``: an approximation (B8) with a stated accuracy ``tol``: passes when
  ``|predicted - measured| <= tol |measured| + 4 stderr``; its relative error is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

Z_MAX = 4.0


@dataclass(frozen=True)
class Formula:
    name: str
    claim: str
    params: tuple
    expr: object  # sympy expression (or a small dict of them) for the report
    fn: Callable
    doc: str
    cli: bool = True  # False: takes arrays, so not offered by ``proofs eval``

    def __call__(self, **kw):
        return self.fn(**kw)


@dataclass
class Check:
    claim: str
    params: str
    kind: str  # "eq", "le" (measured <= predicted) or "ge"
    predicted: float
    measured: float
    stderr: float = 0.0
    floor: float = 1e-12
    note: str = ""
    hi: float | None = None  # kind "in": measured is the interval [measured, hi]
    tol: float = 0.0  # kind "approx": the stated relative accuracy
    passed: bool = field(init=False)
    score: float = field(init=False)  # z-score (eq) or slack (le/ge)

    def __post_init__(self):
        p, m, se = float(self.predicted), float(self.measured), float(self.stderr)
        if self.kind == "in":
            self.passed = m <= p <= float(self.hi)
            self.score = 0.0 if self.passed else math.inf
            return
        if not (math.isfinite(p) and math.isfinite(m) and math.isfinite(se)):
            self.passed, self.score = False, math.nan
        elif self.kind == "eq":
            diff = abs(p - m)
            self.score = diff / se if se > 0 else (0.0 if diff <= self.floor else math.inf)
            self.passed = diff <= Z_MAX * se + self.floor
        elif self.kind == "approx":
            self.score = abs(p - m) / abs(m) if m else math.inf
            self.passed = abs(p - m) <= self.tol * abs(m) + Z_MAX * se
        elif self.kind in ("le", "ge"):
            self.score = p - m if self.kind == "le" else m - p
            self.passed = self.score >= 0.0
        else:
            raise ValueError(f"unknown check kind {self.kind!r}")

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"

    def row(self):
        if self.kind == "eq":
            stat = f"z = {self.score:.2f}" if math.isfinite(self.score) else "z = inf"
        elif self.kind == "in":
            stat = "inside" if self.passed else "outside"
        elif self.kind == "approx":
            stat = f"rel. err. {self.score:.1%} (tol {self.tol:.0%})"
        else:
            stat = f"slack = {self.score:.3g}"
        meas = f"{self.measured:.6g} ± {self.stderr:.2g}" if self.stderr > 0 else f"{self.measured:.6g}"
        if self.kind == "in":
            meas = f"[{self.measured:g}, {self.hi:g}] (4 s.e.)"
        rel = {"eq": "=", "le": ">=", "ge": "<=", "in": "=", "approx": "~"}[self.kind]
        return [self.claim, self.params, f"{rel} {self.predicted:.6g}", meas, stat, self.verdict]


HEADER = ["claim", "parameters", "predicted", "measured ± s.e.", "z / slack", "verdict"]


def table(checks, markdown=False) -> str:
    """The checks as a text table (or Markdown), with ``mixing.cli.table``."""
    from mixing.cli import table as text_table

    return text_table([c.row() for c in checks], header=HEADER, align="l" * len(HEADER), markdown=markdown)

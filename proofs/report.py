"""The Markdown report: every derived formula in LaTeX, the verification table, and what
each counterexample violates."""

from __future__ import annotations

import datetime as _dt

import sympy as sp

from .core import table
from .registry import MODULES
from .verify import COUNTEREXAMPLES


def _latex(expr):
    if isinstance(expr, dict):
        return "\n".join(f"- {k}: $${sp.latex(v)}$$" for k, v in expr.items())
    return f"$${sp.latex(expr)}$$"


def render(checks, quick: bool, seed: int) -> str:
    out = [
        "# Derived bounds and their verification",
        "",
        f"Generated {_dt.datetime.now().isoformat(timespec='seconds')} by `python -m proofs"
        f"{' --quick' if quick else ''}` (seed {seed}). Predictions are the sympy results below, "
        "evaluated numerically; measurements come from the `mixing` engine.",
        "",
        "Verdicts: an equality passes when |predicted - measured| <= 4 standard errors "
        "(plus a 1e-12 floor for round-off); an inequality passes when it holds, and its "
        "slack is shown; a window passes when the derived integer lies in the interval of "
        "windows the measured coherence allows at 4 standard errors.",
        "",
    ]
    for title, mod in MODULES:
        out += [f"## {title}", "", (mod.__doc__ or "").strip(), ""]
        for f in mod.formulas():
            out += [f"**`{f.name}`** ({', '.join(f.params)}): {f.doc}", "", _latex(f.expr), ""]
    passed = sum(c.passed for c in checks)
    out += [
        "## Verification",
        "",
        f"{passed} of {len(checks)} checks pass.",
        "",
        table(checks, markdown=True),
        "",
        "## Counterexamples: regularity matters",
        "",
    ]
    out += [f"- **{k}.** {v}" for k, v in COUNTEREXAMPLES.items()]
    return "\n".join(out) + "\n"

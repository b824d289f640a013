"""docs/theory.md stands alone: every identifier used in an equation is in its Notation list."""

from __future__ import annotations

import re
from pathlib import Path

THEORY = Path(__file__).resolve().parents[1] / "docs" / "theory.md"

SPAN = re.compile(r"`([^`]+)`")
#: a code span is an equation when it has an operator, a subscript or a bracket ...
MATH = re.compile(r"[=^_()/*+<>|\[]|\b(sum|prod|log|exp|E)\b")
#: ... and is not code: a command, a dotted name or a path, an option, a mechanism label
CODE = re.compile(
    r"python -m|[A-Za-z_]\.[A-Za-z_]|[A-Za-z]/|--|=$|^[a-z_]+=|:[a-z]+=|^\*-|-\*$"
    r"|^[a-z0-9-]+(:[a-z=.0-9]+)*$"
)
IDENT = re.compile(r"[A-Za-z][A-Za-z0-9]*\*?")


def equations(text: str) -> list[str]:
    return [s for s in SPAN.findall(text) if MATH.search(s) and not CODE.search(s)]


def identifiers(spans) -> set[str]:
    return {t for s in spans for t in IDENT.findall(s)}


def split(text: str) -> tuple[str, str]:
    """(the Notation section, the rest of the page)."""
    start = text.index("## Notation")
    end = text.index("\n## ", start + 1)
    return text[start:end], text[:start] + text[end:]


def defined(notation: str) -> set[str]:
    """Every identifier of every code span of the Notation section (the defining spans)."""
    return identifiers(SPAN.findall(notation))


def undefined(text: str) -> set[str]:
    notation, rest = split(text)
    return identifiers(equations(rest)) - defined(notation)


def test_every_symbol_in_an_equation_is_defined():
    missing = undefined(THEORY.read_text())
    assert not missing, f"symbols used in docs/theory.md but not in its Notation list: {sorted(missing)}"


def test_the_notation_comes_first_and_the_paper_is_cited():
    text = THEORY.read_text()
    assert text.index("## Notation") < text.index("## 1. ")
    assert re.search(r"arXiv:\d{4}\.\d{4,5}", text)


def test_an_undefined_symbol_is_caught():
    doc = (
        "# T\n\n## Notation\n\n- `B`: scale; `L`: length.\n\n## 1. Use\n\n"
        "The bound `a* <= e^B / L` and the code `mixing.engine.task` and `--trials 4`.\n"
    )
    assert undefined(doc) == {"a*", "e"}
    assert equations("`python -m proofs` `so2-random:abs=0.3` `x = y_1`") == ["x = y_1"]

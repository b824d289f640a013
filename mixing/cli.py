"""Command-line helpers shared by every entry point: one-line argparse errors, one wrapper that
turns the project's errors into one line and an exit status, and output paths checked before
any work starts."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from mixing.engine.errors import ParameterError


class Parser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line, ``PROG: error: MESSAGE``, with exit status 2, and
    which refuses an option given twice (argparse keeps the last silently) unless it collects
    several values by design (``action="append"`` or a count). With ``raise_errors=True`` a
    usage error is raised as :class:`ParameterError` instead, for a caller that reports it
    (with :func:`guarded`) like any other bad input."""

    def __init__(self, *args: object, raise_errors: bool = False, **kwargs: object) -> None:
        self.raise_errors = raise_errors
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if self.raise_errors:
            raise ParameterError(message)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        import sys

        argv = list(sys.argv[1:] if args is None else args)
        seen = set()
        for token in argv:
            if token == "--":
                break
            if not token.startswith("-") or token == "-":
                continue
            action = self._option_string_actions.get(token.split("=", 1)[0])
            if action is None or isinstance(
                action,
                (argparse._AppendAction, argparse._CountAction, argparse._AppendConstAction, argparse._HelpAction),
            ):
                continue
            if action.dest in seen:
                self.error(f"{token.split('=', 1)[0]}: given more than once")
            seen.add(action.dest)
        return super().parse_known_args(args, namespace)


def int_in(lo: int, hi: int | None = None, what: str | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi) (no upper end when ``hi`` is None), with one
    line naming the range otherwise."""
    what = what or (
        f"an integer in [{lo}, {hi})" if hi is not None else "a positive integer" if lo == 1 else f"an integer >= {lo}"
    )

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < lo or (hi is not None and v >= hi):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


def plain(text: str) -> str:
    """A docstring as ``--help`` shows it: reST roles and literals without their markup."""
    import re

    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def check_output_file(path: str | os.PathLike, option: str, suffix: str | None = None) -> Path:
    """Refuse an output file that is a folder, or whose folder is missing or not writable, or
    (with ``suffix``) whose name does not end in it, so that the file is written exactly where
    asked; one line naming ``option`` (before the work that would produce it)."""
    p = Path(path)
    if not str(path).strip():
        raise ParameterError(f"{option}: an empty path")
    if suffix is not None and p.suffix != suffix:
        raise ParameterError(f"{option}: {p} must end in {suffix} (the file is written under exactly that name)")
    if p.is_dir():
        raise ParameterError(f"{option}: {p} is a folder, not a file")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ParameterError(f"{option}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ParameterError(f"{option}: {p} is not writable")
    return p


def guarded(prog: str, work: Callable[[], int], interrupted: str = "interrupted", where: str | None = None) -> int:
    """Run ``work()`` and return its exit status, or one line on stderr and a status for the
    project's errors: bad input (:class:`ParameterError`) 2; a numerical failure
    (``FloatingPointError``) or a disk that refuses a write (``OSError``, with the file, else
    ``where``) 1; Ctrl-C 130, with ``interrupted`` (what is kept, how to resume)."""
    try:
        return work()
    except ParameterError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        place = exc.filename or where
        print(f"{prog}: error: {exc.strerror or exc}" + (f" ({place})" if place else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130


class _Silent:
    """What :func:`progress_bar` returns without tqdm or a terminal: a bar that draws nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: object, **kwargs: object) -> None:
        pass

    def set_postfix_str(self, *args: object, **kwargs: object) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(
    total: int,
    desc: str,
    unit: str = "step",
    initial: int = 0,
    leave: bool = True,
    unit_scale: bool = False,
    file: TextIO | None = None,
) -> _Silent:
    """One progress bar for every long run: a tqdm bar on stderr when tqdm is installed (the
    ``progress`` extra, in ``dev``) and stderr is a terminal, otherwise one that draws nothing
    (both have ``update``, ``set_postfix``, ``set_postfix_str`` and ``close``)."""
    file = sys.stderr if file is None else file
    try:
        from tqdm import tqdm
    except ImportError:
        return _Silent()
    return tqdm(
        total=total, desc=desc, unit=unit, initial=initial, leave=leave, unit_scale=unit_scale, file=file, disable=None
    )


def has_bar(file: TextIO | None = None) -> bool:
    """Whether :func:`progress_bar` would draw (tqdm installed, ``file`` a terminal)."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return (sys.stderr if file is None else file).isatty()


#: the width every text table is made to fit
TABLE_WIDTH = 100


def pm(value: float, se: float) -> str:
    """``value±se`` with the digits the standard error resolves (two significant digits of it),
    the same format in every table; scientific notation for very small or large values."""
    if not math.isfinite(value):
        return "-"
    big_or_small = value != 0 and not (1e-3 <= abs(value) < 1e4)
    if not (math.isfinite(se) and se > 0):
        return f"{value:.3e}" if big_or_small else f"{value:.4f}"
    if big_or_small:
        return f"{value:.3e}±{se:.1e}"
    decimals = min(6, max(0, 1 - math.floor(math.log10(se))))
    return f"{value:.{decimals}f}±{se:.{decimals}f}"


def table(
    rows: Iterable[Sequence],
    header: Sequence | None = None,
    align: str | None = None,
    markdown: bool = False,
    gap: int = 2,
) -> str:
    """One table printer: ``rows`` (sequences of cells, turned into text) under ``header``,
    columns padded to their widest cell (``align``: a string of ``l``/``r`` per column; default
    the first column left, the rest right), or a Markdown table."""
    body = [[str(c) for c in r] for r in rows]
    head = [str(c) for c in header] if header is not None else None
    every = ([head] if head else []) + body
    if not every:
        return ""
    n = max(len(r) for r in every)
    every = [r + [""] * (n - len(r)) for r in every]
    if markdown:
        head = every[0] if head else [""] * n
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * n]
        out += ["| " + " | ".join(r) + " |" for r in every[1 if header is not None else 0 :]]
        return "\n".join(out)
    align = align or "l" + "r" * (n - 1)
    widths = [max(len(r[i]) for r in every) for i in range(n)]

    def line(r: list[str]) -> str:
        cells = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)]
        return (" " * gap).join(cells).rstrip()

    lines = [line(r) for r in every]
    if head:
        lines.insert(1, (" " * gap).join("-" * w for w in widths))
    return "\n".join(lines)


def columns_that_fit(first: int, cell: int, width: int = TABLE_WIDTH, gap: int = 2) -> int:
    """How many columns of width ``cell`` fit beside a first column of width ``first``."""
    return max(1, (width - first) // (cell + gap))

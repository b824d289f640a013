"""Command-line helpers shared by every entry point: one-line argparse errors, and output
paths checked before any work starts."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .errors import ParameterError


class Parser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line, ``PROG: error: MESSAGE``, with exit status 2, and
    which refuses an option given twice (argparse keeps the last silently) unless it collects
    several values by design (``action="append"`` or a count)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        import sys

        argv = list(sys.argv[1:] if args is None else args)
        seen = set()
        for token in argv:
            if token == "--":
                break
            if not token.startswith("-") or token == "-":
                continue
            action = self._option_string_actions.get(token.split("=", 1)[0])
            if action is None or isinstance(action, (argparse._AppendAction, argparse._CountAction,
                                                     argparse._AppendConstAction, argparse._HelpAction)):
                continue
            if action.dest in seen:
                self.error(f"{token.split('=', 1)[0]}: given more than once")
            seen.add(action.dest)
        return super().parse_known_args(args, namespace)


def int_in(lo: int, hi: int | None = None, what: str | None = None):
    """An argparse type: an integer in [lo, hi) (no upper end when ``hi`` is None), with one
    line naming the range otherwise."""
    what = what or (f"an integer in [{lo}, {hi})" if hi is not None else
                    "a positive integer" if lo == 1 else f"an integer >= {lo}")

    def parse(text):
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


def check_output_file(path, option: str, suffix: str | None = None) -> Path:
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

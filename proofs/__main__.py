"""``python -m proofs``: derive every bound, verify it against the engine, print one table.

Usage:
  python -m proofs [--quick] [--report FILE] [--seed S]
  python -m proofs eval NAME key=value ...
  python -m proofs eval --list
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from mixing.cli import Parser, check_output_file, int_in
from mixing.engine import laws
from mixing.engine.errors import ParameterError

EPILOG = """\
The table has one row per check: the claim (B1..B8 of docs/theory.md, section 4, CE1..CE3 the
counterexamples), its parameters, the prediction of the derived formula ("=" an equality,
">=" an upper bound on the measurement), the engine's measurement +- its standard error, the
z-score |predicted - measured| / s.e. (equalities; pass at <= 4) or the slack of the
inequality (pass when >= 0), and the verdict. Exit status 1 if any check fails, 2 on bad
input.

  python -m proofs --quick                      # CI-sized (under a minute on 2 cores)
  python -m proofs --report proofs-report.md    # full sizes, Markdown report with LaTeX
  python -m proofs eval householder-coherence d=64 beta=2 n=100
  python -m proofs eval so2-coherence law=vonmises concentration=2 n=10
"""


def _number(key, text):
    """An int or a float, or a ValueError naming the parameter."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key}: expected a number, got {text!r}") from None


#: the largest size of any parameter: counts as in the engine (int64-safe), scales as in
#: ``mixing.engine.params`` (their squares must not overflow)
MAX_COUNT = 2**40
MAX_MAGNITUDE = 1e100


#: --seed: an integer in [0, 2^64) (the engine's seed range)
_seed = int_in(0, 2**64, "an integer in [0, 2^64)")


#: the domain of every formula parameter: (integer?, lower, lower open?, upper, upper open?, meaning)
DOMAIN = {
    "d": (True, 1, False, None, False, "a dimension (integer >= 1)"),
    "n": (True, 0, False, None, False, "a lag (integer >= 0)"),
    "L": (True, 1, False, None, False, "a context length (integer >= 1)"),
    "F": (False, 0, False, None, False, "a count of far sources (>= 0)"),
    "W": (True, 0, False, None, False, "a window (integer >= 0)"),
    "N": (True, 1, False, None, False, "a count (integer >= 1)"),
    "delta": (True, 1, False, None, False, "a target lag (integer >= 1)"),
    "beta": (False, 0, True, 2, False, "in (0, 2]"),
    "c": (False, -1, False, 1, False, "a cosine in [-1, 1]"),
    "p": (False, 0, False, 1, False, "a probability in [0, 1]"),
    "eta": (False, 0, True, 1, True, "in (0, 1)"),
    "eps": (False, 0, True, 1, True, "in (0, 1)"),
    "rho": (False, 0, True, 1, True, "a rate in (0, 1)"),
    "B": (False, 0, True, None, False, "a logit scale > 0"),
    "kappa": (False, 0, True, None, False, "a key scale > 0"),
    "M": (False, 0, True, None, False, "a moment generating function value > 0"),
    "m": (False, 0, True, None, False, "a slope > 0"),
    "z": (False, 0, False, None, False, ">= 0"),
    "v": (False, 0, False, None, False, "a variance >= 0"),
    "sigma": (False, 0, False, None, False, ">= 0"),
    "a": (False, 0, True, None, False, "a half-width > 0"),
    "concentration": (False, 0, True, None, False, "> 0"),
    "gamma": (False, 0, False, None, False, ">= 0"),
    "mu2": (False, 0, False, None, False, ">= 0"),
    "xi2": (False, 0, False, None, False, ">= 0"),
    "A": (False, 0, False, 1, False, "a mass in [0, 1]"),
    "T": (True, 1, False, None, False, "a training length (integer >= 1)"),
    "O_T": (False, 0, False, None, False, "far odds >= 0"),
    "O_2T": (False, 0, False, None, False, "far odds >= 0"),
    "u": (False, 0, False, None, False, "the expected odds of one far source (>= 0)"),
    "b": (False, None, False, 0, True, "a bias rate per lag < 0"),
}


def _check_domain(name, value):
    """One-line ValueError unless ``value`` lies in the domain of parameter ``name``."""
    if isinstance(value, list):
        for v in value:
            _check_domain(name, v)
        return
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    rule = DOMAIN.get(name)
    if abs(value) > (MAX_COUNT if rule is not None and rule[0] else MAX_MAGNITUDE):
        raise ValueError(
            f"{name}: {value:g} is too large (at most {'2^40' if rule is not None and rule[0] else '1e100'} in size)"
        )
    if rule is None:
        return
    integer, lo, lo_open, hi, hi_open, meaning = rule
    bad = (
        (integer and float(value) != int(value))
        or (lo is not None and (value <= lo if lo_open else value < lo))
        or (hi is not None and (value >= hi if hi_open else value > hi))
    )
    if bad:
        raise ValueError(f"{name}: must be {meaning}, got {value}")


def _list(table) -> int:
    width = max(len(k) for k in table)
    for k, f in table.items():
        params = "law=NAME <its parameter>=X n=N" if k == "so2-coherence" else " ".join(f"{p}=X" for p in f.params)
        print(f"{k.ljust(width)}  [{f.claim}] {params}\n{' ' * width}  {f.doc}")
    return 0


def _pairs(items) -> dict:
    """``key=value`` arguments as a dict (ValueError on a malformed or repeated one)."""
    kw = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key or not val:
            raise ValueError(f"expected key=value, got {item!r}")
        if key in kw:
            raise ValueError(f"{key}: given more than once")
        kw[key] = val
    return kw


def _arguments(f, kw: dict) -> dict:
    """The formula's arguments from ``key=value`` strings, each checked against its domain."""
    if f.name == "so2-coherence":
        law = kw.pop("law", None)
        if law not in laws.LAWS:
            raise ValueError(f"law: choose from {', '.join(laws.LAWS)}")
        pname = laws.LAWS[law].param
        par = _number(pname, kw.pop(pname)) if pname else None
        if pname and par is None:
            raise ValueError(f"{pname}: required for law {law}")
        call = {"law": law, "par": par, "n": _number("n", kw.pop("n"))}
    else:
        call = {}
        for p in f.params:
            if p not in kw:
                raise ValueError(f"{p}: missing (parameters: {', '.join(f.params)})")
            v = kw.pop(p)
            call[p] = [_number(p, x) for x in v.split(",")] if p == "r" else _number(p, v)
    if kw:
        raise ValueError(f"{', '.join(kw)}: not a parameter of {f.name} ({', '.join(f.params)})")
    for key, val in call.items():
        if key == "par" and val is not None:
            _check_domain(laws.LAWS[call["law"]].param, val)
        elif key != "law" and val is not None:
            _check_domain(key, val)
    if f.name.startswith("householder") and call.get("d") == 1:
        raise ValueError("d: Householder products need d >= 2 (in d = 1 the reflection is the constant -1)")
    if call.get("d") == 1 and "c" in call and abs(call["c"]) != 1:
        raise ValueError(f"c: unit vectors in d = 1 have q.k = -1 or 1, got {call['c']:g}")
    return call


def _eval(argv) -> int:
    from .registry import formulas

    ap = Parser(prog="python -m proofs eval", description="Evaluate one derived formula.")
    ap.add_argument("name", nargs="?", help="formula name (see --list)")
    ap.add_argument("values", nargs="*", metavar="key=value")
    ap.add_argument("--list", action="store_true", help="list the formulas and their parameters")
    args = ap.parse_args(argv)
    table = {k: f for k, f in formulas().items() if f.cli}
    if not args.name and not args.list:
        print("proofs eval: error: name a formula (python -m proofs eval --list shows them)", file=sys.stderr)
        return 2
    if args.list:
        return _list(table)
    f = table.get(args.name)
    if f is None:
        print(f"proofs eval: error: unknown formula {args.name!r} (see --list)", file=sys.stderr)
        return 2
    try:
        kw = _pairs(args.values)
    except ValueError as exc:
        print(f"proofs eval: error: {exc}", file=sys.stderr)
        return 2
    try:
        value = f(**_arguments(f, kw))
        if not math.isfinite(float(value)):
            raise ValueError(f"the value is not finite ({value}) at these parameters")
    except KeyError as exc:
        print(f"proofs eval: error: {exc.args[0]}: missing", file=sys.stderr)
        return 2
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        print(f"proofs eval: error: {exc}", file=sys.stderr)
        return 2
    except ArithmeticError:  # an overflow inside the formula
        print("proofs eval: error: the value overflows at these parameters", file=sys.stderr)
        return 2
    print(repr(value))
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval":
        return _eval(argv[1:])
    ap = Parser(
        prog="python -m proofs",
        description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
        usage="%(prog)s [-h] [--quick] [--report FILE] [--seed SEED]\n"
        "       %(prog)s eval NAME key=value ...   (or: eval --list)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="CI sizes (fewer trials); the full run uses 10x more")
    ap.add_argument("--report", metavar="FILE", help="also write a Markdown report (LaTeX of every formula + table)")
    ap.add_argument("--seed", type=_seed, default=20260626, help="seed of every simulation (default 20260626)")
    args = ap.parse_args(argv)
    if args.report:
        try:
            check_output_file(args.report, "--report")
        except ParameterError as exc:
            print(f"proofs: error: {exc}", file=sys.stderr)
            return 2
    from . import verify
    from .core import table

    t0 = time.perf_counter()
    checks = verify.run(
        args.quick,
        args.seed,
        progress=lambda name: print(
            f"  {name[6:]} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True
        ),
    )
    print(table(checks))
    failed = [c for c in checks if not c.passed]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks pass ({time.perf_counter() - t0:.0f} s).")
    if args.report:
        from .report import render

        with open(args.report, "w") as fh:
            fh.write(render(checks, args.quick, args.seed))
        print(f"report: {args.report}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

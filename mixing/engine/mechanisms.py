"""Mechanisms: one small, validated, frozen description each (docs/theory.md, section 2).

A :class:`Mechanism` is a name, a head dimension ``d`` and resolved parameters. It turns
into a :class:`KernelSpec` (plain arrays every kernel understands) with :meth:`spec`.

Two generator families cover every mechanism:

- ``SO2``: block-diagonal 2x2 rotations on the pairs (2m, 2m+1), m = 0..d/2-1, with angles
  that are constant (RoPE: theta_m = base^(-2m/d)), drawn i.i.d. per position from an
  angle law centred on theta_m (or on 0), or looked up in a per-token table;
- ``HOUSEHOLDER``: ``I - beta w w^T`` with unit w uniform on the sphere (i.i.d. per
  position) or looked up in a per-token table; the identity (NoPE, ALiBi) is this family
  with no generator at all (``src = CONST``).

Generators can also come from a file (``generators=FILE.npz``, see :mod:`mixing.engine.generators`):
a learned or imported per-token table (``src = TABLE``, tokens drawn from ``tokens``), or a
position-wise sequence exported from a model (``src = SEQ``: the generator at lag n is row
(n - 1) mod L of the file). Householder tables carry one beta per row.

Far-mass control is an additive bias ``-slope * n`` at lag n: ALiBi's slope ``m`` plus the
forget gate's ``gamma`` (times 1/sqrt(d) with ``forget_scale=inv_sqrt_d``, as fla's PaTH-FoX
scales it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import laws, rng
from ._jit import njit
from .codes import CONST, HOUSEHOLDER, IID, SEQ, SO2, TABLE, Family, Law, Source  # noqa: F401 (re-exported)
from .errors import ParameterError
from .params import MAX_MAGNITUDE, Param, check_base, check_beta, check_flag, check_nonneg, check_positive

if TYPE_CHECKING:
    from .generators import Generators

_COMMON = [
    Param(
        "forget", "float", 0.0, "forget gate: log f_t = -forget (0 = no gate)", check=check_nonneg, limit=MAX_MAGNITUDE
    ),
    Param(
        "forget_scale",
        "choice",
        "none",
        "scale of the gate bias: none (FoX) or inv_sqrt_d (fla's PaTH-FoX)",
        choices=("none", "inv_sqrt_d"),
    ),
    Param("rotate_values", "int", 0, "1: transport values along the path too (o = sum a_n P_n v_n)", check=check_flag),
]
_TABLE = [
    Param(
        "vocab",
        "int",
        0,
        "0: generators i.i.d. per position; V > 0: frozen random per-token table of V entries",
        check=check_nonneg,
    ),
    Param(
        "tokens",
        "choice",
        "uniform",
        "token law for a table: uniform or zipf (p_v ~ 1/(v+1))",
        choices=("uniform", "zipf"),
    ),
    Param(
        "generators",
        "path",
        "",
        "FILE.npz of learned or imported generators (mixing.learned, or angles / "
        "directions and betas exported from a model); overrides the angle law and vocab",
    ),
]
_BASE = Param("base", "float", 10000.0, "RoPE base: theta_m = base^(-2m/d)", check=check_base)

PARAMS = {
    "nope": [],
    "rope": [_BASE],
    "so2": [
        Param("law", "choice", "gaussian", "angle law of each step", choices=tuple(laws.LAWS)),
        Param("sigma", "float", 0.5, "gaussian law: standard deviation (rad)", check=check_nonneg),
        Param("a", "float", 1.0, "uniform law: half-width (rad)", check=check_positive),
        Param("concentration", "float", 4.0, "vonmises law: concentration kappa", check=check_positive),
        Param("gamma", "float", 0.1, "wrapped_cauchy law: scale gamma", check=check_nonneg),
        Param(
            "rel_sigma",
            "float",
            0.5,
            "gaussian_rel law: spread relative to each block's centre "
            "(block m draws theta_m (1 + rel_sigma z); needs center=rope)",
            check=check_nonneg,
        ),
        Param("center", "choice", "rope", "angle centres: rope (theta_m) or zero", choices=("rope", "zero")),
        _BASE,
    ]
    + _TABLE,
    "householder": [
        Param("beta", "float", 2.0, "H = I - beta w w^T; beta in (0, 2], 2 = reflection", check=check_beta),
        Param(
            "sampler",
            "choice",
            "auto",
            "auto: i.i.d. directions (d >= 4, no value transport in retrieval) "
            "run the exact reduced-state walk, O(1) a step whatever d; full: transport all d coordinates",
            choices=("auto", "full"),
        ),
    ]
    + _TABLE,
    "alibi": [Param("m", "float", 0.25, "ALiBi slope: bias -m n at lag n", check=check_nonneg, limit=MAX_MAGNITUDE)],
}
for _name in PARAMS:
    PARAMS[_name] = PARAMS[_name] + _COMMON

DOCS = {
    "nope": "no position information (G = I)",
    "rope": "position-indexed rotations theta_m = base^(-2m/d)",
    "so2": "accumulated SO(2) rotations with token-dependent angles",
    "householder": "accumulated Householder maps I - beta w w^T (PaTH)",
    "alibi": "no transport, additive bias -m n",
}


def param_table(name: str) -> dict:
    return {p.name: p for p in PARAMS[name]}


@dataclass(frozen=True)
class KernelSpec:
    """What a kernel needs to know of a mechanism (plain arrays and numbers).

    The backends unpack it in one place, ``mixing.engine.kernels.contract``."""

    d: int
    family: Family
    src: Source
    law: Law
    lawpar: float
    centers: np.ndarray  # (d/2,) angle centres (SO2) or a dummy
    beta: float  # Householder: the smallest beta in use
    table: np.ndarray  # (V, d/2) angles or (V, d) unit vectors; (1, 1) dummy
    alias: np.ndarray  # (V, 2) alias table of the token law (cutoff, alias); (1, 2) dummy
    betas: np.ndarray  # Householder: beta per table row (V,), or (beta,) without a table
    slope: float
    rotate_values: bool
    reduced_ok: bool  # i.i.d. uniform Householder directions and sampler=auto
    mean_generator: np.ndarray = field(repr=False)  # E G, (d, d)
    exact_path: object = field(default=None, repr=False)  # SEQ: callable(n) -> P_n
    _paths: dict = field(default_factory=dict, repr=False, compare=False)

    def mean_path(self, n: int) -> np.ndarray:
        """E[P_n]: (E G)^n for i.i.d. generators, the exact product for a sequence (cached)."""
        if n not in self._paths:
            if self.exact_path is not None:
                self._paths[n] = self.exact_path(n)
            else:
                self._paths[n] = np.linalg.matrix_power(self.mean_generator, n)
        return self._paths[n]


@dataclass(frozen=True)
class Mechanism:
    name: str
    d: int
    params: tuple = ()  # sorted (key, value) pairs of the relevant parameters

    def get(self, key: str) -> object:
        return dict(self.params)[key]

    # -- the generator family -------------------------------------------------------
    @property
    def family(self) -> Family:
        return Family.SO2 if self.name in ("rope", "so2") else Family.HOUSEHOLDER

    @property
    def src(self) -> Source:
        p = dict(self.params)
        if self.name in ("nope", "alibi", "rope"):
            return Source.CONST
        if p.get("generators"):
            return Source.SEQ if self.generators().kind == "sequence" else Source.TABLE
        if p.get("vocab", 0) > 0:
            return Source.TABLE
        if self.name == "so2" and p.get("law") == "constant":
            return Source.CONST
        return Source.IID

    @property
    def slope(self) -> float:
        p = dict(self.params)
        gate = p["forget"] / (math.sqrt(self.d) if p["forget_scale"] == "inv_sqrt_d" else 1.0)
        return p.get("m", 0.0) + gate

    @property
    def orthogonal(self) -> bool:
        if self.family == SO2 or self.src == CONST:
            return True
        gen = self.generators()
        return bool(np.all(gen.betas == 2.0)) if gen is not None else self.get("beta") == 2.0

    def generators(self) -> Generators | None:
        """The validated contents of the ``generators`` file (cached), or None without one."""
        path = dict(self.params).get("generators")
        if not path:
            return None
        from .generators import load

        return load(path, self)

    def centers(self) -> np.ndarray:
        h = self.d // 2
        p = dict(self.params)
        if self.family != SO2 or (self.name == "so2" and (p.get("center", "zero") == "zero" or p.get("generators"))):
            return np.zeros(max(h, 1))
        return self.get("base") ** (-2.0 * np.arange(h) / self.d)

    @functools.lru_cache(maxsize=64)  # noqa: B019 (mechanisms are few, frozen and live for the run)
    def spec(self, seed: int) -> KernelSpec:
        """The kernel spec for ``seed`` (cached: per-token tables, the alias table and E[P_n]
        are built once per mechanism and seed, not once per block of trials)."""
        p = dict(self.params)
        d, h = self.d, self.d // 2
        centers = self.centers()
        law, lawpar = Law.CONSTANT, 0.0
        if self.name == "so2" and "law" in p:
            law, pname = laws.LAWS[p["law"]].code, laws.LAWS[p["law"]].param
            lawpar = float(p[pname]) if pname else 0.0
        beta = float(p.get("beta", 0.0))
        table = np.zeros((1, 1))
        alias = np.ones((1, 2))
        betas = np.array([beta])
        pi = None
        src = self.src
        gen = self.generators()
        if gen is not None:
            table = gen.angles if self.family == SO2 else gen.directions
            if self.family != SO2:
                betas = gen.betas
                beta = float(betas.min())
            V = table.shape[0]
        elif src == TABLE:
            V = p["vocab"]
            tkey = rng.aux_key(np.uint64(rng.trial_key(seed, 0)))  # keys cross into numba as uint64
            if self.family == SO2:
                table = so2_table(int(law), lawpar, centers, np.uint64(tkey), V)
            else:
                table = hh_table(np.uint64(tkey), V, d)
                betas = np.full(V, beta)
        if src == TABLE:
            weights = np.ones(V) if p.get("tokens", "uniform") == "uniform" else 1.0 / np.arange(1, V + 1)
            pi = weights / weights.sum()
            alias = alias_table(pi)
        elif src == SEQ:
            pi = np.full(V, 1.0 / V)  # E G below: the average over the sequence's rows
        # E G
        if self.family == SO2:
            if src in (TABLE, SEQ):
                z = pi @ np.exp(1j * table)  # (h,)
            else:
                z = np.array([laws.char_block(law, lawpar, c) for c in centers]) * np.exp(1j * centers)
            eg = np.zeros((d, d))
            for m in range(h):
                eg[2 * m : 2 * m + 2, 2 * m : 2 * m + 2] = [[z[m].real, -z[m].imag], [z[m].imag, z[m].real]]
        elif src == CONST:
            eg = np.eye(d)
        elif src == IID:
            eg = (1.0 - beta / d) * np.eye(d)
        else:
            eg = np.eye(d) - (table.T * (pi * betas)) @ table
        exact = _sequence_path(self.family, table, betas) if src == SEQ else None
        return KernelSpec(
            d,
            self.family,
            src,
            law,
            lawpar,
            np.ascontiguousarray(centers),
            beta,
            np.ascontiguousarray(table),
            alias,
            np.ascontiguousarray(betas, dtype=np.float64),
            self.slope,
            bool(p["rotate_values"]),
            self.family == HOUSEHOLDER and src == IID and p.get("sampler", "auto") == "auto",
            eg,
            exact,
        )


def alias_table(pi: np.ndarray) -> np.ndarray:
    """Walker's alias table of the law ``pi`` (Vose's construction): row i holds the
    acceptance cutoff of column i and the token taken otherwise."""
    pi = np.asarray(pi, dtype=np.float64)
    V = pi.shape[0]
    scaled = pi * V / pi.sum()
    out = np.empty((V, 2))
    out[:, 0] = 1.0
    out[:, 1] = np.arange(V)
    small = [i for i in range(V) if scaled[i] < 1.0]
    large = [i for i in range(V) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        out[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return out  # columns left in either list keep cutoff 1 (rounding leftovers)


def _sequence_path(family: int, table: np.ndarray, betas: np.ndarray) -> Callable[[int], np.ndarray]:
    """P_n = G_0 G_1 ... G_{n-1} for the rows of a position-wise sequence (cycled)."""
    V, cols = table.shape

    def path(n: int) -> np.ndarray:
        if family == SO2:
            phi = sum(table[i % V] for i in range(n))
            d = 2 * cols
            P = np.zeros((d, d))
            for m in range(cols):
                c, s_ = math.cos(phi[m]), math.sin(phi[m])
                P[2 * m : 2 * m + 2, 2 * m : 2 * m + 2] = [[c, -s_], [s_, c]]
            return P
        P = np.eye(cols)
        for i in range(n):
            w = table[i % V]
            P = P - betas[i % V] * np.outer(P @ w, w)
        return P

    return path


@njit
def so2_table(law: int, par: float, centers: np.ndarray, tkey: int, V: int) -> np.ndarray:
    h = centers.shape[0]
    out = np.empty((V, h))
    for v in range(V):
        key = rng.pos_key(tkey, v, rng.STREAM_TABLE)
        for m in range(h):
            out[v, m] = centers[m] + laws.angle(law, par, key, m, centers[m])
    return out


@njit
def hh_table(tkey: int, V: int, d: int) -> np.ndarray:
    out = np.empty((V, d))
    for v in range(V):
        key = rng.pos_key(tkey, v, rng.STREAM_TABLE)
        s = 0.0
        for j in range(d):
            z = rng.normal(key, j)
            out[v, j] = z
            s += z * z
        s = 1.0 / math.sqrt(s)
        for j in range(d):
            out[v, j] *= s
    return out


def _check_dimension(name: str, d: object) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
        raise ParameterError(f"d: must be an integer >= 2, got {d!r}")
    d = int(d)
    if name in ("rope", "so2") and d % 2:
        raise ParameterError(f"d: must be even for {name} (SO(2) blocks), got {d}")
    return d


def _with_defaults(name: str, params: dict) -> dict:
    """The given parameters parsed, then every default of the mechanism filled in."""
    table = param_table(name)
    resolved = {}
    for key, value in params.items():
        if key not in table:
            raise ParameterError(f"{key}: not a parameter of mechanism {name} (its parameters: {', '.join(table)})")
        resolved[key] = table[key].parse(value)
    for key, p in table.items():
        resolved.setdefault(key, p.default)
    return resolved


def _keep_generators_file(resolved: dict, drop: Callable[[str, str], None]) -> None:
    if resolved.get("generators"):
        if resolved.get("vocab", 0):
            raise ParameterError("vocab: not used with generators (the file fixes the table)")
        resolved.pop("vocab")
        for key in ("law", "center", "base", "beta") + tuple(info.param for info in laws.LAWS.values() if info.param):
            drop(key, "not used with generators (the file fixes the generators)")
    elif "generators" in resolved:
        resolved.pop("generators")


def _keep_law(resolved: dict, drop: Callable[[str, str], None]) -> None:
    """Only the chosen angle law's parameter, and the base only with the RoPE centre."""
    keep = laws.LAWS[resolved["law"]].param
    for info in laws.LAWS.values():
        if info.param and info.param != keep:
            why = f"(its parameter is {keep})" if keep else "(it has no parameter)"
            drop(info.param, f"not used by law={resolved['law']} {why}")
    if resolved["law"] == "gaussian_rel" and resolved["center"] == "zero":
        raise ParameterError(
            "center: the gaussian_rel law scales each block's spread by its centre; it needs center=rope"
        )
    if resolved["center"] == "zero":
        drop("base", "not used with center=zero")


def resolve_params(name: str, d: int, params: dict) -> tuple[dict, dict]:
    """(resolved parameters, {given key: why it is not used}) of a mechanism: the defaults
    filled in, then only what matters kept (the chosen angle law's parameter, table options
    with a table, ...). Raises :class:`ParameterError` on unknown names and bad values."""
    if name not in PARAMS:
        raise ParameterError(f"mechanism: unknown {name!r} (choose from {', '.join(PARAMS)})")
    _check_dimension(name, d)
    resolved = _with_defaults(name, params)
    dropped = {}

    def drop(key: str, why: str) -> None:
        resolved.pop(key, None)
        if key in params:
            dropped.setdefault(key, why)

    _keep_generators_file(resolved, drop)
    if name == "so2" and "law" in resolved:
        _keep_law(resolved, drop)
    if "vocab" in resolved and resolved["vocab"] == 0:
        drop("tokens", "not used without a table (vocab=0)")
    if name == "householder" and (resolved.get("vocab") or resolved.get("generators")):
        drop("sampler", "only i.i.d. directions have a reduced walk (not used with a table)")
    if resolved["forget"] == 0.0:
        resolved["forget_scale"] = "none"
        if "forget_scale" in params and params["forget_scale"] != "none":
            dropped["forget_scale"] = "not used without a forget gate (forget=0)"
    return resolved, dropped


def build(name: str, d: int, params: dict) -> tuple[Mechanism, dict]:
    """The mechanism and {given key: why it is not used} (see :func:`resolve_params`); a
    sweep grid may give a parameter that only some of its points use."""
    resolved, dropped = resolve_params(name, d, params)
    mech = Mechanism(name, int(d), tuple(sorted(resolved.items())))
    mech.generators()  # validate a generators file now, not inside a run
    return mech, dropped


def make(name: str, d: int, /, **params: object) -> Mechanism:
    """Validate and resolve a mechanism. Unknown parameters are errors, and so is a parameter
    given but not used by this mechanism's settings, such as ``sigma`` with ``law=uniform``."""
    mech, dropped = build(name, d, params)
    if dropped:
        key, why = next(iter(dropped.items()))
        raise ParameterError(f"{key}: {why}")
    from .params import MAX_BYTES

    vocab = dict(mech.params).get("vocab", 0) or 0
    if 8.0 * vocab * (mech.d + 2) > MAX_BYTES:
        raise ParameterError(
            f"vocab: a table of {vocab} tokens at d = {mech.d} needs about "
            f"{8.0 * vocab * (mech.d + 2) / 2**30:.3g} GiB (at most {MAX_BYTES >> 30} GiB)"
        )
    return mech

"""``python -m mixing.learned``: train token-dependent generators on associative recall.

Trains, at one training length, the per-type parameters of a mechanism on the task of
:mod:`mixing.learned.recall` by Adam on the cross-entropy of attending to the target, with the
analytic gradients of ``recall.loss_grad``; every step draws fresh sequences. Mechanisms:

  so2          learned SO(2) angle vectors per type (initialised at the random table)
  so2-random   the random table of accumulated SO(2) angles, frozen
  householder  learned directions (normalised) and beta = 2 sigmoid(theta) per type
  rope         RoPE with its base fixed
  alibi        learned slope (softplus)
  nope         no position information

All of them also learn the key scale kappa_v = sigmoid(rho_v) of every type and the
query's block weights g_m = sigmoid(gamma_m). The result is a ``.npz`` with the learned
arrays and metadata; SO(2) and Householder files are generator files that
``python -m mixing.sweep --param generators=FILE.npz`` evaluates at any length.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from mixing.cli import Parser, check_output_file, plain
from mixing.engine.errors import ParameterError
from mixing.engine.mechanisms import hh_table, so2_table
from mixing.engine.params import MAX_BYTES, MAX_MAGNITUDE, MAX_STEPS, check_seed, parse_spread

from . import recall

MECHANISMS = ("so2", "so2-random", "householder", "rope", "alibi", "nope")
MODE = {
    "so2": recall.MODE_ANGLES,
    "so2-random": recall.MODE_ANGLES,
    "householder": recall.MODE_HOUSEHOLDER,
    "rope": recall.MODE_ROPE,
    "alibi": recall.MODE_PLAIN,
    "nope": recall.MODE_PLAIN,
}
TRAINED = {
    "so2": ("rho", "gam", "phi"),
    "so2-random": ("rho", "gam"),
    "householder": ("rho", "gam", "U", "th"),
    "rope": ("rho", "gam"),
    "alibi": ("rho", "gam", "mu"),
    "nope": ("rho", "gam"),
}


def sigmoid(x: ArrayLike) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Model:
    """A mechanism's parameters on the recall task (raw, unconstrained values)."""

    mechanism: str
    d: int
    V: int
    B: float = 8.0
    cap: int = 32
    tokens: str = "uniform"
    content_seed: int = 0
    base: float = 10000.0
    params: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    _content: tuple | None = field(default=None, repr=False, compare=False)

    # --- constrained values -----------------------------------------------------------
    @property
    def kappa(self) -> np.ndarray:
        return sigmoid(self.params["rho"])

    @property
    def g(self) -> np.ndarray:
        return sigmoid(self.params["gam"])

    @property
    def phi(self) -> np.ndarray:
        return self.params.get("phi", np.zeros((1, 1)))

    @property
    def theta(self) -> np.ndarray:
        h = self.d // 2
        return self.base ** (-2.0 * np.arange(h) / self.d)

    @property
    def W(self) -> np.ndarray:
        U = self.params.get("U")
        return np.zeros((1, 1)) if U is None else U / np.linalg.norm(U, axis=1, keepdims=True)

    @property
    def betas(self) -> np.ndarray:
        th = self.params.get("th")
        return np.ones(1) if th is None else 2.0 * sigmoid(th)

    @property
    def slope(self) -> float:
        mu = self.params.get("mu")
        return 0.0 if mu is None else float(np.logaddexp(0.0, mu[0]))

    def arrays(self) -> dict:
        return dict(
            kappa=self.kappa,
            g=self.g,
            phi=np.ascontiguousarray(self.phi),
            theta=self.theta,
            W=np.ascontiguousarray(self.W),
            betas=np.ascontiguousarray(self.betas),
            slope=self.slope,
        )

    def content(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(K, C, cdf): the fixed key and value content and the token CDF, built once."""
        key = (self.content_seed, self.V, self.d, self.tokens)
        if self._content is None or self._content[0] != key:
            K, C = recall.content(self.content_seed, self.V, self.d)
            self._content = (key, (K, C, recall.token_cdf(self.V, self.tokens)))
        return self._content[1]


def parse_sigma(text: str) -> tuple[str, float]:
    """``"abs=0.5"`` | ``"rel=0.5"`` | ``"0.5"`` (absolute) -> (kind, value), validated."""
    spread = parse_spread(text, bare="abs")
    if spread is None:
        raise ParameterError(f"sigma: expected abs=S or rel=S with S >= 0 (or a number: absolute), got {text!r}")
    return spread


def init(
    mechanism: str,
    d: int = 32,
    V: int = 64,
    B: float = 8.0,
    cap: int = 32,
    tokens: str = "uniform",
    seed: int = 0,
    sigma: float | str = 0.5,
    base: float = 10000.0,
) -> Model:
    """Initial parameters: kappa ~ 0.88, g ~ 0.88, the random SO(2) table around the RoPE
    frequencies theta_m, random unit directions with beta = 1, ALiBi slope softplus(-1).

    ``sigma`` is the table's spread: ``abs=S`` (or a number S) draws theta_m + S z, the same
    absolute spread in every block (each block decoheres within about 2 ln(10)/S^2 steps);
    ``rel=S`` draws theta_m (1 + S z), RoPE-matched (low-frequency blocks stay nearly
    deterministic); z ~ N(0, 1) from the seed."""
    kind, sig = parse_sigma(sigma)
    if mechanism not in MECHANISMS:
        raise ParameterError(f"mechanism: unknown {mechanism!r} (choose from {', '.join(MECHANISMS)})")
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2 or d % 2:
        raise ParameterError(f"d: must be an even integer >= 2, got {d!r}")
    if isinstance(V, bool) or not isinstance(V, (int, np.integer)) or V < 2:
        raise ParameterError(f"vocab: must be an integer >= 2, got {V!r}")
    if 8.0 * V * (3 * d + 4) > MAX_BYTES:
        raise ParameterError(
            f"vocab: {V} token types at d = {d} need about {8.0 * V * (3 * d + 4) / 2**30:.3g} GiB "
            f"of tables (at most {MAX_BYTES >> 30} GiB)"
        )
    check_seed(seed, room=1)
    if not B > 0:
        raise ParameterError(f"B: must be > 0, got {B}")
    if B > MAX_MAGNITUDE:
        raise ParameterError(f"B: {B:g} is too large (at most {MAX_MAGNITUDE:g})")
    if cap < 1:
        raise ParameterError(f"cap: must be >= 1, got {cap}")
    if tokens not in ("uniform", "zipf"):
        raise ParameterError(f"tokens: 'uniform' or 'zipf', got {tokens!r}")
    from mixing.engine import laws, rng

    h = d // 2
    p = {"rho": np.full(V, 2.0), "gam": np.full(h, 2.0)}
    tkey = np.uint64(rng.aux_key(np.uint64(rng.trial_key(seed + 1, 0))))
    if mechanism in ("so2", "so2-random"):
        centers = base ** (-2.0 * np.arange(h) / d)
        if kind == "abs":
            p["phi"] = so2_table(laws.GAUSSIAN, sig, centers, tkey, V)
        else:
            p["phi"] = centers * (1.0 + sig * so2_table(laws.GAUSSIAN, 1.0, np.zeros(h), tkey, V))
    elif mechanism == "householder":
        p["U"] = hh_table(tkey, V, d)
        p["th"] = np.zeros(V)
    elif mechanism == "alibi":
        p["mu"] = np.array([-1.0])
    model = Model(mechanism, int(d), int(V), float(B), int(cap), tokens, seed, base, p)
    if mechanism in ("so2", "so2-random"):
        model.meta["sigma"] = f"{kind}={sig:g}"
    return model


def loss_and_grad(model: Model, L: int, seed: int, s0: int, nseq: int) -> tuple[float, dict]:
    """Mean loss over ``nseq`` sequences and its gradient for every raw parameter."""
    K, _, cdf = model.content()
    a = model.arrays()
    V, h = model.V, model.d // 2
    losses = np.empty(nseq)
    gk, gg = np.zeros((nseq, V)), np.zeros((nseq, h))
    gphi = np.zeros((nseq,) + a["phi"].shape)
    gW = np.zeros((nseq,) + a["W"].shape)
    gbeta = np.zeros((nseq, a["betas"].shape[0]))
    gslope = np.zeros(nseq)
    recall.loss_grad(
        MODE[model.mechanism],
        K,
        cdf,
        a["kappa"],
        a["g"],
        a["phi"],
        a["theta"],
        a["W"],
        a["betas"],
        a["slope"],
        model.B,
        L,
        model.cap,
        np.uint64(seed),
        s0,
        nseq,
        losses,
        gk,
        gg,
        gphi,
        gW,
        gbeta,
        gslope,
    )
    n = float(nseq)
    grads = {"rho": gk.sum(0) / n * a["kappa"] * (1 - a["kappa"]), "gam": gg.sum(0) / n * a["g"] * (1 - a["g"])}
    p = model.params
    if "phi" in p:
        grads["phi"] = gphi.sum(0) / n
    if "U" in p:
        gw = gW.sum(0) / n
        W = a["W"]
        norm = np.linalg.norm(p["U"], axis=1, keepdims=True)
        grads["U"] = (gw - W * np.sum(W * gw, axis=1, keepdims=True)) / norm
        grads["th"] = gbeta.sum(0) / n * a["betas"] * (1 - a["betas"] / 2)
    if "mu" in p:
        grads["mu"] = np.array([gslope.sum() / n * sigmoid(p["mu"][0])])
    return float(losses.mean()), grads


def check_schedule(train_length: int, steps: int, batch: int, lr: float) -> None:
    """One-line errors for the training schedule, before any work."""
    if train_length < 2:
        raise ParameterError(f"train-length: must be >= 2, got {train_length}")
    if steps < 1 or batch < 1 or not lr > 0 or not math.isfinite(lr):
        raise ParameterError("steps, batch and lr must be positive (and lr finite)")
    work = float(steps) * batch * train_length * train_length  # each sequence scores every pair
    if work > MAX_STEPS:
        raise ParameterError(
            f"steps/batch/train-length: about {work:.2g} pair evaluations (more than "
            f"{MAX_STEPS:.0e}, about a day of one core)"
        )


def train(
    model: Model,
    train_length: int = 128,
    steps: int = 600,
    batch: int = 64,
    lr: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    log_every: int = 0,
) -> Model:
    """Adam on the recall loss at ``train_length``; fresh sequences every step."""
    check_schedule(train_length, steps, batch, lr)
    names = TRAINED[model.mechanism]
    m = {k: np.zeros_like(model.params[k]) for k in names}
    v = {k: np.zeros_like(model.params[k]) for k in names}
    b1, b2, eps = 0.9, 0.999, 1e-8
    log = np.empty(steps)
    bar = None
    if progress:
        from mixing.cli import progress_bar

        bar = progress_bar(steps, f"train {model.mechanism}", leave=False)
    for step in range(steps):
        loss, grads = loss_and_grad(model, train_length, seed, step * batch, batch)
        if not math.isfinite(loss):
            if bar is not None:
                bar.close()
            raise ParameterError(f"lr: the loss became {loss} at step {step}; lower --lr {lr:g} (or --B)")
        log[step] = loss
        for k in names:
            m[k] = b1 * m[k] + (1 - b1) * grads[k]
            v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
            mh = m[k] / (1 - b1 ** (step + 1))
            vh = v[k] / (1 - b2 ** (step + 1))
            model.params[k] = model.params[k] - lr * mh / (np.sqrt(vh) + eps)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:5d}  loss {loss:.4f}", file=sys.stderr, flush=True)
    if bar is not None:
        bar.close()
    model.meta.update(
        train_length=int(train_length),
        steps=int(steps),
        batch=int(batch),
        lr=float(lr),
        seed=int(seed),
        final_loss=float(log[-20:].mean()),
        loss_log=log,
    )
    return model


def evaluate(model: Model, L: int, nseq: int = 256, seed: int = 1_000_003) -> np.ndarray:
    """Per-sequence (near weight, retention, retention with value transport) at length L."""
    K, C, cdf = model.content()
    a = model.arrays()
    out = np.empty((nseq, 3))
    recall.evaluate(
        MODE[model.mechanism],
        K,
        C,
        cdf,
        a["kappa"],
        a["g"],
        a["phi"],
        a["theta"],
        a["W"],
        a["betas"],
        a["slope"],
        model.B,
        L,
        model.cap,
        np.uint64(seed),
        0,
        nseq,
        out,
    )
    return out


# ---------------------------------------------------------------------------------------
# files


def save(model: Model, path: str | Path) -> None:
    """Write the learned model; SO(2) and Householder files are also generator files."""
    from mixing.engine.generators import save as save_generators

    meta = dict(
        mechanism=model.mechanism,
        d=model.d,
        V=model.V,
        B=model.B,
        cap=model.cap,
        tokens=model.tokens,
        content_seed=model.content_seed,
        base=model.base,
        kappa=model.kappa,
        block_weights=model.g,
        raw_rho=model.params["rho"],
        raw_gam=model.params["gam"],
    )
    for k, val in model.meta.items():
        meta[k] = val
    if "phi" in model.params:
        save_generators(path, "table", "so2", {"angles": model.params["phi"]}, **meta)
    elif "U" in model.params:
        save_generators(
            path,
            "table",
            "householder",
            {"directions": model.W, "betas": model.betas},
            raw_U=model.params["U"],
            raw_th=model.params["th"],
            **meta,
        )
    else:
        extra = {"raw_mu": model.params["mu"], "slope": model.slope} if "mu" in model.params else {}
        from mixing.engine.files import replacing

        with replacing(path, suffix=".tmp.npz") as tmp:
            np.savez(tmp, **{k: np.asarray(v) for k, v in {**meta, **extra}.items()})


def load(path: str | Path) -> Model:
    """Read a model written by :func:`save`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise ParameterError(f"model: {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise ParameterError(f"model: {path}: not a readable .npz file ({exc})") from None
    if "mechanism" not in data:
        raise ParameterError(f"model: {path}: no 'mechanism' entry (not written by mixing.learned)")
    mech = str(data["mechanism"])
    model = Model(
        mech,
        int(data["d"]),
        int(data["V"]),
        float(data["B"]),
        int(data["cap"]),
        str(data["tokens"]),
        int(data["content_seed"]),
        float(data["base"]),
    )
    model.params = {"rho": data["raw_rho"], "gam": data["raw_gam"]}
    if mech in ("so2", "so2-random"):
        model.params["phi"] = data["angles"]
    elif mech == "householder":
        model.params["U"], model.params["th"] = data["raw_U"], data["raw_th"]
    elif mech == "alibi":
        model.params["mu"] = data["raw_mu"]
    for k in ("train_length", "steps", "batch", "lr", "seed", "final_loss", "loss_log", "sigma"):
        if k in data:
            model.meta[k] = data[k] if k == "loss_log" else data[k].item()
    return model


def main(argv: Sequence[str] | None = None) -> int:
    ap = Parser(
        prog="python -m mixing.learned",
        description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
        epilog=plain("\n".join(__doc__.strip().splitlines()[2:])) + "\n\nexamples:\n"
        "  python -m mixing.learned --mechanism so2 --out runs/so2.npz\n"
        "  python -m mixing.learned --mechanism householder --train-length 256 --out runs/hh.npz\n"
        "  python -m mixing.sweep --mechanism so2 --param generators=runs/so2.npz --out runs/so2-sweep",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--mechanism", required=True, help=", ".join(MECHANISMS))
    ap.add_argument("--train-length", type=int, default=128, help="context length L of training (default 128)")
    ap.add_argument("--out", required=True, metavar="FILE.npz", help="where to write the learned model")
    ap.add_argument("--d", type=int, default=32, help="head dimension (default 32)")
    ap.add_argument("--vocab", type=int, default=64, help="number of token types V (default 64)")
    ap.add_argument("--tokens", default="uniform", help="token law: uniform or zipf")
    ap.add_argument("--B", type=float, default=8.0, help="logit scale (default 8)")
    ap.add_argument("--cap", type=int, default=32, help="largest target lag (default 32)")
    ap.add_argument("--steps", type=int, default=600, help="Adam steps (default 600)")
    ap.add_argument("--batch", type=int, default=64, help="sequences per step (default 64)")
    ap.add_argument(
        "--sigma",
        default="abs=0.5",
        metavar="abs=S|rel=S",
        help="spread of the random SO(2) table (so2, so2-random) around the RoPE frequencies: "
        "abs=S adds S*N(0,1) radians, rel=S multiplies by 1 + S*N(0,1) (default abs=0.5)",
    )
    ap.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (default 0.05)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the data and the initialisation")
    ap.add_argument("--log-every", type=int, default=100, metavar="K", help="print the loss every K steps (0: never)")
    args = ap.parse_args(argv)
    from mixing.sweep import smoke

    if smoke.active():
        args.steps = min(args.steps, 5)
        smoke.note("mixing.learned", f"{args.steps} steps")
    t0 = time.perf_counter()
    try:
        check_output_file(args.out, "--out", suffix=".npz")
        check_schedule(args.train_length, args.steps, args.batch, args.lr)
        model = init(args.mechanism, args.d, args.vocab, args.B, args.cap, args.tokens, args.seed, args.sigma)
        first = loss_and_grad(model, args.train_length, args.seed, 0, args.batch)[0]
        train(model, args.train_length, args.steps, args.batch, args.lr, args.seed, log_every=args.log_every)
        save(model, args.out)
    except ParameterError as exc:
        print(f"mixing.learned: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk at the write: nothing is left under --out
        print(f"mixing.learned: error: --out: {exc.strerror}: {args.out}", file=sys.stderr)
        return 1
    ev = evaluate(model, args.train_length, 256)
    print(
        f"{args.mechanism}: loss {first:.3f} -> {model.meta['final_loss']:.3f} in {time.perf_counter() - t0:.0f} s; "
        f"at L={args.train_length}: near weight {ev[:, 0].mean():.3f} ± {ev[:, 0].std(ddof=1) / math.sqrt(256):.3f}, "
        f"retention {ev[:, 1].mean():.3f}; wrote {args.out}"
    )
    return 0

"""A small byte-level decoder-only transformer with the position mechanism as a component.

Pre-norm blocks (LayerNorm, attention, LayerNorm, a 4x GELU MLP), token embedding tied to
the output layer, no absolute position embedding: every position signal comes from the
attention's mechanism. One attention code path; the mechanism decides how the content
scores are transported (``transport``), which additive bias they get, and whether values
are transported too:

==================== =========================================================================
``nope``             plain scores
``rope``             ``P_{i<-j} = R((i - j) theta)``, ``theta_m = base^(-2m/d)`` (base 10000)
``alibi``            plain scores, bias ``-m_h (i - j)``, slopes ``m_h = 2^(-8h/H)``
``fox``              plain scores plus a forget gate (FoX: the gate alone, no rotation)
``so2-random``       accumulated SO(2), frozen random per-token angle table (``scale``)
``so2-learned``      accumulated SO(2), learned per-token angle table (same start)
``so2-learned-v``    the same, values rotated by ``R(-Phi_j)`` and the output by ``R(Phi_i)``
``so2-learned-forget`` ``so2-learned`` plus a forget gate
``path``             PaTH: ``w_t = l2norm(causal conv_3(W_w x_t))``, ``beta_t = 2 sigmoid(.)``
``path-forget``      PaTH plus a forget gate
==================== =========================================================================

Forget gate (every ``*-forget`` mechanism and ``fox``): ``log f_t = logsigmoid(W_f x_t + b_f)``
per head, bias ``g_ij = sum_{t=j+1..i} log f_t`` added to the scaled scores. Option
``gate=fox`` (the default) adds it unscaled, as FoX does; ``gate=fla`` adds ``g_ij / sqrt(d)``,
as fla's PaTH-FoX (``fla/ops/path_attn``) scales the gate together with the scores. PaTH
does not transport values.

Angle tables are per layer and per head, ``[256, heads, d_head/2]``. The random scale is
``rel=s`` (``phi = theta_m (1 + s z)``, RoPE-matched: each block's angle spread is
proportional to its RoPE frequency) or ``abs=s`` (``phi = theta_m + s z``: every block gets
the same absolute spread, so every block decoheres within about ``2 ln 10 / s^2`` lags),
``z ~ N(0, 1)`` drawn from the model seed, or ``zero`` (every angle 0). The learned tables
start at the table their option names (default ``abs=0.3``; ``abs=0`` is the RoPE start).
``base=B`` sets the RoPE frequencies ``theta_m = B^(-2m/d)`` (default 10000).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mixing.engine.errors import ParameterError
from mixing.engine.params import parse_spread

from . import transport as tr

MECHANISMS = (
    "nope",
    "rope",
    "alibi",
    "fox",
    "so2-random",
    "so2-learned",
    "so2-learned-v",
    "so2-learned-forget",
    "path",
    "path-forget",
)
ROTATING = ("rope", "so2-random", "so2-learned", "so2-learned-v", "so2-learned-forget")
SO2 = ("so2-random", "so2-learned", "so2-learned-v", "so2-learned-forget")
HOUSEHOLDER = ("path", "path-forget")
FORGET = ("fox", "so2-learned-forget", "path-forget")
VOCAB = 256
#: scores this far (in nats) below their row's maximum get attention weight exactly 0: e^-30
#: (9e-14) is below float32's resolution next to the maximum's weight, and the tiny weights
#: it removes otherwise fill the gradients with denormal floats (1.4x slower steps on a CPU
#: for the forget-gated models)
NEGLIGIBLE = 30.0


DEFAULT_SCALE = "abs=0.3"
GATES = ("fox", "fla")
DEFAULT_BASE = 10000.0


def _scale(name: str, text: str) -> str:
    if text == "zero":
        return "zero"
    spread = parse_spread(text)
    if spread is None:
        raise ParameterError(f"--mechanism: angle table of {name} must be abs=S, rel=S (S >= 0) or zero (got {text!r})")
    return f"{spread[0]}={spread[1]:g}"


def parse_mechanism(text: str) -> dict:
    """``"so2-random:abs=0.3"`` -> the Config fields ``{mechanism, scale, gate, rope_base}``.

    Options after the name, separated by ``:``: the SO(2) angle table (``abs=S``, ``rel=S`` or
    ``zero``; for ``so2-learned*`` the start of the learned table), ``gate=fox|fla`` for the
    forget-gated mechanisms (FoX's unscaled gate, or fla's PaTH-FoX scaling by 1/sqrt(d)) and
    ``base=B`` for the RoPE frequencies (``rope``, and the centre of the SO(2) tables).
    """
    name, *opts = [part.strip() for part in text.strip().split(":")]
    if name not in MECHANISMS:
        raise ParameterError(f"--mechanism: unknown mechanism {name!r} (choose from {', '.join(MECHANISMS)})")
    out = {
        "mechanism": name,
        "scale": DEFAULT_SCALE if name in SO2 else "",
        "gate": "fox" if name in FORGET else "",
        "rope_base": DEFAULT_BASE,
    }
    seen = set()
    for opt in opts:
        key = "base" if opt.startswith("base=") else "gate" if opt.startswith("gate=") else "scale"
        if key in seen:
            raise ParameterError(f"--mechanism: {key} given twice in {text!r}")
        seen.add(key)
        if key == "scale":
            if name not in SO2:
                raise ParameterError(f"--mechanism: {name} takes no angle table (got {text!r})")
            out["scale"] = _scale(name, opt)
        elif key == "gate":
            value = opt.partition("=")[2]
            if name not in FORGET:
                raise ParameterError(f"--mechanism: {name} has no forget gate (got {text!r})")
            if value not in GATES:
                raise ParameterError(f"--mechanism: gate must be fox or fla (got {opt!r})")
            out["gate"] = value
        else:
            if name not in ROTATING:
                raise ParameterError(f"--mechanism: {name} has no RoPE frequencies to set a base for (got {text!r})")
            try:
                base = float(opt.partition("=")[2])
            except ValueError:
                base = float("nan")
            if not (math.isfinite(base) and base > 1):
                raise ParameterError(f"--mechanism: base must be a number > 1 (got {opt!r})")
            out["rope_base"] = base
    return out


def label(mechanism: str, scale: str = "", gate: str = "", rope_base: float = DEFAULT_BASE) -> str:
    """``so2-random:abs=0.3``-style name; options at their defaults are left out (a learned
    table's default start, FoX's gate, base 10000), except a frozen random table's scale."""
    parts = [mechanism]
    if scale and not (mechanism in SO2 and mechanism != "so2-random" and scale == DEFAULT_SCALE):
        parts.append(scale)
    if gate and gate != "fox":
        parts.append(f"gate={gate}")
    if rope_base and float(rope_base) != DEFAULT_BASE:
        parts.append(f"base={float(rope_base):g}")
    return ":".join(parts)


@dataclass
class Config:
    mechanism: str = "rope"
    scale: str = ""  # angle table of the SO(2) mechanisms: "abs=S", "rel=S" or "zero"
    gate: str = ""  # forget gate: "fox" (unscaled) or "fla" (scaled by 1/sqrt(d))
    layers: int = 4
    width: int = 128
    heads: int = 4
    rope_base: float = 10000.0
    seed: int = 0

    @property
    def d_head(self) -> int:
        return self.width // self.heads

    def label(self) -> str:
        return label(self.mechanism, self.scale, self.gate, self.rope_base)

    def validate(self) -> Config:
        if self.mechanism in FORGET and not self.gate:
            self.gate = "fox"  # checkpoints from before the gate option
        for key, value in parse_mechanism(self.label()).items():
            setattr(self, key, value)
        for key in ("layers", "width", "heads"):
            v = getattr(self, key)
            if not isinstance(v, int) or v < 1:
                raise ParameterError(f"--{key}: must be a positive integer (got {v!r})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ParameterError(f"--seed: must be an integer in [0, 2^63) (got {self.seed!r})")
        if self.width % self.heads:
            raise ParameterError(f"--width: {self.width} is not divisible by --heads {self.heads}")
        if self.mechanism in ROTATING + HOUSEHOLDER and self.d_head % 2:
            raise ParameterError(
                f"--width: head dimension {self.d_head} is odd; {self.mechanism} rotates "
                f"coordinate pairs and needs an even head dimension"
            )
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def rope_frequencies(d_head: int, base: float) -> torch.Tensor:
    return base ** (-2.0 * torch.arange(d_head // 2, dtype=torch.float64) / d_head)


def random_table(cfg: Config, layer: int) -> torch.Tensor:
    """The frozen random angle table of one layer, [256, heads, d_head/2] (from the seed alone)."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 7919 * (layer + 1))
    z = torch.randn(VOCAB, cfg.heads, cfg.d_head // 2, generator=g, dtype=torch.float64)
    theta = rope_frequencies(cfg.d_head, cfg.rope_base)
    if cfg.scale == "zero":
        return torch.zeros(VOCAB, cfg.heads, cfg.d_head // 2)
    kind, _, value = cfg.scale.partition("=")
    s = float(value)
    table = theta * (1 + s * z) if kind == "rel" else theta + s * z
    return table.float()


def alibi_slopes(heads: int) -> torch.Tensor:
    return torch.tensor([2.0 ** (-8.0 * h / heads) for h in range(1, heads + 1)])


class Attention(nn.Module):
    def __init__(self, cfg: Config, layer: int) -> None:
        super().__init__()
        self.cfg, self.layer = cfg, layer
        C, H, dh = cfg.width, cfg.heads, cfg.d_head
        self.qkv = nn.Linear(C, 3 * C, bias=False)
        self.proj = nn.Linear(C, C, bias=False)
        m = cfg.mechanism
        if m == "rope":
            self.register_buffer("theta", rope_frequencies(dh, cfg.rope_base).float(), persistent=False)
        if m == "alibi":
            self.register_buffer("slopes", alibi_slopes(H), persistent=False)
        if m in SO2:
            table = random_table(cfg, layer)
            if m == "so2-random":
                self.register_buffer("angles", table)
            else:
                self.angles = nn.Parameter(table.clone())
                self.register_buffer("angles0", table)
        if m in HOUSEHOLDER:
            self.w_proj = nn.Linear(C, C, bias=False)
            self.w_conv = nn.Conv1d(C, C, kernel_size=3, groups=C, padding=2, bias=False)
            self.beta_proj = nn.Linear(C, H)
        if m in FORGET:
            self.gate = nn.Linear(C, H)
        self.fast = False  # evaluation: fused attention (``_fused``) where no statistics are recorded
        self.probe = None  # {"window": W}: record attention statistics; {"rows": index}: those attention rows
        self.probe_out = None

    # -- the pieces of the mechanism, each [B, H, T, ...] ----------------------------------
    def phases(self, tokens: torch.Tensor, T: int) -> torch.Tensor | None:
        """Accumulated angles Phi [B, H, T, d/2] (None for mechanisms without rotations)."""
        m = self.cfg.mechanism
        if m == "rope":
            t = torch.arange(T, dtype=torch.float64, device=self.theta.device)
            return torch.remainder(t[:, None] * self.theta.double(), 2 * math.pi).to(self.theta.dtype)[None, None]
        if m in SO2:
            phi = self.angles[tokens]  # [B, T, H, d/2]
            return tr.accumulate(phi, dim=1).permute(0, 2, 1, 3)
        return None

    def householder(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        H, dh = self.cfg.heads, self.cfg.d_head
        w = self.w_conv(self.w_proj(x).transpose(1, 2))[..., :T].transpose(1, 2)
        w = F.normalize(w.reshape(B, T, H, dh).transpose(1, 2), dim=-1)
        beta = 2 * torch.sigmoid(self.beta_proj(x)).transpose(1, 2)
        return w, beta

    def bias(self, x: torch.Tensor, T: int) -> torch.Tensor | None:
        m = self.cfg.mechanism
        i = torch.arange(T, device=x.device)
        if m == "alibi":
            lag = (i[:, None] - i[None, :]).clamp(min=0).to(x.dtype)
            return -self.slopes.to(x.dtype)[:, None, None] * lag
        if m in FORGET:
            G = torch.cumsum(F.logsigmoid(self.gate(x)).transpose(1, 2), dim=-1)  # [B, H, T]
            if self.cfg.gate == "fla":
                G = G / math.sqrt(self.cfg.d_head)
            return G[..., :, None] - G[..., None, :]
        return None

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H, dh = self.cfg.heads, self.cfg.d_head
        q, k, v = self.qkv(x).reshape(B, T, 3, H, dh).permute(2, 0, 3, 1, 4)
        m = self.cfg.mechanism
        Phi = self.phases(tokens, T)
        if self.fast and self.probe is None and not torch.is_grad_enabled() and m not in HOUSEHOLDER:
            return self.proj(self._fused(q, k, v, x, Phi).transpose(1, 2).reshape(B, T, C))
        if Phi is not None:
            s = tr.so2_logits(q, k, Phi)
        elif m in HOUSEHOLDER:
            s = tr.householder_logits(q, k, *self.householder(x))
        else:
            s = q @ k.transpose(-1, -2)
        s = s / math.sqrt(dh)
        content = s
        bias = self.bias(x, T)
        if bias is not None:
            s = s + bias
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        s = s.masked_fill(~causal, float("-inf"))
        with torch.no_grad():
            negligible = s < s.amax(-1, keepdim=True) - NEGLIGIBLE
        a = torch.softmax(s.masked_fill(negligible, float("-inf")), dim=-1)
        if m == "so2-learned-v":
            o = tr.rotate(a @ tr.rotate(v, -Phi), Phi)
        else:
            o = a @ v
        if self.probe is not None and "rows" in self.probe:  # attention rows of some queries, for a diagnosis
            rows = self.probe["rows"]
            self.probe_out = {
                "rows": a[:, :, rows, :].detach(),
                "bias_rows": None if bias is None else bias.expand_as(s)[:, :, rows, :].detach(),
            }
        elif self.probe is not None:
            self.probe_out = _attention_stats(
                a, content, bias, causal, self.probe["window"], self.probe.get("B"), self.probe.get("profile", False)
            )
        return self.proj(o.transpose(1, 2).reshape(B, T, C))

    def _fused(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor, Phi: torch.Tensor | None
    ) -> torch.Tensor:
        """The same attention by ``scaled_dot_product_attention`` (evaluation only): no score
        matrix of the model's own, and no cut-off of weights below e^-NEGLIGIBLE of the row's
        largest (they change an output by less than T e^-30 of its size)."""
        T, dh = q.shape[-2], self.cfg.d_head
        m = self.cfg.mechanism
        if Phi is not None:
            q, k = tr.rotate(q, -Phi), tr.rotate(k, -Phi)
            if m == "so2-learned-v":
                v = tr.rotate(v, -Phi)
        bias = self.bias(x, T)
        if bias is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1 / math.sqrt(dh))
        else:
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            mask = bias.to(q.dtype).masked_fill(~causal, float("-inf"))
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1 / math.sqrt(dh))
        return tr.rotate(o, Phi) if m == "so2-learned-v" else o


def _attention_stats(
    a: torch.Tensor,
    content: torch.Tensor,
    bias: torch.Tensor | None,
    causal: torch.Tensor,
    window: int,
    B: torch.Tensor | None = None,
    profile: bool | int = False,
) -> dict:
    """Per head (mean over the batch): far mass ``sum_{i - j > W} a_ij`` at each query position;
    ``B_seen``, the largest |content score| over the causal pairs (max over the batch); and, when
    a score range ``B`` per head is given (measured elsewhere, e.g. on training-length windows),
    at each query the B6-form upper bound on far mass for content scores within [-B, B] under
    the head's own realised bias ``b_ij`` (ALiBi's or the forget gate's; 0 without one):
    ``sum_far e^{B + b} / (sum_near e^{-B + b} + sum_far e^{B + b})``."""
    T = a.shape[-1]
    i = torch.arange(T, device=a.device)
    far = (i[:, None] - i[None, :]) > window
    out = {
        "far_mass": (a * far).sum(-1).mean(0).detach(),  # [H, T]
        "B_seen": content.abs().masked_fill(~causal, 0).amax(dim=(-1, -2)).amax(0).detach(),
    }  # [H]
    if B is not None:
        b = torch.zeros_like(content) if bias is None else bias.expand_as(content)
        Bx = B.to(content.dtype)[None, :, None, None]
        log_far = (Bx + b).masked_fill(~(far & causal), float("-inf")).logsumexp(-1)
        log_near = (-Bx + b).masked_fill(~(causal & ~far), float("-inf")).logsumexp(-1)
        out["far_mass_ub"] = torch.sigmoid(log_far - log_near).mean(0).detach()  # [H, T]
    if profile:
        out["profile"] = lag_profile(
            content if bias is None else content + bias,
            causal,
            window,
            int(profile) if not isinstance(profile, bool) else window,
        )
    return out


def lag_profile(s: torch.Tensor, causal: torch.Tensor, window: int, first_query: int | None = None) -> torch.Tensor:
    """The odds profile of a head: at each lag n, the mean over the batch and the queries
    ``i >= max(n, first_query)`` (default W) of ``e^{s_{i,i-n}} / sum_{m <= W} e^{s_{i,i-m}}``
    (a source's weight relative to the near set's; summed over the lags beyond W it is the
    query's far odds). ``s`` [B, H, T, T] holds the scores with their bias. Returns [H, T]
    (float64)."""
    first = window if first_query is None else max(int(first_query), window)
    T = s.shape[-1]
    i = torch.arange(T, device=s.device)
    near = causal & ((i[:, None] - i[None, :]) <= window)
    s = s.double().masked_fill(~causal, float("-inf"))
    log_near = s.masked_fill(~near, float("-inf")).logsumexp(-1, keepdim=True)
    r = torch.exp(s - log_near)
    prof = torch.full((s.shape[1], T), float("nan"), dtype=torch.float64, device=s.device)
    for n in range(T):
        d = torch.diagonal(r, offset=-n, dim1=-2, dim2=-1)[..., max(0, first - n) :]  # queries i >= max(n, first)
        if d.shape[-1]:
            prof[:, n] = d.mean(dim=(0, 2))
    return prof.detach()


class Block(nn.Module):
    def __init__(self, cfg: Config, layer: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.width), nn.LayerNorm(cfg.width)
        self.attn = Attention(cfg, layer)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, 4 * cfg.width), nn.GELU(), nn.Linear(4 * cfg.width, cfg.width))

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), tokens)
        return x + self.mlp(self.ln2(x))


class LM(nn.Module):
    """Byte-level language model: ``forward(tokens [B, T] int64) -> logits [B, T, 256]``."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg.validate()
        torch.manual_seed(cfg.seed)
        self.embed = nn.Embedding(VOCAB, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.width)
        self.apply(self._init)

    @staticmethod
    def _init(mod: nn.Module) -> None:
        if isinstance(mod, (nn.Linear, nn.Embedding)):
            nn.init.normal_(mod.weight, std=0.02)
            if getattr(mod, "bias", None) is not None:
                nn.init.zeros_(mod.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for blk in self.blocks:
            x = blk(x, tokens)
        return self.ln_f(x) @ self.embed.weight.T

    def attentions(self) -> list[Attention]:
        return [blk.attn for blk in self.blocks]

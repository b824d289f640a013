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
``so2-random``       accumulated SO(2), frozen random per-token angle table (``scale``)
``so2-learned``      accumulated SO(2), learned per-token angle table (same start)
``so2-learned-v``    the same, values rotated by ``R(-Phi_j)`` and the output by ``R(Phi_i)``
``so2-learned-forget`` ``so2-learned`` plus a forget gate
``path``             PaTH: ``w_t = l2norm(causal conv_3(W_w x_t))``, ``beta_t = 2 sigmoid(.)``
``path-forget``      PaTH plus a forget gate
==================== =========================================================================

Forget gate (FoX convention, for both gated mechanisms): ``log f_t = logsigmoid(W_f x_t +
b_f)`` per head, bias ``sum_{t=j+1..i} log f_t`` added to the scaled scores (fla's PaTH-FoX
scales the gate by 1/sqrt(d) as well; FoX does not). PaTH does not transport values.

Angle tables are per layer and per head, ``[256, heads, d_head/2]``. The random scale is
``rel=s`` (``phi = theta_m (1 + s z)``, RoPE-matched: each block's angle spread is
proportional to its RoPE frequency) or ``abs=s`` (``phi = theta_m + s z``: every block gets
the same absolute spread, so every block decoheres within about ``2 ln 10 / s^2`` lags),
``z ~ N(0, 1)`` drawn from the model seed. The learned table starts at the ``abs`` table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from . import transport as tr

MECHANISMS = ("nope", "rope", "alibi", "so2-random", "so2-learned", "so2-learned-v", "so2-learned-forget",
              "path", "path-forget")
ROTATING = ("rope", "so2-random", "so2-learned", "so2-learned-v", "so2-learned-forget")
SO2 = ("so2-random", "so2-learned", "so2-learned-v", "so2-learned-forget")
HOUSEHOLDER = ("path", "path-forget")
FORGET = ("so2-learned-forget", "path-forget")
VOCAB = 256
#: scores this far (in nats) below their row's maximum get attention weight exactly 0: e^-30
#: (9e-14) is below float32's resolution next to the maximum's weight, and the tiny weights
#: it removes otherwise fill the gradients with denormal floats (1.4x slower steps on a CPU
#: for the forget-gated models)
NEGLIGIBLE = 30.0


def parse_mechanism(text: str) -> tuple[str, str]:
    """``"so2-random:abs=0.3"`` -> ``("so2-random", "abs=0.3")``; validates the name and the scale."""
    name, _, scale = text.strip().partition(":")
    if name not in MECHANISMS:
        raise ParameterError(f"--mechanism: unknown mechanism {name!r} (choose from {', '.join(MECHANISMS)})")
    if scale and name not in SO2:
        raise ParameterError(f"--mechanism: {name} takes no angle scale (got {text!r})")
    if name in SO2:
        scale = scale or DEFAULT_SCALE
        kind, _, value = scale.partition("=")
        try:
            v = float(value)
        except ValueError:
            v = float("nan")
        if kind not in ("abs", "rel") or not (math.isfinite(v) and v >= 0):
            raise ParameterError(f"--mechanism: angle scale of {name} must be abs=S or rel=S with S >= 0 (got {scale!r})")
        scale = f"{kind}={v:g}"
    return name, scale


DEFAULT_SCALE = "abs=0.3"


def label(mechanism: str, scale: str = "") -> str:
    """``so2-random:abs=0.3``-style name; a learned table's start is named only when not the default."""
    if not scale or (mechanism in SO2 and mechanism != "so2-random" and scale == DEFAULT_SCALE):
        return mechanism
    return f"{mechanism}:{scale}"


@dataclass
class Config:
    mechanism: str = "rope"
    scale: str = ""                  # angle scale of the SO(2) tables, "abs=S" or "rel=S"
    layers: int = 4
    width: int = 128
    heads: int = 4
    rope_base: float = 10000.0
    seed: int = 0

    @property
    def d_head(self) -> int:
        return self.width // self.heads

    def label(self) -> str:
        return label(self.mechanism, self.scale)

    def validate(self) -> "Config":
        name, scale = parse_mechanism(self.label())
        self.mechanism, self.scale = name, scale
        for key in ("layers", "width", "heads"):
            v = getattr(self, key)
            if not isinstance(v, int) or v < 1:
                raise ParameterError(f"--{key}: must be a positive integer (got {v!r})")
        if self.width % self.heads:
            raise ParameterError(f"--width: {self.width} is not divisible by --heads {self.heads}")
        if self.mechanism in ROTATING + HOUSEHOLDER and self.d_head % 2:
            raise ParameterError(f"--width: head dimension {self.d_head} is odd; {self.mechanism} rotates "
                                 f"coordinate pairs and needs an even head dimension")
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
    kind, _, value = cfg.scale.partition("=")
    s = float(value)
    table = theta * (1 + s * z) if kind == "rel" else theta + s * z
    return table.float()


def alibi_slopes(heads: int) -> torch.Tensor:
    return torch.tensor([2.0 ** (-8.0 * h / heads) for h in range(1, heads + 1)])


class Attention(nn.Module):
    def __init__(self, cfg: Config, layer: int):
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
        self.probe = None        # set to {"window": W} to record attention statistics
        self.probe_out = None

    # -- the pieces of the mechanism, each [B, H, T, ...] ----------------------------------
    def phases(self, tokens, T):
        """Accumulated angles Phi [B, H, T, d/2] (None for mechanisms without rotations)."""
        m = self.cfg.mechanism
        if m == "rope":
            t = torch.arange(T, dtype=torch.float64, device=self.theta.device)
            return torch.remainder(t[:, None] * self.theta.double(), 2 * math.pi).to(self.theta.dtype)[None, None]
        if m in SO2:
            phi = self.angles[tokens]                       # [B, T, H, d/2]
            return tr.accumulate(phi, dim=1).permute(0, 2, 1, 3)
        return None

    def householder(self, x):
        B, T, C = x.shape
        H, dh = self.cfg.heads, self.cfg.d_head
        w = self.w_conv(self.w_proj(x).transpose(1, 2))[..., :T].transpose(1, 2)
        w = F.normalize(w.reshape(B, T, H, dh).transpose(1, 2), dim=-1)
        beta = 2 * torch.sigmoid(self.beta_proj(x)).transpose(1, 2)
        return w, beta

    def bias(self, x, T):
        m = self.cfg.mechanism
        i = torch.arange(T, device=x.device)
        if m == "alibi":
            lag = (i[:, None] - i[None, :]).clamp(min=0).to(x.dtype)
            return -self.slopes.to(x.dtype)[:, None, None] * lag
        if m in FORGET:
            G = torch.cumsum(F.logsigmoid(self.gate(x)).transpose(1, 2), dim=-1)   # [B, H, T]
            return G[..., :, None] - G[..., None, :]
        return None

    def forward(self, x, tokens):
        B, T, C = x.shape
        H, dh = self.cfg.heads, self.cfg.d_head
        q, k, v = self.qkv(x).reshape(B, T, 3, H, dh).permute(2, 0, 3, 1, 4)
        m = self.cfg.mechanism
        Phi = self.phases(tokens, T)
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
        if self.probe is not None:
            self.probe_out = _attention_stats(a, content, bias, causal, self.probe["window"])
        return self.proj(o.transpose(1, 2).reshape(B, T, C))


def _attention_stats(a, content, bias, causal, window):
    """Per head (mean over batch): far mass ``sum_{i - j > W} a_ij`` at each query position, the
    largest |content score| over the causal pairs (the B of the bounds B5 and B6), and at each
    query the B6-form upper bound on far mass for content scores within [-B, B] under the
    head's own bias ``b_ij`` (ALiBi's or the forget gate's; 0 without one):
    ``sum_far e^{B + b} / (sum_near e^{-B + b} + sum_far e^{B + b})``."""
    T = a.shape[-1]
    i = torch.arange(T, device=a.device)
    far = (i[:, None] - i[None, :]) > window
    far_mass = (a * far).sum(-1).mean(0)                          # [H, T]
    B = content.abs().masked_fill(~causal, 0).amax(dim=(-1, -2))    # [batch, H]
    b = torch.zeros_like(content) if bias is None else bias.expand_as(content)
    Bx = B[..., None, None]
    log_far = (Bx + b).masked_fill(~(far & causal), float("-inf")).logsumexp(-1)
    log_near = (-Bx + b).masked_fill(~(causal & ~far), float("-inf")).logsumexp(-1)
    upper = torch.sigmoid(log_far - log_near).mean(0)             # [H, T]
    return {"far_mass": far_mass.detach(), "B": B.amax(0).detach(), "far_mass_ub": upper.detach()}


class Block(nn.Module):
    def __init__(self, cfg: Config, layer: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.width), nn.LayerNorm(cfg.width)
        self.attn = Attention(cfg, layer)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, 4 * cfg.width), nn.GELU(), nn.Linear(4 * cfg.width, cfg.width))

    def forward(self, x, tokens):
        x = x + self.attn(self.ln1(x), tokens)
        return x + self.mlp(self.ln2(x))


class LM(nn.Module):
    """Byte-level language model: ``forward(tokens [B, T] int64) -> logits [B, T, 256]``."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg.validate()
        torch.manual_seed(cfg.seed)
        self.embed = nn.Embedding(VOCAB, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.width)
        self.apply(self._init)

    @staticmethod
    def _init(mod):
        if isinstance(mod, (nn.Linear, nn.Embedding)):
            nn.init.normal_(mod.weight, std=0.02)
            if getattr(mod, "bias", None) is not None:
                nn.init.zeros_(mod.bias)

    def forward(self, tokens):
        x = self.embed(tokens)
        for blk in self.blocks:
            x = blk(x, tokens)
        return self.ln_f(x) @ self.embed.weight.T

    def attentions(self):
        return [blk.attn for blk in self.blocks]

"""The attention of every mechanism written from its definition with explicit matrices.

The specification the fast path (:class:`mixing.lm.model.Attention`) is tested against: each
generator ``G_t`` is built as a d x d matrix (identity, ``blockdiag R(phi_t)`` or
``I - beta_t w_t w_t^T``), each path ``P_{i<-j} = G_i ... G_{j+1}`` by multiplying them, each
bias by summing over the path (ALiBi's ``-m (i - j)``, the forget gate's ``sum_{t=j+1..i} log f_t``,
divided by sqrt(d) for ``gate=fla``),
the softmax over ``j <= i`` one row at a time (scores more than ``NEGLIGIBLE`` below the row's
maximum weighted 0, as in the model), and value transport as ``sum_j a_ij P_{i<-j} v_j``.
Float64 throughout; O(T^2 d^3), for tests on short sequences only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import transport as tr
from .model import FORGET, HOUSEHOLDER, NEGLIGIBLE, SO2, Attention


def generator_matrices(att: Attention, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``G_t`` as [B, H, T, d, d] float64 matrices."""
    B, T, _ = x.shape
    H, dh = att.cfg.heads, att.cfg.d_head
    m = att.cfg.mechanism
    if m == "rope":
        phi = att.theta.double().expand(B, H, T, dh // 2)
        return tr.so2_matrices(phi)
    if m in SO2:
        return tr.so2_matrices(att.angles[tokens].permute(0, 2, 1, 3))
    if m in HOUSEHOLDER:
        w, beta = att.householder(x)
        return tr.householder_matrices(w, beta)
    return torch.eye(dh, dtype=torch.float64).expand(B, H, T, dh, dh)


def attention(att: Attention, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The attention layer's output [B, T, C] (before nothing: ``proj`` included), float64."""
    B, T, C = x.shape
    H, dh = att.cfg.heads, att.cfg.d_head
    m = att.cfg.mechanism
    q, k, v = (t.double() for t in att.qkv(x).reshape(B, T, 3, H, dh).permute(2, 0, 3, 1, 4))
    P = tr.reference_paths(generator_matrices(att, x, tokens))  # [B, H, T, T, d, d]
    if m in FORGET:
        logf = F.logsigmoid(att.gate(x)).double().transpose(1, 2)  # [B, H, T]
        if att.cfg.gate == "fla":
            logf = logf / math.sqrt(dh)  # fla's PaTH-FoX scaling
    o = torch.zeros(B, H, T, dh, dtype=torch.float64)
    for i in range(T):
        s = torch.empty(B, H, i + 1, dtype=torch.float64)
        for j in range(i + 1):
            s[..., j] = torch.einsum("bhd,bhde,bhe->bh", q[..., i, :], P[:, :, i, j], k[..., j, :]) / math.sqrt(dh)
            if m == "alibi":
                s[..., j] -= att.slopes.double()[None, :] * (i - j)
            if m in FORGET:
                s[..., j] += logf[..., j + 1 : i + 1].sum(-1)
        s = s.masked_fill(s < s.amax(-1, keepdim=True) - NEGLIGIBLE, float("-inf"))  # as the model does
        a = torch.softmax(s, dim=-1)
        for j in range(i + 1):
            vj = v[..., j, :]
            if m == "so2-learned-v":
                vj = torch.einsum("bhde,bhe->bhd", P[:, :, i, j], vj)
            o[..., i, :] += a[..., j, None] * vj
    return F.linear(o.transpose(1, 2).reshape(B, T, C), att.proj.weight.double())

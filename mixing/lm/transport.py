"""The position mechanisms' tensor operations, fast and reference.

Conventions (as in the engine and ``docs``): the generator of the token at position t is
``G_t``; the path from source j to query i is ``P_{i<-j} = G_i G_{i-1} ... G_{j+1}`` (empty on
the diagonal) and the content score is ``q_i^T P_{i<-j} k_j``.

- SO(2) (RoPE, accumulated angles): ``G_t = blockdiag R(phi_t)`` on coordinate pairs
  (2m, 2m+1), ``R(a) = [[cos a, -sin a], [sin a, cos a]]``. With the accumulated angle
  ``Phi_t = sum_{u <= t} phi_u``, ``P_{i<-j} = R(Phi_i - Phi_j)`` and the score is
  ``(R(-Phi_i) q_i) . (R(-Phi_j) k_j)``. RoPE is ``Phi_t = t theta``.
- Householder (PaTH): ``G_t = H_t = I - beta_t w_t w_t^T`` with unit ``w_t``. The scores of a
  whole sequence come from the UT form (``path_logits``): with ``M = I + StrictUpper(diag(beta)
  W W^T)``,
  ``q_i^T P_{i<-j} k_j = q_i.k_j - sum_{j < t <= u <= i} (k_j.w_t) (M^-1)_{tu} beta_u (w_u.q_i)``,
  exact, O(T^2 d + T^3) (the triangular solve in float64); from a scan that transports every cached key by each new
  token's ``H_t`` (``path_logits_scan``), O(T^2 d); or chunk by chunk (``path_logits_chunked``: the UT form in each
  chunk, the WY form ``I - W^T A W`` of each chunk's product across chunks), used without gradients at long lengths.

``reference_logits`` builds every ``G_t`` and every path as explicit matrices (float64); the
tests hold the fast forms to it.
"""

from __future__ import annotations

import torch

#: above this length, and without gradients, PaTH scores go chunk by chunk (the UT solve is O(T^3))
SCAN_ABOVE = 512


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Apply ``R(angles)`` to each coordinate pair (2m, 2m+1) of ``x`` (``angles``: ``x.shape[:-1] + (d/2,)``)."""
    c, s = torch.cos(angles), torch.sin(angles)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


def accumulate(phi: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """``Phi_t = sum_{u <= t} phi_u`` along ``dim``, summed in float64 and wrapped to [0, 2 pi)."""
    total = torch.cumsum(phi.double(), dim=dim)
    return torch.remainder(total, 2 * torch.pi).to(phi.dtype)


def so2_logits(q: torch.Tensor, k: torch.Tensor, Phi: torch.Tensor) -> torch.Tensor:
    """Content scores ``q_i^T R(Phi_i - Phi_j) k_j`` for all pairs; ``Phi``: [..., T, d/2]."""
    return rotate(q, -Phi) @ rotate(k, -Phi).transpose(-1, -2)


def path_logits(q: torch.Tensor, k: torch.Tensor, w: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``q_i^T H_i ... H_{j+1} k_j`` for j <= i by the UT form (entries j > i are meaningless).

    q, k, w: [..., T, d] (w unit rows), beta: [..., T]. The triangular system is built and
    solved in float64 (its inverse can have large entries), everything else in q's dtype.
    """
    T = q.shape[-2]
    qk = q @ k.transpose(-1, -2)
    qw = q @ w.transpose(-1, -2)  # [i, u] = q_i . w_u
    kw = k @ w.transpose(-1, -2)  # [j, t] = k_j . w_t
    ww = (w @ w.transpose(-1, -2)).double()
    ones = torch.ones(T, T, dtype=torch.bool, device=q.device)
    upper = torch.triu(ones, diagonal=1)  # u > t
    M = torch.eye(T, dtype=torch.float64, device=q.device) + (beta.double()[..., :, None] * ww) * upper
    R = (kw * upper).transpose(-1, -2).double()  # [t, j] = k_j . w_t for t > j
    Y = torch.linalg.solve_triangular(M.transpose(-1, -2), R, upper=False, unitriangular=True).to(q.dtype)
    lower = torch.tril(ones)  # u <= i
    return qk - ((qw * lower) * beta[..., None, :]) @ Y


@torch.no_grad()
def path_logits_scan(q: torch.Tensor, k: torch.Tensor, w: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The same scores by transporting the cached keys token by token (no gradients)."""
    T = q.shape[-2]
    kt = k.clone()
    out = torch.zeros(q.shape[:-1] + (T,), dtype=q.dtype, device=q.device)
    for t in range(T):
        if t:
            cached = kt[..., :t, :]
            wt = w[..., t, :]
            coef = (cached @ wt.unsqueeze(-1)) * beta[..., t, None, None]
            cached -= coef * wt.unsqueeze(-2)
        out[..., t, : t + 1] = (kt[..., : t + 1, :] @ q[..., t, :, None]).squeeze(-1)
    return out


def _wy(w: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``A`` with ``H_1 H_2 ... H_m = I - W^T A W`` (W: the rows w_t, H_1 leftmost): the UT
    transform ``A = (I + diag(beta) StrictUpper(W W^T))^-1 diag(beta)``, upper triangular, in
    float64; the product of the first n factors uses the leading n x n block of A."""
    m = w.shape[-2]
    ww = (w @ w.transpose(-1, -2)).double()
    upper = torch.triu(torch.ones(m, m, dtype=torch.bool, device=w.device), diagonal=1)
    M = torch.eye(m, dtype=torch.float64, device=w.device) + (beta.double()[..., :, None] * ww) * upper
    return torch.linalg.solve_triangular(M, torch.diag_embed(beta.double()), upper=True, unitriangular=True)


def _prefix_apply(
    x: torch.Tensor, w: torch.Tensor, beta: torch.Tensor, A: torch.Tensor, inclusive: bool
) -> torch.Tensor:
    """Row t of x multiplied by ``H_1 ... H_t`` (``inclusive``) or ``H_1 ... H_{t-1}``."""
    m = w.shape[-2]
    mask = torch.ones(m, m, dtype=torch.bool, device=w.device).tril(0 if inclusive else -1)
    xw = ((x @ w.transpose(-1, -2)) * mask).double()  # [t, v] = x_t . w_v, v in the prefix
    return x - ((xw @ A.transpose(-1, -2)).to(x.dtype)) @ w


@torch.no_grad()
def path_logits_chunked(
    q: torch.Tensor, k: torch.Tensor, w: torch.Tensor, beta: torch.Tensor, chunk: int = 64
) -> torch.Tensor:
    """The same scores chunk by chunk (no gradients): the UT form inside each chunk of
    ``chunk`` positions; against earlier positions, the chunk's queries carried back to the
    chunk start (``H_a ... H_t q_t``) against the cached keys carried to it, and the cache then
    carried across the chunk by its product in WY form ``I - W^T A W``. O(T^2 d + T chunk^2),
    T / chunk steps instead of the scan's T."""
    T = q.shape[-2]
    out = torch.zeros(q.shape[:-1] + (T,), dtype=q.dtype, device=q.device)
    cache = None  # keys carried to the chunk start
    for a in range(0, T, chunk):
        e = min(a + chunk, T)
        qc, kc, wc, bc = q[..., a:e, :], k[..., a:e, :], w[..., a:e, :], beta[..., a:e]
        n = e - a
        lower = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        out[..., a:e, a:e] = path_logits(qc, kc, wc, bc) * lower
        A = _wy(wc, bc)
        if cache is not None:
            qh = _prefix_apply(qc, wc, bc, A, inclusive=True)  # H_a ... H_t q_t
            out[..., a:e, :a] = qh @ cache.transpose(-1, -2)
            cache = cache - ((cache @ wc.transpose(-1, -2)).double() @ A).to(q.dtype) @ wc
        # this chunk's keys carried to its end: H_{e-1} ... H_{j+1} k_j, a prefix product of
        # the reversed chunk
        wr, br = wc.flip(-2), bc.flip(-1)
        kh = _prefix_apply(kc.flip(-2), wr, br, _wy(wr, br), inclusive=False).flip(-2)
        cache = kh if cache is None else torch.cat([cache, kh], dim=-2)
    return out


def householder_logits(q: torch.Tensor, k: torch.Tensor, w: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """PaTH scores by the UT form, or chunk by chunk above ``SCAN_ABOVE`` positions without gradients."""
    if q.shape[-2] > SCAN_ABOVE and not torch.is_grad_enabled():
        return path_logits_chunked(q, k, w, beta)
    return path_logits(q, k, w, beta)


# ---------------------------------------------------------------------------------------
# reference: explicit matrices


def so2_matrices(phi: torch.Tensor) -> torch.Tensor:
    """``blockdiag R(phi_t)`` as [..., T, d, d] float64 matrices from angles [..., T, d/2]."""
    phi = phi.double()
    h = phi.shape[-1]
    G = torch.zeros(phi.shape[:-1] + (2 * h, 2 * h), dtype=torch.float64)
    c, s = torch.cos(phi), torch.sin(phi)
    idx = torch.arange(h)
    G[..., 2 * idx, 2 * idx] = c
    G[..., 2 * idx, 2 * idx + 1] = -s
    G[..., 2 * idx + 1, 2 * idx] = s
    G[..., 2 * idx + 1, 2 * idx + 1] = c
    return G


def householder_matrices(w: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``I - beta_t w_t w_t^T`` as [..., T, d, d] float64 matrices."""
    w, beta = w.double(), beta.double()
    d = w.shape[-1]
    return torch.eye(d, dtype=torch.float64) - beta[..., None, None] * w[..., :, None] * w[..., None, :]


def reference_paths(G: torch.Tensor) -> torch.Tensor:
    """All paths ``P[i, j] = G_i ... G_{j+1}`` (identity for j >= i) as [..., T, T, d, d]."""
    T, d = G.shape[-3], G.shape[-1]
    P = torch.zeros(G.shape[:-3] + (T, T, d, d), dtype=torch.float64)
    eye = torch.eye(d, dtype=torch.float64)
    for i in range(T):
        cur = eye.expand(G.shape[:-3] + (d, d)).clone()
        P[..., i, i, :, :] = cur
        for j in range(i - 1, -1, -1):
            cur = cur @ G[..., j + 1, :, :]
            P[..., i, j, :, :] = cur
        for j in range(i + 1, T):
            P[..., i, j, :, :] = eye
    return P


def reference_logits(q: torch.Tensor, k: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``q_i^T P_{i<-j} k_j`` with every path built explicitly (float64)."""
    P = reference_paths(G)
    return torch.einsum("...id,...ijde,...je->...ij", q.double(), P, k.double())

"""Warp-level pieces: launch constants, warp sums, the device twins of the scalar helpers,
and the batched per-step draws.

A group of G lanes (``layout.Layout.lanes``: 32, one trial per warp, by default) carries
one trial. Dot products are group sums (xor-butterfly shuffles under the group's lane mask
on a GPU, so every lane ends with the same bits; shared memory under the simulator, which
has no shuffles). Per-step scalar draws (token, key kind, projection of a random key) are
made G steps at a time, lane l drawing step n0 + l, into a ring of 2G slots in shared
memory that the sequential pass reads back, so the group does not repeat them.
"""

from __future__ import annotations

import os
import types

from ... import laws, rng
from ...codes import OTHER, SEQ, TABLE
from ...twins import rebuild
from .. import draws, readout
from ._compat import SIM, cuda

WARP = 32
#: warps per block (of 32 / G trials each): 1 trial under the simulator, where every sync is block-wide;
#: MIXING_CUDA_WPB and MIXING_CUDA_MAXREG (a register cap) are for launch-shape experiments
WPB = 1 if SIM else int(os.environ.get("MIXING_CUDA_WPB", "4"))
MAXREG = int(os.environ.get("MIXING_CUDA_MAXREG", "0")) or None
FULL = 0xFFFFFFFF

dev = cuda.jit(device=True)
#: the kernel-side jit: a register cap when MIXING_CUDA_MAXREG is set
kjit = cuda.jit(max_registers=MAXREG) if (MAXREG and not SIM) else cuda.jit

# device twins of the scalar helpers, rebuilt from the CPU kernels' source
R = rebuild(rng, dev, "mixing.engine.rng.cuda")
LAW = rebuild(laws, dev, "mixing.engine.laws.cuda", deps={"rng": R})
DRAW = rebuild(draws, dev, "mixing.engine.kernels.draws.cuda", deps={"rng": R})
READ = rebuild(readout, dev, "mixing.engine.kernels.readout.cuda", deps={"rng": R})


# complexity above 15: builds the lane-group reductions of the hot loop for one width
def group(G: int) -> types.SimpleNamespace:  # noqa: C901
    """The warp-level pieces for G lanes per trial (built once per G, then cached):
    ``GPB`` trials per block, the ``RING`` of per-step scalars, and the device functions
    ``place``, ``wsum``, ``wsync`` and ``batch``. Under the simulator a block is one trial
    of G threads (its syncs are block-wide and it has no shuffles); on a GPU a block holds
    WPB warps of 32 / G trials each, and a group's sums and syncs use its own lane mask."""
    if G in _GROUPS:
        return _GROUPS[G]
    GPB = 1 if SIM else WPB * (WARP // G)
    RING = 2 * G
    ones = (1 << G) - 1

    if SIM:

        @dev
        def wsum(x, red, lane):
            red[lane] = x
            cuda.syncthreads()
            s = 0.0
            for i in range(G):
                s += red[i]
            cuda.syncthreads()
            return type(x)(s)  # plain Python here: a float32 sum stays float32

        @dev
        def wsync():
            cuda.syncthreads()
    else:

        @dev
        def gmask():
            return ones << (((cuda.threadIdx.x % WARP) // G) * G)

        @dev
        def wsum(x, red, lane):
            # xor butterfly inside the group: every lane ends with the same bits
            # (G is a compile-time constant: the dead levels vanish)
            m = gmask()
            if G >= 32:
                x += cuda.shfl_xor_sync(m, x, 16)
            if G >= 16:
                x += cuda.shfl_xor_sync(m, x, 8)
            if G >= 8:
                x += cuda.shfl_xor_sync(m, x, 4)
            if G >= 4:
                x += cuda.shfl_xor_sync(m, x, 2)
            x += cuda.shfl_xor_sync(m, x, 1)
            return x

        @dev
        def wsync():
            cuda.syncwarp(gmask())

    @dev
    def place(T):
        """(lane, group in block, trial row tt, whether this group writes): every kernel's
        prologue. Groups past the last trial repeat trial T - 1 without writing, so every
        sync is reached."""
        lane = cuda.threadIdx.x % G
        gib = cuda.threadIdx.x // G
        trial = cuda.blockIdx.x * GPB + gib
        return lane, gib, min(trial, T - 1), trial < T

    @dev
    def batch(tk, n0, Lmax, src, alias, V, delta, p, d, lane, sh_tok, sh_kind, sh_val):
        """Scalars of steps n0 .. n0+G-1, lane l drawing step n0+l, into the ring of 2G slots
        in shared memory (step n at slot (n-1) % 2G): table row, key kind, projection of an
        OTHER key."""
        wsync()
        n = n0 + lane
        if n <= Lmax:
            tok = 0
            if src == TABLE or src == SEQ:
                tok = DRAW.table_row(src, tk, n, alias, V)
            kind, kk = DRAW.key_kind(tk, n, delta, p)
            val = 0.0
            if kind == OTHER:
                val = DRAW.other_coord(kk, d)
            j = (n - 1) % RING
            sh_tok[j] = tok
            sh_kind[j] = kind
            sh_val[j] = val
        wsync()

    ns = types.SimpleNamespace(G=G, GPB=GPB, RING=RING, place=place, wsum=wsum, wsync=wsync, batch=batch)
    _GROUPS[G] = ns
    return ns


_GROUPS: dict = {}

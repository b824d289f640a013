"""Warp-level pieces: launch constants, warp sums, the device twins of the scalar helpers,
and the batched per-step draws.

A warp of 32 lanes carries one trial. Dot products are warp sums (xor-butterfly shuffles
on a GPU, so every lane ends with the same bits; shared memory under the simulator, which
has no shuffles). Per-step scalar draws (token, key kind, projection of a random key) are
made 32 steps at a time, lane l drawing step n0 + l, into a ring of 64 slots in shared
memory that the sequential pass reads back, so the warp does not repeat them.
"""

from __future__ import annotations

import os

from ... import laws, rng
from ...codes import OTHER, SEQ, TABLE
from ...twins import rebuild
from .. import draws, readout
from ._compat import SIM, cuda

WARP = 32
RING = 2 * WARP
#: warps (trials) per block: 1 under the simulator, where every sync is block-wide;
#: MIXING_CUDA_WPB and MIXING_CUDA_MAXREG (a register cap) are for launch-shape experiments
WPB = 1 if SIM else int(os.environ.get("MIXING_CUDA_WPB", "4"))
MAXREG = int(os.environ.get("MIXING_CUDA_MAXREG", "0")) or None
FULL = 0xFFFFFFFF

dev = cuda.jit(device=True)
#: the kernel-side jit: a register cap when MIXING_CUDA_MAXREG is set
kjit = cuda.jit(max_registers=MAXREG) if (MAXREG and not SIM) else cuda.jit

# device twins of the scalar helpers, rebuilt from the CPU kernels' source
R = rebuild(rng, dev, "mixing.rng.cuda")
LAW = rebuild(laws, dev, "mixing.laws.cuda", deps={"rng": R})
DRAW = rebuild(draws, dev, "mixing.kernels.draws.cuda", deps={"rng": R})
READ = rebuild(readout, dev, "mixing.kernels.readout.cuda")


if SIM:
    @dev
    def wsum(x, red, lane):
        red[lane] = x
        cuda.syncthreads()
        s = 0.0
        for i in range(WARP):
            s += red[i]
        cuda.syncthreads()
        return s

    @dev
    def wsync():
        cuda.syncthreads()
else:
    @dev
    def wsum(x, red, lane):
        # xor butterfly: every lane ends with the same bits (a + b == b + a)
        x += cuda.shfl_xor_sync(FULL, x, 16)
        x += cuda.shfl_xor_sync(FULL, x, 8)
        x += cuda.shfl_xor_sync(FULL, x, 4)
        x += cuda.shfl_xor_sync(FULL, x, 2)
        x += cuda.shfl_xor_sync(FULL, x, 1)
        return x

    @dev
    def wsync():
        cuda.syncwarp(FULL)


@dev
def place(T):
    """(lane, warp in block, trial row tt, whether this warp writes): every kernel's prologue.
    Warps past the last trial repeat trial T - 1 without writing, so every sync is reached."""
    lane = cuda.threadIdx.x % WARP
    wib = cuda.threadIdx.x // WARP
    trial = cuda.blockIdx.x * WPB + wib
    return lane, wib, min(trial, T - 1), trial < T


@dev
def batch(tk, n0, Lmax, src, alias, V, delta, p, d, lane, sh_tok, sh_kind, sh_val):
    """Scalars of steps n0 .. n0+31, lane l drawing step n0+l, into the ring of 64 slots
    in shared memory (step n at slot (n-1) % 64): table row, key kind, projection of an
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

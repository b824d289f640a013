"""Integer codes shared by the Python side and the compiled kernels.

The Python side uses the ``IntEnum`` classes (readable in a repr, checked by type); the
kernels receive plain ``int`` values and compare them against the module-level aliases
below, because numba cannot use ``IntEnum`` members in arithmetic or casts (it fails to
lower ``enum + float``), while a global ``int`` is a compile-time constant for numba and
numba-cuda alike.
"""

from __future__ import annotations

from enum import IntEnum


class Family(IntEnum):
    """The generator family of a mechanism."""

    SO2 = 0  # block-diagonal 2x2 rotations
    HOUSEHOLDER = 1  # I - beta w w^T (the identity when src is CONST)


class Source(IntEnum):
    """Where the generator at lag n comes from."""

    IID = 0  # drawn afresh at every position
    TABLE = 1  # a per-token table, tokens drawn from a CDF
    CONST = 2  # one fixed generator (RoPE's angles, or none)
    SEQ = 3  # row (n - 1) mod V of a position-wise sequence


class Law(IntEnum):
    """Angle laws of the SO(2) steps (see ``mixing.engine.laws``)."""

    CONSTANT = 0
    GAUSSIAN = 1
    UNIFORM = 2
    VONMISES = 3
    WRAPPED_CAUCHY = 4
    TWO_POINT = 5
    GAUSSIAN_REL = 6


class KeyKind(IntEnum):
    """The key of a non-query position in the retrieval task."""

    TARGET = 0  # the lag delta
    LOOKALIKE = 1  # same key as the target (probability p)
    OTHER = 2  # a uniform random key


# plain-int aliases for compiled code
SO2, HOUSEHOLDER = int(Family.SO2), int(Family.HOUSEHOLDER)
IID, TABLE, CONST, SEQ = int(Source.IID), int(Source.TABLE), int(Source.CONST), int(Source.SEQ)
(CONSTANT, GAUSSIAN, UNIFORM, VONMISES, WRAPPED_CAUCHY, TWO_POINT, GAUSSIAN_REL) = (int(law) for law in Law)
TARGET, LOOKALIKE, OTHER = int(KeyKind.TARGET), int(KeyKind.LOOKALIKE), int(KeyKind.OTHER)

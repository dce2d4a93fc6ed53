"""Compressive-sensing baselines: random Gaussian measurements at the UE, sparse or
total-variation recovery at the BS (the CS rows of the CsiNet paper's Table I).

The BS rebuilds ``x`` from ``y`` by

- :class:`Lasso`: ``min_x 0.5 ||y - A x||^2 + lam ||x||_1`` (FISTA with adaptive restart);
- :class:`TotalVariation`: ``min_x TV(x) + (mu / 2) ||A x - y||^2`` with the isotropic total
  variation of the ``[Na, Nt]`` images of the real and the imaginary part (TVAL3-like; ADMM);
- :class:`OMP`: orthogonal matching pursuit to a sparsity ``K``;

and multiplies by the scale. The regularisation (``alpha``, ``mu``, ``K``) is chosen in
:meth:`CompressiveSensing.fit` on training CSI, by the least mean NMSE over a grid, unless given.
All solvers work on a batch at once (``A`` is shared: matrix products over the batch, no loop
over samples).

The pipeline builds them by :func:`for_payload`::

    bl = for_payload("lasso", 16416, (32, 32), seed).fit(h_train)   # M = 512 float32 values

The measurement model and everything the three share are in :mod:`linksim.baselines.sensing`
(also ``SOLVER_BLAS_THREADS``, the BLAS threads of the solvers: set it there).
"""

from __future__ import annotations

from linksim.baselines.lasso import Lasso
from linksim.baselines.omp import OMP
from linksim.baselines.sensing import (
    FLOAT_MEASUREMENT_BITS,
    MAX_MEASUREMENT_BITS,
    CompressiveSensing,
    blas_threads,
    nmse_unit,
)
from linksim.baselines.tv import (
    TotalVariation,
    gradient_gram,
    image_gradient,
    image_gradient_adjoint,
)
from linksim.errors import LinksimInputError

__all__ = ["FLOAT_MEASUREMENT_BITS", "MAX_MEASUREMENT_BITS", "OMP", "SCHEMES", "CompressiveSensing",
           "Lasso", "TotalVariation", "blas_threads", "for_payload", "gradient_gram",
           "image_gradient", "image_gradient_adjoint", "nmse_unit"]

#: Scheme name -> class.
SCHEMES: dict[str, type[CompressiveSensing]] = {
    "lasso": Lasso, "tv": TotalVariation, "omp": OMP}


def for_payload(kind: str, bits: int, shape: tuple[int, int], seed: int = 0,
                **options) -> CompressiveSensing:
    """A CS baseline with the most measurements a payload holds.

    Parameters
    ----------
    kind : {"lasso", "tv", "omp"}
    bits : int
        Payload [bits]; ``M = (bits - 32) // measurement_bits``.
    shape : (Na, Nt)
        Truncated angular-delay shape.
    seed : int
        Seed of the measurement matrix.
    **options
        ``measurement_bits`` and the options of the class (e.g. ``alpha``, ``iterations``).

    Returns
    -------
    CompressiveSensing
        Not fitted: call ``.fit(h_train)`` (``h_train [N, Na, Nt]`` complex) unless the
        regularisation was given.
    """
    if kind not in SCHEMES:
        raise LinksimInputError(f"compressive: kind must be one of {sorted(SCHEMES)}, "
                                f"got {kind!r}")
    return SCHEMES[kind].for_payload(bits, shape, seed=seed, **options)

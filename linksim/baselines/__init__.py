"""Classical CSI compressors at a given payload in bits: the baselines of the neural codecs.

Each scheme is a UE encoder that turns a CSI into a report of integer symbols, a bit layout for
that report, and a BS decoder; one module per scheme:

- :class:`TopK` (:mod:`~linksim.baselines.topk`) keeps the ``K`` largest coefficients of the
  truncated angular-delay CSI ``h_ad [b, Na, Nt]``; values quantised in polar (amplitude, phase)
  or cartesian (re, im) form.
- :class:`PCA` (:mod:`~linksim.baselines.pca`) projects the unit-norm CSI on the leading
  eigenvectors of the training set's (complex) correlation matrix, the Karhunen-Loeve transform,
  and quantises the coefficients with bits allocated by reverse water-filling.
- :class:`DFTCodebook` (:mod:`~linksim.baselines.dft`) works in space-frequency
  ``h [b, Nc, Nt]``: ``L`` strongest orthogonal beams of an oversampled DFT grid, in the spirit
  of 3GPP Rel-15 Type II.
- Compressive sensing (:mod:`~linksim.baselines.compressive`): ``M`` random Gaussian
  measurements (:mod:`~linksim.baselines.sensing`), recovered by :class:`Lasso`,
  :class:`TotalVariation` or :class:`OMP` (one module each).

All share :class:`Baseline` (:mod:`~linksim.baselines.base`). Every report starts with one
float32 scale (32 bits) so that the BS rebuilds the channel itself, not only its direction. The
bits are counted exactly: :meth:`Baseline.report_bits` counts the fields of a report, and
:meth:`Baseline.to_bits` / :meth:`Baseline.from_bits` build and parse the actual bitstream
(``compress(h, via_bits=True)`` goes through it, so the count is measured), with the bit
packing and scalar quantisers of :mod:`linksim.phy.bits`. Bit layouts and formulas are in
docs/baselines.md.
"""

from linksim.baselines.base import SCALE_BITS, Baseline
from linksim.baselines.compressive import OMP, CompressiveSensing, Lasso, TotalVariation
from linksim.baselines.dft import TYPE2_AMP_STEP_DB, DFTCodebook, dft_beams
from linksim.baselines.pca import PCA, allocate_bits
from linksim.baselines.topk import TopK

__all__ = ["OMP", "PCA", "SCALE_BITS", "TYPE2_AMP_STEP_DB", "Baseline", "CompressiveSensing",
           "DFTCodebook", "Lasso", "TopK", "TotalVariation", "allocate_bits", "dft_beams"]

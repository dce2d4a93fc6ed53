"""The study's configuration (strict pydantic, embeddable as a scenario section ``tr38843:``)
and the generalization cases of TR 38.843 (clause 6.2.2: Case 1 / 2 / 3).

Checks that need the data (rank against ``min(Nr, Nt)``, port count against ``2 N1 N2``, a
payload bin no paramCombination reaches at the data's ``N3``) are in :func:`check_data`,
which :func:`linksim.tr38843.study.run_study` calls before any training.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from linksim.errors import LinksimInputError
from linksim.scenario_sections import Float, Int, StrictModel, non_empty_unique, unique
from linksim.tr38843.payload import (
    DEFAULT_BINS,
    VQ_MAX_BITS,
    bin_members,
    codeword_length,
    etype2_payloads,
)

#: The eigenvector codecs' names (the keys of :data:`linksim.tr38843.codecs.EIGEN_CODECS`; kept
#: here so that validating a scenario does not import Keras; a test checks that they agree).
EIGEN_CODECS: tuple[str, ...] = ("eig_csinet", "eig_transformer", "eig_crnet", "eig_acrnet")


class PayloadBin(StrictModel):
    """A payload range in bits (both ends included; ``max_bits`` null = unbounded)."""

    min_bits: Int = Field(ge=0)
    max_bits: Int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _order(self):
        if self.max_bits is not None and self.max_bits < self.min_bits:
            raise ValueError(f"max_bits {self.max_bits} is below min_bits {self.min_bits}")
        return self


class Generalization(StrictModel):
    """Case 1: train and test on each set of ``train``; Case 2: train on the one set of
    ``train``, test on each of ``test`` (other sets); Case 3: train on the mix of ``train``
    (>= 2 sets), test on each of ``test`` (default: each set of the mix)."""

    case: Literal[1, 2, 3] = 1
    train: list[str] = Field(min_length=1, description="named training sets")
    test: list[str] | None = Field(None, description="named test sets (cases 2 and 3)")
    training_types: list[Literal["joint", "nw_first", "ue_first"]] | None = Field(
        None, description="this case's training types (default: the study's training_types)")

    _unique = field_validator("train", "test")(unique)
    _types = field_validator("training_types")(non_empty_unique("give at least one entry"))

    @model_validator(mode="after")
    def _shape(self):
        if self.case == 1 and self.test is not None and set(self.test) != set(self.train):
            raise ValueError("case 1 tests on the training sets; leave test out")
        if self.case == 2:
            if len(self.train) != 1:
                raise ValueError(f"case 2 trains on one set, got train = {self.train}")
            if not self.test or self.train[0] in self.test:
                raise ValueError("case 2 needs test: other sets than the training set")
        if self.case == 3 and len(self.train) < 2:
            raise ValueError(f"case 3 trains on a mix of >= 2 sets, got train = {self.train}")
        return self


class Run(NamedTuple):
    """One (training set, test set) evaluation: ``train`` the set names mixed for training."""

    train: tuple[str, ...]
    test: str
    label: str


def generalization_runs(g: Generalization) -> list[Run]:
    """The (train sets, test set, label) pairs of a generalization case (:class:`Generalization`).
    Labels: ``case1``, ``case2``, ``case3``; the train label of a mix is ``"A+B"``."""
    if g.case == 1:
        return [Run((name,), name, "case1") for name in g.train]
    if g.case == 2:
        return [Run((g.train[0],), name, "case2") for name in g.test]
    return [Run(tuple(g.train), name, "case3") for name in (g.test or g.train)]


class StudyConfig(StrictModel):
    """Settings of an eigenvector-CSI study (docs/tr38843.md)."""

    subband_prbs: Int = Field(4, ge=1, description="PMI subband size in PRBs")
    subcarriers_per_prb: Int = Field(
        12, ge=1, description="channel samples per PRB along Nc (1 if H has one per PRB)")
    rank: Int = Field(1, ge=1, le=4, description="layers L reported")
    n1: Int = Field(8, ge=1)
    n2: Int = Field(2, ge=1)
    o1: Int = Field(4, ge=1)
    o2: Int = Field(4, ge=1)
    payload_bins: dict[str, PayloadBin] = Field(
        default_factory=lambda: {k: PayloadBin(min_bits=lo, max_bits=hi)
                                 for k, (lo, hi) in DEFAULT_BINS.items()})
    csi_input: Literal["eigenvectors", "channel"] = Field(
        "eigenvectors", description="what the AI codecs read; only eigenvectors is implemented")
    codecs: list[str] = Field(default_factory=lambda: ["eig_csinet", "eig_transformer"])
    losses: list[Literal["mse", "sgcs"]] = Field(default_factory=lambda: ["sgcs"])
    training_types: list[Literal["joint", "nw_first", "ue_first"]] = Field(
        default_factory=lambda: ["joint"])
    quantizer_bits: Int = Field(2, ge=1, le=8, description="B bits per codeword entry")
    quantizer: Literal["scalar", "vector"] = Field(
        "scalar", description="scalar: B-bit uniform per entry; vector: sub-vectors of vq_dim "
                              "entries, each the index of one of 2^(B vq_dim) learned code "
                              "vectors (same payload M B)")
    vq_dim: Int = Field(2, ge=1, description="entries per vector-quantised sub-vector (d); "
                                             "quantizer: vector only")
    generalization: Generalization | list[Generalization] = Field(
        description="one generalization case, or a list of them (each run in turn)")
    epochs: Int = Field(5, ge=1)
    batch_size: Int = Field(64, ge=1)
    learning_rate: Float = Field(1e-3, gt=0)
    snr_db: Float = Field(10.0, description="throughput proxy SNR (tx power / noise per rx "
                                            "antenna, unit mean gain per antenna pair)")
    seed: Int = 0

    _lists = field_validator("losses", "training_types")(
        non_empty_unique("give at least one entry"))

    @field_validator("payload_bins")
    @classmethod
    def _bins(cls, v):
        if not v:
            raise ValueError("give at least one payload bin")
        return v

    @field_validator("codecs")
    @classmethod
    def _codecs(cls, v: list[str]) -> list[str]:
        non_empty_unique("give at least one codec")(v)
        for name in v:
            if name not in EIGEN_CODECS:
                raise ValueError(f"{name!r} is not an eigenvector codec (known: "
                                 f"{', '.join(EIGEN_CODECS)}); the full-channel codecs of "
                                 "linksim.codecs do not read eigenvectors")
        return v

    @field_validator("generalization")
    @classmethod
    def _cases(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("give at least one case")
        return v

    @model_validator(mode="after")
    def _vq(self):
        if self.quantizer == "scalar":
            if "vq_dim" in self.model_fields_set:
                raise ValueError("vq_dim: only used with quantizer: vector (the scalar "
                                 "quantiser has no sub-vectors); remove it or set quantizer")
        elif self.quantizer_bits * self.vq_dim > VQ_MAX_BITS:
            raise ValueError(f"vq_dim: {self.vq_dim} entries of quantizer_bits = "
                             f"{self.quantizer_bits} make {self.quantizer_bits * self.vq_dim}-bit "
                             f"sub-vectors, a codebook of 2^{self.quantizer_bits * self.vq_dim} "
                             f"vectors; at most {VQ_MAX_BITS} bits per sub-vector")
        return self

    @property
    def sub_vector(self) -> int:
        """Entries per quantised unit: ``vq_dim`` (vector quantiser) or 1 (scalar)."""
        return self.vq_dim if self.quantizer == "vector" else 1

    @model_validator(mode="after")
    def _input(self):
        if self.csi_input != "eigenvectors":
            raise ValueError(f"codecs: {self.codecs[0]!r} is an eigenvector codec and cannot "
                             f"run on csi_input {self.csi_input!r} (full-channel input)")
        return self

    @property
    def subband_size(self) -> int:
        """Subcarriers (channel samples) per subband."""
        return self.subband_prbs * self.subcarriers_per_prb

    def bins(self) -> dict[str, tuple[int, int | None]]:
        return {k: (b.min_bits, b.max_bits) for k, b in self.payload_bins.items()}


def check_data(cfg: StudyConfig, nr: int, nt: int, n3: int, name: str = "") -> dict[str, list]:
    """Checks against the data's shape; returns :func:`bin_members` of the payload bins.

    Raises
    ------
    LinksimInputError
        ``n1``/``n2`` (``Nt != 2 N1 N2``), ``rank`` (above ``min(Nr, Nt)``) or
        ``payload_bins.<name>`` (no paramCombination reaches it) or ``quantizer_bits`` /
        ``vq_dim`` (a bin's budget holds no codeword entry / sub-vector), naming the field.
    """
    where = f" (set {name!r})" if name else ""
    if nt != 2 * cfg.n1 * cfg.n2:
        raise LinksimInputError(f"n1, n2: the channels have Nt = {nt} ports{where} but the "
                                f"dual-polarised codebook needs 2*N1*N2 = {2 * cfg.n1 * cfg.n2}")
    if cfg.rank > min(nr, nt):
        raise LinksimInputError(f"rank: {cfg.rank} exceeds min(Nr, Nt) = {min(nr, nt)}{where}")
    payloads = etype2_payloads(cfg.n1, cfg.n2, cfg.o1, cfg.o2, n3, cfg.rank)
    if not payloads:
        raise LinksimInputError(f"rank: no eType II paramCombination allows rank {cfg.rank} "
                                f"with (N1, N2) = ({cfg.n1}, {cfg.n2}), N3 = {n3}")
    members = bin_members(payloads, cfg.bins())
    for pcs in members.values():
        codeword_length(payloads[pcs[0]], cfg.quantizer_bits, vq_dim=cfg.sub_vector)
    return members

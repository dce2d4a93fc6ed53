"""The scenario's data sets: one model per channel family (``datasets:`` entries, told apart by
``family``), each with its generator settings and split sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from linksim.scenario_sections import Float, Int, StrictModel


class BsArray(StrictModel):
    """A BS panel of ``n1`` columns x ``n2`` rows at half wavelength; ports in the eType II
    order (:mod:`linksim.channels.antenna_arrays`)."""

    n1: Int = Field(ge=1, description="N1, columns (horizontal)")
    n2: Int = Field(ge=1, description="N2, rows (vertical)")
    polarization: Literal["single", "dual"] = Field(
        "dual", description="single (vertical elements) or dual (+-45 degree cross-polarised)")

    @property
    def num_ports(self) -> int:
        """``n1 n2 (2 if dual else 1)``."""
        from linksim.channels.antenna_arrays import BsPanel

        return BsPanel(self.n1, self.n2, self.polarization).num_ports


class UMaChannel(StrictModel):
    """3GPP TR 38.901 UMa (or UMi) NLOS through Sionna: by default a BS ULA and a
    single-antenna UE; ``bs_array`` and ``num_ue_antennas`` give a (dual-polarised) BS panel
    and a multi-antenna UE (channels ``[N, Nc, Nr, Nt]``)."""

    family: Literal["uma"] = "uma"
    scenario: Literal["uma", "umi"] = Field(
        "uma", description="TR 38.901 scenario: uma (urban macro) or umi (urban micro street "
                           "canyon), NLOS")
    carrier_frequency_hz: Float = Field(28e9, gt=0, description="carrier frequency [Hz]")
    num_subcarriers: Int = Field(1024, ge=1, description="Nc")
    subcarrier_spacing_hz: Float = Field(30e3, gt=0, description="subcarrier spacing [Hz]")
    bandwidth_hz: Float | None = Field(
        None, gt=0, description="Nc x subcarrier spacing [Hz]; when given it sets "
                                "subcarrier_spacing_hz (e.g. 20 MHz as in the CsiNet setting)")
    num_bs_antennas: Int = Field(32, ge=1, description="Nt, ULA at half wavelength; with "
                                                        "bs_array its port count")
    bs_array: BsArray | None = Field(
        None, description="BS panel {n1, n2, polarization}; absent: the ULA of num_bs_antennas")
    num_ue_antennas: Int = Field(
        1, ge=1, description="Nr: 1 (one vertical element) or even (one row of Nr/2 "
                             "dual-polarised 0/90 degree columns; 4 = TR 38.843's (1, 2, 2))")
    ue_speed_mps: Float = Field(0.0, ge=0, description="UE speed [m/s]")
    num_snapshots: Int = Field(
        1, ge=1, description="snapshots per drop T (a moving UE observed T times); sample "
                             "index = drop * T + snapshot; each n_* must be a multiple of T")
    snapshot_interval_s: Float = Field(5e-3, gt=0, description="time between snapshots [s]")
    bs_antenna_pattern: Literal["omni", "38.901"] = Field(
        "omni", description="BS element pattern: omni (as in the COST2100/CsiNet setting) or the "
                            "38.901 sector pattern")
    ue_orientation: Literal["upright", "random"] = Field(
        "upright", description="UE antenna orientation: upright, or Sionna's random drop (part of "
                               "the power then goes to the cross-polarisation)")
    generation_device: Literal["cpu", "cuda"] = Field(
        "cpu", description="where Sionna draws the channels: cpu (default), or cuda (the current "
                           "CUDA device; another, equally distributed draw than the CPU's for the "
                           "same seed, cached under its own key; docs/devices.md)")
    n_train: Int = Field(8000, ge=0)
    n_val: Int = Field(1000, ge=0)
    n_test: Int = Field(2000, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _ports_from_array(cls, data):
        if not isinstance(data, dict) or not isinstance(data.get("bs_array"), dict | BsArray):
            return data
        try:
            arr = BsArray.model_validate(data["bs_array"])
        except ValueError:
            return data  # the field validators name the bad field
        given = data.get("num_bs_antennas")
        if given is None:
            return {**data, "num_bs_antennas": arr.num_ports}
        if given != arr.num_ports:
            raise ValueError(f"num_bs_antennas={given!r} disagrees with bs_array's "
                             f"{arr.num_ports} ports (n1 x n2 x polarisations); give only "
                             "bs_array")
        return data

    @field_validator("num_ue_antennas")
    @classmethod
    def _ue_layout(cls, v: int) -> int:
        if v > 1 and v % 2:
            raise ValueError(f"{v} UE antennas: 1 or an even number (dual-polarised columns)")
        return v

    @model_validator(mode="before")
    @classmethod
    def _spacing_from_bandwidth(cls, data):
        if not isinstance(data, dict) or data.get("bandwidth_hz") is None:
            return data
        try:
            scs = float(data["bandwidth_hz"]) / int(data.get("num_subcarriers", 1024))
            given = data.get("subcarrier_spacing_hz")
            given = None if given is None else float(given)
        except (TypeError, ValueError, ZeroDivisionError):
            return data  # the field validators name the bad field
        if given is not None and abs(given - scs) > 1e-9 * abs(scs):
            raise ValueError(f"bandwidth_hz={data['bandwidth_hz']} and subcarrier_spacing_hz="
                             f"{given} disagree (bandwidth = num_subcarriers x spacing); "
                             "give only one of them")
        return {**data, "subcarrier_spacing_hz": scs}

    @model_validator(mode="after")
    def _consistent(self) -> UMaChannel:
        bw = self.num_subcarriers * self.subcarrier_spacing_hz
        if bw >= self.carrier_frequency_hz:
            raise ValueError(f"subcarrier_spacing_hz: the bandwidth Nc x spacing = {bw:g} Hz must "
                             f"be below carrier_frequency_hz = {self.carrier_frequency_hz:g}")
        for split in ("train", "val", "test"):
            n = getattr(self, f"n_{split}")
            if n % self.num_snapshots:
                raise ValueError(f"n_{split}={n} is not a multiple of num_snapshots="
                                 f"{self.num_snapshots} (a split holds whole snapshot series)")
        return self

    def generator_config(self) -> dict:
        """What determines the generated channels (the cache key, without split sizes).

        ``bandwidth_hz`` is carried by ``subcarrier_spacing_hz``; the snapshot fields are left
        out for ``num_snapshots == 1`` (single snapshots, as before they existed), and so are
        ``scenario``, ``bs_array``, ``num_ue_antennas`` and ``generation_device`` at their
        defaults (UMa, ULA, one UE antenna, the CPU): the configs of before they existed keep
        their keys. A ``cuda`` generation is another draw, so it has a key of its own.
        """
        exclude = {"n_train", "n_val", "n_test", "bandwidth_hz"}
        if self.num_snapshots == 1:
            exclude |= {"num_snapshots", "snapshot_interval_s"}
        defaults = {"scenario": "uma", "bs_array": None, "num_ue_antennas": 1,
                    "generation_device": "cpu"}
        exclude |= {k for k, v in defaults.items() if getattr(self, k) == v}
        return self.model_dump(exclude=exclude)

    def has_split(self, split: str) -> bool:
        """Whether the ``split`` ("train", "val", "test") has at least one sample."""
        return getattr(self, f"n_{split}") >= 1


def _cost2100_environments() -> tuple[str, ...]:
    from linksim.channels.cost2100 import ENVIRONMENTS

    return tuple(ENVIRONMENTS)


class Cost2100Channel(StrictModel):
    """COST 2100 (the CsiNet data's model), generated as truncated angular-delay channels.

    The stored ``num_delay_rows`` rows are the channel (see docs/scenarios.md); the energy lost
    to the truncation is recorded in the data set and the manifest.
    """

    family: Literal["cost2100"] = "cost2100"
    environment: str = Field(description="a linksim.channels.cost2100.ENVIRONMENTS name")
    num_bs_antennas: Int = Field(32, ge=1, description="Nt, ULA at half wavelength")
    num_subcarriers: Int = Field(1024, ge=1, description="Nc")
    bandwidth_hz: Float = Field(20e6, gt=0, description="bandwidth [Hz]")
    num_delay_rows: Int = Field(32, ge=1, description="delay rows stored (>= preprocessing Na)")
    n_train: Int = Field(8000, ge=0)
    n_val: Int = Field(1000, ge=0)
    n_test: Int = Field(2000, ge=1)

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, v: str) -> str:
        names = _cost2100_environments()
        if v not in names:
            raise ValueError(f"unknown COST 2100 environment {v!r}; one of {', '.join(names)}")
        return v

    @model_validator(mode="after")
    def _rows_fit(self) -> Cost2100Channel:
        if self.num_delay_rows > self.num_subcarriers:
            raise ValueError(f"num_delay_rows={self.num_delay_rows} exceeds "
                             f"num_subcarriers={self.num_subcarriers}")
        return self

    def generator_config(self) -> dict:
        """What determines the generated channels (the cache key, without split sizes)."""
        return self.model_dump(exclude={"n_train", "n_val", "n_test"})

    def has_split(self, split: str) -> bool:
        return getattr(self, f"n_{split}") >= 1


class CsiNetMatChannel(StrictModel):
    """The published CsiNet ``.mat`` files (32 x 32 truncated angular-delay, COST 2100).

    Paths are relative to the scenario file's folder, or absolute. The truncated channel is the
    channel; it is rebuilt on ``num_subcarriers`` subcarriers.
    """

    family: Literal["csinet_mat"] = "csinet_mat"
    train_file: Path | None = Field(None, description="training split (needed to train on it)")
    val_file: Path | None = Field(None, description="validation split (needed to train on it)")
    test_file: Path = Field(description="test split")
    key: str = Field("HT", description="MATLAB variable name")
    num_subcarriers: Int = Field(1024, ge=32, description="Nc of the rebuilt channel")

    #: Nt and Na of the CsiNet files.
    num_bs_antennas: ClassVar[int] = 32
    num_delay_rows: ClassVar[int] = 32

    @field_validator("train_file", "val_file", "test_file")
    @classmethod
    def _existing(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is None:
            return v
        base = (info.context or {}).get("base_dir")
        path = v if v.is_absolute() or base is None else Path(base) / v
        if not path.is_file():
            raise ValueError(f"file not found: {path}")
        return path

    def has_split(self, split: str) -> bool:
        return getattr(self, f"{split}_file") is not None


ChannelConfig = Annotated[UMaChannel | Cost2100Channel | CsiNetMatChannel,
                          Field(discriminator="family")]


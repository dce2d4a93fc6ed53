"""The evaluation sweep: every method on every test set at every pilot SNR -> results rows.

Per test batch of true channels ``H [b, Nc, Nt]``::

    metrics.ChannelReference(H)                 once: truncation, norms, true eigenvectors
      perfect, no_feedback                      once: they do not depend on the pilot SNR
      per pilot SNR:
        Estimate.draw(ref, snr)                 the LS estimate (UE), its error drawn in the
                                                angular-delay domain
        per method: method.reconstruct(est)     -> Reconstruction(h_ad | h, bits sent)
                    metrics.link_metrics(ref, reconstruction)

A *method* is anything the BS can precode with: the LS estimate fed back uncompressed
(:class:`LsUncompressed`), a codec over one feedback link (:class:`CodecOverLink`) or a
classical compressor (:class:`Classical`). Each reconstructs from the UE's estimate, reports the
bits it sent and carries its own row labels, so the sweep loop is the same for all of them.

Random streams (``linksim.seeding``): the LS error per (test set, SNR) (kept angular-delay rows
and, for space-frequency methods, the other rows: two streams), random beams (where a
reconstruction is zero) per (test set, SNR, method), feedback noise per (test set, SNR, model,
link); each is consumed batch by batch in test-set order, so a method's numbers do not depend on
which other methods run, nor on how the sweep is cut into units (:mod:`linksim.units`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from linksim.phy import estimation, metrics, transforms
from linksim.phy.feedback import FLOAT_BITS
from linksim.seeding import rng_for

RESULT_COLUMNS = [
    "kind", "codec", "compression_ratio", "train_feedback", "feedback", "feedback_snr_db",
    "train_set", "test_set", "pilot_snr_db", "codeword_length", "payload_bits", "measured_bits",
    "nmse_ad_db", "nmse_sf_db", "rho", "bf_gain_db", "bf_gain_loss_db", "sgcs", "sgcs_subband",
    "bf_gain_eigen_db", "se_bps_hz", "range_floor_db", "n_samples",
]

#: Per-sample metrics kept for distributions (CDFs), in ``per_sample.h5``.
PER_SAMPLE_METRICS = ("nmse_ad", "nmse_sf", "rho", "sgcs")

#: A codec row whose range floor (what its input/output mapping alone costs) is above this
#: [dB] makes the run print a warning: its NMSE may measure the pipeline, not the codec.
RANGE_FLOOR_WARN_DB = -30.0


# -- what the UE knows, what the BS rebuilds ---------------------------------------------------
class Estimate:
    """The UE's LS estimate of one batch at one pilot SNR, in the forms the methods read.

    Built from the true channel and the LS error in the angular-delay domain: ``h_ad`` is
    ``ref.h_ad + error_ad``, the space-frequency estimate ``h`` is formed only when a method
    reads it (space-frequency compressors), with the error of the other ``Nc - Na`` delay rows
    from ``error_tail``. :meth:`draw` draws the error (:func:`linksim.phy.estimation.awgn`); given
    the angular-delay form of ``estimate_channel(h) - h`` it is that estimate exactly.

    Parameters
    ----------
    ref : metrics.ChannelReference
        The true channels of the batch.
    error_ad : [b, Na, Nt] complex64
        LS error on the kept angular-delay rows.
    error_tail : callable
        ``() -> [b, Nc - Na, Nt]`` complex64, the LS error on the other delay rows.

    Attributes
    ----------
    h : [b, Nc, Nt] complex64
        LS estimate, space-frequency (built on first use).
    h_ad : [b, Na, Nt] complex64
        Its truncated angular-delay form.
    x : [b, Na, Nt, 2] float32
        Real/imag split of ``h_ad`` (the codecs' input).
    """

    def __init__(self, ref: metrics.ChannelReference, error_ad: np.ndarray, error_tail):
        self._ref, self._error_ad, self._error_tail = ref, error_ad, error_tail
        self.h_ad = ref.h_ad + error_ad
        self.x = transforms.complex_to_real(self.h_ad)
        self._h: np.ndarray | None = None
        self._codewords: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def draw(cls, ref: metrics.ChannelReference, snr_db: float, rng: np.random.Generator,
             rng_tail: np.random.Generator, reference: str = "per_sample") -> Estimate:
        """The LS estimate at pilot SNR ``snr_db`` (noise reference ``reference``): the error of
        the kept rows from ``rng``, that of the other rows from ``rng_tail`` (drawn only when
        :attr:`h` is read), so that an angular-delay method's numbers do not depend on whether
        a space-frequency one runs."""
        b, nc, nt = ref.h.shape
        sigma2 = estimation.noise_variance_of_power(ref.energy / (nc * nt), snr_db, reference)
        return cls(ref, estimation.awgn(rng, ref.h_ad.shape, sigma2),
                   lambda: estimation.awgn(rng_tail, (b, nc - ref.num_rows, nt), sigma2))

    @property
    def h(self) -> np.ndarray:
        if self._h is None:
            err = np.concatenate([self._error_ad, self._error_tail()], axis=1)
            self._h = self._ref.h + transforms.to_space_frequency(err)
        return self._h

    def codeword(self, codec) -> tuple[np.ndarray, np.ndarray]:
        """``(z [b, M], gain [b])``: the UE side of ``codec`` on this estimate, computed once
        per codec however many feedback links carry it."""
        key = id(codec)
        if key not in self._codewords:
            x_n, gain = codec.ue_prepare(self.x)
            self._codewords[key] = (codec.encode(x_n), gain)
        return self._codewords[key]


@dataclass
class Reconstruction:
    """What the BS rebuilds from a report: ``h_ad [b, Na, Nt]`` (truncated angular-delay) or
    ``h [b, Nc, Nt]`` (space-frequency) complex64, and the bits each report took ``[b]``."""

    h_ad: np.ndarray | None
    bits: np.ndarray
    h: np.ndarray | None = None


# -- the methods --------------------------------------------------------------------------------
class Method:
    """One thing the sweep evaluates. Subclasses set :attr:`labels` (the results row's fields
    besides the metrics, test set and SNR) and implement :meth:`reconstruct`."""

    labels: dict

    def reconstruct(self, est: Estimate, rng: np.random.Generator | None) -> Reconstruction:
        raise NotImplementedError

    def rng(self, seed: int, test_set: str, snr: float) -> np.random.Generator | None:
        """This method's own random stream on ``test_set`` at pilot SNR ``snr``, or ``None``."""
        return None

    def identity(self) -> str:
        """What tells this method apart from the others of a run (its row labels): the name of
        its own random streams, so that its numbers do not depend on the methods evaluated
        before it, nor on which of them a sweep unit holds."""
        return json.dumps(self.labels, sort_keys=True, default=str)

    def row(self, test_set: str, sent_bits: float) -> dict:
        """The labels of this method's results row on ``test_set``."""
        return {**self.labels, "measured_bits": sent_bits}


class LsUncompressed(Method):
    """The truncated LS estimate fed back in float32: what feedback without compression gives."""

    def __init__(self, num_rows: int, num_antennas: int):
        self.bits = FLOAT_BITS * 2 * num_rows * num_antennas
        self.labels = {"kind": "baseline", "codec": "ls_uncompressed", "feedback": "ideal",
                       "codeword_length": 2 * num_rows * num_antennas,
                       "payload_bits": self.bits}

    def reconstruct(self, est, rng):
        return Reconstruction(est.h_ad, np.full(len(est.h_ad), float(self.bits)))

    def row(self, test_set, sent_bits):
        return {**self.labels, "measured_bits": self.bits}


class CodecOverLink(Method):
    """A trained codec (UE encoder, BS decoder) over one feedback link."""

    def __init__(self, tc, link, range_floors: dict[str, float]):
        self.tc, self.link, self.range_floors = tc, link, range_floors
        c = tc.codec
        m = c.codeword_length
        self.side = c.side_info_bits()
        self.labels = {"kind": "codec", "codec": c.name, "compression_ratio": c.compression_ratio,
                       "feedback": link.name, "feedback_snr_db": link.feedback_snr_db,
                       "train_feedback": tc.train_feedback, "train_set": tc.train_set,
                       "codeword_length": m, "payload_bits": link.payload_bits(m) + self.side}

    def rng(self, seed, test_set, snr):
        """Feedback noise: one stream per codec and link, so that a codec's numbers do not
        depend on which other codecs or links the scenario lists."""
        return rng_for(seed, "feedback", test_set, snr, self.tc.model_dir.name, self.link.name,
                       self.link.feedback_snr_db)

    def identity(self):
        return f"{self.tc.model_dir.name}|{self.link.name}|{self.link.feedback_snr_db}"

    def reconstruct(self, est, rng):
        codec = self.tc.codec
        z, gain = est.codeword(codec)
        z_rx, bits = self.link.transmit(z, rng)
        x_hat = codec.bs_restore(codec.decode(z_rx), gain)
        return Reconstruction(transforms.real_to_complex(x_hat), bits)

    def row(self, test_set, sent_bits):
        return {**self.labels, "measured_bits": sent_bits + self.side,
                "range_floor_db": self.range_floors[test_set]}


class Classical(Method):
    """A classical compressor (PCA, top-K, DFT codebook, compressive sensing) at one payload."""

    def __init__(self, bl):
        self.bl = bl
        self.labels = {"kind": "classical", "codec": bl.name, "feedback": "digital",
                       "train_set": bl.train_set, "payload_bits": bl.payload_bits}

    def reconstruct(self, est, rng):
        if self.bl.domain == "space_frequency":
            h_hat, bits = self.bl.compress(est.h)
            return Reconstruction(None, bits, h=h_hat)
        h_ad_hat, bits = self.bl.compress(est.h_ad)
        return Reconstruction(h_ad_hat, bits)


def methods_of(trained: list, baselines: list, num_rows: int, num_antennas: int,
               range_floors: dict[str, dict[str, float]]) -> list[Method]:
    """The SNR-dependent methods of a run in results order: LS, each codec over each of its
    links, each classical compressor."""
    out: list[Method] = [LsUncompressed(num_rows, num_antennas)]
    out += [CodecOverLink(tc, link, range_floors.setdefault(tc.model_dir.name, {}))
            for tc in trained for link in tc.links]
    out += [Classical(bl) for bl in baselines]
    return out


def method_count(trained: list, baselines: list) -> int:
    """How many methods :func:`methods_of` lists: LS, each codec link, each compressor."""
    return 1 + sum(len(tc.links) for tc in trained) + len(baselines)


# -- the loop -------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """Rows, per-sample distributions (keyed by row index) and what the sweep learnt about the
    test sets and codecs on the way."""

    rows: pd.DataFrame
    per_sample: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    energy: dict[str, dict] = field(default_factory=dict)
    range_floors: dict[str, dict[str, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Each row's place in the whole sweep: ``(test set index, SNR index, position)`` with the
    #: indices into the scenario's lists and position -2 / -1 for ``perfect`` / ``no_feedback``,
    #: else the method's index (:func:`methods_of`); how the units' rows are put in order.
    order: list[tuple[int, int, int]] = field(default_factory=list)


def run_sweep(sc, datasets: dict, trained: list, baselines: list, progress: bool = False,
              warn=None, test_sets: list[str] | None = None,
              snr_points: list[float] | None = None,
              methods: tuple[int, int] | None = None) -> SweepResult:
    """Evaluate ``perfect``, ``no_feedback``, LS, every codec over every link and every
    classical compressor on each of ``sc.evaluation.test_sets`` at each pilot SNR.

    Parameters
    ----------
    sc : Scenario
        Seed, estimation, preprocessing and evaluation settings.
    datasets : dict
        ``{(name, "test"): CirDataset}`` (channels read in batches of
        ``sc.evaluation.batch_size``).
    trained : list of TrainedCodec
        Codecs with their fitted feedback links.
    baselines : list of Baseline
        Fitted classical compressors.
    test_sets : list of str, optional
        Evaluate only these of ``sc.evaluation.test_sets`` (one sweep unit of
        :mod:`linksim.units`). Each test set's draws come from its own streams, so the rows of
        a subset equal those of the whole sweep.
    snr_points : list of float, optional
        Evaluate only these of ``sc.estimation.pilot_snr_db`` (a sweep chunk). Each SNR point's
        draws come from streams of its own and ``perfect`` / ``no_feedback`` do not depend on
        the SNR, so the rows of a chunk equal those of the whole sweep at its points.
    methods : (int, int), optional
        Evaluate only the methods ``lo:hi`` of :func:`methods_of`'s list (a sweep chunk);
        ``perfect`` and ``no_feedback`` come with the chunk that starts at 0. Each method draws
        from streams named by its :meth:`Method.identity`, so its rows do not depend on the
        chunk that holds it.
    """
    t0 = time.perf_counter()
    ev, na = sc.evaluation, sc.preprocessing.num_delay_rows
    snrs = sc.estimation.pilot_snr_db if snr_points is None else list(snr_points)
    if not set(snrs) <= set(sc.estimation.pilot_snr_db):
        raise ValueError(f"snr_points {snrs} not all in estimation.pilot_snr_db")
    res = SweepResult(pd.DataFrame())
    rows: list[dict] = []
    test_sets = ev.test_sets if test_sets is None else test_sets
    total = sum(-(-len(datasets[(t, "test")]) // ev.batch_size) for t in test_sets)
    bar = tqdm(total=total, desc="sweep", unit="batch", disable=not progress, leave=False)

    def add_row(per: dict[str, np.ndarray], order: tuple[int, int, int], **row) -> None:
        res.per_sample[len(rows)] = {m: per[m].astype(np.float32)
                                     for m in PER_SAMPLE_METRICS if m in per}
        rows.append({**row, **metrics.summarise(per)})
        res.order.append(order)

    for test_set in test_sets:
        ds = datasets[(test_set, "test")]
        every = methods_of(trained, baselines, na, ds.num_antennas, res.range_floors)
        lo, hi = (0, len(every)) if methods is None else methods
        chosen = list(enumerate(every))[lo:hi]
        with_fixed = lo == 0
        rng_fixed = rng_for(sc.seed, "random-beam", test_set)
        rng_noise = {s: rng_for(sc.seed, "pilots", test_set, s) for s in snrs}
        rng_tail = {s: rng_for(sc.seed, "pilots-tail", test_set, s) for s in snrs}
        rng_beam = {(s, i): rng_for(sc.seed, "beams", test_set, s, m.identity())
                    for s in snrs for i, m in chosen}
        rng_own = {(s, i): m.rng(sc.seed, test_set, s) for s in snrs for i, m in chosen}
        fixed: dict[str, dict[str, list]] = {"perfect": {}, "no_feedback": {}} if with_fixed else {}
        acc: dict[tuple, dict[str, list]] = {(s, i): {} for s in snrs for i, _ in chosen}
        sent: dict[tuple, list] = {key: [] for key in acc}
        kept, floors = [], {tc.model_dir.name: [] for tc in trained}
        for h in ds.batches(ev.batch_size):
            ref = metrics.ChannelReference(h, na, ev.subband_size, ev.downlink_snr_db)
            kept.append(ref.energy_ad / ref.energy)
            x_true = transforms.complex_to_real(ref.h_ad)
            for tc in trained:
                floors[tc.model_dir.name].append(tc.codec.range_floor_per_sample(x_true))
            if with_fixed:
                for name, kw in (("perfect", {"h_hat": ref.h}),
                                 ("no_feedback", {"h_ad_hat": np.zeros_like(ref.h_ad)})):
                    _append(fixed[name], metrics.link_metrics(ref, rng=rng_fixed, **kw))
            for s in snrs:
                est = Estimate.draw(ref, s, rng_noise[s], rng_tail[s],
                                    sc.estimation.noise_reference)
                for i, m in chosen:
                    r = m.reconstruct(est, rng_own[s, i])
                    sent[s, i].append(r.bits)
                    _append(acc[s, i], metrics.link_metrics(ref, h_ad_hat=r.h_ad, h_hat=r.h,
                                                            rng=rng_beam[s, i]))
            bar.update(1)
        kept = np.concatenate(kept)
        res.energy[test_set] = {"mean": float(kept.mean()), "median": float(np.median(kept)),
                                "min": float(kept.min())}
        for tc in trained:
            _record_range_floor(res, tc, test_set, np.concatenate(floors[tc.model_dir.name]),
                                warn)
        fixed_per = {k: _concat(d) for k, d in fixed.items()}
        t_idx = ev.test_sets.index(test_set)
        for s in snrs:
            point = {"test_set": test_set, "pilot_snr_db": s}
            s_idx = sc.estimation.pilot_snr_db.index(s)
            for pos, (name, per) in enumerate(fixed_per.items(), start=-2):
                add_row(per, (t_idx, s_idx, pos), **point, kind="baseline", codec=name,
                        feedback="genie" if name == "perfect" else "none",
                        payload_bits=0 if name == "no_feedback" else np.nan)
            for i, m in chosen:
                bits = float(np.concatenate(sent[s, i]).mean())
                add_row(_concat(acc[s, i]), (t_idx, s_idx, i), **point, **m.row(test_set, bits))
    bar.close()
    res.rows = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    res.seconds = time.perf_counter() - t0
    return res


def _append(acc: dict[str, list], per: dict[str, np.ndarray]) -> None:
    for k, v in per.items():
        acc.setdefault(k, []).append(v)


def _concat(acc: dict[str, list]) -> dict[str, np.ndarray]:
    return {k: np.concatenate(v) for k, v in acc.items()}


def _record_range_floor(res: SweepResult, tc, test_set: str, per_sample: np.ndarray,
                        warn=None) -> None:
    """Keep a codec's range floor on a test set (mean of the per-sample NMSE, in dB) and warn
    when it is above :data:`RANGE_FLOOR_WARN_DB`."""
    db = float(metrics.to_db(float(per_sample.mean())))
    res.range_floors.setdefault(tc.model_dir.name, {})[test_set] = db
    if db > RANGE_FLOOR_WARN_DB:
        c = tc.codec
        msg = (f"codec {c.name} CR{c.compression_ratio} (trained on {tc.train_set}) on test "
               f"set {test_set}: range floor {db:.1f} dB. Its {c.output_head} output head "
               f"with normaliser scale {c.normalizer.scale:.3g} ({c.normalizer.mode}) cannot "
               "output this channel: its NMSE measures the pipeline, not the codec (use "
               "preprocessing.output_head: linear, or sample_normalization: peak with the "
               "sigmoid head)")
        res.warnings.append(msg)
        if warn is not None:
            warn(msg)


def write_per_sample(per_sample: dict[int, dict[str, np.ndarray]], path) -> None:
    """Per-sample metrics of every results row: ``/rows/<row index>/<metric>`` ``[n]`` float32."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["description"] = ("per-sample metrics; group rows/<i> belongs to row i of "
                                  "results.csv (0-based)")
        for i, per in per_sample.items():
            g = f.create_group(f"rows/{i}")
            for name, values in per.items():
                g.create_dataset(name, data=values, compression="gzip")


def read_per_sample(path, row: int) -> dict[str, np.ndarray]:
    """The per-sample metrics of results row ``row`` from ``per_sample.h5``."""
    import h5py

    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f[f"rows/{row}"].items()}

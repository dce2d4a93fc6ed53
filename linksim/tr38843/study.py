"""The TR 38.843-style study on arrays: eigenvector CSI of named channel sets, the Rel-16
eType II baseline per payload bin, AI codecs per (bin, loss, training type) trained for a
generalization case, and one results table.

``run_study(channels_by_name, cfg, seed)`` returns a pandas DataFrame with one row per
(method, bin, case, train set, test set):

* ``method``: ``eType II pc<k>``, ``<codec> <training type>`` or ``ideal eigenvectors``;
  ``kind``: ``etype2``, ``ai`` or ``ideal``; ``codec``, ``loss``, ``training_type`` (AI rows);
* ``bin``, ``payload_bits`` (eType II: the specification's payload at the maximum ``K_NZ``; AI:
  ``M B``), ``payload_bits_mean`` (eType II: mean over samples with each report's ``K_NZ``),
  ``budget_bits`` (the bin's reference eType II payload), ``codeword_length``,
  ``quantizer_bits``, ``quantizer`` (``scalar`` or ``vector``) and ``vq_dim`` (vector rows);
* ``case``, ``train_set`` (``A+B`` for a mix; empty for eType II and ideal), ``test_set``;
* ``sgcs_l<l>``, ``sgcs_l<l>_p<q>``, ``sgcs_mean``, ``eigen_nmse_db``
  (:func:`linksim.tr38843.metrics.sgcs_summary`);
* ``rate`` (bit/s/Hz, :func:`linksim.tr38843.metrics.precoded_rate` at ``cfg.snr_db``),
  ``gain_pct`` (``100 (rate / rate_ref - 1)`` against the bin's reference eType II on the same
  test set), ``sgcs_loss_vs_joint`` (separate-training rows: joint's ``sgcs_mean`` minus this);
* ``ue_params``, ``bs_params``, ``ue_flops``, ``bs_flops`` (MACs per sample,
  :func:`linksim.complexity.count_macs`), ``train_loss`` (last epoch of the deployed side).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from linksim.complexity import count_macs
from linksim.errors import LinksimInputError
from linksim.etype2 import compress, payload_bits
from linksim.phy.eigen import subband_eigenvectors
from linksim.seeding import derive_seed, rng_for
from linksim.tr38843 import store
from linksim.tr38843.codecs import build_eigen_codec, to_complex, to_real
from linksim.tr38843.config import StudyConfig, check_data, generalization_runs
from linksim.tr38843.metrics import normalise_channels, precoded_rate, sgcs_summary
from linksim.tr38843.payload import codeword_length
from linksim.tr38843.training import FitSettings, train_codec_pair


def _check_channels(name: str, h: np.ndarray, part: str) -> np.ndarray:
    h = np.asarray(h)
    if h.ndim != 4 or not np.iscomplexobj(h) or h.shape[0] == 0:
        raise LinksimInputError(f"channels[{name!r}] {part}: need complex H [N, Nc, Nr, Nt], "
                                f"got {h.dtype} {h.shape}")
    return h


def _prepare(channels_by_name: dict, cfg: StudyConfig, reuse: dict) -> dict:
    """Per used set: normalised test channels and the eigenvectors of train and test (a set
    prepared by an earlier case of the study is taken from ``reuse``)."""
    g = cfg.generalization
    names = list(dict.fromkeys(g.train + (g.test or [])))
    missing = [n for n in names if n not in channels_by_name]
    if missing:
        raise LinksimInputError(f"generalization: set(s) {missing} not in the channels given "
                                f"({', '.join(channels_by_name) or 'none'})")
    out = {}
    for name in names:
        if ("set", name) in reuse:
            out[name] = reuse["set", name]
            continue
        pair = channels_by_name[name]
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise LinksimInputError(f"channels[{name!r}]: give (H_train, H_test)")
        h_tr, h_te = (_check_channels(name, h, part) for h, part in zip(pair, ("train", "test")))
        nr, nt = h_te.shape[2:]
        if h_tr.shape[1:] != h_te.shape[1:]:
            raise LinksimInputError(f"channels[{name!r}]: train {h_tr.shape} and test "
                                    f"{h_te.shape} differ in [Nc, Nr, Nt]")
        n3 = -(-h_te.shape[1] // cfg.subband_size)
        members = check_data(cfg, nr, nt, n3, name)
        h_te = normalise_channels(h_te)
        out[name] = {"v_train": subband_eigenvectors(h_tr, cfg.subband_size, cfg.rank)[0],
                     "v_test": subband_eigenvectors(h_te, cfg.subband_size, cfg.rank)[0],
                     "h_test": h_te, "n3": n3, "members": members}
        reuse["set", name] = out[name]
    shapes = {k: d["h_test"].shape[1:] for k, d in out.items()}
    if len(set(shapes.values())) > 1:
        raise LinksimInputError(f"channels: sets differ in [Nc, Nr, Nt]: {shapes}")
    return out


def _training_set(data: dict, train: tuple[str, ...], seed: int) -> np.ndarray:
    """Real training eigenvectors of one set, or a balanced seeded mix (each set cut to the
    smallest set's size) of several."""
    if len(train) == 1:
        return to_real(data[train[0]]["v_train"])
    n = min(len(data[s]["v_train"]) for s in train)
    parts = [to_real(data[s]["v_train"][rng_for(seed, "tr38843-mix", s).permutation(
        len(data[s]["v_train"]))[:n]]) for s in train]
    x = np.concatenate(parts)
    return x[rng_for(seed, "tr38843-mix", *train).permutation(len(x))]


def _etype2_rows(cfg: StudyConfig, name: str, d: dict, snr: float) -> tuple[list, dict]:
    """eType II rows of one test set and the reference rate per bin."""
    rows, ref_rate = [], {}
    cache = {}
    for bin_name, pcs in d["members"].items():
        for pc in pcs:
            if pc not in cache:
                v_hat, report = compress(d["v_test"], cfg.n1, cfg.n2, cfg.o1, cfg.o2, pc)
                cache[pc] = {"payload_bits": payload_bits(cfg.n1, cfg.n2, cfg.o1, cfg.o2,
                                                          d["n3"], pc, cfg.rank)["total"],
                             "payload_bits_mean": float(report.payload_bits().mean()),
                             **sgcs_summary(d["v_test"], v_hat),
                             "rate": float(precoded_rate(d["h_test"], v_hat, cfg.subband_size,
                                                         snr).mean())}
            row = {"method": f"eType II pc{pc}", "kind": "etype2", "param_combination": pc,
                   "bin": bin_name, "test_set": name, "train_set": "", **cache[pc]}
            rows.append(row)
        ref_rate[bin_name] = cache[pcs[0]]["rate"]
    return rows, ref_rate


def run_study(channels_by_name: dict[str, tuple[np.ndarray, np.ndarray]], cfg: StudyConfig,
              seed: int | None = None, reuse: dict | None = None, echo=None,
              model_dir: Path | None = None, retrain: bool = False) -> pd.DataFrame:
    """Run the study (module docstring).

    Parameters
    ----------
    channels_by_name : dict
        Set name -> ``(H_train, H_test)``, each ``[N, Nc, Nr, Nt]`` complex64 in linksim's
        convention (``H_k = conj(h[:, k])``), BS ports polarisation 0 first, ``p = n1 N2 + n2``.
        ``Nc`` counts channel samples, ``cfg.subcarriers_per_prb`` of them per PRB.
    cfg : StudyConfig
    seed : int or None
        Root of every random stream (initial weights, batches, mixes); ``None``: ``cfg.seed``.
    reuse : dict or None
        What the cases of one study share, filled as they run: each set's eigenvectors, each
        test set's eType II rows, and the deployed codec pairs by ``(codec, bin, loss, training
        type, train sets)`` (same seed, same data: the same weights; e.g. Case 2 reuses Case 1's
        model of its training set). Share it only between calls whose configurations differ in
        ``generalization`` alone (a list of cases shares one).
    echo : callable or None
        Called with one line per case when ``cfg.generalization`` is a list, and one per
        codec pair read from ``model_dir``.
    model_dir : Path or None
        The model cache (:mod:`linksim.tr38843.store`): a trained pair is saved there and read
        back by a later call with the same settings and training data; ``None``: no cache.
    retrain : bool
        Train every pair even if ``model_dir`` holds it (and save it again).

    Returns
    -------
    pandas.DataFrame (columns in the module docstring).

    Raises
    ------
    LinksimInputError
        Bad configuration against the data (naming the field) or malformed channels.
    """
    reuse = {} if reuse is None else reuse
    if isinstance(cfg.generalization, list):  # several cases: one study each, rows stacked
        parts = []
        for i, g in enumerate(cfg.generalization):
            if echo is not None:
                echo(f"tr38843: case {g.case} ({i + 1}/{len(cfg.generalization)}), train "
                     f"{'+'.join(g.train)}")
            parts.append(run_study(channels_by_name,
                                   cfg.model_copy(update={"generalization": g}), seed, reuse,
                                   echo, model_dir, retrain))
        return pd.concat(parts, ignore_index=True)
    seed = cfg.seed if seed is None else int(seed)
    data = _prepare(channels_by_name, cfg, reuse)
    snr = 10.0 ** (cfg.snr_db / 10.0)
    runs = generalization_runs(cfg.generalization)
    case = f"case{cfg.generalization.case}"
    rows, ref = [], {}
    for name in dict.fromkeys(r.test for r in runs):
        d = data[name]
        if ("etype2", name) not in reuse:
            reuse["etype2", name] = _etype2_rows(cfg, name, d, snr)
        et_rows, ref[name] = reuse["etype2", name]
        ideal = {"method": "ideal eigenvectors", "kind": "ideal", "bin": "", "test_set": name,
                 "train_set": "", **sgcs_summary(d["v_test"], d["v_test"]),
                 "rate": float(precoded_rate(d["h_test"], d["v_test"], cfg.subband_size,
                                             snr).mean())}
        rows += [{**r, "case": case} for r in et_rows + [ideal]]
    first = data[runs[0].test]
    s, nt = first["v_test"].shape[1:3]
    members = first["members"]
    budgets = {b: payload_bits(cfg.n1, cfg.n2, cfg.o1, cfg.o2, first["n3"], pcs[0],
                               cfg.rank)["total"] for b, pcs in members.items()}
    for train in dict.fromkeys(r.train for r in runs):
        x = _training_set(data, train, seed)
        tests = [r for r in runs if r.train == train]
        for codec in cfg.codecs:
            for bin_name, budget in budgets.items():
                m = codeword_length(budget, cfg.quantizer_bits, vq_dim=cfg.sub_vector)
                for loss in cfg.losses:
                    for ttype in cfg.generalization.training_types or cfg.training_types:
                        key = (codec, bin_name, loss, ttype, train)
                        if key not in reuse:
                            settings = FitSettings(
                                cfg.epochs, cfg.batch_size, cfg.learning_rate,
                                derive_seed(seed, "tr38843", codec, bin_name, loss, ttype,
                                            *train), cfg.quantizer_bits,
                                vq_dim=cfg.vq_dim if cfg.quantizer == "vector" else None)
                            reuse[key] = _trained_pair(
                                lambda sd, c=codec, m=m: build_eigen_codec(c, s, nt, cfg.rank, m,
                                                                           sd),
                                x, key, m, settings, model_dir, retrain, echo)
                        dep = reuse[key]
                        info = {"method": f"{codec} {ttype}", "kind": "ai", "codec": codec,
                                "loss": loss, "training_type": ttype, "bin": bin_name,
                                "payload_bits": m * cfg.quantizer_bits, "budget_bits": budget,
                                "codeword_length": m, "quantizer_bits": cfg.quantizer_bits,
                                "quantizer": cfg.quantizer,
                                "vq_dim": cfg.vq_dim if cfg.quantizer == "vector" else None,
                                "case": case, "train_set": "+".join(train),
                                "ue_params": int(dep.encoder.count_params()),
                                "bs_params": int(dep.decoder.count_params()),
                                "ue_flops": count_macs(dep.encoder),
                                "bs_flops": count_macs(dep.decoder),
                                "train_loss": list(dep.history.values())[-1][-1]}
                        for r in tests:
                            d = data[r.test]
                            v_hat = to_complex(dep.reconstruct(to_real(d["v_test"]),
                                                               cfg.quantizer_bits))
                            rate = float(precoded_rate(d["h_test"], v_hat, cfg.subband_size,
                                                       snr).mean())
                            rows.append({**info, "test_set": r.test,
                                         **sgcs_summary(d["v_test"], v_hat), "rate": rate,
                                         "gain_pct": 100.0 * (rate / ref[r.test][bin_name] - 1)})
    df = pd.DataFrame(rows)
    for col in _INT_COLUMNS:  # integers with gaps (eType II rows have no params) stay integers
        if col in df:
            df[col] = df[col].astype("Int64")
    return _with_joint_loss(df)


def _trained_pair(make_codec, x: np.ndarray, key: tuple, codeword_len: int,
                  settings: FitSettings, model_dir: Path | None, retrain: bool, echo):
    """The deployed pair of ``key = (codec, bin, loss, training type, train sets)``: read from
    the model cache ``model_dir`` when there, else trained (and saved there)."""
    codec, bin_name, loss, ttype, train = key
    if model_dir is None:
        return train_codec_pair(make_codec, x, ttype, loss, settings)
    path = store.pair_path(model_dir, codec, bin_name, loss, ttype, train, store.pair_key(
        codec, x.shape[1:], codeword_len, loss, ttype, settings, x))
    dep = None if retrain else store.load_pair(path, make_codec)
    if dep is not None:
        if echo is not None:
            echo(f"tr38843: {codec} {bin_name} {loss} {ttype} ({'+'.join(train)}): loaded "
                 f"from {path}")
        return dep
    dep = train_codec_pair(make_codec, x, ttype, loss, settings)
    store.save_pair(path, dep)
    return dep


_INT_COLUMNS = ("param_combination", "payload_bits", "budget_bits", "codeword_length",
                "quantizer_bits", "vq_dim", "ue_params", "bs_params", "ue_flops", "bs_flops")


def _with_joint_loss(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``sgcs_loss_vs_joint``: joint's ``sgcs_mean`` minus the row's, for the AI rows whose
    (codec, loss, bin, train set, test set) also has a joint row."""
    df["sgcs_loss_vs_joint"] = np.nan
    ai = df["kind"] == "ai"
    if not ai.any():
        return df
    key = ["codec", "loss", "bin", "train_set", "test_set"]
    joint = df[ai & (df["training_type"] == "joint")].set_index(key)["sgcs_mean"]
    for i in df.index[ai]:
        k = tuple(df.loc[i, key])
        if k in joint.index:
            df.loc[i, "sgcs_loss_vs_joint"] = joint.loc[k] - df.loc[i, "sgcs_mean"]
    return df

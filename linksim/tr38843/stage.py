"""The TR 38.843-style study as a stage of ``linksim run`` (a scenario with a ``tr38843:``
section; ``scenarios/tr38843.yaml``, docs/tr38843.md).

Such a scenario names its channel sets under ``datasets`` (multi-antenna, dual-polarised UMa /
UMi, :mod:`linksim.channels.antenna_arrays`) and its study under ``tr38843`` (a
:class:`~linksim.tr38843.config.StudyConfig` whose ``generalization`` may list several cases).
The run loads the train and test splits of every set the cases use through the same store and
cache as every other run (``pipeline.Run.load_data``), runs :func:`~linksim.tr38843.study.run_study`
once per case with the scenario's seed, and writes ``results.csv`` (one row per method x bin x
case x train set x test set, columns in :mod:`linksim.tr38843.study`) and
``sgcs_vs_payload.png``. It replaces the full-channel stages (codec zoo, classical compressors,
SNR sweep), so ``codecs``, ``baselines`` and ``feedback`` stay empty.

Checks against the data sets, made when the scenario is validated (exit code 2 before any work,
naming the field): every set the cases name exists, is a ``uma`` family data set with a
dual-polarised ``bs_array`` whose ``(n1, n2)`` are the study's, has the splits the study reads,
and carries ``rank <= min(Nr, Nt)``; every payload bin holds a paramCombination at the data's
``N3``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from linksim.errors import LinksimInputError
from linksim.tr38843.config import Generalization, StudyConfig, check_data


def cases(study: StudyConfig) -> list[Generalization]:
    """The generalization cases of a study, in the order given (one or a list)."""
    g = study.generalization
    return list(g) if isinstance(g, list | tuple) else [g]


def used_sets(study: StudyConfig) -> list[str]:
    """Every data set a case trains or tests on, in first-use order."""
    names: list[str] = []
    for g in cases(study):
        names += list(g.train) + list(g.test or [])
    return list(dict.fromkeys(names))


def scenario_defaults(data):
    """Before validation: a scenario with a ``tr38843`` section gets ``training.train_sets``
    and ``evaluation.test_sets`` from its cases (the data stage loads them), so that a study
    scenario does not repeat its sets. Leaves anything malformed to the validators."""
    if not isinstance(data, dict) or not isinstance(data.get("tr38843"), dict):
        return data
    gens = data["tr38843"].get("generalization")
    gens = gens if isinstance(gens, list) else [gens]
    if not all(isinstance(g, dict) and isinstance(g.get("train"), list) for g in gens):
        return data
    train = list(dict.fromkeys(n for g in gens for n in g["train"]))
    sets = list(dict.fromkeys(train + [n for g in gens for n in (g.get("test") or [])]))
    out = dict(data)
    training = dict(out.get("training") or {})
    training.setdefault("train_sets", train)
    out["training"] = training
    evaluation = dict(out.get("evaluation") or {})
    evaluation.setdefault("test_sets", sets)
    out["evaluation"] = evaluation
    return out


def check_scenario(sc) -> None:
    """Check a study scenario against its data sets (module docstring).

    Raises
    ------
    ValueError
        Naming the field (pydantic reports it as a validation error, exit code 2).
    """
    study: StudyConfig = sc.tr38843
    for field in ("codecs", "baselines"):
        if getattr(sc, field):
            raise ValueError(f"{field}: a tr38843 study scenario evaluates its own codecs "
                             f"(tr38843.codecs) and eType II; remove {field}")
    if "seed" in study.model_fields_set:
        raise ValueError("tr38843.seed: the scenario's seed is the root of every random draw; "
                         "set seed at the top of the scenario")
    for i, g in enumerate(cases(study)):
        for part in ("train", "test"):
            for name in getattr(g, part) or []:
                if name not in sc.datasets:
                    raise ValueError(f"tr38843.generalization[{i}].{part}: unknown data set "
                                     f"{name!r}; defined: {', '.join(sc.datasets)}")
    for name in used_sets(study):
        d = sc.datasets[name]
        where = f"datasets.{name}"
        if d.family != "uma":
            raise ValueError(f"{where}.family: the TR 38.843 study reads multi-antenna UMa/UMi "
                             f"channels (family uma), not {d.family}")
        arr = d.bs_array
        if arr is None or arr.polarization != "dual":
            raise ValueError(f"{where}.bs_array: the study's eType II codebook needs a "
                             "dual-polarised panel, e.g. {n1: 8, n2: 2, polarization: dual}")
        if (arr.n1, arr.n2) != (study.n1, study.n2):
            raise ValueError(f"tr38843.n1, tr38843.n2: ({study.n1}, {study.n2}) but {where}."
                             f"bs_array has (n1, n2) = ({arr.n1}, {arr.n2}): the codebook's "
                             "port count must match the panel's")
        for split in ("train", "test"):
            if not d.has_split(split):
                raise ValueError(f"{where}.n_{split}: the study needs the {split} split of "
                                 f"every set it uses (>= 1)")
        n3 = -(-d.num_subcarriers // study.subband_size)
        try:
            check_data(study, d.num_ue_antennas, d.num_bs_antennas, n3, name)
        except LinksimInputError as exc:
            raise ValueError(f"tr38843.{exc}") from None


def needed_splits(study: StudyConfig) -> list[tuple[str, str]]:
    """``(data set, split)`` the study reads: train and test of every set it uses."""
    return [(n, s) for n in used_sets(study) for s in ("train", "test")]


def _mimo(h: np.ndarray) -> np.ndarray:
    """``[N, Nc, Nt]`` (one UE antenna) -> ``[N, Nc, 1, Nt]``; ``[N, Nc, Nr, Nt]`` unchanged."""
    return h[:, :, None, :] if h.ndim == 3 else h


def run_stage(run, out_dir: Path) -> pd.DataFrame:
    """Run the study of ``run.sc.tr38843`` on the loaded splits (``run.datasets``); write
    ``results.csv`` and ``sgcs_vs_payload.png`` into ``out_dir``; return the rows."""
    from linksim.plots import plot_sgcs_vs_payload
    from linksim.tr38843.study import run_study

    sc, study = run.sc, run.sc.tr38843
    t0 = time.perf_counter()
    channels = {n: tuple(_mimo(run.datasets[(n, s)].channels()) for s in ("train", "test"))
                for n in used_sets(study)}
    df = run_study(channels, study.model_copy(update={"generalization": cases(study)}),
                   seed=sc.seed, echo=run.echo, model_dir=run.cache_dir / "models",
                   retrain=run.retrain)
    run.timings["training_s"] = time.perf_counter() - t0  # the study: training and evaluation
    df.to_csv(out_dir / "results.csv", index=False)
    plot_sgcs_vs_payload(df, out_dir / "sgcs_vs_payload.png")
    return df


def _fmt(x) -> str:
    return "" if pd.isna(x) else f"{x:.3f}"


def summary_text(df: pd.DataFrame) -> str:
    """The study's printed summary: SGCS per layer against payload (Case 1 or the first case),
    the generalization cases, and separate against joint training."""
    layers = sorted(int(c[6:]) for c in df.columns if c.startswith("sgcs_l") and c[6:].isdigit())
    cols = [f"sgcs_l{l}" for l in layers]
    out = []
    first = df["case"].iloc[0]
    d = df[df["case"] == first]
    et = d[d["kind"] == "etype2"].groupby(["param_combination", "bin"], as_index=False).agg(
        {"payload_bits": "first", **{c: "mean" for c in cols}, "rate": "mean"})
    ai = d[d["kind"] == "ai"].groupby(["codec", "training_type", "loss", "bin"], as_index=False
                                      ).agg({"payload_bits": "first", **{c: "mean" for c in cols},
                                             "gain_pct": "mean"})
    out.append(f"SGCS per layer against payload ({first}, mean over test sets):")
    out.append(et.to_string(index=False, float_format=_fmt))
    out.append(ai.to_string(index=False, float_format=_fmt))
    g = df[(df["kind"] == "ai") & (df["training_type"] == "joint")]
    if df["case"].nunique() > 1 and not g.empty:
        tab = g.pivot_table(index=["case", "train_set", "test_set"], columns=["codec", "bin"],
                            values="sgcs_mean", aggfunc="mean")
        out.append("\nGeneralization (joint training, SGCS mean over layers):")
        out.append(tab.to_string(float_format=_fmt))
    sep = df[(df["kind"] == "ai") & (df["training_type"] != "joint")]
    if not sep.empty:
        tab = sep.groupby(["codec", "training_type", "bin"], as_index=False)[
            ["sgcs_mean", "sgcs_loss_vs_joint"]].mean()
        out.append("\nSeparate against joint training (SGCS loss = joint - separate):")
        out.append(tab.to_string(index=False, float_format=_fmt))
    return "\n".join(out)

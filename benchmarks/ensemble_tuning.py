"""Choose the neural-network ensemble's settings by grouped cross-validation, next to GP and RF.

Each configuration of :class:`surrogates.EnsembleSurrogate` is cross-validated
(:func:`surrogates.evaluation.cross_validate`, 5 folds, grouped where the table has groups) on
the tables we have, and the GP and the random forest are scored the same way for reference:

* ``hc-literature`` -- a literature-style hard-carbon table (:mod:`surrogates.datasets`, SIMULATED:
  40 papers, gappy La/Lc/Raman, paper offsets): precursor, temperature and the five descriptors
  -> ICE and reversible capacity, grouped by paper.
* ``vlab-descriptors`` -- the virtual hard-carbon lab (:mod:`planner.simulation.hard_carbon`,
  SIMULATED: plate drift, noise, failed wells left out): precursor and the five descriptors ->
  ICE and reversible capacity, grouped by plate (what the published descriptor models learn).
* ``vlab-recipe`` -- the same plates, recipe (precursor, temperature, heating rate, dwell,
  doping) -> ICE and reversible capacity (what a recipe campaign fits), grouped by plate.
* ``CALiSol-23`` -- electrolyte conductivity (a random sample of ``--calisol-rows`` rows; the
  cleaning of ``benchmarks/surrogate_cv.py``), grouped by paper.
* the PV-Lab sets ``AgNP``, ``AutoAM``, ``P3HT``, ``Perovskite``, ``Crossed_barrel`` (random
  5-fold, duplicates averaged).

Configurations are named in :data:`CONFIGS`; ``before`` is the ensemble as it was before
issue 17 (squared error, minibatches of 64). Run by hand (not part of the tests)::

    .venv/bin/python benchmarks/ensemble_tuning.py                      # everything
    .venv/bin/python benchmarks/ensemble_tuning.py --only hc-literature --configs before default

Writes ``benchmarks/results/ensemble_tuning.md`` (and ``.jsonl``, one line per run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from surrogate_cv import calisol, pvlab  # noqa: E402
from two_stage import virtual_lab_table  # noqa: E402

from surrogates import cross_validate  # noqa: E402
from surrogates.datasets import (  # noqa: E402
    HARD_CARBON_INPUTS,
    HARD_CARBON_TARGETS,
    make_hard_carbon_table,
)

#: Ensemble settings tried; each is ``EnsembleSurrogate(**options)``. ``default`` is the class's
#: own defaults (whatever they are now).
CONFIGS: dict[str, dict[str, Any]] = {
    "before": {"loss": "mse", "batch_size": 64, "resample": "bootstrap", "learning_rate": 3e-3},
    "bootstrap": {"resample": "bootstrap"},
    "default": {},
    "nll-b0.5": {"loss": "nll", "beta": 0.5},
    "nll-b1": {"loss": "nll", "beta": 1.0},
    "h32": {"hidden": (32, 32)},
    "h128": {"hidden": (128, 128)},
    "h64x3": {"hidden": (64, 64, 64)},
    "wd1e-2": {"weight_decay": 1e-2},
    "wd1e-1": {"weight_decay": 1e-1},
    "lr1e-2": {"learning_rate": 1e-2},
    "lr1e-3": {"learning_rate": 1e-3},
    "m16": {"n_members": 16},
    "m5": {"n_members": 5},
    "steps500": {"max_steps": 500},
    "steps3000": {"max_steps": 3000},
}
REFERENCES = ("gp", "rf")
PVLAB = ("AgNP", "AutoAM", "P3HT", "Perovskite", "Crossed_barrel")


def datasets(calisol_rows: int, seed: int) -> dict[str, dict[str, Any]]:
    """``name -> {data, inputs, targets, categorical, group}`` (loaded lazily by the caller)."""
    hc = make_hard_carbon_table(40, 6, seed=1)
    out: dict[str, dict[str, Any]] = {
        "hc-literature": {"data": hc, "inputs": list(HARD_CARBON_INPUTS),
                          "targets": list(HARD_CARBON_TARGETS), "categorical": ["precursor"],
                          "group": "paper"},
    }
    lab = virtual_lab_table(n_plates=8, wells=24, seed=seed)
    out["vlab-descriptors"] = {
        "data": lab, "inputs": ["precursor", "d002_nm", "lc_nm", "la_nm", "bet_ssa_m2_per_g",
                                "raman_id_ig"],
        "targets": ["ice_pct", "reversible_capacity_mah_per_g"], "categorical": ["precursor"],
        "group": "plate"}
    out["vlab-recipe"] = {
        "data": lab, "inputs": ["precursor", "carbonization_temperature_c",
                                "heating_rate_c_per_min", "dwell_h", "n_doping_at_pct",
                                "s_doping_at_pct"],
        "targets": ["ice_pct", "reversible_capacity_mah_per_g"], "categorical": ["precursor"],
        "group": "plate"}
    df, inputs, _ = calisol(calisol_rows, seed)
    out["CALiSol-23"] = {"data": df, "inputs": inputs, "targets": ["k"],
                         "categorical": ["salt"], "group": "doi"}
    for name in PVLAB:
        d, ins, target, _ = pvlab(name)
        out[name] = {"data": d, "inputs": ins, "targets": [target], "categorical": [],
                     "group": None}
    return out


def run(job: dict[str, Any], model: str, options: dict[str, Any], folds: int,
        seed: int) -> dict[str, Any]:
    """One cross-validation: per target R², coverage, NLPD and mean fit seconds (wall, CPU)."""
    cpu = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = cross_validate(
            job["data"], inputs=job["inputs"], targets=job["targets"],
            categorical=job["categorical"], group=job["group"], folds=folds, seed=seed,
            models=[model], model_options={model: options}, progress=False,
            importance_repeats=0,
        )
    cpu_per_fit = (time.process_time() - cpu) / report.folds
    return {t: {**m, "cpu_seconds": cpu_per_fit}
            for t, m in report.to_dict()["models"][model].items()}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| data set | target | model | R² | coverage 90% | NLPD | fit s (wall) | "
             "fit s (CPU) |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        for target, m in r["metrics"].items():
            lines.append(
                f"| {r['data']} | {target} | {r['model']} | {m['r2']:.3f} | "
                f"{m['coverage90']:.2f} | {m['nlpd']:.3f} | {m['fit_seconds']:.2f} | "
                f"{m['cpu_seconds']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="data sets to run (default: all)")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS),
                        help=f"ensemble configurations (default: all of {', '.join(CONFIGS)})")
    parser.add_argument("--references", nargs="*", default=list(REFERENCES),
                        help="reference models scored alongside (gp, rf)")
    parser.add_argument("--calisol-rows", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ensemble_tuning.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    jobs = datasets(args.calisol_rows, args.seed)
    names = args.only or list(jobs)
    rows: list[dict[str, Any]] = []
    log = args.out.with_suffix(".jsonl")
    command = ("`.venv/bin/python benchmarks/ensemble_tuning.py " + " ".join(sys.argv[1:]) + "`")
    for name in names:
        job = jobs[name]
        runs = [(m, {}) for m in args.references] + [
            (f"ensemble:{c}", CONFIGS[c]) for c in args.configs]
        for label, options in runs:
            model = label.split(":")[0]
            metrics = run(job, model, dict(options), args.folds, args.seed)
            row = {"data": name, "model": label, "options": {k: list(v) if isinstance(v, tuple)
                                                              else v for k, v in options.items()},
                   "rows": len(job["data"]), "metrics": metrics}
            rows.append(row)
            print("\n".join(table([row]).splitlines()[2:]), flush=True)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            args.out.write_text(
                "# Ensemble settings by grouped cross-validation\n\nCommand: " + command
                + f"; torch on 1 thread; {args.folds} folds; CPU seconds are per fold (fit, "
                "predict and scoring).\n\n" + table(rows) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()

"""Two-stage (recipe -> descriptors -> targets) against one-stage (recipe -> targets) models.

SIMULATED data: the virtual hard-carbon lab (:mod:`planner.simulation.hard_carbon`) makes plates
of random recipes and measures the five descriptors and the targets, with plate drift, noise and
failed wells (a failed cell still has its descriptors). For each training size (number of
plates), models are fitted on that many plates and scored on held-out plates of the same lab:
R², 90 % interval coverage and NLPD of ICE and reversible capacity, averaged over repeats.

Models:

* ``one-stage:gp`` / ``one-stage:ensemble`` -- recipe -> targets (what a campaign fits today);
* ``two-stage:gp`` / ``two-stage:ensemble`` -- :class:`surrogates.two_stage.TwoStageSurrogate`:
  a GP per descriptor, then descriptors and recipe -> targets with that stage-2 model,
  predictions by pushing stage-1 samples through stage 2;
* ``two-stage-desc:gp`` -- stage 2 sees the descriptors only.

Run by hand (not part of the tests)::

    .venv/bin/python benchmarks/two_stage.py                       # full: 4 sizes x 3 repeats
    .venv/bin/python benchmarks/two_stage.py --plates 2 4 --repeats 1 --models one-stage:gp \\
        two-stage:gp                                               # a quick look

Writes ``benchmarks/results/two_stage.md`` (and ``.jsonl``, one line per run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.simulation.hard_carbon import (  # noqa: E402
    DESCRIPTORS,
    PRECURSORS,
    RECIPE_BOUNDS,
    simulate_plate,
)

RECIPE = ["precursor", *RECIPE_BOUNDS]
TARGETS = ["ice_pct", "reversible_capacity_mah_per_g"]
LAB_SEED = 7


def virtual_lab_table(n_plates: int, wells: int, seed: int, *, first_plate: int = 0
                      ) -> pd.DataFrame:
    """SIMULATED plates of random recipes from the virtual hard-carbon lab.

    Recipes are uniform in the campaign bounds (heating rate and dwell log-uniform), precursors
    drawn at random. Failed syntheses are left out; failed cells keep their descriptors with
    NaN targets.

    Returns:
        One row per well: ``plate``, the recipe columns, :data:`DESCRIPTORS`, the targets and
        ``status``.
    """
    frames = []
    for p in range(first_plate, first_plate + n_plates):
        rng = np.random.default_rng([seed, p])
        recipes = pd.DataFrame({"precursor": rng.choice(sorted(PRECURSORS), wells)})
        for name, (lo, hi) in RECIPE_BOUNDS.items():
            if name in ("heating_rate_c_per_min", "dwell_h"):
                recipes[name] = np.exp(rng.uniform(np.log(lo), np.log(hi), wells))
            else:
                recipes[name] = rng.uniform(lo, hi, wells)
        measured = simulate_plate(recipes, seed=LAB_SEED + seed, plate_index=p)
        frame = pd.concat([recipes, measured[[*DESCRIPTORS, *TARGETS, "status"]]], axis=1)
        frame.insert(0, "plate", f"plate-{p:02d}")
        frames.append(frame[frame["status"] != "failed_synthesis"])
    return pd.concat(frames, ignore_index=True)


#: Models compared: label -> (kind, options).
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "one-stage:gp": ("gp", {}),
    "one-stage:ensemble": ("ensemble", {}),
    "two-stage:gp": ("two_stage", {"stage2": "gp"}),
    "two-stage:ensemble": ("two_stage", {"stage2": "ensemble"}),
    "two-stage-desc:gp": ("two_stage", {"stage2": "gp", "stage2_inputs": "descriptors"}),
}


def fit_and_score(label: str, train: pd.DataFrame, test: pd.DataFrame, seed: int
                  ) -> dict[str, Any]:
    """Fit one model on the training plates; score it on the held-out plates' ok wells."""
    from surrogates import make_surrogate
    from surrogates.evaluation import score
    from surrogates.two_stage import TwoStageSurrogate

    kind, options = MODELS[label]
    common = {"categorical": ("precursor",), "categories": {"precursor": sorted(PRECURSORS)},
              "input_bounds": dict(RECIPE_BOUNDS), "seed": seed}
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "two_stage":
            model: Any = TwoStageSurrogate(descriptors=DESCRIPTORS, **common, **options)
            model.fit(train[RECIPE + list(DESCRIPTORS)], train[TARGETS], groups=train["plate"])
        else:
            if kind != "gp":
                common.pop("input_bounds")
            model = make_surrogate(kind, **common, **options)
            rows = train[TARGETS].notna().any(axis=1)
            model.fit(train.loc[rows, RECIPE], train.loc[rows, TARGETS],
                      groups=train.loc[rows, "plate"])
        fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        mean, std = model.predict(test[RECIPE])
    out: dict[str, Any] = {"fit_seconds": fit_s, "fit_cpu_seconds": fit_cpu}
    for k, target in enumerate(TARGETS):
        seen = test[target].notna().to_numpy()
        out[target] = score(test[target].to_numpy()[seen], mean[seen, k], std[seen, k])
    return out


def summary(rows: list[dict[str, Any]]) -> str:
    frame = pd.DataFrame([
        {"plates": r["plates"], "rows": r["rows"], "model": r["model"], "target": t,
         "r2": r[t]["r2"], "coverage90": r[t]["coverage90"], "nlpd": r[t]["nlpd"],
         "fit_cpu": r["fit_cpu_seconds"]}
        for r in rows for t in TARGETS])
    agg = frame.groupby(["plates", "target", "model"], sort=False).agg(
        rows=("rows", "mean"), r2=("r2", "mean"), r2_sd=("r2", "std"),
        coverage90=("coverage90", "mean"), nlpd=("nlpd", "mean"), fit_cpu=("fit_cpu", "mean"),
        repeats=("r2", "size")).reset_index()
    lines = ["| training plates | wells | target | model | R² (mean ± sd) | coverage 90% | NLPD | "
             "fit s (CPU) | repeats |", "|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    for _, r in agg.iterrows():
        sd = 0.0 if pd.isna(r["r2_sd"]) else r["r2_sd"]
        lines.append(f"| {r['plates']} | {r['rows']:.0f} | {r['target']} | {r['model']} | "
                     f"{r['r2']:.3f} ± {sd:.3f} | {r['coverage90']:.2f} | {r['nlpd']:.2f} | "
                     f"{r['fit_cpu']:.1f} | {r['repeats']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, nargs="*", default=[2, 4, 8, 12],
                        help="training sizes in plates")
    parser.add_argument("--wells", type=int, default=24, help="wells per plate")
    parser.add_argument("--test-plates", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/two_stage.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    command = "`.venv/bin/python benchmarks/two_stage.py " + " ".join(sys.argv[1:]) + "`"
    rows: list[dict[str, Any]] = []
    log = args.out.with_suffix(".jsonl")
    for repeat in range(args.repeats):
        test = virtual_lab_table(args.test_plates, args.wells, repeat, first_plate=100)
        test = test[test["status"] == "ok"].reset_index(drop=True)
        for plates in args.plates:
            train = virtual_lab_table(plates, args.wells, repeat)
            for label in args.models:
                result = fit_and_score(label, train, test, seed=repeat)
                row = {"plates": plates, "rows": len(train), "repeat": repeat, "model": label,
                       **result}
                rows.append(row)
                print(f"repeat {repeat} plates {plates} {label}: " + ", ".join(
                    f"{t} R² {result[t]['r2']:.3f} cov {result[t]['coverage90']:.2f}"
                    for t in TARGETS) + f", fit {result['fit_cpu_seconds']:.1f} s CPU",
                    flush=True)
                with log.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
                args.out.write_text(
                    "# Two-stage vs one-stage models on held-out plates (SIMULATED virtual lab)"
                    "\n\nCommand: " + command + f"; {args.wells} wells per plate, "
                    f"{args.test_plates} held-out plates per repeat (their ok wells), torch on "
                    "1 thread.\n\n" + summary(rows) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()

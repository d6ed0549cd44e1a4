"""How long ``propose_plate`` takes for a full 96-well hard-carbon plate (92 sample wells).

The campaign is the shipped ``hard-carbon`` template with ``n`` observations from the SIMULATED
virtual lab (:func:`planner.simulation.hard_carbon.simulate_plate`: noise, plate drift and ~3 %
failed syntheses, so the feasibility model is active as in a real campaign). The proposal runs
with the default (non-fast) optimizer settings; the acceptance target is well under a minute on
a 2-core machine.

Wall time depends on what else the machine is doing, so CPU time of the process is reported too
(torch runs single-threaded inside ``propose_plate``, so on an idle machine wall ~ CPU).

Run::

    .venv/bin/python benchmarks/suggest_speed.py                 # n=100, q=92, 1 repeat
    .venv/bin/python benchmarks/suggest_speed.py --n 200 --repeats 3

``--db URL`` times the whole command a lab runs instead, ``planner suggest --campaign NAME
--force`` (start-up, imports, database and printing included), on a copy of that SQLite
database so the original keeps its plate. The acceptance case is the demo campaign after
``planner demo`` (four simulated weeks, 384 wells), 96-well plate, under a minute::

    planner demo --no-dashboard --db sqlite:////tmp/demo/demo.db
    .venv/bin/python benchmarks/suggest_speed.py --db sqlite:////tmp/demo/demo.db --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_snapshot(n: int, seed: int):  # noqa: ANN201 - a CampaignSnapshot
    """``n`` simulated hard-carbon wells (two plates' worth of space-filling recipes)."""
    import numpy as np
    import pandas as pd

    from campaigns.snapshot import CampaignSnapshot
    from campaigns.templates import load_template
    from planner.design import space_filling_design
    from planner.simulation.hard_carbon import simulate_plate

    spec = load_template("hard-carbon", name="speed")
    recipes = space_filling_design(spec, n, seed=seed)
    plates = []
    for index, part in enumerate(np.array_split(np.arange(n), max(1, -(-n // 92)))):
        sim = simulate_plate(recipes.iloc[part], seed=seed, plate_index=index)
        plates.append(pd.concat([recipes.iloc[part], sim], axis=1).assign(batch_id=index + 1))
    obs = pd.concat(plates, ignore_index=True)
    obs["well"] = [f"W{i}" for i in range(len(obs))]
    obs["role"] = "sample"
    obs["iso_week"] = "2026-W01"
    return CampaignSnapshot(spec=spec, revision=len(obs), observations=obs,
                            pending=pd.DataFrame(columns=spec.input_names))


def plate_quality(snap, recipes) -> list[float]:  # noqa: ANN001 - snapshot, DataFrame
    """Hypervolume of the feasible (ICE >= 80 %) measured designs before and after the plate,
    the plate's wells taken at the virtual lab's noise-free truth (ICE, capacity; reference
    80 %, 0 mAh/g): how much the plate would move the Pareto front."""
    import numpy as np
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    from planner.simulation.hard_carbon import simulate_plate

    truth = simulate_plate(recipes.reset_index(drop=True), seed=0, noise=False)
    cols = ["ice_pct", "reversible_capacity_mah_per_g"]
    ref = torch.tensor([80.0, 0.0], dtype=torch.double)
    hv = Hypervolume(ref)

    def volume(points: np.ndarray) -> float:
        points = points[np.isfinite(points).all(axis=1) & (points[:, 0] >= 80.0)]
        return float(hv.compute(torch.as_tensor(points, dtype=torch.double))) if len(points) \
            else 0.0

    before = snap.observations[cols].to_numpy(float)
    after = np.vstack([before, truth[cols].to_numpy(float)])
    return [round(volume(before), 1), round(volume(after), 1)]


def time_cli(db_url: str, campaign: str, repeats: int) -> None:
    """Wall, CPU and peak memory of ``planner suggest --force`` on a copy of a SQLite database."""
    source = Path(db_url.removeprefix("sqlite:///"))
    if not db_url.startswith("sqlite:///") or not source.is_file():
        raise SystemExit(f"--db must be an existing SQLite database URL, got {db_url!r}.")
    planner = Path(sys.executable).with_name("planner")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / source.name
        shutil.copy(source, copy)
        for r in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter()
            proc = subprocess.run(
                [str(planner), "suggest", "--campaign", campaign, "--force",
                 "--db", f"sqlite:///{copy}"], capture_output=True, text=True, check=False)
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            batch = next((ln.strip() for ln in proc.stdout.splitlines() if "Batch" in ln), "")
            print(json.dumps({
                "command": f"planner suggest --campaign {campaign} --force", "repeat": r,
                "exit": proc.returncode, "wall_s": round(wall, 1),
                "cpu_s": round(after.ru_utime + after.ru_stime
                               - before.ru_utime - before.ru_stime, 1),
                "peak_rss_mb": round(after.ru_maxrss / 1024),  # largest child so far
                "load_avg_1min": round(os.getloadavg()[0], 2), "batch": batch,
                "error": proc.stderr[-500:] if proc.returncode else None,
            }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="observations")
    parser.add_argument("--q", type=int, default=92, help="wells to propose")
    parser.add_argument("--surrogate", default="gp")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast", action="store_true", help="tiny test settings instead")
    parser.add_argument("--db", help="time `planner suggest --force` on a copy of this SQLite DB")
    parser.add_argument("--campaign", default="demo-hard-carbon", help="campaign for --db")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override an OptimizerSettings default (e.g. optimized_wells=1)")
    args = parser.parse_args()
    os.environ.pop("PLANNER_FAST", None)  # measure the real defaults unless --fast
    if args.db:
        time_cli(args.db, args.campaign, args.repeats)
        return

    import warnings

    from planner import progress
    from planner.errors import PlanningWarning
    from planner.propose import propose_plate

    if args.set:
        import dataclasses

        import planner.optimize as optimize

        changes = {k: type(getattr(optimize.DEFAULT, k))(v)
                   for k, v in (item.split("=", 1) for item in args.set)}
        optimize.DEFAULT = dataclasses.replace(optimize.DEFAULT, **changes)
    snap = make_snapshot(args.n, args.seed)
    failed = int((snap.observations["status"] == "failed_synthesis").sum())
    for r in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        stages: dict[str, float] = {}
        mark = [cpu, "start"]

        def on_step(step: progress.Step, mark: list = mark,  # noqa: B006 - bound per repeat
                    stages: dict[str, float] = stages) -> None:
            if step.stage != mark[1]:  # CPU seconds per stage, in the order they came
                now = time.process_time()
                stages[str(mark[1])] = stages.get(str(mark[1]), 0.0) + now - float(mark[0])
                mark[:] = [now, step.stage]

        with warnings.catch_warnings(), progress.listening(on_step):
            warnings.simplefilter("always", PlanningWarning)
            proposal = propose_plate(snap, surrogate=args.surrogate, seed=args.seed + r,
                                     q=args.q, fast=args.fast)
        on_step(progress.Step("end", 0, None))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        values = [p["acquisition"] for p in proposal.predictions]
        print(json.dumps({
            "n": args.n, "q": args.q, "failed_syntheses": failed, "repeat": r,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "generator": proposal.generator, "wells": len(proposal.recipes),
            "distinct": int(len(proposal.recipes.drop_duplicates())),
            "feasibility": proposal.model_info.get("feasibility"),
            "acq_first_last": [values[0], values[-1]], "warnings": proposal.warnings,
            "settings": args.set, "cpu_s_by_stage": {k: round(v, 2) for k, v in stages.items()},
            "hypervolume_before_after": plate_quality(snap, proposal.recipes),
        }), flush=True)


if __name__ == "__main__":
    main()

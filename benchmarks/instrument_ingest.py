"""How long a plate sheet plus a zip of 96 XRD and 96 Raman files takes to ingest.

The acceptance case of the instrument upload: ``planner ingest SHEET --campaign C --instruments
ZIP`` on a 96-well hard-carbon plate, every well with a SYNTHETIC XRD pattern (10–80 °2θ,
0.02° steps, 3,501 points, known d002/Lc/La, 2 % noise) and a SYNTHETIC Raman spectrum
(500–3200 cm⁻¹, 1 cm⁻¹ steps, known ID/IG, 2 % noise), must fill d002, Lc, La and ID/IG for
every well in under a minute. The timed command is the whole CLI process (start-up, imports,
reading, 192 fits, validation, one database transaction), run as a subprocess; the fits are
then checked against the known values.

Run::

    .venv/bin/python benchmarks/instrument_ingest.py                 # 96 wells, 1 repeat
    .venv/bin/python benchmarks/instrument_ingest.py --wells 8       # a quick check

Wall time depends on what else the machine is doing; the CPU time of the command (user +
system, children included) is reported too.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _planner() -> list[str]:
    exe = Path(sys.executable).with_name("planner")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "planner.cli"]


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([*_planner(), *args], env=env, capture_output=True, text=True,
                         check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"planner {' '.join(args)} failed ({out.returncode}):\n"
                         f"{out.stdout}\n{out.stderr}")
    return wall, cpu, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=96, help="wells with files (≤ 96)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from campaigns.instruments.synthetic import raman_spectrum, xrd_pattern
    from campaigns.store import Store

    rows = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            url = f"sqlite:///{tmp / 'bench.db'}"
            env = {**os.environ, "PLANNER_DB_URL": url}
            _run(["campaign", "create", "--template", "hard-carbon", "hc"], env)
            _run(["suggest", "--campaign", "hc", "--week", "2026-W10"], env)
            sheet = tmp / "plate.csv"
            _run(["plate", "template", "--campaign", "hc", "--out", str(sheet)], env)
            frame = pd.read_csv(sheet, dtype=str)
            rng = np.random.default_rng(repeat)
            wells = frame["Well"].tolist()[: args.wells]
            truth = {w: (float(rng.uniform(0.36, 0.40)), float(rng.uniform(0.9, 2.4)),
                         float(rng.uniform(2.5, 7.5)), float(rng.uniform(0.8, 2.5)))
                     for w in wells}
            frame.loc[: len(wells) - 1, "ICE [%]"] = [f"{v:.1f}" for v in
                                                      rng.uniform(65, 90, len(wells))]
            frame.to_csv(sheet, index=False)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for i, (w, (d002, lc, la, ratio)) in enumerate(truth.items()):
                    zf.writestr(f"{w}_xrd.xy", xrd_pattern(d002_nm=d002, lc_nm=lc, la_nm=la,
                                                           noise=0.02, seed=i))
                    zf.writestr(f"{w}_raman.txt", raman_spectrum(id_ig=ratio, noise=0.02,
                                                                 seed=i))
            archive = tmp / "instruments.zip"
            archive.write_bytes(buf.getvalue())
            wall, cpu, out = _run(["ingest", str(sheet), "--campaign", "hc", "--instruments",
                                   str(archive)], env)
            with Store.open(url) as store:
                stored = store.measurements("hc")
            got = stored.pivot_table(index="well", columns="quantity", values="value")
            err = {"d002_nm_abs_max": float(max(abs(got.loc[w, "d002_nm"] - t[0])
                                                for w, t in truth.items())),
                   "lc_rel_max": float(max(abs(got.loc[w, "lc_nm"] / t[1] - 1)
                                           for w, t in truth.items())),
                   "la_rel_max": float(max(abs(got.loc[w, "la_nm"] / t[2] - 1)
                                           for w, t in truth.items())),
                   "id_ig_rel_max": float(max(abs(got.loc[w, "raman_id_ig"] / t[3] - 1)
                                              for w, t in truth.items()))}
            filled = int(got[["d002_nm", "lc_nm", "la_nm", "raman_id_ig"]].notna().all(
                axis=1).sum())
            row = {"repeat": repeat, "wells": len(wells), "files": 2 * len(wells),
                   "zip_mb": round(len(buf.getvalue()) / 1e6, 2), "wall_s": round(wall, 2),
                   "cpu_s": round(cpu, 2), "wells_filled": filled, **err}
            rows.append(row)
            print(json.dumps(row), flush=True)
            print(out.strip().splitlines()[-1])
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

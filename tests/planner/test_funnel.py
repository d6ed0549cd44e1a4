"""The screening funnel: stage 1 in chunks, a diverse shortlist, the full acquisition on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from planner.acquisition import ConstraintSpec, ObjectiveSpec, build_acquisition
from planner.errors import PlanningError
from planner.funnel import PoolSource, Screen, ScreeningSettings, as_source, screen_pool
from planner.propose import Goal, PoolProblem, propose_from_pool
from surrogates import make_surrogate

COLUMNS = ["temperature_c", "doping_at_pct", "ssa_m2_per_g", "porosity_frac"]


def _library(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "temperature_c": rng.uniform(800, 1800, n),
        "doping_at_pct": rng.uniform(0, 10, n),
        "ssa_m2_per_g": rng.lognormal(2.5, 0.8, n),
        "porosity_frac": rng.uniform(0, 1, n),
    })
    frame.loc[rng.random(n) < 0.03, "porosity_frac"] = np.nan  # missing descriptor cells
    return frame


def _truth(frame: pd.DataFrame) -> pd.DataFrame:
    g = (frame["temperature_c"].to_numpy() - 800) / 1000
    dop = frame["doping_at_pct"].to_numpy()
    por = frame["porosity_frac"].fillna(0.5).to_numpy()
    ice = 62 + 24 * g - 0.9 * dop - 5 * por
    cap = 250 + 90 * np.exp(-((g - 0.5) / 0.3) ** 2) + 6 * dop + 20 * por
    return pd.DataFrame({"ice_pct": ice, "capacity_mah_per_g": cap})


class ChunkedTable:
    """A library table that is only read in chunks (the interface of the Parquet store)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame.reset_index(drop=True)
        self.n_rows = len(frame)
        self.reads = 0

    def iter_batches(self, columns: list[str], batch_rows: int):  # noqa: ANN201
        for start in range(0, self.n_rows, batch_rows):
            self.reads += 1
            part = self._frame.iloc[start:start + batch_rows][columns]
            yield part  # index = global row positions

    def take(self, positions: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
        out = self._frame.iloc[np.asarray(positions)]
        return out if columns is None else out[columns]


GOALS = (Goal("ice_pct", "max", 80.0), Goal("capacity_mah_per_g", "max"))


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, object]:
    pool = _library(3000)
    picked = np.random.default_rng(1).choice(len(pool), 40, replace=False)
    X = pool.iloc[picked].reset_index(drop=True)
    Y = _truth(X) + np.random.default_rng(2).normal(0, [1.0, 5.0], (40, 2))
    model = make_surrogate("gp", seed=0, max_iter=20).fit(X, Y)
    return pool, X, Y, model


def _screen(model: object, X: pd.DataFrame, Y: pd.DataFrame, **kw: object) -> Screen:
    return Screen.build(model, Y.to_numpy(), [(0, 1.0), (1, 1.0)], [(0, 1.0, 80.0)], X=X,
                        **kw)  # type: ignore[arg-type]


def test_exact_gp_shortcut_reproduces_the_posterior(fitted) -> None:  # noqa: ANN001
    pool, X, Y, model = fitted
    screen = _screen(model, X, Y)
    assert screen.exact is not None
    rows = pool.iloc[:500]
    mean, std = screen.moments(screen.encode(rows))
    with torch.no_grad():
        post = model.to_botorch().posterior(model.encode(rows))
    np.testing.assert_allclose(mean, post.mean.numpy(), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(std, post.variance.sqrt().numpy(), rtol=1e-6, atol=1e-7)


def test_shortlist_is_the_same_from_a_frame_and_from_a_chunked_table(fitted) -> None:  # noqa: ANN001
    pool, X, Y, model = fitted
    screen = _screen(model, X, Y)
    exclude = np.arange(0, 3000, 7)
    a = screen_pool(as_source(pool), screen, shortlist=200, exclude=exclude, batch_rows=700)
    table = ChunkedTable(pool)
    b = screen_pool(as_source(table), screen, shortlist=200, exclude=exclude, batch_rows=700)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert table.reads == 5  # 3000 rows in chunks of 700: never read whole
    assert len(a.positions) == 200 and len(set(a.positions.tolist())) == 200
    assert not np.isin(a.positions, exclude).any()
    assert a.rows_screened == 3000 and a.rows_excluded == len(exclude)
    assert a.info()["shortlist"] == 200 and a.peak_rss_mb > 0


def test_shortlist_reaches_both_ends_of_the_front(fitted) -> None:  # noqa: ANN001
    """The round-robin over scalarizations keeps the best rows of either objective, where a
    single trade-off (one column) would keep one end only."""
    pool, X, Y, model = fitted
    screen = _screen(model, X, Y)
    mean, _ = screen.moments(screen.encode(pool))
    kept = screen_pool(as_source(pool), screen, shortlist=150, batch_rows=1000).positions
    likely = mean[:, 0] >= 80.0  # the ICE constraint, on the posterior mean
    assert likely.sum() > 50
    for j in range(2):
        assert mean[kept, j][likely[kept]].max() >= np.quantile(mean[likely, j], 0.99)
    one_column = np.argsort(-screen.scores(pool, 0)[:, 0])[:150]
    assert np.ptp(mean[kept, 1]) > np.ptp(mean[one_column, 1])


def test_funnel_plate_keeps_the_acquisition_value_of_the_exhaustive_plate(fitted) -> None:  # noqa: ANN001
    pool, X, Y, model = fitted
    measured = pool.reset_index(drop=True).merge(X.reset_index(), how="inner").index
    problem = PoolProblem(pool=pool, X=X, Y=Y, goals=GOALS, exclude=measured.to_numpy())
    funnel = propose_from_pool(problem, q=4, seed=3, screening=ScreeningSettings(
        min_rows=1000, shortlist=150, batch_rows=1000))
    full = propose_from_pool(problem, q=4, seed=3)
    stages = funnel.model_info["stages"]
    assert stages["screened"] and stages["stage1"]["rows_screened"] == 3000
    assert stages["stage1"]["shortlist"] == 150 and stages["stage2"]["candidates"] == 150
    # ICE is bounded to [0, 100] % (column registry): the screen maps the link-scale GP's
    # exact moments through the inverse link.
    assert stages["stage1"]["screen"]["moments"] == "exact GP (cached Cholesky)"
    assert not full.model_info["stages"]["screened"]
    assert full.model_info["stages"]["stage2"]["candidates"] == 3000 - len(measured)
    acqf = build_acquisition(
        model.to_botorch(), X_baseline=model.encode(X),
        objectives=[ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max")],
        constraints=[ConstraintSpec(0, "max", 80.0)],
        Y_baseline=torch.tensor(Y.to_numpy()), mc_samples=64, seed=0)
    with torch.no_grad():
        value = {k: float(acqf(model.encode(pool.iloc[p.rows])[None]))
                 for k, p in (("funnel", funnel), ("full", full))}
    assert np.exp(value["funnel"] - value["full"]) >= 0.95


def test_a_chunked_table_pool_gives_the_plate_of_the_same_frame(fitted) -> None:  # noqa: ANN001
    pool, X, Y, _ = fitted
    settings = ScreeningSettings(min_rows=1000, shortlist=120, batch_rows=800)
    exclude = np.arange(40)
    plans = [propose_from_pool(PoolProblem(pool=p, X=X, Y=Y, goals=GOALS, exclude=exclude),
                               q=3, seed=5, screening=settings)
             for p in (pool, ChunkedTable(pool))]
    np.testing.assert_array_equal(plans[0].rows, plans[1].rows)
    assert not np.isin(plans[0].rows, exclude).any()


def test_bad_settings_and_pools_say_what_to_do() -> None:
    with pytest.raises(PlanningError, match="paths must be at least 2") as err:
        ScreeningSettings(paths=1)
    assert err.value.hint
    with pytest.raises(PlanningError, match="DataFrame or a library table"):
        as_source([1, 2, 3])
    source = PoolSource(_library(10))
    with pytest.raises(PlanningError, match="10 rows"):
        from planner.funnel import positions_of

        positions_of(np.zeros(9, bool), source.n_rows)
    assert ScreeningSettings().size(96) == 2000 and ScreeningSettings().size(200) == 4000
    assert not ScreeningSettings().applies(10_000, 96)
    assert ScreeningSettings().applies(10_001, 96)
    assert not ScreeningSettings(min_rows=100).applies(2000, 96)  # the shortlist is all of it


def test_a_big_library_campaign_plans_from_its_parquet_table(tmp_path, fitted) -> None:  # noqa: ANN001
    """A library campaign whose candidates live in the columnar store (no DataFrame): measured
    and pending candidates are never proposed, the plate comes from the funnel's shortlist."""
    from campaigns.library_store import import_library
    from campaigns.snapshot import CampaignSnapshot
    from campaigns.spec import CampaignSpec
    from planner.propose import propose_plate

    pool = _library(3000).iloc[:2500]
    spec = CampaignSpec.from_dict({
        "name": "big-lib", "library": {"inputs": COLUMNS},
        "targets": [{"name": "ice_pct", "direction": "max", "threshold": 80.0},
                    {"name": "capacity_mah_per_g", "direction": "max"}],
        "plate": {"wells": 24},
        "planning": {"screening": {"min_rows": 1000, "shortlist": 100, "batch_rows": 1000}}})
    source = tmp_path / "candidates.csv"
    pool.assign(candidate_id=[f"c{i}" for i in range(len(pool))])[
        ["candidate_id", *COLUMNS]].to_csv(source, index=False)
    table = import_library(source, spec=spec, dest_dir=tmp_path / "store")
    measured = pool.iloc[:30].assign(candidate_id=[f"c{i}" for i in range(30)])
    Y = _truth(measured)
    obs = measured.assign(batch_id=1, iso_week="2026-W01", well=[f"A{i}" for i in range(30)],
                          role="sample", status="ok", **{c: Y[c] for c in Y.columns})
    pending = pool.iloc[30:33].assign(candidate_id=["c30", "c31", "c32"], batch_id=2,
                                      well=["B1", "B2", "B3"], role="sample")
    snap = CampaignSnapshot(spec=spec, revision=30, observations=obs, pending=pending,
                            library=None, library_table=table)
    proposal = propose_plate(snap, seed=4, q=3, fast=True)
    ids = proposal.recipes["candidate_id"].tolist()
    assert len(set(ids)) == 3 and not set(ids) & {f"c{i}" for i in range(33)}
    stages = proposal.model_info["stages"]
    assert stages["screened"] and stages["stage1"]["rows_screened"] == 2500
    assert stages["stage1"]["rows_excluded"] == 33 and stages["stage1"]["shortlist"] == 100
    assert proposal.model_info["pending"] == 3
    rows = table.positions_of(ids)
    np.testing.assert_allclose(proposal.recipes[COLUMNS].to_numpy(float),
                               pool.iloc[rows][COLUMNS].to_numpy(float))

"""Progress: best values and hypervolume per week, the Pareto front, how well the model predicts."""

from __future__ import annotations

import math

import streamlit as st

from campaigns.columns import column
from dashboard import figures
from dashboard.common import (
    CampaignData,
    cached,
    load,
    model_check,
    model_checked,
    render,
    require_campaign,
    simulated_banner,
)
from planner.reports import insight, progress


@cached
def _progress(key: tuple, _data: CampaignData) -> dict:
    snap = _data.snapshot
    pending = progress.pending_batch(snap, _data.batches)
    checked, check = progress.prediction_check(snap, _data.batches)
    return {
        "overview": progress.campaign_overview(snap),
        "designs": progress.measured_designs(snap),
        "best": progress.best_so_far(snap),
        "hv": progress.hypervolume_by_week(snap),
        "pending": None if pending is None else progress.plate_frame(pending, snap.spec),
        "pending_id": None if pending is None else (pending.id, pending.iso_week),
        "checked": None if checked is None else (checked.id, checked.iso_week),
        "check": check,
    }


def _headline(p: dict, data: CampaignData) -> None:
    o = p["overview"]
    spec = data.snapshot.spec
    cols = st.columns([1, 1, 1, *[1.6] * len(spec.objectives)])
    cols[0].metric("Weeks with results", o["weeks"], help=f"{o['pending']} wells are pending.")
    cols[1].metric("Measured designs", o["measured"],
                   help="Samples and replicates; controls are left out.")
    rule = ", ".join(f"{figures.label(t.name)} {'≥' if t.direction == 'max' else '≤'} "
                     f"{t.threshold:g}" for t in spec.constraints)
    cols[2].metric("Feasible", o["feasible"],
                   help=f"Status ok and {rule}." if rule else "Status ok.")
    for i, t in enumerate(spec.objectives):
        v = o["best"][t.name]
        name, unit = figures.label(t.name).split(" [")[0], column(t.name).unit
        value = "–" if math.isnan(v) else f"{v:.4g} {'' if unit == '-' else unit}".strip()
        cols[3 + i].metric(f"Best {name}", value, help="Best feasible value so far.")


def _pareto(p: dict, data: CampaignData) -> None:
    spec = data.snapshot.spec
    x, y = [t.name for t in spec.objectives][:2]
    st.subheader(f"Pareto front: {figures.label(x)} vs {figures.label(y)}")
    st.plotly_chart(figures.pareto_figure(p["designs"], spec, x=x, y=y, predicted=p["pending"]),
                    width="stretch", config=figures.CONFIG)
    note = "Filled circles are feasible, open circles are not; stars are on the Pareto front."
    if p["pending_id"] is not None:
        bid, week = p["pending_id"]
        if p["pending"] is not None and f"predicted_{x}" in p["pending"]:
            note += f" Diamonds: plate {bid} ({week}), predicted mean ± std."
        else:
            note += f" Plate {bid} ({week}) has no predictions (space-filling)."
    st.caption(note)


def _prediction_check(p: dict, data: CampaignData) -> None:
    st.subheader("Predicted vs measured, last plate")
    if p["checked"] is None:
        st.info("No measured plate carries model predictions yet: the first plates were "
                "space-filling.")
        return
    bid, week = p["checked"]
    st.plotly_chart(figures.prediction_check_figure(p["check"], data.snapshot.spec),
                    width="stretch", config=figures.CONFIG)
    summary = progress.prediction_summary(p["check"])
    parts = [f"{figures.label(r.target)}: MAE {r.mae:.3g}, {r.coverage90:.0%} inside the 90 % "
             f"interval ({r.n} wells)" for r in summary.itertuples()]
    st.caption(f"Plate {bid} ({week}): the predictions stored when the plate was proposed, against "
               "what the lab measured; red points fell outside their 90 % interval. "
               + "; ".join(parts) + ".")


def _model_section(data: CampaignData) -> None:
    st.subheader("How well does the model predict a plate it has not seen?")
    model = st.radio("Model", list(insight.MODELS), format_func=insight.MODELS.get,
                     horizontal=True, key="cv_model",
                     help="The random forest takes seconds; the Gaussian process is what the "
                          "planner uses, and takes minutes on hundreds of wells.")
    if not model_checked(data, model=model):
        n = len(data.snapshot.observations)
        st.caption(f"Cross-validation refits the model once per held-out plate, on {n} wells.")
        if not st.button("Run the cross-validation", key="run_cv"):
            return
    with st.spinner("Cross-validating (whole plates held out)…"):
        check = model_check(data, model=model)
    targets = [t.name for t in data.snapshot.spec.objectives]
    st.plotly_chart(figures.parity_figure(check.parity, targets), width="stretch",
                    config=figures.CONFIG)
    table = check.metrics[check.metrics["target"].isin(targets)].copy()
    table["target"] = table["target"].map(figures.label)
    table = table.rename(columns={"target": "Target", "r2": "R²", "mae": "MAE", "rmse": "RMSE",
                                  "coverage90": "Inside 90 % interval", "n": "Wells"})
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Inside 90 % interval": st.column_config.NumberColumn(format="percent")})
    how = (f"{check.folds} folds, whole plates held out" if check.grouped
           else f"{check.folds} random folds")
    notes = " " + " ".join(check.notes) if check.notes else ""
    st.caption(f"{insight.MODELS[model]}, {how}. A well-calibrated model has about 90 % of the "
               f"measurements inside its 90 % interval.{notes}")


def body() -> None:
    data = load(require_campaign())
    st.title("Progress")
    simulated_banner(data)
    p = _progress(data.key, data)
    if p["designs"].empty:
        st.info("No results yet: upload the first plate's results on **Upload results**.")
        return
    _headline(p, data)
    st.subheader("Week by week")
    st.plotly_chart(figures.week_figure(p["best"], p["hv"], data.snapshot.spec), width="stretch",
                    config=figures.CONFIG)
    st.caption("Line: best feasible value so far; diamonds: best feasible value of that week's "
               "plate. Hypervolume: the area of objective space dominated by the feasible designs "
               "so far, above the constraint thresholds (it can only grow).")
    if len(data.snapshot.spec.objectives) >= 2:
        _pareto(p, data)
    _prediction_check(p, data)
    _model_section(data)


render(body)

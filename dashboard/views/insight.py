"""Insight: how each target depends on each recipe parameter or descriptor; what matters most."""

from __future__ import annotations

import pandas as pd
import streamlit as st

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
from planner.reports import insight

INPUT_SETS = {"recipe": "Recipe parameters", "descriptors": "Measured descriptors"}


@cached
def _targets(key: tuple, inputs: str, _data: CampaignData) -> list[str]:
    data = insight.insight_data(_data.snapshot, inputs=inputs)  # type: ignore[arg-type]
    return list(data.Y.columns)


@cached
def _partial_dependence(key: tuple, inputs: str, model: str, target: str,
                        _data: CampaignData) -> dict:
    fitted = insight.fit_insight_model(_data.snapshot, inputs=inputs,  # type: ignore[arg-type]
                                       model=model, targets=[target])
    return {"pdp": insight.partial_dependence(fitted),
            "observed": pd.concat([fitted.data.X, fitted.data.Y], axis=1),
            "features": list(fitted.data.X.columns), "warnings": fitted.fit_warnings,
            "n": len(fitted.data.X)}


def _importance(data: CampaignData, inputs: str, model: str, target: str) -> None:
    st.subheader("Which inputs matter most")
    if not model_checked(data, inputs=inputs, model=model):
        st.caption("Permutation importance on held-out plates: the drop in the model's R² on a "
                   "plate it has not seen when one input is shuffled. It refits the model once "
                   "per plate.")
        if not st.button("Compute feature importance", key="run_importance"):
            return
    with st.spinner("Cross-validating and shuffling each input…"):
        check = model_check(data, inputs=inputs, model=model)
    st.plotly_chart(figures.importance_figure(check.importance, target), width="stretch",
                    config=figures.CONFIG)
    st.caption("Drop in held-out R² of the model when the input is shuffled (mean ± std over "
               f"{check.folds} folds): larger means the target depends more on it.")


def _planner_model(data: CampaignData) -> None:
    """Which model the planner used for each target on its newest plate, and why."""
    choice = insight.planner_model_choice(data.batches)
    if choice is None:
        return
    st.subheader("The planner's model")
    how = ("chosen per target by cross-validation, each plate held out in turn"
           if choice.split == "groups" else "chosen per target by cross-validation"
           if choice.setting == "auto" else f"set to {choice.setting}")
    st.caption(f"Plate {choice.batch_id} ({choice.iso_week}): {how}.")
    for row in choice.choices.itertuples():
        st.markdown(f"- **{figures.label(row.target)}**: {row.label} — {row.reason}")
    if not choice.scores.empty:
        with st.expander("Every candidate's held-out scores"):
            table = choice.scores.assign(
                target=choice.scores["target"].map(figures.label),
                model=choice.scores["model"].map(lambda m: insight.MODELS.get(m, m)))
            st.dataframe(table.rename(columns={"r2": "R²", "coverage90": "90 % interval coverage"}),
                         hide_index=True)


def body() -> None:
    data = load(require_campaign())
    spec = data.snapshot.spec
    st.title("Insight")
    simulated_banner(data)
    c1, c2, c3 = st.columns([2, 2, 4])
    choices = list(INPUT_SETS) if spec.descriptors else ["recipe"]  # no descriptors, no choice
    inputs = c1.radio("Inputs", choices, format_func=INPUT_SETS.get, key="ins_inputs",
                      horizontal=True)
    model = c3.radio("Model", list(insight.MODELS), format_func=insight.MODELS.get,
                     key="ins_model", horizontal=True,
                     help="The random forest fits in seconds; the Gaussian process is what the "
                          "planner uses and takes longer on hundreds of wells.")
    targets = _targets(data.key, inputs, data)
    if st.session_state.get("ins_target") not in targets:
        st.session_state["ins_target"] = next(
            (t.name for t in spec.objectives if t.name in targets), targets[0])
    target = c2.selectbox("Target", targets, format_func=figures.label, key="ins_target")
    with st.spinner(f"Fitting a {insight.MODELS[model].lower()} of {figures.label(target)}…"):
        result = _partial_dependence(data.key, inputs, model, target, data)
    st.subheader(f"{figures.label(target)} against each input")
    st.plotly_chart(figures.partial_dependence_figure(result["pdp"], result["observed"], target,
                                                      result["features"]),
                    width="stretch", config=figures.CONFIG)
    st.caption(f"Partial dependence from a {insight.MODELS[model].lower()} fitted on "
               f"{result['n']} measured wells: each curve moves one input across its range while "
               "the other inputs keep the values of the measured wells, and averages the "
               "predictions. The band is the model's 95 % interval, within the target's "
               "physical bounds (CE and ICE stay within 0–100 %); grey points are the measured "
               "wells.")
    if result["warnings"]:
        with st.expander(f"The model fit needed {len(result['warnings'])} workaround(s)"):
            for w in result["warnings"]:
                st.write(f"- {w}")
    _importance(data, inputs, model, target)
    _planner_model(data)


render(body)

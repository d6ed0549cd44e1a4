"""Plotly figures of the dashboard.

Each builder takes frames computed by :mod:`planner.reports.progress` or
:mod:`planner.reports.insight` and only draws them; axis titles are the column registry's labels
with units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from campaigns.columns import column
from campaigns.plate import PLATE_SHAPES
from campaigns.spec import CampaignSpec

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
ACCENT = "#d62728"
MUTED = "#b8bec6"
BAND = "rgba(31,119,180,0.18)"
CONFIG = {"displayModeBar": False}
"""Plotly config of every chart: no floating toolbar over the titles."""
FONT = {"family": "Inter, 'Source Sans Pro', Arial, sans-serif", "size": 13}
Z90 = 1.6448536269514722
"""Half-width of the central 90 % interval in standard deviations."""


def label(name: str) -> str:
    """Axis label with unit from the column registry (``"ICE [%]"``), also for the derived
    columns of a plate frame (``predicted_ice_pct``, ``p_feasible_ice_pct``, ``role``)."""
    if name == "role":
        return "Role (sample, control, replicate)"
    if name.startswith("p_feasible_"):
        what = name.removeprefix("p_feasible_")
        if what == "synthesis":
            return "P(synthesis works)"
        return f"P({column(what).label} meets its constraint)"
    if name.startswith("predicted_"):
        base = name.removeprefix("predicted_")
        if base.endswith("_std"):
            return f"Predicted std of {column(base.removesuffix('_std')).label}"
        return f"Predicted {column(base).label}"
    return column(name).label


def _layout(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(height=height, template="plotly_white", font=FONT,
                      margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 50},
                      title={"text": title, "x": 0.0, "xanchor": "left"} if title else None,
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0.0},
                      hoverlabel={"align": "left"})
    return fig


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


# --- plate map ---------------------------------------------------------------------------------
def well_hover(frame: pd.DataFrame, spec: CampaignSpec) -> list[str]:
    """Hover text per well: role, recipe, predictions (mean and 90 % interval, within the
    target's bounds) and measured targets."""
    targets = [t.name for t in spec.targets]
    chances = [c for c in frame.columns if c.startswith("p_feasible_")]
    texts = []
    for _, r in frame.iterrows():
        head = f"<b>{r['well']}</b> · {r['role']}"
        if r.get("role") == "replicate" and isinstance(r.get("replicate_of"), str):
            head += f" of {r['replicate_of']}"
        lines = [head]
        if isinstance(r.get("material"), str):
            lines.append(r["material"])
        lines += [f"{label(n)}: {_fmt(r.get(n))}" for n in spec.input_names]
        for t in targets:
            mean = r.get(f"predicted_{t}")
            if mean is not None and not pd.isna(mean):
                lines.append(f"Predicted {label(t)}: {prediction_text(r, t)}")
        lines += [f"{label(c)}: {r[c]:.2f}" for c in chances if not pd.isna(r.get(c))]
        lines += [f"Measured {label(t)}: {_fmt(r.get(t))}" for t in targets
                  if t in frame.columns and not pd.isna(r.get(t))]
        if isinstance(r.get("status"), str) and r["status"] != "ok":
            lines.append(f"Status: {r['status']}")
        texts.append("<br>".join(lines))
    return texts


def prediction_text(row: pd.Series | dict, target: str) -> str:
    """``"99.4 (90 %: 98.9–99.8)"`` from a plate frame row: the stored interval, which stays
    within the target's physical bounds; ``"mean ± std"`` for plates proposed before intervals
    were stored."""
    mean = row.get(f"predicted_{target}")
    if mean is None or pd.isna(mean):
        return ""
    low, high = row.get(f"predicted_{target}_low"), row.get(f"predicted_{target}_high")
    if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
        return f"{mean:.4g} (90 %: {low:.4g}–{high:.4g})"
    return f"{mean:.4g} ± {row.get(f'predicted_{target}_std', math.nan):.2g}"


def interval_bars(frame: pd.DataFrame, center: str, low: str, high: str, std: str | None = None,
                  **style: object) -> dict[str, object]:
    """Plotly error bars from ``center`` to the interval ends ``low``/``high`` (asymmetric:
    a bounded target's interval is), or ``Z90 * std`` either side where the ends are missing."""
    lo = frame[low] if low in frame else pd.Series(np.nan, index=frame.index)
    hi = frame[high] if high in frame else pd.Series(np.nan, index=frame.index)
    spread = Z90 * frame[std] if std is not None and std in frame else np.nan
    up = (hi - frame[center]).where(hi.notna(), spread).clip(lower=0)
    down = (frame[center] - lo).where(lo.notna(), spread).clip(lower=0)
    return {"type": "data", "symmetric": False, "array": up, "arrayminus": down, **style}


def plate_map(frame: pd.DataFrame, spec: CampaignSpec, *, color: str,
              title: str | None = None) -> go.Figure:
    """The plate as the lab sees it: rows A… top to bottom, columns 1… left to right.

    Args:
        frame: From :func:`planner.reports.progress.plate_frame`.
        spec: The campaign's spec (plate size, labels).
        color: Column of ``frame`` that colours the wells (a recipe parameter, a prediction, a
            measured target, or ``role``).
        title: Figure title.

    Controls are marked "C" and replicates "R" inside a thick outline; wells without a value
    for ``color`` are grey.
    """
    rows, ncols = PLATE_SHAPES[spec.plate.wells]
    cell = {24: 64, 48: 52, 96: 40}[spec.plate.wells]
    hover = np.asarray(well_hover(frame, spec), dtype=object)
    marks = frame["role"].map({"control": "C", "replicate": "R"}).fillna("")
    values = frame[color] if color in frame else pd.Series([None] * len(frame))
    outline = {"width": 1, "color": "#444"}
    fig = go.Figure()

    def wells(sel: np.ndarray, name: str, marker: dict, legend: bool = True) -> None:
        fig.add_trace(go.Scatter(
            x=frame["column"][sel], y=frame["row"][sel], text=marks[sel], customdata=hover[sel],
            name=name, showlegend=legend, mode="markers+text", marker={"size": cell, **marker},
            hovertemplate="%{customdata}<extra></extra>", textfont={"size": 12, "color": "#111"}))

    present = values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values) and color != "role" and present.any():
        wells(present, label(color), {
            "color": values.astype(float)[present], "colorscale": "Viridis", "line": outline,
            "colorbar": {"title": {"text": label(color), "side": "right"}, "thickness": 14}},
            legend=False)
    elif present.any():
        seen = set(values[present].astype(str))
        order = [str(v) for v in spec.categorical_inputs.get(color, ())]
        levels = [lv for lv in order if lv in seen] + sorted(seen - set(order))
        for i, level in enumerate(levels):
            sel = (values.astype(str) == level).to_numpy() & present
            wells(sel, level, {"color": PALETTE[i % len(PALETTE)], "line": outline})
    if (~present).any():
        wells(~present, "no value", {"color": "#e6e8eb", "line": {"width": 1, "color": "#888"}})
    ring = frame["role"].isin(["control", "replicate"]).to_numpy()
    if ring.any():
        fig.add_trace(go.Scatter(
            x=frame["column"][ring], y=frame["row"][ring], mode="markers", hoverinfo="skip",
            name="C = control · R = replicate",
            marker={"size": cell + 6, "color": "rgba(0,0,0,0)",
                    "line": {"width": 3, "color": "#111"}}))
    fig.update_xaxes(tickmode="array", tickvals=list(range(1, ncols + 1)), side="top",
                     range=[0.4, ncols + 0.6], showgrid=False, zeroline=False, fixedrange=True)
    fig.update_yaxes(categoryorder="array", categoryarray=list(rows), autorange="reversed",
                     showgrid=False, zeroline=False, fixedrange=True)
    _layout(fig, height=110 + len(rows) * (cell + 12), title=title)
    fig.update_layout(width=240 + ncols * (cell + 12), plot_bgcolor="#f6f7f9",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.02, "x": 0.0})
    return fig


# --- progress ----------------------------------------------------------------------------------
def week_figure(best: pd.DataFrame, hv: pd.DataFrame, spec: CampaignSpec) -> go.Figure:
    """Week by week: one panel per objective (best feasible value of the week and so far), and
    the hypervolume of the feasible designs so far.

    Args:
        best: From :func:`planner.reports.progress.best_so_far`.
        hv: From :func:`planner.reports.progress.hypervolume_by_week` (may be empty).
        spec: The campaign's spec.
    """
    objectives = spec.objectives
    units = " · ".join(column(t.name).unit for t in objectives)
    titles = [f"Best {label(t.name)}" for t in objectives]
    if not hv.empty:
        titles.append(f"Hypervolume [{units}]")
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.07)
    for i, t in enumerate(objectives, start=1):
        rows = best[best["target"] == t.name]
        fig.add_trace(go.Scatter(
            x=rows["iso_week"], y=rows["best_so_far"], mode="lines+markers", name="best so far",
            line={"color": PALETTE[0], "width": 3}, showlegend=i == 1, legendgroup="so far"),
            row=1, col=i)
        fig.add_trace(go.Scatter(
            x=rows["iso_week"], y=rows["best_in_week"], mode="markers", name="best of the week",
            marker={"color": PALETTE[1], "size": 9, "symbol": "diamond"}, showlegend=i == 1,
            legendgroup="week"), row=1, col=i)
        if t.threshold is not None:
            fig.add_hline(y=t.threshold, line={"dash": "dash", "color": ACCENT}, row=1, col=i,
                          annotation_text=f"constraint {t.threshold:g}",
                          annotation_position="bottom right")
        fig.update_xaxes(type="category", row=1, col=i)
    if not hv.empty:
        k = len(titles)
        fig.add_trace(go.Scatter(
            x=hv["iso_week"], y=hv["hypervolume"], mode="lines+markers", name="hypervolume so far",
            line={"color": PALETTE[2], "width": 3},
            customdata=hv[["n_pareto", "n_feasible"]].to_numpy(),
            hovertemplate="%{x}<br>hypervolume %{y:.4g}<br>%{customdata[0]} on the front, "
                          "%{customdata[1]} feasible<extra></extra>"), row=1, col=k)
        fig.update_yaxes(rangemode="tozero", row=1, col=k)
        fig.update_xaxes(type="category", row=1, col=k)
    return _layout(fig, height=380)


def pareto_figure(designs: pd.DataFrame, spec: CampaignSpec, *, x: str, y: str,
                  predicted: pd.DataFrame | None = None) -> go.Figure:
    """Measured designs in objective space, the Pareto front, the next plate's predictions and
    the constraint lines.

    Args:
        designs: From :func:`planner.reports.progress.measured_designs`.
        spec: The campaign's spec.
        x, y: The two objectives on the axes (e.g. ``ice_pct`` and capacity).
        predicted: The pending plate's :func:`planner.reports.progress.plate_frame` (predicted
            means and standard deviations), or ``None``.
    """
    fig = go.Figure()
    point = "%{x:.4g}, %{y:.4g}<extra></extra>"
    weeks = sorted(designs["iso_week"].dropna().unique()) if not designs.empty else []
    for i, week in enumerate(weeks):
        w = designs[designs["iso_week"] == week]
        symbols = np.where(w["feasible"].astype(bool), "circle", "circle-open").tolist()
        fig.add_trace(go.Scatter(
            x=w[x], y=w[y], mode="markers", name=f"{week}", legendgroup=week,
            marker={"color": PALETTE[i % len(PALETTE)], "size": 8, "opacity": 0.85,
                    "symbol": symbols, "line": {"width": 1.5}},
            customdata=w["well"], hovertemplate=f"{week} %{{customdata}}<br>{point}"))
    if not designs.empty and designs["pareto"].any():
        front = designs[designs["pareto"]].sort_values(x)
        shape = "vh" if _same_direction(spec, x, y) else "linear"  # the dominated region's edge
        fig.add_trace(go.Scatter(
            x=front[x], y=front[y], mode="lines+markers", name="Pareto front",
            line={"color": "#111", "width": 2, "shape": shape},
            marker={"size": 12, "symbol": "star", "color": "#ffd166",
                    "line": {"width": 1, "color": "#111"}},
            customdata=front["well"] + " (" + front["iso_week"] + ")",
            hovertemplate=f"front: %{{customdata}}<br>{point}"))
    px_, py_ = f"predicted_{x}", f"predicted_{y}"
    if predicted is not None and px_ in predicted and py_ in predicted:
        p = predicted[predicted["role"] == "sample"].dropna(subset=[px_, py_])
        bars = {"thickness": 1, "color": "#9aa0a6"}
        fig.add_trace(go.Scatter(
            x=p[px_], y=p[py_], mode="markers", name="next plate (predicted, 90 % interval)",
            error_x=interval_bars(p, px_, f"{px_}_low", f"{px_}_high", f"{px_}_std", **bars),
            error_y=interval_bars(p, py_, f"{py_}_low", f"{py_}_high", f"{py_}_std", **bars),
            marker={"symbol": "diamond-open", "size": 9, "color": "#6a3d9a", "line": {"width": 2}},
            customdata=p["well"], hovertemplate=f"next plate %{{customdata}}<br>{point}"))
    for t in spec.constraints:
        text = f"{label(t.name)} = {t.threshold:g}"
        if t.name == x:
            fig.add_vline(x=t.threshold, line={"dash": "dash", "color": ACCENT},
                          annotation_text=text, annotation_position="top left")
        elif t.name == y:
            fig.add_hline(y=t.threshold, line={"dash": "dash", "color": ACCENT},
                          annotation_text=text, annotation_position="bottom right")
    fig.update_xaxes(title=label(x))
    fig.update_yaxes(title=label(y))
    _layout(fig, height=520)
    fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02})
    return fig


def _same_direction(spec: CampaignSpec, x: str, y: str) -> bool:
    directions = {t.name: t.direction for t in spec.targets}
    return directions.get(x) == directions.get(y)


def _parity_panels(frame: pd.DataFrame, targets: Sequence[str], *, xcol: str, ycol: str,
                   err: str, xtitle: str, ytitle: str, low: str = "low",
                   high: str = "high") -> go.Figure:
    """One panel per target: ``ycol`` against ``xcol`` with 90 % error bars on x (to the
    interval ends ``low``/``high`` where the frame has them, else ``Z90 * err``) and the
    diagonal; points with ``inside_90`` false are red."""
    fig = make_subplots(rows=1, cols=max(1, len(targets)), horizontal_spacing=0.1,
                        subplot_titles=[label(t) for t in targets])
    for i, t in enumerate(targets, start=1):
        rows = frame[frame["target"] == t]
        if rows.empty:
            continue
        lo = float(np.nanmin([rows[xcol].min(), rows[ycol].min()]))
        hi = float(np.nanmax([rows[xcol].max(), rows[ycol].max()]))
        pad = 0.05 * (hi - lo or 1.0)
        fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines",
                                 line={"dash": "dot", "color": "#888"}, name="y = x",
                                 showlegend=i == 1, hoverinfo="skip"), row=1, col=i)
        colors = np.where(rows["inside_90"], PALETTE[0], ACCENT).tolist()
        fig.add_trace(go.Scatter(
            x=rows[xcol], y=rows[ycol], mode="markers", name="wells", showlegend=False,
            error_x=interval_bars(rows, xcol, low, high, err, thickness=1, color="#c3c7cc"),
            marker={"size": 7, "color": colors, "opacity": 0.8},
            hovertemplate=f"{xtitle} %{{x:.4g}}<br>{ytitle} %{{y:.4g}}<extra></extra>"),
            row=1, col=i)
        fig.update_xaxes(title=xtitle, row=1, col=i)
        fig.update_yaxes(title=ytitle, row=1, col=i)
    return _layout(fig, height=400)


def prediction_check_figure(check: pd.DataFrame, spec: CampaignSpec) -> go.Figure:
    """Stored predictions (± 90 % interval) against what the lab measured, per objective;
    red points fell outside their 90 % interval."""
    return _parity_panels(check, [t.name for t in spec.objectives], xcol="predicted",
                          ycol="measured", err="predicted_std", xtitle="predicted",
                          ytitle="measured", low="predicted_low", high="predicted_high")


def parity_figure(parity: pd.DataFrame, targets: Sequence[str]) -> go.Figure:
    """Cross-validated parity: held-out prediction (± 90 % interval) against measurement."""
    frame = parity.copy()
    z = (frame["y_true"] - frame["mean"]) / frame["std"].where(frame["std"] > 0)
    frame["inside_90"] = z.abs() <= Z90
    if {"low", "high"} <= set(frame.columns):  # interval ends (bounded targets: asymmetric)
        ends = frame["low"].notna() & frame["high"].notna()
        frame.loc[ends, "inside_90"] = frame["y_true"].between(frame["low"], frame["high"])[ends]
    return _parity_panels(frame, targets, xcol="mean", ycol="y_true", err="std",
                          xtitle="predicted (held out)", ytitle="measured")


# --- insight -----------------------------------------------------------------------------------
def partial_dependence_figure(pdp: pd.DataFrame, observed: pd.DataFrame, target: str,
                              features: Sequence[str], *, columns: int = 3) -> go.Figure:
    """Small multiples: the target against each input (mean and 95 % band, within the target's
    bounds), measured wells behind.

    Args:
        pdp: From :func:`planner.reports.insight.partial_dependence`.
        observed: The training rows (inputs and targets) drawn as light points.
        target: The target on the y axes.
        features: Inputs, one panel each.
        columns: Panels per row.
    """
    features = [f for f in features if f in set(pdp["feature"])]
    nrows = max(1, math.ceil(len(features) / columns))
    fig = make_subplots(rows=nrows, cols=columns, subplot_titles=[label(f) for f in features],
                        horizontal_spacing=0.07, vertical_spacing=0.16 if nrows > 1 else 0.1,
                        shared_yaxes=True)
    legend = (("measured wells", {"mode": "markers", "marker": {"color": MUTED, "size": 7}}),
              ("model mean", {"mode": "lines", "line": {"color": PALETTE[0], "width": 3}}),
              ("95 % band", {"mode": "lines", "line": {"color": BAND, "width": 10}}))
    for name, style in legend:  # one legend entry each, whatever the panels hold
        fig.add_trace(go.Scatter(x=[None], y=[None], name=name, hoverinfo="skip", **style),
                      row=1, col=1)
    quiet = {"showlegend": False, "hoverinfo": "skip"}
    for k, feature in enumerate(features):
        r, c = k // columns + 1, k % columns + 1
        cur = pdp[(pdp["feature"] == feature) & (pdp["target"] == target)]
        if cur["level"].notna().any():
            fig.add_trace(go.Scatter(
                x=observed[feature].astype(str), y=observed[target], mode="markers",
                marker={"color": MUTED, "size": 5, "opacity": 0.5}, **quiet), row=r, col=c)
            fig.add_trace(go.Scatter(
                x=cur["level"], y=cur["mean"], mode="markers", showlegend=False,
                error_y=interval_bars(cur, "mean", "lower", "upper", thickness=2,
                                      color=PALETTE[0]),
                marker={"color": PALETTE[0], "size": 10},
                hovertemplate=f"%{{x}}<br>{label(target)} %{{y:.4g}}<extra></extra>"),
                row=r, col=c)
            fig.update_xaxes(type="category", categoryorder="array",
                             categoryarray=list(cur["level"]), row=r, col=c)
            continue
        fig.add_trace(go.Scatter(
            x=observed[feature], y=observed[target], mode="markers",
            marker={"color": MUTED, "size": 4, "opacity": 0.55}, **quiet), row=r, col=c)
        fig.add_trace(go.Scatter(
            x=np.concatenate([cur["value"], cur["value"][::-1]]),
            y=np.concatenate([cur["upper"], cur["lower"][::-1]]), fill="toself",
            fillcolor=BAND, line={"width": 0}, **quiet), row=r, col=c)
        fig.add_trace(go.Scatter(
            x=cur["value"], y=cur["mean"], mode="lines", showlegend=False,
            line={"color": PALETTE[0], "width": 3},
            hovertemplate=f"{label(feature)} %{{x:.4g}}<br>{label(target)} %{{y:.4g}}"
                          "<extra></extra>"), row=r, col=c)
    fig.update_yaxes(title=label(target), col=1)
    _layout(fig, height=300 * nrows + 90)
    fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.04, "x": 0.0},
                      margin={"t": 70})
    return fig


def importance_figure(importance: pd.DataFrame, target: str) -> go.Figure:
    """Permutation importance (drop in held-out R² when an input is shuffled), largest on top."""
    rows = importance[importance["target"] == target].sort_values("importance")
    fig = go.Figure(go.Bar(
        x=rows["importance"], y=[label(f) for f in rows["feature"]], orientation="h",
        error_x={"type": "data", "array": rows["importance_std"].fillna(0.0), "thickness": 1.5},
        marker={"color": PALETTE[0]}, hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_xaxes(title=f"Drop in held-out R² of {label(target)} when shuffled")
    return _layout(fig, height=120 + 34 * max(1, len(rows)))

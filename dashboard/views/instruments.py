"""Instrument fits: d002, Lc, La and ID/IG from raw XRD patterns and Raman spectra.

The page fits dropped files on the spot (nothing is stored) and lists the campaign's values that
came from instrument files, with their provenance. :func:`instrument_upload` is the Upload
page's section for a zip of per-well files; :func:`fit_figure` draws one fit (data, background,
each band, the total, and the residual below).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from campaigns.errors import CampaignError, IngestError
from campaigns.instruments import Characterization, CharacterizeSettings, characterize
from campaigns.instruments.upload import preview_instrument_upload, provenance_of
from dashboard import tables
from dashboard.common import (
    CampaignData,
    api,
    clear_caches,
    load,
    render,
    require_campaign,
    selected_campaign,
    show_error,
    store,
)

FILE_TYPES = ["xy", "csv", "txt", "dat", "asc", "xye", "xrdml", "brml", "raw", "rasx", "wdf"]
BAND_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"]
_KEYS = {"d002_nm": ("d002 [nm]", "{:.4f}"), "lc_nm": ("Lc [nm]", "{:.3f}"),
         "la_nm": ("La [nm]", "{:.3f}"), "id_ig": ("ID/IG [-]", "{:.3f}")}


def fit_figure(c: Characterization, *, title: str | None = None) -> go.Figure:
    """Data, background, each band (on the background), the total fit, and the residual."""
    curves = c.curves
    x = list(map(float, curves["x"]))
    background = pd.Series(curves["background"], dtype=float)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25],
                        vertical_spacing=0.04)
    fig.add_trace(go.Scatter(x=x, y=list(curves["data"]), mode="markers", name="data",
                             marker={"size": 3, "color": "#7f7f7f"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=background.tolist(), mode="lines", name="background",
                             line={"dash": "dash", "color": "#444"}), row=1, col=1)
    for i, (band, values) in enumerate(curves["components"].items()):
        fig.add_trace(go.Scatter(x=x, y=(background + pd.Series(values, dtype=float)).tolist(),
                                 mode="lines", name=band,
                                 line={"color": BAND_COLOURS[i % len(BAND_COLOURS)]}),
                      row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=list(curves["fit"]), mode="lines", name="fit",
                             line={"color": "#ff7f0e", "width": 2}), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=list(curves["residual"]), mode="lines", name="residual",
                             line={"color": "#7f7f7f"}, showlegend=False), row=2, col=1)
    fig.update_yaxes(title_text="intensity", row=1, col=1)
    fig.update_yaxes(title_text="residual", row=2, col=1)
    fig.update_xaxes(title_text=c.x_label, row=2, col=1)
    fig.update_layout(title=title or c.name, height=480, margin={"t": 80, "b": 40},
                      legend={"orientation": "h", "y": 1.08})
    return fig


def values_frame(fits: list[tuple[str, Characterization]]) -> pd.DataFrame:
    """One row per file: well (or file), kind, each descriptor as ``value ± std``, warnings."""
    rows = []
    for who, c in fits:
        row: dict[str, Any] = {"": who, "file": c.name, "kind": c.kind.upper() if c.kind == "xrd"
                               else "Raman"}
        for key, (label, fmt) in _KEYS.items():
            value, std = c.values.get(key, math.nan), c.stds.get(key, math.nan)
            row[label] = "" if not math.isfinite(value) else (
                fmt.format(value) + (f" ± {std:.2g}" if math.isfinite(std) else ""))
        row["R²"] = f"{c.statistics['r_squared']:.4f}"
        row["warnings"] = " · ".join(c.warnings)
        rows.append(row)
    return pd.DataFrame(rows)


def settings_form(prefix: str) -> CharacterizeSettings | None:
    """The fit settings as widgets (defaults: Cu Kα from the file, K 0.89/1.84, D+G pseudo-Voigt,
    ID/IG from heights); ``None`` with the error shown when a value is out of range."""
    with st.expander("Fit settings"):
        cols = st.columns(4)
        wl = cols[0].number_input("Wavelength [nm] (0 = the file's, else Cu Kα 0.15406)",
                                  min_value=0.0, max_value=0.3, value=0.0, step=0.0001,
                                  format="%.5f", key=f"{prefix}_wl")
        k_lc = cols[1].number_input("K for Lc", min_value=0.89, max_value=0.94, value=0.89,
                                    step=0.01, key=f"{prefix}_klc")
        inst = cols[2].number_input("Instrument FWHM [°2θ]", min_value=0.0, max_value=1.99,
                                    value=0.0, step=0.01, key=f"{prefix}_inst")
        background = cols[3].selectbox("XRD background", ["linear", "quadratic"],
                                       key=f"{prefix}_bg")
        cols = st.columns(3)
        bands = cols[0].selectbox("Raman bands", ["DG", "DG+D3D4"], key=f"{prefix}_bands",
                                  help="DG+D3D4 adds the D3 and D4 bands of disordered carbons.")
        shape = cols[1].selectbox("D and G shape", ["pseudo-voigt", "lorentzian", "voigt"],
                                  key=f"{prefix}_shape")
        ratio = cols[2].selectbox("ID/IG from", ["intensity", "area"], key=f"{prefix}_ratio",
                                  format_func=lambda r: "peak heights" if r == "intensity"
                                  else "band areas")
    try:
        return CharacterizeSettings(wavelength_nm=wl or None, k_lc=k_lc,
                                    instrument_fwhm_deg=inst, xrd_background=background,
                                    raman_bands=bands, raman_shape=shape, raman_ratio=ratio)
    except CampaignError as exc:
        show_error(exc)
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def _characterize(sha: str, name: str, kind: str | None, settings: dict[str, Any],
                  _raw: bytes) -> Characterization | CampaignError:
    try:
        return characterize(_raw, name=name, kind=kind,
                            settings=CharacterizeSettings.from_dict(settings))
    except CampaignError as exc:
        return exc


@st.cache_data(show_spinner=False, max_entries=8)
def _preview(key: tuple, files_sha: str, files_name: str, sheet_sha: str | None,
             sheet_name: str | None, batch_id: int | None, settings: dict[str, Any],
             _files: bytes, _sheet: bytes | None) -> Any:
    try:
        return preview_instrument_upload(
            store(), key[1], _files, files_name=files_name, sheet=_sheet,
            sheet_name=sheet_name or "plate sheet", batch_id=batch_id,
            settings=CharacterizeSettings.from_dict(settings))
    except CampaignError as exc:
        return exc


def _problems(exc: CampaignError) -> None:
    st.error(f"**{exc}**" if not isinstance(exc, IngestError) else
             f"**Rejected: {sum(p.severity == 'error' for p in exc.problems)} error(s). Nothing "
             "was stored.**")
    if isinstance(exc, IngestError):
        st.info(f"**Hint:** {exc.hint}" if exc.hint else "Fix every file listed.")
        frame = tables.problems_frame(exc.problems)
        frame.index = pd.RangeIndex(1, len(frame) + 1)
        st.dataframe(frame, width="stretch", height=min(480, 38 + 35 * len(frame)))
    elif exc.hint:
        st.info(f"**Hint:** {exc.hint}")


def _fit_browser(fits: list[tuple[str, Characterization]], key: str) -> None:
    if not fits:
        return
    labels = [f"{who} · {c.name}" if who != c.name else c.name for who, c in fits]
    i = st.selectbox("Show the fit of", range(len(fits)), format_func=lambda j: labels[j],
                     key=key)
    who, c = fits[i]
    st.plotly_chart(fit_figure(c, title=labels[i]), width="stretch")
    st.caption(c.method)


def instrument_upload(data: CampaignData, zipped: Any, *, sheet: Any,
                      batch_id: int | None) -> None:
    """The Upload page's section for a zip of per-well instrument files (with the sheet, if
    one was dropped too): fit, show every problem or every fit, store after confirming."""
    settings = settings_form("upload_fit")
    if settings is None:
        return
    raw = zipped.getvalue()
    sheet_raw = sheet.getvalue() if sheet is not None else None
    with st.spinner(f"Fitting the files in {zipped.name} …"):
        preview = _preview(data.key, hashlib.sha256(raw).hexdigest(), zipped.name,
                           None if sheet_raw is None else hashlib.sha256(sheet_raw).hexdigest(),
                           None if sheet is None else sheet.name, batch_id,
                           settings.as_dict(), raw, sheet_raw)
    if isinstance(preview, CampaignError):
        _problems(preview)
        return
    what = f"{zipped.name}" + (f" with {sheet.name}" if sheet is not None else "")
    st.success(f"**{what} is valid:** {len(preview.files)} file(s) fitted, "
               f"{len(preview.parsed.records)} value(s) for plate {preview.batch_id}. Nothing is "
               "stored until you confirm.")
    if preview.parsed.warnings:
        with st.expander(f"{len(preview.parsed.warnings)} warning(s)"):
            st.dataframe(tables.problems_frame(preview.parsed.warnings), width="stretch")
    fits = [(f.well, f.characterization) for f in preview.files]
    st.dataframe(values_frame(fits), hide_index=True, width="stretch")
    if st.button("Store these results", type="primary", key="commit_instruments"):
        outcome = api().campaign(data.name).upload_instruments(
            raw, files_name=zipped.name, sheet=sheet_raw,
            sheet_name=None if sheet is None else sheet.name, batch=preview.batch_id,
            settings=settings)
        clear_caches()
        r = outcome.result
        st.session_state["upload_result"] = {
            "filename": preview.parsed.filename, "batch_id": r.batch_id, "n_new": r.n_new,
            "n_superseding": r.n_superseding, "n_unchanged": r.n_unchanged,
            "already": r.already_uploaded, "status": r.batch_status,
            "wells": list(r.changed_wells)}
        st.session_state["upload_generation"] = st.session_state.get("upload_generation", 0) + 1
        st.rerun()
    _fit_browser(fits, "upload_fit_shown")


def stored_frame(measurements: pd.DataFrame) -> pd.DataFrame:
    """The campaign's values that came from instrument files, with their fit's provenance."""
    rows = []
    for m in measurements.itertuples(index=False):
        prov = provenance_of(getattr(m, "note", None))
        if prov is None:
            continue
        std = prov.get("std")
        rows.append({"Plate": m.batch_id, "Well": m.well, "Quantity": m.quantity,
                     "Value": m.value, "± std": std, "File": prov.get("file"),
                     "File SHA-256": str(prov.get("sha256", ""))[:12] + "…",
                     "Upload": m.source_file, "Method": prov.get("method", "")})
    return pd.DataFrame(rows, columns=["Plate", "Well", "Quantity", "Value", "± std", "File",
                                       "File SHA-256", "Upload", "Method"])


def body() -> None:
    st.title("Instrument fits")
    st.markdown("Drop XRD patterns or Raman spectra (two-column text, XRDML, BRML, Bruker RAW, "
                "RASX or Renishaw WDF) to see d002, Lc, La and ID/IG with their uncertainty and "
                "each fit. **Nothing is stored here**: to fill a plate, drop a zip of files named "
                "by well (A1.xy, B03_raman.txt) on **Upload results**.")
    kind = st.radio("Kind", ["guess", "xrd", "raman"], horizontal=True, key="fit_kind",
                    format_func=lambda k: {"guess": "guess from the file", "xrd": "XRD",
                                           "raman": "Raman"}[k])
    settings = settings_form("page_fit")
    uploads = st.file_uploader("Patterns and spectra", type=FILE_TYPES,
                               accept_multiple_files=True, key="fit_files")
    if settings is not None and uploads:
        fits: list[tuple[str, Characterization]] = []
        with st.spinner("Fitting …"):
            for up in uploads:
                raw = up.getvalue()
                got = _characterize(hashlib.sha256(raw).hexdigest(), up.name,
                                    None if kind == "guess" else kind, settings.as_dict(), raw)
                if isinstance(got, CampaignError):
                    _problems(got)
                else:
                    fits.append((up.name, got))
        if fits:
            st.dataframe(values_frame(fits).drop(columns=[""]), hide_index=True,
                         width="stretch")
            _fit_browser(fits, "page_fit_shown")
    if selected_campaign():
        data = load(require_campaign())
        stored = stored_frame(data.measurements())
        st.subheader(f"Values of {data.name} derived from instrument files")
        if stored.empty:
            st.caption("None yet.")
        else:
            st.dataframe(stored, hide_index=True, width="stretch")


if __name__ == "__main__":
    render(body)

"""``planner characterize``: d002, Lc, La and ID/IG from raw XRD patterns and Raman spectra.

Also the fit-setting options that ``planner data instruments`` shares, and the table both print.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from planner.cli._common import console, err_console, report_errors

KindOpt = Annotated[str | None, typer.Option(
    "--kind", help="xrd or raman (default: guessed from the file format, else from the axis "
    "range: 2θ 5–90° or Raman shift 500–3500 cm⁻¹).", show_default=False)]
WavelengthOpt = Annotated[float | None, typer.Option(
    "--wavelength-nm", help="X-ray wavelength in nm (default: the file's, else Cu Kα1 0.15406).",
    show_default=False)]
KlcOpt = Annotated[float, typer.Option("--k-lc", help="Scherrer constant for Lc (0.89–0.94).")]
KlaOpt = Annotated[float, typer.Option("--k-la", help="Scherrer constant for La.")]
InstrumentFwhmOpt = Annotated[float, typer.Option(
    "--instrument-fwhm-deg", help="Instrumental broadening, FWHM in °2θ of a line standard "
    "(LaB6, Si); removed in quadrature.")]
BackgroundOpt = Annotated[str, typer.Option(
    "--xrd-background", help="auto (linear, or linear + low-angle exponential where the data "
    "need it), linear, quadratic or exponential.")]
BandsOpt = Annotated[str, typer.Option(
    "--raman-bands", help="DG, or DG+D3D4 for disordered carbons (four-band fit).")]
ShapeOpt = Annotated[str, typer.Option(
    "--raman-shape", help="Line shape of D and G: pseudo-voigt (Lorentzian fraction fitted), "
    "lorentzian or voigt.")]
RatioOpt = Annotated[str, typer.Option(
    "--raman-ratio", help="What ID/IG means: intensity (ratio of fitted heights) or area.")]

#: Columns of the table: value key, header, format.
_ROWS = (("d002_nm", "d002 [nm]", "{:.4f}"), ("lc_nm", "Lc [nm]", "{:.3f}"),
         ("la_nm", "La [nm]", "{:.3f}"), ("id_ig", "ID/IG [-]", "{:.3f}"),
         ("id_ig_intensity", "ID/IG [-] (heights)", "{:.3f}"),
         ("id_ig_area", "ID/IG [-] (areas)", "{:.3f}"),
         ("two_theta_002_deg", "2θ(002) [°]", "{:.3f}"), ("fwhm_002_deg", "FWHM(002) [°]",
                                                          "{:.3f}"),
         ("two_theta_10_deg", "2θ(10) [°]", "{:.3f}"), ("fwhm_10_deg", "FWHM(10) [°]", "{:.3f}"),
         ("d_center_cm", "D position [cm⁻¹]", "{:.1f}"), ("g_center_cm", "G position [cm⁻¹]",
                                                          "{:.1f}"),
         ("d_fwhm_cm", "D FWHM [cm⁻¹]", "{:.1f}"), ("g_fwhm_cm", "G FWHM [cm⁻¹]", "{:.1f}"))


def make_settings(*, wavelength_nm: float | None, k_lc: float, k_la: float,
                  instrument_fwhm_deg: float, xrd_background: str, raman_bands: str,
                  raman_shape: str, raman_ratio: str) -> Any:
    """The flags as :class:`campaigns.instruments.CharacterizeSettings` (validated there)."""
    from campaigns.instruments import CharacterizeSettings

    return CharacterizeSettings(wavelength_nm=wavelength_nm, k_lc=k_lc, k_la=k_la,
                                instrument_fwhm_deg=instrument_fwhm_deg,
                                xrd_background=xrd_background, raman_bands=raman_bands,
                                raman_shape=raman_shape, raman_ratio=raman_ratio)


def _std(std: float) -> str:
    return f"{std:.2g}" if math.isfinite(std) else "–"


def print_characterization(c: Any, *, title: str | None = None) -> None:
    """One file's values ± standard deviation, method and warnings, as a table."""
    table = Table(title=escape(title or f"{c.name} ({'XRD' if c.kind == 'xrd' else 'Raman'}, "
                               f"{c.format})"), header_style="bold", title_justify="left")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("± std", justify="right")
    chosen = c.settings.get("raman_ratio", "intensity")
    for key, label, fmt in _ROWS:
        value = c.values.get(key)
        if value is None or (c.kind == "raman" and key == f"id_ig_{chosen}"):
            continue
        if key == "id_ig":
            label = f"ID/IG [-] ({'heights' if chosen == 'intensity' else 'areas'})"
        table.add_row(escape(label), fmt.format(value) if math.isfinite(value) else "–",
                      _std(c.stds.get(key, math.nan)))
    console.print(table)
    stats = c.statistics
    console.print(f"  {c.method}. R² {stats['r_squared']:.4f}, {stats['n_points']} points.",
                  highlight=False, markup=False)
    for w in c.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(c.name)}: {escape(w)}",
                          highlight=False)


def characterize(
    files: Annotated[list[Path], typer.Argument(
        help="XRD patterns and Raman spectra: two-column text (.xy, .csv, .txt), XRDML, BRML, "
        "Bruker RAW v4, RASX or Renishaw WDF.", show_default=False)],
    kind: KindOpt = None,
    wavelength_nm: WavelengthOpt = None,
    k_lc: KlcOpt = 0.89,
    k_la: KlaOpt = 1.84,
    instrument_fwhm_deg: InstrumentFwhmOpt = 0.0,
    xrd_background: BackgroundOpt = "auto",
    raman_bands: BandsOpt = "DG",
    raman_shape: ShapeOpt = "pseudo-voigt",
    raman_ratio: RatioOpt = "intensity",
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Also write the values, their standard deviations, the settings and the "
        "fits (curves included) to this JSON file.", show_default=False)] = None,
) -> None:
    """Derive d002, Lc and La from XRD patterns and ID/IG from Raman spectra, with uncertainties.

    Each file is fitted with lmfit: XRD (002) and (10) bands (pseudo-Voigt) on a background,
    Bragg's law for d002, Scherrer for Lc and La; Raman D and G bands (and D3, D4 with
    --raman-bands DG+D3D4) on a linear background. Values are printed ± one standard deviation
    from the fit's covariance. A file that cannot be read or fitted is reported and the others
    go on; the exit code is then 2.
    """
    from campaigns.errors import CampaignError, IngestError
    from campaigns.instruments import characterize as run

    settings = make_settings(wavelength_nm=wavelength_nm, k_lc=k_lc, k_la=k_la,
                             instrument_fwhm_deg=instrument_fwhm_deg,
                             xrd_background=xrd_background, raman_bands=raman_bands,
                             raman_shape=raman_shape, raman_ratio=raman_ratio)
    results: dict[str, Any] = {}
    failed: dict[str, dict[str, Any]] = {}
    for path in files:
        try:
            c = run(path, kind=kind, settings=settings)
        except IngestError as exc:
            for p in exc.problems:
                mark = "[bold red]Error:[/]" if p.severity == "error" else "[yellow]warning:[/]"
                err_console.print(f"{mark} {escape(str(p))}", highlight=False)
            failed[path.name] = {"error": str(exc), "hint": exc.hint}
            continue
        except CampaignError as exc:
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
            if exc.hint:
                err_console.print(f"[yellow]Hint:[/] {escape(exc.hint)}", highlight=False)
            failed[path.name] = {"error": str(exc), "hint": exc.hint}
            continue
        print_characterization(c)
        key = path.name if path.name not in results else str(path)
        results[key] = c
    if json_out is not None:
        payload = {"files": {name: {**c.summary(), "kind": c.kind, "fit": c.to_json()}
                             for name, c in results.items()},
                   "errors": failed, "settings": settings.as_dict()}
        try:
            json_out.write_text(json.dumps(payload, indent=1, allow_nan=False), encoding="utf-8")
        except OSError as exc:
            raise CampaignError(f"cannot write {json_out}: {exc.strerror}.",
                                hint="Check the folder exists and is writable.") from None
        console.print(f"Wrote {json_out} ({len(results)} file(s)).")
    if failed:
        raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    """Add ``planner characterize`` to the top-level app."""
    app.command("characterize")(report_errors(characterize))

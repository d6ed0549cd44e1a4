"""One call from instrument file to descriptors: read, tell XRD from Raman, fit.

Example:
    >>> import numpy as np
    >>> from campaigns.instruments.synthetic import xrd_pattern
    >>> data = xrd_pattern(d002_nm=0.38, lc_nm=1.2, la_nm=4.0, noise=0.0)
    >>> c = characterize(data, name="A1.xy")
    >>> c.kind, round(c.values["d002_nm"], 3)
    ('xrd', 0.38)
"""

from __future__ import annotations

import logging
from pathlib import Path

from campaigns.errors import CampaignError
from campaigns.instruments.fit import Characterization
from campaigns.instruments.raman import fit_raman
from campaigns.instruments.readers import Spectrum, file_error, read_spectrum
from campaigns.instruments.settings import CharacterizeSettings
from campaigns.instruments.xrd import fit_xrd
from campaigns.limits import Limits

logger = logging.getLogger(__name__)

KINDS = ("xrd", "raman")
"""What an instrument file holds: an XRD pattern or a Raman spectrum."""
_KIND_HINT = ("Give the kind (--kind xrd or --kind raman; on the dashboard, choose it), or name "
              "the file with 'xrd' or 'raman' in it.")


def guess_kind(spectrum: Spectrum) -> str:
    """``xrd`` or ``raman`` from the format, else from the axis range.

    An XRD pattern runs over 2θ within 0–180° (labs scan 5–90°); a Raman spectrum over Raman
    shifts of hundreds to thousands of cm⁻¹ that include the D and G bands (1350, 1590).

    Raises:
        InstrumentFileError: The range fits neither.
    """
    if spectrum.kind is not None:
        return spectrum.kind
    lo, hi = float(spectrum.x.min()), float(spectrum.x.max())
    if 0 <= lo and hi <= 180:
        return "xrd"
    if lo <= 1300 and hi >= 1650:
        return "raman"
    raise file_error(spectrum.name, f"the axis runs from {lo:g} to {hi:g}, which is neither 2θ "
                     "(0–180°) nor a Raman shift over the D and G bands (1350–1590 cm⁻¹).",
                     _KIND_HINT, value=f"{lo:g}–{hi:g}")


def characterize(data: bytes | Path | str, *, name: str | None = None, kind: str | None = None,
                 settings: CharacterizeSettings | None = None,
                 limits: Limits | None = None) -> Characterization:
    """Derive d002, Lc and La (XRD) or ID/IG (Raman) from one raw instrument file.

    Args:
        data: The file's bytes, or its path.
        name: File name for messages and the result (default: the path's name); its suffix
            picks a vendor reader (``.xrdml``, ``.wdf`` …).
        kind: ``xrd`` or ``raman``; ``None`` guesses it (:func:`guess_kind`).
        settings: Fit settings (default :class:`CharacterizeSettings`).
        limits: Size limits (default :func:`campaigns.limits.current`).

    Returns:
        Values, their standard deviations, the settings and the fit (JSON-safe through
        :meth:`Characterization.to_json`).

    Raises:
        InstrumentFileError: The file cannot be read, its kind cannot be told, or the fit fails;
            the message names the file, and the line and value where there is one.
        CampaignError: A path that cannot be read, or an unknown ``kind``.
    """
    if isinstance(data, (str, Path)):
        path = Path(data)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CampaignError(f"cannot read {path}: {exc.strerror}.",
                                hint="Check the path.") from None
        name = name or path.name
    else:
        raw = data
        name = name or "upload"
    if kind is not None and kind not in KINDS:
        raise CampaignError(f"kind {kind!r} is not one of {', '.join(KINDS)}.",
                            hint="Use xrd for X-ray diffraction, raman for Raman spectra.")
    settings = settings or CharacterizeSettings()
    spectrum = read_spectrum(raw, name=name, limits=limits)
    if kind is not None and spectrum.kind is not None and kind != spectrum.kind:
        raise file_error(name, f"this is a {spectrum.format} file, which holds "
                         f"{'an XRD pattern' if spectrum.kind == 'xrd' else 'a Raman spectrum'}"
                         f", not {'an XRD pattern' if kind == 'xrd' else 'a Raman spectrum'}.",
                         f"Give --kind {spectrum.kind}, or leave the kind out.")
    kind = kind or guess_kind(spectrum)
    return fit_xrd(spectrum, settings) if kind == "xrd" else fit_raman(spectrum, settings)


__all__ = ["KINDS", "characterize", "guess_kind"]

"""Descriptors from the instrument: d002, Lc and La from XRD patterns, ID/IG from Raman spectra.

``characterize(data, name=...)`` reads one raw file (two-column text or a vendor format), tells
an XRD pattern from a Raman spectrum, fits it with lmfit and returns a
:class:`Characterization`: values with their fit uncertainty, the settings, the fit and the
curves for a plot. :mod:`campaigns.instruments.upload` turns a zip of per-well files into
campaign measurements through the store's ordinary write path.
"""

from campaigns.instruments.characterize import KINDS, characterize, guess_kind
from campaigns.instruments.fit import REGISTRY_COLUMNS, Characterization
from campaigns.instruments.readers import InstrumentFileError, Spectrum, read_spectrum
from campaigns.instruments.settings import CU_K_ALPHA_NM, CharacterizeSettings, SettingsError

__all__ = ["CU_K_ALPHA_NM", "Characterization", "CharacterizeSettings", "InstrumentFileError",
           "KINDS", "REGISTRY_COLUMNS", "SettingsError", "Spectrum", "characterize",
           "guess_kind", "read_spectrum"]

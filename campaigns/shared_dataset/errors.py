"""Errors of the shared dataset. All derive from :class:`campaigns.errors.CampaignError`."""

from __future__ import annotations

from campaigns.errors import CampaignError, Problem


class UnitError(CampaignError):
    """A declared unit is unknown or cannot be converted to the registry unit."""


class PackageError(CampaignError):
    """A data package was refused; nothing was stored. ``problems`` lists every problem found.

    Each problem names the resource and row (header = row 1), the field, the value and why it
    was refused, like an upload report.
    """

    exit_code = 2

    def __init__(self, message: str, *, problems: list[Problem], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems


class SourceConflictError(CampaignError):
    """A package would replace the metadata (title, licence, citation) of a source pulled from
    another origin; nothing was stored."""

    exit_code = 2


class LicenceError(CampaignError):
    """A licence identifier is not one the planner can describe (FAIR data need a licence URL)."""

"""Errors raised by the planner. Every public error derives from :class:`PlanningError`."""

from __future__ import annotations


class PlanningError(Exception):
    """Root of every planner error; carries an optional ``hint`` a chemist can act on."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NoDataError(PlanningError):
    """A model-based step was asked for but the campaign has no usable measurements."""


class PlanningWarning(UserWarning):
    """A soft problem during planning (a fallback was used); recorded on the batch."""

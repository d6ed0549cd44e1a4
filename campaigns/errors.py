"""Errors raised by the campaigns package.

Every public error derives from :class:`CampaignError`.
"""

from __future__ import annotations

from dataclasses import dataclass


class CampaignError(Exception):
    """Root of every campaigns error; carries an optional ``hint`` a chemist can act on."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class SpecError(CampaignError):
    """A campaign spec (YAML or object) is invalid; ``problems`` lists every field at fault."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems or []


class NotFoundError(CampaignError):
    """A campaign, batch or well named by the user does not exist."""


class StoreError(CampaignError):
    """The database could not be opened, migrated or written."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an uploaded file.

    Rows are numbered as a person sees them in a spreadsheet: the header is row 1, the first data
    row is row 2. ``row`` is ``None`` for problems with the file or a whole column.
    """

    row: int | None
    """Spreadsheet row number (header = 1), or ``None`` for file/column problems."""
    column: str | None
    """Column header as written in the file, or ``None``."""
    value: str | None
    """The offending value as text, or ``None``."""
    message: str
    """What is wrong and what was expected."""
    hint: str | None = None
    """What to do about it."""
    severity: str = "error"
    """``"error"`` rejects the file; ``"warning"`` is reported but accepted."""

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"Row {self.row}")
        if self.column is not None:
            where.append(f'column "{self.column}"')
        head = ", ".join(where)
        text = f"{head}: " if head else ""
        if self.value is not None:
            text += f"{self.value!r}: "
        text += self.message
        if self.hint:
            text += f" Hint: {self.hint}"
        return text


class IngestError(CampaignError):
    """An uploaded plate file was rejected; nothing was stored. ``problems`` lists all of them."""

    exit_code = 2

    def __init__(self, message: str, *, problems: list[Problem], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems


class CampaignWarning(UserWarning):
    """A soft problem with campaign data (a value outside its typical range, ...)."""

"""Errors raised by surrogates. Every public error derives from :class:`SurrogateError`."""

from __future__ import annotations


class SurrogateError(Exception):
    """Root of every surrogate error; carries an optional ``hint``."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotFittedError(SurrogateError, ValueError):
    """``predict``/``to_botorch`` was called before ``fit``."""


class SurrogateFitWarning(UserWarning):
    """Fitting needed a fallback (jitter, retries, a simpler kernel); recorded on the model."""


class InputDataWarning(UserWarning):
    """The training data has a soft problem (rows excluded, constant target, ...)."""


class InputDataError(SurrogateError, ValueError):
    """The data handed to a surrogate is unusable as given (unknown column, text in a numeric
    column, unseen category level, too few rows). The message names the column and the value."""

    exit_code = 2

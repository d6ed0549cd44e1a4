"""Progress of a long proposal: which stage it is in, and which well of the plate.

A proposal runs for seconds to minutes (a 96-well plate: fit, then one acquisition optimization
per well). The code that does the work reports where it is with :func:`report`; whoever waits —
the dashboard's progress bar, the CLI's rich bar — listens with :func:`listening`. Nothing is
passed down through the call chain: the listener lives in a :class:`contextvars.ContextVar`, so
it follows the thread (and asyncio task) that started the proposal, and a proposal with nobody
listening pays one context-variable lookup per report.

Example:
    >>> seen = []
    >>> with listening(lambda step: seen.append((step.stage, step.done, step.total))):
    ...     report("fit", 0, 1)
    ...     report("wells", 3, 92)
    >>> seen
    [('fit', 0, 1), ('wells', 3, 92)]
    >>> report("wells", 4, 92)          # nobody listens: nothing happens
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Stages a proposal reports, in the order they happen, with the words a page shows for them.
STAGES: dict[str, str] = {
    "data": "reading the campaign's data",
    "select": "choosing the model by cross-validation",
    "fit": "fitting the model",
    "feasibility": "fitting the synthesis-feasibility model",
    "screen": "screening the library",
    "first": "optimizing the first wells",
    "wells": "choosing wells",
    "save": "saving the plate",
}


@dataclass(frozen=True)
class Step:
    """One progress report."""

    stage: str
    """A key of :data:`STAGES` (other names are shown as they are)."""
    done: int
    """Units of this stage finished (wells chosen, rows screened ...)."""
    total: int | None
    """Units in this stage, when known."""

    @property
    def label(self) -> str:
        """What a person reads: ``choosing wells: 12 of 92``."""
        words = STAGES.get(self.stage, self.stage)
        if self.total:
            return f"{words}: {self.done:,} of {self.total:,}"
        return words

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or ``None`` when the total is unknown."""
        if not self.total:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


Listener = Callable[[Step], None]
_listener: contextvars.ContextVar[Listener | None] = contextvars.ContextVar(
    "planner_progress_listener", default=None
)


def report(stage: str, done: int = 0, total: int | None = None) -> None:
    """Tell whoever listens that the proposal is at ``done`` of ``total`` in ``stage``.

    A listener that raises does not stop the proposal: its error is logged and it is dropped
    for the rest of this context.
    """
    listener = _listener.get()
    if listener is None:
        return
    try:
        listener(Step(stage, int(done), None if total is None else int(total)))
    except Exception:  # noqa: BLE001 - a broken progress bar must not cost the plate
        logger.warning("progress listener failed; progress is no longer reported",
                       exc_info=True)
        _listener.set(None)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener(step)`` for every :func:`report` made inside the ``with`` block."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)

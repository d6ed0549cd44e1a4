"""The Dask worker plugin of :class:`planner.engine.DaskEngine`, in its own module so that
importing the planner never imports Dask (which configures its own loggers on import)."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class PinThreads(WorkerPlugin):
    """torch, OpenMP and BLAS on one thread in every worker process (registered by each
    :class:`~planner.engine.DaskEngine` client, so a lab's own cluster is pinned too)."""

    idempotent = True
    name = "planner-pin-threads"

    def setup(self, worker: Any) -> None:
        """Pin this worker's process."""
        from planner.engine import pin_threads

        pin_threads()

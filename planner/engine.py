"""Where the heavy, independent pieces of planning run: this process or a Dask cluster.

Two kinds of work split into independent tasks: scoring the chunks of a big candidate library
(stage 1 of the screening funnel, :mod:`planner.funnel`) and the seeds of a backtest. An
:class:`Engine` runs such tasks:

* :class:`LocalEngine` (``--engine local``, the default): in this process, one after the other.
* :class:`DaskEngine` (``--engine dask``): on Dask distributed. With a scheduler address
  (``--scheduler tcp://HOST:PORT``) it joins a lab's cluster; without one it starts a
  ``LocalCluster`` on the loopback interface (one worker process per core, one thread each).
  Every worker pins torch and BLAS to one thread (``planner._dask.PinThreads``), so parallel
  tasks do not oversubscribe the cores. Scheduling, data transfer, retries and worker management
  are Dask's.

A proposal finds its engine with :func:`current_engine`; the CLI and the Python API set it for a
block of code with :func:`use_engine`, so no planning function grows an engine argument::

    with use_engine(make_engine("dask")) as engine:
        proposal = propose_plate(snapshot, seed=7)     # stage 1 runs on the cluster
    engine.close()
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from planner.errors import PlanningError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
ENGINES = ("local", "dask")
"""Engine names of ``--engine``."""


class EngineError(PlanningError):
    """The engine could not be started or reached."""


class Engine(Protocol):
    """Runs independent tasks ``fn(shared, item)`` and yields their results."""

    name: str
    """``local`` or ``dask``."""

    def imap(self, fn: Callable[[Any, T], R], items: Iterable[T], *, shared: Any = None,
             ordered: bool = True) -> Iterator[R]:
        """``fn(shared, item)`` for each item; ``shared`` is sent to each worker once.

        ``items`` is consumed lazily, with a bounded number of tasks in flight, so a stream of
        library chunks is never held whole in memory. ``ordered=False`` yields results as they
        finish."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the proposal's model info records about the engine (JSON-safe)."""
        ...

    def close(self) -> None:
        """Release the cluster (a no-op for the local engine)."""
        ...


class LocalEngine:
    """Tasks run in this process, one after the other."""

    name = "local"

    def imap(self, fn: Callable[[Any, T], R], items: Iterable[T], *, shared: Any = None,
             ordered: bool = True) -> Iterator[R]:
        """See :meth:`Engine.imap`."""
        for item in items:
            yield fn(shared, item)

    def describe(self) -> dict[str, Any]:
        """See :meth:`Engine.describe`."""
        return {"engine": "local"}

    def close(self) -> None:
        """Nothing to release."""


def pin_threads() -> None:
    """One thread for torch and for BLAS/OpenMP (numpy, scipy, scikit-learn) in this process."""
    import torch
    from threadpoolctl import threadpool_limits

    from planner.runtime import tune_allocator

    torch.set_num_threads(1)
    threadpool_limits(1)
    tune_allocator()


def _pinned_call(fn: Callable[[Any, T], R], shared: Any, item: T) -> R:
    """A task body on a worker: pinned (cheap when already done), then ``fn``."""
    import torch

    if torch.get_num_threads() != 1:
        pin_threads()
    return fn(shared, item)


class DaskEngine:
    """Tasks on Dask distributed: a lab's scheduler, or a ``LocalCluster`` on loopback.

    Args:
        scheduler: ``tcp://HOST:PORT`` of a running scheduler; ``None`` starts a
            ``LocalCluster`` on 127.0.0.1.
        n_workers: Workers of the local cluster (default: one per core).
        processes: Local workers as processes (default) or threads of this process (tests).
        in_flight: Most tasks submitted and not yet collected per worker thread (bounds the
            memory of a streamed library on the client and the workers).
        connect_timeout: How long to try reaching ``scheduler`` (Dask's time string).

    Raises:
        EngineError: Dask is not installed, or the scheduler cannot be reached.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, *, n_workers: int | None = None,
                 processes: bool = True, in_flight: int = 2,
                 connect_timeout: str = "20s") -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise EngineError(f"Dask distributed cannot be imported ({exc}).",
                              hint="pip install 'dask[distributed]'") from None
        self.scheduler = scheduler
        self._cluster: Any = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout=connect_timeout)
            else:
                # TCP on loopback also for threads (Dask would pick in-process comms).
                self._cluster = LocalCluster(
                    n_workers=n_workers, threads_per_worker=1, processes=processes,
                    host="127.0.0.1", protocol="tcp://", dashboard_address="127.0.0.1:0",
                    silence_logs=logging.WARNING)
                self.client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            if self._cluster is not None:
                self._cluster.close()
            raise EngineError(
                f"cannot reach the Dask scheduler {scheduler or '(local cluster)'} ({exc}).",
                hint="Start one with `dask scheduler` and `dask worker tcp://HOST:8786`, check "
                     "the address, or leave --scheduler out to use a local cluster.") from None
        from planner._dask import PinThreads

        self.client.register_plugin(PinThreads(), name=PinThreads.name)
        self._in_flight = max(1, int(in_flight))
        logger.info("dask engine: %s", self.describe())

    def threads(self) -> int:
        """Worker threads in the cluster now (at least 1)."""
        info = self.client.scheduler_info(n_workers=-1)
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def imap(self, fn: Callable[[Any, T], R], items: Iterable[T], *, shared: Any = None,
             ordered: bool = True) -> Iterator[R]:
        """See :meth:`Engine.imap`: at most ``in_flight`` tasks per worker thread at a time."""
        from distributed import as_completed

        # hash=False: a fresh key per call, so releasing an earlier call's copy of equal data
        # cannot take this call's dependency with it.
        shared_f = (self.client.scatter(shared, broadcast=True, hash=False)
                    if shared is not None else None)
        limit = self._in_flight * self.threads()
        source = iter(items)
        pending: list[Any] = []
        done = as_completed()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    fut = self.client.submit(_pinned_call, fn, shared_f, item, pure=False)
                    pending.append(fut)
                    done.add(fut)
                if not pending:
                    return
                if ordered:
                    fut = pending[0]
                    result = fut.result()
                    pending.pop(0)
                else:
                    fut = next(done)
                    result = fut.result()
                    pending.remove(fut)
                fut.release()
                yield result
        finally:
            for fut in pending:
                fut.cancel()

    def describe(self) -> dict[str, Any]:
        """See :meth:`Engine.describe`."""
        return {"engine": "dask", "scheduler": self.scheduler or "LocalCluster 127.0.0.1",
                "worker_threads": self.threads()}

    def close(self) -> None:
        """Close the client, and the local cluster if this engine started it."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_engine(name: str = "local", scheduler: str | None = None, **kwargs: Any) -> Engine:
    """The engine called ``name`` (``local`` or ``dask``; ``scheduler`` for ``dask`` only).

    Raises:
        EngineError: an unknown name, a scheduler given to the local engine, or a cluster that
            cannot be started or reached.
    """
    if name == "local":
        if scheduler:
            raise EngineError("--scheduler needs --engine dask.",
                              hint="Add --engine dask, or leave --scheduler out.")
        return LocalEngine()
    if name == "dask":
        return DaskEngine(scheduler, **kwargs)
    raise EngineError(f"unknown engine {name!r}.", hint=f"Choose one of {', '.join(ENGINES)}.")


_CURRENT: contextvars.ContextVar[Engine | None] = contextvars.ContextVar(
    "planner_engine", default=None)


def current_engine() -> Engine:
    """The engine set by the innermost :func:`use_engine` block, else a :class:`LocalEngine`."""
    return _CURRENT.get() or LocalEngine()


@contextlib.contextmanager
def use_engine(engine: Engine) -> Iterator[Engine]:
    """Run the planning calls inside the block on ``engine`` (it is not closed afterwards)."""
    token = _CURRENT.set(engine)
    try:
        yield engine
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def running_on(name: str = "local", scheduler: str | None = None,
               **kwargs: Any) -> Iterator[Engine]:
    """Start the engine ``name`` (:func:`make_engine`), use it inside the block, then close it:
    what ``--engine dask [--scheduler tcp://HOST:PORT]`` does around a command."""
    engine = make_engine(name, scheduler, **kwargs)
    try:
        with use_engine(engine):
            yield engine
    finally:
        engine.close()

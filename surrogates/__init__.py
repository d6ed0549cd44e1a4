"""Surrogate models: GP, neural-network ensemble and random forest with honest uncertainty.

Every surrogate follows the scikit-learn contract and the same interface::

    model = GPSurrogate(categorical=("precursor",), seed=0).fit(X, Y)   # X may hold NaN
    mean, std = model.predict(X_new)        # n x t arrays, target units
    Xt = model.encode(X_new)                # n x d torch.double, complete (imputed)
    posterior = model.to_botorch().posterior(Xt)

``cross_validate`` scores them side by side (see :mod:`surrogates.evaluation`).
"""

from __future__ import annotations

import logging
from typing import Any

from surrogates.base import Surrogate
from surrogates.boosted import BoostedSurrogate
from surrogates.ensemble import EnsembleSurrogate
from surrogates.errors import InputDataError, SurrogateError
from surrogates.evaluation import CVReport, cross_validate
from surrogates.forest import ForestSurrogate
from surrogates.gp import GPSurrogate
from surrogates.selection import AutoSurrogate, Selection, select_models
from surrogates.two_stage import TwoStageSurrogate

# Library logging: the application configures handlers (see planner/__init__.py).
logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Surrogate classes by their short name (the CLI's ``--model``).
SURROGATES: dict[str, type[Surrogate]] = {
    "gp": GPSurrogate,
    "ensemble": EnsembleSurrogate,
    "rf": ForestSurrogate,
    "boosted": BoostedSurrogate,
    # Not a model of its own: the best of the others per target, by grouped cross-validation.
    "auto": AutoSurrogate,
}


def make_surrogate(name: str, **kwargs: Any) -> Surrogate:
    """Build an unfitted surrogate by short name: ``gp``, ``ensemble``, ``rf``, ``boosted`` or
    ``auto`` (the best of the others per target, see :mod:`surrogates.selection`).

    Args:
        name: the surrogate's short name.
        **kwargs: its ``__init__`` arguments (``categorical``, ``categories``, ``seed``, ...).

    Example:
        >>> make_surrogate("gp", categorical=("salt",), seed=0)
        GPSurrogate(categorical=('salt',))
    """
    try:
        cls = SURROGATES[name]
    except KeyError:
        raise InputDataError(
            f"Unknown surrogate {name!r}.", hint=f"Choose one of {', '.join(SURROGATES)}."
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SurrogateError(
            f"Bad argument for the {name} surrogate: {exc}.",
            hint="See help(surrogates." + cls.__name__ + ") for its arguments.",
        ) from None


__all__ = [
    "AutoSurrogate",
    "BoostedSurrogate",
    "CVReport",
    "EnsembleSurrogate",
    "ForestSurrogate",
    "GPSurrogate",
    "SURROGATES",
    "Selection",
    "Surrogate",
    "TwoStageSurrogate",
    "cross_validate",
    "make_surrogate",
    "select_models",
]

""""Did you mean" for names a user mistyped: one matcher for campaigns, planner and dashboard.

Example:
    >>> did_you_mean("resolutoin", ["lower", "upper", "resolution"])
    "Did you mean 'resolution'?"
    >>> closest("ICE", ["ice", "capacity"])
    ['ice']
    >>> did_you_mean("zzz", ["ice"])
    ''

:mod:`surrogates` keeps its own ``did_you_mean`` (it may not import ``campaigns``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def closest(name: str, choices: Iterable[object], *, n: int = 1,
            cutoff: float = 0.6) -> list[str]:
    """The ``n`` choices most like ``name``, best first; ``[]`` when none is close.

    Case and runs of spaces are ignored (``"ICE"`` finds ``"ice"``, ``"b"`` finds ``"B"`` rather
    than ``"lab"``).

    Args:
        name: What the user wrote.
        choices: The valid names (converted with ``str``).
        n: Most suggestions.
        cutoff: Least similarity (0-1, :func:`difflib.get_close_matches`'s ratio).
    """
    folded: dict[str, str] = {}
    for choice in choices:
        folded.setdefault(_fold(str(choice)), str(choice))
    keys = difflib.get_close_matches(_fold(str(name)), list(folded), n=n, cutoff=cutoff)
    return [folded[k] for k in keys]


def did_you_mean(name: str, choices: Iterable[object], *, n: int = 1,
                 cutoff: float = 0.6) -> str:
    """``"Did you mean 'x'?"`` (``'x' or 'y'`` for ``n > 1``) for the closest choices, or ``""``.

    Arguments as :func:`closest`.
    """
    found = closest(name, choices, n=n, cutoff=cutoff)
    if not found:
        return ""
    return "Did you mean " + " or ".join(repr(c) for c in found) + "?"

"""Values as JSON can hold them: one sanitizer for model info, recipes, provenance and audit rows.

Stored JSON (a plate's model info, a well's recipe and predictions, a shared row's provenance)
must be plain Python: numpy and pandas scalars become the number they hold, NaN, infinities,
``NaT`` and ``NA`` become ``null`` (PostgreSQL refuses ``NaN`` in JSON), dates become ISO 8601
text, and anything else becomes its ``str``.

Example:
    >>> import numpy as np
    >>> jsonable({"t": np.float64(1300.0), "n": np.int64(2), "x": float("nan"), 3: (1, 2)})
    {'t': 1300.0, 'n': 2, 'x': None, '3': [1, 2]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# Duck-typed (no numpy or pandas import): campaigns.plate, and so every spec, uses this module.
_MISSING_TYPES = ("NaTType", "NAType")  # pandas.NaT, pandas.NA


def plain(value: Any) -> Any:
    """A numpy (or torch) scalar as the Python scalar it holds; anything else unchanged.

    ``np.float64(1.5)`` → ``1.5``, ``np.int64(2)`` → ``2``, ``np.str_("a")`` → ``"a"``.
    """
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # numpy scalars, 0-d arrays
        return item()
    return value


def jsonable(obj: Any) -> Any:
    """``obj`` made of JSON types only: dict (``str`` keys), list, str, int, float, bool, None.

    Mappings and sequences are converted recursively (tuples and sets become lists); floats that
    are not finite become ``None``; ``Decimal`` becomes ``float``; dates and times become
    ``isoformat()`` text; other objects become ``str(obj)``.
    """
    obj = plain(obj)
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float | Decimal):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if type(obj).__name__ in _MISSING_TYPES:
        return None
    if getattr(obj, "ndim", 0) and callable(getattr(obj, "tolist", None)):  # arrays
        return jsonable(obj.tolist())
    if callable(getattr(obj, "isoformat", None)):
        return obj.isoformat()
    return str(obj)

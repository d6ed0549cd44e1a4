"""An immutable mapping for validated domain objects (a spec's bounds, coefficients, recipes).

A frozen pydantic model only stops *attribute* assignment: ``spec.mixtures[0].lower`` would still
be a ``dict`` anyone can change behind the validators' back. :class:`FrozenDict` is what such
fields hold instead. It behaves like a read-only ``dict`` (lookup, iteration, ``==`` with a
plain ``dict``), refuses ``d[k] = v`` and ``del d[k]`` with a ``TypeError``, is hashable (so a
spec is too), and pickles (``types.MappingProxyType``, the standard library's read-only view,
does not, and specs cross process boundaries in backtests and Streamlit caches).

As a pydantic field type, ``FrozenDict[str, float]`` validates its input like
``dict[str, float]`` and serializes back to a plain ``dict``, so ``model_dump``, JSON and YAML
round trips are unchanged.

Example:
    >>> d = FrozenDict({"ec_frac": 0.3})
    >>> d["ec_frac"]
    0.3
    >>> d == {"ec_frac": 0.3}
    True
    >>> d["ec_frac"] = 0.9
    Traceback (most recent call last):
    ...
    TypeError: 'FrozenDict' object does not support item assignment
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V], Generic[K, V]):
    """A read-only, hashable, picklable ``dict`` (insertion order kept)."""

    __slots__ = ("_data", "_hash")
    _data: dict[K, V]
    _hash: int | None

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = (), /) -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        assert self._hash is not None
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"'{type(self).__name__}' object is read-only")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"'{type(self).__name__}' object is read-only")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenDict[K, V]], tuple[dict[K, V]]]:
        return (type(self), (dict(self._data),))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        args = get_args(source)
        inner = handler.generate_schema(dict[args[0], args[1]] if args else dict)  # type: ignore[valid-type]
        return core_schema.no_info_after_validator_function(
            cls, inner,
            serialization=core_schema.plain_serializer_function_ser_schema(
                dict, return_schema=inner),
        )

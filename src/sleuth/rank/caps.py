"""Per-attribute caps on a final list: at most ``max_per[attribute]`` hits per value of each
named attribute (``max_per={"brand": 2}``), the best first; a hit without the attribute is
not capped by it. A list value (tags) counts once for each of its values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["cap"]


def cap(
    docnos: np.ndarray,
    attributes: Callable[[int], Mapping[str, Any]],
    max_per: Mapping[str, int],
    k: int,
) -> np.ndarray:
    """The positions (into ``docnos``, best first) of the first ``k`` hits that keep every
    cap; ``attributes(docno)``: the item's attributes."""
    seen: dict[str, Counter[Any]] = {name: Counter() for name in max_per}
    keep: list[int] = []
    for i, docno in enumerate(docnos.tolist()):
        if len(keep) == k:
            break
        attrs = attributes(docno)
        values = {name: _values(attrs.get(name)) for name in max_per}
        if any(seen[n][v] >= max_per[n] for n, vs in values.items() for v in vs):
            continue
        for name, vs in values.items():
            seen[name].update(vs)
        keep.append(i)
    return np.asarray(keep, np.int64)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return [value]

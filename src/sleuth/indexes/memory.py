"""What an index (or the attribute table) holds in memory (``Index.usage()``,
``Collection.info()["usage"]``): every numpy buffer its attributes reach, counted once, split
into RAM (arrays it owns, at their allocated capacity) and file-backed maps (``np.memmap`` or
``mmap``, which the page cache holds and pages in as they are read); Python containers of
strings (a vocabulary) are estimated from a sample of their entries. Objects outside sleuth
(faiss's) are not walked: their owner adds what they hold (see ``DenseIndex.usage``).
"""

from __future__ import annotations

import mmap
import sys
from itertools import islice
from typing import Any

import numpy as np

__all__ = ["Held", "held"]

_SAMPLE = 1_000  # entries sized per Python container (the rest extrapolated)
_DEPTH = 6


class Held:
    """Bytes in RAM and bytes mapped from files."""

    def __init__(self) -> None:
        self.ram = 0
        self.mapped = 0
        self._objects: set[int] = set()
        self._buffers: set[int] = set()

    def to_dict(self, extra_ram: int = 0) -> dict[str, int]:
        return {"memory_bytes": self.ram + extra_ram, "mapped_bytes": self.mapped}

    def visit(self, value: Any, depth: int = 0) -> None:
        if _scalar(value):
            return
        if id(value) in self._objects or depth > _DEPTH:
            return
        self._objects.add(id(value))
        if isinstance(value, np.ndarray):
            self._array(value)
        elif isinstance(value, (dict, list, tuple, set, frozenset)):
            self._container(value, depth)
        elif type(value).__module__.startswith("sleuth."):
            attributes = getattr(value, "__dict__", None)
            for name in getattr(type(value), "__slots__", ()):
                self.visit(getattr(value, name, None), depth + 1)
            for v in (attributes or {}).values():
                self.visit(v, depth + 1)

    def _array(self, array: np.ndarray) -> None:
        root: Any = array
        while True:  # down to the buffer's owner
            if isinstance(root, np.ndarray) and root.base is not None:
                root = root.base
            elif isinstance(root, memoryview) and root.obj is not None:
                root = root.obj  # ``np.frombuffer(an mmap)``: its base is a memoryview of it
            else:
                break
        if id(root) in self._buffers:
            return
        self._buffers.add(id(root))
        if isinstance(root, (np.memmap, mmap.mmap)):
            self.mapped += root.nbytes if isinstance(root, np.ndarray) else len(root)
        elif isinstance(root, np.ndarray):
            self.ram += root.nbytes
        else:  # a view of some other buffer (bytes, a faiss vector): what it shows
            self.ram += array.nbytes

    def _container(self, container: Any, depth: int) -> None:
        """The container, its keys and scalar entries estimated from a sample; arrays and
        objects in it walked, all of them."""
        self.ram += sys.getsizeof(container)
        if isinstance(container, dict):
            self.ram += _estimate(container.keys())
            container = container.values()
        if all(_scalar(v) for v in islice(container, _SAMPLE)):
            self.ram += _estimate(container)
            return
        for v in container:
            self.visit(v, depth + 1)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, bytes))


def _estimate(values: Any) -> int:
    """Bytes of these Python scalars, from the first ``_SAMPLE``."""
    sample = list(islice(values, _SAMPLE))
    if not sample:
        return 0
    return sum(sys.getsizeof(v) for v in sample) * len(values) // len(sample)


def held(*values: Any) -> Held:
    """What ``values`` hold (shared buffers counted once)."""
    out = Held()
    for value in values:
        out.visit(value)
    return out

"""Named vector spaces: beside its default space (the encoder's vectors, or those items bring
with ``encoder="none"``), a collection may hold vector spaces of its own, each with a
dimension and a metric, e.g. ``sleuth.open(path, spaces={"image": {"dim": 512, "metric":
"dot"}})``. Items bring those vectors (``"vectors": {"image": [...]}``, or a bulk
``vectors={"image": array}``); an item may lack one (it is then not in that space's index);
queries search one space at a time (``search(vector=..., space="image")``).

Metrics (higher scores are better everywhere):

- ``cosine``: vectors are made unit length on the way in (an all-zero one is refused) and
  scored by inner product: the default space's metric.
- ``dot``: the raw inner product; vectors are kept as given (zeros are fine).
- ``l2``: Euclidean distance, smallest first; the score is the negative distance ``-||q - x||``.
  The index is built by squared distance (faiss ``METRIC_L2``, ``DenseIndex(metric="l2")``:
  the IVF's coarse lists and int8 codes, compressed storage's HNSW graphs, the exact scans and
  the rescoring). Not the inner-product trick (rows ``[x, -||x||^2 / 2]``, queries ``[q, 1]``):
  it ranks exactly in a scan, but approximate structures built by inner products between such
  rows miss neighbours: an HNSW graph found 6 of the true 10 among 120 points in 3 dimensions,
  and the IVF recall@10 was 0.645 against 1.000 by ``METRIC_L2`` over 100,000 clustered
  vectors of dimension 64 (``benchmarks/spaces_l2.py``).

A space's vectors live in the store's ``space_vectors`` table (by docno, in the write's own
transaction) and its index in ``index/dense-<name>.npz``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sleuth.checks import check_choice, check_int
from sleuth.errors import InvalidInput
from sleuth.vectors import MAX_DIM

__all__ = [
    "DEFAULT_SPACE",
    "MAX_SPACES",
    "METRICS",
    "Metric",
    "SpaceConfig",
    "check_space_name",
    "check_spaces",
    "index_name",
]

METRICS = ("cosine", "dot", "l2")
DEFAULT_SPACE = "default"  # the name of the unnamed space: the encoder's, or "vector"
MAX_SPACES = 16  # each is one more index held in memory
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
_NAME_RULE = (
    "a letter, then up to 63 letters, digits, '_' or '-' (not 'default', the unnamed space)"
)


def index_name(space: str) -> str:
    """The file name (``index/<name>.npz``) of a named space's dense index."""
    return f"dense-{space}"


def check_space_name(name: Any, what: str = "a vector space name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == DEFAULT_SPACE:
        raise InvalidInput(
            f"{what} {name!r:.80} is not allowed; a name is {_NAME_RULE}", allowed=_NAME_RULE
        )
    return name


@dataclass(frozen=True, kw_only=True)
class SpaceConfig:
    """One named vector space: ``dim`` numbers a vector, compared by ``metric``
    (``cosine``, ``dot`` or ``l2``; see the module docstring)."""

    dim: int
    metric: str = "cosine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", check_int(self.dim, "dim", 1, MAX_DIM))
        check_choice(self.metric, "metric", METRICS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def metric_of(self) -> Metric:
        return Metric(self.metric, self.dim)


def check_spaces(value: Any) -> dict[str, SpaceConfig]:
    """``CollectionConfig.spaces``: names to ``SpaceConfig`` (or to objects of ``dim`` and
    ``metric``), sorted by name; ``InvalidInput`` naming the space and the field."""
    if not isinstance(value, Mapping) or len(value) > MAX_SPACES:
        raise InvalidInput(
            f"spaces must be an object of at most {MAX_SPACES} vector space names to "
            f'{{"dim": n, "metric": {"|".join(METRICS)}}}, got {value!r:.80}',
            field="spaces",
        )
    out: dict[str, SpaceConfig] = {}
    for name in sorted(value, key=str):
        check_space_name(name, "spaces:")
        spec = value[name]
        try:
            if isinstance(spec, SpaceConfig):
                out[name] = spec
                continue
            if not isinstance(spec, Mapping):
                raise InvalidInput(
                    f'must be an object {{"dim": n, "metric": ...}}, got {spec!r:.60}'
                )
            unknown = sorted(set(spec) - {"dim", "metric"}, key=str)
            if unknown:
                raise InvalidInput(
                    f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: dim, metric"
                )
            if "dim" not in spec:
                raise InvalidInput("needs its dim (the numbers in each vector)")
            out[name] = SpaceConfig(**spec)
        except InvalidInput as exc:  # named by its path: spaces.img.dim must be ...
            field = exc.details.get("field")
            if isinstance(field, str) and exc.message.startswith(field):
                path, message = f"spaces.{name}.{field}", f"spaces.{name}.{exc.message}"
            else:
                path, message = f"spaces.{name}", f"spaces.{name}: {exc.message}"
            raise InvalidInput(message, field=path) from None
    return out


@dataclass(frozen=True)
class Metric:
    """How a space's vectors become index rows and inner-product scores become its scores."""

    name: str
    dim: int

    @property
    def normalize(self) -> bool:
        """Whether vectors are made unit length on the way in (and zeros refused)."""
        return self.name == "cosine"

    @property
    def index_metric(self) -> str:
        """The ``DenseIndex`` metric: "l2", or "ip" (inner products of unit or raw rows)."""
        return "l2" if self.name == "l2" else "ip"

    def scores(self, scores: np.ndarray) -> np.ndarray:
        """The space's scores from the index's: ``float32[nq, k]`` (-inf padding kept); for
        l2 the negative distance from the negative squared one."""
        if self.name != "l2":
            return scores
        return (0.0 - np.sqrt(np.maximum(-scores, 0.0))).astype(np.float32)  # 0, not -0

"""sleuth: search and recommendations on embeddings, in one engine.

>>> import sleuth
>>> col = sleuth.open("my-collection", encoder="hashing")  # doctest: +SKIP
>>> col.add([{"id": "1", "text": "How to sort a list", "kind": "howto"}])  # doctest: +SKIP
>>> col.search("sort a list", k=5, where={"kind": "howto"})  # doctest: +SKIP
"""

from sleuth._version import __version__
from sleuth.catalog import Engine
from sleuth.config import (
    BM25Config,
    CollectionConfig,
    DenseConfig,
    FusionConfig,
    LateConfig,
    MuveraConfig,
    RecommendConfig,
)
from sleuth.engine import Collection, RecordResult, WriteResult
from sleuth.errors import (
    Closed,
    Conflict,
    CorruptIndex,
    InvalidCollection,
    InvalidInput,
    NotFound,
    SleuthError,
)
from sleuth.opening import open_collection as open
from sleuth.search import Hits, Trace
from sleuth.spaces import SpaceConfig
from sleuth.types import Event, Hit, Item

__all__ = [
    "BM25Config",
    "Closed",
    "Collection",
    "CollectionConfig",
    "Conflict",
    "CorruptIndex",
    "DenseConfig",
    "Engine",
    "Event",
    "FusionConfig",
    "Hit",
    "Hits",
    "InvalidCollection",
    "InvalidInput",
    "Item",
    "LateConfig",
    "MuveraConfig",
    "NotFound",
    "RecommendConfig",
    "RecordResult",
    "SleuthError",
    "SpaceConfig",
    "Trace",
    "WriteResult",
    "__version__",
    "open",
]

"""sleuth: search and recommendations on embeddings, in one engine.

>>> import sleuth
>>> col = sleuth.open("my-collection", encoder="hashing")  # doctest: +SKIP
>>> col.add([{"id": "1", "text": "How to sort a list", "kind": "howto"}])  # doctest: +SKIP
>>> col.search("sort a list", k=5, where={"kind": "howto"})  # doctest: +SKIP
"""

from sleuth.catalog import Engine
from sleuth.config import (
    BM25Config,
    CollectionConfig,
    DenseConfig,
    FusionConfig,
    RecommendConfig,
)
from sleuth.engine import Collection, WriteResult
from sleuth.engine import open_collection as open
from sleuth.errors import (
    Conflict,
    CorruptIndex,
    InvalidCollection,
    InvalidInput,
    NotFound,
    SleuthError,
)
from sleuth.types import Hit, Item

__version__ = "0.1.0"

__all__ = [
    "BM25Config",
    "Collection",
    "CollectionConfig",
    "Conflict",
    "CorruptIndex",
    "DenseConfig",
    "Engine",
    "FusionConfig",
    "Hit",
    "InvalidCollection",
    "InvalidInput",
    "Item",
    "NotFound",
    "RecommendConfig",
    "SleuthError",
    "WriteResult",
    "__version__",
    "open",
]

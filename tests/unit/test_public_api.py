"""The public names: pinned, sorted, importable, and each one what it claims to be."""

from __future__ import annotations

import importlib

import sleuth

PUBLIC = [
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


def test_all_is_pinned_and_sorted() -> None:
    assert sleuth.__all__ == sorted(sleuth.__all__)
    assert sleuth.__all__ == PUBLIC


def test_every_public_name_imports() -> None:
    for name in sleuth.__all__:
        assert getattr(importlib.import_module("sleuth"), name) is getattr(sleuth, name)
        exec(f"from sleuth import {name}", {})  # the import users write


def test_errors_share_one_base_and_configs_round_trip() -> None:
    errors = ("Closed", "Conflict", "CorruptIndex", "InvalidCollection", "InvalidInput", "NotFound")
    for name in errors:
        assert issubclass(getattr(sleuth, name), sleuth.SleuthError)
    for name in (
        "BM25Config",
        "CollectionConfig",
        "DenseConfig",
        "FusionConfig",
        "LateConfig",
        "RecommendConfig",
    ):
        config = getattr(sleuth, name)()
        assert type(config).from_dict(config.to_dict()) == config
    assert sleuth.LateConfig().muvera == sleuth.MuveraConfig()
    assert sleuth.__version__ == importlib.import_module("sleuth._version").__version__

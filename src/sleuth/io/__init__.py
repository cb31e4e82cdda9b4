"""Getting items in: readers for JSONL, CSV, JSON, Parquet and BEIR folders."""

from __future__ import annotations

from sleuth.io.readers import (
    BeirData,
    read_beir,
    read_beir_corpus,
    read_csv,
    read_items,
    read_json,
    read_jsonl,
    read_parquet,
)

__all__ = [
    "BeirData",
    "read_beir",
    "read_beir_corpus",
    "read_csv",
    "read_items",
    "read_json",
    "read_jsonl",
    "read_parquet",
]

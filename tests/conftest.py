"""Shared fixtures (the data and helpers they use live in ``support.py``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sleuth
from support import CATALOG


@pytest.fixture
def catalog() -> list[dict[str, Any]]:
    """A fresh copy of the catalog (tests may mutate it)."""
    return copy.deepcopy(CATALOG)


@pytest.fixture
def col_path(tmp_path: Path) -> Path:
    return tmp_path / "col"


@pytest.fixture
def col(col_path: Path, catalog: list[dict[str, Any]]) -> Iterator[sleuth.Collection]:
    """A collection (hashing encoder) holding the catalog; closed after the test."""
    collection = sleuth.open(col_path, encoder="hashing")
    collection.add(catalog)
    yield collection
    collection.close()

"""Unique identifiers survive hybrid fusion: querying a product's part number (e.g. ``zq48213``,
in that product's text only) finds it, as lexical search does. Dense models see such a string
as a few meaningless word pieces, so the dense list is full of look-alike products; the one
exact lexical match must not be outvoted by them.

The hashing encoder cannot reproduce this (its vector of a unique word matches that product
only), hence the real model."""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pytest

import sleuth

KINDS = ("hex bolt", "wood screw", "flat washer", "door hinge", "angle bracket", "cable tie")
KINDS += ("pipe clamp", "wall anchor", "blind rivet", "lock nut")
MATERIALS = ("stainless steel", "brass", "zinc-plated steel", "nylon", "aluminium")
N_PRODUCTS, N_QUERIES = 300, 120


def products(seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    numbers: set[str] = set()
    while len(numbers) < N_PRODUCTS:
        letters = "".join(rng.choice(list(string.ascii_lowercase), 2))
        numbers.add(f"{letters}{rng.integers(10_000, 100_000)}")
    out = []
    for i, number in enumerate(sorted(numbers)):
        kind, material = KINDS[i % len(KINDS)], MATERIALS[(i // len(KINDS)) % len(MATERIALS)]
        size = f"M{4 + 2 * (i % 5)}"
        out.append(
            {
                "id": f"p{i:03d}",
                "title": f"{material.capitalize()} {kind} {size}",
                "text": f"{material} {kind}, size {size}, pack of {10 * (1 + i % 4)}. "
                f"Part number {number}.",
                "part": number,
            }
        )
    return out


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Any:
    col = sleuth.open(tmp_path_factory.mktemp("parts") / "c", encoder="minilm")
    items = products()
    col.add(items)
    yield col, items
    col.close()


def queries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    picks = np.random.default_rng(1).choice(len(items), N_QUERIES, replace=False)
    return [items[int(i)] for i in picks]


@pytest.mark.model
def test_lexical_ranks_the_part_number_first(catalog: Any) -> None:
    col, items = catalog
    asked = queries(items)
    found = col.search_batch([p["part"] for p in asked], k=1, mode="lexical")
    assert [hits[0].id for hits in found] == [p["id"] for p in asked]


@pytest.mark.model
def test_hybrid_keeps_the_only_exact_match_in_the_top_10(catalog: Any) -> None:
    col, items = catalog
    asked = queries(items)
    found = col.search_batch([p["part"] for p in asked], k=10, mode="hybrid")
    missed = [p["part"] for p, hits in zip(asked, found) if p["id"] not in {h.id for h in hits}]
    assert missed == [], f"{len(missed)} of {N_QUERIES} part numbers missed: {missed[:5]}"

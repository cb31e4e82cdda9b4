"""The web page over a calibrated collection: each hit's probability (card and explain view)
and the min p control, checked against what the API answers for the same request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_web import number, search, settle, shown_ids

from sleuth.catalog import Engine
from sleuth.demo import stdlib_items
from support import live_server

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e
QUERY = "join file paths"


@pytest.fixture(scope="module")
def calibrated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    engine = Engine(tmp_path_factory.mktemp("calibrated"))
    col = engine.create("cal", encoder="hashing")
    col.add(stdlib_items(limit=300), progress=False)
    col.calibrate(modes=["hybrid"])  # label-free
    with live_server(engine) as url:
        yield url


def test_probabilities_and_min_relevance_on_the_page(
    page: Any, console: Any, calibrated_server: str
) -> None:
    page.goto(calibrated_server)
    page.get_by_test_id("collection-select").select_option("cal")
    search(page, QUERY, "hybrid")
    assert settle(page, page.get_by_test_id("explain-toggle").check) == "done"
    body = {"query": QUERY, "k": 10, "mode": "hybrid", "explain": True}
    answer = httpx.post(f"{calibrated_server}/collections/cal/search", json=body).json()
    assert shown_ids(page) == [h["id"] for h in answer["hits"]]
    first = answer["hits"][0]
    card = page.locator(f'[data-testid=hit][data-id="{first["id"]}"]')
    shown = card.get_by_test_id("hit-probability").inner_text().removeprefix("p ")
    assert number(shown) == pytest.approx(first["probability"], abs=6e-4)
    card.get_by_test_id("explain-button").click()
    row = card.get_by_test_id("explain-probability")
    expect(row).to_be_visible()
    assert number(row.get_by_test_id("probability").inner_text()) == pytest.approx(
        first["explain"]["probability"], abs=6e-4
    )
    p = sorted(h["probability"] for h in answer["hits"])[len(answer["hits"]) // 2]
    page.get_by_test_id("min-relevance-input").fill(str(round(p, 3)))
    assert settle(page, page.get_by_test_id("search-button").click) == "done"
    kept = httpx.post(
        f"{calibrated_server}/collections/cal/search", json={**body, "min_relevance": round(p, 3)}
    ).json()["hits"]
    assert shown_ids(page) == [h["id"] for h in kept]
    assert len(kept) < len(answer["hits"])
    page.get_by_test_id("min-relevance-input").fill("2")  # the form refuses a p above 1
    assert page.get_by_test_id("min-relevance-input").evaluate("el => el.validity.valid") is False
    console.assert_clean()

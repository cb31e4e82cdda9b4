"""The migration panel: start a migration from the page, watch it reach ready, evaluate, cut
over; each step shown as the API reports it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sleuth.catalog import Engine
from sleuth.demo import stdlib_items
from support import live_server


@pytest.fixture
def migrating_server(tmp_path: Path) -> Iterator[str]:
    engine = Engine(tmp_path / "data")
    engine.create("small", encoder="hashing:64").add(stdlib_items(limit=200), progress=False)
    with live_server(engine) as url:
        yield url


def test_a_migration_from_the_page(page: Any, console: Any, migrating_server: str) -> None:
    from playwright.sync_api import expect

    page.goto(migrating_server)
    page.get_by_test_id("migration-tab").click()
    panel = page.get_by_test_id("migration")
    expect(panel).to_contain_text("No migration")
    page.get_by_test_id("migration-to").fill("hashing:96")
    page.get_by_test_id("migration-start").click()
    phase = page.get_by_test_id("migration-phase")
    expect(phase).to_contain_text("hashing:64 → hashing:96: ready", timeout=30_000)
    expect(page.get_by_test_id("migration-progress")).to_have_attribute("value", "200")
    page.get_by_test_id("migration-evaluate").click()
    table = page.get_by_test_id("migration-eval")
    expect(table).to_contain_text("overlap@10 with old", timeout=30_000)
    report = httpx.get(f"{migrating_server}/collections/small/migration").json()["evaluation"]
    expect(table).to_contain_text(f"{report['dense']['new']:.4f}")
    page.get_by_test_id("migration-cutover").click()
    expect(phase).to_contain_text("switched")
    assert httpx.get(f"{migrating_server}/collections/small").json()["encoder"] == "hashing:96"
    console.assert_clean(allow_statuses=(404,))  # GET ./migration: none yet

"""Fixtures for the browser tests: live servers over real data, a headless Chromium, and pages
that record console errors.

Chromium comes from the system (``/usr/bin/chromium``), never from ``playwright install``;
without it the tests skip locally and fail on CI (``CI=true``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sleuth.catalog import Engine
from sleuth.demo import stdlib_items
from support import live_server

CHROMIUM = Path(os.environ.get("SLEUTH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CRANFIELD = Path(__file__).resolve().parents[3] / "shared" / "data" / "beir" / "cranfield"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests need {why} on CI", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with ``docs``: 1,500 items of the standard library's docs (hashing encoder)."""
    path = tmp_path_factory.mktemp("data")
    with Engine(path) as engine:
        engine.create("docs", encoder="hashing").add(stdlib_items(limit=1500), progress=False)
    return path


@pytest.fixture(scope="session")
def report(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real ``sleuth eval beir`` report on Cranfield (hashing encoder, ~5 s), saved where the
    server lists reports."""
    if not (CRANFIELD / "corpus.jsonl").exists():
        pytest.skip(f"{CRANFIELD} is absent: the evaluation data lives in ../shared/data")
    from sleuth.evaluate.beir import evaluate_beir

    result = evaluate_beir(
        CRANFIELD,
        ["lexical", "dense", "hybrid"],
        encoder="hashing",
        cache_dir=tmp_path_factory.mktemp("eval-cache"),
        progress=False,
    )
    (data_dir / "reports").mkdir(exist_ok=True)
    (data_dir / "reports" / "cranfield.json").write_text(json.dumps(result, indent=2))
    return result


@pytest.fixture(scope="session")
def server(data_dir: Path) -> Iterator[str]:
    with live_server(Engine(data_dir)) as url:
        yield url


@pytest.fixture(scope="session")
def api_key() -> str:
    return "k"


@pytest.fixture(scope="session")
def keyed_server(api_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second server, with an API key and no reports: ``small`` holds 200 items."""
    path = tmp_path_factory.mktemp("keyed")
    engine = Engine(path)
    engine.create("small", encoder="hashing").add(stdlib_items(limit=200), progress=False)
    with live_server(engine, api_key=api_key) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        _unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium, or set SLEUTH_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Console:
    """Console errors and uncaught exceptions of one page."""

    errors: list[str] = field(default_factory=list)

    def assert_clean(self, *, allow_statuses: tuple[int, ...] = ()) -> None:
        """No errors, except Chromium's log line for responses with an expected status."""
        allowed = re.compile(
            r"Failed to load resource: the server responded with a status of "
            rf"({'|'.join(map(str, allow_statuses)) or 'none'})\b"
        )
        unexpected = [e for e in self.errors if not allowed.search(e)]
        assert unexpected == [], f"errors in the page's console: {unexpected}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context: empty localStorage) in a 1400×900 window."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def console(page: Any) -> Console:
    """What ``page`` logs as errors, from before its first navigation."""
    console = Console()

    def logged(message: Any) -> None:
        if message.type == "error":
            console.errors.append(message.text)

    page.on("console", logged)
    page.on("pageerror", lambda exc: console.errors.append(f"uncaught: {exc}"))
    return console


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

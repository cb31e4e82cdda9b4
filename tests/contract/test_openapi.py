"""Property-based fuzzing of the served OpenAPI document with schemathesis: whatever a client
sends, the server never answers 5xx and every answer matches its documented schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from sleuth.catalog import Engine
from sleuth.server import create_app
from support import CATALOG, live_server

DOCS = Path(__file__).parents[2] / "docs" / "openapi.json"
KEY = "contract-test-key"


# The checked-in document, which the last test proves is the served one.
schema = schemathesis.openapi.from_path(DOCS)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    engine = Engine(tmp_path_factory.mktemp("data"), default_encoder="hashing:64")
    engine.create("docs").add(CATALOG)
    with live_server(engine, api_key=KEY) as url:
        yield url


@schema.parametrize()
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors_and_responses_match_the_schema(case: Any, base_url: str) -> None:
    # Every check but positive_data_acceptance: a schema-valid body may still be refused (422)
    # for what a schema cannot say: an encoder name that is not installed, a filter on an
    # attribute of another type, an item whose text field is missing.
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {KEY}"},
        excluded_checks=[positive_data_acceptance],
    )


def test_the_checked_in_openapi_document_is_current(tmp_path: Path) -> None:
    """docs/openapi.json is what the server serves (regenerate: python -m sleuth.server.openapi)."""
    served = create_app(Engine(tmp_path), api_key=KEY).openapi()
    assert json.loads(DOCS.read_text()) == served, "run: python -m sleuth.server.openapi"

"""Property-based fuzzing of the served OpenAPI document with schemathesis: whatever a client
sends, the server never answers 5xx and every answer matches its documented schema."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from sleuth.catalog import NAME_PATTERN, Engine
from sleuth.config import CollectionConfig, LateConfig
from sleuth.encoders import get_encoder
from sleuth.server import create_app
from support import CATALOG, live_server

DOCS = Path(__file__).parents[2] / "docs" / "openapi.json"
KEY = "contract-test-key"


# The checked-in document, which the last test proves is the served one.
schema = schemathesis.openapi.from_path(DOCS)


# What a filter may name depends on the collection: an attribute it does not have, or one of
# another type, is a 422 naming the known ones, which no static schema can say. So generated
# cases carry no filter (positive_data_acceptance would flag every such 422); filters are
# fuzzed against an oracle in tests/unit/test_filters.py, and their bad shapes are tested in
# tests/integration/test_server.py.
@schema.hook
def filter_body(_: Any, body: Any) -> bool:
    return not (isinstance(body, dict) and body.get("where") is not None) and _projection_fits(body)


@schema.hook
def filter_query(_: Any, query: Any) -> bool:
    return not (isinstance(query, dict) and query.get("where") is not None)


# A late-interaction projection only reduces: a projection_dim above the encoder's dimension is a
# 422 naming both (tests/unit/test_token_projection.py), which the static schema cannot say since
# the dimension comes from the encoder named beside it.
def _encoder_dim(spec: Any) -> int | None:
    if spec is None:
        return 64  # the engine's default_encoder below
    if spec == "minilm":
        return 384
    if spec == "hashing":
        return 256
    if isinstance(spec, str) and re.fullmatch(r"hashing:[0-9]+", spec):
        return int(spec.split(":")[1])
    return None


def _projection_fits(body: Any) -> bool:
    config = body.get("config") if isinstance(body, dict) else None
    late = config.get("late") if isinstance(config, dict) else None
    if not isinstance(late, dict) or not isinstance(late.get("projection_dim"), int | float):
        return True
    dim = _encoder_dim(body.get("encoder"))
    return dim is None or late["projection_dim"] <= dim


def sized(body: Any) -> bool:
    """A body whose validity depends on a dimension no static schema knows: a search vector
    (the collection's dim) or a new collection's dim (its encoder's; required with "none").
    Such a case must still never be a 5xx nor break the schema, but a 422 is its right answer
    (tests/integration/test_own_vectors_http.py checks which)."""
    if not isinstance(body, dict):
        return False
    config = body.get("config") if isinstance(body.get("config"), dict) else {}
    return "vector" in body or any(
        part.get("dim") is not None or str(part.get("encoder") or "").startswith("none")
        for part in (body, config)
    )


# A collection the fuzzer creates gets a name the other operations do not generate (they would
# write items into it that do not fit its fuzzed configuration: a 422 a static schema cannot
# foresee). Only names that are valid and stay valid with the prefix are renamed, so a case
# that is meant to be invalid stays so.
@schema.hook
def map_body(ctx: Any, body: Any) -> Any:
    name = body.get("name") if isinstance(body, dict) else None
    if (
        ctx.operation.path == "/collections"
        and isinstance(name, str)
        and re.match(NAME_PATTERN, name)
        and len(name) <= 60
    ):
        body = {**body, "name": f"fz-{name}"}
    return body


# Reads and events go to the collection that holds the catalog, so that schema-valid searches,
# recommendations and events are run for real, not answered 404 (writes of items and deletes
# keep their generated names: they would change what the other cases run against).
READS = ("/search", "/similar", "/recommend", "/events", "/items/{item_id}")


@schema.hook
def map_path_parameters(ctx: Any, parameters: Any) -> Any:
    name = parameters.get("name") if isinstance(parameters, dict) else None
    path, method = ctx.operation.path, ctx.operation.method.upper()
    if (
        isinstance(name, str)
        and re.match(NAME_PATTERN, name)
        and path.endswith(READS)
        and (method in ("GET", "POST") if not path.endswith("{item_id}") else method == "GET")
    ):
        parameters = {**parameters, "name": "docs"}
    return parameters


# Training judgments name items and queries, a search log must hold clicks, and calibration names
# modes the collection can run: whether a schema-valid training request is right depends on the
# collection (a 422 otherwise, which tests/integration/test_server_ranker.py and
# test_server_calibrate.py check).
JUDGED = ("/ranker", "/calibrate")
# A migration's requests are right only in some phases (a 409 otherwise) and name an encoder the
# engine must know (a 422 otherwise); tests/integration/test_migrate_http.py checks which.
PHASED = "/migration"


def searches(body: Any) -> bool:
    """Search events: their clicked positions must lie within their own shown list, and shown
    ids be distinct, which a static schema cannot say (a 422 names the field;
    tests/integration/test_ranker_clicks.py checks each)."""
    events = body.get("events") if isinstance(body, dict) else None
    return isinstance(events, list) and any(
        isinstance(e, dict) and e.get("kind") == "search" for e in events
    )


def calibrated(body: Any) -> bool:
    """A search asking for probabilities (``min_relevance``, ``cutoff="auto"``) is right only on
    a mode the collection calibrated, which no static schema knows (a 422 says to calibrate;
    tests/integration/test_server_final.py checks it)."""
    return isinstance(body, dict) and (
        body.get("min_relevance") is not None or body.get("cutoff") == "auto"
    )


def reranks(body: Any) -> bool:
    """A search with ``rerank`` is right only when its cross-encoder is there (the collection's
    trained one, or a folder in the server's models directory), which no static schema knows
    (a 422 says which; tests/integration/test_rerank_input.py checks each)."""
    return isinstance(body, dict) and body.get("rerank") is not None


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    get_encoder("minilm")  # loaded once here: a create naming it must not time out
    engine = Engine(tmp_path_factory.mktemp("data"), default_encoder="hashing:64")
    # Late interaction on, so that every search mode the schema lists can run.
    late = CollectionConfig(late=LateConfig(enabled=True))
    docs = engine.create("docs", config=late)
    docs.add(CATALOG)
    # and a trained ranker, for mode ranked: each item's title finds it
    queries = {item["id"]: item["title"] for item in CATALOG}
    docs.train_ranker({i: {i: 1} for i in queries}, queries, params={"rounds": 10})
    with live_server(engine, api_key=KEY) as url:
        yield url


@schema.parametrize()
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors_and_responses_match_the_schema(case: Any, base_url: str) -> None:
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
        excluded_checks=[schemathesis.checks.positive_data_acceptance]
        if sized(case.body)
        or case.operation.path.endswith(JUDGED)
        or PHASED in case.operation.path
        or searches(case.body)
        or calibrated(case.body)
        or reranks(case.body)
        else [],
    )


def test_the_checked_in_openapi_document_is_current(tmp_path: Path) -> None:
    """docs/openapi.json is what the server serves (regenerate: python -m sleuth.server.openapi)."""
    served = create_app(Engine(tmp_path), api_key=KEY).openapi()
    assert json.loads(DOCS.read_text()) == served, "run: python -m sleuth.server.openapi"

"""Every CollectionConfig value is checked for type and range when the config is built, the
error names the field's path and what is allowed, and an invalid config or encoder creates
nothing on disk (Python API and HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sleuth
from sleuth.catalog import Engine
from sleuth.config import CollectionConfig, FusionConfig, LateConfig, MuveraConfig
from support import live_server

# (config as JSON, the field path and the allowed values the message must name)
BAD_CONFIGS: list[tuple[Any, str]] = [
    ({"bm25": {"stemmer": "klingon"}}, "stemmer 'klingon' unknown; allowed: arabic, .*english"),
    ({"bm25": {"stopwords": "klingon"}}, "stopwords 'klingon' unknown; allowed: english, null"),
    ({"bm25": {"k1": "x"}}, r"bm25.k1 must be a number in \(0, 100\], got 'x'"),
    ({"bm25": {"k1": 0}}, r"bm25.k1 must be in \(0, 100\], got 0"),
    ({"bm25": {"b": 1.5}}, r"bm25.b must be in \[0, 1\], got 1.5"),
    ({"bm25": {"b": None}}, r"bm25.b must be a number in \[0, 1\], got None"),
    ({"dense": 5}, "dense must be an object, got 5"),
    ({"dense": {"exact_threshold": "10"}}, "dense.exact_threshold must be an integer from 1"),
    ({"dense": {"exact_threshold": True}}, "dense.exact_threshold must be an integer"),
    ({"dense": {"hnsw_m": 10_000}}, "dense.hnsw_m must be an integer from 4 to 128"),
    ({"dense": {"ef_search": 1.5}}, "dense.ef_search must be an integer from 1 to 10000"),
    ({"dense": {"filter_exact_below": -1}}, "dense.filter_exact_below must be an integer"),
    ({"fusion": {"depth": 1_000_000_000}}, "fusion.depth must be an integer from 1 to 10000"),
    ({"fusion": {"depth": 10**400}}, "fusion.depth must be .* an integer of 1329 bits"),
    ({"fusion": {"method": "max"}}, "fusion.method 'max' unknown; allowed: rrf, score"),
    ({"fusion": {"alpha": float("nan")}}, r"fusion.alpha must be in \[0, 1\], got nan"),
    ({"fusion": {"weights": [1]}}, r"fusion.weights must be two numbers \(lexical, dense\)"),
    ({"fusion": {"weights": [1, "2"]}}, "fusion.weights must be a number"),
    ({"fusion": {"adaptive": "yes"}}, "fusion.adaptive must be true or false"),
    ({"fusion": {"rrf_k": -1}}, "fusion.rrf_k must be an integer from 0 to 1000000"),
    ({"text_fields": "title"}, "text_fields must be a list of 1 to 32 field names"),
    ({"text_fields": []}, "text_fields must be a list of 1 to 32 field names"),
    ({"text_fields": ["title", 5]}, "text_fields must be a non-empty string"),
    ({"text_fields": ["id"]}, "text_fields: 'id' is reserved"),
    ({"text_fields": ["a", "a"]}, "text_fields has duplicates"),
    ({"text_fields": ["t\ud800"]}, "text_fields must be .*no lone surrogates"),
    ({"encoder": 5}, "encoder must be a non-empty string"),
    ({"late": {"enabled": "no"}}, "late.enabled must be true or false, got 'no'"),
    ({"late": {"drop_stopwords": 1}}, "late.drop_stopwords must be true or false"),
    ({"late": {"rerank_depth": 10**6}}, "late.rerank_depth must be an integer from 1 to 10000"),
    ({"late": {"projection_dim": 4}}, "late.projection_dim must be an integer from 8 to 4096"),
    ({"late": {"muvera": 5}}, "late.muvera must be an object"),
    ({"late": {"muvera": {"r_reps": 10**6}}}, r"late.muvera.r_reps must be an integer >= 1"),
    ({"late": {"muvera": {"d_proj": 4096}}}, "late.muvera.d_proj must be an integer >= 1 and"),
    ({"late": {"muvera": {"k_sim": 10, "r_reps": 20}}}, r"r_reps \* 2\*\*k_sim \* d_proj must"),
    ({"late": {"muvera": {"k": 1}}}, "unknown late.muvera key"),
    ({"recommend": {"depth": 0}}, "recommend.depth must be an integer from 1 to 10000"),
    ({"recommend": {"event_weights": {}}}, "recommend.event_weights must name at least one"),
    ({"recommend": {"event_weights": []}}, "recommend.event_weights must be an object"),
    ({"recommend": {"event_weights": {"view": True}}}, "recommend.event_weights.view must be"),
    ({"recommend": {"sources": {"magic": 1}}}, "sources key 'magic' unknown; allowed: co-visit"),
    ({"recommend": {"refit_growth": float("inf")}}, r"refit_growth must be in \[0, 1e\+06\]"),
    ({"recommend": {"popularity_half_life_days": 0}}, "popularity_half_life_days must be"),
    ({"nonsense": 1}, "unknown key.*nonsense.*allowed: text_fields"),
    ("not an object", "config must be an object"),
]


@pytest.mark.parametrize(("data", "message"), BAD_CONFIGS)
def test_bad_configs_name_the_field_and_the_range(data: Any, message: str) -> None:
    with pytest.raises(sleuth.InvalidInput, match=message):
        CollectionConfig.from_dict(data)


def test_the_same_checks_apply_to_the_python_constructors() -> None:
    with pytest.raises(sleuth.InvalidInput, match=r"fusion.depth must be an integer"):
        FusionConfig(depth=1e9)  # type: ignore[arg-type]
    with pytest.raises(sleuth.InvalidInput, match=r"late.enabled must be true or false"):
        LateConfig(enabled="no")  # type: ignore[arg-type]
    with pytest.raises(sleuth.InvalidInput, match=r"late.muvera must be an object"):
        LateConfig(muvera={"k_sim": 3})  # type: ignore[arg-type]
    with pytest.raises(sleuth.InvalidInput, match="dense must be an object"):
        CollectionConfig(dense=5)  # type: ignore[arg-type]


def test_valid_configs_round_trip_through_json_in_canonical_types() -> None:
    config = CollectionConfig.from_dict(
        {
            "text_fields": ["title"],
            "bm25": {"k1": 2, "stemmer": None, "stopwords": None},
            "fusion": {"weights": [1, 2], "depth": 10_000},
            "late": {"enabled": True, "muvera": {"k_sim": 3, "r_reps": 4}},
            "recommend": {"event_weights": {"view": 1}, "popularity_half_life_days": None},
        }
    )
    assert config.text_fields == ("title",) and config.bm25.k1 == 2.0
    assert isinstance(config.bm25.k1, float) and config.fusion.weights == (1.0, 2.0)
    assert config.late.muvera == MuveraConfig(k_sim=3, r_reps=4)
    again = CollectionConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert CollectionConfig.from_dict({}) == CollectionConfig()


@pytest.mark.parametrize(
    ("config", "encoder", "message"),
    [
        ({"bm25": {"stemmer": "klingon"}}, "hashing", "bm25.stemmer"),
        ({"fusion": {"depth": 10**9}}, "hashing", "fusion.depth"),
        (None, "hashing:7", "hashing encoder dimension must be an integer from 8 to 65536"),
        (None, "hashing:99999999", "hashing encoder dimension must be an integer from 8 to 655"),
        (None, "hashing:x", "hashing encoder dimension"),
        (None, "no-such-model", "unknown encoder 'no-such-model'"),
        ({"late": {"enabled": True}}, "hashing", None),  # valid: created, as a control
    ],
)
def test_an_invalid_new_collection_creates_nothing(
    tmp_path: Path, config: Any, encoder: str, message: str | None
) -> None:
    for folder in (tmp_path / "new" / "deeper" / "col", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()

        def create(target: Path = folder) -> sleuth.Collection:
            cfg = CollectionConfig.from_dict(config) if config is not None else None
            return sleuth.open(target, encoder=encoder, config=cfg)

        if message is None:
            create().close()
            assert (folder / "sleuth.sqlite").exists()
            continue
        with pytest.raises(sleuth.InvalidInput, match=message):
            create()
        if folder.name == "empty":
            assert list(folder.iterdir()) == []  # an empty folder given stays empty
        else:
            assert not (tmp_path / "new").exists()  # nor the parents it would have made


def test_over_http_an_invalid_config_leaves_no_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = Engine(data, default_encoder="hashing")
    engine.create("ok").add([{"id": "a", "text": "hello"}])
    before = sorted(p.name for p in data.iterdir())
    bodies = [
        {"name": "c1", "config": {"bm25": {"stemmer": "klingon"}}},
        {"name": "c2", "config": {"dense": 5}},
        {"name": "c3", "config": {"fusion": {"depth": 1_000_000_000}}},
        {"name": "c4", "config": {"text_fields": "title"}},
        {"name": "c5", "config": {"late": {"enabled": "no"}}},
        {"name": "c6", "config": {"bm25": {"k1": "x"}}},
        {"name": "c7", "config": {"dense": {"exact_threshold": "10"}}},
        {"name": "c8", "encoder": "hashing:7"},
        {"name": "c9", "encoder": "hashing:99999999"},
    ]
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        for body in bodies:
            response = client.post("/collections", json=body)
            assert response.status_code in (400, 422), (body, response.text)
            message = response.json()["error"]["message"]
            # the schema (pydantic) or the engine answers; either way it names the field
            field = next(iter(body.get("config", {"encoder": None})))
            assert field in message, (body, message)
            assert any(w in message for w in ("must be", "allowed", "should be")), message
        assert sorted(p.name for p in data.iterdir()) == before
        listed = client.get("/collections")
        assert listed.status_code == 200
        assert [c["name"] for c in listed.json()["collections"]] == ["ok"]
        found = client.post("/collections/ok/search", json={"query": "hello", "mode": "lexical"})
        assert [h["id"] for h in found.json()["hits"]] == ["a"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
SECTIONS = {
    "bm25": ["k1", "b", "stemmer", "stopwords"],
    "dense": ["exact_threshold", "hnsw_m", "ef_construction", "ef_search", "filter_exact_below"],
    "fusion": ["method", "rrf_k", "weights", "normalization", "alpha", "adaptive", "depth"],
    "late": ["enabled", "projection_dim", "pool_factor", "dtype", "rerank_depth", "muvera"],
    "recommend": ["event_weights", "sources", "depth", "refit_growth"],
}
# a known section and key with an arbitrary JSON value: the values the checks must judge
FIELD_VALUES = st.sampled_from(sorted(SECTIONS)).flatmap(
    lambda section: st.builds(
        lambda key, value: {section: {key: value}}, st.sampled_from(SECTIONS[section]), JSON
    )
)


@settings(max_examples=400, deadline=None)
@given(data=FIELD_VALUES | st.dictionaries(st.sampled_from(["text_fields", "encoder"]), JSON))
def test_any_json_is_a_valid_config_or_invalid_input(data: dict[str, Any]) -> None:
    """Never a TypeError or a config that round-trips differently; what is accepted is JSON."""
    try:
        config = CollectionConfig.from_dict(data)
    except sleuth.InvalidInput as exc:
        assert exc.details.get("field") or "must" in str(exc) or "unknown" in str(exc)
        return
    assert CollectionConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def _bounds(schema: dict[str, Any], defs: dict[str, Any], path: tuple[str, ...] = ()) -> Any:
    """(path, lowest, highest) of every bounded number in a JSON schema of a config."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    for option in schema.get("anyOf", []):
        yield from _bounds(option, defs, path)
    for name, sub in schema.get("properties", {}).items():
        yield from _bounds(sub, defs, (*path, name))
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    if low is not None and "maximum" in schema:
        step = 1 if schema.get("type") == "integer" else 1e-9
        low = low + step if "exclusiveMinimum" in schema else low
        yield path, low, schema["maximum"]


def test_every_config_the_server_schema_allows_the_engine_takes() -> None:
    from sleuth.server.config_schema import ConfigIn

    schema = ConfigIn.model_json_schema()
    found = list(_bounds(schema, schema.get("$defs", {})))
    assert len(found) >= 20  # every bounded key of every section
    for path, low, high in found:
        for value in (low, high):
            config: dict[str, Any] = {}
            node = config
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
            if path[-1] == "weights":
                node[path[-1]] = [value, value]
            CollectionConfig.from_dict(config)  # raises if the engine is narrower

"""What a hostile client cannot do: learn the server's paths, name files as encoders, make the
server read a body without the key, grow the metrics without bound, or reach a keyless server
through a host name it does not answer to (DNS rebinding)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
from pathlib import Path

import httpx
import pytest

from sleuth.catalog import Engine
from sleuth.encoders import HashingEncoder
from sleuth.server import AllowedHosts, Limits
from sleuth.server.encoders import BUILT_IN_PATTERN, EncoderAllowList
from support import CATALOG, ServerProcess, item_id, live_server


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    with Engine(path, default_encoder="hashing") as engine:
        engine.create("docs").add(CATALOG)
        engine.create("broken")
    (path / "broken" / "sleuth.sqlite").write_bytes(b"garbage" * 1000)
    return path


# -- paths -----------------------------------------------------------------------------------


def test_no_answer_shows_the_data_folder(data: Path) -> None:
    engine = Engine(data, default_encoder="hashing", lock_timeout=0.2)
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        answers = [
            client.get("/collections"),
            client.get("/collections/docs"),
            client.get("/collections/broken"),
            client.post("/collections/broken/search", json={"query": "x"}),
            client.get("/collections/nope"),
            client.get(f"/collections/docs/items/{item_id(1)}"),
            client.get("/collections/docs/items/missing/similar"),
            client.post("/collections/docs/search", json={"query": "x", "where": {"a": {}}}),
            client.post("/collections", json={"name": "docs"}),
            client.post("/collections", json={"name": "x", "encoder": str(data)}),
            client.post("/collections", json={"name": "x", "config": {"bm25": {"k1": -1}}}),
            client.get("/health"),
            client.get("/metrics"),
            client.get("/reports/nope"),
        ]
        # Another process holds the write lock: the 409 names the collection, not its folder.
        fd = os.open(data / "docs" / "write.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            batch = {"items": [{"id": "n", "text": "x"}]}
            locked = client.post("/collections/docs/items", json=batch)
        finally:
            os.close(fd)
        assert locked.status_code == 409 and "another process" in locked.text
        assert "'docs'" in locked.text or "collection docs" in locked.text
        answers.append(locked)
    assert {a.status_code for a in answers} >= {200, 404, 409, 422, 503}
    for answer in answers:
        for shown in (str(data), str(data.resolve()), str(data.parent)):
            assert shown not in answer.text, (answer.request.url, answer.text)
    info = answers[1].json()
    assert "path" not in info and info["name"] == "docs" and info["items"] == len(CATALOG)


# -- encoders --------------------------------------------------------------------------------


def test_the_built_in_pattern_is_exactly_the_hashing_range_from_16() -> None:
    """The OpenAPI document shows the pattern: it must match what HashingEncoder takes, from
    the 16 dimensions that every late-interaction configuration of the schema fits."""
    for dim in [*range(0, 300), *range(65_000, 66_000), 99_999_999]:
        try:
            HashingEncoder(dim)
            valid = dim >= 16
        except ValueError:
            valid = False
        assert bool(re.match(BUILT_IN_PATTERN, f"hashing:{dim}")) == valid, dim
    assert not re.match(BUILT_IN_PATTERN, "hashing:0064")  # one spelling per dimension


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models directory with one (fake) model folder, and ways out of it."""
    root = tmp_path / "models"
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "config.json").write_text("{}")
    outside = tmp_path / "outside-model"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    (root / "escape").symlink_to(outside)
    return root


def test_only_built_in_names_and_folders_inside_the_models_directory(
    models: Path, tmp_path: Path
) -> None:
    allow = EncoderAllowList(models)
    assert allow.check("hashing:64") == "hashing:64" and allow.check("minilm") == "minilm"
    assert allow.check("tiny") == str(models.resolve() / "tiny")
    outside = str(tmp_path / "outside-model")
    for name in ["escape", "../outside-model", outside, "tiny/..", "./tiny", "tiny\\x", "nope"]:
        with pytest.raises(ValueError, match="not allowed") as caught:
            allow.check(name)
        assert "tiny" in str(caught.value)  # it lists what is there
    with pytest.raises(ValueError, match="--models DIR"):
        EncoderAllowList(None).check("tiny")


def test_post_collections_refuses_any_other_encoder(data: Path, models: Path) -> None:
    engine = Engine(data, default_encoder="hashing")
    with (
        live_server(engine, models=models) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        for encoder in ["/etc", str(models / "tiny"), "../models/tiny", "escape", "hashing:7"]:
            for body in (
                {"encoder": encoder},
                {"config": {"encoder": encoder}},
                {"encoder": "hashing", "config": {"encoder": encoder}},
            ):
                answer = client.post("/collections", json={"name": "new", **body})
                assert answer.status_code == 422, answer.text
                assert "not allowed" in answer.json()["error"]["message"]
        assert "new" not in engine.names() and not (data / "new").exists()
        # "tiny" is allowed but holds no real model: a 422 that names it, and nothing created.
        unloadable = client.post("/collections", json={"name": "new", "encoder": "tiny"})
        assert unloadable.status_code == 422, unloadable.text
        message = unloadable.json()["error"]["message"]
        assert "tiny" in message and "cannot load" in message, message
        assert str(models) not in unloadable.text and not (data / "new").exists()
        created = client.post("/collections", json={"name": "new", "encoder": "hashing:32"})
        assert created.status_code == 201 and created.json()["encoder"] == "hashing:32"
        pattern = client.get("/openapi.json").json()["components"]["schemas"]["CollectionCreate"]
        assert "|" in str(pattern["properties"]["encoder"])  # model names are documented


@pytest.mark.model
def test_a_model_folder_in_the_models_directory_is_served_by_its_name(
    data: Path, tmp_path: Path
) -> None:
    from sleuth.encoders.sentence import bundled_minilm

    models = tmp_path / "models"
    shutil.copytree(bundled_minilm(), models / "mini", copy_function=_link_or_copy)
    engine = Engine(data, default_encoder="hashing")
    with (
        live_server(engine, models=models) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        created = client.post("/collections", json={"name": "m", "encoder": "mini"})
        assert created.status_code == 201, created.text
        assert created.json()["config"]["encoder"] == "mini"  # the name, not the server's path
        assert str(tmp_path) not in created.text


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# -- the key, before the body ----------------------------------------------------------------


def test_the_key_is_checked_before_the_body_is_read(data: Path) -> None:
    engine = Engine(data, default_encoder="hashing")
    limits = Limits(max_body_bytes=1000)
    key = {"Authorization": "Bearer s3cret"}
    with (
        live_server(engine, api_key="s3cret", limits=limits) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        json_headers = {"content-type": "application/json"}
        malformed = client.post("/collections/docs/search", content=b"{oops", headers=json_headers)
        assert malformed.status_code == 401
        too_big = client.post("/collections/docs/items", content=b"x" * 5000, headers=json_headers)
        assert too_big.status_code == 401
        assert (
            client.post(
                "/collections/docs/items", content=b"x" * 5000, headers={**json_headers, **key}
            ).status_code
            == 413
        )
        wrong_scheme = client.get("/collections", headers={"Authorization": "Basic czNjcmV0"})
        assert wrong_scheme.status_code == 401
        for docs in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(docs).status_code == 401
            assert client.get(docs, headers=key).status_code == 200
        for public in ("/health", "/", "/static/app.js"):
            assert client.get(public).status_code == 200
        assert client.get("/collections", headers=key).status_code == 200
        # A chunked body that never ends: without a key, the answer comes before it would.
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(
                b"POST /collections/docs/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'5\r\n{"ite\r\n'
            )
            assert raw.recv(4096).startswith(b"HTTP/1.1 401")


# -- metrics ---------------------------------------------------------------------------------


def test_unknown_methods_share_one_metrics_label(data: Path) -> None:
    with (
        live_server(Engine(data, default_encoder="hashing")) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        for method in ["FOOA", "FOOB", "FOOC", "GET"]:
            client.request(method, "/health")
        for path in ["/a", "/b/c", "/collections/docs/nothing/here"]:
            client.get(path)
        text = client.get("/metrics").text
    methods = set(re.findall(r'sleuth_requests_total\{[^}]*method="([^"]+)"', text))
    assert methods == {"GET", "other"}
    other = re.search(
        r'sleuth_requests_total\{endpoint="/health",method="other",status="(\d+)"\} (\S+)', text
    )
    assert other and float(other.group(2)) == 3
    endpoints = set(re.findall(r'sleuth_requests_total\{endpoint="([^"]+)"', text))
    assert endpoints == {"/health", "unmatched"}  # unmatched paths share one label


# -- Host ------------------------------------------------------------------------------------


def test_a_keyless_server_answers_only_its_own_host_names(data: Path) -> None:
    engine = Engine(data, default_encoder="hashing")
    hosts = AllowedHosts.for_bind("127.0.0.1", ["search.internal"])
    with (
        live_server(engine, allowed_hosts=hosts) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        port = url.rsplit(":", 1)[1]
        for host in [
            "127.0.0.1",
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            f"[::1]:{port}",
            "search.internal",
            f"Search.Internal.:{port}",
        ]:
            assert client.get("/collections", headers={"Host": host}).status_code == 200, host
        for host in [
            f"evil.example:{port}",
            "127.0.0.1.evil.example",
            "localhost.evil",
            "10.0.0.1",
        ]:
            answer = client.get("/collections", headers={"Host": host})
            assert answer.status_code == 421, host
            assert "--allowed-host" in answer.json()["error"]["message"]
            assert client.get("/health", headers={"Host": host}).status_code == 421
    with (
        live_server(engine, api_key="k") as url,
        httpx.Client(base_url=url, timeout=30, headers={"Authorization": "Bearer k"}) as client,
    ):  # the key is what a rebinding page cannot have: any name is answered
        assert client.get("/collections", headers={"Host": "search.example"}).status_code == 200


def test_host_rules_for_each_kind_of_bind_address() -> None:
    everywhere = AllowedHosts.for_bind("0.0.0.0")
    assert all(everywhere.allows(h) for h in ["10.1.2.3:8080", "[fe80::1]:80", "localhost"])
    assert not everywhere.allows("attacker.example")
    lan = AllowedHosts.for_bind("192.0.2.7", ["search.lan"])
    assert lan.allows("192.0.2.7:8080") and lan.allows("search.lan")
    assert not lan.allows("localhost") and not lan.allows("192.0.2.8")


def test_sleuth_serve_takes_allowed_hosts_and_models(tmp_path: Path, models: Path) -> None:
    server = ServerProcess(
        tmp_path / "data", "--allowed-host", "search.internal", "--models", str(models)
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/health", headers={"Host": "search.internal"}).status_code == 200
            assert client.get("/health", headers={"Host": "other.internal"}).status_code == 421
            assert client.get("/health").status_code == 200
            refused = client.post("/collections", json={"name": "x", "encoder": "nope"})
            assert refused.status_code == 422
            assert "models directory: tiny" in refused.json()["error"]["message"]
            assert str(tmp_path) not in refused.text
    finally:
        server.stop()

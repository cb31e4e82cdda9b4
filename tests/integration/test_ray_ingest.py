"""``sleuth.distributed.add`` on a local Ray cluster: the collection it writes equals plain
``upsert``'s; a worker killed mid-job loses nothing acknowledged and a rerun completes with
every item once, encoding only what the embedding cache lacks; bad input fails as plain
``add`` does, before any worker starts."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from ray_support import ray_cluster
from sleuth.encoders.cache import content_hash
from sleuth.errors import Conflict, InvalidInput, SleuthError
from sleuth.io.readers import read_items

pytestmark = pytest.mark.slow

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    yield from ray_cluster()


def _items(n: int) -> list[dict[str, Any]]:
    """Texts of varied lengths; every 10th item repeats the text of the one before (one
    encoding serves both); item 3 brings its own vector."""
    items = []
    for i in range(n):
        j = i - 1 if i % 10 == 9 else i
        words = [WORDS[(j * 7 + k) % len(WORDS)] for k in range(1 + j % 23)]
        items.append({"id": f"d{i}", "title": f"doc {j}", "text": " ".join(words), "n": i})
    items[3]["vector"] = [1.0] + [0.0] * 255
    return items


def _write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def _distinct_texts(items: list[dict[str, Any]]) -> set[str]:
    return {content_hash(f"{i['title']} {i['text']}") for i in items if "vector" not in i}


def test_the_collection_equals_plain_add(ray: Any, tmp_path: Path) -> None:
    from sleuth.distributed import add

    items = _items(300)
    source = _write(tmp_path / "items.jsonl", items)
    report = add(tmp_path / "ray", source, encoder="hashing", workers=2, batch=16)
    with sleuth.open(tmp_path / "plain", encoder="hashing") as plain:
        plain.upsert(read_items(source))
        with sleuth.open(tmp_path / "ray") as col:
            ids = [item["id"] for item in items]
            assert col.count() == plain.count() == len(items)
            assert [col.get(i).to_dict() for i in ids] == [plain.get(i).to_dict() for i in ids]
            np.testing.assert_allclose(col.vectors(ids), plain.vectors(ids), atol=1e-6)
            for query in ("alpha beta", "sigma kappa iota"):
                got = [(h.id, round(h.score, 5)) for h in col.search(query, k=10)]
                assert got == [(h.id, round(h.score, 5)) for h in plain.search(query, k=10)]
    assert report.result.added == len(items)
    assert report.encoded == len(_distinct_texts(items))  # a repeated text is encoded once
    assert report.given == 1 and report.cached == 0
    assert sum(report.per_worker.values()) == report.encoded
    assert report.batches >= 1


def test_a_killed_worker_loses_nothing_and_a_rerun_encodes_only_what_is_missing(
    ray: Any, tmp_path: Path
) -> None:
    from sleuth.distributed import IngestReport, add

    items = _items(240)
    source = _write(tmp_path / "items.jsonl", items)
    folder = tmp_path / "col"
    killed: list[int] = []

    def kill_a_worker(report: IngestReport) -> None:
        if not killed and report.per_worker:
            killed.append(next(iter(report.per_worker)))
            os.kill(killed[0], signal.SIGKILL)

    first: IngestReport | None = None
    try:
        first = add(
            folder,
            source,
            encoder="hashing",
            workers=2,
            batch=4,
            write_batch=8,
            on_batch=kill_a_worker,
        )
    except SleuthError as exc:  # Ray gave up: the job says so, and what it kept
        assert "run the job again to resume" in exc.message
    assert killed, "no batch was committed before the end"
    # the kill landed mid-job: the job failed, or Ray restarted the actor (a new process)
    assert first is None or first.restarts >= 1
    hashes = _distinct_texts(items)
    with sleuth.open(folder) as col:
        written = col.count()
        cached = len(col.store.vectors(col.encoder.id, sorted(hashes), col.dim))
    if first is not None:  # completed despite the kill: everything is in
        assert (written, cached) == (len(items), len(hashes))
    rerun = add(folder, source, workers=2, batch=4)
    assert rerun.encoded == len(hashes) - cached  # nothing cached is encoded again
    assert rerun.cached == cached
    assert rerun.result.added == len(items) - written
    with sleuth.open(folder) as col, sleuth.open(tmp_path / "plain", encoder="hashing") as plain:
        plain.upsert(read_items(source))
        ids = [item["id"] for item in items]
        assert col.count() == len(items)  # every item once
        assert [col.get(i).to_dict() for i in ids] == [plain.get(i).to_dict() for i in ids]
        np.testing.assert_allclose(col.vectors(ids), plain.vectors(ids), atol=1e-6)


def test_bad_input_fails_as_plain_add_does_and_creates_nothing(tmp_path: Path) -> None:
    from sleuth.distributed import add

    items = _items(5)
    lines = [json.dumps(item) for item in items]
    lines[2] = json.dumps({"id": "d2", "title": ["not", "text"]})
    source = tmp_path / "bad.jsonl"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput) as plain:
        read_items(source)
    with pytest.raises(InvalidInput) as ours:
        add(tmp_path / "col", source, encoder="hashing")
    assert ours.value.message == plain.value.message
    assert ":3:" in ours.value.message  # the file's line
    assert not (tmp_path / "col").exists()


def test_add_without_upsert_refuses_an_existing_id_before_writing(tmp_path: Path) -> None:
    from sleuth.distributed import add

    with sleuth.open(tmp_path / "col", encoder="hashing") as col:
        col.add([{"id": "d4", "text": "already here"}])
        with pytest.raises(Conflict, match="'d4' already exists"):
            add(col, _items(8), upsert=False)
        assert col.count() == 1


def test_without_ray_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sleuth.distributed import add

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(InvalidInput, match=r"pip install 'sleuth\[ray\]'"):
        add(tmp_path / "col", _items(5), encoder="hashing")
    assert not (tmp_path / "col").exists()

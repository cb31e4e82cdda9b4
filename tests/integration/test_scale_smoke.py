"""The scale benchmark in CI size: ``benchmarks/scale.py``'s phases on a tiny generated catalog
(``benchmarks/_scale_data.py``), checking what they report, not how fast (the machine is
shared). The write cost's growth with size is ``test_write_cost.py``'s structural check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _scale_data as data  # noqa: E402
import _scale_report as report  # noqa: E402
import scale  # noqa: E402

import sleuth  # noqa: E402

N, QUERIES = 2_000, 40


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scale") / str(N)
    data.generate(N, folder)
    return folder


@pytest.fixture(scope="module")
def ingested(catalog: Path) -> tuple[Path, dict[str, Any]]:
    path = catalog.parent / "collection"
    return path, scale.ingest(catalog, path)


def test_recall_is_the_share_of_the_true_top_k_found() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, -1, -1]])  # -1 pads a filter passing 2 items
    assert data.recall([[4, 3, 2, 1], [6, 5]], truth) == 1.0
    assert data.recall([[1, 9, 8, 7], [5, 0]], truth) == pytest.approx((0.25 + 0.5) / 2)


def test_ingest_reports_the_collection_it_built(ingested: tuple[Path, dict[str, Any]]) -> None:
    path, res = ingested
    assert res["items"] == N and res["items_per_s"] == pytest.approx(N / res["seconds"])
    assert res["disk_bytes"] == sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert res["rss_mb"]["VmHWM"] >= res["rss_mb"]["VmRSS"] > 0
    with sleuth.open(path) as col:
        assert col.count() == N and col.info()["encoder"] == f"none:{data.DIM}"


def test_queries_find_the_exact_answers(
    catalog: Path, ingested: tuple[Path, dict[str, Any]]
) -> None:
    res = scale.query(catalog, ingested[0], limit=QUERIES)
    # below exact_threshold sleuth searches exactly: its top 10 is numpy's
    assert res["queries"] == QUERIES and res["dense"]["recall@10"] >= 0.99
    assert len(res["dense"]["runs_ms"]) == QUERIES
    for kind in data.FILTER_KINDS:  # each filter passes ~1% of the items: at least 10 here
        assert res["filtered"][kind]["mean_hits"] == data.K
        assert res["filtered"][kind]["recall@10"] >= 0.99, kind
    assert res["hybrid"]["mean_hits"] == data.K
    memory = res["memory"]
    assert memory["vector_bytes"] == N * data.DIM * 4 and memory["postings_bytes"] > 0
    assert memory["rss_over_needed"] == pytest.approx(
        memory["rss_mb"] * 2**20 / (memory["vector_bytes"] + memory["postings_bytes"])
    )


def test_upserts_are_seen_then_undone(catalog: Path, ingested: tuple[Path, dict[str, Any]]) -> None:
    path = ingested[0]
    res = scale.upsert(catalog, path, rounds=3)
    assert res["first_search_sees_write"] == 1.0 and len(res["upsert"]["runs_ms"]) == 3
    vectors = np.load(catalog / "vectors.npy")
    with sleuth.open(path) as col:  # the catalog again, so phases can be measured again
        assert col.count() == N
        np.testing.assert_allclose(col.vectors([str(i) for i in range(N)]), vectors, atol=1e-6)


def test_the_report_compares_with_peers_and_targets(
    catalog: Path, ingested: tuple[Path, dict[str, Any]]
) -> None:
    phases = {
        "ingest": ingested[1],
        "open": {"open_s": 0.5, "rss_mb": 100.0},
        "query": scale.query(catalog, ingested[0], limit=5),
        "upsert": {"upsert": {"p50_ms": 40.0}, "first_search_after": {"p50_ms": 1.0},
                   "first_search_sees_write": 1.0},
    }  # fmt: skip
    peers = {"faiss": {"dense": {"p50_ms": 0.5, "recall@10": 0.97}, "ingest_items_per_s": 10.0}}
    figures = report.figures(phases, peers)
    dense = figures["dense p50 ms"]
    assert dense["ratios"] == {"faiss": dense["sleuth"] / 0.5}
    assert figures["hybrid p50 ms"]["peers"] == {}
    goals = {g["target"]: g for g in report.targets(phases, None)}
    assert goals["open to first search <= 2 s"]["met"] is True
    assert goals["upsert of 100 p50 <= 50 ms"]["met"] is True
    assert goals["first search after the upsert sees it"]["met"] is True
    smaller = {"n": 100, "figures": {"upsert of 100 p50 ms": {"sleuth": 20.0}}}
    growth = {g["target"]: g for g in report.targets(phases, smaller)}
    assert growth["upsert p50 within 1.5x of 100 items"]["value"] == 2.0
    assert growth["upsert p50 within 1.5x of 100 items"]["met"] is False
    ratios = report.growth(figures, {"open to first answer s": {"sleuth": 0.25}})
    assert ratios == {"open to first answer s": 2.0}
    rows = report.summary(figures, list(goals.values()))
    assert any(r["metric"] == "dense p50 ms (best peer: faiss)" for r in rows)
    assert all(r["target_met"] is not None for r in rows if r["metric"].startswith("target: open"))

"""The learned ranker (mode ``ranked``): trained from judgments, saved with its manifest and
loaded on open, explained feature by feature, and refused on bad training input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.indexes.base import write_npz
from sleuth.rank.training import LISTS
from support import CATALOG, TOPICS, item_id

SMALL = {"rounds": 40, "min_data_in_leaf": 5}


def topic_judgments() -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """One query per (topic, word); relevant: the topic's items priced 45 or more (an
    attribute no retriever reads, so only a ranker given it can put them first)."""
    qrels, queries = {}, {}
    for t, (topic, words) in enumerate(TOPICS.items()):
        for w, word in enumerate(words.split()):
            qid = f"{t}-{w}"
            queries[qid] = f"{word} note"
            mine = [item for item in CATALOG if topic in item["tags"]]
            qrels[qid] = {item["id"]: int(item["price"] >= 45) for item in mine}
    return qrels, queries


@pytest.fixture
def col(tmp_path: Path) -> Iterator[sleuth.Collection]:
    with sleuth.open(tmp_path / "c", encoder="hashing") as collection:
        collection.add(CATALOG)
        yield collection


def test_a_ranker_given_an_attribute_learns_what_no_retriever_sees(col: sleuth.Collection) -> None:
    qrels, queries = topic_judgments()
    manifest = col.train_ranker(qrels, queries, attributes=["price"], params=SMALL)
    assert manifest["features"][-1] == "attr_price"
    assert manifest["trained_from"]["source"] == "judgments"
    dear = {item["id"] for item in CATALOG if item["price"] >= 45}
    for query in queries.values():
        ranked = [h.id for h in col.search(query, k=5, mode="ranked")]
        assert set(ranked) <= dear, query
    hybrid = [h.id for q in queries.values() for h in col.search(q, k=5, mode="hybrid")]
    assert not set(hybrid) <= dear  # the fusion alone mixes them


def test_training_is_deterministic_and_the_model_survives_reopening(tmp_path: Path) -> None:
    qrels, queries = topic_judgments()
    runs = []
    for name in ("a", "b"):
        with sleuth.open(tmp_path / name, encoder="hashing") as c:
            c.add(CATALOG)
            runs.append(c.train_ranker(qrels, queries, params=SMALL, seed=3)["sha256"])
            before = [(h.id, h.score) for h in c.search("orbit note", k=8, mode="ranked")]
        with sleuth.open(tmp_path / name) as c:
            after = [(h.id, h.score) for h in c.search("orbit note", k=8, mode="ranked")]
        assert [i for i, _ in after] == [i for i, _ in before]
        assert np.allclose([s for _, s in after], [s for _, s in before], atol=1e-6)
    assert runs[0] == runs[1]
    assert [p.name for p in (tmp_path / "a" / "ranker").iterdir()] == ["model.npz"]  # no temp


def test_explain_shows_each_feature_and_the_models_score(col: sleuth.Collection) -> None:
    qrels, queries = topic_judgments()
    manifest = col.train_ranker(qrels, queries, params=SMALL)
    hits = col.search("telescope orbit", k=10, mode="ranked", explain=True)
    assert hits and "learned_ms" in hits.trace.timings_ms
    for h in hits:
        assert h.explain is not None
        features = h.explain["features"]
        assert list(features) == manifest["features"]
        assert h.explain["retrievers"]["learned"]["score"] == pytest.approx(h.score)
        lexical = h.explain["retrievers"]["lexical"]
        if lexical is not None:  # the exact BM25 feature is the retriever's own score
            assert features["bm25"] == pytest.approx(lexical["score"], rel=1e-4)
            assert features["lexical_rank"] == lexical["rank"]
        else:
            assert features["lexical_score"] is None  # missing: NaN, shown as null
        dense = h.explain["retrievers"]["dense"]
        if dense is not None:
            assert features["cosine"] == pytest.approx(dense["score"], abs=1e-5)
    assert [name for name in LISTS if f"{name}_score" in manifest["features"]] == list(LISTS)


def test_ranked_without_a_ranker_says_how_to_train_one(col: sleuth.Collection) -> None:
    with pytest.raises(sleuth.InvalidInput, match="sleuth train ranker"):
        col.search("orbit", mode="ranked")


def test_a_ranker_copied_from_another_collection_is_refused(tmp_path: Path) -> None:
    qrels, queries = topic_judgments()
    with sleuth.open(tmp_path / "a", encoder="hashing") as a:
        a.add(CATALOG)
        a.train_ranker(qrels, queries, params=SMALL)
    with sleuth.open(tmp_path / "b", encoder="hashing") as b:
        b.add(CATALOG)
        b.train_ranker(qrels, queries, params=SMALL)  # b gets an id of its own
    shutil.rmtree(tmp_path / "b" / "ranker")
    shutil.copytree(tmp_path / "a" / "ranker", tmp_path / "b" / "ranker")
    with sleuth.open(tmp_path / "b") as b, pytest.raises(sleuth.InvalidInput, match="another"):
        b.search("orbit", mode="ranked")


def test_a_ranker_of_an_unknown_kind_is_refused(col: sleuth.Collection, tmp_path: Path) -> None:
    qrels, queries = topic_judgments()
    col.train_ranker(qrels, queries, params=SMALL)
    path = col.path / "ranker" / "model.npz"
    with np.load(path) as data:
        manifest, model = json.loads(data["__manifest__"].tobytes()), data["model"]
    write_npz(path, {**manifest, "kind": "xgboost-9"}, {"model": model})
    with sleuth.open(col.path) as again, pytest.raises(sleuth.InvalidInput, match="unknown kind"):
        again.search("orbit", mode="ranked")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda q, t: ({**q, "ghost": {item_id(1): 1}}, t), "query 'ghost'"),
        (lambda q, t: ({"0-0": {"no-such-item": 1}}, t), "document 'no-such-item'"),
        (lambda q, t: ({k: {d: 0 for d in v} for k, v in q.items()}, t), "no positive"),
        (lambda q, t: (q, {k: "" for k in t}), "non-empty text"),
        (lambda q, t: ({}, t), "non-empty mapping"),
    ],
)
def test_bad_judgments_are_refused_and_write_nothing(
    col: sleuth.Collection, change: Any, message: str
) -> None:
    qrels, queries = change(*topic_judgments())
    with pytest.raises(sleuth.InvalidInput, match=message):
        col.train_ranker(qrels, queries, params=SMALL)
    assert not (col.path / "ranker").exists()


def test_bad_options_are_refused(col: sleuth.Collection) -> None:
    qrels, queries = topic_judgments()
    for kwargs, message in (
        ({"attributes": ["color"]}, "numeric attributes"),
        ({"params": {"depth": 3}}, "unknown ranker option"),
        ({"params": {"rounds": 0}}, "positive"),
        ({"params": SMALL, "tune": True}, "not both"),
    ):
        with pytest.raises(sleuth.InvalidInput, match=message):
            col.train_ranker(qrels, queries, **kwargs)
    with pytest.raises(sleuth.InvalidInput, match="both qrels and queries"):
        col.train_ranker(qrels)
    assert not (col.path / "ranker").exists()


def test_beir_files_train_it_too(col: sleuth.Collection, tmp_path: Path) -> None:
    qrels, queries = topic_judgments()
    qrels_file = tmp_path / "qrels.tsv"
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{q}\t{d}\t{g}" for q, judged in qrels.items() for d, g in judged.items()]
    qrels_file.write_text("\n".join(lines) + "\n")
    queries_file = tmp_path / "queries.jsonl"
    queries_file.write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    from_files = col.train_ranker(str(qrels_file), queries_file, params=SMALL)
    from_dicts = col.train_ranker(qrels, queries, params=SMALL)
    assert from_files["sha256"] == from_dicts["sha256"]


def test_tune_chooses_by_cross_validation_and_says_so(col: sleuth.Collection) -> None:
    qrels, queries = topic_judgments()
    manifest = col.train_ranker(qrels, queries, tune=True)
    grid = manifest["tuning"]["grid"]
    best = max(grid, key=lambda row: row["ndcg@10"])
    assert manifest["params"] == best["params"]
    assert all(0.0 <= row["ndcg@10"] <= 1.0 for row in grid)


def test_the_cli_trains_it_and_train_alone_still_trains_the_recommender(
    col: sleuth.Collection, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from sleuth.cli import app

    qrels, queries = topic_judgments()
    qrels_file = tmp_path / "qrels.tsv"
    qrels_file.write_text(
        "".join(f"{q}\t{d}\t{g}\n" for q, j in qrels.items() for d, g in j.items())
    )
    queries_file = tmp_path / "queries.jsonl"
    queries_file.write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    folder = str(col.path)
    col.close()
    runner = CliRunner()
    args = ["train", "ranker", folder, "--qrels", str(qrels_file), "--queries", str(queries_file)]
    done = runner.invoke(app, [*args, "--attribute", "price"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["features"][-1] == "attr_price"
    bad = runner.invoke(app, ["train", "ranker", folder, "--qrels", str(qrels_file)])
    assert bad.exit_code == 1 and "both qrels and queries" in bad.output
    # `sleuth train COLLECTION` is the sequential recommender's, as it always was
    legacy = runner.invoke(app, ["train", folder])
    assert "No such command" not in legacy.output
    assert legacy.output == runner.invoke(app, ["train", "sequential", folder]).output
    with sleuth.open(folder) as again:
        assert again.search("orbit note", k=3, mode="ranked")


def test_eval_beir_trains_on_one_split_and_scores_another(tmp_path: Path) -> None:
    from sleuth.evaluate.beir import evaluate_beir, parse_modes

    qrels, queries = topic_judgments()
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": i["id"], "title": i["title"], "text": i["text"]} for i in CATALOG]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    qids = sorted(qrels)
    for split, part in (("train", qids[::2]), ("test", qids[1::2])):
        rows = [f"{q}\t{d}\t{g}\n" for q in part for d, g in qrels[q].items()]
        (folder / "qrels" / f"{split}.tsv").write_text("".join(rows))
    assert "ranked" not in parse_modes("all") and "ranked" in parse_modes("all", trained=True)
    for split in (None, "test"):
        with pytest.raises(sleuth.InvalidInput, match="--ranker-qrels"):
            evaluate_beir(
                folder,
                ["ranked"],
                encoder="hashing",
                cache_dir=tmp_path / "cache",
                ranker_qrels=split,
            )
    report = evaluate_beir(
        folder,
        ["hybrid", "ranked"],
        encoder="hashing",
        cache_dir=tmp_path / "cache",
        ranker_qrels="train",
    )
    assert set(report["runs"]) == {"hybrid", "ranked"}
    assert report["ranker"]["qrels"] == "train.tsv"
    assert report["ranker"]["queries"] == len(qids[::2])
    assert 0.0 <= report["runs"]["ranked"]["ndcg@10"] <= 1.0


def test_a_damaged_model_file_is_reported_not_served(col: sleuth.Collection) -> None:
    qrels, queries = topic_judgments()
    path = col.train_ranker(qrels, queries, params=SMALL) and col.path / "ranker" / "model.npz"
    path.write_bytes(path.read_bytes()[:-40])
    with sleuth.open(col.path) as again, pytest.raises(sleuth.InvalidInput, match="cannot be read"):
        again.search("orbit", mode="ranked")
    with sleuth.open(col.path) as again:  # and training again mends it
        again.train_ranker(qrels, queries, params=SMALL)
        assert again.search("orbit note", mode="ranked")

"""``sleuth eval beir`` on the shared BEIR data: the JSON contract, parity with bm25s, and the
bundled model's quality. Skipped with a message when ../shared/data is absent."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from sleuth.errors import InvalidInput
from sleuth.evaluate.beir import evaluate_beir, parse_modes

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "beir"
pytestmark = pytest.mark.data


def beir(name: str) -> Path:
    path = DATA / name
    if not (path / "corpus.jsonl").exists():
        pytest.skip(f"{path} is absent: the evaluation data lives in ../shared/data")
    return path


def beir_subset(name: str, folder: Path, queries: int, others: int) -> Path:
    """A BEIR folder with the first ``queries`` judged test queries of ``name``, every document
    they judge and a seeded ``others`` more: an evaluation in test size (the whole collection is
    what ``benchmarks/`` measure)."""
    source = beir(name)
    lines = (source / "qrels" / "test.tsv").read_text().splitlines()
    header, rows = lines[0], [line.split("\t") for line in lines[1:]]
    kept = list(dict.fromkeys(q for q, _, _ in rows))[:queries]
    judged = {d for q, d, _ in rows if q in kept}
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").read_text().splitlines()]
    rest = sorted(doc["_id"] for doc in corpus if doc["_id"] not in judged)
    picked = judged | set(random.Random(0).sample(rest, min(others, len(rest))))
    (folder / "qrels").mkdir(parents=True)
    (folder / "qrels" / "test.tsv").write_text(
        "\n".join([header, *("\t".join(r) for r in rows if r[0] in kept)]) + "\n"
    )
    with (folder / "corpus.jsonl").open("w") as out:
        out.writelines(json.dumps(doc) + "\n" for doc in corpus if doc["_id"] in picked)
    with (folder / "queries.jsonl").open("w") as out:
        for line in (source / "queries.jsonl").read_text().splitlines():
            if json.loads(line)["_id"] in kept:
                out.write(line + "\n")
    return folder


def test_parse_modes_lists_known_modes_on_error() -> None:
    assert parse_modes("all") == [
        "lexical",
        "dense",
        "hybrid",
        "hybrid+maxsim",
        "muvera",
        "maxsim-exact",
    ]
    assert parse_modes("dense, lexical") == ["dense", "lexical"]
    with pytest.raises(InvalidInput, match=r"allowed: lexical, dense, hybrid, hybrid\+maxsim"):
        parse_modes("lexical,colbert")


@pytest.mark.slow
def test_cli_json_contract_and_bm25_parity_on_scifact(tmp_path: Path) -> None:
    """Lexical nDCG@10 must match bm25s's published-parity 0.686 (hashing encoder: no model)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sleuth.cli",
            "eval",
            "beir",
            str(beir("scifact")),
            "--mode",
            "lexical",
            "--encoder",
            "hashing",
            "--cache-dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    report = json.loads(done.stdout)
    assert (report["dataset"], report["docs"], report["queries"]) == ("scifact", 5183, 300)
    assert report["index"]["items_per_s"] > 0
    run = report["runs"]["lexical"]
    assert set(run) >= {"ndcg@10", "recall@100", "mrr@10", "p50_ms", "p95_ms"}
    assert run["ndcg@10"] >= 0.68
    assert run["p50_ms"] <= run["p95_ms"]
    # The second run reuses the cached collection (no rebuild: same build figures).
    again = subprocess.run(done.args, capture_output=True, text=True, timeout=900, check=True)
    assert json.loads(again.stdout)["index"] == report["index"]


@pytest.mark.slow
@pytest.mark.model
def test_minilm_hybrid_beats_both_parts_on_cranfield(tmp_path: Path) -> None:
    report = evaluate_beir(
        beir("cranfield"), ["lexical", "dense", "hybrid"], encoder="minilm", cache_dir=tmp_path
    )
    ndcg = {mode: r["ndcg@10"] for mode, r in report["runs"].items()}
    assert ndcg["lexical"] >= 0.37  # bm25s: 0.374
    assert ndcg["dense"] >= 0.375  # all-MiniLM-L6-v2 exact search: 0.382
    assert ndcg["hybrid"] > max(ndcg["lexical"], ndcg["dense"]) + 0.02


@pytest.mark.slow
@pytest.mark.model
def test_muvera_keeps_the_quality_of_exact_maxsim_on_cranfield(tmp_path: Path) -> None:
    modes = ["hybrid", "hybrid+maxsim", "muvera", "maxsim-exact"]
    data = beir_subset("cranfield", tmp_path / "cranfield", queries=80, others=150)
    report = evaluate_beir(data, modes, encoder="minilm", cache_dir=tmp_path / "cache")
    runs = report["runs"]
    assert runs["muvera"]["ndcg@10"] >= 0.95 * runs["maxsim-exact"]["ndcg@10"]
    assert runs["maxsim-exact"]["ndcg@10"] >= 0.3  # MiniLM token states do match terms
    # token vectors cost memory: the late modes read more bytes per item than hybrid
    assert runs["muvera"]["bytes_per_item"] > runs["hybrid"]["bytes_per_item"]

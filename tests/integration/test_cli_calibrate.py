"""``sleuth calibrate`` and the final-list options of ``sleuth search``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run

import sleuth
from support import CATALOG, COLORS, N_ITEMS, item_id, unique_token


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-calibrate") / "col"
    with sleuth.open(path, encoder="hashing") as col:
        col.add(CATALOG)
    return path


def _judgments(folder: Path, extra: str = "") -> tuple[Path, Path]:
    qrels, queries = folder / "qrels.tsv", folder / "queries.jsonl"
    lines = [f"u{i}\t{item_id(i)}\t1" for i in range(N_ITEMS)]
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n" + extra)
    queries.write_text(
        "".join(
            json.dumps({"_id": f"u{i}", "text": unique_token(i)}) + "\n" for i in range(N_ITEMS)
        )
    )
    return qrels, queries


def test_calibrate_then_search_with_min_relevance(collection: Path, tmp_path: Path) -> None:
    qrels, queries = _judgments(tmp_path)
    done = run(
        "calibrate",
        str(collection),
        "--qrels",
        str(qrels),
        "--queries",
        str(queries),
        "--mode",
        "hybrid",
    )
    assert "calibrated hybrid from judgments" in done.stdout
    hits = json.loads(
        run("search", str(collection), unique_token(4), "--json", "--min-relevance", "0.5").stdout
    )
    assert hits and hits[0]["id"] == item_id(4)
    assert all(h["probability"] >= 0.5 for h in hits)
    auto = json.loads(
        run("search", str(collection), unique_token(4), "--json", "--cutoff", "auto").stdout
    )
    assert 1 <= len(auto) < 10
    capped = json.loads(
        run(
            "search",
            str(collection),
            "catalog entry",
            "--json",
            "--max-per",
            "color=1",
            "--diversity",
            "0.2",
        ).stdout
    )
    assert sorted(h["attributes"]["color"] for h in capped) == sorted(COLORS)


def test_bad_judgments_and_options_are_one_line_errors(collection: Path, tmp_path: Path) -> None:
    qrels, queries = _judgments(tmp_path, extra="u1\tno-such-item\t1\n")
    before = (
        (collection / "models" / "calibration.json").read_bytes()
        if (collection / "models" / "calibration.json").exists()
        else None
    )
    done = run(
        "calibrate", str(collection), "--qrels", str(qrels), "--queries", str(queries), ok=False
    )
    assert done.returncode == 1 and "no-such-item" in done.stderr
    after = (
        (collection / "models" / "calibration.json").read_bytes()
        if (collection / "models" / "calibration.json").exists()
        else None
    )
    assert before == after
    for args, needle in (
        (["--min-relevance", "2"], "min_relevance must be from 0 to 1"),
        (["--cutoff", "elbow"], "unknown cutoff"),
        (["--max-per", "color"], "ATTRIBUTE=N"),
    ):
        done = run("search", str(collection), "telescope", *args, ok=False)
        assert done.returncode == 1 and needle in done.stderr, done.stderr
    half = run("calibrate", str(collection), "--qrels", str(qrels), ok=False)
    assert "both --qrels and --queries" in half.stderr

"""Fuzzing dataset inputs: BEIR folders with missing or empty parts, event files in every
format (CSV, JSONL, MovieLens ``u.data`` / ``ratings.dat``, SASRec lines) and MovieLens movie
lists, in every encoding; a well-formed input reads back as written, a bad one names its part or
its file and line.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzzing import (
    KINDS,
    assert_located,
    encode,
    encodings,
    fuzz,
    ids,
    newlines,
    raises_invalid,
    texts,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from sleuth.io.events import read_events
from sleuth.io.readers import read_beir, read_items


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


# -- BEIR folders --------------------------------------------------------------------------

PARTS = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")


@fuzz(50)
@given(
    docs=st.lists(st.tuples(ids, texts), min_size=1, max_size=4, unique_by=lambda d: d[0]),
    queries=st.lists(st.tuples(ids, texts), min_size=1, max_size=3, unique_by=lambda q: q[0]),
    judged=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 2)), max_size=5),
    damage=st.dictionaries(
        st.sampled_from(PARTS), st.sampled_from(["missing", "empty"]), max_size=2
    ),
    header=st.booleans(),
)
def test_beir_folders_with_missing_or_empty_parts(
    folder: Path,
    docs: list[tuple[str, str]],
    queries: list[tuple[str, str]],
    judged: list[tuple[int, int, int]],
    damage: dict[str, str],
    header: bool,
) -> None:
    assume(
        all(
            "\t" not in q and "\t" not in d and "\n" not in q + d and "\r" not in q + d
            for q, _ in queries
            for d, _ in docs
        )
    )
    assume(all(q.strip() == q and d.strip() == d for q, _ in queries for d, _ in docs))
    root = Path(tempfile.mkdtemp(dir=folder))
    qrels: dict[str, dict[str, int]] = {}
    for q, d, grade in judged:
        qrels.setdefault(queries[q % len(queries)][0], {})[docs[d % len(docs)][0]] = grade
    content = {
        "corpus.jsonl": "".join(
            json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs
        ),
        "queries.jsonl": "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries),
        "qrels/test.tsv": ("query-id\tcorpus-id\tscore\n" if header else "")
        + "".join(f"{q}\t{d}\t{g}\n" for q, ds in qrels.items() for d, g in ds.items()),
    }
    (root / "qrels").mkdir()
    for part, text in content.items():
        if damage.get(part) != "missing":
            (root / part).write_text("" if damage.get(part) == "empty" else text, encoding="utf-8")
    broken = set(damage) | ({"qrels/test.tsv"} if not qrels else set())
    error = raises_invalid(lambda: read_beir(root))
    if not broken:
        assert error is None, error
        data = read_beir(root)
        assert [(i.id, i.fields["text"]) for i in data.corpus] == docs
        assert data.qrels == qrels and data.queries == {q: dict(queries)[q] for q in qrels}
    else:
        assert error is not None
        # The message names a part that is missing or empty (the first one read).
        assert any(part in error.message for part in broken), (error.message, broken)


# -- event files ---------------------------------------------------------------------------

EVENT_FORMATS = ("csv", "jsonl", "movielens", "movielens-dat", "sasrec")
simple_ids = st.text("abcXYZ019_-.", min_size=1, max_size=8)


def write_events(path: Path, fmt: str, events: list[dict[str, Any]], newline: str) -> list[str]:
    if fmt == "jsonl":
        return [json.dumps(e) for e in events]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, ["user", "item", "kind", "value", "ts"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(events)
        return out.getvalue().splitlines()
    if fmt == "sasrec":
        return [f"{e['user']} {e['item']}" for e in events]
    sep = "::" if fmt == "movielens-dat" else "\t"
    return [sep.join([e["user"], e["item"], str(e["value"]), str(int(e["ts"]))]) for e in events]


EVENT_FILES = {
    "csv": "e.csv",
    "jsonl": "e.jsonl",
    "movielens": "u.data",
    "movielens-dat": "ratings.dat",
    "sasrec": "e.txt",
}


@fuzz(60)
@given(
    fmt=st.sampled_from(EVENT_FORMATS),
    rows=st.lists(
        st.tuples(
            simple_ids,
            simple_ids,
            st.sampled_from(KINDS),
            st.integers(1, 5),
            st.integers(0, 2_000_000_000),
        ),
        min_size=1,
        max_size=6,
    ),
    encoding=encodings,
    newline=newlines,
    bad=st.none() | st.sampled_from(["only-one-cell", "u i x y z", "u\ti\tfive\t1", ""]),
    at=st.integers(0, 6),
)
def test_event_files_read_back_or_name_the_bad_line(
    folder: Path,
    fmt: str,
    rows: list[tuple[str, str, str, int, int]],
    encoding: str,
    newline: str,
    bad: str | None,
    at: int,
) -> None:
    events = [
        {"user": u, "item": i, "kind": k, "value": float(v), "ts": float(t)}
        for u, i, k, v, t in rows
    ]
    path = folder / EVENT_FILES[fmt]
    lines = write_events(path, fmt, events, newline)
    first = 1 if fmt == "csv" else 0  # the header
    at = min(at, len(events)) + first
    if bad:
        lines.insert(at, bad if fmt != "jsonl" else "{" + bad)
    path.write_bytes(encode(newline.join(lines) + newline, encoding))
    if not bad:
        got = [e.to_dict() for e in read_events(path)]
        if fmt == "sasrec":  # user and item only; the line number orders them
            want = [
                {"user": e["user"], "item": e["item"], "kind": "view", "ts": float(n)}
                for n, e in enumerate(events, 1)
            ]
        elif fmt.startswith("movielens"):
            want = [{**e, "kind": "rating"} for e in events]
        else:
            want = events
        assert got == want
    elif fmt == "sasrec" and len(bad.split()) == 2:
        assert len(read_events(path)) == len(events) + 1  # two words are a valid SASRec line
    else:
        assert_located(raises_invalid(lambda: read_events(path)), path, at + 1)


@pytest.mark.parametrize("ts", ["2024-02-30", "2024-13-01T00:00", "2024-01-01T25:00"])
def test_an_impossible_event_date_names_its_line(folder: Path, ts: str) -> None:
    path = folder / "dates.csv"
    path.write_text(f"user,item,ts\nu,i,2024-01-01\nu,i,{ts}\n", encoding="utf-8")
    assert_located(raises_invalid(lambda: read_events(path)), path, 3)


# -- MovieLens movie lists -----------------------------------------------------------------

GENRES = ("Action", "Comedy", "Drama")
latin1_titles = st.text(st.characters(codec="latin-1", exclude_characters="|\r\n("), max_size=20)


@fuzz(30)
@given(
    movies=st.lists(
        st.tuples(
            latin1_titles, st.none() | st.integers(1900, 2030), st.sets(st.sampled_from(GENRES))
        ),
        min_size=1,
        max_size=4,
    ),
    bad=st.none() | st.sampled_from(["genre line", "cell count"]),
)
def test_movielens_u_item_reads_back_or_names_the_bad_line(
    folder: Path, movies: list[tuple[str, int | None, set[str]]], bad: str | None
) -> None:
    root = Path(tempfile.mkdtemp(dir=folder))
    genre_lines = [f"{g}|{n}" for n, g in enumerate(GENRES)]
    if bad == "genre line":
        genre_lines.insert(1, "Western")
    (root / "u.genre").write_text("\n".join(genre_lines) + "\n", encoding="latin-1")
    lines = []
    for n, (title, year, genres) in enumerate(movies, 1):
        full = f"{title} ({year})" if year else title
        flags = "|".join("1" if g in genres else "0" for g in GENRES)
        lines.append(f"{n}|{full}|01-Jan-1995||http://x|{flags}")
    if bad == "cell count":
        lines.append("99|Broken (1999)|x")
    (root / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    if bad == "genre line":
        assert_located(raises_invalid(lambda: read_items(root)), root / "u.genre", 2)
        return
    if bad == "cell count":
        assert_located(raises_invalid(lambda: read_items(root)), root / "u.item", len(movies) + 1)
        return
    got = [i.to_dict() for i in read_items(root)]
    for item, (n, (title, year, genres)) in zip(got, enumerate(movies, 1), strict=True):
        names = [g for g in GENRES if g in genres]
        full = f"{title} ({year})" if year else title
        assert item["id"] == str(n) and item["genres"] == names
        assert item["title"] == (full.strip() or f"movie {n}")
        assert item["text"] == (", ".join(names) or "unknown genre")
        assert item.get("year") == year

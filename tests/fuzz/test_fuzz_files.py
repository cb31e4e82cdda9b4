"""Fuzzing the input files: JSONL, CSV, BEIR folders and event files, in every encoding and
line ending a user's tools write, with odd quoting, embedded newlines, blank lines and one bad
line planted anywhere.

A well-formed file reads back as the items (events) it was written from; a file with a bad line
is an ``InvalidInput`` whose message starts with ``<file>:<line>:`` naming the first bad line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzzing import (
    BAD_LINES,
    KINDS,
    expected_readback,
    fuzz,
    ids,
    plain_strings,
    raises_invalid,
    texts,
    valid_batches,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from sleuth.errors import InvalidInput
from sleuth.io.events import read_events
from sleuth.io.readers import read_beir, read_items

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-32")
encodings = st.sampled_from(ENCODINGS)
newlines = st.sampled_from(["\n", "\r\n"])


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-le-bom":  # what Windows tools write: a BOM, then little-endian
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode(encoding)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def assert_located(error: InvalidInput | None, path: Path, line: int) -> None:
    assert error is not None, f"expected an error at {path.name}:{line}"
    assert error.message.startswith(f"{path}:{line}: "), error.message
    assert error.details["line"] == line and "\n" not in error.message


# -- JSONL ---------------------------------------------------------------------------------


@fuzz(60)
@given(
    items=valid_batches(max_size=5),
    encoding=encodings,
    newline=newlines,
    ascii_only=st.booleans(),
    blanks=st.lists(st.integers(0, 5), max_size=3),
    bad=st.none() | st.sampled_from(BAD_LINES),
    at=st.integers(0, 5),
)
def test_jsonl_reads_back_or_names_the_bad_line(
    folder: Path,
    items: list[dict[str, Any]],
    encoding: str,
    newline: str,
    ascii_only: bool,
    blanks: list[int],
    bad: str | None,
    at: int,
) -> None:
    lines = [json.dumps(item, ensure_ascii=ascii_only) for item in items]
    for position in blanks:
        lines.insert(min(position, len(lines)), "  ")
    at = min(at, len(lines))
    if bad is not None:
        lines.insert(at, bad)
    path = folder / "items.jsonl"
    path.write_bytes(encode(newline.join(lines) + newline, encoding))
    if bad is None:
        assert [i.to_dict() for i in read_items(path)] == [expected_readback(i) for i in items]
    else:
        assert_located(raises_invalid(lambda: read_items(path)), path, at + 1)


@fuzz(30)
@given(
    items=valid_batches(max_size=4),
    garbage=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]),
    at=st.integers(0, 4),
)
def test_undecodable_bytes_name_their_line(
    folder: Path, items: list[dict[str, Any]], garbage: bytes, at: int
) -> None:
    lines = [json.dumps(item).encode() for item in items]
    at = min(at, len(lines) - 1)
    lines[at] = lines[at][:-1] + b', "x": "' + garbage + b'"}'
    path = folder / "bytes.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    error = raises_invalid(lambda: read_items(path))
    assert_located(error, path, at + 1)
    assert error is not None and "UTF-8" in error.message


@fuzz(30)
@given(
    items=valid_batches(max_size=4),
    encoding=encodings,
    indent=st.none() | st.integers(0, 2),
    bad=st.none() | st.sampled_from([{"text": "no id"}, {"id": "x", "text": 5}, "item", None]),
    at=st.integers(0, 4),
)
def test_a_json_array_reads_back_or_names_the_bad_item(
    folder: Path,
    items: list[dict[str, Any]],
    encoding: str,
    indent: int | None,
    bad: Any,
    at: int,
) -> None:
    path = folder / "items.json"
    at = min(at, len(items))
    array = [*items[:at], bad, *items[at:]] if bad is not None else items
    path.write_bytes(encode(json.dumps(array, indent=indent), encoding))
    if bad is None:
        assert [i.to_dict() for i in read_items(path)] == [expected_readback(i) for i in items]
    else:
        error = raises_invalid(lambda: read_items(path))
        assert error is not None and error.message.startswith(f"{path}: item {at}: ")
        assert error.details["index"] == at


# -- CSV -----------------------------------------------------------------------------------

# Cells that stress the quoting: separators, quotes, both newlines, spaces at the ends.
tricky_text = st.lists(
    st.sampled_from([",", '"', "\n", "\r\n", " ", "a", "b", ";", "'", "é", "\t", "x y"]),
    min_size=1,
    max_size=8,
).map("".join)
csv_text = (tricky_text | texts).filter(lambda s: s.strip() != "")
# Attribute cells and the value each one must read as (see read_csv's docstring).
csv_cells = st.one_of(
    st.integers(-(10**12), 10**12).map(lambda n: (str(n), n)),
    st.floats(-1e9, 1e9, allow_nan=False).map(lambda f: (repr(f), f)),
    st.sampled_from([("true", True), ("FALSE", False), ("True", True)]),
    st.sampled_from([("007", "007"), ("1e", "1e"), ("+", "+"), (" 12 ", 12), ("-0", 0)]),
    plain_strings.filter(lambda s: s.strip() != "" and not _number_like(s)).map(lambda s: (s, s)),
)


def _number_like(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return text.strip().lower() in ("true", "false")
    return True


@fuzz(60)
@given(
    rows=st.lists(
        st.tuples(ids, csv_text, st.one_of(st.none(), csv_cells)),
        min_size=1,
        max_size=5,
        unique_by=lambda r: r[0],
    ),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    encoding=encodings,
    newline=newlines,
)
def test_csv_with_odd_quoting_reads_back(
    folder: Path,
    rows: list[tuple[str, str, tuple[str, Any] | None]],
    quoting: int,
    encoding: str,
    newline: str,
) -> None:
    assume(all(not _number_like(r[0]) or quoting != csv.QUOTE_NONNUMERIC for r in rows))
    # Python's writer leaves a lone "\r" unquoted unless it ends its own lines with "\r\n",
    # which makes a file no reader can split right.
    cells = [str(part) for row in rows for part in (row[1], row[2] and row[2][0])]
    assume(newline == "\r\n" or not any("\r" in cell for cell in cells))
    out = io.StringIO()
    writer = csv.writer(out, quoting=quoting, lineterminator=newline)
    writer.writerow(["id", "text", "attr"])
    for item_id, text, cell in rows:
        writer.writerow([item_id, text, "" if cell is None else cell[0]])
    path = folder / "items.csv"
    path.write_bytes(encode(out.getvalue(), encoding))
    expected = [{"id": i, "text": t, **({} if c is None else {"attr": c[1]})} for i, t, c in rows]
    assert [item.to_dict() for item in read_items(path)] == expected


@fuzz(40)
@given(
    texts_=st.lists(csv_text, min_size=1, max_size=5),
    bad_row=st.integers(0, 4),
    damage=st.sampled_from(["extra cell", "bad item"]),
)
def test_a_bad_csv_row_names_the_line_it_starts_on(
    folder: Path, texts_: list[str], bad_row: int, damage: str
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # see the test above for why not "\n"
    writer.writerow(["id", "text"])
    bad_row = min(bad_row, len(texts_) - 1)
    for n, text in enumerate(texts_):
        if n == bad_row:
            # The record starts after every line break so far: "\r\n", "\r" or "\n".
            start = len(re.findall(r"\r\n|\r|\n", out.getvalue())) + 1
            writer.writerow([f"r{n}", text, "extra"] if damage == "extra cell" else [" bad", text])
        else:
            writer.writerow([f"r{n}", text])
    path = folder / "bad.csv"
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    assert_located(raises_invalid(lambda: read_items(path)), path, start)


@pytest.mark.parametrize(
    "header",
    ["text,title", "id,text,id", " id,text", "id,,text", "", "id;text", "id\ttext"],
)
def test_a_bad_csv_header_is_line_one(folder: Path, header: str) -> None:
    path = folder / "header.csv"
    path.write_text(header + "\na,b,c\n" if header else "", encoding="utf-8")
    error = raises_invalid(lambda: read_items(path))
    assert error is not None and error.details["line"] == 1, error
    assert ("only ',' is read" in error.message) == (header in ("id;text", "id\ttext"))


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
@pytest.mark.parametrize("name", ["items.jsonl", "items.csv", "events.csv"])
def test_utf16_without_a_byte_order_mark_is_named(folder: Path, encoding: str, name: str) -> None:
    path = folder / name
    text = (
        '{"id": "a", "text": "x"}\n' if name.endswith("jsonl") else "id,user,item,text\na,u,i,x\n"
    )
    path.write_bytes(text.encode(encoding))
    read = read_events if name.startswith("events") else read_items
    error = raises_invalid(lambda: read(path))
    assert_located(error, path, 1)
    assert error is not None and "without a byte-order mark" in error.message


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


@pytest.mark.xfail(
    reason="issue 10: (a) parse_event lets impossible ISO dates through", strict=False
)
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

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
    assert_located,
    encode,
    encodings,
    expected_readback,
    fuzz,
    ids,
    newlines,
    plain_strings,
    raises_invalid,
    texts,
    valid_batches,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from sleuth.io.events import read_events
from sleuth.io.readers import read_items


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


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
    cells = [str(part) for row in rows for part in (row[0], row[1], row[2] and row[2][0])]
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

"""Readers: every bad line is named by file and line; formats convert values as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sleuth.io
from sleuth.errors import InvalidInput
from sleuth.io import read_beir, read_beir_corpus, read_csv, read_items, read_jsonl


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_all_names_exist() -> None:
    assert sorted(sleuth.io.__all__) == sorted(set(sleuth.io.__all__))
    for name in sleuth.io.__all__:
        assert hasattr(sleuth.io, name), name


# --- JSONL -------------------------------------------------------------------------------------


def test_jsonl_reads_items_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.jsonl",
        '{"id": "a", "title": "Red shoe", "price": 19.5}\n\n   \n{"id": "b", "text": "Blue hat"}\n',
    )
    items = read_items(path)
    assert [i.id for i in items] == ["a", "b"]
    assert items[0].fields == {"title": "Red shoe"}
    assert items[0].attributes == {"price": 19.5}


@pytest.mark.parametrize(
    ("bad_line", "words"),
    [
        ('{"id": "x", "text": ', "invalid JSON"),
        ('["x", "y"]', "expected a JSON object, got list"),
        ('{"text": "no id here"}', "has no 'id'"),
        ('{"id": 7, "text": "numeric id"}', "must be a string"),
        ('{"id": "x", "title": "", "text": "  "}', "has no text"),
        ('{"id": "x", "text": "ok", "bad": {"nested": 1}}', "attribute 'bad'"),
    ],
)
def test_jsonl_bad_line_is_named(tmp_path: Path, bad_line: str, words: str) -> None:
    path = write(tmp_path / "items.jsonl", f'{{"id": "a", "text": "fine"}}\n\n{bad_line}\n')
    with pytest.raises(InvalidInput) as info:
        read_items(path)
    assert info.value.message.startswith(f"{path}:3: ")
    assert words in info.value.message
    assert info.value.details["line"] == 3
    assert info.value.details["path"] == str(path)


def test_jsonl_error_keeps_item_details(tmp_path: Path) -> None:
    path = write(tmp_path / "items.ndjson", '{"id": "x", "text": ""}\n')
    with pytest.raises(InvalidInput) as info:
        read_items(path)
    assert info.value.details == {"id": "x", "path": str(path), "line": 1}


def test_jsonl_with_beir_ids_hints_at_the_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.jsonl", '{"_id": "1", "text": "a doc"}\n')
    with pytest.raises(InvalidInput, match="BEIR"):
        read_jsonl(path)


def test_jsonl_not_utf8_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"id": "a", "text": "caf\xe9"}\n')
    with pytest.raises(InvalidInput, match="UTF-8"):
        read_items(path)


# --- JSON array --------------------------------------------------------------------------------


def test_json_array_and_its_errors(tmp_path: Path) -> None:
    good = write(
        tmp_path / "ok.json", json.dumps([{"id": "a", "text": "x"}, {"id": "b", "text": "y"}])
    )
    assert [i.id for i in read_items(good)] == ["a", "b"]

    bad_item = write(tmp_path / "bad.json", json.dumps([{"id": "a", "text": "x"}, {"text": "y"}]))
    with pytest.raises(InvalidInput) as info:
        read_items(bad_item)
    assert info.value.message.startswith(f"{bad_item}: item 1: ")
    assert info.value.details["index"] == 1

    not_array = write(tmp_path / "obj.json", '{"id": "a", "text": "x"}')
    with pytest.raises(InvalidInput, match="array"):
        read_items(not_array)

    broken = write(tmp_path / "broken.json", '[\n{"id": "a",\n')
    with pytest.raises(InvalidInput) as info:
        read_items(broken)
    assert "invalid JSON" in info.value.message
    assert info.value.details["line"] == 3


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_converts_attribute_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path / "items.csv",
        "id,title,text,price,stock,in_stock,discontinued,released,code,colour,ratio\n"
        "17,42,A fine shoe,19.99,3,true,FALSE,2024-01-05,007,,-1.5e3\n",
    )
    (item,) = read_csv(path)
    assert item.id == "17"  # ids stay strings even when they look numeric
    assert item.fields == {"title": "42", "text": "A fine shoe"}  # text columns stay text
    attrs = dict(item.attributes)
    assert attrs == {
        "price": 19.99,
        "stock": 3,
        "in_stock": True,
        "discontinued": False,
        "released": "2024-01-05",
        "code": "007",
        "ratio": -1500.0,
    }
    assert type(attrs["stock"]) is int and type(attrs["price"]) is float
    assert "colour" not in attrs  # empty cells are omitted


def test_csv_with_byte_order_mark_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes('\ufeffid,text\na,"two\nlines"\nb,plain\n'.encode())
    items = read_items(path)
    assert [i.id for i in items] == ["a", "b"]
    assert items[0].fields["text"] == "two\nlines"


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("title,text\nA,b\n", 1, "include 'id'"),
        ("id,text,text\na,b,c\n", 1, "once"),
        ("id,text\na,fine\nb,too,many\n", 3, "3 cells but the header has 2"),
        ("id,text\na,fine\n,no id\n", 3, "has no 'id'"),
        ("id,text,title\na,fine,x\nb,,\n", 3, "has no text"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, content: str, line: int, words: str) -> None:
    path = write(tmp_path / "items.csv", content)
    with pytest.raises(InvalidInput) as info:
        read_items(path)
    assert info.value.message.startswith(f"{path}:{line}: ")
    assert words in info.value.message
    assert info.value.details["line"] == line


def test_csv_empty_file_needs_a_header(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="header"):
        read_items(write(tmp_path / "items.csv", ""))


# --- dispatch ----------------------------------------------------------------------------------


def test_unknown_extension_lists_the_formats(tmp_path: Path) -> None:
    path = write(tmp_path / "items.txt", "id,text\n")
    with pytest.raises(InvalidInput) as info:
        read_items(path)
    for fmt in (".jsonl", ".csv", ".json", "BEIR"):
        assert fmt in info.value.message
    assert info.value.details["path"] == str(path)


def test_missing_path_and_plain_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InvalidInput) as info:
        read_items(missing)
    assert str(missing) in info.value.message
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl"):
        read_items(tmp_path)


# --- BEIR --------------------------------------------------------------------------------------


def make_beir(root: Path, qrels: str) -> Path:
    root.mkdir()
    (root / "qrels").mkdir()
    write(
        root / "corpus.jsonl",
        '{"_id": "d1", "title": "Wings", "text": "Lift of a wing.", '
        '"metadata": {"year": 1961, "authors": ["a", "b"], "venue": "JAS", "id": "clash"}}\n'
        '{"_id": "d2", "title": "", "text": ""}\n'
        '{"_id": "d3", "text": "Slipstream effects."}\n',
    )
    write(
        root / "queries.jsonl",
        '{"_id": "q1", "text": "wing lift"}\n'
        '{"_id": "q2", "text": "slipstream"}\n'
        '{"_id": "q3", "text": "never judged"}\n',
    )
    write(root / "qrels" / "test.tsv", qrels)
    return root


def test_beir_corpus_maps_ids_metadata_and_empty_documents(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "beir", "q1\td1\t1\n")
    items = {i.id: i for i in read_beir_corpus(root)}
    assert list(items) == ["d1", "d2", "d3"]
    assert items["d1"].fields == {"title": "Wings", "text": "Lift of a wing."}
    # scalar metadata becomes attributes; lists and keys clashing with the item's own do not
    assert items["d1"].attributes == {"year": 1961, "venue": "JAS"}
    assert items["d2"].fields == {"text": "(empty document)"}
    assert [i.id for i in read_items(root)] == ["d1", "d2", "d3"]


@pytest.mark.parametrize(
    "qrels",
    [
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td3\t0\nq9\td1\t1\n",
        "q1\td1\t1\nq1\td2\t2\n\nq2\td3\t0\nq9\td1\t1\n",
        "q1 0 d1 1\nq1 0 d2 2\nq2 0 d3 0\nq9 0 d1 1\n",
        "q1\t0\td1\t1\nq1\t0\td2\t2\nq2\t0\td3\t0\nq9\t0\td1\t1\n",
    ],
    ids=["header", "no-header", "trec-spaces", "trec-tabs"],
)
def test_beir_qrels_with_and_without_header(tmp_path: Path, qrels: str) -> None:
    data = read_beir(make_beir(tmp_path / "beir", qrels))
    assert data.qrels == {"q1": {"d1": 1, "d2": 2}, "q2": {"d3": 0}}
    # only judged queries are kept, and judgements of unknown queries (q9) are dropped
    assert data.queries == {"q1": "wing lift", "q2": "slipstream"}
    assert len(data.corpus) == 3


def test_beir_bad_grade_after_data_is_an_error(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "beir", "q1\td1\t1\nq2\td3\thigh\n")
    with pytest.raises(InvalidInput) as info:
        read_beir(root)
    assert info.value.details["line"] == 2
    assert "not an integer" in info.value.message


def test_beir_missing_files_are_named(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "beir", "q1\td1\t1\n")
    with pytest.raises(InvalidInput, match=r"dev\.tsv"):
        read_beir(root, split="dev")
    (root / "queries.jsonl").unlink()
    with pytest.raises(InvalidInput, match=r"queries\.jsonl"):
        read_beir(root)

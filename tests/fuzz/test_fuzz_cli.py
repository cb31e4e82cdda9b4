"""Fuzzing the CLI's reading commands (``add``, ``record``, ``eval beir``) in-process with
typer's runner, plus a few runs of the real ``sleuth`` process.

Each run either succeeds and the collection holds what the file held, or exits with 1 (bad
input) or 2 (bad usage) after one line on stderr and no traceback, leaving nothing behind: no
new collection, the same count and sequence in an existing one, which still equals its rebuild.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzzing import (
    BAD_LINES,
    ENCODER,
    assert_whole,
    expected_readback,
    fresh_collection,
    fuzz,
    state,
    valid_batches,
    valid_events,
)
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import sleuth
from sleuth.cli import app
from support import CATALOG

runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=True)


def assert_one_line_error(result: Any, *, code: int = 1, mentions: str = "") -> str:
    """A failure as users must see it: the exit code, no traceback, one ``error:`` line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines, "a failure must say why"
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert mentions in lines[0], (mentions, lines[0])
    return result.stderr


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def existing(folder: Path) -> Iterator[Path]:
    with fresh_collection() as path:
        yield path


# -- add -----------------------------------------------------------------------------------


@fuzz(25)
@given(
    items=valid_batches(max_size=4),
    bad=st.none() | st.sampled_from(BAD_LINES),
    at=st.integers(0, 4),
)
def test_add_into_a_new_collection(
    folder: Path, items: list[dict[str, Any]], bad: str | None, at: int
) -> None:
    source = folder / "items.jsonl"
    lines = [json.dumps(i) for i in items]
    if bad is not None:
        lines.insert(min(at, len(lines)), bad)
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = Path(tempfile.mkdtemp(dir=folder)) / "new"
    result = invoke("add", target, source, "--encoder", ENCODER)
    if bad is None:
        assert result.exit_code == 0, result.output
        with sleuth.open(target) as col:
            assert col.count() == len(items)
            for item in items:
                assert col.get(item["id"]).to_dict() == expected_readback(item)
        assert_whole(target)
    else:
        line = min(at, len(items)) + 1
        assert_one_line_error(result, mentions=f"{source}:{line}: ")
        assert not target.exists()  # no empty collection left behind


@fuzz(25)
@given(items=valid_batches(max_size=3), bad=st.none() | st.sampled_from(BAD_LINES))
def test_add_into_an_existing_collection(
    folder: Path, existing: Path, items: list[dict[str, Any]], bad: str | None
) -> None:
    with sleuth.open(existing) as col:
        col.delete([i["id"] for i in items], missing_ok=True)
        before = state(col)
    source = folder / "more.jsonl"
    source.write_text(
        "\n".join([json.dumps(i) for i in items] + ([bad] if bad else [])) + "\n",
        encoding="utf-8",
    )
    result = invoke("add", existing, source, "--no-upsert")
    with sleuth.open(existing) as col:
        if bad is None:
            assert result.exit_code == 0, result.output
            assert col.count() == before[0] + len(items)
        else:
            assert_one_line_error(result, mentions=f"{source}:{len(items) + 1}: ")
            assert state(col) == before
    assert_whole(existing)


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "folder as file",
        "folder without corpus",
        "unknown suffix",
        "empty csv",
        "collection is a file",
        "not UTF-8",
        "collection under a file",
    ],
)
def test_add_fails_on_one_line_for_files_it_cannot_use(folder: Path, case: str) -> None:
    base = Path(tempfile.mkdtemp(dir=folder))
    target = base / "col"
    source = base / "items.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    if case == "missing file":
        source = base / "nope.jsonl"
    elif case == "folder as file":
        source = base / "dir.jsonl"
        source.mkdir()
    elif case == "folder without corpus":
        source = base
    elif case == "unknown suffix":
        source = source.rename(base / "items.xml")
    elif case == "empty csv":
        source = base / "empty.csv"
        source.write_text("")
    elif case == "collection is a file":
        target.write_text("not a collection")
    elif case == "not UTF-8":
        source.write_bytes(b'{"id": "a", "text": "caf\xe9"}\n')
    elif case == "collection under a file":
        (base / "plain").write_text("")
        target = base / "plain" / "col"
    result = invoke("add", target, source, "--encoder", ENCODER)
    assert_one_line_error(result)
    assert target.is_file() if case == "collection is a file" else not target.exists()


@pytest.mark.parametrize(
    "encoder",
    [
        "hashing:x",
        "no-such-encoder",
        "hashing:7",
        "hashing:99999999",
    ],
)
def test_add_with_an_impossible_encoder(folder: Path, encoder: str) -> None:
    source = folder / "one.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    target = Path(tempfile.mkdtemp(dir=folder)) / "col"
    assert_one_line_error(invoke("add", target, source, "--encoder", encoder))
    assert not target.exists()


# -- record --------------------------------------------------------------------------------


@fuzz(25)
@given(
    events=st.lists(valid_events(), min_size=1, max_size=5),
    fmt=st.sampled_from(["jsonl", "csv"]),
    bad=st.none()
    | st.sampled_from(
        [
            '{"user": "u"}',
            '{"user": "u", "item": "i", "kind": "zap"}',
            "not json",
            '{"user": "u", "item": "i", "value": "x"}',
        ]
    ),
)
def test_record_counts_every_valid_event_or_nothing(
    folder: Path, existing: Path, events: list[dict[str, Any]], fmt: str, bad: str | None
) -> None:
    source = folder / f"events.{fmt}"
    if fmt == "jsonl":
        text = "".join(json.dumps(e) + "\n" for e in events)
    else:  # the same events as CSV; a bad JSON line becomes a row of one cell
        out = io.StringIO()
        writer = csv.DictWriter(out, ["user", "item", "kind", "value", "ts"], lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(events)
        text = out.getvalue()
    bad_line = len(re.findall(r"\r\n|\r|\n", text)) + 1
    if bad is not None:
        text += (bad if fmt == "jsonl" else bad.replace(",", ";")) + "\n"
    source.write_text(text, encoding="utf-8", newline="")
    with sleuth.open(existing) as col:
        before = state(col)
    result = invoke("record", existing, source)
    if bad is None:
        assert result.exit_code == 0, result.output
        assert f"recorded {len(events)} events" in result.stdout
    else:
        assert_one_line_error(result, mentions=f"{source}:{bad_line}: ")
    with sleuth.open(existing) as col:
        assert state(col) == before  # events are not items: the catalog is untouched
    assert_whole(existing)


# -- eval ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        "none",
        "no corpus",
        "empty corpus",
        "no queries",
        "no qrels",
        "empty qrels",
        "unjudged queries",
    ],
)
def test_eval_beir_runs_or_says_which_part_is_wrong(folder: Path, damage: str) -> None:
    root = Path(tempfile.mkdtemp(dir=folder))
    (root / "qrels").mkdir()
    parts = {
        "corpus.jsonl": "".join(
            json.dumps({"_id": f"d{i}", "title": "", "text": f"word{i} shared"}) + "\n"
            for i in range(6)
        ),
        "queries.jsonl": "".join(
            json.dumps({"_id": f"q{i}", "text": f"word{i}"}) + "\n" for i in range(3)
        ),
        "qrels/test.tsv": "query-id\tcorpus-id\tscore\n"
        + "".join(f"q{i}\td{i}\t1\n" for i in range(3)),
    }
    named = {
        "no corpus": "corpus.jsonl",
        "no queries": "queries.jsonl",
        "no qrels": "qrels/test.tsv",
    }
    if damage == "empty corpus":
        parts["corpus.jsonl"] = ""
    elif damage == "empty qrels":
        parts["qrels/test.tsv"] = "query-id\tcorpus-id\tscore\n"
    elif damage == "unjudged queries":
        parts["qrels/test.tsv"] = "qX\td0\t1\n"
    for part, text in parts.items():
        if named.get(damage) != part:
            (root / part).write_text(text, encoding="utf-8")
    result = invoke(
        "eval",
        "beir",
        root,
        "--mode",
        "lexical",
        "--encoder",
        ENCODER,
        "--cache-dir",
        root / "cache",
        "--json",
    )
    if damage == "none":
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["runs"]["lexical"]["ndcg@10"] == pytest.approx(1.0)  # word<i> is only in d<i>
    else:
        wanted = {
            "empty corpus": "corpus.jsonl",
            "empty qrels": "qrels/test.tsv",
            "unjudged queries": "queries.jsonl",
        }.get(damage) or named[damage]
        assert_one_line_error(result, mentions=wanted)


# -- usage errors and the real process -----------------------------------------------------


@pytest.mark.parametrize(
    "args", [["add"], ["record", "x"], ["eval", "beir"], ["add", "a", "b", "--bogus"]]
)
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    assert_one_line_error(invoke(*args), code=2)


@pytest.mark.parametrize(
    ("command", "content", "message"),
    [
        (
            "add",
            'id,text\na,"fine"\nb,"x",extra\n',
            "{source}:3: row has 3 cells but the header has 2",
        ),
        ("add", None, "{source} does not exist"),
        ("record", "user,item\nu,i\nu\n", "{source}:3: event item must be a non-empty string"),
    ],
)
def test_the_sleuth_process_prints_one_line(
    folder: Path, existing: Path, command: str, content: str | None, message: str
) -> None:
    source = Path(tempfile.mkdtemp(dir=folder)) / "input.csv"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    target = folder / "process-col" if command == "add" else existing
    done = subprocess.run(
        [sys.executable, "-m", "sleuth.cli", command, str(target), str(source)]
        + (["--encoder", ENCODER] if command == "add" else []),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (1, "")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: " + message.format(source=source))
    assert command != "add" or not target.exists()


# -- arguments of the reading commands -----------------------------------------------------


@fuzz(40)
@given(
    query=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30),
    k=st.integers(-1, 1001),
    mode=st.sampled_from(["lexical", "dense", "hybrid", "muvera", "nope"]),
    where=st.none() | st.sampled_from(["[]", "0", "{", '{"color": "red"}', '{"nope": 1}', '"x"']),
)
def test_search_arguments_answer_or_fail_on_one_line(
    existing: Path, query: str, k: int, mode: str, where: str | None
) -> None:
    args = ["search", existing, query, "--k", str(k), "--mode", mode, "--json"]
    result = invoke(*args, *(["--where", where] if where is not None else []))
    if result.exit_code == 0:
        hits = json.loads(result.stdout)
        assert len(hits) <= k and mode in ("lexical", "dense", "hybrid")
        assert where in (None, '{"color": "red"}')
        assert all(h["attributes"]["color"] == "red" for h in hits if where)
    else:
        assert_one_line_error(result, code=result.exit_code)
        assert result.exit_code in (1, 2)


@fuzz(30)
@given(
    item_id=st.text(
        st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20
    )
    | st.sampled_from([item["id"] for item in CATALOG[:12]])
)
def test_get_prints_the_item_or_says_it_is_missing(existing: Path, item_id: str) -> None:
    result = invoke("get", existing, item_id)
    catalog = {item["id"]: item for item in CATALOG[:12]}
    if item_id in catalog:
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == expected_readback(catalog[item_id])
    elif result.exit_code != 0:  # an id an earlier case added may exist
        assert_one_line_error(result, code=result.exit_code, mentions="")

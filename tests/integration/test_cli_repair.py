"""``sleuth info`` says what is wrong with a damaged collection and what can be done;
``sleuth repair`` does what is safe, and fails with one line when it cannot."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_cli import run

from support import CATALOG, unique_token


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(item) + "\n" for item in CATALOG[:12]))
    run("add", str(tmp_path / "col"), str(items), "--encoder", "hashing")
    return tmp_path / "col"


def sql(folder: Path, statement: str, *args: Any) -> None:
    con = sqlite3.connect(folder / "sleuth.sqlite", isolation_level=None)
    con.execute(statement, args)
    con.close()


def info(folder: Path) -> tuple[dict[str, Any], str]:
    done = run("info", str(folder))
    return json.loads(done.stdout), done.stderr


def assert_fails_in_one_line(done: Any, *fragments: str) -> None:
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in done.stderr


def test_a_healthy_collection_has_no_problems(collection: Path) -> None:
    report, stderr = info(collection)
    assert report["items"] == 12 and report["problems"] == [] and stderr == ""


@pytest.mark.parametrize("command", ["info", "repair"])
def test_not_a_collection(tmp_path: Path, command: str) -> None:
    assert_fails_in_one_line(run(command, str(tmp_path / "nope"), ok=False), "no such folder")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello")
    done = run(command, str(tmp_path / "other"), ok=False)
    assert_fails_in_one_line(done, "is not a sleuth collection")
    assert str(tmp_path) not in done.stderr  # no absolute path


def test_missing_meta_and_newer_format(collection: Path) -> None:
    sql(collection, "UPDATE meta SET value = '99' WHERE key = 'format_version'")
    done = run("info", str(collection), ok=False)
    assert_fails_in_one_line(done, "newer sleuth", "upgrade sleuth")
    assert json.loads(done.stdout)["problems"][0]["kind"] == "newer-format"
    assert_fails_in_one_line(run("repair", str(collection), ok=False), "cannot repair")
    sql(collection, "DELETE FROM meta WHERE key = 'format_version'")
    done = run("info", str(collection), ok=False)
    assert_fails_in_one_line(done, "format version is missing", "12 items")
    sql(collection, "DELETE FROM items")
    assert_fails_in_one_line(run("info", str(collection), ok=False), "remove the folder")


def test_an_unreadable_database(collection: Path) -> None:
    for leftover in collection.glob("sleuth.sqlite*"):
        leftover.unlink()
    (collection / "sleuth.sqlite").write_bytes(b"this is not a database" * 100)
    for command in ("info", "repair"):
        done = run(command, str(collection), ok=False)
        assert_fails_in_one_line(done, "database", "backup")


def test_a_corrupt_index_file_is_reported_and_rebuilt(collection: Path) -> None:
    (collection / "index" / "bm25" / "manifest.json").write_bytes(b"garbage")
    con = sqlite3.connect(collection / "sleuth.sqlite")
    assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 12
    con.close()
    report, stderr = info(collection)
    (problem,) = report["problems"]
    assert problem["kind"] == "index" and problem["repairable"]
    assert "index/bm25" in problem["message"] and str(collection) not in stderr
    assert "problem: " in stderr
    run("repair", str(collection))
    assert info(collection)[0]["problems"] == []
    hits = json.loads(run("search", str(collection), unique_token(3), "--json").stdout)
    assert hits[0]["id"] == CATALOG[3]["id"]


def test_damaged_rows_are_listed_kept_by_default_and_dropped_on_request(collection: Path) -> None:
    sql(
        collection,
        "UPDATE items SET attrs = ? WHERE id = ?",
        '{"released": "2024-02-30"}',
        "item-002",
    )
    sql(collection, "UPDATE items SET fields = '{broken' WHERE id = ?", "item-005")
    report, stderr = info(collection)
    ids = {p["details"]["id"] for p in report["problems"] if p["kind"] == "damaged-row"}
    assert ids == {"item-002", "item-005"}
    assert "2024-02-30" in stderr and "--drop-bad-rows" in stderr
    kept = run("repair", str(collection))
    assert "item 'item-002'" in kept.stderr and "left 2 damaged rows in place" in kept.stderr
    assert len(info(collection)[0]["problems"]) == 2  # nothing deleted without the flag
    dropped = run("repair", str(collection), "--drop-bad-rows")
    assert "deleted 2 damaged rows" in dropped.stderr
    (copy,) = (collection / "quarantine").iterdir()
    assert {json.loads(line)["id"] for line in copy.read_text().splitlines()} == {
        "item-002",
        "item-005",
    }
    report, _ = info(collection)
    assert report["problems"] == [] and report["items"] == 10
    hits = json.loads(run("search", str(collection), unique_token(7), "--json").stdout)
    assert hits[0]["id"] == CATALOG[7]["id"]

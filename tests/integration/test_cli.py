"""The ``sleuth`` command, run as users run it: a subprocess, exit codes, stdout/stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import CATALOG, unique_token

SLEUTH = [sys.executable, "-m", "sleuth.cli"]


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([*SLEUTH, *args], capture_output=True, text=True, env=env, timeout=300)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    items = folder / "items.jsonl"
    items.write_text("".join(json.dumps(item) + "\n" for item in CATALOG))
    run("add", str(folder / "col"), str(items), "--encoder", "hashing")
    return folder / "col"


def test_add_then_search_json_finds_the_item_with_the_unique_token(collection: Path) -> None:
    hits = json.loads(
        run("search", str(collection), unique_token(7), "--json", "--mode", "lexical").stdout
    )
    assert hits[0]["id"] == CATALOG[7]["id"]


def test_search_where_filters_and_k_are_honoured(collection: Path) -> None:
    hits: list[dict[str, Any]] = json.loads(
        run(
            "search",
            str(collection),
            "recipe oven",
            "--k",
            "4",
            "--where",
            '{"color": "red"}',
            "--json",
        ).stdout
    )
    assert len(hits) == 4
    assert {h["attributes"]["color"] for h in hits} == {"red"}


def test_info_get_similar_delete_round_trip(collection: Path) -> None:
    info = json.loads(run("info", str(collection)).stdout)
    assert info["items"] == len(CATALOG)
    first = CATALOG[0]["id"]
    assert json.loads(run("get", str(collection), first).stdout)["id"] == first
    similar = json.loads(run("similar", str(collection), first, "--json", "--k", "3").stdout)
    assert len(similar) == 3 and first not in {h["id"] for h in similar}
    run("delete", str(collection), CATALOG[-1]["id"])
    assert json.loads(run("info", str(collection)).stdout)["items"] == len(CATALOG) - 1
    gone = run("get", str(collection), CATALOG[-1]["id"], ok=False)
    assert gone.returncode == 1 and "no item with id" in gone.stderr


def test_bad_input_exits_1_with_a_message_and_no_traceback(
    collection: Path, tmp_path: Path
) -> None:
    bad_where = run("search", str(collection), "x", "--where", '{"color": {"near": 1}}', ok=False)
    assert bad_where.returncode == 1
    assert "unknown operator 'near'" in bad_where.stderr and "Traceback" not in bad_where.stderr
    bad_k = run("search", str(collection), "x", "--k", "0", ok=False)
    assert bad_k.returncode == 1 and "k must be an integer from 1 to 1000" in bad_k.stderr
    empty = run("search", str(collection), "   ", ok=False)
    assert empty.returncode == 1 and "query is empty" in empty.stderr
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"id": "new-1", "title": "fine"}\n{"id": "new-2", "title": \n')
    before = json.loads(run("info", str(collection)).stdout)["items"]
    bad_file = run("add", str(collection), str(lines), ok=False)
    assert bad_file.returncode == 1 and f"{lines}:2" in bad_file.stderr
    assert json.loads(run("info", str(collection)).stdout)["items"] == before
    not_col = run("search", str(tmp_path), "x", ok=False)
    assert not_col.returncode == 1 and "not a sleuth collection" in not_col.stderr


def test_rebuild_keeps_results(collection: Path) -> None:
    query = [str(collection), "telescope orbit", "--json", "--k", "5"]
    before = [h["id"] for h in json.loads(run("search", *query).stdout)]
    run("rebuild", str(collection))
    assert [h["id"] for h in json.loads(run("search", *query).stdout)] == before


@pytest.mark.parametrize(
    "mapping",
    ["who=customer_id,item=sku", "user=customer_id,item", "user=client,item=sku", "user=sku"],
)
def test_a_bad_column_mapping_exits_1_with_one_line_naming_the_columns(
    collection: Path, tmp_path: Path, mapping: str
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,sku,time\nc1,p1,5\nc1,p2,6\n")
    for command in (["record", str(collection)], ["eval", "recs"]):
        done = run(*command, str(orders), "--columns", mapping, ok=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"error: {orders}:1: ")
        assert "columns found: 'customer_id', 'sku', 'time'" in line and "allowed targets" in line


def test_add_says_what_it_is_doing(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(item) + "\n" for item in CATALOG))
    done = run("add", str(tmp_path / "col"), str(items), "--encoder", "hashing", "--progress")
    lines = done.stderr.splitlines()
    steps = [line for line in lines if ": done in " in line]
    expected = ["reading items.jsonl", f"writing {len(CATALOG)} items"]
    assert [s.split(":")[0] for s in steps] == expected
    assert lines.index("reading items.jsonl…") < lines.index(steps[0])

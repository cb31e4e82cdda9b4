"""Creating a collection is atomic: the schema and its metadata are one SQLite transaction, so
``kill -9`` during creation leaves nothing or a blank database that the next open or
``sleuth add`` completes; a database with items but no metadata (possible only with earlier
versions) is reported with what to do. Folders built by earlier versions open unchanged."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sleuth
from sleuth.store.schema import FILENAME, SCHEMA
from support import CATALOG, N_ITEMS, unique_token

CHILD_ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def plant_old_kill(folder: Path, *, with_item: bool = False) -> None:
    """What a ``kill -9`` between the two steps of earlier versions' creation left: the tables
    (created statement by statement, each committed on its own) and no metadata."""
    folder.mkdir(parents=True)
    con = sqlite3.connect(folder / FILENAME)
    con.executescript(SCHEMA)
    if with_item:
        con.execute(
            "INSERT INTO items (id, fields, attrs, hash) VALUES (?, ?, ?, ?)",
            ("a", json.dumps({"text": "x"}), "{}", "h"),
        )
        con.commit()
    con.close()


def assert_works(folder: Path) -> None:
    col = sleuth.open(folder, encoder="hashing")
    try:
        col.add(CATALOG[:5])
        assert col.count() == 5
        assert [h.id for h in col.search(unique_token(3), mode="lexical")] == [CATALOG[3]["id"]]
        assert col.info()["encoder"] == "hashing:256"
    finally:
        col.close()


def test_a_blank_database_left_by_a_killed_creation_is_completed_on_open(tmp_path: Path) -> None:
    plant_old_kill(tmp_path / "col")
    assert_works(tmp_path / "col")
    again = sleuth.open(tmp_path / "col")  # and it stays a collection, with its own encoder
    assert again.count() == 5
    again.close()


def test_sleuth_add_completes_a_blank_database(tmp_path: Path) -> None:
    plant_old_kill(tmp_path / "col")
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(item) + "\n" for item in CATALOG))
    cli = [sys.executable, "-m", "sleuth.cli", "add", str(tmp_path / "col"), str(items)]
    done = subprocess.run(
        [*cli, "--encoder", "hashing"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    col = sleuth.open(tmp_path / "col")
    assert col.count() == N_ITEMS
    col.close()


def test_items_without_metadata_are_reported_with_what_to_do(tmp_path: Path) -> None:
    plant_old_kill(tmp_path / "col", with_item=True)
    with pytest.raises(sleuth.InvalidCollection, match="holds items or events but no metadata"):
        sleuth.open(tmp_path / "col", encoder="hashing")
    with pytest.raises(sleuth.InvalidCollection, match="move the folder away and add the items"):
        sleuth.open(tmp_path / "col", encoder="hashing")
    assert (tmp_path / "col" / FILENAME).exists()  # nothing of the user's was removed


def test_the_on_disk_schema_is_what_earlier_versions_created(tmp_path: Path) -> None:
    sleuth.open(tmp_path / "new", encoder="hashing").close()
    old = tmp_path / "old"
    plant_old_kill(old)  # earlier versions: executescript(SCHEMA), then the meta rows
    new_con = sqlite3.connect(tmp_path / "new" / FILENAME)
    old_con = sqlite3.connect(old / FILENAME)
    query = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    assert new_con.execute(query).fetchall() == old_con.execute(query).fetchall()
    meta = dict(new_con.execute("SELECT key, value FROM meta").fetchall())
    assert set(meta) == {"format_version", "config", "encoder", "encoder_id", "dim"}
    # a collection written the earlier way, metadata included, opens as it is
    old_con.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
    old_con.commit()
    new_con.close()
    old_con.close()
    assert_works(old)


KILLED_IN_THE_TRANSACTION = """
import json, os, signal, sys, types
import sleuth
from sleuth.store import sqlite

def die(value):  # the schema is created, the metadata rows are being written: die now
    os.kill(os.getpid(), signal.SIGKILL)

sqlite.json = types.SimpleNamespace(dumps=die, loads=json.loads)
sleuth.open(sys.argv[1], encoder="hashing")
"""


def test_kill_9_inside_the_creation_transaction_leaves_a_blank_database(tmp_path: Path) -> None:
    folder = tmp_path / "col"
    done = subprocess.run(
        [sys.executable, "-c", KILLED_IN_THE_TRANSACTION, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env=CHILD_ENV,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    con = sqlite3.connect(folder / FILENAME)
    tables = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    con.close()
    assert tables == []  # the tables were rolled back with the metadata
    assert_works(folder)


CREATE_FOREVER = """
import sys
from pathlib import Path
import sleuth

root = Path(sys.argv[1])
print("ready", flush=True)
for i in range(10**6):
    sleuth.open(root / f"c{i}", encoder="hashing").close()
"""


@pytest.mark.slow
def test_kill_9_at_random_times_during_creation(tmp_path: Path) -> None:
    rng = random.Random(10)
    for round_ in range(4):
        root = tmp_path / f"r{round_}"
        child = subprocess.Popen(
            [sys.executable, "-c", CREATE_FOREVER, str(root)],
            stdout=subprocess.PIPE,
            text=True,
            env=CHILD_ENV,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.3, 1.2))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        folders = sorted(root.iterdir(), key=lambda p: int(p.name[1:]))
        assert folders, "the child created nothing before it was killed"
        for folder in folders:  # the last one was interrupted somewhere in its creation
            assert_works(folder)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--encoder", "hashing:7"], "hashing encoder dimension must be an integer from 8 to"),
        (["--encoder", "hashing:99999999"], "hashing encoder dimension must be an integer"),
    ],
)
def test_sleuth_add_with_an_invalid_encoder_creates_nothing(
    tmp_path: Path, options: list[str], message: str
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps(CATALOG[0]) + "\n")
    cli = [sys.executable, "-m", "sleuth.cli", "add", str(tmp_path / "col"), str(items)]
    done = subprocess.run([*cli, *options], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "col").exists()


def test_a_stored_config_beyond_todays_limits_is_an_invalid_collection(tmp_path: Path) -> None:
    sleuth.open(tmp_path / "col", encoder="hashing").close()
    con = sqlite3.connect(tmp_path / "col" / FILENAME)
    config = json.loads(con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    config["fusion"]["depth"] = 10**9  # what earlier versions accepted
    con.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    con.commit()
    con.close()
    with pytest.raises(sleuth.InvalidCollection, match="stored configuration is not valid: fusion"):
        sleuth.open(tmp_path / "col")


def test_a_blank_store_left_by_a_killed_create_is_no_collection_until_created(
    tmp_path: Path,
) -> None:
    """What ``kill -9`` during ``POST /collections`` leaves (an empty database): not listed,
    404 to read, and a new create of the same name completes it with the config asked for."""

    from sleuth.catalog import Engine

    data = tmp_path / "data"
    (data / "half").mkdir(parents=True)
    sqlite3.connect(data / "half" / "sleuth.sqlite").close()  # a blank database file
    engine = Engine(data, default_encoder="hashing")
    assert engine.names() == []
    with pytest.raises(sleuth.NotFound):
        engine.get("half")
    config = sleuth.CollectionConfig(text_fields=("body",))
    col = engine.create("half", config=config)
    col.add([{"id": "a", "body": "hello there"}])
    assert engine.names() == ["half"]
    assert col.config.text_fields == ("body",)
    assert [h.id for h in col.search("hello", mode="lexical")] == ["a"]
    engine.close()


def test_a_model_folder_that_cannot_load_is_invalid_input_and_creates_nothing(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "models" / "broken"
    bad.mkdir(parents=True)
    (bad / "config.json").write_text('{"not": "a model"}')
    with pytest.raises(sleuth.InvalidInput, match="cannot load it"):
        sleuth.open(tmp_path / "c", encoder=str(bad))
    assert not (tmp_path / "c").exists()

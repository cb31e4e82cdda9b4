"""How much memory and disk each part of a collection takes (``Collection.info()["usage"]``,
``sleuth info``).

Memory: what each index and the attribute table hold (``sleuth.indexes.memory``), in RAM and
mapped from files. Disk: every file of the folder, by part: the store (the SQLite file, its WAL
and shared-memory files), each index's files in ``index/`` (its folder ``<name>/`` of arrays and
manifest, or its file ``<name>.npz``, and the files named ``<name>.*`` beside it: the dense
index's vectors and IVF codes), the trained models, anything else; the parts add up to the
folder's total. ``store_tables`` (asked for: it reads every page header of the database, seconds at
millions of items) splits the database by table (items, vectors, events, the change log…),
each with its indexes, from SQLite's ``dbstat``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from sleuth.store.schema import FILENAME

__all__ = ["describe", "disk_usage", "human_bytes", "memory_usage", "store_tables"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def memory_usage(indexes: dict[str, dict[str, int]], attributes: dict[str, int]) -> dict[str, Any]:
    """Bytes in RAM and mapped, per index (their ``usage()``) and for the attribute table."""
    ram = {name: r["memory_bytes"] for name, r in indexes.items()}
    mapped = {name: r["mapped_bytes"] for name, r in indexes.items()}
    ram["attributes"], mapped["attributes"] = attributes["memory_bytes"], attributes["mapped_bytes"]
    return {
        "memory": {**ram, "total": sum(ram.values())},
        "mapped": {**mapped, "total": sum(mapped.values())},
    }


def disk_usage(folder: Path, index_names: Iterable[str]) -> dict[str, Any]:
    """Bytes of every file under ``folder``, by part; ``total`` is the folder's."""
    names = list(index_names)
    store: dict[str, int] = {}
    indexes = dict.fromkeys(names, 0)
    other: dict[str, int] = {}
    models = 0
    for path in sorted(folder.rglob("*")):
        try:
            if not path.is_file():
                continue
            size = path.stat().st_size
        except FileNotFoundError:  # removed meanwhile (a save replacing its file)
            continue
        rel = path.relative_to(folder)
        top = rel.parts[0]
        if len(rel.parts) == 1 and top.startswith(FILENAME):
            store[top] = size
        elif top == "index" and len(rel.parts) > 1 and (owner := _owner(rel.parts[1], names)):
            indexes[owner] += size
        elif top == "models":
            models += size
        else:
            key = rel.as_posix() if top == "index" else top
            other[key] = other.get(key, 0) + size
    total = sum(store.values()) + sum(indexes.values()) + models + sum(other.values())
    return {
        "store": {**store, "total": sum(store.values())},
        "indexes": indexes,
        "models": models,
        "other": other,
        "total": total,
    }


def _owner(name: str, index_names: list[str]) -> str | None:
    """The index a file (or folder) of ``index/`` belongs to: ``<name>/``, ``<name>.*``."""
    return next((n for n in index_names if name == n or name.startswith(f"{n}.")), None)


def store_tables(folder: Path) -> dict[str, int] | None:
    """Bytes of each table of the database with its indexes (None when this SQLite has no
    ``dbstat``). Read through a read-only connection: it sees the last committed state."""
    path = folder / FILENAME
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
            rows = con.execute(
                "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat AS s "
                "LEFT JOIN sqlite_master AS m ON m.name = s.name GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
    except sqlite3.Error:
        return None
    return {str(name): int(size) for name, size in rows}


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def describe(usage: dict[str, Any]) -> list[str]:
    """``usage`` as aligned lines in human units (what ``sleuth info`` prints)."""
    memory, mapped, disk = usage["memory"], usage["mapped"], usage["disk"]
    width = max(len(name) for name in [*memory, *disk["indexes"], "store", "models"])

    def line(name: str, n: float, note: str = "") -> str:
        return f"  {name:<{width}}  {human_bytes(n):>10}{note}"

    out = ["memory (in RAM; + mapped from files, paged in as read)"]
    for name, n in memory.items():
        note = f"  + {human_bytes(mapped[name])} mapped" if mapped.get(name) else ""
        out.append(line(name, n, note))
    out.append("disk")
    store = disk["store"]
    files = ", ".join(f"{name} {human_bytes(n)}" for name, n in store.items() if name != "total")
    out.append(line("store", store["total"], f"  ({files})"))
    tables = usage.get("store_tables")
    if tables:
        out.append(
            " " * (width + 16)
            + ", ".join(
                f"{t} {human_bytes(n)}" for t, n in tables.items() if n >= 0.01 * store["total"]
            )
        )
    out += [line(name, n) for name, n in disk["indexes"].items()]
    if disk["models"]:
        out.append(line("models", disk["models"]))
    if sum(disk["other"].values()):
        out.append(line("other", sum(disk["other"].values()), f"  ({', '.join(disk['other'])})"))
    out.append(line("total", disk["total"]))
    return out

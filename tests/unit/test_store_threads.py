"""A thread's first read of the store may come inside a write transaction (the vector file
reads the collection's dimension there): it must not wait for the transaction's own lock."""

from __future__ import annotations

import threading
from pathlib import Path

import sleuth


def test_a_first_write_from_a_new_thread_with_given_vectors_completes(tmp_path: Path) -> None:
    col = sleuth.open(tmp_path / "col", encoder="none", dim=4)
    outcome: list[object] = []

    def write() -> None:
        outcome.append(col.add([{"id": "a", "text": "x", "vector": [1.0, 0.0, 0.0, 0.0]}]))

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the write waited for a lock its own transaction held"
    assert col.count() == 1 and col.get("a") is not None
    col.close()

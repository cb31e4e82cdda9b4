"""A shard that fails: a batch spanning shards is reported with what was applied and finished by
the next write, ``recover()`` or open (also after the coordinator is killed mid-batch); a
search is a ``ShardUnavailable`` naming the shard, never a partial answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import sleuth
from sleuth.errors import Unavailable
from sleuth.server.errors import STATUS
from sleuth.shards.group import LocalGroup, ShardUnavailable
from sleuth.shards.layout import shard_of
from sleuth.shards.opening import open_sharded
from sleuth.shards.server import ShardServer

FAILING: dict[str, set[int]] = {"apply": set(), "retrieve": set()}


class FaultyServer(ShardServer):
    """A shard whose ``apply`` or ``retrieve`` fails (as a dying disk would) while its number
    is in ``FAILING``."""

    def __init__(self, folder: str | Path, number: int, **options: Any) -> None:
        super().__init__(folder, **options)
        self.number = number

    def apply(self, batch: dict[str, Any]) -> dict[str, int]:
        if self.number in FAILING["apply"]:
            raise OSError(f"injected write failure on shard {self.number}")
        return super().apply(batch)

    def retrieve(self, part: dict[str, Any], stats: dict[str, Any] | None = None) -> Any:
        if self.number in FAILING["retrieve"]:
            raise OSError(f"injected read failure on shard {self.number}")
        return super().retrieve(part, stats)


class FaultyGroup(LocalGroup):
    def __init__(self, folders: Sequence[Path]) -> None:
        self._numbers = iter(range(len(folders)))
        super().__init__(folders)

    def _server(self, folder: Path, **options: Any) -> ShardServer:  # type: ignore[override]
        return FaultyServer(folder, next(self._numbers), **options)


@pytest.fixture(autouse=True)
def no_faults() -> Any:
    yield
    for shards in FAILING.values():
        shards.clear()


def items(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "text": f"word{i % 7} thing {prefix}"} for i in range(n)]


def open_faulty(path: Path) -> Any:
    return open_sharded(path, shards=3, encoder="hashing", group=FaultyGroup)


def test_a_batch_failing_on_one_shard_says_what_was_applied_and_is_finished_later(
    tmp_path: Path,
) -> None:
    batch = items("a", 40)
    with open_faulty(tmp_path / "s") as col:
        FAILING["apply"].add(1)
        with pytest.raises(ShardUnavailable) as caught:
            col.add(batch)
        details = caught.value.details
        assert details["shard"] == 1 and details["pending"] == [1]
        assert sorted(details["applied"]) == [0, 2]
        on_one = [it["id"] for it in batch if shard_of(it["id"], 3) == 1]
        assert col.count() == len(batch) - len(on_one)  # the other shards' parts are in
        assert col.info()["intents"] == [details["batch"]]
        with pytest.raises(ShardUnavailable):  # the log is replayed before any new write
            col.upsert(items("b", 3))
        assert col.count() == len(batch) - len(on_one)
        FAILING["apply"].clear()
        col.upsert(items("b", 3))  # replays the logged batch first, then writes
        assert col.count() == len(batch) + 3
        assert col.info()["intents"] == []
        assert {h.id for h in col.search("word3", k=100, mode="lexical")} == {
            it["id"] for it in [*batch, *items("b", 3)] if it["text"].startswith("word3")
        }


def test_a_batch_on_one_shard_only_fails_whole(tmp_path: Path) -> None:
    with open_faulty(tmp_path / "s") as col:
        one_shard = [it for it in items("c", 30) if shard_of(it["id"], 3) == 2][:4]
        FAILING["apply"].add(2)
        with pytest.raises(ShardUnavailable) as caught:
            col.add(one_shard)
        assert caught.value.details["shard"] == 2
        assert col.count() == 0 and col.info()["intents"] == []


def test_a_failing_shard_fails_the_search_with_a_503_naming_it(tmp_path: Path) -> None:
    with open_faulty(tmp_path / "s") as col:
        col.add(items("d", 30))
        FAILING["retrieve"].add(2)
        with pytest.raises(ShardUnavailable, match="shard 2") as caught:
            col.search("word1")
        assert caught.value.details["shard"] == 2
        assert isinstance(caught.value, Unavailable) and STATUS[Unavailable] == 503
        FAILING["retrieve"].clear()
        assert len(col.search("word1", k=100, mode="lexical")) == 5  # d1, d8, ..., d29
        pings = col.group.scatter("ping", ((), {}))  # the liveness probe a Ray group uses
        assert [p["items"] for p in pings] == [col.group.call(i, "count") for i in range(3)]


def killed_mid_batch(script: str, path: Path) -> None:
    """Run ``script``, which SIGKILLs its own process in the middle of a batch spanning the
    shards of the collection in ``path``: the batch is left in the intent log."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert len(list((path / "intents").iterdir())) == 1


def test_a_coordinator_killed_mid_batch_finishes_it_on_open(tmp_path: Path) -> None:
    """The coordinator process dies (SIGKILL) while shard 1 applies a batch spanning shards:
    reopening applies the logged batch on every shard that lacks it."""
    path = tmp_path / "s"
    with sleuth.open(path, encoder="hashing", shards=3) as col:
        col.add(items("e", 10))
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_shards_faults import FaultyGroup, FaultyServer, items
        from sleuth.shards.opening import open_sharded

        def die(self, batch):
            if self.number == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            return FaultyServer.__mro__[1].apply(self, batch)

        FaultyServer.apply = die
        col = open_sharded({str(path)!r}, group=FaultyGroup)
        col.add(items("f", 40))
        """
    )
    killed_mid_batch(script, path)
    with sleuth.open(path) as col:
        assert col.info()["intents"] == []
        assert col.count() == 50
        for it in items("f", 40):
            assert col.get(it["id"]).fields["text"] == it["text"]

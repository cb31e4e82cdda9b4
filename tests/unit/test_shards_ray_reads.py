"""Every operation of a shard is known to ``RayGroup`` as a read (sent again while the shard
restarts) or a write (never sent twice): a new operation must be classed before it ships."""

from __future__ import annotations

import pytest

from sleuth.shards.server import ShardServer

pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")

WRITES = {"apply", "close", "collection_id", "save"}


def test_every_shard_operation_is_a_read_or_a_write() -> None:
    from sleuth.shards.ray_group import READS

    operations = {
        name
        for name in vars(ShardServer)
        if not name.startswith("_") and callable(getattr(ShardServer, name))
    }
    assert operations >= READS, READS - operations
    assert operations - READS == WRITES, operations - READS

"""Sharded collections: S ordinary collection folders behind one coordinator, searched by an
exact scatter-gather (``sleuth.shards.collection``); the shards run in this process
(``LocalGroup``) or behind Ray actors (``RayGroup``, ``sleuth.shards.ray_group``)."""

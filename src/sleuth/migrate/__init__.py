"""Migrating a collection to another encoder without stopping it: the learned query map
(``qmap``), the migration's state (``state``), the backfill thread (``backfill``), what an open
collection holds of it (``run``) and the evaluation before the cutover (``evaluate``).
``Collection.migrate`` and its siblings (``sleuth.collection_migrate``) drive them."""

from __future__ import annotations

from sleuth.migrate.qmap import MappedQueries, QueryMap, fit_map
from sleuth.migrate.state import State

__all__ = ["MappedQueries", "QueryMap", "State", "fit_map"]

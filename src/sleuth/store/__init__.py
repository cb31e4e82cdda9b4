"""The source of truth: one SQLite database per collection (items, vectors, change log)."""

from sleuth.store.attributes import AttributeTable
from sleuth.store.lock import WriterLock
from sleuth.store.sqlite import FORMAT_VERSION, Change, Store, StoredItem

__all__ = ["FORMAT_VERSION", "AttributeTable", "Change", "Store", "StoredItem", "WriterLock"]

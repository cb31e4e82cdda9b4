"""The source of truth: one SQLite database per collection (items, vectors, change log)."""

from sleuth.store.attributes import AttributeTable
from sleuth.store.lock import ReadWriteLock, WriterLock
from sleuth.store.sqlite import FORMAT_VERSION, Change, Store, StoredItem

__all__ = [
    "FORMAT_VERSION",
    "AttributeTable",
    "Change",
    "ReadWriteLock",
    "Store",
    "StoredItem",
    "WriterLock",
]

"""The source of truth: one SQLite database per collection (items, vectors, change log)."""

from sleuth.store.attributes import AttributeTable
from sleuth.store.diagnose import FATAL, Problem, diagnose
from sleuth.store.lock import ReadWriteLock, WriterLock
from sleuth.store.repair import repair
from sleuth.store.schema import FORMAT_VERSION
from sleuth.store.sqlite import Change, Store, StoredItem

__all__ = [
    "FATAL",
    "FORMAT_VERSION",
    "AttributeTable",
    "Change",
    "Problem",
    "ReadWriteLock",
    "Store",
    "StoredItem",
    "WriterLock",
    "diagnose",
    "repair",
]

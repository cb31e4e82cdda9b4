"""The errors sleuth raises, in one hierarchy.

::

    SleuthError                 anything sleuth raises on purpose
    ├── InvalidInput            bad items, queries, filters, parameters (also a ValueError)
    ├── NotFound                an id or collection that does not exist (also a LookupError)
    ├── Conflict                the request clashes with what is there: an id or name that
    │                           exists, another writer, another encoder or configuration
    ├── Closed                  the collection was closed (``close()``, or dropped by a server)
    ├── InvalidCollection       a folder that is not a collection, or from a newer format
    ├── CorruptIndex            a derived index failed its checks (sleuth rebuilds it)
    └── Unavailable             a collection of a data folder that cannot be opened now

Every error carries ``details``, a JSON-able dict the server returns as is.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Closed",
    "Conflict",
    "CorruptIndex",
    "InvalidCollection",
    "InvalidInput",
    "NotFound",
    "SleuthError",
    "Unavailable",
]


class SleuthError(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(SleuthError, ValueError):
    pass


class NotFound(SleuthError, LookupError):
    def __str__(self) -> str:  # LookupError would repr() the message
        return self.message


class Conflict(SleuthError):
    pass


class Closed(SleuthError):
    """A collection used after ``close()``: open it again."""


class InvalidCollection(SleuthError):
    pass


class CorruptIndex(SleuthError):
    pass


class Unavailable(SleuthError):
    """A collection that exists but cannot be opened (damaged, unreadable, from a newer format);
    its neighbours in the data folder keep working. ``details["reason"]`` says why."""

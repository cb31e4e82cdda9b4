"""Reading an item row back, checked to the depth the derived indexes use it.

The store is the source of truth, but a row may still be unusable: written by an older sleuth
that validated less (an impossible date such as ``2024-02-30``), or edited by hand. Such a row
is set aside (a ``DamagedRow``) instead of failing every catch-up, search and rebuild of the
collection; ``sleuth info`` lists it and ``sleuth repair`` says what can be done.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sleuth.types import Item, attr_type_of, to_timestamp

__all__ = ["DamagedRow", "StoredItem", "parse_row"]


@dataclass(frozen=True)
class StoredItem:
    """One item version as stored: its docno, the item (no vector), its vector key and, for a
    given vector, its row in the store's vector file (``sleuth.store.vectorlog``)."""

    docno: int
    item: Item
    hash: str
    vrow: int | None = None


@dataclass(frozen=True)
class DamagedRow:
    """An item row that cannot be used, and why."""

    docno: int
    id: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"docno": self.docno, "id": self.id, "reason": self.reason}


class _Bad(Exception):
    pass


def parse_row(row: tuple[Any, ...], types: dict[str, str]) -> Item | DamagedRow:
    """``(docno, id, fields, attrs, hash, ...)`` from the items table as an ``Item``, or the
    reason it cannot be one. ``types`` is the attributes table (name -> type)."""
    docno, item_id, fields, attrs, content_hash = row[:5]
    try:
        if not isinstance(item_id, str) or not item_id:
            raise _Bad(f"the id is {type(item_id).__name__} {item_id!r}, not a non-empty string")
        if not isinstance(content_hash, str):
            raise _Bad("the content hash is not a string")
        item = Item(id=item_id, fields=_fields(fields), attributes=_attributes(attrs, types))
    except _Bad as exc:
        return DamagedRow(int(docno), str(item_id), str(exc))
    return item


def _json_object(text: Any, what: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise _Bad(f"{what} is {type(text).__name__}, not JSON text")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _Bad(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _Bad(f"{what} is a JSON {type(value).__name__}, not an object")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fields(text: Any) -> dict[str, str]:
    fields = _json_object(text, "fields")
    for name, value in fields.items():
        if not isinstance(value, str):
            raise _Bad(f"field {name!r} is {type(value).__name__}, not text")
    return fields


def _attributes(text: Any, types: dict[str, str]) -> dict[str, Any]:
    attrs = _json_object(text, "attrs")
    for name, value in attrs.items():
        kind = attr_type_of(value)
        if kind is None:
            raise _Bad(f"attribute {name!r} has a value of no allowed type: {value!r:.80}")
        known = types.get(name)
        if known is None:
            raise _Bad(f"attribute {name!r} is missing from the attributes table")
        # the rule writes follow: a str attribute may hold date-looking strings too
        if known != kind and not (known == "str" and kind == "datetime"):
            raise _Bad(f"attribute {name!r} is {kind} but the collection stores {known} values")
        if known == "datetime":
            why = ""
            try:
                finite = math.isfinite(to_timestamp(value))
            except (ValueError, TypeError, OverflowError) as exc:  # InvalidInput is a ValueError
                finite, why = False, f" ({exc})"
            if not finite:
                raise _Bad(f"attribute {name!r}: {value!r} is not a valid date-time{why}")
    return attrs

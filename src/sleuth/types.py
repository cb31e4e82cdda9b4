"""Items, hits and candidate lists: the values that flow through the funnel."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.spaces import DEFAULT_SPACE, check_space_name
from sleuth.values import (
    DATE_RANGE,
    MAX_ATTR_LIST,
    MAX_ATTR_STRING,
    MAX_EXACT_INT,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_CHARS,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    check_number,
    check_text,
    looks_like_datetime,
    parse_datetime,
    to_timestamp,
)
from sleuth.vectors import VECTOR_KEY, VECTORS_KEY, check_vector

# Control characters (and the Unicode line separators) break URLs, logs and CSV files: an id
# has none.
ID_CONTROL_CHARS = "\u0000-\u001f\u007f-\u009f\u2028\u2029"
_ID_CONTROL = re.compile(f"[{ID_CONTROL_CHARS}]")

__all__ = [
    "AttrType",
    "Candidates",
    "Event",
    "Hit",
    "Item",
    "attr_type_of",
    "parse_event",
    "parse_item",
    "plain_attributes",
]

# Attribute types, as named in error messages and the schema.
AttrType = str  # one of ATTR_TYPES
ATTR_TYPES = ("str", "number", "bool", "list", "datetime")
RESERVED_NAMES = frozenset({"id", "and", "or", "not"})


@dataclass(frozen=True, kw_only=True)
class Item:
    """One catalog entry: a string id, text fields and typed attributes; and, when the item
    brings its own, its ``vector`` (``float32[dim]``, unit length; None: the collection's
    encoder makes it from the text); ``vectors``: its vectors in named spaces
    (``float32[dim]`` each, as given: the space's metric is applied by the collection). Items
    read back from a collection carry no vector (``Collection.vectors`` gives them)."""

    id: str
    fields: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.fields, **plain_attributes(self.attributes)}


def plain_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as JSON values (datetimes as ISO 8601 strings)."""
    return {
        name: value.isoformat() if isinstance(value, dt.datetime) else value
        for name, value in attributes.items()
    }


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One result: the item's id, its final score, its stored fields and attributes.

    ``explain`` (when asked for) holds each retriever's rank and score and the stage timings;
    ``probability``: its calibrated probability of relevance (None where the search mode is
    not calibrated: ``Collection.calibrate``).
    """

    id: str
    score: float
    fields: Mapping[str, str]
    attributes: Mapping[str, Any]
    explain: Mapping[str, Any] | None = None
    probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "score": self.score,
            "fields": dict(self.fields),
            "attributes": plain_attributes(self.attributes),
        }
        if self.probability is not None:
            out["probability"] = self.probability
        if self.explain is not None:
            out["explain"] = self.explain
        return out


@dataclass(frozen=True)
class Candidates:
    """A batch of ranked candidate lists from one stage.

    ``docnos: int64[nq, k]`` padded with -1, ``scores: float32[nq, k]`` padded with -inf,
    each row sorted by descending score.
    """

    docnos: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls, nq: int, k: int) -> Candidates:
        return cls(np.full((nq, k), -1, np.int64), np.full((nq, k), -np.inf, np.float32))

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The valid (docnos, scores) of query ``i``, padding removed."""
        keep = self.docnos[i] >= 0
        return self.docnos[i][keep], self.scores[i][keep]


def attr_type_of(value: Any) -> AttrType | None:
    """The attribute type of a Python value, or None when it is not an allowed value.

    A string shaped like an ISO 8601 date-time is a "datetime" (``parse_datetime`` then says
    whether it is a real one); numbers must fit a float64 exactly (``check_number``).
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number" if abs(value) <= MAX_EXACT_INT else None
    if isinstance(value, float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, str):
        return "datetime" if looks_like_datetime(value) else "str"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "list"
    return None


def parse_item(raw: Any, text_fields: tuple[str, ...], *, vector_given: bool = False) -> Item:
    """Validate one item given as a dict (or an ``Item``) and split text fields from attributes.

    Keys named in ``text_fields`` are text; ``vector`` is the item's own vector (a list of
    numbers, see ``sleuth.vectors``; then text is optional); ``vectors`` its vectors in named
    spaces (``{"image": [...]}``; ``"default"`` names ``vector``); every other key except
    ``id`` is an attribute. ``vector_given``: the item's vector comes separately (a bulk
    array), so its text is optional too.
    >>> parse_item({"id": "a", "title": "Hi", "year": 2020}, ("title", "text")).attributes
    {'year': 2020}
    """
    if isinstance(raw, Item):
        raw = {
            "id": raw.id,
            **raw.fields,
            **raw.attributes,
            VECTOR_KEY: raw.vector,
            VECTORS_KEY: dict(raw.vectors) or None,
        }
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"an item must be a JSON object (dict), got {type(raw).__name__}")
    if "id" not in raw:
        raise InvalidInput(
            "item has no 'id': every item needs a string id",
            keys=[repr(key)[:80] for key in list(raw)[:20]],  # repr: any key encodes as UTF-8
        )
    item_id = raw["id"]
    if not isinstance(item_id, str):
        raise InvalidInput(
            f"item id must be a string, got {type(item_id).__name__} {item_id!r:.80}",
            id=repr(item_id)[:80],
        )
    check_text(item_id, f"item id {item_id!r:.80}")
    if (
        not item_id
        or len(item_id) > MAX_ID_LENGTH
        or item_id != item_id.strip()
        or _ID_CONTROL.search(item_id)
    ):
        raise InvalidInput(
            f"item id {item_id!r:.80} is not allowed: ids are 1 to {MAX_ID_LENGTH} characters "
            "without leading or trailing white space or control characters (line breaks, tabs)",
            id=item_id[:MAX_ID_LENGTH],
        )
    fields: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    vector = None
    vectors: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        if key == "id":
            continue
        if key == VECTOR_KEY:
            vector = _vector(item_id, value)
            continue
        if key == VECTORS_KEY:
            vectors = _named_vectors(item_id, value)
            continue
        if not isinstance(key, str) or not key or key in RESERVED_NAMES:
            raise InvalidInput(
                f"item {item_id!r}: field name {key!r:.80} is not allowed "
                f"(reserved: {', '.join(sorted(RESERVED_NAMES))})",
                id=item_id,
            )
        check_text(key, f"item {item_id!r}: field name {key!r:.80}", MAX_NAME_LENGTH)
        if key in text_fields:
            if value is None:
                continue
            if not isinstance(value, str):
                raise InvalidInput(
                    f"item {item_id!r}: text field {key!r} must be a string, "
                    f"got {type(value).__name__}",
                    id=item_id,
                    field=key,
                )
            check_text(value, f"item {item_id!r}: text field {key!r}")
            fields[key] = value
        elif value is not None:
            attributes[key] = _attribute_value(item_id, key, value)
    if DEFAULT_SPACE in vectors:
        if vector is not None:
            raise InvalidInput(
                f'item {item_id!r} gives "vector" and "vectors": {{"{DEFAULT_SPACE}": ...}}, '
                "the same space twice; give one",
                id=item_id,
                field=VECTORS_KEY,
            )
        vector = _vector(item_id, vectors.pop(DEFAULT_SPACE), f"{VECTORS_KEY}.{DEFAULT_SPACE}")
    if vector is None and not vector_given and not any(v.strip() for v in fields.values()):
        raise InvalidInput(
            f"item {item_id!r} has no text: give at least one non-empty text field "
            f'({", ".join(text_fields)}) or its "vector"',
            id=item_id,
        )
    chars = sum(map(len, fields.values()))
    if chars > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"item {item_id!r}: its text fields hold {chars} characters; the maximum per item "
            f"is {MAX_TEXT_CHARS}",
            id=item_id,
            limit=MAX_TEXT_CHARS,
        )
    return Item(id=item_id, fields=fields, attributes=attributes, vector=vector, vectors=vectors)


def _vector(
    item_id: str, value: Any, key: str = VECTOR_KEY, *, normalize: bool = True
) -> np.ndarray | None:
    """The item's own vector, checked (its dimension is the collection's to check)."""
    if value is None:
        return None
    try:
        return check_vector(value, key, normalize=normalize)
    except InvalidInput as exc:
        raise InvalidInput(
            f"item {item_id!r}: {exc.message}", id=item_id, field=key, **exc.details
        ) from None


def _named_vectors(item_id: str, value: Any) -> dict[str, Any]:
    """``"vectors"``: space names to vectors, checked as numbers (the default one is made
    unit length by the caller; the others keep their values: their space's metric decides)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f'item {item_id!r}: "vectors" must be an object of vector space names to vectors '
            f'({{"image": [numbers]}}), got {type(value).__name__}',
            id=item_id,
            field=VECTORS_KEY,
        )
    out: dict[str, Any] = {}
    for name, vector in value.items():
        if name == DEFAULT_SPACE:
            out[name] = vector
            continue
        try:
            check_space_name(name, '"vectors" key')
        except InvalidInput as exc:
            raise InvalidInput(f"item {item_id!r}: {exc.message}", id=item_id) from None
        checked = _vector(item_id, vector, f"{VECTORS_KEY}.{name}", normalize=False)
        if checked is not None:
            out[name] = checked
    return out


def _attribute_value(item_id: str, key: str, value: Any) -> Any:
    """An attribute value checked to the depth the engine later uses it: a date-time must be a
    real one in range, a number must fit a float64, strings UTF-8 and of bounded length."""
    what = f"item {item_id!r}: attribute {key!r}"
    kind = attr_type_of(value)
    try:
        if kind is None and isinstance(value, int) and not isinstance(value, bool):
            check_number(value, what)  # says why the integer does not fit
        if kind is None:
            raise InvalidInput(
                f"{what} has a value of type {type(value).__name__} ({value!r:.60}); allowed: "
                "str, int, float (finite), bool, list of str, ISO 8601 date-time"
            )
        if kind == "datetime":
            parse_datetime(value)
        elif kind == "str":
            check_text(value, what, MAX_ATTR_STRING)
        elif kind == "list":
            if len(value) > MAX_ATTR_LIST:
                raise InvalidInput(
                    f"{what} is a list of {len(value)} elements; the maximum is {MAX_ATTR_LIST}",
                    limit=MAX_ATTR_LIST,
                )
            for element in value:
                check_text(element, f"{what}: list element {element!r:.40}", MAX_ATTR_STRING)
    except InvalidInput as exc:
        message = exc.message if exc.message.startswith(what) else f"{what}: {exc.message}"
        raise InvalidInput(message, id=item_id, field=key, **exc.details) from None
    return list(value) if isinstance(value, tuple) else value


MAX_USER_LENGTH = 512


@dataclass(frozen=True, kw_only=True)
class Event:
    """A user's interaction with an item: ``kind`` (view, click, purchase, rating…) weighs it;
    ``value`` (e.g. the rating) is optional; ``ts`` is seconds since the epoch; ``event_id``
    makes a retried write idempotent."""

    user: str
    item: str
    kind: str = "view"
    value: float | None = None
    ts: float | None = None
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user": self.user, "item": self.item, "kind": self.kind}
        for name in ("value", "ts", "event_id"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


_EVENT_KEYS = ("user", "item", "kind", "value", "ts", "event_id")


def _event_ts(ts: Any) -> float:
    """Epoch seconds of an event time given as a number or an ISO 8601 string, within the
    range date-times have (``DATE_RANGE``)."""
    try:
        if isinstance(ts, str):
            return to_timestamp(ts)
        seconds = check_number(ts, "event ts")
    except InvalidInput as exc:
        raise InvalidInput(
            f"event ts must be epoch seconds or an ISO 8601 date-time: {exc.message}", field="ts"
        ) from None
    if not MIN_TIMESTAMP <= seconds <= MAX_TIMESTAMP:
        raise InvalidInput(
            f"event ts {seconds!r} is out of range; allowed: epoch seconds from {MIN_TIMESTAMP:.0f}"
            f" to {MAX_TIMESTAMP:.0f} ({DATE_RANGE})",
            field="ts",
        )
    return seconds


def parse_event(raw: Any, kinds: Mapping[str, float] | None = None) -> Event:
    """Validate one event given as a dict (or an ``Event``); ``kinds`` are the allowed kinds.

    ``ts`` may be a number (epoch seconds) or an ISO 8601 string.
    """
    if isinstance(raw, Event):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"an event must be an object, got {type(raw).__name__}")
    unknown = sorted(repr(key)[:80] for key in set(raw) - set(_EVENT_KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown event key(s) {', '.join(unknown)}; allowed: " + ", ".join(_EVENT_KEYS),
            keys=unknown,
        )
    out: dict[str, Any] = {}
    for name in ("user", "item"):
        value = raw.get(name)
        # an integer id of more digits than an id may have would only make str() slow
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() < 1024:
            value = str(value)
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_USER_LENGTH:
            raise InvalidInput(
                f"event {name} must be a non-empty string of at most {MAX_USER_LENGTH} "
                f"characters, got {value!r:.80}"
                if isinstance(value, str | None)
                else f"event {name} must be a string, got {type(value).__name__}",
                field=name,
            )
        check_text(value, f"event {name} {value!r:.80}")
        out[name] = value
    kind = raw.get("kind", "view")
    if not isinstance(kind, str) or (kinds is not None and kind not in kinds):
        allowed = ", ".join(kinds) if kinds is not None else "a string"
        raise InvalidInput(
            f"unknown event kind {kind!r:.80}; allowed: {allowed}", kind=repr(kind)[:80]
        )
    check_text(kind, f"event kind {kind!r:.80}", MAX_USER_LENGTH)
    out["kind"] = kind
    value = raw.get("value")
    if value is not None:
        out["value"] = check_number(value, "event value")
    ts = raw.get("ts")
    if ts is not None:
        out["ts"] = _event_ts(ts)
    event_id = raw.get("event_id")
    if event_id is not None:
        if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_USER_LENGTH:
            raise InvalidInput(
                f"event_id must be a non-empty string of at most {MAX_USER_LENGTH} characters, "
                f"got {event_id!r:.80}"
            )
        check_text(event_id, f"event_id {event_id!r:.80}")
        out["event_id"] = event_id
    return Event(**out)

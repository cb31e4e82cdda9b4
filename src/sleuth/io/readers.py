"""Read item files (JSONL, CSV, JSON, BEIR folders) into validated items.

Every reader parses the whole file before returning, so a caller that commits only on success
never ingests half a file. Errors name the file and line (``corpus.jsonl:12: ...``) and carry
``path`` and ``line`` in ``details`` so the CLI and the server can point at the culprit.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sleuth.config import RESERVED_FIELDS
from sleuth.errors import InvalidInput, SleuthError
from sleuth.io._files import FLOAT, existing, json_limit, jsonl_objects, located
from sleuth.io.movielens import MOVIE_FILES, MOVIES_CSV, read_movies
from sleuth.io.parquet import read_parquet
from sleuth.io.text import open_text
from sleuth.types import Item, parse_item
from sleuth.vectors import VECTOR_KEY, VECTORS_KEY, check_matrix

__all__ = [
    "BeirData",
    "read_beir",
    "read_beir_corpus",
    "read_csv",
    "read_items",
    "read_json",
    "read_jsonl",
    "read_judgments",
    "read_parquet",
    "read_qrels",
    "read_queries",
]

TextFields = tuple[str, ...]
DEFAULT_TEXT_FIELDS: TextFields = ("title", "text")
FORMATS = (
    "a BEIR folder (with corpus.jsonl), a MovieLens folder (u.item, movies.dat or movies.csv), "
    ".jsonl, .ndjson, .csv, .json or .parquet"
)
# BEIR keeps documents whose title and text are both empty (Cranfield has two); they must still
# exist so that qrels pointing at them resolve, but parse_item rightly refuses an item with no text.
EMPTY_DOCUMENT = "(empty document)"

_INT = re.compile(r"^[+-]?(0|[1-9][0-9]*)$")  # no leading zeros: "007" is a code, not a number
_BOOLS = {"true": True, "false": False}
_GRADE = re.compile(r"^[+-]?[0-9]+$")


def read_items(
    path: str | Path, text_fields: TextFields = DEFAULT_TEXT_FIELDS, *, vectors_given: bool = False
) -> list[Item]:
    """Read every item of a file or BEIR folder, choosing the reader from what ``path`` is.
    Items may carry their ``"vector"``; ``vectors_given``: an array gives them all (e.g.
    ``sleuth add --vectors``), so no item needs text.

    >>> items = read_items("data/products.jsonl")  # doctest: +SKIP
    """
    path = existing(path)
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return read_beir_corpus(path, text_fields)

        if any((path / name).is_file() for name in MOVIE_FILES):
            return read_movies(path, text_fields)
        raise InvalidInput(
            f"{path} is a folder without corpus.jsonl; expected {FORMATS}", path=str(path)
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_items(path, text_fields)
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path, text_fields, vectors_given=vectors_given)
    if suffix == ".csv":
        return read_csv(path, text_fields, vectors_given=vectors_given)
    if suffix == ".json":
        return read_json(path, text_fields, vectors_given=vectors_given)
    raise InvalidInput(
        f"{path}: unknown item file format {suffix or '(no extension)'!r}; expected {FORMATS}",
        path=str(path),
        allowed=[".jsonl", ".ndjson", ".csv", ".json", ".parquet", "BEIR folder"],
    )


def read_jsonl(
    path: str | Path, text_fields: TextFields = DEFAULT_TEXT_FIELDS, *, vectors_given: bool = False
) -> list[Item]:
    """Items from a file holding one JSON object per line; blank lines are skipped."""
    path = existing(path)
    items = []
    for line_no, raw in jsonl_objects(path):
        if "id" not in raw and "_id" in raw:
            raise located(
                path,
                line_no,
                "item has '_id' but no 'id'; for a BEIR corpus pass "
                "the folder that holds corpus.jsonl",
            )
        items.append(_parse(raw, text_fields, path, line_no, vectors_given))
    return items


def read_csv(
    path: str | Path, text_fields: TextFields = DEFAULT_TEXT_FIELDS, *, vectors_given: bool = False
) -> list[Item]:
    """Items from a UTF-8 CSV file whose header row names the columns and includes ``id``.

    Empty cells are left out. Cells of attribute columns become int (no leading zeros), float,
    bool (``true``/``false``, any case) or else stay strings; ISO dates stay strings, which
    ``parse_item`` types as date-times. The ``id`` and text columns are always strings.
    A MovieLens ``movies.csv`` (header ``movieId,title,genres``) is read as MovieLens movies.
    Vectors are JSON cells: ``vector`` (``[0.1, 0.2]``), ``vectors`` (an object of named
    spaces' vectors) or one ``vectors.<space>`` column per named space.
    """

    path = existing(path)
    items = []
    with open_text(path) as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        if header == MOVIES_CSV:
            return read_movies(path, text_fields)
        if not header:
            raise InvalidInput(
                f"{path}: empty file; a header row naming the columns (with 'id') is required",
                path=str(path),
                line=1,
            )
        bad = [name for name in header if not name or name.strip() != name]
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if bad or duplicates or "id" not in header:
            other = [sep for sep in ";\t|" if len(header) == 1 and sep in header[0]]
            hint = f" (columns separated by {other[0]!r}? only ',' is read)" if other else ""
            raise located(
                path,
                1,
                f"the header row must name every column once and include 'id'; "
                f"got {header!r}{hint}",
            )
        try:
            line_no = reader.line_num + 1  # a quoted cell may span lines: name the first
            for row in reader:
                if None in row:
                    raise located(
                        path,
                        line_no,
                        f"row has {len(header) + len(row[None])} "
                        f"cells but the header has {len(header)}",
                    )
                raw = {
                    name: cell
                    if name == "id" or name in text_fields
                    else _vector_cell(cell, path, line_no)
                    if name in (VECTOR_KEY, VECTORS_KEY) or name.startswith(_SPACE_COLUMN)
                    else _convert_cell(cell, name, path, line_no)
                    for name, cell in row.items()
                    if cell  # empty (or missing trailing) cells are omitted
                }
                _gather_spaces(raw, path, line_no)
                items.append(_parse(raw, text_fields, path, line_no, vectors_given))
                line_no = reader.line_num + 1
        except csv.Error as exc:
            raise located(path, reader.line_num, f"malformed CSV: {exc}") from None
    return items


def read_json(
    path: str | Path, text_fields: TextFields = DEFAULT_TEXT_FIELDS, *, vectors_given: bool = False
) -> list[Item]:
    """Items from a file holding one JSON array of objects; errors name the item's index."""
    path = existing(path)
    with open_text(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise located(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"{path}: {json_limit(exc)}", path=str(path)) from None
    if not isinstance(data, list):
        raise InvalidInput(
            f"{path}: a .json item file must hold an array of objects, got "
            f"{type(data).__name__}; use .jsonl for one object per line",
            path=str(path),
        )
    items = []
    for index, raw in enumerate(data):
        try:
            items.append(parse_item(raw, text_fields, vector_given=vectors_given))
        except SleuthError as exc:
            raise InvalidInput(
                f"{path}: item {index}: {exc.message}",
                **{**exc.details, "path": str(path), "index": index},
            ) from None
    return items


def read_beir_corpus(path: str | Path, text_fields: TextFields = DEFAULT_TEXT_FIELDS) -> list[Item]:
    """Items from a BEIR folder's ``corpus.jsonl`` (``_id``, ``title``, ``text``, ``metadata``).

    ``_id`` becomes ``id``; scalar ``metadata`` values become attributes (lists and objects are
    skipped, as are keys that clash with the item's own). A document whose title and text are
    both empty keeps its id with the text ``"(empty document)"``, so qrels naming it still resolve.
    """
    path = existing(path)
    corpus = path / "corpus.jsonl" if path.is_dir() else path
    corpus = existing(corpus)
    items = []
    for line_no, record in jsonl_objects(corpus):
        doc_id = record.get("_id")
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str):
            raise located(
                corpus,
                line_no,
                f"a BEIR document needs a string '_id', got {type(doc_id).__name__}",
            )
        raw: dict[str, Any] = {"id": doc_id}
        if record.get("title"):
            raw["title"] = record["title"]
        raw["text"] = record.get("text")
        if not any(isinstance(v, str) and v.strip() for v in (raw.get("title"), raw["text"])):
            raw["text"] = EMPTY_DOCUMENT
        metadata = record.get("metadata")
        if isinstance(metadata, dict):
            for key, value in metadata.items():
                if key in raw or key in RESERVED_FIELDS or key == "_id" or not _scalar(value):
                    continue
                raw[key] = value
        items.append(_parse(raw, text_fields, corpus, line_no))
    return items


@dataclass(frozen=True)
class BeirData:
    """A BEIR dataset: the corpus, the queries that have judgements, and those judgements.

    ``qrels`` maps query id → document id → graded relevance (0 means judged not relevant).
    """

    corpus: list[Item]
    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)


def read_beir(path: str | Path, *, split: str = "test") -> BeirData:
    """Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/{split}.tsv``.

    Only queries with at least one judgement in the split are kept (BEIR's queries.jsonl often
    holds every split's queries). The qrels file is tab separated with an optional header,
    ``query-id corpus-id score``; TREC's four columns ``qid 0 docid score`` are accepted too.

    >>> data = read_beir("../shared/data/beir/scifact")  # doctest: +SKIP
    >>> len(data.corpus), len(data.queries)  # doctest: +SKIP
    (5183, 300)
    """
    folder = existing(path)
    if not folder.is_dir():
        raise InvalidInput(
            f"{folder} is not a folder; a BEIR dataset is a folder with "
            "corpus.jsonl, queries.jsonl and qrels/",
            path=str(folder),
        )
    qrels_path = existing(folder / "qrels" / f"{split}.tsv")
    qrels = read_qrels(qrels_path)
    if not qrels:  # nothing to evaluate: say so here rather than fail inside the metrics
        raise InvalidInput(
            f"{qrels_path}: no judgements; expected lines 'query-id<TAB>corpus-id<TAB>score'",
            path=str(qrels_path),
        )
    every = read_queries(folder / "queries.jsonl")
    queries = {qid: text for qid, text in every.items() if qid in qrels}
    if not queries:
        raise InvalidInput(
            f"{folder}: no query id of qrels/{split}.tsv is in queries.jsonl", path=str(folder)
        )
    # Judgements for queries that do not exist cannot be evaluated; keep the two in step.
    qrels = {qid: qrels[qid] for qid in queries}
    corpus = read_beir_corpus(folder)
    if not corpus:
        raise InvalidInput(f"{folder / 'corpus.jsonl'}: no documents", path=str(folder))
    return BeirData(corpus=corpus, queries=queries, qrels=qrels)


def read_judgments(
    qrels: str | Path, queries: str | Path
) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """A BEIR qrels file (``query-id corpus-id score``, tab separated) and queries file
    (JSONL ``_id``, ``text``) as ``(qrels, queries)``, the queries those qrels judge; what
    ``sleuth calibrate`` reads. Whether they name the collection's items is checked there."""
    judged = read_qrels(qrels)
    return judged, {qid: text for qid, text in read_queries(queries).items() if qid in judged}


def read_queries(path: str | Path) -> dict[str, str]:
    """BEIR ``queries.jsonl``: query id -> text (every line's ``_id`` and ``text``)."""
    path = existing(path)
    queries: dict[str, str] = {}
    for line_no, record in jsonl_objects(path):
        qid, text = record.get("_id"), record.get("text")
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)
        if not isinstance(qid, str) or not isinstance(text, str):
            raise located(path, line_no, "a query needs a string '_id' and 'text'")
        queries[qid] = text
    return queries


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """A BEIR (``query-id corpus-id score``, tab separated, optional header) or TREC (``qid 0
    docid score``) qrels file: query id -> document id -> graded relevance."""
    path = existing(path)
    qrels: dict[str, dict[str, int]] = {}
    seen_data = False
    with open_text(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            cols = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
            if len(cols) not in (3, 4):
                raise located(
                    path,
                    line_no,
                    f"expected 3 tab-separated columns (query-id, "
                    f"corpus-id, score) or 4 (TREC), got {len(cols)}",
                )
            qid, docid, score = cols[0], cols[-2], cols[-1].strip()
            if not _GRADE.match(score):
                if not seen_data:  # a header row: its last column is a name, not a grade
                    seen_data = True
                    continue
                raise located(path, line_no, f"relevance {score!r} is not an integer")
            seen_data = True
            qrels.setdefault(qid.strip(), {})[docid.strip()] = int(score)
    return qrels


def _parse(
    raw: Any, text_fields: TextFields, path: Path, line_no: int, vectors_given: bool = False
) -> Item:
    try:
        return parse_item(raw, text_fields, vector_given=vectors_given)
    except SleuthError as exc:
        raise located(path, line_no, exc.message, **exc.details) from None


def _vector_cell(cell: str, path: Path, line_no: int) -> Any:
    """A CSV vector cell: a JSON array of numbers (``"[0.1, 0.2]"``), or for ``vectors`` an
    object of them."""
    try:
        return json.loads(cell)
    except (ValueError, RecursionError):
        raise located(
            path, line_no, f"the vector cell {cell[:40]!r} is not a JSON array of numbers"
        ) from None


_SPACE_COLUMN = f"{VECTORS_KEY}."  # CSV and Parquet: one column per named vector space


def _gather_spaces(raw: dict[str, Any], path: Path, line_no: int) -> None:
    """``vectors.<space>`` cells into the item's ``vectors`` object."""
    columns = [name for name in raw if name.startswith(_SPACE_COLUMN)]
    if not columns:
        return
    named = raw.setdefault(VECTORS_KEY, {})
    if not isinstance(named, dict):
        raise located(path, line_no, "the vectors cell must be a JSON object of named vectors")
    for name in columns:
        space = name[len(_SPACE_COLUMN) :]
        if space in named:
            raise located(path, line_no, f"space {space!r} has a vector in two columns")
        named[space] = raw.pop(name)


def _parquet_items(path: Path, text_fields: TextFields) -> list[Item]:
    """The items of a Parquet file, each with its row of the vector column (checked and made
    unit length as one array; ``read_parquet`` gives the array itself)."""
    items, vectors = read_parquet(path, text_fields)
    if vectors is None:
        return items
    unit = check_matrix(
        vectors, len(items), vectors.shape[1], lambda i: f"{path}:row {i}", "the file"
    )
    return [replace(item, vector=row) for item, row in zip(items, unit)]


def _convert_cell(cell: str, column: str, path: Path, line_no: int) -> Any:
    text = cell.strip()
    if _INT.match(text):
        if len(text.lstrip("+-")) > sys.get_int_max_str_digits():
            raise located(
                path,
                line_no,
                f"column {column!r}: the number has more than {sys.get_int_max_str_digits()} "
                "digits",
                field=column,
            )
        return int(text)
    if FLOAT.match(text):
        return float(text)
    return _BOOLS.get(text.lower(), cell)


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int, bool))

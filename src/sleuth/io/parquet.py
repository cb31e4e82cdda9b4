"""Read a Parquet file of items: ``id``, text and attribute columns, and optionally a
``vector`` column (a list of floats per row, all of one length) read as one ``float32[n, dim]``
array from Arrow's buffers, never as Python lists; so are named vector spaces' columns
(``vectors.<space>``, or one struct column ``vectors`` with a field per space), whose rows may
be null (that item has no vector in that space).

>>> items, vectors = read_parquet("items.parquet")  # doctest: +SKIP
>>> col.add(items, vectors=vectors)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput, SleuthError
from sleuth.io._files import existing
from sleuth.types import Item, parse_item
from sleuth.vectors import MAX_DIM, VECTOR_KEY, VECTORS_KEY

__all__ = ["read_parquet", "read_parquet_table"]


def read_parquet(
    path: str | Path, text_fields: tuple[str, ...] = ("title", "text")
) -> tuple[list[Item], np.ndarray | None]:
    """The items of a Parquet file and, when it has a ``vector`` column, their vectors
    (``float32[n, dim]``, as stored: ``Collection.add(items, vectors=...)`` checks them and
    makes them unit length). Named spaces' vectors come in the items' ``vectors`` (rows of one
    array per space, checked by the collection). Errors name the file and the row
    (``items.parquet:row 12``). Null cells are left out of an item."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = existing(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable Parquet file ({exc})", path=str(path)) from None
    vectors = None
    if VECTOR_KEY in table.column_names:
        if table.num_rows:
            vectors = _vectors(table.column(VECTOR_KEY), path)
        table = table.drop_columns([VECTOR_KEY])
    spaces, table = _space_columns(table, path)
    if "id" not in table.column_names:
        raise InvalidInput(
            f"{path}: no 'id' column; columns: {', '.join(table.column_names)}", path=str(path)
        )
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    items = []
    for row in range(table.num_rows):
        raw = {name: values[row] for name, values in columns.items() if values[row] is not None}
        if isinstance(raw.get("id"), int) and not isinstance(raw["id"], bool):
            raw["id"] = str(raw["id"])
        try:
            item = parse_item(raw, text_fields, vector_given=vectors is not None)
        except SleuthError as exc:
            raise _at(path, row, exc.message, **exc.details) from None
        named = {name: m[row] for name, (m, has) in spaces.items() if has[row]}
        items.append(replace(item, vectors=named) if named else item)
    return items, vectors


def read_parquet_table(path: str | Path) -> tuple[Any, np.ndarray | None] | None:
    """The file as one pyarrow Table (its ``vector`` column taken out as ``float32[n, dim]``,
    integer ids as strings, as ``read_parquet`` reads them), for a bulk write that goes column
    by column (``Collection.add(table, vectors=...)``); None when it holds named spaces'
    vectors (``read_parquet`` reads those)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = existing(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable Parquet file ({exc})", path=str(path)) from None
    if any(c == VECTORS_KEY or c.startswith(f"{VECTORS_KEY}.") for c in table.column_names):
        return None
    vectors = None
    if VECTOR_KEY in table.column_names:
        if table.num_rows:
            vectors = _vectors(table.column(VECTOR_KEY), path)
        table = table.drop_columns([VECTOR_KEY])
    if "id" in table.column_names and pa.types.is_integer(table.schema.field("id").type):
        table = table.set_column(
            table.schema.get_field_index("id"), "id", table.column("id").cast(pa.string())
        )
    return table, vectors


def _space_columns(table: Any, path: Path) -> tuple[dict[str, tuple[np.ndarray, Any]], Any]:
    """Each named space's ``(float32[n, dim], bool[n] rows that have one)``, from its
    ``vectors.<space>`` column or a field of the struct column ``vectors``, and the table
    without those columns."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    if VECTORS_KEY in table.column_names:
        struct = table.column(VECTORS_KEY).combine_chunks()
        if not pa.types.is_struct(struct.type):
            raise InvalidInput(
                f"{path}: the vectors column must be a struct of one list<float> per named "
                f"vector space, got {struct.type}",
                path=str(path),
            )
        names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
        columns.update(zip(names, struct.flatten()))  # a null struct: null in every field
        table = table.drop_columns([VECTORS_KEY])
    prefix = f"{VECTORS_KEY}."
    for name in [c for c in table.column_names if c.startswith(prefix)]:
        space = name[len(prefix) :]
        if space in columns:
            raise InvalidInput(f"{path}: space {space!r} has vectors in two columns")
        columns[space] = table.column(name).combine_chunks()
        table = table.drop_columns([name])
    out = {}
    for space, column in columns.items():
        has = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), bool)
        if not has.any():
            continue
        rows = np.flatnonzero(has)
        given = _vectors(pa.chunked_array([column.filter(pa.array(has))]), path, rows)
        matrix = np.zeros((has.size, given.shape[1]), np.float32)
        matrix[rows] = given
        out[space] = (matrix, has)
    return out, table


def _vectors(column: Any, path: Path, rows: np.ndarray | None = None) -> np.ndarray:
    """``float32[n, dim]`` from a list / large_list / fixed_size_list column of numbers;
    ``rows``: the file's row of each (errors name it), when the column holds only some."""
    import pyarrow as pa

    def _row(path: Path, row: int, message: str, **details: Any) -> InvalidInput:
        return _at(path, row if rows is None else int(rows[row]), message, **details)

    kind = column.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ) or not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        raise InvalidInput(
            f"{path}: a vector column must be a list of numbers (list<float>), got {kind}",
            path=str(path),
        )
    array = column.combine_chunks()
    if array.null_count:
        row = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise _row(path, row, "the vector is null; every row needs one in a vector column")
    n = len(array)
    if pa.types.is_fixed_size_list(kind):
        dim = kind.list_size
    else:
        offsets = np.asarray(array.offsets.to_numpy(), np.int64)
        lengths = np.diff(offsets)
        odd = np.flatnonzero(lengths != lengths[0])
        if odd.size:
            row = int(odd[0])
            raise _row(
                path,
                row,
                f"the vector has {lengths[row]} numbers, row {0 if rows is None else rows[0]}'s "
                f"has {lengths[0]}; every "
                "vector of a collection has one length",
            )
        dim = int(lengths[0])
    if not 1 <= dim <= MAX_DIM:
        raise _row(path, 0, f"the vector has {dim} numbers; allowed: 1 to {MAX_DIM}")
    values = array.flatten()
    if values.null_count:
        at = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise _row(path, at // dim, f"the vector holds a null at position {at % dim}")
    flat = values.to_numpy(zero_copy_only=False)
    return np.asarray(flat, np.float32).reshape(n, dim)


def _at(path: Path, row: int, message: str, **details: Any) -> InvalidInput:
    return InvalidInput(
        f"{path}:row {row}: {message}", **{**details, "path": str(path), "row": row}
    )

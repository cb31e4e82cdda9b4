"""Files as users have them: the current MovieLens releases (``ratings.csv`` and ``movies.csv``
of ml-latest, ml-25m, ml-32m) and event files whose columns a mapping names."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.errors import InvalidInput
from sleuth.evaluate.ranking import top_of
from sleuth.evaluate.recs import evaluate_recs
from sleuth.io.events import read_events
from sleuth.io.movielens import read_movies
from sleuth.io.readers import read_items
from sleuth.types import Event

RATINGS_HEADER = "userId,movieId,rating,timestamp\n"
MOVIES = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    '11,"American President, The (1995)",Comedy|Drama|Romance\n'
    '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Sci-Fi\n'
    "182715,Babylon 5,(no genres listed)\n"
)
ALLOWED = "allowed targets: user, item, kind, value, ts, event_id"


def ml_latest(folder: Path, users: int = 0) -> Path:
    """A small ml-latest-small: the four movies, and ``users`` users who rated them in turn
    (half-star ratings, timestamps in seconds) besides the three hand-written ratings."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["1,1,4.0,964982703", "1,11,4.5,964981247", "2,29,0.5,1445714835"]
    movies = ["1", "11", "29", "182715"]
    for u in range(3, 3 + users):
        for n in range(4):
            movie = movies[(u + n) % 4]
            rows.append(f"{u},{movie},{1 + (u * n) % 9 / 2},{1_000_000_000 + u * 100 + n}")
    (folder / "ratings.csv").write_text(RATINGS_HEADER + "\n".join(rows) + "\n")
    (folder / "movies.csv").write_text(MOVIES, encoding="utf-8")
    return folder


def test_ratings_csv_reads_as_movielens_ratings(tmp_path: Path) -> None:
    folder = ml_latest(tmp_path / "ml-latest-small")
    events = read_events(folder / "ratings.csv")
    assert events[:2] == [
        Event(user="1", item="1", kind="rating", value=4.0, ts=964982703.0),
        Event(user="1", item="11", kind="rating", value=4.5, ts=964981247.0),
    ]
    assert events[2].value == 0.5 and events[2].ts == 1445714835.0
    assert read_events(folder) == events  # the folder, as one holding u.data or ratings.dat
    assert read_events(folder / "ratings.csv", format="movielens") == events
    kinds = {"view": 1.0}  # a collection that allows no ratings refuses them, naming the line
    with pytest.raises(InvalidInput, match=r"ratings.csv:2: unknown event kind 'rating'"):
        read_events(folder, kinds=kinds)


def test_a_bad_rating_row_names_its_line_and_nothing_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(RATINGS_HEADER + "1,1,4.0,964982703\n1,2,4.0,yesterday\n")
    with pytest.raises(InvalidInput, match=r"ratings.csv:3: ") as info:
        read_events(path)
    assert info.value.details["line"] == 3


def test_movies_csv_becomes_the_catalog(tmp_path: Path) -> None:
    folder = ml_latest(tmp_path / "ml-latest-small")
    movies = {m.id: m for m in read_movies(folder / "movies.csv")}
    assert movies["1"].fields == {
        "title": "Toy Story (1995)",
        "text": "Adventure, Animation, Children, Comedy, Fantasy",
    }
    assert movies["1"].attributes["year"] == 1995
    assert movies["11"].fields["title"] == "American President, The (1995)"
    assert movies["11"].attributes == {"genres": ["Comedy", "Drama", "Romance"], "year": 1995}
    lost = movies["29"]  # commas and parentheses inside the quoted title; the year is the last
    assert lost.fields["title"].startswith("City of Lost Children, The (Cité")
    assert lost.attributes == {"genres": ["Adventure", "Sci-Fi"], "year": 1995}
    babylon = movies["182715"]  # no year, and "(no genres listed)" is no genre
    assert babylon.attributes == {"genres": []}
    assert "(no genres" not in babylon.fields["text"]
    # read_items finds it in the folder and as a file, as u.item and movies.dat are found
    assert [m.id for m in read_items(folder)] == list(movies)
    assert read_items(folder / "movies.csv") == list(movies.values())


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("movieId,title\n1,Toy Story (1995)\n", 1, "expected the header movieId,title,genres"),
        (MOVIES + "2,Jumanji (1995)\n", 6, "expected 3 cells, got 2"),
        (MOVIES + ",Jumanji (1995),Adventure\n", 6, "item id"),
    ],
)
def test_movies_csv_errors_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "movies.csv"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=rf"movies.csv:{line}: {words}"):
        read_movies(tmp_path)


def test_a_column_mapping_reads_any_csv_or_jsonl(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "customer_id,sku,time,price,kind\nc1,p1,2024-01-01T00:00:00Z,9.5,purchase\nc2,p2,5,1,\n"
    )
    mapping = {"user": "customer_id", "item": "sku", "ts": "time"}
    events = read_events(csv, columns=mapping, kinds={"view": 1.0, "purchase": 5.0})
    # price is not mapped (ignored); kind is named after a field and read as it is
    assert events == [
        Event(user="c1", item="p1", kind="purchase", ts=1704067200.0),
        Event(user="c2", item="p2", kind="view", ts=5.0),
    ]
    assert read_events(csv, columns="user=customer_id, item=sku,ts=time,") == events
    jsonl = tmp_path / "orders.jsonl"
    jsonl.write_text('{"who": "c1", "what": 7, "stars": 4}\n{"who": "c2", "what": "p2"}\n')
    assert read_events(jsonl, columns={"user": "who", "item": "what", "value": "stars"}) == [
        Event(user="c1", item="7", value=4.0),
        Event(user="c2", item="p2"),
    ]


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        ("who=customer_id,item=sku", "unknown column-mapping target 'who'"),
        ({"user": "customer_id", "sku": "item"}, "unknown column-mapping target 'sku'"),
        ("user=customer_id,item", "column mapping 'item' is not target=column"),
        ("user=customer_id,=sku", "column mapping '=sku' is not target=column"),
        ("user=customer_id,user=sku", "column mapping names 'user' twice"),
        ("user=client,item=sku", "column 'client' (mapped to 'user') is not in the file"),
        ("user=customer_id", "the header must name 'user' and 'item'"),
        (",", "the column mapping is empty"),
    ],
)
def test_a_bad_mapping_lists_the_columns_found_and_the_targets(
    tmp_path: Path, columns: str | dict[str, str], words: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,sku,time\nc1,p1,5\n")
    with pytest.raises(InvalidInput) as info:
        read_events(path, columns=columns)
    message = info.value.message
    assert message.startswith(f"{path}:1: {words}")
    assert "columns found: 'customer_id', 'sku', 'time'" in message and ALLOWED in message
    assert "\n" not in message


def test_a_jsonl_mapping_names_the_keys_found(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"who": "u", "what": "i"}\n{"who": "v", "what": "j", "when": 3}\n')
    found = r"columns found: 'who', 'what', 'when'"
    with pytest.raises(InvalidInput, match=rf"column 'item' \(mapped to 'item'\).* {found}"):
        read_events(path, columns={"user": "who", "item": "item"})


def test_a_csv_without_user_and_item_suggests_columns(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,sku\nc1,p1\n")
    with pytest.raises(InvalidInput) as info:
        read_events(path)
    assert "--columns user=COLUMN,item=COLUMN" in info.value.message
    assert "columns found: 'customer_id', 'sku'" in info.value.message


def test_a_mapping_is_refused_for_formats_without_columns(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("1\t10\t4\t881250949\n")
    with pytest.raises(InvalidInput, match="applies to CSV and JSONL events, not movielens"):
        read_events(path, columns={"user": "a"})


def test_eval_recs_on_an_ml_latest_folder(tmp_path: Path) -> None:
    folder = ml_latest(tmp_path / "ml-latest-small", users=12)
    report = evaluate_recs(folder, sources=["co-visit", "ease"], encoder="hashing", progress=False)
    assert report["dataset"] == "ml-latest-small"
    assert report["items"] == 4 and report["users"] == 14
    assert {"default", "co-visit", "ease", "popularity"} <= set(report["runs"])
    assert 0.0 <= report["runs"]["default"]["hr@10"] <= 1.0


def test_eval_recs_takes_a_column_mapping(tmp_path: Path) -> None:
    folder = ml_latest(tmp_path / "ml", users=12)
    rows = [line.split(",") for line in (folder / "ratings.csv").read_text().splitlines()[1:]]
    events = tmp_path / "orders.csv"
    events.write_text("client,product,at\n" + "".join(f"{u},{m},{ts}\n" for u, m, _, ts in rows))
    report = evaluate_recs(
        events, columns="user=client,item=product,ts=at", sources=["ease"], progress=False
    )
    assert report["events"] == len(rows) and "default" in report["runs"]


def test_cli_record_and_add_read_an_ml_latest_folder(tmp_path: Path) -> None:
    folder = ml_latest(tmp_path / "ml-latest-small")
    runner = CliRunner()
    col = str(tmp_path / "col")
    added = runner.invoke(app, ["add", col, str(folder), "--encoder", "hashing"])
    assert added.exit_code == 0, added.output
    assert "4 items" in added.output
    done = runner.invoke(app, ["record", col, str(folder)])
    assert done.exit_code == 0, done.output
    assert "recorded 3 events" in done.stdout
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,sku,time\nc1,1,5\nc1,11,6\n")
    mapping = "user=customer_id,item=sku,ts=time"
    mapped = runner.invoke(app, ["record", col, str(orders), "--columns", mapping])
    assert mapped.exit_code == 0, mapped.output
    assert "recorded 2 events" in mapped.stdout


def test_top_of_a_catalog_smaller_than_k_pads_with_minus_one() -> None:
    scores = np.array([[0.1, 0.9, -np.inf]], np.float32)  # 3 items, one of them already seen
    assert top_of(scores).tolist() == [[1, 0, *[-1] * 8]]


names = st.text("abcdefghijklmnopqrstuvwxyz_ ", min_size=1, max_size=10).map(str.strip).filter(bool)
cells = st.text("abcXYZ019_-.", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    columns=st.lists(names, min_size=4, max_size=4, unique=True),
    rows=st.lists(st.tuples(cells, cells, st.integers(1, 5), st.integers(0, 2**31)), max_size=5),
)
def test_a_mapping_reads_what_the_canonical_header_reads(
    columns: list[str], rows: list[tuple[str, str, int, int]]
) -> None:
    """Whatever the columns are called (in whatever order), mapped they read as the same events
    as a file whose header names the fields themselves."""
    fields = ["user", "item", "value", "ts"]
    with tempfile.TemporaryDirectory() as tmp:
        canonical, renamed = Path(tmp) / "a.csv", Path(tmp) / "b.csv"
        with canonical.open("w", newline="") as f:
            csv.writer(f).writerows([fields, *rows])
        with renamed.open("w", newline="") as f:  # other names, and in the reverse order
            csv.writer(f).writerows([columns[::-1], *(row[::-1] for row in rows)])
        mapping = dict(zip(fields, columns))
        assert read_events(renamed, columns=mapping) == read_events(canonical)

"""``info()["usage"]`` and ``sleuth info``: memory and disk per part, consistent with the files
on disk and with what the indexes must hold."""

from __future__ import annotations

import json
import mmap
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

import sleuth
from sleuth.indexes.memory import held
from sleuth.usage import human_bytes

N, DIM = 600, 256  # vectors outweigh the per-row bookkeeping and the IVF's centroids


def items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": f"i{i}", "text": f"alpha w{i % 37} w{i % 11} beta{i}", "kind": f"k{i % 5}",
         "tags": [f"t{i % 7}"]}
        for i in range(start, start + n)
    ]  # fmt: skip


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def build(path: Path, **dense: Any) -> sleuth.Collection:
    config = sleuth.CollectionConfig(encoder="none", dim=DIM, dense=sleuth.DenseConfig(**dense))
    col = sleuth.open(path, config=config)
    col.add(items(N), vectors=vectors(N), progress=False)
    col.save()
    return col


def files_under(path: Path) -> dict[str, int]:
    return {p.relative_to(path).as_posix(): p.stat().st_size for p in path.rglob("*")
            if p.is_file()}  # fmt: skip


def index_files(files: dict[str, int], name: str) -> dict[str, int]:
    """The files of index ``name``: its folder ``index/<name>/`` (arrays and manifest) or the
    file ``index/<name>.npz``, and the files ``index/<name>.*`` beside it."""
    return {f: n for f, n in files.items()
            if f.startswith((f"index/{name}/", f"index/{name}."))}  # fmt: skip


def test_disk_parts_are_the_files_and_add_up_to_the_folder(tmp_path: Path) -> None:
    # exact: dense.npz holds the vectors; ivf: the vector and IVF code files sit beside it
    for label, dense in (("exact", {}), ("ivf", {"exact_threshold": 100})):
        col = build(tmp_path / label, **dense)
        usage, kind = col.info()["usage"], col.info()["indexes"]["dense"]["kind"]
        files = files_under(tmp_path / label)  # while open: the WAL is there too
        col.close()
        assert kind == label
        disk = usage["disk"]
        assert disk["total"] == sum(files.values())
        for name in ("bm25", "dense", "attributes"):
            mine = index_files(files, name)
            assert disk["indexes"][name] == sum(mine.values()) > 0, name
        for name in ("bm25", "attributes"):  # saved as folders of arrays
            assert f"index/{name}/manifest.json" in files
            assert any(f.endswith(".bin") for f in index_files(files, name))
        beside = {f for f in index_files(files, "dense") if f != "index/dense.npz"}
        assert len(beside) == (2 if label == "ivf" else 0), beside  # .full.*.f32, .ivf.*.u8
        assert not any(f.startswith("index/") for f in disk["other"])  # each has its index
        store = {k: v for k, v in disk["store"].items() if k != "total"}
        assert "sleuth.sqlite" in store and store["sleuth.sqlite"] == files["sleuth.sqlite"]
        assert disk["store"]["total"] == sum(store.values())
        parts = (disk["store"]["total"] + sum(disk["indexes"].values()) + disk["models"]
                 + sum(disk["other"].values()))  # fmt: skip
        assert parts == disk["total"]


def test_memory_of_float_vectors_is_one_copy_of_each(tmp_path: Path) -> None:
    exact = build(tmp_path / "exact")  # below exact_threshold: a float32 matrix in RAM
    ivf = build(tmp_path / "ivf", exact_threshold=100)  # int8 codes in RAM, vectors in a file
    for col in (exact, ivf):
        info = col.info()
        usage = info["usage"]
        memory = usage["memory"]["dense"]
        assert memory >= info["indexes"]["dense"]["bytes"]  # the search structure, and more
        assert usage["memory"]["total"] == sum(
            v for k, v in usage["memory"].items() if k != "total"
        )
        assert usage["mapped"]["total"] == sum(
            v for k, v in usage["mapped"].items() if k != "total"
        )
    # exact: the vectors once in RAM, plus row maps: less than a second copy
    usage = exact.info()["usage"]
    assert N * DIM * 4 <= usage["memory"]["dense"] < 2 * N * DIM * 4
    assert usage["mapped"]["dense"] == 0
    # ivf: the int8 codes in RAM (a quarter of the vectors); the vectors once, in the mapped
    # file (saved by build), with the codes' file (read when opening or compacting)
    assert ivf.info()["indexes"]["dense"]["kind"] == "ivf"
    usage = ivf.info()["usage"]
    files = index_files(files_under(tmp_path / "ivf"), "dense")
    (full,) = (n for f, n in files.items() if ".full." in f)
    (codes,) = (n for f, n in files.items() if ".ivf." in f)
    assert full == N * DIM * 4 and N * DIM <= codes < 2 * N * DIM
    assert usage["mapped"]["dense"] == full + codes
    assert N * DIM <= usage["memory"]["dense"] < N * DIM * 4
    exact.close()
    ivf.close()


def test_memory_grows_with_what_is_added(tmp_path: Path) -> None:
    col = build(tmp_path / "col")
    before = col.info()["usage"]["memory"]
    col.add(items(N, start=N), vectors=vectors(N, seed=1), progress=False)
    after = col.info()["usage"]["memory"]
    col.close()
    for part in ("bm25", "dense", "attributes"):
        assert after[part] > before[part], part
    assert after["dense"] - before["dense"] >= N * DIM * 4


def test_compressed_storage_maps_its_full_precision_file(tmp_path: Path) -> None:
    build(tmp_path / "col", storage="int8").close()
    with sleuth.open(tmp_path / "col") as col:
        info = col.info()
    full = [n for n in files_under(tmp_path / "col") if ".full." in n]
    assert len(full) == 1 and full[0].startswith("index/dense.full.")
    size = (tmp_path / "col" / full[0]).stat().st_size
    assert info["usage"]["mapped"]["dense"] == size >= N * DIM * 4
    # int8 codes: a quarter of float32 in RAM, the float rows on disk
    assert info["usage"]["memory"]["dense"] < N * DIM * 4
    assert (
        info["usage"]["disk"]["indexes"]["dense"]
        == size + (tmp_path / "col" / "index" / "dense.npz").stat().st_size
    )


def test_store_tables_split_the_database(tmp_path: Path) -> None:
    build(tmp_path / "col").close()
    with sleuth.open(tmp_path / "col") as col:
        usage = col.info(tables=True)["usage"]
        assert "store_tables" not in col.info()["usage"]  # only when asked: it reads pages
    tables = usage["store_tables"]
    assert {"items", "vectors", "events", "changes"} <= set(tables)
    # each given vector is stored once, in the vector file beside the database
    assert usage["disk"]["store"]["sleuth.sqlite-vectors"] == N * DIM * 4
    assert tables["vectors"] < N * DIM * 4
    assert sum(tables.values()) <= usage["disk"]["store"]["total"]


def test_held_counts_shared_buffers_once_and_maps_apart(tmp_path: Path) -> None:
    a = np.zeros(1000, np.float64)
    np.save(tmp_path / "m.npy", np.ones(500, np.float32))
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r")
    h = held([a, a[10:], (a[:5], mapped)])
    assert h.mapped == (tmp_path / "m.npy").stat().st_size
    assert a.nbytes <= h.ram < a.nbytes + 1000  # the containers, not a second copy
    # what the vector files map: ``np.frombuffer`` over an ``mmap`` (a memoryview its base)
    with open(tmp_path / "m.npy", "rb") as fh:
        raw = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    rows = np.frombuffer(raw, np.uint8).reshape(-1, 8)
    h = held([rows, rows[1:], np.frombuffer(raw, np.uint8)])
    assert h.mapped == len(raw) and h.ram < 1000
    words = held({f"word{i}": i for i in range(5000)})
    assert words.ram > 5000 * len("word1000") and words.mapped == 0


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1536, 5 * 2**20, 3 * 2**30)] == [
        "0 B", "1023 B", "1.5 KiB", "5.0 MiB", "3.0 GiB",
    ]  # fmt: skip


def test_sleuth_info_prints_memory_and_disk_in_human_units(tmp_path: Path) -> None:
    build(tmp_path / "col").close()
    done = subprocess.run(
        [sys.executable, "-m", "sleuth.cli", "info", "--sizes", str(tmp_path / "col")],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["usage"]["store_tables"]["items"] > 0
    lines = done.stderr.splitlines()
    assert lines[0] == f"{N:,} items in {tmp_path / 'col'}"
    total = next(line for line in lines[lines.index("disk") :] if line.split()[0] == "total")
    assert total.split()[1:] == human_bytes(report["usage"]["disk"]["total"]).split()
    for part in ("bm25", "dense", "attributes", "store"):
        assert any(line.split()[0] == part for line in lines), part

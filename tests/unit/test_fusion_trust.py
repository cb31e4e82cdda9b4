"""Label-free trust in each retriever of the hybrid (``sleuth.fuse.trust``,
``sleuth.search.trust``): the decisions follow from what they claim to read. A collection whose
dense vectors are noise learns a lexical-dominated fusion; one where both lists find the same
items keeps today's weights and results; a query leans on the dense list when its best
lexical hit matches little of it; a collection created before trust existed keeps its fixed
weights."""

from __future__ import annotations

import json
import shutil
import warnings
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sleuth
from sleuth.config import FusionConfig
from sleuth.encoders import Encoder
from sleuth.encoders.base import Encoded
from sleuth.fuse import fuse_hybrid
from sleuth.fuse.trust import MARGIN, NEUTRAL, WEAK, choose_alpha, trusted_alpha
from sleuth.search.trust import FILE, FusionTrust

FIXTURES = Path(__file__).parents[1] / "fixtures"
WORDS = [f"w{a}{b}" for a in "abcdefghij" for b in "klmnopqrst"]  # 100 made-up words


class NoiseEncoder(Encoder):
    """A vector per text that is random (seeded by the text): no relation to its words."""

    id = "noise:32"
    dim = 32

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        out = np.stack(
            [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]
        ).astype(np.float32)
        return Encoded(out / np.linalg.norm(out, axis=1, keepdims=True))


def _items(n: int, *, unique: bool) -> list[dict[str, str]]:
    """``n`` items of 12 words; ``unique``: every word belongs to one item only."""
    rng = np.random.default_rng(3)
    if unique:
        return [{"id": f"i{i}", "text": " ".join(f"u{i}x{j}" for j in range(12))} for i in range(n)]
    return [{"id": f"i{i}", "text": " ".join(rng.choice(WORDS, 12))} for i in range(n)]


def _top1(col: sleuth.Collection, queries: list[str], **kwargs: object) -> list[str]:
    return [hits[0].id for hits in col.search_batch(queries, k=10, **kwargs)]  # type: ignore[arg-type]


def test_dense_noise_learns_a_lexical_fusion(tmp_path: Path) -> None:
    items = _items(150, unique=False)
    queries = [" ".join(item["text"].split()[2:7]) for item in items[:60]]
    with sleuth.open(tmp_path / "c", encoder=NoiseEncoder()) as col:
        col.add(items)
        lexical = _top1(col, queries, mode="lexical")
        before = _top1(col, queries)
        manifest = col.fit_fusion()
        after = _top1(col, queries)
    stats = manifest["stats"]["mrr@10"]
    assert stats["dense"] < WEAK * stats["lexical"]  # what the choice read
    assert manifest["alpha"] < NEUTRAL
    agree_before = np.mean([a == b for a, b in zip(before, lexical)])
    agree_after = np.mean([a == b for a, b in zip(after, lexical)])
    assert agree_after > agree_before
    with sleuth.open(tmp_path / "c", encoder=NoiseEncoder()) as col:  # saved, loaded on open
        assert _top1(col, queries) == after


def test_lists_that_agree_keep_todays_hybrid(tmp_path: Path) -> None:
    items = _items(80, unique=True)  # every item's words are its own: both lists find it
    queries = [" ".join(item["text"].split()[1:5]) for item in items[:30]]
    with sleuth.open(tmp_path / "c", encoder="hashing") as col:
        col.add(items)
        manifest = col.fit_fusion()
        trusted = col.search_batch(queries, k=10)
        fixed = col.search_batch(queries, k=10, fusion=FusionConfig(trust=False))
    assert manifest["alpha"] == NEUTRAL
    for a, b in zip(trusted, fixed):
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5)


def test_a_partial_lexical_match_moves_the_weight_to_dense() -> None:
    lexical = (np.array([1]), np.array([5.0]))  # the one item holding a query word
    dense = (np.arange(2, 12), np.linspace(0.5, 0.4, 10))  # reads the whole query
    whole = fuse_hybrid(lexical, dense, FusionConfig(), match=1.0)[0]
    partly = fuse_hybrid(lexical, dense, FusionConfig(), match=0.3)[0]
    assert whole[0] == 1 and partly[0] == 2
    fixed = fuse_hybrid(lexical, dense, FusionConfig(trust=False), match=0.3)[0]
    assert fixed.tolist() == whole.tolist()  # trust off: the match is not read


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_trusted_weight_rises_as_the_match_falls(alpha: float, r1: float, r2: float) -> None:
    lo, hi = sorted((r1, r2))
    assert alpha - 1e-9 <= trusted_alpha(alpha, hi) <= trusted_alpha(alpha, lo) + 1e-9 <= 1 + 1e-9
    assert trusted_alpha(alpha, 1.0) == pytest.approx(alpha)


@given(
    st.dictionaries(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]), st.floats(0, 1), min_size=1),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_the_weight_moves_only_for_a_clear_gain_where_one_side_fails(
    rr: dict[float, float], lexical: float, dense: float
) -> None:
    chosen = choose_alpha(rr, lexical, dense)
    if chosen != NEUTRAL:
        assert rr[chosen] > rr.get(NEUTRAL, -np.inf) + MARGIN
        assert rr[chosen] == max(rr.values())
        assert min(lexical, dense) < WEAK * max(lexical, dense)


def test_saved_trust_round_trips_and_a_bad_file_is_ignored(tmp_path: Path) -> None:
    FusionTrust(0.3, 7, {"pseudo_queries": 5}, "enc:a").save(tmp_path)
    loaded = FusionTrust.load(tmp_path, "enc:a")
    assert loaded is not None and (loaded.alpha, loaded.seq, loaded.encoder) == (0.3, 7, "enc:a")
    with pytest.warns(UserWarning, match="encoder 'enc:a'.*now searches with 'enc:b'"):
        assert FusionTrust.load(tmp_path, "enc:b") is None
    body = json.loads((tmp_path / FILE).read_text())
    (tmp_path / FILE).write_text(json.dumps({**body, "alpha": 3.0}))
    with pytest.warns(UserWarning, match="unreadable"):
        assert FusionTrust.load(tmp_path, "enc:a") is None
    assert FusionTrust.load(tmp_path / "absent", "enc:a") is None


def test_a_collection_created_before_trust_keeps_fixed_weights(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "v1-collection", tmp_path / "old")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with sleuth.open(tmp_path / "old") as col:
            assert col.config.fusion.trust is False
            stored = col.config
        # today's default (trust on) opens it: a config of the defaults is not another config
        with sleuth.open(tmp_path / "old", config=replace(stored, fusion=FusionConfig())) as col:
            assert col.config.fusion.trust is False
    with sleuth.open(tmp_path / "new", encoder="hashing") as col:
        assert col.config.fusion.trust is True

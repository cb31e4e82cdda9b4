"""``sleuth eval recs`` on MovieLens-100K: the baselines reproduce the reference figures, the
best configuration clears them by 20%, and the JSON contract holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ML100K = Path(__file__).resolve().parents[3] / "shared" / "data" / "movielens" / "ml-100k"
pytestmark = pytest.mark.data


def test_movielens_100k_leave_one_out() -> None:
    if not ML100K.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{ML100K} is missing on CI")
        pytest.skip(f"{ML100K} is not here")
    out = subprocess.run(
        [sys.executable, "-m", "sleuth.cli", "eval", "recs", str(ML100K), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    assert (report["dataset"], report["users"], report["items"]) == ("ml-100k", 943, 1682)
    runs = report["runs"]
    # The reference figures (leave-one-out by time, full ranking, seen items excluded).
    assert runs["popularity"]["hr@10"] == pytest.approx(0.086, abs=0.003)
    assert runs["popularity"]["ndcg@10"] == pytest.approx(0.045, abs=0.002)
    assert runs["item-knn"]["hr@10"] == pytest.approx(0.109, abs=0.003)
    assert runs["item-knn"]["ndcg@10"] == pytest.approx(0.056, abs=0.002)
    best = max(r["ndcg@10"] for r in runs.values())
    baseline = max(runs["popularity"]["ndcg@10"], runs["item-knn"]["ndcg@10"])
    assert best >= 1.2 * baseline and best >= 0.068
    for run in runs.values():
        assert set(run) >= {"hr@10", "ndcg@10", "coverage", "diversity", "train_s"}
        assert 0 < run["coverage"] <= 1 and run["train_s"] < 600

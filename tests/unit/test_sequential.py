"""SASRec on a synthetic walk whose next item is known (user steps i -> i+1 mod n): it learns
the step, is deterministic under a seed, and saves, resumes and warm-starts exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import sleuth.recommend.sequential as sequential
from sleuth.errors import Conflict, InvalidInput
from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.sequential import SASRec

N_ITEMS = 20
SMALL: dict[str, Any] = {"dim": 16, "blocks": 1, "max_len": 8, "batch": 16, "dropout": 0.1}


def walks(
    n_users: int = 60, n_items: int = N_ITEMS, length: int = 12, seed: int = 0
) -> Interactions:
    """Each user starts at a random item and steps to the next code, wrapping around."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(n_items, size=n_users)
    users = np.repeat(np.arange(n_users), length)
    items = (starts[:, None] + np.arange(length)[None]).ravel() % n_items
    return Interactions(
        [f"u{u}" for u in range(n_users)],
        [f"i{i}" for i in range(n_items)],
        users,
        items,
        np.ones(users.size, np.float32),
        np.arange(users.size, dtype=np.float64),
    )


def history(items: list[int]) -> History:
    n = len(items)
    return History(np.array(items, np.int64), np.ones(n, np.float32), np.arange(n, dtype=float))


def next_items(data: Interactions) -> np.ndarray:
    return (data.items[data.starts[1:] - 1] + 1) % data.n_items


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """These models are tiny: a second thread only adds overhead, and on a busy machine
    oversubscribed threads slowed this file from ~4 s to ~50 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data() -> Interactions:
    return walks()


@pytest.fixture(scope="module")
def trained(data: Interactions) -> SASRec:
    return SASRec(**SMALL, lr=5e-3, epochs=40, patience=40).fit(data)


def test_learns_the_next_step(data: Interactions, trained: SASRec) -> None:
    scores = trained.score(data.histories())
    assert scores.shape == (data.n_users, N_ITEMS) and scores.dtype == np.float32
    assert (scores.argmax(1) == next_items(data)).mean() >= 0.9
    assert trained.best_ndcg > 0.8 and 1 <= trained.best_epoch <= trained.epoch


def test_the_newest_event_counts_at_once(trained: SASRec) -> None:
    """The history is read at request time: one more event moves the prediction one step."""
    before, after = trained.score([history([3, 4, 5, 6]), history([3, 4, 5, 6, 7])])
    assert before.argmax() == 7 and after.argmax() == 8


def test_long_histories_are_cut_to_max_len(trained: SASRec) -> None:
    long, recent = trained.score([history(list(range(19)) * 3), history(list(range(11, 19)))])
    # one batch, two rows: a GEMM may treat rows differently, so equal up to float noise
    np.testing.assert_allclose(long, recent, rtol=1e-5, atol=1e-6)


def test_sampled_loss_learns_too(data: Interactions) -> None:
    model = SASRec(**SMALL, lr=5e-3, epochs=40, patience=40, loss="sampled", negatives=8)
    scores = model.fit(data).score(data.histories())
    assert (scores.argmax(1) == next_items(data)).mean() >= 0.8


def test_same_seed_same_model_other_seed_other_model(data: Interactions) -> None:
    a, b, c = (SASRec(**SMALL, epochs=3, seed=s).fit(data) for s in (1, 1, 2))
    histories = data.histories()
    np.testing.assert_array_equal(a.score(histories), b.score(histories))
    np.testing.assert_array_equal(a.item_embeddings, b.item_embeddings)
    assert not np.array_equal(a.score(histories), c.score(histories))


def test_fit_leaves_torch_global_state_alone(data: Interactions) -> None:
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SASRec(**SMALL, epochs=1).fit(data)
    np.testing.assert_array_equal(torch.rand(3), expected)
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_save_load_round_trip(tmp_path: Path, data: Interactions, trained: SASRec) -> None:
    path = tmp_path / "sasrec.pt"
    trained.save(path)
    loaded = SASRec.load(path)
    histories = data.histories()
    np.testing.assert_array_equal(loaded.score(histories), trained.score(histories))
    assert loaded.config() == trained.config()
    assert (loaded.n_items, loaded.epoch, loaded.best_epoch, loaded.best_ndcg) == (
        trained.n_items,
        trained.epoch,
        trained.best_epoch,
        trained.best_ndcg,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["sasrec.pt"]  # no temp file left behind


def test_resume_continues_to_the_same_weights(tmp_path: Path, data: Interactions) -> None:
    path = tmp_path / "ckpt.pt"
    first = SASRec(**SMALL, epochs=2, patience=10).fit(data, checkpoint=path)
    assert first.epoch == 2 and path.exists()
    resumed = SASRec(**SMALL, epochs=4, patience=10).fit(data, checkpoint=path)
    straight = SASRec(**SMALL, epochs=4, patience=10).fit(data)
    assert resumed.epoch == straight.epoch == 4
    histories = data.histories()
    np.testing.assert_array_equal(resumed.score(histories), straight.score(histories))
    assert SASRec.load(path).epoch == 4


def test_resume_trains_no_further_than_the_checkpoint(tmp_path: Path, data: Interactions) -> None:
    path = tmp_path / "ckpt.pt"
    done = SASRec(**SMALL, epochs=3).fit(data, checkpoint=path)
    again = SASRec(**SMALL, epochs=3).fit(data, checkpoint=path)
    assert again.epoch == 3
    np.testing.assert_array_equal(again.item_embeddings, done.item_embeddings)


def test_resume_refuses_other_settings_or_data(tmp_path: Path, data: Interactions) -> None:
    path = tmp_path / "ckpt.pt"
    SASRec(**SMALL, epochs=1).fit(data, checkpoint=path)
    with pytest.raises(Conflict, match="other settings"):
        SASRec(**{**SMALL, "dim": 8}, epochs=2).fit(data, checkpoint=path)
    with pytest.raises(Conflict, match="other interactions"):
        SASRec(**SMALL, epochs=2).fit(walks(seed=1), checkpoint=path)


def test_an_interrupted_fit_keeps_the_last_checkpoint(
    tmp_path: Path, data: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ckpt.pt"
    original = SASRec._epoch
    calls = []

    def interrupt_third(self: SASRec, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        original(self, *args)

    monkeypatch.setattr(SASRec, "_epoch", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        SASRec(**SMALL, epochs=5, patience=10).fit(data, checkpoint=path)
    assert SASRec.load(path).epoch == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_warm_start_keeps_old_rows_and_grows_the_table(data: Interactions, trained: SASRec) -> None:
    bigger = walks(n_items=N_ITEMS + 3)
    warm = SASRec(**SMALL, epochs=0).fit(bigger, warm_start=trained)
    assert warm.item_embeddings.shape == (N_ITEMS + 3, SMALL["dim"])
    np.testing.assert_array_equal(warm.item_embeddings[:N_ITEMS], trained.item_embeddings)
    assert not np.allclose(warm.item_embeddings[N_ITEMS:], 0.0)  # fresh rows, initialized
    old_histories = [history([1, 2, 3]), history([10, 11])]
    # a wider item table is another matrix shape: equal up to float noise
    np.testing.assert_allclose(
        warm.score(old_histories)[:, :N_ITEMS], trained.score(old_histories), rtol=1e-5, atol=1e-6
    )


def test_warm_start_trains_on_from_the_old_weights(trained: SASRec) -> None:
    """After one epoch, the walk learned on 20 items helps on 23 (~0.92 vs ~0.74)."""
    bigger = walks(n_items=N_ITEMS + 3, seed=2)
    kwargs: dict[str, Any] = {**SMALL, "lr": 5e-3, "epochs": 1}
    warm = SASRec(**kwargs).fit(bigger, warm_start=trained)
    cold = SASRec(**kwargs).fit(bigger)
    assert warm.best_ndcg > cold.best_ndcg


def test_warm_start_refuses_fewer_items_or_another_architecture(trained: SASRec) -> None:
    with pytest.raises(InvalidInput, match="stable"):
        SASRec(**SMALL, epochs=0).fit(walks(n_items=N_ITEMS - 1), warm_start=trained)
    with pytest.raises(InvalidInput, match="architecture"):
        SASRec(**{**SMALL, "dim": 8}, epochs=0).fit(walks(), warm_start=trained)


def test_bad_input_is_refused_with_a_reason(trained: SASRec) -> None:
    with pytest.raises(InvalidInput, match="loss"):
        SASRec(loss="bpr")
    with pytest.raises(InvalidInput, match="heads"):
        SASRec(dim=10, heads=3)
    with pytest.raises(InvalidInput, match="dropout"):
        SASRec(dropout=1.0)
    with pytest.raises(InvalidInput, match="before fit"):
        SASRec().score([history([1])])
    with pytest.raises(InvalidInput, match=r"\[0, 20\)"):
        trained.score([history([1, N_ITEMS])])


def test_empty_history_scores_without_nan(trained: SASRec) -> None:
    scores = trained.score([history([])])
    assert scores.shape == (1, N_ITEMS) and np.isfinite(scores).all()


def test_module_exports() -> None:
    assert sequential.__all__ == ["SASRec"]
    assert SASRec.name == "sasrec"

"""Removing rows from the IVF's lists touches only their lists, and leaves the lists faiss's
own ``remove_ids`` (a pass over every list) would leave: same rows, same scores."""

from __future__ import annotations

import faiss
import numpy as np

from sleuth.indexes.ann_ivf import IVFCodes


def test_removal_by_list_equals_faiss_remove_ids() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((3000, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ivf = IVFCodes.train(vectors, 32)
    ivf.add(ivf.encode(vectors))
    reference = faiss.clone_index(ivf.index)
    queries = vectors[:40] + 0.1 * rng.standard_normal((40, 24)).astype(np.float32)
    params = faiss.SearchParametersIVF()  # type: ignore[attr-defined]
    params.nprobe = 32  # every list: the answer does not depend on the order within lists
    for size in (1, 7, 300, 300):  # the last batch repeats rows already removed
        rows = rng.choice(3000, size, replace=False)
        ivf.remove(rows)
        reference.remove_ids(np.ascontiguousarray(rows, np.int64))
        assert ivf.ntotal == reference.ntotal
        got = ivf.index.search(queries, 50, params=params)
        want = reference.search(queries, 50, params=params)
        assert np.array_equal(np.sort(got[1], axis=1), np.sort(want[1], axis=1))
        assert np.allclose(got[0], want[0], atol=1e-5)
    held = {int(i) for n in range(ivf.nlist) for i in _ids(ivf, n)}
    assert len(held) == ivf.ntotal


def _ids(ivf: IVFCodes, number: int) -> np.ndarray:
    invlists = ivf.index.invlists
    return faiss.rev_swig_ptr(invlists.get_ids(number), invlists.list_size(number)).copy()

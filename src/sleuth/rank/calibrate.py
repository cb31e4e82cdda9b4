"""Calibration: a hit's features -> its probability of relevance.

A logistic model (Platt scaling generalised to a few features: the final score, the rank and
the retrievers' raw levels) fitted by Newton's method with a small L2 penalty, optionally
followed by isotonic regression (pool adjacent violators) on the model's logit, which keeps
the order and fixes the shape. Plain numpy, saved as JSON numbers (no pickle).

>>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
>>> model = Calibrator.fit(x, y, ("score",))
>>> bool(model.predict(np.array([[3.0]]))[0] > model.predict(np.array([[0.0]]))[0])
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput

__all__ = ["METHODS", "Calibrator", "expected_calibration_error"]

METHODS = ("platt", "isotonic")
_L2 = 1e-2  # on standardised features: keeps a separable training set finite


@dataclass(frozen=True)
class Calibrator:
    """``features`` (names, in column order), their ``mean``/``scale`` (standardisation),
    ``coef`` (one per feature, then the intercept) and, for isotonic, the step function
    ``steps`` (logit thresholds) -> ``levels`` (probabilities)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    method: str = "platt"
    steps: np.ndarray | None = None
    levels: np.ndarray | None = None

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, features: tuple[str, ...], method: str = "platt"
    ) -> Calibrator:
        """Fit on ``x: float[n, len(features)]`` and labels ``y: {0, 1}[n]``."""
        if method not in METHODS:
            raise InvalidInput(
                f"unknown calibration method {method!r}; allowed: {', '.join(METHODS)}",
                method=method,
            )
        y = np.asarray(y, np.float64)
        if not y.any() or y.all():
            raise InvalidInput(
                "calibration needs relevant and non-relevant hits among the results; "
                f"got {int(y.sum())} relevant of {y.size}"
            )
        x = np.asarray(x, np.float64)
        mean = x.mean(0)
        scale = x.std(0)
        scale[scale == 0] = 1.0
        z = np.column_stack([(x - mean) / scale, np.ones(len(x))])
        w = np.zeros(z.shape[1])
        penalty = np.full(z.shape[1], _L2 * len(x))
        penalty[-1] = 0.0  # not on the intercept
        for _ in range(50):  # Newton / IRLS
            p = _sigmoid(z @ w)
            grad = z.T @ (p - y) + penalty * w
            hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        model = cls(features, mean, scale, w)
        if method == "isotonic":
            steps, levels = _isotonic(model.logit(x), y)
            model = cls(features, mean, scale, w, method, steps, levels)
        return model

    def logit(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        return np.asarray(z @ self.coef[:-1] + self.coef[-1])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``float64[n]`` probabilities of ``x: float[n, len(features)]``."""
        t = self.logit(x)
        if self.steps is None or self.levels is None:
            return _sigmoid(t)
        at = np.searchsorted(self.steps, t, side="right") - 1
        return np.asarray(self.levels[np.clip(at, 0, len(self.levels) - 1)])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
        }
        if self.steps is not None and self.levels is not None:
            out["steps"], out["levels"] = self.steps.tolist(), self.levels.tolist()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibrator:
        steps, levels = raw.get("steps"), raw.get("levels")
        return cls(
            tuple(raw["features"]),
            np.asarray(raw["mean"], np.float64),
            np.asarray(raw["scale"], np.float64),
            np.asarray(raw["coef"], np.float64),
            raw.get("method", "platt"),
            None if steps is None else np.asarray(steps, np.float64),
            None if levels is None else np.asarray(levels, np.float64),
        )


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(t, -40, 40))))


def _isotonic(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool adjacent violators: the non-decreasing step function of ``t`` closest to ``y``;
    returns each block's lowest ``t`` and its mean label."""
    order = np.argsort(t, kind="stable")
    ts, ys = t[order], y[order]
    means: list[float] = []
    weights: list[float] = []
    starts: list[float] = []
    for ti, yi in zip(ts.tolist(), ys.tolist()):
        means.append(yi)
        weights.append(1.0)
        starts.append(ti)
        while len(means) > 1 and means[-2] >= means[-1]:
            w = weights[-2] + weights[-1]
            means[-2] = (means[-2] * weights[-2] + means[-1] * weights[-1]) / w
            weights[-2] = w
            del means[-1], weights[-1], starts[-1]
    return np.asarray(starts), np.asarray(means)


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the size-weighted mean ``|mean p - relevant rate|`` over
    ``bins`` equal-width bins of ``p``."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    if p.size == 0:
        return 0.0
    at = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = at == b
        if inside.any():
            total += inside.sum() * abs(p[inside].mean() - y[inside].mean())
    return float(total / p.size)

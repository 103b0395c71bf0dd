"""The two small models that choose quotes and decide to abstain, read from ``weights.json``.

Both are logistic regressions over the features in ``features.py``, fitted on the ``tune`` questions
only by ``python -m assistant.evals.train``; running them needs numpy alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .features import QUESTION_FEATURES, SENTENCE_FEATURES

WEIGHTS = Path(__file__).with_name("weights.json")


@dataclass(frozen=True, slots=True)
class Linear:
    """A logistic regression on standardised features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """P(positive) for each row of features (in ``features`` order)."""
        if not len(rows):
            return np.zeros(0, dtype=np.float64)
        z = ((rows - self.mean) / self.scale) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict[str, Any], expected: tuple[str, ...]) -> Linear:
        features = tuple(data["features"])
        if features != expected:
            raise ConfigError(f"answer weights are for features {features}, not {expected}; "
                              "run `python -m assistant.evals.train`")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(features),) for a in arrays):
            raise ConfigError("answer weights have the wrong shape; run `python -m assistant.evals.train`")
        return cls(features, arrays[0], arrays[1], arrays[2], float(data["intercept"]))


@dataclass(frozen=True, slots=True)
class Models:
    """The quote model, the abstention model and the thresholds chosen with them."""

    quote: Linear  # P(sentence holds the answer)
    answerable: Linear  # P(the archive answers the question)
    abstain_below: float  # answer only when P(answerable) reaches this
    keep_ratio: float  # a further quote must reach this share of the best quote's probability
    trained_on: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"quote": self.quote.to_json(), "answerable": self.answerable.to_json(),
                "abstain_below": self.abstain_below, "keep_ratio": self.keep_ratio, "trained_on": self.trained_on}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Models:
        return cls(Linear.from_json(data["quote"], SENTENCE_FEATURES),
                   Linear.from_json(data["answerable"], QUESTION_FEATURES),
                   float(data["abstain_below"]), float(data["keep_ratio"]), dict(data.get("trained_on", {})))


def load(path: Path = WEIGHTS) -> Models:
    """The models shipped with the package (or another weights file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Models.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read answer weights {path}: {exc}; run `python -m assistant.evals.train`") from None

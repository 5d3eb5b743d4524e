"""The trained-model artifact: LightGBM booster + calibrator + everything needed to explain it.

``TrainedModel.card()`` is the JSON model card (what the registry writes as card.json);
``TrainedModel.from_parts`` rebuilds a model from the booster text, calibrator dict and card.
The card also carries the vocabulary of each categorical feature, so a loaded model encodes
categories exactly as at training (card schema 2; schema 1 cards have no categorical features).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ml.calibration import Calibrator
from ml.catalogue import FeatureSpec

if TYPE_CHECKING:
    from ml import tree_tables
    from ml._lightgbm import lgb

CARD_SCHEMA = 2  # 2: adds "categories" (categorical feature -> vocabulary)


def _lightgbm_version() -> str:
    from ml._lightgbm import lgb

    return lgb.__version__


class LazyBooster:
    """A LightGBM booster made from its saved text on first use. Importing LightGBM takes about
    a second (it imports scikit-learn and SciPy); a model whose trees have lookup tables
    (``ml.tree_tables``) scores and explains without it."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._booster: "lgb.Booster | None" = None

    def load(self) -> "lgb.Booster":
        """The booster, made now if not yet (LightGBM raises when the text is not a model)."""
        if self._booster is None:
            from ml._lightgbm import lgb

            self._booster = lgb.Booster(model_str=self._text)
        return self._booster

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_text", "_booster"):  # copy, pickle: not the booster's
            raise AttributeError(name)
        return getattr(self.load(), name)


@dataclass
class TrainedModel:
    """A calibrated churn model trained on one dataset.

    ``typical`` holds the median of each feature over the training rows (None when never observed;
    for a categorical feature its most common category); ``categories`` the vocabulary of each
    categorical feature (sorted training categories, code = position); ``specs`` the catalogue
    entries of the features used, frozen at training time; ``training`` the split facts (as_of
    ranges, row counts, early stopping); ``version`` is set by the registry.
    """

    booster: "lgb.Booster | LazyBooster"
    calibrator: Calibrator
    dataset_id: str
    data_fingerprint: str
    features: list[str]
    unused_features: list[str]
    unused_feature_reasons: dict[str, str]
    specs: dict[str, FeatureSpec]
    dimension_labels: dict[str, str]
    typical: dict[str, float | str | None]
    params: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any]
    feature_importance: dict[str, float]
    created_at: str
    categories: dict[str, list[str]] = field(default_factory=dict)
    lightgbm_version: str = field(default_factory=_lightgbm_version)
    version: str | None = None
    # Rolling backtest of the training procedure (``ml.backtest.Backtest.to_dict()``), None when not
    # run; ``backtest_last_fold`` holds the last fold's risks and outcomes (saved beside the card,
    # not in it).
    backtest: dict[str, Any] | None = None
    backtest_last_fold: Any = None
    # ``ml.reference.profile`` of the training rows (saved beside the card as reference.json), the
    # baseline of drift checks; None for models saved before it existed.
    reference: dict[str, Any] | None = None

    @functools.cached_property
    def shap_tables(self) -> "tree_tables.ModelTables | None":
        """Lookup tables of the booster's trees for exact SHAP values (``ml.tree_tables``), None
        when its trees are too big for tables."""
        from ml import tree_tables

        return tree_tables.tables(self.booster)

    def card(self) -> dict[str, Any]:
        """JSON-serialisable model card (card.json)."""
        return {
            "card_schema": CARD_SCHEMA,
            "version": self.version,
            "created_at": self.created_at,
            "dataset_id": self.dataset_id,
            "data_fingerprint": self.data_fingerprint,
            "target": "churn within the horizon after as_of (label column 'churned')",
            "model_type": "lightgbm binary classifier, calibrated",
            "lightgbm_version": self.lightgbm_version,
            "calibration": {"method": self.calibrator.method, "rows": self.calibrator.n_rows,
                            "positives": self.calibrator.n_positives},
            "params": self.params,
            "features": list(self.features),
            "unused_features": list(self.unused_features),
            "unused_feature_reasons": dict(self.unused_feature_reasons),
            "metrics": self.metrics,
            "training": self.training,
            "typical": self.typical,
            "categories": {f: list(v) for f, v in self.categories.items()},
            "feature_importance_gain": self.feature_importance,
            "dimension_labels": self.dimension_labels,
            "catalogue": {name: spec.to_dict() for name, spec in self.specs.items()},
            "backtest": self.backtest,
        }

    @classmethod
    def from_parts(cls, booster_text: str, calibrator: Mapping[str, Any], card: Mapping[str, Any]) -> "TrainedModel":
        """Rebuild a model from the registry's three files (model.txt, calibrator.json, card.json)."""
        return cls(
            booster=LazyBooster(booster_text),
            calibrator=Calibrator.from_dict(calibrator),
            dataset_id=card["dataset_id"],
            data_fingerprint=card["data_fingerprint"],
            features=list(card["features"]),
            unused_features=list(card.get("unused_features", [])),
            unused_feature_reasons=dict(card.get("unused_feature_reasons", {})),
            specs={n: FeatureSpec.from_dict(d) for n, d in card["catalogue"].items()},
            dimension_labels=dict(card.get("dimension_labels", {})),
            typical=dict(card["typical"]),
            params=dict(card["params"]),
            metrics=dict(card["metrics"]),
            training=dict(card["training"]),
            feature_importance=dict(card.get("feature_importance_gain", {})),
            created_at=card["created_at"],
            categories={f: [str(c) for c in v] for f, v in (card.get("categories") or {}).items()},
            lightgbm_version=card.get("lightgbm_version") or _lightgbm_version(),
            version=card.get("version"),
            backtest=card.get("backtest"),
        )

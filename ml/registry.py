"""Model registry: versioned model folders under ``models_dir`` with model cards.

Layout: ``models_dir/v0001/{model.txt, calibrator.json, card.json, card.md}``. A version is written
into a hidden temporary folder and renamed into place, so readers never see half a model. A model
belongs to the dataset it was trained on: ``latest`` and ``load`` never hand one dataset's model to
another. ``find`` locates a model trained on exactly the same data (fingerprint), which makes
reruns reuse it instead of retraining.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ml.card import render_markdown
from ml.errors import DatasetMismatch, ModelNotFound
from ml.model import TrainedModel

_VERSION = re.compile(r"^v(\d{4,})$")
FILES = ("model.txt", "calibrator.json", "card.json", "card.md")


def _number(version: str) -> int:
    m = _VERSION.match(version)
    if not m:
        raise ValueError(f"not a model version id: {version!r} (expected e.g. 'v0003')")
    return int(m.group(1))


def list_versions(models_dir: str | Path) -> list[str]:
    """Complete model versions in ``models_dir``, oldest first (empty when the folder is absent)."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir()
             if p.is_dir() and _VERSION.match(p.name) and all((p / f).is_file() for f in FILES[:3])]
    return sorted(found, key=_number)


def read_card(models_dir: str | Path, version: str) -> dict[str, Any]:
    """The card.json of one version (``ModelNotFound`` when absent)."""
    path = Path(models_dir) / version / "card.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelNotFound(f"no model {version} in {models_dir}") from exc


def _cards(models_dir: str | Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for v in list_versions(models_dir):
        try:
            out.append((v, read_card(models_dir, v)))
        except (ModelNotFound, json.JSONDecodeError, OSError):
            continue
    return out


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _finite(obj: Any) -> Any:
    """Replace NaN/inf floats (not valid JSON) with None, recursively."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json(obj: Any) -> str:
    return json.dumps(_finite(obj), indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"


def save(model: TrainedModel, models_dir: str | Path) -> str:
    """Write ``model`` as the next version and return its id (also set on ``model.version``).

    Atomic: files go to a temporary folder inside ``models_dir`` that is renamed into place;
    concurrent writers each get their own version.
    """
    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    booster_text = model.booster.model_to_string(num_iteration=-1)
    calibrator_text = _json(model.calibrator.to_dict())
    previous = model.version
    for _ in range(1000):
        existing = [p.name for p in root.iterdir() if _VERSION.match(p.name)]
        version = f"v{max([_number(v) for v in existing], default=0) + 1:04d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=root))
        try:
            model.version = version
            card = model.card()
            _write(tmp / "model.txt", booster_text)
            _write(tmp / "calibrator.json", calibrator_text)
            _write(tmp / "card.json", _json(card))
            _write(tmp / "card.md", render_markdown(card))
            target = root / version
            if target.exists():
                continue
            try:
                os.rename(tmp, target)
            except OSError:
                if target.exists():  # another writer took this version: try the next one
                    continue
                raise
            return version
        except BaseException:
            model.version = previous
            raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    model.version = previous
    raise RuntimeError(f"could not allocate a model version in {root}")


def find(models_dir: str | Path, dataset_id: str, data_fingerprint: str) -> str | None:
    """Newest version trained on ``dataset_id`` with exactly ``data_fingerprint``, else None."""
    for version, card in reversed(_cards(models_dir)):
        if card.get("dataset_id") == dataset_id and card.get("data_fingerprint") == data_fingerprint:
            return version
    return None


def latest(models_dir: str | Path, dataset_id: str) -> str:
    """Newest version trained on ``dataset_id``; ``ModelNotFound`` when there is none.

    Models of other datasets are never returned: one company's model must not score another's data.
    """
    cards = _cards(models_dir)
    for version, card in reversed(cards):
        if card.get("dataset_id") == dataset_id:
            return version
    others = sorted({str(c.get("dataset_id")) for _, c in cards})
    detail = f"; it holds models for: {', '.join(others)}" if others else "; it holds no models"
    raise ModelNotFound(f"no model trained on dataset {dataset_id!r} in {models_dir}{detail}. Train one first.")


def load(models_dir: str | Path, version: str, *, dataset_id: str | None = None) -> TrainedModel:
    """Load one version. With ``dataset_id``, refuse (``DatasetMismatch``) a model of another dataset."""
    _number(version)
    folder = Path(models_dir) / version
    if not all((folder / f).is_file() for f in FILES[:3]):
        raise ModelNotFound(f"no complete model {version} in {models_dir}")
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    if dataset_id is not None and card.get("dataset_id") != dataset_id:
        raise DatasetMismatch(
            f"model {version} was trained on dataset {card.get('dataset_id')!r}, not {dataset_id!r}; "
            "a model must only score the dataset it was trained on"
        )
    calibrator = json.loads((folder / "calibrator.json").read_text(encoding="utf-8"))
    booster_text = (folder / "model.txt").read_text(encoding="utf-8")
    model = TrainedModel.from_parts(booster_text, calibrator, card)
    model.version = version
    return model


def ensure_model(models_dir: str | Path, frame: pd.DataFrame, *, dataset_id: str,
                 params: Mapping[str, Any] | None = None, scorecard: Any = None,
                 **train_kwargs: Any) -> tuple[TrainedModel, bool]:
    """Reuse the model trained on exactly this data and parameters, or train and save a new one.

    Returns (model, reused). ``train_kwargs`` go to ``ml.train.train`` (catalogue, num_threads,
    min_rows, min_positives, min_cutoffs, min_valid_positives, embargo_days). ``scorecard`` is the
    rule-based scorecard definition the card's baselines use (part of the fingerprint when given).
    """
    from ml.train import data_fingerprint, train  # the registry itself does not need LightGBM training

    fp = data_fingerprint(frame, params, catalogue=train_kwargs.get("catalogue"),
                          embargo_days=int(train_kwargs.get("embargo_days", 0)), scorecard=scorecard)
    version = find(models_dir, dataset_id, fp)
    if version is not None:
        return load(models_dir, version, dataset_id=dataset_id), True
    model = train(frame, dataset_id=dataset_id, params=params, scorecard=scorecard, **train_kwargs)
    save(model, models_dir)
    return model, False

"""Model registry: versioned model folders under ``models_dir`` with model cards.

Layout: ``models_dir/v0001/{model.txt, calibrator.json, card.json, card.md}`` (plus
``backtest_last_fold.parquet`` when the model was backtested, ``reference.json`` for drift checks
and ``tables.npz``, the lookup tables of shallow trees). A version is written into a hidden
temporary folder and renamed into place, so readers never see half a model. A model belongs to the
dataset it was trained on: ``latest`` and ``load`` never hand one dataset's model to another.
``find`` locates a model trained on exactly the same data (fingerprint), which makes reruns reuse
it instead of retraining.

Live model: ``models_dir/LIVE`` (JSON) names the version that scores each dataset, keeps a stack of
the previously live versions (``rollback``) and a short history of decisions. ``ensure_model``
makes a new model live only when the promotion guard (``judge``) finds its backtest not worse than
the live model's beyond a tolerance; ``promote`` overrides the guard by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from ml.card import render_markdown
from ml.errors import DatasetMismatch, ModelNotFound
from ml.model import TrainedModel

_VERSION = re.compile(r"^v(\d{4,})$")
FILES = ("model.txt", "calibrator.json", "card.json", "card.md")
LAST_FOLD_FILE = "backtest_last_fold.parquet"  # risks and outcomes of the backtest's last fold
REFERENCE_FILE = "reference.json"  # distributions of the training rows, the baseline of drift checks
# The trees' lookup tables (ml.tree_tables) with the SHA-256 of the model.txt they were made from:
# loading them instead of building them spares scoring both the build and the import of LightGBM.
TABLES_FILE = "tables.npz"
LIVE_FILE = "LIVE"  # JSON: live version per dataset, rollback stack, history of decisions
HISTORY_LIMIT = 50
DEFAULT_TOLERANCE = 0.01


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


def _write(path: Path, data: str | bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
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
            if model.reference is not None:
                _write(tmp / REFERENCE_FILE, _json(model.reference))
            if model.shap_tables is not None:
                _write_tables(tmp / TABLES_FILE, model.shap_tables, booster_text)
            last_fold = getattr(model, "backtest_last_fold", None)
            if last_fold is not None and len(last_fold):
                last_fold.to_parquet(tmp / LAST_FOLD_FILE, index=False)
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
    if (folder / REFERENCE_FILE).is_file():
        model.reference = json.loads((folder / REFERENCE_FILE).read_text(encoding="utf-8"))
    tables = _read_tables(folder / TABLES_FILE, booster_text)
    if tables is not None:   # saved from exactly this model.txt: it scores without the booster
        model.shap_tables = tables
    else:                    # a damaged model.txt fails here, not at the first score
        model.booster.load()
    return model


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_tables(path: Path, tables: Any, booster_text: str) -> None:
    from ml import tree_tables

    buffer = io.BytesIO()
    np.savez(buffer, model_sha256=np.array(_sha256(booster_text)), **tree_tables.to_arrays(tables))
    _write(path, buffer.getvalue())


def _read_tables(path: Path, booster_text: str) -> Any:
    """The saved lookup tables of this model.txt; None when there are none (models saved before
    them, trees too big for tables), they belong to another model.txt or cannot be read: then
    they are built from the booster when needed."""
    from ml import tree_tables

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["model_sha256"]) != _sha256(booster_text):
                return None
            return tree_tables.from_arrays(saved)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


# ---------------------------------------------------------------- live model and promotion guard

def _read_live(models_dir: str | Path) -> dict[str, Any]:
    path = Path(models_dir) / LIVE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        state = {}
    except (json.JSONDecodeError, OSError) as exc:
        raise ModelNotFound(f"{path} is unreadable ({exc}); fix or delete it (the next run makes its "
                            "model live)") from exc
    return {"live": dict(state.get("live") or {}), "previous": {k: list(v) for k, v in (state.get("previous") or {}).items()},
            "history": list(state.get("history") or [])}


def _write_live(models_dir: str | Path, state: Mapping[str, Any]) -> None:
    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".LIVE-", dir=root)
    os.close(fd)
    try:
        _write(Path(tmp), _json(state))
        os.replace(tmp, root / LIVE_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _log(state: dict[str, Any], dataset_id: str, version: str, action: str, reason: str) -> None:
    state["history"].append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "dataset_id": dataset_id, "version": version, "action": action, "reason": reason})
    del state["history"][:-HISTORY_LIMIT]


def live_version(models_dir: str | Path, dataset_id: str) -> str | None:
    """The version scoring ``dataset_id`` (from the ``LIVE`` file), None when there is none or its
    folder is gone."""
    version = _read_live(models_dir)["live"].get(dataset_id)
    if version and version in list_versions(models_dir):
        return version
    return None


def live_history(models_dir: str | Path, dataset_id: str | None = None) -> list[dict[str, Any]]:
    """Promotions, refusals and rollbacks (oldest first; the last ``HISTORY_LIMIT`` are kept)."""
    entries = _read_live(models_dir)["history"]
    return [e for e in entries if dataset_id is None or e.get("dataset_id") == dataset_id]


def _set_live(models_dir: str | Path, version: str, dataset_id: str, action: str, reason: str) -> None:
    state = _read_live(models_dir)
    current = state["live"].get(dataset_id)
    if current and current != version:
        stack = state["previous"].setdefault(dataset_id, [])
        stack.append(current)
        del stack[:-HISTORY_LIMIT]
    state["live"][dataset_id] = version
    _log(state, dataset_id, version, action, reason)
    _write_live(models_dir, state)


def _record(models_dir: str | Path, version: str, dataset_id: str, action: str, reason: str) -> None:
    state = _read_live(models_dir)
    _log(state, dataset_id, version, action, reason)
    _write_live(models_dir, state)


def promote(models_dir: str | Path, version: str, *, dataset_id: str, reason: str = "promoted by hand") -> str:
    """Make ``version`` the live model of ``dataset_id`` without the guard (a person decided).

    ``DatasetMismatch`` when the version belongs to another dataset, ``ModelNotFound`` when absent.
    Returns the version that was live before (or "" when none).
    """
    _number(version)
    if version not in list_versions(models_dir):
        raise ModelNotFound(f"no complete model {version} in {models_dir}")
    owner = read_card(models_dir, version).get("dataset_id")
    if owner != dataset_id:
        raise DatasetMismatch(f"model {version} was trained on dataset {owner!r}, not {dataset_id!r}; "
                              "a model must only score the dataset it was trained on")
    before = live_version(models_dir, dataset_id) or ""
    if before != version:
        _set_live(models_dir, version, dataset_id, "promote", reason)
    return before


def rollback(models_dir: str | Path, *, dataset_id: str) -> tuple[str, str]:
    """Make the previously live version of ``dataset_id`` live again; returns (from, to).

    ``ModelNotFound`` when no earlier live version (still in the registry) is recorded.
    """
    state = _read_live(models_dir)
    current = state["live"].get(dataset_id)
    stack = state["previous"].get(dataset_id, [])
    present = set(list_versions(models_dir))
    while stack and (stack[-1] not in present or stack[-1] == current):
        stack.pop()
    if not stack:
        raise ModelNotFound(f"no earlier live model of dataset {dataset_id!r} to roll back to in {models_dir}")
    target = stack.pop()
    state["live"][dataset_id] = target
    _log(state, dataset_id, target, "rollback", f"rolled back from {current}")
    _write_live(models_dir, state)
    return current or "", target


def describe(models_dir: str | Path) -> list[dict[str, Any]]:
    """One row per version (oldest first): version, created_at, dataset_id, validation ROC AUC,
    backtest mean ROC AUC / ECE / top-10% lift, live (bool) and the last guard decision on it."""
    state = _read_live(models_dir)
    last: dict[str, dict[str, Any]] = {}
    for entry in state["history"]:
        last[entry.get("version")] = entry
    rows = []
    for version, card in _cards(models_dir):
        mean = (card.get("backtest") or {}).get("mean") or {}
        rows.append({
            "version": version,
            "created_at": card.get("created_at"),
            "dataset_id": card.get("dataset_id"),
            "roc_auc": (card.get("metrics") or {}).get("roc_auc"),
            "backtest_roc_auc": mean.get("roc_auc"),
            "backtest_ece": mean.get("ece"),
            "backtest_lift_top10": mean.get("lift_top10"),
            "live": state["live"].get(card.get("dataset_id")) == version,
            "decision": (last.get(version) or {}).get("action"),
        })
    return rows


def guard_note(models_dir: str | Path, dataset_id: str) -> str:
    """A sentence when the newest model of ``dataset_id`` is not the live one (refused by the
    guard or rolled back), else "". What the score step tells people on every run until it changes."""
    live = live_version(models_dir, dataset_id)
    try:
        newest = latest(models_dir, dataset_id)
    except ModelNotFound:
        return ""
    if live is None or newest == live:
        return ""
    why = next((e for e in reversed(live_history(models_dir, dataset_id))
                if e.get("version") in (newest, live) and e.get("action") in ("refused", "rollback", "promote")), None)
    reason = {"refused": "refused by the promotion guard: ", "rollback": "rolled back: ",
              "promote": "another model promoted by hand: "}.get((why or {}).get("action"), "")
    detail = f" ({reason}{why.get('reason')})" if why else ""
    return (f"the newest model {newest} is not live{detail}; scoring with live model {live} "
            f"(`customer-health model promote {newest}` overrides)")


@dataclass
class Verdict:
    """The promotion guard's decision on a candidate against the live model."""

    promote: bool
    reason: str
    metric: str | None = None
    candidate: float | None = None
    live: float | None = None


def _auc(card: Mapping[str, Any], metric: str) -> float | None:
    if metric == "backtest":
        return backtest_mean_roc_auc(card)
    value = (card.get("metrics") or {}).get("roc_auc")
    return float(value) if value is not None else None


def judge(candidate: Mapping[str, Any], live: Mapping[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    """Promote ``candidate`` (a card) over ``live`` (a card) unless its ROC AUC is more than
    ``tolerance`` below the live one's.

    Compares the backtest mean ROC AUC when both cards have one, else the validation ROC AUC;
    promotes when neither can be compared (nothing to hold the candidate against).
    """
    for metric, label in (("backtest", "backtest mean ROC AUC"), ("validation", "validation ROC AUC")):
        c, lv = _auc(candidate, metric), _auc(live, metric)
        if c is None or lv is None:
            continue
        facts = (f"{label} {c:.3f} against {lv:.3f} of live model {live.get('version')} "
                 f"(tolerance {tolerance:.3f})")
        return Verdict(c >= lv - tolerance, facts, label, c, lv)
    return Verdict(True, f"no ROC AUC to compare with live model {live.get('version')}")


def backtest_mean_roc_auc(card: Mapping[str, Any]) -> float | None:
    """The backtest mean ROC AUC of a card (None without a backtest)."""
    value = ((card.get("backtest") or {}).get("mean") or {}).get("roc_auc")
    return float(value) if value is not None else None


@dataclass
class ModelChoice:
    """What ``ensure_model`` did: ``model`` is the live model that scores, ``reused`` whether it was
    already in the registry (not trained by this call), ``trained`` the version trained now (None
    when nothing was trained), ``promoted`` whether the trained or found model is live, ``note`` a
    sentence for people when the scoring model is not the one just trained or found.
    Unpacks as ``model, reused = ensure_model(...)``."""

    model: TrainedModel
    reused: bool
    trained: str | None = None
    promoted: bool = False
    note: str = ""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.model, self.reused))


def _backtest_matches(card: Mapping[str, Any], folds: int, label_delay_days: int) -> bool:
    if folds <= 0:
        return True
    settings = (card.get("backtest") or {}).get("settings") or {}
    return settings.get("folds") == folds and settings.get("label_delay_days") == label_delay_days


def ensure_model(models_dir: str | Path, frame: pd.DataFrame, *, dataset_id: str,
                 params: Mapping[str, Any] | None = None, scorecard: Any = None,
                 backtest_folds: int = 0, label_delay_days: int = 0,
                 promotion_tolerance: float = DEFAULT_TOLERANCE, go_live: bool = True,
                 **train_kwargs: Any) -> ModelChoice:
    """The live model of ``dataset_id``, after training a new one when the data changed.

    A model trained on exactly this data and parameters (same fingerprint, and a backtest with the
    same settings) is reused instead of retraining. A new model is backtested on ``backtest_folds``
    folds (``ml.backtest``; ``label_delay_days`` = days until a label is known, 2 x the churn
    horizon), saved, and made live when it is the dataset's first or the guard (``judge``) lets it
    beat or match the live model within ``promotion_tolerance``; otherwise the live model keeps
    scoring and ``note`` says why. ``train_kwargs`` go to ``ml.train.train`` (catalogue,
    num_threads, min_rows, min_positives, min_cutoffs, min_valid_positives, embargo_days).
    ``scorecard`` is the rule-based scorecard definition the card's baselines use (part of the
    fingerprint when given). With ``go_live=False`` (a backfill's point-in-time model) the model
    of exactly this data is returned, trained if needed, and the live model is left alone.
    Returns a ``ModelChoice`` (unpacks as (model, reused)).
    """
    from ml.train import data_fingerprint, train  # the registry itself does not need LightGBM training

    fp = data_fingerprint(frame, params, catalogue=train_kwargs.get("catalogue"),
                          embargo_days=int(train_kwargs.get("embargo_days", 0)), scorecard=scorecard)
    version = find(models_dir, dataset_id, fp)
    if version is not None and _backtest_matches(read_card(models_dir, version), backtest_folds, label_delay_days):
        if not go_live:
            return ModelChoice(load(models_dir, version, dataset_id=dataset_id), True)
        live = live_version(models_dir, dataset_id)
        if live is None:
            _set_live(models_dir, version, dataset_id, "first", "first model of the dataset under the promotion guard")
            live = version
        note = "" if live == version else (
            f"model {version} matches this data but is not live; scoring with live model {live}")
        return ModelChoice(load(models_dir, live, dataset_id=dataset_id), True, None, live == version, note)
    model = train(frame, dataset_id=dataset_id, params=params, scorecard=scorecard, fingerprint=fp,
                  **train_kwargs)
    if backtest_folds > 0:
        from ml import backtest

        result = backtest.run(frame, dataset_id=dataset_id, folds=backtest_folds, label_delay_days=label_delay_days,
                              params=params, scorecard=scorecard, **train_kwargs)
        model.backtest, model.backtest_last_fold = result.to_dict(), result.last_fold
    version = save(model, models_dir)
    if not go_live:
        return ModelChoice(model, False, version)
    live = live_version(models_dir, dataset_id)
    if live is None:
        _set_live(models_dir, version, dataset_id, "first", "first model of the dataset")
        return ModelChoice(model, False, version, True)
    verdict = judge(model.card(), read_card(models_dir, live), promotion_tolerance)
    if verdict.promote:
        _set_live(models_dir, version, dataset_id, "auto", verdict.reason)
        return ModelChoice(model, False, version, True)
    _record(models_dir, version, dataset_id, "refused", verdict.reason)
    note = (f"model {version} was trained but not promoted: {verdict.reason}; scoring with live model {live} "
            f"(`customer-health model promote {version}` overrides)")
    return ModelChoice(load(models_dir, live, dataset_id=dataset_id), True, version, False, note)

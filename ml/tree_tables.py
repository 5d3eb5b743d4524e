"""Exact scores and SHAP values of small trees by table lookup.

LightGBM's ``pred_contrib`` computes path-dependent TreeSHAP row by row. For a tree with few
splits both the row's score and its SHAP values depend only on which way the row goes at each
split (not just on its own path: a split off the path still weighs the expectation over the
features left out). A tree with m splits has at most 2**m such outcome patterns, so each
pattern's leaf value and SHAP values are computed once per model from the tree structure
(``tables``), and scoring is a few vectorised comparisons and lookups per tree
(``contributions``): the same numbers as ``pred_contrib``, many times faster for the shallow
trees this project trains. Models with bigger trees return None from ``tables``; their callers
use LightGBM.

Trees that split on one or two features are merged before scoring (``ModelTables``): every
threshold the model uses on a feature cuts that feature into bins, and since a tree's SHAP values
are constant within a bin, all trees over the same feature (or pair of features) add up to one
table indexed by the row's bin (or pair of bins). Scoring is then one binning per feature and one
lookup per feature or pair, instead of a few operations per tree.

Split rules follow LightGBM's: a numerical split sends x <= threshold left, a missing value
(NaN, or also zero for missing type "Zero") its default way, and NaN counts as 0 when the
missing type is "None"; a categorical split sends the listed categories left and a missing or
negative value right.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import factorial
from typing import Any

import numpy as np

MAX_SPLITS = 4      # 16 patterns per tree; bigger trees are left to LightGBM
_ZERO = 1e-35       # LightGBM's kZeroThreshold


@dataclass(frozen=True)
class _Split:
    feature: int
    categorical: bool
    threshold: float
    categories: np.ndarray
    default_left: bool
    missing_type: str


@dataclass(frozen=True)
class TreeTable:
    splits: tuple[_Split, ...]
    features: np.ndarray     # distinct model feature indices the tree splits on
    phi: np.ndarray          # (len(features), 2**len(splits)) SHAP value per feature and pattern
    expected: float          # the tree's expected value (the bias of its SHAP values)


def _count(node: dict) -> float:
    return float(node["internal_count"] if "split_feature" in node else node["leaf_count"])


def _internal_nodes(root: dict) -> list[dict]:
    nodes: list[dict] = []

    def walk(node: dict) -> None:
        if "split_feature" in node:
            nodes.append(node)
            walk(node["left_child"])
            walk(node["right_child"])

    walk(root)
    return nodes


def _value(node: dict, known: frozenset[int], left: dict[int, bool], index: dict[int, int]) -> float:
    """Expected output given the features in ``known`` follow the row (path-dependent)."""
    if "split_feature" not in node:
        return float(node["leaf_value"])
    if node["split_feature"] in known:
        side = "left_child" if left[index[id(node)]] else "right_child"
        return _value(node[side], known, left, index)
    lo, hi = node["left_child"], node["right_child"]
    return ((_count(lo) * _value(lo, known, left, index) + _count(hi) * _value(hi, known, left, index))
            / (_count(lo) + _count(hi)))


def _split(node: dict) -> _Split:
    categorical = node["decision_type"] == "=="
    categories = (np.array([int(c) for c in str(node["threshold"]).split("||")], dtype="int64")
                  if categorical else np.empty(0, dtype="int64"))
    return _Split(int(node["split_feature"]), categorical,
                  0.0 if categorical else float(node["threshold"]), categories,
                  bool(node.get("default_left", False)), str(node.get("missing_type", "None")))


def _table(root: dict) -> TreeTable:
    nodes = _internal_nodes(root)
    index = {id(node): k for k, node in enumerate(nodes)}
    features = sorted({int(node["split_feature"]) for node in nodes})
    m, n_patterns = len(features), 2 ** len(nodes)
    phi = np.zeros((m, n_patterns))
    weights = [factorial(size) * factorial(m - size - 1) / factorial(m) for size in range(m)]
    for pattern in range(n_patterns):
        left = {k: bool(pattern >> k & 1) for k in range(len(nodes))}
        values: dict[frozenset[int], float] = {}
        for size in range(m + 1):
            for subset in combinations(features, size):
                known = frozenset(subset)
                values[known] = _value(root, known, left, index)
        for j, feature in enumerate(features):
            others = [f for f in features if f != feature]
            phi[j, pattern] = sum(
                weights[size] * (values[frozenset(subset) | {feature}] - values[frozenset(subset)])
                for size in range(m) for subset in combinations(others, size))
    expected = _value(root, frozenset(), {}, index)
    return TreeTable(tuple(_split(node) for node in nodes), np.array(features, dtype="int64"),
                     phi, expected)


def tables(booster: Any) -> "ModelTables | None":
    """The lookup tables of a LightGBM booster, or None when a tree has more than MAX_SPLITS."""
    trees = booster.dump_model()["tree_info"]
    if any(tree["num_leaves"] - 1 > MAX_SPLITS for tree in trees):
        return None
    return ModelTables([_table(tree["tree_structure"]) for tree in trees])


def _goes_left(split: _Split, x: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    """Rows going left at ``split``; ``missing`` is x's NaN mask (None when x has no NaN)."""
    if split.categorical:
        codes = (x if missing is None else np.where(missing, -1, x)).astype("int64")
        return np.isin(codes, split.categories) & (codes >= 0)
    if missing is None:
        if split.missing_type == "Zero":
            return np.where(np.abs(x) <= _ZERO, split.default_left, x <= split.threshold)
        return x <= split.threshold
    if split.missing_type == "NaN":
        return np.where(missing, split.default_left, x <= split.threshold)
    x = np.where(missing, 0.0, x)
    if split.missing_type == "Zero":
        return np.where(np.abs(x) <= _ZERO, split.default_left, x <= split.threshold)
    return x <= split.threshold


def _patterns(tree: TreeTable, columns: np.ndarray, missing: list[np.ndarray | None]) -> np.ndarray:
    """The outcome pattern (bit k: went left at split k) of every row of ``columns``."""
    pattern = np.zeros(columns.shape[1], dtype="intp")
    for bit, split in enumerate(tree.splits):
        left = _goes_left(split, columns[split.feature], missing[split.feature])
        pattern |= left.astype("intp") << bit
    return pattern


def _nan_masks(columns: np.ndarray) -> list[np.ndarray | None]:
    return [mask if mask.any() else None for mask in np.isnan(columns)]


class _Bins:
    """The bins the model's splits cut one feature into, each with a value standing for it.

    Numbers: bin i < len(thresholds) holds (thresholds[i-1], thresholds[i]] (what
    ``searchsorted`` left gives), the next one everything above; then a bin for NaN and, when a
    split treats zero as missing, one for zero. Categories: one bin per code a split lists, one
    for every other code (unlisted, negative or missing: all go right everywhere)."""

    def __init__(self, splits: list[_Split]) -> None:
        self.categorical = splits[0].categorical
        if self.categorical:
            self.size = int(max(int(c.max()) if len(c) else -1 for c in (s.categories for s in splits))) + 1
            self.values = np.append(np.arange(self.size, dtype="float64"), -1.0)
            self.thresholds = np.empty(0)
            self.zero_bin = False
        else:
            self.thresholds = np.unique([s.threshold for s in splits])
            self.zero_bin = any(s.missing_type == "Zero" for s in splits)
            stand_ins = self.thresholds
            if self.zero_bin:
                stand_ins = np.array([self._nonzero_stand_in(i) for i in range(len(stand_ins))])
            self.values = np.concatenate([stand_ins, [np.inf, np.nan], [0.0] if self.zero_bin else []])
        self.count = len(self.values)

    def _nonzero_stand_in(self, i: int) -> float:
        """A value of bin i outside zero's range (zeros have a bin of their own): LightGBM
        puts thresholds at +-1e-35, where the upper bound of the bin would count as zero."""
        upper = float(self.thresholds[i])
        lower = float(self.thresholds[i - 1]) if i else -np.inf
        if abs(upper) > _ZERO:
            return upper
        below = min(-2 * _ZERO, (lower - _ZERO) / 2) if np.isfinite(lower) else -1.0
        return below if lower < below else upper  # else only zeros fall in this bin

    def of(self, x: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
        """The bin of every value of ``x`` (``missing``: its NaN mask, None without NaN)."""
        if self.categorical:
            codes = np.where(np.isnan(x), -1.0, x) if missing is not None else x
            return np.where((codes >= 0) & (codes < self.size), codes, self.size).astype("intp")
        m = len(self.thresholds)
        bins = np.searchsorted(self.thresholds, x, side="left")
        if missing is not None:
            bins[missing] = m + 1
        if self.zero_bin:
            bins[np.abs(x) <= _ZERO] = m + 2
        return bins


class ModelTables:
    """A model's trees ready for scoring: trees over one or two features merged into one table per
    feature or pair (see the module docstring), bigger ones kept as they are."""

    def __init__(self, trees: list[TreeTable]) -> None:
        self.trees = trees
        self.expected = float(sum(tree.expected for tree in trees))
        splits: dict[int, list[_Split]] = {}
        for tree in trees:
            for split in tree.splits:
                splits.setdefault(split.feature, []).append(split)
        self.bins = {feature: _Bins(group) for feature, group in splits.items()}
        groups: dict[tuple[int, ...], list[TreeTable]] = {}
        self.unmerged: list[TreeTable] = []
        for tree in trees:
            key = tuple(int(f) for f in tree.features)
            if not key:
                continue  # a tree without a split only adds its value, already in expected
            if len(key) <= 2:
                groups.setdefault(key, []).append(tree)
            else:
                self.unmerged.append(tree)
        # (features, {feature: table over the flattened grid of their bins})
        self.merged = [(key, self._merge(key, group)) for key, group in groups.items()]

    def _merge(self, key: tuple[int, ...], group: list[TreeTable]) -> dict[int, np.ndarray]:
        """Sum the SHAP values of ``group`` over every combination of bins of ``key``'s features."""
        counts = [self.bins[f].count for f in key]
        grid = np.indices(counts).reshape(len(key), -1)
        width = max(key) + 1
        columns = np.zeros((width, grid.shape[1]))
        for axis, feature in enumerate(key):
            columns[feature] = self.bins[feature].values[grid[axis]]
        missing = _nan_masks(columns)
        summed = {feature: np.zeros(grid.shape[1]) for feature in key}
        for tree in group:
            pattern = _patterns(tree, columns, missing)
            for j, feature in enumerate(tree.features):
                summed[int(feature)] += tree.phi[j].take(pattern)
        return summed

    def contributions(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype="float64")
        n, k = X.shape
        columns = np.ascontiguousarray(X.T)
        missing = _nan_masks(columns)
        bins = {f: b.of(columns[f], missing[f]) for f, b in self.bins.items()}
        out = np.zeros((k + 1, n))
        for key, summed in self.merged:
            index = bins[key[0]]
            if len(key) == 2:
                index = index * self.bins[key[1]].count + bins[key[1]]
            for feature, table in summed.items():
                out[feature] += table.take(index)
        for tree in self.unmerged:
            pattern = _patterns(tree, columns, missing)
            for j, feature in enumerate(tree.features):
                out[feature] += tree.phi[j].take(pattern)
        out[k] = self.expected
        return out.T


def contributions(tables: ModelTables, X: np.ndarray) -> np.ndarray:
    """``pred_contrib`` of the rows of ``X``: one column per feature plus the expected value last;
    each row sums to its raw score."""
    return tables.contributions(X)


_MISSING_TYPES = ("None", "Zero", "NaN")


def to_arrays(tables: ModelTables) -> dict[str, np.ndarray]:
    """The trees of ``tables`` as flat numpy arrays (what ``from_arrays`` reads back), so a saved
    model scores without LightGBM and without building its tables again."""
    splits = [split for tree in tables.trees for split in tree.splits]
    return {
        "tree_splits": np.array([len(tree.splits) for tree in tables.trees], dtype="int64"),
        "tree_features": np.array([len(tree.features) for tree in tables.trees], dtype="int64"),
        "tree_expected": np.array([tree.expected for tree in tables.trees], dtype="float64"),
        "features": np.concatenate([tree.features for tree in tables.trees] + [np.empty(0, "int64")]),
        "phi": np.concatenate([tree.phi.ravel() for tree in tables.trees] + [np.empty(0)]),
        "split_feature": np.array([s.feature for s in splits], dtype="int64"),
        "split_categorical": np.array([s.categorical for s in splits], dtype="bool"),
        "split_threshold": np.array([s.threshold for s in splits], dtype="float64"),
        "split_default_left": np.array([s.default_left for s in splits], dtype="bool"),
        "split_missing_type": np.array([_MISSING_TYPES.index(s.missing_type) for s in splits], dtype="int8"),
        "split_categories": np.array([len(s.categories) for s in splits], dtype="int64"),
        "categories": np.concatenate([s.categories for s in splits] + [np.empty(0, "int64")]),
    }


def from_arrays(arrays: Any) -> ModelTables:
    """The ``ModelTables`` of ``to_arrays``'s output (a dict or an ``np.load`` of a saved one)."""
    a = {name: np.asarray(arrays[name]) for name in (
        "tree_splits", "tree_features", "tree_expected", "features", "phi", "split_feature",
        "split_categorical", "split_threshold", "split_default_left", "split_missing_type",
        "split_categories", "categories")}
    category_ends = np.cumsum(a["split_categories"])
    splits = [_Split(int(a["split_feature"][i]), bool(a["split_categorical"][i]),
                     float(a["split_threshold"][i]),
                     a["categories"][category_ends[i] - a["split_categories"][i]:category_ends[i]],
                     bool(a["split_default_left"][i]), _MISSING_TYPES[int(a["split_missing_type"][i])])
              for i in range(len(a["split_feature"]))]
    trees, split_at, feature_at, phi_at = [], 0, 0, 0
    for n_splits, n_features, expected in zip(a["tree_splits"], a["tree_features"], a["tree_expected"]):
        size = int(n_features) * 2 ** int(n_splits)
        trees.append(TreeTable(tuple(splits[split_at:split_at + n_splits]),
                               a["features"][feature_at:feature_at + n_features],
                               a["phi"][phi_at:phi_at + size].reshape(int(n_features), 2 ** int(n_splits)),
                               float(expected)))
        split_at, feature_at, phi_at = split_at + n_splits, feature_at + n_features, phi_at + size
    return ModelTables(trees)

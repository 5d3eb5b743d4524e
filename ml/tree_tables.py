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


def tables(booster: Any) -> list[TreeTable] | None:
    """One table per tree of a LightGBM booster, or None when a tree has more than MAX_SPLITS."""
    trees = booster.dump_model()["tree_info"]
    if any(tree["num_leaves"] - 1 > MAX_SPLITS for tree in trees):
        return None
    return [_table(tree["tree_structure"]) for tree in trees]


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


def contributions(trees: list[TreeTable], X: np.ndarray) -> np.ndarray:
    """``pred_contrib`` of the rows of ``X``: one column per feature plus the expected value last;
    each row sums to its raw score."""
    X = np.asarray(X, dtype="float64")
    n, k = X.shape
    columns = np.ascontiguousarray(X.T)
    nan = np.isnan(columns)
    missing = [mask if mask.any() else None for mask in nan]
    out = np.zeros((k + 1, n))
    pattern = np.empty(n, dtype="intp")
    for tree in trees:
        pattern[:] = 0
        for bit, split in enumerate(tree.splits):
            left = _goes_left(split, columns[split.feature], missing[split.feature])
            pattern |= left.astype("intp") << bit
        for j, feature in enumerate(tree.features):
            out[feature] += tree.phi[j].take(pattern)
        out[k] += tree.expected
    return out.T

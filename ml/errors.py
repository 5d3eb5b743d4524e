"""Exceptions raised by the modelling package.

Every error says what is wrong in words a data engineer can act on; callers catch these
classes (all subclasses of built-in exceptions) rather than parsing messages.
"""

from __future__ import annotations


class InsufficientData(ValueError):
    """There is not enough labelled history to train or evaluate a model.

    ``problems`` lists each unmet requirement, e.g. ``"only 2 labelled as-of dates; need at least 3"``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("not enough labelled data to train a churn model: " + "; ".join(self.problems))


class FrameError(ValueError):
    """The feature frame does not have the shape the modelling package expects."""


class CatalogueError(ValueError):
    """The feature catalogue (features.yml) is malformed."""


class ModelNotFound(LookupError):
    """No model in the registry matches the request (version, dataset)."""


class DatasetMismatch(ModelNotFound):
    """A model exists but was trained on another dataset; it must not score this one."""

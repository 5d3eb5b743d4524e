"""Churn-risk modelling for the customer-health pipeline.

Pure modelling on pandas frames: feature catalogue (``catalogue``), time split and refusal on thin
data (``dataset``), LightGBM training (``train``), calibration, metrics, explanations
(``explain``), scoring (``predict``) and a file-based model registry
(``registry``). It never imports Airflow or the pipeline package.

Typical use::

    from ml import dataset, predict, registry
    model, reused = registry.ensure_model("models", frame, dataset_id="acme")
    scores = predict.score(model, dataset.rows_to_score(frame))

Import names from the submodules (e.g. ``from ml.errors import InsufficientData``): they work
whether or not this file is executed (an editable install made before it existed maps ``ml`` as a
namespace package).
"""

from ml.errors import CatalogueError, DatasetMismatch, FrameError, InsufficientData, ModelNotFound

__all__ = ["CatalogueError", "DatasetMismatch", "FrameError", "InsufficientData", "ModelNotFound"]

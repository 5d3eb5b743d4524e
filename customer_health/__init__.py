"""Customer health pipeline: ingest, validate, build features with dbt, score with ml/, publish."""

__version__ = "0.1.0"

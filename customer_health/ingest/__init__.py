"""Ingest: landing files -> ledger (exactly once), quarantine (nothing lost), raw tables."""

from customer_health.ingest.landing import (
    FileOutcome, IngestReport, ingest_landing, return_freed_memory,
)

__all__ = ["IngestReport", "FileOutcome", "ingest_landing", "return_freed_memory"]

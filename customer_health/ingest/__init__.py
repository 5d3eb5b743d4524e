"""Ingest: landing files -> ledger (exactly once), quarantine (nothing lost), raw tables."""

from customer_health.ingest.landing import IngestReport, FileOutcome, ingest_landing

__all__ = ["IngestReport", "FileOutcome", "ingest_landing"]

"""Which files of a landing folder are deliveries: the listing ingest and the landing watcher share.

Kept free of heavy imports: Airflow's triggerer imports it to watch the landing folder.
"""

from __future__ import annotations

from pathlib import Path

ENTITIES = ("customers", "transactions", "interactions")

# Hidden files, names starting with "_" and files still being copied are never deliveries.
_SKIPPED_PREFIXES = (".", "_")
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".crdownload")


def is_delivery(path: Path) -> bool:
    """True for a file (or symlink) ingest should read; False for hidden or half-written files.

    A symlink counts (ingest refuses it when it leads out of the landing folder, and records a
    dangling one as failed), except one to a folder: folders are not deliveries.
    """
    name = path.name
    if name.startswith(_SKIPPED_PREFIXES) or name.endswith(_IN_PROGRESS_SUFFIXES):
        return False
    return path.is_file() or (path.is_symlink() and not path.is_dir())


def entity_files(folder: Path) -> list[Path]:
    """The delivery files under one entity folder, in a stable order."""
    return [p for p in sorted(folder.rglob("*")) if is_delivery(p)]


def snapshot(landing: Path) -> dict[str, tuple[int, int]]:
    """{path relative to landing: (size, modification time in ns)} of every delivery file."""
    seen: dict[str, tuple[int, int]] = {}
    for entity in ENTITIES:
        folder = landing / entity
        if not folder.is_dir():
            continue
        for path in entity_files(folder):
            try:
                stat = path.stat()
            except OSError:  # removed between listing and stat, or a dangling symlink
                continue
            seen[path.relative_to(landing).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return seen

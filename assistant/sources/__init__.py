"""The article archive: reading ``sources/<id>.md`` files and importing articles into it."""

from .archive import (
    SUPPORTED,
    AddResult,
    add,
    archive_paths,
    body_hash,
    body_hashes,
    read_source,
    readable_sources,
    remove_stale_files,
    slugify,
)
from .removed import Removal, removals, remove, restore

__all__ = ["SUPPORTED", "AddResult", "Removal", "add", "archive_paths", "body_hash", "body_hashes", "read_source",
           "readable_sources", "removals", "remove", "remove_stale_files", "restore", "slugify"]

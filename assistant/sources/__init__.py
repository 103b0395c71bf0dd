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
    remove,
    remove_stale_files,
    slugify,
)

__all__ = ["SUPPORTED", "AddResult", "add", "archive_paths", "body_hash", "body_hashes", "read_source", "readable_sources", "remove", "remove_stale_files", "slugify"]

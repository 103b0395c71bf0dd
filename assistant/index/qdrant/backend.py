"""Where a Qdrant collection lives (``QdrantOptions``), the transport that reaches it, and the key that
names a generation in it. ``search.QdrantBackend`` is the search backend built on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError
from ..store import Snapshot
from .client import ClientTransport
from .edge import EdgeTransport
from .plan import Transport


@dataclass(frozen=True, slots=True)
class QdrantOptions:
    """Where the collection lives: a server ``url``, else a local-mode ``path`` (or Edge's shard with ``edge``)."""

    url: str | None = None
    path: Path | None = None
    collection: str = "articles"
    edge: bool = False
    exact: bool = False
    fusion: str = "client"


def open_transport(options: QdrantOptions) -> Transport:
    """The transport ``options`` name.

    Raises:
        ConfigError: neither a URL nor a folder, or Edge asked for without a folder.
    """
    if options.edge:
        if options.path is None:
            raise ConfigError("Qdrant Edge needs a folder: give --qdrant-path DIR")
        return EdgeTransport(options.path / options.collection)
    if not options.url and options.path is None:
        raise ConfigError("the Qdrant store needs --qdrant-url URL or --qdrant-path DIR")
    return ClientTransport(options.collection, url=options.url, path=options.path)


def key(snapshot: Snapshot) -> str:
    """What names a generation in the collection's state record: generation, build time, passages, model."""
    m = snapshot.manifest
    return f"{m.generation}:{m.built}:{m.passages}|{m.model.name}:{m.model.backend}:{m.model.dim}"

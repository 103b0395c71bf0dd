"""Bringing the index up to date with the archive, touching only what changed."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import SourceError
from ..sources import archive_paths, read_source, remove_stale_files
from ..types import Passage, Source
from . import store
from .chunk import chunk
from .clean import clean
from .embed import Encoder, Encoders, encode_batches
from .store import ChunkerInfo, Manifest, ModelInfo, SourceEntry

# Bumped whenever cleaning or chunking changes what passages a file yields.
CHUNKER_VERSION = 3  # 2: passages record their sentences; 3: over-long paragraphs cut before pysbd


@dataclass(frozen=True, slots=True)
class Plan:
    """What an update has to do, by source id."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.new or self.changed or self.deleted)


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What ``update`` did. ``embedded`` counts passages sent to the model, ``sentences_embedded`` sentences."""

    plan: Plan
    sources: int
    passages: int
    embedded: int = 0
    reused: int = 0
    sentences_embedded: int = 0
    generation: str | None = None  # None when the index was already up to date
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Status:
    """The archive and the index side by side, and what an update would do."""

    archive_sources: int
    indexed_sources: int
    passages: int
    model: ModelInfo | None  # None: no index yet
    built: str | None
    up_to_date: bool
    plan: Plan


def passages_of(source: Source, settings: Settings) -> list[Passage]:
    """Clean and chunk one source into passages."""
    blocks = clean(source.text, source.body_start, source.title)
    return chunk(source.text, blocks, source.id, settings.chunk_chars)


def scan(settings: Settings) -> dict[str, tuple[Path, str]]:
    """The archive as ``{source id: (path, sha256 of the file)}``."""
    return {p.stem: (p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in archive_paths(settings)}


def make_plan(archive: dict[str, tuple[Path, str]], manifest: Manifest | None, settings: Settings,
              backend: str) -> Plan:
    """Compare the archive with an index manifest (None: no usable index, all new).

    ``backend`` is what would embed passages now: a change of it, or of the chunker, makes
    every article's passages anew (another search index or vector format too, reusing the vectors).
    """
    indexed = manifest.sources if manifest is not None else {}
    same_recipe = (manifest is not None and manifest.chunker == chunker_info(settings)
                   and manifest.model.backend == backend and manifest.search == store.SearchInfo.of(settings))
    new, changed, unchanged = [], [], []
    for sid, (_, sha) in sorted(archive.items()):
        if sid not in indexed:
            new.append(sid)
        elif indexed[sid].sha256 != sha or not same_recipe:
            changed.append(sid)
        else:
            unchanged.append(sid)
    deleted = sorted(set(indexed) - set(archive))
    return Plan(tuple(new), tuple(changed), tuple(deleted), tuple(unchanged))


def status(settings: Settings, backend: str) -> Status:
    """A summary of the archive and the index, and what an update with ``backend`` would do."""
    archive = scan(settings)
    snapshot = store.load_or_none(settings)
    manifest = snapshot.manifest if snapshot else None
    plan = make_plan(archive, manifest, settings, backend)
    return Status(
        archive_sources=len(archive),
        indexed_sources=len(manifest.sources) if manifest else 0,
        passages=manifest.passages if manifest else 0,
        model=manifest.model if manifest else None,
        built=manifest.built if manifest else None,
        up_to_date=snapshot is not None and not plan.stale,
        plan=plan,
    )


def update(settings: Settings, encoders: Encoders, *, rebuild: bool = False, progress: bool = False,
           lock_timeout: float | None = None) -> UpdateReport:
    """Bring the index up to date with ``sources/``.

    New sources are embedded, changed ones re-chunked (vectors of passages whose
    text did not change are reused), deleted ones dropped, unchanged ones left as
    they are. Holds the index lock throughout.

    Args:
        settings: Paths, model and chunking.
        encoders: The model's encoders; the passage encoder is loaded only when something is embedded.
        rebuild: Ignore the existing index (even a damaged one) and embed everything.
        progress: Show a progress bar on stderr while embedding.
        lock_timeout: Seconds to wait for the index lock. Default: ``settings.lock_timeout``; 0 for a
            reader that must not wait (it raises IndexBusyError at once instead).

    Returns:
        What was done; ``generation`` is None when nothing needed doing.
    """
    with store.locked(settings, lock_timeout):
        remove_stale_files(settings)
        archive = scan(settings)
        snapshot = None if rebuild else store.load_or_none(settings)
        if snapshot is not None:
            # Checked before loading the model, so a mismatch fails fast.
            store.check_model(snapshot.manifest, encoders.name)
        plan = make_plan(archive, snapshot.manifest if snapshot else None, settings, encoders.backend)
        if snapshot is not None and not plan.stale:
            warning = encoders.ensure_export()
            return UpdateReport(plan, len(snapshot.manifest.sources), snapshot.manifest.passages,
                                warnings=(warning,) if warning else ())
        report = _apply(settings, encoders, archive, snapshot, plan, progress)
        warning = encoders.ensure_export()
        return dataclasses.replace(report, warnings=report.warnings + ((warning,) if warning else ()))


def _apply(settings: Settings, encoders: Encoders, archive: dict[str, tuple[Path, str]],
           snapshot: store.Snapshot | None, plan: Plan, progress: bool) -> UpdateReport:
    encoder, backend = encoders.passage(), encoders.backend
    if snapshot is not None:
        store.check_model(snapshot.manifest, encoder.name, encoder.dim)
    # Vectors made by another backend are not reused: every passage is embedded again.
    old = _OldIndex(snapshot, snapshot is not None and snapshot.manifest.model.backend == backend)
    entries = {sid: old.entries[sid] for sid in plan.unchanged}
    kept = {sid: old.of_source(sid) for sid in plan.unchanged}
    warnings: list[str] = []
    for sid in (*plan.new, *plan.changed):
        path, sha = archive[sid]
        try:
            source = read_source(path, settings)
            passages = passages_of(source, settings)
        except SourceError as exc:
            # A file that became unreadable keeps its last good passages.
            warnings.append(f"{exc}; {'kept the indexed version' if sid in old.entries else 'not indexed'}")
            if sid in old.entries:
                entries[sid], kept[sid] = old.entries[sid], old.of_source(sid)
            continue
        entries[sid] = _entry(source, settings, sha, len(passages))
        kept[sid] = [(p, *old.vectors_for(p.text)) for p in passages]
    ordered = [entry for sid in sorted(kept) for entry in kept[sid]]
    passages = [p for p, _, _ in ordered]
    vectors, todo = _vectors(encoder, [(p.text, vec) for p, vec, _ in ordered], settings, progress, "Embedding")
    sentences = [(p.text[a - p.start : b - p.start], None if block is None else block[i])
                 for p, _, block in ordered for i, (a, b) in enumerate(p.sentences)]
    sentence_vectors, sentences_todo = _vectors(encoder, sentences, settings, progress, "Sentences")
    manifest = Manifest(model=ModelInfo(encoder.name, encoder.dim, backend), chunker=chunker_info(settings),
                        built=datetime.now(UTC).isoformat(timespec="seconds"), sources=entries)
    path = store.write_index(settings, manifest, passages, vectors, sentence_vectors)
    return UpdateReport(plan, len(entries), len(passages), embedded=todo, reused=len(passages) - todo,
                        sentences_embedded=sentences_todo, generation=path.name, warnings=tuple(warnings))


_Kept = tuple[Passage, np.ndarray | None, np.ndarray | None]  # a passage, its vector, its sentences' vectors


def _vectors(encoder: Encoder, items: list[tuple[str, np.ndarray | None]], settings: Settings, progress: bool,
             what: str) -> tuple[np.ndarray, int]:
    """Vectors for ``(text, known vector or None)`` pairs, embedding only the unknown; and how many were embedded."""
    out = np.zeros((len(items), encoder.dim), dtype=np.float32)
    todo = [i for i, (_, vec) in enumerate(items) if vec is None]
    for i, (_, vec) in enumerate(items):
        if vec is not None:
            out[i] = vec
    if todo:
        out[todo] = encode_batches(encoder, [items[i][0] for i in todo], settings.batch_size, progress, what)
    return out, len(todo)


class _OldIndex:
    """The previous generation, looked up by source and by passage text."""

    def __init__(self, snapshot: store.Snapshot | None, same_vectors: bool = True) -> None:
        self.entries: dict[str, SourceEntry] = dict(snapshot.manifest.sources) if snapshot else {}
        self._passages = snapshot.passages if snapshot else []
        self._matrix = snapshot.dense_matrix() if snapshot else np.empty((0, 0), dtype=np.float32)
        self._sentences = snapshot.sentence_vectors if snapshot else np.empty((0, 0), dtype=np.float32)
        self._first = np.cumsum([0] + [len(p.sentences) for p in self._passages])
        self._by_text = {p.text: i for i, p in enumerate(self._passages)} if same_vectors else {}
        self._rows: dict[str, list[int]] = {}
        for i, p in enumerate(self._passages):
            self._rows.setdefault(p.source_id, []).append(i)

    def of_source(self, sid: str) -> list[_Kept]:
        return [(self._passages[i], self._matrix[i], self._block(i)) for i in self._rows.get(sid, [])]

    def vectors_for(self, text: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The vector of an indexed passage with this text, and its sentences' vectors."""
        i = self._by_text.get(text)
        return (None, None) if i is None else (self._matrix[i], self._block(i))

    def _block(self, i: int) -> np.ndarray:
        return self._sentences[self._first[i] : self._first[i + 1]]


def _entry(source: Source, settings: Settings, sha: str, count: int) -> SourceEntry:
    return SourceEntry(path=settings.relative(Path(settings.root) / source.path), sha256=sha, passages=count,
                       title=source.title, publisher=source.publisher, author=source.author,
                       published=source.published, url=source.url)


def chunker_info(settings: Settings) -> ChunkerInfo:
    """The chunker recipe ``settings`` would index with."""
    return ChunkerInfo(CHUNKER_VERSION, settings.chunk_chars)

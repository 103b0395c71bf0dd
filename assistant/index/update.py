"""Bringing the index up to date with the archive, touching only what changed."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import IndexFormatError, SourceError
from ..sources import archive_paths, read_source, remove_stale_files
from ..types import Passage, Source
from . import store
from .build import Generation, OldIndex, Pace, Piece, batches
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
                   and manifest.model.backend == backend and manifest.search.chosen_by(settings))
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
    snapshot = _previous(settings)
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
        snapshot = None if rebuild else _previous(settings)
        if snapshot is not None:
            # Checked before loading the model, so a mismatch fails fast.
            store.check_model(snapshot.manifest, encoders.name)
        plan = make_plan(archive, snapshot.manifest if snapshot else None, settings, encoders.backend)
        if snapshot is not None and not plan.stale:
            warning = encoders.ensure_export()
            return UpdateReport(plan, len(snapshot.manifest.sources), snapshot.manifest.passages,
                                warnings=(warning,) if warning else ())
        manifest = snapshot.manifest if snapshot is not None else None
        # Vectors made by another backend are not reused: every passage is embedded again.
        old = OldIndex(snapshot, manifest is not None and manifest.model.backend == encoders.backend)
        snapshot = None  # its FAISS copy of the vectors is not needed: OldIndex holds them
        report = _apply(settings, encoders, archive, old, manifest, plan, progress)
        warning = encoders.ensure_export()
        return dataclasses.replace(report, warnings=report.warnings + ((warning,) if warning else ()))


_Kept = tuple[Passage, np.ndarray | None, np.ndarray | None]  # a passage, its vector, its sentences' vectors


def _apply(settings: Settings, encoders: Encoders, archive: dict[str, tuple[Path, str]], old: OldIndex,
           manifest: Manifest | None, plan: Plan, progress: bool) -> UpdateReport:
    encoder, backend = encoders.passage(), encoders.backend
    if manifest is not None:
        store.check_model(manifest, encoder.name, encoder.dim)
    generation = Generation(settings, ModelInfo(encoder.name, encoder.dim, backend), chunker_info(settings))
    for sid in plan.unchanged:
        generation.put(sid, old.piece(sid))
    if manifest is not None and manifest.model.backend == backend and manifest.chunker == generation.chunker:
        # A changed article keeps its indexed version until its new one is committed: a commit
        # before that still answers from it, and a run killed meanwhile finds it changed again.
        for sid in plan.changed:
            generation.put(sid, old.piece(sid))
    todo, pace, counts = [*plan.new, *plan.changed], Pace(settings.commit_seconds), _Counts()
    path = None
    with _bar(len(todo), progress) as bar:
        for batch in batches(todo, settings.ingest_batch):
            _index_batch(batch, archive, settings, old, generation, encoder, counts, bar)
            path = pace.commit(generation) if pace.due() or batch[-1] == todo[-1] else None
    if path is None:  # only deletions
        path = pace.commit(generation)
    passages = generation.passages()
    return UpdateReport(plan, len(generation.pieces), passages, embedded=counts.passages,
                        reused=passages - counts.passages, sentences_embedded=counts.sentences,
                        generation=path.name, warnings=tuple(counts.warnings))


@dataclass(slots=True)
class _Counts:
    passages: int = 0  # embedded
    sentences: int = 0  # embedded
    warnings: list[str] = field(default_factory=list)


def _index_batch(batch: Sequence[str], archive: dict[str, tuple[Path, str]], settings: Settings, old: OldIndex,
                 generation: Generation, encoder: Encoder, counts: _Counts, bar: Any) -> None:
    """Read, chunk and embed the articles of ``batch`` into ``generation``, reusing indexed vectors."""
    made: dict[str, tuple[SourceEntry, list[_Kept]]] = {}
    for sid in batch:
        path, sha = archive[sid]
        try:
            source = read_source(path, settings)
            passages = passages_of(source, settings)
        except SourceError as exc:
            # A file that became unreadable keeps its last good passages.
            counts.warnings.append(f"{exc}; {'kept the indexed version' if sid in old.entries else 'not indexed'}")
            if sid in old.entries:
                generation.put(sid, old.piece(sid))
            continue
        made[sid] = (_entry(source, settings, sha, len(passages)), [(p, *old.vectors_for(p.text)) for p in passages])
    texts = [p.text for _, kept in made.values() for p, vec, _ in kept if vec is None]
    sentences = [p.text[a - p.start : b - p.start] for _, kept in made.values() for p, vec, _ in kept if vec is None
                 for a, b in p.sentences]
    step = len(batch) / max(len(texts) + len(sentences), 1)
    # Passages apart from sentences, as a one-batch update always did: int8 vectors depend a little on
    # what else is in their encoding batch, and a passage's vector should not depend on sentences.
    vectors, sentence_rows = (encode_batches(encoder, some, settings.batch_size, advance=lambda n: bar.update(n * step))
                              for some in (texts, sentences))
    if not texts:
        bar.update(len(batch))
    counts.passages += len(texts)
    counts.sentences += len(sentences)
    rows = iter(vectors)
    at = 0
    for sid, (entry, kept) in made.items():
        own, blocks = [], []
        for p, vec, block in kept:
            if vec is None or block is None:  # old.vectors_for gives both or neither
                vec, block = next(rows), sentence_rows[at : at + len(p.sentences)]
                at += len(p.sentences)
            own.append(vec)
            blocks.append(block)
        generation.put(sid, Piece(entry, [p for p, _, _ in kept], _stack(own, encoder.dim),
                                  _stack(blocks, encoder.dim)))


def _stack(rows: Sequence[np.ndarray], dim: int) -> np.ndarray:
    return np.vstack(rows).astype(np.float32, copy=False) if rows else np.empty((0, dim), dtype=np.float32)


@contextlib.contextmanager
def _bar(total: int, progress: bool) -> Iterator[Any]:
    """A progress bar on stderr over the articles to index, with rate and time left."""
    from tqdm import tqdm

    with tqdm(total=total, desc="Indexing", unit="article", disable=not progress,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} articles "
                         "[{elapsed}<{remaining}, {rate_fmt}]") as bar:
        yield bar


def _entry(source: Source, settings: Settings, sha: str, count: int) -> SourceEntry:
    return SourceEntry(path=settings.relative(Path(settings.root) / source.path), sha256=sha, passages=count,
                       title=source.title, publisher=source.publisher, author=source.author,
                       published=source.published, url=source.url)


def chunker_info(settings: Settings) -> ChunkerInfo:
    """The chunker recipe ``settings`` would index with."""
    return ChunkerInfo(CHUNKER_VERSION, settings.chunk_chars)


def _previous(settings: Settings) -> store.Snapshot | None:
    """The live generation to update from; None when there is none, or when it was written in another
    format version (an upgrade): then every article is indexed again, as with ``--rebuild``."""
    try:
        return store.load_or_none(settings)
    except IndexFormatError:
        return None

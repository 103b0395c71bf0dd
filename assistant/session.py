"""The ``Assistant``: one object, opened from ``Settings``, that owns the loaded model and index.

The CLI, the web app, the evaluation runner and the benchmarks each open one and pass it
around; nothing is cached at module level. Loading is lazy: ``status`` loads no model,
``update`` loads the passage encoder only when something must be embedded, and ``ask``
loads the query encoder and the index once, then again only when the index changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .answer import model
from .answer.quotes import Evidence, Span, check_question, gather
from .answer.quotes import decide as decide_answer
from .answer.retrieve import Filters, Retriever
from .config import Settings
from .errors import AssistantError, DuplicateSourceError, IndexBusyError, IndexStaleError, SourceError
from .index import store
from .index.embed import Encoder, Encoders
from .index.update import Status, UpdateReport, status, update
from .types import Answer, SourceInfo


class Assistant:
    """Question answering over one archive and its index.

    Args:
        settings: Paths, model, backend and thresholds.
        encoder: Use this encoder for passages and questions instead of loading
            ``settings.model`` (tests pass a fast fake). The index records its name as the
            model and ``custom`` as the backend.
    """

    def __init__(self, settings: Settings, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.encoders = Encoders(settings, encoder)
        self._retriever: Retriever | None = None
        self._generation: Path | None = None
        self._lock = threading.Lock()
        self._updating = threading.Lock()  # one update at a time in this process
        self._models: model.Models | None = None

    @property
    def models(self) -> model.Models:
        """The quote and abstention models (read from the package's weights on first use)."""
        if self._models is None:
            self._models = model.load()
        return self._models

    @classmethod
    def open(cls, settings: Settings, encoder: Encoder | None = None) -> Assistant:
        """An Assistant for ``settings`` (nothing is loaded until it is needed)."""
        return cls(settings, encoder)

    def retriever(self) -> Retriever:
        """The loaded index, reloaded when another generation has become live; shared across threads.

        Raises:
            IndexMissingError, IndexCorruptError: no usable index.
        """
        with self._lock:
            live = store.current_path(self.settings)
            if self._retriever is None or live != self._generation:
                # The older generation is dropped, not closed: questions in flight may still use it. A Qdrant
                # backend lends its connection to the next (a Qdrant folder admits one client).
                previous = self._retriever if self.settings.store == "qdrant" else None
                self._retriever = None
                self._retriever = Retriever.open(self.settings, self.encoders, previous)
                self._generation = live
            return self._retriever

    def close(self) -> None:
        """Let go of the loaded index's search backend; the next question loads it again."""
        old, self._retriever = self._retriever, None
        if old is not None:
            old.close()

    def manifest(self) -> store.Manifest | None:
        """The manifest of the live index, or None when there is no usable one."""
        try:
            return self.retriever().snapshot.manifest
        except AssistantError:  # no usable index: nothing counts as indexed
            return None

    def ask(self, question: str, *, k: int = 5, mode: str = "hybrid", filters: Filters | None = None,
            exclude: Sequence[Span] = (), focus: str | None = None) -> Answer:
        """Answer ``question`` with verbatim quotes and citations, or abstain.

        Args:
            question: Free text, at most 2,000 characters.
            k: Passages to return (copies of one passage in other articles count once). Default 5.
            mode: ``hybrid`` (default), ``dense`` or ``bm25``.
            filters: Restrict to some sources, publishers or dates. Default: none.
            exclude: Quotes not to give again, as (path, start, end); a conversation passes its
                earlier answers' quotes. Default: none.
            focus: For a follow-up searched together with the question before it, the follow-up
                itself: quotes are judged by what it asks. Default: the whole question.

        Returns:
            An Answer whose every quote is an exact slice of its source file.
        """
        return self.decide(self.evidence(question, k=k, mode=mode, filters=filters, exclude=exclude, focus=focus))

    def evidence(self, question: str, *, k: int = 5, mode: str = "hybrid", filters: Filters | None = None,
                 exclude: Sequence[Span] = (), focus: str | None = None) -> Evidence:
        """The candidate quotes for ``question`` and their features, before anything is chosen."""
        check_question(question)  # before loading anything: an empty question needs no index
        return gather(question, self.settings, self.retriever(), k=k, mode=mode, filters=filters, exclude=exclude,
                      focus=focus)

    def decide(self, evidence: Evidence) -> Answer:
        """The answer the models give from ``evidence``: quotes, or an abstention.

        Raises:
            IndexStaleError: a quote or listed passage is no longer in its article file as indexed.
        """
        answer = decide_answer(evidence, self.models, self.settings, self.retriever())
        check_quotes(answer, self.settings)
        return answer

    def update(self, *, rebuild: bool = False, progress: bool = False, wait: bool = True) -> UpdateReport:
        """Bring the index up to date with the archive (see ``index.update.update``).

        Args:
            wait: Wait for an update running in this or another process (up to ``settings.lock_timeout``
                for another process). False: raise IndexBusyError at once instead, as a question does.
        """
        if not self._updating.acquire(blocking=wait):
            raise IndexBusyError(f"{self.settings.relative(self.settings.index_dir)}/ is being updated; "
                                 "try again when it has finished")
        try:
            return update(self.settings, self.encoders, rebuild=rebuild, progress=progress,
                          lock_timeout=None if wait else 0)
        finally:
            self._updating.release()

    def add(self, items: Sequence[str], *, index: bool = True, progress: bool = False, title: str | None = None,
            publisher: str | None = None, author: str | None = None, published: str | None = None,
            url: str | None = None, allow_private: bool = False) -> Added:
        """Import files, folders of them or http(s) URLs into the archive, then update the index.

        Many files are imported first, then indexed a batch at a time, each batch committed as it is
        done (see ``index.update.update``): run again after an interruption, the files already
        imported are skipped as duplicates and the index goes on from its last commit.

        Args:
            items: File paths, folders (their .txt, .md, .html and .htm files, at any depth, hidden
                ones left out) or URLs; each is tried, and a failure does not stop the others.
            index: Update the index afterwards if anything was added or skipped as archived already.
                Default True.
            progress: Show progress bars on stderr while importing and embedding.
            title, publisher, author, published, url: Values that win over the article's own.
            allow_private: Also download URLs from loopback, private, link-local and reserved addresses.
        """
        from . import sources

        files, done = expand(items)
        # One read of the archive for all items, instead of one per item.
        known = None
        if len(files) > 1:
            sources.remove_stale_files(self.settings)
            known = sources.body_hashes(self.settings)
        for item in _bar(files, progress and len(files) > 1):
            try:
                added = sources.add(item, self.settings, title=title, publisher=publisher, author=author,
                                    published=published, url=url, allow_private=allow_private, known=known)
                done.append(AddItem(item, "added", added.source_id, self.settings.relative(added.path),
                                    added.warnings))
            except DuplicateSourceError as exc:
                done.append(AddItem(item, "skipped", message=str(exc), duplicate_of=exc.existing_path))
            except SourceError as exc:
                done.append(AddItem(item, "error", message=str(exc)))
        report = None
        if index and any(i.status in ("added", "skipped") for i in done):
            report = self.update(progress=progress)
        return Added(tuple(done), report)

    def remove(self, ids: Sequence[str], *, index: bool = True, progress: bool = False, by: str = "") -> Removed:
        """Take articles out of the archive (kept in ``sources/.removed/``, logged as removed ``by``), then
        update the index.

        Raises:
            SourceError: an id is not in the archive; checked for all before any file is moved.
        """
        from . import sources

        archived = {p.stem for p in sources.archive_paths(self.settings)}
        for sid in ids:
            if sid not in archived:
                raise SourceError(f"no article {sid!r} in {self.settings.relative(self.settings.sources_dir)}/; "
                                  "`assistant sources` lists them")
        moved = {sid: self.settings.relative(sources.remove(sid, self.settings, by=by)) for sid in ids}
        return Removed(moved, self.update(progress=progress) if index else None)

    def status(self) -> Status:
        """What is archived, what is indexed and what an update would do; loads no model."""
        return status(self.settings, self.encoders.backend)


def expand(items: Sequence[str]) -> tuple[list[str], list[AddItem]]:
    """``items`` with each folder replaced by the importable files under it, in name order; and an error
    for each folder that holds none."""
    from .sources import SUPPORTED

    files: list[str] = []
    empty: list[AddItem] = []
    for item in items:
        folder = Path(item)
        if not folder.is_dir():
            files.append(item)
            continue
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUPPORTED and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        files += map(str, found)
        if not found:
            kinds = ", ".join(SUPPORTED[:-1]) + f" or {SUPPORTED[-1]}"
            empty.append(AddItem(item, "error", message=f"{item} holds no {kinds} files"))
    return files, empty


def _bar(items: list[str], progress: bool) -> Iterable[str]:
    if not progress:
        return items
    from tqdm import tqdm

    bar: Iterable[str] = tqdm(items, desc="Importing", unit="file")
    return bar


def check_quotes(answer: Answer, settings: Settings) -> None:
    """Check that every quote and listed passage of ``answer`` is still ``file_text[start:end]`` of its file.

    The index proves its own files by checksum; this catches an article file edited since it was indexed.

    Raises:
        IndexStaleError: one line naming the file and `assistant index`.
    """
    spans = [(c.source, c.start, c.end, c.quote) for c in answer.citations]
    spans += [(r.hit.source, r.hit.passage.start, r.hit.passage.end, r.hit.passage.text) for r in answer.passages]
    texts: dict[str, str | None] = {}
    for source, start, end, quote in spans:
        if source.path not in texts:
            texts[source.path] = _file_text(source, settings)
        text = texts[source.path]
        if text is None or text[start:end] != quote:
            raise IndexStaleError(f"{source.path} has changed since it was indexed; run `assistant index` "
                                  "and ask again")


def _file_text(source: SourceInfo, settings: Settings) -> str | None:
    try:  # bytes decoded by hand, as the index read them: a "\r\n" counts two characters
        return (settings.root / source.path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True, slots=True)
class AddItem:
    """What became of one item given to ``Assistant.add``."""

    item: str
    status: str  # "added", "skipped" (a duplicate) or "error"
    source_id: str | None = None
    path: str | None = None  # relative to the project root
    warnings: tuple[str, ...] = ()
    message: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class Added:
    """The items of one ``Assistant.add`` call, and the index update that followed (None: none)."""

    items: tuple[AddItem, ...]
    index: UpdateReport | None = None

    @property
    def failed(self) -> bool:
        return any(i.status == "error" for i in self.items)


@dataclass(frozen=True, slots=True)
class Removed:
    """Articles taken out of the archive (id -> where the file is kept), and the index update that followed."""

    moved: dict[str, str]
    index: UpdateReport | None = None

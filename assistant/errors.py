"""Errors a user can act on. Each message is one line that says what to do next."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: the CLI prints the message as one line and exits with ``exit_code``."""

    exit_code = 1


class ConfigError(AssistantError):
    """A setting that cannot be used: a malformed ``ASSISTANT_*`` variable, an unknown backend or mode."""


class QuestionError(AssistantError):
    """An empty or over-long question, or a number of passages under 1."""


class SourceError(AssistantError):
    """An article that cannot be imported or read (empty, binary, malformed, ...)."""


class DuplicateSourceError(SourceError):
    """An article whose content is already in the archive."""

    def __init__(self, message: str, existing_path: str) -> None:
        super().__init__(message)
        self.existing_path = existing_path


class IndexMissingError(AssistantError):
    """No index has been built yet."""


class IndexCorruptError(AssistantError):
    """The index on disk is damaged or was built by another model."""


class IndexFormatError(IndexCorruptError):
    """The index was written in another format version: `assistant index` rebuilds it from the archive."""


class IndexStaleError(AssistantError):
    """An article file no longer holds what the index quotes from it: it changed since it was indexed."""


class IndexBusyError(AssistantError):
    """Another process holds the index lock."""

    exit_code = 75  # EX_TEMPFAIL: trying again later may work

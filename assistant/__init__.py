"""Quote-first question answering over an archive of news articles."""

__version__ = "0.1.0"

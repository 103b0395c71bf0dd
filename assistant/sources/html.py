"""Web pages as articles: the article text and its stated metadata, via trafilatura."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from ..errors import SourceError
from . import frontmatter

_OPENS_AS_HTML = re.compile(r"\ufeff?\s*(?:<\?xml[^<>]*>\s*)?<(?:!doctype\s+html|html[\s>])", re.I)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_SNIFF_CHARS = 8192


def looks_like_html(text: str) -> bool:
    """True for a page saved as text: it opens with ``<!doctype html>`` or ``<html>``, or is mostly tags."""
    sample = text[:_SNIFF_CHARS]
    if _OPENS_AS_HTML.match(sample):
        return True
    tags = _TAG.findall(sample)
    return len(tags) >= 5 and sum(map(len, tags)) * 2 > len("".join(sample.split()))


def from_html(html: str, name: str, url: str | None = None) -> tuple[dict[str, Any], str]:
    """Article text and stated metadata (title, author, publisher, published, url) of a web page.

    Raises:
        SourceError: no article text found.
    """
    import trafilatura  # slow to import; only HTML imports need it
    from trafilatura.settings import set_date_params

    # Without extensive search a date is taken only from where the page states one,
    # never guessed from stray years in the text such as a copyright line.
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                      date_extraction_params=set_date_params(extensive=False))
    if doc is None or isinstance(doc, dict) or not (doc.text or "").strip():
        raise SourceError(f"no article text found in {name}")
    meta = {"title": doc.title, "author": doc.author, "publisher": _stated_sitename(doc.sitename, doc.url),
            "published": doc.date, "url": doc.url}
    meta = {key: frontmatter.bounded(key, frontmatter.clean_value(value)) for key, value in meta.items()}
    try:
        meta["published"] = meta["published"] and frontmatter.check_date(meta["published"][:10], "")
    except SourceError:
        meta["published"] = None  # a date the page garbles is left unknown rather than guessed
    return meta, _paragraphs(doc.text or "")


def _stated_sitename(sitename: str | None, url: str | None) -> str | None:
    """The site name, unless trafilatura only derived it from the page's domain."""
    host = (urlparse(url).hostname or "") if url else ""
    if sitename and "." in sitename and sitename.lower() in host:
        return None
    return sitename


def _paragraphs(text: str) -> str:
    """Extracted text with a blank line between paragraphs, as the later stages expect.

    Trafilatura ends each block with a single newline; consecutive list items ("- ...")
    stay on adjacent lines.
    """
    blocks: list[str] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if line and blocks and line.startswith("- ") and blocks[-1].startswith("- "):
            blocks[-1] += "\n" + line
        elif line:
            blocks.append(line)
    return "\n\n".join(blocks) + "\n"

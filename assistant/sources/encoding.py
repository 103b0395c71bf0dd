"""An article's bytes as text: the encoding found per file, stray bytes and mojibake repaired."""

from __future__ import annotations

import codecs

from ..errors import SourceError

# A file whose bytes are mostly ASCII is English or another Western language: a detector has too
# little to go on there (it reads "council\x81s" as Czech), so such a file is read as cp1252.
_NON_ASCII_FOR_DETECTION = 0.10
_STRAY = "assistant-stray-bytes"


def _stray_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: each byte that is not UTF-8 read as cp1252 (latin-1 where cp1252 has none)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    byte = exc.object[exc.start : exc.start + 1]
    try:
        return byte.decode("cp1252"), exc.start + 1
    except UnicodeDecodeError:
        return byte.decode("latin-1"), exc.start + 1


codecs.register_error(_STRAY, _stray_as_cp1252)


def decode(data: bytes, name: str, declared: str | None = None) -> tuple[str, list[str]]:
    """Text of an article, and a one-line warning for each guess or repair made.

    Tried in turn: UTF-16 with a byte-order mark, the declared charset, UTF-8; UTF-8 with a few
    stray bytes (each read as cp1252, the rest kept); charset-normalizer's best guess for a file
    that is mostly not ASCII; else cp1252 (latin-1 if cp1252 leaves a byte undefined). Mojibake
    such as "councilâ\\x80\\x99s" is then repaired with ftfy.

    Raises:
        SourceError: the data is binary or, once decoded, empty.
    """
    text, warnings = _decode(data, name, declared)
    repaired = _repair(text)
    if repaired != text:
        warnings.append(f"{name} had mis-decoded characters (mojibake); repaired")
    return _require_text(repaired, name), warnings


def _decode(data: bytes, name: str, declared: str | None) -> tuple[str, list[str]]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark, as Notepad saves
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: judged as bytes below
    _refuse_binary(data, name)
    for encoding in filter(None, (declared, "utf-8-sig")):
        try:
            return data.decode(encoding), []
        except (LookupError, UnicodeDecodeError):
            continue
    stray = _stray_bytes(data)
    if stray is not None:
        return data.decode("utf-8", _STRAY), [f"{name} is UTF-8 but for {stray} stray byte(s); read those as cp1252"]
    text, encoding = _legacy(data)
    return text, [f"{name} is not UTF-8; read as {encoding}"]


def _refuse_binary(data: bytes, name: str) -> None:
    sample = data[:8192]
    controls = sum(byte < 32 and byte not in b"\t\n\r\f" or byte == 127 for byte in sample)
    if b"\x00" in data or controls > len(sample) * 0.05:
        raise SourceError(f"{name} looks like a binary file, not article text")


def _stray_bytes(data: bytes) -> int | None:
    """How many bytes are not UTF-8, if the rest is UTF-8 with more non-ASCII characters than that; else None."""
    text = data.decode("utf-8", "replace")
    stray = text.count("\ufffd") - data.decode("utf-8", "ignore").count("\ufffd")
    multibyte = sum(1 for char in text if ord(char) > 127 and char != "\ufffd")
    return stray if 0 < stray < multibyte else None


def _legacy(data: bytes) -> tuple[str, str]:
    """Text and encoding of a file that is not UTF-8."""
    non_ascii = sum(byte > 127 for byte in data)
    if non_ascii > len(data) * _NON_ASCII_FOR_DETECTION:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            guessed = str(best)
            return guessed, "cp1252" if _cp1252(data) == guessed else best.encoding
    text = _cp1252(data)
    return (text, "cp1252") if text is not None else (data.decode("latin-1"), "latin-1")


def _cp1252(data: bytes) -> str | None:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def _repair(text: str) -> str:
    """Mojibake repaired; nothing else changed (quotes stay curly, line ends and widths stay as they are)."""
    import ftfy

    config = ftfy.TextFixerConfig(unescape_html=False, remove_terminal_escapes=False, fix_latin_ligatures=False,
                                  fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False,
                                  remove_control_chars=False, normalization=None, explain=False)
    return ftfy.fix_text(text, config)


def _require_text(text: str, name: str) -> str:
    if not text.strip():
        raise SourceError(f"{name} is empty")
    return text

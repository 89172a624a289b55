"""Which case pseudonyms an outbox message carries, read once when it is written.

Retention deletes a case's messages by the ``outbox_case`` rows written here, instead of
decoding every message of the outbox each time: every string of the content, and the
text inside base64 attachments (iCalendar unfolded, reportlab PDF streams unpacked).
Storage knows nothing of the pseudonym's alphabet; anything of its shape counts (an
extra row costs nothing, a missing one would keep personal data).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Iterator
from typing import Any

PSEUDONYM_SHAPE = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")

_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_FOLD = re.compile(r"\r?\n[ \t]")  # iCalendar/MIME line folding
_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)


def _pdf_stream(raw: bytes) -> bytes:
    """A PDF content stream as written by reportlab (ASCII85 + Flate), or plain Flate."""
    try:
        return zlib.decompressobj().decompress(base64.a85decode(raw.strip(), adobe=True))
    except (ValueError, zlib.error):
        pass
    try:
        return zlib.decompressobj().decompress(raw)  # tolerates the EOL before endstream
    except zlib.error:
        return raw


def _attachment_text(data: bytes) -> str:
    """The readable text of an attachment: text files unfolded, PDF streams unpacked."""
    if data.startswith(b"%PDF"):
        data = b"\n".join([data, *(_pdf_stream(m.group(1)) for m in _PDF_STREAM.finditer(data))])
    return _FOLD.sub("", data.decode("utf-8", errors="ignore"))


def _texts(value: Any) -> Iterator[str]:
    """Every string in a JSON value, and the text inside base64 attachments (unfolded)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, str):
        yield value
        if len(value) % 4 == 0 and _BASE64.fullmatch(value):
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return
            yield _attachment_text(decoded)


def pseudonyms_in(content: Any) -> set[str]:
    """Every pseudonym-shaped token in a message's content, attachments included."""
    return {m for text in _texts(content) for m in PSEUDONYM_SHAPE.findall(text)}

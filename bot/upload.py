"""Attachments: an outbox row carries the file; it is uploaded just before the send.

A command cannot upload (no network inside a transaction), so it writes an
``m.file`` message whose content holds the bytes under :data:`UPLOAD_KEY`. The
outbox uploads them — encrypted (AES-CTR, the keys travel inside the Megolm-encrypted
message) in an encrypted room — and sends the message without the bytes. A crash
between upload and send uploads again: an orphaned blob at worst, never a second
message (the transaction id is the row's).
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

UPLOAD_KEY = "xyz.fallkonferenz.upload"


class Uploader(Protocol):
    async def upload(
        self, data: bytes, mimetype: str, filename: str, *, encrypt: bool
    ) -> dict[str, Any]:
        """Upload ``data``; returns ``{"url": mxc}`` or ``{"file": EncryptedFile}``."""
        ...


def needs_upload(content: dict[str, Any]) -> bool:
    return UPLOAD_KEY in content


async def with_upload(
    uploader: Uploader, content: dict[str, Any], *, encrypt: bool
) -> dict[str, Any]:
    """The content to send: the file uploaded, its location in, the bytes out."""
    spec = content[UPLOAD_KEY]
    data = base64.b64decode(spec["data"])
    location = await uploader.upload(
        data, spec["mimetype"], str(content.get("body", "datei")), encrypt=encrypt
    )
    sent = {k: v for k, v in content.items() if k != UPLOAD_KEY}
    sent.update(location)
    return sent

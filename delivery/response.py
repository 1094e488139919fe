"""What an endpoint answered, captured capped for the attempt history: its headers and the
first 4 KiB of its body, as text.

The worker reads up to `sender.MAX_RESPONSE_BYTES` of an answer (so the connection can be
reused) and keeps only this much of it: a delivery history must not let a receiver fill the
database. The body is kept as text (UTF-8, undecodable bytes and NULs replaced by U+FFFD,
which PostgreSQL text cannot hold); readers show it as a JSON string or escaped HTML, never
as markup.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
import msgspec

MAX_BODY_BYTES = 4096
MAX_HEADERS = 64
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 1024
REPLACEMENT = "\ufffd"


class Answer(msgspec.Struct, frozen=True, gc=False):
    """An endpoint's answer as kept: headers in order (repeated names repeat), body text and
    whether the body was longer than what is kept. Untracked by the garbage collector."""

    headers: list[tuple[str, str]]
    body: str
    truncated: bool


def body_text(data: bytes) -> str:
    """Bytes as text PostgreSQL can store: UTF-8 with replacements, no NUL."""
    return data.decode("utf-8", errors="replace").replace("\x00", REPLACEMENT)


def capture(headers: Iterable[tuple[str, str]], data: bytes, *, more: bool = False) -> Answer:
    """The answer to keep from its headers and the bytes read of its body; `more` says the
    body went on past what was read."""
    kept = [
        (name[:MAX_HEADER_NAME], value[:MAX_HEADER_VALUE])
        for name, value in list(headers)[:MAX_HEADERS]
    ]
    return Answer(
        headers=kept,
        body=body_text(data[:MAX_BODY_BYTES]),
        truncated=more or len(data) > MAX_BODY_BYTES,
    )


async def read_body(content: aiohttp.StreamReader, limit: int = MAX_BODY_BYTES + 1) -> bytes:
    """Up to `limit` bytes of a body: `read(n)` answers what has arrived, so read until
    the body ends or `limit` bytes are in (one more than is kept tells a longer body)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if content.at_eof():  # all of it is in: no read (and loop turn) just to hear so
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)

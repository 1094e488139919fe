"""Sender: POSTs one claimed delivery, signed, and says what the attempt came to.

One aiohttp session per worker (keep-alive connection reuse), with the SSRF guard on the
addresses it connects to unless private targets are allowed. The request is bounded by the
timeout; redirects are not followed; at most 64 KiB of an answer is read, and its headers
and first 4 KiB are kept with the attempt (`delivery.response`), as are the headers it was
sent with (those `delivery.headers` builds; aiohttp adds Host, Content-Length, Accept and
Accept-Encoding, which are not kept).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp
import msgspec
from yarl import URL

from delivery import outcome
from delivery.headers import delivery_headers
from delivery.outcome import Outcome, Verdict
from delivery.queue import Claim
from delivery.response import MAX_BODY_BYTES as MAX_KEPT_BYTES
from delivery.response import Answer, capture, read_body
from delivery.retry import parse_retry_after
from delivery.secret_box import SecretBox, SecretUnavailableError
from delivery.signing import InvalidSecretError
from delivery.ssrf import GuardedResolver, check_literal_url

MAX_RESPONSE_BYTES = 64 * 1024


class Attempt(msgspec.Struct, frozen=True, gc=False):
    """What one POST of a delivery came to. Untracked by the garbage collector (`gc=False`:
    it refers to no container that could refer back to it)."""

    claim: Claim
    attempted_at: datetime
    outcome: Outcome
    latency: float  # seconds, from the start of the attempt to its verdict
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    answer: Answer | None = None  # what the endpoint answered, capped
    # The headers it was sent with (`delivery.headers`); None when it was never sent.
    request_headers: list[tuple[str, str]] | None = None

    @property
    def finished_at(self) -> datetime:
        """When the attempt ended (a timeout ends when the timeout runs out)."""
        return self.attempted_at + timedelta(seconds=self.latency)


@functools.lru_cache(maxsize=4096)
def parsed_url(url: str) -> URL:
    """An endpoint's URL, parsed once: aiohttp would parse the string on every request."""
    return URL(url)


class Sender:
    """Sends deliveries over one HTTP session; `open()` before, `close()` after."""

    def __init__(
        self,
        secret_box: SecretBox,
        *,
        now: Callable[[], datetime],
        timeout: float,
        concurrency: int,
        allow_private: bool = False,
    ) -> None:
        self.secret_box = secret_box
        self.now = now
        self.timeout = timeout
        self.concurrency = concurrency
        self.allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.concurrency,
            limit_per_host=0,
            keepalive_timeout=30,
            resolver=None if self.allow_private else GuardedResolver(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            trust_env=False,
            # No cookies kept: one session sends every tenant's deliveries, so a cookie one
            # endpoint set would go to every other endpoint on its host.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _secrets(self, claim: Claim, at: datetime) -> list[str]:
        """The secrets to sign with: the current one, and the previous one during its grace
        period. One sealed under a key this process no longer has must not stop delivery
        signed with the current secret."""
        assert claim.secret is not None
        secrets = [self.secret_box.open(claim.secret)]
        expires = claim.previous_secret_expires_at
        if claim.previous_secret and expires is not None and expires > at:
            with contextlib.suppress(SecretUnavailableError, InvalidSecretError):
                secrets.append(self.secret_box.open(claim.previous_secret))
        return secrets

    async def send(self, claim: Claim) -> Attempt:
        assert self._session is not None, "the sender is not open"
        attempted_at = self.now()
        started = time.perf_counter()
        if claim.url is None or claim.secret is None:
            verdict = Verdict("refused", error="the webhook no longer exists")
            return _attempt(claim, attempted_at, started, verdict)
        sent: list[tuple[str, str]] | None = None
        try:
            if not self.allow_private:
                check_literal_url(claim.url)
            headers = delivery_headers(
                secrets=self._secrets(claim, attempted_at),
                event_id=claim.event_id,
                event_type=claim.event_type,
                correlation_id=claim.correlation_id,
                timestamp=int(attempted_at.timestamp()),
                body=claim.body,
            )
            sent = list(headers.items())
            async with self._session.post(
                parsed_url(claim.url), data=claim.body, headers=headers, allow_redirects=False
            ) as response:
                data = await read_body(response.content)
                if len(data) > MAX_KEPT_BYTES:  # read on a little, so the connection is reused
                    await response.content.read(MAX_RESPONSE_BYTES)
                status = response.status
                answer = capture(response.headers.items(), data)
                retry_header = None if status < 300 else response.headers.get("Retry-After")
            retry_after = (
                None if retry_header is None else parse_retry_after(retry_header, self.now())
            )
        except Exception as exc:
            error = outcome.of_error(exc, self.timeout)
            if error is None:
                raise
            return _attempt(claim, attempted_at, started, error, sent=sent)
        verdict = outcome.of_status(status)
        retry_after = retry_after if verdict.outcome == "http_error" else None
        return _attempt(claim, attempted_at, started, verdict, retry_after, answer, sent)


def _attempt(
    claim: Claim,
    attempted_at: datetime,
    started: float,
    verdict: Verdict,
    retry_after: float | None = None,
    answer: Answer | None = None,
    sent: list[tuple[str, str]] | None = None,
) -> Attempt:
    """The attempt that started at `started` (`time.perf_counter()`) and ends now."""
    return Attempt(
        claim,
        attempted_at,
        verdict.outcome,
        time.perf_counter() - started,
        verdict.status_code,
        verdict.error,
        retry_after,
        answer,
        sent,
    )

"""Portal tokens: never in a log line, and a CSRF token bound to its session."""

from __future__ import annotations

from api.portal.sessions import LINK_PREFIX, SESSION_PREFIX, csrf_token_of, digest
from api.redaction import redact_secrets


def test_link_and_session_tokens_are_redacted_from_log_lines() -> None:
    link = LINK_PREFIX + "Xq2v9LbT0mWc4rHs7nJe1kYd5uAg8pZf3oRi6wQtE0s"
    session = SESSION_PREFIX + "Zk1m8xQ2pV7sYb3nH6cJ9tL4wR5eF0aD2gK7iO1qU8z"
    line = f"GET /portal/session?token={link} cookie=syncline_portal={session}"
    redacted = redact_secrets(line)
    assert link not in redacted
    assert session not in redacted
    assert "token=psl_[redacted]" in redacted
    assert "syncline_portal=pss_[redacted]" in redacted


def test_a_csrf_token_belongs_to_one_session_and_reveals_nothing_of_it() -> None:
    one, two = SESSION_PREFIX + "a" * 43, SESSION_PREFIX + "b" * 43
    assert csrf_token_of(one) == csrf_token_of(one)
    assert csrf_token_of(one) != csrf_token_of(two)
    assert one[4:] not in csrf_token_of(one)
    assert len(digest(one)) == 32  # what is stored: a SHA-256 digest, not the token

"""Errors the domain raises; the API maps each family to one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain makes."""


class InvalidFieldError(DomainError):
    """A field's value breaks an invariant (422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConflictError(DomainError):
    """The record's current state does not allow the change (409)."""


class RecordNotFoundError(DomainError):
    """No such record for this tenant (404); foreign and deleted records look the same."""


class IdempotencyKeyReusedError(DomainError):
    """An Idempotency-Key was reused with a different request body (422)."""


class PreconditionFailedError(DomainError):
    """If-Match named a version that is no longer current (412)."""

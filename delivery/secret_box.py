"""SecretBox: webhook secrets sealed for storage, encrypted when a server key is configured."""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENCRYPTED = "fernet:"
PLAIN = "plain:"


class SecretUnavailableError(RuntimeError):
    """A sealed secret that cannot be opened: no key, or not the key it was sealed with."""


def derive_fernet_key(secret_key: str) -> bytes:
    """A Fernet key derived from SYNCLINE_SECRET_KEY (HKDF-SHA256, purpose-bound)."""
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"syncline webhook secrets"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Seals a secret as `fernet:<token>` (AES-128-CBC + HMAC-SHA256) under a key derived from
    `SYNCLINE_SECRET_KEY`; without that key, as `plain:<secret>`, readable by anyone who can
    read the event store. Secrets sealed in clear stay readable after a key is configured.

    Rotation: `previous_keys` (`SYNCLINE_SECRET_KEYS_PREVIOUS`) are keys secrets were sealed
    under before; they still open them, and only the current key seals (cryptography's
    `MultiFernet`). Secrets live in immutable events, so a previous key stays listed for as
    long as any webhook's secret sealed under it is in use: rotating each webhook's secret
    seals it under the current key.
    """

    def __init__(self, secret_key: str | None, previous_keys: Sequence[str] = ()) -> None:
        if previous_keys and not secret_key:
            raise ValueError("previous secret keys are given without a current one")
        keys = [secret_key, *previous_keys] if secret_key else []
        self._fernet = MultiFernet([Fernet(derive_fernet_key(k)) for k in keys]) if keys else None

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            return PLAIN + secret
        return ENCRYPTED + self._fernet.encrypt(secret.encode()).decode()

    @functools.lru_cache(maxsize=4096)  # noqa: B019 -- one box per process; tokens are small
    def open(self, sealed: str) -> str:
        if sealed.startswith(PLAIN):
            return sealed[len(PLAIN) :]
        if not sealed.startswith(ENCRYPTED):
            raise SecretUnavailableError("the stored webhook secret has an unknown format")
        if self._fernet is None:
            raise SecretUnavailableError(
                "the webhook secret is encrypted but SYNCLINE_SECRET_KEY is not set"
            )
        try:
            return self._fernet.decrypt(sealed[len(ENCRYPTED) :].encode()).decode()
        except InvalidToken:
            raise SecretUnavailableError(
                "the webhook secret was encrypted under a key that is neither"
                " SYNCLINE_SECRET_KEY nor one of SYNCLINE_SECRET_KEYS_PREVIOUS"
            ) from None

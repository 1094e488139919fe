"""Redaction: credential-shaped strings never reach a log line in clear."""

from __future__ import annotations

import re

# API keys (sk_<id>_<secret>: the id stays), client secrets, access tokens, webhook secrets,
# generated admin tokens, portal and console link and session tokens.
SECRET = re.compile(
    r"(?<![A-Za-z0-9_])(?:(?P<keep>sk_[0-9a-f]{32}_)[A-Za-z0-9_\-]+"
    r"|(?P<kind>cs_|at_|whsec_|adm_|psl_|pss_)[A-Za-z0-9_\-+/=]{16,})"
)


def redact_secrets(text: str) -> str:
    """`text` with every secret-shaped part replaced by `[redacted]`."""
    return SECRET.sub(
        lambda m: (m.group("keep") or m.group("kind")) + "[redacted]",
        text,
    )

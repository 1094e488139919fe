"""`syncline dev`: everything in one process, with a demo tenant whose credentials persist.

Production shows a secret once and stores only its hash. A developer's machine is
different: restarting `make run` must not invalidate the token in their shell history, nor
mint another API key each time. So `syncline dev`, and only it, keeps its admin token, the
demo API key and the demo OAuth client in `<data dir>/dev-credentials.json` (mode 0600) and
prints the same ones on every start; `--reset-credentials` revokes them and makes new ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from syncline.config import Settings
from syncline.runtime import Runtime

CREDENTIALS_FILE = "dev-credentials.json"


@dataclasses.dataclass(frozen=True)
class DevCredentials:
    """What `syncline dev` prints, and keeps between starts."""

    admin_token: str
    tenant_id: str
    api_key_id: str
    api_key: str
    client_id: str
    client_secret: str

    @classmethod
    def load(cls, path: Path) -> DevCredentials | None:
        try:
            fields = json.loads(path.read_text())
            return cls(**{f.name: str(fields[f.name]) for f in dataclasses.fields(cls)})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before anything is written to it: the file holds live secrets.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(dataclasses.asdict(self), file, indent=2)
        path.chmod(0o600)


def bind_port(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed; exits clearly when busy."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(
            f"syncline dev: cannot listen on {host}:{port} ({exc.strerror}); "
            f"choose another port with --port (make run PORT=...)",
            file=sys.stderr,
        )
        raise SystemExit(1) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _live(runtime: Runtime, kept: DevCredentials) -> bool:
    """Whether the kept demo credentials still work in this database (it may be new)."""
    from domain.credential import ApiKey, OAuthClient

    try:
        key = runtime.app.get_credential(UUID(kept.api_key_id))
        client_id = OAuthClient.parse_client_id(kept.client_id)
        client = runtime.app.get_credential(client_id) if client_id else None
    except ValueError:
        return False
    return (
        isinstance(key, ApiKey)
        and key.status == "active"
        and isinstance(client, OAuthClient)
        and client.status == "active"
    )


def _revoke(runtime: Runtime, kept: DevCredentials) -> None:
    from domain.context import Actor
    from domain.credential import ApiKey, OAuthClient

    operator = Actor("operator", "syncline-dev")
    client_id = OAuthClient.parse_client_id(kept.client_id)
    for kind, credential_id in ((ApiKey, kept.api_key_id), (OAuthClient, client_id)):
        try:
            runtime.app.revoke_credential(kind, operator, "dev", UUID(str(credential_id)))
        except Exception:  # noqa: S112 - gone already (another database): nothing to revoke
            continue


def demo_credentials(runtime: Runtime, settings: Settings, *, reset: bool) -> DevCredentials:
    """The kept credentials when they still work, else a new demo tenant's (kept)."""
    from domain.context import Actor, Context
    from domain.credential import SCOPES, OAuthClient

    path = settings.data_dir / CREDENTIALS_FILE
    kept = DevCredentials.load(path)
    admin_token = settings.admin_token or f"adm_{secrets.token_urlsafe(24)}"
    if kept is not None and not reset and _live(runtime, kept):
        credentials = dataclasses.replace(kept, admin_token=admin_token)
    else:
        if kept is not None:
            _revoke(runtime, kept)
        operator = Actor("operator", "syncline-dev")
        ctx = Context(tenant_id=UUID(int=0), actor=operator, correlation_id="dev")
        tenant, key, key_secret, client, client_secret = runtime.app.provision_tenant(
            ctx, "Demo", list(SCOPES)
        )
        credentials = DevCredentials(
            admin_token=admin_token,
            tenant_id=str(tenant.id),
            api_key_id=str(key.id),
            api_key=key.token(key_secret),
            client_id=client.client_id,
            client_secret=OAuthClient.client_secret(client_secret),
        )
    credentials.save(path)
    return credentials


def banner(credentials: DevCredentials, base: str, path: Path) -> str:
    key = credentials.api_key
    return f"""
Syncline is running (embedded PostgreSQL unless DATABASE_URL is set).

  API             {base}/v1
  Docs            {base}/schema
  OpenAPI         {base}/schema/openapi.json
  Health          {base}/healthz   Metrics {base}/metrics

  Admin token     {credentials.admin_token}
  Demo tenant     {credentials.tenant_id}
  API key         {key}
  client_id       {credentials.client_id}
  client_secret   {credentials.client_secret}

  These stay the same on every start (kept in {path}, mode 0600);
  `syncline dev --reset-credentials` makes new ones.

Try it:
  curl -s -X POST {base}/v1/contacts \\
    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\
    -d '{{"email": "ada@example.com", "name": "Ada Lovelace"}}'
  curl -s {base}/v1/contacts -H 'Authorization: Bearer {key}'
"""


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    from syncline.cli import serve

    sock = bind_port(args.host, args.port)
    kept = DevCredentials.load(settings.data_dir / CREDENTIALS_FILE)
    # The environment's admin token wins; else the kept one; else a new one, which
    # demo_credentials then keeps.
    admin_token = (
        settings.admin_token
        or (kept.admin_token if kept and not args.reset_credentials else None)
        or f"adm_{secrets.token_urlsafe(24)}"
    )
    settings = dataclasses.replace(settings, admin_token=admin_token, allow_private_webhooks=True)
    runtime = Runtime.open(settings)
    try:
        runtime.start_projections()
        runtime.start_credential_expiry()
        runtime.start_delivery()
        runtime.start_audit_checkpoints()
        runtime.wait_for_projections()
        credentials = demo_credentials(runtime, settings, reset=args.reset_credentials)
        host = f"[{args.host}]" if ":" in args.host else args.host
        port = sock.getsockname()[1]
        print(
            banner(credentials, f"http://{host}:{port}", settings.data_dir / CREDENTIALS_FILE),
            flush=True,
        )
        serve(runtime, sock=sock)
    finally:
        runtime.close()
    return 0


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--reset-credentials",
        action="store_true",
        help="revoke the kept demo credentials and admin token and make new ones",
    )
